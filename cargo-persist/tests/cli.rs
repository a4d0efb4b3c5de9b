//! `cargo persist` end to end: a failed test keeps its databases, and the command line lists,
//! opens, renders and drops them; bad input and a server that is down get their exit codes;
//! `prepare` builds a package's templates before its run.
//!
//! The kept test runs in a child process of this binary, on SQLite files in a directory of its
//! own, or on the server `PERSIST_TEST_DATABASE_URL` names.

use std::path::Path;
use std::process::{Command, Output};

use persist_core::prelude::*;
use serde_json::Value;

/// Each test that keeps databases has its own driven test: `clean TEST` drops every run of
/// a test, so two tests of this file sharing one would drop each other's on a server.
const KEPT_TEST: &str = "driven_fails_and_keeps";
const OPENED_TEST: &str = "driven_fails_and_keeps_to_open";
const SWEPT_TEST: &str = "driven_fails_and_keeps_to_sweep";

#[persistence_test(agents = ["AgentA"], keep = "on_failure")]
#[ignore = "driven by the tests of this file, in a child process"]
async fn driven_fails_and_keeps(gateway: GatewayPersistenceAdapter) {
    fail_after_writing(gateway).await;
}

#[persistence_test(agents = ["AgentA"], keep = "on_failure")]
#[ignore = "driven by the tests of this file, in a child process"]
async fn driven_fails_and_keeps_to_open(gateway: GatewayPersistenceAdapter) {
    fail_after_writing(gateway).await;
}

#[persistence_test(agents = ["AgentA"], keep = "on_failure", backend = "sqlite")]
#[ignore = "driven by the tests of this file, in a child process"]
async fn driven_fails_and_keeps_to_sweep(gateway: GatewayPersistenceAdapter) {
    fail_after_writing(gateway).await;
}

async fn fail_after_writing(gateway: GatewayPersistenceAdapter) {
    let session = gateway.create_session("alice", "AgentA").await.unwrap();
    assert_eq!(session.user_id, "alice");
    panic!("failing, so that the databases are kept");
}

/// Where a run keeps its databases: a fresh directory, or the server the suite runs on.
struct Place {
    dir: tempfile::TempDir,
    server: Option<String>,
    test: &'static str,
    turn: Option<Turn>,
}

impl Place {
    fn new(test: &'static str) -> Self {
        let server = std::env::var("PERSIST_TEST_DATABASE_URL")
            .ok()
            .filter(|url| url.contains("://"));
        Place {
            dir: tempfile::tempdir().unwrap(),
            server,
            test,
            turn: None,
        }
    }

    /// A place for a test that keeps databases: on a server, it waits for its turn.
    fn keeping(test: &'static str) -> Self {
        let mut place = Place::new(test);
        place.turn = place.server.as_deref().map(Turn::take);
        place
    }

    /// Runs the failing test in a child process; its databases are kept.
    fn keep_a_failed_test(&self) {
        let mut child = Command::new(std::env::current_exe().unwrap());
        child
            .args(["--exact", self.test, "--ignored", "--test-threads=1"])
            .env_remove("PERSIST_KEEP");
        self.environment(&mut child);
        let output = child.output().unwrap();
        assert!(!output.status.success(), "the driven test passed");
        let stdout = String::from_utf8_lossy(&output.stdout);
        assert!(stdout.contains("kept"), "{stdout}");
    }

    fn environment(&self, command: &mut Command) {
        command.env("PERSIST_TEST_DIR", self.dir.path());
        match &self.server {
            Some(url) => command.env("PERSIST_TEST_DATABASE_URL", url),
            None => command.env_remove("PERSIST_TEST_DATABASE_URL"),
        };
    }

    /// `cargo persist ARGS` against this place.
    fn persist(&self, args: &[&str]) -> Output {
        let mut command = cli();
        command.args(args);
        self.environment(&mut command);
        command.output().unwrap()
    }

    fn json(&self, args: &[&str]) -> Value {
        let mut all = vec!["--json"];
        all.extend_from_slice(args);
        let output = self.persist(&all);
        assert_eq!(output.status.code(), Some(0), "{}", describe(&output));
        serde_json::from_slice(&output.stdout)
            .unwrap_or_else(|e| panic!("{e}: {}", describe(&output)))
    }

    /// This run's kept sets of the driven test.
    fn kept(&self) -> Vec<Value> {
        self.kept_of(self.test)
    }

