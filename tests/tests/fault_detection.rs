//! Every verification and assertion, shown to catch a fault planted directly in a database
//! (or in what the model was shown). A check that cannot fail would be a defect.
//!
//! The suite runs on three systems shaped differently: the reference mesh, the helpdesk
//! (`persist_tests::helpdesk`), whose tables, columns, ids, times and message formats are all
//! other than the mesh's, and the relay (`persist_tests::relay`), whose gateway keeps one row
//! per turn and whose agents keep sessions of their own, linked through JSON, with native
//! times. The inspector reads all three through their layouts.

use persist_core::assertions::*;
use persist_core::db::{AgentSchema, Backend, BackendKind, DatabaseLocation, EntitySchema};
use persist_core::inspect::{DatabaseStats, Fault, IntegrityProblem, VerificationError};
use persist_core::mesh::{ContextMessage, LlmRequest};
use persist_core::prelude::*;
use persist_core::system::{LanguageModel, Resource};
use persist_tests::expect_panic;
use persist_tests::faults::*;

fn verification(error: PersistError) -> VerificationError {
    match error.verification() {
        Some(v) => v.clone(),
        None => panic!("expected a verification error, got {error}"),
    }
}

/// The fault suite for one system: `$system` (a type path, as `system = "…"` takes it) and
/// the [`Plant`] that writes its rows.
macro_rules! fault_suite {
    ($module:ident, $system:tt, $plant:ty) => {
        mod $module {
            use super::*;

            type P = $plant;
            type Model = <$plant as Plant>::Model;

    #[persistence_test(agents = ["AgentA", "AgentB"], system = $system)]
    async fn a_message_in_the_wrong_agent_breaks_isolation(
        gateway: GatewayPersistenceAdapter,
        inspector: CrossDatabaseInspector,
        #[agent("AgentA")] a_db: DatabaseConnection,
    ) {
        let b_session = gateway.create_session("alice", "AgentB").await.unwrap();
        let turn = gateway
            .send_message(&b_session.id, "for B only", "alice")
            .await
            .unwrap();
        assert_database_isolation(&inspector, "AgentA", "AgentB").await;

        // Agent A's database gets a copy of B's session and one of its messages.
        P::agent_session(&a_db, &b_session.id, "alice", "AgentA")
            .await
            .unwrap();
        P::agent_message(
            &a_db,
            "planted-msg",
            &b_session.id,
            "user",
            "for B only",
            &turn.task_id,
        )
        .await
        .unwrap();

        let error = verification(
            inspector
                .verify_database_isolation("AgentA", "AgentB")
                .await
                .unwrap_err(),
        );
        let VerificationError::AgentIsolation { leaks, .. } = &error else {
            panic!("{error}")
        };
        assert!(
            leaks
                .iter()
                .any(|l| l.contains("the gateway gives this session to agent AgentB")),
            "{error}"
        );
        assert!(leaks.iter().any(|l| l.contains("planted-msg")), "{error}");
        assert!(
            leaks.iter().any(|l| l.contains(&format!(
                "session {} is stored by both agents",
                b_session.id
            ))),
            "{error}"
        );
        assert!(
            leaks
                .iter()
                .any(|l| l.contains(&format!("turn {} is stored by both agents", turn.task_id))),
            "{error}"
        );

        let message = expect_panic(assert_database_isolation(&inspector, "AgentA", "AgentB")).await;
        assert!(
            message.starts_with("assert_database_isolation failed"),
            "{message}"
        );
        assert!(
            message.contains("planted-msg") && message.contains("for B only"),
            "the rows are printed: {message}"
        );
    }

    #[persistence_test(agents = ["AgentA"], system = $system)]
    async fn a_row_for_another_user_is_caught(
        gateway: GatewayPersistenceAdapter,
        inspector: CrossDatabaseInspector,
        manager: MultiDatabaseManager,
        #[agent("AgentA")] a_db: DatabaseConnection,
    ) {
        let alice = gateway.create_session("alice", "AgentA").await.unwrap();
        let turn = gateway
            .send_message(&alice.id, "alice writes", "alice")
            .await
            .unwrap();
        gateway.create_session("bob", "AgentA").await.unwrap();
        assert_no_user_data_leakage(&inspector, "alice", "bob").await;

        // A message from Bob inside Alice's session.
        let bob_in_alice = P::gateway_message(
            manager.gateway_connection(),
            "bob-in-alice",
            &alice.id,
            "user",
            "bob",
            "bob writes",
            &turn.task_id,
        )
        .await
        .unwrap();
        let error = verification(
            inspector
                .verify_user_isolation("alice", "bob")
                .await
                .unwrap_err(),
        );
        assert!(
            error
                .to_string()
                .contains("user bob's message in user alice's session"),
            "{error}"
        );
        let message = expect_panic(assert_no_user_data_leakage(&inspector, "alice", "bob")).await;
        assert!(message.contains(&bob_in_alice), "{message}");

        // An agent row that files a new session of Alice's under Bob.
        let second = gateway.create_session("alice", "AgentA").await.unwrap();
        P::agent_session(&a_db, &second.id, "bob", "AgentA")
            .await
            .unwrap();
        let error = verification(
            inspector
                .verify_session_linking(&second.id, "AgentA")
                .await
                .unwrap_err(),
        );
        assert!(
            error
                .to_string()
                .contains("the gateway says user alice, the agent says user bob"),
            "{error}"
        );
        let error = verification(
            inspector
                .verify_user_isolation("alice", "bob")
                .await
                .unwrap_err(),
        );
        assert!(error.to_string().contains("as user bob's"), "{error}");
    }

    #[persistence_test(agents = ["AgentA"], system = $system)]
    async fn orphans_are_caught(
        gateway: GatewayPersistenceAdapter,
        inspector: CrossDatabaseInspector,
        manager: MultiDatabaseManager,
    ) {
        let session = gateway.create_session("alice", "AgentA").await.unwrap();
        gateway
            .send_message(&session.id, "hi", "alice")
            .await
            .unwrap();
        assert_integrity(&inspector).await;

        let gateway_url = manager.gateway_location().url.clone();
        let orphan_gw = std::sync::Arc::new(std::sync::Mutex::new(String::new()));
        let stored = orphan_gw.clone();
        with_foreign_keys_off(&gateway_url, |db| async move {
            *stored.lock().unwrap() = P::gateway_message(
                &db,
                "orphan-gw",
                "ghost-session",
                "user",
                "alice",
                "lost",
                "t-ghost",
            )
            .await?;
            Ok(())
        })
        .await
        .unwrap();
        let orphan_gw = orphan_gw.lock().unwrap().clone();
        let agent_url = manager.agent_location("AgentA").unwrap().url.clone();
        with_foreign_keys_off(&agent_url, |db| async move {
            P::agent_message(
                &db,
                "orphan-agent",
                "ghost-session",
                "user",
                "lost",
                "t-ghost",
            )
            .await
        })
        .await
        .unwrap();

        let error = verification(inspector.verify_integrity().await.unwrap_err());
        let VerificationError::Integrity { problems } = &error else {
            panic!("{error}")
        };
        assert!(problems.iter().any(|p| matches!(p, IntegrityProblem::OrphanGatewayMessage { message } if message.id == orphan_gw)), "{error}");
        assert!(problems.iter().any(|p| matches!(p, IntegrityProblem::OrphanAgentMessage { message } if message.id == "orphan-agent")), "{error}");
        let message = expect_panic(assert_integrity(&inspector)).await;
        assert!(
            message.contains(&orphan_gw) && message.contains("orphan-agent"),
            "{message}"
        );
    }

    #[persistence_test(agents = ["AgentA"], system = $system)]
    async fn an_agent_session_outliving_its_gateway_session_is_caught(
        gateway: GatewayPersistenceAdapter,
        inspector: CrossDatabaseInspector,
        manager: MultiDatabaseManager,
    ) {
        let session = gateway.create_session("alice", "AgentA").await.unwrap();
        gateway
            .send_message(&session.id, "hi", "alice")
            .await
            .unwrap();
        // Delete only the gateway's side, as a gateway that forgot its agent would.
        assert_eq!(
            delete_where(manager.gateway_connection(), P::GATEWAY_SESSIONS, "id", &session.id)
                .await
                .unwrap(),
            1
        );
        let error = verification(inspector.verify_integrity().await.unwrap_err());
        let VerificationError::Integrity { problems } = &error else {
            panic!("{error}")
        };
        assert!(
            problems.iter().any(|p| matches!(p, IntegrityProblem::AgentSessionWithoutGateway { session: s } if s.id == session.id)),
            "{error}"
        );
    }

    #[persistence_test(agents = ["AgentA"], system = $system)]
    async fn counts_that_disagree_are_caught(
        gateway: GatewayPersistenceAdapter,
        inspector: CrossDatabaseInspector,
        manager: MultiDatabaseManager,
    ) {
        let session = gateway.create_session("alice", "AgentA").await.unwrap();
        let turn = gateway
            .send_message(&session.id, "hi", "alice")
            .await
            .unwrap();
        P::gateway_message(
            manager.gateway_connection(),
            "extra",
            &session.id,
            "system",
            "gateway",
            "extra",
            &turn.task_id,
        )
        .await
        .unwrap();
        let error = verification(inspector.verify_integrity().await.unwrap_err());
        let VerificationError::Integrity { problems } = &error else {
            panic!("{error}")
        };
        assert_eq!(
            problems,
            &[IntegrityProblem::CountMismatch {
                session_id: session.id.clone(),
                agent: "AgentA".into(),
                gateway: 3,
                agent_count: 2
            }]
        );
        let message = expect_panic(assert_session_context_isolation(
            &inspector,
            "AgentA",
            &session.id,
            &session.id,
        ))
        .await;
        assert!(
            message.contains("differs from the gateway's") && message.contains("extra"),
            "{message}"
        );
    }

    #[persistence_test(agents = ["AgentA", "AgentB"], system = $system)]
    async fn a_missing_agent_table_is_caught(
        inspector: CrossDatabaseInspector,
        #[agent("AgentB")] b_db: DatabaseConnection,
    ) {
        assert_agent_schema_correct(&inspector, "AgentB").await;
        drop_table(&b_db, P::AGENT_MESSAGES).await.unwrap();
        let error = verification(inspector.verify_agent_schema("AgentB").await.unwrap_err());
        let VerificationError::AgentSchema { state } = &error else {
            panic!("{error}")
        };
        assert_eq!(state.missing_tables, [P::AGENT_MESSAGES]);
        assert!(
            inspector
                .verify_database_architecture(&["AgentA", "AgentB"])
                .await
                .is_err()
        );
        assert!(
            inspector
                .verify_database_architecture(&["AgentA"])
                .await
                .is_ok(),
            "agent A is still fine"
        );
        let message = expect_panic(assert_agent_schema_correct(&inspector, "AgentB")).await;
        assert!(
            message.contains(&format!("missing tables [{:?}]", P::AGENT_MESSAGES)),
            "{message}"
        );
    }

    #[persistence_test(agents = ["AgentA"], system = $system)]
    async fn a_migration_table_in_an_agent_is_caught(
        inspector: CrossDatabaseInspector,
        #[agent("AgentA")] a_db: DatabaseConnection,
    ) {
        create_migration_table(&a_db).await.unwrap();
        let error = verification(inspector.verify_agent_schema("AgentA").await.unwrap_err());
        let VerificationError::AgentSchema { state } = &error else {
            panic!("{error}")
        };
        assert_eq!(state.migration_tables, ["seaql_migrations"]);
        assert!(state.missing_tables.is_empty());
    }

    #[persistence_test(system = $system)]
    async fn an_unapplied_migration_is_caught(
        inspector: CrossDatabaseInspector,
        manager: MultiDatabaseManager,
    ) {
        let names = manager.gateway_schema().migration_names();
        let last = names.last().unwrap().clone();
        delete_where(
            manager.gateway_connection(),
            "seaql_migrations",
            "version",
            &last,
        )
        .await
        .unwrap();
        let error = verification(inspector.verify_gateway_migrations().await.unwrap_err());
        let VerificationError::Migrations { state } = &error else {
            panic!("{error}")
        };
        assert_eq!(state.pending, std::slice::from_ref(&last));
        assert_eq!(state.version(), Some(names[names.len() - 2].as_str()));
        let message = expect_panic(assert_migration_state(&inspector)).await;
        assert!(message.contains(&last), "{message}");
    }

    #[persistence_test(system = $system)]
    async fn an_unknown_or_untracked_migration_state_is_caught(
        inspector: CrossDatabaseInspector,
        manager: MultiDatabaseManager,
    ) {
        record_unknown_migration(
            manager.gateway_connection(),
            "m29990101_000001_from_the_future",
        )
        .await
        .unwrap();
        let error = verification(inspector.verify_gateway_migrations().await.unwrap_err());
        let VerificationError::Migrations { state } = &error else {
            panic!("{error}")
        };
        assert_eq!(state.unknown, ["m29990101_000001_from_the_future"]);

        drop_table(manager.gateway_connection(), "seaql_migrations")
            .await
            .unwrap();
        let state = inspector.gateway_migration_state().await.unwrap();
        assert!(!state.table_present && state.applied.is_empty() && state.pending.len() == manager.gateway_schema().migration_names().len());
        assert!(inspector.verify_gateway_migrations().await.is_err());
    }

    #[persistence_test(agents = ["AgentA", "AgentB"], system = $system)]
    async fn broken_links_are_caught(
        gateway: GatewayPersistenceAdapter,
        inspector: CrossDatabaseInspector,
        #[agent("AgentA")] a_db: DatabaseConnection,
    ) {
        let quiet = gateway.create_session("alice", "AgentA").await.unwrap();
        let reason = |e: PersistError| match verification(e) {
            VerificationError::SessionLink { reason, .. } => reason,
            other => panic!("{other}"),
        };
        let missing = reason(
            inspector
                .verify_session_linking(&quiet.id, "AgentA")
                .await
                .unwrap_err(),
        );
        assert_eq!(
            missing,
            "agent AgentA's database has no session with this id"
        );
        let wrong_agent = reason(
            inspector
                .verify_session_linking(&quiet.id, "AgentB")
                .await
                .unwrap_err(),
        );
        assert_eq!(wrong_agent, "the gateway links it to agent AgentA");
        let unknown = reason(
            inspector
                .verify_session_linking("nope", "AgentA")
                .await
                .unwrap_err(),
        );
        assert_eq!(unknown, "the gateway has no such session");
        P::agent_session(&a_db, &quiet.id, "alice", "AgentZ")
            .await
            .unwrap();
        let misnamed = reason(
            inspector
                .verify_session_linking(&quiet.id, "AgentA")
                .await
                .unwrap_err(),
        );
        assert_eq!(misnamed, "the agent row names agent AgentZ");
        let message = expect_panic(assert_session_linking(&inspector, &quiet.id, "AgentA")).await;
        assert!(
            message.contains("AgentZ") && message.contains(&quiet.id),
            "the rows are printed: {message}"
        );
    }

    #[persistence_test(agents = ["AgentA"], system = $system)]
    async fn a_context_leak_between_sessions_is_caught(
        gateway: GatewayPersistenceAdapter,
        inspector: CrossDatabaseInspector,
        llm: Resource<Model>,
        #[agent("AgentA")] a_db: DatabaseConnection,
    ) {
        let one = gateway.create_session("alice", "AgentA").await.unwrap();
        let two = gateway.create_session("alice", "AgentA").await.unwrap();
        let turn = gateway
            .send_message(&one.id, "only for one", "alice")
            .await
            .unwrap();
        gateway
            .send_message(&two.id, "only for two", "alice")
            .await
            .unwrap();
        assert_session_context_isolation(&inspector, "AgentA", &one.id, &two.id).await;

        P::agent_message(
            &a_db,
            "leaked",
            &two.id,
            "user",
            "only for one",
            &turn.task_id,
        )
        .await
        .unwrap();
        let error = verification(
            inspector
                .verify_session_context_isolation("AgentA", &one.id, &two.id)
                .await
                .unwrap_err(),
        );
        assert!(
            error
                .to_string()
                .contains(&format!("not from a turn of session {}", two.id)),
            "{error}"
        );
        let message = expect_panic(assert_session_context_isolation(
            &inspector, "AgentA", &one.id, &two.id,
        ))
        .await;
        assert!(message.contains("leaked"), "{message}");

        // What the model is shown is checked too: a request for session two carrying one's text.
        let _ = LanguageModel::complete(&*llm, LlmRequest {
                agent: "AgentA".into(),
                session_id: two.id.clone(),
                user_id: "alice".into(),
                task_id: "planted".into(),
                message: "hi".into(),
                context: vec![ContextMessage {
                    role: "user".into(),
                    content: "only for one".into(),
                }],
            })
        .await;
        assert_llm_context_isolated(&inspector, &*llm, "AgentA", &one.id).await;
        let message = expect_panic(assert_llm_context_isolated(
            &inspector, &*llm, "AgentA", &two.id,
        ))
        .await;
        assert!(
            message.contains("only for one") && message.contains("planted"),
            "{message}"
        );
    }

    #[persistence_test(agents = ["AgentA", "AgentB"], system = $system)]
    async fn count_content_existence_and_stats_assertions_fail_with_rows(
        gateway: GatewayPersistenceAdapter,
        inspector: CrossDatabaseInspector,
    ) {
        let session = gateway.create_session("alice", "AgentA").await.unwrap();
        gateway
            .send_message(&session.id, "the words", "alice")
            .await
            .unwrap();

        let m = expect_panic(assert_gateway_session_exists(
            &inspector,
            &session.id,
            "bob",
            "AgentA",
        ))
        .await;
        assert!(
            m.contains("user_id=alice") && m.contains(&session.id),
            "{m}"
        );
        let m = expect_panic(assert_gateway_session_exists(
            &inspector,
            &session.id,
            "alice",
            "AgentB",
        ))
        .await;
        // The row as the system stores it: its own name for the agent column.
        assert!(m.contains(&format!("{}=AgentA", P::AGENT_COLUMN)), "{m}");
        let m = expect_panic(assert_agent_session_exists(
            &inspector,
            "AgentB",
            &session.id,
        ))
        .await;
        assert!(
            m.contains("agent AgentB has no session") && m.contains("(no rows)"),
            "{m}"
        );
        let m = expect_panic(assert_gateway_message_count(&inspector, &session.id, 3)).await;
        assert!(m.contains("found 2") && m.contains("the words"), "{m}");
        let m = expect_panic(assert_agent_message_count(
            &inspector,
            "AgentA",
            &session.id,
            1,
        ))
        .await;
        assert!(
            m.contains("found 2") && m.contains(&format!("{}the words", P::REPLY_PREFIX)),
            "{m}"
        );
        assert_message_contains(&inspector, &session.id, P::REPLY_PREFIX, Some("agent")).await;
        let m = expect_panic(assert_message_contains(
            &inspector,
            &session.id,
            P::REPLY_PREFIX,
            Some("user"),
        ))
        .await;
        assert!(
            m.contains("no gateway message from a user")
                && m.contains(&format!("agent AgentA: \"{}the words\"", P::REPLY_PREFIX)),
            "{m}"
        );
        let m = expect_panic(assert_agent_message_contains(
            &inspector,
            "AgentA",
            &session.id,
            "absent",
            None,
        ))
        .await;
        assert!(m.contains("\"absent\"") && m.contains("the words"), "{m}");
        let m = expect_panic(assert_database_stats(
            &inspector,
            &DatabaseStats::expect(1, 2).agent("AgentB", 1, 2),
        ))
        .await;
        assert!(m.contains("expected") && m.contains("agent AgentB"), "{m}");
    }

    #[persistence_test(agents = ["AgentA", "AgentB"], system = $system)]
    async fn the_layout_proof_sees_every_classic_fault(
        gateway: GatewayPersistenceAdapter,
        inspector: CrossDatabaseInspector,
    ) {
        persist_tests::traffic_for_a_proof(&gateway, &["AgentA", "AgentB"])
            .await
            .unwrap();
        let before = inspector.snapshot().await.unwrap();
        let proof = inspector.prove_layout().await.unwrap();
        assert!(proof.is_complete(), "{proof}");
        assert_eq!(proof.outcomes.len(), 16, "{proof}");
        // Each fault is caught where it belongs.
        for outcome in &proof.outcomes {
            let by = |check: &str| outcome.caught_by.iter().any(|c| c == check);
            match outcome.fault {
                Fault::MovedToAnotherAgent => assert!(
                    by("verify_database_isolation") || by("verify_integrity"),
                    "{proof}"
                ),
                Fault::Orphan => assert!(by("verify_integrity"), "{proof}"),
                _ => assert!(by("verify_session_context_isolation"), "{proof}"),
            }
        }
        // And the data is as it was.
        assert_eq!(inspector.snapshot().await.unwrap(), before);
    }
        }
    };
}

