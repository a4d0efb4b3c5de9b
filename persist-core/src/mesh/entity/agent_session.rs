//! `agent_sessions` in an agent database (created directly from this entity).

use sea_orm::entity::prelude::*;

/// An agent's record of one gateway session.
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "agent_sessions")]
pub struct Model {
    /// The gateway session id this row is linked to.
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: String,
    /// The user the gateway said owns the session.
    #[sea_orm(indexed)]
    pub user_id: String,
    /// The agent that owns this database.
    pub agent_name: String,
    /// The agent's working state for the session (JSON).
    pub state: Json,
    /// Creation time, epoch milliseconds.
    pub created_at: i64,
    /// Last update, epoch milliseconds.
    pub updated_at: i64,
}

/// Relations of `agent_sessions`.
#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {
    /// An agent session has many messages.
    #[sea_orm(has_many = "super::agent_message::Entity")]
    AgentMessages,
}

impl Related<super::agent_message::Entity> for Entity {
    fn to() -> RelationDef {
        Relation::AgentMessages.def()
    }
}

impl ActiveModelBehavior for ActiveModel {}
