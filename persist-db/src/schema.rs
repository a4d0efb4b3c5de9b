//! How each kind of database gets its schema: the gateway by migrations, agents from entities.

use std::collections::BTreeMap;
use std::fmt;
use std::marker::PhantomData;
use std::sync::Arc;

use futures::future::BoxFuture;
use sea_orm::sea_query::IndexCreateStatement;
use sea_orm::{ConnectionTrait, DatabaseConnection, DbErr, EntityTrait};
use sea_orm_migration::MigratorTrait;

/// The gateway's schema: a list of migrations and a way to apply them.
pub trait GatewaySchema: Send + Sync + 'static {
    /// Applies every pending migration.
    fn migrate<'a>(&'a self, db: &'a DatabaseConnection) -> BoxFuture<'a, Result<(), DbErr>>;
    /// The names of all migrations, in order.
    fn migration_names(&self) -> Vec<String>;
    /// The table that records applied migrations.
    fn migration_table(&self) -> String {
        "seaql_migrations".to_owned()
    }

    /// Names this schema within one process (for example the migrator's type), so that its
    /// definition fingerprint (the digest of the statements it issues) is computed once per
    /// process rather than once per test. `None` (the default) computes it every time. Never used across
    /// processes: templates and pools are keyed by the fingerprint itself.
    fn process_key(&self) -> Option<String> {
        None
    }

    /// The same migrations as a [`Migrator`](super::Migrator) the migration checks can drive
    /// step by step, if they are one ([`Migrations`] is).
    fn migrator(&self) -> Option<&dyn super::Migrator> {
        None
    }
}

/// A [`GatewaySchema`] made of a sea-orm-migration [`MigratorTrait`] implementation.
///
/// ```
/// use persist_db::{GatewaySchema, Migrations};
/// use sea_orm_migration::{MigrationTrait, MigratorTrait};
///
/// struct Migrator; // the gateway's migration crate's
/// impl MigratorTrait for Migrator {
///     fn migrations() -> Vec<Box<dyn MigrationTrait>> {
///         Vec::new()
///     }
/// }
///
/// let schema = Migrations::<Migrator>::new();
/// assert_eq!(schema.migration_table(), "seaql_migrations");
/// assert!(schema.migration_names().is_empty());
/// ```
pub struct Migrations<M>(PhantomData<fn() -> M>);

impl<M> Migrations<M> {
    /// The schema of migrator `M`.
    pub fn new() -> Self {
        Migrations(PhantomData)
    }
}

impl<M> Default for Migrations<M> {
    fn default() -> Self {
        Self::new()
    }
}

impl<M> fmt::Debug for Migrations<M> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Migrations<{}>", std::any::type_name::<M>())
    }
}

impl<M: MigratorTrait + 'static> GatewaySchema for Migrations<M> {
    fn migrate<'a>(&'a self, db: &'a DatabaseConnection) -> BoxFuture<'a, Result<(), DbErr>> {
        Box::pin(M::up(db, None))
    }

    fn migration_names(&self) -> Vec<String> {
        M::migrations()
            .iter()
            .map(|m| m.name().to_owned())
            .collect()
    }

    fn migration_table(&self) -> String {
        M::migration_table_name().to_string()
    }

    fn process_key(&self) -> Option<String> {
        // A migrator's type fixes its migrations for the life of the process.
        Some(format!("migrations:{}", std::any::type_name::<M>()))
    }

    fn migrator(&self) -> Option<&dyn super::Migrator> {
        Some(self)
    }
}

/// An agent's schema: what an empty agent database is given. Tables created directly from
/// entities ([`EntitySchema`]), or, for a store that migrates itself, its migrations: a
/// SeaORM migrator ([`Migrations`]) or the store's own numbered steps
/// ([`NumberedMigrations`](super::NumberedMigrations)), which say so with
/// [`migrator`](Self::migrator).
pub trait AgentSchema: Send + Sync + 'static {
    /// Creates every table and index in an empty database.
    fn create<'a>(&'a self, db: &'a DatabaseConnection) -> BoxFuture<'a, Result<(), DbErr>>;
    /// The tables it creates.
    fn tables(&self) -> Vec<String>;

    /// Names this schema within one process (see [`GatewaySchema::process_key`]).
    fn process_key(&self) -> Option<String> {
        None
    }

    /// Its migrations, when the store migrates itself: the architecture checks then expect its
    /// tracking table and read which steps it applied, and the migration checks can run them.
    /// `None` (the default) for tables created directly.
    fn migrator(&self) -> Option<&dyn super::Migrator> {
        None
    }
}

