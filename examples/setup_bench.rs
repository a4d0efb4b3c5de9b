//! Per-test setup and teardown cost, per backend: the hot path of every suite.
//!
//! `cargo run --release --example setup_bench [ROUNDS]`. SQLite backends always run; a server
//! runs when `PERSIST_TEST_DATABASE_URL` names one. For each backend it measures, in the same
//! run, a test's databases (a gateway and four agents) made the way a person would by hand
//! (migrate and create tables in every database) and the framework's way (a template copy on
//! SQLite, a warm pool on a server), each with the same query on every database, and prints
//! medians, p95 and the ratio; then where a queried test's time goes (setup, the first query
//! on each database, the same again, teardown).

use std::time::{Duration, Instant};

use persist_core::db::catalog::count_rows;
use persist_core::db::{BackendConfig, DatabaseRole};
use persist_core::{MultiDatabaseManager, PersistError};

const AGENTS: [&str; 4] = ["AgentA", "AgentB", "AgentC", "AgentD"];

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

struct Stats {
    p50: Duration,
    p95: Duration,
}

fn stats(mut samples: Vec<Duration>) -> Stats {
    samples.sort();
    Stats {
        p50: samples[samples.len() / 2],
        p95: samples[(samples.len() * 95 / 100).min(samples.len() - 1)],
    }
}

/// The query a test makes on each database: a count of its first table.
async fn query_each(manager: &MultiDatabaseManager) -> Result<(), PersistError> {
    for (role, _) in manager.locations() {
        let table = match role {
            DatabaseRole::Gateway => "sessions",
            DatabaseRole::Agent(_) => "agent_sessions",
        };
        count_rows(manager.connection(&role)?, table).await?;
    }
    Ok(())
}

/// One test's phases, each timed.
#[derive(Default)]
struct Phases {
    total: Vec<Duration>,
    setup: Vec<Duration>,
    first: Vec<Duration>,
    again: Vec<Duration>,
    cleanup: Vec<Duration>,
}

/// Setup + teardown of one test's databases, `rounds` times after two warm-up rounds; with
/// `touch`, also a query on every database in between (and, timed apart, the same queries
/// again: the first pays for opening connections).
async fn measure(
    backend: &BackendConfig,
    templates: bool,
    touch: bool,
    rounds: usize,
) -> Result<Phases, PersistError> {
    let mut phases = Phases::default();
    for round in 0..rounds + 2 {
        let started = Instant::now();
        let manager = persist_core::mesh::manager()
            .agents(AGENTS)
            .backend(backend.clone())
            .templates(templates)
            // As `#[persistence_test]` does: a later test of this process may take them.
            .reuse(templates)
            .label("setup_bench")
            .setup()
            .await?;
        let set_up = Instant::now();
        let (mut first, mut again) = (Duration::ZERO, Duration::ZERO);
        if touch {
            query_each(&manager).await?;
            first = set_up.elapsed();
            let second = Instant::now();
            query_each(&manager).await?;
            again = second.elapsed();
        }
        let closing = Instant::now();
        manager.cleanup().await?;
        if round >= 2 {
            // The second round of queries is not part of a test's cost.
            phases.total.push(started.elapsed() - again);
            phases.setup.push(set_up - started);
            phases.first.push(first);
            phases.again.push(again);
            phases.cleanup.push(closing.elapsed());
        }
    }
    Ok(phases)
}

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), PersistError> {
    let rounds: usize = std::env::args()
        .nth(1)
        .and_then(|n| n.parse().ok())
        .unwrap_or(30);
    let mut backends = vec![
        ("sqlite file", BackendConfig::SqliteFile),
        ("sqlite memory", BackendConfig::SqliteMemory),
    ];
    if let Ok(BackendConfig::Server(url)) = BackendConfig::from_env() {
        let name = if url.starts_with("postgres") {
            "postgresql"
        } else {
            "mysql/mariadb"
        };
        backends.push((name, BackendConfig::Server(url)));
    }
    println!(
        "{rounds} rounds per row, a gateway + {} agents per test, medians (p95)",
        AGENTS.len()
    );
    println!(
        "{:<14} {:>30} {:>30} {:>7} {:>30}",
        "backend",
        "a query on each db: by hand",
        "persist",
        "ratio",
        "setup + teardown: by hand / persist"
    );
    let mut profiles = Vec::new();
    for (name, backend) in backends {
        let by_hand = measure(&backend, false, false, rounds).await?;
        let framework = measure(&backend, true, false, rounds).await?;
        let by_hand_queried = measure(&backend, false, true, rounds).await?;
        let queried = measure(&backend, true, true, rounds).await?;
        let (h, q) = (stats(by_hand_queried.total), stats(queried.total.clone()));
        println!(
            "{name:<14} {:>18.2} ({:>7.2}) ms {:>18.2} ({:>7.2}) ms {:>6.1}x {:>14.2} / {:.2} ms",
            ms(h.p50),
            ms(h.p95),
            ms(q.p50),
            ms(q.p95),
            ms(h.p50) / ms(q.p50),
            ms(stats(by_hand.total).p50),
            ms(stats(framework.total).p50),
        );
        profiles.push((name, queried));
    }
    println!("\nwhere a queried test's time goes (persist, medians)");
    println!(
        "{:<14} {:>10} {:>24} {:>18} {:>10}",
        "backend", "setup", "first query on each db", "the same again", "teardown"
    );
    for (name, p) in profiles {
        println!(
            "{name:<14} {:>7.2} ms {:>21.2} ms {:>15.2} ms {:>7.2} ms",
            ms(stats(p.setup).p50),
            ms(stats(p.first).p50),
            ms(stats(p.again).p50),
            ms(stats(p.cleanup).p50),
        );
    }
    Ok(())
}
