//! The seams a system under test exposes: [`GatewayApi`], the gateway as its clients drive it,
//! and [`AgentApi`], one agent as its gateway reaches it; with the values they exchange.
//!
//! The reference mesh implements both; so does any other system. The framework drives them
//! through [`GatewayPersistenceAdapter`](crate::GatewayPersistenceAdapter) and
//! [`AgentPersistenceAdapter`](crate::AgentPersistenceAdapter), and never looks behind them:
//! what they stored is read back from the databases by the
//! [inspector](crate::CrossDatabaseInspector).

use async_trait::async_trait;
use serde::Serialize;

use crate::error::{PersistError, Result};

/// The longest message a gateway accepts, in characters: the limit of the gateway API's
/// contract, which the HTTP API (`/api/v1`) and the reference mesh both enforce.
pub const MAX_MESSAGE_CHARS: usize = 10_000;

/// The longest session name, user id or agent name, in characters (after trimming): what a
/// `VARCHAR(255)` holds on every backend.
pub const MAX_NAME_CHARS: usize = 255;

/// A gateway session as users see it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Session {
    /// Session id.
    pub id: String,
    /// Display name, if the user gave one.
    pub name: Option<String>,
    /// The owning user.
    pub user_id: String,
    /// The agent the session talks to.
    pub agent_name: String,
    /// Creation time, epoch milliseconds.
    pub created_at: i64,
    /// Last activity, epoch milliseconds.
    pub updated_at: i64,
    /// Last switch to this session, epoch milliseconds.
    pub last_active_at: Option<i64>,
}

/// Who sent a chat message.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum SenderType {
    /// The user.
    User,
    /// The agent.
    Agent,
    /// The system.
    System,
}

impl SenderType {
    /// `user`, `agent` or `system`.
    pub fn as_str(self) -> &'static str {
        match self {
            SenderType::User => "user",
            SenderType::Agent => "agent",
            SenderType::System => "system",
        }
    }

    /// `user` and `agent` as themselves; anything else is `System`.
    pub fn parse(value: &str) -> Self {
        match value {
            "user" => SenderType::User,
            "agent" => SenderType::Agent,
            _ => SenderType::System,
        }
    }
}

/// A message of a session's history in the gateway.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct ChatMessage {
    /// Message id.
    pub id: String,
    /// The session.
    pub session_id: String,
    /// The text.
    pub message: String,
    /// Who sent it.
    pub sender_type: SenderType,
    /// The user id or the agent name.
    pub sender_name: String,
    /// Creation time, epoch milliseconds.
    pub created_at: i64,
    /// The turn it belongs to.
    pub task_id: Option<String>,
}

/// The result of one stored turn.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Turn {
    /// The session.
    pub session_id: String,
    /// The task id shared by both messages, in the gateway and in the agent.
    pub task_id: String,
    /// The agent's reply.
    pub content: String,
}

/// One user turn, as a gateway routes it to an agent.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AgentRequest {
    /// The gateway session id (the agent's session key).
    pub session_id: String,
    /// The user who owns the session.
    pub user_id: String,
    /// The gateway's task id for this turn.
    pub task_id: String,
    /// The user's message.
    pub message: String,
}

/// A gateway as its clients drive it. Every call is scoped to the calling user: another
/// user's session must behave exactly like one that does not exist
/// ([`PersistError::SessionNotFound`], or `false` from `delete_session`).
///
/// Implement it for your gateway (an in-process component, or a client of its HTTP API) and
/// hand it to the framework from [`System::start`](crate::System::start); tests then drive it
/// through [`GatewayPersistenceAdapter`](crate::GatewayPersistenceAdapter).
#[async_trait]
pub trait GatewayApi: Send + Sync + 'static {
    /// Creates a session for `user_id` with `agent_name`.
    async fn create_session(&self, user_id: &str, agent_name: &str) -> Result<Session>;

    /// Sends `message` in a session and waits for the agent's reply.
    async fn send_message(&self, user_id: &str, session_id: &str, message: &str) -> Result<Turn>;

    /// The user's sessions, most recently updated first.
    async fn list_sessions(&self, user_id: &str) -> Result<Vec<Session>>;

    /// One of the user's sessions.
    async fn get_session(&self, user_id: &str, session_id: &str) -> Result<Session>;

    /// A session's history, oldest first.
    async fn session_messages(&self, user_id: &str, session_id: &str) -> Result<Vec<ChatMessage>>;

    /// Renames a session.
    async fn rename_session(&self, user_id: &str, session_id: &str, name: &str) -> Result<Session>;

    /// Deletes a session, in the gateway and in its agent; whether the user had it.
    async fn delete_session(&self, user_id: &str, session_id: &str) -> Result<bool>;

    /// Starts a session with `agent_name` by sending its first message: the session and the
    /// turn are stored together or not at all.
    ///
    /// By default, [`create_session`](Self::create_session) then
    /// [`send_message`](Self::send_message), deleting the new session if the turn fails;
    /// a gateway that can store both in one transaction should do so instead.
    async fn start_session(&self, user_id: &str, agent_name: &str, message: &str) -> Result<Turn> {
        let session = self.create_session(user_id, agent_name).await?;
        match self.send_message(user_id, &session.id, message).await {
            Ok(turn) => Ok(turn),
            Err(error) => {
                if let Err(undo) = self.delete_session(user_id, &session.id).await {
                    tracing::error!(%undo, session_id = %session.id, "could not remove the session of a failed first turn");
                }
                Err(error)
            }
        }
    }

    /// Makes a session the user's active one. Not every gateway has this: by default it is
    /// [`PersistError::Unsupported`].
    async fn switch_session(&self, user_id: &str, session_id: &str) -> Result<Session> {
        let _ = (user_id, session_id);
        Err(PersistError::Unsupported {
            operation: "switch_session",
            reason: "this gateway has no notion of an active session".into(),
        })
    }
}

/// One agent, as its gateway reaches it: the seed's "agent persistence adapter" seam.
///
/// Tests drive it through [`AgentPersistenceAdapter`](crate::AgentPersistenceAdapter), which
/// also reads what the agent stored.
#[async_trait]
pub trait AgentApi: Send + Sync + 'static {
    /// The agent's name (the one given in `agents = [...]`).
    fn name(&self) -> &str;

    /// Runs one turn and returns the agent's reply.
    async fn send(&self, request: AgentRequest) -> Result<String>;

    /// Removes everything the agent stores for `session_id`; whether it had a session.
    async fn delete_session(&self, session_id: &str) -> Result<bool>;
}
