use persist_core::prelude::*;

#[persistence_test(backends = ["sqlite", "oracle", "sqlite", "postgres://db/x"])]
async fn unknown(manager: MultiDatabaseManager) {
    let _ = manager;
}

fn main() {}
