//! Schema fingerprints: what a schema *is*, as a short stable digest.
//!
//! Two kinds, for two questions:
//! - [`definition`]: what does this schema do to an empty database? Every statement it issues
//!   is recorded against a connection with no database behind it (SeaORM's mock), so it costs
//!   microseconds, needs no server, and changes exactly when a migration or an entity does.
//!   Templates and pools are keyed by it, across processes and runs.
//! - [`catalog`](crate::db::schema_fingerprint): what does this database hold now? Read from
//!   the catalog of a live database; a pooled database is reused only while it matches.

use std::collections::HashMap;
use std::fmt;
use std::panic::AssertUnwindSafe;
use std::sync::{Mutex, OnceLock};

use futures::FutureExt as _;
use sea_orm::{DbBackend, MockDatabase, MockExecResult, MockRow, Statement};
use serde::Serialize;

use super::backend::ApplySchema;

/// Bumped when the way templates are built or pool databases are checked (the catalog digest)
/// changes, so that templates and pools made by an older version are not used.
const FORMAT: &str = "persist-template-v4";

/// A 128-bit digest, shown as 32 hex digits.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
pub struct Fingerprint(u128);

impl Fingerprint {
    /// The digest of `parts`, in order (FNV-1a, 128 bits: stable across builds and platforms).
    pub fn of<I, S>(parts: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: AsRef<[u8]>,
    {
        const OFFSET: u128 = 0x6c62_272e_07bb_0142_62b8_2175_6295_c58d;
        const PRIME: u128 = 0x0000_0000_0100_0000_0000_0000_0000_013b;
        let mut hash = OFFSET;
        for part in parts {
            let part = part.as_ref();
            // The length first, so that ("ab", "c") and ("a", "bc") differ.
            for byte in (part.len() as u64).to_le_bytes().iter().chain(part) {
                hash = (hash ^ u128::from(*byte)).wrapping_mul(PRIME);
            }
        }
        Fingerprint(hash)
    }

    /// 16 hex digits folded from all 128 bits: short enough for a file name, long enough to
    /// tell apart.
    pub fn short(&self) -> String {
        format!("{:016x}", ((self.0 >> 64) as u64) ^ (self.0 as u64))
    }
}

impl fmt::Display for Fingerprint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:032x}", self.0)
    }
}

/// The fingerprint of what `schema` does to an empty `backend` database, or `None` when it
/// cannot be recorded without a real database (it failed or panicked against empty answers).
///
/// `volatile` names a table whose inserts are bookkeeping that differs from run to run (the
/// migration table, whose rows carry the time they were applied); `extra` is mixed in (the
/// migration names, which those rows would have carried).
pub(crate) async fn definition(
    schema: &dyn ApplySchema,
    backend: DbBackend,
    volatile: Option<&str>,
    extra: &[String],
) -> Option<Fingerprint> {
    type Memo = Mutex<HashMap<(String, String), Option<Fingerprint>>>;
    static MEMO: OnceLock<Memo> = OnceLock::new();
    let memo = MEMO.get_or_init(Default::default);
    let key = schema
        .process_key()
        .map(|key| (key, format!("{backend:?}")));
    if let Some(key) = &key
        && let Some(known) = memo.lock().unwrap_or_else(|p| p.into_inner()).get(key)
    {
        return *known;
    }
    let fingerprint = definition_uncached(schema, backend, volatile, extra).await;
    if let Some(key) = key {
        memo.lock()
            .unwrap_or_else(|p| p.into_inner())
            .insert(key, fingerprint);
    }
    fingerprint
}

async fn definition_uncached(
    schema: &dyn ApplySchema,
    backend: DbBackend,
    volatile: Option<&str>,
    extra: &[String],
) -> Option<Fingerprint> {
    match record(schema, backend, backend, volatile, extra).await {
        Some(fingerprint) => Some(fingerprint),
        // sea-orm-migration reads back the row it inserts into the migration table
        // (`RETURNING`, on PostgreSQL and SQLite), which a recording cannot answer. MySQL has
        // no `RETURNING`: the same migrations spoken in its dialect still change exactly when
        // they do (but for code that branches on the backend).
        None if backend != DbBackend::MySql => {
            record(schema, DbBackend::MySql, backend, volatile, extra).await
        }
        None => None,
    }
}

async fn record(
    schema: &dyn ApplySchema,
    dialect: DbBackend,
    backend: DbBackend,
    volatile: Option<&str>,
    extra: &[String],
) -> Option<Fingerprint> {
    // Every query finds no rows and every statement changes one row, as on an empty database.
    let db = MockDatabase::new(dialect)
        .append_query_results((0..ANSWERS).map(|_| Vec::<MockRow>::new()))
        .append_exec_results((0..ANSWERS).map(|_| MockExecResult {
            last_insert_id: 1,
            rows_affected: 1,
        }))
        .into_connection();
    let applied = AssertUnwindSafe(schema.apply(&db)).catch_unwind().await;
    if !matches!(applied, Ok(Ok(()))) {
        tracing::warn!(
            "a schema could not be fingerprinted without a database; it will be applied to \
             every test database instead of cloned from a template"
        );
        return None;
    }
    let statements: Vec<String> = db
        .into_transaction_log()
        .iter()
        .flat_map(|transaction| transaction.statements().iter().map(text))
        .collect();
    let kept = statements.iter().filter(|sql| match volatile {
        Some(table) => !(is_data_change(sql) && sql.contains(table)),
        None => true,
    });
    let backend_name = format!("{backend:?} in {dialect:?}");
    let parts = [FORMAT, backend_name.as_str()]
        .into_iter()
        .map(str::as_bytes)
        .chain(kept.map(String::as_bytes))
        .chain(extra.iter().map(String::as_bytes));
    Some(Fingerprint::of(parts))
}

/// More answers than any schema asks for; one that asks for more is not fingerprinted.
const ANSWERS: usize = 4096;

fn text(statement: &Statement) -> String {
    match &statement.values {
        Some(values) => format!("{} {:?}", statement.sql, values.0),
        None => statement.sql.clone(),
    }
}

fn is_data_change(sql: &str) -> bool {
    let head = sql.trim_start().get(..6).unwrap_or_default();
    ["INSERT", "DELETE", "UPDATE"]
        .iter()
        .any(|verb| head.eq_ignore_ascii_case(verb))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn digests_are_stable_and_order_sensitive() {
        let a = Fingerprint::of(["ab", "c"]);
        assert_eq!(a, Fingerprint::of(["ab", "c"]));
        assert_ne!(a, Fingerprint::of(["a", "bc"]));
        assert_ne!(a, Fingerprint::of(["c", "ab"]));
        assert_eq!(a.to_string().len(), 32);
        assert_eq!(a.short().len(), 16);
        // Inputs that differ only at the end differ in their short form too.
        let long = "x".repeat(500);
        assert_ne!(
            Fingerprint::of([&long, "gateway"]).short(),
            Fingerprint::of([&long, "agent"]).short()
        );
        // Pinned: a template built by one build is found by the next.
        assert_eq!(
            Fingerprint::of(["persist"]).to_string(),
            "d33adf3ba9ff0c326c321693ac57ee8a"
        );
    }
}
