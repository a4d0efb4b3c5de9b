//! The switchboard's SeaORM entities: the gateway's current tables (its schema is the
//! migrations'), and the chat agent's session store (created from these entities, as the
//! OpenAI Agents SDK's `SQLAlchemySession` creates its two tables).

/// A conversation: the gateway's session.
pub mod conversation {
    use sea_orm::entity::prelude::*;

    /// A row of `conversations`.
    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "conversations")]
    pub struct Model {
        #[sea_orm(primary_key, auto_increment = false)]
        pub id: String,
        /// The agent's id, which is its name in the mesh.
        pub agent_id: String,
        pub user_id: String,
        pub title: Option<String>,
        pub created_at: i64,
        pub updated_at: i64,
    }

    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    impl ActiveModelBehavior for ActiveModel {}
}

/// A message of the gateway: no user (it was dropped), numbered by `sequence_id`.
pub mod message {
    use sea_orm::entity::prelude::*;

    /// A row of `messages`.
    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "messages")]
    pub struct Model {
        #[sea_orm(primary_key, auto_increment = false)]
        pub id: String,
        pub agent_id: String,
        /// `user` or `assistant`.
        pub role: String,
        #[sea_orm(column_type = "Text")]
        pub text: String,
        /// The run (turn) that wrote it.
        pub run_id: Option<String>,
        pub created_at: DateTime,
        pub organization_id: Option<String>,
        /// Its place among all messages; given by the database.
        pub sequence_id: Option<i64>,
        pub conversation_id: Option<String>,
    }

    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    impl ActiveModelBehavior for ActiveModel {}
}

/// The OpenAI Agents SDK's session table: a session id and two times, no user.
pub mod agent_session {
    use sea_orm::entity::prelude::*;

    /// A row of `agent_sessions`.
    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "agent_sessions")]
    pub struct Model {
        #[sea_orm(primary_key, auto_increment = false)]
        pub session_id: String,
        #[sea_orm(default_expr = "Expr::current_timestamp()")]
        pub created_at: DateTime,
        #[sea_orm(default_expr = "Expr::current_timestamp()")]
        pub updated_at: DateTime,
    }

    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {
        #[sea_orm(has_many = "super::agent_message::Entity")]
        Messages,
    }

    impl Related<super::agent_message::Entity> for Entity {
        fn to() -> RelationDef {
            Relation::Messages.def()
        }
    }

    impl ActiveModelBehavior for ActiveModel {}
}

/// The OpenAI Agents SDK's message table: one Responses item per row, as JSON text, numbered
/// by the database, timed by it (whole seconds on SQLite and MariaDB).
pub mod agent_message {
    use sea_orm::entity::prelude::*;

    /// A row of `agent_messages`.
    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "agent_messages")]
    pub struct Model {
        #[sea_orm(primary_key)]
        pub id: i64,
        #[sea_orm(indexed)]
        pub session_id: String,
        #[sea_orm(column_type = "Text")]
        pub message_data: String,
        #[sea_orm(default_expr = "Expr::current_timestamp()")]
        pub created_at: DateTime,
    }

    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {
        #[sea_orm(
            belongs_to = "super::agent_session::Entity",
            from = "Column::SessionId",
            to = "super::agent_session::Column::SessionId",
            on_delete = "Cascade"
        )]
        Session,
    }

    impl Related<super::agent_session::Entity> for Entity {
        fn to() -> RelationDef {
            Relation::Session.def()
        }
    }

    impl ActiveModelBehavior for ActiveModel {}
}
