//! Concierge: a small gateway-plus-agents system, and how it is described to persist.
//!
//! - The gateway keeps `conversations` and `utterances` (schema by migrations).
//! - Each agent keeps `memories` (one per conversation, with JSON notes) and `turns` (schema
//!   straight from entities).
//! - Agents ask a model of the team's own, [`RuleModel`].
//!
//! Everything here uses `persist_core` and its re-exports (`sea_orm`, `sea_orm_migration`,
//! `async_trait`), nothing else.

use std::sync::Arc;

use persist_core::db::{AgentSchema, EntitySchema, GatewaySchema, Migrations};
use persist_core::system::{LanguageModel, Layout, Recording, Running, System, Table, TimeUnit};
use persist_core::{MultiDatabaseManager, async_trait};

pub mod agent;
pub mod entity;
pub mod gateway;
pub mod migration;
pub mod model;

pub use agent::ConciergeAgent;
pub use gateway::ConciergeGateway;
pub use model::RuleModel;

/// The concierge, as persist sees it.
#[derive(Default)]
pub struct Concierge;

#[async_trait]
impl System for Concierge {
    fn gateway_schema(&self) -> Arc<dyn GatewaySchema> {
        Arc::new(Migrations::<migration::Migrator>::new())
    }

    fn agent_schema(&self) -> Arc<dyn AgentSchema> {
        Arc::new(
            EntitySchema::new()
                .entity::<entity::memory::Entity>()
                .entity::<entity::turn::Entity>(),
        )
    }

    fn layout(&self) -> Option<Layout> {
        Some(
            Layout::new(
                Table::new("conversations")
                    .id("id")
                    .user("owner")
                    .agent("agent")
                    .title("subject")
                    .created("opened_at", TimeUnit::Millis)
                    .updated("touched_at", TimeUnit::Millis),
                Table::new("utterances")
                    .id("id")
                    .session("conversation_id")
                    .content("text")
                    .sender_values("speaker", "customer", "assistant")
                    .sender_name("speaker_id")
                    .turn("exchange_id")
                    .created("said_at", TimeUnit::Millis),
                Table::new("memories")
                    .session("conversation_id")
                    .user("customer")
                    .state("notes"),
                Table::new("turns")
                    .id("id")
                    .session("conversation_id")
                    .content("body")
                    .sender("role")
                    .turn("exchange_id")
                    .created("at", TimeUnit::Millis),
            )
            .expect("every part the layout needs is named"),
        )
    }

    async fn start(&self, databases: &MultiDatabaseManager) -> persist_core::Result<Running> {
        // The model is recorded, so tests can see what each agent was shown.
        let model = Recording::new(RuleModel::default());
        let shared: Arc<dyn LanguageModel> = Arc::new(model.clone());
        let agents: Vec<ConciergeAgent> = databases
            .agent_databases()
            .map(|(name, db)| ConciergeAgent::new(name, db.clone(), shared.clone()))
            .collect();
        let gateway = ConciergeGateway::new(databases.gateway_connection().clone(), &agents);
        let mut running = Running::new().with_gateway(gateway).provide(model);
        for agent in agents {
            running = running.with_agent(agent);
        }
        Ok(running)
    }
}

/// Epoch milliseconds, strictly increasing within the process.
pub(crate) fn now() -> i64 {
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

/// A fresh id: the time and a process-wide counter.
pub(crate) fn new_id(prefix: &str) -> String {
    use std::sync::atomic::{AtomicU64, Ordering};
    static NEXT: AtomicU64 = AtomicU64::new(0);
    format!(
        "{prefix}-{}-{}-{}",
        std::process::id(),
        now(),
        NEXT.fetch_add(1, Ordering::Relaxed)
    )
}

/// A driver error, with where it happened.
pub(crate) fn db(
    database: &str,
    operation: &str,
) -> impl FnOnce(persist_core::sea_orm::DbErr) -> persist_core::PersistError {
    let (database, operation) = (database.to_owned(), operation.to_owned());
    move |source| persist_core::PersistError::Database {
        database,
        operation,
        source,
    }
}
