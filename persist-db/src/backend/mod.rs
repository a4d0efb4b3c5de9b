//! Backends: where test databases are created and how they are removed.
//!
//! A [`Backend`] serves one manager: it creates that manager's databases and removes them
//! again. [`BackendConfig`] says which backend a test uses.

use std::fmt;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use futures::future::BoxFuture;
use sea_orm::{ConnectOptions, DatabaseConnection, DbErr};
use serde::Serialize;

use crate::apply::ApplySchema;
use crate::env::ServerUrls;
use crate::error::{Error, Result};
use persist_config::Backend as Named;

mod custom;
#[cfg(feature = "sqlite")]
mod memory;
#[cfg(any(feature = "postgres", feature = "mysql"))]
mod server;
#[cfg(feature = "sqlite")]
mod sqlite;
#[cfg(feature = "sqlite")]
mod sqlite_connect;
#[cfg(feature = "sqlite")]
mod sqlite_dirs;
#[cfg(feature = "sqlite")]
mod template;
#[cfg(feature = "sqlite")]
pub(crate) use sqlite_connect::{connect_ahead, lazy_sqlite};
#[cfg(feature = "sqlite")]
pub(crate) use template::catalog_key as sqlite_catalog_key;

pub use custom::Backend;
pub(crate) use custom::Custom;
use custom::pooled;
#[cfg(feature = "sqlite")]
use memory::SqliteMemoryBackend;
#[cfg(any(feature = "postgres", feature = "mysql"))]
use server::ServerBackend;
#[cfg(any(feature = "postgres", feature = "mysql"))]
pub use server::registry::{
    RegisteredDatabase, database_url, drop_kept, list_databases, sweep_leaked,
};
#[cfg(any(feature = "postgres", feature = "mysql"))]
pub use server::{drain_pools, max_idle as pool_max_idle};
#[cfg(feature = "sqlite")]
use sqlite::SqliteFileBackend;
#[cfg(feature = "sqlite")]
pub use sqlite::sweep as sweep_test_directories;
#[cfg(feature = "sqlite")]
pub(crate) use sqlite_dirs::write_manifest;
#[cfg(feature = "sqlite")]
pub use sqlite_dirs::{TestDirectory, list_test_directories, remove_kept_directory};

const DEFAULT_POSTGRES_URL: &str = persist_config::env::POSTGRES_URL.default;
const DEFAULT_MYSQL_URL: &str = persist_config::env::MYSQL_URL.default;

/// What kind of database a backend provides.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum BackendKind {
    /// SQLite files in a private temporary directory.
    SqliteFile,
    /// SQLite databases in memory.
    SqliteMemory,
    /// PostgreSQL.
    Postgres,
    /// MySQL or MariaDB.
    MySql,
}

impl BackendKind {
    /// The SQL dialect of this kind of database.
    pub fn db_backend(self) -> sea_orm::DbBackend {
        match self {
            BackendKind::SqliteFile | BackendKind::SqliteMemory => sea_orm::DbBackend::Sqlite,
            BackendKind::Postgres => sea_orm::DbBackend::Postgres,
            BackendKind::MySql => sea_orm::DbBackend::MySql,
        }
    }
}

impl fmt::Display for BackendKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            BackendKind::SqliteFile => "sqlite (file)",
            BackendKind::SqliteMemory => "sqlite (memory)",
            BackendKind::Postgres => "postgresql",
            BackendKind::MySql => "mysql",
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
    /// The role it plays for its test (`gateway`, `agent AgentB`): set by the manager once
    /// the database is its test's.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub role: Option<String>,
}

impl DatabaseLocation {
    /// A database reached at `url`, called `name` by its backend.
    pub fn new(name: impl Into<String>, url: impl Into<String>) -> Self {
        DatabaseLocation {
            name: name.into(),
            url: url.into(),
            path: None,
            role: None,
        }
    }

    /// The same, kept in the file at `path`.
    pub fn with_path(mut self, path: impl Into<PathBuf>) -> Self {
        self.path = Some(path.into());
        self
    }
}

impl fmt::Display for DatabaseLocation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.path {
            Some(path) => write!(f, "{}", path.display()),
            None => f.write_str(&self.url),
        }
    }
}

