//! Helpers shared by the persistence suites.

pub mod faults;
pub mod faulty_migrations;
pub mod helpdesk;
pub mod relay;
pub mod server;
pub mod shaped_migrations;
pub mod switchboard;
pub mod workload;

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::{Mutex, OnceLock};

use persist_core::TestContext;
use persist_core::db::DatabaseLocation;

type Locations = HashMap<String, Vec<DatabaseLocation>>;

fn registry() -> &'static Mutex<Locations> {
    static LOCATIONS: OnceLock<Mutex<Locations>> = OnceLock::new();
    LOCATIONS.get_or_init(Default::default)
}

/// Records where a running test's databases are (for servers, their names) under the test's
/// name, so that whoever drove the test can check afterwards what became of them.
pub fn record_locations(ctx: &TestContext) -> Vec<DatabaseLocation> {
    let locations: Vec<_> = ctx
        .manager()
        .locations()
        .into_iter()
        .map(|(_, l)| l)
        .collect();
    registry()
        .lock()
        .unwrap()
        .insert(ctx.test_name().to_owned(), locations.clone());
    locations
}

/// The locations a test recorded; the name is matched on its last path segment.
pub fn recorded_locations(test: &str) -> Vec<DatabaseLocation> {
    let registry = registry().lock().unwrap();
    registry
        .iter()
        .find(|(name, _)| name.rsplit("::").next() == Some(test))
        .map(|(_, l)| l.clone())
        .unwrap_or_else(|| panic!("test `{test}` recorded no locations"))
}

fn files(locations: Vec<DatabaseLocation>) -> Vec<PathBuf> {
    locations.into_iter().filter_map(|l| l.path).collect()
}

/// Records a running test's database files (see [`record_locations`]).
pub fn record_files(ctx: &TestContext) -> Vec<PathBuf> {
    files(record_locations(ctx))
}

/// The files a test recorded.
pub fn recorded_files(test: &str) -> Vec<PathBuf> {
    files(recorded_locations(test))
}

/// The message of a caught panic.
pub fn panic_message(payload: &(dyn std::any::Any + Send)) -> String {
    payload
        .downcast_ref::<String>()
        .cloned()
        .or_else(|| payload.downcast_ref::<&str>().map(|s| (*s).to_owned()))
        .unwrap_or_default()
}

/// Runs a test function that is expected to fail and returns its panic message.
pub fn expect_failure(test: fn()) -> String {
    let payload = std::panic::catch_unwind(test).expect_err("the test was expected to fail");
    panic_message(&*payload)
}

/// Awaits `future`, which must panic, and returns the panic's message.
pub async fn expect_panic<F: std::future::Future>(future: F) -> String {
    use futures::FutureExt as _;
    match std::panic::AssertUnwindSafe(future).catch_unwind().await {
        Ok(_) => panic!("expected the check to fail, but it passed"),
        Err(payload) => panic_message(&*payload),
    }
}

/// Runs one ignored test of the calling test binary as a child process, with `env`; in a new
/// pid namespace (`unshare --pid --fork`) with `namespace`. `None` when this machine cannot
/// make a pid namespace (said on stderr).
pub fn spawn_test(
    test: &str,
    env: &[(&str, &std::path::Path)],
    namespace: bool,
) -> Option<std::process::Child> {
    let exe = std::env::current_exe().unwrap();
    let mut command = if namespace {
        let probe = std::process::Command::new("unshare")
            .args(["--pid", "--fork", "true"])
            .output();
        if !probe.is_ok_and(|o| o.status.success()) {
            eprintln!("skipped: this machine cannot make a pid namespace (unshare --pid --fork)");
            return None;
        }
        let mut unshare = std::process::Command::new("unshare");
        unshare.args(["--pid", "--fork"]).arg(exe);
        unshare
    } else {
        std::process::Command::new(exe)
    };
    command
        .args(["--exact", test, "--ignored", "--nocapture"])
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null());
    for (key, value) in env {
        command.env(key, value);
    }
    Some(command.spawn().unwrap())
}