    /// The kept sets of a test.
    fn kept_of(&self, test: &str) -> Vec<Value> {
        self.json(&["kept"])["kept"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|set| set["test"] == test)
            .cloned()
            .collect()
    }
}

impl Drop for Place {
    fn drop(&mut self) {
        // On a server, what this run kept is dropped even when an assertion failed, before
        // the turn passes on.
        if self.turn.is_some() {
            let _ = self.persist(&["clean", self.test]);
        }
    }
}

/// On a server, the tests that keep databases take turns across every run against it, by a
/// lock the server holds for a session: `clean TEST` drops every run's kept databases of that
/// test, and `kept` shows them all, so two runs at once (CI's partitions) would see and drop
/// each other's.
struct Turn {
    runtime: tokio::runtime::Runtime,
    session: Option<sea_orm::DatabaseConnection>,
}

impl Turn {
    fn take(url: &str) -> Turn {
        use sea_orm::ConnectionTrait as _;
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        let session = runtime.block_on(async {
            let mut options = sea_orm::ConnectOptions::new(url);
            options.max_connections(1).min_connections(1);
            let session = sea_orm::Database::connect(options).await.unwrap();
            let lock = match session.get_database_backend() {
                sea_orm::DbBackend::Postgres => "SELECT pg_advisory_lock(7304401)",
                _ => "SELECT GET_LOCK('persist_cargo_persist_cli', 600)",
            };
            session.execute_unprepared(lock).await.unwrap();
            session
        });
        Turn {
            runtime,
            session: Some(session),
        }
    }
}

impl Drop for Turn {
    fn drop(&mut self) {
        // Closing the session frees its lock.
        if let Some(session) = self.session.take() {
            let _ = self.runtime.block_on(session.close());
        }
    }
}

fn cli() -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_cargo-persist"));
    command.arg("persist").env("NO_COLOR", "1");
    command
}

fn describe(output: &Output) -> String {
    format!(
        "exit {:?}\n--- stdout\n{}\n--- stderr\n{}",
        output.status.code(),
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    )
}

#[test]
fn a_failed_tests_databases_are_listed_rendered_and_dropped() {
    let place = Place::keeping(KEPT_TEST);
    place.keep_a_failed_test();

    let kept = place.kept();
    assert_eq!(kept.len(), 1, "{kept:#?}");
    let roles: Vec<&str> = kept[0]["databases"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| d["role"].as_str().unwrap())
        .collect();
    assert_eq!(roles, ["gateway", "agent AgentA"]);

    // The person's view names the test and both databases.
    let text = place.persist(&["kept"]);
    let stdout = String::from_utf8_lossy(&text.stdout);
    assert!(stdout.contains(KEPT_TEST), "{stdout}");
    assert!(stdout.contains("agent AgentA"), "{stdout}");

    // What the test wrote, rendered as a data snapshot: the session lives in the gateway.
    let snapshot = place.persist(&["snapshot", KEPT_TEST, "--table", "sessions"]);
    assert_eq!(snapshot.status.code(), Some(0), "{}", describe(&snapshot));
    let rendered = String::from_utf8_lossy(&snapshot.stdout);
    assert!(
        rendered.starts_with("gateway\n  sessions: 1 row"),
        "{rendered}"
    );
    assert!(rendered.contains("alice"), "{rendered}");

    // `list` shows them kept, whose they are, their owner gone; `sweep` leaves them.
    let names: Vec<&Value> = kept[0]["databases"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| &d["name"])
        .collect();
    let listed = place.json(&["list"]);
    match &place.server {
        Some(_) => {
            let ours: Vec<&Value> = listed["databases"]
                .as_array()
                .unwrap()
                .iter()
                .filter(|d| names.contains(&&d["name"]))
                .collect();
            assert_eq!(ours.len(), 2, "{listed:#}");
            for d in &ours {
                assert_eq!(d["state"], "kept", "{d}");
                assert_eq!(d["owner_alive"], false, "{d}");
                let label = d["label"].as_str().unwrap();
                assert!(
                    label.starts_with(&format!("cli::{KEPT_TEST} · ")),
                    "{label}"
                );
            }
        }
        None => {
            let kept: Vec<&Value> = listed["directories"]
                .as_array()
                .unwrap()
                .iter()
                .filter(|d| d["kept"] == true)
                .collect();
            assert_eq!(kept.len(), 1, "{listed:#}");
            assert_eq!(kept[0]["owner_alive"], false, "{listed:#}");
        }
    }
    let swept = place.persist(&["sweep"]);
    assert_eq!(swept.status.code(), Some(0), "{}", describe(&swept));
    assert_eq!(place.kept().len(), 1, "the sweep took kept databases");

    // Dropped, and gone from the list.
    let cleaned = place.persist(&["clean", KEPT_TEST]);
    assert_eq!(cleaned.status.code(), Some(0), "{}", describe(&cleaned));
    assert!(place.kept().is_empty());
    let again = place.persist(&["snapshot", KEPT_TEST]);
    assert_eq!(again.status.code(), Some(2), "{}", describe(&again));
}

