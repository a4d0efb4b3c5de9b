//! Every environment variable the framework reads: its name, what it does, its default and the
//! values it accepts. A blank value is as if the variable were unset; a value that cannot be
//! read is an [`EnvError`] naming the variable, the value and what is accepted, never a
//! default in silence.
//!
//! | variable | what it does | default |
//! |---|---|---|
//! | `PERSIST_TEST_DATABASE_URL` | a backend for a whole run: a name (`postgres`, `mariadb`, …) or a server URL | SQLite files |
//! | `PERSIST_POSTGRES_URL` | the server of `backend = "postgres"` | `postgres://postgres@127.0.0.1:5432/postgres` |
//! | `PERSIST_MYSQL_URL` | the server of `backend = "mysql"` | `mysql://root@127.0.0.1:3306/test` |
//! | `PERSIST_KEEP` | every test's keep policy | the test's own |
//! | `PERSIST_LOG` | turns logging on (a `tracing` filter, or `1`) | off |
//! | `PERSIST_TEST_DIR` | where SQLite test directories are made | the system's temporary directory |
//! | `PERSIST_POOL_SIZE` | idle databases a server pool keeps per schema (0: no pools) | 16 |
//! | `PERSIST_POOL_MAX_IDLE` | idle pool databases a server keeps in all | 32 |
//! | `PERSIST_POOL_UNUSED_SECS` | seconds a schema's pool may go unused before it is drained | 3600 |
//! | `PERSIST_MAX_CONNECTIONS` | connections all tests together may hold on one server | the server's limit, less headroom |
//! | `PERSIST_CONNECTION_WAIT` | seconds a test waits for its share of connections | 120 |
//! | `PERSIST_CONNECT_TIMEOUT` | seconds connecting to a server may take | 5 |

use std::fmt;

use crate::{Backend, Keep};

/// What a variable holds.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Kind {
    BackendOrUrl,
    Url(Backend),
    Keep,
    Text,
    /// A whole number, at least this much.
    Count(usize),
    Seconds,
}

/// One environment variable.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Var {
    /// Its name.
    pub name: &'static str,
    /// What it does.
    pub what: &'static str,
    /// Its default, for people (empty: none).
    pub default: &'static str,
    kind: Kind,
}

/// The environment variable that selects a backend for a whole run.
pub const DATABASE_URL: Var = Var {
    name: "PERSIST_TEST_DATABASE_URL",
    what: "a backend for a whole run",
    default: "SQLite files",
    kind: Kind::BackendOrUrl,
};
/// The server `backend = "postgres"` uses.
pub const POSTGRES_URL: Var = Var {
    name: "PERSIST_POSTGRES_URL",
    what: "the server of backend = \"postgres\"",
    default: "postgres://postgres@127.0.0.1:5432/postgres",
    kind: Kind::Url(Backend::Postgres),
};
/// The server `backend = "mysql"` uses.
pub const MYSQL_URL: Var = Var {
    name: "PERSIST_MYSQL_URL",
    what: "the server of backend = \"mysql\"",
    default: "mysql://root@127.0.0.1:3306/test",
    kind: Kind::Url(Backend::Mysql),
};
/// Every test's keep policy.
pub const KEEP: Var = Var {
    name: "PERSIST_KEEP",
    what: "every test's keep policy",
    default: "",
    kind: Kind::Keep,
};
/// Turns logging on.
pub const LOG: Var = Var {
    name: "PERSIST_LOG",
    what: "logging (a tracing filter, or 1)",
    default: "",
    kind: Kind::Text,
};
/// Where SQLite test directories are made.
pub const TEST_DIR: Var = Var {
    name: "PERSIST_TEST_DIR",
    what: "where SQLite test directories are made",
    default: "the system's temporary directory",
    kind: Kind::Text,
};
/// Idle databases a server pool keeps per schema.
pub const POOL_SIZE: Var = Var {
    name: "PERSIST_POOL_SIZE",
    what: "idle databases a server pool keeps per schema",
    default: "16",
    kind: Kind::Count(0),
};
/// Idle pool databases a server keeps in all.
pub const POOL_MAX_IDLE: Var = Var {
    name: "PERSIST_POOL_MAX_IDLE",
    what: "idle pool databases a server keeps in all",
    default: "32",
    kind: Kind::Count(0),
};
/// Seconds a schema's pool may go unused before it is drained.
pub const POOL_UNUSED_SECS: Var = Var {
    name: "PERSIST_POOL_UNUSED_SECS",
    what: "seconds a schema's pool may go unused before it is drained",
    default: "3600",
    kind: Kind::Count(0),
};
/// Connections all tests together may hold on one server.
pub const MAX_CONNECTIONS: Var = Var {
    name: "PERSIST_MAX_CONNECTIONS",
    what: "connections all tests together may hold on one server",
    default: "the server's limit, less headroom",
    kind: Kind::Count(1),
};
/// Seconds a test waits for its share of connections.
pub const CONNECTION_WAIT: Var = Var {
    name: "PERSIST_CONNECTION_WAIT",
    what: "seconds a test waits for its share of a server's connections",
    default: "120",
    kind: Kind::Seconds,
};
/// Seconds connecting to a server may take.
pub const CONNECT_TIMEOUT: Var = Var {
    name: "PERSIST_CONNECT_TIMEOUT",
    what: "seconds connecting to a server may take",
    default: "5",
    kind: Kind::Seconds,
};

