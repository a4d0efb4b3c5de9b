use persist_core::prelude::*;

#[persistence_test]
async fn values_alone(#[values(1, 2)] n: u32, manager: MultiDatabaseManager) {
    let _ = (n, manager);
}

fn main() {}
