//! What of the reference mesh a test can take as a parameter. The floors below never name the
//! mesh: it plugs itself in here.

use crate::error::Result;
use crate::runner::{Inject, NoAgent, RequiredAgent, TestContext, required};

use super::{AgentHandle, GatewayComponent};

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
