//! Seed category 4, the smoke suite: each framework component once.

use persist_core::assertions::*;
use persist_core::inspect::DatabaseStats;
use persist_core::prelude::*;
use sea_orm::ConnectionTrait;

#[persistence_test(agents = ["AgentA", "AgentB"])]
async fn every_component_works_once(
    manager: MultiDatabaseManager,
    inspector: CrossDatabaseInspector,
    gateway: GatewayPersistenceAdapter,
    llm: ScriptedLlm,
    #[agent("AgentA")] agent: AgentHandle,
    #[agent("AgentB")] agent_b_db: DatabaseConnection,
) {
    // Manager: three databases, each in place.
    assert_eq!(manager.locations().len(), 3);
    if let Some(file) = &manager.gateway_location().path {
        assert!(file.exists());
    }
    // Inspector: the architecture.
    inspector
        .verify_database_architecture(&["AgentA", "AgentB"])
        .await
        .unwrap();
    // Scripted model and adapter.
    llm.queue_reply("AgentA", "smoke reply");
    let session = gateway.create_session("smoke", "AgentA").await.unwrap();
    let turn = gateway
        .send_message(&session.id, "smoke test", "smoke")
        .await
        .unwrap();
    assert_eq!(turn.content, "smoke reply");
    assert_eq!(llm.requests()[0].message, "smoke test");
    // Agent handle: the agent's own view.
    assert_eq!(agent.messages(&session.id).await.unwrap().len(), 2);
    // Raw connection: nothing reached agent B.
    let row = agent_b_db
        .query_one_raw(sea_orm::Statement::from_string(
            agent_b_db.get_database_backend(),
            "SELECT COUNT(*) AS n FROM agent_messages",
        ))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(row.try_get::<i64>("", "n").unwrap(), 0);
    // Assertions.
    assert_session_linking(&inspector, &session.id, "AgentA").await;
    assert_database_stats(
        &inspector,
        &DatabaseStats::expect(1, 2)
            .agent("AgentA", 1, 2)
            .agent("AgentB", 0, 0),
    )
    .await;
    // Clearing.
    manager.clear_all_data().await.unwrap();
    assert_database_stats(
        &inspector,
        &DatabaseStats::expect(0, 0).agent("AgentA", 0, 0),
    )
    .await;
}
