//! The switchboard (`persist_tests::switchboard`): a mesh whose agents run on different agent
//! frameworks' stores over a gateway with a data-carrying migration history. `Chat` and
//! `Support` keep the OpenAI Agents SDK's session store (no user, ids numbered by each
//! database, an item's text in one of two places), `Planner` LangGraph's checkpointer (its
//! own numbered migrations, a thread's whole history inside each checkpoint). Every check and
//! assertion runs on it; faults planted in its shapes are caught; its gateway's and its
//! planner's migrations are checked. The suite runs on whichever backend the environment
//! names, and the first test in memory too.

use persist_core::assertions::*;
use persist_core::db::{AgentSchemas, DatabaseRole, EntitySchema, MultiDatabaseManager};
use persist_core::inspect::{DatabaseStats, Fault, VerificationError};
use persist_core::migrate::{Loss, MigrationCheck};
use persist_core::prelude::*;
use persist_core::sea_orm::sea_query::{Alias, Expr, ExprTrait as _, Order, Query};
use persist_core::sea_orm::{ConnectionTrait, Value};
use persist_core::system::Resource;
use persist_tests::switchboard::{self, PLANNER, migration, openai};

const AGENTS: [&str; 3] = ["Chat", "Support", PLANNER];

fn verification(error: PersistError) -> VerificationError {
    match error.verification() {
        Some(v) => v.clone(),
        None => panic!("expected a verification error, got {error}"),
    }
}

