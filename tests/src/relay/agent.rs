//! A relay agent, shaped like an agent framework's database session service: sessions of its
//! own, keyed by (`app_name`, `user_id`, `id`), linked to the gateway's session through their
//! state; one event per message.

use std::sync::Arc;

use chrono::Utc;
use persist_core::async_trait;
use persist_core::system::{AgentApi, AgentRequest, ContextMessage, LanguageModel, LlmRequest};
use persist_core::{PersistError, Result};
use sea_orm::{
    ActiveModelTrait, ColumnTrait, ConnectionTrait, DatabaseConnection, EntityTrait, QueryFilter,
    QueryOrder, Set, TransactionTrait,
};
use serde_json::json;

use super::entity::{adk_event, adk_session};
use crate::helpdesk::failed;

/// One relay agent. Clones share the agent.
#[derive(Clone)]
pub struct RelayAgent {
    name: Arc<str>,
    db: DatabaseConnection,
    model: Arc<dyn LanguageModel>,
    turns: Arc<tokio::sync::Mutex<()>>,
}

/// The gateway session an agent session serves.
fn gateway_session(session: &adk_session::Model) -> Option<&str> {
    session.state["gateway_session_id"].as_str()
}

/// The task an event belongs to.
fn task(event: &adk_event::Model) -> Option<&str> {
    event.custom_metadata.as_ref()?["task_id"].as_str()
}

impl RelayAgent {
    /// An agent named `name` over its database, asking `model`.
    pub fn new(name: &str, db: DatabaseConnection, model: Arc<dyn LanguageModel>) -> Self {
        RelayAgent {
            name: name.into(),
            db,
            model,
            turns: Arc::default(),
        }
    }

    fn label(&self) -> String {
        format!("agent {}", self.name)
    }

    /// The agent's session serving gateway session `session_id`, whoever's it is.
    async fn session_for(
        &self,
        db: &impl ConnectionTrait,
        session_id: &str,
    ) -> Result<Option<adk_session::Model>> {
        let sessions = adk_session::Entity::find()
            .filter(adk_session::Column::AppName.eq(&*self.name))
            .all(db)
            .await
            .map_err(failed(&self.label(), "loading sessions"))?;
        Ok(sessions
            .into_iter()
            .find(|s| gateway_session(s) == Some(session_id)))
    }

    async fn events(
        &self,
        db: &impl ConnectionTrait,
        session: &adk_session::Model,
    ) -> Result<Vec<adk_event::Model>> {
        adk_event::Entity::find()
            .filter(adk_event::Column::AppName.eq(&*self.name))
            .filter(adk_event::Column::UserId.eq(&session.user_id))
            .filter(adk_event::Column::SessionId.eq(&session.id))
            .order_by_asc(adk_event::Column::Timestamp)
            .order_by_asc(adk_event::Column::Id)
            .all(db)
            .await
            .map_err(failed(&self.label(), "loading events"))
    }

    /// Removes one turn's events (the gateway could not store its side); a session left
    /// without events goes too.
    pub async fn discard(&self, session_id: &str, turn: &str) -> Result<()> {
        let _turn = self.turns.lock().await;
        let label = self.label();
        let txn = self
            .db
            .begin()
            .await
            .map_err(failed(&label, "discarding"))?;
        if let Some(session) = self.session_for(&txn, session_id).await? {
            let events = self.events(&txn, &session).await?;
            let (gone, kept): (Vec<_>, Vec<_>) =
                events.into_iter().partition(|e| task(e) == Some(turn));
            for event in gone {
                adk_event::Entity::delete(adk_event::ActiveModel::from(event))
                    .exec(&txn)
                    .await
                    .map_err(failed(&label, "discarding an event"))?;
            }
            if kept.is_empty() {
                adk_session::Entity::delete(adk_session::ActiveModel::from(session))
                    .exec(&txn)
                    .await
                    .map_err(failed(&label, "discarding a session"))?;
            }
        }
        txn.commit().await.map_err(failed(&label, "committing"))
    }
}

#[async_trait]
impl AgentApi for RelayAgent {
    fn name(&self) -> &str {
        &self.name
    }

    async fn send(&self, request: AgentRequest) -> Result<String> {
        let _turn = self.turns.lock().await;
        let label = self.label();
        let existing = self.session_for(&self.db, &request.session_id).await?;
        if existing
            .as_ref()
            .is_some_and(|s| s.user_id != request.user_id)
        {
            return Err(PersistError::SessionNotFound {
                session_id: request.session_id,
                user_id: request.user_id,
            });
        }
        let history = match &existing {
            Some(session) => self.events(&self.db, session).await?,
            None => Vec::new(),
        };
        let context = history
            .iter()
            .map(|e| ContextMessage {
                role: if e.author == "user" {
                    "user"
                } else {
                    "assistant"
                }
                .to_owned(),
                content: e.content["parts"][0]["text"]
                    .as_str()
                    .unwrap_or_default()
                    .to_owned(),
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
        let now = Utc::now().naive_utc();
        let state = json!({
            "gateway_session_id": request.session_id,
            "turns": history.len() / 2 + 1,
        });
        let session = match existing {
            Some(session) => {
                let mut session: adk_session::ActiveModel = session.into();
                session.state = Set(state);
                session.update_time = Set(now);
                session.update(&txn).await
            }
            None => {
                adk_session::ActiveModel {
                    app_name: Set(self.name.to_string()),
                    user_id: Set(request.user_id.clone()),
                    id: Set(uuid::Uuid::new_v4().to_string()),
                    state: Set(state),
                    create_time: Set(now),
                    update_time: Set(now),
                }
                .insert(&txn)
                .await
            }
        }
        .map_err(failed(&label, "storing the session"))?;
        let invocation = format!("e-{}", uuid::Uuid::new_v4());
        for (author, role, text) in [
            ("user", "user", request.message.as_str()),
            (&*self.name, "model", reply.as_str()),
        ] {
            adk_event::ActiveModel {
                // Time-ordered, so events of one instant keep their order where the
                // backend keeps whole seconds.
                id: Set(uuid::Uuid::now_v7().to_string()),
                app_name: Set(self.name.to_string()),
                user_id: Set(session.user_id.clone()),
                session_id: Set(session.id.clone()),
                invocation_id: Set(invocation.clone()),
                author: Set(author.to_owned()),
                timestamp: Set(Utc::now()),
                content: Set(json!({ "role": role, "parts": [{ "text": text }] })),
                custom_metadata: Set(Some(json!({ "task_id": request.task_id }))),
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
        let txn = self
            .db
            .begin()
            .await
            .map_err(failed(&label, "starting a delete"))?;
        let Some(session) = self.session_for(&txn, session_id).await? else {
            return Ok(false);
        };
        adk_event::Entity::delete_many()
            .filter(adk_event::Column::AppName.eq(&*self.name))
            .filter(adk_event::Column::UserId.eq(&session.user_id))
            .filter(adk_event::Column::SessionId.eq(&session.id))
            .exec(&txn)
            .await
            .map_err(failed(&label, "deleting events"))?;
        adk_session::Entity::delete(adk_session::ActiveModel::from(session))
            .exec(&txn)
            .await
            .map_err(failed(&label, "deleting the session"))?;
        txn.commit()
            .await
            .map_err(failed(&label, "committing a delete"))?;
        Ok(true)
    }
}
