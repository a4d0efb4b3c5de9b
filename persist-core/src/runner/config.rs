//! What the attribute configures: [`TestConfig`], keep policies, transports, fixtures, seeds and
//! what a body may return.

use std::fmt::Debug;
use std::sync::Arc;
use std::time::Duration;

use super::TestContext;
use crate::db::ManagerBuilder;
use crate::error::{PersistError, Result};
use crate::system::System;

pub use crate::env::KEEP_ENV;

/// How a test reaches its system's HTTP API (the attribute's `http = "…"`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum HttpTransport {
    /// In-process, through the router: no socket.
    Router,
    /// Over TCP, to a server on 127.0.0.1 with an ephemeral port, started for the test and
    /// stopped (and awaited) at its end.
    Socket,
}

impl HttpTransport {
    /// `router` or `socket`.
    pub fn as_str(self) -> &'static str {
        match self {
            HttpTransport::Router => "router",
            HttpTransport::Socket => "socket",
        }
    }
}

impl std::fmt::Display for HttpTransport {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The tokio runtime a test body runs on.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Flavor {
    /// One thread (the default).
    #[default]
    CurrentThread,
    /// A multi-threaded runtime.
    MultiThread,
}

/// When a test's databases are kept instead of deleted.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum KeepPolicy {
    /// Always delete them (the default).
    #[default]
    Never,
    /// Keep them when the test fails, panics or times out.
    OnFailure,
    /// Always keep them.
    Always,
}

impl From<persist_config::Keep> for KeepPolicy {
    fn from(keep: persist_config::Keep) -> Self {
        match keep {
            persist_config::Keep::Never => KeepPolicy::Never,
            persist_config::Keep::OnFailure => KeepPolicy::OnFailure,
            persist_config::Keep::Always => KeepPolicy::Always,
        }
    }
}

impl KeepPolicy {
    /// Parses `never`, `on_failure` (or `on-failure`) and `always`, in any case: the names
    /// `keep = "…"` takes too ([`persist_config::Keep`]).
    pub fn parse(value: &str) -> Result<Self> {
        persist_config::Keep::parse(value)
            .map(Self::from)
            .ok_or_else(|| PersistError::InvalidInput {
                field: "keep policy",
                reason: format!(
                    "{value:?} is not a keep policy: expected {}",
                    persist_config::Keep::EXPECTED
                ),
            })
    }

    /// The policy in force: `PERSIST_KEEP` if set, else the test's own, else `Never`.
    pub fn resolve(configured: Option<KeepPolicy>) -> Result<Self> {
        Ok(persist_db::__private::keep()?
            .map(Self::from)
            .unwrap_or(configured.unwrap_or_default()))
    }

    pub(super) fn keeps(self, failed: bool) -> bool {
        match self {
            KeepPolicy::Never => false,
            KeepPolicy::OnFailure => failed,
            KeepPolicy::Always => true,
        }
    }
}

/// One test's configuration, as the attribute writes it.
#[derive(Clone, Debug)]
pub struct TestConfig {
    /// The test's full name.
    pub name: &'static str,
    /// The agents, one database each.
    pub agents: &'static [&'static str],
    /// The runtime flavor.
    pub flavor: Flavor,
    /// Worker threads for [`Flavor::MultiThread`] (default: tokio's).
    pub worker_threads: Option<usize>,
    /// The keep policy (overridden by `PERSIST_KEEP`).
    pub keep: Option<KeepPolicy>,
    /// The longest the body may run. A body that overruns it fails the test with "timed out
    /// after …" and its databases are removed (or kept, as the keep policy says), also when
    /// the body blocks its thread instead of awaiting: the body then runs on a thread of its
    /// own, which is abandoned.
    pub timeout: Option<Duration>,
    /// The backend, by name or URL (overrides `PERSIST_TEST_DATABASE_URL`).
    pub backend: Option<&'static str>,
    /// The system under test (default: the reference mesh, with the `mesh` feature).
    pub system: Option<SystemFactory>,
    /// Adjusts the manager before setup, after the system's schemas are in: your own
    /// migrator, agent schema or backend.
    pub setup: Option<Setup>,
    /// The test is `#[should_panic]`: a panic is its success (for the keep policy).
    pub should_panic: bool,
    /// SQL run on the fresh databases before the system starts (the attribute's `fixtures`).
    pub fixtures: &'static [Fixture],
    /// Runs after the system started and before the body (the attribute's `seed = "…"`).
    pub seed: Option<Seed>,
    /// One test of a backend matrix (`backends = [...]`): a server that is not configured
    /// skips the test, saying so, instead of failing it.
    pub matrix: bool,
    /// Drive the gateway over HTTP (the attribute's `http = "…"`); `None`: directly.
    pub http: Option<HttpTransport>,
    /// The path its data snapshots are named by ([`crate::inspect::DataSnapshot::test_name`]):
    /// the same for every backend and transport of a matrix.
    pub snapshot_name: Option<&'static str>,
}

