//! What the reference mesh promises on every backend, each promise once broken and now held:
//! ids compared byte for byte, turns whole or absent whatever the caller does, concurrent turns
//! of a session stored in one order on both sides, rolled-back turns never shown to the model,
//! deletes whole or absent under races, and input accepted or refused alike everywhere.
//!
//! The backend is the environment's (`PERSIST_TEST_DATABASE_URL`); CI runs this suite on
//! SQLite, PostgreSQL and MariaDB.

use std::time::Duration;

use persist_core::assertions::*;
use persist_core::db::BackendKind;
use persist_core::inspect::{DatabaseStats, IntegrityProblem, VerificationError};
use persist_core::prelude::*;
use sea_orm::ConnectionTrait;

fn stats_of(gateway: (u64, u64), agent: (&str, u64, u64)) -> DatabaseStats {
    DatabaseStats::expect(gateway.0, gateway.1).agent(agent.0, agent.1, agent.2)
}

// ---------------------------------------------------------------------------------------------
// 1. Ids compare byte for byte

#[persistence_test(agents = ["AgentA"])]
async fn look_alike_users_and_session_ids_reach_nothing(
    gateway: GatewayComponent,
    inspector: CrossDatabaseInspector,
) {
    let session = gateway.create_session("alice", "AgentA").await.unwrap();
    gateway
        .rename_session("alice", &session.id, "mine")
        .await
        .unwrap();
    gateway
        .send_message("alice", &session.id, "hello")
        .await
        .unwrap();
    let before = inspector.database_stats().await.unwrap();

    for other in ["ALICE", "Alice", "alice ", "alice  ", "alíce", "ålice"] {
        assert!(
            gateway.list_sessions(other).await.unwrap().is_empty(),
            "{other:?}"
        );
        for result in [
            gateway.get_session(other, &session.id).await.map(drop),
            gateway.session_messages(other, &session.id).await.map(drop),
            gateway
                .rename_session(other, &session.id, "stolen")
                .await
                .map(drop),
            gateway.switch_session(other, &session.id).await.map(drop),
            gateway
                .send_message(other, &session.id, "hi")
                .await
                .map(drop),
        ] {
            assert!(
                matches!(result, Err(PersistError::SessionNotFound { .. })),
                "{other:?}: {result:?}"
            );
        }
        assert!(!gateway.delete_session(other, &session.id).await.unwrap());
    }
    let upper = session.id.to_uppercase();
    for id in [
        upper.as_str(),
        &format!("{} ", session.id),
        &format!("{}   ", session.id),
        &format!(" {}", session.id),
    ] {
        assert!(matches!(
            gateway.send_message("alice", id, "hi").await,
            Err(PersistError::SessionNotFound { .. })
        ));
        assert!(matches!(
            gateway.get_session("alice", id).await,
            Err(PersistError::SessionNotFound { .. })
        ));
        assert!(matches!(
            gateway.rename_session("alice", id, "renamed").await,
            Err(PersistError::SessionNotFound { .. })
        ));
        assert!(!gateway.delete_session("alice", id).await.unwrap());
        // The inspector reads byte for byte too.
        assert!(inspector.gateway_session(id).await.unwrap().is_none());
        assert!(inspector.gateway_messages(id).await.unwrap().is_empty());
        assert!(
            inspector
                .agent_messages("AgentA", Some(id))
                .await
                .unwrap()
                .is_empty()
        );
    }
    assert!(
        inspector
            .gateway_sessions("ALICE")
            .await
            .unwrap()
            .is_empty()
    );

    assert_eq!(
        inspector.database_stats().await.unwrap(),
        before,
        "nothing changed"
    );
    let row = inspector
        .gateway_session(&session.id)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(row.name.as_deref(), Some("mine"));
    assert_integrity(&inspector).await;
}

// ---------------------------------------------------------------------------------------------
// 2. A turn is whole or absent, whatever the caller does

