//! The registry of databases the framework keeps on a server, and the sweep of those whose
//! owner is gone.
//!
//! Every database is recorded (in [`REGISTRY_TABLE`], in the administration database) before
//! it is created, with its owner: the key of an advisory lock that the owning test holds on
//! its admin session for as long as it lives (`pg_advisory_lock` / `GET_LOCK`). A killed
//! process, a cancelled CI job or a crashed container drops its connection, and the server
//! releases the lock: that, and nothing else, is how a sweep knows an owner is gone. Process
//! ids are never consulted, so runs in different containers or pid namespaces that share a
//! server never mistake each other for dead.
//!
//! States: `creating` and `claimed` (owned: dropped by a sweep once the owner's lock is free),
//! `dropping` (its owner is dropping it), `ready` (a pristine database waiting in a pool, or a
//! published template; owned by nobody), and `kept` (kept on purpose for a person; never
//! swept).
//!
//! **No drop without proof.** Every change of hands is one conditional `UPDATE` on the
//! server: the row is locked, and its condition (state, owner, and whether the owner's lock is
//! held) is evaluated on the row as it is now, not as some earlier read saw it. A database is
//! dropped only by [`drop_owned`], and only after such an update made it `dropping` under the
//! dropper's own owner, proven on the same connection that holds that owner's lock. A sweep
//! first takes an abandoned database over with [`take_abandoned`], which succeeds only while
//! its owner's lock is free at that moment; so a database that was given back, or claimed by
//! anyone alive, between the sweep's read and its drop stays where it is.
//!
//! **A database that will not drop** (a template flag, a lock, a role without the right) is
//! tried once, never waited for: the failure is recorded on its row (how often, when, why,
//! and when it is due again, on a growing interval every process reads), and it is given up
//! to nobody (`claimed`, owner 0), so that any later sweep may try it once it is due. See
//! [`stuck`].

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use sea_orm::sea_query::{Alias, ColumnDef, Expr, ExprTrait as _, Query, Table};
use sea_orm::{ConnectionTrait, DatabaseConnection, DbBackend, Statement};

use super::drop_statement;
use crate::error::{DbContext, Result};

mod kept;
mod listing;
mod present;
pub(crate) mod stuck;
mod sweep;
mod takeover;
pub use kept::{database_url, drop_kept};
pub(crate) use listing::int as int_column;
pub use listing::{RegisteredDatabase, list_databases};
pub(crate) use present::{exists, forget_missing, present_sql};
pub use sweep::sweep_leaked;
pub(crate) use sweep::{clear_suspicion, sweep_now, sweep_with};
pub(crate) use takeover::take_abandoned;

/// The registry table, in the server's administration database.
pub const REGISTRY_TABLE: &str = "persist_test_databases";

const ADMIN: &str = "server admin";

/// What a registered database is for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Kind {
    /// A test's own database, dropped at cleanup.
    Test,
    /// A database of a warm pool, reset and reused.
    Pool,
    /// A migrated template that pool databases are cloned from.
    Template,
}

impl Kind {
    fn as_str(self) -> &'static str {
        match self {
            Kind::Test => "test",
            Kind::Pool => "pool",
            Kind::Template => "template",
        }
    }
}

pub(crate) fn now_millis() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
}

fn table() -> Alias {
    Alias::new(REGISTRY_TABLE)
}

fn col(name: &str) -> Alias {
    Alias::new(name)
}

/// The columns that record a database that would not drop, added to a registry made by an
/// earlier version: `(name, definition)`.
const STUCK_COLUMNS: [(&str, &str); 4] = [
    ("drop_failures", "INTEGER NOT NULL DEFAULT 0"),
    ("drop_error", "TEXT NULL"),
    ("failed_at", "BIGINT NOT NULL DEFAULT 0"),
    ("retry_at", "BIGINT NOT NULL DEFAULT 0"),
];

