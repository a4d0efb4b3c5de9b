//! Helpdesk: a second system under test, shaped unlike the reference mesh, to prove that the
//! framework reads any system through its [`Layout`].
//!
//! - The gateway (schema by two migrations) has `users`, `sessions` (with a `title`) and
//!   `chat_messages` with integer ids, `author_kind` values `human` / `bot` / `system` and
//!   epoch-millisecond times.
//! - Each agent is shaped like an agent framework's session store: `sessions` keyed by
//!   (`app_name`, `user_id`, `id`) with a JSON `state`, and `events` whose `content` is JSON
//!   (`{"role": …, "parts": [{"text": …}]}`), `author` `user` or the agent's name, and a
//!   floating-point `timestamp` in seconds.
//! - Its model is its own ([`CannedModel`], behind a [`Recording`] proxy).

use std::sync::Arc;

use persist_core::async_trait;
use persist_core::db::{
    AgentSchema, EntitySchema, GatewaySchema, Migrations, MultiDatabaseManager,
};
use persist_core::system::{Layout, Recording, Running, System, Table, TimeUnit};

mod agent;
pub mod entity;
mod gateway;
pub mod migration;
mod model;

pub use agent::HelpdeskAgent;
pub(crate) use agent::failed;
pub use gateway::HelpdeskGateway;
pub use model::CannedModel;

/// The helpdesk as a [`System`]. It offers tests its model as `Resource<Recording<CannedModel>>`.
#[derive(Clone, Copy, Debug, Default)]
pub struct Helpdesk;

/// What the helpdesk's model is offered to tests as.
pub type Model = Recording<CannedModel>;

#[async_trait]
impl System for Helpdesk {
    fn gateway_schema(&self) -> Arc<dyn GatewaySchema> {
        Arc::new(Migrations::<migration::Migrator>::new())
    }

    fn agent_schema(&self) -> Arc<dyn AgentSchema> {
        Arc::new(
            EntitySchema::new()
                .entity::<entity::adk_session::Entity>()
                .entity::<entity::event::Entity>(),
        )
    }

    fn layout(&self) -> Option<Layout> {
        Some(layout())
    }

    async fn start(&self, databases: &MultiDatabaseManager) -> persist_core::Result<Running> {
        let model = Recording::new(CannedModel::default());
        let shared: Arc<dyn persist_core::system::LanguageModel> = Arc::new(model.clone());
        let agents: Vec<HelpdeskAgent> = databases
            .agent_databases()
            .map(|(name, db)| HelpdeskAgent::new(name, db.clone(), shared.clone()))
            .collect();
        let gateway = HelpdeskGateway::new(databases.gateway_connection().clone(), agents.clone());
        // It serves the same `/api/v1` as the reference mesh, over its own gateway.
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

/// Where the helpdesk keeps its data.
pub fn layout() -> Layout {
    Layout::new(
        Table::new("sessions")
            .id("id")
            .user("user_id")
            .agent("agent")
            .title("title")
            .created("created_ms", TimeUnit::Millis)
            .updated("updated_ms", TimeUnit::Millis),
        Table::new("chat_messages")
            .id("id")
            .session("session_id")
            .content("body")
            .sender_values("author_kind", "human", "bot")
            .sender_name("author")
            .turn("turn_id")
            .created("created_ms", TimeUnit::Millis),
        Table::new("sessions")
            .session("id")
            .user("user_id")
            .agent("app_name")
            .state("state"),
        Table::new("events")
            .id("id")
            .session("session_id")
            .content_json("content", "/parts/0/text")
            .sender("author")
            .turn("invocation_id")
            .created("timestamp", TimeUnit::Seconds),
    )
    .expect("the helpdesk layout names every column it needs")
}

/// Epoch milliseconds, strictly increasing within the process.
pub(crate) fn now_millis() -> i64 {
    use std::sync::atomic::{AtomicI64, Ordering};
    static LAST: AtomicI64 = AtomicI64::new(0);
    let wall = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as i64);
    let previous = LAST
        .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |last| {
            Some(wall.max(last + 1))
        })
        .unwrap_or_else(|last| last);
    wall.max(previous + 1)
}
