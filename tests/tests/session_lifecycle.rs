//! Seed category 2, session lifecycle: creation, message storage and retrieval on both sides,
//! switching, renaming, deletion, and what bad input and failures leave behind.

use persist_core::assert_data_snapshot;
use persist_core::assertions::*;
use persist_core::inspect::DatabaseStats;
use persist_core::mesh::SenderType;
use persist_core::prelude::*;

#[persistence_test(agents = ["AgentA"], http = ["direct", "router", "socket"])]
async fn a_created_session_is_persisted(
    gateway: GatewayPersistenceAdapter,
    inspector: CrossDatabaseInspector,
) {
    let session = gateway.create_session("alice", "AgentA").await.unwrap();
    let row = assert_gateway_session_exists(&inspector, &session.id, "alice", "AgentA").await;
    assert_eq!(row.created_at, session.created_at);
    assert_eq!(
        gateway.get_session(&session.id, "alice").await.unwrap(),
        session
    );
    // The agent learns of a session with its first message, not before.
    assert!(
        inspector
            .agent_sessions("AgentA", Some(&session.id))
            .await
            .unwrap()
            .is_empty()
    );
}

#[persistence_test(agents = ["AgentA"], http = ["direct", "router", "socket"])]
async fn messages_are_stored_and_retrieved_in_order_on_both_sides(
    gateway: GatewayPersistenceAdapter,
    inspector: CrossDatabaseInspector,
    llm: ScriptedLlm,
) {
    let session = gateway.create_session("alice", "AgentA").await.unwrap();
    llm.queue_reply("AgentA", "first reply");
    let mut turns = Vec::new();
    for text in ["one", "two", "three"] {
        turns.push(
            gateway
                .send_message(&session.id, text, "alice")
                .await
                .unwrap(),
        );
    }
    assert_eq!(turns[0].content, "first reply");
    assert_eq!(turns[2].content, "Received: three");
    assert!(turns.iter().all(|t| t.session_id == session.id));

    let rows = assert_gateway_message_count(&inspector, &session.id, 6).await;
    let seen: Vec<(&str, &str)> = rows
        .iter()
        .map(|m| (m.sender_type.as_str(), m.message.as_str()))
        .collect();
    assert_eq!(
        seen,
        [
            ("user", "one"),
            ("agent", "first reply"),
            ("user", "two"),
            ("agent", "Received: two"),
            ("user", "three"),
            ("agent", "Received: three")
        ]
    );
    for (pair, turn) in rows.chunks(2).zip(&turns) {
        assert!(
            pair.iter()
                .all(|m| m.task_id.as_deref() == Some(turn.task_id.as_str()))
        );
    }
    let agent_rows = assert_agent_message_count(&inspector, "AgentA", &session.id, 6).await;
    let agent_seen: Vec<(&str, &str)> = agent_rows
        .iter()
        .map(|m| (m.role.as_str(), m.content.as_str()))
        .collect();
    let roles = ["user", "assistant"].repeat(3);
    assert_eq!(
        agent_seen.iter().map(|(r, _)| *r).collect::<Vec<_>>(),
        roles
    );
    assert_eq!(
        agent_seen.iter().map(|(_, c)| *c).collect::<Vec<_>>(),
        seen.iter().map(|(_, c)| *c).collect::<Vec<_>>()
    );

    let api = gateway
        .session_messages(&session.id, "alice")
        .await
        .unwrap();
    assert_eq!(
        api.iter().map(|m| m.id.as_str()).collect::<Vec<_>>(),
        rows.iter().map(|m| m.id.as_str()).collect::<Vec<_>>()
    );
    assert_eq!(api[1].sender_type, SenderType::Agent);
    assert_message_contains(&inspector, &session.id, "three", Some("user")).await;
    assert_agent_message_contains(
        &inspector,
        "AgentA",
        &session.id,
        "Received: two",
        Some("assistant"),
    )
    .await;
    let state = assert_agent_session_exists(&inspector, "AgentA", &session.id)
        .await
        .state;
    assert_eq!(state["turns"], 3);
    assert_eq!(state["last_task_id"], turns[2].task_id.as_str());
}

