//! Proven under faults: processes of tests are killed at random moments and no test ever sees a
//! database that is not pristine, no live database is taken from under a test, and what the
//! killed ones leave is cleaned up by a later run.
//!
//! Workers (processes of this binary) run tests back to back: each test sets up a gateway and
//! four agents, checks first thing that every database is there, with its tables, and empty,
//! writes to some, holds them a moment, checks they are all still there, and cleans up. The
//! driver SIGKILLs a random worker at random moments (during setup, a claim, the body, a reset,
//! a return, a refill or the template's build: the schema is new to each run, so the first
//! tests build its template while others are killed) and starts another. On a server, a
//! sweeper process clears dead owners' databases without pause, as every new test process
//! does. Afterwards a sweep runs, and nothing but idle pool databases, templates and the
//! databases of live processes may be left. The driver reports the tests run, the kills and
//! every failure with its cause.
//!
//! With `PERSIST_CHAOS_RESTART=<shell command>` the driver also restarts the server halfway
//! through the run with that command. Tests the restart interrupts (their connection refused or
//! cut while the server was away) are counted, not failed, but only while the restart lasts
//! (and a few seconds after); every process must go on after it, and tests must finish after
//! it.
//!
//! Size: `PERSIST_CHAOS=<seconds>x<workers>` (default `6x3`, what CI runs); the full size, and
//! the runs with a server restart:
//!
//! ```sh
//! PERSIST_CHAOS=60x6 cargo test -p persist-tests --test chaos -- --nocapture
//! PERSIST_TEST_DATABASE_URL=postgres://postgres@127.0.0.1:5432/postgres PERSIST_CHAOS=60x6 \
//!   PERSIST_CHAOS_RESTART='pg_ctlcluster --skip-systemctl-redirect 15 main restart' \
//!   cargo test -p persist-tests --test chaos -- --nocapture
//! PERSIST_TEST_DATABASE_URL=mysql://root@127.0.0.1:3306/test PERSIST_CHAOS=60x6 \
//!   PERSIST_CHAOS_RESTART='mysqladmin --protocol=tcp -h 127.0.0.1 -uroot shutdown &&
//!     while pgrep -x mariadbd > /dev/null; do sleep 0.2; done &&
//!     start-stop-daemon --start --oknodo --background --exec /usr/sbin/mariadbd &&
//!     until mysqladmin --protocol=tcp -h 127.0.0.1 -uroot ping > /dev/null 2>&1; do sleep 0.2; done' \
//!   cargo test -p persist-tests --test chaos -- --nocapture
//! ```
//!
//! The command must return once the server answers again (`mysqladmin shutdown` returns
//! before the server has stopped).
//!
//! On SQLite files it always runs; on a server when `PERSIST_TEST_DATABASE_URL` names one.

use std::path::{Path, PathBuf};
use std::process::Child;
use std::time::{Duration, Instant};

use persist_core::db::BackendConfig;
use persist_tests::server::{own_pool, server_url};
use persist_tests::{check_pristine, spawn_logged, xorshift};
use sea_orm::ConnectionTrait as _;

const AGENTS: [&str; 4] = ["AgentA", "AgentB", "AgentC", "AgentD"];

/// `(seconds, workers)`.
fn size() -> (u64, usize) {
    let text = std::env::var("PERSIST_CHAOS").unwrap_or_else(|_| "6x3".into());
    let parts: Vec<u64> = text
        .split('x')
        .map(|p| {
            p.trim()
                .parse()
                .expect("PERSIST_CHAOS is <seconds>x<workers>")
        })
        .collect();
    assert_eq!(parts.len(), 2, "PERSIST_CHAOS is <seconds>x<workers>");
    (parts[0], parts[1] as usize)
}

/// The backend the workers use: the run's server, or SQLite files under `dir`.
fn backend() -> BackendConfig {
    match server_url() {
        Some(url) => BackendConfig::Server(url),
        None => BackendConfig::SqliteFile,
    }
}

const RESTART_ENV: &str = "PERSIST_CHAOS_RESTART";

