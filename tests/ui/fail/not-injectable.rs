use persist_core::prelude::*;

#[persistence_test]
async fn wrong_type(count: u32) {
    let _ = count;
}

fn main() {}
