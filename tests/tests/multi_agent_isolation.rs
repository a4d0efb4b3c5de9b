//! Seed category 3, multi-agent isolation: between agents, gateway↔agent linking, between
//! sessions of one agent (including what the model was shown), between users, and under
//! concurrent load.

use std::collections::BTreeMap;

use persist_core::assertions::*;
use persist_core::inspect::DatabaseStats;
use persist_core::prelude::*;

const AGENTS: [&str; 4] = ["AgentA", "AgentB", "AgentC", "AgentD"];

#[persistence_test(agents = ["AgentA", "AgentB", "AgentC", "AgentD"], http = ["direct", "router", "socket"])]
async fn agents_only_ever_hold_their_own_sessions(
    gateway: GatewayPersistenceAdapter,
    inspector: CrossDatabaseInspector,
) {
    let mut sessions = BTreeMap::new();
    for agent in AGENTS {
        let session = gateway.create_session("alice", agent).await.unwrap();
        gateway
            .send_message(&session.id, &format!("for {agent}"), "alice")
            .await
            .unwrap();
        sessions.insert(agent, session.id);
    }
    for (i, a) in AGENTS.iter().enumerate() {
        for b in &AGENTS[i + 1..] {
            let report = assert_database_isolation(&inspector, a, b).await;
            assert_eq!(report.checked[*a], (1, 2));
        }
        let own = inspector.agent_messages(a, None).await.unwrap();
        assert!(own.iter().all(|m| m.session_id == sessions[a]), "{own:?}");
        assert_agent_message_contains(
            &inspector,
            a,
            &sessions[a],
            &format!("for {a}"),
            Some("user"),
        )
        .await;
    }
    let mut expected = DatabaseStats::expect(4, 8);
    for agent in AGENTS {
        expected = expected.agent(agent, 1, 2);
    }
    assert_database_stats(&inspector, &expected).await;
}

#[persistence_test(agents = ["AgentA", "AgentB", "AgentC", "AgentD"], http = ["direct", "router", "socket"])]
async fn gateway_and_agent_sessions_are_linked(
    gateway: GatewayPersistenceAdapter,
    inspector: CrossDatabaseInspector,
) {
    for (user, agent) in [
        ("alice", "AgentA"),
        ("bob", "AgentB"),
        ("alice", "AgentC"),
        ("carol", "AgentD"),
    ] {
        let session = gateway.create_session(user, agent).await.unwrap();
        gateway
            .send_message(&session.id, "link me", user)
            .await
            .unwrap();
        let link = assert_session_linking(&inspector, &session.id, agent).await;
        assert_eq!(link.gateway.id, link.agent.id);
        assert_eq!(
            (link.agent.user_id.as_str(), link.agent.agent_name.as_str()),
            (user, agent)
        );
        // The link is by id: the session is not linked to any other agent.
        for other in AGENTS.iter().filter(|a| **a != agent) {
            assert!(
                inspector
                    .verify_session_linking(&session.id, other)
                    .await
                    .is_err()
            );
        }
    }
    assert_integrity(&inspector).await;
}

#[persistence_test(agents = ["AgentA", "AgentB"], http = ["direct", "router", "socket"])]
async fn sessions_of_one_agent_keep_separate_contexts(
    gateway: GatewayPersistenceAdapter,
    inspector: CrossDatabaseInspector,
    llm: ScriptedLlm,
) {
    let one = gateway.create_session("alice", "AgentA").await.unwrap();
    let two = gateway.create_session("alice", "AgentA").await.unwrap();
    for i in 0..3 {
        gateway
            .send_message(&one.id, &format!("one-{i}"), "alice")
            .await
            .unwrap();
        gateway
            .send_message(&two.id, &format!("two-{i}"), "alice")
            .await
            .unwrap();
    }
    let report = assert_session_context_isolation(&inspector, "AgentA", &one.id, &two.id).await;
    assert_eq!(report.messages[&one.id], 6);
    assert_llm_context_isolated(&inspector, &llm, "AgentA", &one.id).await;
    assert_llm_context_isolated(&inspector, &llm, "AgentA", &two.id).await;
    for request in llm.requests_for_session(&two.id) {
        assert!(
            request.context.iter().all(|m| !m.content.contains("one-")),
            "{request:?}"
        );
    }
    let last = llm.requests_for_session(&one.id).pop().unwrap();
    assert_eq!(
        last.context.len(),
        4,
        "the third turn saw exactly the first two turns"
    );
}