/// Real traffic over both stores, then every check and assertion.
async fn every_check_passes(
    gateway: GatewayPersistenceAdapter,
    inspector: CrossDatabaseInspector,
    llm: Resource<switchboard::Model>,
) -> Result<(), PersistError> {
    let chat = gateway.create_session("alice", "Chat").await?;
    gateway.send_message(&chat.id, "hello", "alice").await?;
    gateway
        .send_message(&chat.id, "how are you", "alice")
        .await?;
    let chat_again = gateway.create_session("alice", "Chat").await?;
    gateway
        .send_message(&chat_again.id, "another topic", "alice")
        .await?;
    let support = gateway.create_session("bob", "Support").await?;
    gateway.send_message(&support.id, "it broke", "bob").await?;
    let plan = gateway.create_session("alice", PLANNER).await?;
    gateway
        .send_message(&plan.id, "plan a trip", "alice")
        .await?;
    gateway.send_message(&plan.id, "to Lisbon", "alice").await?;
    let plan_again = gateway.create_session("alice", PLANNER).await?;
    gateway
        .send_message(&plan_again.id, "plan a dinner", "alice")
        .await?;
    let bobs_plan = gateway.create_session("bob", PLANNER).await?;
    gateway
        .send_message(&bobs_plan.id, "plan a party", "bob")
        .await?;

    // Each agent has its own schema: the planner's migrated by its own steps.
    let report = inspector.verify_database_architecture(&AGENTS).await?;
    assert_eq!(report.agent_migration_version(PLANNER), Some("9"));
    assert_eq!(report.agent_migration_version("Chat"), None);
    assert!(
        report.agents["Chat"]
            .tables
            .contains(&"agent_messages".to_owned())
    );
    assert!(
        report.agents[PLANNER]
            .tables
            .contains(&"checkpoints".to_owned())
    );
    assert!(
        !report.agents[PLANNER]
            .tables
            .contains(&"agent_messages".to_owned())
    );
    assert!(
        report
            .to_string()
            .contains("own migrations (checkpoint_migrations): 10/10")
    );
    assert_migration_state(&inspector).await;
    for agent in AGENTS {
        assert_agent_schema_correct(&inspector, agent).await;
    }
    for (session, agent) in [
        (&chat, "Chat"),
        (&chat_again, "Chat"),
        (&support, "Support"),
        (&plan, PLANNER),
        (&bobs_plan, PLANNER),
    ] {
        assert_session_linking(&inspector, &session.id, agent).await;
    }
    // Both OpenAI stores number their items from 1: the same ids, and no leak.
    assert_database_isolation(&inspector, "Chat", "Support").await;
    assert_database_isolation(&inspector, "Chat", PLANNER).await;
    assert_database_isolation(&inspector, "Support", PLANNER).await;
    assert_session_context_isolation(&inspector, "Chat", &chat.id, &chat_again.id).await;
    assert_session_context_isolation(&inspector, PLANNER, &plan.id, &plan_again.id).await;
    assert_session_context_isolation(&inspector, PLANNER, &plan.id, &bobs_plan.id).await;
    assert_no_user_data_leakage(&inspector, "alice", "bob").await;
    for (session, agent) in [
        (&chat, "Chat"),
        (&support, "Support"),
        (&plan, PLANNER),
        (&plan_again, PLANNER),
    ] {
        assert_llm_context_isolated(&inspector, &*llm, agent, &session.id).await;
    }
    let integrity = assert_integrity(&inspector).await;
    assert_eq!(integrity.gateway_messages, 16);
    assert_database_stats(
        &inspector,
        &DatabaseStats::expect(6, 16)
            .agent("Chat", 2, 6)
            .agent("Support", 1, 2)
            // Three threads (of six checkpoints each per two turns), eight messages.
            .agent(PLANNER, 3, 8),
    )
    .await;
    assert_gateway_message_count(&inspector, &plan.id, 4).await;
    assert_agent_message_count(&inspector, PLANNER, &plan.id, 4).await;
    assert_agent_message_count(&inspector, "Chat", &chat.id, 4).await;
    assert_message_contains(&inspector, &plan.id, "ack: to Lisbon", Some("agent")).await;
    assert_agent_message_contains(
        &inspector,
        PLANNER,
        &plan.id,
        "ack: to Lisbon",
        Some("assistant"),
    )
    .await;
    assert_agent_message_contains(&inspector, "Chat", &chat.id, "ack: how are you", None).await;

    // The thread's history is its latest checkpoint's list: four messages, not two copies
    // of the first, each with its own id.
    let history = inspector.agent_messages(PLANNER, Some(&plan.id)).await?;
    let said: Vec<(&str, &str)> = history
        .iter()
        .map(|m| (m.role.as_str(), m.content.as_str()))
        .collect();
    assert_eq!(
        said,
        [
            ("user", "plan a trip"),
            ("assistant", "ack: plan a trip"),
            ("user", "to Lisbon"),
            ("assistant", "ack: to Lisbon"),
        ]
    );
    let ids: std::collections::BTreeSet<&str> = history.iter().map(|m| m.id.as_str()).collect();
    assert_eq!(ids.len(), 4, "{history:?}");
    // An OpenAI item's text wherever its kind keeps it; sessions without a user are their
    // conversation's user's.
    let items = inspector.agent_messages("Chat", Some(&chat.id)).await?;
    assert_eq!(items[1].content, "ack: hello");
    assert_eq!(items[0].content, "hello");
    let sessions = inspector.agent_sessions("Chat", Some(&chat.id)).await?;
    assert_eq!(sessions.len(), 1);
    assert_eq!(sessions[0].user_id, "alice");
    let threads = inspector.agent_sessions(PLANNER, None).await?;
    assert_eq!(
        threads.len(),
        3,
        "one per thread, however many checkpoints: {threads:?}"
    );
    // The gateway orders a conversation by its numbering.
    let gateway_history = inspector.gateway_messages(&plan.id).await?;
    let texts: Vec<&str> = gateway_history.iter().map(|m| m.message.as_str()).collect();
    assert_eq!(
        texts,
        [
            "plan a trip",
            "ack: plan a trip",
            "to Lisbon",
            "ack: to Lisbon"
        ]
    );
    Ok(())
}

#[persistence_test(agents = ["Chat", "Support", "Planner"], system = "persist_tests::switchboard::Switchboard")]
async fn every_check_passes_on_a_mixed_mesh(
    gateway: GatewayPersistenceAdapter,
    inspector: CrossDatabaseInspector,
    llm: Resource<switchboard::Model>,
) -> Result<(), PersistError> {
    every_check_passes(gateway, inspector, llm).await
}

#[persistence_test(
    agents = ["Chat", "Support", "Planner"],
    system = "persist_tests::switchboard::Switchboard",
    backends = ["sqlite-memory"]
)]
async fn every_check_passes_on_a_mixed_mesh_in_memory(
    gateway: GatewayPersistenceAdapter,
    inspector: CrossDatabaseInspector,
    llm: Resource<switchboard::Model>,
) -> Result<(), PersistError> {
    every_check_passes(gateway, inspector, llm).await
}

