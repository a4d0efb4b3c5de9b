use persist_core::prelude::*;

#[persistence_test(timeout = "30 parsecs")]
async fn timeout(gateway: GatewayPersistenceAdapter) {
    let _ = gateway;
}

fn main() {}