fault_suite!(mesh, "persist_core::mesh::ReferenceMesh", MeshPlant);
fault_suite!(helpdesk, "persist_tests::helpdesk::Helpdesk", HelpdeskPlant);
fault_suite!(relay, "persist_tests::relay::Relay", RelayPlant);

/// A backend that wrongly gives every role the same file.
#[derive(Debug)]
struct OneFileForAll(tempfile::TempDir);

impl Backend for OneFileForAll {
    fn kind(&self) -> BackendKind {
        BackendKind::SqliteFile
    }
    fn create_database<'a>(
        &'a self,
        _name: &'a str,
    ) -> futures::future::BoxFuture<'a, persist_core::db::Result<DatabaseLocation>> {
        let path = self.0.path().join("shared.sqlite3");
        Box::pin(async move {
            Ok(
                DatabaseLocation::new("shared", format!("sqlite://{}?mode=rwc", path.display()))
                    .with_path(path),
            )
        })
    }
    fn drop_database<'a>(
        &'a self,
        _location: &'a DatabaseLocation,
    ) -> futures::future::BoxFuture<'a, persist_core::db::Result<()>> {
        Box::pin(async { Ok(()) })
    }
}

/// A backend that wrongly gives every role one in-memory database under names of their own:
/// no name to ask a connection for, so only a probe table can tell.
#[derive(Debug)]
struct OneMemoryForAll(String);

