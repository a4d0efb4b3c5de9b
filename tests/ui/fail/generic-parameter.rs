use persist_core::prelude::*;

#[persistence_test]
async fn generic<T: Inject>(value: T) {
    let _ = value;
}

fn main() {}
