//! Seed category 1, database architecture: the gateway is migrated, agents have a direct
//! schema, the databases are separate and connectable, and every test starts empty.

use persist_core::assertions::*;
use persist_core::inspect::DatabaseStats;
use persist_core::prelude::*;
use sea_orm::ConnectionTrait;

const AGENTS: [&str; 4] = ["AgentA", "AgentB", "AgentC", "AgentD"];

#[persistence_test(agents = ["AgentA", "AgentB", "AgentC", "AgentD"])]
async fn gateway_is_migrated_to_the_latest_version(
    inspector: CrossDatabaseInspector,
    manager: MultiDatabaseManager,
) {
    let state = assert_migration_state(&inspector).await;
    let all = manager.gateway_schema().migration_names();
    assert_eq!(all.len(), 5, "the gateway schema grows in five steps");
    assert_eq!(state.applied, all);
    assert!(state.pending.is_empty() && state.unknown.is_empty());
    assert_eq!(state.table, "seaql_migrations");
    assert_eq!(
        inspector
            .gateway_migration_version()
            .await
            .unwrap()
            .as_deref(),
        Some("m20260101_000005_long_message_text")
    );
    let tables = persist_core::db::catalog::list_tables(manager.gateway_connection())
        .await
        .unwrap();
    assert_eq!(tables, ["chat_messages", "seaql_migrations", "sessions"]);
}

#[persistence_test(agents = ["AgentA", "AgentB", "AgentC", "AgentD"])]
async fn agents_have_a_direct_schema_and_no_migrations(inspector: CrossDatabaseInspector) {
    for agent in AGENTS {
        let state = assert_agent_schema_correct(&inspector, agent).await;
        assert!(
            state.tables.contains(&"agent_sessions".to_owned()),
            "{state:?}"
        );
        assert!(
            state.tables.contains(&"agent_messages".to_owned()),
            "{state:?}"
        );
        assert!(state.migration_tables.is_empty(), "{state:?}");
        assert!(
            !state.tables.iter().any(|t| t.contains("migration")),
            "{state:?}"
        );
        assert!(
            !state.indexes.is_empty(),
            "indexes come from the entities too: {state:?}"
        );
    }
}

#[persistence_test(agents = ["AgentA", "AgentB", "AgentC", "AgentD"])]
async fn databases_are_separate_and_each_connectable(
    inspector: CrossDatabaseInspector,
    manager: &MultiDatabaseManager,
) {
    let identities = inspector.verify_databases_distinct().await.unwrap();
    assert_eq!(identities.len(), 5);
    for (role, location) in manager.locations() {
        let db = manager.connection(&role).unwrap();
        db.execute_unprepared("SELECT 1")
            .await
            .unwrap_or_else(|e| panic!("{role} at {location}: {e}"));
    }
    let mut files: Vec<_> = manager
        .locations()
        .into_iter()
        .map(|(_, l)| l.url)
        .collect();
    files.sort();
    files.dedup();
    assert_eq!(files.len(), 5, "every database has its own URL");
}

#[persistence_test(agents = ["AgentA", "AgentB", "AgentC", "AgentD"])]
async fn a_fresh_test_starts_empty(
    inspector: CrossDatabaseInspector,
    gateway: GatewayPersistenceAdapter,
) {
    let mut expected = DatabaseStats::expect(0, 0);
    for agent in AGENTS {
        expected = expected.agent(agent, 0, 0);
    }
    assert_database_stats(&inspector, &expected).await;
    // Write, so that a test that shared these databases would not start empty.
    let session = gateway.create_session("alice", "AgentA").await.unwrap();
    gateway
        .send_message(&session.id, "hi", "alice")
        .await
        .unwrap();
    assert_database_stats(
        &inspector,
        &DatabaseStats::expect(1, 2).agent("AgentA", 1, 2),
    )
    .await;
}

