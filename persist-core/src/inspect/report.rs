//! What the verifications return, and how they fail.

use std::collections::BTreeMap;
use std::fmt;

use serde::Serialize;

use crate::error::PersistError;

use super::rows::{AgentMessageRow, AgentSessionRow, GatewayMessageRow, GatewaySessionRow};
use super::state::{AgentSchemaState, MigrationState};

/// A cross-database check failed.
#[derive(Clone, Debug, thiserror::Error)]
#[non_exhaustive]
pub enum VerificationError {
    /// The gateway is not fully migrated.
    #[error(
        "gateway migrations are not current (tracking table `{}` {}): applied {:?}, pending {:?}, unknown {:?}",
        state.table,
        if state.table_present { "present" } else { "missing" },
        state.applied, state.pending, state.unknown
    )]
    Migrations {
        /// What was found.
        state: MigrationState,
    },
    /// An agent's schema is wrong.
    #[error(
        "agent {} has the wrong schema at {}: missing tables {:?}, migration tables {:?} (found tables {:?})",
        state.agent, state.location, state.missing_tables, state.migration_tables, state.tables
    )]
    AgentSchema {
        /// What was found.
        state: AgentSchemaState,
    },
    /// A gateway session and its agent session do not agree.
    #[error("session {session_id} is not linked to agent {agent}: {reason}\n  rows:\n{rows}")]
    SessionLink {
        /// The gateway session.
        session_id: String,
        /// The agent.
        agent: String,
        /// What is wrong.
        reason: String,
        /// The rows looked at.
        rows: String,
    },
    /// Data of one agent was found in another's database.
    #[error(
        "isolation between agents {agent_a} and {agent_b} is broken:\n{}",
        lines(leaks)
    )]
    AgentIsolation {
        /// The first agent.
        agent_a: String,
        /// The second agent.
        agent_b: String,
        /// Each leak, with its row.
        leaks: Vec<String>,
    },
    /// Messages of one session were found in another session's history.
    #[error(
        "context isolation between sessions {session_a} and {session_b} of agent {agent} is broken:\n{}",
        lines(leaks)
    )]
    ContextIsolation {
        /// The agent.
        agent: String,
        /// The first session.
        session_a: String,
        /// The second session.
        session_b: String,
        /// Each leak, with its row.
        leaks: Vec<String>,
    },
    /// Data of one user was found in another user's sessions.
    #[error("data leaks between users {user_a} and {user_b}:\n{}", lines(leaks))]
    UserIsolation {
        /// The first user.
        user_a: String,
        /// The second user.
        user_b: String,
        /// Each leak, with its row.
        leaks: Vec<String>,
    },
    /// Two roles share one database.
    #[error("databases are not distinct:\n{}", lines(shared))]
    DatabasesNotDistinct {
        /// Each pair of roles sharing a database.
        shared: Vec<String>,
    },
    /// The databases disagree with each other or with themselves.
    #[error("integrity problems:\n{}", lines(&problems.iter().map(ToString::to_string).collect::<Vec<_>>()))]
    Integrity {
        /// Each problem found.
        problems: Vec<IntegrityProblem>,
    },
}

impl From<VerificationError> for PersistError {
    fn from(error: VerificationError) -> Self {
        PersistError::Verification(Box::new(error))
    }
}

impl PersistError {
    /// The verification's failure, with the rows it saw, if this is one
    /// ([`PersistError::Verification`]).
    pub fn verification(&self) -> Option<&VerificationError> {
        match self {
            PersistError::Verification(error) => error.downcast_ref(),
            _ => None,
        }
    }
}

fn lines(items: &[String]) -> String {
    items
        .iter()
        .map(|i| format!("  - {i}"))
        .collect::<Vec<_>>()
        .join("\n")
}

/// A gateway session and the agent session linked to it.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct SessionLink {
    /// The gateway's row.
    pub gateway: GatewaySessionRow,
    /// The agent's row.
    pub agent: AgentSessionRow,
}

/// What an agent-isolation check looked at.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct IsolationReport {
    /// Sessions and messages of each agent, by agent name.
    pub checked: BTreeMap<String, (usize, usize)>,
}

/// What a context-isolation check looked at.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct ContextIsolationReport {
    /// The agent.
    pub agent: String,
    /// Messages per session, as the agent stores them.
    pub messages: BTreeMap<String, usize>,
}

