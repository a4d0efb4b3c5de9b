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

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use sea_orm::sea_query::{Alias, ColumnDef, Expr, ExprTrait as _, Query, Table};
use sea_orm::{ConnectionTrait, DatabaseConnection, DbBackend, Statement};

use super::server::{drop_statement, owner_connection};
use crate::error::{DbContext, Result};

mod listing;
pub use listing::{RegisteredDatabase, list_databases};

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

/// Creates the registry table if it is missing.
pub(crate) async fn ensure_table(admin: &DatabaseConnection) -> Result<()> {
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
    Ok(())
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
/// if given: one statement.
pub(crate) async fn hand_over(
    admin: &impl ConnectionTrait,
    name: &str,
    owner: i64,
    label: Option<&str>,
) -> Result<()> {
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
    admin
        .execute(&update)
        .await
        .context(ADMIN, format!("claiming {name}"))
        .map(|_| ())
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
fn holds_sql(backend: DbBackend, me: i64) -> String {
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

/// Takes over database `name` for owner `me` (holding its lock on `admin`'s connection) if,
/// at this moment, its record is owned by someone whose lock is free. `true` when taken: it is
/// then `claimed` by `me`, and only `me` may drop it.
pub(crate) async fn take_abandoned(
    admin: &impl ConnectionTrait,
    name: &str,
    me: i64,
) -> Result<bool> {
    let backend = admin.get_database_backend();
    let sql = format!(
        "UPDATE {REGISTRY_TABLE} SET state = 'claimed', owner = {me} WHERE db_name = {} \
         AND state IN ('creating', 'claimed', 'dropping') AND owner <> {me} \
         AND NOT ({}) AND {}",
        placeholder(backend),
        owner_alive_sql(backend),
        holds_sql(backend, me),
    );
    let done = admin
        .execute_raw(Statement::from_sql_and_values(backend, sql, [name.into()]))
        .await
        .context(ADMIN, format!("taking over abandoned database {name}"))?;
    Ok(done.rows_affected() == 1)
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

/// Drops database `name` if owner `me` (holding its lock on `admin`'s connection) holds it,
/// and forgets it. `false`, and nothing dropped, when the registry says it is not `me`'s.
///
/// The only way the framework drops a registered database.
pub(crate) async fn drop_owned(admin: &impl ConnectionTrait, name: &str, me: i64) -> Result<bool> {
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
        return Ok(false);
    }
    // A drop can fail for a moment (PostgreSQL's FORCE waits only five seconds for the
    // sessions it ends on a loaded server): try again before giving up.
    let mut attempt = 0;
    loop {
        match admin
            .execute_unprepared(&drop_statement(backend, name))
            .await
        {
            Ok(_) => break,
            Err(_) if attempt < DROP_RETRIES.len() => {
                tokio::time::sleep(DROP_RETRIES[attempt]).await;
                attempt += 1;
            }
            Err(e) => {
                // Give it up, so that the next sweep, by anyone, tries again: owner 0 is no
                // one's lock. Kept as ours, it would wait for this process to end.
                let give_up = format!(
                    "UPDATE {REGISTRY_TABLE} SET state = 'claimed', owner = 0 \
                     WHERE db_name = {} AND owner = {me}",
                    placeholder(backend),
                );
                let _ = admin
                    .execute_raw(Statement::from_sql_and_values(
                        backend,
                        give_up,
                        [name.into()],
                    ))
                    .await;
                return Err(e).context(ADMIN, format!("dropping database {name}"));
            }
        }
    }
    forget(admin, name, me).await?;
    Ok(true)
}

/// The pauses between attempts at a drop that failed.
const DROP_RETRIES: [Duration; 3] = [
    Duration::from_millis(200),
    Duration::from_secs(1),
    Duration::from_secs(3),
];

/// Drops every database in the registry of the server at `admin_url` whose owner is gone, and
/// returns their names. Databases of live tests, pools, templates and kept ones stay.
pub async fn sweep_leaked(admin_url: &str) -> Result<Vec<String>> {
    let (admin, me) = owner_connection(admin_url).await?;
    let result = sweep_with(&admin, me).await;
    let _ = admin.close().await;
    result
}

/// Drops, as owner `me`, what owners that are gone left behind.
pub(crate) async fn sweep_with(admin: &DatabaseConnection, me: i64) -> Result<Vec<String>> {
    ensure_table(admin).await?;
    let backend = admin.get_database_backend();
    // Candidates only: each is taken over, or not, by its own conditional update below.
    let sql = format!(
        "SELECT db_name FROM {REGISTRY_TABLE} WHERE state IN ('creating', 'claimed', 'dropping') \
         AND NOT ({})",
        owner_alive_sql(backend)
    );
    let rows = admin
        .query_all_raw(Statement::from_string(backend, sql))
        .await
        .context(ADMIN, "reading the registry")?;
    let mut dropped = Vec::new();
    for row in rows {
        let name: String = row
            .try_get("", "db_name")
            .context(ADMIN, "reading the registry")?;
        // One database that will not go is left for the next sweep; the rest still go.
        let taken = match take_abandoned(admin, &name, me).await {
            Ok(true) => drop_owned(admin, &name, me).await,
            other => other,
        };
        match taken {
            Ok(true) => {
                tracing::info!(database = %name, "dropped a test database whose owner is gone");
                dropped.push(name);
            }
            Ok(false) => {}
            Err(e) => {
                tracing::warn!(database = %name, error = %e, "a leaked database was not dropped; the next sweep tries again")
            }
        }
    }
    Ok(dropped)
}
