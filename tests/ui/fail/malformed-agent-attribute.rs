use persist_core::prelude::*;

#[persistence_test(agents = ["AgentA"])]
async fn malformed(#[agent(AgentA)] handle: AgentHandle) {
    let _ = handle;
}

fn main() {}
