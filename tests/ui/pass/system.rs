use std::sync::Arc;

use persist_core::async_trait;
use persist_core::db::{AgentSchema, EntitySchema, GatewaySchema, Migrations};
use persist_core::prelude::*;
use persist_core::system::{Layout, Resource, Running};

mod app {
    use super::*;

    /// A system of one's own, with a model of its own offered to tests.
    #[derive(Default)]
    pub struct TestSystem;

    #[derive(Clone)]
    pub struct Model;

    #[async_trait]
    impl System for TestSystem {
        fn gateway_schema(&self) -> Arc<dyn GatewaySchema> {
            Arc::new(Migrations::<migration::Migrator>::new())
        }
        fn agent_schema(&self) -> Arc<dyn AgentSchema> {
            Arc::new(EntitySchema::new())
        }
        fn layout(&self) -> Option<Layout> {
            None
        }
        async fn start(
            &self,
            _databases: &MultiDatabaseManager,
        ) -> Result<Running, PersistError> {
            Ok(Running::new().provide(Model))
        }
    }
}

#[persistence_test(agents = ["A"], system = "app::TestSystem")]
async fn on_my_system(manager: MultiDatabaseManager, model: Resource<app::Model>) {
    let _ = (manager, model);
}

fn main() {}
