//! What `#[persistence_test]` does at run time: cleanup on every path, keep, failure messages,
//! and parallel runs. Tests marked "driven" are run by another test that checks their effects.
//!
//! The driven tests that watch files come and go pin `backend = "sqlite"`: files are what they
//! observe. `server_backends.rs` proves the same cleanup on database servers.

use std::process::Command;

use persist_core::prelude::*;
use persist_tests::{expect_failure, record_files, recorded_files};

// Agents of their own: no other test of this process has their plan, so none takes their
// databases between the two below.
#[persistence_test(agents = ["AgentA", "Tidy"], backend = "sqlite")]
#[ignore = "driven by another test in this file"]
async fn driven_passes(ctx: TestContext) {
    for file in record_files(&ctx) {
        assert!(file.exists());
    }
}

#[persistence_test(agents = ["AgentA", "Tidy"], backend = "sqlite")]
#[ignore = "driven by another test in this file"]
async fn driven_passes_and_writes(ctx: TestContext, gateway: GatewayPersistenceAdapter) {
    record_files(&ctx);
    gateway.create_session("alice", "Tidy").await.unwrap();
}

#[test]
fn cleans_up_after_success() {
    driven_passes();
    let files = recorded_files("driven_passes");
    assert_eq!(files.len(), 3);
    if persist_core::env::process_per_test() {
        assert!(files.iter().all(|f| !f.exists()), "left behind: {files:?}");
    } else {
        // Nothing changed them: they wait, open, for this process's next test of the plan,
        // which takes them; it writes, so they are removed after it.
        assert!(files.iter().all(|f| f.exists()), "not kept warm: {files:?}");
        driven_passes_and_writes();
        assert_eq!(recorded_files("driven_passes_and_writes"), files);
        assert!(files.iter().all(|f| !f.exists()), "left behind: {files:?}");
    }
    assert!(!files[0].parent().unwrap().exists());
}

#[persistence_test(agents = ["AgentA"], backend = "sqlite")]
#[ignore = "driven by another test in this file"]
async fn driven_returns_err(
    ctx: TestContext,
    gateway: GatewayPersistenceAdapter,
) -> Result<(), PersistError> {
    record_files(&ctx);
    gateway.create_session("alice", "NoSuchAgent").await?;
    Ok(())
}

#[test]
fn an_err_fails_the_test_with_the_error_and_cleans_up() {
    let message = expect_failure(driven_returns_err);
    assert!(message.contains("returned an error"), "{message}");
    assert!(
        message.contains("unknown agent `NoSuchAgent` (known agents: AgentA)"),
        "{message}"
    );
    assert!(
        recorded_files("driven_returns_err")
            .iter()
            .all(|f| !f.exists())
    );
}

#[persistence_test(agents = ["AgentA"])]
#[ignore = "driven by another test in this file"]
async fn driven_returns_a_verification_error(
    gateway: GatewayPersistenceAdapter,
    inspector: CrossDatabaseInspector,
) -> Result<(), PersistError> {
    let session = gateway.create_session("alice", "AgentA").await?;
    inspector
        .verify_session_linking(&session.id, "AgentA")
        .await?;
    Ok(())
}

#[test]
fn a_returned_verification_error_prints_its_reason_and_rows() {
    let message = expect_failure(driven_returns_a_verification_error);
    assert!(
        message.contains("agent AgentA's database has no session with this id"),
        "{message}"
    );
    assert!(
        message.contains("gateway sessions(id="),
        "the rows are printed: {message}"
    );
    assert!(
        !message.contains("SessionLink {"),
        "not a struct dump: {message}"
    );
}

#[persistence_test(agents = ["AgentA"], backend = "sqlite")]
#[ignore = "driven by another test in this file"]
async fn driven_panics(ctx: TestContext) {
    record_files(&ctx);
    panic!("the body panicked on purpose");
}

#[test]
fn a_panic_is_re_raised_after_cleanup() {
    let message = expect_failure(driven_panics);
    assert_eq!(message, "the body panicked on purpose");
    assert!(recorded_files("driven_panics").iter().all(|f| !f.exists()));
}

#[persistence_test(agents = ["AgentA"])]
#[should_panic(expected = "expected failure")]
async fn should_panic_works(gateway: GatewayPersistenceAdapter) {
    gateway.create_session("alice", "AgentA").await.unwrap();
    panic!("expected failure");
}

#[persistence_test(agents = ["AgentA"], timeout = "200ms", backend = "sqlite")]
#[ignore = "driven by another test in this file"]
async fn driven_times_out(ctx: TestContext) {
    record_files(&ctx);
    tokio::time::sleep(std::time::Duration::from_secs(30)).await;
}

