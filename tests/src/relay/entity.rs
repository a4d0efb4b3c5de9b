//! The relay's SeaORM entities: the gateway's current tables (its schema is the migrations')
//! and the agents' tables (created from these entities).

/// A gateway session.
pub mod session {
    use sea_orm::entity::prelude::*;

    /// A row of `sessions`.
    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "sessions")]
    pub struct Model {
        #[sea_orm(primary_key, auto_increment = false)]
        pub id: String,
        pub user_id: String,
        pub name: Option<String>,
        pub agent_id: String,
        pub created_time: i64,
        pub updated_time: i64,
    }

    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    impl ActiveModelBehavior for ActiveModel {}
}

/// One turn of a gateway session: both sides' text as JSON bubbles in a text column.
pub mod chat_task {
    use sea_orm::entity::prelude::*;

    /// A row of `chat_tasks`; its id is the task id.
    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "chat_tasks")]
    pub struct Model {
        #[sea_orm(primary_key, auto_increment = false)]
        pub id: String,
        pub session_id: String,
        pub user_id: String,
        #[sea_orm(column_type = "Text", nullable)]
        pub user_message: Option<String>,
        /// `[{"type": "user", "text": …}, {"type": "agent", "text": …}]`.
        #[sea_orm(column_type = "Text")]
        pub message_bubbles: String,
        /// `{"agent_name": …}`.
        #[sea_orm(column_type = "Text", nullable)]
        pub task_metadata: Option<String>,
        pub created_time: i64,
        pub updated_time: Option<i64>,
    }

    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    impl ActiveModelBehavior for ActiveModel {}
}

/// A task the gateway ran for a turn.
pub mod task {
    use sea_orm::entity::prelude::*;

    /// A row of `tasks`.
    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "tasks")]
    pub struct Model {
        #[sea_orm(primary_key, auto_increment = false)]
        pub id: String,
        pub user_id: String,
        pub start_time: i64,
        pub end_time: Option<i64>,
        pub status: Option<String>,
        #[sea_orm(column_type = "Text", nullable)]
        pub initial_request_text: Option<String>,
    }

    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    impl ActiveModelBehavior for ActiveModel {}
}

/// An event of a task: the request sent and the response received.
pub mod task_event {
    use sea_orm::entity::prelude::*;

    /// A row of `task_events`.
    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "task_events")]
    pub struct Model {
        #[sea_orm(primary_key, auto_increment = false)]
        pub id: String,
        pub task_id: String,
        pub user_id: Option<String>,
        pub created_time: i64,
        pub topic: String,
        pub direction: String,
        #[sea_orm(column_type = "Text")]
        pub payload: String,
    }

    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    impl ActiveModelBehavior for ActiveModel {}
}

/// An agent's session, keyed by (`app_name`, `user_id`, `id`; 128 characters each, so the
/// composite keys fit MySQL's key length): its own id, with the gateway
/// session it serves in its JSON `state`.
pub mod adk_session {
    use sea_orm::entity::prelude::*;

    /// A row of `sessions`.
    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "sessions")]
    pub struct Model {
        #[sea_orm(
            primary_key,
            auto_increment = false,
            column_type = "String(StringLen::N(128))"
        )]
        pub app_name: String,
        #[sea_orm(
            primary_key,
            auto_increment = false,
            column_type = "String(StringLen::N(128))"
        )]
        pub user_id: String,
        #[sea_orm(
            primary_key,
            auto_increment = false,
            column_type = "String(StringLen::N(128))"
        )]
        pub id: String,
        pub state: Json,
        pub create_time: DateTime,
        pub update_time: DateTime,
    }

    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {
        #[sea_orm(has_many = "super::adk_event::Entity")]
        Events,
    }

    impl Related<super::adk_event::Entity> for Entity {
        fn to() -> RelationDef {
            Relation::Events.def()
        }
    }

    impl ActiveModelBehavior for ActiveModel {}
}

/// An event of an agent's session: one message, its text inside JSON `content`, the
/// gateway's task id inside `custom_metadata`, a native time with its zone.
pub mod adk_event {
    use sea_orm::entity::prelude::*;

    /// A row of `events`.
    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "events")]
    pub struct Model {
        #[sea_orm(
            primary_key,
            auto_increment = false,
            column_type = "String(StringLen::N(128))"
        )]
        pub id: String,
        #[sea_orm(
            primary_key,
            auto_increment = false,
            column_type = "String(StringLen::N(128))"
        )]
        pub app_name: String,
        #[sea_orm(
            primary_key,
            auto_increment = false,
            column_type = "String(StringLen::N(128))"
        )]
        pub user_id: String,
        #[sea_orm(
            primary_key,
            auto_increment = false,
            column_type = "String(StringLen::N(128))"
        )]
        pub session_id: String,
        pub invocation_id: String,
        pub author: String,
        pub timestamp: DateTimeUtc,
        pub content: Json,
        pub custom_metadata: Option<Json>,
    }

    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {
        #[sea_orm(
            belongs_to = "super::adk_session::Entity",
            from = "(Column::AppName, Column::UserId, Column::SessionId)",
            to = "(super::adk_session::Column::AppName, super::adk_session::Column::UserId, super::adk_session::Column::Id)",
            on_delete = "Cascade"
        )]
        Session,
    }

    impl Related<super::adk_session::Entity> for Entity {
        fn to() -> RelationDef {
            Relation::Session.def()
        }
    }

    impl ActiveModelBehavior for ActiveModel {}
}

/// State an agent keeps for its whole app.
pub mod app_state {
    use sea_orm::entity::prelude::*;

    /// A row of `app_states`.
    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "app_states")]
    pub struct Model {
        #[sea_orm(
            primary_key,
            auto_increment = false,
            column_type = "String(StringLen::N(128))"
        )]
        pub app_name: String,
        pub state: Json,
        pub update_time: DateTime,
    }

    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    impl ActiveModelBehavior for ActiveModel {}
}

/// State an agent keeps per user, across sessions.
pub mod user_state {
    use sea_orm::entity::prelude::*;

    /// A row of `user_states`.
    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "user_states")]
    pub struct Model {
        #[sea_orm(
            primary_key,
            auto_increment = false,
            column_type = "String(StringLen::N(128))"
        )]
        pub app_name: String,
        #[sea_orm(
            primary_key,
            auto_increment = false,
            column_type = "String(StringLen::N(128))"
        )]
        pub user_id: String,
        pub state: Json,
        pub update_time: DateTime,
    }

    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    impl ActiveModelBehavior for ActiveModel {}
}
