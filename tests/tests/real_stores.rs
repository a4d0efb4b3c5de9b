//! The relay (`persist_tests::relay`): a gateway that keeps one row per turn with both sides'
//! text in JSON, and agents shaped like an agent framework's session store (sessions of their
//! own linked through JSON state, composite keys, native times, the task id inside JSON). Every
//! check and assertion runs on it, each fault planted in its shapes is caught, and its
//! migrations (with a conversion that drops a table on purpose) are checked. Nothing here is
//! written per backend: the suite runs on whichever backend the environment names, and the
//! first test on in-memory SQLite too.

use persist_core::assertions::*;
use persist_core::db::catalog::list_indexes;
use persist_core::db::{DatabaseRole, EntitySchema};
use persist_core::inspect::{DatabaseStats, IntegrityProblem, VerificationError};
use persist_core::migrate::{Allow, Loss, MigrationCheck};
use persist_core::prelude::*;
use persist_core::sea_orm::sea_query::{Alias, Expr, ExprTrait as _, Query};
use persist_core::sea_orm::{ConnectionTrait, Value};
use persist_core::system::Resource;
use persist_tests::relay::{self, entity, migration};

fn verification(error: PersistError) -> VerificationError {
    match error.verification() {
        Some(v) => v.clone(),
        None => panic!("expected a verification error, got {error}"),
    }
}

/// Real traffic, then every check and assertion.
async fn every_check_passes(
    gateway: GatewayPersistenceAdapter,
    inspector: CrossDatabaseInspector,
    llm: Resource<relay::Model>,
) -> Result<(), PersistError> {
    let alice = gateway.create_session("alice", "Planner").await?;
    let bob = gateway.create_session("bob", "Writer").await?;
    let first = gateway
        .send_message(&alice.id, "plan a trip", "alice")
        .await?;
    let second = gateway
        .send_message(&alice.id, "to Lisbon", "alice")
        .await?;
    gateway.send_message(&bob.id, "write a poem", "bob").await?;
    let other = gateway.create_session("alice", "Planner").await?;
    gateway
        .send_message(&other.id, "another plan", "alice")
        .await?;

    inspector
        .verify_database_architecture(&["Planner", "Writer"])
        .await?;
    assert_migration_state(&inspector).await;
    assert_agent_schema_correct(&inspector, "Planner").await;
    assert_session_linking(&inspector, &alice.id, "Planner").await;
    assert_session_linking(&inspector, &bob.id, "Writer").await;
    assert_database_isolation(&inspector, "Planner", "Writer").await;
    assert_session_context_isolation(&inspector, "Planner", &alice.id, &other.id).await;
    assert_no_user_data_leakage(&inspector, "alice", "bob").await;
    assert_llm_context_isolated(&inspector, &*llm, "Planner", &alice.id).await;
    assert_llm_context_isolated(&inspector, &*llm, "Planner", &other.id).await;
    // Four turns, two messages each, on both sides.
    let report = assert_integrity(&inspector).await;
    assert_eq!(report.gateway_messages, 8);
    assert_database_stats(
        &inspector,
        &DatabaseStats::expect(3, 8)
            .agent("Planner", 2, 6)
            .agent("Writer", 1, 2),
    )
    .await;
    assert_gateway_message_count(&inspector, &alice.id, 4).await;
    assert_agent_message_count(&inspector, "Planner", &alice.id, 4).await;
    assert_message_contains(&inspector, &alice.id, "ack: to Lisbon", Some("agent")).await;

    // One row per turn reads as the user's message, then the reply, with who sent each.
    let history = inspector.gateway_messages(&alice.id).await?;
    let said: Vec<(&str, &str, &str)> = history
        .iter()
        .map(|m| {
            (
                m.sender_type.as_str(),
                m.sender_name.as_str(),
                m.message.as_str(),
            )
        })
        .collect();
    assert_eq!(
        said,
        [
            ("user", "alice", "plan a trip"),
            ("agent", "Planner", "ack: plan a trip"),
            ("user", "alice", "to Lisbon"),
            ("agent", "Planner", "ack: to Lisbon"),
        ]
    );
    // The agent's events: joined to the gateway session through its own sessions, the turn
    // read from JSON, in order by a native time that reads as a real instant.
    let events = inspector.agent_messages("Planner", Some(&alice.id)).await?;
    let turns: Vec<&str> = events.iter().map(|e| e.task_id.as_str()).collect();
    assert_eq!(
        turns,
        [
            &first.task_id,
            &first.task_id,
            &second.task_id,
            &second.task_id
        ]
    );
    assert!(events.iter().all(|e| e.user_id.as_deref() == Some("alice")));
    let year_2024 = 1_704_067_200_000;
    assert!(
        events.iter().all(|e| e.created_at > year_2024),
        "{events:?}"
    );
    let agent_session = inspector.agent_sessions("Planner", Some(&alice.id)).await?;
    assert_eq!(agent_session.len(), 1);
    assert_ne!(agent_session[0].key, alice.id, "the agent's key is its own");
    assert!(
        events[0].to_string().contains("custom_metadata/task_id="),
        "rows print the JSON path they were read from: {}",
        events[0]
    );

    // The index the entities cannot declare is there.
    let indexes = list_indexes(inspector.manager().agent_connection("Planner")?).await?;
    assert!(
        indexes
            .iter()
            .any(|i| i.contains("idx_events_session_newest")),
        "{indexes:?}"
    );
    Ok(())
}

