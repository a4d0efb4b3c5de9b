//! The multi-database manager on SQLite files.

use persist_core::db::Error;
use persist_core::db::catalog::{list_indexes, list_tables};
use persist_core::db::{BackendConfig, BackendKind, DatabaseRole, EntitySchema};
use persist_core::mesh::{Mesh, ScriptedLlm};
use sea_orm::{ConnectionTrait, Statement};

async fn scalar(db: &impl ConnectionTrait, sql: &str) -> i64 {
    let row = db
        .query_one_raw(Statement::from_string(db.get_database_backend(), sql))
        .await
        .unwrap()
        .unwrap();
    row.try_get_by_index(0).unwrap()
}

#[tokio::test]
async fn gateway_is_migrated_and_agents_have_direct_schema() {
    let manager = persist_core::mesh::setup(["AgentA", "AgentB"])
        .await
        .unwrap();
    assert_eq!(manager.backend_kind(), BackendKind::SqliteFile);

    let gateway = manager.gateway_connection();
    let tables = list_tables(gateway).await.unwrap();
    assert_eq!(tables, ["chat_messages", "seaql_migrations", "sessions"]);
    let applied = scalar(gateway, "SELECT COUNT(*) FROM seaql_migrations").await;
    assert_eq!(
        applied as usize,
        manager.gateway_schema().migration_names().len()
    );
    let indexes = list_indexes(gateway).await.unwrap();
    for index in [
        "idx_sessions_user_id",
        "idx_sessions_user_id_updated_at",
        "idx_sessions_agent_name",
        "idx_chat_messages_session_id_created_at",
        "idx_chat_messages_task_id",
    ] {
        assert!(
            indexes.iter().any(|i| i == index),
            "{index} missing: {indexes:?}"
        );
    }

    for agent in ["AgentA", "AgentB"] {
        let db = manager.agent_connection(agent).unwrap();
        assert_eq!(
            list_tables(db).await.unwrap(),
            ["agent_messages", "agent_sessions"]
        );
        assert!(
            !list_indexes(db).await.unwrap().is_empty(),
            "entity indexes were not created"
        );
    }
    let a = manager
        .agent_location("AgentA")
        .unwrap()
        .path
        .clone()
        .unwrap();
    let b = manager
        .agent_location("AgentB")
        .unwrap()
        .path
        .clone()
        .unwrap();
    let g = manager.gateway_location().path.clone().unwrap();
    assert!(a != b && a != g && b != g);
    assert_eq!(
        a.parent(),
        g.parent(),
        "all databases live in one private directory"
    );
    manager.cleanup().await.unwrap();
}

#[tokio::test]
async fn foreign_keys_are_enforced() {
    let manager = persist_core::mesh::setup(["AgentA"]).await.unwrap();
    let orphan = "INSERT INTO chat_messages (id, session_id, message, sender_type, sender_name, created_at) \
                  VALUES ('m', 'no-such-session', 'x', 'user', 'u', 0)";
    let err = manager
        .gateway_connection()
        .execute_unprepared(orphan)
        .await
        .unwrap_err();
    assert!(err.to_string().contains("FOREIGN KEY"), "{err}");
    manager.cleanup().await.unwrap();
}

#[tokio::test]
async fn unknown_agent_is_an_error_that_names_it() {
    let manager = persist_core::mesh::setup(["AgentA"]).await.unwrap();
    let err = manager.agent_connection("AgentZ").unwrap_err();
    assert!(
        matches!(&err, Error::UnknownAgent { name, known } if name == "AgentZ" && known == &["AgentA"])
    );
    assert!(err.to_string().contains("AgentZ"));
    manager.cleanup().await.unwrap();
}

#[tokio::test]
async fn bad_agent_lists_are_rejected_before_anything_is_created() {
    let dir = tempfile::tempdir().unwrap();
    for agents in [
        vec!["A", "A"],
        vec!["Agent A", "agent-a"],
        vec![" "],
        vec!["A", ""],
    ] {
        let err = persist_core::mesh::manager()
            .agents(agents.clone())
            .backend(BackendConfig::SqliteFileIn(dir.path().to_owned()))
            .setup()
            .await
            .unwrap_err();
        assert!(
            matches!(
                err,
                Error::DuplicateAgent { .. }
                    | Error::AgentNameCollision { .. }
                    | Error::InvalidAgentName { .. }
            ),
            "{agents:?}: {err}"
        );
    }
    assert_eq!(
        std::fs::read_dir(dir.path()).unwrap().count(),
        0,
        "nothing may be left"
    );
}

