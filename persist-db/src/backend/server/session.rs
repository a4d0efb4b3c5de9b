//! A test's admin session on a server: the one connection that holds its owner lock and its
//! share of the server's connection budget.
//!
//! **Budget.** A server accepts a fixed number of connections, and every nextest process of
//! every run that shares it draws on the same supply. The budget is the server's limit, less
//! what is reserved for superusers, less headroom for other clients (or
//! `PERSIST_MAX_CONNECTIONS`). It is divided into slots, each an advisory lock
//! (`pg_try_advisory_lock` / `GET_LOCK`) that a session holds while its test may use one
//! connection. A test takes all the slots it needs at once (one for the session, and each
//! database pool's maximum) or none, and waits without holding a connection, up to
//! `PERSIST_CONNECTION_WAIT` seconds, then fails saying why.
//!
//! **Fail fast.** Connecting has a short timeout (`PERSIST_CONNECT_TIMEOUT`, default 5 s), and
//! the error names the URL (without its password) and the driver's cause. Once a server has
//! failed in a process, later tests fail at once with the same cause, for
//! [`REMEMBER_FAILURE`]; then the server is asked again (it may have been restarting).
//!
//! **A server restart.** A restart ends every session, and with them every owner lock: a live
//! test would look dead. An open session checks every [`HEARTBEAT`] that its connection still
//! holds its owner lock, and takes it (and its slots) again on a new connection if not; sweeps
//! take nothing over while the server has been up for less than ten seconds, and wait out an
//! owner they first find gone, so a live owner is back before anyone may think it gone.
//!
//! Sessions live on a runtime of their own (one thread per process), so that a lock is held
//! however each test's runtime comes and goes, and is released when the process ends.

use std::collections::HashMap;
use std::future::Future;
use std::sync::{Mutex, OnceLock};
use std::time::{Duration, Instant};

use sea_orm::sqlx::{self, Connection as _};
use sea_orm::{ConnectionTrait as _, DatabaseConnection, DbBackend, Statement};

use super::ADMIN;
use super::connect::connect_timeout;
use super::heartbeat::{Held, heartbeat};
use super::locks::{take_owner_lock, take_slots};
use super::{redacted, url_for};
use crate::env::{CONNECT_TIMEOUT_ENV, CONNECTION_WAIT_ENV, MAX_CONNECTIONS_ENV};
use crate::error::{DbContext, Error, Result};

/// The runtime sessions live on: one thread, for the life of the process.
fn engine() -> &'static tokio::runtime::Handle {
    static ENGINE: OnceLock<tokio::runtime::Handle> = OnceLock::new();
    ENGINE.get_or_init(|| {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("building the session runtime");
        let handle = runtime.handle().clone();
        std::thread::Builder::new()
            .name("persist-sessions".into())
            .spawn(move || runtime.block_on(std::future::pending::<()>()))
            .expect("starting the session thread");
        handle
    })
}

/// Runs `work` on the session runtime and waits for it from whatever runtime calls.
pub(crate) async fn on_engine<F>(work: F) -> Result<F::Output>
where
    F: Future + Send + 'static,
    F::Output: Send + 'static,
{
    engine()
        .spawn(work)
        .await
        .map_err(|e| Error::Backend(format!("server session task failed: {e}")))
}

/// Starts `work` on the session runtime, off the caller's path; nobody waits for it.
pub(crate) fn spawn_on_engine<F>(work: F)
where
    F: Future<Output = ()> + Send + 'static,
{
    drop(engine().spawn(work));
}

/// How long a server that failed in this process fails later tests at once, with the same
/// cause, before it is asked again.
pub(crate) const REMEMBER_FAILURE: Duration = Duration::from_secs(10);

/// Servers that failed in this process, by URL, with the cause and when.
fn failed() -> &'static Mutex<HashMap<String, (String, Instant)>> {
    static FAILED: OnceLock<Mutex<HashMap<String, (String, Instant)>>> = OnceLock::new();
    FAILED.get_or_init(Default::default)
}

fn unreachable(url: &str, cause: &str) -> Error {
    Error::Backend(format!("cannot connect to {}: {cause}", redacted(url)))
}

