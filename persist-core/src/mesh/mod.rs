//! The reference mesh: a gateway, its agents and a scripted model, in-process (the `mesh`
//! feature, on by default).
//!
//! It is the framework's demo and its own test subject, and one [`System`] among others: it
//! reaches the framework only through the [`System`] trait, the [`GatewayApi`] and
//! [`AgentApi`] seams and its [`Layout`], like any user's system.
//!
//! The components are small but real: they persist through SeaORM into the databases that a
//! [`MultiDatabaseManager`] provisions, so the framework's checks have something real to
//! catch.
//!
//! [`GatewayApi`]: crate::system::GatewayApi
//! [`AgentApi`]: crate::system::AgentApi

use std::sync::Arc;
use std::sync::atomic::{AtomicI64, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

use tokio::task::JoinHandle;

use crate::db::{AgentSchema, EntitySchema, GatewaySchema, Migrations, MultiDatabaseManager};
use crate::error::{PersistError, Result};
use crate::system::{LanguageModel, Layout, Running, System, Table, TimeUnit};

mod agent;
mod defaults;
pub mod entity;
mod gateway;
mod queues;

pub use agent::AgentHandle;
pub use gateway::GatewayComponent;
// The values the mesh exchanges are the framework's seam types.
pub use crate::system::{
    AgentRequest, ChatMessage, ContextMessage, LlmError, LlmRequest, ScriptedLlm, SenderType,
    Session, Turn,
};

/// The reference mesh as a [`System`]: the `migration` crate's gateway schema, the
/// [`entity`] agent schema, the mesh's [`layout`], and [`Mesh`] started over a test's
/// databases with a fresh [`ScriptedLlm`].
///
/// It offers tests the [`ScriptedLlm`], the [`GatewayComponent`] and each agent's
/// [`AgentHandle`] (per agent); with the `http` feature it serves the gateway's `/api/v1`
/// ([`crate::http::api`]). It is what `#[persistence_test]` uses without
/// `system = "…"`.
#[derive(Clone, Copy, Debug, Default)]
pub struct ReferenceMesh;

#[async_trait::async_trait]
impl System for ReferenceMesh {
    fn gateway_schema(&self) -> Arc<dyn GatewaySchema> {
        Arc::new(Migrations::<migration::Migrator>::new())
    }

    fn agent_schema(&self) -> Arc<dyn AgentSchema> {
        Arc::new(AgentTables)
    }

    fn layout(&self) -> Option<Layout> {
        Some(layout())
    }

    async fn start(&self, databases: &MultiDatabaseManager) -> Result<Running> {
        let llm = ScriptedLlm::new();
        let mesh = Mesh::start(databases, llm.clone());
        let mut running = Running::new()
            .with_gateway(mesh.gateway().clone())
            .provide(llm)
            .provide(mesh.gateway().clone());
        for agent in mesh.agents() {
            running = running
                .with_agent(agent.clone())
                .provide_for(agent.name(), agent.clone());
        }
        #[cfg(feature = "http")]
        {
            let api = crate::http::HttpApi::new(mesh.gateway().clone())
                .agents(mesh.agents().iter().map(|a| a.name().to_owned()));
            running = running.with_http(api);
        }
        Ok(running.on_stop(mesh.shutdown()))
    }

    fn name(&self) -> String {
        "the reference mesh".to_owned()
    }
}

/// A manager builder with the reference mesh's schemas: [`System::manager`] of
/// [`ReferenceMesh`]. Add the agents, and set it up.
pub fn manager() -> crate::db::ManagerBuilder {
    System::manager(&ReferenceMesh)
}

/// The reference mesh's databases for `agents`, on the configured backend (SQLite files unless
/// `PERSIST_TEST_DATABASE_URL` says otherwise).
///
/// ```
/// # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
/// let manager = persist_core::mesh::setup(["AgentA", "AgentB"]).await?;
/// assert_eq!(manager.agent_names().count(), 2);
/// manager.cleanup().await?;
/// # Ok::<(), persist_core::PersistError>(())
/// # }).unwrap();
/// ```
pub async fn setup<I, S>(agents: I) -> Result<MultiDatabaseManager>
where
    I: IntoIterator<Item = S>,
    S: Into<String>,
{
    Ok(manager().agents(agents).setup().await?)
}

/// The schema of the reference mesh's agents, straight from the [`entity`] module:
/// `agent_sessions` and `agent_messages`.
pub fn agent_schema() -> EntitySchema {
    EntitySchema::new()
        .entity::<entity::agent_session::Entity>()
        .entity::<entity::agent_message::Entity>()
}

/// The reference mesh's agent schema: [`agent_schema`] (straight from the
/// [`entity`] module), with message text as `LONGTEXT` on MySQL and MariaDB, so that every
/// backend stores the same replies (up to [`MAX_REPLY_BYTES`]).
#[derive(Clone, Copy, Debug, Default)]
pub struct AgentTables;

impl AgentSchema for AgentTables {
    fn create<'a>(
        &'a self,
        db: &'a sea_orm::DatabaseConnection,
    ) -> futures::future::BoxFuture<'a, std::result::Result<(), sea_orm::DbErr>> {
        Box::pin(async move {
            use sea_orm::ConnectionTrait as _;
            agent_schema().create(db).await?;
            if db.get_database_backend() == sea_orm::DatabaseBackend::MySql {
                db.execute_unprepared(
                    "ALTER TABLE `agent_messages` MODIFY `content` LONGTEXT NOT NULL",
                )
                .await?;
            }
            Ok(())
        })
    }

    fn tables(&self) -> Vec<String> {
        agent_schema().tables()
    }

    fn process_key(&self) -> Option<String> {
        agent_schema()
            .process_key()
            .map(|key| format!("{key}+longtext"))
    }
}

