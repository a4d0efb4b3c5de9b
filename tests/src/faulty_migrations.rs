//! Migrators with one planted fault each, for the migration checks to catch: a `down` that
//! does not undo its `up`, and an upgrade that loses rows. (The third fault, a column the
//! entities have and the migrations lack, is an entity: [`ArchivedSession`].)

use sea_orm_migration::prelude::*;

use migration::{
    ChatMessages, m20260101_000001_create_sessions_and_chat_messages as step1,
    m20260101_000002_create_gateway_indexes as step2,
};

/// The mesh's first step, then one whose `down` forgets the index its `up` created.
pub struct BrokenDown;

#[async_trait::async_trait]
impl MigratorTrait for BrokenDown {
    fn migrations() -> Vec<Box<dyn MigrationTrait>> {
        vec![Box::new(step1::Migration), Box::new(IndexWithoutDown)]
    }
}

struct IndexWithoutDown;

impl MigrationName for IndexWithoutDown {
    fn name(&self) -> &str {
        "m20260301_000002_index_without_down"
    }
}

#[async_trait::async_trait]
impl MigrationTrait for IndexWithoutDown {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_index(
                Index::create()
                    .name("idx_chat_messages_sender_name")
                    .table(ChatMessages::Table)
                    .col(ChatMessages::SenderName)
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, _manager: &SchemaManager) -> Result<(), DbErr> {
        // The planted fault: the index stays.
        Ok(())
    }
}

/// The mesh's first two steps, then one that rebuilds `chat_messages` without copying its rows.
pub struct LossyUpgrade;

#[async_trait::async_trait]
impl MigratorTrait for LossyUpgrade {
    fn migrations() -> Vec<Box<dyn MigrationTrait>> {
        vec![
            Box::new(step1::Migration),
            Box::new(step2::Migration),
            Box::new(RebuildMessages),
        ]
    }
}

struct RebuildMessages;

impl MigrationName for RebuildMessages {
    fn name(&self) -> &str {
        "m20260301_000003_rebuild_chat_messages"
    }
}

#[async_trait::async_trait]
impl MigrationTrait for RebuildMessages {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        // The planted fault: drop and create again, and the rows are gone.
        step1::Migration.down(manager).await?;
        step1::Migration.up(manager).await
    }

    async fn down(&self, _manager: &SchemaManager) -> Result<(), DbErr> {
        Ok(())
    }
}

/// The mesh's `sessions` as an entity that has one column more than the migrations create.
pub mod archived_session {
    use sea_orm::entity::prelude::*;

    /// A session, with `archived`.
    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "sessions")]
    pub struct Model {
        /// Session id.
        #[sea_orm(primary_key, auto_increment = false)]
        pub id: String,
        /// Display name.
        pub name: Option<String>,
        /// Owner.
        pub user_id: String,
        /// Agent.
        pub agent_name: String,
        /// Creation, epoch milliseconds.
        pub created_at: i64,
        /// Last activity, epoch milliseconds.
        pub updated_at: i64,
        /// Last switch, epoch milliseconds.
        pub last_active_at: Option<i64>,
        /// The planted fault: no migration adds it.
        pub archived: bool,
    }

    /// No relations.
    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    impl ActiveModelBehavior for ActiveModel {}
}

/// The entity of [`archived_session`].
pub use archived_session::Entity as ArchivedSession;

/// Column changes an upgrade must tell apart: a rename that keeps every value (step 2), values
/// set to NULL (step 3), a column dropped holding values (step 4).
pub struct ColumnChanges;

#[async_trait::async_trait]
impl MigratorTrait for ColumnChanges {
    fn migrations() -> Vec<Box<dyn MigrationTrait>> {
        vec![
            Box::new(Sql("m20260401_000001_notes", NOTES, "DROP TABLE notes")),
            Box::new(Sql(
                "m20260401_000002_rename_body",
                "ALTER TABLE notes RENAME COLUMN body TO text",
                "ALTER TABLE notes RENAME COLUMN text TO body",
            )),
            Box::new(Sql(
                "m20260401_000003_forget_authors",
                "UPDATE notes SET author = NULL",
                "SELECT 1",
            )),
            Box::new(Sql(
                "m20260401_000004_drop_tags",
                "ALTER TABLE notes DROP COLUMN tag",
                "ALTER TABLE notes ADD COLUMN tag VARCHAR(64) NULL",
            )),
        ]
    }
}

/// `notes` and `drafts`, then a step that retires `drafts` and one that drops `notes.tag`: no
/// loss while they hold nothing, a loss of what they hold otherwise.
pub struct RetiredTable;

#[async_trait::async_trait]
impl MigratorTrait for RetiredTable {
    fn migrations() -> Vec<Box<dyn MigrationTrait>> {
        vec![
            Box::new(Sql("m20260501_000001_notes", NOTES, "DROP TABLE notes")),
            Box::new(Sql("m20260501_000002_drafts", DRAFTS, "DROP TABLE drafts")),
            Box::new(Sql(
                "m20260501_000003_retire_drafts",
                "DROP TABLE drafts",
                DRAFTS,
            )),
            Box::new(Sql(
                "m20260501_000004_drop_tags",
                "ALTER TABLE notes DROP COLUMN tag",
                "ALTER TABLE notes ADD COLUMN tag VARCHAR(64) NULL",
            )),
        ]
    }
}

const DRAFTS: &str = "CREATE TABLE drafts (id VARCHAR(64) NOT NULL PRIMARY KEY)";

const NOTES: &str = "CREATE TABLE notes (id VARCHAR(64) NOT NULL PRIMARY KEY, \
    body VARCHAR(255) NOT NULL, author VARCHAR(64) NULL, tag VARCHAR(64) NULL)";

/// A step that is one statement up and one down.
struct Sql(&'static str, &'static str, &'static str);

impl MigrationName for Sql {
    fn name(&self) -> &str {
        self.0
    }
}

#[async_trait::async_trait]
impl MigrationTrait for Sql {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .get_connection()
            .execute_unprepared(self.1)
            .await
            .map(drop)
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .get_connection()
            .execute_unprepared(self.2)
            .await
            .map(drop)
    }
}
