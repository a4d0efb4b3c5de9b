//! The gateway database schema, as real SeaORM migrations.
//!
//! The gateway's schema grows the way a production schema does: one step at a time, each with a
//! working `down`. Agent databases are deliberately *not* managed here: agents create their
//! schema directly from their entities.
//!
//! | step | what it does |
//! |------|--------------|
//! | [`m20260101_000001_create_sessions_and_chat_messages`] | `sessions` and `chat_messages` (cascading foreign key) |
//! | [`m20260101_000002_create_gateway_indexes`] | indexes for the queries the gateway makes |
//! | [`m20260101_000003_add_task_id_to_chat_messages`] | a task id on every message, indexed |
//! | [`m20260101_000004_add_last_active_at_to_sessions`] | when the user last switched to a session |
//! | [`m20260101_000005_long_message_text`] | message text up to LONGTEXT on MySQL and MariaDB |

pub use sea_orm_migration::prelude::*;

pub mod m20260101_000001_create_sessions_and_chat_messages;
pub mod m20260101_000002_create_gateway_indexes;
pub mod m20260101_000003_add_task_id_to_chat_messages;
pub mod m20260101_000004_add_last_active_at_to_sessions;
pub mod m20260101_000005_long_message_text;

pub use m20260101_000001_create_sessions_and_chat_messages::{ChatMessages, Sessions};

/// The gateway's migrator. Its tracking table is the standard `seaql_migrations`.
pub struct Migrator;

#[async_trait::async_trait]
impl MigratorTrait for Migrator {
    fn migrations() -> Vec<Box<dyn MigrationTrait>> {
        vec![
            Box::new(m20260101_000001_create_sessions_and_chat_messages::Migration),
            Box::new(m20260101_000002_create_gateway_indexes::Migration),
            Box::new(m20260101_000003_add_task_id_to_chat_messages::Migration),
            Box::new(m20260101_000004_add_last_active_at_to_sessions::Migration),
            Box::new(m20260101_000005_long_message_text::Migration),
        ]
    }
}