#[test]
fn a_timeout_fails_with_a_clear_message_and_cleans_up() {
    // The body sleeps for 30 s: this message can only come from the 200 ms limit.
    let message = expect_failure(driven_times_out);
    assert!(message.contains("timed out after 200ms"), "{message}");
    assert!(message.contains("cleaned up"), "{message}");
    assert!(
        recorded_files("driven_times_out")
            .iter()
            .all(|f| !f.exists())
    );
}

#[persistence_test(agents = ["AgentA"], keep = "always", backend = "sqlite")]
#[ignore = "driven by another test in this file"]
async fn driven_keeps(ctx: TestContext) {
    record_files(&ctx);
}

#[test]
fn keep_always_leaves_the_databases() {
    driven_keeps();
    let files = recorded_files("driven_keeps");
    assert!(
        files.iter().all(|f| f.exists()),
        "kept files are missing: {files:?}"
    );
    std::fs::remove_dir_all(files[0].parent().unwrap()).unwrap();
}

#[persistence_test(agents = ["AgentA"], keep = "on_failure", backend = "sqlite")]
#[ignore = "driven by another test in this file"]
async fn driven_fails_and_keeps(ctx: TestContext) {
    record_files(&ctx);
    panic!("failing with keep = on_failure");
}

#[test]
fn keep_on_failure_keeps_only_failed_tests() {
    expect_failure(driven_fails_and_keeps);
    let files = recorded_files("driven_fails_and_keeps");
    assert!(files.iter().all(|f| f.exists()));
    std::fs::remove_dir_all(files[0].parent().unwrap()).unwrap();
}

#[persistence_test(agents = ["AgentA"], backend = "sqlite")]
#[ignore = "driven by another test in this file"]
async fn driven_for_env(gateway: GatewayPersistenceAdapter) {
    gateway.create_session("alice", "AgentA").await.unwrap();
}

/// Runs `driven_for_env` in a child process with the given environment, in a fresh directory.
fn run_child(env: &[(&str, &str)]) -> (std::process::Output, Vec<std::path::PathBuf>) {
    let dir = tempfile_dir();
    let mut command = Command::new(std::env::current_exe().unwrap());
    command
        .args(["--exact", "driven_for_env", "--ignored", "--nocapture"])
        .env("PERSIST_TEST_DIR", &dir)
        .env_remove("PERSIST_KEEP");
    for (key, value) in env {
        command.env(key, value);
    }
    let output = command.output().unwrap();
    // Schema templates are a cache shared by every run, not a test's leftovers.
    let left: Vec<_> = walk(&dir)
        .into_iter()
        .filter(|f| !f.to_string_lossy().contains("persist-templates-"))
        .collect();
    std::fs::remove_dir_all(&dir).unwrap();
    (output, left)
}

fn tempfile_dir() -> std::path::PathBuf {
    let dir = std::env::temp_dir().join(format!(
        "persist-env-{}-{}",
        std::process::id(),
        uuid_like()
    ));
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

fn uuid_like() -> u128 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_nanos()
}

fn walk(dir: &std::path::Path) -> Vec<std::path::PathBuf> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            out.extend(walk(&path));
        } else {
            out.push(path);
        }
    }
    out
}

#[test]
fn persist_keep_overrides_the_attribute_and_prints_where() {
    let (output, left) = run_child(&[("PERSIST_KEEP", "always")]);
    assert!(output.status.success(), "{output:?}");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("kept the databases of"), "{stderr}");
    let gateway = left
        .iter()
        .find(|f| f.ends_with("gateway.sqlite3"))
        .expect("gateway kept");
    assert!(stderr.contains(&gateway.display().to_string()), "{stderr}");
    assert!(left.iter().any(|f| f.ends_with("agent_agenta.sqlite3")));

    let (output, left) = run_child(&[]);
    assert!(output.status.success(), "{output:?}");
    assert!(
        left.is_empty(),
        "without PERSIST_KEEP nothing stays: {left:?}"
    );

    let (output, _) = run_child(&[("PERSIST_KEEP", "sometimes")]);
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("PERSIST_KEEP") && stderr.contains("sometimes"),
        "{stderr}"
    );
}

#[persistence_test(agents = ["Agent A", "agent-a"])]
#[ignore = "driven by another test in this file"]
async fn driven_bad_setup(manager: MultiDatabaseManager) {
    let _ = manager;
}