/// One SQL fixture: a file's text, run on one database of a test before the system starts.
#[derive(Clone, Copy, Debug)]
pub struct Fixture {
    /// The agent whose database it goes into; `None`: the gateway's.
    pub agent: Option<&'static str>,
    /// The file, as the attribute names it (relative to the crate's root).
    pub path: &'static str,
    /// Its text.
    pub sql: &'static str,
}

/// What a seed returns: its outcome, as a test body's.
pub type SeedFuture = futures::future::LocalBoxFuture<'static, std::result::Result<(), String>>;

/// An async seed (the attribute's `seed = "…"`), run with the test's context.
pub type Seed = fn(TestContext) -> SeedFuture;

/// A function that adjusts a test's [`ManagerBuilder`] (the attribute's `setup = "…"`).
pub type Setup = fn(ManagerBuilder) -> ManagerBuilder;

/// Makes the system under test (the attribute's `system = "…"`).
pub type SystemFactory = fn() -> Arc<dyn System>;

impl TestConfig {
    /// A configuration with defaults for everything but the name and agents.
    pub fn new(name: &'static str, agents: &'static [&'static str]) -> Self {
        TestConfig {
            name,
            agents,
            flavor: Flavor::default(),
            worker_threads: None,
            keep: None,
            timeout: None,
            backend: None,
            system: None,
            setup: None,
            should_panic: false,
            fixtures: &[],
            seed: None,
            matrix: false,
            http: None,
            snapshot_name: None,
        }
    }
}

/// What a test body may return: `()` or `Result<(), E>` with `E: Debug`.
#[diagnostic::on_unimplemented(
    message = "a `#[persistence_test]` must return `()` or `Result<(), E>` with `E: Debug`",
    label = "returns `{Self}`"
)]
pub trait TestReturn {
    /// `Err` with the error's text when the test failed.
    fn into_test_result(self) -> std::result::Result<(), String>;
}

impl TestReturn for () {
    fn into_test_result(self) -> std::result::Result<(), String> {
        Ok(())
    }
}

impl<E: Debug> TestReturn for std::result::Result<(), E> {
    fn into_test_result(self) -> std::result::Result<(), String> {
        self.map_err(|e| format!("{e:?}"))
    }
}
#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keep_policies_parse() {
        assert_eq!(KeepPolicy::parse("never").unwrap(), KeepPolicy::Never);
        assert_eq!(
            KeepPolicy::parse("On-Failure").unwrap(),
            KeepPolicy::OnFailure
        );
        assert_eq!(KeepPolicy::parse("always").unwrap(), KeepPolicy::Always);
        assert!(KeepPolicy::parse("sometimes").is_err());
        assert!(KeepPolicy::OnFailure.keeps(true) && !KeepPolicy::OnFailure.keeps(false));
    }

    #[test]
    fn return_types() {
        assert_eq!(().into_test_result(), Ok(()));
        assert_eq!(Ok::<(), &str>(()).into_test_result(), Ok(()));
        assert_eq!(
            Err::<(), _>("boom").into_test_result(),
            Err("\"boom\"".into())
        );
    }
}
