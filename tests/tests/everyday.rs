//! The attribute for everyday use: fixtures, async seeds, cases, the backend matrix, errors
//! that name the test's own place, precedence between the attribute, `setup` and the
//! environment, and logging.

use persist_core::assertions::*;
use persist_core::db::catalog::list_tables;
use persist_core::db::{BackendConfig, ManagerBuilder};
use persist_core::prelude::*;
use persist_tests::{expect_failure, output_text, run_ignored};

// ---- fixtures ---------------------------------------------------------------------------

#[persistence_test(
    agents = ["AgentA"],
    fixtures = ["fixtures/gateway_sessions.sql", agent("AgentA", "fixtures/agent_a_sessions.sql")]
)]
async fn fixtures_load_into_their_own_databases(
    gateway: GatewayPersistenceAdapter,
    inspector: CrossDatabaseInspector,
) -> Result<(), PersistError> {
    // The system sees them (the fixtures ran before it started)…
    let listed = gateway.list_sessions("alice").await?;
    assert_eq!(listed.len(), 2);
    assert_eq!(listed[0].name.as_deref(), Some("From a fixture"));
    // …and every check holds them to the same rules as data the system wrote.
    let link = inspector
        .verify_session_linking("fx-session-1", "AgentA")
        .await?;
    assert_eq!(link.agent.state["turns"], 1);
    assert_gateway_message_count(&inspector, "fx-session-1", 2).await;
    inspector.verify_integrity().await?;
    // A turn on top of fixture data: the agent continues the fixture's history.
    let turn = gateway
        .send_message("fx-session-1", "and now", "alice")
        .await?;
    assert_eq!(turn.content, "Received: and now");
    assert_agent_message_count(&inspector, "AgentA", "fx-session-1", 4).await;
    Ok(())
}

#[persistence_test(fixtures = ["fixtures/broken.sql"])]
#[ignore = "driven by another test in this file"]
async fn driven_broken_fixture(manager: MultiDatabaseManager) {
    let _ = manager;
}

#[test]
fn a_broken_fixture_fails_the_test_naming_the_file_and_database() {
    let message = expect_failure(driven_broken_fixture);
    assert!(
        message.contains("loading fixture `fixtures/broken.sql`")
            && message.contains("gateway database")
            && message.contains("no_such_table"),
        "{message}"
    );
}

// ---- seeds ------------------------------------------------------------------------------

/// An async seed: it drives the system itself, after the databases and the system are up.
async fn two_conversations(ctx: &TestContext) -> Result<(), PersistError> {
    let gateway = ctx.adapter()?;
    for text in ["first", "second"] {
        let session = gateway.create_session("alice", "AgentA").await?;
        gateway.send_message(&session.id, text, "alice").await?;
    }
    Ok(())
}

#[persistence_test(agents = ["AgentA"], seed = two_conversations)]
async fn a_seed_runs_before_the_body(
    gateway: GatewayPersistenceAdapter,
    inspector: CrossDatabaseInspector,
) -> Result<(), PersistError> {
    assert_eq!(gateway.list_sessions("alice").await?.len(), 2);
    assert_eq!(
        inspector.database_stats().await?.agents["AgentA"].messages,
        4
    );
    Ok(())
}

async fn failing_seed(ctx: &TestContext) -> Result<(), PersistError> {
    ctx.adapter()?
        .create_session("alice", "NoSuchAgent")
        .await?;
    Ok(())
}

#[persistence_test(agents = ["AgentA"], seed = "failing_seed")]
#[ignore = "driven by another test in this file"]
async fn driven_failing_seed(manager: MultiDatabaseManager) {
    panic!("the body must not run after a failed seed: {manager:?}");
}

#[test]
fn a_failing_seed_fails_the_test_before_its_body() {
    let message = expect_failure(driven_failing_seed);
    assert!(
        message.contains("its seed failed") && message.contains("NoSuchAgent"),
        "{message}"
    );
}

// ---- cases ------------------------------------------------------------------------------

