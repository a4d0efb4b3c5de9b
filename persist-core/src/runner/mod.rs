//! The runtime behind `#[persistence_test]`: runtime construction, provisioning, injection,
//! the body under a timeout, teardown (or keeping the databases), and reporting.
//!
//! The attribute expands to one call of [`run_test`]; everything here can also be used and
//! tested without the macro.

use std::any::Any;
use std::fmt::Debug;
use std::future::Future;
use std::io::Write as _;
use std::panic::AssertUnwindSafe;
use std::sync::Arc;
use std::time::Duration;

use futures::FutureExt as _;

use crate::db::{
    BackendConfig, BackendKind, DatabaseLocation, DatabaseRole, ManagerBuilder,
    MultiDatabaseManager,
};
use crate::error::{PersistError, Result};
use crate::system::{Running, System};

mod context;
mod http;
mod inject;

pub use context::TestContext;
#[cfg_attr(not(feature = "mesh"), allow(unused_imports))]
pub(crate) use inject::required;
pub use inject::{
    AgentUse, Inject, NoAgent, OptionalAgent, RequiredAgent, WithAgent, WithoutAgent,
};

/// The environment variable that overrides every test's keep policy.
pub const KEEP_ENV: &str = "PERSIST_KEEP";

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

impl KeepPolicy {
    /// Parses `never`, `on_failure` (or `on-failure`) and `always`.
    pub fn parse(value: &str) -> Result<Self> {
        match value.trim().to_ascii_lowercase().as_str() {
            "never" => Ok(KeepPolicy::Never),
            "on_failure" | "on-failure" => Ok(KeepPolicy::OnFailure),
            "always" => Ok(KeepPolicy::Always),
            other => Err(PersistError::InvalidInput {
                field: "keep policy",
                reason: format!("{other:?} is not one of never, on_failure, always"),
            }),
        }
    }

    /// The policy in force: `PERSIST_KEEP` if set, else the test's own, else `Never`.
    pub fn resolve(configured: Option<KeepPolicy>) -> Result<Self> {
        match std::env::var(KEEP_ENV) {
            Ok(value) if !value.trim().is_empty() => KeepPolicy::parse(&value),
            _ => Ok(configured.unwrap_or_default()),
        }
    }

