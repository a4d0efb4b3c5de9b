//! [`TestContext`]: what one test's parameters are injected from.

use std::sync::Arc;

use crate::adapter::{AgentPersistenceAdapter, GatewayPersistenceAdapter};
use crate::db::MultiDatabaseManager;
use crate::error::{PersistError, Result};
use crate::inspect::CrossDatabaseInspector;
use crate::system::{AgentApi, Layout, Running, Services, not_provided};

/// One test's databases and its running system. Cheap to clone.
///
/// [`Inject`](crate::Inject) implementations build parameters from it.
#[derive(Clone, Debug)]
pub struct TestContext {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    test_name: String,
    system: String,
    manager: MultiDatabaseManager,
    /// Where the system keeps its sessions and messages: what the inspector reads by.
    layout: Option<Arc<Layout>>,
    services: Services,
    /// The client over the test's transport (`http = "router"` or `"socket"`), or, without
    /// one, made on first use through the router.
    #[cfg(feature = "http")]
    http: std::sync::OnceLock<crate::http::HttpClient>,
}

impl TestContext {
    /// A context over a manager and the system running on it (`system` names it in messages).
    /// Returns the context and what stops the system.
    pub fn new(
        test_name: impl Into<String>,
        system: impl Into<String>,
        manager: MultiDatabaseManager,
        running: Running,
    ) -> (Self, Running) {
        let (services, running) = running.into_parts();
        let context = TestContext {
            inner: Arc::new(Inner {
                test_name: test_name.into(),
                system: system.into(),
                manager,
                layout: None,
                services,
                #[cfg(feature = "http")]
                http: std::sync::OnceLock::new(),
            }),
        };
        (context, running)
    }

    /// The test's full name (`module::path::test_name`).
    pub fn test_name(&self) -> &str {
        &self.inner.test_name
    }

    /// The test's databases.
    pub fn manager(&self) -> &MultiDatabaseManager {
        &self.inner.manager
    }

    /// The same context, reading through `layout` (the system's): what the runner gives a
    /// test. Call it before the context is cloned.
    pub fn with_layout(mut self, layout: Option<Layout>) -> Self {
        if let Some(inner) = Arc::get_mut(&mut self.inner) {
            inner.layout = layout.map(Arc::new);
        }
        self
    }

    /// Where the system keeps its sessions and messages, if it said.
    pub fn layout(&self) -> Option<&Layout> {
        self.inner.layout.as_deref()
    }

    /// An inspector over the test's databases, reading through the system's layout.
    pub fn inspector(&self) -> CrossDatabaseInspector {
        CrossDatabaseInspector::shared(self.inner.manager.clone(), self.inner.layout.clone())
    }

    /// An adapter over the system's gateway; an error if the system offers none.
    pub fn adapter(&self) -> Result<GatewayPersistenceAdapter> {
        let api = self.inner.services.gateway.clone().ok_or_else(|| {
            PersistError::NotProvided {
                what: "gateway API".into(),
                hint: format!(
                    "the system under test ({}) started no gateway: return one from `System::start` with `Running::with_gateway`",
                    self.inner.system
                ),
            }
        })?;
        Ok(GatewayPersistenceAdapter::from_arc(api))
    }

    /// The API of agent `name`, as the system offered it.
    pub fn agent_api(&self, name: &str) -> Result<Arc<dyn AgentApi>> {
        if let Some(api) = self.inner.services.agents.get(name) {
            return Ok(api.clone());
        }
        // An agent the manager knows but the system did not start, or no such agent.
        self.inner.manager.agent_connection(name)?;
        Err(PersistError::NotProvided {
            what: format!("API for agent {name}"),
            hint: format!(
                "the system under test ({}) started no agent {name}: return it from `System::start` with `Running::with_agent`",
                self.inner.system
            ),
        })
    }

    /// An adapter over agent `name`.
    pub fn agent_adapter(&self, name: &str) -> Result<AgentPersistenceAdapter> {
        Ok(AgentPersistenceAdapter::new(
            self.agent_api(name)?,
            self.inspector(),
        ))
    }

    /// A client for the system's HTTP API, over the test's transport; an error if the system
    /// serves no HTTP.
    #[cfg(feature = "http")]
    pub fn http(&self) -> Result<crate::http::HttpClient> {
        let services = &self.inner.services;
        if let Some(client) = self.inner.http.get() {
            return Ok(client.clone());
        }
        let app = services.http_app.as_ref().ok_or_else(|| PersistError::NotProvided {
            what: "HTTP API".into(),
            hint: format!(
                "the system under test ({}) serves no HTTP: return its router from `System::start` with `Running::with_http`",
                self.inner.system
            ),
        })?;
        Ok(self
            .inner
            .http
            .get_or_init(|| crate::http::HttpClient::router(app()))
            .clone())
    }

    /// Sets the client over the test's transport (once, before the body runs).
    #[cfg(feature = "http")]
    pub(crate) fn set_http(&self, client: crate::http::HttpClient) {
        let _ = self.inner.http.set(client);
    }

    /// The value of type `T` the system offered (`Running::provide`).
    pub fn resource<T: Send + Sync + 'static>(&self) -> Result<&T> {
        self.inner
            .services
            .resource(None)
            .ok_or_else(|| not_provided::<T>(&self.inner.system, None))
    }

    /// The value of type `T` the system offered for agent `agent` (`Running::provide_for`).
    pub fn resource_for<T: Send + Sync + 'static>(&self, agent: &str) -> Result<&T> {
        self.inner.manager.agent_connection(agent)?;
        self.inner
            .services
            .resource(Some(agent))
            .ok_or_else(|| not_provided::<T>(&self.inner.system, Some(agent)))
    }
}
