//! The switchboard gateway's migrations, modelled on the history of an agent server's Alembic
//! versions: each step with a real `down`, and three that carry data. Messages first name
//! their user; a later step backfills their organization from it and drops the user; another
//! numbers every message in the order of its time (`ROW_NUMBER() OVER (ORDER BY created_at,
//! id)`) and keeps numbering new ones (a PostgreSQL sequence; a table of its own elsewhere);
//! the last files every message in a conversation.

use sea_orm::{ConnectionTrait, DbBackend};
use sea_orm_migration::prelude::*;

/// The switchboard gateway's migrator.
pub struct Migrator;

#[async_trait::async_trait]
impl MigratorTrait for Migrator {
    fn migrations() -> Vec<Box<dyn MigrationTrait>> {
        vec![
            Box::new(OrganizationsAndUsers),
            Box::new(AgentsAndMessages),
            Box::new(MessageOrganizations),
            Box::new(MessageSequence),
            Box::new(Conversations),
        ]
    }
}

/// The step that backfills each message's organization from its user, then drops the user.
pub const MESSAGE_ORGANIZATIONS: &str = "m20250103_000003_message_organizations";
/// The step that numbers messages by time.
pub const MESSAGE_SEQUENCE: &str = "m20250104_000004_message_sequence";

/// Runs each statement of `sql` (separated by `;`), in order.
async fn run(manager: &SchemaManager<'_>, sql: &str) -> Result<(), DbErr> {
    let db = manager.get_connection();
    for statement in sql.split(';').map(str::trim).filter(|s| !s.is_empty()) {
        db.execute_unprepared(statement).await?;
    }
    Ok(())
}

fn backend(manager: &SchemaManager<'_>) -> DbBackend {
    manager.get_database_backend()
}

struct OrganizationsAndUsers;

impl MigrationName for OrganizationsAndUsers {
    fn name(&self) -> &str {
        "m20250101_000001_organizations_and_users"
    }
}

#[async_trait::async_trait]
impl MigrationTrait for OrganizationsAndUsers {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table("organizations")
                    .col(ColumnDef::new("id").string_len(64).not_null().primary_key())
                    .col(ColumnDef::new("name").string_len(255).not_null())
                    .to_owned(),
            )
            .await?;
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
                    .col(ColumnDef::new("organization_id").string_len(64).not_null())
                    .col(ColumnDef::new("name").string_len(255).not_null())
                    .foreign_key(
                        ForeignKey::create()
                            .name("fk_users_organization")
                            .from("users", "organization_id")
                            .to("organizations", "id"),
                    )
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_table(Table::drop().table("users").to_owned())
            .await?;
        manager
            .drop_table(Table::drop().table("organizations").to_owned())
            .await
    }
}

struct AgentsAndMessages;

impl MigrationName for AgentsAndMessages {
    fn name(&self) -> &str {
        "m20250102_000002_agents_and_messages"
    }
}

#[async_trait::async_trait]
impl MigrationTrait for AgentsAndMessages {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table("agents")
                    .col(
                        ColumnDef::new("id")
                            .string_len(255)
                            .not_null()
                            .primary_key(),
                    )
                    .col(ColumnDef::new("organization_id").string_len(64).not_null())
                    .col(ColumnDef::new("name").string_len(255).not_null())
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table("messages")
                    .col(ColumnDef::new("id").string_len(64).not_null().primary_key())
                    .col(ColumnDef::new("agent_id").string_len(255).not_null())
                    .col(
                        ColumnDef::new("user_id")
                            .string_len(255)
                            .not_null()
                            .default(""),
                    )
                    .col(ColumnDef::new("role").string_len(32).not_null())
                    .col(ColumnDef::new("text").text().not_null())
                    .col(ColumnDef::new("run_id").string_len(64).null())
                    // A native time: whole seconds on MariaDB.
                    .col(ColumnDef::new("created_at").date_time().not_null())
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_table(Table::drop().table("messages").to_owned())
            .await?;
        manager
            .drop_table(Table::drop().table("agents").to_owned())
            .await
    }
}

struct MessageOrganizations;

impl MigrationName for MessageOrganizations {
    fn name(&self) -> &str {
        MESSAGE_ORGANIZATIONS
    }
}

#[async_trait::async_trait]
impl MigrationTrait for MessageOrganizations {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        run(
            manager,
            "ALTER TABLE messages ADD COLUMN organization_id VARCHAR(64) NULL;
             UPDATE messages SET organization_id = \
               (SELECT u.organization_id FROM users u WHERE u.id = messages.user_id);
             ALTER TABLE messages DROP COLUMN user_id",
        )
        .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        // Which user wrote a message is gone: each goes back to its organization's first user.
        run(
            manager,
            "ALTER TABLE messages ADD COLUMN user_id VARCHAR(255) NOT NULL DEFAULT '';
             UPDATE messages SET user_id = COALESCE((SELECT MIN(u.id) FROM users u \
               WHERE u.organization_id = messages.organization_id), '');
             ALTER TABLE messages DROP COLUMN organization_id",
        )
        .await
    }
}

struct MessageSequence;

impl MigrationName for MessageSequence {
    fn name(&self) -> &str {
        MESSAGE_SEQUENCE
    }
}