impl Backend for OneMemoryForAll {
    fn kind(&self) -> BackendKind {
        BackendKind::SqliteMemory
    }
    fn create_database<'a>(
        &'a self,
        name: &'a str,
    ) -> futures::future::BoxFuture<'a, persist_core::db::Result<DatabaseLocation>> {
        let url = format!("sqlite:file:{}?mode=memory&cache=shared", self.0);
        Box::pin(async move { Ok(DatabaseLocation::new(format!("{}_{name}", self.0), url)) })
    }
    fn drop_database<'a>(
        &'a self,
        _location: &'a DatabaseLocation,
    ) -> futures::future::BoxFuture<'a, persist_core::db::Result<()>> {
        Box::pin(async { Ok(()) })
    }
}

/// The mesh's agent schema, tolerating tables that already exist (they do, in a shared file).
struct Tolerant(EntitySchema);

impl AgentSchema for Tolerant {
    fn create<'a>(
        &'a self,
        db: &'a DatabaseConnection,
    ) -> futures::future::BoxFuture<'a, Result<(), sea_orm::DbErr>> {
        Box::pin(async move {
            match self.0.create(db).await {
                Err(e) if e.to_string().contains("already exists") => Ok(()),
                other => other,
            }
        })
    }
    fn tables(&self) -> Vec<String> {
        self.0.tables()
    }
}

