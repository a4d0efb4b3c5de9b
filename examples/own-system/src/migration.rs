//! The gateway's migrations.

use persist_core::sea_orm_migration;
use sea_orm_migration::prelude::*;

/// The gateway's migrator.
pub struct Migrator;

#[async_trait::async_trait]
impl MigratorTrait for Migrator {
    fn migrations() -> Vec<Box<dyn MigrationTrait>> {
        vec![Box::new(CreateConversations), Box::new(CreateUtterances)]
    }
}

struct CreateConversations;

impl MigrationName for CreateConversations {
    fn name(&self) -> &str {
        "m20260301_000001_create_conversations"
    }
}

#[async_trait::async_trait]
impl MigrationTrait for CreateConversations {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table("conversations")
                    .col(ColumnDef::new("id").string_len(64).not_null().primary_key())
                    .col(ColumnDef::new("owner").string_len(255).not_null())
                    .col(ColumnDef::new("agent").string_len(255).not_null())
                    .col(ColumnDef::new("subject").string_len(255).null())
                    .col(ColumnDef::new("opened_at").big_integer().not_null())
                    .col(ColumnDef::new("touched_at").big_integer().not_null())
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_table(Table::drop().table("conversations").to_owned())
            .await
    }
}

struct CreateUtterances;

impl MigrationName for CreateUtterances {
    fn name(&self) -> &str {
        "m20260301_000002_create_utterances"
    }
}

#[async_trait::async_trait]
impl MigrationTrait for CreateUtterances {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table("utterances")
                    .col(ColumnDef::new("id").string_len(64).not_null().primary_key())
                    .col(ColumnDef::new("conversation_id").string_len(64).not_null())
                    .col(ColumnDef::new("speaker").string_len(16).not_null())
                    .col(ColumnDef::new("speaker_id").string_len(255).not_null())
                    .col(ColumnDef::new("text").text().not_null())
                    .col(ColumnDef::new("exchange_id").string_len(64).not_null())
                    .col(ColumnDef::new("said_at").big_integer().not_null())
                    .foreign_key(
                        ForeignKey::create()
                            .name("fk_utterances_conversation")
                            .from("utterances", "conversation_id")
                            .to("conversations", "id")
                            .on_delete(ForeignKeyAction::Cascade),
                    )
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_table(Table::drop().table("utterances").to_owned())
            .await
    }
}
