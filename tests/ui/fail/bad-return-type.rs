use persist_core::prelude::*;

#[persistence_test]
async fn returns_a_number(gateway: GatewayPersistenceAdapter) -> u32 {
    let _ = gateway;
    7
}

fn main() {}