/// The mesh with agents A and B on `backend`, and what `verify_databases_distinct` says is
/// shared (it must fail).
async fn not_distinct(
    backend: impl Backend + 'static,
) -> (MultiDatabaseManager, CrossDatabaseInspector, Vec<String>) {
    let manager = persist_core::mesh::manager()
        .agents(["AgentA", "AgentB"])
        .custom_backend(backend)
        .agent_schema(Tolerant(persist_core::mesh::agent_schema()))
        .setup()
        .await
        .unwrap();
    let inspector = CrossDatabaseInspector::new(manager.clone());
    let error = verification(inspector.verify_databases_distinct().await.unwrap_err());
    let VerificationError::DatabasesNotDistinct { shared } = error else {
        panic!("{error}")
    };
    (manager, inspector, shared)
}

#[tokio::test]
async fn databases_that_are_not_distinct_are_caught() {
    let (manager, inspector, shared) =
        not_distinct(OneFileForAll(tempfile::tempdir().unwrap())).await;
    assert_eq!(shared.len(), 3, "gateway–A, gateway–B and A–B: {shared:?}");
    // Sharing the gateway's file also puts its migration table in each agent's database.
    assert!(inspector.verify_agent_schema("AgentA").await.is_err());
    assert!(
        inspector
            .verify_database_architecture(&["AgentA", "AgentB"])
            .await
            .is_err()
    );
    manager.cleanup().await.unwrap();
}

#[tokio::test]
async fn in_memory_databases_shared_under_different_names_are_caught() {
    let name = format!("shared_{}", &uuid::Uuid::new_v4().simple().to_string()[..8]);
    let (manager, _, shared) = not_distinct(OneMemoryForAll(name)).await;
    // Each database's probe is seen by the two others.
    assert_eq!(shared.len(), 6, "{shared:?}");
    assert!(
        shared
            .iter()
            .any(|s| s == "gateway and agent AgentB share one in-memory database"),
        "{shared:?}"
    );
    manager.cleanup().await.unwrap();
}
