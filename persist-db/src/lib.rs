//! The test-database engine behind persist: fresh, isolated databases for one test (a gateway
//! database, migrated, and one database per agent), on SQLite files or memory, PostgreSQL or
//! MySQL/MariaDB, and always removed again, after a panic too.
//!
//! Most users meet it through persist-core, which re-exports it as `persist_core::db` and
//! drives it from `#[persistence_test]`. Used on its own:
//!
//! ```
//! use persist_db::{EntitySchema, MultiDatabaseManager, NumberedMigrations};
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> persist_db::Result<()> {
//! // A gateway migrated by numbered SQL steps (a SeaORM migrator is `Migrations::<M>::new()`).
//! let gateway = NumberedMigrations::new("gateway_migrations")
//!     .step("CREATE TABLE sessions (id TEXT PRIMARY KEY, user_id TEXT NOT NULL)")
//!     .creates(["sessions"]);
//! let manager = MultiDatabaseManager::builder()
//!     .agents(["billing", "support"])
//!     .gateway_schema(gateway)
//!     .agent_schema(EntitySchema::new()) // agents' tables from SeaORM entities
//!     .agent_schema_for("billing", NumberedMigrations::new("agent_migrations")
//!         .step("CREATE TABLE events (id INTEGER PRIMARY KEY, body TEXT)")
//!         .creates(["events"]))
//!     .setup()
//!     .await?;
//! let tables = persist_db::catalog::list_tables(manager.agent_connection("billing")?).await?;
//! assert!(tables.contains(&"events".to_owned()));
//! manager.cleanup().await?;
//! # Ok(())
//! # }
//! ```
//!
//! # What it offers
//!
//! | | |
//! |---|---|
//! | **Databases of one test** | [`MultiDatabaseManager`], its [`ManagerBuilder`], [`DatabaseRole`], [`DatabaseLocation`], [`TableCount`] |
//! | **Schemas** | [`GatewaySchema`] (migrations), [`AgentSchema`] (tables), [`AgentSchemas`] (one per agent), [`EntitySchema`] (SeaORM entities), [`Migrations`] (a SeaORM migrator), [`Migrator`] and [`NumberedMigrations`] (an agent store's own numbered migrations) |
//! | **Backends** | [`BackendConfig`] (which one, by name or URL), [`BackendKind`], [`Backend`] (what a backend of your own implements) |
//! | **Reading a database** | [`catalog`]: tables, indexes, foreign keys, columns, row counts |
//! | **Server upkeep** (features `postgres`, `mysql`; `sqlite`) | `list_databases` and `RegisteredDatabase`, `sweep_leaked`, `drain_pools`, `pool_max_idle`; `sweep_test_directories` for SQLite |
//! | **Environment** | [`env`](mod@env): every variable read, with [`env::check`]; [`init_logging`] for `PERSIST_LOG` |
//! | **Errors** | [`Error`], [`Result`] |
//!
//! Templates ("migrate once, clone per test"), server pools, the registry of live databases
//! and its sweeps work behind [`ManagerBuilder::setup`] and [`MultiDatabaseManager::cleanup`];
//! they have no public face.

#![warn(missing_docs)]
// Without a driver there is nothing to connect to: the engine still builds, half asleep.
#![cfg_attr(
    not(any(feature = "sqlite", feature = "postgres", feature = "mysql")),
    allow(dead_code)
)]

mod apply;
mod backend;
mod builder;
pub mod catalog;
pub mod env;
mod error;
mod fingerprint;
mod logging;
mod manager;
mod migrator;
mod names;
mod plant;
mod provision;
mod role;
mod schema;
mod warm;

pub use backend::{Backend, BackendConfig, BackendKind, DatabaseLocation};
#[cfg(any(feature = "postgres", feature = "mysql"))]
pub use backend::{
    RegisteredDatabase, database_url, drain_pools, drop_kept, list_databases, pool_max_idle,
    sweep_leaked,
};
#[cfg(feature = "sqlite")]
pub use backend::{
    TestDirectory, list_test_directories, remove_kept_directory, sweep_test_directories,
};
pub use builder::ManagerBuilder;
pub use error::{Error, Result};
pub use logging::init as init_logging;
pub use manager::{MultiDatabaseManager, TableCount};
pub use migrator::{Migrator, NumberedMigrations};
pub use role::DatabaseRole;
pub use schema::{AgentSchema, AgentSchemas, EntitySchema, GatewaySchema, Migrations};

pub(crate) use fingerprint::Fingerprint;

/// What persist-core's runner and inspector need from the engine and nobody else should call.
#[doc(hidden)]
pub mod __private {
    use std::sync::Arc;

    use crate::{
        AgentSchema, BackendConfig, GatewaySchema, ManagerBuilder, MultiDatabaseManager, Result,
    };

    /// The backend chosen so far, and whether it is a custom one.
    pub fn backend_choice(builder: &ManagerBuilder) -> (BackendConfig, bool) {
        builder.backend_choice()
    }

    /// The gateway's schema, shared.
    pub fn gateway_schema(manager: &MultiDatabaseManager) -> Arc<dyn GatewaySchema> {
        manager.gateway_schema_shared()
    }

    /// Agent `name`'s schema, shared.
    pub fn agent_schema(
        manager: &MultiDatabaseManager,
        name: &str,
    ) -> Result<Arc<dyn AgentSchema>> {
        manager.agent_schema_shared(name)
    }

    /// A variable's trimmed value, if set and not blank.
    pub fn var(name: &str) -> Option<String> {
        crate::env::var(name)
    }

    /// `PERSIST_KEEP`, read.
    pub fn keep() -> Result<Option<persist_config::Keep>> {
        Ok(crate::env::keep()?)
    }

    /// A URL with its password hidden.
    pub fn redacted(url: &str) -> String {
        crate::backend::redacted(url)
    }
}
