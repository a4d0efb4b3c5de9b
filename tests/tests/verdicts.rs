//! Verdicts on real data: no check reports what the data cannot show (an order inside one
//! second of a one-second clock, a leak from a message that names no turn, the same id in two
//! databases), and each still catches its fault. Nothing here is written per backend: the
//! suite runs on whichever backend the environment names.

use persist_core::assertions::*;
use persist_core::db::DatabaseRole;
use persist_core::inspect::{IntegrityProblem, VerificationError};
use persist_core::prelude::*;
use persist_core::sea_orm::Value;
use persist_core::sea_orm::sea_query::{Alias, Expr, ExprTrait as _, Query};
use persist_core::system::Resource;
use persist_tests::relay;

fn verification(error: PersistError) -> VerificationError {
    match error.verification() {
        Some(v) => v.clone(),
        None => panic!("expected a verification error, got {error}"),
    }
}

/// Sets `column` of the rows of `table` whose `key` is `id`.
async fn set(
    manager: &MultiDatabaseManager,
    role: &DatabaseRole,
    table: &str,
    (key, id): (&str, &str),
    column: &str,
    value: Value,
) -> Result<u64, PersistError> {
    // An id made of digits is an integer column's.
    let id: Value = match id.parse::<i64>() {
        Ok(n) => n.into(),
        Err(_) => id.into(),
    };
    let update = Query::update()
        .table(Alias::new(table))
        .value(Alias::new(column), value)
        .and_where(Expr::col(Alias::new(key)).eq(id))
        .to_owned();
    Ok(manager.execute_unchecked(role, &update).await?)
}

#[persistence_test(agents = ["Planner"], system = "persist_tests::relay::Relay")]
async fn one_second_clocks_and_random_ids_are_no_order(
    gateway: GatewayPersistenceAdapter,
    inspector: CrossDatabaseInspector,
    manager: MultiDatabaseManager,
    llm: Resource<relay::Model>,
) -> Result<(), PersistError> {
    let session = gateway.create_session("alice", "Planner").await?;
    let first = gateway
        .send_message(&session.id, "plan a trip", "alice")
        .await?;
    let second = gateway
        .send_message(&session.id, "to Lisbon", "alice")
        .await?;
    let agent = DatabaseRole::agent("Planner");
    // Every event written in one second, and ids that sort the other way round (random
    // UUIDs, as a framework's own ids are): no order inside the second is known.
    let events = inspector
        .agent_messages("Planner", Some(&session.id))
        .await?;
    let instant = chrono::DateTime::parse_from_rfc3339("2025-01-01T12:00:00Z")
        .unwrap()
        .with_timezone(&chrono::Utc);
    for (n, event) in events.iter().enumerate() {
        set(
            &manager,
            &agent,
            "events",
            ("id", &event.id),
            "timestamp",
            instant.into(),
        )
        .await?;
        let backwards = format!("{}-{}", 9 - n, event.id);
        set(
            &manager,
            &agent,
            "events",
            ("id", &event.id),
            "id",
            backwards.into(),
        )
        .await?;
    }
    // The gateway's two turns in one millisecond too.
    for turn in [&first.task_id, &second.task_id] {
        set(
            &manager,
            &DatabaseRole::Gateway,
            "chat_tasks",
            ("id", turn),
            "created_time",
            1_700_000_000_000_i64.into(),
        )
        .await?;
    }
    let other = gateway.create_session("alice", "Planner").await?;
    gateway.send_message(&other.id, "another", "alice").await?;

    assert_session_context_isolation(&inspector, "Planner", &session.id, &other.id).await;
    assert_integrity(&inspector).await;
    assert_no_user_data_leakage(&inspector, "alice", "bob").await;
    assert_llm_context_isolated(&inspector, &*llm, "Planner", &session.id).await;
    // Read back, a turn's question comes before its reply.
    let events = inspector
        .agent_messages("Planner", Some(&session.id))
        .await?;
    for pair in events.chunks(2) {
        assert_eq!(pair[0].task_id, pair[1].task_id, "{events:?}");
        assert_eq!(
            (pair[0].role.as_str(), pair[1].role.as_str()),
            ("user", "assistant")
        );
    }

    // A reply moved before its question, at a time of its own: known, so caught.
    let reply = events.iter().find(|e| e.role == "assistant").unwrap();
    let earlier = instant - chrono::Duration::seconds(5);
    set(
        &manager,
        &agent,
        "events",
        ("id", &reply.id),
        "timestamp",
        earlier.into(),
    )
    .await?;
    let error = verification(
        inspector
            .verify_session_context_isolation("Planner", &session.id, &other.id)
            .await
            .unwrap_err(),
    );
    assert!(
        error.to_string().contains("differs from the gateway's"),
        "{error}"
    );
    Ok(())
}

#[persistence_test(agents = ["Planner"], system = "persist_tests::relay::Relay")]
async fn a_message_that_names_no_turn_is_no_leak(
    gateway: GatewayPersistenceAdapter,
    inspector: CrossDatabaseInspector,
    manager: MultiDatabaseManager,
) -> Result<(), PersistError> {
    let alice = gateway.create_session("alice", "Planner").await?;
    gateway.send_message(&alice.id, "mine", "alice").await?;
    gateway
        .send_message(&alice.id, "still mine", "alice")
        .await?;
    let bob = gateway.create_session("bob", "Planner").await?;
    gateway.send_message(&bob.id, "bob's", "bob").await?;
    // Alice's events keep no task id (a framework's own events often do not).
    let agent = DatabaseRole::agent("Planner");
    for event in inspector.agent_messages("Planner", Some(&alice.id)).await? {
        set(
            &manager,
            &agent,
            "events",
            ("id", &event.id),
            "custom_metadata",
            Value::Json(None),
        )
        .await?;
    }
    assert!(
        inspector
            .agent_messages("Planner", Some(&alice.id))
            .await?
            .iter()
            .all(|e| e.task_id.is_empty())
    );
    assert_no_user_data_leakage(&inspector, "alice", "bob").await;
    assert_session_context_isolation(&inspector, "Planner", &alice.id, &bob.id).await;
    assert_integrity(&inspector).await;

    // Bob's text in Alice's session, with no turn either: the history shows it.
    let key = inspector.agent_sessions("Planner", Some(&alice.id)).await?[0]
        .key
        .clone();
    manager
        .insert_unchecked(
            &agent,
            "events",
            [
                ("id", "planted".into()),
                ("app_name", "Planner".into()),
                ("user_id", "alice".into()),
                ("session_id", key.into()),
                ("invocation_id", "e-planted".into()),
                ("author", "user".into()),
                ("timestamp", chrono::Utc::now().into()),
                (
                    "content",
                    serde_json::json!({"role": "user", "parts": [{"text": "bob's"}]}).into(),
                ),
            ],
        )
        .await?;
    let error = verification(
        inspector
            .verify_session_context_isolation("Planner", &alice.id, &bob.id)
            .await
            .unwrap_err(),
    );
    assert!(error.to_string().contains("bob's"), "{error}");
    let error = verification(inspector.verify_integrity().await.unwrap_err());
    assert!(error.to_string().contains(&alice.id), "{error}");
    Ok(())
}

