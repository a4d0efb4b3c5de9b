//! The system under test, described once: its schemas, where it keeps its data, and how to
//! start it over a test's databases.
//!
//! A [`System`] bundles the gateway's schema (a migrator), the agents' schema (entities), the
//! [`Layout`] the inspector reads, and [`System::start`], which starts the system over the
//! provisioned databases and hands the framework its seams: a [`GatewayApi`], an [`AgentApi`]
//! per agent, and any values a test may ask for (a model, a client, a component) as
//! [`Resource`]s. The attribute picks one with `system = "path::to::Type"`; the reference
//! mesh ([`crate::mesh::ReferenceMesh`], behind the `mesh` feature) is the default.
//!
//! ```
//! use std::sync::Arc;
//! use persist_core::async_trait;
//! use persist_core::db::{AgentSchema, EntitySchema, GatewaySchema, Migrations};
//! use persist_core::system::{Layout, Running, System, Table};
//! use persist_core::{MultiDatabaseManager, PersistError};
//!
//! /// A system known only by its schemas: tests provision it and check its tables.
//! #[derive(Default)]
//! struct SchemaOnly;
//!
//! #[async_trait]
//! impl System for SchemaOnly {
//!     fn gateway_schema(&self) -> Arc<dyn GatewaySchema> {
//!         Arc::new(Migrations::<migration::Migrator>::new()) // your `MigratorTrait` type
//!     }
//!     fn agent_schema(&self) -> Arc<dyn AgentSchema> {
//!         Arc::new(EntitySchema::new()) // add your entities with `.entity::<E>()`
//!     }
//! }
//! ```

use std::any::{Any, TypeId, type_name};
use std::collections::{BTreeMap, HashMap};
use std::fmt;
use std::future::Future;
use std::sync::Arc;

use async_trait::async_trait;
use futures::future::BoxFuture;

use crate::db::{AgentSchema, GatewaySchema, MultiDatabaseManager};
use crate::error::{PersistError, Result};

mod api;
pub(crate) mod layout;
mod model;

pub use api::{
    AgentApi, AgentRequest, ChatMessage, GatewayApi, MAX_MESSAGE_CHARS, MAX_NAME_CHARS, SenderType,
    Session, Turn,
};
pub use layout::{Layout, Source, Table, TimeUnit};
pub use model::{
    ContextMessage, LanguageModel, LlmError, LlmRequest, Recording, RequestLog, ScriptedLlm,
};

