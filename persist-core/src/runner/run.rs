//! Running one test: the runtime, setup, the body under its limit on a watched thread, and
//! teardown.

use std::future::Future;
use std::panic::AssertUnwindSafe;
use std::time::Duration;

use futures::FutureExt as _;
use futures::future::LocalBoxFuture;

use super::config::{Fixture, KEEP_ENV, KeepPolicy, TestConfig};
use super::matrix::matrix_skip;
use super::outcome::{Kept, Outcome, report};
use super::setup::{build_runtime, builder};
use super::{TestContext, http};
use crate::db::{BackendConfig, BackendKind, DatabaseRole, MultiDatabaseManager};
use crate::error::{PersistError, Result};
use crate::system::Running;

/// Runs one test: builds the runtime, sets up the databases and the mesh, runs the body with
/// its context, then tears down (or keeps the databases) whatever happened, and finally
/// reports: a panic is re-raised as it was (so `#[should_panic]` works), an `Err` or a timeout
/// fails the test with a message, and a teardown failure is reported without hiding the test's
/// own failure.
///
/// The body is boxed here, once: what runs a test is compiled once for all tests, not again
/// for each body.
#[track_caller]
pub fn run_test<F, Fut>(config: TestConfig, body: F)
where
    F: FnOnce(TestContext) -> Fut + Send + 'static,
    Fut: Future<Output = std::result::Result<(), String>> + 'static,
{
    run_boxed(config, Box::new(move |context| body(context).boxed_local()));
}

/// What a test runs with its context, boxed.
type Body = Box<dyn FnOnce(TestContext) -> BodyFuture + Send>;
type BodyFuture = LocalBoxFuture<'static, std::result::Result<(), String>>;

#[track_caller]
fn run_boxed(config: TestConfig, body: Body) {
    persist_db::init_logging();
    let name = config.name;
    if config.matrix
        && let Some(reason) = matrix_skip(config.backend)
    {
        // libtest has no run-time skip: the test passes, and says why it did nothing.
        eprintln!("persist: `{name}` skipped: {reason}");
        if let Some(records) = super::prepare::requested() {
            super::prepare::skipped(name, &reason, &records);
        }
        return;
    }
    let keep = KeepPolicy::resolve(config.keep)
        .unwrap_or_else(|e| panic!("persistence_test `{name}`: {KEEP_ENV}: {e}"));
    let backend = BackendConfig::resolve(config.backend)
        .unwrap_or_else(|e| panic!("persistence_test `{name}`: choosing the backend: {e}"));
    if let Some(records) = super::prepare::requested() {
        return super::prepare::prepare(&config, backend, &records);
    }
    match config.timeout {
        None => {
            let (outcome, teardown) = run_here(&config, keep, backend, body, &mut |_| {});
            report(name, outcome, teardown);
        }
        Some(limit) => run_watched(config, keep, backend, body, limit),
    }
}

/// Runs setup, body and teardown on this thread; `started` gets the manager once set up.
fn run_here(
    config: &TestConfig,
    keep: KeepPolicy,
    backend: BackendConfig,
    body: Body,
    started: &mut dyn FnMut(&MultiDatabaseManager),
) -> (Outcome, Result<Option<Kept>>) {
    let name = config.name;
    let runtime = build_runtime(config)
        .unwrap_or_else(|e| panic!("persistence_test `{name}`: building the tokio runtime: {e}"));
    let system = config.system.map(|make| make());
    let result = runtime.block_on(async {
        let builder = builder(config, backend, system.as_deref())
            .unwrap_or_else(|e| panic!("persistence_test `{name}`: {e}"));
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
        let context = context.with_layout(system.as_ref().and_then(|s| s.layout()));
        #[cfg(feature = "http")]
        let http = http.map(|client| client.map(|client| context.set_http(client)));
        let seeding = config.seed.map(|seed| seed(context.clone()));
        let snapshot_name = config.snapshot_name;
        let seeded_body = async move {
            // Nothing runs over an HTTP API that could not be reached; the system still stops.
            http.map_err(|e| format!("its HTTP API could not be reached: {e}"))?;
            if let Some(seeding) = seeding {
                seeding
                    .await
                    .map_err(|e| format!("its seed failed: {e}"))?;
                tracing::debug!(test = name, "seeded");
            }
            crate::inspect::snapshot_named(snapshot_name, body(context)).await
        };
        let outcome = run_body(seeded_body, config.timeout).await;
        tracing::debug!(test = name, outcome = outcome.describe(), "body finished");
        running.stop().await;
        let failed = failed(config, &outcome);
        // A body that returned (not one that panicked, even as expected) may leave them warm.
        let returned = matches!(outcome, Outcome::Passed) && !failed;
        let teardown = finish(name, &manager, keep.keeps(failed), returned).await;
        (outcome, teardown)
    });
    // Tasks the body left running end with the runtime, before we report.
    drop(runtime);
    result
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

/// Whether the outcome counts as a failure for the keep policy.
pub(super) fn failed(config: &TestConfig, outcome: &Outcome) -> bool {
    match outcome {
        Outcome::Panicked(_) => !config.should_panic,
        Outcome::Passed => config.should_panic,
        Outcome::Failed(_) | Outcome::TimedOut(_) => true,
    }
}

/// Keeps or removes the databases; only a body that returned and passed may leave them
/// for the next test.
async fn finish(
    name: &str,
    manager: &MultiDatabaseManager,
    keep: bool,
    returned: bool,
) -> Result<Option<Kept>> {
    tracing::debug!(test = name, keep, "cleaning up");
    if keep {
        if manager.backend_kind() == BackendKind::SqliteMemory {
            eprintln!(
                "persist: `{name}` keeps in-memory databases; they end with the test process"
            );
        }
        Ok(Some(manager.keep().await?))
    } else if returned {
        manager.cleanup().await?;
        Ok(None)
    } else {
        manager.discard().await?;
        Ok(None)
    }
}

/// Runs the test on a thread of its own and watches the clock from this one: a body that
/// blocks its thread past the limit is abandoned, and its databases are dealt with from here.
#[track_caller]
fn run_watched(
    config: TestConfig,
    keep: KeepPolicy,
    backend: BackendConfig,
    body: Body,
    limit: Duration,
) {
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
                run_here(&config, keep, backend, body, &mut |manager| {
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
                .and_then(|runtime| {
                    runtime.block_on(finish(name, &manager, keep.keeps(true), false))
                });
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
