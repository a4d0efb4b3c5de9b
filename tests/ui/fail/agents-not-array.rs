use persist_core::prelude::*;

#[persistence_test(agents = "AgentA")]
async fn not_an_array(gateway: GatewayPersistenceAdapter) {
    let _ = gateway;
}

fn main() {}
