//! The environment: every variable the framework reads, and the one place that reads them.
//! What each accepts, and its default, is defined once in [`persist_config::env`]; a value
//! that cannot be read fails the first test that meets it (and every later one), naming the
//! variable, the value and what is accepted, rather than falling back to a default in silence.
//!
//! | variable | what it does |
//! |---|---|
//! | [`DATABASE_URL_ENV`] | a backend for a whole run: a name or a server URL (else SQLite files) |
//! | [`POSTGRES_URL_ENV`], [`MYSQL_URL_ENV`] | the servers of `backend = "postgres"` / `"mysql"` |
//! | [`KEEP_ENV`] | overrides every test's keep policy |
//! | [`LOG_ENV`] | turns logging on |
//! | [`TEST_DIR_ENV`] | where SQLite test directories are made |
//! | [`POOL_SIZE_ENV`] | idle databases a server pool keeps per schema |
//! | [`POOL_MAX_IDLE_ENV`] | idle pool databases a server keeps in all, whatever the schema |
//! | [`POOL_UNUSED_SECS_ENV`] | how long a schema's pool may go unused before it is drained |
//! | [`MAX_CONNECTIONS_ENV`], [`CONNECTION_WAIT_ENV`], [`CONNECT_TIMEOUT_ENV`] | a server's connection budget and timeouts |

use std::ffi::OsString;

use persist_config::env::{self as vars, EnvError, Var};

/// The environment variable that selects a backend for a whole run.
pub const DATABASE_URL_ENV: &str = vars::DATABASE_URL.name;
/// The server `backend = "postgres"` uses when `PERSIST_TEST_DATABASE_URL` is not a PostgreSQL
/// URL (default: `postgres://postgres@127.0.0.1:5432/postgres`).
pub const POSTGRES_URL_ENV: &str = vars::POSTGRES_URL.name;
/// The server `backend = "mysql"` uses when `PERSIST_TEST_DATABASE_URL` is not a MySQL URL
/// (default: `mysql://root@127.0.0.1:3306/test`).
pub const MYSQL_URL_ENV: &str = vars::MYSQL_URL.name;
/// The environment variable that overrides every test's keep policy.
pub const KEEP_ENV: &str = vars::KEEP.name;
/// The environment variable that turns logging on.
pub const LOG_ENV: &str = vars::LOG.name;
/// Where the private directories are made, if set (default: the system's temporary directory).
pub const TEST_DIR_ENV: &str = vars::TEST_DIR.name;
/// How many idle databases a pool keeps per schema (default 16; 0 turns pooling off).
pub const POOL_SIZE_ENV: &str = vars::POOL_SIZE.name;
/// How many idle pool databases a server keeps in all, across every schema (default 32):
/// returning one beyond it drops the least recently used schema's idle ones first.
pub const POOL_MAX_IDLE_ENV: &str = vars::POOL_MAX_IDLE.name;
/// How long, in seconds, a schema's template and pool may go unused before the next run
/// drains them (default 3600).
pub const POOL_UNUSED_SECS_ENV: &str = vars::POOL_UNUSED_SECS.name;
/// Overrides the number of connections all tests together may hold on one server.
pub const MAX_CONNECTIONS_ENV: &str = vars::MAX_CONNECTIONS.name;
/// How long a test waits for its share of connections, in seconds (default 120).
pub const CONNECTION_WAIT_ENV: &str = vars::CONNECTION_WAIT.name;
/// How long connecting to a server may take, in seconds (default 5).
pub const CONNECT_TIMEOUT_ENV: &str = vars::CONNECT_TIMEOUT.name;
pub use vars::{PREPARE, PREPARE_LIST, PREPARE_LIST_PREFIX};

/// Under `cargo persist prepare`: the file where each `#[persistence_test]` records that it
/// set up its databases instead of running ([`PREPARE`]).
pub fn prepare_records() -> Option<std::path::PathBuf> {
    var_os(PREPARE).map(Into::into)
}

/// Under `cargo persist prepare`'s listing: whether a test binary names its persistence tests
/// on stdout ([`PREPARE_LIST`]).
pub fn prepare_listing() -> bool {
    var_os(PREPARE_LIST).is_some()
}

