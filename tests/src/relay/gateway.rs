//! The relay gateway: users' sessions, one `chat_tasks` row per turn, and the task behind
//! each turn with its events.

use std::collections::BTreeMap;
use std::sync::Arc;

use persist_core::async_trait;
use persist_core::system::{
    AgentApi, AgentRequest, ChatMessage, GatewayApi, SenderType, Session, Turn,
};
use persist_core::{PersistError, Result};
use sea_orm::{
    ActiveModelTrait, ColumnTrait, DatabaseConnection, EntityTrait, QueryFilter, QueryOrder, Set,
    TransactionTrait,
};
use serde_json::{Value, json};

use super::agent::RelayAgent;
use super::entity::{chat_task, session, task, task_event};
use crate::helpdesk::{failed, now_millis};

const DB: &str = "gateway";

/// The relay gateway. Clones share it.
#[derive(Clone)]
pub struct RelayGateway {
    db: DatabaseConnection,
    agents: Arc<BTreeMap<String, RelayAgent>>,
}

fn to_session(m: session::Model) -> Session {
    Session {
        id: m.id,
        name: m.name,
        user_id: m.user_id,
        agent_name: m.agent_id,
        created_at: m.created_time,
        updated_at: m.updated_time,
        last_active_at: None,
    }
}

/// A turn's messages, as its bubbles hold them.
fn to_messages(m: chat_task::Model) -> Vec<ChatMessage> {
    let bubbles: Value = serde_json::from_str(&m.message_bubbles).unwrap_or_default();
    let agent = m
        .task_metadata
        .as_deref()
        .and_then(|t| serde_json::from_str::<Value>(t).ok())
        .and_then(|t| t["agent_name"].as_str().map(str::to_owned))
        .unwrap_or_default();
    bubbles
        .as_array()
        .into_iter()
        .flatten()
        .enumerate()
        .map(|(n, bubble)| {
            let from_user = bubble["type"] == "user";
            ChatMessage {
                id: format!("{}-{n}", m.id),
                session_id: m.session_id.clone(),
                message: bubble["text"].as_str().unwrap_or_default().to_owned(),
                sender_type: if from_user {
                    SenderType::User
                } else {
                    SenderType::Agent
                },
                sender_name: if from_user {
                    m.user_id.clone()
                } else {
                    agent.clone()
                },
                created_at: m.created_time,
                task_id: Some(m.id.clone()),
            }
        })
        .collect()
}

fn invalid(field: &'static str, reason: &str) -> PersistError {
    PersistError::InvalidInput {
        field,
        reason: reason.to_owned(),
    }
}

impl RelayGateway {
    /// A gateway over `db` routing to `agents`.
    pub fn new(db: DatabaseConnection, agents: impl IntoIterator<Item = RelayAgent>) -> Self {
        let agents = agents
            .into_iter()
            .map(|a| (a.name().to_owned(), a))
            .collect();
        RelayGateway {
            db,
            agents: Arc::new(agents),
        }
    }

    fn agent(&self, name: &str) -> Result<&RelayAgent> {
        self.agents
            .get(name)
            .ok_or_else(|| PersistError::UnknownAgent {
                name: name.to_owned(),
                known: self.agents.keys().cloned().collect(),
            })
    }

    async fn owned(&self, user_id: &str, session_id: &str) -> Result<session::Model> {
        session::Entity::find_by_id(session_id)
            .filter(session::Column::UserId.eq(user_id))
            .one(&self.db)
            .await
            .map_err(failed(DB, "loading a session"))?
            .ok_or_else(|| PersistError::SessionNotFound {
                session_id: session_id.to_owned(),
                user_id: user_id.to_owned(),
            })
    }

    async fn store_turn(
        &self,
        row: session::Model,
        turn: &str,
        text: &str,
        reply: &str,
    ) -> Result<()> {
        let txn = self
            .db
            .begin()
            .await
            .map_err(failed(DB, "starting a turn"))?;
        let (asked, answered) = (now_millis(), now_millis());
        task::ActiveModel {
            id: Set(turn.to_owned()),
            user_id: Set(row.user_id.clone()),
            start_time: Set(asked),
            end_time: Set(Some(answered)),
            status: Set(Some("completed".into())),
            initial_request_text: Set(Some(text.to_owned())),
        }
        .insert(&txn)
        .await
        .map_err(failed(DB, "storing a task"))?;
        for (direction, payload, at) in [("request", text, asked), ("response", reply, answered)] {
            task_event::ActiveModel {
                id: Set(uuid::Uuid::new_v4().to_string()),
                task_id: Set(turn.to_owned()),
                user_id: Set(Some(row.user_id.clone())),
                created_time: Set(at),
                topic: Set(format!("relay/{}/{direction}", row.agent_id)),
                direction: Set(direction.to_owned()),
                payload: Set(json!({ "text": payload }).to_string()),
            }
            .insert(&txn)
            .await
            .map_err(failed(DB, "storing a task event"))?;
        }
        chat_task::ActiveModel {
            id: Set(turn.to_owned()),
            session_id: Set(row.id.clone()),
            user_id: Set(row.user_id.clone()),
            user_message: Set(Some(text.to_owned())),
            message_bubbles: Set(json!([
                { "type": "user", "text": text },
                { "type": "agent", "text": reply },
            ])
            .to_string()),
            task_metadata: Set(Some(json!({ "agent_name": row.agent_id }).to_string())),
            created_time: Set(asked),
            updated_time: Set(Some(answered)),
        }
        .insert(&txn)
        .await
        .map_err(failed(DB, "storing a turn"))?;
        let mut session: session::ActiveModel = row.into();
        session.updated_time = Set(answered);
        session
            .update(&txn)
            .await
            .map_err(failed(DB, "updating the session"))?;
        txn.commit().await.map_err(failed(DB, "committing a turn"))
    }
}

