//! Schema fingerprints: what a schema *is*, as a short stable digest.
//!
//! A template is keyed by what its schema is **on that backend**, found one of two ways:
//! - [`definition`]: every statement the schema issues, recorded in the backend's own
//!   dialect against a connection with nothing behind it that answers as an empty database
//!   would. It costs microseconds, needs no server, sees a branch on the backend, and changes
//!   exactly when a migration or an entity does. It is trusted only when the schema asked
//!   the database nothing (no `has_index`, no `SELECT` before an `ALTER`) and two recordings
//!   agree (no clock or random value in its statements).
//! - Otherwise the backend builds the schema once per process and keys it by the catalog it
//!   built ([`Backend::catalog_key`](super::Backend::catalog_key)): what it *did*, whatever
//!   the code that did it.

use std::collections::BTreeMap;
use std::collections::HashMap;
use std::fmt;
use std::panic::AssertUnwindSafe;
use std::sync::{Arc, Mutex, OnceLock};

use futures::FutureExt as _;
use sea_orm::{
    DatabaseConnection, DatabaseConnectionType, DbBackend, DbErr, ExecResult, MockDatabase,
    MockDatabaseConnection, MockDatabaseTrait, MockExecResult, QueryResult, Statement,
};
use serde::Serialize;

use super::apply::ApplySchema;

/// Bumped when the way templates are built or pool databases are checked (the catalog digest)
/// changes, so that templates and pools made by an older version are not used.
const FORMAT: &str = "persist-template-v5";

/// Mixed into every catalog key (what a built schema holds), so that it never equals a
/// definition key (what a schema's statements are).
pub(crate) const CATALOG_FORMAT: &str = "persist-catalog-key-v1";

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
    #[cfg_attr(not(feature = "sqlite"), allow(dead_code))]
    pub fn short(&self) -> String {
        format!("{:016x}", ((self.0 >> 64) as u64) ^ (self.0 as u64))
    }
}

impl fmt::Display for Fingerprint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:032x}", self.0)
    }
}

/// Why a schema's statements cannot be trusted to key its template.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Untrusted {
    /// It failed or panicked against a database with nothing behind it.
    CannotRecord,
    /// It reads the catalog (`has_table`, `has_index`, a `SELECT`) and may act on the answer:
    /// what it does to a real database may differ from what it did to the recording.
    ReadsCatalog,
    /// Two recordings differ: it embeds the clock or random values.
    Varies,
}

impl fmt::Display for Untrusted {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Untrusted::CannotRecord => "it cannot run without a database behind it",
            Untrusted::ReadsCatalog => "it reads the database while it migrates",
            Untrusted::Varies => {
                "it issues different statements each time (a clock or random value)"
            }
        })
    }
}

/// The fingerprint of what `schema` does to an empty `backend` database, recorded in that
/// backend's own dialect (so a branch on the backend is seen), or why it cannot be trusted.
///
/// `volatile` names a table whose inserts are bookkeeping that differs from run to run (the
/// migration table, whose rows carry the time they were applied); `extra` is mixed in (the
/// migration names, which those rows would have carried).
pub(crate) async fn definition(
    schema: &dyn ApplySchema,
    backend: DbBackend,
    volatile: Option<&str>,
    extra: &[String],
) -> Result<Fingerprint, Untrusted> {
    type Memo = Mutex<HashMap<(String, String), Result<Fingerprint, Untrusted>>>;
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
) -> Result<Fingerprint, Untrusted> {
    let first = record(schema, backend, volatile).await?;
    // The same code twice: a clock or a random value in a statement shows as a difference.
    if record(schema, backend, volatile).await? != first {
        return Err(Untrusted::Varies);
    }
    let backend_name = format!("{backend:?}");
    let parts = [FORMAT, backend_name.as_str()]
        .into_iter()
        .map(str::as_bytes)
        .chain(first.iter().map(String::as_bytes))
        .chain(extra.iter().map(String::as_bytes));
    Ok(Fingerprint::of(parts))
}

