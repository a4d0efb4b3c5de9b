//! The advisory locks a session holds: its owner lock (whose key every database of its test
//! is recorded under) and its slots of the server's connection budget.

use sea_orm::{ConnectionTrait as _, DatabaseConnection, DbBackend, Statement};

use super::ADMIN;
use crate::env::MAX_CONNECTIONS_ENV;
use crate::error::{DbContext, Error, Result};

/// Advisory-lock keys: owners and slots in ranges of their own.
const OWNER_BASE: i64 = 0x7065_7273_0000_0000;
const SLOT_BASE: i64 = 0x7065_7274_0000_0000;

fn lock_call(backend: DbBackend, key: i64, alias: &str) -> String {
    match backend {
        DbBackend::Postgres => format!("pg_try_advisory_lock({key}) AS {alias}"),
        _ => {
            let name = if key >= SLOT_BASE {
                format!("persist_slot_{}", key - SLOT_BASE)
            } else {
                format!("persist_owner_{key}")
            };
            format!("(GET_LOCK('{name}', 0) = 1) AS {alias}")
        }
    }
}

fn unlock_call(backend: DbBackend, key: i64) -> String {
    match backend {
        DbBackend::Postgres => format!("pg_advisory_unlock({key})"),
        _ => format!("RELEASE_LOCK('persist_slot_{}')", key - SLOT_BASE),
    }
}

/// Tries `keys`, in one round trip; returns those taken.
pub(super) async fn try_locks(conn: &DatabaseConnection, keys: &[i64]) -> Result<Vec<i64>> {
    let backend = conn.get_database_backend();
    let calls: Vec<String> = keys
        .iter()
        .enumerate()
        .map(|(i, key)| lock_call(backend, *key, &format!("l{i}")))
        .collect();
    let sql = format!("SELECT {}", calls.join(", "));
    let row = conn
        .query_one_raw(Statement::from_string(backend, sql))
        .await
        .context(ADMIN, "taking advisory locks")?
        .ok_or_else(|| Error::Backend("taking advisory locks returned no row".into()))?;
    let mut taken = Vec::new();
    for (i, key) in keys.iter().enumerate() {
        let got: bool = row
            .try_get("", &format!("l{i}"))
            .context(ADMIN, "taking advisory locks")?;
        if got {
            taken.push(*key);
        }
    }
    Ok(taken)
}

/// Takes a fresh owner lock; its key is the owner recorded for every database of the session.
pub(crate) async fn take_owner_lock(conn: &DatabaseConnection) -> Result<i64> {
    for _ in 0..8 {
        let key = OWNER_BASE + i64::from(uuid::Uuid::new_v4().as_fields().0 >> 1);
        if try_locks(conn, &[key]).await?.len() == 1 {
            return Ok(key);
        }
    }
    Err(Error::Backend(
        "could not take an owner lock on the server".into(),
    ))
}

/// Takes `wanted` of the `budget` slots, or none; `true` when taken.
pub(super) async fn take_slots(
    conn: &DatabaseConnection,
    budget: usize,
    wanted: usize,
) -> Result<bool> {
    if wanted > budget {
        return Err(Error::Backend(format!(
            "a test needs {wanted} connections but only {budget} may be held on this server \
             ({MAX_CONNECTIONS_ENV})"
        )));
    }
    // Start at a random slot, so that concurrent tests mostly try different ones.
    let start = uuid::Uuid::new_v4().as_fields().0 as usize % budget;
    let candidates: Vec<i64> = (0..budget)
        .map(|i| SLOT_BASE + ((start + i) % budget) as i64)
        .collect();
    let mut taken = Vec::new();
    let mut rest = &candidates[..];
    while taken.len() < wanted && !rest.is_empty() {
        let n = ((wanted - taken.len()) * 2).max(8).min(rest.len());
        let (batch, tail) = rest.split_at(n);
        rest = tail;
        taken.extend(try_locks(conn, batch).await?);
    }
    if taken.len() >= wanted {
        let extra = taken.split_off(wanted);
        release(conn, &extra).await?;
        return Ok(true);
    }
    release(conn, &taken).await?;
    Ok(false)
}

async fn release(conn: &DatabaseConnection, keys: &[i64]) -> Result<()> {
    if keys.is_empty() {
        return Ok(());
    }
    let backend = conn.get_database_backend();
    let calls: Vec<String> = keys.iter().map(|k| unlock_call(backend, *k)).collect();
    conn.execute_unprepared(&format!("SELECT {}", calls.join(", ")))
        .await
        .context(ADMIN, "releasing advisory locks")
        .map(|_| ())
}
