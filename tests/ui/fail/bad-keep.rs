use persist_core::prelude::*;

#[persistence_test(keep = "sometimes")]
async fn keep(gateway: GatewayPersistenceAdapter) {
    let _ = gateway;
}

fn main() {}
