use persist_core::prelude::*;

#[derive(Debug)]
struct MyError;

#[persistence_test(agents = ["AgentA"])]
async fn persist_error(gateway: GatewayPersistenceAdapter) -> Result<(), PersistError> {
    gateway.create_session("alice", "AgentA").await?;
    Ok(())
}

#[persistence_test]
async fn own_error() -> Result<(), MyError> {
    Err(MyError)
}

#[persistence_test]
async fn unit() -> () {}

fn main() {}
