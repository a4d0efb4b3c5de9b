//! Domain assertions for persistence tests.
//!
//! Each assertion reads the databases through a [`CrossDatabaseInspector`], panics with a
//! message that says what was checked and prints the rows it looked at, and otherwise returns
//! what it found, so a test can go on from there.
//!
//! ```
//! use persist_core::assertions::*;
//! use persist_core::prelude::*;
//!
//! #[persistence_test(agents = ["AgentA", "AgentB"])]
//! async fn a_turn_is_linked(gateway: GatewayPersistenceAdapter, inspector: CrossDatabaseInspector) {
//!     let session = gateway.create_session("alice", "AgentA").await.unwrap();
//!     gateway.send_message(&session.id, "hi", "alice").await.unwrap();
//!     assert_gateway_session_exists(&inspector, &session.id, "alice", "AgentA").await;
//!     assert_session_linking(&inspector, &session.id, "AgentA").await;
//!     assert_agent_message_count(&inspector, "AgentA", &session.id, 2).await;
//!     assert_database_isolation(&inspector, "AgentA", "AgentB").await;
//! }
//! # fn main() {}
//! ```

use crate::error::PersistError;
use crate::inspect::list as rows;
use crate::inspect::{
    AgentMessageRow, AgentSchemaState, AgentSessionRow, ContextIsolationReport,
    CrossDatabaseInspector, DatabaseStats, GatewayMessageRow, GatewaySessionRow, IntegrityReport,
    IsolationReport, MigrationState, SessionLink, UserIsolationReport,
};
use crate::system::RequestLog;

fn check<T>(name: &str, result: Result<T, PersistError>) -> T {
    result.unwrap_or_else(|e| panic!("{name} failed: {e}"))
}

/// The gateway has session `session_id`, owned by `user_id`, with agent `agent_name`.
pub async fn assert_gateway_session_exists(
    inspector: &CrossDatabaseInspector,
    session_id: &str,
    user_id: &str,
    agent_name: &str,
) -> GatewaySessionRow {
    const NAME: &str = "assert_gateway_session_exists";
    let found = check(NAME, inspector.gateway_session(session_id).await);
    match found {
        Some(row) if row.user_id == user_id && row.agent_name == agent_name => row,
        other => {
            let all = check(NAME, inspector.all_gateway_sessions().await);
            panic!(
                "{NAME} failed: expected gateway session {session_id} for user {user_id} and agent {agent_name}, found {}\n  gateway sessions:\n{}",
                other.map_or("no such session".to_owned(), |r| r.to_string()),
                rows(&all)
            )
        }
    }
}

/// Agent `agent` stores a session linked to gateway session `session_id`.
pub async fn assert_agent_session_exists(
    inspector: &CrossDatabaseInspector,
    agent: &str,
    session_id: &str,
) -> AgentSessionRow {
    const NAME: &str = "assert_agent_session_exists";
    let found = check(
        NAME,
        inspector.agent_sessions(agent, Some(session_id)).await,
    );
    match found.into_iter().next() {
        Some(row) => row,
        None => {
            let all = check(NAME, inspector.agent_sessions(agent, None).await);
            panic!(
                "{NAME} failed: agent {agent} has no session {session_id}\n  agent {agent}'s sessions:\n{}",
                rows(&all)
            )
        }
    }
}

/// The gateway holds exactly `expected` messages for `session_id`.
pub async fn assert_gateway_message_count(
    inspector: &CrossDatabaseInspector,
    session_id: &str,
    expected: usize,
) -> Vec<GatewayMessageRow> {
    let found = check(
        "assert_gateway_message_count",
        inspector.gateway_messages(session_id).await,
    );
    if found.len() != expected {
        panic!(
            "assert_gateway_message_count failed: expected {expected} gateway messages in session {session_id}, found {}\n{}",
            found.len(),
            rows(&found)
        );
    }
    found
}

/// Agent `agent` holds exactly `expected` messages for `session_id`.
pub async fn assert_agent_message_count(
    inspector: &CrossDatabaseInspector,
    agent: &str,
    session_id: &str,
    expected: usize,
) -> Vec<AgentMessageRow> {
    let found = check(
        "assert_agent_message_count",
        inspector.agent_messages(agent, Some(session_id)).await,
    );
    if found.len() != expected {
        panic!(
            "assert_agent_message_count failed: expected {expected} messages of session {session_id} in agent {agent}, found {}\n{}",
            found.len(),
            rows(&found)
        );
    }
    found
}

/// A gateway message of `session_id` contains `text`; with `sender_type` (`user`, `agent`,
/// `system`), only messages from that sender count.
pub async fn assert_message_contains(
    inspector: &CrossDatabaseInspector,
    session_id: &str,
    text: &str,
    sender_type: Option<&str>,
) -> GatewayMessageRow {
    let found = check(
        "assert_message_contains",
        inspector.gateway_messages(session_id).await,
    );
    found
        .iter()
        .find(|m| m.message.contains(text) && sender_type.is_none_or(|s| m.sender_type == s))
        .cloned()
        .unwrap_or_else(|| {
            panic!(
                "assert_message_contains failed: no gateway message{} of session {session_id} contains {text:?}\n{}",
                sender_type.map(|s| format!(" from a {s}")).unwrap_or_default(),
                rows(&found)
            )
        })
}

