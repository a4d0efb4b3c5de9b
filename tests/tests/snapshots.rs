//! Data snapshots (`assert_data_snapshot!`): what landed in every database, as one text that
//! is the same on every backend. Each test runs on SQLite files, in-memory SQLite and the
//! servers the environment names, and every backend compares with the one snapshot file under
//! `tests/snapshots/`.

use persist_core::assert_data_snapshot;
use persist_core::prelude::*;
use persist_core::system::Source;
use persist_tests::relay;

/// The reference mesh: two users, two agents; the agents' copies of each session and turn
/// show as the same `[id-N]` as the gateway's.
#[persistence_test(
    agents = ["AgentA", "AgentB"],
    backends = ["sqlite", "sqlite-memory", "postgres", "mysql"]
)]
async fn what_lands_in_every_database(
    gateway: GatewayPersistenceAdapter,
    inspector: CrossDatabaseInspector,
) -> Result<(), PersistError> {
    let alice = gateway.create_session("alice", "AgentA").await?;
    gateway.send_message(&alice.id, "hello", "alice").await?;
    gateway
        .send_message(&alice.id, "and again", "alice")
        .await?;
    let bob = gateway.create_session("bob", "AgentB").await?;
    gateway.send_message(&bob.id, "hi", "bob").await?;
    assert_data_snapshot!(inspector.snapshot().await?);
    Ok(())
}

/// The relay: native date-times, composite keys, JSON columns (turns as JSON bubbles, the
/// gateway session inside JSON state, the task id inside JSON metadata).
#[persistence_test(
    system = relay::Relay,
    agents = ["Planner", "Writer"],
    backends = ["sqlite", "sqlite-memory", "postgres", "mysql"]
)]
async fn what_lands_in_real_shaped_stores(
    gateway: GatewayPersistenceAdapter,
    inspector: CrossDatabaseInspector,
) -> Result<(), PersistError> {
    let alice = gateway.create_session("alice", "Planner").await?;
    gateway
        .send_message(&alice.id, "plan a trip", "alice")
        .await?;
    let bob = gateway.create_session("bob", "Writer").await?;
    gateway.send_message(&bob.id, "write a poem", "bob").await?;
    assert_data_snapshot!(inspector.snapshot().await?);
    Ok(())
}

/// Only the tables asked for; a second snapshot in one test takes a name of its own.
#[persistence_test(agents = ["AgentA"], backends = ["sqlite", "postgres", "mysql"])]
async fn chosen_tables_and_named_snapshots(
    gateway: GatewayPersistenceAdapter,
    inspector: CrossDatabaseInspector,
) -> Result<(), PersistError> {
    let session = gateway.create_session("alice", "AgentA").await?;
    assert_data_snapshot!(
        "chosen_tables_before",
        inspector
            .snapshot()
            .tables(["sessions", "agent_sessions"])
            .await?
    );
    gateway.send_message(&session.id, "hello", "alice").await?;
    assert_data_snapshot!(
        "chosen_tables_after",
        inspector
            .snapshot()
            .tables(["sessions", "agent_sessions"])
            .await?
    );
    Ok(())
}

/// Two sessions alike but for their messages, created in either order, with other ids: the
/// same text, the same numbering.
#[persistence_test(agents = ["AgentA"])]
async fn the_text_does_not_depend_on_ids_or_order(
    gateway: GatewayPersistenceAdapter,
    inspector: CrossDatabaseInspector,
    manager: MultiDatabaseManager,
) -> Result<(), PersistError> {
    let mut texts = Vec::new();
    for order in [["first", "second"], ["second", "first"]] {
        for text in order {
            let session = gateway.create_session("alice", "AgentA").await?;
            gateway.send_message(&session.id, text, "alice").await?;
        }
        texts.push(inspector.snapshot().await?.text().to_owned());
        manager.clear_all_data().await?;
    }
    assert_eq!(texts[0], texts[1]);
    // Each session's id is one placeholder, the same in the gateway's rows and the agent's.
    let (gateway_part, agent_part) = texts[0].split_once("agent AgentA").unwrap();
    let session_ids = |part: &str| {
        part.lines()
            .filter_map(|line| line.trim_start().strip_prefix("session_id: "))
            .map(str::to_owned)
            .collect::<std::collections::BTreeSet<_>>()
    };
    assert_eq!(session_ids(gateway_part).len(), 2, "{}", texts[0]);
    assert_eq!(session_ids(gateway_part), session_ids(agent_part));
    Ok(())
}

/// Bad names are typed errors, not silently empty snapshots.
#[persistence_test(agents = ["AgentA"])]
async fn unknown_tables_and_columns_are_refused(
    inspector: CrossDatabaseInspector,
) -> Result<(), PersistError> {
    for (snapshot, named) in [
        (
            inspector.snapshot().tables(["sesions"]).take().await,
            "sesions",
        ),
        // One table that exists does not excuse one that does not.
        (
            inspector
                .snapshot()
                .tables(["sessions", "sesions"])
                .take()
                .await,
            "sesions",
        ),
        (
            inspector
                .snapshot()
                .redact_id("sessions", "uid")
                .take()
                .await,
            "uid",
        ),
        (
            inspector
                .snapshot()
                .redact_time("*", Source::json("stat", "/at"))
                .take()
                .await,
            "stat",
        ),
        (inspector.snapshot().keep("nope", "id").take().await, "nope"),
    ] {
        match snapshot {
            Err(PersistError::InvalidInput { reason, .. }) => {
                assert!(reason.contains(named), "{reason}")
            }
            other => panic!("expected an InvalidInput naming {named}, got {other:?}"),
        }
    }
    let unknown = inspector
        .snapshot()
        .databases([DatabaseRole::agent("AgentZ")])
        .take()
        .await;
    assert!(unknown.is_err());
    Ok(())
}

