use persist_core::prelude::*;

#[persistence_test(agents = ["A"], http = socket)]
async fn bare(gateway: GatewayPersistenceAdapter) {
    let _ = gateway;
}

fn main() {}
