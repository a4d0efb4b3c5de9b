use persist_core::prelude::*;

#[persistence_test(fixtures = ["fixtures/does-not-exist.sql"])]
async fn missing(manager: MultiDatabaseManager) {
    let _ = manager;
}

fn main() {}
