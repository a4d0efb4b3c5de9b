//! The mesh under test, persisting into real SQLite databases.

use persist_core::mesh::{Mesh, ScriptedLlm, SenderType};
use persist_core::{MultiDatabaseManager, PersistError};
use sea_orm::ConnectionTrait;

struct Fixture {
    manager: MultiDatabaseManager,
    mesh: Mesh,
    llm: ScriptedLlm,
}

async fn fixture(agents: &[&str]) -> Fixture {
    let manager = persist_core::mesh::setup(agents.iter().copied())
        .await
        .unwrap();
    let llm = ScriptedLlm::new();
    let mesh = Mesh::start(&manager, llm.clone());
    Fixture { manager, mesh, llm }
}

impl Fixture {
    async fn finish(self) {
        self.mesh.shutdown().await;
        self.manager.cleanup().await.unwrap();
    }
}

#[tokio::test]
async fn a_turn_lands_in_the_gateway_and_in_its_agent_only() {
    let f = fixture(&["AgentA", "AgentB"]).await;
    let gateway = f.mesh.gateway();
    let session = gateway.create_session("alice", "AgentA").await.unwrap();
    let turn = gateway
        .send_message("alice", &session.id, "hello")
        .await
        .unwrap();
    assert_eq!(turn.content, "Received: hello");

    let messages = gateway
        .session_messages("alice", &session.id)
        .await
        .unwrap();
    let summary: Vec<_> = messages
        .iter()
        .map(|m| {
            (
                m.sender_type,
                m.sender_name.as_str(),
                m.message.as_str(),
                m.task_id.as_deref(),
            )
        })
        .collect();
    assert_eq!(
        summary,
        [
            (
                SenderType::User,
                "alice",
                "hello",
                Some(turn.task_id.as_str())
            ),
            (
                SenderType::Agent,
                "AgentA",
                "Received: hello",
                Some(turn.task_id.as_str())
            ),
        ]
    );

    let a = f.mesh.agent("AgentA").unwrap();
    let row = a
        .session(&session.id)
        .await
        .unwrap()
        .expect("agent A stored the session");
    assert_eq!(
        (row.user_id.as_str(), row.agent_name.as_str()),
        ("alice", "AgentA")
    );
    assert_eq!(row.state["turns"], 1);
    assert_eq!(row.state["last_task_id"], turn.task_id.as_str());
    let stored: Vec<_> = a
        .messages(&session.id)
        .await
        .unwrap()
        .into_iter()
        .map(|m| (m.role, m.content))
        .collect();
    assert_eq!(
        stored,
        [
            ("user".into(), "hello".into()),
            ("assistant".into(), "Received: hello".into())
        ]
    );

    let b = f.mesh.agent("AgentB").unwrap();
    assert!(b.session(&session.id).await.unwrap().is_none());
    assert!(b.messages(&session.id).await.unwrap().is_empty());
    f.finish().await;
}

#[tokio::test]
async fn the_model_sees_only_its_own_session_history() {
    let f = fixture(&["AgentA"]).await;
    let gateway = f.mesh.gateway();
    let one = gateway.create_session("alice", "AgentA").await.unwrap();
    let two = gateway.create_session("alice", "AgentA").await.unwrap();
    f.llm.queue_reply("AgentA", "scripted");
    gateway
        .send_message("alice", &one.id, "first in one")
        .await
        .unwrap();
    gateway
        .send_message("alice", &two.id, "first in two")
        .await
        .unwrap();
    gateway
        .send_message("alice", &one.id, "second in one")
        .await
        .unwrap();

    let requests = f.llm.requests_for_session(&one.id);
    assert_eq!(requests.len(), 2);
    let seen: Vec<_> = requests[1]
        .context
        .iter()
        .map(|m| m.content.as_str())
        .collect();
    assert_eq!(seen, ["first in one", "scripted"]);
    assert!(f.llm.requests_for_session(&two.id)[0].context.is_empty());
    f.finish().await;
}