/// Every variable, in the order of the table above.
pub const ALL: [Var; 12] = [
    DATABASE_URL,
    POSTGRES_URL,
    MYSQL_URL,
    KEEP,
    LOG,
    TEST_DIR,
    POOL_SIZE,
    POOL_MAX_IDLE,
    POOL_UNUSED_SECS,
    MAX_CONNECTIONS,
    CONNECTION_WAIT,
    CONNECT_TIMEOUT,
];

/// A variable whose value cannot be read.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct EnvError {
    /// The variable.
    pub variable: &'static str,
    /// Its value.
    pub value: String,
    /// What it accepts.
    pub expected: String,
}

impl fmt::Display for EnvError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}={:?} cannot be read: expected {}",
            self.variable, self.value, self.expected
        )
    }
}

impl std::error::Error for EnvError {}

/// A value, trimmed, unless it is blank.
fn given(raw: Option<&str>) -> Option<&str> {
    raw.map(str::trim).filter(|v| !v.is_empty())
}

impl Var {
    /// What it accepts, for people.
    pub fn expected(&self) -> String {
        match self.kind {
            Kind::BackendOrUrl => format!("a backend: {}", Backend::EXPECTED),
            Kind::Url(Backend::Postgres) => {
                "a PostgreSQL URL (postgres://… or postgresql://…)".into()
            }
            Kind::Url(_) => "a MySQL/MariaDB URL (mysql://… or mariadb://…)".into(),
            Kind::Keep => Keep::EXPECTED.into(),
            Kind::Text => "any text".into(),
            Kind::Count(0) if self.name == POOL_SIZE.name => {
                "a whole number (0 turns pools off)".into()
            }
            Kind::Count(0) => "a whole number".into(),
            Kind::Count(least) => format!("a whole number, at least {least}"),
            Kind::Seconds => "a number of seconds, 0 or more (fractions allowed)".into(),
        }
    }

    fn error(&self, value: &str) -> EnvError {
        EnvError {
            variable: self.name,
            value: value.to_owned(),
            expected: self.expected(),
        }
    }

    /// Checks `raw`, the variable's value (`None` when unset), against what it accepts.
    pub fn check(&self, raw: Option<&str>) -> Result<(), EnvError> {
        match self.kind {
            Kind::BackendOrUrl | Kind::Url(_) => self.backend(raw).map(drop),
            Kind::Keep => self.keep(raw).map(drop),
            Kind::Text => Ok(()),
            Kind::Count(_) => self.count(raw).map(drop),
            Kind::Seconds => self.seconds(raw).map(drop),
        }
    }

    /// Its text, if given.
    pub fn text(&self, raw: Option<&str>) -> Option<String> {
        given(raw).map(str::to_owned)
    }

    /// A backend name or server URL (for the URL variables, a URL of their server's kind),
    /// as given.
    pub fn backend(&self, raw: Option<&str>) -> Result<Option<String>, EnvError> {
        let Some(value) = given(raw) else {
            return Ok(None);
        };
        let ok = match self.kind {
            Kind::Url(kind) => Backend::of_url(value) == Some(kind),
            _ => Backend::parse_or_url(value).is_some(),
        };
        if ok {
            Ok(Some(value.to_owned()))
        } else {
            Err(self.error(value))
        }
    }