/// The JSON of the latest checkpoint of `thread` in the planner's database.
async fn latest_checkpoint(
    manager: &MultiDatabaseManager,
    thread: &str,
) -> Result<serde_json::Value, PersistError> {
    let db = manager.agent_connection(PLANNER)?;
    let query = Query::select()
        .column(Alias::new("checkpoint"))
        .from(Alias::new("checkpoints"))
        .and_where(Expr::col(Alias::new("thread_id")).eq(thread))
        .order_by(Alias::new("checkpoint_id"), Order::Desc)
        .limit(1)
        .to_owned();
    let row = db.query_one(&query).await?.expect("a checkpoint");
    Ok(match row.try_get::<serde_json::Value>("", "checkpoint") {
        Ok(value) => value,
        Err(_) => serde_json::from_str(&row.try_get::<String>("", "checkpoint")?).unwrap(),
    })
}

/// Writes a newer checkpoint of `thread` to the planner's database.
async fn new_checkpoint(
    manager: &MultiDatabaseManager,
    thread: &str,
    checkpoint: serde_json::Value,
) -> Result<(), PersistError> {
    manager
        .insert_unchecked(
            &DatabaseRole::agent(PLANNER),
            "checkpoints",
            [
                ("thread_id", thread.into()),
                ("checkpoint_ns", "".into()),
                ("checkpoint_id", uuid::Uuid::now_v7().to_string().into()),
                ("type", "json".into()),
                ("checkpoint", checkpoint.into()),
                ("metadata", serde_json::json!({}).into()),
            ],
        )
        .await?;
    Ok(())
}

#[persistence_test(agents = ["Planner"], system = "persist_tests::switchboard::Switchboard")]
async fn a_message_leaked_into_another_thread_is_caught(
    gateway: GatewayPersistenceAdapter,
    inspector: CrossDatabaseInspector,
    manager: MultiDatabaseManager,
) -> Result<(), PersistError> {
    let alice = gateway.create_session("alice", PLANNER).await?;
    gateway
        .send_message(&alice.id, "my secret plan", "alice")
        .await?;
    let bob = gateway.create_session("bob", PLANNER).await?;
    gateway.send_message(&bob.id, "a party", "bob").await?;
    assert_no_user_data_leakage(&inspector, "alice", "bob").await;
    // A row is the same row read with its own thread or with every other.
    let every = inspector.agent_messages(PLANNER, None).await?;
    let bobs = inspector.agent_messages(PLANNER, Some(&bob.id)).await?;
    assert_eq!(
        every
            .into_iter()
            .filter(|m| m.session_id == bob.id)
            .collect::<Vec<_>>(),
        bobs
    );
    // Its debug form says the table it was read from.
    let debug = format!("{:?}", bobs[0]);
    assert!(debug.contains("names: checkpoints"), "{debug}");

    // A newer checkpoint of Bob's thread that carries Alice's message.
    let mut leaked = latest_checkpoint(&manager, &bob.id).await?;
    let alices = latest_checkpoint(&manager, &alice.id).await?;
    leaked["channel_values"]["messages"]
        .as_array_mut()
        .unwrap()
        .push(alices["channel_values"]["messages"][0].clone());
    new_checkpoint(&manager, &bob.id, leaked).await?;

    let history = inspector.agent_messages(PLANNER, Some(&bob.id)).await?;
    assert_eq!(history.len(), 3, "the latest checkpoint is the history");
    let error = verification(
        inspector
            .verify_session_context_isolation(PLANNER, &alice.id, &bob.id)
            .await
            .unwrap_err(),
    );
    // Its rows printed by the stores' own names, a short text whole.
    let text = error.to_string();
    assert!(text.contains("\"my secret plan\")"), "{text}");
    assert!(
        text.contains("gateway messages(") && text.contains(&format!("conversation_id={}", bob.id)),
        "{text}"
    );
    let error = verification(inspector.verify_integrity().await.unwrap_err());
    assert!(error.to_string().contains(&bob.id), "{error}");

    // A thread the gateway never opened, printed as the planner keeps it.
    new_checkpoint(&manager, "ghost", alices).await?;
    let error = inspector
        .verify_session_linking("ghost", PLANNER)
        .await
        .unwrap_err()
        .to_string();
    assert!(error.contains("checkpoints(thread_id=ghost)"), "{error}");
    Ok(())
}

