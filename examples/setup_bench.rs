//! Per-test setup and teardown cost, per backend: the hot path of every suite.
//!
//! `cargo run --release --example setup_bench [ROUNDS]`. SQLite backends always run; a server
//! runs when `PERSIST_TEST_DATABASE_URL` names one. For each backend it measures, in the same
//! run, a test's databases (a gateway and four agents) made the way a person would by hand
//! (migrate and create tables in every database) and the framework's way (a template copy on
//! SQLite, a warm pool on a server), and prints medians, p95 and the ratio.

use std::time::{Duration, Instant};

use persist_core::db::BackendConfig;
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

/// Setup + teardown of one test's databases, `rounds` times after two warm-up rounds; with
/// `touch`, also a query on every database in between (connections open on first use).
async fn measure(
    backend: &BackendConfig,
    templates: bool,
    touch: bool,
    rounds: usize,
) -> Result<Stats, PersistError> {
    let mut samples = Vec::new();
    for round in 0..rounds + 2 {
        let started = Instant::now();
        let manager = MultiDatabaseManager::builder()
            .agents(AGENTS)
            .backend(backend.clone())
            .templates(templates)
            .label("setup_bench")
            .setup()
            .await?;
        if touch {
            for (role, _) in manager.locations() {
                manager.table_counts(&role).await?;
            }
        }
        manager.cleanup().await?;
        if round >= 2 {
            samples.push(started.elapsed());
        }
    }
    Ok(stats(samples))
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
        "{rounds} rounds per row, a gateway + {} agents per test, setup + teardown",
        AGENTS.len()
    );
    println!(
        "{:<14} {:>24} {:>22} {:>7} {:>28}",
        "backend",
        "migrate per test p50/p95",
        "persist p50/p95",
        "ratio",
        "persist + a query on each db"
    );
    for (name, backend) in backends {
        let by_hand = measure(&backend, false, false, rounds).await?;
        let framework = measure(&backend, true, false, rounds).await?;
        let touched = measure(&backend, true, true, rounds).await?;
        println!(
            "{name:<14} {:>11.2} / {:>7.2} ms {:>9.2} / {:>7.2} ms {:>6.1}x {:>16.2} / {:>7.2} ms",
            ms(by_hand.p50),
            ms(by_hand.p95),
            ms(framework.p50),
            ms(framework.p95),
            ms(by_hand.p50) / ms(framework.p50),
            ms(touched.p50),
            ms(touched.p95),
        );
    }
    Ok(())
}
