use persist_core::prelude::*;

#[persistence_test(flavor = "multi_threaded")]
async fn flavor(gateway: GatewayPersistenceAdapter) {
    let _ = gateway;
}

fn main() {}