#[async_trait::async_trait]
impl MigrationTrait for MessageSequence {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        run(
            manager,
            "ALTER TABLE messages ADD COLUMN sequence_id BIGINT NULL",
        )
        .await?;
        let numbered = "SELECT id, ROW_NUMBER() OVER (ORDER BY created_at, id) AS n FROM messages";
        match backend(manager) {
            DbBackend::MySql => {
                run(
                    manager,
                    &format!(
                        "UPDATE messages m JOIN ({numbered}) r ON r.id = m.id SET m.sequence_id = r.n;
                         CREATE TABLE message_sequence (id BIGINT NOT NULL AUTO_INCREMENT PRIMARY KEY);
                         INSERT INTO message_sequence (id) SELECT sequence_id FROM messages \
                           WHERE sequence_id = (SELECT MAX(sequence_id) FROM messages)"
                    ),
                )
                .await?
            }
            DbBackend::Postgres => {
                run(
                    manager,
                    &format!(
                        "UPDATE messages SET sequence_id = r.n FROM ({numbered}) r WHERE r.id = messages.id;
                         CREATE SEQUENCE message_sequence_id_seq OWNED BY messages.sequence_id;
                         SELECT setval('message_sequence_id_seq', \
                           COALESCE((SELECT MAX(sequence_id) FROM messages), 0) + 1, false);
                         ALTER TABLE messages ALTER COLUMN sequence_id \
                           SET DEFAULT nextval('message_sequence_id_seq')"
                    ),
                )
                .await?
            }
            _ => {
                run(
                    manager,
                    &format!(
                        "UPDATE messages SET sequence_id = \
                           (SELECT r.n FROM ({numbered}) r WHERE r.id = messages.id);
                         CREATE TABLE message_sequence (id INTEGER PRIMARY KEY AUTOINCREMENT);
                         INSERT INTO message_sequence (id) SELECT sequence_id FROM messages \
                           WHERE sequence_id = (SELECT MAX(sequence_id) FROM messages)"
                    ),
                )
                .await?
            }
        }
        manager
            .create_index(
                Index::create()
                    .name("idx_messages_sequence")
                    .table("messages")
                    .col("sequence_id")
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_index(
                Index::drop()
                    .name("idx_messages_sequence")
                    .table("messages")
                    .to_owned(),
            )
            .await?;
        match backend(manager) {
            DbBackend::Postgres => {
                run(
                    manager,
                    "ALTER TABLE messages ALTER COLUMN sequence_id DROP DEFAULT;
                     DROP SEQUENCE message_sequence_id_seq",
                )
                .await?
            }
            _ => run(manager, "DROP TABLE message_sequence").await?,
        }
        run(manager, "ALTER TABLE messages DROP COLUMN sequence_id").await
    }
}

struct Conversations;

impl MigrationName for Conversations {
    fn name(&self) -> &str {
        "m20250105_000005_conversations"
    }
}

#[async_trait::async_trait]
impl MigrationTrait for Conversations {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table("conversations")
                    .col(ColumnDef::new("id").string_len(64).not_null().primary_key())
                    .col(ColumnDef::new("agent_id").string_len(255).not_null())
                    .col(ColumnDef::new("user_id").string_len(255).not_null())
                    .col(ColumnDef::new("title").string_len(255).null())
                    .col(ColumnDef::new("created_at").big_integer().not_null())
                    .col(ColumnDef::new("updated_at").big_integer().not_null())
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("idx_conversations_user")
                    .table("conversations")
                    .col("user_id")
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table("conversation_messages")
                    .col(ColumnDef::new("conversation_id").string_len(64).not_null())
                    .col(ColumnDef::new("message_id").string_len(64).not_null())
                    .col(ColumnDef::new("position").big_integer().not_null())
                    .primary_key(Index::create().col("conversation_id").col("message_id"))
                    .to_owned(),
            )
            .await?;
        run(
            manager,
            "ALTER TABLE messages ADD COLUMN conversation_id VARCHAR(64) NULL",
        )
        .await?;
        // Every message written before conversations goes to one conversation per agent and
        // organization, owned by the organization's first user, in its old order.
        let conversation = match backend(manager) {
            DbBackend::MySql => "CONCAT('conv-', m.agent_id, '-', m.organization_id)",
            _ => "'conv-' || m.agent_id || '-' || m.organization_id",
        };
        run(
            manager,
            &format!(
                "INSERT INTO conversations (id, agent_id, user_id, title, created_at, updated_at) \
                   SELECT DISTINCT {conversation}, m.agent_id, \
                   COALESCE((SELECT MIN(u.id) FROM users u WHERE u.organization_id = m.organization_id), ''), \
                   NULL, 0, 0 FROM messages m;
                 UPDATE messages SET conversation_id = \
                   (SELECT c.id FROM conversations c WHERE c.id = {})",
                conversation.replace("m.", "messages.")
            ),
        )
        .await?;
        run(
            manager,
            "INSERT INTO conversation_messages (conversation_id, message_id, position) \
               SELECT conversation_id, id, sequence_id FROM messages WHERE conversation_id IS NOT NULL",
        )
        .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        run(manager, "ALTER TABLE messages DROP COLUMN conversation_id").await?;
        manager
            .drop_table(Table::drop().table("conversation_messages").to_owned())
            .await?;
        manager
            .drop_table(Table::drop().table("conversations").to_owned())
            .await
    }
}