/// What a user-isolation check looked at.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct UserIsolationReport {
    /// Sessions per user in the gateway.
    pub sessions: BTreeMap<String, usize>,
}

/// What the server calls one database.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct DatabaseIdentity {
    /// `gateway` or `agent <name>`.
    pub role: String,
    /// The server's name for it (a file for SQLite).
    pub identity: String,
}

/// One integrity problem.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[non_exhaustive]
pub enum IntegrityProblem {
    /// A gateway message whose session does not exist.
    OrphanGatewayMessage {
        /// The message.
        message: GatewayMessageRow,
    },
    /// An agent message whose agent session does not exist.
    OrphanAgentMessage {
        /// The message.
        message: AgentMessageRow,
    },
    /// An agent session whose gateway session does not exist (deleted, or never created).
    AgentSessionWithoutGateway {
        /// The agent's row.
        session: AgentSessionRow,
    },
    /// The gateway and the agent hold different numbers of messages for a session.
    CountMismatch {
        /// The session.
        session_id: String,
        /// Its agent.
        agent: String,
        /// Messages in the gateway.
        gateway: usize,
        /// Messages in the agent.
        agent_count: usize,
    },
    /// The gateway and the agent hold a session's turns in different orders (read by their
    /// turn ids, oldest first; both layouts need a turn column).
    OrderMismatch {
        /// The session.
        session_id: String,
        /// Its agent.
        agent: String,
        /// The first position (0-based turn) where they differ.
        position: usize,
        /// The gateway's turn ids, oldest first.
        gateway_turns: Vec<String>,
        /// The agent's turn ids, oldest first.
        agent_turns: Vec<String>,
    },
    /// The gateway and the agent hold a session's messages in different orders, where the
    /// turns of its messages are not all known (read by their text, oldest first; messages
    /// tied in time may come in either order).
    HistoryOrderMismatch {
        /// The session.
        session_id: String,
        /// Its agent.
        agent: String,
        /// The first position (0-based message) that no order of the ties can place.
        position: usize,
        /// The gateway's messages, oldest first.
        gateway: Vec<String>,
        /// The agent's messages, oldest first.
        agent_messages: Vec<String>,
    },
}

impl fmt::Display for IntegrityProblem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            IntegrityProblem::OrphanGatewayMessage { message } => {
                write!(f, "orphan gateway message (no such session): {message}")
            }
            IntegrityProblem::OrphanAgentMessage { message } => {
                write!(f, "orphan agent message (no such agent session): {message}")
            }
            IntegrityProblem::AgentSessionWithoutGateway { session } => {
                write!(f, "agent session without a gateway session: {session}")
            }
            IntegrityProblem::CountMismatch {
                session_id,
                agent,
                gateway,
                agent_count,
            } => write!(
                f,
                "session {session_id}: {gateway} messages in the gateway, {agent_count} in agent {agent}"
            ),
            IntegrityProblem::OrderMismatch {
                session_id,
                agent,
                position,
                gateway_turns,
                agent_turns,
            } => write!(
                f,
                "session {session_id}: turn {position} differs between the gateway ({}) and agent {agent} ({}); gateway order: [{}], agent order: [{}]",
                gateway_turns.get(*position).map_or("-", String::as_str),
                agent_turns.get(*position).map_or("-", String::as_str),
                gateway_turns.join(", "),
                agent_turns.join(", ")
            ),
            IntegrityProblem::HistoryOrderMismatch {
                session_id,
                agent,
                position,
                gateway,
                agent_messages,
            } => {
                let quoted = |m: &[String]| {
                    m.iter()
                        .map(|t| format!("{t:?}"))
                        .collect::<Vec<_>>()
                        .join(", ")
                };
                write!(
                    f,
                    "session {session_id}: message {position} is out of order between the gateway and agent {agent} (no order of messages tied in time makes them agree); gateway order: [{}], agent order: [{}]",
                    quoted(gateway),
                    quoted(agent_messages)
                )
            }
        }
    }
}

/// What an integrity check looked at.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct IntegrityReport {
    /// Gateway sessions checked.
    pub gateway_sessions: usize,
    /// Gateway messages checked.
    pub gateway_messages: usize,
    /// Agent sessions checked, per agent.
    pub agent_sessions: BTreeMap<String, usize>,
}
