use persist_core::prelude::*;

#[persistence_test]
#[test]
async fn doubled(gateway: GatewayPersistenceAdapter) {
    let _ = gateway;
}

fn main() {}
