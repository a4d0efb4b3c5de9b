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
//! async fn every_step_goes_down_cleanly(check: MigrationCheck<migration::Migrator>) -> Result<(),
//! PersistError> {
//!     check.round_trip().await.map(drop)
//! }
//!
//! // 2. The migrations build what the entities describe, but for what is allowed by name.
//! #[persistence_test]
//! async fn the_migrations_match_the_entities(check: MigrationCheck<migration::Migrator>) ->
//! Result<(), PersistError> {
//!     let entities =
//! EntitySchema::new().entity::<session::Entity>().entity::<chat_message::Entity>();
//!     let allow = [Allow::StringLengths, Allow::path("*.index(*)"),
//! Allow::path("chat_messages.message")];
//!     check.drift(entities, &allow).await
//! }
//!
//! // 3. Rows written at step 2 survive the upgrade to the latest.
//! #[persistence_test]
//! async fn an_upgrade_keeps_the_rows(check: MigrationCheck<migration::Migrator>) -> Result<(),
//! PersistError> {
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
//!             assert_eq!(persist_core::db::catalog::count_rows(db, "sessions").await?, 1);
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
//! migration round trip check failed at m20260301_000002_index_without_down: its down does not undo
//! its up
//! --- before the step's up
//! +++ after its up and down
//! + chat_messages: index idx_chat_messages_sender_name (sender_name)
//! ```
//!
//! The same checks run as plain async functions on connections you bring:
//! [`round_trip`], [`drift`], [`upgrade`] and [`status`].

use std::fmt;
use std::marker::PhantomData;
use std::sync::Arc;

use futures::future::{BoxFuture, LocalBoxFuture};
use sea_orm::{DatabaseConnection, DbErr};
use sea_orm_migration::MigratorTrait;

use crate::db::{BackendConfig, GatewaySchema, Migrations, Migrator, MultiDatabaseManager};
use crate::error::{PersistError, Result};
use crate::runner::{Inject, NoAgent, OptionalAgent, TestContext};

mod allow;
mod checks;
mod failure;
mod snapshot;
mod values;

pub use allow::{Allow, Loss, MigrationStep};
pub use checks::{drift, round_trip, round_trip_of, status, upgrade, upgrade_allowing, upgrade_of};
pub use failure::MigrationFailure;
#[allow(deprecated)]
pub use failure::MigrationStatus;
use failure::db_error;
pub use snapshot::{
    ColumnSchema, Difference, ForeignKeySchema, IndexSchema, Schema, SchemaDiff, TableSchema,
};

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
///
/// `MigrationCheck<M>` checks a SeaORM migrator by its type. `MigrationCheck` (for a migrator
/// known at run time, [`Dynamic`]) checks any [`Migrator`]: injected with
/// `#[agent("Name")]`, the migrations of that agent's store (a store that migrates itself:
/// [`AgentSchema::migrator`](crate::db::AgentSchema::migrator)); without, the gateway's.
///
/// ```
/// use persist_core::migrate::MigrationCheck;
/// use persist_core::prelude::*;
///
/// // The gateway's migrations, whatever the system's migrator.
/// #[persistence_test]
/// async fn gateway_steps_go_down(check: MigrationCheck) -> Result<(), PersistError> {
///     check.round_trip().await.map(drop)
/// }
/// # fn main() {}
/// ```
pub struct MigrationCheck<M = Dynamic> {
    backend: BackendConfig,
    losses: Vec<Loss>,
    steps: Arc<dyn Migrator>,
    migrator: PhantomData<fn() -> M>,
}

/// The migrator of a [`MigrationCheck`] known at run time (an agent's store, the system's
/// gateway) rather than by its type.
#[derive(Debug)]
pub enum Dynamic {}

impl<M> Clone for MigrationCheck<M> {
    fn clone(&self) -> Self {
        MigrationCheck {
            backend: self.backend.clone(),
            losses: self.losses.clone(),
            steps: self.steps.clone(),
            migrator: PhantomData,
        }
    }
}

impl<M> fmt::Debug for MigrationCheck<M> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("MigrationCheck")
            .field("migrator", &self.steps.table())
            .field("backend", &self.backend.to_string())
            .field("losses", &self.losses)
            .finish()
    }
}

impl<M: MigratorTrait + 'static> MigrationCheck<M> {
    /// Checks on `backend`.
    pub fn new(backend: BackendConfig) -> Self {
        MigrationCheck {
            backend,
            losses: Vec::new(),
            steps: Arc::new(Migrations::<M>::new()),
            migrator: PhantomData,
        }
    }

    /// Checks on the backend `PERSIST_TEST_DATABASE_URL` names (SQLite files without it).
    pub fn from_env() -> Result<Self> {
        Ok(Self::new(BackendConfig::from_env()?))
    }
}

impl MigrationCheck<Dynamic> {
    /// Checks of `migrator` (an agent store's own migrations, say) on `backend`.
    pub fn of(migrator: impl Migrator, backend: BackendConfig) -> Self {
        Self::shared(Arc::new(migrator), backend)
    }

    fn shared(steps: Arc<dyn Migrator>, backend: BackendConfig) -> Self {
        MigrationCheck {
            backend,
            losses: Vec::new(),
            steps,
            migrator: PhantomData,
        }
    }
}

