//! The load benchmark: the `mesh_load` suite's workload (N users × M sessions × K messages over
//! four agents, with renames, deletes and model failures mixed in, every result checked) on
//! each backend, reporting throughput and turn latency.
//!
//! `cargo run --release -p persist-tests --example mesh_load [USERSxSESSIONSxMESSAGES]`
//! (default `50x4x20`, 4,000 turns). SQLite files and in-memory SQLite always run;
//! PostgreSQL and MariaDB run when `PERSIST_POSTGRES_URL` / `PERSIST_MYSQL_URL` name them.

use persist_core::db::BackendConfig;
use persist_core::mesh::{Mesh, ReferenceMesh, ScriptedLlm};
use persist_core::{CrossDatabaseInspector, PersistError};
use persist_tests::workload::{self, Shape};

const AGENTS: [&str; 4] = ["AgentA", "AgentB", "AgentC", "AgentD"];

fn main() -> Result<(), PersistError> {
    let shape = std::env::args()
        .nth(1)
        .and_then(|a| Shape::parse(&a))
        .unwrap_or_else(|| {
            Shape::from_env(Shape {
                users: 50,
                sessions: 4,
                messages: 20,
            })
        });
    let mut backends = vec![
        ("SQLite files", BackendConfig::SqliteFile),
        ("SQLite memory", BackendConfig::SqliteMemory),
    ];
    for (name, var) in [
        ("PostgreSQL", "PERSIST_POSTGRES_URL"),
        ("MariaDB", "PERSIST_MYSQL_URL"),
    ] {
        if let Ok(url) = std::env::var(var) {
            backends.push((name, BackendConfig::Server(url)));
        }
    }
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(4)
        .enable_all()
        .build()
        .expect("a runtime");
    println!(
        "{shape} ({} turns), 4 agents, model answers at once; every result checked after the run",
        shape.turns()
    );
    println!(
        "{:<14} {:>7} {:>7} {:>10} {:>9} {:>9} {:>9}",
        "backend", "stored", "failed", "turns/s", "p50", "p95", "p99"
    );
    for (name, backend) in backends {
        let outcome = runtime.block_on(async {
            let manager = persist_core::mesh::manager()
                .agents(AGENTS)
                .label("mesh_load")
                .backend(backend)
                .setup()
                .await?;
            let llm = ScriptedLlm::new();
            let mesh = Mesh::start(&manager, llm.clone());
            let inspector = CrossDatabaseInspector::for_system(manager.clone(), &ReferenceMesh);
            let outcome = workload::run(mesh.gateway(), &llm, &inspector, &AGENTS, shape).await;
            mesh.shutdown().await;
            manager.cleanup().await?;
            Ok::<_, PersistError>(outcome)
        })?;
        let ms = |d: std::time::Duration| format!("{:.1} ms", d.as_secs_f64() * 1000.0);
        println!(
            "{name:<14} {:>7} {:>7} {:>10.0} {:>9} {:>9} {:>9}",
            outcome.turns,
            outcome.failed_turns,
            outcome.throughput(),
            ms(outcome.percentile(50.0)),
            ms(outcome.percentile(95.0)),
            ms(outcome.percentile(99.0)),
        );
    }
    Ok(())
}