#[persistence_test(agents = ["Planner"], system = "persist_tests::switchboard::Switchboard")]
async fn a_history_with_no_order_declared_is_its_longest_checkpoint(
    gateway: GatewayPersistenceAdapter,
    manager: MultiDatabaseManager,
) -> Result<(), PersistError> {
    let plan = gateway.create_session("alice", PLANNER).await?;
    gateway.send_message(&plan.id, "one", "alice").await?;
    gateway.send_message(&plan.id, "two", "alice").await?;
    // The same store described without `order`: no way to tell which checkpoint is newest
    // but by what it holds.
    let layout = switchboard::layout();
    let unordered = persist_core::system::Table::new("checkpoints")
        .session("thread_id")
        .history(persist_core::system::Source::json(
            "checkpoint",
            "/channel_values/messages",
        ))
        .content(persist_core::system::Source::item("/content"))
        .sender_values(persist_core::system::Source::item("/type"), "human", "ai");
    let layout = layout.agent(
        PLANNER,
        persist_core::system::Table::new("checkpoints").session("thread_id"),
        unordered,
    )?;
    // An early step's checkpoint, written last (a resumed run, a copy): the rows' order says
    // nothing, what they hold does.
    let mut early = latest_checkpoint(&manager, &plan.id).await?;
    early["channel_values"]["messages"]
        .as_array_mut()
        .unwrap()
        .truncate(1);
    manager
        .insert_unchecked(
            &DatabaseRole::agent(PLANNER),
            "checkpoints",
            [
                ("thread_id", plan.id.clone().into()),
                ("checkpoint_ns", "".into()),
                ("checkpoint_id", "0-early".into()),
                ("type", "json".into()),
                ("checkpoint", early.into()),
                ("metadata", serde_json::json!({}).into()),
            ],
        )
        .await?;
    let inspector = CrossDatabaseInspector::with_layout(manager, layout);
    let history = inspector.agent_messages(PLANNER, Some(&plan.id)).await?;
    let texts: Vec<&str> = history.iter().map(|m| m.content.as_str()).collect();
    assert_eq!(texts, ["one", "ack: one", "two", "ack: two"]);
    // Without ids of their own, messages are numbered by their place in the thread.
    let ids: Vec<String> = history.iter().map(|m| m.id.clone()).collect();
    assert_eq!(
        ids,
        (0..4)
            .map(|n| format!("{}#{n}", plan.id))
            .collect::<Vec<_>>()
    );
    assert_integrity(&inspector).await;
    Ok(())
}

#[persistence_test(agents = ["Planner"], system = "persist_tests::switchboard::Switchboard")]
async fn a_history_kept_in_a_blob_reads_as_in_a_checkpoint(
    gateway: GatewayPersistenceAdapter,
    manager: MultiDatabaseManager,
) -> Result<(), PersistError> {
    use persist_core::system::{Source, Table};
    let plan = gateway.create_session("alice", PLANNER).await?;
    gateway.send_message(&plan.id, "one", "alice").await?;
    gateway.send_message(&plan.id, "two", "alice").await?;
    // The channel's value per version, a JSON array in a BYTEA / BLOB / LONGBLOB column.
    let blobs = Table::new("checkpoint_blobs")
        .session("thread_id")
        .order("version")
        .history("blob")
        .id(Source::item("/id"))
        .content(Source::item("/content"))
        .sender_values(Source::item("/type"), "human", "ai");
    let layout = switchboard::layout().agent(
        PLANNER,
        Table::new("checkpoints").session("thread_id"),
        blobs,
    )?;
    let inspector = CrossDatabaseInspector::with_layout(manager.clone(), layout);
    let from_blobs = inspector.agent_messages(PLANNER, Some(&plan.id)).await?;
    let from_checkpoints = CrossDatabaseInspector::for_system(manager, &switchboard::Switchboard)
        .agent_messages(PLANNER, Some(&plan.id))
        .await?;
    let said = |rows: &[persist_core::inspect::AgentMessageRow]| {
        rows.iter()
            .map(|m| (m.id.clone(), m.role.clone(), m.content.clone()))
            .collect::<Vec<_>>()
    };
    assert_eq!(said(&from_blobs), said(&from_checkpoints));
    assert_eq!(from_blobs.len(), 4);
    Ok(())
}

