//! The helpdesk gateway: users' sessions and chat history, routed to helpdesk agents.

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

use super::agent::{HelpdeskAgent, failed};
use super::entity::{gw_message, gw_session, gw_user};
use super::now_millis;

const DB: &str = "gateway";

/// The helpdesk gateway. Clones share it.
#[derive(Clone)]
pub struct HelpdeskGateway {
    db: DatabaseConnection,
    agents: Arc<BTreeMap<String, HelpdeskAgent>>,
}

fn session(m: gw_session::Model) -> Session {
    Session {
        id: m.id,
        name: m.title,
        user_id: m.user_id,
        agent_name: m.agent,
        created_at: m.created_ms,
        updated_at: m.updated_ms,
        last_active_at: None,
    }
}

fn message(m: gw_message::Model) -> ChatMessage {
    ChatMessage {
        id: m.id.to_string(),
        session_id: m.session_id,
        message: m.body,
        sender_type: match m.author_kind.as_str() {
            "human" => SenderType::User,
            "bot" => SenderType::Agent,
            _ => SenderType::System,
        },
        sender_name: m.author,
        created_at: m.created_ms,
        task_id: m.turn_id,
    }
}

fn invalid(field: &'static str, reason: &str) -> PersistError {
    PersistError::InvalidInput {
        field,
        reason: reason.to_owned(),
    }
}

impl HelpdeskGateway {
    /// A gateway over `db` routing to `agents`.
    pub fn new(db: DatabaseConnection, agents: impl IntoIterator<Item = HelpdeskAgent>) -> Self {
        let agents = agents
            .into_iter()
            .map(|a| (a.name().to_owned(), a))
            .collect();
        HelpdeskGateway {
            db,
            agents: Arc::new(agents),
        }
    }

    fn agent(&self, name: &str) -> Result<&HelpdeskAgent> {
        self.agents
            .get(name)
            .ok_or_else(|| PersistError::UnknownAgent {
                name: name.to_owned(),
                known: self.agents.keys().cloned().collect(),
            })
    }

    async fn owned(&self, user_id: &str, session_id: &str) -> Result<gw_session::Model> {
        gw_session::Entity::find_by_id(session_id)
            .filter(gw_session::Column::UserId.eq(user_id))
            .one(&self.db)
            .await
            .map_err(failed(DB, "loading a session"))?
            .ok_or_else(|| PersistError::SessionNotFound {
                session_id: session_id.to_owned(),
                user_id: user_id.to_owned(),
            })
    }

    async fn ensure_user(&self, user_id: &str) -> Result<()> {
        let exists = |db| async move {
            gw_user::Entity::find_by_id(user_id)
                .one(db)
                .await
                .map(|u| u.is_some())
                .map_err(failed(DB, "loading a user"))
        };
        if exists(&self.db).await? {
            return Ok(());
        }
        let inserted = gw_user::ActiveModel {
            id: Set(user_id.to_owned()),
            display_name: Set(user_id.to_owned()),
        }
        .insert(&self.db)
        .await;
        match inserted {
            Ok(_) => Ok(()),
            // Created meanwhile by a concurrent call.
            Err(_) if exists(&self.db).await? => Ok(()),
            Err(e) => Err(failed(DB, "creating a user")(e)),
        }
    }

    async fn store_turn(
        &self,
        row: gw_session::Model,
        turn: &str,
        text: &str,
        reply: &str,
    ) -> Result<()> {
        let txn = self
            .db
            .begin()
            .await
            .map_err(failed(DB, "starting a turn"))?;
        let asked = now_millis();
        let answered = now_millis();
        for (kind, author, body, at) in [
            ("human", row.user_id.as_str(), text, asked),
            ("bot", row.agent.as_str(), reply, answered),
        ] {
            gw_message::ActiveModel {
                session_id: Set(row.id.clone()),
                author_kind: Set(kind.to_owned()),
                author: Set(author.to_owned()),
                body: Set(body.to_owned()),
                turn_id: Set(Some(turn.to_owned())),
                created_ms: Set(at),
                ..Default::default()
            }
            .insert(&txn)
            .await
            .map_err(failed(DB, "storing a message"))?;
        }
        let mut session: gw_session::ActiveModel = row.into();
        session.updated_ms = Set(answered);
        session
            .update(&txn)
            .await
            .map_err(failed(DB, "updating the session"))?;
        txn.commit().await.map_err(failed(DB, "committing a turn"))
    }
}