#[persistence_test(agents = ["Planner"], system = "persist_tests::relay::Relay")]
async fn a_reply_stored_before_its_question_is_caught_when_the_events_name_no_turn(
    gateway: GatewayPersistenceAdapter,
    inspector: CrossDatabaseInspector,
    manager: MultiDatabaseManager,
) -> Result<(), PersistError> {
    let session = gateway.create_session("alice", "Planner").await?;
    gateway
        .send_message(&session.id, "plan a trip", "alice")
        .await?;
    let agent = DatabaseRole::agent("Planner");
    let events = inspector
        .agent_messages("Planner", Some(&session.id))
        .await?;
    // The events name no turn: the history is compared message by message, and the gateway,
    // which keeps a turn's question and reply in one row, still puts the question first.
    for event in &events {
        set(
            &manager,
            &agent,
            "events",
            ("id", &event.id),
            "custom_metadata",
            Value::Json(None),
        )
        .await?;
    }
    let question = events.iter().find(|e| e.role == "user").unwrap();
    let reply = events.iter().find(|e| e.role == "assistant").unwrap();
    let instant = chrono::DateTime::parse_from_rfc3339("2025-01-01T12:00:00Z")
        .unwrap()
        .with_timezone(&chrono::Utc);
    let at = |event: &persist_core::inspect::AgentMessageRow, offset: i64| {
        let (manager, agent, id) = (manager.clone(), agent.clone(), event.id.clone());
        async move {
            let time = instant + chrono::Duration::seconds(offset);
            set(
                &manager,
                &agent,
                "events",
                ("id", &id),
                "timestamp",
                time.into(),
            )
            .await
        }
    };
    // In one second, or the reply after: the order the gateway keeps.
    at(question, 0).await?;
    at(reply, 0).await?;
    assert_integrity(&inspector).await;
    at(reply, 1).await?;
    assert_integrity(&inspector).await;
    // The reply seconds before its question: the data shows it.
    at(reply, -5).await?;
    let error = verification(inspector.verify_integrity().await.unwrap_err());
    let VerificationError::Integrity { problems } = &error else {
        panic!("{error}")
    };
    assert!(
        matches!(
            &problems[..],
            [IntegrityProblem::HistoryOrderMismatch { session_id, position: 0, .. }]
                if *session_id == session.id
        ),
        "{error}"
    );
    Ok(())
}

#[persistence_test(agents = ["Chat"], system = "persist_tests::switchboard::Switchboard")]
async fn turns_swapped_are_caught_without_turn_ids(
    gateway: GatewayPersistenceAdapter,
    inspector: CrossDatabaseInspector,
    manager: MultiDatabaseManager,
) -> Result<(), PersistError> {
    let session = gateway.create_session("alice", "Chat").await?;
    gateway.send_message(&session.id, "first", "alice").await?;
    gateway.send_message(&session.id, "second", "alice").await?;
    assert_integrity(&inspector).await;
    let agent = DatabaseRole::agent("Chat");
    let at = |s: u32| {
        chrono::NaiveDate::from_ymd_opt(2025, 1, 1)
            .unwrap()
            .and_hms_opt(12, 0, s)
            .unwrap()
    };
    let items = inspector.agent_messages("Chat", Some(&session.id)).await?;
    // Every item in one second: the order inside it is not known, and nothing is reported.
    for item in &items {
        set(
            &manager,
            &agent,
            "agent_messages",
            ("id", &item.id),
            "created_at",
            at(0).into(),
        )
        .await?;
    }
    assert_integrity(&inspector).await;
    // The second turn's items seconds before the first's: a swap the data shows.
    for (item, second) in items.iter().zip([10, 11, 0, 1]) {
        set(
            &manager,
            &agent,
            "agent_messages",
            ("id", &item.id),
            "created_at",
            at(second).into(),
        )
        .await?;
    }
    let error = verification(inspector.verify_integrity().await.unwrap_err());
    let VerificationError::Integrity { problems } = &error else {
        panic!("{error}")
    };
    assert!(
        matches!(
            &problems[..],
            [IntegrityProblem::HistoryOrderMismatch { session_id, position: 0, .. }]
                if *session_id == session.id
        ),
        "{error}"
    );
    assert!(error.to_string().contains("\"second\""), "{error}");
    Ok(())
}

#[persistence_test(agents = ["Chat", "Support"], system = "persist_tests::switchboard::Switchboard")]
async fn the_layout_proof_says_what_a_one_second_clock_cannot_show(
    gateway: GatewayPersistenceAdapter,
    inspector: CrossDatabaseInspector,
    manager: MultiDatabaseManager,
) -> Result<(), PersistError> {
    use persist_core::inspect::Fault;
    // Both turns in the same second (the store's clock is the database's).
    for agent in ["Chat", "Support"] {
        let first = gateway.create_session("alice", agent).await?;
        let agent_db = DatabaseRole::agent(agent);
        gateway.send_message(&first.id, "one", "alice").await?;
        gateway.send_message(&first.id, "two", "alice").await?;
        let instant = chrono::NaiveDate::from_ymd_opt(2025, 1, 1)
            .unwrap()
            .and_hms_opt(12, 0, 0)
            .unwrap();
        for item in inspector.agent_messages(agent, Some(&first.id)).await? {
            set(
                &manager,
                &agent_db,
                "agent_messages",
                ("id", &item.id),
                "created_at",
                instant.into(),
            )
            .await?;
        }
        let second = gateway.create_session("alice", agent).await?;
        gateway.send_message(&second.id, "three", "alice").await?;
        let bobs = gateway.create_session("bob", agent).await?;
        gateway.send_message(&bobs.id, "four", "bob").await?;
    }
    let proof = inspector.prove_layout().await?;
    let outcome = |fault: Fault| {
        proof
            .outcomes
            .iter()
            .find(|o| o.agent == "Chat" && o.fault == fault)
            .unwrap()
    };
    // Within one second no order is known: a swap of those turns is there, and no check can
    // see it. The proof says so instead of passing in silence.
    assert!(outcome(Fault::TurnsSwapped).missed(), "{proof}");
    assert!(outcome(Fault::ReplyBeforeQuestion).missed(), "{proof}");
    assert!(!proof.is_complete());
    assert!(proof.to_string().contains("NOT CAUGHT"), "{proof}");
    // Everything else is still caught.
    for fault in [
        Fault::MovedToAnotherSession,
        Fault::LostReply,
        Fault::Duplicated,
        Fault::Orphan,
    ] {
        assert!(!outcome(fault).caught_by.is_empty(), "{proof}");
    }
    Ok(())
}

/// A store of one row per message whose only order is a one-second clock, the gateway's and
/// the agent's alike, each with a turn column a row may leave empty: where a turn's question
/// and reply tie in one second, the turn still puts the question first.
#[derive(Default)]
struct SecondClocks;

const MESSAGES: &str = "(id VARCHAR(64) PRIMARY KEY, session_id VARCHAR(64), role VARCHAR(16), \
                        body TEXT, task_id VARCHAR(64), at BIGINT)";

#[persist_core::async_trait]
impl persist_core::System for SecondClocks {
    fn gateway_schema(&self) -> std::sync::Arc<dyn persist_core::db::GatewaySchema> {
        std::sync::Arc::new(
            persist_core::db::NumberedMigrations::new("gateway_steps")
                .step(
                    "CREATE TABLE conversations (id VARCHAR(64) PRIMARY KEY, \
                     user_id VARCHAR(64), agent_name VARCHAR(64))",
                )
                .step(format!("CREATE TABLE messages {MESSAGES}")),
        )
    }

    fn agent_schema(&self) -> std::sync::Arc<dyn persist_core::db::AgentSchema> {
        std::sync::Arc::new(
            persist_core::db::NumberedMigrations::new("agent_steps")
                .step("CREATE TABLE threads (id VARCHAR(64) PRIMARY KEY)")
                .step(format!("CREATE TABLE items {MESSAGES}")),
        )
    }

    fn layout(&self) -> Option<persist_core::system::Layout> {
        use persist_core::system::{Layout, Table, TimeUnit};
        let messages = |name: &str| {
            Table::new(name)
                .id("id")
                .session("session_id")
                .content("body")
                .sender("role")
                .turn("task_id")
                .created("at", TimeUnit::Seconds)
        };
        Layout::new(
            Table::new("conversations")
                .id("id")
                .user("user_id")
                .agent("agent_name"),
            messages("messages"),
            Table::new("threads").session("id"),
            messages("items"),
        )
        .ok()
    }
}

