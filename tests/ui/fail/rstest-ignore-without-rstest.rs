use persist_core::prelude::*;

#[persistence_test]
async fn ignore_alone(#[ignore] manager: MultiDatabaseManager) {
    let _ = manager;
}

fn main() {}
