use persist_core::prelude::*;

#[persistence_test]
#[case(1, "one")]
#[case(2)]
async fn arity(#[case] n: u32, #[case] word: &str, manager: MultiDatabaseManager) {
    let _ = (n, word, manager);
}

fn main() {}