/// Writes one conversation of one turn to both sides: (role, text, task id, second) each.
async fn one_turn(
    manager: &MultiDatabaseManager,
    gateway: [(&str, &str, Option<&str>, i64); 2],
    agent: [(&str, &str, Option<&str>, i64); 2],
) -> Result<(), PersistError> {
    let (gw, ag) = (DatabaseRole::Gateway, DatabaseRole::agent("Chat"));
    manager
        .execute_unchecked(
            &gw,
            &Query::delete()
                .from_table(Alias::new("messages"))
                .to_owned(),
        )
        .await?;
    manager
        .execute_unchecked(
            &ag,
            &Query::delete().from_table(Alias::new("items")).to_owned(),
        )
        .await?;
    for (role, table, rows) in [(&gw, "messages", gateway), (&ag, "items", agent)] {
        for (n, (sender, text, task, second)) in rows.into_iter().enumerate() {
            manager
                .insert_unchecked(
                    role,
                    table,
                    [
                        ("id", format!("{table}-{n}").into()),
                        ("session_id", "s1".into()),
                        ("role", sender.into()),
                        ("body", text.into()),
                        ("task_id", task.map(str::to_owned).into()),
                        ("at", (1_700_000_000 + second).into()),
                    ],
                )
                .await?;
        }
    }
    Ok(())
}

fn history_order_mismatch(error: PersistError) -> bool {
    matches!(
        verification(error),
        VerificationError::Integrity { problems }
            if matches!(&problems[..], [IntegrityProblem::HistoryOrderMismatch { position: 0, .. }])
    )
}

#[persistence_test(agents = ["Chat"], system = "SecondClocks")]
async fn a_turn_tied_in_one_second_still_asks_before_it_answers(
    manager: MultiDatabaseManager,
    inspector: CrossDatabaseInspector,
) -> Result<(), PersistError> {
    manager
        .insert_unchecked(
            &DatabaseRole::Gateway,
            "conversations",
            [
                ("id", "s1".into()),
                ("user_id", "alice".into()),
                ("agent_name", "Chat".into()),
            ],
        )
        .await?;
    manager
        .insert_unchecked(
            &DatabaseRole::agent("Chat"),
            "threads",
            [("id", "s1".into())],
        )
        .await?;
    let (q, r) = (("user", "ask"), ("assistant", "answer"));
    // The gateway's turn in one second; the agent names no turn and keeps its own order.
    let tied = [(q.0, q.1, Some("t1"), 0), (r.0, r.1, Some("t1"), 0)];
    one_turn(&manager, tied, [(q.0, q.1, None, 0), (r.0, r.1, None, 1)]).await?;
    assert_integrity(&inspector).await;
    // The agent's reply a second before its question: the gateway's turn says otherwise.
    one_turn(&manager, tied, [(q.0, q.1, None, 1), (r.0, r.1, None, 0)]).await?;
    assert!(history_order_mismatch(
        inspector.verify_integrity().await.unwrap_err()
    ));

    // The other way round: the agent's turn in one second, the gateway names no turn.
    let tied = [(q.0, q.1, Some("t1"), 0), (r.0, r.1, Some("t1"), 0)];
    one_turn(&manager, [(q.0, q.1, None, 0), (r.0, r.1, None, 1)], tied).await?;
    assert_integrity(&inspector).await;
    one_turn(&manager, [(q.0, q.1, None, 1), (r.0, r.1, None, 0)], tied).await?;
    assert!(history_order_mismatch(
        inspector.verify_integrity().await.unwrap_err()
    ));
    Ok(())
}

/// An agent table whose order comes from one place only (or from none), over the gateway of
/// [`SecondClocks`]: a swap is caught through whichever one it is, and a table that keeps
/// no order is not judged on one.
macro_rules! ordered_by {
    ($name:ident, $items:expr) => {
        #[derive(Default)]
        struct $name;

        #[persist_core::async_trait]
        impl persist_core::System for $name {
            fn gateway_schema(&self) -> std::sync::Arc<dyn persist_core::db::GatewaySchema> {
                SecondClocks.gateway_schema()
            }

            fn agent_schema(&self) -> std::sync::Arc<dyn persist_core::db::AgentSchema> {
                std::sync::Arc::new(
                    persist_core::db::NumberedMigrations::new("agent_steps")
                        .step("CREATE TABLE threads (id VARCHAR(64) PRIMARY KEY)")
                        .step_for(|backend| {
                            let json = match backend {
                                persist_core::sea_orm::DbBackend::Postgres => "JSONB",
                                persist_core::sea_orm::DbBackend::MySql => "JSON",
                                _ => "TEXT",
                            };
                            format!(
                                "CREATE TABLE items (id VARCHAR(64) PRIMARY KEY, \
                                 session_id VARCHAR(64), role VARCHAR(16), body TEXT, \
                                 at BIGINT, seq BIGINT, meta {json})"
                            )
                        }),
                )
            }

            fn layout(&self) -> Option<persist_core::system::Layout> {
                use persist_core::system::Table;
                let base = Table::new("items")
                    .session("session_id")
                    .content("body")
                    .sender("role");
                let items: fn(Table) -> Table = $items;
                let layout = SecondClocks.layout()?;
                persist_core::system::Layout::new(
                    layout.gateway_sessions().clone(),
                    layout.gateway_messages().clone(),
                    Table::new("threads").session("id"),
                    items(base),
                )
                .ok()
            }
        }
    };
}

use persist_core::system::{Source, TimeUnit};

ordered_by!(ByOrderColumn, |t: Table| t
    .id(Source::json("meta", "/id"))
    .order("seq"));
ordered_by!(ByClock, |t: Table| t
    .id(Source::json("meta", "/id"))
    .created("at", TimeUnit::Seconds));
ordered_by!(ByIdColumn, |t: Table| t.id("id"));
ordered_by!(InNoOrder, |t: Table| t.id(Source::json("meta", "/id")));

/// One turn: the gateway asks at second 0 and answers at 1; the agent's question and reply
/// get `(id, second, sequence)` each.
async fn agent_turn(
    manager: &MultiDatabaseManager,
    question: (&str, i64, i64),
    reply: (&str, i64, i64),
) -> Result<(), PersistError> {
    let (gw, ag) = (DatabaseRole::Gateway, DatabaseRole::agent("Chat"));
    for (role, table) in [
        (&gw, "conversations"),
        (&gw, "messages"),
        (&ag, "threads"),
        (&ag, "items"),
    ] {
        let delete = Query::delete().from_table(Alias::new(table)).to_owned();
        manager.execute_unchecked(role, &delete).await?;
    }
    let conversation = [
        ("id", "s1".into()),
        ("user_id", "alice".into()),
        ("agent_name", "Chat".into()),
    ];
    manager
        .insert_unchecked(&gw, "conversations", conversation)
        .await?;
    manager
        .insert_unchecked(&ag, "threads", [("id", "s1".into())])
        .await?;
    for (role, text, second) in [("user", "ask", 0), ("assistant", "answer", 1)] {
        let row = [
            ("id", format!("g{second}").into()),
            ("session_id", "s1".into()),
            ("role", role.into()),
            ("body", text.into()),
            ("task_id", Option::<String>::None.into()),
            ("at", (1_700_000_000 + second).into()),
        ];
        manager.insert_unchecked(&gw, "messages", row).await?;
    }
    for (role, text, (id, second, seq)) in
        [("user", "ask", question), ("assistant", "answer", reply)]
    {
        let row = [
            ("id", id.into()),
            ("session_id", "s1".into()),
            ("role", role.into()),
            ("body", text.into()),
            ("at", (1_700_000_000 + second).into()),
            ("seq", seq.into()),
            ("meta", serde_json::json!({ "id": id }).into()),
        ];
        manager.insert_unchecked(&ag, "items", row).await?;
    }
    Ok(())
}