/// Where the reference mesh keeps its data: `sessions` and `chat_messages` in the gateway,
/// `agent_sessions` and `agent_messages` in every agent, times in epoch milliseconds.
pub fn layout() -> Layout {
    Layout::new(
        Table::new("sessions")
            .id("id")
            .user("user_id")
            .agent("agent_name")
            .title("name")
            .created("created_at", TimeUnit::Millis)
            .updated("updated_at", TimeUnit::Millis),
        Table::new("chat_messages")
            .id("id")
            .session("session_id")
            .content("message")
            .sender_values("sender_type", "user", "agent")
            .sender_name("sender_name")
            .turn("task_id")
            .created("created_at", TimeUnit::Millis),
        Table::new("agent_sessions")
            .session("id")
            .user("user_id")
            .agent("agent_name")
            .state("state")
            .created("created_at", TimeUnit::Millis)
            .updated("updated_at", TimeUnit::Millis),
        Table::new("agent_messages")
            .id("id")
            .session("session_id")
            .content("content")
            .sender_values("role", "user", "assistant")
            .turn("task_id")
            .created("created_at", TimeUnit::Millis),
    )
    .expect("the reference layout names every column it needs")
}

pub use crate::system::{MAX_MESSAGE_CHARS, MAX_NAME_CHARS};

/// How long [`Mesh::shutdown`] waits for turns in flight to finish before it stops the agents
/// (the HTTP test server's [`SHUTDOWN_GRACE`](crate::http::SHUTDOWN_GRACE), for open
/// connections, is another wait).
pub const TURNS_GRACE: std::time::Duration = std::time::Duration::from_secs(10);

/// The former name of [`TURNS_GRACE`].
#[deprecated(note = "renamed `TURNS_GRACE` (it is not the HTTP server's `SHUTDOWN_GRACE`)")]
pub const SHUTDOWN_GRACE: std::time::Duration = TURNS_GRACE;

/// A running mesh: the gateway and one agent task per agent database of a manager.
pub struct Mesh {
    gateway: GatewayComponent,
    agents: Vec<AgentHandle>,
    model: Arc<dyn LanguageModel>,
    tasks: Vec<JoinHandle<()>>,
}

impl std::fmt::Debug for Mesh {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Mesh")
            .field("gateway", &self.gateway)
            .field("agents", &self.agents)
            .finish_non_exhaustive()
    }
}

