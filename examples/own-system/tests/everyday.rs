//! Fixtures, an async seed, cases and the backend matrix, against the concierge's own schema.
//! The PostgreSQL tests run when `PERSIST_POSTGRES_URL` (or `PERSIST_TEST_DATABASE_URL`) names a
//! server, and say they were skipped otherwise.

use persist_core::assertions::*;
use persist_core::prelude::*;

use concierge::Concierge;

/// A seed drives the system itself, with its databases up.
async fn a_billing_question(ctx: &TestContext) -> Result<(), PersistError> {
    let gateway = ctx.adapter()?;
    let bill = gateway.create_session("ben", "Billing").await?;
    gateway
        .send_message(&bill.id, "why two charges?", "ben")
        .await?;
    Ok(())
}

#[persistence_test(
    agents = ["Travel", "Billing"],
    system = Concierge,
    fixtures = ["fixtures/conversation.sql", agent("Travel", "fixtures/travel_memory.sql")],
    seed = a_billing_question,
    backends = ["sqlite", "postgres"],
)]
#[case("ana", "and a hotel", "[2] Noted: and a hotel")]
#[case("ana", "I need a refund", "[2] Refunds take five days.")]
async fn a_fixture_conversation_goes_on(
    #[case] customer: &str,
    #[case] text: &str,
    #[case] reply: &str,
    gateway: GatewayPersistenceAdapter,
    inspector: CrossDatabaseInspector,
) -> Result<(), PersistError> {
    // The fixture's conversation is there, linked, and the agent remembers it.
    inspector
        .verify_session_linking("conv-fixture", "Travel")
        .await?;
    let turn = gateway.send_message("conv-fixture", text, customer).await?;
    assert_eq!(turn.content, reply);
    assert_agent_message_count(&inspector, "Travel", "conv-fixture", 4).await;
    // The seed's conversation is there too, in the other agent.
    assert_eq!(gateway.list_sessions("ben").await?.len(), 1);
    inspector
        .verify_database_isolation("Travel", "Billing")
        .await?;
    inspector.verify_user_isolation("ana", "ben").await?;
    inspector.verify_integrity().await?;
    Ok(())
}
