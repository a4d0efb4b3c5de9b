//! The rows the inspector reads, as plain data (its own types: it never uses the mesh's).

use std::fmt;

use sea_orm::{DbErr, QueryResult};
use serde::Serialize;

/// A row of the gateway's `sessions`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct GatewaySessionRow {
    /// `id`.
    pub id: String,
    /// `name`.
    pub name: Option<String>,
    /// `user_id`.
    pub user_id: String,
    /// `agent_name`.
    pub agent_name: String,
    /// `created_at`, epoch milliseconds.
    pub created_at: i64,
    /// `updated_at`, epoch milliseconds.
    pub updated_at: i64,
}

/// A row of the gateway's `chat_messages`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct GatewayMessageRow {
    /// `id`.
    pub id: String,
    /// `session_id`.
    pub session_id: String,
    /// `message`.
    pub message: String,
    /// `sender_type`: `user`, `agent` or `system`.
    pub sender_type: String,
    /// `sender_name`.
    pub sender_name: String,
    /// `task_id`.
    pub task_id: Option<String>,
    /// `created_at`, epoch milliseconds.
    pub created_at: i64,
}

/// A row of an agent's `agent_sessions`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct AgentSessionRow {
    /// The agent database it was read from.
    pub database: String,
    /// `id` (the gateway session id).
    pub id: String,
    /// `user_id`.
    pub user_id: String,
    /// `agent_name`.
    pub agent_name: String,
    /// `state`.
    pub state: serde_json::Value,
}

/// A row of an agent's `agent_messages`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct AgentMessageRow {
    /// The agent database it was read from.
    pub database: String,
    /// `id`.
    pub id: String,
    /// `session_id`.
    pub session_id: String,
    /// `role`: `user` or `assistant`.
    pub role: String,
    /// `content`.
    pub content: String,
    /// `task_id`.
    pub task_id: String,
    /// `created_at`, epoch milliseconds.
    pub created_at: i64,
}

impl GatewaySessionRow {
    pub(crate) fn read(row: &QueryResult) -> Result<Self, DbErr> {
        Ok(GatewaySessionRow {
            id: row.try_get("", "id")?,
            name: row.try_get("", "name")?,
            user_id: row.try_get("", "user_id")?,
            agent_name: row.try_get("", "agent_name")?,
            created_at: row.try_get("", "created_at")?,
            updated_at: row.try_get("", "updated_at")?,
        })
    }
}

impl GatewayMessageRow {
    pub(crate) fn read(row: &QueryResult) -> Result<Self, DbErr> {
        Ok(GatewayMessageRow {
            id: row.try_get("", "id")?,
            session_id: row.try_get("", "session_id")?,
            message: row.try_get("", "message")?,
            sender_type: row.try_get("", "sender_type")?,
            sender_name: row.try_get("", "sender_name")?,
            task_id: row.try_get("", "task_id")?,
            created_at: row.try_get("", "created_at")?,
        })
    }
}

impl AgentSessionRow {
    pub(crate) fn read(database: &str, row: &QueryResult) -> Result<Self, DbErr> {
        // Backends hand JSON back as JSON or as text; accept both.
        let state = match row.try_get::<serde_json::Value>("", "state") {
            Ok(value) => value,
            Err(_) => {
                let text: String = row.try_get("", "state")?;
                serde_json::from_str(&text).map_err(|e| DbErr::Json(e.to_string()))?
            }
        };
        Ok(AgentSessionRow {
            database: database.to_owned(),
            id: row.try_get("", "id")?,
            user_id: row.try_get("", "user_id")?,
            agent_name: row.try_get("", "agent_name")?,
            state,
        })
    }
}

impl AgentMessageRow {
    pub(crate) fn read(database: &str, row: &QueryResult) -> Result<Self, DbErr> {
        Ok(AgentMessageRow {
            database: database.to_owned(),
            id: row.try_get("", "id")?,
            session_id: row.try_get("", "session_id")?,
            role: row.try_get("", "role")?,
            content: row.try_get("", "content")?,
            task_id: row.try_get("", "task_id")?,
            created_at: row.try_get("", "created_at")?,
        })
    }
}

fn clip(text: &str) -> String {
    const MAX: usize = 60;
    if text.chars().count() <= MAX {
        format!("{text:?}")
    } else {
        format!("{:?}…", text.chars().take(MAX).collect::<String>())
    }
}

impl fmt::Display for GatewaySessionRow {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "gateway sessions(id={}, user_id={}, agent_name={}, name={:?}, updated_at={})",
            self.id, self.user_id, self.agent_name, self.name, self.updated_at
        )
    }
}

impl fmt::Display for GatewayMessageRow {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "gateway chat_messages(id={}, session_id={}, {} {}: {}, task_id={})",
            self.id,
            self.session_id,
            self.sender_type,
            self.sender_name,
            clip(&self.message),
            self.task_id.as_deref().unwrap_or("-")
        )
    }
}

impl fmt::Display for AgentSessionRow {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} agent_sessions(id={}, user_id={}, agent_name={}, state={})",
            self.database, self.id, self.user_id, self.agent_name, self.state
        )
    }
}

impl fmt::Display for AgentMessageRow {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} agent_messages(id={}, session_id={}, {}: {}, task_id={})",
            self.database,
            self.id,
            self.session_id,
            self.role,
            clip(&self.content),
            self.task_id
        )
    }
}

/// Rows as an indented list, for failure messages; `(no rows)` when empty.
pub(crate) fn list<T: fmt::Display>(rows: &[T]) -> String {
    if rows.is_empty() {
        return "    (no rows)".to_owned();
    }
    rows.iter()
        .map(|row| format!("    {row}"))
        .collect::<Vec<_>>()
        .join("\n")
}