#[async_trait]
impl GatewayApi for RelayGateway {
    async fn create_session(&self, user_id: &str, agent_name: &str) -> Result<Session> {
        if user_id.trim().is_empty() {
            return Err(invalid("user_id", "must not be blank"));
        }
        self.agent(agent_name)?;
        let now = now_millis();
        session::ActiveModel {
            id: Set(uuid::Uuid::new_v4().to_string()),
            user_id: Set(user_id.to_owned()),
            name: Set(None),
            agent_id: Set(agent_name.to_owned()),
            created_time: Set(now),
            updated_time: Set(now),
        }
        .insert(&self.db)
        .await
        .map(to_session)
        .map_err(failed(DB, "creating a session"))
    }

    async fn send_message(&self, user_id: &str, session_id: &str, text: &str) -> Result<Turn> {
        if text.trim().is_empty() {
            return Err(invalid("message", "must not be empty"));
        }
        let row = self.owned(user_id, session_id).await?;
        let agent = self.agent(&row.agent_id)?;
        let turn = uuid::Uuid::new_v4().to_string();
        let reply = agent
            .send(AgentRequest {
                session_id: session_id.to_owned(),
                user_id: user_id.to_owned(),
                task_id: turn.clone(),
                message: text.to_owned(),
            })
            .await?;
        if let Err(error) = self.store_turn(row, &turn, text, &reply).await {
            let _ = agent.discard(session_id, &turn).await;
            return Err(error);
        }
        Ok(Turn {
            session_id: session_id.to_owned(),
            task_id: turn,
            content: reply,
        })
    }

    async fn list_sessions(&self, user_id: &str) -> Result<Vec<Session>> {
        let rows = session::Entity::find()
            .filter(session::Column::UserId.eq(user_id))
            .order_by_desc(session::Column::UpdatedTime)
            .order_by_desc(session::Column::Id)
            .all(&self.db)
            .await
            .map_err(failed(DB, "listing sessions"))?;
        Ok(rows.into_iter().map(to_session).collect())
    }

    async fn get_session(&self, user_id: &str, session_id: &str) -> Result<Session> {
        self.owned(user_id, session_id).await.map(to_session)
    }

    async fn session_messages(&self, user_id: &str, session_id: &str) -> Result<Vec<ChatMessage>> {
        self.owned(user_id, session_id).await?;
        let rows = chat_task::Entity::find()
            .filter(chat_task::Column::SessionId.eq(session_id))
            .order_by_asc(chat_task::Column::CreatedTime)
            .order_by_asc(chat_task::Column::Id)
            .all(&self.db)
            .await
            .map_err(failed(DB, "loading turns"))?;
        Ok(rows.into_iter().flat_map(to_messages).collect())
    }

    async fn rename_session(&self, user_id: &str, session_id: &str, name: &str) -> Result<Session> {
        let name = name.trim();
        if name.is_empty() || name.chars().count() > 255 {
            return Err(invalid("name", "must be 1 to 255 characters"));
        }
        let mut row: session::ActiveModel = self.owned(user_id, session_id).await?.into();
        row.name = Set(Some(name.to_owned()));
        row.updated_time = Set(now_millis());
        row.update(&self.db)
            .await
            .map(to_session)
            .map_err(failed(DB, "renaming a session"))
    }

    async fn delete_session(&self, user_id: &str, session_id: &str) -> Result<bool> {
        let row = match self.owned(user_id, session_id).await {
            Ok(row) => row,
            Err(PersistError::SessionNotFound { .. }) => return Ok(false),
            Err(e) => return Err(e),
        };
        self.agent(&row.agent_id)?
            .delete_session(session_id)
            .await?;
        let txn = self
            .db
            .begin()
            .await
            .map_err(failed(DB, "starting a delete"))?;
        let turns: Vec<String> = chat_task::Entity::find()
            .filter(chat_task::Column::SessionId.eq(session_id))
            .all(&txn)
            .await
            .map_err(failed(DB, "loading turns"))?
            .into_iter()
            .map(|t| t.id)
            .collect();
        chat_task::Entity::delete_many()
            .filter(chat_task::Column::SessionId.eq(session_id))
            .exec(&txn)
            .await
            .map_err(failed(DB, "deleting turns"))?;
        task::Entity::delete_many()
            .filter(task::Column::Id.is_in(turns))
            .exec(&txn)
            .await
            .map_err(failed(DB, "deleting tasks"))?;
        let deleted = session::Entity::delete_by_id(session_id)
            .exec(&txn)
            .await
            .map_err(failed(DB, "deleting a session"))?;
        txn.commit()
            .await
            .map_err(failed(DB, "committing a delete"))?;
        Ok(deleted.rows_affected > 0)
    }
}
