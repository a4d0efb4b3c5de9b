//! Step 5: message text as long as on every other backend, on MySQL and MariaDB.

use sea_orm_migration::prelude::*;
use sea_orm_migration::sea_orm::DatabaseBackend;

/// `chat_messages.message` becomes `LONGTEXT` on MySQL and MariaDB, whose `TEXT` holds only
/// 64 KiB; PostgreSQL's and SQLite's `text` already hold any reply. `down` goes back to `TEXT`.
#[derive(DeriveMigrationName)]
pub struct Migration;

async fn set_type(manager: &SchemaManager<'_>, ty: &str) -> Result<(), DbErr> {
    if manager.get_database_backend() != DatabaseBackend::MySql {
        return Ok(());
    }
    manager
        .get_connection()
        .execute_unprepared(&format!(
            "ALTER TABLE `chat_messages` MODIFY `message` {ty} NOT NULL"
        ))
        .await
        .map(drop)
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        set_type(manager, "LONGTEXT").await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        set_type(manager, "TEXT").await
    }
}
