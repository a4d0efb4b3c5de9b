//! Migration testing for any SeaORM migrator: round trips, drift from the entities, upgrades
//! with data, and status checks, on every backend.
//!
//! Schema bugs that reach production are mostly migration bugs: a `down` that does not undo its
//! `up`, a migration that differs from the entities the code queries with, an upgrade that
//! loses rows. [`MigrationCheck`] finds each, on fresh databases of the test's backend, and
//! reports a schema difference a person can read ([`SchemaDiff`]):
//!
//! ```
//! use persist_core::db::EntitySchema;
//! use persist_core::migrate::{Allow, MigrationCheck};
//! use persist_core::mesh::entity::{chat_message, session};
//! use persist_core::prelude::*;
//! use persist_core::sea_orm::ConnectionTrait;
//!
//! // 1. Every step: up, down, up again, and down to nothing.
//! #[persistence_test]
//! async fn every_step_goes_down_cleanly(check: MigrationCheck<migration::Migrator>) -> Result<(), PersistError> {
//!     check.round_trip().await.map(drop)
//! }
//!
//! // 2. The migrations build what the entities describe, but for what is allowed by name.
//! #[persistence_test]
//! async fn the_migrations_match_the_entities(check: MigrationCheck<migration::Migrator>) -> Result<(), PersistError> {
//!     let entities = EntitySchema::new().entity::<session::Entity>().entity::<chat_message::Entity>();
//!     let allow = [Allow::StringLengths, Allow::path("*.index(*)"), Allow::path("chat_messages.message")];
//!     check.drift(entities, &allow).await
//! }
//!
//! // 3. Rows written at step 2 survive the upgrade to the latest.
//! #[persistence_test]
//! async fn an_upgrade_keeps_the_rows(check: MigrationCheck<migration::Migrator>) -> Result<(), PersistError> {
//!     check.upgrade(
//!         2,
//!         |db| Box::pin(async move {
//!             db.execute_unprepared(
//!                 "INSERT INTO sessions (id, user_id, agent_name, created_at, updated_at) \
//!                  VALUES ('s1', 'alice', 'A', 1, 1)",
//!             ).await?;
//!             Ok(())
//!         }),
//!         |db| Box::pin(async move {
//!             assert_eq!(persist_core::db::count_rows(db, "sessions").await?, 1);
//!             Ok(())
//!         }),
//!     ).await
//! }
//! # fn main() {}
//! ```
//!
//! A failure names the check and the step, and shows the difference:
//!
//! ```text
//! migration round trip check failed at m20260301_000002_index_without_down: its down does not undo its up
//! --- before the step's up
//! +++ after its up and down
//! + chat_messages: index idx_chat_messages_sender_name (sender_name)
//! ```
//!
//! The same checks run as plain async functions on connections you bring:
//! [`round_trip`], [`drift`], [`upgrade`] and [`status`].

use std::fmt;
use std::marker::PhantomData;

use futures::future::{BoxFuture, LocalBoxFuture};
use sea_orm::{DatabaseConnection, DbErr};
use sea_orm_migration::MigratorTrait;
use serde::Serialize;

use crate::db::{BackendConfig, GatewaySchema, MultiDatabaseManager};
use crate::error::{PersistError, Result};
use crate::runner::{Inject, NoAgent, TestContext};

mod snapshot;

pub use snapshot::{
    ColumnSchema, Difference, ForeignKeySchema, IndexSchema, Schema, SchemaDiff, TableSchema,
};

/// A difference a drift check lets through: known and intended, said out loud.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Allow {
    /// Differences whose [`Difference::path`] matches: `table`, `table.column`,
    /// `table.primary_key`, `table.index(a,b)` or `table.foreign_key(a)`, where `*` matches
    /// any run of characters (`*.index(*)`: every index).
    Path(String),
    /// A string column whose type differs only by its length: `varchar` or `varchar(255)` in
    /// the entities (SeaORM's defaults for `String`), `varchar(64)` in the migrations.
    StringLengths,
}

