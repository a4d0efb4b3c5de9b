//! Migrators in the shapes real systems write, for what the engine must do with them: a SQLite
//! table rebuild that carries its rows, branches per backend, a check of the catalog before a
//! change, and the clock in a data migration.
//!
//! Each starts from one table, `notes`, written the same way on every backend.

use std::sync::atomic::{AtomicUsize, Ordering};

use sea_orm::{ConnectionTrait, DbBackend};
use sea_orm_migration::prelude::*;

/// The backend whose branch of [`Branchy`]'s second step gains an index: the environment
/// variable stands for a change to that branch of the code between two runs.
pub const BRANCH_CHANGE_ENV: &str = "PERSIST_BRANCH_CHANGE";

/// The index [`Branchy`] adds in the changed branch.
pub const EXTRA_INDEX: &str = "idx_notes_title_id";

async fn run(manager: &SchemaManager<'_>, statements: &[&str]) -> Result<(), DbErr> {
    // One statement a call: spread over several connections, they would each see a
    // different schema.
    for sql in statements {
        manager.get_connection().execute_unprepared(sql).await?;
    }
    Ok(())
}

/// Step 1 of every migrator here: `notes (id, title, body)`.
struct CreateNotes;

impl MigrationName for CreateNotes {
    fn name(&self) -> &str {
        "m20260401_000001_create_notes"
    }
}

#[async_trait::async_trait]
impl MigrationTrait for CreateNotes {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        run(
            manager,
            &["CREATE TABLE notes (id INTEGER NOT NULL PRIMARY KEY, \
               title VARCHAR(100) NOT NULL, body TEXT NOT NULL)"],
        )
        .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        run(manager, &["DROP TABLE notes"]).await
    }
}

// ---------------------------------------------------------------------------------------------

/// `notes`, then a column added the way SQLite needs: a new table, the rows copied, the old
/// table dropped, the new one renamed (elsewhere, `ALTER TABLE … ADD COLUMN`). Its `down`
/// rebuilds back.
pub struct Rebuild;

#[async_trait::async_trait]
impl MigratorTrait for Rebuild {
    fn migrations() -> Vec<Box<dyn MigrationTrait>> {
        vec![Box::new(CreateNotes), Box::new(RebuildNotes)]
    }
}

struct RebuildNotes;

impl MigrationName for RebuildNotes {
    fn name(&self) -> &str {
        "m20260401_000002_rebuild_notes_with_pinned"
    }
}

#[async_trait::async_trait]
impl MigrationTrait for RebuildNotes {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        match manager.get_database_backend() {
            DbBackend::Sqlite => {
                run(
                    manager,
                    &[
                        "CREATE TABLE notes_new (id INTEGER NOT NULL PRIMARY KEY, \
                         title VARCHAR(100) NOT NULL, body TEXT NOT NULL, \
                         pinned INTEGER NOT NULL DEFAULT 0)",
                        "INSERT INTO notes_new (id, title, body) SELECT id, title, body FROM notes",
                        "DROP TABLE notes",
                        "ALTER TABLE notes_new RENAME TO notes",
                    ],
                )
                .await
            }
            _ => {
                run(
                    manager,
                    &["ALTER TABLE notes ADD COLUMN pinned INTEGER NOT NULL DEFAULT 0"],
                )
                .await
            }
        }
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        match manager.get_database_backend() {
            DbBackend::Sqlite => {
                run(
                    manager,
                    &[
                        "CREATE TABLE notes_old (id INTEGER NOT NULL PRIMARY KEY, \
                         title VARCHAR(100) NOT NULL, body TEXT NOT NULL)",
                        "INSERT INTO notes_old (id, title, body) SELECT id, title, body FROM notes",
                        "DROP TABLE notes",
                        "ALTER TABLE notes_old RENAME TO notes",
                    ],
                )
                .await
            }
            _ => run(manager, &["ALTER TABLE notes DROP COLUMN pinned"]).await,
        }
    }
}

// ---------------------------------------------------------------------------------------------

