use persist_core::prelude::*;
use rstest::{fixture, rstest};

#[fixture]
fn limit() -> usize {
    3
}

#[rstest]
#[case("alice")]
#[persist_core::test(agents = ["A"], timeout = "30s")]
async fn above(#[case] user: &str, #[values(1, 2)] n: usize, limit: usize, #[ignore] gateway: GatewayPersistenceAdapter) {
    let _ = (user, n, limit, gateway);
}

#[persistence_test(agents = ["A"], backends = ["sqlite", "postgres"])]
#[rstest]
#[case("alice")]
async fn below(#[case] user: &str, limit: usize, #[ignore] ctx: TestContext, #[ignore] inspector: &CrossDatabaseInspector) {
    let _ = (user, limit, ctx, inspector);
}

fn main() {}