#[persistence_test(agents = ["Planner", "Writer"], system = "persist_tests::relay::Relay")]
async fn every_check_passes_on_real_traffic(
    gateway: GatewayPersistenceAdapter,
    inspector: CrossDatabaseInspector,
    llm: Resource<relay::Model>,
) -> Result<(), PersistError> {
    every_check_passes(gateway, inspector, llm).await
}

#[persistence_test(
    agents = ["Planner", "Writer"],
    system = "persist_tests::relay::Relay",
    backends = ["sqlite-memory"]
)]
async fn every_check_passes_in_memory(
    gateway: GatewayPersistenceAdapter,
    inspector: CrossDatabaseInspector,
    llm: Resource<relay::Model>,
) -> Result<(), PersistError> {
    every_check_passes(gateway, inspector, llm).await
}

#[persistence_test(agents = ["Planner"], system = "persist_tests::relay::Relay")]
async fn an_event_under_another_users_session_breaks_linking(
    gateway: GatewayPersistenceAdapter,
    inspector: CrossDatabaseInspector,
    manager: MultiDatabaseManager,
) -> Result<(), PersistError> {
    let alice = gateway.create_session("alice", "Planner").await?;
    let turn = gateway.send_message(&alice.id, "mine", "alice").await?;
    assert_session_linking(&inspector, &alice.id, "Planner").await;
    let key = inspector.agent_sessions("Planner", Some(&alice.id)).await?[0]
        .key
        .clone();

    // Bob's event filed in Alice's session: the composite foreign key would refuse it.
    manager
        .insert_unchecked(
            &DatabaseRole::agent("Planner"),
            "events",
            [
                ("id", "bobs-event".into()),
                ("app_name", "Planner".into()),
                ("user_id", "bob".into()),
                ("session_id", key.into()),
                ("invocation_id", "e-bob".into()),
                ("author", "user".into()),
                ("timestamp", chrono::Utc::now().into()),
                (
                    "content",
                    serde_json::json!({"role": "user", "parts": [{"text": "bob's"}]}).into(),
                ),
                (
                    "custom_metadata",
                    serde_json::json!({ "task_id": turn.task_id }).into(),
                ),
            ],
        )
        .await?;

    let error = verification(
        inspector
            .verify_session_linking(&alice.id, "Planner")
            .await
            .unwrap_err(),
    );
    let VerificationError::SessionLink { reason, .. } = &error else {
        panic!("{error}")
    };
    assert!(
        reason.contains("under user bob") && reason.contains("bobs-event"),
        "{reason}"
    );
    let error = verification(
        inspector
            .verify_user_isolation("alice", "bob")
            .await
            .unwrap_err(),
    );
    assert!(error.to_string().contains("under user bob"), "{error}");
    Ok(())
}

