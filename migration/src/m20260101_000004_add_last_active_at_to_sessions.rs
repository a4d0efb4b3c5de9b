//! Step 4: `sessions.last_active_at`, set when the user switches to a session.

use sea_orm_migration::{prelude::*, schema::*};

use crate::Sessions;

/// Adds `sessions.last_active_at` (epoch milliseconds, null until the first switch).
#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .alter_table(
                Table::alter()
                    .table(Sessions::Table)
                    .add_column(big_integer_null(Sessions::LastActiveAt))
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .alter_table(
                Table::alter()
                    .table(Sessions::Table)
                    .drop_column(Sessions::LastActiveAt)
                    .to_owned(),
            )
            .await
    }
}
