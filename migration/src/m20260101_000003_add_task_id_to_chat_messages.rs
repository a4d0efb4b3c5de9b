//! Step 3: every message records the task (one user turn) it belongs to, so a turn can be
//! followed from the gateway into the agent's database.

use sea_orm_migration::{prelude::*, schema::*};

use crate::ChatMessages;

const INDEX: &str = "idx_chat_messages_task_id";

/// Adds `chat_messages.task_id` and its index.
#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .alter_table(
                Table::alter()
                    .table(ChatMessages::Table)
                    .add_column(string_len_null(ChatMessages::TaskId, 64))
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name(INDEX)
                    .table(ChatMessages::Table)
                    .col(ChatMessages::TaskId)
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        // SQLite refuses to drop an indexed column, so the index goes first everywhere.
        manager
            .drop_index(
                Index::drop()
                    .name(INDEX)
                    .table(ChatMessages::Table)
                    .to_owned(),
            )
            .await?;
        manager
            .alter_table(
                Table::alter()
                    .table(ChatMessages::Table)
                    .drop_column(ChatMessages::TaskId)
                    .to_owned(),
            )
            .await
    }
}
