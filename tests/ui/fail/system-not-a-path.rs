use persist_core::prelude::*;

#[persistence_test(system = "a system!")]
async fn unparsable(gateway: GatewayPersistenceAdapter) {
    let _ = gateway;
}

fn main() {}
