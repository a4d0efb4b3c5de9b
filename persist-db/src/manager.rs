//! [`MultiDatabaseManager`]: provisions, hands out, clears and removes a test's databases.

use std::fmt;
use std::sync::{Arc, Mutex};

use sea_orm::sea_query::{Alias, Query};
use sea_orm::{ConnectionTrait, DatabaseConnection, TransactionTrait};
use serde::Serialize;

use super::backend::{BackendConfig, BackendKind, DatabaseLocation, Engine};
use super::catalog::{count_rows, delete_order, foreign_keys, list_tables};
use super::names::AgentName;
use super::provision::{Provisioned, drop_all, teardown};
use super::role::DatabaseRole;
use super::schema::{AgentSchema, GatewaySchema};
use crate::error::{DbContext, Error, Result};
use crate::warm::{Probe, Warm};

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
    parts: Parts,
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
/// use persist_db::{MultiDatabaseManager, NumberedMigrations};
///
/// let manager = MultiDatabaseManager::builder()
///     .agents(["AgentA", "AgentB"])
///     .gateway_schema(NumberedMigrations::new("migrations").step("CREATE TABLE sessions (id TEXT)"))
///     .agent_schema(NumberedMigrations::new("migrations").step("CREATE TABLE events (id TEXT)"))
///     .setup()
///     .await?;
/// let gateway_file = manager.gateway_location().path.clone().unwrap();
/// assert!(gateway_file.exists());
/// manager.agent_connection("AgentA")?; // each agent has its own database
/// manager.cleanup().await?;
/// assert!(!gateway_file.exists());
/// # Ok::<(), persist_db::Error>(())
/// # }).unwrap();
/// ```
#[derive(Clone)]
pub struct MultiDatabaseManager {
    inner: Arc<Inner>,
}

/// What a manager is made of, once its databases are provisioned.
pub(super) struct Parts {
    /// The label it was built with (the test's name under `#[persistence_test]`): what the
    /// manifest of kept SQLite files names.
    #[cfg_attr(
        not(feature = "sqlite"),
        expect(
            dead_code,
            reason = "server databases carry their label in the registry"
        )
    )]
    pub(super) label: String,
    pub(super) backend: Arc<dyn Engine>,
    /// The configuration it was opened from (`None` for a custom backend).
    pub(super) config: Option<BackendConfig>,
    pub(super) gateway: Provisioned,
    pub(super) agents: Vec<(AgentName, Provisioned)>,
    pub(super) gateway_schema: Arc<dyn GatewaySchema>,
    pub(super) agent_schema: Arc<dyn AgentSchema>,
    pub(super) agent_schemas: std::collections::BTreeMap<String, Arc<dyn AgentSchema>>,
    /// The plan's identity and the probes its databases were handed out with, when they may
    /// be given back for reuse.
    pub(super) warm: Option<(String, Vec<Probe>)>,
}

impl MultiDatabaseManager {
    /// A manager over provisioned databases; it owns them from here on.
    pub(super) fn new(parts: Parts) -> Self {
        MultiDatabaseManager {
            inner: Arc::new(Inner {
                parts,
                lifecycle: Mutex::new(Lifecycle::Active),
            }),
        }
    }
}

impl Inner {
    fn databases(&self) -> impl Iterator<Item = &Provisioned> + Clone {
        std::iter::once(&self.parts.gateway).chain(self.parts.agents.iter().map(|(_, db)| db))
    }

    /// Marks the manager released; `false` if it already was.
    fn begin_release(&self) -> bool {
        let mut lifecycle = self.lifecycle.lock().unwrap_or_else(|p| p.into_inner());
        std::mem::replace(&mut *lifecycle, Lifecycle::Released) == Lifecycle::Active
    }

    /// Keeps the databases, or removes them; `reuse`: a pristine set may be given back instead.
    async fn release(&self, keep: bool, reuse: bool) -> Result<()> {
        if !self.begin_release() {
            return Ok(());
        }
        if let (false, true, Some((identity, probes))) = (keep, reuse, &self.parts.warm) {
            let set = Warm {
                backend: self.parts.backend.clone(),
                gateway: self.parts.gateway.clone(),
                agents: self.parts.agents.clone(),
                probes: probes.clone(),
            };
            match crate::warm::give_back(identity, set).await {
                Ok(()) => return Ok(()),
                Err(set) => {
                    tracing::debug!(plan = %identity, databases = set.probes.len(), "not pristine, or enough wait: removed")
                }
            }
        }
        teardown(&*self.parts.backend, self.databases(), keep).await
    }
}