#[persistence_test(agents = ["AgentA", "AgentB"], http = ["direct", "router", "socket"])]
async fn switching_sessions_preserves_each_context(
    gateway: GatewayPersistenceAdapter,
    inspector: CrossDatabaseInspector,
    llm: ScriptedLlm,
) {
    let trip = gateway.create_session("alice", "AgentA").await.unwrap();
    let work = gateway.create_session("alice", "AgentA").await.unwrap();
    gateway
        .send_message(&trip.id, "trip: Lisbon", "alice")
        .await
        .unwrap();
    let switched = gateway.switch_session(&work.id, "alice").await.unwrap();
    assert!(switched.last_active_at > work.last_active_at);
    gateway
        .send_message(&work.id, "work: report", "alice")
        .await
        .unwrap();
    gateway.switch_session(&trip.id, "alice").await.unwrap();
    gateway
        .send_message(&trip.id, "trip: dates", "alice")
        .await
        .unwrap();

    let last = llm.requests_for_session(&trip.id).pop().unwrap();
    let context: Vec<&str> = last.context.iter().map(|m| m.content.as_str()).collect();
    assert_eq!(context, ["trip: Lisbon", "Received: trip: Lisbon"]);
    assert_session_context_isolation(&inspector, "AgentA", &trip.id, &work.id).await;
    assert_llm_context_isolated(&inspector, &llm, "AgentA", &trip.id).await;
    assert_llm_context_isolated(&inspector, &llm, "AgentA", &work.id).await;
    let row = inspector.gateway_session(&trip.id).await.unwrap().unwrap();
    assert_eq!(row.user_id, "alice");
}

#[persistence_test(agents = ["AgentA"], http = ["direct", "router", "socket"])]
async fn renaming_is_persisted(
    gateway: GatewayPersistenceAdapter,
    inspector: CrossDatabaseInspector,
) {
    let session = gateway.create_session("alice", "AgentA").await.unwrap();
    let renamed = gateway
        .rename_session(&session.id, "  Holiday ", "alice")
        .await
        .unwrap();
    assert_eq!(renamed.name.as_deref(), Some("Holiday"));
    let row = inspector
        .gateway_session(&session.id)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(row.name.as_deref(), Some("Holiday"));
    assert!(matches!(
        gateway.rename_session(&session.id, "", "alice").await,
        Err(PersistError::InvalidInput { field: "name", .. })
    ));
    assert!(matches!(
        gateway
            .rename_session(&session.id, "Mine now", "mallory")
            .await,
        Err(PersistError::SessionNotFound { .. })
    ));
    assert_eq!(
        inspector
            .gateway_session(&session.id)
            .await
            .unwrap()
            .unwrap()
            .name
            .as_deref(),
        Some("Holiday")
    );
}

#[persistence_test(agents = ["AgentA", "AgentB"], http = ["direct", "router", "socket"])]
async fn deletion_cascades_in_the_gateway_and_propagates_to_the_agent(
    gateway: GatewayPersistenceAdapter,
    inspector: CrossDatabaseInspector,
) {
    let doomed = gateway.create_session("alice", "AgentA").await.unwrap();
    let kept = gateway.create_session("alice", "AgentB").await.unwrap();
    for session in [&doomed, &kept] {
        gateway
            .send_message(&session.id, "hello", "alice")
            .await
            .unwrap();
    }
    assert!(gateway.delete_session(&doomed.id, "alice").await.unwrap());

    // What is left, everywhere: the kept session and its turn, in the gateway and in AgentB;
    // nothing of the deleted one in the gateway or in AgentA.
    assert_data_snapshot!(inspector.snapshot().await.unwrap());
    assert_session_linking(&inspector, &kept.id, "AgentB").await;
    assert_integrity(&inspector).await;

    assert!(
        !gateway.delete_session(&doomed.id, "alice").await.unwrap(),
        "deleting twice"
    );
    assert!(
        !gateway.delete_session(&kept.id, "mallory").await.unwrap(),
        "another user's session"
    );
    assert_session_linking(&inspector, &kept.id, "AgentB").await;
}

