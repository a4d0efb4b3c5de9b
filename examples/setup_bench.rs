//! Per-test setup and teardown cost, per backend: the hot path of every suite.
//!
//! `cargo run --release --example setup_bench [ROUNDS]`. SQLite backends always run; a server
//! runs when `PERSIST_TEST_DATABASE_URL` names one.

use std::time::{Duration, Instant};

use persist_core::db::BackendConfig;
use persist_core::{MultiDatabaseManager, PersistError};

const AGENTS: [&str; 4] = ["AgentA", "AgentB", "AgentC", "AgentD"];

fn stats(mut samples: Vec<Duration>) -> String {
    samples.sort();
    let ms = |d: Duration| d.as_secs_f64() * 1000.0;
    let mean = samples.iter().map(|d| ms(*d)).sum::<f64>() / samples.len() as f64;
    format!(
        "mean {mean:7.2} ms  p50 {:7.2} ms  p95 {:7.2} ms",
        ms(samples[samples.len() / 2]),
        ms(samples[samples.len() * 95 / 100])
    )
}

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), PersistError> {
    let rounds: usize = std::env::args()
        .nth(1)
        .and_then(|n| n.parse().ok())
        .unwrap_or(30);
    let mut backends = vec![
        ("sqlite-file", BackendConfig::SqliteFile),
        ("sqlite-memory", BackendConfig::SqliteMemory),
    ];
    if let Ok(BackendConfig::Server(url)) = BackendConfig::from_env() {
        backends.push(("server", BackendConfig::Server(url)));
    }
    println!("{rounds} rounds, gateway + {} agents each", AGENTS.len());
    for (name, backend) in backends {
        let (mut setup, mut teardown) = (Vec::new(), Vec::new());
        for _ in 0..rounds {
            let started = Instant::now();
            let manager = MultiDatabaseManager::builder()
                .agents(AGENTS)
                .backend(backend.clone())
                .label("setup_bench")
                .setup()
                .await?;
            setup.push(started.elapsed());
            let started = Instant::now();
            manager.cleanup().await?;
            teardown.push(started.elapsed());
        }
        println!("{name:<14} setup    {}", stats(setup));
        println!("{name:<14} teardown {}", stats(teardown));
    }
    Ok(())
}
