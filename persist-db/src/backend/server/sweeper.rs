//! The sweeps a run makes by itself, off its tests' path: once per server and process when
//! its first test starts, then again while databases it met are stuck or their owners newly
//! gone (waited out for a heartbeat or three), each time one is due.
//!
//! A sweep runs on the session runtime in an admin session of its own (a connection, an owner
//! lock, and one slot of the server's connection budget, so that sweeps never push a server
//! past its limit), so that nothing a test waits for waits on it: a drop the server makes wait
//! (a lock on MariaDB), or refuses (a template on PostgreSQL), costs the test nothing. A
//! process that ends mid-sweep leaves what it had taken over to the next sweep (its owner lock
//! goes with it).

use std::collections::HashMap;
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;

use tokio::sync::Notify;

use super::pool;
use super::session::{Session, spawn_on_engine};
use crate::backend::server::registry::{self, Retry};
use crate::error::Result;

/// The longest a sweeper sleeps before it looks again, while stuck databases remain.
const LONGEST_SLEEP: Duration = Duration::from_secs(60);

/// The running sweeper of each server, by URL: woken when this process meets a new stuck
/// database.
fn running() -> &'static Mutex<HashMap<String, Arc<Notify>>> {
    static RUNNING: OnceLock<Mutex<HashMap<String, Arc<Notify>>>> = OnceLock::new();
    RUNNING.get_or_init(Default::default)
}

/// Starts the sweeper of the server at `admin_url` if this process has none, or wakes it.
pub(crate) fn sweep_soon(admin_url: &str) {
    let wake = {
        let mut sweepers = running().lock().unwrap_or_else(|p| p.into_inner());
        if let Some(wake) = sweepers.get(admin_url) {
            wake.notify_one();
            return;
        }
        let wake = Arc::new(Notify::new());
        sweepers.insert(admin_url.to_owned(), wake.clone());
        wake
    };
    let url = admin_url.to_owned();
    spawn_on_engine(async move {
        loop {
            let next_due = match sweep_once(&url).await {
                Ok(next_due) => next_due,
                Err(e) => {
                    tracing::warn!(error = %e, "a sweep of leaked databases failed");
                    None
                }
            };
            let Some(due_ms) = next_due else {
                // Nothing stuck left to wait for; a later `sweep_soon` starts a new sweeper.
                running()
                    .lock()
                    .unwrap_or_else(|p| p.into_inner())
                    .remove(&url);
                return;
            };
            let wait = u64::try_from(due_ms - registry::now_millis()).unwrap_or(0);
            let wait = Duration::from_millis(wait).min(LONGEST_SLEEP);
            tokio::select! {
                () = tokio::time::sleep(wait) => {}
                () = wake.notified() => {}
            }
        }
    });
}

/// One sweep of what dead owners left and of unused pools: when the next stuck database it
/// left is due, if it left one.
async fn sweep_once(url: &str) -> Result<Option<i64>> {
    let backend = crate::backend::kind_of(url)?.db_backend();
    let session = Session::open(url, backend, 1).await?;
    let (admin, me) = (&session.conn, session.owner);
    let result = async {
        // Unused pools first: a template that will not drop is then met, and said, below.
        pool::sweep_stale(admin, me).await?;
        let sweep = registry::sweep_with(admin, url, me, Retry::Due).await?;
        Ok(sweep.next_due_ms)
    }
    .await;
    session.close().await;
    result
}