/// A system under test: a gateway with its own database and agents with theirs.
///
/// Implement it once for your system; then `#[persistence_test(system = "YourSystem")]`
/// provisions its databases, starts it and injects its handles (the type needs `Default`).
/// Only the two schemas are required: a system without a [`layout`](Self::layout) can still
/// have its schemas checked, and one that is not [started](Self::start) is tested through its
/// databases alone.
#[diagnostic::on_unimplemented(
    message = "`{Self}` is not a system under test",
    label = "`system = \"…\"` names a type that implements `persist_core::System` and `Default`",
    note = "implement `persist_core::System` for it: its schemas, its layout and how to start it"
)]
#[async_trait]
pub trait System: Send + Sync + 'static {
    /// The gateway's schema, by migrations.
    fn gateway_schema(&self) -> Arc<dyn GatewaySchema>;

    /// The agents' schema: created directly from entities ([`EntitySchema`](crate::db::EntitySchema)),
    /// or a store's own migrations. Every agent's, unless
    /// [`agent_schemas`](Self::agent_schemas) gives an agent another.
    fn agent_schema(&self) -> Arc<dyn AgentSchema>;

    /// Which schema each agent has: by default [`agent_schema`](Self::agent_schema) for
    /// every agent. A mesh whose agents run on different frameworks names each agent's (and
    /// a default for the rest, or none: an agent with no schema is then an error that names
    /// it).
    ///
    /// ```
    /// use std::sync::Arc;
    /// use persist_core::async_trait;
    /// use persist_core::db::{AgentSchema, AgentSchemas, EntitySchema, GatewaySchema, Migrations, NumberedMigrations};
    /// use persist_core::system::System;
    ///
    /// #[derive(Default)]
    /// struct Mixed;
    ///
    /// #[async_trait]
    /// impl System for Mixed {
    ///     fn gateway_schema(&self) -> Arc<dyn GatewaySchema> {
    ///         Arc::new(Migrations::<migration::Migrator>::new())
    ///     }
    ///     fn agent_schema(&self) -> Arc<dyn AgentSchema> {
    ///         Arc::new(persist_core::mesh::agent_schema())
    ///     }
    ///     fn agent_schemas(&self) -> AgentSchemas {
    ///         let checkpointer = NumberedMigrations::new("checkpoint_migrations")
    ///             .step("CREATE TABLE checkpoints (thread_id VARCHAR(255) PRIMARY KEY, checkpoint TEXT)");
    ///         AgentSchemas::every(self.agent_schema()).agent("Planner", checkpointer)
    ///     }
    /// }
    /// ```
    fn agent_schemas(&self) -> crate::db::AgentSchemas {
        crate::db::AgentSchemas::every(self.agent_schema())
    }

    /// A manager builder with this system's schemas (what `#[persistence_test(system = "…")]`
    /// starts from), for a manager of your own: add the agents and set it up. Later calls can
    /// still replace any schema. Its layout goes to the inspector, not to the databases:
    /// [`CrossDatabaseInspector::for_system`](crate::CrossDatabaseInspector::for_system).
    ///
    /// ```
    /// use persist_core::System;
    /// use persist_core::mesh::ReferenceMesh;
    ///
    /// # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
    /// let manager = ReferenceMesh.manager().agents(["AgentA"]).setup().await?;
    /// assert_eq!(manager.agent_names().collect::<Vec<_>>(), ["AgentA"]);
    /// manager.cleanup().await?;
    /// # Ok::<(), persist_core::PersistError>(())
    /// # }).unwrap();
    /// ```
    fn manager(&self) -> crate::db::ManagerBuilder {
        crate::db::ManagerBuilder::default().schemas(self.gateway_schema(), self.agent_schemas())
    }

    /// Where the system keeps sessions and messages; `None` (the default) for a system whose
    /// tests check its schemas only. The inspector's data checks need it.
    fn layout(&self) -> Option<Layout> {
        None
    }

    /// Starts the system over a test's databases. The default starts nothing.
    async fn start(&self, databases: &MultiDatabaseManager) -> Result<Running> {
        let _ = databases;
        Ok(Running::new())
    }

    /// A name for messages (by default the type's).
    fn name(&self) -> String {
        type_name::<Self>().to_owned()
    }
}

type Key = (TypeId, Option<String>);

/// Makes a system's HTTP router.
#[cfg(feature = "http")]
pub(crate) type HttpApp = Arc<dyn Fn() -> axum::Router + Send + Sync>;

/// A started system: its seams, the values it offers tests, and what stops it.
///
/// ```
/// use persist_core::system::{Running, ScriptedLlm};
///
/// let llm = ScriptedLlm::new();
/// let running = Running::new()
///     .provide(llm.clone())
///     .on_stop(async move { /* shut your components down */ });
/// assert!(running.resource::<ScriptedLlm>().is_some());
/// ```
#[derive(Default)]
pub struct Running {
    pub(crate) services: Services,
    pub(crate) stops: Vec<BoxFuture<'static, ()>>,
}

/// What a test's parameters are built from (the stops live apart, with the runner).
#[derive(Clone, Default)]
pub(crate) struct Services {
    pub(crate) gateway: Option<Arc<dyn GatewayApi>>,
    pub(crate) agents: BTreeMap<String, Arc<dyn AgentApi>>,
    resources: HashMap<Key, Arc<dyn Any + Send + Sync>>,
    /// Makes the system's HTTP router; called only when a test reaches the API.
    #[cfg(feature = "http")]
    pub(crate) http_app: Option<HttpApp>,
}

impl Services {
    pub(crate) fn resource<T: Send + Sync + 'static>(&self, agent: Option<&str>) -> Option<&T> {
        self.resources
            .get(&(TypeId::of::<T>(), agent.map(str::to_owned)))
            .and_then(|value| value.downcast_ref())
    }
}

impl Running {
    /// Nothing started yet.
    pub fn new() -> Self {
        Self::default()
    }

    /// The gateway's API, driven by
    /// [`GatewayPersistenceAdapter`](crate::GatewayPersistenceAdapter).
    pub fn with_gateway(mut self, gateway: impl GatewayApi) -> Self {
        self.services.gateway = Some(Arc::new(gateway));
        self
    }

    /// One agent's API, under its [`name`](AgentApi::name), driven by
    /// [`AgentPersistenceAdapter`](crate::AgentPersistenceAdapter).
    pub fn with_agent(mut self, agent: impl AgentApi) -> Self {
        self.services
            .agents
            .insert(agent.name().to_owned(), Arc::new(agent));
        self
    }