#[persistence_test(agents = ["AgentA", "AgentB"])]
#[case("AgentA", "hello", "Received: hello")]
#[case("AgentB", "bonjour", "Received: bonjour")]
pub(crate) async fn each_case_is_a_test(
    #[case] agent: &str,
    #[case] text: &str,
    #[case] reply: &str,
    gateway: GatewayPersistenceAdapter,
    inspector: CrossDatabaseInspector,
) -> Result<(), PersistError> {
    let session = gateway.create_session("alice", agent).await?;
    assert_eq!(
        gateway
            .send_message(&session.id, text, "alice")
            .await?
            .content,
        reply
    );
    inspector.verify_session_linking(&session.id, agent).await?;
    Ok(())
}

#[test]
fn cases_are_separate_tests_with_their_own_databases() {
    // Both cases exist as tests of their own, and each passes on its own.
    each_case_is_a_test::case_1();
    each_case_is_a_test::case_2();
}

// ---- the backend matrix -----------------------------------------------------------------

#[persistence_test(agents = ["AgentA"], backends = ["sqlite", "sqlite-memory", "postgres", "mysql"])]
pub(crate) async fn on_every_backend(
    ctx: TestContext,
    gateway: GatewayPersistenceAdapter,
    inspector: CrossDatabaseInspector,
) -> Result<(), PersistError> {
    use persist_core::db::BackendKind;
    let session = gateway.create_session("alice", "AgentA").await?;
    gateway.send_message(&session.id, "hi", "alice").await?;
    inspector.verify_integrity().await?;
    // Each test of the matrix runs on the backend it is named after, whatever the environment.
    let expected = match ctx.test_name().rsplit("::").next() {
        Some("sqlite") => BackendKind::SqliteFile,
        Some("sqlite_memory") => BackendKind::SqliteMemory,
        Some("postgres") => BackendKind::Postgres,
        Some("mysql") => BackendKind::MySql,
        other => panic!("unexpected matrix test {other:?}"),
    };
    assert_eq!(ctx.manager().backend_kind(), expected);
    Ok(())
}

#[test]
fn a_server_that_is_not_configured_is_skipped_with_the_reason() {
    let output = run_ignored(
        "driven_matrix::postgres",
        &[
            ("PERSIST_TEST_DATABASE_URL", ""),
            ("PERSIST_POSTGRES_URL", ""),
        ],
    );
    let text = output_text(&output);
    assert!(output.status.success(), "{text}");
    assert!(
        text.contains("skipped: no PostgreSQL server is configured: set PERSIST_POSTGRES_URL"),
        "{text}"
    );
}

#[persistence_test(agents = ["AgentA"], backends = ["sqlite", "postgres"])]
#[ignore = "driven by another test in this file"]
async fn driven_matrix(manager: MultiDatabaseManager) {
    panic!("a skipped backend must not run the body: {manager:?}");
}

// ---- errors name the test's own place ----------------------------------------------------

const FAILING_LINE: u32 = line!() + 1;
#[persistence_test]
#[ignore = "driven by another test in this file"]
async fn driven_returns_an_error(manager: MultiDatabaseManager) -> Result<(), PersistError> {
    use persist_core::sea_orm::ConnectionTrait as _;
    manager
        .gateway_connection()
        .execute_unprepared("SELECT * FROM no_such_table")
        .await?;
    Ok(())
}
// The `?` statement starts four lines below the attribute.
const QUESTION_MARK_LINE: u32 = FAILING_LINE + 4;

#[test]
fn an_error_is_reported_at_the_test_and_where_it_arose() {
    let output = run_ignored("driven_returns_an_error", &[]);
    let text = output_text(&output);
    assert!(!output.status.success(), "{text}");
    let file = "tests/tests/everyday.rs";
    assert!(
        text.contains(&format!("panicked at {file}:{FAILING_LINE}:")),
        "the failure is reported at the test's attribute: {text}"
    );
    assert!(
        text.contains("persistence_test `everyday::driven_returns_an_error` returned an error")
            && text.contains(&format!(
                "a database operation failed at {file}:{QUESTION_MARK_LINE}:"
            ))
            && text.contains("no_such_table"),
        "the error says where it arose: {text}"
    );
}

#[persistence_test]
async fn framework_helpers_and_sea_orm_errors_meet_question_marks(
    manager: MultiDatabaseManager,
) -> Result<(), PersistError> {
    use persist_core::sea_orm::{ConnectionTrait as _, Statement};
    let db = manager.gateway_connection();
    let tables = list_tables(db).await?;
    assert!(tables.contains(&"sessions".to_owned()));
    let row = db
        .query_one_raw(Statement::from_string(
            db.get_database_backend(),
            "SELECT COUNT(*) AS n FROM sessions",
        ))
        .await?
        .expect("one row");
    assert_eq!(row.try_get::<i64>("", "n")?, 0);
    Ok(())
}