impl Mesh {
    /// Starts a gateway over the manager's gateway database and an agent over each agent
    /// database, all answering through `model` (a [`ScriptedLlm`], or any
    /// [`LanguageModel`]). Must be called inside a tokio runtime.
    pub fn start(manager: &MultiDatabaseManager, model: impl LanguageModel) -> Mesh {
        Self::start_with(manager, Arc::new(model))
    }

    /// [`start`](Self::start) with a shared model.
    pub fn start_with(manager: &MultiDatabaseManager, model: Arc<dyn LanguageModel>) -> Mesh {
        let (agents, tasks): (Vec<_>, Vec<_>) = manager
            .agent_databases()
            .map(|(name, connection)| AgentHandle::spawn(name, connection.clone(), model.clone()))
            .unzip();
        let gateway = GatewayComponent::new(manager.gateway_connection().clone(), agents.clone());
        Mesh {
            gateway,
            agents,
            model,
            tasks,
        }
    }

    /// The gateway component.
    pub fn gateway(&self) -> &GatewayComponent {
        &self.gateway
    }

    /// The agent named `name`.
    pub fn agent(&self, name: &str) -> Result<&AgentHandle> {
        self.gateway.agent(name)
    }

    /// All agents, in the manager's order.
    pub fn agents(&self) -> &[AgentHandle] {
        &self.agents
    }

    /// The model every agent talks to.
    pub fn model(&self) -> &Arc<dyn LanguageModel> {
        &self.model
    }

    /// Waits for turns and deletes in flight to finish (up to [`TURNS_GRACE`]), refusing
    /// new ones, then stops every agent task and waits for them to end.
    pub async fn shutdown(mut self) {
        if tokio::time::timeout(TURNS_GRACE, self.gateway.close())
            .await
            .is_err()
        {
            tracing::warn!(
                "turns were still in flight {TURNS_GRACE:?} after shutdown began; they are abandoned"
            );
        }
        for task in &self.tasks {
            task.abort();
        }
        for task in self.tasks.drain(..) {
            let _ = task.await;
        }
    }
}

impl Drop for Mesh {
    fn drop(&mut self) {
        for task in &self.tasks {
            task.abort();
        }
    }
}

/// Epoch milliseconds, strictly increasing within the process, so that messages written in the
/// same millisecond still have a defined order.
pub(crate) fn now_millis() -> i64 {
    static LAST: AtomicI64 = AtomicI64::new(0);
    let wall = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX));
    let previous = LAST
        .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |last| {
            Some(wall.max(last + 1))
        })
        .unwrap_or_else(|last| last);
    wall.max(previous + 1)
}

/// The longest model reply the mesh stores, in bytes. Replies are `LONGTEXT` on MySQL and
/// MariaDB, `text` elsewhere, so every backend stores the same replies.
pub const MAX_REPLY_BYTES: usize = 4 * 1024 * 1024;

fn invalid(field: &'static str, reason: impl Into<String>) -> PersistError {
    PersistError::InvalidInput {
        field,
        reason: reason.into(),
    }
}

/// Text every backend stores alike: PostgreSQL refuses NUL, which SQLite and MariaDB keep.
fn storable(field: &'static str, value: &str) -> Result<()> {
    if value.contains('\0') {
        return Err(invalid(field, "must not contain NUL characters"));
    }
    Ok(())
}

/// A name of 1–[`MAX_NAME_CHARS`] characters, not blank.
fn name_like(field: &'static str, value: &str) -> Result<()> {
    if value.trim().is_empty() {
        return Err(invalid(field, "must not be blank"));
    }
    let length = value.chars().count();
    if length > MAX_NAME_CHARS {
        return Err(invalid(
            field,
            format!("is {length} characters long; the limit is {MAX_NAME_CHARS}"),
        ));
    }
    storable(field, value)
}

pub(crate) fn validate_user_id(user_id: &str) -> Result<()> {
    name_like("user_id", user_id)
}