impl Drop for Inner {
    fn drop(&mut self) {
        if !self.begin_release() {
            return;
        }
        // We may be inside a runtime (or unwinding out of one), where blocking on a future is
        // not allowed: remove the databases from a helper thread with a runtime of its own.
        let backend = &*self.parts.backend;
        let locations: Vec<&DatabaseLocation> = self.databases().map(|db| &db.location).collect();
        let result = std::thread::scope(|scope| {
            scope
                .spawn(|| {
                    let runtime = tokio::runtime::Builder::new_current_thread()
                        .enable_all()
                        .build()
                        .map_err(|e| Error::Backend(format!("cleanup runtime: {e}")))?;
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
    /// The backend's kind.
    pub fn backend_kind(&self) -> BackendKind {
        self.inner.parts.backend.kind()
    }

    /// The backend configuration the databases were made with; `None` for a
    /// [custom backend](crate::ManagerBuilder::custom_backend).
    pub fn backend_config(&self) -> Option<&BackendConfig> {
        self.inner.parts.config.as_ref()
    }

    /// The gateway database.
    pub fn gateway_connection(&self) -> &DatabaseConnection {
        &self.inner.parts.gateway.connection
    }

    /// A new connection to one of the test's databases, exactly one, for work whose
    /// statements must each see the one before: migrations, table rebuilds. Close it when
    /// done; the framework migrates through such connections too.
    pub async fn connect_one(&self, role: &DatabaseRole) -> Result<DatabaseConnection> {
        let location = match role {
            DatabaseRole::Gateway => &self.inner.parts.gateway.location,
            DatabaseRole::Agent(name) => &self.agent(name)?.location,
        };
        self.inner
            .parts
            .backend
            .connect_one(location)
            .await
            .context(role.to_string(), format!("connecting to {location}"))
    }

    /// The gateway database's location.
    pub fn gateway_location(&self) -> &DatabaseLocation {
        &self.inner.parts.gateway.location
    }

    fn agent(&self, name: &str) -> Result<&Provisioned> {
        self.inner
            .parts
            .agents
            .iter()
            .find(|(agent, _)| agent.as_str() == name)
            .map(|(_, db)| db)
            .ok_or_else(|| Error::UnknownAgent {
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
        self.inner
            .parts
            .agents
            .iter()
            .map(|(name, _)| name.as_str())
    }

    /// Each agent with its database.
    pub fn agent_databases(&self) -> impl Iterator<Item = (&str, &DatabaseConnection)> {
        self.inner
            .parts
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
        &*self.inner.parts.gateway_schema
    }

    /// The schema of the agents not given one of their own (empty when every agent has its
    /// own); see [`agent_schema_of`](Self::agent_schema_of).
    pub fn agent_schema(&self) -> &dyn AgentSchema {
        &*self.inner.parts.agent_schema
    }

    /// The gateway's schema, shared.
    pub(crate) fn gateway_schema_shared(&self) -> Arc<dyn GatewaySchema> {
        self.inner.parts.gateway_schema.clone()
    }

    /// The schema agent `name`'s database was given, shared.
    pub(crate) fn agent_schema_shared(&self, name: &str) -> Result<Arc<dyn AgentSchema>> {
        self.agent(name)?;
        Ok(self
            .inner
            .parts
            .agent_schemas
            .get(name)
            .unwrap_or(&self.inner.parts.agent_schema)
            .clone())
    }

    /// The schema agent `name`'s database was given.
    pub fn agent_schema_of(&self, name: &str) -> Result<&dyn AgentSchema> {
        self.agent(name)?;
        Ok(self
            .inner
            .parts
            .agent_schemas
            .get(name)
            .map_or(&*self.inner.parts.agent_schema, |schema| &**schema))
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
            Err(Error::CleanedUp)
        }
    }

    /// Deletes every row of every database, children before parents, in one transaction per
    /// database. Schemas and the gateway's migration history stay.
    pub async fn clear_all_data(&self) -> Result<()> {
        self.ensure_active()?;
        let migration_table = self.inner.parts.gateway_schema.migration_table();
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

    /// Removes every database and closes every connection. Idempotent. A manager built with
    /// [`reuse`](crate::ManagerBuilder::reuse) gives a set proven pristine back to this process
    /// for the next setup of the same plan instead.
    pub async fn cleanup(&self) -> Result<()> {
        self.inner.release(false, true).await
    }

    /// Removes every database and closes every connection, never giving them back for reuse:
    /// what follows a test that failed or ran out of time, whose tasks may still hold a
    /// connection. Idempotent.
    pub async fn discard(&self) -> Result<()> {
        self.inner.release(false, false).await
    }

    /// Closes every connection and leaves the databases in place for a person to open.
    /// Returns where they are. After this, cleanup does nothing.
    ///
    /// A kept SQLite directory records the manager's [label](crate::ManagerBuilder::label) and
    /// each database's role, for tools that find kept databases
    /// ([`list_test_directories`](crate::list_test_directories)); a server records them in its
    /// registry ([`list_databases`](crate::list_databases)).
    pub async fn keep(&self) -> Result<Vec<(DatabaseRole, DatabaseLocation)>> {
        let locations = self.locations();
        self.inner.release(true, false).await?;
        #[cfg(feature = "sqlite")]
        crate::backend::write_manifest(&self.inner.parts.label, &locations)?;
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
