//! Concurrent runs on one server never lose each other's live databases.
//!
//! Several processes of this binary work against one PostgreSQL or MySQL/MariaDB server at
//! once, the way partitions of a CI fleet do: workers claim a gateway and four agents from the
//! shared pools, use every database, hold them a little, and give them back; sweepers clean up
//! after dead owners without pause, as every new test process does when it starts; some
//! workers start together and some are staggered. A worker whose database disappears, or
//! turns out not to be pristine, fails with the database's name; and since no process here
//! dies, a sweep that drops any database the workers used (their pool is their own) is a
//! failure too, even when no worker happened to be using it at that moment.
//!
//! Size: `PERSIST_STRESS=<rounds>x<workers>x<tests per worker>` (default `2x4x6`, what CI
//! runs); the full size is `PERSIST_STRESS=20x6x12`:
//!
//! ```sh
//! PERSIST_TEST_DATABASE_URL=postgres://postgres@127.0.0.1:5432/postgres PERSIST_STRESS=20x6x12 \
//!   cargo test -p persist-tests --test pool_stress -- --nocapture
//! ```
//!
//! It needs a server: it runs when `PERSIST_TEST_DATABASE_URL` names one, and otherwise says so
//! and returns.

use std::path::{Path, PathBuf};
use std::process::Child;
use std::time::{Duration, Instant};

use persist_core::db::sweep_leaked;
use persist_core::db::{BackendConfig, MultiDatabaseManager};
use persist_tests::server::{own_pool, server_url};
use persist_tests::{check_pristine, spawn_logged, xorshift};
use sea_orm::{ConnectionTrait as _, DatabaseConnection, Statement};

const AGENTS: [&str; 4] = ["AgentA", "AgentB", "AgentC", "AgentD"];

/// `(rounds, workers, tests per worker)`.
fn size() -> (usize, usize, usize) {
    let text = std::env::var("PERSIST_STRESS").unwrap_or_else(|_| "2x4x6".into());
    let parts: Vec<usize> = text
        .split('x')
        .map(|p| {
            p.trim()
                .parse()
                .expect("PERSIST_STRESS is <rounds>x<workers>x<tests>")
        })
        .collect();
    assert_eq!(
        parts.len(),
        3,
        "PERSIST_STRESS is <rounds>x<workers>x<tests>"
    );
    (parts[0], parts[1], parts[2])
}

fn pause_ms(seed: &mut u64, max: u64) -> Duration {
    Duration::from_millis(xorshift(seed, max))
}

async fn count_tables(db: &DatabaseConnection) -> Result<i64, sea_orm::DbErr> {
    let backend = db.get_database_backend();
    let sql = match backend {
        sea_orm::DbBackend::Postgres => {
            "SELECT COUNT(*) AS n FROM information_schema.tables WHERE table_schema = 'public'"
        }
        _ => "SELECT COUNT(*) AS n FROM information_schema.tables WHERE table_schema = DATABASE()",
    };
    let row = db
        .query_one_raw(Statement::from_string(backend, sql))
        .await?
        .expect("COUNT answers a row");
    row.try_get("", "n")
}

/// Writes a row into the gateway, so that its return has something to reset.
async fn dirty_gateway(manager: &MultiDatabaseManager, n: usize) -> Result<(), String> {
    let db = manager.gateway_connection();
    let sql = format!(
        "INSERT INTO sessions (id, name, user_id, agent_name, created_at, updated_at) \
         VALUES ('s{n}', NULL, 'user{n}', 'AgentA', 1, 1)"
    );
    db.execute_unprepared(&sql)
        .await
        .map(|_| ())
        .map_err(|e| format!("gateway database {}: {e}", manager.gateway_location().name))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "a worker process of the stress test in this file"]
async fn driven_worker() {
    let url = server_url().expect("the driver passes the server");
    let tests: usize = std::env::var("PERSIST_STRESS_TESTS")
        .unwrap()
        .parse()
        .unwrap();
    let mut seed = u64::from(std::process::id()) | 1;
    for n in 0..tests {
        let builder = persist_core::mesh::manager()
            .backend(BackendConfig::Server(url.clone()))
            .agents(AGENTS);
        let manager = own_pool(builder, "stress")
            .setup()
            .await
            .unwrap_or_else(|e| panic!("setup of test {n} failed: {e}"));
        for (_, location) in manager.locations() {
            println!("used {}", location.name);
        }
        let result = async {
            check_pristine(&manager).await?;
            if n % 2 == 0 {
                dirty_gateway(&manager, n).await?;
            }
            // Hold the databases while others claim, return and sweep around them.
            tokio::time::sleep(pause_ms(&mut seed, 40)).await;
            for (role, location) in manager.locations() {
                let db = manager.connection(&role).map_err(|e| e.to_string())?;
                count_tables(db)
                    .await
                    .map_err(|e| format!("{role} database {} vanished: {e}", location.name))?;
            }
            Ok::<_, String>(())
        }
        .await;
        manager.cleanup().await.unwrap();
        if let Err(e) = result {
            panic!("test {n}: {e}");
        }
    }
}

