//! The gateway component: users' sessions and chat history, over the gateway database.
//!
//! Every operation is scoped to the calling user: another user's session is
//! [`PersistError::SessionNotFound`], exactly like a session that does not exist.
//!
//! # What a failed turn stores
//! A turn ([`GatewayComponent::send_message`]) is stored whole or not at all, in both databases:
//! - input is validated before anything is sent or stored;
//! - the agent runs the turn and stores it atomically in its own database; if the model or the
//!   agent fails, the agent stores nothing and the gateway stores nothing;
//! - the gateway then stores the user message, the reply and the session's new `updated_at` in
//!   one transaction; if that fails, the gateway asks the agent to discard the turn by its task
//!   id, so neither database keeps half of it.

use std::collections::BTreeMap;
use std::sync::Arc;

use super::agent::AgentHandle;
use super::entity::{chat_message, session};
use super::{now_millis, validate_agent_name, validate_message, validate_user_id};
use crate::error::{DbContext, PersistError, Result};
use crate::system::{AgentRequest, ChatMessage, GatewayApi, SenderType, Session, Turn};
use sea_orm::{
    ActiveModelTrait, ColumnTrait, DatabaseConnection, EntityTrait, QueryFilter, QueryOrder, Set,
    TransactionTrait,
};

const DB: &str = "gateway";

impl From<session::Model> for Session {
    fn from(m: session::Model) -> Self {
        Session {
            id: m.id,
            name: m.name,
            user_id: m.user_id,
            agent_name: m.agent_name,
            created_at: m.created_at,
            updated_at: m.updated_at,
            last_active_at: m.last_active_at,
        }
    }
}

impl From<chat_message::Model> for ChatMessage {
    fn from(m: chat_message::Model) -> Self {
        ChatMessage {
            sender_type: SenderType::parse(&m.sender_type),
            id: m.id,
            session_id: m.session_id,
            message: m.message,
            sender_name: m.sender_name,
            created_at: m.created_at,
            task_id: m.task_id,
        }
    }
}

/// The gateway: owns the gateway database and routes turns to agents.
#[derive(Clone, Debug)]
pub struct GatewayComponent {
    db: DatabaseConnection,
    agents: Arc<BTreeMap<String, AgentHandle>>,
}

impl GatewayComponent {
    /// A gateway over `db` that routes to `agents`.
    pub fn new(db: DatabaseConnection, agents: impl IntoIterator<Item = AgentHandle>) -> Self {
        let agents = agents
            .into_iter()
            .map(|a| (a.name().to_owned(), a))
            .collect();
        GatewayComponent {
            db,
            agents: Arc::new(agents),
        }
    }

    /// The gateway database.
    pub fn connection(&self) -> &DatabaseConnection {
        &self.db
    }

    /// The agents this gateway routes to, by name.
    pub fn agent(&self, name: &str) -> Result<&AgentHandle> {
        self.agents
            .get(name)
            .ok_or_else(|| PersistError::UnknownAgent {
                name: name.to_owned(),
                known: self.agents.keys().cloned().collect(),
            })
    }

    /// Creates a session for `user_id` with `agent_name`.
    pub async fn create_session(&self, user_id: &str, agent_name: &str) -> Result<Session> {
        validate_user_id(user_id)?;
        validate_agent_name(agent_name)?;
        self.agent(agent_name)?;
        let now = now_millis();
        let model = session::ActiveModel {
            id: Set(uuid::Uuid::new_v4().to_string()),
            name: Set(None),
            user_id: Set(user_id.to_owned()),
            agent_name: Set(agent_name.to_owned()),
            created_at: Set(now),
            updated_at: Set(now),
            last_active_at: Set(Some(now)),
        }
        .insert(&self.db)
        .await
        .context(DB, "creating a session")?;
        Ok(model.into())
    }

    /// The user's session, compared byte for byte: a collation that ignores case, accents or
    /// trailing spaces (MariaDB's default) must not let `ALICE` reach `alice`'s session, nor
    /// `ID ` reach `id`.
    async fn owned(&self, user_id: &str, session_id: &str) -> Result<session::Model> {
        validate_user_id(user_id)?;
        session::Entity::find_by_id(session_id)
            .filter(session::Column::UserId.eq(user_id))
            .all(&self.db)
            .await
            .context(DB, "loading a session")?
            .into_iter()
            .find(|row| row.id == session_id && row.user_id == user_id)
            .ok_or_else(|| PersistError::SessionNotFound {
                session_id: session_id.to_owned(),
                user_id: user_id.to_owned(),
            })
    }

