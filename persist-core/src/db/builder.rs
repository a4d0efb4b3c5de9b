//! [`ManagerBuilder`]: which agents, schemas and backend a manager provisions.

use std::sync::Arc;

use super::backend::{Backend, BackendConfig};
use super::manager::{Attached, MultiDatabaseManager, Parts};
use super::names::validate_agent_names;
use super::provision::{Provisioned, provision_all, teardown};
use super::schema::{AgentSchema, EntitySchema, GatewaySchema, Migrations};
use crate::error::{PersistError, Result};

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
        self.attached.set(value);
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
        Ok(MultiDatabaseManager::new(Parts {
            backend,
            config: (!custom).then_some(config),
            gateway,
            agents: agents.into_iter().zip(created).collect(),
            gateway_schema,
            agent_schema,
            attached: self.attached,
        }))
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
}
