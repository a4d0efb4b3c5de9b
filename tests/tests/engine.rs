//! The provisioning engine's promises that need no server: failing fast on an unreachable
//! server, timeouts that hold when a body blocks its thread, `#[should_panic]` with
//! `keep = "on_failure"`, and the sweep of test directories whose owner is gone.

use persist_core::db::BackendConfig;
use persist_core::db::sweep_test_directories;
use persist_core::prelude::*;
use persist_tests::{expect_failure, record_files, recorded_files, spawn_test, wait_for};

#[tokio::test]
async fn an_unreachable_server_fails_with_its_cause_and_once_per_process() {
    // Nothing listens on port 1.
    let url = "postgres://postgres:secret@127.0.0.1:1/postgres";
    let setup = || {
        persist_core::mesh::manager()
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

#[persistence_test(timeout = "300ms", backend = "sqlite")]
#[ignore = "driven by another test in this file"]
async fn driven_blocks_just_past_its_limit(ctx: TestContext) {
    record_files(&ctx);
    // Blocks a little past the limit, then finishes as if nothing happened.
    std::thread::sleep(std::time::Duration::from_millis(350));
}

#[test]
fn a_body_that_overruns_its_limit_by_a_little_fails_as_timed_out() {
    let message = expect_failure(driven_blocks_just_past_its_limit);
    assert!(message.contains("timed out after 300ms"), "{message}");
    let files = recorded_files("driven_blocks_just_past_its_limit");
    assert!(files.iter().all(|f| !f.exists()), "{files:?} were left");
}

#[persistence_test(timeout = "2s", backend = "sqlite")]
#[ignore = "driven by another test in this file"]
async fn driven_blocks_within_its_limit(_ctx: TestContext) {
    std::thread::sleep(std::time::Duration::from_millis(100));
}

#[test]
fn a_body_that_blocks_within_its_limit_passes() {
    driven_blocks_within_its_limit();
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

fn spawn_child(test: &str, env: &[(&str, &std::path::Path)]) -> std::process::Child {
    spawn_test(test, env, false).expect("a plain child always starts")
}

#[persistence_test(agents = ["AgentA"], backend = "sqlite")]
#[ignore = "run in another pid namespace by another test in this file"]
async fn driven_lives_in_another_namespace(ctx: TestContext) {
    let dir = ctx.manager().gateway_location().path.clone().unwrap();
    let marker = std::env::var_os("PERSIST_MARKER").unwrap();
    let release = std::env::var_os("PERSIST_RELEASE").unwrap();
    persist_tests::write_marker(
        marker.as_ref(),
        dir.parent().unwrap().to_string_lossy().as_bytes(),
    );
    while !std::path::Path::new(&release).exists() {
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
}

#[test]
fn a_live_run_in_another_pid_namespace_is_never_swept() {
    let parent = tempfile::tempdir().unwrap();
    let marker = parent.path().join("marker");
    let release = parent.path().join("release");
    let Some(mut child) = spawn_test(
        "driven_lives_in_another_namespace",
        &[
            ("PERSIST_TEST_DIR", parent.path()),
            ("PERSIST_MARKER", &marker),
            ("PERSIST_RELEASE", &release),
        ],
        true,
    ) else {
        return;
    };
    wait_for(&marker);
    let dir = std::path::PathBuf::from(std::fs::read_to_string(&marker).unwrap());
    assert!(dir.exists());
    // Its owner's pid means nothing here (it is 1 or 2 in its namespace): the lock decides.
    let swept = sweep_test_directories(parent.path());
    assert!(swept.is_empty(), "swept a live run's directory: {swept:?}");
    assert!(dir.exists());
    std::fs::write(&release, b"").unwrap();
    assert!(child.wait().unwrap().success());
    assert!(!dir.exists(), "the run cleaned up after itself");
}

#[test]
fn the_directory_of_a_killed_process_is_swept_by_the_next() {
    let parent = tempfile::tempdir().unwrap();
    let marker = parent.path().join("marker");
    let release = parent.path().join("never");
    let mut child = spawn_child(
        "driven_lives_in_another_namespace",
        &[
            ("PERSIST_TEST_DIR", parent.path()),
            ("PERSIST_MARKER", &marker),
            ("PERSIST_RELEASE", &release),
        ],
    );
    wait_for(&marker);
    let dir = std::path::PathBuf::from(std::fs::read_to_string(&marker).unwrap());
    assert!(
        sweep_test_directories(parent.path()).is_empty(),
        "swept a live run"
    );
    // Killed the way nextest kills a test past its timeout: no cleanup runs.
    child.kill().unwrap();
    child.wait().unwrap();
    assert!(dir.exists(), "the kill itself removed nothing");
    assert_eq!(
        sweep_test_directories(parent.path()),
        std::slice::from_ref(&dir)
    );
    assert!(!dir.exists());
}

#[persistence_test(agents = ["AgentA"], backend = "sqlite")]
#[ignore = "run as a child process by another test in this file"]
async fn driven_uses_the_shared_templates(gateway: GatewayPersistenceAdapter) {
    let session = gateway.create_session("alice", "AgentA").await.unwrap();
    gateway
        .send_message(&session.id, "hi", "alice")
        .await
        .unwrap();
}

/// The template files under `parent`, with their inode numbers.
fn templates(parent: &std::path::Path) -> Vec<(String, u64)> {
    use std::os::unix::fs::MetadataExt as _;
    let mut found = Vec::new();
    for dir in std::fs::read_dir(parent).unwrap().flatten() {
        if !dir
            .file_name()
            .to_string_lossy()
            .starts_with("persist-templates-")
        {
            continue;
        }
        for file in std::fs::read_dir(dir.path()).unwrap().flatten() {
            let name = file.file_name().to_string_lossy().into_owned();
            if name.ends_with(".sqlite3") || name.ends_with(".building") {
                found.push((name, file.metadata().unwrap().ino()));
            }
        }
    }
    found.sort();
    found
}

#[test]
fn templates_are_built_once_and_shared_by_every_process() {
    let parent = tempfile::tempdir().unwrap();
    let env = [("PERSIST_TEST_DIR", parent.path())];
    // Three processes at once: one builds each template, the others wait for it.
    let children: Vec<_> = (0..3)
        .map(|_| spawn_child("driven_uses_the_shared_templates", &env))
        .collect();
    for mut child in children {
        assert!(child.wait().unwrap().success());
    }
    let first = templates(parent.path());
    assert_eq!(first.len(), 2, "a gateway and an agent template: {first:?}");
    // A later run finds them: the same files, not rebuilt (a rebuild is a new inode).
    assert!(
        spawn_child("driven_uses_the_shared_templates", &env)
            .wait()
            .unwrap()
            .success()
    );
    assert_eq!(templates(parent.path()), first);
}
