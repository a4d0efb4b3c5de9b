use persist_core::prelude::*;

/// Has `Default`, but is no system under test.
#[derive(Default)]
struct NotASystem;

#[persistence_test(system = "NotASystem")]
async fn wrong_system(gateway: GatewayPersistenceAdapter) {
    let _ = gateway;
}

fn main() {}
