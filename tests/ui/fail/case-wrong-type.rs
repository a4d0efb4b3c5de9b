use persist_core::prelude::*;

#[persistence_test]
#[case("one")]
async fn wrong_type(#[case] n: u32, manager: MultiDatabaseManager) {
    let _ = (n, manager);
}

fn main() {}
