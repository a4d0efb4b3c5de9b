//! Agent components: each runs as its own task behind a channel and owns its own database.
//!
//! A turn is atomic in the agent's database: the agent asks the model first, and only when the
//! model answered does it write, in one transaction, the session row (created on first use),
//! the user message, the reply and the new state. A model failure therefore stores nothing.

use std::sync::Arc;

use sea_orm::{
    ActiveModelTrait, ColumnTrait, DatabaseConnection, EntityTrait, QueryFilter, QueryOrder, Set,
    TransactionTrait,
};
use serde_json::json;
use tokio::sync::{mpsc, oneshot};
use tokio::task::JoinHandle;

use super::entity::{agent_message, agent_session};
use super::{now_millis, retry, validate_reply};
use crate::error::{DbContext, PersistError, Result};
use crate::system::{AgentApi, AgentRequest, ContextMessage, LanguageModel, LlmRequest};

enum Command {
    Handle(AgentRequest, oneshot::Sender<Result<String>>),
    Discard {
        session_id: String,
        task_id: String,
        reply: oneshot::Sender<Result<()>>,
    },
    Delete {
        session_id: String,
        reply: oneshot::Sender<Result<bool>>,
    },
}

/// A cheap, cloneable handle to a running agent.
#[derive(Clone, Debug)]
pub struct AgentHandle {
    name: Arc<str>,
    commands: mpsc::Sender<Command>,
    db: DatabaseConnection,
}

impl AgentHandle {
    /// Starts an agent named `name` over its database `db` on the current tokio runtime,
    /// asking `model`.
    pub fn spawn(
        name: impl Into<String>,
        db: DatabaseConnection,
        model: Arc<dyn LanguageModel>,
    ) -> (AgentHandle, JoinHandle<()>) {
        let name: Arc<str> = name.into().into();
        let (commands, mut inbox) = mpsc::channel(64);
        let agent = Agent {
            name: name.clone(),
            db: db.clone(),
            model,
        };
        let task = tokio::spawn(async move {
            // One command at a time: an agent's turns never interleave in its own database.
            while let Some(command) = inbox.recv().await {
                match command {
                    Command::Handle(request, reply) => {
                        let _ = reply.send(agent.handle(request).await);
                    }
                    Command::Discard {
                        session_id,
                        task_id,
                        reply,
                    } => {
                        let _ = reply.send(agent.discard(&session_id, &task_id).await);
                    }
                    Command::Delete { session_id, reply } => {
                        let _ = reply.send(agent.delete(&session_id).await);
                    }
                }
            }
        });
        (AgentHandle { name, commands, db }, task)
    }

    /// The agent's name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The agent's own database.
    pub fn connection(&self) -> &DatabaseConnection {
        &self.db
    }

    async fn call<T>(&self, make: impl FnOnce(oneshot::Sender<Result<T>>) -> Command) -> Result<T> {
        let unavailable = || PersistError::AgentUnavailable {
            agent: self.name.to_string(),
        };
        let (reply, answer) = oneshot::channel();
        self.commands
            .send(make(reply))
            .await
            .map_err(|_| unavailable())?;
        answer.await.map_err(|_| unavailable())?
    }

    /// Runs one turn: the agent asks the model with this session's history and stores the turn.
    pub async fn send(&self, request: AgentRequest) -> Result<String> {
        self.call(|reply| Command::Handle(request, reply)).await
    }

    /// Removes everything the agent stores for `session_id`; `true` if it had a session.
    pub async fn delete_session(&self, session_id: &str) -> Result<bool> {
        let session_id = session_id.to_owned();
        self.call(|reply| Command::Delete { session_id, reply })
            .await
    }

    /// Undoes one stored turn (used when the gateway could not store its side of it).
    pub(crate) async fn discard_turn(&self, session_id: &str, task_id: &str) -> Result<()> {
        let (session_id, task_id) = (session_id.to_owned(), task_id.to_owned());
        self.call(|reply| Command::Discard {
            session_id,
            task_id,
            reply,
        })
        .await
    }