/// `notes`, then an index written per backend. The branch of the backend named by
/// [`BRANCH_CHANGE_ENV`] also creates [`EXTRA_INDEX`].
pub struct Branchy;

#[async_trait::async_trait]
impl MigratorTrait for Branchy {
    fn migrations() -> Vec<Box<dyn MigrationTrait>> {
        vec![Box::new(CreateNotes), Box::new(BranchyIndex)]
    }
}

struct BranchyIndex;

impl MigrationName for BranchyIndex {
    fn name(&self) -> &str {
        "m20260401_000002_index_notes_per_backend"
    }
}

#[async_trait::async_trait]
impl MigrationTrait for BranchyIndex {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        let changed = std::env::var(BRANCH_CHANGE_ENV).unwrap_or_default();
        let (this, index) = match manager.get_database_backend() {
            DbBackend::Sqlite => ("sqlite", "CREATE INDEX idx_notes_title ON notes (title)"),
            DbBackend::Postgres => (
                "postgres",
                "CREATE INDEX idx_notes_title ON notes USING btree (title)",
            ),
            _ => ("mysql", "CREATE INDEX idx_notes_title ON notes (title(50))"),
        };
        run(manager, &[index]).await?;
        if changed == this {
            let extra = format!("CREATE INDEX {EXTRA_INDEX} ON notes (title, id)");
            run(manager, &[extra.as_str()]).await?;
        }
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        if manager.has_index("notes", EXTRA_INDEX).await? {
            manager
                .drop_index(
                    Index::drop()
                        .name(EXTRA_INDEX)
                        .table(Alias::new("notes"))
                        .to_owned(),
                )
                .await?;
        }
        manager
            .drop_index(
                Index::drop()
                    .name("idx_notes_title")
                    .table(Alias::new("notes"))
                    .to_owned(),
            )
            .await
    }
}

// ---------------------------------------------------------------------------------------------

/// How many times [`ChecksIndex`]'s second step has run in this process.
pub static CHECKS_INDEX_RUNS: AtomicUsize = AtomicUsize::new(0);

/// `notes`, then an index created only if the catalog says it is not there yet.
pub struct ChecksIndex;

#[async_trait::async_trait]
impl MigratorTrait for ChecksIndex {
    fn migrations() -> Vec<Box<dyn MigrationTrait>> {
        vec![Box::new(CreateNotes), Box::new(IndexIfMissing)]
    }
}

struct IndexIfMissing;

impl MigrationName for IndexIfMissing {
    fn name(&self) -> &str {
        "m20260401_000002_index_notes_if_missing"
    }
}

#[async_trait::async_trait]
impl MigrationTrait for IndexIfMissing {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        CHECKS_INDEX_RUNS.fetch_add(1, Ordering::SeqCst);
        if !manager.has_index("notes", "idx_notes_title").await? {
            manager
                .create_index(
                    Index::create()
                        .name("idx_notes_title")
                        .table(Alias::new("notes"))
                        .col(Alias::new("id"))
                        .to_owned(),
                )
                .await?;
        }
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_index(
                Index::drop()
                    .name("idx_notes_title")
                    .table(Alias::new("notes"))
                    .to_owned(),
            )
            .await
    }
}

// ---------------------------------------------------------------------------------------------

/// `notes`, then a data migration that writes the time it ran into its SQL.
pub struct ClockSeed;

#[async_trait::async_trait]
impl MigratorTrait for ClockSeed {
    fn migrations() -> Vec<Box<dyn MigrationTrait>> {
        vec![Box::new(CreateNotes), Box::new(SeedWithClock)]
    }
}

struct SeedWithClock;

impl MigrationName for SeedWithClock {
    fn name(&self) -> &str {
        "m20260401_000002_seed_notes_with_the_time"
    }
}

#[async_trait::async_trait]
impl MigrationTrait for SeedWithClock {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap_or_default()
            .as_nanos();
        let sql =
            format!("INSERT INTO notes (id, title, body) VALUES (1, 'welcome', 'seeded at {now}')");
        run(manager, &[sql.as_str()]).await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        run(manager, &["DELETE FROM notes WHERE id = 1"]).await
    }
}