#[persistence_test(agents = ["AgentA", "AgentB"], http = ["direct", "router", "socket"])]
async fn users_never_see_each_others_data(
    gateway: GatewayPersistenceAdapter,
    inspector: CrossDatabaseInspector,
) {
    // Each user through a handle of their own: a user id cannot stand where a session id goes.
    let (as_alice, as_bob) = (gateway.user("alice"), gateway.user("bob"));
    let alice = as_alice.create_session("AgentA").await.unwrap();
    let bob = as_bob.create_session("AgentA").await.unwrap();
    as_alice
        .send_message(&alice.id, "alice's secret")
        .await
        .unwrap();
    as_bob.send_message(&bob.id, "bob's secret").await.unwrap();

    let report = assert_no_user_data_leakage(&inspector, "alice", "bob").await;
    assert_eq!((report.sessions["alice"], report.sessions["bob"]), (1, 1));
    assert_eq!(as_bob.list_sessions().await.unwrap().len(), 1);
    assert!(matches!(
        as_bob.session_messages(&alice.id).await,
        Err(PersistError::SessionNotFound { .. })
    ));
    assert!(matches!(
        as_bob.send_message(&alice.id, "hijack").await,
        Err(PersistError::SessionNotFound { .. })
    ));
    assert!(!as_bob.delete_session(&alice.id).await.unwrap());
    assert_eq!(as_alice.session_messages(&alice.id).await.unwrap().len(), 2);
    assert_gateway_message_count(&inspector, &alice.id, 2).await;
    let bobs = inspector.gateway_sessions("bob").await.unwrap();
    assert_eq!(bobs.len(), 1);
    assert!(
        inspector
            .gateway_messages(&bobs[0].id)
            .await
            .unwrap()
            .iter()
            .all(|m| !m.message.contains("alice"))
    );
}

#[persistence_test(agents = ["AgentA", "AgentB", "AgentC", "AgentD"], flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_operations_across_agents_stay_consistent(
    gateway: GatewayPersistenceAdapter,
    inspector: CrossDatabaseInspector,
    llm: ScriptedLlm,
) {
    llm.set_latency(std::time::Duration::from_millis(2));
    const USERS: [&str; 3] = ["alice", "bob", "carol"];
    const TURNS: usize = 4;
    let mut tasks = Vec::new();
    for agent in AGENTS {
        for user in USERS {
            let gateway = gateway.clone();
            tasks.push(tokio::spawn(async move {
                let session = gateway.create_session(user, agent).await.unwrap();
                for turn in 0..TURNS {
                    gateway
                        .send_message(&session.id, &format!("{user}@{agent}#{turn}"), user)
                        .await
                        .unwrap();
                }
                (user, agent, session.id)
            }));
        }
    }
    let mut sessions = Vec::new();
    for task in tasks {
        sessions.push(task.await.unwrap());
    }
    for (user, agent, id) in &sessions {
        assert_session_linking(&inspector, id, agent).await;
        let rows = assert_agent_message_count(&inspector, agent, id, TURNS * 2).await;
        assert!(
            rows.iter()
                .filter(|m| m.role == "user")
                .all(|m| m.content.starts_with(&format!("{user}@{agent}#")))
        );
        assert_llm_context_isolated(&inspector, &llm, agent, id).await;
    }
    for (i, a) in AGENTS.iter().enumerate() {
        for b in &AGENTS[i + 1..] {
            assert_database_isolation(&inspector, a, b).await;
        }
    }
    assert_no_user_data_leakage(&inspector, "alice", "bob").await;
    assert_no_user_data_leakage(&inspector, "bob", "carol").await;
    assert_integrity(&inspector).await;
    let per_agent = (USERS.len() as u64, (USERS.len() * TURNS * 2) as u64);
    let mut expected = DatabaseStats::expect(12, (12 * TURNS * 2) as u64);
    for agent in AGENTS {
        expected = expected.agent(agent, per_agent.0, per_agent.1);
    }
    assert_database_stats(&inspector, &expected).await;
}
