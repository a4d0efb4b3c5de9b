//! A system of one's own: the helpdesk (`persist_tests::helpdesk`), shaped unlike the reference
//! mesh, provisioned, started, driven and verified through `system = "…"` alone. The fault
//! suite (`fault_detection`) shows every check failing on it too.

use std::sync::Arc;

use persist_core::assertions::*;
use persist_core::async_trait;
use persist_core::db::{AgentSchema, EntitySchema, GatewaySchema, Migrations};
use persist_core::inspect::DatabaseStats;
use persist_core::prelude::*;
use persist_core::system::{AgentRequest, RequestLog as _, Resource, SenderType};
use persist_tests::helpdesk::{self, entity};

#[persistence_test(agents = ["Billing", "Support"], system = "helpdesk::Helpdesk")]
async fn every_check_passes_on_real_traffic(
    gateway: GatewayPersistenceAdapter,
    inspector: CrossDatabaseInspector,
    model: Resource<helpdesk::Model>,
) -> Result<(), PersistError> {
    let alice = gateway.create_session("alice", "Billing").await?;
    let alice_too = gateway.create_session("alice", "Billing").await?;
    let bob = gateway.create_session("bob", "Support").await?;
    for (session, user, text) in [
        (&alice, "alice", "my invoice"),
        (&alice, "alice", "is wrong"),
        (&alice_too, "alice", "another topic"),
        (&bob, "bob", "password reset"),
    ] {
        let turn = gateway.send_message(&session.id, text, user).await?;
        assert_eq!(turn.content, format!("ack: {text}"));
    }

    let report = inspector
        .verify_database_architecture(&["Billing", "Support"])
        .await?;
    assert_eq!(
        report.gateway_migrations.applied,
        [
            "m20260201_000001_create_users_and_sessions",
            "m20260201_000002_create_chat_messages"
        ]
    );
    assert_eq!(report.agent_schemas["Billing"], ["events", "sessions"]);
    let link = inspector
        .verify_session_linking(&alice.id, "Billing")
        .await?;
    assert_eq!(link.agent.user_id, "alice");
    assert_eq!(link.agent.state["turns"], 2);
    inspector
        .verify_database_isolation("Billing", "Support")
        .await?;
    inspector
        .verify_session_context_isolation("Billing", &alice.id, &alice_too.id)
        .await?;
    let users = inspector.verify_user_isolation("alice", "bob").await?;
    assert_eq!(users.sessions["alice"], 2);
    let integrity = inspector.verify_integrity().await?;
    assert_eq!(integrity.gateway_messages, 8);
    assert_database_stats(
        &inspector,
        &DatabaseStats::expect(3, 8)
            .agent("Billing", 2, 6)
            .agent("Support", 1, 2),
    )
    .await;

    // The gateway's messages: integer ids, mapped senders, the turn id on both sides.
    let history = inspector.gateway_messages(&alice.id).await?;
    assert!(history.iter().all(|m| m.id.parse::<i64>().is_ok()));
    let senders: Vec<&str> = history.iter().map(|m| m.sender_type.as_str()).collect();
    assert_eq!(senders, ["user", "agent", "user", "agent"]);
    assert_eq!(history[1].sender_name, "Billing");
    // The agent's events: JSON content read at the layout's pointer, oldest first.
    let events = inspector.agent_messages("Billing", Some(&alice.id)).await?;
    let texts: Vec<&str> = events.iter().map(|m| m.content.as_str()).collect();
    assert_eq!(
        texts,
        ["my invoice", "ack: my invoice", "is wrong", "ack: is wrong"]
    );
    assert_eq!(events[0].task_id, history[0].task_id.clone().unwrap());
    assert!(events.windows(2).all(|w| w[0].created_at < w[1].created_at));

    // What the system's own model was shown.
    assert_eq!(model.requests_for_session(&alice.id)[1].context.len(), 2);
    assert_llm_context_isolated(&inspector, &*model, "Billing", &alice.id).await;
    assert_llm_context_isolated(&inspector, &*model, "Billing", &alice_too.id).await;
    Ok(())
}

#[persistence_test(agents = ["Support"], system = "helpdesk::Helpdesk", http = ["direct", "router", "socket"])]
async fn the_lifecycle_through_the_gateway_adapter(
    gateway: GatewayPersistenceAdapter,
    inspector: CrossDatabaseInspector,
) -> Result<(), PersistError> {
    let first = gateway.create_session("alice", "Support").await?;
    let second = gateway.create_session("alice", "Support").await?;
    gateway.send_message(&first.id, "hello", "alice").await?;
    let listed: Vec<String> = gateway
        .list_sessions("alice")
        .await?
        .into_iter()
        .map(|s| s.id)
        .collect();
    assert_eq!(
        listed,
        [first.id.clone(), second.id.clone()],
        "most recent first"
    );
    let renamed = gateway
        .rename_session(&second.id, "  Refunds ", "alice")
        .await?;
    assert_eq!(renamed.name.as_deref(), Some("Refunds"));
    assert_eq!(
        inspector
            .gateway_session(&second.id)
            .await?
            .unwrap()
            .name
            .as_deref(),
        Some("Refunds")
    );
    let messages = gateway.session_messages(&first.id, "alice").await?;
    assert_eq!(messages[0].sender_type, SenderType::User);
    assert_eq!(messages[1].sender_type, SenderType::Agent);

    // Another user's session is exactly like a missing one.
    assert!(matches!(
        gateway.get_session(&first.id, "mallory").await,
        Err(PersistError::SessionNotFound { .. })
    ));
    assert!(!gateway.delete_session(&first.id, "mallory").await?);
    // The helpdesk has no active session to switch to.
    assert!(matches!(
        gateway.switch_session(&first.id, "alice").await,
        Err(PersistError::Unsupported { .. })
    ));

    assert!(gateway.delete_session(&first.id, "alice").await?);
    assert!(inspector.gateway_session(&first.id).await?.is_none());
    assert!(
        inspector
            .agent_sessions("Support", Some(&first.id))
            .await?
            .is_empty()
    );
    assert!(
        inspector
            .agent_messages("Support", Some(&first.id))
            .await?
            .is_empty()
    );
    inspector.verify_integrity().await?;
    Ok(())
}