    /// The agent's session row for a gateway session, if it has one.
    pub async fn session(&self, session_id: &str) -> Result<Option<agent_session::Model>> {
        Ok(agent_session::Entity::find_by_id(session_id)
            .one(&self.db)
            .await
            .context(self.label(), "loading an agent session")?
            .filter(|s| s.id == session_id))
    }

    /// The agent's messages for a gateway session, oldest first.
    pub async fn messages(&self, session_id: &str) -> Result<Vec<agent_message::Model>> {
        history(&self.db, session_id)
            .await
            .context(self.label(), "loading agent messages")
    }

    fn label(&self) -> String {
        format!("agent {}", self.name)
    }
}

async fn history(
    db: &impl sea_orm::ConnectionTrait,
    session_id: &str,
) -> std::result::Result<Vec<agent_message::Model>, sea_orm::DbErr> {
    let rows = agent_message::Entity::find()
        .filter(agent_message::Column::SessionId.eq(session_id))
        .order_by_asc(agent_message::Column::CreatedAt)
        .order_by_asc(agent_message::Column::Id)
        .all(db)
        .await?;
    // Byte for byte, whatever the collation.
    Ok(rows
        .into_iter()
        .filter(|m| m.session_id == session_id)
        .collect())
}

struct Agent {
    name: Arc<str>,
    db: DatabaseConnection,
    model: Arc<dyn LanguageModel>,
}

impl Agent {
    fn label(&self) -> String {
        format!("agent {}", self.name)
    }

    async fn handle(&self, request: AgentRequest) -> Result<String> {
        let label = self.label();
        let existing = agent_session::Entity::find_by_id(&request.session_id)
            .one(&self.db)
            .await
            .context(&label, "loading the agent session")?;
        // Byte for byte, whatever the collation: a look-alike id or user is another one.
        if let Some(session) = &existing
            && (session.user_id != request.user_id || session.id != request.session_id)
        {
            return Err(PersistError::SessionNotFound {
                session_id: request.session_id,
                user_id: request.user_id,
            });
        }
        let past = history(&self.db, &request.session_id)
            .await
            .context(&label, "loading the session history")?;
        let context = past
            .iter()
            .map(|m| ContextMessage {
                role: m.role.clone(),
                content: m.content.clone(),
            })
            .collect();
        let reply = self
            .model
            .complete(LlmRequest {
                agent: self.name.to_string(),
                session_id: request.session_id.clone(),
                user_id: request.user_id.clone(),
                task_id: request.task_id.clone(),
                message: request.message.clone(),
                context,
            })
            .await
            .map_err(|e| PersistError::Llm {
                agent: self.name.to_string(),
                reason: e.0,
            })?;

        validate_reply(&self.name, &reply)?;
        let turns = past.len() / 2 + 1;
        retry("storing a turn", || {
            self.store(&request, existing.clone(), &reply, turns)
        })
        .await?;
        Ok(reply)
    }

    /// Writes one turn in one transaction: the session (created or updated), both messages.
    async fn store(
        &self,
        request: &AgentRequest,
        existing: Option<agent_session::Model>,
        reply: &str,
        turns: usize,
    ) -> Result<()> {
        let label = self.label();
        let state = json!({
            "turns": turns,
            "last_task_id": request.task_id,
            "last_user_message": request.message,
        });
        let txn = self.db.begin().await.context(&label, "starting a turn")?;
        let asked_at = now_millis();
        let answered_at = now_millis();
        match existing {
            Some(session) => {
                let mut session: agent_session::ActiveModel = session.into();
                session.state = Set(state);
                session.updated_at = Set(answered_at);
                session.update(&txn).await
            }
            None => {
                agent_session::ActiveModel {
                    id: Set(request.session_id.clone()),
                    user_id: Set(request.user_id.clone()),
                    agent_name: Set(self.name.to_string()),
                    state: Set(state),
                    created_at: Set(asked_at),
                    updated_at: Set(answered_at),
                }
                .insert(&txn)
                .await
            }
        }
        .context(&label, "storing the agent session")?;
        for (role, content, created_at) in [
            ("user", request.message.clone(), asked_at),
            ("assistant", reply.to_owned(), answered_at),
        ] {
            agent_message::ActiveModel {
                id: Set(uuid::Uuid::new_v4().to_string()),
                session_id: Set(request.session_id.clone()),
                role: Set(role.to_owned()),
                content: Set(content),
                task_id: Set(request.task_id.clone()),
                created_at: Set(created_at),
            }
            .insert(&txn)
            .await
            .context(&label, "storing an agent message")?;
        }
        txn.commit().await.context(&label, "committing a turn")
    }

