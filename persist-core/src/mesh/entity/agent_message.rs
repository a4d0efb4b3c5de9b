//! `agent_messages` in an agent database (created directly from this entity).

use sea_orm::entity::prelude::*;

/// One message of an agent's conversation history.
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "agent_messages")]
pub struct Model {
    /// Message id (a UUID).
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: String,
    /// The agent session (= gateway session id).
    #[sea_orm(indexed)]
    pub session_id: String,
    /// `user` or `assistant`.
    pub role: String,
    /// The text.
    #[sea_orm(column_type = "Text")]
    pub content: String,
    /// The gateway task (turn) that produced this message.
    #[sea_orm(indexed)]
    pub task_id: String,
    /// Creation time, epoch milliseconds.
    pub created_at: i64,
}

/// Relations of `agent_messages`.
#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {
    /// Each message belongs to one agent session.
    #[sea_orm(
        belongs_to = "super::agent_session::Entity",
        from = "Column::SessionId",
        to = "super::agent_session::Column::Id",
        on_delete = "Cascade"
    )]
    AgentSession,
}

impl Related<super::agent_session::Entity> for Entity {
    fn to() -> RelationDef {
        Relation::AgentSession.def()
    }
}

impl ActiveModelBehavior for ActiveModel {}