#[tokio::test]
async fn sessions_are_scoped_to_their_user() {
    let f = fixture(&["AgentA"]).await;
    let gateway = f.mesh.gateway();
    let mine = gateway.create_session("alice", "AgentA").await.unwrap();
    gateway
        .send_message("alice", &mine.id, "secret")
        .await
        .unwrap();

    let not_found =
        |r: Result<_, PersistError>| matches!(r, Err(PersistError::SessionNotFound { .. }));
    assert!(not_found(
        gateway.get_session("mallory", &mine.id).await.map(|_| ())
    ));
    assert!(not_found(
        gateway
            .session_messages("mallory", &mine.id)
            .await
            .map(|_| ())
    ));
    assert!(not_found(
        gateway
            .send_message("mallory", &mine.id, "hi")
            .await
            .map(|_| ())
    ));
    assert!(not_found(
        gateway
            .rename_session("mallory", &mine.id, "x")
            .await
            .map(|_| ())
    ));
    assert!(not_found(
        gateway
            .switch_session("mallory", &mine.id)
            .await
            .map(|_| ())
    ));
    assert!(!gateway.delete_session("mallory", &mine.id).await.unwrap());
    assert!(gateway.list_sessions("mallory").await.unwrap().is_empty());
    // Nothing Mallory did changed Alice's session.
    assert_eq!(
        gateway
            .session_messages("alice", &mine.id)
            .await
            .unwrap()
            .len(),
        2
    );
    assert_eq!(
        gateway.get_session("alice", &mine.id).await.unwrap().name,
        None
    );
    f.finish().await;
}

#[tokio::test]
async fn list_rename_switch_and_order() {
    let f = fixture(&["AgentA", "AgentB"]).await;
    let gateway = f.mesh.gateway();
    let older = gateway.create_session("alice", "AgentA").await.unwrap();
    let newer = gateway.create_session("alice", "AgentB").await.unwrap();
    let ids = |v: Vec<persist_core::mesh::Session>| v.into_iter().map(|s| s.id).collect::<Vec<_>>();
    assert_eq!(
        ids(gateway.list_sessions("alice").await.unwrap()),
        [newer.id.clone(), older.id.clone()]
    );

    gateway
        .send_message("alice", &older.id, "bump")
        .await
        .unwrap();
    assert_eq!(
        ids(gateway.list_sessions("alice").await.unwrap()),
        [older.id.clone(), newer.id.clone()]
    );

    let renamed = gateway
        .rename_session("alice", &newer.id, "  Trip plans ")
        .await
        .unwrap();
    assert_eq!(renamed.name.as_deref(), Some("Trip plans"));
    assert!(matches!(
        gateway.rename_session("alice", &newer.id, " ").await,
        Err(PersistError::InvalidInput { field: "name", .. })
    ));

    let before = gateway.get_session("alice", &older.id).await.unwrap();
    let switched = gateway.switch_session("alice", &older.id).await.unwrap();
    assert!(switched.last_active_at > before.last_active_at);
    f.finish().await;
}

