use persist_core::prelude::*;

#[persistence_test(flavor = "current_thread", worker_threads = 4)]
async fn threads(gateway: GatewayPersistenceAdapter) {
    let _ = gateway;
}

fn main() {}
