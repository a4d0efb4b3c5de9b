//! Backends: where test databases are created and how they are removed.
//!
//! A [`Backend`] serves one manager: it creates that manager's databases and removes them
//! again. [`BackendConfig`] says which backend a test uses.

use std::fmt;
use std::path::PathBuf;

use futures::future::BoxFuture;
use serde::Serialize;

use crate::error::{PersistError, Result};

mod sqlite;

pub use sqlite::{SqliteFileBackend, TEST_DIR_ENV};

/// The environment variable that selects a database server for a whole run.
pub const DATABASE_URL_ENV: &str = "PERSIST_TEST_DATABASE_URL";

/// What kind of database a backend provides.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum BackendKind {
    /// SQLite files in a private temporary directory.
    SqliteFile,
}

impl fmt::Display for BackendKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            BackendKind::SqliteFile => "sqlite (file)",
        })
    }
}

/// Where one database lives.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct DatabaseLocation {
    /// The backend's name for it: a file stem or a server database name.
    pub name: String,
    /// The URL to connect with.
    pub url: String,
    /// The file, for file-backed databases.
    pub path: Option<PathBuf>,
}

impl fmt::Display for DatabaseLocation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.path {
            Some(path) => write!(f, "{}", path.display()),
            None => f.write_str(&self.url),
        }
    }
}

/// Creates and removes the databases of one manager.
///
/// Implementations must make every name they are given unique to this manager (across threads,
/// processes and concurrent runs), and must be able to remove what they created from a runtime
/// other than the one that created it: the manager's `Drop` safety net runs on its own thread.
pub trait Backend: Send + Sync + fmt::Debug + 'static {
    /// The kind of database this backend provides.
    fn kind(&self) -> BackendKind;

    /// Creates an empty database for the logical name `name` (`gateway`, `agent_billing`, …).
    fn create_database<'a>(&'a self, name: &'a str) -> BoxFuture<'a, Result<DatabaseLocation>>;

    /// Removes one database this backend created. Removing one that is already gone succeeds.
    fn drop_database<'a>(&'a self, location: &'a DatabaseLocation) -> BoxFuture<'a, Result<()>>;

    /// Releases what the backend holds for its manager. With `keep`, databases stay in place.
    fn release(&self, keep: bool) -> BoxFuture<'_, Result<()>>;

    /// How many connections each database's pool may open.
    fn max_connections(&self) -> u32 {
        4
    }
}

/// Which backend to use.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub enum BackendConfig {
    /// SQLite files in a private temporary directory (the default; nothing to install).
    /// The directory is made under `PERSIST_TEST_DIR` if set, else the system's temporary one.
    #[default]
    SqliteFile,
    /// SQLite files in a private directory made under the given one.
    SqliteFileIn(PathBuf),
}

impl BackendConfig {
    /// Parses a backend name (`sqlite`, `sqlite-file`).
    pub fn parse(value: &str) -> Result<Self> {
        match value.trim() {
            "sqlite" | "sqlite-file" => Ok(BackendConfig::SqliteFile),
            other => Err(PersistError::Backend(format!(
                "unknown backend {other:?}: expected `sqlite` or `sqlite-file`"
            ))),
        }
    }

    /// The backend in force: the test's own choice if given, else `PERSIST_TEST_DATABASE_URL`
    /// if set, else SQLite files.
    pub fn resolve(configured: Option<&str>) -> Result<Self> {
        if let Some(choice) = configured {
            return Self::parse(choice);
        }
        match std::env::var(DATABASE_URL_ENV) {
            Ok(url) if !url.trim().is_empty() => Self::parse(&url),
            _ => Ok(Self::default()),
        }
    }

    /// Opens a backend for one manager; `label` names its databases for people (a test name).
    pub async fn open(&self, label: &str) -> Result<Box<dyn Backend>> {
        match self {
            BackendConfig::SqliteFile => Ok(Box::new(SqliteFileBackend::new(label)?)),
            BackendConfig::SqliteFileIn(parent) => {
                Ok(Box::new(SqliteFileBackend::new_in(parent, label)?))
            }
        }
    }
}

/// Shortens a label (a test's path, say) to a safe identifier of at most `max` characters.
pub(crate) fn short_label(label: &str, max: usize) -> String {
    let mut out = String::new();
    // The end of a test path (`module::test_name`) is its most telling part.
    let tail = label.rsplit("::").next().unwrap_or(label);
    for c in tail.chars() {
        if c.is_ascii_alphanumeric() {
            out.push(c.to_ascii_lowercase());
        } else if !out.ends_with('_') {
            out.push('_');
        }
        if out.len() >= max {
            break;
        }
    }
    let trimmed = out.trim_matches('_');
    if trimmed.is_empty() {
        "db".to_owned()
    } else {
        trimmed.to_owned()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn labels_are_short_safe_identifiers() {
        assert_eq!(short_label("suite::module::My Test", 20), "my_test");
        assert_eq!(short_label("::", 20), "db");
        assert_eq!(short_label(&"a".repeat(50), 12).len(), 12);
    }

    #[test]
    fn backend_names_parse() {
        assert_eq!(
            BackendConfig::parse("sqlite").unwrap(),
            BackendConfig::SqliteFile
        );
        assert!(matches!(
            BackendConfig::parse("oracle"),
            Err(PersistError::Backend(message)) if message.contains("oracle")
        ));
    }
}