/// The statements `schema` issues against an empty `backend` database, but for data changes
/// to the `volatile` table.
async fn record(
    schema: &dyn ApplySchema,
    backend: DbBackend,
    volatile: Option<&str>,
) -> Result<Vec<String>, Untrusted> {
    let state = Arc::new(Mutex::new(Recording::default()));
    let recorder = Recorder {
        backend,
        volatile: volatile.map(str::to_owned),
        state: state.clone(),
    };
    let db: DatabaseConnection = DatabaseConnectionType::MockDatabaseConnection(Arc::new(
        MockDatabaseConnection::new(recorder),
    ))
    .into();
    let applied = AssertUnwindSafe(schema.apply(&db)).catch_unwind().await;
    if !matches!(applied, Ok(Ok(()))) {
        return Err(Untrusted::CannotRecord);
    }
    let recording = std::mem::take(&mut *state.lock().unwrap_or_else(|p| p.into_inner()));
    if recording.read_catalog {
        return Err(Untrusted::ReadsCatalog);
    }
    Ok(recording
        .log
        .into_iter()
        .filter(|sql| match volatile {
            Some(table) => !(is_data_change(sql) && sql.contains(table)),
            None => true,
        })
        .collect())
}

#[derive(Debug, Default)]
struct Recording {
    log: Vec<String>,
    read_catalog: bool,
}

/// A database with nothing behind it that answers as an empty one would and remembers what
/// it was asked. Each answer is made by a one-off [`MockDatabase`].
#[derive(Debug)]
struct Recorder {
    backend: DbBackend,
    volatile: Option<String>,
    state: Arc<Mutex<Recording>>,
}

impl Recorder {
    fn note(&self, statement: &Statement) -> std::sync::MutexGuard<'_, Recording> {
        let mut state = self.state.lock().unwrap_or_else(|p| p.into_inner());
        state.log.push(text(statement));
        state
    }
}

impl MockDatabaseTrait for Recorder {
    fn execute(&mut self, _counter: usize, statement: Statement) -> Result<ExecResult, DbErr> {
        drop(self.note(&statement));
        MockDatabase::new(self.backend)
            .append_exec_results([MockExecResult {
                last_insert_id: 1,
                rows_affected: 1,
            }])
            .execute(0, statement)
    }

    fn query(&mut self, _counter: usize, statement: Statement) -> Result<Vec<QueryResult>, DbErr> {
        let rows = match returning_row(&statement) {
            Some(row) => vec![row],
            None => {
                // The migration history of an empty database: nothing applied yet. Anything
                // else is a question about the database whose answer may steer the schema.
                let history = self
                    .volatile
                    .as_deref()
                    .is_some_and(|table| statement.sql.contains(table));
                if !history {
                    self.note(&statement).read_catalog = true;
                }
                Vec::new()
            }
        };
        drop(self.note(&statement));
        MockDatabase::new(self.backend)
            .append_query_results([rows])
            .query(0, statement)
    }

    fn begin(&mut self) {}

    fn commit(&mut self) {}

    fn rollback(&mut self) {}

    fn drain_transaction_log(&mut self) -> Vec<sea_orm::Transaction> {
        Vec::new()
    }

    fn get_database_backend(&self) -> DbBackend {
        self.backend
    }

    fn ping(&self) -> Result<(), DbErr> {
        Ok(())
    }
}

/// The row an `INSERT … RETURNING` gives back: the values it inserted (sea-query binds one
/// value per column), and 1 for a column it did not name (a generated key).
fn returning_row(statement: &Statement) -> Option<BTreeMap<String, sea_orm::Value>> {
    let sql = statement.sql.trim_start();
    if !sql.get(..6)?.eq_ignore_ascii_case("INSERT") {
        return None;
    }
    let upper = sql.to_ascii_uppercase();
    let returning = upper.rfind(" RETURNING ")?;
    let names = |list: &str| -> Vec<String> {
        list.split(',')
            .map(|c| c.trim().trim_matches(['"', '`', '[', ']']).to_owned())
            .collect()
    };
    let open = sql.find('(')?;
    let close = open + sql[open..].find(')')?;
    let columns = names(&sql[open + 1..close]);
    let values = statement
        .values
        .as_ref()
        .map(|v| v.0.clone())
        .unwrap_or_default();
    let mut row = BTreeMap::new();
    for name in names(&sql[returning + " RETURNING ".len()..]) {
        let value = columns
            .iter()
            .position(|c| *c == name)
            .and_then(|i| (columns.len() == values.len()).then(|| values[i].clone()))
            .unwrap_or(sea_orm::Value::BigInt(Some(1)));
        row.insert(name, value);
    }
    Some(row)
}

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
