use persist_core::prelude::*;

#[persistence_test(backend = "sqlite", backends = ["sqlite", "postgres"])]
async fn twice(manager: MultiDatabaseManager) {
    let _ = manager;
}

fn main() {}