/// Writes `contents` to `path` at once: to a file beside it, then renamed, so that whoever
/// waits for `path` (with [`wait_for`]) never reads it half-written.
pub fn write_marker(path: &std::path::Path, contents: impl AsRef<[u8]>) {
    let partial = path.with_extension("partial");
    std::fs::write(&partial, contents).unwrap();
    std::fs::rename(&partial, path).unwrap();
}

/// Waits, up to a minute, for `path` to appear.
pub fn wait_for(path: &std::path::Path) {
    let started = std::time::Instant::now();
    while !path.exists() {
        assert!(
            started.elapsed() < std::time::Duration::from_secs(60),
            "{} never appeared",
            path.display()
        );
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
}

/// Runs one ignored test of the calling test binary in a child process with `env` added, its
/// output captured (`--nocapture`, so what the test prints is there too).
pub fn run_ignored(test: &str, env: &[(&str, &str)]) -> std::process::Output {
    let mut command = std::process::Command::new(std::env::current_exe().unwrap());
    command.args([
        "--exact",
        test,
        "--ignored",
        "--nocapture",
        "--test-threads",
        "1",
    ]);
    for (key, value) in env {
        command.env(key, value);
    }
    command.output().unwrap()
}

/// A child's stdout and stderr, as one text.
pub fn output_text(output: &std::process::Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    )
}

/// A number below `max` from a xorshift `seed` (advanced): enough to spread the moments
/// processes of the multi-process suites start, hold, return and are killed.
pub fn xorshift(seed: &mut u64, max: u64) -> u64 {
    *seed ^= *seed << 13;
    *seed ^= *seed >> 7;
    *seed ^= *seed << 17;
    *seed % max.max(1)
}

/// Starts one process of the running test binary running the ignored `test`, with `env`; its
/// stdout goes to `log` with the extension `out`, its stderr to `log`.
pub fn spawn_logged(
    test: &str,
    env: &[(&str, String)],
    log: &std::path::Path,
) -> std::process::Child {
    let mut command = std::process::Command::new(std::env::current_exe().unwrap());
    command
        .args(["--exact", test, "--ignored", "--nocapture"])
        .stdout(std::fs::File::create(log.with_extension("out")).unwrap())
        .stderr(std::fs::File::create(log).unwrap());
    for (key, value) in env {
        command.env(key, value);
    }
    command.spawn().unwrap()
}

/// Checks that every database of `manager` is there, with its tables, and empty (but for its
/// migration history): what a test must find first thing.
pub async fn check_pristine(manager: &persist_core::MultiDatabaseManager) -> Result<(), String> {
    for (role, location) in manager.locations() {
        let db = manager.connection(&role).map_err(|e| e.to_string())?;
        let tables = persist_core::db::catalog::list_tables(db)
            .await
            .map_err(|e| format!("{role} database {}: {e}", location.name))?;
        if tables.is_empty() {
            return Err(format!("{role} database {} has no tables", location.name));
        }
        for table in tables.iter().filter(|t| !t.contains("migration")) {
            let rows = persist_core::db::catalog::count_rows(db, table)
                .await
                .map_err(|e| format!("{role} database {}: {e}", location.name))?;
            if rows != 0 {
                return Err(format!(
                    "{role} database {} was handed out with {rows} rows in {table}",
                    location.name
                ));
            }
        }
    }
    Ok(())
}

