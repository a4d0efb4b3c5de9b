use persist_core::prelude::*;

#[persistence_test(flavor = "multi_thread", worker_threads = 0)]
async fn threads(gateway: GatewayPersistenceAdapter) {
    let _ = gateway;
}

fn main() {}
