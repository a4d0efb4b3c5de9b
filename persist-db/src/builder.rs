//! [`ManagerBuilder`]: which agents, schemas and backend a manager provisions.

use std::sync::Arc;

use super::backend::{Backend, BackendConfig, Custom, Engine};
use super::manager::{MultiDatabaseManager, Parts};
use super::names::validate_agent_names;
use super::provision::{Keys, Provisioned, plan, provision_all, teardown};
use super::schema::{AgentSchema, AgentSchemas, EntitySchema, GatewaySchema, Migrations};
use crate::error::{Error, Result};

/// Configures a [`MultiDatabaseManager`].
pub struct ManagerBuilder {
    agents: Vec<String>,
    gateway_schema: Option<Arc<dyn GatewaySchema>>,
    agent_schemas: AgentSchemas,
    backend: BackendConfig,
    custom_backend: Option<Box<dyn Backend>>,
    label: String,
    templates: bool,
    reuse: bool,
}

impl Default for ManagerBuilder {
    /// No agents, no schemas, the configured backend ([`BackendConfig::from_env`] when set up),
    /// templates on.
    fn default() -> Self {
        ManagerBuilder {
            agents: Vec::new(),
            gateway_schema: None,
            agent_schemas: AgentSchemas::new(),
            backend: BackendConfig::default(),
            custom_backend: None,
            label: "manager".to_owned(),
            templates: true,
            reuse: false,
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

    /// Uses these schemas: the gateway's and the agents' (what a system of persist-core gives).
    pub fn schemas(mut self, gateway: Arc<dyn GatewaySchema>, agents: AgentSchemas) -> Self {
        self.gateway_schema = Some(gateway);
        self.agent_schemas = agents;
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

    /// Creates agent databases from `schema` (every agent's but those given one with
    /// [`agent_schema_for`](Self::agent_schema_for)).
    pub fn agent_schema(mut self, schema: impl AgentSchema) -> Self {
        self.agent_schemas = self.agent_schemas.otherwise(schema);
        self
    }

    /// Creates agent `agent`'s database from `schema`: a mesh whose agents keep their data in
    /// different stores.
    pub fn agent_schema_for(mut self, agent: impl Into<String>, schema: impl AgentSchema) -> Self {
        self.agent_schemas = self.agent_schemas.agent(agent, schema);
        self
    }

    /// Every agent's schema at once (see [`AgentSchemas`]).
    pub fn agent_schemas(mut self, schemas: AgentSchemas) -> Self {
        self.agent_schemas = schemas;
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

    /// Whether cleanup may give the databases back to this process for the next manager of
    /// the same schemas and agents, instead of removing them (off by default; the runner of
    /// `#[persistence_test]` turns it on). On SQLite, files or memory, a set proven pristine at
    /// cleanup (nothing changed through any connection: data, schema, header numbers,
    /// settings, temporary objects, attached databases, open transactions, the files
    /// themselves) keeps its databases and their open connection, and the next setup takes it
    /// without copying or connecting. A set that changed, or whose test opened more than one
    /// connection to a database at once, is removed as before. Servers ignore it. Sets still
    /// waiting when the process exits are removed then.
    ///
    /// Handles to a manager's databases must not be used after its cleanup: with reuse, they
    /// would reach the next test's.
    pub fn reuse(mut self, enabled: bool) -> Self {
        self.reuse = enabled;
        self
    }

    /// The backend chosen so far, and whether it is a custom one.
    pub(crate) fn backend_choice(&self) -> (BackendConfig, bool) {
        (self.backend.clone(), self.custom_backend.is_some())
    }

    /// Creates and prepares every database. On failure nothing is left behind.
    pub async fn setup(self) -> Result<MultiDatabaseManager> {
        // Boxed: a test's own future stays small and shallow whatever setup holds.
        let setup: futures::future::BoxFuture<'static, _> = Box::pin(self.provision());
        setup.await
    }

    async fn provision(self) -> Result<MultiDatabaseManager> {
        // A variable that cannot be read fails here, naming it, not later as a default.
        crate::env::check()?;
        let agents = validate_agent_names(&self.agents)?;
        let gateway_schema = self.gateway_schema.ok_or_else(|| Error::NotProvided {
            what: "gateway schema".into(),
            hint: "give the builder a system's schemas (`System::manager()` in persist-core, or `system = \"…\"` on the attribute) or a migrator (`.gateway_migrator::<M>()`)".into(),
        })?;
        // Every agent needs a schema; a gateway-only manager needs none.
        let mut schemas = Vec::with_capacity(agents.len());
        for agent in &agents {
            let schema = self.agent_schemas.of(agent.as_str()).cloned().ok_or_else(|| {
                let named: Vec<&str> = self.agent_schemas.named().collect();
                Error::NotProvided {
                    what: format!("schema for agent {}", agent.as_str()),
                    hint: if named.is_empty() {
                        "give the builder a system's schemas (`System::manager()` in persist-core, or `system = \"…\"` on the attribute) or `.agent_schema(EntitySchema::new().entity::<E>())`".into()
                    } else {
                        format!(
                            "the system names schemas for {} and none for the other agents: give it a default (`AgentSchemas::otherwise`, `.agent_schema(…)`) or one for this agent (`.agent_schema_for(…)`)",
                            named.join(", ")
                        )
                    },
                }
            })?;
            schemas.push((agent.clone(), schema));
        }
        let default_schema: Arc<dyn AgentSchema> = self
            .agent_schemas
            .default_schema()
            .cloned()
            .unwrap_or_else(|| Arc::new(EntitySchema::new()));
        let config = self.backend.clone();
        let custom = self.custom_backend.is_some();
        let agent_schemas = schemas
            .iter()
            .map(|(agent, schema)| (agent.as_str().to_owned(), schema.clone()))
            .collect();
        // Reuse: a set of this plan left pristine by an earlier test of this process.
        #[cfg_attr(not(feature = "sqlite"), allow(unused_mut))]
        let mut planned = None;
        #[cfg(feature = "sqlite")]
        if self.reuse
            && !custom
            && self.templates
            && matches!(
                config,
                BackendConfig::SqliteFile
                    | BackendConfig::SqliteFileIn(_)
                    | BackendConfig::SqliteMemory
            )
        {
            let plan = plan(Keys::Sqlite, &schemas, &gateway_schema, true).await?;
            // Sets of one backend (one directory, or memory) only.
            if let Some(identity) = plan.identity().map(|plan| format!("{config:?} {plan}")) {
                if let Some(set) = crate::warm::take(&identity) {
                    return Ok(MultiDatabaseManager::new(Parts {
                        backend: set.backend,
                        config: Some(config),
                        gateway: set.gateway,
                        agent_schemas,
                        agents: set.agents,
                        gateway_schema,
                        agent_schema: default_schema,
                        warm: Some((identity, set.probes)),
                        label: self.label.clone(),
                    }));
                }
                planned = Some((plan, identity));
            }
        }
        let backend: Arc<dyn Engine> = match self.custom_backend {
            Some(backend) => Arc::new(Custom(backend)),
            None => Arc::from(self.backend.open(&self.label).await?),
        };
        let (plan, identity) = match planned {
            Some((plan, identity)) => (plan, Some(identity)),
            None => (
                plan(
                    Keys::Backend(&*backend),
                    &schemas,
                    &gateway_schema,
                    self.templates,
                )
                .await?,
                None,
            ),
        };
        let mut created: Vec<Provisioned> = Vec::new();
        let outcome = provision_all(&*backend, plan, &mut created).await;
        if let Err(error) = outcome {
            // Best effort: the setup error is what the caller needs to see.
            let _ = teardown(&*backend, created.iter(), false).await;
            return Err(error);
        }
        // A set that may be reused starts from its probes, taken once its connections are open.
        let warm = match identity {
            Some(identity) => crate::warm::baseline(created.iter())
                .await
                .map(|probes| (identity, probes)),
            None => None,
        };
        let mut created = created.into_iter();
        let gateway = created.next().expect("the gateway is provisioned first");
        Ok(MultiDatabaseManager::new(Parts {
            backend,
            config: (!custom).then_some(config),
            gateway,
            agent_schemas,
            agents: agents.into_iter().zip(created).collect(),
            gateway_schema,
            agent_schema: default_schema,
            warm,
            label: self.label,
        }))
    }
}

impl MultiDatabaseManager {
    /// A builder, to choose the agents, schemas and backend.
    pub fn builder() -> ManagerBuilder {
        ManagerBuilder::default()
    }
}
