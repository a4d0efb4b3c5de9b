pub use ::persist_core as my_persist;

use my_persist::prelude::*;

#[persistence_test(crate = "my_persist")]
async fn through_reexport(gateway: GatewayPersistenceAdapter) {
    let _ = gateway;
}

/// Doc comments, `#[ignore]`, `#[should_panic]` and `#[cfg]` are kept.
#[persistence_test]
#[ignore = "kept attributes"]
#[should_panic(expected = "x")]
#[cfg(not(any()))]
async fn keeps_attributes() {
    panic!("x");
}

fn main() {}