#[persistence_test(agents = ["AgentA"])]
async fn a_turn_whose_caller_stops_waiting_is_whole(
    gateway: GatewayComponent,
    llm: ScriptedLlm,
    inspector: CrossDatabaseInspector,
) {
    let session = gateway.create_session("alice", "AgentA").await.unwrap();
    llm.set_latency(Duration::from_millis(200));

    // A timeout around the call, shorter than the model's answer.
    let timed_out = tokio::time::timeout(
        Duration::from_millis(20),
        gateway.send_message("alice", &session.id, "timed out"),
    )
    .await;
    assert!(timed_out.is_err(), "the caller stopped waiting");
    // An aborted task.
    let task = tokio::spawn({
        let gateway = gateway.clone();
        let id = session.id.clone();
        async move { gateway.send_message("alice", &id, "aborted").await }
    });
    tokio::time::sleep(Duration::from_millis(20)).await;
    task.abort();

    gateway.wait_idle().await;
    let gateway_messages = inspector.gateway_messages(&session.id).await.unwrap();
    let agent_messages = inspector
        .agent_messages("AgentA", Some(&session.id))
        .await
        .unwrap();
    assert_eq!(
        gateway_messages.len(),
        agent_messages.len(),
        "both sides hold the same turns"
    );
    assert_eq!(gateway_messages.len() % 2, 0, "whole turns only");
    assert_integrity(&inspector).await;

    // And the session goes on.
    llm.set_latency(Duration::ZERO);
    gateway
        .send_message("alice", &session.id, "after")
        .await
        .unwrap();
    assert_integrity(&inspector).await;
}

#[persistence_test(agents = ["AgentA"])]
async fn a_first_turn_whose_caller_stops_waiting_is_whole(
    gateway: GatewayComponent,
    llm: ScriptedLlm,
    inspector: CrossDatabaseInspector,
) {
    llm.set_latency(Duration::from_millis(200));
    let timed_out = tokio::time::timeout(
        Duration::from_millis(20),
        gateway.start_session("alice", "AgentA", "hello"),
    )
    .await;
    assert!(timed_out.is_err());
    gateway.wait_idle().await;
    let stats = inspector.database_stats().await.unwrap();
    assert!(
        stats == stats_of((0, 0), ("AgentA", 0, 0)) || stats == stats_of((1, 2), ("AgentA", 1, 2)),
        "{stats}"
    );
    assert_integrity(&inspector).await;
}

// ---------------------------------------------------------------------------------------------
// 3 and 5. Concurrent turns of one session: all stored, one order on both sides

#[persistence_test(agents = ["AgentA"], flavor = "multi_thread", worker_threads = 4)]
async fn fifty_concurrent_turns_on_one_session_land_in_one_order(
    gateway: GatewayComponent,
    llm: ScriptedLlm,
    inspector: CrossDatabaseInspector,
) {
    let session = gateway.create_session("alice", "AgentA").await.unwrap();
    llm.set_latency(Duration::from_millis(1));
    let sends = (0..50).map(|i| {
        let gateway = gateway.clone();
        let id = session.id.clone();
        tokio::spawn(async move {
            gateway
                .send_message("alice", &id, &format!("turn {i}"))
                .await
        })
    });
    for result in futures::future::join_all(sends).await {
        result
            .unwrap()
            .expect("every turn is stored (deadlocks are tried again)");
    }
    let report = assert_integrity(&inspector).await;
    assert_eq!(report.gateway_messages, 100);
    let gateway_turns: Vec<_> = inspector
        .gateway_messages(&session.id)
        .await
        .unwrap()
        .into_iter()
        .map(|m| m.task_id.unwrap())
        .collect();
    let agent_turns: Vec<_> = inspector
        .agent_messages("AgentA", Some(&session.id))
        .await
        .unwrap()
        .into_iter()
        .map(|m| m.task_id)
        .collect();
    assert_eq!(gateway_turns, agent_turns, "one order on both sides");

    // Each turn's model saw exactly the turns stored before it, in that order.
    let stored = inspector.gateway_messages(&session.id).await.unwrap();
    for request in llm.requests_for_session(&session.id) {
        let position = stored
            .iter()
            .position(|m| m.task_id.as_deref() == Some(&request.task_id))
            .expect("every request's turn was stored");
        let shown: Vec<&str> = request.context.iter().map(|c| c.content.as_str()).collect();
        let before: Vec<&str> = stored[..position]
            .iter()
            .map(|m| m.message.as_str())
            .collect();
        assert_eq!(shown, before, "the context of {}", request.message);
    }
}