/// The agent's question and reply in the order its table keeps, then swapped: the first is
/// no problem, the second a history out of order.
async fn caught_when_swapped(
    manager: &MultiDatabaseManager,
    inspector: &CrossDatabaseInspector,
    question: (&str, i64, i64),
    reply: (&str, i64, i64),
) -> Result<(), PersistError> {
    agent_turn(manager, question, reply).await?;
    assert_integrity(inspector).await;
    agent_turn(manager, reply, question).await?;
    assert!(history_order_mismatch(
        inspector.verify_integrity().await.unwrap_err()
    ));
    Ok(())
}

#[persistence_test(agents = ["Chat"], system = "ByOrderColumn")]
async fn a_reply_before_its_question_is_caught_by_an_order_column_alone(
    manager: MultiDatabaseManager,
    inspector: CrossDatabaseInspector,
) -> Result<(), PersistError> {
    // Ids and clock say the opposite of the sequence, which is the order.
    caught_when_swapped(&manager, &inspector, ("b", 5, 1), ("a", 0, 2)).await
}

#[persistence_test(agents = ["Chat"], system = "ByClock")]
async fn a_reply_before_its_question_is_caught_by_a_clock_alone(
    manager: MultiDatabaseManager,
    inspector: CrossDatabaseInspector,
) -> Result<(), PersistError> {
    caught_when_swapped(&manager, &inspector, ("b", 0, 2), ("a", 1, 1)).await
}

#[persistence_test(agents = ["Chat"], system = "ByIdColumn")]
async fn a_reply_before_its_question_is_caught_by_an_id_column_alone(
    manager: MultiDatabaseManager,
    inspector: CrossDatabaseInspector,
) -> Result<(), PersistError> {
    caught_when_swapped(&manager, &inspector, ("1", 5, 2), ("2", 0, 1)).await
}

#[persistence_test(agents = ["Chat"], system = "InNoOrder")]
async fn a_table_that_keeps_no_order_is_not_judged_on_one(
    manager: MultiDatabaseManager,
    inspector: CrossDatabaseInspector,
) -> Result<(), PersistError> {
    // Read back reply first (by id, sequence and clock alike): none of it is the table's
    // order, so nothing is reported.
    agent_turn(&manager, ("b", 1, 2), ("a", 0, 1)).await?;
    assert_integrity(&inspector).await;
    // A reply whose text differs: no order is what is wrong, and the history check says what.
    let agent = DatabaseRole::agent("Chat");
    set(
        &manager,
        &agent,
        "items",
        ("id", "a"),
        "body",
        "answr".into(),
    )
    .await?;
    assert_integrity(&inspector).await;
    let error = inspector
        .verify_session_context_isolation("Chat", "s1", "s2")
        .await
        .unwrap_err();
    assert!(
        error.to_string().contains("differs from the gateway's")
            && error.to_string().contains("answr"),
        "{error}"
    );
    Ok(())
}

/// Stores with every column a layout below may name: a user on each gateway row, a turn on
/// each row, a JSON document per agent row. Each system names only some of them, as a real
/// store would have them, so a check is seen to judge by what the layout declares.
macro_rules! naming {
    ($name:ident, gateway: $gateway:expr, agent: $agent:expr) => {
        naming!($name, at: "BIGINT", gateway: $gateway, agent: $agent);
    };
    ($name:ident, at: $at:literal, gateway: $gateway:expr, agent: $agent:expr) => {
        #[derive(Default)]
        struct $name;

        #[persist_core::async_trait]
        impl persist_core::System for $name {
            fn gateway_schema(&self) -> std::sync::Arc<dyn persist_core::db::GatewaySchema> {
                std::sync::Arc::new(
                    persist_core::db::NumberedMigrations::new("gateway_steps")
                        .step(
                            "CREATE TABLE conversations (id VARCHAR(64) PRIMARY KEY, \
                             user_id VARCHAR(64), agent_name VARCHAR(64))",
                        )
                        .step(concat!(
                            "CREATE TABLE messages (id VARCHAR(64) PRIMARY KEY, \
                             session_id VARCHAR(64), role VARCHAR(16), body TEXT, \
                             task_id VARCHAR(64), user_id VARCHAR(64), at ",
                            $at,
                            ")"
                        )),
                )
            }

            fn agent_schema(&self) -> std::sync::Arc<dyn persist_core::db::AgentSchema> {
                std::sync::Arc::new(
                    persist_core::db::NumberedMigrations::new("agent_steps")
                        .step("CREATE TABLE threads (id VARCHAR(64) PRIMARY KEY)")
                        .step_for(|backend| {
                            let json = match backend {
                                persist_core::sea_orm::DbBackend::Postgres => "JSONB",
                                persist_core::sea_orm::DbBackend::MySql => "JSON",
                                _ => "TEXT",
                            };
                            format!(
                                "CREATE TABLE items (id VARCHAR(64) PRIMARY KEY, \
                                 session_id VARCHAR(64), role VARCHAR(16), body TEXT, \
                                 task_id VARCHAR(64), at {}, history {json})",
                                $at
                            )
                        }),
                )
            }

            fn layout(&self) -> Option<persist_core::system::Layout> {
                use persist_core::system::{Layout, Table};
                let gateway: fn(Table) -> Table = $gateway;
                let agent: fn(Table) -> Table = $agent;
                Layout::new(
                    Table::new("conversations")
                        .id("id")
                        .user("user_id")
                        .agent("agent_name"),
                    gateway(Table::new("messages").id("id").session("session_id")),
                    Table::new("threads").session("id"),
                    agent(Table::new("items").session("session_id")),
                )
                .ok()
            }
        }
    };
}

/// A message: (id, session, role, text, turn, second).
type Row<'a> = (&'a str, &'a str, &'a str, &'a str, Option<&'a str>, i64);

