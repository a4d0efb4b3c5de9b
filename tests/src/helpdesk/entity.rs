//! The helpdesk agents' entities: an agent framework's session store.

/// `sessions`, keyed by (`app_name`, `user_id`, `id`).
pub mod adk_session {
    use sea_orm::entity::prelude::*;

    /// One session of one app (agent) and user.
    #[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
    #[sea_orm(table_name = "sessions")]
    pub struct Model {
        /// The agent.
        #[sea_orm(primary_key, auto_increment = false)]
        pub app_name: String,
        /// The user.
        #[sea_orm(primary_key, auto_increment = false)]
        pub user_id: String,
        /// The gateway session id.
        #[sea_orm(primary_key, auto_increment = false)]
        pub id: String,
        /// Working state.
        pub state: Json,
        /// Creation, seconds.
        pub create_time: f64,
        /// Last update, seconds.
        pub update_time: f64,
    }

    /// No relations are declared: events carry the whole key.
    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    impl ActiveModelBehavior for ActiveModel {}
}

/// `events`: what happened in a session, in order.
pub mod event {
    use sea_orm::entity::prelude::*;

    /// One event.
    #[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
    #[sea_orm(table_name = "events")]
    pub struct Model {
        /// Event id.
        #[sea_orm(primary_key, auto_increment = false)]
        pub id: String,
        /// The agent.
        pub app_name: String,
        /// The user.
        pub user_id: String,
        /// The gateway session id.
        #[sea_orm(indexed)]
        pub session_id: String,
        /// The gateway's turn.
        pub invocation_id: String,
        /// `user` or the agent's name.
        pub author: String,
        /// `{"role": …, "parts": [{"text": …}]}`.
        pub content: Json,
        /// Seconds since the epoch.
        pub timestamp: f64,
    }

    /// No relations are declared.
    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    impl ActiveModelBehavior for ActiveModel {}
}

/// The gateway's `users` (created by its migrations; the entity is for queries only).
pub mod gw_user {
    use sea_orm::entity::prelude::*;

    /// A user.
    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "users")]
    pub struct Model {
        /// User id.
        #[sea_orm(primary_key, auto_increment = false)]
        pub id: String,
        /// Shown name.
        pub display_name: String,
    }

    /// No relations are declared.
    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    impl ActiveModelBehavior for ActiveModel {}
}

/// The gateway's `sessions`.
pub mod gw_session {
    use sea_orm::entity::prelude::*;

    /// A user's session with one agent.
    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "sessions")]
    pub struct Model {
        /// Session id.
        #[sea_orm(primary_key, auto_increment = false)]
        pub id: String,
        /// Owner.
        pub user_id: String,
        /// The agent.
        pub agent: String,
        /// Display name.
        pub title: Option<String>,
        /// Creation, epoch milliseconds.
        pub created_ms: i64,
        /// Last update, epoch milliseconds.
        pub updated_ms: i64,
    }

    /// No relations are declared.
    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    impl ActiveModelBehavior for ActiveModel {}
}

/// The gateway's `chat_messages`.
pub mod gw_message {
    use sea_orm::entity::prelude::*;

    /// One message.
    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "chat_messages")]
    pub struct Model {
        /// Message id.
        #[sea_orm(primary_key)]
        pub id: i64,
        /// The session.
        pub session_id: String,
        /// `human`, `bot` or `system`.
        pub author_kind: String,
        /// The user id or the agent's name.
        pub author: String,
        /// The text (`text`, as its migration creates it; the drift check found the
        /// entity saying `varchar`).
        #[sea_orm(column_type = "Text")]
        pub body: String,
        /// The turn.
        pub turn_id: Option<String>,
        /// Creation, epoch milliseconds.
        pub created_ms: i64,
    }

    /// No relations are declared.
    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    impl ActiveModelBehavior for ActiveModel {}
}
