use persist_core::prelude::*;

#[persistence_test(timout = "30s")]
async fn near_miss(manager: MultiDatabaseManager) {
    let _ = manager;
}

fn main() {}