#[tokio::test]
#[ignore = "a sweeper process of the stress test in this file"]
async fn driven_sweeper() {
    let url = server_url().expect("the driver passes the server");
    let stop = PathBuf::from(std::env::var_os("PERSIST_STRESS_STOP").unwrap());
    while !stop.exists() {
        for name in sweep_leaked(&url)
            .await
            .expect("a sweep fails only on a broken server")
        {
            println!("dropped {name}");
        }
    }
}

/// The names a process printed after `prefix` on its stdout.
fn printed(log: &Path, prefix: &str) -> Vec<String> {
    std::fs::read_to_string(log.with_extension("out"))
        .unwrap_or_default()
        .lines()
        .filter_map(|l| l.strip_prefix(prefix).map(str::to_owned))
        .collect()
}

/// The lines of a failed worker's log that say why.
fn cause(log: &Path) -> String {
    let text = std::fs::read_to_string(log).unwrap_or_default();
    text.lines()
        .filter(|l| l.contains("panicked") || l.contains("test ") || l.contains("database"))
        .take(6)
        .collect::<Vec<_>>()
        .join("\n")
}

#[test]
fn concurrent_runs_never_lose_a_live_database() {
    let Some(url) = server_url() else {
        eprintln!("skipped: PERSIST_TEST_DATABASE_URL names no database server");
        return;
    };
    let (rounds, workers, tests) = size();
    let dir = tempfile::tempdir().unwrap();
    assert!(
        rounds * workers * tests > 0,
        "PERSIST_STRESS asks for nothing"
    );
    let started = Instant::now();
    let mut failures = Vec::new();
    let mut seed = u64::from(std::process::id()) | 1;
    let mut used_total = 0;
    for round in 0..rounds {
        let stop = dir.path().join(format!("stop-{round}"));
        let env = [
            ("PERSIST_TEST_DATABASE_URL", url.clone()),
            ("PERSIST_STRESS_TESTS", tests.to_string()),
            ("PERSIST_STRESS_STOP", stop.display().to_string()),
        ];
        let sweepers: Vec<Child> = (0..2)
            .map(|s| {
                spawn_logged(
                    "driven_sweeper",
                    &env,
                    &dir.path().join(format!("sweeper-{round}-{s}")),
                )
            })
            .collect();
        let mut running = Vec::new();
        let mut used = std::collections::HashSet::new();
        for w in 0..workers {
            // Odd rounds start every worker at once; even rounds stagger them.
            if round % 2 == 0 {
                std::thread::sleep(pause_ms(&mut seed, 150));
            }
            let log = dir.path().join(format!("worker-{round}-{w}"));
            running.push((spawn_logged("driven_worker", &env, &log), log));
        }
        for (mut child, log) in running {
            if !child.wait().unwrap().success() {
                failures.push(format!("round {round}: {}", cause(&log)));
            }
            used.extend(printed(&log, "used "));
        }
        std::fs::write(&stop, b"").unwrap();
        for (s, mut sweeper) in sweepers.into_iter().enumerate() {
            let log = dir.path().join(format!("sweeper-{round}-{s}"));
            if !sweeper.wait().unwrap().success() {
                failures.push(format!("round {round}, sweeper: {}", cause(&log)));
            }
            for name in printed(&log, "dropped ") {
                if used.contains(&name) {
                    failures.push(format!(
                        "round {round}: a sweep dropped {name}, a database of a live run"
                    ));
                }
            }
        }
        used_total += used.len();
    }
    eprintln!(
        "{rounds} rounds of {workers} workers x {tests} tests with 2 sweepers, \
         {used_total} distinct databases used: {} failed, {:?}",
        failures.len(),
        started.elapsed()
    );
    assert!(failures.is_empty(), "{}", failures.join("\n---\n"));
}