    fn keeps(self, failed: bool) -> bool {
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

/// How the body ended.
enum Outcome {
    Passed,
    Failed(String),
    Panicked(Box<dyn Any + Send>),
    TimedOut(Duration),
}

impl Outcome {
    fn describe(&self) -> &'static str {
        match self {
            Outcome::Passed => "passed",
            Outcome::Failed(_) => "returned an error",
            Outcome::Panicked(_) => "panicked",
            Outcome::TimedOut(_) => "timed out",
        }
    }
}

/// Runs one test: builds the runtime, sets up the databases and the mesh, runs the body with
/// its context, then tears down (or keeps the databases) whatever happened, and finally
/// reports: a panic is re-raised as it was (so `#[should_panic]` works), an `Err` or a timeout
/// fails the test with a message, and a teardown failure is reported without hiding the test's
/// own failure.
#[track_caller]
pub fn run_test<F, Fut>(config: TestConfig, body: F)
where
    F: FnOnce(TestContext) -> Fut + Send + 'static,
    Fut: Future<Output = std::result::Result<(), String>>,
{
    crate::logging::init();
    let name = config.name;
    if config.matrix
        && let Some(reason) = matrix_skip(config.backend)
    {
        // libtest has no run-time skip: the test passes, and says why it did nothing.
        eprintln!("persist: `{name}` skipped: {reason}");
        return;
    }
    let keep = KeepPolicy::resolve(config.keep)
        .unwrap_or_else(|e| panic!("persistence_test `{name}`: {KEEP_ENV}: {e}"));
    let backend = BackendConfig::resolve(config.backend)
        .unwrap_or_else(|e| panic!("persistence_test `{name}`: choosing the backend: {e}"));
    match config.timeout {
        None => {
            let (outcome, teardown) = run_here(&config, keep, backend, body, |_| {});
            report(name, outcome, teardown);
        }
        Some(limit) => run_watched(config, keep, backend, body, limit),
    }
}

/// Runs setup, body and teardown on this thread; `started` gets the manager once set up.
fn run_here<F, Fut>(
    config: &TestConfig,
    keep: KeepPolicy,
    backend: BackendConfig,
    body: F,
    started: impl FnOnce(&MultiDatabaseManager),
) -> (Outcome, Result<Option<Kept>>)
where
    F: FnOnce(TestContext) -> Fut,
    Fut: Future<Output = std::result::Result<(), String>>,
{
    let name = config.name;
    let runtime = build_runtime(config)
        .unwrap_or_else(|e| panic!("persistence_test `{name}`: building the tokio runtime: {e}"));
    let system = config.system.map(|make| make());
    let result = runtime.block_on(async {
        let mut builder = ManagerBuilder::bare()
            .label(name)
            .agents(config.agents.iter().copied())
            .backend(backend);
        if let Some(system) = &system {
            builder = builder.system(&**system);
        }
        if let Some(setup) = config.setup {
            let before = builder.backend_choice();
            builder = setup(builder);
            let after = builder.backend_choice();
            if after != before {
                backend_conflict(config, &after)
                    .unwrap_or_else(|e| panic!("persistence_test `{name}`: {e}"));
            }
        }
        let manager = builder.setup().await.unwrap_or_else(|e| {
            panic!("persistence_test `{name}`: could not set up the test databases: {e}")
        });
        tracing::debug!(test = name, databases = ?manager.locations(), "provisioned");
        started(&manager);
        load_fixtures(&manager, config.fixtures)
            .await
            .unwrap_or_else(|e| panic!("persistence_test `{name}`: {e}"));
        let (running, system_name) = match &system {
            Some(system) => (system.start(&manager).await, system.name()),
            None => (Ok(Running::new()), "none".to_owned()),
        };
        let mut running = running.unwrap_or_else(|e| {
            panic!("persistence_test `{name}`: could not start the system under test ({system_name}): {e}")
        });
        tracing::debug!(test = name, system = %system_name, "system started");
        let http = http::connect(&mut running, config.http, &system_name).await;
        let (context, running) = TestContext::new(name, system_name, manager.clone(), running);
        #[cfg(feature = "http")]
        let http = http.map(|client| client.map(|client| context.set_http(client)));
        let seeding = config.seed.map(|seed| seed(context.clone()));
        let seeded_body = async move {
            // Nothing runs over an HTTP API that could not be reached; the system still stops.
            http.map_err(|e| format!("its HTTP API could not be reached: {e}"))?;
            if let Some(seeding) = seeding {
                seeding
                    .await
                    .map_err(|e| format!("its seed failed: {e}"))?;
                tracing::debug!(test = name, "seeded");
            }
            body(context).await
        };
        let outcome = run_body(seeded_body, config.timeout).await;
        tracing::debug!(test = name, outcome = outcome.describe(), "body finished");
        running.stop().await;
        let teardown = finish(name, &manager, keep.keeps(failed(config, &outcome))).await;
        (outcome, teardown)
    });
    // Tasks the body left running end with the runtime, before we report.
    drop(runtime);
    result
}

/// Connects the system's HTTP API for the test's transport.
/// Why a test of a backend matrix cannot run here, if it cannot: its server is not configured
/// (no URL in the environment for it) or this build has no driver for it.
fn matrix_skip(backend: Option<&str>) -> Option<String> {
    use crate::db::backend::{DATABASE_URL_ENV, MYSQL_URL_ENV, POSTGRES_URL_ENV};
    let (kind, env, schemes, feature, compiled) = match backend? {
        "postgres" | "postgresql" => (
            "PostgreSQL",
            POSTGRES_URL_ENV,
            &["postgres://", "postgresql://"][..],
            "postgres",
            cfg!(feature = "postgres"),
        ),
        "mysql" | "mariadb" => (
            "MySQL/MariaDB",
            MYSQL_URL_ENV,
            &["mysql://", "mariadb://"][..],
            "mysql",
            cfg!(feature = "mysql"),
        ),
        "sqlite" | "sqlite-file" | "sqlite-memory" | "memory" if !cfg!(feature = "sqlite") => {
            return Some("persist-core was built without its `sqlite` feature".into());
        }
        _ => return None,
    };
    if !compiled {
        return Some(format!(
            "persist-core was built without its `{feature}` feature, so it cannot reach {kind}"
        ));
    }
    let set = |var: &str| std::env::var(var).is_ok_and(|v| !v.trim().is_empty());
    let run_url = std::env::var(DATABASE_URL_ENV)
        .is_ok_and(|url| schemes.iter().any(|s| url.trim().starts_with(s)));
    if set(env) || run_url {
        None
    } else {
        Some(format!(
            "no {kind} server is configured: set {env} (or {DATABASE_URL_ENV} to a {kind} URL)"
        ))
    }
}

/// Runs the fixtures, in order, each on its database.
async fn load_fixtures(manager: &MultiDatabaseManager, fixtures: &[Fixture]) -> Result<()> {
    use sea_orm::ConnectionTrait as _;
    for fixture in fixtures {
        let role = match fixture.agent {
            None => DatabaseRole::Gateway,
            Some(agent) => DatabaseRole::Agent(agent.to_owned()),
        };
        let db = manager.connection(&role)?;
        db.execute_unprepared(fixture.sql)
            .await
            .map_err(|source| PersistError::Database {
                database: role.to_string(),
                operation: format!("loading fixture `{}`", fixture.path),
                source,
            })?;
        tracing::debug!(fixture = fixture.path, database = %role, "fixture loaded");
    }
    Ok(())
}

/// The setup function chose the backend (`chosen`). With `backend = "…"` on the attribute as
/// well, that is a conflict; over `PERSIST_TEST_DATABASE_URL`, the setup function wins, and a
/// note says so.
fn backend_conflict(config: &TestConfig, chosen: &(BackendConfig, bool)) -> Result<()> {
    let what = if chosen.1 {
        "a custom backend".to_owned()
    } else {
        chosen.0.to_string()
    };
    if let Some(attribute) = config.backend {
        return Err(PersistError::InvalidInput {
            field: "backend",
            reason: format!(
                "the attribute says `backend = {attribute:?}` and the setup function chooses {what}: choose the backend in one place"
            ),
        });
    }
    if let Ok(url) = std::env::var(crate::db::backend::DATABASE_URL_ENV)
        && !url.trim().is_empty()
    {
        eprintln!(
            "persist: `{}`: its setup function chooses {what}, so {} ({}) is not used for it",
            config.name,
            crate::db::backend::DATABASE_URL_ENV,
            crate::db::backend::redacted(&url)
        );
    }
    Ok(())
}

/// Whether the outcome counts as a failure for the keep policy.
fn failed(config: &TestConfig, outcome: &Outcome) -> bool {
    match outcome {
        Outcome::Panicked(_) => !config.should_panic,
        Outcome::Passed => config.should_panic,
        Outcome::Failed(_) | Outcome::TimedOut(_) => true,
    }
}

type Kept = Vec<(DatabaseRole, DatabaseLocation)>;

/// Keeps or removes the databases.
async fn finish(name: &str, manager: &MultiDatabaseManager, keep: bool) -> Result<Option<Kept>> {
    tracing::debug!(test = name, keep, "cleaning up");
    if keep {
        if manager.backend_kind() == BackendKind::SqliteMemory {
            eprintln!(
                "persist: `{name}` keeps in-memory databases; they end with the test process"
            );
        }
        manager.keep().await.map(Some)
    } else {
        manager.cleanup().await.map(|()| None)
    }
}

/// Runs the test on a thread of its own and watches the clock from this one: a body that
/// blocks its thread past the limit is abandoned, and its databases are dealt with from here.
#[track_caller]
fn run_watched<F, Fut>(
    config: TestConfig,
    keep: KeepPolicy,
    backend: BackendConfig,
    body: F,
    limit: Duration,
) where
    F: FnOnce(TestContext) -> Fut + Send + 'static,
    Fut: Future<Output = std::result::Result<(), String>>,
{
    enum Event {
        Started(MultiDatabaseManager),
        Finished(Outcome, Result<Option<Kept>>),
    }
    let name = config.name;
    let (tx, rx) = std::sync::mpsc::channel();
    let started_tx = tx.clone();
    let runner = std::thread::Builder::new()
        .name(name.rsplit("::").next().unwrap_or(name).to_owned())
        .spawn(move || {
            let result = std::panic::catch_unwind(AssertUnwindSafe(|| {
                run_here(&config, keep, backend, body, |manager| {
                    let _ = started_tx.send(Event::Started(manager.clone()));
                })
            }));
            match result {
                Ok((outcome, teardown)) => {
                    let _ = tx.send(Event::Finished(outcome, teardown));
                }
                // Setup failed: re-raised on the test's thread below.
                Err(payload) => {
                    let _ = tx.send(Event::Finished(Outcome::Panicked(payload), Ok(None)));
                }
            }
        })
        .unwrap_or_else(|e| panic!("persistence_test `{name}`: starting its thread: {e}"));
    let manager = match rx.recv() {
        Ok(Event::Started(manager)) => manager,
        Ok(Event::Finished(outcome, teardown)) => {
            let _ = runner.join();
            return report(name, outcome, teardown);
        }
        Err(_) => panic!("persistence_test `{name}`: its thread ended without a word"),
    };
    // The body's own timer fires first when it awaits; this one only when it blocks. The
    // margin covers a teardown that starts right at the limit.
    match rx.recv_timeout(limit + Duration::from_secs(2)) {
        Ok(Event::Finished(outcome, teardown)) => {
            let _ = runner.join();
            report(name, outcome, teardown)
        }
        Ok(Event::Started(_)) | Err(_) => {
            // The body is stuck on its thread: leave it there, and clean up from here.
            let teardown = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .map_err(|e| PersistError::Backend(format!("cleanup runtime: {e}")))
                .and_then(|runtime| runtime.block_on(finish(name, &manager, keep.keeps(true))));
            report(name, Outcome::TimedOut(limit), teardown)
        }
    }
}

async fn run_body<Fut>(body: Fut, timeout: Option<Duration>) -> Outcome
where
    Fut: Future<Output = std::result::Result<(), String>>,
{
    let body = AssertUnwindSafe(body).catch_unwind();
    let started = std::time::Instant::now();
    let finished = match timeout {
        Some(limit) => match tokio::time::timeout(limit, body).await {
            // A body that blocked its thread past the limit finishes before the timer can
            // fire: it overran all the same.
            Ok(_) if started.elapsed() > limit => return Outcome::TimedOut(limit),
            Ok(finished) => finished,
            Err(_) => return Outcome::TimedOut(limit),
        },
        None => body.await,
    };
    match finished {
        Ok(Ok(())) => Outcome::Passed,
        Ok(Err(error)) => Outcome::Failed(error),
        Err(payload) => Outcome::Panicked(payload),
    }
}

fn build_runtime(config: &TestConfig) -> std::io::Result<tokio::runtime::Runtime> {
    let mut builder = match config.flavor {
        Flavor::CurrentThread => tokio::runtime::Builder::new_current_thread(),
        Flavor::MultiThread => {
            let mut builder = tokio::runtime::Builder::new_multi_thread();
            if let Some(threads) = config.worker_threads {
                builder.worker_threads(threads);
            }
            builder
        }
    };
    builder.enable_all().build()
}

/// Reports the outcome; a failure panics at the caller's location (through `run_test`'s
/// `#[track_caller]`, the test's own attribute), never at a line of the runner.
#[track_caller]
fn report(name: &str, outcome: Outcome, teardown: Result<Option<Kept>>) {
    match &teardown {
        Ok(Some(kept)) => {
            // Straight to stderr, past the harness's capture: a person asked for these.
            let mut text = format!("persist: kept the databases of `{name}`:\n");
            for (role, location) in kept {
                text.push_str(&format!("  {role:<20} {location}\n"));
            }
            let _ = std::io::stderr().write_all(text.as_bytes());
        }
        Ok(None) => {}
        Err(e) if matches!(outcome, Outcome::Passed) => {
            panic!("persistence_test `{name}` passed, but cleaning up its databases failed: {e}")
        }
        Err(e) => eprintln!("persist: cleaning up after `{name}` failed too: {e}"),
    }
    match outcome {
        Outcome::Passed => {}
        Outcome::Panicked(payload) => std::panic::resume_unwind(payload),
        Outcome::Failed(error) => panic!("persistence_test `{name}` returned an error: {error}"),
        Outcome::TimedOut(limit) => panic!(
            "persistence_test `{name}` timed out after {limit:?}; its databases were {}",
            if teardown.as_ref().is_ok_and(Option::is_some) {
                "kept"
            } else {
                "cleaned up"
            }
        ),
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