impl Allow {
    /// Allows the differences at `pattern` (see [`Allow::Path`]).
    pub fn path(pattern: impl Into<String>) -> Self {
        Allow::Path(pattern.into())
    }

    /// Allows every difference in `table`: the table itself and everything in it.
    pub fn table(table: &str) -> Self {
        Allow::Path(format!("{table}*"))
    }

    /// Whether this lets `difference` through.
    pub fn allows(&self, difference: &Difference) -> bool {
        match self {
            Allow::Path(pattern) => glob(pattern, &difference.path()),
            Allow::StringLengths => match difference {
                Difference::Column {
                    expected: Some(a),
                    found: Some(b),
                    ..
                } => {
                    a.nullable == b.nullable
                        && a.default == b.default
                        && unsized_string(&a.data_type, &b.data_type)
                }
                _ => false,
            },
        }
    }
}

/// `a` and `b` are the same string type but for a length (which either may leave out).
fn unsized_string(a: &str, b: &str) -> bool {
    let base = |t: &str| t.split('(').next().unwrap_or_default().trim().to_owned();
    let (x, y) = (base(a), base(b));
    x == y && ["varchar", "character varying", "char", "character"].contains(&x.as_str())
}

/// `*` matches any run of characters; everything else matches itself.
fn glob(pattern: &str, text: &str) -> bool {
    match pattern.split_once('*') {
        None => pattern == text,
        Some((head, tail)) => {
            let Some(rest) = text.strip_prefix(head) else {
                return false;
            };
            (0..=rest.len())
                .filter(|i| rest.is_char_boundary(*i))
                .any(|i| glob(tail, &rest[i..]))
        }
    }
}

/// Where a migrator's tracking table stands against its migrations.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct MigrationStatus {
    /// Applied, in the order they were applied.
    pub applied: Vec<String>,
    /// Known to the migrator and not applied.
    pub pending: Vec<String>,
    /// Recorded as applied but unknown to the migrator.
    pub unknown: Vec<String>,
    /// Applied although a migration before it (in the migrator's order) is pending.
    pub out_of_order: Vec<String>,
}

impl MigrationStatus {
    /// Everything applied, in order, and nothing unknown.
    pub fn is_current(&self) -> bool {
        self.pending.is_empty() && self.unknown.is_empty() && self.out_of_order.is_empty()
    }
}

/// A migration check that failed: which check, which step, and the schema difference.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub struct MigrationFailure {
    /// The check (`round trip`, `drift`, `upgrade`, `status`).
    pub check: &'static str,
    /// The migration at fault, if one is.
    pub step: Option<String>,
    /// What went wrong.
    pub problem: String,
    /// The schema difference, when that is the problem.
    pub diff: Option<SchemaDiff>,
}

impl fmt::Display for MigrationFailure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "migration {} check failed", self.check)?;
        if let Some(step) = &self.step {
            write!(f, " at {step}")?;
        }
        write!(f, ": {}", self.problem)?;
        if let Some(diff) = &self.diff {
            write!(f, "\n{diff}")?;
        }
        Ok(())
    }
}

impl From<MigrationFailure> for PersistError {
    fn from(failure: MigrationFailure) -> Self {
        PersistError::Migration(Box::new(failure))
    }
}

impl PersistError {
    /// The migration check's failure, if this is one ([`PersistError::Migration`]).
    pub fn migration_failure(&self) -> Option<&MigrationFailure> {
        match self {
            PersistError::Migration(failure) => failure.downcast_ref(),
            _ => None,
        }
    }
}

fn failure(
    check: &'static str,
    step: Option<&str>,
    problem: String,
    diff: Option<SchemaDiff>,
) -> PersistError {
    PersistError::Migration(Box::new(MigrationFailure {
        check,
        step: step.map(str::to_owned),
        problem,
        diff,
    }))
}

