//! `chat_messages` in the gateway database (created by the migrations).

use sea_orm::entity::prelude::*;

/// A gateway chat message row.
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "chat_messages")]
pub struct Model {
    /// Message id (a UUID).
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: String,
    /// The session it belongs to.
    pub session_id: String,
    /// The text.
    #[sea_orm(column_type = "Text")]
    pub message: String,
    /// `user`, `agent` or `system`.
    pub sender_type: String,
    /// The user id or the agent name.
    pub sender_name: String,
    /// Creation time, epoch milliseconds.
    pub created_at: i64,
    /// The turn this message belongs to.
    pub task_id: Option<String>,
}

/// Relations of `chat_messages`.
#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {
    /// Each message belongs to one session.
    #[sea_orm(
        belongs_to = "super::session::Entity",
        from = "Column::SessionId",
        to = "super::session::Column::Id",
        on_delete = "Cascade"
    )]
    Session,
}

impl Related<super::session::Entity> for Entity {
    fn to() -> RelationDef {
        Relation::Session.def()
    }
}

impl ActiveModelBehavior for ActiveModel {}
