//! Prepare mode (`cargo persist prepare`): each `#[persistence_test]` sets up its databases,
//! so that their templates are built (and, on a server, its pool filled), then gives them
//! back and returns without running its system, fixtures or body.
//!
//! Tests that would set up the same databases (the same agents, system, setup and backend) do
//! it once per process. Each test appends one JSON line to the file `PERSIST_PREPARE` names:
//! `{"test": …, "backend": …, "ms": …, "shared": …}`, or with `"error"` when setup failed
//! (the test then fails too); a test of a backend matrix whose server is not configured
//! records `{"test": …, "skipped": …}`.

use std::collections::HashSet;
use std::io::Write as _;
use std::sync::Mutex;
use std::time::Instant;

use crate::env::PREPARE_LIST_PREFIX;

use super::config::TestConfig;
use super::setup::{build_runtime, builder};
use crate::db::BackendConfig;

/// The record file, when this process prepares instead of testing.
pub(super) fn requested() -> Option<std::path::PathBuf> {
    crate::env::prepare_records()
}

/// Names the test `name` on stdout when the binary is listed for `cargo persist prepare`.
/// Called before `main` (the attribute registers it as a constructor): it must never panic.
pub fn announce(name: &str) {
    if crate::env::prepare_listing() {
        let mut out = std::io::stdout().lock();
        let _ = writeln!(out, "{PREPARE_LIST_PREFIX}{name}");
        let _ = out.flush();
    }
}

/// Sets up `config`'s databases once per process and records it in `records`.
#[track_caller]
pub(super) fn prepare(config: &TestConfig, backend: BackendConfig, records: &std::path::Path) {
    static DONE: Mutex<Option<HashSet<String>>> = Mutex::new(None);
    let name = config.name;
    let key = format!(
        "{:?} {:?} {:?} {backend:?}",
        config.agents,
        config.system.map(|f| f as usize),
        config.setup.map(|f| f as usize),
    );
    let started = Instant::now();
    let first = DONE
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .get_or_insert_with(HashSet::new)
        .insert(key.clone());
    let kind = format!("{backend:?}");
    let result = if first {
        prepare_databases(config, backend)
    } else {
        Ok(())
    };
    let mut record = serde_json::json!({
        "test": name,
        "backend": kind,
        "ms": started.elapsed().as_secs_f64() * 1000.0,
        "shared": !first,
    });
    if let Err(error) = &result {
        record["error"] = serde_json::Value::String(error.clone());
        // Another test of the same databases tries again.
        if let Some(done) = DONE.lock().unwrap_or_else(|p| p.into_inner()).as_mut() {
            done.remove(&key);
        }
    }
    write(name, &record, records);
    if let Err(error) = result {
        panic!("persistence_test `{name}`: could not prepare its databases: {error}");
    }
}

/// Records that a test of a backend matrix skipped itself (its server is not configured):
/// there is nothing to prepare for it.
#[track_caller]
pub(super) fn skipped(name: &str, reason: &str, records: &std::path::Path) {
    write(
        name,
        &serde_json::json!({ "test": name, "skipped": reason }),
        records,
    );
}

/// Appends one record (a JSON line) to the record file.
#[track_caller]
fn write(name: &str, record: &serde_json::Value, records: &std::path::Path) {
    let written = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(records)
        // One write of the whole line: tests of a binary record at once, and an appended
        // write is not interleaved with another.
        .and_then(|mut file| file.write_all(format!("{record}\n").as_bytes()));
    if let Err(e) = written {
        panic!(
            "persistence_test `{name}`: recording its preparation in {}: {e}",
            records.display()
        );
    }
}

/// Sets up `config`'s databases (building their templates) and gives them back at once:
/// prepare mode. The error, as text, when they cannot be.
fn prepare_databases(
    config: &TestConfig,
    backend: BackendConfig,
) -> std::result::Result<(), String> {
    let runtime = build_runtime(config).map_err(|e| format!("building the tokio runtime: {e}"))?;
    let system = config.system.map(|make| make());
    runtime.block_on(async {
        let manager = builder(config, backend, system.as_deref())
            .map_err(|e| e.to_string())?
            .setup()
            .await
            .map_err(|e| format!("could not set up the test databases: {e}"))?;
        manager
            .cleanup()
            .await
            .map_err(|e| format!("giving them back: {e}"))
    })
}