/// Fails at once if this server already failed in this process.
pub(crate) fn check_not_failed(url: &str) -> Result<()> {
    let mut failed = failed().lock().unwrap_or_else(|p| p.into_inner());
    match failed.get(url) {
        Some((cause, at)) if at.elapsed() < REMEMBER_FAILURE => Err(unreachable(
            url,
            &format!("{cause} (failed earlier in this process)"),
        )),
        Some(_) => {
            failed.remove(url);
            Ok(())
        }
        None => Ok(()),
    }
}

/// Connects once with the driver itself, to learn quickly whether and why the server cannot
/// be reached (a pool would retry until its timeout and then hide the cause).
pub(crate) async fn probe(url: &str, backend: DbBackend) -> Result<()> {
    check_not_failed(url)?;
    let driver_url = url_for(url, None)?;
    let attempt = async {
        match backend {
            #[cfg(feature = "postgres")]
            DbBackend::Postgres => sqlx::PgConnection::connect(&driver_url)
                .await
                .map(|c| drop(c.close())),
            #[cfg(feature = "mysql")]
            DbBackend::MySql => sqlx::MySqlConnection::connect(&driver_url)
                .await
                .map(|c| drop(c.close())),
            #[allow(unreachable_patterns)]
            other => Err(sqlx::Error::Configuration(
                format!("persist-core was built without a driver for {other:?}").into(),
            )),
        }
    };
    let cause = match tokio::time::timeout(connect_timeout(), attempt).await {
        Ok(Ok(())) => return Ok(()),
        Ok(Err(e)) => e.to_string(),
        Err(_) => format!(
            "no answer within {:?} ({CONNECT_TIMEOUT_ENV})",
            connect_timeout()
        ),
    };
    // Refused for lack of connections is a matter of waiting, not a broken server.
    if !is_too_many_connections(&cause) {
        failed()
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .insert(url.to_owned(), (cause.clone(), Instant::now()));
    }
    Err(unreachable(url, &cause))
}

fn is_too_many_connections(cause: &str) -> bool {
    let cause = cause.to_ascii_lowercase();
    cause.contains("too many connections")
        || cause.contains("remaining connection slots")
        || cause.contains("53300")
        || cause.contains("1040")
}

/// The number of connections all tests together may hold on the server (read once per
/// server and process).
async fn budget(admin: &DatabaseConnection, url: &str) -> Result<usize> {
    if let Some(n) = crate::env::count(&crate::env::MAX_CONNECTIONS)? {
        return Ok(n.max(1));
    }
    static BUDGETS: OnceLock<Mutex<HashMap<String, usize>>> = OnceLock::new();
    let budgets = BUDGETS.get_or_init(Default::default);
    if let Some(n) = budgets.lock().unwrap_or_else(|p| p.into_inner()).get(url) {
        return Ok(*n);
    }
    let n = read_budget(admin).await?;
    budgets
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .insert(url.to_owned(), n);
    Ok(n)
}

async fn read_budget(admin: &DatabaseConnection) -> Result<usize> {
    let backend = admin.get_database_backend();
    let sql = match backend {
        DbBackend::Postgres => {
            "SELECT (current_setting('max_connections')::int \
             - current_setting('superuser_reserved_connections')::int \
             - COALESCE(NULLIF(current_setting('reserved_connections', true), '')::int, 0))::bigint AS n"
        }
        _ => "SELECT CAST(@@max_connections AS SIGNED) AS n",
    };
    let row = admin
        .query_one_raw(Statement::from_string(backend, sql))
        .await
        .context(ADMIN, "reading the server's connection limit")?;
    let limit: i64 = row
        .map(|r| r.try_get("", "n"))
        .transpose()
        .context(ADMIN, "reading the server's connection limit")?
        .unwrap_or(100);
    let limit = usize::try_from(limit).unwrap_or(100);
    // Headroom for other clients (and for tests waiting, which connect briefly to ask).
    let headroom = (limit / 8).max(8);
    Ok(limit.saturating_sub(headroom).max(1))
}

/// An open admin session: its connection holds an owner lock and its test's slots, and gives
/// them back when it closes. While it is open, a heartbeat takes them again on a new
/// connection if a server restart ended the old one.
pub(crate) struct Session {
    pub conn: DatabaseConnection,
    pub owner: i64,
    /// Set when the session closes (or is dropped): the heartbeat stops.
    closed: std::sync::Arc<std::sync::atomic::AtomicBool>,
    held: Held,
}