// ---- precedence of the attribute, setup and the environment ------------------------------

fn memory_backend(builder: ManagerBuilder) -> ManagerBuilder {
    builder.backend(BackendConfig::SqliteMemory)
}

#[persistence_test(backend = "sqlite", setup = "memory_backend")]
#[ignore = "driven by another test in this file"]
async fn driven_backend_twice(manager: MultiDatabaseManager) {
    let _ = manager;
}

#[test]
fn the_attribute_and_setup_cannot_both_choose_the_backend() {
    let message = expect_failure(driven_backend_twice);
    assert!(
        message.contains("backend = \"sqlite\"")
            && message.contains("in-memory SQLite")
            && message.contains("choose the backend in one place"),
        "{message}"
    );
}

#[persistence_test(setup = memory_backend)]
#[ignore = "driven by another test in this file"]
async fn driven_setup_over_the_environment(manager: MultiDatabaseManager) {
    assert_eq!(
        manager.backend_kind(),
        persist_core::db::BackendKind::SqliteMemory
    );
}

#[test]
fn setup_wins_over_the_environment_and_says_so() {
    let output = run_ignored(
        "driven_setup_over_the_environment",
        &[("PERSIST_TEST_DATABASE_URL", "sqlite")],
    );
    let text = output_text(&output);
    assert!(output.status.success(), "{text}");
    assert!(
        text.contains("its setup function chooses in-memory SQLite, so PERSIST_TEST_DATABASE_URL (sqlite) is not used for it"),
        "{text}"
    );
}

// ---- logging ------------------------------------------------------------------------------

#[persistence_test(agents = ["AgentA"])]
#[ignore = "driven by another test in this file"]
async fn driven_logged(gateway: GatewayPersistenceAdapter) {
    let session = gateway.create_session("alice", "AgentA").await.unwrap();
    gateway
        .send_message(&session.id, "logged", "alice")
        .await
        .unwrap();
}

#[test]
fn persist_log_shows_framework_events_and_sql() {
    let quiet = output_text(&run_ignored("driven_logged", &[("PERSIST_LOG", "")]));
    assert!(!quiet.contains("provisioned"), "{quiet}");
    let output = run_ignored("driven_logged", &[("PERSIST_LOG", "1")]);
    let text = output_text(&output);
    assert!(output.status.success(), "{text}");
    assert!(
        text.contains("provisioned") && text.contains("cleaning up"),
        "{text}"
    );
    assert!(
        text.contains("INSERT INTO") && text.contains("chat_messages"),
        "{text}"
    );
}

// ---- async injection ------------------------------------------------------------------------

/// Built with async work: the gateway's sessions when the body starts (after the seed).
struct SessionsAtStart(u64);

impl persist_core::Inject for SessionsAtStart {
    type Agent = persist_core::NoAgent;

    fn inject_async<'a>(
        ctx: &'a TestContext,
        _agent: Option<&'a str>,
    ) -> futures::future::LocalBoxFuture<'a, Result<Self, PersistError>> {
        Box::pin(async move {
            let stats = ctx.inspector().database_stats().await?;
            Ok(SessionsAtStart(stats.gateway.sessions))
        })
    }
}

#[persistence_test(agents = ["AgentA"], seed = two_conversations)]
async fn an_async_injectable_sees_the_seeded_databases(at_start: SessionsAtStart) {
    assert_eq!(at_start.0, 2);
}

#[test]
fn an_async_only_injectable_says_so_when_built_synchronously() {
    use persist_core::Inject as _;
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(async {
        let manager = persist_core::mesh::setup(["AgentA"]).await.unwrap();
        let (ctx, running) = TestContext::new(
            "sync",
            "none",
            manager.clone(),
            persist_core::system::Running::new(),
        );
        let error = SessionsAtStart::inject(&ctx, None)
            .err()
            .unwrap()
            .to_string();
        assert!(error.contains("inject_async"), "{error}");
        running.stop().await;
        manager.cleanup().await.unwrap();
    });
}
