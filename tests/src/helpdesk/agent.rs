//! A helpdesk agent: keeps each session's events in its own database, one turn at a time.

use std::sync::Arc;

use persist_core::async_trait;
use persist_core::system::{AgentApi, AgentRequest, ContextMessage, LanguageModel, LlmRequest};
use persist_core::{PersistError, Result};
use sea_orm::{
    ActiveModelTrait, ColumnTrait, DatabaseConnection, DbErr, EntityTrait, QueryFilter, QueryOrder,
    Set, TransactionTrait,
};
use serde_json::json;

use super::entity::{adk_session, event};
use super::now_millis;

/// Wraps a driver error with the agent and what was being done.
pub(crate) fn failed(database: &str, operation: &str) -> impl FnOnce(DbErr) -> PersistError {
    let (database, operation) = (database.to_owned(), operation.to_owned());
    move |source| PersistError::Database {
        database,
        operation,
        source,
    }
}

/// One helpdesk agent. Clones share the agent.
#[derive(Clone)]
pub struct HelpdeskAgent {
    name: Arc<str>,
    db: DatabaseConnection,
    model: Arc<dyn LanguageModel>,
    turns: Arc<tokio::sync::Mutex<()>>,
}

fn text(content: &serde_json::Value) -> String {
    content["parts"][0]["text"]
        .as_str()
        .unwrap_or_default()
        .to_owned()
}

impl HelpdeskAgent {
    /// An agent named `name` over its database, asking `model`.
    pub fn new(name: &str, db: DatabaseConnection, model: Arc<dyn LanguageModel>) -> Self {
        HelpdeskAgent {
            name: name.into(),
            db,
            model,
            turns: Arc::default(),
        }
    }

    fn label(&self) -> String {
        format!("agent {}", self.name)
    }

    /// Starts a transaction for `operation`.
    async fn begin(&self, operation: &str) -> Result<sea_orm::DatabaseTransaction> {
        self.db
            .begin()
            .await
            .map_err(failed(&self.label(), operation))
    }

    /// Removes one turn's events (the gateway could not store its side); a session left
    /// without events goes too.
    pub async fn discard(&self, session_id: &str, turn: &str) -> Result<()> {
        let _turn = self.turns.lock().await;
        let label = self.label();
        let txn = self.begin("discarding").await?;
        event::Entity::delete_many()
            .filter(event::Column::SessionId.eq(session_id))
            .filter(event::Column::InvocationId.eq(turn))
            .exec(&txn)
            .await
            .map_err(failed(&label, "discarding a turn"))?;
        let left = event::Entity::find()
            .filter(event::Column::SessionId.eq(session_id))
            .one(&txn)
            .await
            .map_err(failed(&label, "reading events"))?;
        if left.is_none() {
            adk_session::Entity::delete_many()
                .filter(adk_session::Column::AppName.eq(&*self.name))
                .filter(adk_session::Column::Id.eq(session_id))
                .exec(&txn)
                .await
                .map_err(failed(&label, "discarding a session"))?;
        }
        txn.commit().await.map_err(failed(&label, "committing"))
    }
}

#[async_trait]
impl AgentApi for HelpdeskAgent {
    fn name(&self) -> &str {
        &self.name
    }

    async fn send(&self, request: AgentRequest) -> Result<String> {
        let _turn = self.turns.lock().await;
        let label = self.label();
        let existing = adk_session::Entity::find()
            .filter(adk_session::Column::AppName.eq(&*self.name))
            .filter(adk_session::Column::Id.eq(&request.session_id))
            .one(&self.db)
            .await
            .map_err(failed(&label, "loading a session"))?;
        if existing
            .as_ref()
            .is_some_and(|s| s.user_id != request.user_id)
        {
            return Err(PersistError::SessionNotFound {
                session_id: request.session_id,
                user_id: request.user_id,
            });
        }
        let history = event::Entity::find()
            .filter(event::Column::AppName.eq(&*self.name))
            .filter(event::Column::SessionId.eq(&request.session_id))
            .order_by_asc(event::Column::Timestamp)
            .order_by_asc(event::Column::Id)
            .all(&self.db)
            .await
            .map_err(failed(&label, "loading events"))?;
        let context = history
            .iter()
            .map(|e| ContextMessage {
                role: if e.author == "user" {
                    "user"
                } else {
                    "assistant"
                }
                .to_owned(),
                content: text(&e.content),
            })
            .collect();
        let reply = self
            .model
            .complete(
                LlmRequest::new(
                    &*self.name,
                    &request.session_id,
                    &request.user_id,
                    &request.task_id,
                    &request.message,
                )
                .with_context(context),
            )
            .await
            .map_err(|e| PersistError::Llm {
                agent: self.name.to_string(),
                reason: e.0,
            })?;

        let txn = self.begin("starting a turn").await?;
        let (asked, answered) = (now_millis() as f64 / 1000.0, now_millis() as f64 / 1000.0);
        let state = json!({ "turns": history.len() / 2 + 1, "last_invocation": request.task_id });
        match existing {
            Some(session) => {
                let mut session: adk_session::ActiveModel = session.into();
                session.state = Set(state);
                session.update_time = Set(answered);
                session.update(&txn).await.map(drop)
            }
            None => adk_session::ActiveModel {
                app_name: Set(self.name.to_string()),
                user_id: Set(request.user_id.clone()),
                id: Set(request.session_id.clone()),
                state: Set(state),
                create_time: Set(asked),
                update_time: Set(answered),
            }
            .insert(&txn)
            .await
            .map(drop),
        }
        .map_err(failed(&label, "storing the session"))?;
        for (author, role, content, at) in [
            ("user", "user", request.message.as_str(), asked),
            (&*self.name, "model", reply.as_str(), answered),
        ] {
            event::ActiveModel {
                id: Set(uuid::Uuid::new_v4().to_string()),
                app_name: Set(self.name.to_string()),
                user_id: Set(request.user_id.clone()),
                session_id: Set(request.session_id.clone()),
                invocation_id: Set(request.task_id.clone()),
                author: Set(author.to_owned()),
                content: Set(json!({ "role": role, "parts": [{ "text": content }] })),
                timestamp: Set(at),
            }
            .insert(&txn)
            .await
            .map_err(failed(&label, "storing an event"))?;
        }
        txn.commit()
            .await
            .map_err(failed(&label, "committing a turn"))?;
        Ok(reply)
    }

    async fn delete_session(&self, session_id: &str) -> Result<bool> {
        let _turn = self.turns.lock().await;
        let label = self.label();
        let txn = self.begin("starting a delete").await?;
        event::Entity::delete_many()
            .filter(event::Column::AppName.eq(&*self.name))
            .filter(event::Column::SessionId.eq(session_id))
            .exec(&txn)
            .await
            .map_err(failed(&label, "deleting events"))?;
        let deleted = adk_session::Entity::delete_many()
            .filter(adk_session::Column::AppName.eq(&*self.name))
            .filter(adk_session::Column::Id.eq(session_id))
            .exec(&txn)
            .await
            .map_err(failed(&label, "deleting the session"))?;
        txn.commit()
            .await
            .map_err(failed(&label, "committing a delete"))?;
        Ok(deleted.rows_affected > 0)
    }
}