/// Creates the registry table if it is missing, and adds the columns an earlier version's
/// table lacks. One cheap read when it is already there.
pub(crate) async fn ensure_table(admin: &DatabaseConnection) -> Result<()> {
    let backend = admin.get_database_backend();
    let probe = format!("SELECT retry_at FROM {REGISTRY_TABLE} WHERE 1 = 0");
    if admin
        .query_all_raw(Statement::from_string(backend, probe.clone()))
        .await
        .is_ok()
    {
        return Ok(());
    }
    let text = |name: &str, len: u32| {
        ColumnDef::new(col(name))
            .string_len(len)
            .not_null()
            .default("")
            .to_owned()
    };
    let create = Table::create()
        .table(table())
        .if_not_exists()
        .col(
            ColumnDef::new(col("db_name"))
                .string_len(64)
                .not_null()
                .primary_key(),
        )
        .col(text("kind", 16))
        .col(text("pool_key", 64))
        .col(text("state", 16))
        .col(
            ColumnDef::new(col("owner"))
                .big_integer()
                .not_null()
                .default(0),
        )
        .col(text("label", 255))
        .col(ColumnDef::new(col("digest")).string_len(64).null())
        .col(ColumnDef::new(col("detail")).text().null())
        .col(ColumnDef::new(col("created_at")).big_integer().not_null())
        .col(
            ColumnDef::new(col("drop_failures"))
                .integer()
                .not_null()
                .default(0),
        )
        .col(ColumnDef::new(col("drop_error")).text().null())
        .col(
            ColumnDef::new(col("failed_at"))
                .big_integer()
                .not_null()
                .default(0),
        )
        .col(
            ColumnDef::new(col("retry_at"))
                .big_integer()
                .not_null()
                .default(0),
        )
        .to_owned();
    // Two processes creating the table at once can collide even with IF NOT EXISTS
    // (PostgreSQL's catalog); the second attempt then finds it.
    if admin.execute(&create).await.is_err() {
        tokio::time::sleep(Duration::from_millis(100)).await;
        admin
            .execute(&create)
            .await
            .context(ADMIN, format!("creating {REGISTRY_TABLE}"))?;
    }
    // A table an earlier version made: add what it lacks. Another process may be adding the
    // same columns: a column that is already there is not an error, the probe below decides.
    for (name, definition) in STUCK_COLUMNS {
        let _ = admin
            .execute_unprepared(&format!(
                "ALTER TABLE {REGISTRY_TABLE} ADD COLUMN {name} {definition}"
            ))
            .await;
    }
    admin
        .query_all_raw(Statement::from_string(backend, probe))
        .await
        .context(ADMIN, format!("upgrading {REGISTRY_TABLE}"))
        .map(|_| ())
}

/// Records a database about to be created, owned by `owner`.
pub(crate) async fn record(
    admin: &impl ConnectionTrait,
    db_name: &str,
    kind: Kind,
    pool_key: &str,
    owner: i64,
    label: &str,
) -> Result<()> {
    let label: String = label.chars().take(255).collect();
    let insert = Query::insert()
        .into_table(table())
        .columns(
            [
                "db_name",
                "kind",
                "pool_key",
                "state",
                "owner",
                "label",
                "created_at",
            ]
            .map(col),
        )
        .values_panic([
            db_name.into(),
            kind.as_str().into(),
            pool_key.into(),
            "creating".into(),
            owner.into(),
            label.into(),
            now_millis().into(),
        ])
        .to_owned();
    admin
        .execute(&insert)
        .await
        .context(ADMIN, format!("recording {db_name} in {REGISTRY_TABLE}"))
        .map(|_| ())
}

