//! Looks after a server's warm pools: `cargo run --example pool -- drain [URL]` drops every idle
//! pool database and template (what a CI job runs last); `sweep` drops what dead tests left.
//! The URL defaults to `PERSIST_TEST_DATABASE_URL`.

use persist_core::PersistError;
use persist_core::db::backend::{drain_pools, sweep_leaked};

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), PersistError> {
    let mut args = std::env::args().skip(1);
    let command = args.next().unwrap_or_default();
    let url = args
        .next()
        .or_else(|| std::env::var("PERSIST_TEST_DATABASE_URL").ok())
        .ok_or_else(|| PersistError::Backend("give a server URL".into()))?;
    let dropped = match command.as_str() {
        "drain" => drain_pools(&url).await?,
        "sweep" => sweep_leaked(&url).await?,
        other => {
            return Err(PersistError::Backend(format!(
                "unknown command {other:?}: expected drain or sweep"
            )));
        }
    };
    println!("dropped {} databases", dropped.len());
    Ok(())
}
