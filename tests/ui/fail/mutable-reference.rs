use persist_core::prelude::*;

#[persistence_test]
async fn by_mut_ref(gateway: &mut GatewayPersistenceAdapter) {
    let _ = gateway;
}

fn main() {}