/// Sets the state (and owner: 0 for nobody) of the named databases that `held_by` holds
/// (0: that nobody holds); a record someone else holds is left as it is.
pub(crate) async fn set_state(
    admin: &impl ConnectionTrait,
    names: &[String],
    held_by: i64,
    state: &str,
    owner: i64,
) -> Result<()> {
    if names.is_empty() {
        return Ok(());
    }
    let update = Query::update()
        .table(table())
        .value(col("state"), state)
        .value(col("owner"), owner)
        .and_where(Expr::col(col("db_name")).is_in(names.iter().map(String::as_str)))
        .and_where(Expr::col(col("owner")).eq(held_by))
        .to_owned();
    admin
        .execute(&update)
        .await
        .context(ADMIN, format!("marking databases {state}"))
        .map(|_| ())
}

/// Makes a ready database (owned by nobody) `claimed` by `owner`, with the claimer's `label`
/// if given: one statement; `true` when it did.
pub(crate) async fn hand_over(
    admin: &impl ConnectionTrait,
    name: &str,
    owner: i64,
    label: Option<&str>,
) -> Result<bool> {
    let mut update = Query::update();
    update
        .table(table())
        .value(col("state"), "claimed")
        .value(col("owner"), owner)
        .and_where(Expr::col(col("db_name")).eq(name))
        .and_where(Expr::col(col("owner")).eq(0));
    if let Some(label) = label {
        update.value(col("label"), label.chars().take(255).collect::<String>());
    }
    let done = admin
        .execute(&update)
        .await
        .context(ADMIN, format!("claiming {name}"))?;
    Ok(done.rows_affected() == 1)
}

/// Sets columns of one database's record.
pub(crate) async fn update<const N: usize>(
    admin: &impl ConnectionTrait,
    name: &str,
    values: [(&str, sea_orm::Value); N],
) -> Result<()> {
    let mut update = Query::update();
    update
        .table(table())
        .and_where(Expr::col(col("db_name")).eq(name));
    for (column, value) in values {
        update.value(col(column), value);
    }
    admin
        .execute(&update)
        .await
        .context(ADMIN, format!("updating the record of {name}"))
        .map(|_| ())
}

/// Removes a database's record, if `owner` holds it.
async fn forget(admin: &impl ConnectionTrait, db_name: &str, owner: i64) -> Result<()> {
    let delete = Query::delete()
        .from_table(table())
        .and_where(Expr::col(col("db_name")).eq(db_name))
        .and_where(Expr::col(col("owner")).eq(owner))
        .to_owned();
    admin
        .execute(&delete)
        .await
        .context(ADMIN, format!("removing {db_name} from {REGISTRY_TABLE}"))
        .map(|_| ())
}

/// The SQL that is true while the owner in column `owner` holds its lock.
pub(crate) fn owner_alive_sql(backend: DbBackend) -> &'static str {
    match backend {
        // Advisory locks show in pg_locks, in every database of the cluster, as two 32-bit
        // halves of the 64-bit key.
        DbBackend::Postgres => {
            "EXISTS (SELECT 1 FROM pg_catalog.pg_locks l WHERE l.locktype = 'advisory' \
             AND l.granted AND l.objsubid = 1 \
             AND ((l.classid::bigint << 32) | l.objid::bigint) = owner)"
        }
        _ => "IS_USED_LOCK(CONCAT('persist_owner_', owner)) IS NOT NULL",
    }
}

/// The SQL that is true while *this connection* holds the lock of owner `me`: the proof a
/// session gives, in each statement that hands a database to it, that it is still the owner
/// it says (a connection that was silently replaced would no longer hold it).
pub(crate) fn holds_sql(backend: DbBackend, me: i64) -> String {
    match backend {
        DbBackend::Postgres => format!(
            "EXISTS (SELECT 1 FROM pg_catalog.pg_locks l WHERE l.locktype = 'advisory' \
             AND l.granted AND l.objsubid = 1 AND l.pid = pg_backend_pid() \
             AND ((l.classid::bigint << 32) | l.objid::bigint) = {me})"
        ),
        _ => format!("IS_USED_LOCK('persist_owner_{me}') = CONNECTION_ID()"),
    }
}