#[persistence_test(agents = ["Planner"], system = "persist_tests::relay::Relay")]
async fn turns_out_of_order_are_caught(
    gateway: GatewayPersistenceAdapter,
    inspector: CrossDatabaseInspector,
    manager: MultiDatabaseManager,
) -> Result<(), PersistError> {
    let session = gateway.create_session("alice", "Planner").await?;
    let first = gateway.send_message(&session.id, "one", "alice").await?;
    let second = gateway.send_message(&session.id, "two", "alice").await?;
    assert_integrity(&inspector).await;

    // The first turn's events moved after the second's.
    let ids: Vec<String> = inspector
        .agent_messages("Planner", Some(&session.id))
        .await?
        .into_iter()
        .filter(|m| m.task_id == first.task_id)
        .map(|m| m.id)
        .collect();
    let later = chrono::Utc::now() + chrono::Duration::days(1);
    let update = Query::update()
        .table(Alias::new("events"))
        .value(Alias::new("timestamp"), later)
        .and_where(Expr::col(Alias::new("id")).is_in(ids))
        .to_owned();
    let moved = manager
        .execute_unchecked(&DatabaseRole::agent("Planner"), &update)
        .await?;
    assert_eq!(moved, 2);

    let error = verification(inspector.verify_integrity().await.unwrap_err());
    let VerificationError::Integrity { problems } = &error else {
        panic!("{error}")
    };
    assert_eq!(
        problems,
        &[IntegrityProblem::OrderMismatch {
            session_id: session.id.clone(),
            agent: "Planner".into(),
            position: 0,
            gateway_turns: vec![first.task_id.clone(), second.task_id.clone()],
            agent_turns: vec![second.task_id.clone(), first.task_id.clone()],
        }]
    );
    Ok(())
}

// ---- the gateway's migrations ---------------------------------------------------------------

type Check = MigrationCheck<migration::Migrator>;

/// Two sessions in the one-row-per-message shape: one answered turn, one unanswered message.
async fn seed_messages(db: &DatabaseConnection) -> Result<(), PersistError> {
    let insert = |table: &str, row: Vec<(&str, Value)>| {
        let (columns, values): (Vec<&str>, Vec<Value>) = row.into_iter().unzip();
        Query::insert()
            .into_table(Alias::new(table))
            .columns(columns.into_iter().map(Alias::new))
            .values_panic(values.into_iter().map(Into::into))
            .to_owned()
    };
    for (id, user) in [("s-1", "alice"), ("s-2", "bob")] {
        db.execute(&insert(
            "sessions",
            vec![
                ("id", id.into()),
                ("user_id", user.into()),
                ("agent_id", "Planner".into()),
                ("created_time", 1_i64.into()),
                ("updated_time", 1_i64.into()),
            ],
        ))
        .await?;
    }
    for (id, session, kind, sender, text, at) in [
        ("m-1", "s-1", "user", "alice", "hello", 10_i64),
        ("m-2", "s-1", "agent", "Planner", "ack: hello", 11),
        ("m-3", "s-2", "user", "bob", "anyone?", 12),
    ] {
        db.execute(&insert(
            "chat_messages",
            vec![
                ("id", id.into()),
                ("session_id", session.into()),
                ("message", text.into()),
                ("sender_type", kind.into()),
                ("sender_name", sender.into()),
                ("created_time", at.into()),
            ],
        ))
        .await?;
    }
    Ok(())
}