/// Writes conversations `(id, user, agent)` and their messages to the gateway, and each
/// agent's threads and messages, one row per message.
async fn converse(
    manager: &MultiDatabaseManager,
    conversations: &[(&str, &str, &str)],
    gateway: &[Row<'_>],
    agents: &[(&str, &[Row<'_>])],
) -> Result<(), PersistError> {
    let gw = DatabaseRole::Gateway;
    for &(id, user, agent) in conversations {
        let row = [
            ("id", id.into()),
            ("user_id", user.into()),
            ("agent_name", agent.into()),
        ];
        manager.insert_unchecked(&gw, "conversations", row).await?;
        let thread = [("id", id.into())];
        manager
            .insert_unchecked(&DatabaseRole::agent(agent), "threads", thread)
            .await?;
    }
    let user_of = |session: &str| {
        conversations
            .iter()
            .find(|c| c.0 == session)
            .map(|c| c.1.to_owned())
    };
    for &(id, session, role, text, turn, second) in gateway {
        let row = [
            ("id", id.into()),
            ("session_id", session.into()),
            ("role", role.into()),
            ("body", text.into()),
            ("task_id", turn.map(str::to_owned).into()),
            ("user_id", user_of(session).into()),
            ("at", (1_700_000_000 + second).into()),
        ];
        manager.insert_unchecked(&gw, "messages", row).await?;
    }
    for &(agent, rows) in agents {
        for &row in rows {
            agent_item(manager, agent, row).await?;
        }
    }
    Ok(())
}

/// Writes one message row to `agent`'s store.
async fn agent_item(
    manager: &MultiDatabaseManager,
    agent: &str,
    (id, session, role, text, turn, second): Row<'_>,
) -> Result<(), PersistError> {
    let row = [
        ("id", id.into()),
        ("session_id", session.into()),
        ("role", role.into()),
        ("body", text.into()),
        ("task_id", turn.map(str::to_owned).into()),
        ("at", (1_700_000_000 + second).into()),
    ];
    manager
        .insert_unchecked(&DatabaseRole::agent(agent), "items", row)
        .await?;
    Ok(())
}

// The agent numbers its turns; the gateway keeps none.
naming!(
    TurnsOnTheAgentOnly,
    gateway: |t| t
        .content("body")
        .sender("role")
        .created("at", persist_core::system::TimeUnit::Seconds),
    agent: |t| t
        .id("id")
        .content("body")
        .sender("role")
        .turn("task_id")
        .created("at", persist_core::system::TimeUnit::Seconds)
);

#[persistence_test(agents = ["Chat"], system = "TurnsOnTheAgentOnly")]
async fn turns_the_gateway_does_not_keep_are_no_leak_and_a_leak_is_still_caught(
    manager: MultiDatabaseManager,
    inspector: CrossDatabaseInspector,
) -> Result<(), PersistError> {
    let conversations = [("s1", "alice", "Chat"), ("s2", "bob", "Chat")];
    let gateway: [Row; 4] = [
        ("g1", "s1", "user", "ask", None, 0),
        ("g2", "s1", "assistant", "answer", None, 1),
        ("g3", "s2", "user", "hi", None, 2),
        ("g4", "s2", "assistant", "hello", None, 3),
    ];
    // The agent's own turn ids, which the gateway has never heard of.
    let agent: [Row; 4] = [
        ("a1", "s1", "user", "ask", Some("run-1"), 0),
        ("a2", "s1", "assistant", "answer", Some("run-1"), 1),
        ("a3", "s2", "user", "hi", Some("run-2"), 2),
        ("a4", "s2", "assistant", "hello", Some("run-2"), 3),
    ];
    converse(&manager, &conversations, &gateway, &[("Chat", &agent)]).await?;
    inspector
        .verify_session_context_isolation("Chat", "s1", "s2")
        .await?;
    inspector.verify_user_isolation("alice", "bob").await?;

    // Alice's question in Bob's session too: the history says so, not the turn.
    agent_item(
        &manager,
        "Chat",
        ("a5", "s2", "user", "ask", Some("run-1"), 4),
    )
    .await?;
    let error = inspector
        .verify_session_context_isolation("Chat", "s1", "s2")
        .await
        .unwrap_err()
        .to_string();
    assert!(
        error.contains("history of session s2 differs") && !error.contains("not from a turn"),
        "{error}"
    );
    Ok(())
}

// The gateway's rows name their user, not their sender.
naming!(
    UsersOnTheGatewaysRows,
    gateway: |t| t
        .user("user_id")
        .content("body")
        .sender("role")
        .created("at", persist_core::system::TimeUnit::Seconds),
    agent: |t| t
        .id("id")
        .content("body")
        .sender("role")
        .created("at", persist_core::system::TimeUnit::Seconds)
);

#[persistence_test(agents = ["Chat"], system = "UsersOnTheGatewaysRows")]
async fn a_gateway_that_names_no_sender_is_judged_by_its_rows_users(
    manager: MultiDatabaseManager,
    inspector: CrossDatabaseInspector,
) -> Result<(), PersistError> {
    let conversations = [("s1", "alice", "Chat"), ("s2", "bob", "Chat")];
    let gateway: [Row; 2] = [
        ("g1", "s1", "user", "ask", None, 0),
        ("g2", "s2", "user", "hi", None, 1),
    ];
    converse(&manager, &conversations, &gateway, &[]).await?;
    inspector.verify_user_isolation("alice", "bob").await?;

    // A row of Alice's session stored as Bob's.
    let changed = set(
        &manager,
        &DatabaseRole::Gateway,
        "messages",
        ("id", "g1"),
        "user_id",
        "bob".into(),
    )
    .await?;
    assert_eq!(changed, 1);
    let error = inspector
        .verify_user_isolation("alice", "bob")
        .await
        .unwrap_err()
        .to_string();
    assert!(
        error.contains("a row of user alice's session stored under user bob"),
        "{error}"
    );
    Ok(())
}

// Ids unique across databases, one row per message and no turns.
naming!(
    UniqueIds,
    gateway: |t| t.content("body").sender("role"),
    agent: |t| t.id("id").content("body").sender("role")
);

#[persistence_test(agents = ["Chat", "Support"], system = "UniqueIds")]
async fn a_message_in_two_agents_stores_is_caught_by_its_id(
    manager: MultiDatabaseManager,
    inspector: CrossDatabaseInspector,
) -> Result<(), PersistError> {
    let conversations = [("s1", "alice", "Chat"), ("s2", "bob", "Support")];
    let chat: [Row; 1] = [("m-1", "s1", "user", "ask", None, 0)];
    let support: [Row; 1] = [("m-2", "s2", "user", "hi", None, 1)];
    converse(
        &manager,
        &conversations,
        &[],
        &[("Chat", &chat), ("Support", &support)],
    )
    .await?;
    inspector
        .verify_database_isolation("Chat", "Support")
        .await?;

    // Chat's message, id and all, in Support's own session: no turn and no session give it
    // away, its id does.
    agent_item(&manager, "Support", ("m-1", "s2", "user", "ask", None, 2)).await?;
    let error = inspector
        .verify_database_isolation("Chat", "Support")
        .await
        .unwrap_err()
        .to_string();
    assert!(
        error.contains("message m-1 is stored by both agents"),
        "{error}"
    );
    Ok(())
}

// Each thread's history in one JSON document, each message with an id of its own.
naming!(
    HistoriesWithIds,
    gateway: |t| t.content("body").sender("role"),
    agent: |t| t
        .history(Source::json("history", "/messages"))
        .id(Source::item("/id"))
        .content(Source::item("/body"))
        .sender(Source::item("/role"))
);

/// Writes `session`'s history to `agent`'s store as one row: (id, role, text) each.
async fn history(
    manager: &MultiDatabaseManager,
    agent: &str,
    session: &str,
    messages: &[(&str, &str, &str)],
) -> Result<(), PersistError> {
    let messages: Vec<_> = messages
        .iter()
        .map(|(id, role, body)| serde_json::json!({ "id": id, "role": role, "body": body }))
        .collect();
    let row = [
        ("id", format!("{agent}-{session}-{}", messages.len()).into()),
        ("session_id", session.into()),
        (
            "history",
            serde_json::json!({ "messages": messages }).into(),
        ),
    ];
    manager
        .insert_unchecked(&DatabaseRole::agent(agent), "items", row)
        .await?;
    Ok(())
}

#[persistence_test(agents = ["Chat", "Support"], system = "HistoriesWithIds")]
async fn a_message_in_two_agents_histories_is_caught_by_its_id(
    manager: MultiDatabaseManager,
    inspector: CrossDatabaseInspector,
) -> Result<(), PersistError> {
    let conversations = [("s1", "alice", "Chat"), ("s2", "bob", "Support")];
    converse(&manager, &conversations, &[], &[]).await?;
    history(&manager, "Chat", "s1", &[("msg-a", "user", "ask")]).await?;
    history(&manager, "Support", "s2", &[("msg-b", "user", "hi")]).await?;
    inspector
        .verify_database_isolation("Chat", "Support")
        .await?;

    // Chat's message inside Support's history of its own thread.
    let delete = Query::delete().from_table(Alias::new("items")).to_owned();
    manager
        .execute_unchecked(&DatabaseRole::agent("Support"), &delete)
        .await?;
    let leaked = [("msg-b", "user", "hi"), ("msg-a", "user", "ask")];
    history(&manager, "Support", "s2", &leaked).await?;
    let error = inspector
        .verify_database_isolation("Chat", "Support")
        .await
        .unwrap_err()
        .to_string();
    assert!(
        error.contains("message msg-a is stored by both agents"),
        "{error}"
    );
    Ok(())
}

#[persistence_test(agents = ["Chat"], system = "SecondClocks")]
async fn the_gateways_tracking_table_in_an_agent_is_caught_whatever_its_name(
    inspector: CrossDatabaseInspector,
    #[agent("Chat")] db: persist_core::sea_orm::DatabaseConnection,
) -> Result<(), PersistError> {
    use persist_core::sea_orm::ConnectionTrait as _;
    inspector.verify_agent_schema("Chat").await?;
    // `gateway_steps` names no migration, but it is where the gateway keeps its own.
    db.execute_unprepared("CREATE TABLE gateway_steps (version BIGINT)")
        .await?;
    let error = verification(inspector.verify_agent_schema("Chat").await.unwrap_err());
    let VerificationError::AgentSchema { state } = &error else {
        panic!("{error}")
    };
    assert_eq!(state.migration_tables, ["gateway_steps"]);
    Ok(())
}

#[persistence_test(agents = ["Chat"], system = "HistoriesWithIds")]
async fn a_history_is_counted_in_messages_not_rows(
    manager: MultiDatabaseManager,
    inspector: CrossDatabaseInspector,
) -> Result<(), PersistError> {
    converse(&manager, &[("s1", "alice", "Chat")], &[], &[]).await?;
    // Two checkpoints of one thread: the latest holds its three messages.
    history(&manager, "Chat", "s1", &[("m1", "user", "ask")]).await?;
    let three = [
        ("m1", "user", "ask"),
        ("m2", "assistant", "answer"),
        ("m3", "user", "thanks"),
    ];
    history(&manager, "Chat", "s1", &three).await?;
    let stats = inspector.database_stats().await?;
    assert_eq!(
        (stats.agents["Chat"].sessions, stats.agents["Chat"].messages),
        (1, 3)
    );
    Ok(())
}

// Clocks kept as text: epoch seconds on the gateway, date-times on the agent.
naming!(
    TextClocks,
    at: "VARCHAR(40)",
    gateway: |t| t
        .content("body")
        .sender("role")
        .created("at", persist_core::system::TimeUnit::Seconds),
    agent: |t| t
        .id("id")
        .content("body")
        .sender("role")
        .created("at", persist_core::system::TimeUnit::DateTime)
);

#[persistence_test(agents = ["Chat"], system = "TextClocks")]
async fn clocks_kept_as_text_order_the_history(
    manager: MultiDatabaseManager,
    inspector: CrossDatabaseInspector,
) -> Result<(), PersistError> {
    converse(&manager, &[("s1", "alice", "Chat")], &[], &[]).await?;
    let (gw, ag) = (DatabaseRole::Gateway, DatabaseRole::agent("Chat"));
    let write = |role: &DatabaseRole, table: &'static str, times: [&'static str; 2]| {
        let (manager, role) = (&manager, role.clone());
        async move {
            let delete = Query::delete().from_table(Alias::new(table)).to_owned();
            manager.execute_unchecked(&role, &delete).await?;
            for (n, ((sender, text), at)) in [("user", "ask"), ("assistant", "answer")]
                .into_iter()
                .zip(times)
                .enumerate()
            {
                let row = [
                    ("id", format!("{table}-{n}").into()),
                    ("session_id", "s1".into()),
                    ("role", sender.into()),
                    ("body", text.into()),
                    ("at", at.into()),
                ];
                manager.insert_unchecked(&role, table, row).await?;
            }
            Ok::<_, PersistError>(())
        }
    };
    // The question at 10:00:00 UTC, the answer a second later, each side in its own words.
    write(&gw, "messages", ["1796637600", "1796637601.5"]).await?;
    write(
        &ag,
        "items",
        ["2026-12-07 10:00:00", "2026-12-07T10:00:01.5"],
    )
    .await?;
    assert_integrity(&inspector).await;
    let created = |rows: Vec<persist_core::inspect::AgentMessageRow>| {
        rows.into_iter().map(|m| m.created_at).collect::<Vec<_>>()
    };
    assert_eq!(
        created(inspector.agent_messages("Chat", None).await?),
        [1_796_637_600_000, 1_796_637_601_500]
    );
    let gateway: Vec<i64> = inspector
        .gateway_messages("s1")
        .await?
        .into_iter()
        .map(|m| m.created_at)
        .collect();
    assert_eq!(gateway, [1_796_637_600_000, 1_796_637_601_500]);
    // The agent's answer stored a second before its question.
    write(&ag, "items", ["2026-12-07 10:00:00", "2026-12-07 09:59:59"]).await?;
    assert!(history_order_mismatch(
        inspector.verify_integrity().await.unwrap_err()
    ));
    Ok(())
}

// Parts read from the first of several places, some of which hold numbers or booleans.
naming!(
    FirstOfScalars,
    gateway: |t| t.content("body").sender("role"),
    agent: |t| t
        .history(Source::json("history", "/messages"))
        .id(Source::first_of([Source::item("/uuid"), Source::item("/id")]))
        .content(Source::first_of([Source::item("/text"), Source::item("/body")]))
        .sender(Source::item("/role"))
);

#[persistence_test(agents = ["Chat"], system = "FirstOfScalars")]
async fn the_first_of_several_places_takes_a_number_or_a_boolean_as_its_text(
    manager: MultiDatabaseManager,
    inspector: CrossDatabaseInspector,
) -> Result<(), PersistError> {
    converse(&manager, &[("s1", "alice", "Chat")], &[], &[]).await?;
    let messages = serde_json::json!({ "messages": [
        { "id": 7, "role": "user", "body": true, "text": { "parts": [] } },
        { "uuid": "u-2", "id": 8, "role": "assistant", "text": "ok", "body": 3 },
    ]});
    let row = [
        ("id", "checkpoint-1".into()),
        ("session_id", "s1".into()),
        ("history", messages.into()),
    ];
    manager
        .insert_unchecked(&DatabaseRole::agent("Chat"), "items", row)
        .await?;
    let read: Vec<(String, String)> = inspector
        .agent_messages("Chat", None)
        .await?
        .into_iter()
        .map(|m| (m.id, m.content))
        .collect();
    assert_eq!(
        read,
        [
            ("7".to_owned(), "true".to_owned()),
            ("u-2".to_owned(), "ok".to_owned())
        ]
    );
    Ok(())
}

// Senders named by value: the user's, the agent's, and whatever else a store writes.
naming!(
    ThreeSenders,
    gateway: |t| t.content("body").sender_values("role", "user", "assistant"),
    agent: |t| t
        .id("id")
        .content("body")
        .sender_values("role", "user", "assistant")
);

#[persistence_test(agents = ["Chat"], system = "ThreeSenders")]
async fn a_sender_neither_the_user_nor_the_agent_reads_as_system(
    manager: MultiDatabaseManager,
    inspector: CrossDatabaseInspector,
) -> Result<(), PersistError> {
    let said: [Row; 3] = [
        ("m1", "s1", "user", "ask", None, 0),
        ("m2", "s1", "tool", "42", None, 1),
        ("m3", "s1", "assistant", "answer", None, 2),
    ];
    converse(
        &manager,
        &[("s1", "alice", "Chat")],
        &said,
        &[("Chat", &said)],
    )
    .await?;
    let gateway: Vec<String> = inspector
        .gateway_messages("s1")
        .await?
        .into_iter()
        .map(|m| m.sender_type)
        .collect();
    let agent: Vec<String> = inspector
        .agent_messages("Chat", None)
        .await?
        .into_iter()
        .map(|m| m.role)
        .collect();
    assert_eq!(gateway, ["user", "system", "agent"]);
    assert_eq!(agent, ["user", "system", "assistant"]);
    Ok(())
}

#[persistence_test(agents = ["Chat"], system = "ByClock")]
async fn a_message_without_its_id_is_an_error_that_names_where_it_was_looked_for(
    manager: MultiDatabaseManager,
    inspector: CrossDatabaseInspector,
) -> Result<(), PersistError> {
    agent_turn(&manager, ("a", 0, 1), ("b", 1, 2)).await?;
    inspector.agent_messages("Chat", None).await?;
    // The reply's id gone from its document.
    set(
        &manager,
        &DatabaseRole::agent("Chat"),
        "items",
        ("id", "b"),
        "meta",
        serde_json::json!({}).into(),
    )
    .await?;
    let error = inspector
        .agent_messages("Chat", None)
        .await
        .unwrap_err()
        .to_string();
    assert!(
        error.contains("`items`: `meta/id` is NULL or missing"),
        "{error}"
    );
    Ok(())
}

// Histories whose only order is a clock.
naming!(
    HistoriesByClock,
    gateway: |t| t.content("body").sender("role"),
    agent: |t| t
        .history(Source::json("history", "/messages"))
        .id(Source::item("/id"))
        .content(Source::item("/body"))
        .sender(Source::item("/role"))
        .created("at", TimeUnit::Seconds)
);

#[persistence_test(agents = ["Chat"], system = "HistoriesByClock")]
async fn the_latest_history_by_its_clock_is_read_even_when_it_is_shorter(
    manager: MultiDatabaseManager,
    inspector: CrossDatabaseInspector,
) -> Result<(), PersistError> {
    converse(&manager, &[("s1", "alice", "Chat")], &[], &[]).await?;
    let said = |id: &str, body: &str| serde_json::json!({ "id": id, "role": "user", "body": body });
    // Three messages, then the store trims the thread to a summary a minute later.
    for (row, at, messages) in [
        (
            "c1",
            60,
            vec![said("m1", "a"), said("m2", "b"), said("m3", "c")],
        ),
        ("c2", 120, vec![said("m4", "summary")]),
    ] {
        let row = [
            ("id", row.into()),
            ("session_id", "s1".into()),
            ("at", (1_700_000_000_i64 + at).into()),
            (
                "history",
                serde_json::json!({ "messages": messages }).into(),
            ),
        ];
        manager
            .insert_unchecked(&DatabaseRole::agent("Chat"), "items", row)
            .await?;
    }
    let read: Vec<String> = inspector
        .agent_messages("Chat", None)
        .await?
        .into_iter()
        .map(|m| m.content)
        .collect();
    assert_eq!(read, ["summary"]);
    Ok(())
}

/// A layout is proven on data that passes every check: data already broken is the error of
/// the check it fails, not a proof.
#[persistence_test(agents = ["AgentA", "AgentB"])]
async fn the_layout_proof_refuses_data_that_already_fails_a_check(
    gateway: GatewayPersistenceAdapter,
    inspector: CrossDatabaseInspector,
    manager: MultiDatabaseManager,
) -> Result<(), PersistError> {
    persist_tests::traffic_for_a_proof(&gateway, &["AgentA", "AgentB"]).await?;
    let lost = Query::delete()
        .from_table(Alias::new("agent_messages"))
        .to_owned();
    manager
        .execute_unchecked(&DatabaseRole::agent("AgentA"), &lost)
        .await?;
    let error = inspector.prove_layout().await.unwrap_err();
    verification(error);
    Ok(())
}

/// With one user, the proof's first checks still look at that user's sessions: a message
/// sent in another user's name is the user-isolation check's error.
#[persistence_test(agents = ["AgentA"])]
async fn the_layout_proof_checks_a_lone_user_too(
    gateway: GatewayPersistenceAdapter,
    inspector: CrossDatabaseInspector,
    manager: MultiDatabaseManager,
) -> Result<(), PersistError> {
    let session = gateway.create_session("alice", "AgentA").await?;
    gateway.send_message(&session.id, "hello", "alice").await?;
    let asked = inspector
        .gateway_messages(&session.id)
        .await?
        .into_iter()
        .find(|m| m.sender_type == "user")
        .expect("alice's message");
    set(
        &manager,
        &DatabaseRole::Gateway,
        "chat_messages",
        ("id", &asked.id),
        "sender_name",
        "mallory".into(),
    )
    .await?;
    match verification(inspector.prove_layout().await.unwrap_err()) {
        VerificationError::UserIsolation { leaks, .. } => {
            assert!(leaks.iter().any(|l| l.contains("mallory")), "{leaks:?}")
        }
        other => panic!("expected a user isolation error, got {other}"),
    }
    Ok(())
}

/// What a layout proof needs, in `TurnsOnTheAgentOnly`'s stores: alice's first session with
/// two turns, her second session and bob's, each turn a question and its reply a second
/// apart; the gateway's and Chat's message ids made by `ids` (`true` for the agent's) from
/// the message's number.
async fn conversations_for_a_proof(
    manager: &MultiDatabaseManager,
    [s1, s2, s3]: [&str; 3],
    ids: impl Fn(bool, usize) -> String,
) -> Result<(), PersistError> {
    let conversations = [
        (s1, "alice", "Chat"),
        (s2, "alice", "Chat"),
        (s3, "bob", "Chat"),
    ];
    let turns = [
        (s1, "q1", "a1"),
        (s1, "q2", "a2"),
        (s2, "q3", "a3"),
        (s3, "q4", "a4"),
    ];
    let named: Vec<[String; 5]> = (0..turns.len())
        .map(|i| {
            [
                ids(false, 2 * i),
                ids(false, 2 * i + 1),
                ids(true, 2 * i),
                ids(true, 2 * i + 1),
                format!("r\\{i}"),
            ]
        })
        .collect();
    let mut gateway = Vec::new();
    let mut agent = Vec::new();
    for (i, ((session, question, answer), [gq, ga, mq, ma, run])) in
        turns.iter().zip(&named).enumerate()
    {
        let at = 2 * i as i64;
        let run = Some(run.as_str());
        gateway.push((gq.as_str(), *session, "user", *question, None, at));
        gateway.push((ga.as_str(), *session, "assistant", *answer, None, at + 1));
        agent.push((mq.as_str(), *session, "user", *question, run, at));
        agent.push((ma.as_str(), *session, "assistant", *answer, run, at + 1));
    }
    converse(manager, &conversations, &gateway, &[("Chat", &agent)]).await
}

/// A proof of one agent: every fault planted but a move to another agent's store, none
/// missed, the data as it was after.
async fn prove_one_agent(inspector: &CrossDatabaseInspector) -> Result<(), PersistError> {
    use persist_core::inspect::Fault;
    let before = inspector.snapshot().await?;
    let proof = inspector.prove_layout().await?;
    assert!(proof.missed().is_empty(), "{proof}");
    let not_planted: Vec<Fault> = proof.not_planted().iter().map(|o| o.fault).collect();
    assert_eq!(not_planted, [Fault::MovedToAnotherAgent], "{proof}");
    assert_eq!(inspector.snapshot().await?, before);
    Ok(())
}

/// Ids with a backslash and a quote: the proof's SQL quotes them on every backend (MySQL reads
/// a backslash in a string as an escape), so each fault lands on the rows it names.
#[persistence_test(agents = ["Chat"], system = "TurnsOnTheAgentOnly")]
async fn the_layout_proof_plants_through_ids_that_need_quoting(
    manager: MultiDatabaseManager,
    inspector: CrossDatabaseInspector,
) -> Result<(), PersistError> {
    let ids = |agent: bool, i: usize| format!("{}\\'{i}", if agent { "m" } else { "g" });
    conversations_for_a_proof(&manager, ["s\\'1", "s\\2", "s3"], ids).await?;
    prove_one_agent(&inspector).await?;
    Ok(())
}

/// Ids of digits kept as text, small ones and some past a million: the duplicate's id is one
/// no row has (one past the highest read as a number, not as text, where "999999" is the
/// highest).
#[persistence_test(agents = ["Chat"], system = "TurnsOnTheAgentOnly")]
async fn the_layout_proof_copies_a_message_under_an_id_no_row_has(
    manager: MultiDatabaseManager,
    inspector: CrossDatabaseInspector,
) -> Result<(), PersistError> {
    const AGENT: [u32; 8] = [0, 1, 2, 999_999, 1_000_000, 1_000_001, 1_000_002, 1_000_003];
    let ids = |agent: bool, i: usize| {
        if agent {
            AGENT[i].to_string()
        } else {
            format!("g{i}")
        }
    };
    conversations_for_a_proof(&manager, ["s1", "s2", "s3"], ids).await?;
    prove_one_agent(&inspector).await?;
    Ok(())
}

/// A store that refuses a copy (one message per role and turn): the duplicate is not planted,
/// and the proof leaves nothing of its own behind.
#[persistence_test(agents = ["Chat"], system = "TurnsOnTheAgentOnly")]
async fn a_fault_the_database_refuses_is_not_planted_and_leaves_nothing_behind(
    manager: MultiDatabaseManager,
    inspector: CrossDatabaseInspector,
) -> Result<(), PersistError> {
    use persist_core::inspect::Fault;
    use persist_core::sea_orm::ConnectionTrait as _;
    let ids = |agent: bool, i: usize| format!("{}{i}", if agent { "m" } else { "g" });
    conversations_for_a_proof(&manager, ["s1", "s2", "s3"], ids).await?;
    manager
        .connection(&DatabaseRole::agent("Chat"))?
        .execute_unprepared("CREATE UNIQUE INDEX one_per_turn ON items (session_id, task_id, role)")
        .await?;
    let before = inspector.snapshot().await?;
    let proof = inspector.prove_layout().await?;
    let duplicated = proof
        .outcomes
        .iter()
        .find(|o| o.fault == Fault::Duplicated)
        .unwrap();
    assert!(
        duplicated
            .planted
            .as_ref()
            .is_err_and(|why| why.contains("refused")),
        "{proof}"
    );
    assert!(proof.missed().is_empty(), "{proof}");
    assert_eq!(inspector.snapshot().await?, before);
    Ok(())
}

/// One session named twice is checked alone: each leak is told once.
#[persistence_test(agents = ["AgentA"])]
async fn a_session_checked_alone_tells_each_leak_once(
    gateway: GatewayPersistenceAdapter,
    inspector: CrossDatabaseInspector,
    manager: MultiDatabaseManager,
) -> Result<(), PersistError> {
    let session = gateway.create_session("alice", "AgentA").await?;
    gateway.send_message(&session.id, "hello", "alice").await?;
    let lost = Query::delete()
        .from_table(Alias::new("agent_messages"))
        .and_where(Expr::col(Alias::new("role")).ne("user"))
        .to_owned();
    manager
        .execute_unchecked(&DatabaseRole::agent("AgentA"), &lost)
        .await?;
    let error = inspector
        .verify_session_context_isolation("AgentA", &session.id, &session.id)
        .await
        .unwrap_err();
    match verification(error) {
        VerificationError::ContextIsolation { leaks, .. } => {
            assert_eq!(leaks.len(), 1, "{leaks:?}")
        }
        other => panic!("expected a context isolation error, got {other}"),
    }
    Ok(())
}

// The agent's messages name their session inside JSON only.
naming!(
    SessionsInJson,
    gateway: |t| t
        .content("body")
        .sender("role")
        .created("at", persist_core::system::TimeUnit::Seconds),
    agent: |t| t
        .session(Source::json("history", "/session"))
        .id("id")
        .content("body")
        .sender("role")
        .turn("task_id")
        .created("at", persist_core::system::TimeUnit::Seconds)
);

/// A message's session kept inside JSON: the proof moves it there, and every move is caught.
#[persistence_test(agents = ["Chat"], system = "SessionsInJson")]
async fn the_layout_proof_moves_a_message_whose_session_is_inside_json(
    manager: MultiDatabaseManager,
    inspector: CrossDatabaseInspector,
) -> Result<(), PersistError> {
    use persist_core::sea_orm::{ConnectionTrait as _, DbBackend};
    let ids = |agent: bool, i: usize| format!("{}{i}", if agent { "m" } else { "g" });
    conversations_for_a_proof(&manager, ["s1", "s2", "s3"], ids).await?;
    let db = manager.connection(&DatabaseRole::agent("Chat"))?;
    let object = match db.get_database_backend() {
        DbBackend::Postgres => "jsonb_build_object",
        DbBackend::MySql => "JSON_OBJECT",
        _ => "json_object",
    };
    db.execute_unprepared(&format!(
        "UPDATE items SET history = {object}('session', session_id), session_id = NULL"
    ))
    .await?;
    prove_one_agent(&inspector).await?;
    Ok(())
}

/// A message filed under the gateway's session id where the store files messages under its
/// own session keys: the agent cannot find it, and neither does the check.
#[persistence_test(agents = ["Planner"], system = "persist_tests::relay::Relay")]
async fn a_message_filed_under_no_key_of_the_agents_is_an_orphan(
    gateway: GatewayPersistenceAdapter,
    inspector: CrossDatabaseInspector,
    manager: MultiDatabaseManager,
) -> Result<(), PersistError> {
    let session = gateway.create_session("alice", "Planner").await?;
    gateway
        .send_message(&session.id, "plan a trip", "alice")
        .await?;
    inspector.verify_integrity().await?;
    let events = inspector
        .agent_messages("Planner", Some(&session.id))
        .await?;
    set(
        &manager,
        &DatabaseRole::agent("Planner"),
        "events",
        ("id", &events[0].id),
        "session_id",
        session.id.clone().into(),
    )
    .await?;
    match verification(inspector.verify_integrity().await.unwrap_err()) {
        VerificationError::Integrity { problems } => assert!(
            problems
                .iter()
                .any(|p| matches!(p, IntegrityProblem::OrphanAgentMessage { .. })),
            "{problems:?}"
        ),
        other => panic!("expected an integrity error, got {other}"),
    }
    Ok(())
}

/// A store whose own session keys are not the gateway's ids: the proof files a moved message
/// under the key of the session it moves it to, and every fault is seen for its reason.
#[persistence_test(agents = ["Planner", "Writer"], system = "persist_tests::relay::Relay")]
async fn the_layout_proof_files_a_moved_message_under_the_agents_own_key(
    gateway: GatewayPersistenceAdapter,
    inspector: CrossDatabaseInspector,
    manager: MultiDatabaseManager,
) -> Result<(), PersistError> {
    use persist_core::sea_orm::ConnectionTrait as _;
    persist_tests::traffic_for_a_proof(&gateway, &["Planner", "Writer"]).await?;
    for agent in ["Planner", "Writer"] {
        // The agent's own keys, other than the gateway's ids.
        let db = manager
            .unchecked_connection(&DatabaseRole::agent(agent))
            .await?;
        db.execute_unprepared("UPDATE sessions SET id = CONCAT('key-', id)")
            .await?;
        db.execute_unprepared("UPDATE events SET session_id = CONCAT('key-', session_id)")
            .await?;
        db.close().await?;
    }
    inspector.verify_integrity().await?;
    let proof = inspector.prove_layout().await?;
    assert!(proof.is_complete(), "{proof}");
    persist_tests::assert_faults_seen_for_their_reasons(&inspector, &proof).await?;
    Ok(())
}

// Turns of three senders: the user, the agent (`assistant`), and any other (a system).
naming!(
    TurnsOfThreeSenders,
    gateway: |t| t
        .content("body")
        .sender_values("role", "user", "assistant")
        .created("at", persist_core::system::TimeUnit::Seconds),
    agent: |t| t
        .id("id")
        .content("body")
        .sender_values("role", "user", "assistant")
        .turn("task_id")
        .created("at", persist_core::system::TimeUnit::Seconds)
);

/// One turn's messages tied in time: the user's first, then the reply, then what the system
/// added, whatever order they were stored in.
#[persistence_test(agents = ["Chat"], system = "TurnsOfThreeSenders")]
async fn a_turn_tied_in_time_reads_question_reply_then_system(
    manager: MultiDatabaseManager,
    inspector: CrossDatabaseInspector,
) -> Result<(), PersistError> {
    let agent: [Row; 3] = [
        ("a1", "s1", "system", "noted", Some("run-1"), 0),
        ("a2", "s1", "assistant", "answer", Some("run-1"), 0),
        ("a3", "s1", "user", "ask", Some("run-1"), 0),
    ];
    converse(
        &manager,
        &[("s1", "alice", "Chat")],
        &[],
        &[("Chat", &agent)],
    )
    .await?;
    let read: Vec<String> = inspector
        .agent_messages("Chat", Some("s1"))
        .await?
        .into_iter()
        .map(|m| m.content)
        .collect();
    assert_eq!(read, ["ask", "answer", "noted"]);
    Ok(())
}
