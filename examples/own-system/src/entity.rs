//! The entities: the agents' schema (`memory`, `turn`) and the gateway's tables as the
//! gateway queries them (`conversation`, `utterance`).

/// An agent's memory of one conversation.
pub mod memory {
    use persist_core::sea_orm;
    use sea_orm::entity::prelude::*;

    /// One conversation's memory.
    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "memories")]
    pub struct Model {
        /// The gateway's conversation id.
        #[sea_orm(primary_key, auto_increment = false)]
        pub conversation_id: String,
        /// The customer.
        pub customer: String,
        /// JSON notes, as text.
        #[sea_orm(column_type = "Text")]
        pub notes: String,
    }

    /// No relations are declared.
    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    impl ActiveModelBehavior for ActiveModel {}
}

/// One message an agent keeps.
pub mod turn {
    use persist_core::sea_orm;
    use sea_orm::entity::prelude::*;

    /// One message.
    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "turns")]
    pub struct Model {
        /// Id.
        #[sea_orm(primary_key, auto_increment = false)]
        pub id: String,
        /// The gateway's conversation id.
        #[sea_orm(indexed)]
        pub conversation_id: String,
        /// `user` or `assistant`.
        pub role: String,
        /// The text.
        #[sea_orm(column_type = "Text")]
        pub body: String,
        /// The gateway's exchange (turn) id.
        pub exchange_id: String,
        /// Epoch milliseconds.
        pub at: i64,
    }

    /// No relations are declared.
    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    impl ActiveModelBehavior for ActiveModel {}
}

/// The gateway's `conversations`.
pub mod conversation {
    use persist_core::sea_orm;
    use sea_orm::entity::prelude::*;

    /// A customer's conversation with one agent.
    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "conversations")]
    pub struct Model {
        /// Id.
        #[sea_orm(primary_key, auto_increment = false)]
        pub id: String,
        /// The customer.
        pub owner: String,
        /// The agent.
        pub agent: String,
        /// Display name.
        pub subject: Option<String>,
        /// Epoch milliseconds.
        pub opened_at: i64,
        /// Epoch milliseconds.
        pub touched_at: i64,
    }

    /// No relations are declared.
    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    impl ActiveModelBehavior for ActiveModel {}
}

/// The gateway's `utterances`.
pub mod utterance {
    use persist_core::sea_orm;
    use sea_orm::entity::prelude::*;

    /// One utterance.
    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "utterances")]
    pub struct Model {
        /// Id.
        #[sea_orm(primary_key, auto_increment = false)]
        pub id: String,
        /// The conversation.
        pub conversation_id: String,
        /// `customer` or `assistant`.
        pub speaker: String,
        /// The customer's id or the agent's name.
        pub speaker_id: String,
        /// The text (`text`, as the migration creates it).
        #[sea_orm(column_type = "Text")]
        pub text: String,
        /// The exchange (turn).
        pub exchange_id: String,
        /// Epoch milliseconds.
        pub said_at: i64,
    }

    /// No relations are declared.
    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    impl ActiveModelBehavior for ActiveModel {}
}