#[persistence_test]
async fn the_relay_migrations_round_trip_and_match_their_entities(
    check: Check,
) -> Result<(), PersistError> {
    assert_eq!(check.round_trip().await?.len(), 3);
    let entities = EntitySchema::new()
        .entity::<entity::session::Entity>()
        .entity::<entity::chat_task::Entity>()
        .entity::<entity::task::Entity>()
        .entity::<entity::task_event::Entity>();
    // The entities declare no relations or indexes, and `feedback` has none.
    let allow = [
        Allow::StringLengths,
        Allow::path("*.index(*)"),
        Allow::path("*.foreign_key(*)"),
        Allow::table("feedback"),
    ];
    check.drift(entities, &allow).await
}

#[persistence_test]
async fn an_intended_loss_is_declared_and_any_other_still_fails(
    check: Check,
) -> Result<(), PersistError> {
    // Declared: at the conversion, `chat_messages` goes; its rows are now turns.
    check
        .clone()
        .allowing_loss(Loss::at(migration::CHAT_TASKS, "chat_messages"))
        .upgrade(
            1,
            |db| Box::pin(seed_messages(db)),
            |db| {
                Box::pin(async move {
                    let rows = db
                        .query_all(
                            &Query::select()
                                .columns(["id", "user_id", "message_bubbles"].map(Alias::new))
                                .from(Alias::new("chat_tasks"))
                                .order_by(Alias::new("id"), persist_core::sea_orm::Order::Asc)
                                .to_owned(),
                        )
                        .await?;
                    let turns: Vec<(String, String, serde_json::Value)> = rows
                        .iter()
                        .map(|r| {
                            let bubbles: String = r.try_get("", "message_bubbles").unwrap();
                            (
                                r.try_get("", "id").unwrap(),
                                r.try_get("", "user_id").unwrap(),
                                serde_json::from_str(&bubbles).unwrap(),
                            )
                        })
                        .collect();
                    assert_eq!(
                        turns,
                        [
                            (
                                "migrated-m-1".to_owned(),
                                "alice".to_owned(),
                                serde_json::json!([
                                    {"type": "user", "text": "hello"},
                                    {"type": "agent", "text": "ack: hello"},
                                ])
                            ),
                            (
                                "migrated-m-3".to_owned(),
                                "bob".to_owned(),
                                serde_json::json!([{"type": "user", "text": "anyone?"}])
                            ),
                        ]
                    );
                    Ok(())
                })
            },
        )
        .await?;

    // Undeclared, the same loss fails, naming the step and the table.
    let error = check
        .upgrade(
            1,
            |db| Box::pin(seed_messages(db)),
            |_| Box::pin(async { Ok(()) }),
        )
        .await
        .unwrap_err();
    let failure = error.migration_failure().expect("a migration failure");
    assert_eq!(failure.step.as_deref(), Some(migration::CHAT_TASKS));
    assert!(
        failure.problem.contains("chat_messages (3 rows) is gone"),
        "{failure}"
    );
    // Declared at another step, it still fails at the conversion.
    let error = check
        .clone()
        .allowing_loss(Loss::at(3, "chat_messages"))
        .upgrade(
            1,
            |db| Box::pin(seed_messages(db)),
            |_| Box::pin(async { Ok(()) }),
        )
        .await
        .unwrap_err();
    assert!(error.migration_failure().is_some(), "{error}");
    // A step that does not exist is refused before anything runs.
    let error = check
        .clone()
        .allowing_loss(Loss::at(9, "chat_messages"))
        .upgrade(
            1,
            |db| Box::pin(seed_messages(db)),
            |_| Box::pin(async { Ok(()) }),
        )
        .await
        .unwrap_err();
    assert!(
        matches!(&error, PersistError::InvalidInput { field: "allowed", reason } if reason.contains("step 9 does not exist")),
        "{error}"
    );
    Ok(())
}
