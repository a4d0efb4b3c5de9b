//! The mesh under test: a gateway, its agents and a scripted model, in-process.
//!
//! The components are small but real: they persist through SeaORM into the databases that a
//! [`MultiDatabaseManager`] provisions, so the framework's checks
//! have something real to catch.

use std::sync::atomic::{AtomicI64, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

use tokio::task::JoinHandle;

use crate::db::MultiDatabaseManager;
use crate::error::{PersistError, Result};

mod agent;
pub mod entity;
mod gateway;
mod llm;

pub use agent::{AgentHandle, AgentRequest};
pub use gateway::{ChatMessage, GatewayComponent, SenderType, Session, Turn};
pub use llm::{ContextMessage, LlmError, LlmRequest, ScriptedLlm};

/// The longest message the gateway accepts, in characters.
pub const MAX_MESSAGE_CHARS: usize = 10_000;

/// A running mesh: the gateway and one agent task per agent database of a manager.
#[derive(Debug)]
pub struct Mesh {
    gateway: GatewayComponent,
    agents: Vec<AgentHandle>,
    llm: ScriptedLlm,
    tasks: Vec<JoinHandle<()>>,
}

impl Mesh {
    /// Starts a gateway over the manager's gateway database and an agent over each agent
    /// database, all answering through `llm`. Must be called inside a tokio runtime.
    pub fn start(manager: &MultiDatabaseManager, llm: ScriptedLlm) -> Mesh {
        let (agents, tasks): (Vec<_>, Vec<_>) = manager
            .agent_databases()
            .map(|(name, connection)| AgentHandle::spawn(name, connection.clone(), llm.clone()))
            .unzip();
        let gateway = GatewayComponent::new(manager.gateway_connection().clone(), agents.clone());
        Mesh {
            gateway,
            agents,
            llm,
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

    /// The scripted model every agent talks to.
    pub fn llm(&self) -> &ScriptedLlm {
        &self.llm
    }

    /// Stops every agent task and waits for them to end. A turn in flight is abandoned, and
    /// its open transaction rolls back.
    pub async fn shutdown(mut self) {
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

fn not_blank(field: &'static str, value: &str) -> Result<()> {
    if value.trim().is_empty() {
        return Err(PersistError::InvalidInput {
            field,
            reason: "must not be blank".into(),
        });
    }
    Ok(())
}

pub(crate) fn validate_user_id(user_id: &str) -> Result<()> {
    not_blank("user_id", user_id)
}

pub(crate) fn validate_agent_name(agent_name: &str) -> Result<()> {
    not_blank("agent_name", agent_name)
}

pub(crate) fn validate_message(message: &str) -> Result<()> {
    if message.trim().is_empty() {
        return Err(PersistError::InvalidInput {
            field: "message",
            reason: "must not be empty".into(),
        });
    }
    let length = message.chars().count();
    if length > MAX_MESSAGE_CHARS {
        return Err(PersistError::MessageTooLong {
            length,
            max: MAX_MESSAGE_CHARS,
        });
    }
    Ok(())
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
