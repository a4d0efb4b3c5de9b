//! Looks after a server's test databases:
//! - `cargo run --example pool -- list [URL]` lists every database the framework keeps there:
//!   its kind and state, whose it is (the test and its part: `gateway`, `agent AgentB`),
//!   whether its owner is alive, and its size;
//! - `drain` drops every idle pool database and template (what a CI job runs last);
//! - `sweep` drops what dead tests left, trying databases that refused to drop again now.
//!
//! A database the server refused to drop is listed as `stuck`, with the server's reason.
//!
//! The URL defaults to `PERSIST_TEST_DATABASE_URL`.

use persist_core::PersistError;
use persist_core::db::{drain_pools, list_databases, sweep_leaked};

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), PersistError> {
    let mut args = std::env::args().skip(1);
    let command = args.next().unwrap_or_default();
    let url = args
        .next()
        .or_else(|| std::env::var("PERSIST_TEST_DATABASE_URL").ok())
        .ok_or_else(|| PersistError::Backend("give a server URL".into()))?;
    let dropped = match command.as_str() {
        "list" => return list(&url).await,
        "drain" => drain_pools(&url).await?,
        "sweep" => sweep_leaked(&url).await?,
        other => {
            return Err(PersistError::Backend(format!(
                "unknown command {other:?}: expected list, drain or sweep"
            )));
        }
    };
    println!("dropped {} databases", dropped.len());
    Ok(())
}

async fn list(url: &str) -> Result<(), PersistError> {
    let databases = list_databases(url).await?;
    println!(
        "{:<52} {:<8} {:<8} {:>9}  {:<5}  whose",
        "database", "kind", "state", "size", "alive"
    );
    let mut total = 0;
    for db in &databases {
        let size = db.size_bytes.unwrap_or(0);
        total += size;
        let size = match db.size_bytes {
            Some(bytes) => format!("{:.1} MB", bytes as f64 / 1e6),
            None => "gone".to_owned(),
        };
        println!(
            "{:<52} {:<8} {:<8} {:>9}  {:<5}  {}",
            db.name,
            db.kind,
            if db.is_stuck() { "stuck" } else { &db.state },
            size,
            if db.owner_alive { "yes" } else { "-" },
            db.label
        );
    }
    for db in databases.iter().filter(|db| db.is_stuck()) {
        println!(
            "stuck: {} would not drop ({} tries): {}",
            db.name,
            db.drop_failures,
            db.drop_error.as_deref().unwrap_or("no reason given")
        );
    }
    println!(
        "{} databases, {:.1} MB",
        databases.len(),
        total as f64 / 1e6
    );
    let idle = databases
        .iter()
        .filter(|db| db.kind == "pool" && db.state == "ready")
        .count();
    let bound = persist_core::db::pool_max_idle();
    println!("{idle} idle pool databases (a run keeps at most {bound})");
    Ok(())
}