#[persistence_test(agents = ["AgentA"], flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_renames_each_answer_with_their_own_name(gateway: GatewayComponent) {
    let session = gateway.create_session("alice", "AgentA").await.unwrap();
    for round in 0..5 {
        let renames = (0..6).map(|i| {
            let (gateway, id) = (gateway.clone(), session.id.clone());
            tokio::spawn(async move {
                let name = format!("name {round}.{i}");
                let answer = gateway.rename_session("alice", &id, &name).await;
                (name, answer)
            })
        });
        for result in futures::future::join_all(renames).await {
            let (name, answer) = result.unwrap();
            let answer = answer.expect("a rename of one's own session succeeds");
            assert_eq!(
                answer.name.as_deref(),
                Some(name.as_str()),
                "a rename answered with another request's write"
            );
        }
    }
}

// ---------------------------------------------------------------------------------------------
// 3. A delete racing turns is whole or absent

#[persistence_test(agents = ["AgentA"], flavor = "multi_thread", worker_threads = 4)]
async fn deletes_racing_turns_are_whole(
    gateway: GatewayComponent,
    llm: ScriptedLlm,
    inspector: CrossDatabaseInspector,
) {
    llm.set_latency(Duration::from_millis(2));
    for round in 0..20 {
        let session = gateway.create_session("alice", "AgentA").await.unwrap();
        gateway
            .send_message("alice", &session.id, "first")
            .await
            .unwrap();
        let turns: Vec<_> = (0..3)
            .map(|i| {
                let gateway = gateway.clone();
                let id = session.id.clone();
                tokio::spawn(async move {
                    gateway
                        .send_message("alice", &id, &format!("{round}.{i}"))
                        .await
                })
            })
            .collect();
        let delete = {
            let gateway = gateway.clone();
            let id = session.id.clone();
            tokio::spawn(async move { gateway.delete_session("alice", &id).await })
        };
        assert!(
            delete.await.unwrap().unwrap(),
            "round {round}: the delete succeeds"
        );
        for turn in turns {
            // A turn queued behind the delete finds no session; one before it was deleted.
            match turn.await.unwrap() {
                Ok(_) | Err(PersistError::SessionNotFound { .. }) => {}
                Err(other) => panic!("round {round}: {other}"),
            }
        }
        assert!(
            inspector
                .gateway_session(&session.id)
                .await
                .unwrap()
                .is_none()
        );
        assert!(
            inspector
                .gateway_messages(&session.id)
                .await
                .unwrap()
                .is_empty()
        );
        assert!(
            inspector
                .agent_sessions("AgentA", Some(&session.id))
                .await
                .unwrap()
                .is_empty(),
            "round {round}: the agent's side is gone with the gateway's"
        );
    }
    assert_integrity(&inspector).await;
}

// ---------------------------------------------------------------------------------------------
// 4 and 7. Rolled-back turns: never in a later context; the agent's session as it was

/// Makes the gateway refuse to store any message containing `poison`, after the agent stored
/// its side: the gateway's half of the turn fails and the agent must discard its own.
async fn poison_gateway(db: &DatabaseConnection, kind: BackendKind) {
    let statements: &[&str] = match kind {
        BackendKind::Postgres => &[
            "CREATE FUNCTION poison() RETURNS trigger AS $$ BEGIN \
             IF NEW.message LIKE '%poison%' THEN RAISE EXCEPTION 'poisoned'; END IF; \
             RETURN NEW; END; $$ LANGUAGE plpgsql",
            "CREATE TRIGGER poison BEFORE INSERT ON chat_messages \
             FOR EACH ROW EXECUTE FUNCTION poison()",
        ],
        BackendKind::MySql => &["CREATE TRIGGER poison BEFORE INSERT ON chat_messages \
             FOR EACH ROW BEGIN IF NEW.message LIKE '%poison%' THEN \
             SIGNAL SQLSTATE '45000' SET MESSAGE_TEXT = 'poisoned'; END IF; END"],
        _ => &["CREATE TRIGGER poison BEFORE INSERT ON chat_messages \
             WHEN NEW.message LIKE '%poison%' BEGIN SELECT RAISE(ABORT, 'poisoned'); END"],
    };
    for statement in statements {
        db.execute_unprepared(statement).await.unwrap();
    }
}

