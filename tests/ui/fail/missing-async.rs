use persist_core::prelude::*;

#[persistence_test]
fn not_async(gateway: GatewayPersistenceAdapter) {
    let _ = gateway;
}

fn main() {}
