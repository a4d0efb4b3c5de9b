//! [`MultiDatabaseManager`]: provisions, hands out, clears and removes a test's databases.

use std::any::{Any, TypeId};
use std::collections::HashMap;
use std::fmt;
use std::sync::{Arc, Mutex};

use sea_orm::sea_query::{Alias, Query};
use sea_orm::{ConnectionTrait, DatabaseConnection, TransactionTrait};
use serde::Serialize;

use super::backend::{Backend, BackendConfig, BackendKind, DatabaseLocation};
use super::catalog::{count_rows, delete_order, foreign_keys, list_tables};
use super::names::{AgentName, validate_agent_names};
use super::provision::{Provisioned, drop_all, provision_all, teardown};
use super::schema::{AgentSchema, EntitySchema, GatewaySchema, Migrations};
use crate::error::{DbContext, PersistError, Result};

/// Which database of a manager.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(tag = "kind", content = "agent", rename_all = "lowercase")]
pub enum DatabaseRole {
    /// The gateway database.
    Gateway,
    /// The database of the named agent.
    Agent(String),
}

impl fmt::Display for DatabaseRole {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // `pad`, so that width and alignment (`{role:<20}`) work.
        match self {
            DatabaseRole::Gateway => f.pad("gateway"),
            DatabaseRole::Agent(name) => f.pad(&format!("agent {name}")),
        }
    }
}

/// The number of rows in one table.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct TableCount {
    /// The table.
    pub table: String,
    /// Its rows.
    pub rows: u64,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Lifecycle {
    Active,
    Released,
}

struct Inner {
    backend: Box<dyn Backend>,
    /// The configuration it was opened from (`None` for a custom backend).
    config: Option<BackendConfig>,
    gateway: Provisioned,
    agents: Vec<(AgentName, Provisioned)>,
    gateway_schema: Arc<dyn GatewaySchema>,
    agent_schema: Arc<dyn AgentSchema>,
    attached: Attached,
    lifecycle: Mutex<Lifecycle>,
}

/// Owns a test's databases: a gateway database migrated by a [`GatewaySchema`], and one
/// database per agent created directly from an [`AgentSchema`], each separate.
///
/// Clones share the same databases. [`cleanup`](Self::cleanup) removes them all and is
/// idempotent; if it was never called, dropping the last clone removes them too (also while
/// unwinding from a panic).
///
/// ```
/// # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
/// use persist_core::MultiDatabaseManager;
///
/// let manager = MultiDatabaseManager::setup(["AgentA", "AgentB"]).await?;
/// let gateway_file = manager.gateway_location().path.clone().unwrap();
/// assert!(gateway_file.exists());
/// manager.agent_connection("AgentA")?; // each agent has its own database
/// manager.cleanup().await?;
/// assert!(!gateway_file.exists());
/// # Ok::<(), persist_core::PersistError>(())
/// # }).unwrap();
/// ```
#[derive(Clone)]
pub struct MultiDatabaseManager {
    inner: Arc<Inner>,
}

/// Configures a [`MultiDatabaseManager`].
pub struct ManagerBuilder {
    agents: Vec<String>,
    gateway_schema: Option<Arc<dyn GatewaySchema>>,
    agent_schema: Option<Arc<dyn AgentSchema>>,
    attached: Attached,
    backend: BackendConfig,
    custom_backend: Option<Box<dyn Backend>>,
    label: String,
    templates: bool,
}

/// Values that modules above the engine keep with a manager, one per type (the system's
/// [`Layout`](crate::system::Layout), for the inspector). The engine never reads them.
#[derive(Clone, Default)]
pub(crate) struct Attached(HashMap<TypeId, Arc<dyn Any + Send + Sync>>);

impl Attached {
    fn get<T: Send + Sync + 'static>(&self) -> Option<&Arc<dyn Any + Send + Sync>> {
        self.0.get(&TypeId::of::<T>())
    }
}

// With the `mesh` feature, `Default` is the reference mesh's schemas and layout (in
// `crate::mesh`); without it, none.
#[cfg(not(feature = "mesh"))]
impl Default for ManagerBuilder {
    /// No schemas: give the builder a [`system`](Self::system) or the schemas.
    fn default() -> Self {
        Self::bare()
    }
}

impl ManagerBuilder {
    /// A builder with no schemas yet (the runner gives it the test's system).
    pub(crate) fn bare() -> Self {
        ManagerBuilder {
            agents: Vec::new(),
            gateway_schema: None,
            agent_schema: None,
            attached: Attached::default(),
            backend: BackendConfig::default(),
            custom_backend: None,
            label: "manager".to_owned(),
            templates: true,
        }
    }
}