#[persistence_test(agents = ["Support"], system = "helpdesk::Helpdesk")]
async fn an_agent_driven_directly(
    #[agent("Support")] agent: AgentPersistenceAdapter,
    #[agent("Support")] db: DatabaseConnection,
) -> Result<(), PersistError> {
    use persist_core::sea_orm::EntityTrait as _;
    let request = |task: &str, text: &str| AgentRequest {
        session_id: "s-1".into(),
        user_id: "alice".into(),
        task_id: task.into(),
        message: text.into(),
    };
    assert_eq!(agent.send(request("t1", "hi")).await?, "ack: hi");
    agent.send(request("t2", "again")).await?;
    let stored = agent
        .session("s-1")
        .await?
        .expect("the agent stored the session");
    assert_eq!(
        (stored.user_id.as_str(), stored.agent_name.as_str()),
        ("alice", "Support")
    );
    assert_eq!(stored.state["turns"], 2);
    let roles: Vec<String> = agent
        .messages("s-1")
        .await?
        .into_iter()
        .map(|m| m.role)
        .collect();
    assert_eq!(roles, ["user", "assistant", "user", "assistant"]);
    // A row prints as the helpdesk stores it: its own table and column names.
    let printed = agent.messages("s-1").await?[0].to_string();
    assert!(
        printed.starts_with("agent Support events(id=")
            && printed.contains("session_id=s-1")
            && printed.contains("user: \"hi\"")
            && printed.contains("invocation_id=t1"),
        "{printed}"
    );
    assert!(!printed.contains("agent_messages"), "{printed}");
    // The adapter reads what the entities wrote.
    let events = entity::event::Entity::find()
        .all(&db)
        .await
        .map_err(|e| PersistError::Backend(e.to_string()))?;
    assert_eq!(events.len(), 4);
    // Another user cannot continue the session.
    let mut intruder = request("t3", "hijack");
    intruder.user_id = "mallory".into();
    assert!(matches!(
        agent.send(intruder).await,
        Err(PersistError::SessionNotFound { .. })
    ));
    assert!(agent.delete_session("s-1").await?);
    assert!(agent.sessions().await?.is_empty());
    Ok(())
}

#[persistence_test(agents = ["Support"], system = "helpdesk::Helpdesk")]
async fn a_failed_model_stores_nothing(
    gateway: GatewayPersistenceAdapter,
    inspector: CrossDatabaseInspector,
    model: Resource<helpdesk::Model>,
) -> Result<(), PersistError> {
    let session = gateway.create_session("alice", "Support").await?;
    model.inner().fail_next("model is down");
    let error = gateway
        .send_message(&session.id, "hello", "alice")
        .await
        .unwrap_err();
    assert!(matches!(&error, PersistError::Llm { reason, .. } if reason == "model is down"));
    assert_database_stats(
        &inspector,
        &DatabaseStats::expect(1, 0).agent("Support", 0, 0),
    )
    .await;
    Ok(())
}

/// A system known by its schemas alone: no layout, nothing started.
#[derive(Default)]
struct SchemaOnly;

#[async_trait]
impl System for SchemaOnly {
    fn gateway_schema(&self) -> Arc<dyn GatewaySchema> {
        Arc::new(Migrations::<helpdesk::migration::Migrator>::new())
    }

    fn agent_schema(&self) -> Arc<dyn AgentSchema> {
        Arc::new(EntitySchema::new().entity::<entity::event::Entity>())
    }
}

#[persistence_test(agents = ["A"], system = "SchemaOnly")]
async fn a_schema_only_system_checks_its_schemas_and_says_what_is_missing(
    inspector: CrossDatabaseInspector,
    ctx: TestContext,
) -> Result<(), PersistError> {
    inspector.verify_database_architecture(&["A"]).await?;
    let missing = inspector.verify_integrity().await.unwrap_err();
    assert!(
        matches!(&missing, PersistError::NotProvided { what, .. } if what == "layout"),
        "{missing}"
    );
    let error = ctx.adapter().unwrap_err().to_string();
    assert!(
        error.contains("no gateway API") && error.contains("Running::with_gateway"),
        "{error}"
    );
    let error = ctx.agent_adapter("A").unwrap_err().to_string();
    assert!(error.contains("started no agent A"), "{error}");
    let error = ctx.resource::<ScriptedLlm>().unwrap_err().to_string();
    assert!(
        error.contains("ScriptedLlm") && error.contains("Running::provide"),
        "{error}"
    );
    assert!(matches!(
        ctx.agent_adapter("Nobody"),
        Err(PersistError::UnknownAgent { .. })
    ));
    Ok(())
}

#[persistence_test(agents = ["A"], system = "SchemaOnly")]
#[ignore = "driven by another test in this file"]
async fn wants_a_gateway(gateway: GatewayPersistenceAdapter) {
    let _ = gateway;
}

#[test]
fn injecting_what_the_system_does_not_offer_fails_the_test_with_the_reason() {
    let message = persist_tests::expect_failure(wants_a_gateway);
    assert!(
        message.contains("could not set up parameter `gateway`")
            && message.contains("no gateway API"),
        "{message}"
    );
}
