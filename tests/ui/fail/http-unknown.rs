use persist_core::prelude::*;

#[persistence_test(agents = ["A"], http = ["router", "tcp", "router"])]
async fn unknown(gateway: GatewayPersistenceAdapter) {
    let _ = gateway;
}

#[persistence_test(agents = ["A"], http = [])]
async fn empty(gateway: GatewayPersistenceAdapter) {
    let _ = gateway;
}

fn main() {}
