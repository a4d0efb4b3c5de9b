//! `cargo persist prepare`: every template the workspace's persistence tests need, built
//! before the run.
//!
//! 1. `cargo test --no-run --message-format=json` (with the user's arguments) builds the test
//!    binaries and names them;
//! 2. each binary, listed with `PERSIST_PREPARE_LIST` set, names its `#[persistence_test]`s
//!    (the attribute registers them), and nothing else runs;
//! 3. each binary with persistence tests runs just those, with `PERSIST_PREPARE` set: each
//!    sets up its databases (once per distinct set of schemas and backend), gives them back
//!    and returns, recording what it did in a file this command then sums up.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode, Stdio};
use std::time::Instant;

use persist_core::env::{PREPARE, PREPARE_LIST, PREPARE_LIST_PREFIX};
use serde_json::{Value, json};

use crate::error::CliError;
use crate::out::{Out, Paint};
use crate::place::Place;

/// Whether this process runs inside a test binary that `prepare` started (a setup script that
/// reaches itself): then there is nothing to do.
pub fn nested() -> bool {
    persist_core::env::prepare_records().is_some()
}

/// One test binary and its persistence tests.
struct Binary {
    path: PathBuf,
    name: String,
    /// Each test's full path (`crate::module::test`, as it records itself) and its name for
    /// libtest (`module::test`).
    tests: Vec<(String, String)>,
}

pub async fn run(
    place: &Place,
    cargo_args: &[String],
    include_ignored: bool,
    out: &Out,
) -> Result<ExitCode, CliError> {
    if let Place::Memory = place {
        out.note("in-memory SQLite: every template lives in its test process; nothing to prepare");
        out.document(&json!({ "command": "prepare", "tests": 0, "note": "in memory" }));
        return Ok(ExitCode::SUCCESS);
    }
    // A server that does not answer is said once, here.
    place.server()?;
    let started = Instant::now();
    out.progress("building the test binaries…");
    let executables = build(cargo_args)?;
    let mut binaries = Vec::new();
    for (i, (path, name)) in executables.into_iter().enumerate() {
        out.progress(&format!("[{}] finding persistence tests in {name}", i + 1));
        let tests = persistence_tests(&path, include_ignored)?;
        if !tests.is_empty() {
            binaries.push(Binary { path, name, tests });
        }
    }
    let records = tempfile::NamedTempFile::new().map_err(|e| CliError::Io {
        what: "making the record file".into(),
        source: e,
    })?;
    let mut outputs = Vec::with_capacity(binaries.len());
    for (i, binary) in binaries.iter().enumerate() {
        out.progress(&format!(
            "[{}/{}] preparing {} ({} tests)",
            i + 1,
            binaries.len(),
            binary.name,
            binary.tests.len()
        ));
        outputs.push(prepare_binary(
            binary,
            place,
            include_ignored,
            records.path(),
        )?);
    }
    let records = read_records(records.path())?;
    // A test is judged by its record, not by libtest's verdict: a `#[should_panic]` test that
    // returns early "fails" there, and prepared all the same. Full paths name one test of
    // one binary (they start with the binary's crate).
    let recorded: BTreeSet<&str> = records.iter().filter_map(|r| r["test"].as_str()).collect();
    let mut unrecorded = Vec::new();
    for (binary, output) in binaries.iter().zip(&outputs) {
        for (full, name) in &binary.tests {
            if !recorded.contains(full.as_str()) {
                unrecorded.push(json!({
                    "test": full,
                    "error": format!("{}: `{name}` did not run: {}", binary.name, output.trim()),
                }));
            }
        }
    }
    let set_up = records.iter().filter(|r| r["shared"] == false).count();
    let skipped = records
        .iter()
        .filter(|r| r.get("skipped").is_some())
        .count();
    let failed: Vec<&Value> = records
        .iter()
        .filter(|r| r.get("error").is_some())
        .chain(&unrecorded)
        .collect();
    let total: usize = binaries.iter().map(|b| b.tests.len()).sum();
    let elapsed = started.elapsed();
    out.document(&json!({
        "command": "prepare",
        "place": place.describe(),
        "binaries": binaries.iter().map(|b| json!({ "name": b.name, "tests": b.tests.len() })).collect::<Vec<_>>(),
        "tests": total,
        "set_up": set_up,
        "skipped": skipped,
        "failed": failed,
        "seconds": elapsed.as_secs_f64(),
    }));
    for record in &failed {
        out.note(&format!(
            "{} {}: {}",
            out.paint("failed", Paint::Red),
            record["test"].as_str().unwrap_or("?"),
            record["error"].as_str().unwrap_or("?")
        ));
    }
    let skipped = match skipped {
        0 => String::new(),
        n => format!(" ({n} skipped: their server is not configured)"),
    };
    out.line(&format!(
        "{} {total} persistence tests in {} binaries on {}: {set_up} distinct setups, in {:.1} s{skipped}",
        out.paint("prepared", Paint::Green),
        binaries.len(),
        place.describe(),
        elapsed.as_secs_f64()
    ));
    if !failed.is_empty() {
        return Err(CliError::PrepareFailed {
            failed: failed.len(),
            tests: total,
        });
    }
    Ok(ExitCode::SUCCESS)
}

