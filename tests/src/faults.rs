//! Planting faults directly in a database, behind the components' backs, to prove that the
//! framework's checks catch them. Every statement is built with sea-query, so it runs on every
//! backend.

use sea_orm::sea_query::{Alias, Expr, ExprTrait as _, Query, Table};
use sea_orm::{ConnectionTrait, DatabaseConnection, DbBackend, DbErr, Statement};

fn now() -> i64 {
    1_700_000_000_000
}

/// Inserts an agent session row.
pub async fn insert_agent_session(
    db: &DatabaseConnection,
    id: &str,
    user_id: &str,
    agent_name: &str,
) -> Result<(), DbErr> {
    let insert = Query::insert()
        .into_table(Alias::new("agent_sessions"))
        .columns(
            [
                "id",
                "user_id",
                "agent_name",
                "state",
                "created_at",
                "updated_at",
            ]
            .map(Alias::new),
        )
        .values_panic([
            id.into(),
            user_id.into(),
            agent_name.into(),
            serde_json::json!({"planted": true}).into(),
            now().into(),
            now().into(),
        ])
        .to_owned();
    db.execute(&insert).await.map(|_| ())
}

/// Inserts an agent message row.
pub async fn insert_agent_message(
    db: &DatabaseConnection,
    id: &str,
    session_id: &str,
    role: &str,
    content: &str,
    task_id: &str,
) -> Result<(), DbErr> {
    let insert = Query::insert()
        .into_table(Alias::new("agent_messages"))
        .columns(
            [
                "id",
                "session_id",
                "role",
                "content",
                "task_id",
                "created_at",
            ]
            .map(Alias::new),
        )
        .values_panic([
            id.into(),
            session_id.into(),
            role.into(),
            content.into(),
            task_id.into(),
            now().into(),
        ])
        .to_owned();
    db.execute(&insert).await.map(|_| ())
}

/// Inserts a gateway chat message row.
pub async fn insert_gateway_message(
    db: &DatabaseConnection,
    id: &str,
    session_id: &str,
    sender_type: &str,
    sender_name: &str,
    message: &str,
    task_id: &str,
) -> Result<(), DbErr> {
    let insert = Query::insert()
        .into_table(Alias::new("chat_messages"))
        .columns(
            [
                "id",
                "session_id",
                "message",
                "sender_type",
                "sender_name",
                "created_at",
                "task_id",
            ]
            .map(Alias::new),
        )
        .values_panic([
            id.into(),
            session_id.into(),
            message.into(),
            sender_type.into(),
            sender_name.into(),
            now().into(),
            task_id.into(),
        ])
        .to_owned();
    db.execute(&insert).await.map(|_| ())
}

/// Deletes rows of `table` where `column = value`.
pub async fn delete_where(
    db: &DatabaseConnection,
    table: &str,
    column: &str,
    value: &str,
) -> Result<u64, DbErr> {
    let delete = Query::delete()
        .from_table(Alias::new(table))
        .and_where(Expr::col(Alias::new(column)).eq(value))
        .to_owned();
    Ok(db.execute(&delete).await?.rows_affected())
}

/// Drops a table.
pub async fn drop_table(db: &DatabaseConnection, table: &str) -> Result<(), DbErr> {
    db.execute(&Table::drop().table(Alias::new(table)).to_owned())
        .await
        .map(|_| ())
}

/// Creates a migration-tracking table where there should be none.
pub async fn create_migration_table(db: &DatabaseConnection) -> Result<(), DbErr> {
    let create = Table::create()
        .table(Alias::new("seaql_migrations"))
        .col(
            sea_orm::sea_query::ColumnDef::new(Alias::new("version"))
                .string_len(255)
                .not_null()
                .primary_key(),
        )
        .col(
            sea_orm::sea_query::ColumnDef::new(Alias::new("applied_at"))
                .big_integer()
                .not_null(),
        )
        .to_owned();
    db.execute(&create).await.map(|_| ())
}

/// Records a migration the migrator does not know.
pub async fn record_unknown_migration(db: &DatabaseConnection, version: &str) -> Result<(), DbErr> {
    let insert = Query::insert()
        .into_table(Alias::new("seaql_migrations"))
        .columns(["version", "applied_at"].map(Alias::new))
        .values_panic([version.into(), now().into()])
        .to_owned();
    db.execute(&insert).await.map(|_| ())
}

/// Runs `plant` on a connection of `url` whose foreign-key checks are off, to leave orphans
/// that the schema itself would refuse.
pub async fn with_foreign_keys_off<F, Fut>(url: &str, plant: F) -> Result<(), DbErr>
where
    F: FnOnce(DatabaseConnection) -> Fut,
    Fut: std::future::Future<Output = Result<(), DbErr>>,
{
    let mut options = sea_orm::ConnectOptions::new(url.to_owned());
    // One connection, so the session setting below applies to every statement.
    options
        .max_connections(1)
        .min_connections(1)
        .sqlx_logging(false);
    let db = sea_orm::Database::connect(options).await?;
    let off = match db.get_database_backend() {
        DbBackend::Sqlite => "PRAGMA foreign_keys = OFF",
        DbBackend::Postgres => "SET session_replication_role = replica",
        _ => "SET FOREIGN_KEY_CHECKS = 0",
    };
    db.execute_raw(Statement::from_string(db.get_database_backend(), off))
        .await?;
    plant(db.clone()).await?;
    db.close().await
}