impl Drop for Session {
    fn drop(&mut self) {
        self.closed
            .store(true, std::sync::atomic::Ordering::Relaxed);
    }
}

impl Session {
    /// Opens a session and takes `slots` slots, waiting (without a connection) while the
    /// budget is spent.
    pub(crate) async fn open(url: &str, backend: DbBackend, slots: usize) -> Result<Session> {
        // Once per server and process, ask the driver directly: a pool would retry a refused
        // connection until its timeout and then hide the cause.
        static REACHED: OnceLock<Mutex<std::collections::HashSet<String>>> = OnceLock::new();
        let reached = REACHED.get_or_init(Default::default);
        if !reached
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .contains(url)
        {
            probe(url, backend).await?;
            reached
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .insert(url.to_owned());
        }
        let wait = crate::env::seconds_or_default(&crate::env::CONNECTION_WAIT);
        let started = Instant::now();
        let mut pause = Duration::from_millis(10);
        loop {
            check_not_failed(url)?;
            match Self::try_open(url, backend, slots).await? {
                Ok(session) => return Ok(session),
                Err(budget) if started.elapsed() >= wait => {
                    return Err(Error::Backend(format!(
                        "waited {:?} for {slots} of the {budget} connections tests may hold on {} \
                         ({MAX_CONNECTIONS_ENV} to change it, {CONNECTION_WAIT_ENV} to wait \
                         longer); other tests hold them: run fewer at once (-j) or raise the \
                         server's max_connections",
                        started.elapsed(),
                        redacted(url)
                    )));
                }
                Err(_) => {
                    // Jittered, growing pauses: many waiters must not knock in step.
                    let jitter = Duration::from_micros(u64::from(
                        uuid::Uuid::new_v4().as_fields().0 % 10_000,
                    ));
                    tokio::time::sleep(pause + jitter).await;
                    pause = (pause * 2).min(Duration::from_millis(250));
                }
            }
        }
    }

    /// One attempt: `Ok(Err(budget))` when the slots are not there now.
    async fn try_open(
        url: &str,
        backend: DbBackend,
        slots: usize,
    ) -> Result<std::result::Result<Session, usize>> {
        let conn = match super::admin_connection(url).await {
            Ok(conn) => conn,
            Err(e) if is_too_many_connections(&e.to_string()) => return Ok(Err(0)),
            Err(e) => {
                // Learn the cause (and remember it) when the server itself is the problem.
                probe(url, backend).await?;
                return Err(e);
            }
        };
        let result = async {
            let budget = budget(&conn, url).await?;
            let owner = take_owner_lock(&conn).await?;
            let taken = take_slots(&conn, budget, slots).await?;
            Ok::<_, Error>((budget, owner, taken))
        }
        .await;
        match result {
            Ok((budget, owner, true)) => {
                let closed = std::sync::Arc::default();
                let held = Held {
                    owner,
                    budget,
                    slots,
                };
                spawn_on_engine(heartbeat(
                    conn.clone(),
                    held,
                    std::sync::Arc::clone(&closed),
                ));
                Ok(Ok(Session {
                    conn,
                    owner,
                    closed,
                    held,
                }))
            }
            Ok((budget, _, false)) => {
                let _ = conn.close().await;
                Ok(Err(budget))
            }
            Err(e) => {
                let _ = conn.close().await;
                Err(e)
            }
        }
    }

    /// Its connection and what it holds, for [`keep_locks`] on the session runtime.
    pub(crate) fn for_heartbeat(&self) -> (DatabaseConnection, Held) {
        (self.conn.clone(), self.held)
    }

    /// Gives back the slots and the owner lock by closing the connection.
    pub(crate) async fn close(self) {
        self.closed
            .store(true, std::sync::atomic::Ordering::Relaxed);
        let _ = self.conn.clone().close().await;
    }
}

/// A single-connection pool to the administration database that holds an owner lock of its
/// own, with the lock's key: for work done outside a test's session (a sweep, a refill).
pub(crate) async fn owner_connection(admin_url: &str) -> Result<(DatabaseConnection, i64)> {
    let conn = super::admin_connection(admin_url).await?;
    match take_owner_lock(&conn).await {
        Ok(owner) => Ok((conn, owner)),
        Err(e) => {
            let _ = conn.close().await;
            Err(e)
        }
    }
}
