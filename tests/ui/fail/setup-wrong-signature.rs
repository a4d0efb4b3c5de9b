use persist_core::prelude::*;

fn configure(agents: &[&str]) -> usize {
    agents.len()
}

#[persistence_test(setup = "configure")]
async fn setup(gateway: GatewayPersistenceAdapter) {
    let _ = gateway;
}

fn main() {}
