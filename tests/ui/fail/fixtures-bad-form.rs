use persist_core::prelude::*;

#[persistence_test(agents = ["A"], fixtures = [42, agent("A"), tenant("A", "x.sql")])]
async fn bad_forms(manager: MultiDatabaseManager) {
    let _ = manager;
}

fn main() {}
