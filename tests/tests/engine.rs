//! The provisioning engine's promises that need no server: failing fast on an unreachable
//! server, timeouts that hold when a body blocks its thread, `#[should_panic]` with
//! `keep = "on_failure"`, and the sweep of test directories whose owner is gone.

use persist_core::db::backend::{SqliteFileBackend, sweep_test_directories};
use persist_core::db::{Backend, BackendConfig};
use persist_core::prelude::*;
use persist_tests::{expect_failure, record_files, recorded_files};

#[tokio::test]
async fn an_unreachable_server_fails_with_its_cause_and_once_per_process() {
    // Nothing listens on port 1.
    let url = "postgres://postgres:secret@127.0.0.1:1/postgres";
    let setup = || {
        MultiDatabaseManager::builder()
            .backend(BackendConfig::Server(url.into()))
            .setup()
    };
    let first = setup().await.unwrap_err().to_string();
    assert!(first.contains("127.0.0.1:1"), "{first}");
    assert!(!first.contains("secret"), "the password leaked: {first}");
    assert!(first.to_lowercase().contains("refused"), "{first}");
    let again = setup().await.unwrap_err().to_string();
    assert!(again.contains("failed earlier"), "{again}");
}

#[persistence_test(timeout = "300ms", backend = "sqlite")]
#[ignore = "driven by another test in this file"]
async fn driven_blocks_its_thread(ctx: TestContext) {
    record_files(&ctx);
    // Blocks instead of awaiting: no timer of the runtime can fire.
    std::thread::sleep(std::time::Duration::from_secs(30));
}

#[test]
fn a_timeout_holds_when_the_body_blocks_its_thread() {
    let message = expect_failure(driven_blocks_its_thread);
    assert!(message.contains("timed out after 300ms"), "{message}");
    let files = recorded_files("driven_blocks_its_thread");
    assert!(!files.is_empty());
    assert!(files.iter().all(|f| !f.exists()), "{files:?} were left");
}

#[persistence_test(keep = "on_failure", backend = "sqlite")]
#[should_panic(expected = "expected boom")]
#[ignore = "driven by another test in this file"]
async fn driven_should_panic(ctx: TestContext) {
    record_files(&ctx);
    panic!("expected boom");
}

#[test]
fn an_expected_panic_is_a_pass_and_keeps_nothing() {
    let message = expect_failure(driven_should_panic);
    assert!(message.contains("expected boom"), "{message}");
    let files = recorded_files("driven_should_panic");
    assert!(files.iter().all(|f| !f.exists()), "{files:?} were kept");
}

#[tokio::test]
async fn only_directories_whose_owner_is_gone_are_swept() {
    let parent = tempfile::tempdir().unwrap();
    // A live owner: its lock is held for as long as the backend lives.
    let live = SqliteFileBackend::new_in(parent.path(), "live").unwrap();
    // A dead owner: its lock file is there, and nobody holds it.
    let dead = parent.path().join("persist-test-dead-abc123");
    std::fs::create_dir(&dead).unwrap();
    std::fs::write(dead.join(".persist-owner"), b"").unwrap();
    std::fs::write(dead.join("gateway.sqlite3"), b"").unwrap();
    // Kept on purpose.
    let kept = SqliteFileBackend::new_in(parent.path(), "kept").unwrap();
    let kept_dir = kept.directory().to_owned();
    kept.release(true).await.unwrap();

    let swept = sweep_test_directories(parent.path());
    assert_eq!(swept, std::slice::from_ref(&dead));
    assert!(!dead.exists());
    assert!(
        live.directory().exists(),
        "a live owner's directory was swept"
    );
    assert!(kept_dir.exists(), "a kept directory was swept");
    live.release(false).await.unwrap();
    assert!(!live.directory().exists());
}
