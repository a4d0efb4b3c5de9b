use persist_core::prelude::*;
use persist_core::{Inject, NoAgent, RequiredAgent};

struct AgentNames(Vec<String>);

impl Inject for AgentNames {
    type Agent = NoAgent;
    fn inject(ctx: &TestContext, _agent: Option<&str>) -> Result<Self, PersistError> {
        Ok(AgentNames(ctx.manager().agent_names().map(str::to_owned).collect()))
    }
}

struct AgentDbUrl(String);

impl Inject for AgentDbUrl {
    type Agent = RequiredAgent;
    fn inject(ctx: &TestContext, agent: Option<&str>) -> Result<Self, PersistError> {
        let agent = agent.unwrap_or_default();
        Ok(AgentDbUrl(ctx.manager().agent_location(agent)?.url.clone()))
    }
}

#[persistence_test(agents = ["AgentA"])]
async fn custom(names: AgentNames, #[agent("AgentA")] url: &AgentDbUrl) {
    let _ = (names.0, &url.0);
}

fn main() {}
