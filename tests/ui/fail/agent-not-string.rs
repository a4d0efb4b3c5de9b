use persist_core::prelude::*;

#[persistence_test(agents = ["AgentA", AgentB])]
async fn not_a_string(gateway: GatewayPersistenceAdapter) {
    let _ = gateway;
}

fn main() {}