#[tokio::test]
async fn deleting_cascades_in_the_gateway_and_propagates_to_the_agent() {
    let f = fixture(&["AgentA"]).await;
    let gateway = f.mesh.gateway();
    let doomed = gateway.create_session("alice", "AgentA").await.unwrap();
    let kept = gateway.create_session("alice", "AgentA").await.unwrap();
    gateway
        .send_message("alice", &doomed.id, "one")
        .await
        .unwrap();
    gateway
        .send_message("alice", &kept.id, "two")
        .await
        .unwrap();

    assert!(gateway.delete_session("alice", &doomed.id).await.unwrap());
    assert!(!gateway.delete_session("alice", &doomed.id).await.unwrap());

    let db = f.manager.gateway_connection().clone();
    let count = |sql: String| {
        let db = db.clone();
        async move {
            let row = db
                .query_one_raw(sea_orm::Statement::from_string(
                    db.get_database_backend(),
                    sql,
                ))
                .await
                .unwrap()
                .unwrap();
            row.try_get_by_index::<i64>(0).unwrap()
        }
    };
    assert_eq!(
        count(format!(
            "SELECT COUNT(*) FROM chat_messages WHERE session_id = '{}'",
            doomed.id
        ))
        .await,
        0
    );
    assert_eq!(
        count(format!(
            "SELECT COUNT(*) FROM chat_messages WHERE session_id = '{}'",
            kept.id
        ))
        .await,
        2
    );
    let agent = f.mesh.agent("AgentA").unwrap();
    assert!(agent.session(&doomed.id).await.unwrap().is_none());
    assert!(agent.messages(&doomed.id).await.unwrap().is_empty());
    assert_eq!(agent.messages(&kept.id).await.unwrap().len(), 2);
    f.finish().await;
}

#[tokio::test]
async fn bad_input_is_rejected_with_typed_errors() {
    let f = fixture(&["AgentA"]).await;
    let gateway = f.mesh.gateway();
    assert!(matches!(
        gateway.create_session(" ", "AgentA").await,
        Err(PersistError::InvalidInput {
            field: "user_id",
            ..
        })
    ));
    assert!(matches!(
        gateway.create_session("alice", "").await,
        Err(PersistError::InvalidInput {
            field: "agent_name",
            ..
        })
    ));
    assert!(matches!(
        gateway.create_session("alice", "Ghost").await,
        Err(PersistError::UnknownAgent { name, .. }) if name == "Ghost"
    ));
    let session = gateway.create_session("alice", "AgentA").await.unwrap();
    assert!(matches!(
        gateway.send_message("alice", &session.id, "").await,
        Err(PersistError::InvalidInput {
            field: "message",
            ..
        })
    ));
    assert!(matches!(
        gateway
            .send_message("alice", &session.id, &"x".repeat(10_001))
            .await,
        Err(PersistError::MessageTooLong { length: 10_001, .. })
    ));
    assert!(matches!(
        gateway.send_message("alice", "nope", "hi").await,
        Err(PersistError::SessionNotFound { .. })
    ));
    assert!(
        f.llm.requests().is_empty(),
        "rejected input must never reach an agent"
    );
    assert!(
        gateway
            .session_messages("alice", &session.id)
            .await
            .unwrap()
            .is_empty()
    );
    f.finish().await;
}

#[tokio::test]
async fn a_model_failure_stores_nothing_anywhere() {
    let f = fixture(&["AgentA"]).await;
    let gateway = f.mesh.gateway();
    let session = gateway.create_session("alice", "AgentA").await.unwrap();
    gateway
        .send_message("alice", &session.id, "ok")
        .await
        .unwrap();
    let before = gateway.get_session("alice", &session.id).await.unwrap();

    f.llm.queue_failure("AgentA", "model overloaded");
    let err = gateway
        .send_message("alice", &session.id, "this fails")
        .await
        .unwrap_err();
    assert!(
        matches!(&err, PersistError::Llm { agent, reason } if agent == "AgentA" && reason == "model overloaded"),
        "{err}"
    );

    assert_eq!(
        gateway
            .session_messages("alice", &session.id)
            .await
            .unwrap()
            .len(),
        2
    );
    assert_eq!(
        gateway.get_session("alice", &session.id).await.unwrap(),
        before
    );
    let agent = f.mesh.agent("AgentA").unwrap();
    assert_eq!(agent.messages(&session.id).await.unwrap().len(), 2);
    assert_eq!(
        agent.session(&session.id).await.unwrap().unwrap().state["turns"],
        1
    );

    // A failed first turn does not even create the agent's session row.
    let fresh = gateway.create_session("alice", "AgentA").await.unwrap();
    f.llm.queue_failure("AgentA", "down");
    assert!(
        gateway
            .send_message("alice", &fresh.id, "hi")
            .await
            .is_err()
    );
    assert!(agent.session(&fresh.id).await.unwrap().is_none());
    f.finish().await;
}

