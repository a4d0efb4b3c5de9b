//! The switchboard gateway: conversations, and messages numbered across the whole gateway by
//! `sequence_id` (given by a sequence on PostgreSQL, taken from `message_sequence` elsewhere),
//! filed under their conversation, with no user of their own.

use std::collections::BTreeMap;
use std::sync::Arc;

use persist_core::async_trait;
use persist_core::system::{
    AgentApi, AgentRequest, ChatMessage, GatewayApi, SenderType, Session, Turn,
};
use persist_core::{PersistError, Result};
use sea_orm::sea_query::{Alias, Expr, ExprTrait as _, OnConflict, Query};
use sea_orm::{
    ActiveModelTrait, ColumnTrait, ConnectionTrait, DatabaseConnection, DbBackend, EntityTrait,
    NotSet, QueryFilter, QueryOrder, Set, TransactionTrait, Value,
};

use super::entity::{conversation, message};
use crate::helpdesk::{failed, now_millis};

const DB: &str = "gateway";
/// Every user's organization.
const ORGANIZATION: &str = "org-default";

/// The switchboard gateway. Clones share it.
#[derive(Clone)]
pub struct SwitchboardGateway {
    db: DatabaseConnection,
    agents: Arc<BTreeMap<String, Arc<dyn AgentApi>>>,
}

fn to_session(m: conversation::Model) -> Session {
    Session {
        id: m.id,
        name: m.title,
        user_id: m.user_id,
        agent_name: m.agent_id,
        created_at: m.created_at,
        updated_at: m.updated_at,
        last_active_at: None,
    }
}

fn invalid(field: &'static str, reason: &str) -> PersistError {
    PersistError::InvalidInput {
        field,
        reason: reason.to_owned(),
    }
}

/// Inserts a row unless one with its id is there (an update of the id to itself otherwise:
/// MySQL has no `DO NOTHING`).
async fn ensure(db: &impl ConnectionTrait, table: &str, row: Vec<(&str, Value)>) -> Result<()> {
    let (columns, values): (Vec<&str>, Vec<Value>) = row.into_iter().unzip();
    let insert = Query::insert()
        .into_table(Alias::new(table))
        .columns(columns.into_iter().map(Alias::new))
        .values_panic(values.into_iter().map(Into::into))
        .on_conflict(
            OnConflict::column(Alias::new("id"))
                .update_column(Alias::new("id"))
                .to_owned(),
        )
        .to_owned();
    db.execute(&insert)
        .await
        .map(drop)
        .map_err(failed(DB, &format!("storing a row of {table}")))
}

impl SwitchboardGateway {
    /// A gateway over `db` routing to `agents`.
    pub fn new(db: DatabaseConnection, agents: Vec<Arc<dyn AgentApi>>) -> Self {
        let agents = agents
            .into_iter()
            .map(|a| (a.name().to_owned(), a))
            .collect();
        SwitchboardGateway {
            db,
            agents: Arc::new(agents),
        }
    }

    fn agent(&self, name: &str) -> Result<&Arc<dyn AgentApi>> {
        self.agents
            .get(name)
            .ok_or_else(|| PersistError::UnknownAgent {
                name: name.to_owned(),
                known: self.agents.keys().cloned().collect(),
            })
    }

    async fn owned(&self, user_id: &str, session_id: &str) -> Result<conversation::Model> {
        conversation::Entity::find_by_id(session_id)
            .filter(conversation::Column::UserId.eq(user_id))
            .one(&self.db)
            .await
            .map_err(failed(DB, "loading a conversation"))?
            .ok_or_else(|| PersistError::SessionNotFound {
                session_id: session_id.to_owned(),
                user_id: user_id.to_owned(),
            })
    }

    /// The next message number: the sequence's default on PostgreSQL, a row of
    /// `message_sequence` elsewhere.
    async fn next_sequence(&self, db: &impl ConnectionTrait) -> Result<Option<i64>> {
        let insert = match db.get_database_backend() {
            DbBackend::Postgres => return Ok(None),
            DbBackend::MySql => "INSERT INTO message_sequence () VALUES ()",
            _ => "INSERT INTO message_sequence DEFAULT VALUES",
        };
        let done = db
            .execute_unprepared(insert)
            .await
            .map_err(failed(DB, "numbering a message"))?;
        Ok(Some(done.last_insert_id() as i64))
    }

    async fn store_turn(
        &self,
        row: conversation::Model,
        run: &str,
        text: &str,
        reply: &str,
    ) -> Result<()> {
        let txn = self
            .db
            .begin()
            .await
            .map_err(failed(DB, "starting a turn"))?;
        for (role, body) in [("user", text), ("assistant", reply)] {
            let id = format!("message-{}", uuid::Uuid::new_v4());
            let sequence = self.next_sequence(&txn).await?;
            let stored = message::ActiveModel {
                id: Set(id.clone()),
                agent_id: Set(row.agent_id.clone()),
                role: Set(role.to_owned()),
                text: Set(body.to_owned()),
                run_id: Set(Some(run.to_owned())),
                created_at: Set(chrono::Utc::now().naive_utc()),
                organization_id: Set(Some(ORGANIZATION.to_owned())),
                sequence_id: match sequence {
                    Some(n) => Set(Some(n)),
                    None => NotSet,
                },
                conversation_id: Set(Some(row.id.clone())),
            }
            .insert(&txn)
            .await
            .map_err(failed(DB, "storing a message"))?;
            let position = stored.sequence_id.unwrap_or_default();
            let link = Query::insert()
                .into_table(Alias::new("conversation_messages"))
                .columns(["conversation_id", "message_id", "position"].map(Alias::new))
                .values_panic([row.id.clone().into(), id.into(), position.into()])
                .to_owned();
            txn.execute(&link)
                .await
                .map_err(failed(DB, "filing a message"))?;
        }
        let mut conversation: conversation::ActiveModel = row.into();
        conversation.updated_at = Set(now_millis());
        conversation
            .update(&txn)
            .await
            .map_err(failed(DB, "updating the conversation"))?;
        txn.commit().await.map_err(failed(DB, "committing a turn"))
    }
}

