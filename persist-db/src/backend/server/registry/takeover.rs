//! Taking over what an owner that is gone left: one conditional update, and never in the
//! first seconds after a server restart, when every owner looks gone.

use std::time::Duration;

use sea_orm::{ConnectionTrait, DatabaseConnection, DbBackend, Statement, TransactionTrait};

use super::{ADMIN, REGISTRY_TABLE, Retry, holds_sql, now_millis, owner_alive_sql, placeholder};
use crate::error::{DbContext, Result};

/// Takes over database `name` for owner `me` (holding its lock on `admin`'s connection) if,
/// at this moment, its record is owned by someone whose lock is free (and, with
/// [`Retry::Due`], it is due). `true` when taken: it is then `claimed` by `me`, and only `me`
/// may drop it.
pub(crate) async fn take_abandoned(
    admin: &DatabaseConnection,
    name: &str,
    me: i64,
    retry: Retry,
) -> Result<bool> {
    let backend = admin.get_database_backend();
    let due = match retry {
        Retry::Due => format!(" AND retry_at <= {}", now_millis()),
        Retry::Now => String::new(),
    };
    let sql = format!(
        "UPDATE {REGISTRY_TABLE} SET state = 'claimed', owner = {me} WHERE db_name = {} \
         AND state IN ('creating', 'claimed', 'dropping') AND owner <> {me}{due} \
         AND NOT ({}) AND {}",
        placeholder(backend),
        owner_alive_sql(backend),
        holds_sql(backend, me),
    );
    let operation = format!("taking over abandoned database {name}");
    // One transaction, so one connection: the server's uptime is read on the connection that
    // then proves it holds `me`, so a restart between the two cannot go unseen.
    let txn = admin.begin().await.context(ADMIN, &operation)?;
    if uptime(&txn).await.context(ADMIN, &operation)? < RESTART_GRACE {
        let _ = txn.rollback().await;
        return Ok(false);
    }
    let done = txn
        .execute_raw(Statement::from_sql_and_values(backend, sql, [name.into()]))
        .await
        .context(ADMIN, &operation)?;
    txn.commit().await.context(ADMIN, &operation)?;
    Ok(done.rows_affected() == 1)
}

/// How long a server must have been up before a sweep takes over databases whose owner lock is
/// free: a restart frees every lock, and live owners take theirs again (their sessions'
/// heartbeat) well within it.
pub(crate) const RESTART_GRACE: Duration = Duration::from_secs(10);

/// How long the server has been up.
async fn uptime(conn: &impl ConnectionTrait) -> std::result::Result<Duration, sea_orm::DbErr> {
    let backend = conn.get_database_backend();
    let (sql, column) = match backend {
        DbBackend::Postgres => (
            "SELECT CAST(EXTRACT(EPOCH FROM (now() - pg_catalog.pg_postmaster_start_time())) \
             AS BIGINT) AS up",
            "up",
        ),
        _ => ("SHOW GLOBAL STATUS LIKE 'Uptime'", "Value"),
    };
    let row = conn
        .query_one_raw(Statement::from_string(backend, sql))
        .await?
        .ok_or_else(|| sea_orm::DbErr::Custom("the server did not say its uptime".into()))?;
    let seconds = match backend {
        DbBackend::Postgres => row.try_get::<i64>("", column)?,
        // A status value is text.
        _ => row
            .try_get::<String>("", column)?
            .trim()
            .parse()
            .map_err(|e| sea_orm::DbErr::Custom(format!("the server's uptime: {e}")))?,
    };
    Ok(Duration::from_secs(u64::try_from(seconds).unwrap_or(0)))
}
