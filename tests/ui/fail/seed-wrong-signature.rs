use persist_core::prelude::*;

fn not_async(count: u32) -> u32 {
    count
}

#[persistence_test(seed = not_async)]
async fn seeded(manager: MultiDatabaseManager) {
    let _ = manager;
}

fn main() {}
