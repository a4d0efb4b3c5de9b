//! The helpdesk gateway's migrations: users and sessions, then chat messages.

use sea_orm_migration::prelude::*;

/// The helpdesk gateway's migrator.
pub struct Migrator;

#[async_trait::async_trait]
impl MigratorTrait for Migrator {
    fn migrations() -> Vec<Box<dyn MigrationTrait>> {
        vec![
            Box::new(CreateUsersAndSessions),
            Box::new(CreateChatMessages),
        ]
    }
}

struct CreateUsersAndSessions;

impl MigrationName for CreateUsersAndSessions {
    fn name(&self) -> &str {
        "m20260201_000001_create_users_and_sessions"
    }
}

#[async_trait::async_trait]
impl MigrationTrait for CreateUsersAndSessions {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table("users")
                    .col(
                        ColumnDef::new("id")
                            .string_len(255)
                            .not_null()
                            .primary_key(),
                    )
                    .col(ColumnDef::new("display_name").string_len(255).not_null())
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table("sessions")
                    .col(ColumnDef::new("id").string_len(64).not_null().primary_key())
                    .col(ColumnDef::new("user_id").string_len(255).not_null())
                    .col(ColumnDef::new("agent").string_len(255).not_null())
                    .col(ColumnDef::new("title").string_len(255).null())
                    .col(ColumnDef::new("created_ms").big_integer().not_null())
                    .col(ColumnDef::new("updated_ms").big_integer().not_null())
                    .foreign_key(
                        ForeignKey::create()
                            .name("fk_sessions_user")
                            .from("sessions", "user_id")
                            .to("users", "id"),
                    )
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("idx_sessions_user_updated")
                    .table("sessions")
                    .col("user_id")
                    .col("updated_ms")
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_table(Table::drop().table("sessions").to_owned())
            .await?;
        manager
            .drop_table(Table::drop().table("users").to_owned())
            .await
    }
}

struct CreateChatMessages;

impl MigrationName for CreateChatMessages {
    fn name(&self) -> &str {
        "m20260201_000002_create_chat_messages"
    }
}

#[async_trait::async_trait]
impl MigrationTrait for CreateChatMessages {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table("chat_messages")
                    .col(
                        ColumnDef::new("id")
                            .big_integer()
                            .not_null()
                            .auto_increment()
                            .primary_key(),
                    )
                    .col(ColumnDef::new("session_id").string_len(64).not_null())
                    .col(ColumnDef::new("author_kind").string_len(16).not_null())
                    .col(ColumnDef::new("author").string_len(255).not_null())
                    .col(ColumnDef::new("body").text().not_null())
                    .col(ColumnDef::new("turn_id").string_len(64).null())
                    .col(ColumnDef::new("created_ms").big_integer().not_null())
                    .foreign_key(
                        ForeignKey::create()
                            .name("fk_chat_messages_session")
                            .from("chat_messages", "session_id")
                            .to("sessions", "id")
                            .on_delete(ForeignKeyAction::Cascade),
                    )
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("idx_chat_messages_session")
                    .table("chat_messages")
                    .col("session_id")
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_table(Table::drop().table("chat_messages").to_owned())
            .await
    }
}