/// A shared schema is a schema: [`AgentSchemas`] and the builder take either.
impl<S: AgentSchema + ?Sized> AgentSchema for Arc<S> {
    fn create<'a>(&'a self, db: &'a DatabaseConnection) -> BoxFuture<'a, Result<(), DbErr>> {
        (**self).create(db)
    }

    fn tables(&self) -> Vec<String> {
        (**self).tables()
    }

    fn process_key(&self) -> Option<String> {
        (**self).process_key()
    }

    fn migrator(&self) -> Option<&dyn super::Migrator> {
        (**self).migrator()
    }
}

/// Which schema each agent's database is given: one for every agent, or one per agent for a
/// mesh whose agents run on different frameworks (an agent on the OpenAI Agents SDK's session
/// store, another on LangGraph's checkpointer), with a default for the agents not named.
///
/// ```
/// # mod event {
/// #     use sea_orm::entity::prelude::*;
/// #     #[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
/// #     #[sea_orm(table_name = "events")]
/// #     pub struct Model {
/// #         #[sea_orm(primary_key, auto_increment = false)]
/// #         pub id: String,
/// #         pub session_id: String,
/// #         pub task_id: String,
/// #         pub created_at: i64,
/// #     }
/// #     #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
/// #     pub enum Relation {}
/// #     impl ActiveModelBehavior for ActiveModel {}
/// # }
/// use persist_db::{AgentSchemas, EntitySchema, NumberedMigrations};
///
/// let chat = EntitySchema::new().entity::<event::Entity>();
/// let planner = NumberedMigrations::new("checkpoint_migrations")
///     .step("CREATE TABLE checkpoints (thread_id VARCHAR(255) PRIMARY KEY, checkpoint TEXT)");
/// let schemas = AgentSchemas::new().otherwise(chat).agent("Planner", planner);
/// assert_eq!(schemas.of("Planner").unwrap().tables(), Vec::<String>::new());
/// assert_eq!(schemas.of("Support").unwrap().tables(), ["events"]);
///
/// // Without a default, an agent not named has none: setting it up is an error naming it.
/// assert!(AgentSchemas::new().agent("Planner", EntitySchema::new()).of("Support").is_none());
/// ```
#[derive(Clone, Default)]
pub struct AgentSchemas {
    otherwise: Option<Arc<dyn AgentSchema>>,
    named: BTreeMap<String, Arc<dyn AgentSchema>>,
}

impl AgentSchemas {
    /// No schema for any agent yet.
    pub fn new() -> Self {
        Self::default()
    }

    /// `schema` for every agent.
    pub fn every(schema: impl AgentSchema) -> Self {
        Self::new().otherwise(schema)
    }

    /// `schema` for every agent not named with [`agent`](Self::agent).
    pub fn otherwise(mut self, schema: impl AgentSchema) -> Self {
        self.otherwise = Some(Arc::new(schema));
        self
    }

    /// `schema` for agent `name`.
    pub fn agent(mut self, name: impl Into<String>, schema: impl AgentSchema) -> Self {
        self.named.insert(name.into(), Arc::new(schema));
        self
    }

    /// The schema of agent `agent`: its own, or the default; `None` when it has neither.
    pub fn of(&self, agent: &str) -> Option<&Arc<dyn AgentSchema>> {
        self.named.get(agent).or(self.otherwise.as_ref())
    }

    /// The schema of the agents not named, if there is one.
    pub fn default_schema(&self) -> Option<&Arc<dyn AgentSchema>> {
        self.otherwise.as_ref()
    }

    /// The agents named with a schema of their own.
    pub fn named(&self) -> impl Iterator<Item = &str> {
        self.named.keys().map(String::as_str)
    }
}

impl fmt::Debug for AgentSchemas {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AgentSchemas")
            .field("default", &self.otherwise.is_some())
            .field("named", &self.named.keys().collect::<Vec<_>>())
            .finish()
    }
}

type Register = fn(sea_orm::SchemaBuilder) -> sea_orm::SchemaBuilder;

