use persist_core::prelude::*;

#[persistence_test]
struct NotATest;

fn main() {}