/// The first bind parameter in the connection's dialect.
pub(crate) fn placeholder(backend: DbBackend) -> &'static str {
    if backend == DbBackend::Postgres {
        "$1"
    } else {
        "?"
    }
}

/// `n` bind parameters, comma-separated, in the connection's dialect (`$1, $2` or `?, ?`).
pub(crate) fn placeholders(backend: DbBackend, n: usize) -> String {
    let one = |i: usize| match backend {
        DbBackend::Postgres => format!("${i}"),
        _ => "?".to_owned(),
    };
    (1..=n).map(one).collect::<Vec<_>>().join(", ")
}

/// Which abandoned databases a sweep takes over.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Retry {
    /// Those that never refused to drop, and those whose next try is due: what the sweeps a
    /// run makes by itself take, so that a database that will not drop costs one try per
    /// interval across every process, not one per process.
    Due,
    /// All of them, now: a person asked (`sweep_leaked`), or a template's name is needed.
    Now,
}

/// Whether the registry records database `name`, in any state.
pub(crate) async fn is_recorded(admin: &impl ConnectionTrait, name: &str) -> Result<bool> {
    let backend = admin.get_database_backend();
    let sql = format!(
        "SELECT db_name FROM {REGISTRY_TABLE} WHERE db_name = {}",
        placeholder(backend)
    );
    let row = admin
        .query_one_raw(Statement::from_sql_and_values(backend, sql, [name.into()]))
        .await
        .context(ADMIN, format!("looking up {name}"))?;
    Ok(row.is_some())
}

/// What became of a database [`drop_owned`] was asked to drop.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum Dropped {
    /// Dropped and forgotten.
    Yes,
    /// Not dropped: the registry does not say it is this owner's.
    NotHeld,
    /// The server refused (the reason): recorded on its row and given up to nobody, so that a
    /// later sweep, by anyone, tries again once it is due. Nobody waited for it.
    Stuck(String),
}

impl Dropped {
    /// Whether it was dropped.
    pub(crate) fn is_dropped(&self) -> bool {
        *self == Dropped::Yes
    }
}

/// Drops database `name` if owner `me` (holding its lock on `admin`'s connection) holds it,
/// and forgets it. Tried once: a database that will not drop is [`Dropped::Stuck`], its
/// failure recorded for the sweeps; nothing waits for it.
///
/// The only way the framework drops a registered database.
pub(crate) async fn drop_owned(
    admin: &impl ConnectionTrait,
    name: &str,
    me: i64,
) -> Result<Dropped> {
    let backend = admin.get_database_backend();
    let sql = format!(
        "UPDATE {REGISTRY_TABLE} SET state = 'dropping' WHERE db_name = {} AND owner = {me} \
         AND state IN ('creating', 'claimed') AND {}",
        placeholder(backend),
        holds_sql(backend, me),
    );
    let marked = admin
        .execute_raw(Statement::from_sql_and_values(backend, sql, [name.into()]))
        .await
        .context(ADMIN, format!("marking {name} for dropping"))?;
    if marked.rows_affected() != 1 {
        tracing::warn!(database = %name, "not dropped: the registry does not say it is this owner's");
        return Ok(Dropped::NotHeld);
    }
    if let Err(e) = admin
        .execute_unprepared(&drop_statement(backend, name))
        .await
    {
        let reason = stuck::reason(&e);
        // Recorded and given up to nobody: owner 0 is no one's lock, so the next sweep that
        // finds it due tries again. Kept as ours, it would wait for this process to end.
        return match stuck::record_failure(admin, name, me, &reason).await {
            Ok(()) => {
                tracing::warn!(database = %name, reason = %reason, "a database would not drop; later sweeps try again");
                Ok(Dropped::Stuck(reason))
            }
            // The server is gone, not just this database: say what failed first.
            Err(_) => Err(e).context(ADMIN, format!("dropping database {name}")),
        };
    }
    forget(admin, name, me).await?;
    Ok(Dropped::Yes)
}
