//! The words `#[persistence_test]` and the runtime share, each defined once: the backend names
//! `backend = "…"` and `PERSIST_TEST_DATABASE_URL` accept, the keep policies of `keep = "…"` and
//! `PERSIST_KEEP`, the transports of `http = …`, and every environment variable the framework
//! reads, with its default and the values it accepts. The attribute checks a test's words at
//! compile time with these; the runtime reads the environment with them, and a value it cannot
//! read is an error that names the variable, the value and what is accepted.
//!
//! ```
//! use persist_config::{Backend, Keep, Transport, env};
//!
//! assert_eq!(Backend::parse("mariadb"), Some(Backend::Mysql));
//! assert_eq!(Keep::parse("on_failure"), Some(Keep::OnFailure));
//! assert_eq!(Transport::parse("socket"), Some(Transport::Socket));
//! let error = env::POOL_SIZE.count(Some("abc")).unwrap_err();
//! assert_eq!(
//!     error.to_string(),
//!     "PERSIST_POOL_SIZE=\"abc\" cannot be read: expected a whole number (0 turns pools off)"
//! );
//! ```

#![warn(missing_docs)]

use std::fmt;

pub mod env;

/// A backend a test names (`backend = "…"`, `backends = […]`), or that a server URL's scheme
/// names.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Backend {
    /// SQLite files in a private directory (`sqlite`, `sqlite-file`).
    SqliteFile,
    /// SQLite in memory (`sqlite-memory`, `memory`).
    SqliteMemory,
    /// A PostgreSQL server (`postgres`, `postgresql`).
    Postgres,
    /// A MySQL or MariaDB server (`mysql`, `mariadb`).
    Mysql,
}

impl Backend {
    /// Every name accepted, with the backend it means.
    pub const NAMES: &'static [(&'static str, Backend)] = &[
        ("sqlite", Backend::SqliteFile),
        ("sqlite-file", Backend::SqliteFile),
        ("sqlite-memory", Backend::SqliteMemory),
        ("memory", Backend::SqliteMemory),
        ("postgres", Backend::Postgres),
        ("postgresql", Backend::Postgres),
        ("mysql", Backend::Mysql),
        ("mariadb", Backend::Mysql),
    ];

    /// Every URL scheme a server URL may start with, with the backend it means.
    pub const SCHEMES: &'static [(&'static str, Backend)] = &[
        ("postgres://", Backend::Postgres),
        ("postgresql://", Backend::Postgres),
        ("mysql://", Backend::Mysql),
        ("mariadb://", Backend::Mysql),
    ];

    /// What is accepted, for error messages.
    pub const EXPECTED: &'static str = "sqlite, sqlite-file, sqlite-memory (or memory), postgres (or postgresql), mysql (or mariadb), or a server URL (postgres://…, postgresql://…, mysql://…, mariadb://…)";

    /// The backend a name means (exactly as written, or trimmed).
    pub fn parse(name: &str) -> Option<Backend> {
        let name = name.trim();
        Self::NAMES
            .iter()
            .find(|(n, _)| *n == name)
            .map(|(_, b)| *b)
    }

    /// The backend a server URL's scheme means.
    pub fn of_url(url: &str) -> Option<Backend> {
        let url = url.trim();
        Self::SCHEMES
            .iter()
            .find(|(scheme, _)| url.starts_with(scheme))
            .map(|(_, b)| *b)
    }

    /// The backend a name or a server URL means.
    pub fn parse_or_url(value: &str) -> Option<Backend> {
        Self::parse(value).or_else(|| Self::of_url(value))
    }

    /// Whether it is a server (PostgreSQL or MySQL/MariaDB).
    pub fn is_server(self) -> bool {
        matches!(self, Backend::Postgres | Backend::Mysql)
    }

    /// Its name for people.
    pub fn describe(self) -> &'static str {
        match self {
            Backend::SqliteFile => "SQLite files",
            Backend::SqliteMemory => "in-memory SQLite",
            Backend::Postgres => "PostgreSQL",
            Backend::Mysql => "MySQL/MariaDB",
        }
    }
}

/// What happens to a test's databases when it ends (`keep = "…"`, `PERSIST_KEEP`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub enum Keep {
    /// Always removed (the default).
    #[default]
    Never,
    /// Kept when the test fails.
    OnFailure,
    /// Always kept.
    Always,
}

impl Keep {
    /// Every name accepted (in any case), the policy's own name first.
    pub const NAMES: &'static [(&'static str, Keep)] = &[
        ("never", Keep::Never),
        ("on_failure", Keep::OnFailure),
        ("on-failure", Keep::OnFailure),
        ("always", Keep::Always),
    ];

    /// What is accepted, for error messages.
    pub const EXPECTED: &'static str = "\"never\", \"on_failure\" or \"always\"";

    /// The policy a name means, in any case.
    pub fn parse(name: &str) -> Option<Keep> {
        let name = name.trim().to_ascii_lowercase();
        Self::NAMES
            .iter()
            .find(|(n, _)| *n == name)
            .map(|(_, k)| *k)
    }

    /// Its name.
    pub fn name(self) -> &'static str {
        Self::NAMES
            .iter()
            .find(|(_, k)| *k == self)
            .map_or("never", |(n, _)| n)
    }
}

impl fmt::Display for Keep {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// How a test reaches the system's gateway (`http = …`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Transport {
    /// The gateway's API called directly (no HTTP).
    Direct,
    /// HTTP requests handed to the router in process.
    Router,
    /// HTTP over a socket, to a server on 127.0.0.1.
    Socket,
}

impl Transport {
    /// Every name accepted.
    pub const NAMES: &'static [(&'static str, Transport)] = &[
        ("direct", Transport::Direct),
        ("router", Transport::Router),
        ("socket", Transport::Socket),
    ];

    /// What is accepted, for error messages.
    pub const EXPECTED: &'static str =
        "\"direct\" (no HTTP), \"router\" (in-process) or \"socket\" (a server on 127.0.0.1)";

    /// The transport a name means.
    pub fn parse(name: &str) -> Option<Transport> {
        Self::NAMES
            .iter()
            .find(|(n, _)| *n == name.trim())
            .map(|(_, t)| *t)
    }

    /// Its name.
    pub fn name(self) -> &'static str {
        Self::NAMES
            .iter()
            .find(|(_, t)| *t == self)
            .map_or("direct", |(n, _)| n)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_name_parses_to_itself_and_nothing_else_does() {
        for (name, backend) in Backend::NAMES {
            assert_eq!(Backend::parse(name), Some(*backend));
            assert!(Backend::EXPECTED.contains(name), "{name}");
        }
        assert_eq!(Backend::parse("postgre"), None);
        assert_eq!(Backend::parse("SQLite"), None);
        assert_eq!(Backend::of_url("mariadb://root@h/db"), Some(Backend::Mysql));
        assert_eq!(Backend::of_url("sqlite://x"), None);
        for (name, keep) in Keep::NAMES {
            assert_eq!(Keep::parse(name), Some(*keep));
            assert_eq!(Keep::parse(keep.name()), Some(*keep));
        }
        assert_eq!(Keep::parse("ON_FAILURE"), Some(Keep::OnFailure));
        assert_eq!(Keep::parse("on failure"), None);
        for (name, transport) in Transport::NAMES {
            assert_eq!(Transport::parse(name), Some(*transport));
            assert_eq!(transport.name(), *name);
        }
    }
}
