//! A concierge agent: keeps each conversation's memory and turns in its own database.

use std::sync::Arc;

use persist_core::sea_orm::{
    ActiveModelTrait, ColumnTrait, DatabaseConnection, EntityTrait, QueryFilter, QueryOrder, Set,
    TransactionTrait,
};
use persist_core::system::{AgentApi, AgentRequest, ContextMessage, LanguageModel, LlmRequest};
use persist_core::{PersistError, Result, async_trait};

use crate::entity::{memory, turn};
use crate::{db, new_id, now};

/// One agent. Clones share it.
#[derive(Clone)]
pub struct ConciergeAgent {
    name: Arc<str>,
    db: DatabaseConnection,
    model: Arc<dyn LanguageModel>,
}

impl ConciergeAgent {
    /// An agent over its own database.
    pub fn new(name: &str, db: DatabaseConnection, model: Arc<dyn LanguageModel>) -> Self {
        ConciergeAgent {
            name: name.into(),
            db,
            model,
        }
    }
}

#[async_trait]
impl AgentApi for ConciergeAgent {
    fn name(&self) -> &str {
        &self.name
    }

    async fn send(&self, request: AgentRequest) -> Result<String> {
        let here = format!("agent {}", self.name);
        let memory = memory::Entity::find_by_id(&request.session_id)
            .one(&self.db)
            .await
            .map_err(db(&here, "loading memory"))?;
        if memory
            .as_ref()
            .is_some_and(|m| m.customer != request.user_id)
        {
            return Err(PersistError::SessionNotFound {
                session_id: request.session_id,
                user_id: request.user_id,
            });
        }
        let past = turn::Entity::find()
            .filter(turn::Column::ConversationId.eq(&request.session_id))
            .order_by_asc(turn::Column::At)
            .order_by_asc(turn::Column::Id)
            .all(&self.db)
            .await
            .map_err(db(&here, "loading turns"))?;
        let context = past
            .iter()
            .map(|t| ContextMessage {
                role: t.role.clone(),
                content: t.body.clone(),
            })
            .collect();
        let ask = LlmRequest::new(
            &*self.name,
            &request.session_id,
            &request.user_id,
            &request.task_id,
            &request.message,
        )
        .with_context(context);
        let reply = self
            .model
            .complete(ask)
            .await
            .map_err(|e| PersistError::Llm {
                agent: self.name.to_string(),
                reason: e.0,
            })?;

        // The whole turn, or nothing of it.
        let txn = self
            .db
            .begin()
            .await
            .map_err(db(&here, "starting a turn"))?;
        let notes = format!(r#"{{"turns": {}}}"#, past.len() / 2 + 1);
        match memory {
            Some(found) => {
                let mut found: memory::ActiveModel = found.into();
                found.notes = Set(notes);
                found.update(&txn).await.map(drop)
            }
            None => memory::ActiveModel {
                conversation_id: Set(request.session_id.clone()),
                customer: Set(request.user_id.clone()),
                notes: Set(notes),
            }
            .insert(&txn)
            .await
            .map(drop),
        }
        .map_err(db(&here, "storing memory"))?;
        for (role, body) in [("user", &request.message), ("assistant", &reply)] {
            turn::ActiveModel {
                id: Set(new_id("turn")),
                conversation_id: Set(request.session_id.clone()),
                role: Set(role.to_owned()),
                body: Set(body.clone()),
                exchange_id: Set(request.task_id.clone()),
                at: Set(now()),
            }
            .insert(&txn)
            .await
            .map_err(db(&here, "storing a turn"))?;
        }
        txn.commit().await.map_err(db(&here, "committing a turn"))?;
        Ok(reply)
    }

    async fn delete_session(&self, session_id: &str) -> Result<bool> {
        let here = format!("agent {}", self.name);
        let txn = self
            .db
            .begin()
            .await
            .map_err(db(&here, "starting a delete"))?;
        turn::Entity::delete_many()
            .filter(turn::Column::ConversationId.eq(session_id))
            .exec(&txn)
            .await
            .map_err(db(&here, "deleting turns"))?;
        let gone = memory::Entity::delete_by_id(session_id)
            .exec(&txn)
            .await
            .map_err(db(&here, "deleting memory"))?;
        txn.commit()
            .await
            .map_err(db(&here, "committing a delete"))?;
        Ok(gone.rows_affected > 0)
    }
}
