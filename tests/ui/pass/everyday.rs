use persist_core::db::{EntitySchema, ManagerBuilder};
use persist_core::mesh::entity::agent_session;
use persist_core::prelude::*;

fn lean_agents(builder: ManagerBuilder) -> ManagerBuilder {
    builder.agent_schema(EntitySchema::new().entity::<agent_session::Entity>())
}

async fn seed(ctx: &TestContext) -> Result<(), PersistError> {
    ctx.adapter()?.create_session("alice", "A").await?;
    Ok(())
}

async fn infallible_seed(_ctx: &TestContext) {}

// Paths given bare or quoted; a seed returning `()` or `Result`.
#[persistence_test(agents = ["A"], setup = lean_agents, system = persist_core::mesh::ReferenceMesh, seed = seed)]
async fn bare_paths(manager: MultiDatabaseManager) {
    let _ = manager;
}

#[persistence_test(seed = "infallible_seed")]
async fn quoted_seed(manager: MultiDatabaseManager) {
    let _ = manager;
}

// Cases times backends: four tests, in a module named after the function.
#[persistence_test(agents = ["A"], backends = ["sqlite", "sqlite-memory"])]
#[case("alice", 1)]
#[case("bob", 2)]
async fn matrix(
    #[case] user: &str,
    #[case] sessions: usize,
    gateway: GatewayPersistenceAdapter,
) -> Result<(), PersistError> {
    for _ in 0..sessions {
        gateway.create_session(user, "A").await?;
    }
    Ok(())
}

fn main() {}