#[test]
fn open_runs_the_client_that_fits_on_the_kept_database() {
    let place = Place::keeping(OPENED_TEST);
    place.keep_a_failed_test();
    let kept = place.kept();
    let agent = kept[0]["databases"]
        .as_array()
        .unwrap()
        .iter()
        .find(|d| d["role"] == "agent AgentA")
        .unwrap()
        .clone();

    let printed = place.json(&["open", OPENED_TEST, "AgentA", "--print"]);
    let (tool, args) = (printed["tool"].as_str().unwrap(), &printed["args"]);
    match &place.server {
        None => {
            assert_eq!(tool, "sqlite3");
            assert_eq!(args[0], agent["path"], "{printed}");
        }
        Some(url) if url.starts_with("postgres") => {
            assert_eq!(tool, "psql");
            assert!(
                args[0]
                    .as_str()
                    .unwrap()
                    .ends_with(agent["name"].as_str().unwrap())
            );
        }
        Some(_) => {
            assert_eq!(tool, "mysql");
            assert_eq!(args.as_array().unwrap().last().unwrap(), &agent["name"]);
        }
    }

    // Without --print the client runs, with the arguments printed above; its exit code is ours.
    let bin = tempfile::tempdir().unwrap();
    let seen = bin.path().join("seen");
    fake_client(bin.path(), tool, &seen);
    let mut open = cli();
    open.args(["open", &format!("cli::{OPENED_TEST}"), "AgentA"])
        .env("PATH", bin.path());
    place.environment(&mut open);
    let output = open.output().unwrap();
    assert_eq!(output.status.code(), Some(0), "{}", describe(&output));
    let expected: Vec<String> = args
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a.as_str().unwrap().to_owned())
        .collect();
    assert_eq!(
        std::fs::read_to_string(&seen).unwrap(),
        expected.join("\n") + "\n"
    );

    // No client on PATH: an error that names the tool, not a crash.
    let mut missing = cli();
    missing
        .args(["open", OPENED_TEST])
        .env("PATH", tempfile::tempdir().unwrap().path());
    place.environment(&mut missing);
    let output = missing.output().unwrap();
    assert_eq!(output.status.code(), Some(1), "{}", describe(&output));
    assert!(
        String::from_utf8_lossy(&output.stderr).contains(&format!("`{tool}` is not installed"))
    );

    // A role it did not keep: bad input, and the roles it did keep.
    let output = place.persist(&["open", OPENED_TEST, "AgentZ"]);
    assert_eq!(output.status.code(), Some(2), "{}", describe(&output));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("gateway, agent AgentA"), "{stderr}");
}

/// A client that writes its arguments, one a line, to `seen`.
fn fake_client(dir: &Path, tool: &str, seen: &Path) {
    let body = format!(
        "for a in \"$@\"; do printf '%s\\n' \"$a\"; done > '{}'",
        seen.display()
    );
    shell_script(&dir.join(tool), &body);
}

/// An executable `sh` script at `path`.
#[cfg(unix)]
fn shell_script(path: &Path, body: &str) {
    use std::os::unix::fs::PermissionsExt as _;
    std::fs::write(path, format!("#!/bin/sh\n{body}\n")).unwrap();
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o755)).unwrap();
}

#[test]
fn an_unknown_test_is_bad_input_that_names_what_was_kept() {
    // No test of that name ran, so there is nothing for this place to clean up either.
    let place = Place::new("no_such_test");
    let output = place.persist(&["open", "no_such_test"]);
    assert_eq!(output.status.code(), Some(2), "{}", describe(&output));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("no kept test matches `no_such_test`"),
        "{stderr}"
    );

    let json = place.persist(&["--json", "open", "no_such_test"]);
    assert_eq!(json.status.code(), Some(2));
    let error: Value = serde_json::from_slice(&json.stdout).unwrap();
    assert_eq!(error["error"]["kind"], "unknown-test", "{error}");

    let output = place.persist(&["clean"]);
    assert_eq!(output.status.code(), Some(2), "{}", describe(&output));
}