#[persistence_test(agents = ["AgentA"], flavor = "multi_thread", worker_threads = 4)]
async fn a_rolled_back_turn_never_reaches_a_later_context(
    gateway: GatewayComponent,
    manager: MultiDatabaseManager,
    llm: ScriptedLlm,
    inspector: CrossDatabaseInspector,
) {
    poison_gateway(manager.gateway_connection(), manager.backend_kind()).await;
    let session = gateway.create_session("alice", "AgentA").await.unwrap();
    gateway
        .send_message("alice", &session.id, "before")
        .await
        .unwrap();
    let agent_before = inspector
        .agent_sessions("AgentA", Some(&session.id))
        .await
        .unwrap();
    let updated_before = inspector_updated_at(&manager, &session.id).await;

    // The poisoned turn fails alone: its agent side is discarded, its session as it was.
    let error = gateway
        .send_message("alice", &session.id, "poison pill")
        .await
        .unwrap_err();
    assert!(error.to_string().contains("poisoned"), "{error}");
    assert_eq!(
        inspector
            .agent_sessions("AgentA", Some(&session.id))
            .await
            .unwrap(),
        agent_before,
        "the agent's session state is restored"
    );
    assert_eq!(
        inspector_updated_at(&manager, &session.id).await,
        updated_before,
        "and its updated_at"
    );

    // Under concurrency, turns queued behind a poisoned one never see it.
    llm.set_latency(Duration::from_millis(2));
    let sends = (0..12).map(|i| {
        let gateway = gateway.clone();
        let id = session.id.clone();
        let text = if i % 3 == 1 {
            format!("poison {i}")
        } else {
            format!("fine {i}")
        };
        tokio::spawn(async move {
            (
                text.clone(),
                gateway.send_message("alice", &id, &text).await,
            )
        })
    });
    for outcome in futures::future::join_all(sends).await {
        let (text, result) = outcome.unwrap();
        assert_eq!(
            result.is_err(),
            text.starts_with("poison"),
            "{text}: {result:?}"
        );
    }
    for request in llm.requests_for_session(&session.id) {
        assert!(
            request
                .context
                .iter()
                .all(|c| !c.content.contains("poison")),
            "{:?} was shown a rolled-back turn: {:?}",
            request.message,
            request.context
        );
    }
    let agent_messages = inspector
        .agent_messages("AgentA", Some(&session.id))
        .await
        .unwrap();
    assert!(agent_messages.iter().all(|m| !m.content.contains("poison")));
    assert_eq!(agent_messages.len(), 2 + 8 * 2);
    assert_integrity(&inspector).await;
}

/// `agent_sessions.updated_at` of a session, read directly.
async fn inspector_updated_at(manager: &MultiDatabaseManager, session_id: &str) -> i64 {
    use persist_core::mesh::entity::agent_session;
    use sea_orm::EntityTrait;
    agent_session::Entity::find_by_id(session_id)
        .one(manager.agent_connection("AgentA").unwrap())
        .await
        .unwrap()
        .unwrap()
        .updated_at
}

// ---------------------------------------------------------------------------------------------
// 5. verify_integrity catches turns stored in different orders

#[persistence_test(agents = ["AgentA"])]
async fn integrity_catches_turns_in_different_orders(
    gateway: GatewayComponent,
    #[agent("AgentA")] agent_db: DatabaseConnection,
    inspector: CrossDatabaseInspector,
) {
    let session = gateway.create_session("alice", "AgentA").await.unwrap();
    let first = gateway
        .send_message("alice", &session.id, "one")
        .await
        .unwrap();
    let second = gateway
        .send_message("alice", &session.id, "two")
        .await
        .unwrap();
    assert_integrity(&inspector).await;
    // Swap the two turns' times in the agent only.
    agent_db
        .execute_unprepared(&format!(
            "UPDATE agent_messages SET created_at = created_at + 1000000 WHERE task_id = '{}'",
            first.task_id
        ))
        .await
        .unwrap();
    let error = inspector.verify_integrity().await.unwrap_err();
    let Some(VerificationError::Integrity { problems }) = error.verification() else {
        panic!("{error}")
    };
    assert!(
        problems.iter().any(|p| matches!(
            p,
            IntegrityProblem::OrderMismatch { position: 0, gateway_turns, agent_turns, .. }
                if gateway_turns == &[first.task_id.clone(), second.task_id.clone()]
                    && agent_turns == &[second.task_id.clone(), first.task_id.clone()]
        )),
        "{problems:?}"
    );
}

