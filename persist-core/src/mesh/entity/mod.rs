//! SeaORM entities of the mesh under test.
//!
//! The gateway's entities mirror the tables that the `migration` crate creates; the agents'
//! entities *are* the agent schema: agent databases are created directly from them.

pub mod agent_message;
pub mod agent_session;
pub mod chat_message;
pub mod session;