#[async_trait]
impl GatewayApi for SwitchboardGateway {
    async fn create_session(&self, user_id: &str, agent_name: &str) -> Result<Session> {
        if user_id.trim().is_empty() {
            return Err(invalid("user_id", "must not be blank"));
        }
        self.agent(agent_name)?;
        ensure(
            &self.db,
            "organizations",
            vec![("id", ORGANIZATION.into()), ("name", "Default".into())],
        )
        .await?;
        ensure(
            &self.db,
            "users",
            vec![
                ("id", user_id.into()),
                ("organization_id", ORGANIZATION.into()),
                ("name", user_id.into()),
            ],
        )
        .await?;
        ensure(
            &self.db,
            "agents",
            vec![
                ("id", agent_name.into()),
                ("organization_id", ORGANIZATION.into()),
                ("name", agent_name.into()),
            ],
        )
        .await?;
        let now = now_millis();
        conversation::ActiveModel {
            id: Set(format!("conv-{}", uuid::Uuid::new_v4())),
            agent_id: Set(agent_name.to_owned()),
            user_id: Set(user_id.to_owned()),
            title: Set(None),
            created_at: Set(now),
            updated_at: Set(now),
        }
        .insert(&self.db)
        .await
        .map(to_session)
        .map_err(failed(DB, "creating a conversation"))
    }

    async fn send_message(&self, user_id: &str, session_id: &str, text: &str) -> Result<Turn> {
        if text.trim().is_empty() {
            return Err(invalid("message", "must not be empty"));
        }
        let row = self.owned(user_id, session_id).await?;
        let agent = self.agent(&row.agent_id)?.clone();
        let run = format!("run-{}", uuid::Uuid::new_v4());
        let reply = agent
            .send(AgentRequest {
                session_id: session_id.to_owned(),
                user_id: user_id.to_owned(),
                task_id: run.clone(),
                message: text.to_owned(),
            })
            .await?;
        self.store_turn(row, &run, text, &reply).await?;
        Ok(Turn {
            session_id: session_id.to_owned(),
            task_id: run,
            content: reply,
        })
    }

    async fn list_sessions(&self, user_id: &str) -> Result<Vec<Session>> {
        let rows = conversation::Entity::find()
            .filter(conversation::Column::UserId.eq(user_id))
            .order_by_desc(conversation::Column::UpdatedAt)
            .order_by_desc(conversation::Column::Id)
            .all(&self.db)
            .await
            .map_err(failed(DB, "listing conversations"))?;
        Ok(rows.into_iter().map(to_session).collect())
    }

    async fn get_session(&self, user_id: &str, session_id: &str) -> Result<Session> {
        self.owned(user_id, session_id).await.map(to_session)
    }

    async fn session_messages(&self, user_id: &str, session_id: &str) -> Result<Vec<ChatMessage>> {
        let row = self.owned(user_id, session_id).await?;
        let messages = message::Entity::find()
            .filter(message::Column::ConversationId.eq(session_id))
            .order_by_asc(message::Column::SequenceId)
            .all(&self.db)
            .await
            .map_err(failed(DB, "loading messages"))?;
        Ok(messages
            .into_iter()
            .map(|m| {
                let from_user = m.role == "user";
                ChatMessage {
                    id: m.id,
                    session_id: session_id.to_owned(),
                    message: m.text,
                    sender_type: if from_user {
                        SenderType::User
                    } else {
                        SenderType::Agent
                    },
                    sender_name: if from_user {
                        row.user_id.clone()
                    } else {
                        row.agent_id.clone()
                    },
                    created_at: m.created_at.and_utc().timestamp_millis(),
                    task_id: m.run_id,
                }
            })
            .collect())
    }

    async fn rename_session(&self, user_id: &str, session_id: &str, name: &str) -> Result<Session> {
        let name = name.trim();
        if name.is_empty() || name.chars().count() > 255 {
            return Err(invalid("name", "must be 1 to 255 characters"));
        }
        let mut row: conversation::ActiveModel = self.owned(user_id, session_id).await?.into();
        row.title = Set(Some(name.to_owned()));
        row.updated_at = Set(now_millis());
        row.update(&self.db)
            .await
            .map(to_session)
            .map_err(failed(DB, "renaming a conversation"))
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
        let unfile = Query::delete()
            .from_table(Alias::new("conversation_messages"))
            .and_where(Expr::col(Alias::new("conversation_id")).eq(session_id))
            .to_owned();
        txn.execute(&unfile)
            .await
            .map_err(failed(DB, "unfiling messages"))?;
        message::Entity::delete_many()
            .filter(message::Column::ConversationId.eq(session_id))
            .exec(&txn)
            .await
            .map_err(failed(DB, "deleting messages"))?;
        let deleted = conversation::Entity::delete_by_id(session_id)
            .exec(&txn)
            .await
            .map_err(failed(DB, "deleting a conversation"))?;
        txn.commit()
            .await
            .map_err(failed(DB, "committing a delete"))?;
        Ok(deleted.rows_affected > 0)
    }
}
