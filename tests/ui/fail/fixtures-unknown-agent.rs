use persist_core::prelude::*;

#[persistence_test(agents = ["A"], fixtures = [agent("B", "fixtures/b.sql")])]
async fn unknown_agent(manager: MultiDatabaseManager) {
    let _ = manager;
}

fn main() {}
