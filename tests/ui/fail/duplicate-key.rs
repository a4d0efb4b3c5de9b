use persist_core::prelude::*;

#[persistence_test(keep = "always", keep = "never")]
async fn twice(gateway: GatewayPersistenceAdapter) {
    let _ = gateway;
}

fn main() {}