#[tokio::test]
async fn a_gateway_write_failure_discards_the_agents_side_of_the_turn() {
    let f = fixture(&["AgentA"]).await;
    let gateway = f.mesh.gateway();
    let session = gateway.create_session("alice", "AgentA").await.unwrap();
    let first = gateway
        .send_message("alice", &session.id, "kept")
        .await
        .unwrap();

    // Make the gateway's write fail after the agent has already stored its side.
    f.manager
        .gateway_connection()
        .execute_unprepared(
            "CREATE TRIGGER refuse BEFORE INSERT ON chat_messages \
             BEGIN SELECT RAISE(ABORT, 'disk full'); END",
        )
        .await
        .unwrap();
    let err = gateway
        .send_message("alice", &session.id, "lost")
        .await
        .unwrap_err();
    assert!(
        matches!(&err, PersistError::Database { database, .. } if database == "gateway"),
        "{err}"
    );

    let agent = f.mesh.agent("AgentA").unwrap();
    let contents: Vec<_> = agent
        .messages(&session.id)
        .await
        .unwrap()
        .into_iter()
        .map(|m| m.content)
        .collect();
    assert_eq!(contents, ["kept", "Received: kept"]);
    let state = agent.session(&session.id).await.unwrap().unwrap().state;
    assert_eq!(state["turns"], 1);
    assert_eq!(state["last_task_id"], first.task_id.as_str());

    // On a session whose first turn fails this way, the agent's session row goes too.
    let fresh = gateway.create_session("alice", "AgentA").await.unwrap();
    assert!(
        gateway
            .send_message("alice", &fresh.id, "lost")
            .await
            .is_err()
    );
    assert!(agent.session(&fresh.id).await.unwrap().is_none());
    f.finish().await;
}

#[tokio::test]
async fn an_agent_that_stopped_is_reported_by_name() {
    let f = fixture(&["AgentA"]).await;
    let gateway = f.mesh.gateway().clone();
    let session = gateway.create_session("alice", "AgentA").await.unwrap();
    let Fixture { manager, mesh, .. } = f;
    mesh.shutdown().await;
    let err = gateway
        .send_message("alice", &session.id, "anyone?")
        .await
        .unwrap_err();
    assert!(
        matches!(&err, PersistError::AgentUnavailable { agent } if agent == "AgentA"),
        "{err}"
    );
    assert!(
        gateway
            .session_messages("alice", &session.id)
            .await
            .unwrap()
            .is_empty()
    );
    manager.cleanup().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_turns_across_agents_all_land() {
    let f = fixture(&["AgentA", "AgentB", "AgentC"]).await;
    f.llm.set_latency(std::time::Duration::from_millis(5));
    let gateway = f.mesh.gateway().clone();
    let mut tasks = Vec::new();
    for agent in ["AgentA", "AgentB", "AgentC"] {
        for user in ["alice", "bob"] {
            let gateway = gateway.clone();
            tasks.push(tokio::spawn(async move {
                let s = gateway.create_session(user, agent).await.unwrap();
                for i in 0..5 {
                    gateway
                        .send_message(user, &s.id, &format!("{user}->{agent} #{i}"))
                        .await
                        .unwrap();
                }
                s.id
            }));
        }
    }
    for task in tasks {
        let id = task.await.unwrap();
        let session = gateway
            .get_session("alice", &id)
            .await
            .or(gateway.get_session("bob", &id).await)
            .unwrap();
        let agent = f.mesh.agent(&session.agent_name).unwrap();
        assert_eq!(agent.messages(&id).await.unwrap().len(), 10);
        assert!(agent.messages(&id).await.unwrap().iter().all(|m| {
            m.role == "assistant"
                || m.content
                    .starts_with(&format!("{}->{}", session.user_id, session.agent_name))
        }));
    }
    f.finish().await;
}