/// Checks that each fault of a proof over [`traffic_for_a_proof`]'s data was seen for the
/// reason it should be, by what the integrity check said: a moved message in the history of
/// the session it was moved to (of the same user, or of another), a lost reply as a count one
/// short (and a reply the row it names), a duplicate as one over, swapped turns as the second question first.
pub async fn assert_faults_seen_for_their_reasons(
    inspector: &persist_core::CrossDatabaseInspector,
    proof: &persist_core::inspect::LayoutProof,
) -> Result<(), persist_core::PersistError> {
    use persist_core::inspect::Fault;
    let owners: HashMap<String, String> = inspector
        .all_gateway_sessions()
        .await?
        .into_iter()
        .map(|s| (s.id, s.user_id))
        .collect();
    for o in &proof.outcomes {
        let Ok(planted) = o.planted.as_ref() else {
            continue;
        };
        let integrity = o
            .caught_by
            .iter()
            .position(|c| c == "verify_integrity")
            .map(|i| o.findings[i].as_str())
            .unwrap_or_default();
        // The sessions the planted text names, in its order: where from, where to.
        let mut named: Vec<(usize, &str)> = owners
            .keys()
            .filter_map(|id| planted.find(id.as_str()).map(|at| (at, id.as_str())))
            .collect();
        named.sort();
        let user = |i: usize| owners[named[i].1].as_str();
        // Counts of messages, gateway and agent, per session the integrity check names.
        let counts: Vec<(&str, usize, usize)> = integrity
            .lines()
            .filter_map(|l| {
                let (head, rest) = l.split_once(" messages in the gateway, ")?;
                let (session, gateway) =
                    head.trim_start_matches("  - session ").split_once(": ")?;
                let agent = rest.split(' ').next()?.parse().ok()?;
                Some((session, gateway.parse().ok()?, agent))
            })
            .collect();
        let moved_in = || {
            named.len() == 2
                && counts
                    .iter()
                    .any(|(s, g, a)| *s == named[1].1 && *a == g + 1)
        };
        let seen = match o.fault {
            Fault::MovedToAnotherSession => moved_in() && user(0) == user(1),
            Fault::MovedToAnotherUser => moved_in() && user(0) != user(1),
            // One short; a reply gone, where the planted text names the row.
            Fault::LostReply => {
                let roles: HashMap<String, String> = inspector
                    .agent_messages(&o.agent, None)
                    .await?
                    .into_iter()
                    .map(|m| (m.id, m.role))
                    .collect();
                let gone = planted
                    .strip_prefix("reply ")
                    .and_then(|rest| rest.strip_suffix(" deleted"));
                counts.iter().any(|(_, g, a)| a + 1 == *g)
                    && gone.is_none_or(|id| roles.get(id).is_some_and(|r| r != "user"))
            }
            Fault::Duplicated => counts.iter().any(|(_, g, a)| *a == g + 1),
            // By the messages' texts (the agent's first is the second question), or by turn
            // ids (the agent's first turn is the gateway's second).
            Fault::TurnsSwapped => integrity.lines().any(|l| {
                let order = |key: &str| {
                    l.split_once(key).map(|(_, rest)| {
                        rest.trim_start_matches('[')
                            .split([',', ']'])
                            .map(str::trim)
                            .collect::<Vec<_>>()
                    })
                };
                let (gateway, agent) = (order("gateway order: "), order("agent order: "));
                let by_turn = l.contains(" differs between the gateway (");
                l.contains("agent order: [\"the second question\"")
                    || (by_turn
                        && matches!((gateway, agent), (Some(g), Some(a)) if g.len() > 1 && a.first() == g.get(1)))
            }),
            _ => true,
        };
        assert!(
            seen,
            "{} {:?}: {planted}\n{}",
            o.agent,
            o.fault,
            o.findings.join("\n")
        );
    }
    Ok(())
}

/// Traffic a layout proof needs, for each of `agents`: alice's first session with two turns a
/// second apart (so that even a one-second clock orders them), her second session, and one of
/// bob's.
pub async fn traffic_for_a_proof(
    gateway: &persist_core::GatewayPersistenceAdapter,
    agents: &[&str],
) -> Result<(), persist_core::PersistError> {
    for agent in agents {
        let first = gateway.create_session("alice", agent).await?;
        gateway
            .send_message(&first.id, "the first question", "alice")
            .await?;
        tokio::time::sleep(std::time::Duration::from_millis(1100)).await;
        gateway
            .send_message(&first.id, "the second question", "alice")
            .await?;
        let second = gateway.create_session("alice", agent).await?;
        gateway
            .send_message(&second.id, "another session", "alice")
            .await?;
        let bobs = gateway.create_session("bob", agent).await?;
        gateway.send_message(&bobs.id, "bob's own", "bob").await?;
    }
    Ok(())
}