impl ManagerBuilder {
    /// The agents, one database each.
    pub fn agents<I, S>(mut self, agents: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        self.agents = agents.into_iter().map(Into::into).collect();
        self
    }

    /// Uses these schemas (shared).
    pub(crate) fn schemas(
        mut self,
        gateway: Arc<dyn GatewaySchema>,
        agent: Arc<dyn AgentSchema>,
    ) -> Self {
        self.gateway_schema = Some(gateway);
        self.agent_schema = Some(agent);
        self
    }

    /// Keeps `value` with the manager (replacing one of its type), or removes the value of
    /// type `T` when `None`.
    pub(crate) fn attach<T: Send + Sync + 'static>(mut self, value: Option<T>) -> Self {
        match value {
            Some(value) => self.attached.0.insert(TypeId::of::<T>(), Arc::new(value)),
            None => self.attached.0.remove(&TypeId::of::<T>()),
        };
        self
    }

    /// Migrates the gateway with `M`.
    pub fn gateway_migrator<M: sea_orm_migration::MigratorTrait + 'static>(self) -> Self {
        self.gateway_schema(Migrations::<M>::new())
    }

    /// Uses a custom gateway schema.
    pub fn gateway_schema(mut self, schema: impl GatewaySchema) -> Self {
        self.gateway_schema = Some(Arc::new(schema));
        self
    }

    /// Creates agent databases from `schema`.
    pub fn agent_schema(mut self, schema: impl AgentSchema) -> Self {
        self.agent_schema = Some(Arc::new(schema));
        self
    }

    /// Chooses the backend (default: SQLite files).
    pub fn backend(mut self, backend: BackendConfig) -> Self {
        self.backend = backend;
        self
    }

    /// Uses a backend of your own instead of a configured one.
    pub fn custom_backend(mut self, backend: impl Backend) -> Self {
        self.custom_backend = Some(Box::new(backend));
        self
    }

    /// Names the databases for people (a test's name, say); uniqueness does not depend on it.
    pub fn label(mut self, label: impl Into<String>) -> Self {
        self.label = label.into();
        self
    }

    /// Whether databases start as copies of a template (or come from a server's warm pool),
    /// which is the default. With `false`, the gateway is migrated and the agent tables are
    /// created in every database, as a person would by hand: slower, and useful to compare.
    pub fn templates(mut self, enabled: bool) -> Self {
        self.templates = enabled;
        self
    }

    /// The backend chosen so far, and whether it is a custom one.
    pub(crate) fn backend_choice(&self) -> (BackendConfig, bool) {
        (self.backend.clone(), self.custom_backend.is_some())
    }

    /// Creates and prepares every database. On failure nothing is left behind.
    pub async fn setup(self) -> Result<MultiDatabaseManager> {
        let agents = validate_agent_names(&self.agents)?;
        let gateway_schema = self.gateway_schema.ok_or_else(|| PersistError::NotProvided {
            what: "gateway schema".into(),
            hint: "give the builder a system (`.system(…)`, or `system = \"…\"` on the attribute) or a migrator (`.gateway_migrator::<M>()`)".into(),
        })?;
        // A gateway-only manager needs no agent schema.
        let agent_schema = match self.agent_schema {
            Some(schema) => schema,
            None if agents.is_empty() => Arc::new(EntitySchema::new()),
            None => {
                return Err(PersistError::NotProvided {
                    what: "agent schema".into(),
                    hint: "give the builder a system (`.system(…)`, or `system = \"…\"` on the attribute) or `.agent_schema(EntitySchema::new().entity::<E>())`".into(),
                });
            }
        };
        let config = self.backend.clone();
        let custom = self.custom_backend.is_some();
        let backend = match self.custom_backend {
            Some(backend) => backend,
            None => self.backend.open(&self.label).await?,
        };
        let mut created: Vec<Provisioned> = Vec::new();
        let outcome = provision_all(
            &*backend,
            &agents,
            &gateway_schema,
            &agent_schema,
            self.templates,
            &mut created,
        )
        .await;
        if let Err(error) = outcome {
            // Best effort: the setup error is what the caller needs to see.
            let _ = teardown(&*backend, created.iter(), false).await;
            return Err(error);
        }
        let mut created = created.into_iter();
        let gateway = created.next().expect("the gateway is provisioned first");
        Ok(MultiDatabaseManager {
            inner: Arc::new(Inner {
                backend,
                config: (!custom).then_some(config),
                gateway,
                agents: agents.into_iter().zip(created).collect(),
                gateway_schema,
                agent_schema,
                attached: self.attached,
                lifecycle: Mutex::new(Lifecycle::Active),
            }),
        })
    }
}