impl<M> MigrationCheck<M> {
    /// The same checks, with `loss` declared intended: [`upgrade`](Self::upgrade) lets it
    /// through (and still fails on any other).
    pub fn allowing_loss(mut self, loss: Loss) -> Self {
        self.losses.push(loss);
        self
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
        Ok(builder.setup().await?)
    }

    /// [`round_trip`] on a fresh, empty database.
    pub async fn round_trip(&self) -> Result<Vec<String>> {
        let manager = self.databases(None).await?;
        let result = async {
            let one = one_connection(&manager).await?;
            let result = round_trip_of(&*self.steps, &one).await;
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
                self.steps
                    .up(&migrated, None)
                    .await
                    .map_err(|e| db_error("drift", None, "migrating", e))?;
                let entities = manager.agent_connection("entities")?;
                checks::drift_at(&self.steps.table(), &migrated, entities, allow).await
            }
            .await;
            let _ = migrated.close().await;
            result
        }
        .await;
        finish(manager, result).await
    }

    /// [`upgrade`] on a fresh database (letting through the losses declared with
    /// [`allowing_loss`](Self::allowing_loss)), then `verify` on the upgraded one.
    pub async fn upgrade<S, V>(&self, from: usize, seed: S, verify: V) -> Result<()>
    where
        S: for<'c> FnOnce(&'c DatabaseConnection) -> LocalBoxFuture<'c, Result<()>>,
        V: for<'c> FnOnce(&'c DatabaseConnection) -> LocalBoxFuture<'c, Result<()>>,
    {
        let manager = self.databases(None).await?;
        let result = async {
            let db = one_connection(&manager).await?;
            let result = async {
                upgrade_of(&*self.steps, &db, from, &self.losses, seed).await?;
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
    Ok(manager
        .connect_one(&crate::db::DatabaseRole::Gateway)
        .await?)
}

/// Removes a check's databases; the check's own error comes first.
async fn finish<T>(manager: MultiDatabaseManager, result: Result<T>) -> Result<T> {
    let cleanup = manager.cleanup().await;
    let value = result?;
    cleanup?;
    Ok(value)
}

/// The test's backend, for checks on fresh databases of the same kind.
fn test_backend(ctx: &TestContext) -> Result<BackendConfig> {
    ctx.manager().backend_config().cloned().ok_or_else(|| {
        PersistError::Unsupported {
            operation: "a MigrationCheck",
            reason: "the test's databases come from a custom backend; build one with MigrationCheck::new".into(),
        }
    })
}

impl<M: MigratorTrait + 'static> Inject for MigrationCheck<M> {
    type Agent = NoAgent;
    fn inject(ctx: &TestContext, _agent: Option<&str>) -> Result<Self> {
        Ok(Self::new(test_backend(ctx)?))
    }
}

/// Without `#[agent]`, the gateway's migrations; with `#[agent("Name")]`, that agent store's.
impl Inject for MigrationCheck<Dynamic> {
    type Agent = OptionalAgent;
    fn inject(ctx: &TestContext, agent: Option<&str>) -> Result<Self> {
        let backend = test_backend(ctx)?;
        let manager = ctx.manager();
        let steps: Option<Arc<dyn Migrator>> = match agent {
            None => {
                let schema = persist_db::__private::gateway_schema(manager);
                schema
                    .migrator()
                    .is_some()
                    .then(|| Arc::new(Through(schema, |s: &dyn GatewaySchema| s.migrator())) as _)
            }
            Some(agent) => {
                let schema = persist_db::__private::agent_schema(manager, agent)?;
                schema.migrator().is_some().then(|| {
                    Arc::new(Through(schema, |s: &dyn crate::db::AgentSchema| {
                        s.migrator()
                    })) as _
                })
            }
        };
        let steps = steps.ok_or_else(|| PersistError::Unsupported {
            operation: "a MigrationCheck",
            reason: match agent {
                None => "the system's gateway schema is not a migrator the checks can drive step by step (`GatewaySchema::migrator`)".into(),
                Some(agent) => format!("agent {agent}'s schema does not migrate: its tables are created directly (give it a `Migrations<M>` or `NumberedMigrations` schema)"),
            },
        })?;
        Ok(Self::shared(steps, backend))
    }
}

/// What a seed or a verification returns: `Box::pin(async move { … })`.
pub type Step<'c> = LocalBoxFuture<'c, Result<()>>;

/// A schema's migrator, held through the schema (which owns it).
struct Through<S: ?Sized>(Arc<S>, fn(&S) -> Option<&dyn Migrator>);

impl<S: ?Sized + Send + Sync + 'static> Through<S> {
    fn get(&self) -> &dyn Migrator {
        (self.1)(&self.0).expect("only made for a schema that is a migrator")
    }
}

impl<S: ?Sized + Send + Sync + 'static> Migrator for Through<S> {
    fn table(&self) -> String {
        self.get().table()
    }

    fn column(&self) -> String {
        self.get().column()
    }

    fn names(&self) -> Vec<String> {
        self.get().names()
    }

    fn up<'a>(
        &'a self,
        db: &'a DatabaseConnection,
        steps: Option<u32>,
    ) -> BoxFuture<'a, Result<(), DbErr>> {
        self.get().up(db, steps)
    }

    fn down<'a>(
        &'a self,
        db: &'a DatabaseConnection,
        steps: Option<u32>,
    ) -> BoxFuture<'a, Result<(), DbErr>> {
        self.get().down(db, steps)
    }
}