#[persistence_test(agents = ["Chat", "Support"], system = "persist_tests::switchboard::Switchboard")]
async fn an_item_in_another_agents_store_is_caught_and_equal_ids_are_not(
    gateway: GatewayPersistenceAdapter,
    inspector: CrossDatabaseInspector,
    manager: MultiDatabaseManager,
) -> Result<(), PersistError> {
    let chat = gateway.create_session("alice", "Chat").await?;
    gateway.send_message(&chat.id, "hello", "alice").await?;
    let support = gateway.create_session("bob", "Support").await?;
    gateway.send_message(&support.id, "help", "bob").await?;
    // Items 1 and 2 in each store: not the same rows.
    let ids = |rows: Vec<persist_core::inspect::AgentMessageRow>| {
        rows.into_iter().map(|m| m.id).collect::<Vec<_>>()
    };
    assert_eq!(
        ids(inspector.agent_messages("Chat", None).await?),
        ids(inspector.agent_messages("Support", None).await?)
    );
    assert_database_isolation(&inspector, "Chat", "Support").await;

    // Alice's conversation with Chat, stored by Support too.
    manager
        .insert_unchecked(
            &DatabaseRole::agent("Support"),
            "agent_sessions",
            [
                ("session_id", chat.id.clone().into()),
                ("created_at", chrono::Utc::now().naive_utc().into()),
                ("updated_at", chrono::Utc::now().naive_utc().into()),
            ],
        )
        .await?;
    manager
        .insert_unchecked(
            &DatabaseRole::agent("Support"),
            "agent_messages",
            [
                ("session_id", chat.id.clone().into()),
                (
                    "message_data",
                    openai::user_item("hello").to_string().into(),
                ),
                ("created_at", chrono::Utc::now().naive_utc().into()),
            ],
        )
        .await?;
    let error = verification(
        inspector
            .verify_database_isolation("Chat", "Support")
            .await
            .unwrap_err(),
    );
    let text = error.to_string();
    assert!(text.contains("gives this session to agent Chat"), "{text}");
    assert!(!text.contains("message 1 is stored by both"), "{text}");
    Ok(())
}

#[test]
fn an_agent_without_a_schema_is_an_error_that_names_it() {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
        .block_on(async {
            let Err(error) = MultiDatabaseManager::builder()
                .gateway_migrator::<migration::Migrator>()
                .agent_schemas(
                    AgentSchemas::new().agent(PLANNER, switchboard::langgraph::migrations()),
                )
                .agents([PLANNER, "Chat"])
                .setup()
                .await
            else {
                panic!("Chat has no schema, and yet the mesh set up");
            };
            let text = error.to_string();
            assert!(text.contains("agent Chat"), "{text}");
            assert!(text.contains("Planner"), "{text}");
            // With a default, the same mesh sets up, each agent with its own store.
            let manager = MultiDatabaseManager::builder()
                .gateway_migrator::<migration::Migrator>()
                .agent_schema(switchboard::openai_schema())
                .agent_schema_for(PLANNER, switchboard::langgraph::migrations())
                .agents([PLANNER, "Chat"])
                .setup()
                .await
                .unwrap();
            let tables = |agent: &str| {
                let manager = manager.clone();
                let agent = agent.to_owned();
                async move {
                    persist_core::db::catalog::list_tables(
                        manager.agent_connection(&agent).unwrap(),
                    )
                    .await
                    .unwrap()
                }
            };
            assert!(
                tables(PLANNER)
                    .await
                    .contains(&"checkpoint_migrations".to_owned())
            );
            assert!(tables("Chat").await.contains(&"agent_sessions".to_owned()));
            assert!(!tables("Chat").await.contains(&"checkpoints".to_owned()));
            manager.cleanup().await.unwrap();
        });
}

// ---- migrations -----------------------------------------------------------------------------

type GatewayCheck = MigrationCheck<migration::Migrator>;

async fn insert(
    db: &DatabaseConnection,
    table: &str,
    row: Vec<(&str, Value)>,
) -> Result<(), PersistError> {
    let (columns, values): (Vec<&str>, Vec<Value>) = row.into_iter().unzip();
    let insert = Query::insert()
        .into_table(Alias::new(table))
        .columns(columns.into_iter().map(Alias::new))
        .values_panic(values.into_iter().map(Into::into))
        .to_owned();
    db.execute(&insert).await?;
    Ok(())
}

