//! What the API answers with: sessions, messages and task results as JSON.

use serde::{Deserialize, Serialize};

use crate::system::{ChatMessage, Session, Turn};

/// A session as the API shows it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct SessionBody {
    /// Session id.
    pub id: String,
    /// The owner.
    pub user_id: String,
    /// Display name, if given.
    pub name: Option<String>,
    /// The agent the session talks to.
    pub agent_id: String,
    /// Creation time, epoch milliseconds.
    pub created_at: i64,
    /// Last activity, epoch milliseconds.
    pub updated_at: i64,
    /// Last switch to this session, epoch milliseconds, if any.
    #[serde(default)]
    pub last_active_at: Option<i64>,
}

impl From<Session> for SessionBody {
    fn from(s: Session) -> Self {
        SessionBody {
            id: s.id,
            user_id: s.user_id,
            name: s.name,
            agent_id: s.agent_name,
            created_at: s.created_at,
            updated_at: s.updated_at,
            last_active_at: s.last_active_at,
        }
    }
}

impl From<SessionBody> for Session {
    fn from(s: SessionBody) -> Self {
        Session {
            id: s.id,
            name: s.name,
            user_id: s.user_id,
            agent_name: s.agent_id,
            created_at: s.created_at,
            updated_at: s.updated_at,
            last_active_at: s.last_active_at,
        }
    }
}

/// One page of the caller's sessions.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct SessionList {
    /// The page, most recently updated first.
    pub sessions: Vec<SessionBody>,
    /// How many sessions the caller has in all.
    pub total_count: u64,
}

/// A message as the API shows it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct MessageBody {
    /// Message id.
    pub id: String,
    /// The session.
    pub session_id: String,
    /// The text.
    pub message: String,
    /// `user` or `agent`.
    pub sender_type: String,
    /// The user id or the agent name.
    pub sender_name: String,
    /// Creation time, epoch milliseconds.
    pub created_at: i64,
    /// The turn (task) it belongs to.
    #[serde(default)]
    pub task_id: Option<String>,
}

impl From<ChatMessage> for MessageBody {
    fn from(m: ChatMessage) -> Self {
        MessageBody {
            id: m.id,
            session_id: m.session_id,
            message: m.message,
            sender_type: m.sender_type.as_str().to_owned(),
            sender_name: m.sender_name,
            created_at: m.created_at,
            task_id: m.task_id,
        }
    }
}

impl From<MessageBody> for ChatMessage {
    fn from(m: MessageBody) -> Self {
        ChatMessage {
            sender_type: crate::system::SenderType::parse(&m.sender_type),
            id: m.id,
            session_id: m.session_id,
            message: m.message,
            sender_name: m.sender_name,
            created_at: m.created_at,
            task_id: m.task_id,
        }
    }
}

/// The answer to a task: `{ "result": { "taskId", "sessionId", "content" } }`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct TaskAnswer {
    /// The stored turn.
    pub result: TaskResult,
}

/// A stored turn, in a [`TaskAnswer`].
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct TaskResult {
    /// The turn's task id.
    pub task_id: String,
    /// The session it was stored in (new, when the task named none).
    pub session_id: String,
    /// The agent's reply (not every gateway sends it).
    #[serde(default)]
    pub content: Option<String>,
}

impl From<Turn> for TaskAnswer {
    fn from(t: Turn) -> Self {
        TaskAnswer {
            result: TaskResult {
                task_id: t.task_id,
                session_id: t.session_id,
                content: Some(t.content),
            },
        }
    }
}
