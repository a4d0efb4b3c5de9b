//! `sessions` in the gateway database (created by the migrations).

use sea_orm::entity::prelude::*;

/// A gateway session row.
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "sessions")]
pub struct Model {
    /// Session id (a UUID).
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: String,
    /// Optional display name.
    pub name: Option<String>,
    /// The owning user.
    pub user_id: String,
    /// The agent this session talks to.
    pub agent_name: String,
    /// Creation time, epoch milliseconds.
    pub created_at: i64,
    /// Last activity, epoch milliseconds.
    pub updated_at: i64,
    /// Last switch to this session, epoch milliseconds.
    pub last_active_at: Option<i64>,
}

/// Relations of `sessions`.
#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {
    /// A session has many chat messages.
    #[sea_orm(has_many = "super::chat_message::Entity")]
    ChatMessages,
}

impl Related<super::chat_message::Entity> for Entity {
    fn to() -> RelationDef {
        Relation::ChatMessages.def()
    }
}

impl ActiveModelBehavior for ActiveModel {}
