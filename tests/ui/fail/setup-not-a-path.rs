use persist_core::prelude::*;

#[persistence_test(setup = "not a path!")]
async fn setup(gateway: GatewayPersistenceAdapter) {
    let _ = gateway;
}

fn main() {}