fn db_error(check: &'static str, step: Option<&str>, doing: &str, error: DbErr) -> PersistError {
    failure(check, step, format!("{doing} failed: {error}"), None)
}

async fn read(db: &DatabaseConnection, table: &str) -> Result<Schema> {
    Ok(Schema::read(db).await?.without(table))
}

/// Every step of `M`, one at a time on an empty database: up, down, up again must leave the
/// schema as the first up did, and the down as it was before the step; down to zero must
/// leave nothing but the migration table. Returns the names of the steps checked.
pub async fn round_trip<M: MigratorTrait>(db: &DatabaseConnection) -> Result<Vec<String>> {
    const CHECK: &str = "round trip";
    let table = M::migration_table_name().to_string();
    let names: Vec<String> = M::migrations()
        .iter()
        .map(|m| m.name().to_owned())
        .collect();
    let start = read(db, &table).await?;
    if !start.tables.is_empty() {
        return Err(failure(
            CHECK,
            None,
            format!(
                "the database is not empty: it has {:?}",
                start.table_names()
            ),
            None,
        ));
    }
    let mut before = start.clone();
    for name in &names {
        let step = Some(name.as_str());
        M::up(db, Some(1))
            .await
            .map_err(|e| db_error(CHECK, step, "up", e))?;
        let after = read(db, &table).await?;
        M::down(db, Some(1))
            .await
            .map_err(|e| db_error(CHECK, step, "down", e))?;
        let undone = read(db, &table).await?;
        let diff = before.diff(&undone, "before the step's up", "after its up and down");
        if !diff.is_empty() {
            return Err(failure(
                CHECK,
                step,
                "its down does not undo its up".into(),
                Some(diff),
            ));
        }
        M::up(db, Some(1))
            .await
            .map_err(|e| db_error(CHECK, step, "up again", e))?;
        let again = read(db, &table).await?;
        let diff = after.diff(&again, "after the first up", "after up, down and up");
        if !diff.is_empty() {
            return Err(failure(
                CHECK,
                step,
                "up after down builds a different schema".into(),
                Some(diff),
            ));
        }
        before = again;
    }
    M::down(db, None)
        .await
        .map_err(|e| db_error(CHECK, None, "down to zero", e))?;
    let end = read(db, &table).await?;
    let diff = start.diff(&end, "an empty database", "after every step down");
    if !diff.is_empty() {
        return Err(failure(
            CHECK,
            None,
            "down to zero leaves more than the migration table".into(),
            Some(diff),
        ));
    }
    Ok(names)
}

/// The schema `migrated` has (after all of `M`'s migrations) against the one `from_entities`
/// has (created straight from the entities the code queries with); differences at an
/// [`Allow`]ed path are let through. The migration table is not compared.
pub async fn drift<M: MigratorTrait>(
    migrated: &DatabaseConnection,
    from_entities: &DatabaseConnection,
    allow: &[Allow],
) -> Result<()> {
    let table = M::migration_table_name().to_string();
    let expected = read(from_entities, &table).await?;
    let found = read(migrated, &table).await?;
    let diff = expected
        .diff(&found, "the entities", "the migrations")
        .retain(|d| !allow.iter().any(|a| a.allows(d)));
    if diff.is_empty() {
        Ok(())
    } else {
        Err(failure(
            "drift",
            None,
            "the migrated schema differs from the entities".into(),
            Some(diff),
        ))
    }
}

