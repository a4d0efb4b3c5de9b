//! Step 2: indexes for the queries the gateway makes.

use sea_orm_migration::prelude::*;

use crate::{ChatMessages, Sessions};

/// Index names with the columns they cover, so `up` and `down` cannot drift apart.
const SESSION_INDEXES: [(&str, &[Sessions]); 3] = [
    ("idx_sessions_user_id", &[Sessions::UserId]),
    (
        "idx_sessions_user_id_updated_at",
        &[Sessions::UserId, Sessions::UpdatedAt],
    ),
    ("idx_sessions_agent_name", &[Sessions::AgentName]),
];
const MESSAGE_INDEX: &str = "idx_chat_messages_session_id_created_at";
/// Step 1's foreign key from `chat_messages.session_id` to `sessions.id`.
const MESSAGE_FOREIGN_KEY: &str = "fk_chat_messages_session";

/// Creates the gateway's query indexes.
#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        for (name, columns) in SESSION_INDEXES {
            let mut index = Index::create();
            index.name(name).table(Sessions::Table);
            for column in columns {
                index.col(*column);
            }
            manager.create_index(index).await?;
        }
        manager
            .create_index(
                Index::create()
                    .name(MESSAGE_INDEX)
                    .table(ChatMessages::Table)
                    .col(ChatMessages::SessionId)
                    .col(ChatMessages::CreatedAt)
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        // MySQL and MariaDB drop the index they made for the foreign key on `session_id` once
        // this one can serve it, and refuse to drop this one while the key needs it: the key
        // steps aside and comes back, making its own index again, as step 1 left it.
        let mysql =
            manager.get_database_backend() == sea_orm_migration::sea_orm::DatabaseBackend::MySql;
        if mysql {
            manager
                .drop_foreign_key(
                    ForeignKey::drop()
                        .name(MESSAGE_FOREIGN_KEY)
                        .table(ChatMessages::Table)
                        .to_owned(),
                )
                .await?;
        }
        manager
            .drop_index(
                Index::drop()
                    .name(MESSAGE_INDEX)
                    .table(ChatMessages::Table)
                    .to_owned(),
            )
            .await?;
        if mysql {
            manager
                .create_foreign_key(
                    ForeignKey::create()
                        .name(MESSAGE_FOREIGN_KEY)
                        .from(ChatMessages::Table, ChatMessages::SessionId)
                        .to(Sessions::Table, Sessions::Id)
                        .on_delete(ForeignKeyAction::Cascade)
                        .to_owned(),
                )
                .await?;
        }
        for (name, _) in SESSION_INDEXES {
            manager
                .drop_index(Index::drop().name(name).table(Sessions::Table).to_owned())
                .await?;
        }
        Ok(())
    }
}
