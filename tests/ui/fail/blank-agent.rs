use persist_core::prelude::*;

#[persistence_test(agents = ["AgentA", "  "])]
async fn blank(gateway: GatewayPersistenceAdapter) {
    let _ = gateway;
}

fn main() {}
