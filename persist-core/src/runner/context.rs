//! [`TestContext`]: what one test's parameters are injected from.

use std::sync::Arc;

use crate::adapter::GatewayPersistenceAdapter;
use crate::db::MultiDatabaseManager;
use crate::error::{PersistError, Result};
use crate::inspect::CrossDatabaseInspector;
use crate::mesh::{AgentHandle, GatewayComponent, Mesh, ScriptedLlm};

/// One test's databases and running mesh. Cheap to clone.
///
/// [`Inject`](crate::Inject) implementations build parameters from it.
#[derive(Clone, Debug)]
pub struct TestContext {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    test_name: String,
    manager: MultiDatabaseManager,
    gateway: GatewayComponent,
    agents: Vec<AgentHandle>,
    llm: ScriptedLlm,
}

impl TestContext {
    /// A context over a manager and the mesh running on it.
    pub fn new(test_name: impl Into<String>, manager: MultiDatabaseManager, mesh: &Mesh) -> Self {
        TestContext {
            inner: Arc::new(Inner {
                test_name: test_name.into(),
                manager,
                gateway: mesh.gateway().clone(),
                agents: mesh.agents().to_vec(),
                llm: mesh.llm().clone(),
            }),
        }
    }

    /// The test's full name (`module::path::test_name`).
    pub fn test_name(&self) -> &str {
        &self.inner.test_name
    }

    /// The test's databases.
    pub fn manager(&self) -> &MultiDatabaseManager {
        &self.inner.manager
    }

    /// The gateway component.
    pub fn gateway(&self) -> &GatewayComponent {
        &self.inner.gateway
    }

    /// The running agent named `name`.
    pub fn agent(&self, name: &str) -> Result<&AgentHandle> {
        self.inner
            .agents
            .iter()
            .find(|a| a.name() == name)
            .ok_or_else(|| PersistError::UnknownAgent {
                name: name.to_owned(),
                known: self
                    .inner
                    .agents
                    .iter()
                    .map(|a| a.name().to_owned())
                    .collect(),
            })
    }

    /// The scripted model shared by every agent.
    pub fn llm(&self) -> &ScriptedLlm {
        &self.inner.llm
    }

    /// An adapter over the gateway.
    pub fn adapter(&self) -> GatewayPersistenceAdapter {
        GatewayPersistenceAdapter::new(self.inner.gateway.clone())
    }

    /// An inspector over the test's databases.
    pub fn inspector(&self) -> CrossDatabaseInspector {
        CrossDatabaseInspector::new(self.inner.manager.clone())
    }
}