/// What kind of server a URL names.
pub(crate) fn kind_of(url: &str) -> Result<BackendKind> {
    match Named::of_url(url) {
        Some(Named::Postgres) => Ok(BackendKind::Postgres),
        Some(Named::Mysql) => Ok(BackendKind::MySql),
        _ => Err(Error::Backend(format!(
            "unsupported database URL {:?}: expected postgres://, postgresql://, mysql:// or mariadb://",
            redacted(url)
        ))),
    }
}

/// The URL without its password, for messages.
pub(crate) fn redacted(url: &str) -> String {
    match url::Url::parse(url) {
        Ok(mut parsed) if parsed.password().is_some() => {
            let _ = parsed.set_password(Some("***"));
            parsed.to_string()
        }
        _ => url.to_owned(),
    }
}

/// The error for a backend whose driver this build left out (see the crate's features).
pub(crate) fn missing_driver(kind: BackendKind) -> Error {
    let feature = match kind {
        BackendKind::SqliteFile | BackendKind::SqliteMemory => "sqlite",
        BackendKind::Postgres => "postgres",
        BackendKind::MySql => "mysql",
    };
    Error::Backend(format!(
        "{kind} needs persist-core's `{feature}` feature, which this build does not have: \
         add it to the dependency's `features`"
    ))
}

/// What the manager drives: a [`Backend`]'s five methods and the hooks of the built-in backends
/// (templates, pools, one-connection sessions). Custom backends reach it through [`Custom`].
pub(crate) trait Engine: Send + Sync + fmt::Debug + 'static {
    /// The kind of database this backend provides.
    fn kind(&self) -> BackendKind;

    /// Creates an empty database for the logical name `name` (`gateway`, `agent_billing`, …).
    fn create_database<'a>(&'a self, name: &'a str) -> BoxFuture<'a, Result<DatabaseLocation>>;

    /// Removes one database this backend created. Removing one that is already gone succeeds.
    fn drop_database<'a>(&'a self, location: &'a DatabaseLocation) -> BoxFuture<'a, Result<()>>;

    /// Releases what the backend holds for its manager. With `keep`, databases stay in place.
    fn release(&self, keep: bool) -> BoxFuture<'_, Result<()>>;

    /// Creates a database that already holds `template`'s schema, cloned from a copy prepared
    /// once ("migrate once, clone per test") or taken from a pool, or returns `Ok(None)` when
    /// it cannot (the default): the manager then creates an empty database with
    /// [`create_database`](Self::create_database) and applies the schema itself.
    fn create_from_template<'a>(
        &'a self,
        name: &'a str,
        template: &'a SchemaTemplate,
    ) -> BoxFuture<'a, Result<Option<DatabaseLocation>>> {
        let _ = (name, template);
        Box::pin(async { Ok(None) })
    }

    /// The template key of a schema whose statements cannot be trusted to key it (it reads
    /// the catalog while it migrates, embeds the clock, or cannot run without a database):
    /// the schema is built once per process on this backend and keyed by what it built (the
    /// digest of its catalog), so that its template is used while that is unchanged. By
    /// default, `Ok(None)`: no template, the schema is applied to each test database.
    fn catalog_key<'a>(
        &'a self,
        label: &'a str,
        schema: &'a Arc<dyn ApplySchema>,
    ) -> BoxFuture<'a, Result<Option<String>>> {
        let _ = (label, schema);
        Box::pin(async { Ok(None) })
    }

    /// Connects to one of this backend's databases over exactly one connection: what the
    /// framework applies schemas and runs migrations through, so that each statement sees the
    /// work of the one before (a SQLite table rebuild spread over several connections fails at
    /// random). By default, the database's URL with a pool of one connection.
    fn connect_one<'a>(
        &'a self,
        location: &'a DatabaseLocation,
    ) -> BoxFuture<'a, Result<DatabaseConnection, DbErr>> {
        Box::pin(async move {
            let mut options = ConnectOptions::new(location.url.clone());
            options
                .max_connections(1)
                .min_connections(0)
                .connect_timeout(Duration::from_secs(10))
                .acquire_timeout(Duration::from_secs(30))
                .sqlx_logging(false);
            sea_orm::Database::connect(options).await
        })
    }

    /// Called once before a manager creates its `databases` databases: a backend that shares
    /// a server's connections takes its share here (by default, nothing to do).
    fn reserve(&self, databases: usize) -> BoxFuture<'_, Result<()>> {
        let _ = databases;
        Box::pin(async { Ok(()) })
    }

    /// Called at cleanup (when the databases are not kept) with each database's own
    /// connection, before it is closed. A backend that pools databases resets the database
    /// here and returns `Ok(true)` if it takes it back, in which case it is not dropped. By
    /// default, `Ok(false)`: every database is dropped.
    fn recycle<'a>(
        &'a self,
        location: &'a DatabaseLocation,
        connection: &'a DatabaseConnection,
    ) -> BoxFuture<'a, Result<bool>> {
        let _ = (location, connection);
        Box::pin(async { Ok(false) })
    }

    /// Connects to one of this backend's databases. By default: SeaORM's pool, with
    /// [`configure`](Self::configure)'s options.
    fn connect<'a>(
        &'a self,
        location: &'a DatabaseLocation,
    ) -> BoxFuture<'a, Result<DatabaseConnection, DbErr>> {
        Box::pin(pooled(location, |options| self.configure(options)))
    }

    /// Sets the pool options the default [`connect`](Self::connect) uses (by default, at most
    /// 4 connections, opened on demand).
    fn configure(&self, options: &mut ConnectOptions) {
        options.max_connections(4).min_connections(0);
    }
}

