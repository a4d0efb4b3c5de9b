//! An open session's heartbeat: after a server restart (or anything else that ends its
//! connection) it takes the session's owner lock and slots again on a new connection, before a
//! sweep may think the test gone.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use sea_orm::{ConnectionTrait as _, DatabaseConnection, Statement};

use super::ADMIN;
use super::locks::{take_slots, try_locks};
use crate::error::{DbContext, Result};

/// How often an open session checks that it still holds its owner lock.
pub(crate) const HEARTBEAT: Duration = Duration::from_secs(2);

/// What a session holds, to take it again.
#[derive(Clone, Copy)]
pub(crate) struct Held {
    /// The owner lock's key.
    pub(super) owner: i64,
    /// The server's connection budget, in slots.
    pub(super) budget: usize,
    /// How many slots the session holds.
    pub(super) slots: usize,
}

/// Takes the session's owner lock (and its slots) again if its connection no longer holds it:
/// after a server restart, the pool's new connection holds nothing. `true` when it holds it.
pub(crate) async fn keep_locks(conn: &DatabaseConnection, held: Held) -> Result<bool> {
    let backend = conn.get_database_backend();
    let holds = super::registry::holds_sql(backend, held.owner);
    let row = conn
        .query_one_raw(Statement::from_string(
            backend,
            format!("SELECT CASE WHEN {holds} THEN 1 ELSE 0 END AS held"),
        ))
        .await
        .context(ADMIN, "checking the session's owner lock")?;
    let still = match row {
        Some(row) => super::registry::int_column(&row, "held")
            .context(ADMIN, "checking the session's owner lock")?,
        None => 0,
    };
    if still == 1 {
        return Ok(true);
    }
    if try_locks(conn, &[held.owner]).await?.len() != 1 {
        return Ok(false);
    }
    tracing::warn!(
        owner = held.owner,
        "the server ended this test's session (a restart?): its owner lock is taken again"
    );
    // Sweeps that found the lock free while it was lost must wait again next time.
    super::registry::clear_suspicion(conn, held.owner).await?;
    // The budget's share, as far as it is free now; the owner lock is what protects the
    // test's databases.
    let _ = take_slots(conn, held.budget, held.slots).await;
    Ok(true)
}

/// Checks every [`HEARTBEAT`] that the session still holds its locks, until it closes.
/// (A future for the session runtime.)
pub(super) async fn heartbeat(conn: DatabaseConnection, held: Held, closed: Arc<AtomicBool>) {
    loop {
        tokio::time::sleep(HEARTBEAT).await;
        if closed.load(Ordering::Relaxed) {
            break;
        }
        if let Err(e) = keep_locks(&conn, held).await {
            tracing::debug!(error = %e, "a session's heartbeat failed; it tries again");
        }
    }
}