    /// The gateway's HTTP API, as the system serves it: tests reach it with an injected
    /// [`HttpClient`](crate::http::HttpClient), and with the attribute's `http = "router"` or
    /// `http = "socket"` the [`GatewayPersistenceAdapter`](crate::GatewayPersistenceAdapter)
    /// goes through it too (the API must then be `/api/v1`, see [`crate::http::api`]). With
    /// `"socket"`, the framework serves it on 127.0.0.1 for the test and stops it at the end.
    ///
    /// The router is built only when a test reaches the API, so a system that serves HTTP
    /// costs nothing to tests that do not.
    #[cfg(feature = "http")]
    pub fn with_http<A>(mut self, app: A) -> Self
    where
        A: Into<axum::Router> + Clone + Send + Sync + 'static,
    {
        self.services.http_app = Some(Arc::new(move || app.clone().into()));
        self
    }

    /// Offers `value` to tests by its type: a parameter `Resource<T>` receives a clone.
    pub fn provide<T: Send + Sync + 'static>(mut self, value: T) -> Self {
        self.services
            .resources
            .insert((TypeId::of::<T>(), None), Arc::new(value));
        self
    }

    /// Offers `value` for one agent: a parameter `#[agent("Name")] Resource<T>` receives it.
    pub fn provide_for<T: Send + Sync + 'static>(mut self, agent: &str, value: T) -> Self {
        self.services
            .resources
            .insert((TypeId::of::<T>(), Some(agent.to_owned())), Arc::new(value));
        self
    }

    /// Runs `stop` when the test ends, before its databases are removed. Stops run in the
    /// reverse order of their registration.
    pub fn on_stop(mut self, stop: impl Future<Output = ()> + Send + 'static) -> Self {
        self.stops.push(Box::pin(stop));
        self
    }

    /// The value of type `T` offered with [`provide`](Self::provide).
    pub fn resource<T: Send + Sync + 'static>(&self) -> Option<&T> {
        self.services.resource(None)
    }

    /// Stops the system: every [`on_stop`](Self::on_stop), last registered first.
    pub async fn stop(self) {
        for stop in self.stops.into_iter().rev() {
            stop.await;
        }
    }

    /// Splits off what parameters are built from; the rest only stops the system.
    pub(crate) fn into_parts(mut self) -> (Services, Running) {
        let services = std::mem::take(&mut self.services);
        (services, self)
    }
}

impl fmt::Debug for Running {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Running")
            .field("services", &self.services)
            .field("stops", &self.stops.len())
            .finish()
    }
}

impl fmt::Debug for Services {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Services")
            .field("gateway", &self.gateway.is_some())
            .field("agents", &self.agents.keys().collect::<Vec<_>>())
            .field("resources", &self.resources.len())
            .finish_non_exhaustive()
    }
}

/// A value the running system offered with [`Running::provide`] (or, with
/// `#[agent("Name")]`, [`Running::provide_for`]), injected by its type: a test can take the
/// system's own model, client or component without writing an [`Inject`](crate::Inject) impl.
///
/// ```
/// use persist_core::prelude::*;
/// use persist_core::system::Resource;
///
/// #[persistence_test(agents = ["A"])]
/// async fn the_model_is_shared(llm: Resource<ScriptedLlm>, gateway: GatewayPersistenceAdapter) {
///     let session = gateway.create_session("alice", "A").await.unwrap();
///     gateway.send_message(&session.id, "hi", "alice").await.unwrap();
///     assert_eq!(llm.requests().len(), 1);
/// }
/// # fn main() {}
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Resource<T>(pub T);

impl<T> Resource<T> {
    /// The value.
    pub fn into_inner(self) -> T {
        self.0
    }
}

impl<T> std::ops::Deref for Resource<T> {
    type Target = T;
    fn deref(&self) -> &T {
        &self.0
    }
}

pub(crate) fn not_provided<T>(system: &str, agent: Option<&str>) -> PersistError {
    PersistError::NotProvided {
        what: match agent {
            None => format!("a `{}`", type_name::<T>()),
            Some(agent) => format!("a `{}` for agent {agent}", type_name::<T>()),
        },
        hint: format!(
            "the system under test ({system}) does not offer one: offer it from `System::start` with `Running::{}`",
            if agent.is_some() {
                "provide_for"
            } else {
                "provide"
            }
        ),
    }
}
