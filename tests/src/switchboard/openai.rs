//! An agent persisting through a port of the OpenAI Agents SDK's `SQLAlchemySession`: a row in
//! `agent_sessions` per session (its id is the gateway's conversation id; no user), and one
//! Responses item per row of `agent_messages`, as JSON text: a user item keeps its text at
//! `/content`, an assistant item at `/content/0/text`. Items are numbered and timed by the
//! database (`CURRENT_TIMESTAMP`), and read back in that order.

use std::sync::Arc;

use persist_core::async_trait;
use persist_core::system::{AgentApi, AgentRequest, ContextMessage, LanguageModel, LlmRequest};
use persist_core::{PersistError, Result};
use sea_orm::{
    ActiveModelTrait, ColumnTrait, DatabaseConnection, EntityTrait, NotSet, QueryFilter,
    QueryOrder, Set, TransactionTrait,
};
use serde_json::{Value, json};

use super::entity::{agent_message, agent_session};
use crate::helpdesk::failed;

/// The chat agent. Clones share it.
#[derive(Clone)]
pub struct OpenAiAgent {
    name: Arc<str>,
    db: DatabaseConnection,
    model: Arc<dyn LanguageModel>,
    turns: Arc<tokio::sync::Mutex<()>>,
}

/// A user input item.
pub fn user_item(text: &str) -> Value {
    json!({ "role": "user", "content": text })
}

/// An assistant output item.
pub fn assistant_item(text: &str) -> Value {
    json!({
        "id": format!("msg_{}", uuid::Uuid::new_v4().simple()),
        "type": "message",
        "role": "assistant",
        "status": "completed",
        "content": [{ "type": "output_text", "text": text, "annotations": [] }],
    })
}

/// An item's role and text, wherever its kind keeps it.
fn read_item(data: &str) -> (String, String) {
    let item: Value = serde_json::from_str(data).unwrap_or_default();
    let role = item["role"].as_str().unwrap_or("system").to_owned();
    let text = item["content"]
        .as_str()
        .or_else(|| item["content"][0]["text"].as_str())
        .unwrap_or_default()
        .to_owned();
    (role, text)
}

impl OpenAiAgent {
    /// An agent named `name` over its database, asking `model`.
    pub fn new(name: &str, db: DatabaseConnection, model: Arc<dyn LanguageModel>) -> Self {
        OpenAiAgent {
            name: name.into(),
            db,
            model,
            turns: Arc::default(),
        }
    }

    fn label(&self) -> String {
        format!("agent {}", self.name)
    }

    async fn items(&self, session_id: &str) -> Result<Vec<agent_message::Model>> {
        agent_message::Entity::find()
            .filter(agent_message::Column::SessionId.eq(session_id))
            .order_by_asc(agent_message::Column::CreatedAt)
            .order_by_asc(agent_message::Column::Id)
            .all(&self.db)
            .await
            .map_err(failed(&self.label(), "loading items"))
    }
}

#[async_trait]
impl AgentApi for OpenAiAgent {
    fn name(&self) -> &str {
        &self.name
    }

    async fn send(&self, request: AgentRequest) -> Result<String> {
        let _turn = self.turns.lock().await;
        let label = self.label();
        let history = self.items(&request.session_id).await?;
        let context = history
            .iter()
            .map(|item| {
                let (role, content) = read_item(&item.message_data);
                ContextMessage { role, content }
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
        let txn = self
            .db
            .begin()
            .await
            .map_err(failed(&label, "starting a turn"))?;
        let known = agent_session::Entity::find_by_id(&request.session_id)
            .one(&txn)
            .await
            .map_err(failed(&label, "loading the session"))?;
        if known.is_none() {
            agent_session::ActiveModel {
                session_id: Set(request.session_id.clone()),
                created_at: NotSet,
                updated_at: NotSet,
            }
            .insert(&txn)
            .await
            .map_err(failed(&label, "storing the session"))?;
        }
        for item in [user_item(&request.message), assistant_item(&reply)] {
            agent_message::ActiveModel {
                id: NotSet,
                session_id: Set(request.session_id.clone()),
                message_data: Set(item.to_string()),
                created_at: NotSet,
            }
            .insert(&txn)
            .await
            .map_err(failed(&label, "storing an item"))?;
        }
        txn.commit()
            .await
            .map_err(failed(&label, "committing a turn"))?;
        Ok(reply)
    }

    async fn delete_session(&self, session_id: &str) -> Result<bool> {
        let _turn = self.turns.lock().await;
        let label = self.label();
        let txn = self
            .db
            .begin()
            .await
            .map_err(failed(&label, "starting a delete"))?;
        agent_message::Entity::delete_many()
            .filter(agent_message::Column::SessionId.eq(session_id))
            .exec(&txn)
            .await
            .map_err(failed(&label, "deleting items"))?;
        let deleted = agent_session::Entity::delete_by_id(session_id)
            .exec(&txn)
            .await
            .map_err(failed(&label, "deleting the session"))?;
        txn.commit()
            .await
            .map_err(failed(&label, "committing a delete"))?;
        Ok(deleted.rows_affected > 0)
    }
}
