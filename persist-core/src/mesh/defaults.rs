//! Where the reference mesh is the framework's default, and what of it a test can take as a
//! parameter. The floors below never name the mesh: it plugs itself in here.

use crate::db::{EntitySchema, ManagerBuilder};
use crate::error::Result;
use crate::runner::{Inject, NoAgent, RequiredAgent, TestContext, required};

use super::entity::{agent_message, agent_session};
use super::{AgentHandle, GatewayComponent, ReferenceMesh};

impl Default for ManagerBuilder {
    /// The reference mesh's schemas and layout (without the `mesh` feature: none; give the
    /// builder a [`system`](Self::system) or the schemas).
    fn default() -> Self {
        ManagerBuilder::bare().system(&ReferenceMesh)
    }
}

impl EntitySchema {
    /// The schema of the reference mesh's agents: `agent_sessions` and `agent_messages`.
    pub fn mesh_agents() -> Self {
        Self::new()
            .entity::<agent_session::Entity>()
            .entity::<agent_message::Entity>()
    }
}

impl Inject for GatewayComponent {
    type Agent = NoAgent;
    fn inject(ctx: &TestContext, _agent: Option<&str>) -> Result<Self> {
        ctx.resource::<Self>().cloned()
    }
}

impl Inject for AgentHandle {
    type Agent = RequiredAgent;
    fn inject(ctx: &TestContext, agent: Option<&str>) -> Result<Self> {
        ctx.resource_for::<Self>(required(agent, "AgentHandle")?)
            .cloned()
    }
}