#[async_trait]
impl GatewayApi for HelpdeskGateway {
    async fn create_session(&self, user_id: &str, agent_name: &str) -> Result<Session> {
        if user_id.trim().is_empty() {
            return Err(invalid("user_id", "must not be blank"));
        }
        self.agent(agent_name)?;
        self.ensure_user(user_id).await?;
        let now = now_millis();
        let row = gw_session::ActiveModel {
            id: Set(uuid::Uuid::new_v4().to_string()),
            user_id: Set(user_id.to_owned()),
            agent: Set(agent_name.to_owned()),
            title: Set(None),
            created_ms: Set(now),
            updated_ms: Set(now),
        }
        .insert(&self.db)
        .await
        .map_err(failed(DB, "creating a session"))?;
        Ok(session(row))
    }

    async fn send_message(&self, user_id: &str, session_id: &str, text: &str) -> Result<Turn> {
        if text.trim().is_empty() {
            return Err(invalid("message", "must not be empty"));
        }
        let row = self.owned(user_id, session_id).await?;
        let agent = self.agent(&row.agent)?;
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
        let rows = gw_session::Entity::find()
            .filter(gw_session::Column::UserId.eq(user_id))
            .order_by_desc(gw_session::Column::UpdatedMs)
            .order_by_desc(gw_session::Column::Id)
            .all(&self.db)
            .await
            .map_err(failed(DB, "listing sessions"))?;
        Ok(rows.into_iter().map(session).collect())
    }

    async fn get_session(&self, user_id: &str, session_id: &str) -> Result<Session> {
        self.owned(user_id, session_id).await.map(session)
    }

    async fn session_messages(&self, user_id: &str, session_id: &str) -> Result<Vec<ChatMessage>> {
        self.owned(user_id, session_id).await?;
        let rows = gw_message::Entity::find()
            .filter(gw_message::Column::SessionId.eq(session_id))
            .order_by_asc(gw_message::Column::CreatedMs)
            .order_by_asc(gw_message::Column::Id)
            .all(&self.db)
            .await
            .map_err(failed(DB, "loading messages"))?;
        Ok(rows.into_iter().map(message).collect())
    }

    async fn rename_session(&self, user_id: &str, session_id: &str, name: &str) -> Result<Session> {
        let name = name.trim();
        if name.is_empty() || name.chars().count() > 255 {
            return Err(invalid("name", "must be 1 to 255 characters"));
        }
        let mut row: gw_session::ActiveModel = self.owned(user_id, session_id).await?.into();
        row.title = Set(Some(name.to_owned()));
        row.updated_ms = Set(now_millis());
        row.update(&self.db)
            .await
            .map(session)
            .map_err(failed(DB, "renaming a session"))
    }

    async fn delete_session(&self, user_id: &str, session_id: &str) -> Result<bool> {
        let row = match self.owned(user_id, session_id).await {
            Ok(row) => row,
            Err(PersistError::SessionNotFound { .. }) => return Ok(false),
            Err(e) => return Err(e),
        };
        self.agent(&row.agent)?.delete_session(session_id).await?;
        let txn = self
            .db
            .begin()
            .await
            .map_err(failed(DB, "starting a delete"))?;
        gw_message::Entity::delete_many()
            .filter(gw_message::Column::SessionId.eq(session_id))
            .exec(&txn)
            .await
            .map_err(failed(DB, "deleting messages"))?;
        let deleted = gw_session::Entity::delete_by_id(session_id)
            .exec(&txn)
            .await
            .map_err(failed(DB, "deleting a session"))?;
        txn.commit()
            .await
            .map_err(failed(DB, "committing a delete"))?;
        Ok(deleted.rows_affected > 0)
    }
}
