//! [`DatabaseRole`]: which database of a manager.

use std::fmt;

use serde::Serialize;

/// Which database of a manager.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(tag = "kind", content = "agent", rename_all = "lowercase")]
pub enum DatabaseRole {
    /// The gateway database.
    Gateway,
    /// The database of the named agent.
    Agent(String),
}

impl DatabaseRole {
    /// The database of agent `name`.
    pub fn agent(name: impl Into<String>) -> Self {
        DatabaseRole::Agent(name.into())
    }
}

impl fmt::Display for DatabaseRole {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // `pad`, so that width and alignment (`{role:<20}`) work.
        match self {
            DatabaseRole::Gateway => f.pad("gateway"),
            DatabaseRole::Agent(name) => f.pad(&format!("agent {name}")),
        }
    }
}