    /// One of the user's sessions.
    pub async fn get_session(&self, user_id: &str, session_id: &str) -> Result<Session> {
        self.owned(user_id, session_id).await.map(Session::from)
    }

    /// The user's sessions, most recently updated first.
    pub async fn list_sessions(&self, user_id: &str) -> Result<Vec<Session>> {
        validate_user_id(user_id)?;
        let rows = session::Entity::find()
            .filter(session::Column::UserId.eq(user_id))
            .order_by_desc(session::Column::UpdatedAt)
            .order_by_desc(session::Column::Id)
            .all(&self.db)
            .await
            .context(DB, "listing sessions")?;
        Ok(rows
            .into_iter()
            .filter(|row| row.user_id == user_id)
            .map(Session::from)
            .collect())
    }

    /// A session's history, oldest first.
    pub async fn session_messages(
        &self,
        user_id: &str,
        session_id: &str,
    ) -> Result<Vec<ChatMessage>> {
        let session = self.owned(user_id, session_id).await?;
        let rows = chat_message::Entity::find()
            .filter(chat_message::Column::SessionId.eq(&session.id))
            .order_by_asc(chat_message::Column::CreatedAt)
            .order_by_asc(chat_message::Column::Id)
            .all(&self.db)
            .await
            .context(DB, "loading messages")?;
        Ok(rows
            .into_iter()
            .filter(|row| row.session_id == session.id)
            .map(ChatMessage::from)
            .collect())
    }

    /// Renames a session. The name is trimmed and may not be blank.
    pub async fn rename_session(
        &self,
        user_id: &str,
        session_id: &str,
        name: &str,
    ) -> Result<Session> {
        let name = name.trim();
        if name.is_empty() {
            return Err(PersistError::InvalidInput {
                field: "name",
                reason: "must not be blank".into(),
            });
        }
        let mut row: session::ActiveModel = self.owned(user_id, session_id).await?.into();
        row.name = Set(Some(name.to_owned()));
        row.updated_at = Set(now_millis());
        Ok(row
            .update(&self.db)
            .await
            .context(DB, "renaming a session")?
            .into())
    }

    /// Makes a session the user's active one: records now as its `last_active_at`.
    pub async fn switch_session(&self, user_id: &str, session_id: &str) -> Result<Session> {
        let mut row: session::ActiveModel = self.owned(user_id, session_id).await?.into();
        row.last_active_at = Set(Some(now_millis()));
        Ok(row
            .update(&self.db)
            .await
            .context(DB, "switching session")?
            .into())
    }

    /// Deletes a session: first the agent's side, then the gateway's (its messages cascade).
    ///
    /// Returns `false` if the user has no such session. The agent goes first so that a failure
    /// can never leave agent rows behind a deleted gateway session.
    pub async fn delete_session(&self, user_id: &str, session_id: &str) -> Result<bool> {
        let row = match self.owned(user_id, session_id).await {
            Ok(row) => row,
            Err(PersistError::SessionNotFound { .. }) => return Ok(false),
            Err(e) => return Err(e),
        };
        if let Ok(agent) = self.agent(&row.agent_name) {
            agent.delete_session(&row.id).await?;
        }
        let deleted = session::Entity::delete_by_id(&row.id)
            .exec(&self.db)
            .await
            .context(DB, "deleting a session")?;
        Ok(deleted.rows_affected > 0)
    }

    /// Runs one turn: stores the user's message and the agent's reply (see the module docs for
    /// what is stored on failure).
    pub async fn send_message(
        &self,
        user_id: &str,
        session_id: &str,
        message: &str,
    ) -> Result<Turn> {
        validate_message(message)?;
        let row = self.owned(user_id, session_id).await?;
        self.turn(row, false, message).await
    }

    /// Starts a session with its first turn: the session and both messages are stored in one
    /// transaction, after the agent answered, so a failed first turn leaves no session.
    pub async fn start_session(
        &self,
        user_id: &str,
        agent_name: &str,
        message: &str,
    ) -> Result<Turn> {
        validate_user_id(user_id)?;
        validate_agent_name(agent_name)?;
        validate_message(message)?;
        self.agent(agent_name)?;
        let now = now_millis();
        let row = session::Model {
            id: uuid::Uuid::new_v4().to_string(),
            name: None,
            user_id: user_id.to_owned(),
            agent_name: agent_name.to_owned(),
            created_at: now,
            updated_at: now,
            last_active_at: Some(now),
        };
        self.turn(row, true, message).await
    }

