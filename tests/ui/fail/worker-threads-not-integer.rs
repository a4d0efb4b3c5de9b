use persist_core::prelude::*;

#[persistence_test(flavor = "multi_thread", worker_threads = "two")]
async fn threads(gateway: GatewayPersistenceAdapter) {
    let _ = gateway;
}

fn main() {}
