//! Step 1: the gateway's two tables, `sessions` and `chat_messages`.
//!
//! Times are epoch milliseconds (`BIGINT`), which every backend stores and orders the same way.

use sea_orm_migration::{prelude::*, schema::*};

/// The `sessions` table: one row per conversation between a user and an agent.
#[derive(DeriveIden, Clone, Copy)]
pub enum Sessions {
    /// The table itself.
    Table,
    /// Text primary key (a UUID).
    Id,
    /// Optional display name.
    Name,
    /// The owning user.
    UserId,
    /// The agent this session talks to.
    AgentName,
    /// Creation time, epoch milliseconds.
    CreatedAt,
    /// Last activity, epoch milliseconds.
    UpdatedAt,
    /// When the user last switched to this session (added by step 4).
    LastActiveAt,
}

/// The `chat_messages` table: the history of a session as the gateway saw it.
#[derive(DeriveIden, Clone, Copy)]
pub enum ChatMessages {
    /// The table itself.
    Table,
    /// Text primary key (a UUID).
    Id,
    /// The session, `ON DELETE CASCADE`.
    SessionId,
    /// The message text.
    Message,
    /// `user`, `agent` or `system`.
    SenderType,
    /// Who sent it: the user id or the agent name.
    SenderName,
    /// Creation time, epoch milliseconds.
    CreatedAt,
    /// The task (turn) this message belongs to (added by step 3).
    TaskId,
}

/// Creates `sessions` and `chat_messages`.
#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(Sessions::Table)
                    .col(string_len(Sessions::Id, 64).primary_key())
                    .col(string_len_null(Sessions::Name, 255))
                    .col(string_len(Sessions::UserId, 255))
                    .col(string_len(Sessions::AgentName, 255))
                    .col(big_integer(Sessions::CreatedAt))
                    .col(big_integer(Sessions::UpdatedAt))
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table(ChatMessages::Table)
                    .col(string_len(ChatMessages::Id, 64).primary_key())
                    .col(string_len(ChatMessages::SessionId, 64))
                    .col(text(ChatMessages::Message))
                    .col(string_len(ChatMessages::SenderType, 16))
                    .col(string_len(ChatMessages::SenderName, 255))
                    .col(big_integer(ChatMessages::CreatedAt))
                    .foreign_key(
                        ForeignKey::create()
                            .name("fk_chat_messages_session")
                            .from(ChatMessages::Table, ChatMessages::SessionId)
                            .to(Sessions::Table, Sessions::Id)
                            .on_delete(ForeignKeyAction::Cascade),
                    )
                    .check(Expr::col(ChatMessages::SenderType).is_in(["user", "agent", "system"]))
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_table(Table::drop().table(ChatMessages::Table).to_owned())
            .await?;
        manager
            .drop_table(Table::drop().table(Sessions::Table).to_owned())
            .await
    }
}