#[test]
fn a_setup_failure_says_what_failed_and_why() {
    let message = expect_failure(driven_bad_setup);
    assert!(
        message.contains("could not set up the test databases"),
        "{message}"
    );
    assert!(
        message.contains("both map to the database name `agent_a`"),
        "{message}"
    );
}

#[persistence_test(agents = ["AgentA"], backend = "sqlite")]
#[ignore = "driven by another test in this file"]
async fn driven_teardown_fails(ctx: TestContext) {
    let files = record_files(&ctx);
    std::fs::remove_dir_all(files[0].parent().unwrap()).unwrap();
}

#[persistence_test(agents = ["AgentA"], backend = "sqlite")]
#[ignore = "driven by another test in this file"]
async fn driven_fails_and_teardown_fails(ctx: TestContext) {
    let files = record_files(&ctx);
    std::fs::remove_dir_all(files[0].parent().unwrap()).unwrap();
    panic!("the test's own failure");
}

#[test]
fn a_teardown_failure_is_reported_without_hiding_the_tests_own() {
    let message = expect_failure(driven_teardown_fails);
    assert!(
        message.contains("passed, but cleaning up its databases failed"),
        "{message}"
    );
    let message = expect_failure(driven_fails_and_teardown_fails);
    assert_eq!(message, "the test's own failure");
}

#[persistence_test(agents = ["AgentA"])]
#[ignore = "driven by another test in this file"]
async fn driven_parallel(ctx: TestContext, gateway: GatewayPersistenceAdapter) {
    // Each run has its own gateway: it starts empty whatever the others do.
    assert!(gateway.list_sessions("alice").await.unwrap().is_empty());
    let session = gateway.create_session("alice", "AgentA").await.unwrap();
    gateway
        .send_message(&session.id, ctx.test_name(), "alice")
        .await
        .unwrap();
    assert_eq!(gateway.list_sessions("alice").await.unwrap().len(), 1);
}

#[test]
fn many_runs_in_parallel_do_not_collide() {
    let threads: Vec<_> = (0..8)
        .map(|_| std::thread::spawn(driven_parallel))
        .collect();
    for thread in threads {
        thread.join().expect("a parallel run failed");
    }
}

#[persistence_test(agents = ["AgentA", "AgentB"], flavor = "multi_thread", worker_threads = 2)]
async fn every_injectable_type_by_value_and_by_reference(
    gateway: GatewayPersistenceAdapter,
    gateway_ref: &GatewayPersistenceAdapter,
    inspector: CrossDatabaseInspector,
    inspector_ref: &CrossDatabaseInspector,
    manager: MultiDatabaseManager,
    manager_ref: &MultiDatabaseManager,
    llm: ScriptedLlm,
    llm_ref: &ScriptedLlm,
    component: GatewayComponent,
    ctx: &TestContext,
    #[agent("AgentA")] a: AgentHandle,
    #[agent("AgentB")] b: &AgentHandle,
    gateway_db: DatabaseConnection,
    #[agent("AgentA")] a_db: &DatabaseConnection,
) -> Result<(), PersistError> {
    assert_eq!((a.name(), b.name()), ("AgentA", "AgentB"));
    llm.queue_reply("AgentA", "scripted through one handle");
    let session = gateway.create_session("alice", "AgentA").await?;
    let turn = gateway_ref.send_message(&session.id, "hi", "alice").await?;
    assert_eq!(turn.content, "scripted through one handle");
    assert_eq!(llm_ref.requests().len(), 1, "every handle shares one model");
    assert_eq!(component.list_sessions("alice").await?.len(), 1);
    assert_eq!(a.messages(&session.id).await?.len(), 2);
    for db in [&gateway_db, a_db] {
        assert!(
            sea_orm::ConnectionTrait::execute_unprepared(db, "SELECT 1")
                .await
                .is_ok()
        );
    }
    assert_eq!(
        persist_core::db::catalog::list_tables(a_db).await.unwrap(),
        ["agent_messages", "agent_sessions"]
    );
    assert!(manager.is_active() && manager_ref.is_active());
    assert_eq!(inspector.manager().agent_names().count(), 2);
    assert_eq!(
        inspector_ref.manager().gateway_location(),
        ctx.manager().gateway_location()
    );
    Ok(())
}

/// Doc comments and `#[cfg]` stay on the test.
#[cfg(not(any()))]
#[persistence_test]
async fn gateway_only_test(manager: MultiDatabaseManager) {
    assert_eq!(manager.agent_names().count(), 0);
    assert_eq!(
        persist_core::db::catalog::list_tables(manager.gateway_connection())
            .await
            .unwrap()
            .len(),
        3
    );
}
