//! The multi-database manager: a migrated gateway database and one database per agent.

mod apply;
pub mod backend;
mod builder;
pub mod catalog;
mod fingerprint;
mod manager;
mod migrator;
mod names;
mod plant;
mod provision;
mod role;
mod schema;

pub use apply::ApplySchema;
pub use backend::{Backend, BackendConfig, BackendKind, DatabaseLocation, SchemaTemplate};
pub use builder::ManagerBuilder;
pub use catalog::{
    count_rows, database_identity, delete_order, foreign_keys, list_indexes, list_tables,
};
pub use fingerprint::Fingerprint;
pub use manager::{MultiDatabaseManager, TableCount};
pub use migrator::{Migrator, NumberedMigrations};
pub use names::{AgentName, MAX_AGENT_NAME_CHARS, validate_agent_names};
pub use role::DatabaseRole;
pub use schema::{AgentSchema, AgentSchemas, EntitySchema, GatewaySchema, Migrations};