#[persistence_test(agents = ["AgentA"], http = ["direct", "router", "socket"])]
async fn unknown_sessions_and_bad_input_are_rejected_and_store_nothing(
    gateway: GatewayPersistenceAdapter,
    inspector: CrossDatabaseInspector,
    llm: ScriptedLlm,
) {
    let session = gateway.create_session("alice", "AgentA").await.unwrap();
    let cases: Vec<(&str, Result<(), PersistError>)> = vec![
        (
            "unknown session",
            gateway
                .send_message("no-such-session", "hi", "alice")
                .await
                .map(|_| ()),
        ),
        (
            "get unknown",
            gateway
                .get_session("no-such-session", "alice")
                .await
                .map(|_| ()),
        ),
        (
            "empty message",
            gateway
                .send_message(&session.id, "", "alice")
                .await
                .map(|_| ()),
        ),
        (
            "blank message",
            gateway
                .send_message(&session.id, " \t", "alice")
                .await
                .map(|_| ()),
        ),
        (
            "too long",
            gateway
                .send_message(&session.id, &"x".repeat(10_001), "alice")
                .await
                .map(|_| ()),
        ),
        (
            "blank user",
            gateway
                .send_message(&session.id, "hi", " ")
                .await
                .map(|_| ()),
        ),
        (
            "blank user on create",
            gateway.create_session("", "AgentA").await.map(|_| ()),
        ),
        (
            "blank agent",
            gateway.create_session("alice", " ").await.map(|_| ()),
        ),
        (
            "unknown agent",
            gateway.create_session("alice", "AgentZ").await.map(|_| ()),
        ),
    ];
    for (case, result) in cases {
        let error = result.expect_err(case);
        let expected = match case {
            "unknown session" | "get unknown" => {
                matches!(error, PersistError::SessionNotFound { .. })
            }
            "too long" => matches!(
                error,
                PersistError::MessageTooLong {
                    length: 10_001,
                    max: 10_000
                }
            ),
            "unknown agent" => matches!(error, PersistError::UnknownAgent { .. }),
            _ => matches!(error, PersistError::InvalidInput { .. }),
        };
        assert!(expected, "{case}: {error}");
    }
    assert!(
        gateway
            .send_message(&session.id, &"x".repeat(10_000), "alice")
            .await
            .is_ok(),
        "the limit itself is fine"
    );
    assert_eq!(
        llm.requests().len(),
        1,
        "only the valid message reached the agent"
    );
    assert_database_stats(
        &inspector,
        &DatabaseStats::expect(1, 2).agent("AgentA", 1, 2),
    )
    .await;
}

#[persistence_test(agents = ["AgentA"], http = ["direct", "router", "socket"])]
async fn a_failed_turn_leaves_no_trace_in_either_database(
    gateway: GatewayPersistenceAdapter,
    inspector: CrossDatabaseInspector,
    llm: ScriptedLlm,
) {
    let session = gateway.create_session("alice", "AgentA").await.unwrap();
    gateway
        .send_message(&session.id, "works", "alice")
        .await
        .unwrap();
    llm.queue_failure("AgentA", "rate limited");
    let error = gateway
        .send_message(&session.id, "fails", "alice")
        .await
        .unwrap_err();
    assert!(
        matches!(&error, PersistError::Llm { reason, .. } if reason == "rate limited"),
        "{error}"
    );
    // Every database holds the first turn and nothing of the failed one (no message, no
    // task, no change to the agent's state).
    assert_data_snapshot!(inspector.snapshot().await.unwrap());
    assert_integrity(&inspector).await;
    // The conversation goes on normally afterwards.
    gateway
        .send_message(&session.id, "works again", "alice")
        .await
        .unwrap();
    assert_agent_message_count(&inspector, "AgentA", &session.id, 4).await;
}

#[persistence_test(agents = ["AgentA", "AgentB"], http = ["direct", "router", "socket"])]
async fn sessions_are_listed_most_recent_first(gateway: GatewayPersistenceAdapter) {
    let first = gateway.create_session("alice", "AgentA").await.unwrap();
    let second = gateway.create_session("alice", "AgentB").await.unwrap();
    gateway.create_session("bob", "AgentA").await.unwrap();
    let ids = |sessions: Vec<persist_core::mesh::Session>| {
        sessions.into_iter().map(|s| s.id).collect::<Vec<_>>()
    };
    assert_eq!(
        ids(gateway.list_sessions("alice").await.unwrap()),
        [second.id.clone(), first.id.clone()]
    );
    gateway
        .send_message(&first.id, "bump", "alice")
        .await
        .unwrap();
    assert_eq!(
        ids(gateway.list_sessions("alice").await.unwrap()),
        [first.id, second.id]
    );
}