pub(crate) fn validate_agent_name(agent_name: &str) -> Result<()> {
    name_like("agent_name", agent_name)
}

/// A session name, trimmed: 1–[`MAX_NAME_CHARS`] characters.
pub(crate) fn validate_session_name(name: &str) -> Result<String> {
    let name = name.trim();
    name_like("name", name)?;
    Ok(name.to_owned())
}

/// Whether `session_id` could name a stored session; one that cannot is not looked up.
pub(crate) fn plausible_id(session_id: &str) -> bool {
    !session_id.is_empty()
        && session_id.chars().count() <= MAX_NAME_CHARS
        && !session_id.contains('\0')
}

pub(crate) fn validate_message(message: &str) -> Result<()> {
    if message.trim().is_empty() {
        return Err(invalid("message", "must not be empty"));
    }
    let length = message.chars().count();
    if length > MAX_MESSAGE_CHARS {
        return Err(PersistError::MessageTooLong {
            length,
            max: MAX_MESSAGE_CHARS,
        });
    }
    storable("message", message)
}

/// A model's reply the mesh can store on every backend; otherwise the model failed.
pub(crate) fn validate_reply(agent: &str, reply: &str) -> Result<()> {
    let problem = if reply.len() > MAX_REPLY_BYTES {
        format!(
            "its reply is {} bytes long; the limit is {MAX_REPLY_BYTES}",
            reply.len()
        )
    } else if reply.contains('\0') {
        "its reply contains NUL characters".to_owned()
    } else {
        return Ok(());
    };
    Err(PersistError::Llm {
        agent: agent.to_owned(),
        reason: problem,
    })
}

/// How many times a transaction that hit a deadlock or a serialization failure is tried.
pub(crate) const MAX_ATTEMPTS: u32 = 12;

/// Whether a database error is worth trying again: a deadlock or a serialization failure
/// (MySQL 1213 and 1205, PostgreSQL 40001 and 40P01), or SQLite's busy or locked.
pub(crate) fn transient(error: &PersistError) -> bool {
    let source = match error {
        PersistError::Database { source, .. } | PersistError::Query { source, .. } => source,
        _ => return false,
    };
    let text = source.to_string().to_ascii_lowercase();
    [
        "deadlock",
        "could not serialize access",
        "lock wait timeout",
        "(40001)",
        "40p01",
        "database is locked",
        "database table is locked",
    ]
    .iter()
    .any(|needle| text.contains(needle))
}

/// Runs `attempt` until it succeeds, fails for good, or has failed [`MAX_ATTEMPTS`] times on
/// deadlocks and serialization failures, backing off (with jitter) between tries. `attempt`
/// must be a whole transaction, so that a failed try leaves nothing behind.
pub(crate) async fn retry<T, F, Fut>(what: &str, mut attempt: F) -> Result<T>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Result<T>>,
{
    let mut tries = 0;
    loop {
        tries += 1;
        match attempt().await {
            Err(error) if tries < MAX_ATTEMPTS && transient(&error) => {
                let base = 2u64 << tries.min(6);
                let jitter = (uuid::Uuid::new_v4().as_u128() % u128::from(base)) as u64;
                tracing::debug!(%error, tries, what, "transient database error; trying again");
                tokio::time::sleep(std::time::Duration::from_millis(base + jitter)).await;
            }
            other => return other,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn clock_is_strictly_increasing() {
        let stamps: Vec<i64> = (0..1000).map(|_| now_millis()).collect();
        assert!(stamps.windows(2).all(|w| w[0] < w[1]));
    }

    #[test]
    fn message_validation() {
        assert!(validate_message("hi").is_ok());
        assert!(matches!(
            validate_message("  \n"),
            Err(PersistError::InvalidInput {
                field: "message",
                ..
            })
        ));
        let at_limit = "é".repeat(MAX_MESSAGE_CHARS);
        assert!(validate_message(&at_limit).is_ok());
        assert!(matches!(
            validate_message(&format!("{at_limit}x")),
            Err(PersistError::MessageTooLong {
                length: 10_001,
                max: 10_000
            })
        ));
    }
}
