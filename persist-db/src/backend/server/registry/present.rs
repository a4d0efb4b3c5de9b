//! Whether the databases the registry names are on the server: a database dropped by hand, or
//! by anything that did not tell the registry, must not be handed out, and its record goes.

use sea_orm::sea_query::{Expr, ExprTrait as _, Query};
use sea_orm::{ConnectionTrait, DbBackend, Statement};

use super::{ADMIN, REGISTRY_TABLE, col, table};
use crate::error::{DbContext, Result};

/// Forgets the record of database `db_name`, idle (`ready`, owned by nobody) but not on the
/// server: dropped by hand, or by something that never told the registry. Run where the record
/// is locked (a claim's transaction) or under the template's lock.
pub(crate) async fn forget_missing(admin: &impl ConnectionTrait, db_name: &str) -> Result<()> {
    let delete = Query::delete()
        .from_table(table())
        .and_where(Expr::col(col("db_name")).eq(db_name))
        .and_where(Expr::col(col("state")).eq("ready"))
        .and_where(Expr::col(col("owner")).eq(0))
        .to_owned();
    admin
        .execute(&delete)
        .await
        .context(
            ADMIN,
            format!("removing {db_name}, which the server lacks, from {REGISTRY_TABLE}"),
        )
        .map(|_| ())?;
    tracing::warn!(database = %db_name, "the registry named a database the server does not have; its record is removed");
    Ok(())
}

/// The SQL, `1` or `0`, that says whether the database named in column `db_name` is on the
/// server.
pub(crate) fn present_sql(backend: DbBackend) -> &'static str {
    match backend {
        DbBackend::Postgres => {
            "CASE WHEN EXISTS (SELECT 1 FROM pg_catalog.pg_database d WHERE d.datname = db_name) \
             THEN 1 ELSE 0 END"
        }
        _ => {
            "CASE WHEN EXISTS (SELECT 1 FROM information_schema.SCHEMATA s \
             WHERE s.SCHEMA_NAME = db_name) THEN 1 ELSE 0 END"
        }
    }
}

/// Whether database `name` is on the server.
pub(crate) async fn exists(admin: &impl ConnectionTrait, name: &str) -> Result<bool> {
    let backend = admin.get_database_backend();
    let sql = match backend {
        DbBackend::Postgres => "SELECT 1 AS one FROM pg_catalog.pg_database WHERE datname = $1",
        _ => "SELECT 1 AS one FROM information_schema.SCHEMATA WHERE SCHEMA_NAME = ?",
    };
    let row = admin
        .query_one_raw(Statement::from_sql_and_values(backend, sql, [name.into()]))
        .await
        .context(ADMIN, format!("looking for database {name}"))?;
    Ok(row.is_some())
}