/// A schema that a backend may prepare once and clone: its key and how to apply it.
#[derive(Clone)]
pub struct SchemaTemplate {
    /// What the schema is on this backend, as 32 hex digits: the
    /// [fingerprint](crate::Fingerprint) of the statements it issues in this backend's
    /// dialect, or, when those cannot be trusted, of the catalog it builds
    /// ([`Backend::catalog_key`]). Equal keys mean equal schemas, in every process and run.
    pub key: String,
    /// Whose schema it is (`gateway`, `agent AgentA`), for messages.
    pub label: String,
    /// Applies the schema to an empty database.
    pub schema: Arc<dyn ApplySchema>,
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
    /// SQLite databases in memory: fastest, nothing to look at afterwards.
    SqliteMemory,
    /// A PostgreSQL or MySQL/MariaDB server, by the URL of a database to administer from
    /// (for example `postgres://postgres@127.0.0.1:5432/postgres`). Each test creates its own
    /// databases there and drops them at cleanup.
    Server(String),
}

impl fmt::Display for BackendConfig {
    /// For people: what it is and where, a server URL without its password.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            BackendConfig::SqliteFile => f.write_str("SQLite files"),
            BackendConfig::SqliteFileIn(parent) => {
                write!(f, "SQLite files in {}", parent.display())
            }
            BackendConfig::SqliteMemory => f.write_str("in-memory SQLite"),
            BackendConfig::Server(url) => f.write_str(&redacted(url)),
        }
    }
}

impl BackendConfig {
    /// Parses a backend name (`sqlite`, `sqlite-file`, `sqlite-memory`, `postgres`, `mysql`)
    /// or a server URL (`postgres://…`, `postgresql://…`, `mysql://…`, `mariadb://…`).
    ///
    /// A name gives its default server (`postgres://postgres@127.0.0.1:5432/postgres`,
    /// `mysql://root@127.0.0.1:3306/test`); [`resolve`](Self::resolve) takes the
    /// environment's servers into account.
    pub fn parse(value: &str) -> Result<Self> {
        Self::parse_in(value, &ServerUrls::default())
    }

