use persist_core::prelude::*;

#[persistence_test(system = "my_app::MissingSystem")]
async fn unknown(gateway: GatewayPersistenceAdapter) {
    let _ = gateway;
}

fn main() {}