#[persistence_test(agents = ["AgentA", "AgentB", "AgentC", "AgentD"])]
async fn the_architecture_report_serializes_and_draws(inspector: CrossDatabaseInspector) {
    let report = inspector
        .verify_database_architecture(&AGENTS)
        .await
        .unwrap();
    assert!(report.gateway_migration_version.is_some());

    let json = serde_json::to_value(&report).unwrap();
    assert_eq!(
        json["gateway_migration_version"],
        "m20260101_000005_long_message_text"
    );
    for agent in AGENTS {
        assert!(report.agent_schemas[agent].contains(&"agent_sessions".to_owned()));
        assert!(report.agents[agent].migration_tables.is_empty());
        let tables = json["agent_schemas"][agent].as_array().unwrap();
        assert!(tables.iter().any(|t| t == "agent_sessions"), "{json}");
    }

    let drawing = report.to_string();
    assert!(drawing.contains("Gateway DB"), "{drawing}");
    assert!(drawing.contains("5/5 applied"), "{drawing}");
    for agent in AGENTS {
        assert!(drawing.contains(&format!("{agent} DB")), "{drawing}");
    }
    assert_eq!(drawing.matches("no migrations").count(), 4, "{drawing}");
    // Each box fits its text: its widest line has one space either side.
    let first_row: Vec<&str> = drawing
        .lines()
        .skip_while(|l| !l.starts_with('┌'))
        .take_while(|l| !l.starts_with('└'))
        .collect();
    let border = first_row[0].split('┐').next().unwrap().chars().count() - 1;
    let widest = first_row[1..]
        .iter()
        .map(|l| l.split('│').nth(1).unwrap().trim_end().chars().count())
        .max()
        .unwrap();
    assert_eq!(border, widest + 1, "{drawing}");
    // And every line of a row of boxes meets their borders.
    let width = first_row[0].chars().count();
    assert!(
        first_row.iter().all(|l| l.chars().count() == width),
        "{drawing}"
    );
}

#[persistence_test(agents = ["AgentA", "AgentB"])]
async fn clearing_data_keeps_schema_and_migration_history(
    gateway: GatewayPersistenceAdapter,
    inspector: CrossDatabaseInspector,
    manager: MultiDatabaseManager,
) {
    let session = gateway.create_session("alice", "AgentA").await.unwrap();
    gateway
        .send_message(&session.id, "hi", "alice")
        .await
        .unwrap();
    manager.clear_all_data().await.unwrap();
    assert_database_stats(
        &inspector,
        &DatabaseStats::expect(0, 0).agent("AgentA", 0, 0),
    )
    .await;
    assert_migration_state(&inspector).await;
    assert_agent_schema_correct(&inspector, "AgentA").await;
    // And the mesh keeps working on the cleared databases.
    let again = gateway.create_session("alice", "AgentA").await.unwrap();
    gateway
        .send_message(&again.id, "again", "alice")
        .await
        .unwrap();
    assert_session_linking(&inspector, &again.id, "AgentA").await;
}

#[persistence_test(agents = ["AgentA"])]
async fn another_tools_migration_table_in_an_agent_is_caught(
    inspector: CrossDatabaseInspector,
    #[agent("AgentA")] a_db: DatabaseConnection,
) {
    // Alembic's and Diesel's tracking tables: a Python or a Diesel store migrated this one.
    for sql in [
        "CREATE TABLE alembic_version (version_num VARCHAR(32) NOT NULL)",
        "CREATE TABLE __diesel_schema_migrations (version VARCHAR(50) NOT NULL)",
    ] {
        a_db.execute_unprepared(sql).await.unwrap();
    }
    let error = inspector.verify_agent_schema("AgentA").await.unwrap_err();
    let Some(persist_core::inspect::VerificationError::AgentSchema { state }) =
        error.verification()
    else {
        panic!("{error}")
    };
    let mut found = state.migration_tables.clone();
    found.sort();
    assert_eq!(found, ["__diesel_schema_migrations", "alembic_version"]);
}