/// Messages written before organizations were on them: two users of one organization, the
/// second message at the same second as the first.
async fn seed_messages(db: &DatabaseConnection) -> Result<(), PersistError> {
    insert(
        db,
        "organizations",
        vec![("id", "org-1".into()), ("name", "One".into())],
    )
    .await?;
    for user in ["alice", "bob"] {
        insert(
            db,
            "users",
            vec![
                ("id", user.into()),
                ("organization_id", "org-1".into()),
                ("name", user.into()),
            ],
        )
        .await?;
    }
    let at = |s: u32| {
        chrono::NaiveDate::from_ymd_opt(2025, 1, 1)
            .unwrap()
            .and_hms_opt(12, 0, s)
            .unwrap()
    };
    for (id, user, role, text, second) in [
        ("m-b", "alice", "user", "first", 0),
        ("m-a", "alice", "assistant", "ack: first", 0),
        ("m-c", "bob", "user", "later", 5),
    ] {
        insert(
            db,
            "messages",
            vec![
                ("id", id.into()),
                ("agent_id", "Chat".into()),
                ("user_id", user.into()),
                ("role", role.into()),
                ("text", text.into()),
                ("created_at", at(second).into()),
            ],
        )
        .await?;
    }
    Ok(())
}

#[persistence_test]
async fn the_gateway_migrations_round_trip_and_carry_their_data(
    check: GatewayCheck,
) -> Result<(), PersistError> {
    assert_eq!(check.round_trip().await?.len(), 5);
    // The step that drops `messages.user_id` loses who wrote each message, backfill or not.
    let error = check
        .upgrade(
            2,
            |db| Box::pin(seed_messages(db)),
            |_| Box::pin(async { Ok(()) }),
        )
        .await
        .unwrap_err();
    let failure = error.migration_failure().expect("a migration failure");
    assert_eq!(
        failure.step.as_deref(),
        Some(migration::MESSAGE_ORGANIZATIONS)
    );
    assert!(
        failure
            .problem
            .contains("messages.user_id was dropped holding 3 values"),
        "{failure}"
    );
    // Declared, it goes through, and what is left is right.
    check
        .allowing_loss(Loss::column(
            migration::MESSAGE_ORGANIZATIONS,
            "messages",
            "user_id",
        ))
        .upgrade(
            2,
            |db| Box::pin(seed_messages(db)),
            |db| {
                Box::pin(async move {
                    let query = Query::select()
                        .columns(
                            ["id", "organization_id", "sequence_id", "conversation_id"]
                                .map(Alias::new),
                        )
                        .from(Alias::new("messages"))
                        .order_by(Alias::new("sequence_id"), Order::Asc)
                        .to_owned();
                    let rows = db.query_all(&query).await?;
                    let found: Vec<(String, String, i64, String)> = rows
                        .iter()
                        .map(|r| {
                            (
                                r.try_get("", "id").unwrap(),
                                r.try_get("", "organization_id").unwrap(),
                                r.try_get("", "sequence_id").unwrap(),
                                r.try_get("", "conversation_id").unwrap(),
                            )
                        })
                        .collect();
                    // Backfilled from the dropped user; numbered by time, then id; filed.
                    let conversation = "conv-Chat-org-1".to_owned();
                    assert_eq!(
                        found,
                        [
                            ("m-a".into(), "org-1".into(), 1, conversation.clone()),
                            ("m-b".into(), "org-1".into(), 2, conversation.clone()),
                            ("m-c".into(), "org-1".into(), 3, conversation.clone()),
                        ]
                    );
                    let columns = persist_core::db::catalog::read_table(db, "messages")
                        .await?
                        .columns;
                    assert!(!columns.contains_key("user_id"), "{columns:?}");
                    Ok(())
                })
            },
        )
        .await
}

