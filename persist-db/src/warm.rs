//! Warm databases: a test's SQLite databases (files or in memory), still open, handed to the
//! next test of the same schemas in this process once proven pristine.
//!
//! Opening a SQLite connection (a thread, pragmas, the schema parsed) and closing it again is
//! most of what a short test costs. A manager built with [`reuse`](crate::ManagerBuilder::reuse)
//! gives its databases back at cleanup instead: its backend (a directory and its files, or the
//! in-memory databases' anchors) and the databases' open connections go to a pool of this
//! process, keyed by every role, database name and template key, and the next test of the same
//! plan takes them without copying or opening anything.
//!
//! Only a pristine set is kept. Each database's one connection (a test that opened more is not
//! proven, and its set is removed) is probed when it is handed out
//! and again when it comes back, and the two must agree on everything a test could have changed:
//! commits through any other connection (`data_version`), rows changed through this one
//! (`total_changes()`), the schema (its cookie), `user_version`, `application_id`, the journal
//! mode, every connection setting that can be read, the attached databases and the temporary
//! objects; the connection must be idle, with no transaction open; and a file must still be the
//! one its location names. A set that differs in
//! anything is removed as usual. Settings a test could change but that prove nothing (how
//! `LIKE` treats case, the cache size, …) are set back to a fresh connection's first.
//!
//! Under nextest's process per test no set would ever be taken again: the runner of
//! `#[persistence_test]` asks for reuse only when a process runs more than one test
//! ([`process_per_test`](crate::env::process_per_test)).

#![cfg_attr(
    not(feature = "sqlite"),
    allow(dead_code, unused_imports, unused_macros)
)]

use std::collections::HashMap;
use std::sync::{Arc, Mutex, OnceLock};

use sea_orm::{ConnectionTrait, DatabaseConnection};

use crate::backend::Engine;
use crate::names::AgentName;
use crate::provision::Provisioned;

/// What a database's one connection says of everything a test could change.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Probe(String);

/// What a test could change that no setting undoes, as one text: commits through any other
/// connection, rows changed through this one, the schema, the header's numbers, the journal
/// mode, the foreign-key settings, the attached databases and the temporary objects.
macro_rules! probe {
    () => {
        "SELECT \
        (SELECT data_version FROM pragma_data_version) || '|' || total_changes() || '|' || \
        (SELECT schema_version FROM pragma_schema_version) || '|' || \
        (SELECT user_version FROM pragma_user_version) || '|' || \
        (SELECT application_id FROM pragma_application_id) || '|' || \
        (SELECT journal_mode FROM pragma_journal_mode) || '|' || \
        (SELECT foreign_keys FROM pragma_foreign_keys) || '|' || \
        (SELECT query_only FROM pragma_query_only) || '|' || \
        (SELECT group_concat(name) FROM pragma_database_list) || '|' || \
        (SELECT count(*) FROM temp.sqlite_master)"
    };
}

/// Every other setting a test could change, set back to what the engine's connections start
/// with (SQLite's defaults, synchronous off): whatever a test did to them, the next finds them
/// as a fresh connection would.
macro_rules! reset {
    () => {
        "PRAGMA defer_foreign_keys = OFF; PRAGMA recursive_triggers = OFF; \
        PRAGMA reverse_unordered_selects = OFF; PRAGMA ignore_check_constraints = OFF; \
        PRAGMA legacy_alter_table = OFF; PRAGMA automatic_index = ON; \
        PRAGMA trusted_schema = ON; PRAGMA case_sensitive_like = OFF; \
        PRAGMA temp_store = DEFAULT; PRAGMA cache_size = -2000; PRAGMA synchronous = OFF; \
        PRAGMA locking_mode = NORMAL; PRAGMA busy_timeout = 5000"
    };
}

/// The reset, then the probe inside a transaction of its own (`BEGIN` fails inside one: a
/// transaction left open is not pristine), as one script: one trip to the connection's thread.
#[cfg(feature = "sqlite")]
const PROBE_SCRIPT: &str = concat!(reset!(), "; BEGIN; ", probe!(), "; ROLLBACK");

/// The probe of `db`'s one connection, or `None` when it cannot be trusted: the connection is
/// borrowed, a transaction is open, or the query fails.
pub(crate) async fn probe(db: &DatabaseConnection) -> Option<Probe> {
    #[cfg(not(feature = "sqlite"))]
    {
        let _ = db;
        None
    }
    #[cfg(feature = "sqlite")]
    probe_sqlite(db).await
}

#[cfg(feature = "sqlite")]
async fn probe_sqlite(db: &DatabaseConnection) -> Option<Probe> {
    use sea_orm::sqlx;
    let pool = db.get_sqlite_connection_pool();
    if pool.size() != 1 {
        return None;
    }
    // The pool's one connection, held while it is probed: nobody else has it. One just used
    // comes back to the pool a moment after its query.
    let mut conn = tokio::time::timeout(BORROWED, pool.acquire())
        .await
        .ok()?
        .ok()?;
    let rows = sqlx::raw_sql(PROBE_SCRIPT)
        .fetch_all(&mut *conn)
        .await
        .ok()?;
    // Some settings answer with their new value: the probe's row is the script's last.
    let probe: Option<String> = rows.last().and_then(|row| sqlx::Row::try_get(row, 0).ok());
    probe.map(Probe)
}