impl Inner {
    fn databases(&self) -> impl Iterator<Item = &Provisioned> + Clone {
        std::iter::once(&self.gateway).chain(self.agents.iter().map(|(_, db)| db))
    }

    /// Marks the manager released; `false` if it already was.
    fn begin_release(&self) -> bool {
        let mut lifecycle = self.lifecycle.lock().unwrap_or_else(|p| p.into_inner());
        std::mem::replace(&mut *lifecycle, Lifecycle::Released) == Lifecycle::Active
    }

    async fn release(&self, keep: bool) -> Result<()> {
        if !self.begin_release() {
            return Ok(());
        }
        teardown(&*self.backend, self.databases(), keep).await
    }
}

impl Drop for Inner {
    fn drop(&mut self) {
        if !self.begin_release() {
            return;
        }
        // We may be inside a runtime (or unwinding out of one), where blocking on a future is
        // not allowed: remove the databases from a helper thread with a runtime of its own.
        let backend = &*self.backend;
        let locations: Vec<&DatabaseLocation> = self.databases().map(|db| &db.location).collect();
        let result = std::thread::scope(|scope| {
            scope
                .spawn(|| {
                    let runtime = tokio::runtime::Builder::new_current_thread()
                        .enable_all()
                        .build()
                        .map_err(|e| PersistError::Backend(format!("cleanup runtime: {e}")))?;
                    runtime.block_on(drop_all(backend, &locations, false))
                })
                .join()
        });
        match result {
            Ok(Ok(())) => {}
            Ok(Err(error)) => eprintln!("persist: cleaning up test databases failed: {error}"),
            Err(_) => eprintln!("persist: cleaning up test databases panicked"),
        }
    }
}

impl MultiDatabaseManager {
    /// A builder, to choose the agents, schemas and backend.
    pub fn builder() -> ManagerBuilder {
        ManagerBuilder::default()
    }

