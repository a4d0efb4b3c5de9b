use persist_core::db::{EntitySchema, ManagerBuilder};
use persist_core::mesh::entity::agent_session;
use persist_core::prelude::*;

mod fixtures {
    use super::*;

    pub fn lean_agents(builder: ManagerBuilder) -> ManagerBuilder {
        builder.agent_schema(EntitySchema::new().entity::<agent_session::Entity>())
    }
}

#[persistence_test(agents = ["A"], setup = "fixtures::lean_agents")]
async fn with_setup(manager: MultiDatabaseManager) {
    let _ = manager;
}

fn main() {}
