use persist_core::prelude::*;

#[persistence_test(agents = ["AgentA"])]
async fn unknown_agent(#[agent("AgentB")] b: AgentHandle) {
    let _ = b;
}

fn main() {}
