//! The concierge gateway: customers' conversations, routed to agents.

use std::collections::BTreeMap;

use persist_core::sea_orm::{
    ActiveModelTrait, ColumnTrait, DatabaseConnection, EntityTrait, QueryFilter, QueryOrder, Set,
    TransactionTrait,
};
use persist_core::system::{
    AgentApi, AgentRequest, ChatMessage, GatewayApi, SenderType, Session, Turn,
};
use persist_core::{PersistError, Result, async_trait};

use crate::agent::ConciergeAgent;
use crate::entity::{conversation, utterance};
use crate::{db, new_id, now};

const HERE: &str = "gateway";

/// The gateway.
#[derive(Clone)]
pub struct ConciergeGateway {
    db: DatabaseConnection,
    agents: BTreeMap<String, ConciergeAgent>,
}

fn session(c: conversation::Model) -> Session {
    Session {
        id: c.id,
        name: c.subject,
        user_id: c.owner,
        agent_name: c.agent,
        created_at: c.opened_at,
        updated_at: c.touched_at,
        last_active_at: None,
    }
}

impl ConciergeGateway {
    /// A gateway over its database, routing to `agents`.
    pub fn new(db: DatabaseConnection, agents: &[ConciergeAgent]) -> Self {
        let agents = agents
            .iter()
            .map(|a| (a.name().to_owned(), a.clone()))
            .collect();
        ConciergeGateway { db, agents }
    }

    fn agent(&self, name: &str) -> Result<&ConciergeAgent> {
        self.agents
            .get(name)
            .ok_or_else(|| PersistError::UnknownAgent {
                name: name.to_owned(),
                known: self.agents.keys().cloned().collect(),
            })
    }

    async fn owned(&self, customer: &str, id: &str) -> Result<conversation::Model> {
        conversation::Entity::find_by_id(id)
            .filter(conversation::Column::Owner.eq(customer))
            .one(&self.db)
            .await
            .map_err(db(HERE, "loading a conversation"))?
            .ok_or_else(|| PersistError::SessionNotFound {
                session_id: id.to_owned(),
                user_id: customer.to_owned(),
            })
    }
}

#[async_trait]
impl GatewayApi for ConciergeGateway {
    async fn create_session(&self, user_id: &str, agent_name: &str) -> Result<Session> {
        self.agent(agent_name)?;
        let at = now();
        conversation::ActiveModel {
            id: Set(new_id("conv")),
            owner: Set(user_id.to_owned()),
            agent: Set(agent_name.to_owned()),
            subject: Set(None),
            opened_at: Set(at),
            touched_at: Set(at),
        }
        .insert(&self.db)
        .await
        .map(session)
        .map_err(db(HERE, "opening a conversation"))
    }

    async fn send_message(&self, user_id: &str, session_id: &str, message: &str) -> Result<Turn> {
        let found = self.owned(user_id, session_id).await?;
        let exchange = new_id("ex");
        let reply = self
            .agent(&found.agent)?
            .send(AgentRequest {
                session_id: session_id.to_owned(),
                user_id: user_id.to_owned(),
                task_id: exchange.clone(),
                message: message.to_owned(),
            })
            .await?;
        let txn = self.db.begin().await.map_err(db(HERE, "starting a turn"))?;
        for (speaker, speaker_id, text) in [
            ("customer", user_id, message),
            ("assistant", found.agent.as_str(), reply.as_str()),
        ] {
            utterance::ActiveModel {
                id: Set(new_id("utt")),
                conversation_id: Set(session_id.to_owned()),
                speaker: Set(speaker.to_owned()),
                speaker_id: Set(speaker_id.to_owned()),
                text: Set(text.to_owned()),
                exchange_id: Set(exchange.clone()),
                said_at: Set(now()),
            }
            .insert(&txn)
            .await
            .map_err(db(HERE, "storing an utterance"))?;
        }
        let mut touched: conversation::ActiveModel = found.into();
        touched.touched_at = Set(now());
        touched.update(&txn).await.map_err(db(HERE, "touching"))?;
        txn.commit().await.map_err(db(HERE, "committing a turn"))?;
        Ok(Turn {
            session_id: session_id.to_owned(),
            task_id: exchange,
            content: reply,
        })
    }

    async fn list_sessions(&self, user_id: &str) -> Result<Vec<Session>> {
        let found = conversation::Entity::find()
            .filter(conversation::Column::Owner.eq(user_id))
            .order_by_desc(conversation::Column::TouchedAt)
            .all(&self.db)
            .await
            .map_err(db(HERE, "listing conversations"))?;
        Ok(found.into_iter().map(session).collect())
    }

    async fn get_session(&self, user_id: &str, session_id: &str) -> Result<Session> {
        self.owned(user_id, session_id).await.map(session)
    }

    async fn session_messages(&self, user_id: &str, session_id: &str) -> Result<Vec<ChatMessage>> {
        self.owned(user_id, session_id).await?;
        let found = utterance::Entity::find()
            .filter(utterance::Column::ConversationId.eq(session_id))
            .order_by_asc(utterance::Column::SaidAt)
            .all(&self.db)
            .await
            .map_err(db(HERE, "loading utterances"))?;
        Ok(found
            .into_iter()
            .map(|u| ChatMessage {
                id: u.id,
                session_id: u.conversation_id,
                message: u.text,
                sender_type: if u.speaker == "customer" {
                    SenderType::User
                } else {
                    SenderType::Agent
                },
                sender_name: u.speaker_id,
                created_at: u.said_at,
                task_id: Some(u.exchange_id),
            })
            .collect())
    }

    async fn rename_session(&self, user_id: &str, session_id: &str, name: &str) -> Result<Session> {
        let mut found: conversation::ActiveModel = self.owned(user_id, session_id).await?.into();
        found.subject = Set(Some(name.trim().to_owned()));
        found.touched_at = Set(now());
        found
            .update(&self.db)
            .await
            .map(session)
            .map_err(db(HERE, "renaming"))
    }

    async fn delete_session(&self, user_id: &str, session_id: &str) -> Result<bool> {
        let found = match self.owned(user_id, session_id).await {
            Ok(found) => found,
            Err(PersistError::SessionNotFound { .. }) => return Ok(false),
            Err(other) => return Err(other),
        };
        self.agent(&found.agent)?.delete_session(session_id).await?;
        let gone = conversation::Entity::delete_by_id(session_id)
            .exec(&self.db)
            .await
            .map_err(db(HERE, "deleting a conversation"))?;
        Ok(gone.rows_affected > 0)
    }
}
