use persist_core::prelude::*;

#[persistence_test(
    agents = ["AgentA", "AgentB"],
    flavor = "multi_thread",
    worker_threads = 2,
    keep = "on_failure",
    timeout = "30s",
    backend = "sqlite",
    crate = "::persist_core",
)]
async fn every_argument(gateway: GatewayPersistenceAdapter) {
    let _ = gateway;
}

#[persistence_test]
async fn no_arguments() {}

#[persistence_test(agents = [], keep = "always", timeout = "500ms")]
async fn empty_agents(manager: MultiDatabaseManager) {
    let _ = manager;
}

#[persistence_test(flavor = "current_thread", keep = "never", timeout = "2m", backend = "postgres")]
async fn other_values(manager: MultiDatabaseManager) {
    let _ = manager;
}

#[persistence_test(backend = "mysql://root@127.0.0.1:3306/test", timeout = "1h")]
async fn server_url(manager: MultiDatabaseManager) {
    let _ = manager;
}

fn main() {}