#[tokio::test]
async fn a_failing_agent_schema_leaves_nothing_behind() {
    struct Broken;
    impl persist_core::db::AgentSchema for Broken {
        fn create<'a>(
            &'a self,
            db: &'a sea_orm::DatabaseConnection,
        ) -> futures::future::BoxFuture<'a, Result<(), sea_orm::DbErr>> {
            Box::pin(async move { db.execute_unprepared("CREATE TABLE (").await.map(|_| ()) })
        }
        fn tables(&self) -> Vec<String> {
            vec![]
        }
    }
    let dir = tempfile::tempdir().unwrap();
    let err = persist_core::mesh::manager()
        .agents(["AgentA"])
        .agent_schema(Broken)
        .backend(BackendConfig::SqliteFileIn(dir.path().to_owned()))
        .setup()
        .await
        .unwrap_err();
    assert!(
        matches!(&err, Error::Database { database, .. } if database == "agent AgentA"),
        "{err}"
    );
    assert_eq!(
        std::fs::read_dir(dir.path()).unwrap().count(),
        0,
        "a half-made setup was left"
    );
}

#[tokio::test]
async fn clear_all_data_keeps_schema_and_migration_history() {
    let manager = persist_core::mesh::setup(["AgentA", "AgentB"])
        .await
        .unwrap();
    let mesh = Mesh::start(&manager, ScriptedLlm::new());
    let session = mesh
        .gateway()
        .create_session("alice", "AgentA")
        .await
        .unwrap();
    mesh.gateway()
        .send_message("alice", &session.id, "hi")
        .await
        .unwrap();
    mesh.shutdown().await;

    manager.clear_all_data().await.unwrap();
    for role in [DatabaseRole::Gateway, DatabaseRole::Agent("AgentA".into())] {
        for count in manager.table_counts(&role).await.unwrap() {
            let expected = if count.table == "seaql_migrations" {
                5
            } else {
                0
            };
            assert_eq!(count.rows, expected, "{role}: {count:?}");
        }
    }
    assert_eq!(
        list_tables(manager.gateway_connection())
            .await
            .unwrap()
            .len(),
        3
    );
    manager.cleanup().await.unwrap();
}

#[tokio::test]
async fn cleanup_removes_every_file_and_is_idempotent() {
    let manager = persist_core::mesh::setup(["AgentA", "AgentB"])
        .await
        .unwrap();
    let dir = manager
        .gateway_location()
        .path
        .clone()
        .unwrap()
        .parent()
        .unwrap()
        .to_owned();
    assert_eq!(
        std::fs::read_dir(&dir)
            .unwrap()
            .filter(|e| e
                .as_ref()
                .unwrap()
                .path()
                .extension()
                .is_some_and(|x| x == "sqlite3"))
            .count(),
        3
    );
    manager.cleanup().await.unwrap();
    assert!(!dir.exists());
    manager.cleanup().await.unwrap();
    assert!(!manager.is_active());
    assert!(matches!(
        manager.clear_all_data().await,
        Err(Error::CleanedUp)
    ));
}

#[tokio::test]
async fn dropping_the_manager_cleans_up_even_when_panicking() {
    let manager = persist_core::mesh::setup(["AgentA"]).await.unwrap();
    let dir = manager
        .gateway_location()
        .path
        .clone()
        .unwrap()
        .parent()
        .unwrap()
        .to_owned();
    let clone = manager.clone();
    drop(manager);
    assert!(dir.exists(), "a live clone keeps the databases");
    let unwound = std::panic::catch_unwind(std::panic::AssertUnwindSafe(move || {
        let _held = clone;
        panic!("test body failed");
    }));
    assert!(unwound.is_err());
    assert!(
        !dir.exists(),
        "the drop while unwinding removed {}",
        dir.display()
    );
}

#[tokio::test]
async fn keep_leaves_files_for_a_person_to_open() {
    let manager = persist_core::mesh::setup(["AgentA"]).await.unwrap();
    let kept = manager.keep().await.unwrap();
    assert_eq!(kept.len(), 2);
    let dir = kept[0].1.path.clone().unwrap().parent().unwrap().to_owned();
    for (_, location) in &kept {
        assert!(location.path.as_ref().unwrap().exists());
    }
    manager.cleanup().await.unwrap();
    assert!(dir.exists(), "cleanup after keep must not delete");
    std::fs::remove_dir_all(dir).unwrap();
}

#[tokio::test]
async fn custom_schemas_are_used() {
    let manager = persist_core::mesh::manager()
        .agents(["Solo"])
        .agent_schema(
            EntitySchema::new().entity::<persist_core::mesh::entity::agent_session::Entity>(),
        )
        .setup()
        .await
        .unwrap();
    let tables = list_tables(manager.agent_connection("Solo").unwrap())
        .await
        .unwrap();
    assert_eq!(tables, ["agent_sessions"]);
    manager.cleanup().await.unwrap();
}
