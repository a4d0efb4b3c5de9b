use persist_core::prelude::*;

#[persistence_test(agents = ["AgentA"])]
async fn agent_on_adapter(#[agent("AgentA")] gateway: GatewayPersistenceAdapter) {
    let _ = gateway;
}

fn main() {}