/// How long a probe waits for a connection to come back to its pool: longer, and it is
/// still borrowed (a task of the test that outlived it).
#[cfg(feature = "sqlite")]
const BORROWED: std::time::Duration = std::time::Duration::from_millis(100);

/// The probe of a database: its connection's, and which file its location names (removed,
/// or replaced by another, the next test's own connections would not reach what this one
/// holds open).
async fn probe_database(db: &Provisioned) -> Option<Probe> {
    let Probe(connection) = probe(&db.connection).await?;
    let file = match &db.location.path {
        Some(path) => file_identity(path)?,
        None => String::new(),
    };
    Some(Probe(format!("{connection}|{file}")))
}

/// Which file is at `path`: its device and inode where there are such, else its creation time.
fn file_identity(path: &std::path::Path) -> Option<String> {
    let metadata = std::fs::metadata(path).ok()?;
    #[cfg(unix)]
    {
        use std::os::unix::fs::MetadataExt as _;
        Some(format!("{}:{}", metadata.dev(), metadata.ino()))
    }
    #[cfg(not(unix))]
    {
        Some(format!("{:?}", metadata.created().ok()?))
    }
}

/// The probes of every database, opening each connection if it is not open yet (a database
/// just made opens its connection ahead, so this mostly waits for that).
pub(crate) async fn baseline<'a>(
    databases: impl Iterator<Item = &'a Provisioned>,
) -> Option<Vec<Probe>> {
    let probes = futures::future::join_all(databases.map(|db| async move {
        // The first query opens the pool's one connection.
        db.connection.execute_unprepared("SELECT 1").await.ok()?;
        probe_database(db).await
    }))
    .await;
    probes.into_iter().collect()
}

/// A test's databases, open, proven pristine and waiting for the next test of the same plan.
pub(crate) struct Warm {
    pub(crate) backend: Arc<dyn Engine>,
    pub(crate) gateway: Provisioned,
    pub(crate) agents: Vec<(AgentName, Provisioned)>,
    pub(crate) probes: Vec<Probe>,
}

impl Warm {
    fn databases(&self) -> impl Iterator<Item = &Provisioned> {
        std::iter::once(&self.gateway).chain(self.agents.iter().map(|(_, db)| db))
    }
}

fn pool() -> &'static Mutex<HashMap<String, Vec<Warm>>> {
    static POOL: OnceLock<Mutex<HashMap<String, Vec<Warm>>>> = OnceLock::new();
    POOL.get_or_init(Default::default)
}

/// How many sets of one plan wait at most: as many as tests run at once.
fn per_plan() -> usize {
    std::thread::available_parallelism().map_or(4, |n| n.get().clamp(2, 8))
}

/// A set of plan `identity` that came back pristine, if one waits.
pub(crate) fn take(identity: &str) -> Option<Warm> {
    pool()
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .get_mut(identity)?
        .pop()
}

/// Gives a set back: pooled if every database is as it was handed out (`true`), else left to
/// the caller to remove (`false`).
pub(crate) async fn give_back(identity: &str, set: Warm) -> Result<(), Warm> {
    let now = futures::future::join_all(set.databases().map(probe_database)).await;
    let pristine = now
        .iter()
        .zip(&set.probes)
        .all(|(now, then)| now.as_ref() == Some(then));
    if !pristine {
        return Err(set);
    }
    let mut pool = pool().lock().unwrap_or_else(|p| p.into_inner());
    let waiting = pool.entry(identity.to_owned()).or_default();
    if waiting.len() >= per_plan() {
        drop(pool);
        return Err(set);
    }
    waiting.push(set);
    drop(pool);
    remove_at_exit();
    Ok(())
}

/// Makes sure the directories of the sets still waiting are removed when the process exits
/// (a test binary's `main` returns, or calls `exit`): a run leaves nothing behind for a later
/// run's sweep. A process killed leaves them to that sweep.
fn remove_at_exit() {
    #[cfg(unix)]
    {
        static ONCE: std::sync::Once = std::sync::Once::new();
        ONCE.call_once(|| {
            extern "C" fn remove_waiting() {
                // Never wait at exit: a set being given back right now stays for the sweep.
                let Ok(mut pool) = pool().try_lock() else {
                    return;
                };
                let directories: std::collections::BTreeSet<std::path::PathBuf> = pool
                    .drain()
                    .flat_map(|(_, sets)| sets)
                    .flat_map(|set| {
                        let paths: Vec<_> = set
                            .databases()
                            .filter_map(|db| db.location.path.as_deref()?.parent())
                            .map(std::path::Path::to_owned)
                            .collect();
                        // The connections stay open: their files go with the directory.
                        std::mem::forget(set);
                        paths
                    })
                    .collect();
                for directory in directories {
                    let _ = std::fs::remove_dir_all(directory);
                }
            }
            // SAFETY: `remove_waiting` is a plain function that neither unwinds nor calls
            // `exit`; registering it has no other precondition.
            unsafe {
                libc::atexit(remove_waiting);
            }
        });
    }
}