    /// Asks the agent, then stores the turn (and, when `new`, the session row).
    async fn turn(&self, row: session::Model, new: bool, message: &str) -> Result<Turn> {
        let session_id = row.id.clone();
        let agent = self.agent(&row.agent_name)?;
        let task_id = uuid::Uuid::new_v4().to_string();
        let content = agent
            .send(AgentRequest {
                session_id: session_id.clone(),
                user_id: row.user_id.clone(),
                task_id: task_id.clone(),
                message: message.to_owned(),
            })
            .await?;
        let session_id = session_id.as_str();
        if let Err(error) = self.store_turn(row, new, &task_id, message, &content).await {
            // Best effort: the original error is the one worth reporting.
            if let Err(undo) = agent.discard_turn(session_id, &task_id).await {
                tracing::error!(%undo, session_id, task_id, "could not discard the agent's side of a failed turn");
            }
            return Err(error);
        }
        Ok(Turn {
            session_id: session_id.to_owned(),
            task_id,
            content,
        })
    }

    async fn store_turn(
        &self,
        row: session::Model,
        new: bool,
        task_id: &str,
        message: &str,
        reply: &str,
    ) -> Result<()> {
        let txn = self.db.begin().await.context(DB, "starting a turn")?;
        if new {
            session::ActiveModel::from(row.clone())
                .reset_all()
                .insert(&txn)
                .await
                .context(DB, "creating a session")?;
        }
        let asked_at = now_millis();
        let answered_at = now_millis();
        let messages = [
            (SenderType::User, row.user_id.clone(), message, asked_at),
            (
                SenderType::Agent,
                row.agent_name.clone(),
                reply,
                answered_at,
            ),
        ];
        for (sender_type, sender_name, text, created_at) in messages {
            chat_message::ActiveModel {
                id: Set(uuid::Uuid::new_v4().to_string()),
                session_id: Set(row.id.clone()),
                message: Set(text.to_owned()),
                sender_type: Set(sender_type.as_str().to_owned()),
                sender_name: Set(sender_name),
                created_at: Set(created_at),
                task_id: Set(Some(task_id.to_owned())),
            }
            .insert(&txn)
            .await
            .context(DB, "storing a chat message")?;
        }
        let mut session: session::ActiveModel = row.into();
        session.updated_at = Set(answered_at);
        session
            .update(&txn)
            .await
            .context(DB, "updating the session")?;
        txn.commit().await.context(DB, "committing a turn")
    }
}

#[async_trait::async_trait]
impl GatewayApi for GatewayComponent {
    async fn create_session(&self, user_id: &str, agent_name: &str) -> Result<Session> {
        GatewayComponent::create_session(self, user_id, agent_name).await
    }

    async fn send_message(&self, user_id: &str, session_id: &str, message: &str) -> Result<Turn> {
        GatewayComponent::send_message(self, user_id, session_id, message).await
    }

    async fn list_sessions(&self, user_id: &str) -> Result<Vec<Session>> {
        GatewayComponent::list_sessions(self, user_id).await
    }

    async fn get_session(&self, user_id: &str, session_id: &str) -> Result<Session> {
        GatewayComponent::get_session(self, user_id, session_id).await
    }

    async fn session_messages(&self, user_id: &str, session_id: &str) -> Result<Vec<ChatMessage>> {
        GatewayComponent::session_messages(self, user_id, session_id).await
    }

    async fn rename_session(&self, user_id: &str, session_id: &str, name: &str) -> Result<Session> {
        GatewayComponent::rename_session(self, user_id, session_id, name).await
    }

    async fn delete_session(&self, user_id: &str, session_id: &str) -> Result<bool> {
        GatewayComponent::delete_session(self, user_id, session_id).await
    }

    async fn start_session(&self, user_id: &str, agent_name: &str, message: &str) -> Result<Turn> {
        GatewayComponent::start_session(self, user_id, agent_name, message).await
    }

    async fn switch_session(&self, user_id: &str, session_id: &str) -> Result<Session> {
        GatewayComponent::switch_session(self, user_id, session_id).await
    }
}