#[test]
fn a_url_that_does_not_parse_is_bad_input() {
    let output = cli()
        .args(["list", "--database-url", "oracle://db"])
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(2), "{}", describe(&output));
    assert!(String::from_utf8_lossy(&output.stderr).contains("oracle://db"));
}

#[test]
fn a_directory_that_is_not_there_is_bad_input() {
    let output = cli()
        .args(["kept", "--dir", "/no/such/persist/directory"])
        .env_remove("PERSIST_TEST_DATABASE_URL")
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(2), "{}", describe(&output));
    assert!(String::from_utf8_lossy(&output.stderr).contains("/no/such/persist/directory"));
}

#[test]
fn a_server_that_does_not_answer_is_exit_code_3_naming_it() {
    let url = "postgres://postgres:secret@127.0.0.1:1/nothing";
    for command in [&["list"][..], &["kept"], &["drain"], &["clean", "--all"]] {
        let output = cli()
            .args(command)
            .args(["--database-url", url])
            .output()
            .unwrap();
        assert_eq!(
            output.status.code(),
            Some(3),
            "{command:?}: {}",
            describe(&output)
        );
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(stderr.contains("127.0.0.1:1"), "{stderr}");
        assert!(
            !stderr.contains("secret"),
            "the password is shown: {stderr}"
        );
    }
}

#[test]
fn in_memory_sqlite_has_nothing_to_look_after() {
    let output = cli()
        .args(["kept", "--database-url", "memory"])
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(2), "{}", describe(&output));
    assert!(String::from_utf8_lossy(&output.stderr).contains("in-memory"));
}

#[test]
fn list_sweep_and_drain_look_after_a_directory() {
    let place = Place {
        dir: tempfile::tempdir().unwrap(),
        server: None,
        test: SWEPT_TEST,
        turn: None,
    };
    let empty = place.json(&["list"]);
    assert_eq!(
        empty["directories"].as_array().map(Vec::len),
        Some(0),
        "{empty}"
    );

    place.keep_a_failed_test();
    let listed = place.json(&["list"]);
    let directories = listed["directories"].as_array().unwrap();
    let kept: Vec<&Value> = directories.iter().filter(|d| d["kept"] == true).collect();
    assert_eq!(kept.len(), 1, "{listed:#}");
    assert_eq!(
        kept[0]["test"].as_str().unwrap(),
        format!("cli::{SWEPT_TEST}")
    );

    // Kept databases outlive their process on purpose: neither sweep nor drain takes them.
    for command in ["sweep", "drain"] {
        let output = place.persist(&[command]);
        assert_eq!(output.status.code(), Some(0), "{}", describe(&output));
        assert_eq!(
            place.kept().len(),
            1,
            "{command} took a kept test's databases"
        );
    }
    let cleaned = place.persist(&["clean", "--all"]);
    assert_eq!(cleaned.status.code(), Some(0), "{}", describe(&cleaned));
    assert!(place.kept().is_empty());
}

#[test]
fn help_lists_every_command() {
    let output = cli().arg("--help").output().unwrap();
    assert_eq!(output.status.code(), Some(0));
    insta::assert_snapshot!(String::from_utf8_lossy(&output.stdout));
}