    async fn discard(&self, session_id: &str, task_id: &str) -> Result<()> {
        retry("discarding a turn", || {
            self.discard_once(session_id, task_id)
        })
        .await
    }

    async fn discard_once(&self, session_id: &str, task_id: &str) -> Result<()> {
        let label = self.label();
        let txn = self
            .db
            .begin()
            .await
            .context(&label, "starting a discard")?;
        agent_message::Entity::delete_many()
            .filter(agent_message::Column::SessionId.eq(session_id))
            .filter(agent_message::Column::TaskId.eq(task_id))
            .exec(&txn)
            .await
            .context(&label, "discarding a turn")?;
        let remaining = history(&txn, session_id)
            .await
            .context(&label, "loading the session history")?;
        match remaining.last() {
            // The discarded turn created the session: remove it too.
            None => {
                agent_session::Entity::delete_by_id(session_id)
                    .exec(&txn)
                    .await
                    .context(&label, "discarding a session")?;
            }
            Some(last) => {
                if let Some(session) = agent_session::Entity::find_by_id(session_id)
                    .one(&txn)
                    .await
                    .context(&label, "loading the agent session")?
                {
                    let last_user = remaining.iter().rev().find(|m| m.role == "user");
                    let mut session: agent_session::ActiveModel = session.into();
                    session.state = Set(json!({
                        "turns": remaining.len() / 2,
                        "last_task_id": last.task_id,
                        "last_user_message": last_user.map(|m| m.content.clone()),
                    }));
                    // As it was before the discarded turn: the time of the last kept reply.
                    session.updated_at = Set(last.created_at);
                    session
                        .update(&txn)
                        .await
                        .context(&label, "restoring state")?;
                }
            }
        }
        txn.commit().await.context(&label, "committing a discard")
    }

    async fn delete(&self, session_id: &str) -> Result<bool> {
        retry("deleting a session", || self.delete_once(session_id)).await
    }

    async fn delete_once(&self, session_id: &str) -> Result<bool> {
        let label = self.label();
        // Byte for byte: a look-alike id (another case, trailing spaces) is not this session,
        // even where the collation says it is.
        if let Some(session) = agent_session::Entity::find_by_id(session_id)
            .one(&self.db)
            .await
            .context(&label, "loading the agent session")?
            && session.id != session_id
        {
            return Ok(false);
        }
        let txn = self.db.begin().await.context(&label, "starting a delete")?;
        // Delete the messages explicitly rather than trusting every backend's cascade.
        agent_message::Entity::delete_many()
            .filter(agent_message::Column::SessionId.eq(session_id))
            .exec(&txn)
            .await
            .context(&label, "deleting agent messages")?;
        let deleted = agent_session::Entity::delete_by_id(session_id)
            .exec(&txn)
            .await
            .context(&label, "deleting the agent session")?;
        txn.commit().await.context(&label, "committing a delete")?;
        Ok(deleted.rows_affected > 0)
    }
}

#[async_trait::async_trait]
impl AgentApi for AgentHandle {
    fn name(&self) -> &str {
        &self.name
    }

    async fn send(&self, request: AgentRequest) -> Result<String> {
        AgentHandle::send(self, request).await
    }

    async fn delete_session(&self, session_id: &str) -> Result<bool> {
        AgentHandle::delete_session(self, session_id).await
    }
}
