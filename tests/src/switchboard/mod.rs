//! Switchboard: a fourth system under test, a mesh whose agents run on two different agent
//! frameworks' stores, modelled on the public schemas of an agent server's gateway and of the
//! OpenAI Agents SDK and LangGraph (the code is this project's own).
//!
//! - The gateway (five migrations, three of them carrying data) keeps `conversations` and
//!   `messages`: a message has no user (its `user_id` is dropped once its organization is
//!   backfilled from it), is numbered across the gateway by `sequence_id`, which orders a
//!   conversation, and has a native `created_at` (whole seconds on MariaDB).
//! - Agent `Chat` (and any agent not named otherwise) keeps the OpenAI Agents SDK's session
//!   store ([`openai`]): no user, ids numbered by each database, a Responses item per row whose
//!   text is at `/content` or `/content/0/text`, times from the database's clock.
//! - Agent `Planner` keeps LangGraph's checkpointer ([`langgraph`]): its own numbered
//!   migrations, the thread's whole message list inside each checkpoint.
//! - Its model is the helpdesk's [`CannedModel`].

use std::sync::Arc;

use persist_core::async_trait;
use persist_core::db::{
    AgentSchema, AgentSchemas, EntitySchema, GatewaySchema, Migrations, MultiDatabaseManager,
};
use persist_core::system::{
    AgentApi, LanguageModel, Layout, Recording, Running, Source, System, Table, TimeUnit,
};

pub mod entity;
mod gateway;
pub mod langgraph;
pub mod migration;
pub mod openai;

pub use gateway::SwitchboardGateway;
pub use langgraph::LangGraphAgent;
pub use openai::OpenAiAgent;

use crate::helpdesk::CannedModel;

/// The agent on LangGraph's checkpointer; every other agent is on the OpenAI Agents SDK's
/// session store.
pub const PLANNER: &str = "Planner";

/// The switchboard as a [`System`]. It offers tests its model as
/// `Resource<Recording<CannedModel>>`.
#[derive(Clone, Copy, Debug, Default)]
pub struct Switchboard;

/// What the switchboard's model is offered to tests as.
pub type Model = Recording<CannedModel>;

/// The OpenAI Agents SDK's session store, from its entities (as `create_all` would).
pub fn openai_schema() -> EntitySchema {
    EntitySchema::new()
        .entity::<entity::agent_session::Entity>()
        .entity::<entity::agent_message::Entity>()
}

#[async_trait]
impl System for Switchboard {
    fn gateway_schema(&self) -> Arc<dyn GatewaySchema> {
        Arc::new(Migrations::<migration::Migrator>::new())
    }

    fn agent_schema(&self) -> Arc<dyn AgentSchema> {
        Arc::new(openai_schema())
    }

    fn agent_schemas(&self) -> AgentSchemas {
        AgentSchemas::every(self.agent_schema()).agent(PLANNER, langgraph::migrations())
    }

    fn layout(&self) -> Option<Layout> {
        Some(layout())
    }

    async fn start(&self, databases: &MultiDatabaseManager) -> persist_core::Result<Running> {
        let model = Recording::new(CannedModel::default());
        let shared: Arc<dyn LanguageModel> = Arc::new(model.clone());
        let agents: Vec<Arc<dyn AgentApi>> = databases
            .agent_databases()
            .map(|(name, db)| -> Arc<dyn AgentApi> {
                if name == PLANNER {
                    Arc::new(LangGraphAgent::new(name, db.clone(), shared.clone()))
                } else {
                    Arc::new(OpenAiAgent::new(name, db.clone(), shared.clone()))
                }
            })
            .collect();
        let gateway =
            SwitchboardGateway::new(databases.gateway_connection().clone(), agents.clone());
        let mut running = Running::new().with_gateway(gateway).provide(model);
        for agent in agents {
            running = running.with_agent(Shared(agent));
        }
        Ok(running)
    }
}

/// An agent shared with the gateway, handed to the framework too.
struct Shared(Arc<dyn AgentApi>);

#[async_trait]
impl AgentApi for Shared {
    fn name(&self) -> &str {
        self.0.name()
    }

    async fn send(
        &self,
        request: persist_core::system::AgentRequest,
    ) -> persist_core::Result<String> {
        self.0.send(request).await
    }

    async fn delete_session(&self, session_id: &str) -> persist_core::Result<bool> {
        self.0.delete_session(session_id).await
    }
}

/// Where the switchboard keeps its data.
pub fn layout() -> Layout {
    Layout::new(
        Table::new("conversations")
            .id("id")
            .user("user_id")
            .agent("agent_id")
            .title("title")
            .created("created_at", TimeUnit::Millis)
            .updated("updated_at", TimeUnit::Millis),
        // No user on a message: its conversation's. Ordered by the gateway's numbering.
        Table::new("messages")
            .id("id")
            .session("conversation_id")
            .order("sequence_id")
            .content("text")
            .sender_values("role", "user", "assistant")
            .turn("run_id")
            .created("created_at", TimeUnit::DateTime),
        // The OpenAI Agents SDK: no user column; the session id is the conversation's.
        Table::new("agent_sessions").session("session_id"),
        Table::new("agent_messages")
            .id("id")
            .session("session_id")
            .content(Source::first_of([
                Source::json("message_data", "/content/0/text"),
                Source::json("message_data", "/content"),
            ]))
            .sender(Source::json("message_data", "/role"))
            .created("created_at", TimeUnit::DateTime),
    )
    .and_then(|layout| {
        // LangGraph: a thread per conversation, its history inside its latest checkpoint.
        layout.agent(
            PLANNER,
            Table::new("checkpoints").session("thread_id"),
            Table::new("checkpoints")
                .session("thread_id")
                .order("checkpoint_id")
                .history(Source::json("checkpoint", "/channel_values/messages"))
                .id(Source::item("/id"))
                .content(Source::item("/content"))
                .sender_values(Source::item("/type"), "human", "ai"),
        )
    })
    .expect("the switchboard's layout is valid")
}