/// A message agent `agent` stores for `session_id` contains `text`; with `role` (`user`,
/// `assistant`), only messages with that role count.
pub async fn assert_agent_message_contains(
    inspector: &CrossDatabaseInspector,
    agent: &str,
    session_id: &str,
    text: &str,
    role: Option<&str>,
) -> AgentMessageRow {
    let found = check(
        "assert_agent_message_contains",
        inspector.agent_messages(agent, Some(session_id)).await,
    );
    found
        .iter()
        .find(|m| m.content.contains(text) && role.is_none_or(|r| m.role == r))
        .cloned()
        .unwrap_or_else(|| {
            panic!(
                "assert_agent_message_contains failed: no {}message of agent {agent} in session {session_id} contains {text:?}\n{}",
                role.map(|r| format!("{r} ")).unwrap_or_default(),
                rows(&found)
            )
        })
}

/// No session or message of one agent appears in the other's database.
pub async fn assert_database_isolation(
    inspector: &CrossDatabaseInspector,
    agent_a: &str,
    agent_b: &str,
) -> IsolationReport {
    check(
        "assert_database_isolation",
        inspector.verify_database_isolation(agent_a, agent_b).await,
    )
}

/// The gateway session and the agent's session exist and agree on id, agent and user.
pub async fn assert_session_linking(
    inspector: &CrossDatabaseInspector,
    session_id: &str,
    agent: &str,
) -> SessionLink {
    check(
        "assert_session_linking",
        inspector.verify_session_linking(session_id, agent).await,
    )
}

/// Every gateway migration is applied, none pending.
pub async fn assert_migration_state(inspector: &CrossDatabaseInspector) -> MigrationState {
    check(
        "assert_migration_state",
        inspector.verify_gateway_migrations().await,
    )
}

/// The agent has its schema's tables and no migration table.
pub async fn assert_agent_schema_correct(
    inspector: &CrossDatabaseInspector,
    agent: &str,
) -> AgentSchemaState {
    check(
        "assert_agent_schema_correct",
        inspector.verify_agent_schema(agent).await,
    )
}

/// Two sessions of one agent keep separate histories.
pub async fn assert_session_context_isolation(
    inspector: &CrossDatabaseInspector,
    agent: &str,
    session_a: &str,
    session_b: &str,
) -> ContextIsolationReport {
    check(
        "assert_session_context_isolation",
        inspector
            .verify_session_context_isolation(agent, session_a, session_b)
            .await,
    )
}

/// No data of one user appears in the other's sessions.
pub async fn assert_no_user_data_leakage(
    inspector: &CrossDatabaseInspector,
    user_a: &str,
    user_b: &str,
) -> UserIsolationReport {
    check(
        "assert_no_user_data_leakage",
        inspector.verify_user_isolation(user_a, user_b).await,
    )
}

/// No orphan, no agent session without its gateway session, counts that agree.
pub async fn assert_integrity(inspector: &CrossDatabaseInspector) -> IntegrityReport {
    check("assert_integrity", inspector.verify_integrity().await)
}

/// The databases hold the `expected` numbers of sessions and messages: the gateway's, and each
/// agent that `expected` lists (see [`DatabaseStats::expect`]).
pub async fn assert_database_stats(
    inspector: &CrossDatabaseInspector,
    expected: &DatabaseStats,
) -> DatabaseStats {
    let found = check("assert_database_stats", inspector.database_stats().await);
    let agents_match = expected
        .agents
        .iter()
        .all(|(agent, stats)| found.agents.get(agent) == Some(stats));
    if found.gateway != expected.gateway || !agents_match {
        panic!("assert_database_stats failed:\n  expected\n{expected}\n  found\n{found}");
    }
    found
}

/// Every request the model received for `session_id` came from `agent` and carried only that
/// session's own history. The history is taken from the gateway's database, not the agent's,
/// so a leak written into the agent's own storage cannot vouch for itself.
pub async fn assert_llm_context_isolated<L: RequestLog + ?Sized>(
    inspector: &CrossDatabaseInspector,
    llm: &L,
    agent: &str,
    session_id: &str,
) {
    use crate::inspect::HistoryItem as Item;
    const NAME: &str = "assert_llm_context_isolated";
    let history = check(NAME, inspector.gateway_messages(session_id).await);
    let role = |sender_type: &str| {
        if sender_type == "agent" {
            "assistant"
        } else {
            "user"
        }
    };
    // The gateway's order, where it knows it: messages tied in time may come in either order.
    let known: Vec<Item<(&str, &str)>> = history
        .iter()
        .map(|row| {
            Item::new(row.block.0, (role(&row.sender_type), row.message.as_str())).in_turn(
                row.task_id.as_deref().unwrap_or_default(),
                row.sender_type == "user",
            )
        })
        .collect();
    for request in llm.requests_for_session(session_id) {
        let shown: Vec<Item<(&str, &str)>> = request
            .context
            .iter()
            .enumerate()
            .map(|(i, m)| Item::new(i, (m.role.as_str(), m.content.as_str())))
            .collect();
        let prefix_ok =
            request.agent == agent && crate::inspect::histories_agree(&shown, &known, true).is_ok();
        if !prefix_ok {
            let seen: Vec<String> = request
                .context
                .iter()
                .map(|m| format!("{}: {:?}", m.role, m.content))
                .collect();
            panic!(
                "{NAME} failed: agent {} was shown, for session {session_id} (task {}):\n{}\n  but the session's history in the gateway is:\n{}",
                request.agent,
                request.task_id,
                rows(&seen),
                rows(&history)
            );
        }
    }
}