/// Migrates the empty database `db` to step `from` (how many migrations), runs `seed` on it,
/// then migrates to the latest, one step at a time. A step after which a table that held rows
/// holds fewer, or is gone, fails the check, naming the step and the tables; the test then
/// checks that what is left was not mangled.
pub async fn upgrade<M, F>(db: &DatabaseConnection, from: usize, seed: F) -> Result<()>
where
    M: MigratorTrait,
    F: for<'c> FnOnce(&'c DatabaseConnection) -> LocalBoxFuture<'c, Result<()>>,
{
    let steps = M::migrations().len();
    if from > steps {
        return Err(PersistError::InvalidInput {
            field: "from",
            reason: format!("the migrator has {steps} steps; cannot start at step {from}"),
        });
    }
    if from > 0 {
        M::up(db, Some(from as u32))
            .await
            .map_err(|e| db_error("upgrade", None, &format!("migrating to step {from}"), e))?;
    }
    seed(db).await?;
    let table = M::migration_table_name().to_string();
    let names: Vec<String> = M::migrations()
        .iter()
        .map(|m| m.name().to_owned())
        .collect();
    let mut counts = row_counts(db, &table).await?;
    for name in &names[from..] {
        let step = Some(name.as_str());
        M::up(db, Some(1))
            .await
            .map_err(|e| db_error("upgrade", step, "migrating", e))?;
        let after = row_counts(db, &table).await?;
        let lost: Vec<String> = counts
            .iter()
            .filter(|(_, before)| **before > 0)
            .filter_map(|(t, before)| match after.get(t) {
                None => Some(format!("{t} ({before} rows) is gone")),
                Some(now) if now < before => Some(format!("{t} had {before} rows, has {now}")),
                Some(_) => None,
            })
            .collect();
        if !lost.is_empty() {
            return Err(failure(
                "upgrade",
                step,
                format!("rows were lost: {}", lost.join("; ")),
                None,
            ));
        }
        counts = after;
    }
    Ok(())
}

async fn row_counts(
    db: &DatabaseConnection,
    migration_table: &str,
) -> Result<std::collections::BTreeMap<String, u64>> {
    let mut counts = std::collections::BTreeMap::new();
    for table in crate::db::list_tables(db).await? {
        if table != migration_table {
            let n = crate::db::count_rows(db, &table).await?;
            counts.insert(table, n);
        }
    }
    Ok(counts)
}

/// Where `db`'s tracking table stands against `M`'s migrations, without changing anything.
pub async fn status<M: MigratorTrait>(db: &DatabaseConnection) -> Result<MigrationStatus> {
    let known: Vec<String> = M::migrations()
        .iter()
        .map(|m| m.name().to_owned())
        .collect();
    let table = M::migration_table_name().to_string();
    let state = crate::inspect::migration_state(db, "database", &table, &known).await?;
    let first_pending = known.iter().position(|m| state.pending.contains(m));
    let out_of_order = match first_pending {
        Some(index) => known[index..]
            .iter()
            .filter(|m| state.applied.contains(m))
            .cloned()
            .collect(),
        None => Vec::new(),
    };
    Ok(MigrationStatus {
        applied: state.applied,
        pending: state.pending,
        unknown: state.unknown,
        out_of_order,
    })
}

/// The migrator's steps, for fresh databases: none, so a database starts empty.
struct Empty;

impl GatewaySchema for Empty {
    fn migrate<'a>(&'a self, _db: &'a DatabaseConnection) -> BoxFuture<'a, Result<(), DbErr>> {
        Box::pin(async { Ok(()) })
    }

    fn migration_names(&self) -> Vec<String> {
        Vec::new()
    }

    fn process_key(&self) -> Option<String> {
        Some("empty".into())
    }
}

/// Migration checks for migrator `M` on fresh databases of one backend (the test's, when
/// injected into a `#[persistence_test]`), each made and removed by the check.
pub struct MigrationCheck<M> {
    backend: BackendConfig,
    migrator: PhantomData<fn() -> M>,
}

impl<M> Clone for MigrationCheck<M> {
    fn clone(&self) -> Self {
        MigrationCheck {
            backend: self.backend.clone(),
            migrator: PhantomData,
        }
    }
}

impl<M> fmt::Debug for MigrationCheck<M> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("MigrationCheck")
            .field("migrator", &std::any::type_name::<M>())
            .field("backend", &self.backend.to_string())
            .finish()
    }
}

