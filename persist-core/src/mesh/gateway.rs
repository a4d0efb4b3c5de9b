//! The gateway component: users' sessions and chat history, over the gateway database.
//!
//! Every operation is scoped to the calling user, and ids are compared byte for byte on every
//! backend: another user's session (also a look-alike user, `ALICE` for `alice`) is
//! [`PersistError::SessionNotFound`], exactly like a session that does not exist.
//!
//! # Turns are whole or absent
//! A turn ([`GatewayComponent::send_message`]) is stored whole or not at all, in both databases,
//! whatever the caller does:
//! - input is validated before anything is sent or stored, identically on every backend;
//! - turns of one session run one at a time, in the order they arrive: the gateway and the
//!   agent store them in the same order, and a turn that is rolled back is gone before the
//!   next one starts, so no later context ever shows it;
//! - the agent runs the turn and stores it atomically in its own database; if the model or the
//!   agent fails, neither database stores anything;
//! - the gateway then stores the user message, the reply and the session's new `updated_at` in
//!   one transaction; if that fails, the agent discards the turn by its task id;
//! - the turn runs on a task of its own: a caller that stops waiting (a timeout, an aborted
//!   task) does not cut it in half, and [`Mesh::shutdown`](super::Mesh::shutdown) waits for
//!   it;
//! - deadlocks and serialization failures are tried again with a bounded backoff.
//!
//! A delete is whole or absent too: the gateway's rows go in a transaction that commits only
//! after the agent's side is gone.

use std::collections::BTreeMap;
use std::sync::Arc;

use sea_orm::{
    ActiveModelTrait, ColumnTrait, DatabaseConnection, EntityTrait, QueryFilter, QueryOrder, Set,
    TransactionTrait,
};

