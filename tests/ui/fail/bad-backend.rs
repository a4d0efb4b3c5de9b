use persist_core::prelude::*;

#[persistence_test(backend = "oracle")]
async fn backend(gateway: GatewayPersistenceAdapter) {
    let _ = gateway;
}

fn main() {}
