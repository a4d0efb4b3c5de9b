use persist_core::prelude::*;

#[persistence_test(agent = ["A"])]
async fn typo(gateway: GatewayPersistenceAdapter) {
    let _ = gateway;
}

fn main() {}
