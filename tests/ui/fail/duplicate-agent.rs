use persist_core::prelude::*;

#[persistence_test(agents = ["AgentA", "AgentB", "AgentA"])]
async fn repeated(gateway: GatewayPersistenceAdapter) {
    let _ = gateway;
}

fn main() {}
