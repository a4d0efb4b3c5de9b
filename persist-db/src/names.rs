//! Agent names and the database names derived from them.

use std::collections::HashMap;

use crate::error::{Error, Result};

/// The longest agent name accepted, in characters.
pub const MAX_AGENT_NAME_CHARS: usize = 64;

/// The longest identifier derived from an agent name. Server backends put it inside database
/// names that must fit PostgreSQL's 63-byte and MySQL's 64-character limits.
const MAX_SLUG: usize = 24;

/// A validated agent name together with the identifier its database is named after.
///
/// The identifier is lowercase ASCII letters, digits and `_`, so it is safe as a file name and
/// as a database name on every backend; long names are shortened with a hash suffix.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct AgentName {
    name: String,
    slug: String,
}

impl AgentName {
    /// Validates one agent name (`"Billing Agent"` gives the slug `billing_agent`; a blank
    /// name is an error).
    pub fn new(name: &str) -> Result<Self> {
        let invalid = |reason: &str| Error::InvalidAgentName {
            name: name.to_owned(),
            reason: reason.to_owned(),
        };
        if name.trim().is_empty() {
            return Err(invalid("must not be blank"));
        }
        if name.trim() != name {
            return Err(invalid("must not start or end with white space"));
        }
        if name.chars().any(char::is_control) {
            return Err(invalid("must not contain control characters"));
        }
        if name.chars().count() > MAX_AGENT_NAME_CHARS {
            return Err(invalid(&format!(
                "must be at most {MAX_AGENT_NAME_CHARS} characters"
            )));
        }
        let slug = slug(name);
        if slug.is_empty() {
            return Err(invalid("must contain at least one ASCII letter or digit"));
        }
        Ok(AgentName {
            name: name.to_owned(),
            slug,
        })
    }

    /// The name as given.
    pub fn as_str(&self) -> &str {
        &self.name
    }

    /// The identifier the agent's database is named after.
    pub fn slug(&self) -> &str {
        &self.slug
    }
}

impl std::fmt::Display for AgentName {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.name)
    }
}

/// Validates a list of agent names: each valid, none repeated, no two sharing an identifier.
pub fn validate_agent_names<I, S>(names: I) -> Result<Vec<AgentName>>
where
    I: IntoIterator<Item = S>,
    S: AsRef<str>,
{
    let mut seen: HashMap<String, String> = HashMap::new();
    let mut out = Vec::new();
    for name in names {
        let name = AgentName::new(name.as_ref())?;
        if let Some(first) = seen.get(name.slug()) {
            if first == name.as_str() {
                return Err(Error::DuplicateAgent { name: name.name });
            }
            return Err(Error::AgentNameCollision {
                first: first.clone(),
                second: name.name,
                slug: name.slug,
            });
        }
        seen.insert(name.slug.clone(), name.name.clone());
        out.push(name);
    }
    Ok(out)
}

fn slug(name: &str) -> String {
    let mut out = String::new();
    for c in name.chars() {
        if c.is_ascii_alphanumeric() {
            out.push(c.to_ascii_lowercase());
        } else if !out.is_empty() && !out.ends_with('_') {
            out.push('_');
        }
    }
    while out.ends_with('_') {
        out.pop();
    }
    if out.len() > MAX_SLUG {
        // Keep a readable prefix; the hash of the full name keeps it unique.
        out.truncate(MAX_SLUG - 9);
        out = format!("{}_{:08x}", out.trim_end_matches('_'), fnv1a(name) as u32);
    }
    out
}

/// FNV-1a: a stable hash (unlike `DefaultHasher`, it is the same in every build).
pub(crate) fn fnv1a(text: &str) -> u64 {
    text.bytes().fold(0xcbf2_9ce4_8422_2325, |hash, byte| {
        (hash ^ u64::from(byte)).wrapping_mul(0x0100_0000_01b3)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slugs_are_safe_identifiers() {
        assert_eq!(AgentName::new("AgentA").unwrap().slug(), "agenta");
        assert_eq!(AgentName::new("a--b  c").unwrap().slug(), "a_b_c");
        assert_eq!(
            AgentName::new("Ünïcode-Agent").unwrap().slug(),
            "n_code_agent"
        );
        let long = AgentName::new(&"x".repeat(64)).unwrap();
        assert!(long.slug().len() <= MAX_SLUG, "{}", long.slug());
        let other = AgentName::new(&format!("{}y", "x".repeat(63))).unwrap();
        assert_ne!(long.slug(), other.slug());
    }

    #[test]
    fn bad_names_are_rejected_with_reasons() {
        for bad in ["", "   ", " padded", "tab\there", "!!!", &"a".repeat(65)] {
            assert!(
                matches!(AgentName::new(bad), Err(Error::InvalidAgentName { .. })),
                "{bad:?} was accepted"
            );
        }
    }

    #[test]
    fn duplicates_and_collisions_are_rejected() {
        assert!(matches!(
            validate_agent_names(["A", "B", "A"]),
            Err(Error::DuplicateAgent { name }) if name == "A"
        ));
        assert!(matches!(
            validate_agent_names(["Agent A", "agent-a"]),
            Err(Error::AgentNameCollision { slug, .. }) if slug == "agent_a"
        ));
        assert_eq!(validate_agent_names(["A", "B"]).unwrap().len(), 2);
    }
}