/// The records the tests wrote so far, one JSON object a line.
fn read_records(path: &Path) -> Result<Vec<Value>, CliError> {
    let text = std::fs::read_to_string(path).map_err(|e| CliError::Io {
        what: format!("reading the record file {}", path.display()),
        source: e,
    })?;
    Ok(text
        .lines()
        .filter_map(|l| serde_json::from_str(l).ok())
        .collect())
}

/// Builds the test binaries and returns each executable with its target's name.
fn build(cargo_args: &[String]) -> Result<Vec<(PathBuf, String)>, CliError> {
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    let mut command = Command::new(&cargo);
    command.args([
        "test",
        "--no-run",
        "--message-format=json-render-diagnostics",
    ]);
    if cargo_args.is_empty() {
        command.arg("--workspace");
    } else {
        command.args(cargo_args);
    }
    let output = command
        .stderr(Stdio::inherit())
        .output()
        .map_err(|e| CliError::Command(format!("running cargo: {e}")))?;
    if !output.status.success() {
        return Err(CliError::Command(
            "`cargo test --no-run` failed: the test binaries do not build".into(),
        ));
    }
    let mut binaries = BTreeSet::new();
    for line in String::from_utf8_lossy(&output.stdout).lines() {
        let Ok(message) = serde_json::from_str::<Value>(line) else {
            continue;
        };
        if message["reason"] != "compiler-artifact" || message["profile"]["test"] != true {
            continue;
        }
        if let Some(path) = message["executable"].as_str() {
            let name = message["target"]["name"].as_str().unwrap_or("?").to_owned();
            binaries.insert((PathBuf::from(path), name));
        }
    }
    Ok(binaries.into_iter().collect())
}

/// The persistence tests of a binary: (full path, libtest name), without its `#[ignore]`d
/// ones unless `include_ignored`.
fn persistence_tests(
    binary: &Path,
    include_ignored: bool,
) -> Result<Vec<(String, String)>, CliError> {
    let list = |ignored_only: bool| -> Result<String, CliError> {
        let mut command = Command::new(binary);
        command.args(["--list", "--format", "terse"]);
        if ignored_only {
            command.arg("--ignored");
        }
        let output = command
            .env(PREPARE_LIST, "1")
            .env_remove(PREPARE)
            .stderr(Stdio::null())
            .output()
            .map_err(|e| CliError::Command(format!("listing {}: {e}", binary.display())))?;
        Ok(String::from_utf8_lossy(&output.stdout).into_owned())
    };
    let text = list(false)?;
    let ignored_text = if include_ignored {
        String::new()
    } else {
        list(true)?
    };
    let names = |text: &str| -> BTreeSet<String> {
        text.lines()
            .filter_map(|l| l.strip_suffix(": test"))
            .map(str::to_owned)
            .collect()
    };
    let (listed, ignored) = (names(&text), names(&ignored_text));
    let mut tests: Vec<(String, String)> = text
        .lines()
        .filter_map(|l| l.strip_prefix(PREPARE_LIST_PREFIX))
        // Registered with the crate's name first; libtest names tests without it.
        .filter_map(|full| {
            full.split_once("::")
                .map(|(_, path)| (full.to_owned(), path.to_owned()))
        })
        .filter(|(_, path)| listed.contains(path) && !ignored.contains(path))
        .collect();
    tests.sort();
    tests.dedup();
    Ok(tests)
}

/// Runs a binary's persistence tests in prepare mode; what it printed, for a test that left
/// no record.
fn prepare_binary(
    binary: &Binary,
    place: &Place,
    include_ignored: bool,
    records: &Path,
) -> Result<String, CliError> {
    let mut command = Command::new(&binary.path);
    command.arg("--exact");
    if include_ignored {
        command.arg("--include-ignored");
    }
    command
        .args(binary.tests.iter().map(|(_, name)| name))
        .env(PREPARE, records)
        .env_remove(PREPARE_LIST);
    match place {
        Place::Server(url) => {
            command.env(persist_core::env::DATABASE_URL_ENV, url);
        }
        Place::Directory(dir) => {
            command.env(persist_core::env::TEST_DIR_ENV, dir);
        }
        Place::Memory => {}
    }
    let output = command
        .output()
        .map_err(|e| CliError::Command(format!("running {}: {e}", binary.path.display())))?;
    let text = String::from_utf8_lossy(&output.stdout) + String::from_utf8_lossy(&output.stderr);
    let tail: Vec<&str> = text.lines().rev().take(8).collect();
    Ok(tail.into_iter().rev().collect::<Vec<_>>().join("\n"))
}
