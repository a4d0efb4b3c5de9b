use persist_core::prelude::*;

#[persistence_test]
async fn no_cases(#[case] n: u32, manager: MultiDatabaseManager) {
    let _ = (n, manager);
}

fn main() {}
