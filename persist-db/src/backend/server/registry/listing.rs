//! The registry as a person reads it: every database the framework keeps on a server, with
//! its state, its owner's liveness and its size (`cargo persist list`).

use sea_orm::{ConnectionTrait, DbBackend, Statement};

use super::{ADMIN, REGISTRY_TABLE, ensure_table, owner_alive_sql};
use crate::error::{DbContext, Result};

/// One database the framework keeps on a server, as its registry records it.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
#[non_exhaustive]
pub struct RegisteredDatabase {
    /// Its name on the server.
    pub name: String,
    /// `test` (a test's own), `pool` (a pool database) or `template`.
    pub kind: String,
    /// `creating`, `claimed` (a test holds it), `dropping`, `ready` (idle in its pool, or a
    /// published template) or `kept` (kept for a person; never swept).
    pub state: String,
    /// Whose it is or was: the test and the database's part (`my_test · agent AgentB`).
    pub label: String,
    /// Whether the process that holds it is alive (`false` for idle and kept ones).
    pub owner_alive: bool,
    /// When it was recorded (a template: when a process last used it), epoch milliseconds.
    pub created_at_ms: i64,
    /// Its size on disk, if the database exists.
    pub size_bytes: Option<i64>,
    /// How many times the server refused to drop it (0: never). A database that refused is
    /// stuck: every run's sweep tries it again on a growing interval, never waiting for it.
    pub drop_failures: u32,
    /// Why it would not drop, in the server's words, the last time it refused.
    pub drop_error: Option<String>,
    /// When it last refused, epoch milliseconds.
    pub last_drop_failure_ms: Option<i64>,
}

impl RegisteredDatabase {
    /// Whether the server refused to drop it and it is waiting for a later sweep.
    pub fn is_stuck(&self) -> bool {
        self.drop_failures > 0
    }
}

/// An integer column, whatever width the server gives it (`INTEGER` is 32 bits on
/// PostgreSQL, and MySQL widens sums).
pub(crate) fn int(row: &sea_orm::QueryResult, column: &str) -> Result<i64, sea_orm::DbErr> {
    row.try_get::<i64>("", column)
        .or_else(|_| row.try_get::<i32>("", column).map(i64::from))
}

/// Every database the registry of the server at `admin_url` records, with its size: what a
/// person looks at to tell them apart (`cargo persist list`).
pub async fn list_databases(admin_url: &str) -> Result<Vec<RegisteredDatabase>> {
    crate::env::check()?;
    let admin = crate::backend::server::admin_connection(admin_url).await?;
    let result = async {
        ensure_table(&admin).await?;
        let backend = admin.get_database_backend();
        let alive = owner_alive_sql(backend);
        let sql = match backend {
            DbBackend::Postgres => format!(
                "SELECT db_name, kind, state, label, created_at, drop_failures, drop_error, failed_at, \
                 CASE WHEN state IN ('creating', 'claimed', 'dropping') AND {alive} THEN 1 ELSE 0 END::bigint AS alive, \
                 CASE WHEN d.datname IS NULL THEN NULL ELSE pg_catalog.pg_database_size(d.oid) END AS size \
                 FROM {REGISTRY_TABLE} LEFT JOIN pg_catalog.pg_database d ON d.datname = db_name \
                 ORDER BY kind, db_name"
            ),
            _ => format!(
                "SELECT db_name, kind, state, label, created_at, drop_failures, drop_error, failed_at, \
                 CAST(CASE WHEN state IN ('creating', 'claimed', 'dropping') AND {alive} THEN 1 ELSE 0 END AS SIGNED) AS alive, \
                 CAST(s.size AS SIGNED) AS size \
                 FROM {REGISTRY_TABLE} LEFT JOIN (SELECT TABLE_SCHEMA AS schema_name, \
                 SUM(DATA_LENGTH + INDEX_LENGTH) AS size FROM information_schema.TABLES GROUP BY TABLE_SCHEMA) s \
                 ON s.schema_name = db_name ORDER BY kind, db_name"
            ),
        };
        // A database another process drops between the join and its size read has no size
        // (`NULL`) for a superuser; for other roles the privilege check fails the whole
        // statement ("database with OID … does not exist"): read again.
        let mut attempt = 0;
        let rows = loop {
            attempt += 1;
            match admin
                .query_all_raw(Statement::from_string(backend, sql.clone()))
                .await
            {
                Err(e) if attempt < 5 && e.to_string().contains("does not exist") => continue,
                other => break other.context(ADMIN, "reading the registry")?,
            }
        };
        rows.iter()
            .map(|row| {
                let drop_failures = u32::try_from(int(row, "drop_failures")?).unwrap_or(0);
                let failed_at = int(row, "failed_at")?;
                Ok(RegisteredDatabase {
                    name: row.try_get("", "db_name")?,
                    kind: row.try_get("", "kind")?,
                    state: row.try_get("", "state")?,
                    label: row.try_get("", "label")?,
                    owner_alive: row.try_get::<i64>("", "alive")? == 1,
                    created_at_ms: row.try_get("", "created_at")?,
                    size_bytes: row.try_get("", "size")?,
                    drop_failures,
                    drop_error: row.try_get("", "drop_error")?,
                    last_drop_failure_ms: (drop_failures > 0).then_some(failed_at),
                })
            })
            .collect::<std::result::Result<Vec<_>, sea_orm::DbErr>>()
            .context(ADMIN, "reading the registry")
    }
    .await;
    let _ = admin.close().await;
    result
}
