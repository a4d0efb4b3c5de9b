use persist_core::prelude::*;

#[persistence_test(agents = ["AgentA"])]
async fn which_agent(handle: AgentHandle) {
    let _ = handle;
}

fn main() {}