    /// Sets up the reference mesh's gateway and agent databases on the default backend
    /// (without the `mesh` feature, use [`builder`](Self::builder) and give it a system).
    pub async fn setup<I, S>(agents: I) -> Result<Self>
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        Self::builder().agents(agents).setup().await
    }

    /// The backend's kind.
    pub fn backend_kind(&self) -> BackendKind {
        self.inner.backend.kind()
    }

    /// The backend configuration the databases were made with; `None` for a
    /// [custom backend](ManagerBuilder::custom_backend).
    pub fn backend_config(&self) -> Option<&BackendConfig> {
        self.inner.config.as_ref()
    }

    /// The gateway database.
    pub fn gateway_connection(&self) -> &DatabaseConnection {
        &self.inner.gateway.connection
    }

    /// A new connection to one of the test's databases, exactly one, for work whose
    /// statements must each see the one before: migrations, table rebuilds. Close it when
    /// done; the framework migrates through such connections too.
    pub async fn connect_one(&self, role: &DatabaseRole) -> Result<DatabaseConnection> {
        let location = match role {
            DatabaseRole::Gateway => &self.inner.gateway.location,
            DatabaseRole::Agent(name) => &self.agent(name)?.location,
        };
        self.inner
            .backend
            .connect_one(location)
            .await
            .context(role.to_string(), format!("connecting to {location}"))
    }

    /// The gateway database's location.
    pub fn gateway_location(&self) -> &DatabaseLocation {
        &self.inner.gateway.location
    }

    fn agent(&self, name: &str) -> Result<&Provisioned> {
        self.inner
            .agents
            .iter()
            .find(|(agent, _)| agent.as_str() == name)
            .map(|(_, db)| db)
            .ok_or_else(|| PersistError::UnknownAgent {
                name: name.to_owned(),
                known: self.agent_names().map(str::to_owned).collect(),
            })
    }

    /// The database of agent `name`.
    pub fn agent_connection(&self, name: &str) -> Result<&DatabaseConnection> {
        self.agent(name).map(|db| &db.connection)
    }

    /// Where agent `name`'s database lives.
    pub fn agent_location(&self, name: &str) -> Result<&DatabaseLocation> {
        self.agent(name).map(|db| &db.location)
    }

    /// The agents' names, in the order given.
    pub fn agent_names(&self) -> impl Iterator<Item = &str> {
        self.inner.agents.iter().map(|(name, _)| name.as_str())
    }

    /// Each agent with its database.
    pub fn agent_databases(&self) -> impl Iterator<Item = (&str, &DatabaseConnection)> {
        self.inner
            .agents
            .iter()
            .map(|(name, db)| (name.as_str(), &db.connection))
    }

    /// Every database with its role and location, the gateway first.
    pub fn locations(&self) -> Vec<(DatabaseRole, DatabaseLocation)> {
        self.inner
            .databases()
            .map(|db| (db.role.clone(), db.location.clone()))
            .collect()
    }

    /// The connection of one database by role.
    pub fn connection(&self, role: &DatabaseRole) -> Result<&DatabaseConnection> {
        match role {
            DatabaseRole::Gateway => Ok(self.gateway_connection()),
            DatabaseRole::Agent(name) => self.agent_connection(name),
        }
    }

    /// The gateway's schema (its migrations).
    pub fn gateway_schema(&self) -> &dyn GatewaySchema {
        &*self.inner.gateway_schema
    }

    /// The agents' schema.
    pub fn agent_schema(&self) -> &dyn AgentSchema {
        &*self.inner.agent_schema
    }

    /// The value of type `T` kept with the manager ([`ManagerBuilder::attach`]).
    pub(crate) fn attached<T: Send + Sync + 'static>(&self) -> Option<&T> {
        self.inner.attached.get::<T>()?.downcast_ref()
    }

    /// The same, shared.
    pub(crate) fn attached_shared<T: Send + Sync + 'static>(&self) -> Option<Arc<T>> {
        self.inner.attached.get::<T>()?.clone().downcast().ok()
    }

    /// Whether the databases are still in place (not cleaned up or released).
    pub fn is_active(&self) -> bool {
        *self
            .inner
            .lifecycle
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            == Lifecycle::Active
    }

    fn ensure_active(&self) -> Result<()> {
        if self.is_active() {
            Ok(())
        } else {
            Err(PersistError::CleanedUp)
        }
    }

    /// Deletes every row of every database, children before parents, in one transaction per
    /// database. Schemas and the gateway's migration history stay.
    pub async fn clear_all_data(&self) -> Result<()> {
        self.ensure_active()?;
        let migration_table = self.inner.gateway_schema.migration_table();
        for db in self.inner.databases() {
            let label = db.role.to_string();
            let conn = &db.connection;
            let tables: Vec<String> = list_tables(conn)
                .await
                .context(&label, "listing tables")?
                .into_iter()
                .filter(|t| db.role != DatabaseRole::Gateway || *t != migration_table)
                .collect();
            let fks = foreign_keys(conn)
                .await
                .context(&label, "listing foreign keys")?;
            let txn = conn
                .begin()
                .await
                .context(&label, "starting to clear data")?;
            for table in delete_order(&tables, &fks) {
                let delete = Query::delete().from_table(Alias::new(&table)).to_owned();
                txn.execute(&delete)
                    .await
                    .context(&label, format!("clearing table {table}"))?;
            }
            txn.commit()
                .await
                .context(&label, "committing cleared data")?;
        }
        Ok(())
    }

    /// Row counts of every table of one database, by table name.
    pub async fn table_counts(&self, role: &DatabaseRole) -> Result<Vec<TableCount>> {
        self.ensure_active()?;
        let conn = self.connection(role)?;
        let label = role.to_string();
        let mut counts = Vec::new();
        for table in list_tables(conn).await.context(&label, "listing tables")? {
            let rows = count_rows(conn, &table)
                .await
                .context(&label, format!("counting rows of {table}"))?;
            counts.push(TableCount { table, rows });
        }
        Ok(counts)
    }

    /// Removes every database and closes every connection. Idempotent.
    pub async fn cleanup(&self) -> Result<()> {
        self.inner.release(false).await
    }

    /// Closes every connection and leaves the databases in place for a person to open.
    /// Returns where they are. After this, cleanup does nothing.
    pub async fn keep(&self) -> Result<Vec<(DatabaseRole, DatabaseLocation)>> {
        let locations = self.locations();
        self.inner.release(true).await?;
        Ok(locations)
    }
}

impl fmt::Debug for MultiDatabaseManager {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("MultiDatabaseManager")
            .field("backend", &self.backend_kind())
            .field("databases", &self.locations())
            .field("active", &self.is_active())
            .finish()
    }
}
