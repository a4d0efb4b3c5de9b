use persist_core::prelude::*;
use rstest::rstest;

#[persistence_test(agents = ["A"])]
#[rstest]
#[case(1)]
async fn agent_under_rstest(#[case] n: u32, #[ignore] #[agent("A")] a: AgentHandle) {
    let _ = (n, a);
}

fn main() {}