    /// A keep policy.
    pub fn keep(&self, raw: Option<&str>) -> Result<Option<Keep>, EnvError> {
        match given(raw) {
            None => Ok(None),
            Some(value) => Keep::parse(value)
                .map(Some)
                .ok_or_else(|| self.error(value)),
        }
    }

    /// A whole number.
    pub fn count(&self, raw: Option<&str>) -> Result<Option<usize>, EnvError> {
        let Some(value) = given(raw) else {
            return Ok(None);
        };
        let least = match self.kind {
            Kind::Count(least) => least,
            _ => 0,
        };
        match value.parse::<usize>() {
            Ok(n) if n >= least => Ok(Some(n)),
            _ => Err(self.error(value)),
        }
    }

    /// A number of seconds.
    pub fn seconds(&self, raw: Option<&str>) -> Result<Option<f64>, EnvError> {
        let Some(value) = given(raw) else {
            return Ok(None);
        };
        match value.parse::<f64>() {
            Ok(s) if s.is_finite() && s >= 0.0 => Ok(Some(s)),
            _ => Err(self.error(value)),
        }
    }
}

/// Set by `cargo persist prepare`, never by a person: the file where each
/// `#[persistence_test]` records that it set up its databases (building their templates) and
/// returned without running its body.
pub const PREPARE: &str = "PERSIST_PREPARE";
/// Set by `cargo persist prepare`, never by a person: a test binary listed with it set
/// (`--list`) names its `#[persistence_test]`s on stdout, one `persist-test: <path>` line each.
pub const PREPARE_LIST: &str = "PERSIST_PREPARE_LIST";
/// The prefix of each line a test binary prints under [`PREPARE_LIST`].
pub const PREPARE_LIST_PREFIX: &str = "persist-test: ";

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_bad_value_of_every_variable_is_an_error_that_names_it() {
        let bad = [
            (DATABASE_URL, "postgre"),
            (POSTGRES_URL, "mysql://root@h/db"),
            (MYSQL_URL, "postgres://h/db"),
            (KEEP, "sometimes"),
            (POOL_SIZE, "abc"),
            (POOL_MAX_IDLE, "-1"),
            (POOL_UNUSED_SECS, "1.5"),
            (MAX_CONNECTIONS, "0"),
            (CONNECTION_WAIT, "soon"),
            (CONNECT_TIMEOUT, "-2"),
        ];
        for (var, value) in bad {
            let error = var.check(Some(value)).unwrap_err();
            let text = error.to_string();
            assert!(text.starts_with(var.name), "{text}");
            assert!(text.contains(value), "{text}");
            assert!(text.contains("expected"), "{text}");
        }
        // Text variables take anything; every other one rejects something above.
        let checked: Vec<&str> = bad.iter().map(|(v, _)| v.name).collect();
        for var in ALL {
            assert!(
                checked.contains(&var.name) || matches!(var.kind, Kind::Text),
                "{} is not checked",
                var.name
            );
        }
    }

    #[test]
    fn good_values_blank_values_and_the_edges() {
        assert_eq!(
            DATABASE_URL.backend(Some("mariadb")).unwrap().as_deref(),
            Some("mariadb")
        );
        assert_eq!(
            DATABASE_URL
                .backend(Some(" postgres://u@h/db "))
                .unwrap()
                .as_deref(),
            Some("postgres://u@h/db")
        );
        assert_eq!(POOL_SIZE.count(Some("0")).unwrap(), Some(0));
        assert_eq!(POOL_SIZE.count(Some("  ")).unwrap(), None);
        assert_eq!(POOL_SIZE.count(None).unwrap(), None);
        assert!(MAX_CONNECTIONS.count(Some("1")).unwrap() == Some(1));
        assert!(MAX_CONNECTIONS.count(Some("0")).is_err());
        assert_eq!(CONNECT_TIMEOUT.seconds(Some("0.5")).unwrap(), Some(0.5));
        assert!(CONNECT_TIMEOUT.seconds(Some("inf")).is_err());
        assert!(CONNECT_TIMEOUT.seconds(Some("NaN")).is_err());
        assert_eq!(KEEP.keep(Some("always")).unwrap(), Some(Keep::Always));
        assert_eq!(LOG.text(Some("debug")).as_deref(), Some("debug"));
    }
}
