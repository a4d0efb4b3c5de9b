use persist_core::prelude::*;

#[persistence_test]
#[case(1)]
async fn no_params(manager: MultiDatabaseManager) {
    let _ = manager;
}

fn main() {}