impl<M: MigratorTrait + 'static> MigrationCheck<M> {
    /// Checks on `backend`.
    pub fn new(backend: BackendConfig) -> Self {
        MigrationCheck {
            backend,
            migrator: PhantomData,
        }
    }

    /// Checks on the backend `PERSIST_TEST_DATABASE_URL` names (SQLite files without it).
    pub fn from_env() -> Result<Self> {
        Ok(Self::new(BackendConfig::from_env()?))
    }

    /// Fresh databases: an empty one, and with `entities`, one created from them.
    async fn databases(
        &self,
        entities: Option<crate::db::EntitySchema>,
    ) -> Result<MultiDatabaseManager> {
        let mut builder = MultiDatabaseManager::builder()
            .label("migration-check")
            .backend(self.backend.clone())
            .gateway_schema(Empty);
        if let Some(entities) = entities {
            builder = builder.agents(["entities"]).agent_schema(entities);
        }
        builder.setup().await
    }

    /// [`round_trip`] on a fresh, empty database.
    pub async fn round_trip(&self) -> Result<Vec<String>> {
        let manager = self.databases(None).await?;
        let result = async {
            let one = one_connection(&manager).await?;
            let result = round_trip::<M>(&one).await;
            let _ = one.close().await;
            result
        }
        .await;
        finish(manager, result).await
    }

    /// [`drift`] between a fresh database migrated by `M` and one created from `entities`.
    pub async fn drift(&self, entities: crate::db::EntitySchema, allow: &[Allow]) -> Result<()> {
        let manager = self.databases(Some(entities)).await?;
        let result = async {
            let migrated = one_connection(&manager).await?;
            let result = async {
                M::up(&migrated, None)
                    .await
                    .map_err(|e| db_error("drift", None, "migrating", e))?;
                drift::<M>(&migrated, manager.agent_connection("entities")?, allow).await
            }
            .await;
            let _ = migrated.close().await;
            result
        }
        .await;
        finish(manager, result).await
    }

    /// [`upgrade`] on a fresh database, then `verify` on the upgraded one.
    pub async fn upgrade<S, V>(&self, from: usize, seed: S, verify: V) -> Result<()>
    where
        S: for<'c> FnOnce(&'c DatabaseConnection) -> LocalBoxFuture<'c, Result<()>>,
        V: for<'c> FnOnce(&'c DatabaseConnection) -> LocalBoxFuture<'c, Result<()>>,
    {
        let manager = self.databases(None).await?;
        let result = async {
            let db = one_connection(&manager).await?;
            let result = async {
                upgrade::<M, S>(&db, from, seed).await?;
                verify(&db).await
            }
            .await;
            let _ = db.close().await;
            result
        }
        .await;
        finish(manager, result).await
    }
}

/// The check's gateway database over one connection: migrations see their own work.
async fn one_connection(manager: &MultiDatabaseManager) -> Result<DatabaseConnection> {
    manager.connect_one(&crate::db::DatabaseRole::Gateway).await
}

/// Removes a check's databases; the check's own error comes first.
async fn finish<T>(manager: MultiDatabaseManager, result: Result<T>) -> Result<T> {
    let cleanup = manager.cleanup().await;
    let value = result?;
    cleanup?;
    Ok(value)
}

impl<M: MigratorTrait + 'static> Inject for MigrationCheck<M> {
    type Agent = NoAgent;
    fn inject(ctx: &TestContext, _agent: Option<&str>) -> Result<Self> {
        let backend = ctx.manager().backend_config().cloned().ok_or_else(|| {
            PersistError::Unsupported {
                operation: "a MigrationCheck",
                reason: "the test's databases come from a custom backend; build one with MigrationCheck::new".into(),
            }
        })?;
        Ok(Self::new(backend))
    }
}

/// What a seed or a verification returns: `Box::pin(async move { … })`.
pub type Step<'c> = LocalBoxFuture<'c, Result<()>>;