/// Milliseconds since the epoch: when a worker finished or was interrupted, against the
/// driver's restart window.
fn now_ms() -> u128 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or_default()
        .as_millis()
}

/// Whether `error` says the server went away (refused, cut, shutting down or starting up), not
/// anything about a database's contents.
fn interrupted(error: &str) -> bool {
    const SIGNS: [&str; 14] = [
        "error communicating with database",
        "connection refused",
        "terminating connection",
        "shutting down",
        "starting up",
        "server has gone away",
        "lost connection",
        "broken pipe",
        "connection reset",
        "connection closed",
        "closed the connection",
        "pool timed out",
        "unexpected end of file",
        "unexpected eof",
    ];
    let error = error.to_lowercase();
    SIGNS.iter().any(|sign| error.contains(sign))
}

/// One test: set up, check pristine, write to some, hold a moment, check nothing vanished,
/// clean up.
async fn one_test(tag: &'static str, n: u64, seed: &mut u64) -> Result<(), String> {
    let builder = persist_core::mesh::manager()
        .backend(backend())
        .label("chaos")
        .agents(AGENTS);
    let manager = own_pool(builder, tag)
        .setup()
        .await
        .map_err(|e| format!("setup failed: {e}"))?;
    check_pristine(&manager).await?;
    if n.is_multiple_of(2) {
        let sql = format!(
            "INSERT INTO sessions (id, name, user_id, agent_name, created_at, updated_at) \
             VALUES ('s{n}', NULL, 'u', 'AgentA', 1, 1)"
        );
        manager
            .gateway_connection()
            .execute_unprepared(&sql)
            .await
            .map_err(|e| format!("writing: {e}"))?;
    }
    tokio::time::sleep(Duration::from_millis(xorshift(seed, 30))).await;
    for (role, location) in manager.locations() {
        let db = manager.connection(&role).map_err(|e| e.to_string())?;
        persist_core::db::catalog::list_tables(db)
            .await
            .map_err(|e| format!("{role} database {} vanished: {e}", location.name))?;
    }
    manager
        .cleanup()
        .await
        .map_err(|e| format!("cleanup failed: {e}"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "a worker process of the chaos test in this file"]
async fn driven_chaos_worker() {
    let tag: &'static str = Box::leak(std::env::var("PERSIST_CHAOS_TAG").unwrap().into_boxed_str());
    let stop = PathBuf::from(std::env::var_os("PERSIST_CHAOS_STOP").unwrap());
    let restarts = std::env::var_os(RESTART_ENV).is_some();
    let mut seed = u64::from(std::process::id()) | 1;
    let mut n = 0;
    while !stop.exists() {
        match one_test(tag, n, &mut seed).await {
            Ok(()) => println!("ok {} test {n}", now_ms()),
            // The same process goes on once the server is back.
            Err(e) if restarts && interrupted(&e) => {
                println!("interrupted {} test {n}: {e}", now_ms());
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
            Err(e) => panic!("VIOLATION test {n}: {e}"),
        }
        n += 1;
    }
}

#[tokio::test]
#[ignore = "a sweeper process of the chaos test in this file"]
async fn driven_chaos_sweeper() {
    let url = server_url().expect("the driver passes the server");
    let stop = PathBuf::from(std::env::var_os("PERSIST_CHAOS_STOP").unwrap());
    let restarts = std::env::var_os(RESTART_ENV).is_some();
    while !stop.exists() {
        if let Err(e) = persist_core::db::sweep_leaked(&url).await {
            let e = e.to_string();
            assert!(
                restarts && interrupted(&e),
                "a sweep fails only on a broken server: {e}"
            );
            println!("interrupted {} sweep: {e}", now_ms());
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// Lines of a process's stdout that start with `word` (`<word> <ms> …`), with the time they
/// give.
fn timed_lines(log: &Path, word: &str) -> Vec<(u128, String)> {
    std::fs::read_to_string(log.with_extension("out"))
        .unwrap_or_default()
        .lines()
        .filter(|l| l.starts_with(word))
        .filter_map(|l| {
            let ms = l.split_whitespace().nth(1)?;
            Some((ms.parse().ok()?, l.to_owned()))
        })
        .collect()
}

/// Restarts the server with `command` (through `sh -c`); the window it took, in milliseconds
/// since the epoch.
fn restart(command: &str) -> Result<(u128, u128), String> {
    let start = now_ms();
    let status = std::process::Command::new("sh")
        .args(["-c", command])
        .status()
        .map_err(|e| format!("running {command:?}: {e}"))?;
    if !status.success() {
        return Err(format!("{command:?} failed: {status}"));
    }
    Ok((start, now_ms()))
}

/// What a worker's logs say: tests it finished, and the violation it reported, if any.
fn outcome(log: &Path) -> (usize, Option<String>) {
    let out = std::fs::read_to_string(log.with_extension("out")).unwrap_or_default();
    let done = out.lines().filter(|l| l.starts_with("ok ")).count();
    let err = std::fs::read_to_string(log).unwrap_or_default();
    let violation = err
        .lines()
        .chain(out.lines())
        .find(|l| l.contains("VIOLATION"))
        .map(str::to_owned);
    (done, violation)
}

#[test]
fn killed_tests_never_hand_out_a_dirty_database_nor_lose_a_live_one() {
    let (seconds, workers) = size();
    let dir = tempfile::tempdir().unwrap();
    let test_dir = dir.path().join("tests");
    std::fs::create_dir(&test_dir).unwrap();
    let stop = dir.path().join("stop");
    let tag = format!("chaos{}", &uuid::Uuid::new_v4().simple().to_string()[..10]);
    let mut env = vec![
        ("PERSIST_CHAOS_TAG", tag.clone()),
        ("PERSIST_CHAOS_STOP", stop.display().to_string()),
        // SQLite test directories of their own, so the sweep afterwards sees only theirs.
        ("PERSIST_TEST_DIR", test_dir.display().to_string()),
    ];
    let url = server_url();
    if let Some(url) = &url {
        env.push(("PERSIST_TEST_DATABASE_URL", url.clone()));
    }
    let mut seed = u64::from(std::process::id()) | 1;
    let sweeper = url.as_ref().map(|_| {
        let log = dir.path().join("sweeper");
        (spawn_logged("driven_chaos_sweeper", &env, &log), log)
    });
    let mut spawned = 0;
    let start = |spawned: &mut usize| {
        let log = dir.path().join(format!("worker-{spawned}"));
        *spawned += 1;
        (spawn_logged("driven_chaos_worker", &env, &log), log)
    };
    let mut running: Vec<(Child, PathBuf)> = (0..workers).map(|_| start(&mut spawned)).collect();
    // A server restart halfway through, when asked for.
    let restarter = url
        .as_ref()
        .and_then(|_| std::env::var(RESTART_ENV).ok())
        .map(|command| {
            std::thread::spawn(move || {
                std::thread::sleep(Duration::from_millis(seconds * 500));
                restart(&command)
            })
        });
    let mut finished: Vec<PathBuf> = Vec::new();
    let mut failures = Vec::new();
    let mut kills = 0;
    // Kills spaced so that some tests finish between them: a server's tests are slower.
    let (least, spread) = if url.is_some() { (150, 900) } else { (20, 300) };
    let deadline = Instant::now() + Duration::from_secs(seconds);
    while Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(least + xorshift(&mut seed, spread)));
        let victim = xorshift(&mut seed, running.len() as u64) as usize;
        let (mut child, log) = running.swap_remove(victim);
        // SIGKILL: no cleanup, no destructor, as nextest's timeout kills a test.
        let _ = child.kill();
        let _ = child.wait();
        kills += 1;
        finished.push(log);
        running.push(start(&mut spawned));
    }
    std::fs::write(&stop, b"").unwrap();
    for (mut child, log) in running {
        let status = child.wait().unwrap();
        if !status.success() {
            let (_, violation) = outcome(&log);
            failures.push(violation.unwrap_or_else(|| format!("a worker failed: {status}")));
        }
        finished.push(log);
    }
    if let Some((mut sweeper, log)) = sweeper
        && !sweeper.wait().unwrap().success()
    {
        failures.push(format!(
            "the sweeper failed: {}",
            std::fs::read_to_string(&log).unwrap_or_default()
        ));
    }
    let mut restarted = None;
    if let Some(restarter) = restarter {
        match restarter.join().unwrap() {
            Ok(window) => restarted = Some(window),
            Err(e) => failures.push(format!("the restart failed: {e}")),
        }
    }
    // Interruptions are the restart's only: while it lasts, and a few seconds after, while
    // pools find out that their connections are gone.
    const GRACE_MS: u128 = 10_000;
    let mut interruptions = 0;
    let mut after_restart = 0;
    let sweeper_log = dir.path().join("sweeper");
    for log in finished.iter().chain(url.as_ref().map(|_| &sweeper_log)) {
        for (ms, line) in timed_lines(log, "interrupted ") {
            interruptions += 1;
            let inside =
                restarted.is_some_and(|(from, to)| ms + 1_000 >= from && ms <= to + GRACE_MS);
            if !inside {
                failures.push(format!("interrupted outside the server's restart: {line}"));
            }
        }
        if let Some((_, to)) = restarted {
            after_restart += timed_lines(log, "ok ")
                .iter()
                .filter(|(ms, _)| *ms > to)
                .count();
        }
    }
    let mut tests = 0;
    for log in &finished {
        let (done, violation) = outcome(log);
        tests += done;
        // A killed worker may have reported a violation before it died.
        if let Some(violation) = violation
            && !failures.contains(&violation)
        {
            failures.push(violation);
        }
    }

    // A later run cleans up what the killed ones left.
    let leftovers: Vec<String> = match &url {
        Some(url) => {
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .unwrap();
            rt.block_on(async {
                // The server may take a moment to see a killed process's sessions end: sweep
                // again while something is left, for a few seconds.
                let mut left = Vec::new();
                for _ in 0..10 {
                    persist_core::db::sweep_leaked(url).await.unwrap();
                    left = persist_core::db::list_databases(url)
                        .await
                        .unwrap()
                        .into_iter()
                        // This run's only (other tests share the server); idle pools and
                        // templates stay on purpose.
                        .filter(|db| db.label.starts_with("chaos"))
                        .filter(|db| db.state != "ready" && db.state != "kept" && !db.owner_alive)
                        .map(|db| format!("{} ({} {}, {})", db.name, db.kind, db.state, db.label))
                        .collect::<Vec<_>>();
                    if left.is_empty() {
                        break;
                    }
                    tokio::time::sleep(Duration::from_millis(500)).await;
                }
                left
            })
        }
        None => {
            persist_core::db::sweep_test_directories(&test_dir);
            std::fs::read_dir(&test_dir)
                .unwrap()
                .flatten()
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .filter(|name| !name.starts_with("persist-templates-"))
                .collect()
        }
    };
    let restart_note = match restarted {
        Some((from, to)) => format!(
            ", a server restart of {} ms, {interruptions} tests and sweeps interrupted by it, \
             {after_restart} tests finished after it",
            to - from
        ),
        None => String::new(),
    };
    eprintln!(
        "chaos on {}: {seconds} s, {workers} workers, {tests} tests, {kills} kills, {} failures, \
         {} left after a sweep{restart_note}",
        if url.is_some() {
            "a server"
        } else {
            "SQLite files"
        },
        failures.len(),
        leftovers.len()
    );
    if !failures.is_empty() {
        // The workers' logs stay for a person to read.
        eprintln!("the workers' logs: {}", dir.keep().display());
    }
    assert!(tests > 0, "no test finished: the workers never got going");
    assert!(
        restarted.is_none() || after_restart > 0,
        "no test finished after the server's restart{restart_note}"
    );
    assert!(failures.is_empty(), "{}", failures.join("\n"));
    assert!(leftovers.is_empty(), "left after a sweep: {leftovers:?}");
}
