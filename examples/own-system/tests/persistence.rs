//! The concierge's persistence suite: every inspector check, on the concierge's own tables.

use persist_core::assertions::*;
use persist_core::inspect::DatabaseStats;
use persist_core::prelude::*;
use persist_core::system::{Recording, RequestLog as _, Resource};

use concierge::{Concierge, RuleModel};

type Model = Recording<RuleModel>;

#[persistence_test(agents = ["Travel", "Billing"], system = "Concierge")]
async fn conversations_land_where_they_should(
    gateway: GatewayPersistenceAdapter,
    inspector: CrossDatabaseInspector,
    model: Resource<Model>,
) -> Result<(), PersistError> {
    let trip = gateway.create_session("ana", "Travel").await?;
    let other_trip = gateway.create_session("ana", "Travel").await?;
    let bill = gateway.create_session("ben", "Billing").await?;
    gateway
        .send_message(&trip.id, "a train to Lyon", "ana")
        .await?;
    let reply = gateway
        .send_message(&trip.id, "and a refund", "ana")
        .await?;
    assert_eq!(reply.content, "[2] Refunds take five days.");
    gateway
        .send_message(&other_trip.id, "a hotel", "ana")
        .await?;
    gateway.send_message(&bill.id, "my invoice", "ben").await?;

    inspector
        .verify_database_architecture(&["Travel", "Billing"])
        .await?;
    inspector.verify_session_linking(&trip.id, "Travel").await?;
    inspector
        .verify_database_isolation("Travel", "Billing")
        .await?;
    inspector
        .verify_session_context_isolation("Travel", &trip.id, &other_trip.id)
        .await?;
    inspector.verify_user_isolation("ana", "ben").await?;
    inspector.verify_integrity().await?;
    assert_database_stats(
        &inspector,
        &DatabaseStats::expect(3, 8)
            .agent("Travel", 2, 6)
            .agent("Billing", 1, 2),
    )
    .await;
    assert_agent_message_contains(&inspector, "Travel", &trip.id, "Lyon", Some("user")).await;
    assert_llm_context_isolated(&inspector, &*model, "Travel", &trip.id).await;
    assert_eq!(model.requests_for_session(&trip.id).len(), 2);
    Ok(())
}

#[persistence_test(agents = ["Travel"], system = "Concierge")]
async fn a_failed_model_leaves_nothing(
    gateway: GatewayPersistenceAdapter,
    inspector: CrossDatabaseInspector,
    model: Resource<Model>,
) -> Result<(), PersistError> {
    let trip = gateway.create_session("ana", "Travel").await?;
    model.inner().set_down(true);
    assert!(matches!(
        gateway.send_message(&trip.id, "hello", "ana").await,
        Err(PersistError::Llm { .. })
    ));
    assert_database_stats(
        &inspector,
        &DatabaseStats::expect(1, 0).agent("Travel", 0, 0),
    )
    .await;
    Ok(())
}

#[persistence_test(agents = ["Travel", "Billing"], system = "Concierge")]
async fn a_leak_planted_in_another_agent_is_caught(
    gateway: GatewayPersistenceAdapter,
    inspector: CrossDatabaseInspector,
    #[agent("Billing")] billing: DatabaseConnection,
) -> Result<(), PersistError> {
    use persist_core::sea_orm::ConnectionTrait as _;
    let trip = gateway.create_session("ana", "Travel").await?;
    gateway.send_message(&trip.id, "a train", "ana").await?;
    // A copy of the Travel conversation's memory, written into Billing's database.
    billing
        .execute_unprepared(&format!(
            "INSERT INTO memories (conversation_id, customer, notes) VALUES ('{}', 'ana', '{{}}')",
            trip.id
        ))
        .await
        .map_err(|e| PersistError::Backend(e.to_string()))?;
    let error = inspector
        .verify_database_isolation("Travel", "Billing")
        .await
        .unwrap_err()
        .to_string();
    assert!(error.contains("stored by both agents"), "{error}");
    Ok(())
}

#[persistence_test(agents = ["Travel"], system = "Concierge")]
async fn an_agent_on_its_own(
    #[agent("Travel")] travel: AgentPersistenceAdapter,
) -> Result<(), PersistError> {
    use persist_core::system::AgentRequest;
    travel
        .send(AgentRequest {
            session_id: "c-1".into(),
            user_id: "ana".into(),
            task_id: "x-1".into(),
            message: "hello".into(),
        })
        .await?;
    let memory = travel.session("c-1").await?.expect("a memory");
    assert_eq!(memory.state["turns"], 1);
    assert_eq!(travel.messages("c-1").await?.len(), 2);
    Ok(())
}