/// A variable's raw value, if it is set.
fn raw(var: &Var) -> Option<String> {
    std::env::var(var.name).ok()
}

/// What reading a variable gives: its value, or why it cannot be read.
type Result<T> = std::result::Result<T, EnvError>;

/// Every variable checked against what it accepts: what a test's setup (and every entry
/// point that reads the environment) asks first, so that a bad value is an error where the
/// value is first needed, not a default taken in silence.
pub fn check() -> Result<()> {
    for var in vars::ALL {
        let value = std::env::var(var.name).ok();
        var.check(value.as_deref())?;
    }
    Ok(())
}

/// The variable's value, trimmed, if it is set and not blank (for text: a filter, a URL).
pub(crate) fn var(name: &str) -> Option<String> {
    let value = std::env::var(name).ok()?;
    let value = value.trim();
    (!value.is_empty()).then(|| value.to_owned())
}

/// The variable's raw value, if it is set (for paths, which need not be UTF-8).
pub(crate) fn var_os(name: &str) -> Option<OsString> {
    std::env::var_os(name).filter(|v| !v.is_empty())
}

/// A whole-number variable's value, if set.
#[cfg_attr(not(any(feature = "postgres", feature = "mysql")), allow(dead_code))]
pub(crate) fn count(var: &Var) -> Result<Option<usize>> {
    var.count(raw(var).as_deref())
}

/// A seconds variable's value, if set.
#[cfg_attr(not(any(feature = "postgres", feature = "mysql")), allow(dead_code))]
pub(crate) fn seconds(var: &Var) -> Result<Option<f64>> {
    var.seconds(raw(var).as_deref())
}

/// A whole-number variable's value, or its default (what [`check`] has vouched for).
#[cfg_attr(not(any(feature = "postgres", feature = "mysql")), allow(dead_code))]
pub(crate) fn count_or_default(var: &Var) -> usize {
    count(var)
        .ok()
        .flatten()
        .or_else(|| var.count(Some(var.default)).ok().flatten())
        .unwrap_or(0)
}

/// A seconds variable's value, or its default.
#[cfg_attr(not(any(feature = "postgres", feature = "mysql")), allow(dead_code))]
pub(crate) fn seconds_or_default(var: &Var) -> std::time::Duration {
    let secs = seconds(var)
        .ok()
        .flatten()
        .or_else(|| var.seconds(Some(var.default)).ok().flatten())
        .unwrap_or(0.0);
    std::time::Duration::from_secs_f64(secs)
}

/// [`KEEP_ENV`]'s policy, if set.
pub(crate) fn keep() -> Result<Option<persist_config::Keep>> {
    vars::KEEP.keep(raw(&vars::KEEP).as_deref())
}

/// Whether this process runs one test and ends: nextest's process per test (its
/// `NEXTEST_EXECUTION_MODE`, or `NEXTEST` where an older nextest does not say). Nothing a test
/// leaves for the next one of its process (warm databases, say) is worth keeping then.
pub fn process_per_test() -> bool {
    match std::env::var("NEXTEST_EXECUTION_MODE") {
        Ok(mode) => mode == "process-per-test",
        Err(_) => std::env::var_os("NEXTEST").is_some(),
    }
}

/// [`DATABASE_URL_ENV`]'s backend name or URL, if set.
pub(crate) fn database_url() -> Result<Option<String>> {
    vars::DATABASE_URL.backend(raw(&vars::DATABASE_URL).as_deref())
}

#[cfg_attr(
    not(any(feature = "postgres", feature = "mysql")),
    allow(unused_imports)
)]
pub(crate) use vars::{
    CONNECT_TIMEOUT, CONNECTION_WAIT, MAX_CONNECTIONS, POOL_MAX_IDLE, POOL_SIZE, POOL_UNUSED_SECS,
};

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
    /// As the environment says now; a URL of the wrong kind is an error naming its variable.
    pub(crate) fn read() -> Result<Self> {
        Ok(ServerUrls {
            run: database_url()?,
            postgres: vars::POSTGRES_URL.backend(raw(&vars::POSTGRES_URL).as_deref())?,
            mysql: vars::MYSQL_URL.backend(raw(&vars::MYSQL_URL).as_deref())?,
        })
    }
}