// ---------------------------------------------------------------------------------------------
// 6. Input: one verdict on every backend; long replies stored everywhere

#[persistence_test(agents = ["AgentA"])]
async fn input_is_refused_alike_on_every_backend(
    gateway: GatewayComponent,
    inspector: CrossDatabaseInspector,
) {
    let session = gateway.create_session("alice", "AgentA").await.unwrap();
    let long = "u".repeat(256);
    let refusals = [
        (
            "message",
            gateway
                .send_message("alice", &session.id, "nul\0inside")
                .await
                .map(drop),
        ),
        (
            "user_id",
            gateway.create_session("al\0ice", "AgentA").await.map(drop),
        ),
        (
            "user_id",
            gateway.create_session(&long, "AgentA").await.map(drop),
        ),
        ("user_id", gateway.list_sessions(&long).await.map(drop)),
        (
            "name",
            gateway
                .rename_session("alice", &session.id, &"n".repeat(256))
                .await
                .map(drop),
        ),
        (
            "name",
            gateway
                .rename_session("alice", &session.id, "bad\0name")
                .await
                .map(drop),
        ),
    ];
    for (field, result) in refusals {
        assert!(
            matches!(&result, Err(PersistError::InvalidInput { field: f, .. }) if *f == field),
            "{field}: {result:?}"
        );
    }
    // A session id no backend could hold is simply not found.
    assert!(matches!(
        gateway.get_session("alice", "id\0x").await,
        Err(PersistError::SessionNotFound { .. })
    ));
    // The limits themselves are accepted.
    gateway
        .rename_session("alice", &session.id, &"n".repeat(255))
        .await
        .unwrap();
    let at_limit = gateway
        .create_session(&"u".repeat(255), "AgentA")
        .await
        .unwrap();
    assert_eq!(
        inspector
            .gateway_session(&at_limit.id)
            .await
            .unwrap()
            .unwrap()
            .user_id
            .len(),
        255
    );
    assert_eq!(
        inspector.database_stats().await.unwrap().gateway.messages,
        0
    );
}

#[persistence_test(agents = ["AgentA"])]
async fn long_replies_are_stored_whole_on_every_backend(
    gateway: GatewayComponent,
    llm: ScriptedLlm,
    inspector: CrossDatabaseInspector,
) {
    let session = gateway.create_session("alice", "AgentA").await.unwrap();
    for size in [80_000, 1024 * 1024] {
        let reply: String = "é".repeat(size / 2);
        llm.queue_reply("AgentA", reply.clone());
        let turn = gateway
            .send_message("alice", &session.id, "long")
            .await
            .unwrap();
        assert_eq!(turn.content.len(), reply.len());
        let stored = inspector.gateway_messages(&session.id).await.unwrap();
        assert_eq!(
            stored.last().unwrap().message,
            reply,
            "{size} bytes in the gateway"
        );
        let stored = inspector
            .agent_messages("AgentA", Some(&session.id))
            .await
            .unwrap();
        assert_eq!(
            stored.last().unwrap().content,
            reply,
            "{size} bytes in the agent"
        );
    }
    // A reply no backend should hold is the model's failure: nothing stored.
    let before = inspector.database_stats().await.unwrap();
    for reply in [
        "x".repeat(persist_core::mesh::MAX_REPLY_BYTES + 1),
        "nul\0reply".to_owned(),
    ] {
        llm.queue_reply("AgentA", reply);
        let error = gateway
            .send_message("alice", &session.id, "too much")
            .await
            .unwrap_err();
        assert!(matches!(error, PersistError::Llm { .. }), "{error}");
    }
    assert_eq!(inspector.database_stats().await.unwrap(), before);
    assert_integrity(&inspector).await;
}