#[persistence_test(agents = ["Planner"], system = "persist_tests::switchboard::Switchboard")]
async fn the_planners_own_migrations_are_checked_like_the_gateways(
    #[agent("Planner")] check: MigrationCheck,
    gateway_check: MigrationCheck,
) -> Result<(), PersistError> {
    // LangGraph's steps have no way down: the round trip says so, naming the step.
    let error = check.round_trip().await.unwrap_err();
    let failure = error.migration_failure().expect("a migration failure");
    assert!(failure.to_string().contains("no way down"), "{failure}");
    // Rows written at step 4 survive every later step.
    check
        .upgrade(
            4,
            |db| {
                Box::pin(async move {
                    insert(
                        db,
                        "checkpoints",
                        vec![
                            ("thread_id", "t-1".into()),
                            ("checkpoint_ns", "".into()),
                            ("checkpoint_id", "c-1".into()),
                            ("checkpoint", serde_json::json!({"v": 1}).into()),
                            ("metadata", serde_json::json!({}).into()),
                        ],
                    )
                    .await
                })
            },
            |db| {
                Box::pin(async move {
                    assert_eq!(
                        persist_core::db::catalog::count_rows(db, "checkpoints").await?,
                        1
                    );
                    let columns =
                        persist_core::db::catalog::read_table(db, "checkpoint_writes").await?;
                    assert!(columns.columns.contains_key("task_path"));
                    Ok(())
                })
            },
        )
        .await?;
    // Without `#[agent]`, the gateway's: all five steps go down and up again.
    assert_eq!(gateway_check.round_trip().await?.len(), 5);
    Ok(())
}

#[persistence_test(agents = ["Chat"], system = "persist_tests::switchboard::Switchboard")]
async fn an_agent_that_does_not_migrate_has_no_migration_check(
    ctx: TestContext,
) -> Result<(), PersistError> {
    let error = <MigrationCheck as persist_core::Inject>::inject(&ctx, Some("Chat")).unwrap_err();
    assert!(error.to_string().contains("does not migrate"), "{error}");
    let _ = EntitySchema::new();
    Ok(())
}

#[persistence_test(agents = ["Chat", "Planner"], system = "persist_tests::switchboard::Switchboard")]
async fn the_layout_proof_sees_every_fault_in_both_stores(
    gateway: GatewayPersistenceAdapter,
    inspector: CrossDatabaseInspector,
) -> Result<(), PersistError> {
    persist_tests::traffic_for_a_proof(&gateway, &["Chat", PLANNER]).await?;
    let proof = inspector.prove_layout().await?;
    println!("{proof}");
    assert!(proof.is_complete(), "{proof}");
    let agents: std::collections::BTreeSet<&str> =
        proof.outcomes.iter().map(|o| o.agent.as_str()).collect();
    assert_eq!(agents, ["Chat", PLANNER].into_iter().collect());

    // Each fault was planted as it says, in a table of rows (Chat) and in a table of lists
    // (the planner's), and seen for its reason; a reply before its question as that reply
    // first.
    persist_tests::assert_faults_seen_for_their_reasons(&inspector, &proof).await?;
    for o in &proof.outcomes {
        if o.fault == Fault::ReplyBeforeQuestion {
            let said = o.findings.join("\n");
            assert!(
                said.contains("agent order: [\"ack: the first question\""),
                "{}: {said}",
                o.agent
            );
        }
    }
    Ok(())
}

/// The planner's checkpoints kept as bytes (a `BYTEA`, a `LONGBLOB`): the proof reads and
/// writes its histories in the column's own kind. On the servers only: SQLite keeps any value
/// in any column, so a blob column there takes text as it is.
#[persistence_test(
    agents = ["Chat", "Planner"],
    system = "persist_tests::switchboard::Switchboard",
    backends = ["postgres", "mysql"]
)]
async fn the_layout_proof_writes_histories_kept_as_bytes(
    gateway: GatewayPersistenceAdapter,
    inspector: CrossDatabaseInspector,
    #[agent("Planner")] planner: persist_core::sea_orm::DatabaseConnection,
) -> Result<(), PersistError> {
    use persist_core::sea_orm::DbBackend;
    persist_tests::traffic_for_a_proof(&gateway, &["Chat", PLANNER]).await?;
    let bytes = match planner.get_database_backend() {
        DbBackend::Postgres => {
            "ALTER TABLE checkpoints ALTER COLUMN checkpoint TYPE BYTEA \
             USING convert_to(checkpoint::text, 'UTF8')"
        }
        DbBackend::MySql => "ALTER TABLE checkpoints MODIFY checkpoint LONGBLOB NOT NULL",
        other => panic!("a server backend, not {other:?}"),
    };
    planner.execute_unprepared(bytes).await?;
    inspector.verify_integrity().await?;
    let proof = inspector.prove_layout().await?;
    assert!(proof.is_complete(), "{proof}");
    persist_tests::assert_faults_seen_for_their_reasons(&inspector, &proof).await?;
    Ok(())
}