    /// Parses `value`, taking servers for `postgres` and `mysql` from `urls`.
    fn parse_in(value: &str, urls: &ServerUrls) -> Result<Self> {
        let value = value.trim();
        let env_url = |kind: Named| {
            urls.run
                .clone()
                .filter(|url| Named::of_url(url) == Some(kind))
        };
        match Named::parse(value) {
            Some(Named::SqliteFile) => Ok(BackendConfig::SqliteFile),
            Some(Named::SqliteMemory) => Ok(BackendConfig::SqliteMemory),
            Some(Named::Postgres) => Ok(BackendConfig::Server(
                env_url(Named::Postgres)
                    .or_else(|| urls.postgres.clone())
                    .unwrap_or_else(|| DEFAULT_POSTGRES_URL.to_owned()),
            )),
            Some(Named::Mysql) => Ok(BackendConfig::Server(
                env_url(Named::Mysql)
                    .or_else(|| urls.mysql.clone())
                    .unwrap_or_else(|| DEFAULT_MYSQL_URL.to_owned()),
            )),
            None if value.contains("://") => {
                kind_of(value)?;
                Ok(BackendConfig::Server(value.to_owned()))
            }
            None => Err(Error::Backend(format!(
                "unknown backend {value:?}: expected {}",
                Named::EXPECTED
            ))),
        }
    }

    /// The backend in force: the test's own choice if given, else `PERSIST_TEST_DATABASE_URL`
    /// if set, else SQLite files.
    pub fn resolve(configured: Option<&str>) -> Result<Self> {
        if let Some(choice) = configured {
            return Self::parse_in(choice, &ServerUrls::read()?);
        }
        Self::from_env()
    }

    /// `PERSIST_TEST_DATABASE_URL` if set, else SQLite files.
    pub fn from_env() -> Result<Self> {
        match crate::env::database_url()? {
            Some(url) => Self::parse(&url),
            None => Ok(Self::default()),
        }
    }

    /// Opens a backend for one manager; `label` names its databases for people (a test name).
    pub(crate) async fn open(&self, label: &str) -> Result<Box<dyn Engine>> {
        let _ = label;
        match self {
            #[cfg(feature = "sqlite")]
            BackendConfig::SqliteFile => Ok(Box::new(SqliteFileBackend::new(label)?)),
            #[cfg(feature = "sqlite")]
            BackendConfig::SqliteFileIn(parent) => {
                Ok(Box::new(SqliteFileBackend::new_in(parent, label)?))
            }
            #[cfg(feature = "sqlite")]
            BackendConfig::SqliteMemory => Ok(Box::new(SqliteMemoryBackend::new(label))),
            #[cfg(not(feature = "sqlite"))]
            BackendConfig::SqliteFile | BackendConfig::SqliteFileIn(_) => {
                Err(missing_driver(BackendKind::SqliteFile))
            }
            #[cfg(not(feature = "sqlite"))]
            BackendConfig::SqliteMemory => Err(missing_driver(BackendKind::SqliteMemory)),
            BackendConfig::Server(url) => {
                let kind = kind_of(url)?;
                let postgres = kind == BackendKind::Postgres;
                let compiled = (postgres && cfg!(feature = "postgres"))
                    || (!postgres && cfg!(feature = "mysql"));
                if !compiled {
                    return Err(missing_driver(kind));
                }
                #[cfg(any(feature = "postgres", feature = "mysql"))]
                return Ok(Box::new(ServerBackend::open(url, label).await?));
                #[cfg(not(any(feature = "postgres", feature = "mysql")))]
                unreachable!("checked above: no server driver is compiled in")
            }
        }
    }
}

#[cfg(any(feature = "postgres", feature = "mysql"))]
/// How long an idle server connection stays open: tests are short, and connections are the
/// server's scarcest resource when many tests run at once.
pub(crate) const SERVER_IDLE: Duration = Duration::from_secs(5);

#[cfg(feature = "sqlite")]
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
    #[cfg(feature = "sqlite")]
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
        assert_eq!(
            BackendConfig::parse("sqlite-memory").unwrap(),
            BackendConfig::SqliteMemory
        );
        assert_eq!(
            BackendConfig::parse("mysql://root@db:3306/test").unwrap(),
            BackendConfig::Server("mysql://root@db:3306/test".into())
        );
        assert!(matches!(
            BackendConfig::parse("postgres").unwrap(),
            BackendConfig::Server(_)
        ));
        for bad in ["oracle", "redis://localhost", ""] {
            assert!(
                matches!(BackendConfig::parse(bad), Err(Error::Backend(m)) if m.contains(bad)),
                "{bad}"
            );
        }
    }
}
