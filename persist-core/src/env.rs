//! The environment: every variable the framework reads, and the one place that reads them.
//!
//! | variable | what it does |
//! |---|---|
//! | [`DATABASE_URL_ENV`] | a database server for a whole run (else SQLite files) |
//! | [`POSTGRES_URL_ENV`], [`MYSQL_URL_ENV`] | the servers of `backend = "postgres"` / `"mysql"` |
//! | [`KEEP_ENV`] | overrides every test's keep policy |
//! | [`LOG_ENV`] | turns logging on |
//! | [`TEST_DIR_ENV`] | where SQLite test directories are made |
//! | [`POOL_SIZE_ENV`] | idle databases a server pool keeps per schema |
//! | [`POOL_MAX_IDLE_ENV`] | idle pool databases a server keeps in all, whatever the schema |
//! | [`POOL_UNUSED_SECS_ENV`] | how long a schema's pool may go unused before it is drained |
//! | [`MAX_CONNECTIONS_ENV`], [`CONNECTION_WAIT_ENV`], [`CONNECT_TIMEOUT_ENV`] | a server's connection budget and timeouts |

use std::ffi::OsString;
use std::str::FromStr;

/// The environment variable that selects a database server for a whole run.
pub const DATABASE_URL_ENV: &str = "PERSIST_TEST_DATABASE_URL";
/// The server `backend = "postgres"` uses when `PERSIST_TEST_DATABASE_URL` is not a PostgreSQL
/// URL (default: `postgres://postgres@127.0.0.1:5432/postgres`).
pub const POSTGRES_URL_ENV: &str = "PERSIST_POSTGRES_URL";
/// The server `backend = "mysql"` uses when `PERSIST_TEST_DATABASE_URL` is not a MySQL URL
/// (default: `mysql://root@127.0.0.1:3306/test`).
pub const MYSQL_URL_ENV: &str = "PERSIST_MYSQL_URL";
/// The environment variable that overrides every test's keep policy.
pub const KEEP_ENV: &str = "PERSIST_KEEP";
/// The environment variable that turns logging on.
pub const LOG_ENV: &str = "PERSIST_LOG";
/// Where the private directories are made, if set (default: the system's temporary directory).
pub const TEST_DIR_ENV: &str = "PERSIST_TEST_DIR";
/// How many idle databases a pool keeps per schema (default 16; 0 turns pooling off).
pub const POOL_SIZE_ENV: &str = "PERSIST_POOL_SIZE";
/// How many idle pool databases a server keeps in all, across every schema (default 32):
/// returning one beyond it drops the least recently used schema's idle ones first.
pub const POOL_MAX_IDLE_ENV: &str = "PERSIST_POOL_MAX_IDLE";
/// How long, in seconds, a schema's template and pool may go unused before the next run
/// drains them (default 3600).
pub const POOL_UNUSED_SECS_ENV: &str = "PERSIST_POOL_UNUSED_SECS";
/// Overrides the number of connections all tests together may hold on one server.
pub const MAX_CONNECTIONS_ENV: &str = "PERSIST_MAX_CONNECTIONS";
/// How long a test waits for its share of connections, in seconds (default 120).
pub const CONNECTION_WAIT_ENV: &str = "PERSIST_CONNECTION_WAIT";
/// How long connecting to a server may take, in seconds (default 5).
pub const CONNECT_TIMEOUT_ENV: &str = "PERSIST_CONNECT_TIMEOUT";

/// The variable's value, trimmed, if it is set and not blank.
pub(crate) fn var(name: &str) -> Option<String> {
    let value = std::env::var(name).ok()?;
    let value = value.trim();
    (!value.is_empty()).then(|| value.to_owned())
}

/// The variable's raw value, if it is set (for paths, which need not be UTF-8).
#[cfg_attr(not(feature = "sqlite"), allow(dead_code))]
pub(crate) fn var_os(name: &str) -> Option<OsString> {
    std::env::var_os(name).filter(|v| !v.is_empty())
}

/// The variable's value parsed, if it is set and parses; a value that does not parse is as if
/// unset (the default applies).
#[cfg_attr(not(any(feature = "postgres", feature = "mysql")), allow(dead_code))]
pub(crate) fn parsed<T: FromStr>(name: &str) -> Option<T> {
    var(name)?.parse().ok()
}

/// The servers named by the environment, for resolving `backend = "postgres"` / `"mysql"`.
#[derive(Clone, Debug, Default)]
pub(crate) struct ServerUrls {
    /// [`DATABASE_URL_ENV`].
    pub(crate) run: Option<String>,
    /// [`POSTGRES_URL_ENV`].
    pub(crate) postgres: Option<String>,
    /// [`MYSQL_URL_ENV`].
    pub(crate) mysql: Option<String>,
}

impl ServerUrls {
    /// As the environment says now.
    pub(crate) fn read() -> Self {
        ServerUrls {
            run: var(DATABASE_URL_ENV),
            postgres: var(POSTGRES_URL_ENV),
            mysql: var(MYSQL_URL_ENV),
        }
    }
}
