//! Relay: a third system under test, modelled on the schemas real gateways and agent
//! frameworks use, to prove that the framework tests them as they are.
//!
//! - The gateway (schema by three migrations, each with a real `down`) keeps `sessions`, then
//!   `chat_tasks`: one row per turn, both sides' text as JSON bubbles in a text column, no
//!   sender column, the answering agent inside JSON `task_metadata`. Its second migration
//!   converts the first's one-row-per-message `chat_messages` into turns and drops it. A turn
//!   also leaves a `tasks` row and its `task_events`; `feedback` is there too.
//! - Each agent is shaped like an agent framework's database session service: `sessions`
//!   keyed by (`app_name`, `user_id`, `id`) with ids of its own, the gateway session inside
//!   JSON `state`, native `create_time`/`update_time`; `events` with a composite key and a
//!   composite foreign key, native `timestamp` with its zone, JSON `content`, the gateway's
//!   task id inside `custom_metadata`; `app_states`, `user_states`; and an index entities
//!   cannot declare (newest events first).
//! - Its model is the helpdesk's [`CannedModel`].

use std::sync::Arc;

use persist_core::async_trait;
use persist_core::db::{
    AgentSchema, EntitySchema, GatewaySchema, Migrations, MultiDatabaseManager,
};
use persist_core::system::{Layout, Recording, Running, Source, System, Table, TimeUnit};
use sea_orm::sea_query::{Alias, Index, IndexOrder};

mod agent;
pub mod entity;
mod gateway;
pub mod migration;

pub use agent::RelayAgent;
pub use gateway::RelayGateway;

use crate::helpdesk::CannedModel;

/// The relay as a [`System`]. It offers tests its model as `Resource<Recording<CannedModel>>`.
#[derive(Clone, Copy, Debug, Default)]
pub struct Relay;

/// What the relay's model is offered to tests as.
pub type Model = Recording<CannedModel>;

/// The agents' schema: the entities, and the index they cannot declare.
pub fn agent_schema() -> EntitySchema {
    EntitySchema::new()
        .entity::<entity::adk_session::Entity>()
        .entity::<entity::adk_event::Entity>()
        .entity::<entity::app_state::Entity>()
        .entity::<entity::user_state::Entity>()
        .index(
            Index::create()
                .name("idx_events_session_newest")
                .table(Alias::new("events"))
                .col(Alias::new("app_name"))
                .col(Alias::new("user_id"))
                .col(Alias::new("session_id"))
                .col((Alias::new("timestamp"), IndexOrder::Desc))
                .to_owned(),
        )
}

#[async_trait]
impl System for Relay {
    fn gateway_schema(&self) -> Arc<dyn GatewaySchema> {
        Arc::new(Migrations::<migration::Migrator>::new())
    }

    fn agent_schema(&self) -> Arc<dyn AgentSchema> {
        Arc::new(agent_schema())
    }

    fn layout(&self) -> Option<Layout> {
        Some(layout())
    }

    async fn start(&self, databases: &MultiDatabaseManager) -> persist_core::Result<Running> {
        let model = Recording::new(CannedModel::default());
        let shared: Arc<dyn persist_core::system::LanguageModel> = Arc::new(model.clone());
        let agents: Vec<RelayAgent> = databases
            .agent_databases()
            .map(|(name, db)| RelayAgent::new(name, db.clone(), shared.clone()))
            .collect();
        let gateway = RelayGateway::new(databases.gateway_connection().clone(), agents.clone());
        let mut running = Running::new()
            .with_http(persist_core::http::HttpApi::new(gateway.clone()))
            .with_gateway(gateway)
            .provide(model);
        for agent in agents {
            running = running.with_agent(agent);
        }
        Ok(running)
    }
}

/// Where the relay keeps its data.
pub fn layout() -> Layout {
    Layout::new(
        Table::new("sessions")
            .id("id")
            .user("user_id")
            .agent("agent_id")
            .title("name")
            .created("created_time", TimeUnit::Millis)
            .updated("updated_time", TimeUnit::Millis),
        // One row per turn; its id is the task id.
        Table::new("chat_tasks")
            .id("id")
            .session("session_id")
            .user("user_id")
            .turns(
                Source::json("message_bubbles", "/0/text"),
                Source::json("message_bubbles", "/1/text"),
            )
            .answered_by(Source::json("task_metadata", "/agent_name"))
            .created("created_time", TimeUnit::Millis),
        // The agent's own ids; the gateway session is in the state.
        Table::new("sessions")
            .key("id")
            .session(Source::json("state", "/gateway_session_id"))
            .user("user_id")
            .agent("app_name")
            .state("state"),
        Table::new("events")
            .id("id")
            .agent_session("session_id")
            .user("user_id")
            .content_json("content", "/parts/0/text")
            .sender("author")
            .turn(Source::json("custom_metadata", "/task_id"))
            .created("timestamp", TimeUnit::DateTime),
    )
    .expect("the relay layout names every column it needs")
}
