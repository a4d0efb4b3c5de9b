//! `list`, `drain` and `sweep`: the test databases on a server or in a directory.

use std::process::ExitCode;

use persist_core::db;
use serde_json::json;

use crate::error::CliError;
use crate::out::{Out, Paint, ago, size};
use crate::place::Place;

/// Every database (or SQLite test directory) there, whose it is and its size.
pub async fn list(place: &Place, out: &Out) -> Result<ExitCode, CliError> {
    match place.server()? {
        Some(url) => list_server(url, out).await,
        None => list_directory(place, out),
    }
}

async fn list_server(url: &str, out: &Out) -> Result<ExitCode, CliError> {
    let databases = db::list_databases(url).await?;
    if out.json() {
        let rows: Vec<_> = databases
            .iter()
            .map(|d| {
                json!({
                    "name": d.name, "kind": d.kind, "state": d.state, "label": d.label,
                    "owner_alive": d.owner_alive, "size_bytes": d.size_bytes,
                    "created_at_ms": d.created_at_ms, "stuck": d.is_stuck(),
                    "drop_error": d.drop_error,
                })
            })
            .collect();
        out.document(&json!({ "place": "server", "databases": rows }));
        return Ok(ExitCode::SUCCESS);
    }
    out.line(&out.paint(
        &format!(
            "{:<44} {:<8} {:<8} {:>9}  {:<5}  whose",
            "database", "kind", "state", "size", "alive"
        ),
        Paint::Bold,
    ));
    let mut total = 0;
    for d in &databases {
        total += d.size_bytes.unwrap_or(0);
        let state = if d.is_stuck() { "stuck" } else { &d.state };
        let state = match state {
            "stuck" => out.paint(&format!("{state:<8}"), Paint::Red),
            "kept" => out.paint(&format!("{state:<8}"), Paint::Yellow),
            _ => format!("{state:<8}"),
        };
        out.line(&format!(
            "{:<44} {:<8} {state} {:>9}  {:<5}  {}",
            d.name,
            d.kind,
            size(d.size_bytes.map(|b| b.max(0) as u64)),
            if d.owner_alive { "yes" } else { "-" },
            d.label
        ));
    }
    for d in databases.iter().filter(|d| d.is_stuck()) {
        out.line(&format!(
            "{} {} would not drop ({} tries): {}",
            out.paint("stuck:", Paint::Red),
            d.name,
            d.drop_failures,
            d.drop_error.as_deref().unwrap_or("no reason given")
        ));
    }
    let idle = databases
        .iter()
        .filter(|d| d.kind == "pool" && d.state == "ready")
        .count();
    out.line(&format!(
        "{} databases, {}; {idle} idle in pools (a run keeps at most {})",
        databases.len(),
        size(Some(total.max(0) as u64)),
        db::pool_max_idle()
    ));
    Ok(ExitCode::SUCCESS)
}

fn list_directory(place: &Place, out: &Out) -> Result<ExitCode, CliError> {
    let Place::Directory(parent) = place else {
        unreachable!("a server or memory is handled before")
    };
    let dirs = db::list_test_directories(parent)?;
    if out.json() {
        out.document(&json!({ "place": "directory", "parent": parent, "directories": dirs }));
        return Ok(ExitCode::SUCCESS);
    }
    out.line(&out.paint(
        &format!("{:<8} {:>9}  {:<14} {}", "state", "size", "since", "test"),
        Paint::Bold,
    ));
    for d in &dirs {
        let state = if d.kept {
            out.paint("kept    ", Paint::Yellow)
        } else if d.owner_alive {
            out.paint("in use  ", Paint::Green)
        } else {
            out.paint("left    ", Paint::Dim)
        };
        out.line(&format!(
            "{state} {:>9}  {:<14} {}",
            size(Some(d.size_bytes)),
            d.kept_at_ms.map(ago).unwrap_or_else(|| "-".into()),
            d.test
                .clone()
                .unwrap_or_else(|| d.path.display().to_string())
        ));
    }
    out.line(&format!(
        "{} test directories in {}",
        dirs.len(),
        parent.display()
    ));
    Ok(ExitCode::SUCCESS)
}

/// Drops idle pool databases and templates (a server); SQLite keeps no pools, so there it
/// sweeps.
pub async fn drain(place: &Place, out: &Out) -> Result<ExitCode, CliError> {
    let Some(url) = place.server()? else {
        out.note("SQLite keeps no pools: sweeping what dead processes left instead");
        return sweep(place, out).await;
    };
    let before = db::list_databases(url).await?;
    let idle = before
        .iter()
        .filter(|d| matches!(d.kind.as_str(), "pool" | "template") && d.state == "ready")
        .count();
    out.progress(&format!(
        "draining {idle} idle databases on {}…",
        place.describe()
    ));
    let dropped = db::drain_pools(url).await?;
    finish_drop(url, "drain", &dropped, out).await
}

/// Drops what tests of dead processes left.
pub async fn sweep(place: &Place, out: &Out) -> Result<ExitCode, CliError> {
    match place.server()? {
        Some(url) => {
            out.progress(&format!("sweeping {}…", place.describe()));
            let dropped = db::sweep_leaked(url).await?;
            finish_drop(url, "sweep", &dropped, out).await
        }
        None => {
            let Place::Directory(parent) = place else {
                unreachable!("memory is refused by `server()`")
            };
            let removed = db::sweep_test_directories(parent);
            out.document(&json!({ "command": "sweep", "removed": removed }));
            out.line(&format!(
                "{} {} test directories of dead processes",
                out.paint("removed", Paint::Green),
                removed.len()
            ));
            Ok(ExitCode::SUCCESS)
        }
    }
}

/// The summary of a drain or sweep; databases that would not drop fail it (exit code 1).
async fn finish_drop(
    url: &str,
    command: &str,
    dropped: &[String],
    out: &Out,
) -> Result<ExitCode, CliError> {
    let stuck: Vec<_> = db::list_databases(url)
        .await?
        .into_iter()
        .filter(|d| d.is_stuck())
        .collect();
    out.document(&json!({
        "command": command,
        "dropped": dropped,
        "stuck": stuck.iter().map(|d| json!({ "name": d.name, "reason": d.drop_error })).collect::<Vec<_>>(),
    }));
    out.line(&format!(
        "{} {} databases",
        out.paint("dropped", Paint::Green),
        dropped.len()
    ));
    if stuck.is_empty() {
        Ok(ExitCode::SUCCESS)
    } else {
        Err(CliError::NotDropped(stuck.len()))
    }
}