#[persistence_test(agents = ["AgentA"])]
async fn a_snapshot_knows_the_test_it_was_taken_in(inspector: CrossDatabaseInspector) {
    // The name its insta snapshot file takes.
    let snapshot = inspector.snapshot().await.unwrap();
    assert_eq!(
        snapshot.test_name(),
        Some("snapshots::a_snapshot_knows_the_test_it_was_taken_in")
    );
    assert_eq!(
        snapshot.to_string(),
        snapshot.text(),
        "it prints as its text"
    );
    let task = tokio::spawn(async move { inspector.snapshot().await.unwrap().test_name() });
    assert_eq!(task.await.unwrap(), None, "outside the test's body");
}

#[persistence_test(agents = ["AgentA"])]
async fn a_kept_column_is_shown_as_stored_in_its_tables_only(
    gateway: GatewayPersistenceAdapter,
    inspector: CrossDatabaseInspector,
) -> Result<(), PersistError> {
    let session = gateway.create_session("alice", "AgentA").await?;
    gateway.send_message(&session.id, "hello", "alice").await?;
    let raw = format!("{:?}", session.id);
    // The gateway's session ids as stored; everywhere else the same id is still redacted.
    let text = inspector
        .snapshot()
        .keep("sessions", "id")
        .take()
        .await?
        .text()
        .to_owned();
    assert_eq!(text.matches(&raw).count(), 1, "{text}");
    assert!(text.contains(&format!("id: {raw}")), "{text}");
    let at = text.find(&raw).unwrap();
    let database = text[..at].lines().rev().find(|l| !l.starts_with(' '));
    let table = text[..at]
        .lines()
        .rev()
        .find(|l| l.starts_with("  ") && !l.starts_with("   "));
    assert_eq!(database, Some("gateway"), "{text}");
    assert!(
        table.is_some_and(|t| t.starts_with("  sessions:")),
        "{text}"
    );
    // Every table's `session_id` (the gateway's messages and the agent's), and nothing else.
    let text = inspector
        .snapshot()
        .keep("*", "session_id")
        .take()
        .await?
        .text()
        .to_owned();
    let kept = text.matches(&format!("session_id: {raw}")).count();
    assert!(kept >= 2, "{text}");
    assert_eq!(text.matches(&raw).count(), kept, "{text}");
    Ok(())
}

#[persistence_test(agents = ["AgentA"])]
async fn a_decimal_is_shown_as_its_digits(
    #[agent("AgentA")] db: persist_core::sea_orm::DatabaseConnection,
    inspector: CrossDatabaseInspector,
) -> Result<(), PersistError> {
    use persist_core::sea_orm::ConnectionTrait as _;
    db.execute_unprepared("CREATE TABLE prices (id INTEGER PRIMARY KEY, price DECIMAL(10,2))")
        .await?;
    db.execute_unprepared("INSERT INTO prices (id, price) VALUES (7, 12.25)")
        .await?;
    let text = inspector
        .snapshot()
        .databases([persist_core::db::DatabaseRole::agent("AgentA")])
        .take()
        .await?
        .text()
        .to_owned();
    // On every backend, SQLite (a REAL underneath) included.
    assert!(text.contains("- id: 7\n      price: \"12.25\""), "{text}");
    Ok(())
}

/// A column named as an id or a time is redacted in its own table only; a value inside a
/// JSON column, at its pointer only.
#[persistence_test(agents = ["AgentA"])]
async fn named_ids_and_times_are_redacted_in_their_own_columns_only(
    #[agent("AgentA")] db: persist_core::sea_orm::DatabaseConnection,
    inspector: CrossDatabaseInspector,
) -> Result<(), PersistError> {
    use persist_core::sea_orm::ConnectionTrait as _;
    db.execute_unprepared(
        "CREATE TABLE tickets (code VARCHAR(20), due VARCHAR(20), note VARCHAR(20), stat TEXT)",
    )
    .await?;
    db.execute_unprepared("CREATE TABLE copies (code VARCHAR(20))")
        .await?;
    db.execute_unprepared(
        "INSERT INTO tickets VALUES ('tk-1', '2026-12-07', 'tk-9', '{\"at\": \"2026-12-07\", \"n\": 1}')",
    )
    .await?;
    db.execute_unprepared("INSERT INTO copies VALUES ('tk-2')")
        .await?;
    let snapshot = inspector
        .snapshot()
        .databases([DatabaseRole::agent("AgentA")])
        .tables(["tickets", "copies"])
        .redact_id("tickets", "code")
        .redact_time("tickets", "due")
        .redact_time("tickets", Source::json("stat", "/at"))
        .take()
        .await?;
    assert_eq!(
        snapshot.text(),
        "agent AgentA\n  copies: 1 row\n    - code: \"tk-2\"\n  tickets: 1 row\n    - code: [id-1]\n      due: [time]\n      note: \"tk-9\"\n      stat: {\"at\":[time],\"n\":1}\n"
    );
    Ok(())
}