use super::agent::AgentHandle;
use super::entity::{chat_message, session};
use super::queues::{Queues, detached, open};
use super::{
    now_millis, plausible_id, retry, validate_agent_name, validate_message, validate_session_name,
    validate_user_id,
};
use crate::error::{DbContext, PersistError, Result};
use crate::system::{AgentRequest, ChatMessage, GatewayApi, SenderType, Session, Turn};

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
    queues: Arc<Queues>,
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
            queues: Arc::default(),
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

    /// Waits until no turn or delete is in flight (those that callers stopped waiting for
    /// included).
    pub async fn wait_idle(&self) {
        self.queues.wait_idle().await;
    }

    /// Waits for the work in flight, then refuses new turns and deletes.
    pub(crate) async fn close(&self) {
        self.queues.close().await;
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
        };
        let row = retry("creating a session", || async {
            model
                .clone()
                .insert(&self.db)
                .await
                .context(DB, "creating a session")
        })
        .await?;
        Ok(row.into())
    }

    /// The user's session, compared byte for byte: a collation that ignores case, accents or
    /// trailing spaces (MariaDB's default) must not let `ALICE` reach `alice`'s session, nor
    /// `ID ` reach `id`.
    async fn owned(&self, user_id: &str, session_id: &str) -> Result<session::Model> {
        validate_user_id(user_id)?;
        let not_found = || PersistError::SessionNotFound {
            session_id: session_id.to_owned(),
            user_id: user_id.to_owned(),
        };
        if !plausible_id(session_id) {
            return Err(not_found());
        }
        session::Entity::find_by_id(session_id)
            .filter(session::Column::UserId.eq(user_id))
            .all(&self.db)
            .await
            .context(DB, "loading a session")?
            .into_iter()
            .find(|row| row.id == session_id && row.user_id == user_id)
            .ok_or_else(not_found)
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

    /// Renames a session. The name is trimmed: 1–255 characters, no NUL.
    pub async fn rename_session(
        &self,
        user_id: &str,
        session_id: &str,
        name: &str,
    ) -> Result<Session> {
        let name = validate_session_name(name)?;
        let row = self.owned(user_id, session_id).await?;
        let mut update: session::ActiveModel = row.into();
        update.name = Set(Some(name));
        update.updated_at = Set(now_millis());
        self.update_session(update, "renaming a session").await
    }

    /// Writes `update` and answers with the row as this write left it. On MySQL an update is
    /// a write and then a read: in one transaction, the row stays locked between the two, so
    /// a concurrent write cannot slip in and be answered instead.
    async fn update_session(
        &self,
        update: session::ActiveModel,
        operation: &'static str,
    ) -> Result<Session> {
        let row = retry(operation, || async {
            let txn = self.db.begin().await.context(DB, operation)?;
            let row = update.clone().update(&txn).await.context(DB, operation)?;
            txn.commit().await.context(DB, operation)?;
            Ok(row)
        })
        .await?;
        Ok(row.into())
    }

    /// Makes a session the user's active one: records now as its `last_active_at`.
    pub async fn switch_session(&self, user_id: &str, session_id: &str) -> Result<Session> {
        let mut update: session::ActiveModel = self.owned(user_id, session_id).await?.into();
        update.last_active_at = Set(Some(now_millis()));
        self.update_session(update, "switching session").await
    }

    /// Deletes a session, in the gateway and in its agent; `false` if the user has no such
    /// session. Whole or absent: the gateway's rows are deleted in a transaction that commits
    /// only after the agent's side is gone, after any turn of the session in flight.
    pub async fn delete_session(&self, user_id: &str, session_id: &str) -> Result<bool> {
        validate_user_id(user_id)?;
        let gate = self.queues.admit().await;
        let this = self.clone();
        let (user_id, session_id) = (user_id.to_owned(), session_id.to_owned());
        detached(async move {
            let _slot = this.queues.enter(&session_id).await;
            let row = match this.owned(&user_id, &session_id).await {
                Ok(row) => row,
                Err(PersistError::SessionNotFound { .. }) => return Ok(false),
                Err(e) => return Err(e),
            };
            open(&gate, &row.agent_name)?;
            retry("deleting a session", || this.delete_both(&row)).await?;
            Ok(true)
        })
        .await
    }

    async fn delete_both(&self, row: &session::Model) -> Result<()> {
        let txn = self.db.begin().await.context(DB, "starting a delete")?;
        chat_message::Entity::delete_many()
            .filter(chat_message::Column::SessionId.eq(&row.id))
            .exec(&txn)
            .await
            .context(DB, "deleting chat messages")?;
        session::Entity::delete_by_id(&row.id)
            .exec(&txn)
            .await
            .context(DB, "deleting a session")?;
        // The agent's side goes before the gateway commits: if it fails, nothing is deleted.
        if let Ok(agent) = self.agent(&row.agent_name) {
            agent.delete_session(&row.id).await?;
        }
        txn.commit().await.context(DB, "committing a delete")
    }

    /// Runs one turn: stores the user's message and the agent's reply (see the module docs for
    /// what is stored on failure, and for the order of concurrent turns).
    pub async fn send_message(
        &self,
        user_id: &str,
        session_id: &str,
        message: &str,
    ) -> Result<Turn> {
        validate_user_id(user_id)?;
        validate_message(message)?;
        let gate = self.queues.admit().await;
        let this = self.clone();
        let (user_id, session_id, message) = (
            user_id.to_owned(),
            session_id.to_owned(),
            message.to_owned(),
        );
        detached(async move {
            let _slot = this.queues.enter(&session_id).await;
            // Owned now, after the turns before it (a delete among them).
            let row = this.owned(&user_id, &session_id).await?;
            open(&gate, &row.agent_name)?;
            this.turn(row, false, &message).await
        })
        .await
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
        let gate = self.queues.admit().await;
        let this = self.clone();
        let message = message.to_owned();
        detached(async move {
            let _slot = this.queues.enter(&row.id).await;
            open(&gate, &row.agent_name)?;
            this.turn(row, true, &message).await
        })
        .await
    }

    /// Asks the agent, then stores the turn (and, when `new`, the session row).
    async fn turn(&self, row: session::Model, new: bool, message: &str) -> Result<Turn> {
        let agent = self.agent(&row.agent_name)?;
        let task_id = uuid::Uuid::new_v4().to_string();
        let content = agent
            .send(AgentRequest {
                session_id: row.id.clone(),
                user_id: row.user_id.clone(),
                task_id: task_id.clone(),
                message: message.to_owned(),
            })
            .await?;
        let session_id = row.id.clone();
        let stored = retry("storing a turn", || {
            self.store_turn(row.clone(), new, &task_id, message, &content)
        })
        .await;
        if let Err(error) = stored {
            // Best effort: the original error is the one worth reporting. The session's queue
            // is still held, so no later turn sees this one before it is gone.
            if let Err(undo) = agent.discard_turn(&session_id, &task_id).await {
                tracing::error!(%undo, session_id, task_id, "could not discard the agent's side of a failed turn");
            }
            return Err(error);
        }
        Ok(Turn {
            session_id,
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
        let asked_at = now_millis();
        let answered_at = now_millis();
        // The session row first: its lock comes before the messages' foreign-key checks, so
        // two writers of one session queue on it instead of deadlocking.
        let mut session: session::ActiveModel = row.clone().into();
        session.updated_at = Set(answered_at);
        if new {
            session::ActiveModel::from(row.clone())
                .reset_all()
                .insert(&txn)
                .await
                .context(DB, "creating a session")?;
        }
        session
            .update(&txn)
            .await
            .context(DB, "updating the session")?;
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