#[test]
fn prepare_mode_sets_up_each_persistence_test_without_running_its_body() {
    use persist_core::env::{PREPARE, PREPARE_LIST, PREPARE_LIST_PREFIX};

    // Listed: the persistence tests, named by their full paths, and no other test.
    let listed = Command::new(std::env::current_exe().unwrap())
        .args(["--list"])
        .env(PREPARE_LIST, "1")
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&listed.stdout);
    let mut announced: Vec<&str> = stdout
        .lines()
        .filter_map(|l| l.strip_prefix(PREPARE_LIST_PREFIX))
        .collect();
    announced.sort_unstable();
    assert_eq!(
        announced,
        [
            format!("cli::{KEPT_TEST}"),
            format!("cli::{OPENED_TEST}"),
            format!("cli::{SWEPT_TEST}"),
        ]
    );

    // Prepared: each records its setup, the bodies (which fail) do not run, nothing is kept.
    let place = Place::new("no_such_test");
    let records = place.dir.path().join("records.jsonl");
    let mut prepare = Command::new(std::env::current_exe().unwrap());
    prepare
        .args(["--ignored", "--exact", KEPT_TEST, OPENED_TEST])
        .env(PREPARE, &records);
    place.environment(&mut prepare);
    let output = prepare.output().unwrap();
    // Their bodies fail: the binary succeeding shows that they did not run.
    assert!(output.status.success(), "{}", describe(&output));
    let lines: Vec<Value> = std::fs::read_to_string(&records)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(lines.len(), 2, "{lines:#?}");
    assert!(lines.iter().all(|r| r.get("error").is_none()), "{lines:#?}");
    // The same agents and system: the databases are set up once, the other test shares them.
    let shared = lines.iter().filter(|r| r["shared"] == true).count();
    assert_eq!(shared, 1, "{lines:#?}");
}

#[test]
fn prepare_builds_the_test_binaries_and_prepares_their_persistence_tests() {
    let place = Place::new("no_such_test");
    // A `cargo` that has "built" this very test binary: prepare's steps, without a build.
    let bin = tempfile::tempdir().unwrap();
    let seen = bin.path().join("seen");
    let cargo = fake_cargo(bin.path(), &seen, 0);
    let prepare = |args: &[&str]| {
        let mut command = cli();
        command.args(args).env("CARGO", &cargo);
        place.environment(&mut command);
        command.output().unwrap()
    };

    let output = prepare(&[
        "--json",
        "prepare",
        "--include-ignored",
        "--",
        "-p",
        "cargo-persist",
    ]);
    assert_eq!(output.status.code(), Some(0), "{}", describe(&output));
    assert_eq!(
        std::fs::read_to_string(&seen).unwrap(),
        "test --no-run --message-format=json-render-diagnostics -p cargo-persist\n"
    );
    let summary: Value = serde_json::from_slice(&output.stdout).unwrap();
    assert_eq!(summary["tests"], 3, "{summary:#}");
    assert_eq!(summary["failed"].as_array().map(Vec::len), Some(0));
    // Two of the three share their setup (the same agents on the same backend) unless the
    // suite runs on a server, where the third (pinned to SQLite) is a setup of its own.
    let distinct = if place.server.is_some() { 2 } else { 1 };
    assert_eq!(summary["set_up"], distinct, "{summary:#}");
    // Prepared, not run: the bodies fail, and nothing was kept. (On a server, the other
    // tests of this file keep these tests' databases at the same time.)
    if place.server.is_none() {
        for test in [KEPT_TEST, OPENED_TEST, SWEPT_TEST] {
            assert!(place.kept_of(test).is_empty(), "{test} ran and kept");
        }
    }

    // By default the whole workspace, and #[ignore]d tests are left out (here: all of them).
    let output = prepare(&["--json", "prepare"]);
    assert_eq!(
        std::fs::read_to_string(&seen).unwrap(),
        "test --no-run --message-format=json-render-diagnostics --workspace\n"
    );
    let summary: Value = serde_json::from_slice(&output.stdout).unwrap();
    assert_eq!(summary["tests"], 0, "{summary:#}");

    // A build that fails is the work failing (exit code 1), said as such.
    let broken = fake_cargo(bin.path(), &seen, 101);
    let mut command = cli();
    command.args(["prepare"]).env("CARGO", &broken);
    place.environment(&mut command);
    let output = command.output().unwrap();
    assert_eq!(output.status.code(), Some(1), "{}", describe(&output));
    assert!(String::from_utf8_lossy(&output.stderr).contains("do not build"));
}

/// A `cargo` that records its arguments in `seen`, names this test binary as the one test
/// executable it built, and exits with `code`.
fn fake_cargo(dir: &Path, seen: &Path, code: i32) -> std::path::PathBuf {
    let artifact = serde_json::json!({
        "reason": "compiler-artifact",
        "profile": { "test": true },
        "target": { "name": "cli" },
        "executable": std::env::current_exe().unwrap(),
    });
    let script = dir.join(format!("cargo-{code}"));
    let body = format!(
        "echo \"$*\" > '{}'\ncat <<'EOF'\n{artifact}\nEOF\nexit {code}",
        seen.display()
    );
    shell_script(&script, &body);
    script
}