/// An [`AgentSchema`] built from SeaORM entities (tables, indexes and foreign keys).
///
/// ```
/// # mod event {
/// #     use sea_orm::entity::prelude::*;
/// #     #[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
/// #     #[sea_orm(table_name = "events")]
/// #     pub struct Model {
/// #         #[sea_orm(primary_key, auto_increment = false)]
/// #         pub id: String,
/// #         pub session_id: String,
/// #         pub task_id: String,
/// #         pub created_at: i64,
/// #     }
/// #     #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
/// #     pub enum Relation {}
/// #     impl ActiveModelBehavior for ActiveModel {}
/// # }
/// use persist_db::{AgentSchema, EntitySchema};
///
/// let schema = EntitySchema::new().entity::<event::Entity>();
/// assert_eq!(schema.tables(), ["events"]);
/// ```
///
/// Indexes entities cannot declare (descending, partial, on an expression) are added with
/// [`index`](EntitySchema::index) or [`sql`](EntitySchema::sql), after the tables:
///
/// ```
/// # mod event {
/// #     use sea_orm::entity::prelude::*;
/// #     #[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
/// #     #[sea_orm(table_name = "events")]
/// #     pub struct Model {
/// #         #[sea_orm(primary_key, auto_increment = false)]
/// #         pub id: String,
/// #         pub session_id: String,
/// #         pub task_id: String,
/// #         pub created_at: i64,
/// #     }
/// #     #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
/// #     pub enum Relation {}
/// #     impl ActiveModelBehavior for ActiveModel {}
/// # }
/// use persist_db::{AgentSchema, EntitySchema};
/// use sea_orm::sea_query::{Alias, Index, IndexOrder};
///
/// let schema = EntitySchema::new()
///     .entity::<event::Entity>()
///     .index(
///         Index::create()
///             .name("idx_events_recent")
///             .table(Alias::new("events"))
///             .col((Alias::new("session_id"), IndexOrder::Asc))
///             .col((Alias::new("created_at"), IndexOrder::Desc))
///             .to_owned(),
///     )
///     .sql("CREATE INDEX idx_events_tasks ON events (task_id) WHERE task_id <> ''");
/// assert_eq!(schema.tables(), ["events"]);
/// ```
#[derive(Clone, Default)]
pub struct EntitySchema {
    entities: Vec<(String, &'static str, Register)>,
    indexes: Vec<IndexCreateStatement>,
    statements: Vec<String>,
}

impl EntitySchema {
    /// An empty schema.
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds entity `E`'s table. Tables are created in foreign-key order, whatever the order here.
    pub fn entity<E: EntityTrait + Default>(mut self) -> Self {
        let register: Register = |builder| builder.register(E::default());
        self.entities.push((
            E::default().table_name().to_owned(),
            std::any::type_name::<E>(),
            register,
        ));
        self
    }

    /// Adds an index, built with sea-query so it is written for each backend: descending
    /// columns, a kind of index, a prefix length. Created after every table.
    pub fn index(mut self, index: IndexCreateStatement) -> Self {
        self.indexes.push(index);
        self
    }

    /// Adds a statement run as written after the tables and indexes, for what sea-query
    /// cannot build: a partial index (`… WHERE …`, not on MySQL or MariaDB), an index on an
    /// expression (`((lower(name)))`, not on MariaDB). It runs on every backend the schema
    /// is used with.
    pub fn sql(mut self, statement: impl Into<String>) -> Self {
        self.statements.push(statement.into());
        self
    }
}

impl fmt::Debug for EntitySchema {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("EntitySchema")
            .field("tables", &self.tables())
            .field("indexes", &self.indexes.len())
            .field("statements", &self.statements)
            .finish()
    }
}

impl AgentSchema for EntitySchema {
    fn create<'a>(&'a self, db: &'a DatabaseConnection) -> BoxFuture<'a, Result<(), DbErr>> {
        let builder = self
            .entities
            .iter()
            .fold(db.get_schema_builder(), |builder, (_, _, register)| {
                register(builder)
            });
        Box::pin(async move {
            builder.apply(db).await?;
            for index in &self.indexes {
                db.execute(index).await?;
            }
            for statement in &self.statements {
                db.execute_unprepared(statement).await?;
            }
            Ok(())
        })
    }

    fn tables(&self) -> Vec<String> {
        self.entities
            .iter()
            .map(|(name, _, _)| name.clone())
            .collect()
    }

    fn process_key(&self) -> Option<String> {
        // Entity types fix their tables for the life of the process.
        let types: Vec<&str> = self.entities.iter().map(|(_, ty, _)| *ty).collect();
        let mut key = format!("entities:{}", types.join(","));
        for index in &self.indexes {
            key.push_str(&format!(";{index:?}"));
        }
        for statement in &self.statements {
            key.push_str(&format!(";{statement}"));
        }
        Some(key)
    }
}
