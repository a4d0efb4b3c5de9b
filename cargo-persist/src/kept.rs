//! `kept`, `open`, `clean` and `snapshot`: the databases failed tests kept
//! (`keep = "on_failure"`, or `PERSIST_KEEP`).

use std::path::PathBuf;
use std::process::ExitCode;

use persist_core::db::{self, DatabaseRole};
use serde::Serialize;
use serde_json::json;

use crate::error::CliError;
use crate::out::{Out, Paint, ago, size};
use crate::place::Place;

/// The databases one test kept in one run.
#[derive(Clone, Debug, Serialize)]
pub struct KeptSet {
    /// The test's path (`suite::isolation`), as its crate's tests name it.
    pub test: String,
    /// When they were kept, epoch milliseconds.
    pub kept_at_ms: i64,
    /// Each database, the gateway first.
    pub databases: Vec<KeptDatabase>,
    /// The SQLite test directory that holds them.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub directory: Option<PathBuf>,
}

/// One kept database.
#[derive(Clone, Debug, Serialize)]
pub struct KeptDatabase {
    /// `gateway` or `agent <name>`.
    pub role: String,
    /// Its name on the server, or its file's stem.
    pub name: String,
    /// The URL to connect with.
    pub url: String,
    /// Its file, for SQLite.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub path: Option<PathBuf>,
    /// Its size (`None`: gone).
    pub size_bytes: Option<u64>,
}

/// The label a test's database is recorded under on a server: `test · role`.
const LABEL_SEPARATOR: &str = " · ";

/// Every kept set there, newest first.
pub async fn collect(place: &Place) -> Result<Vec<KeptSet>, CliError> {
    let mut sets = match place.server()? {
        Some(url) => from_server(url).await?,
        None => {
            let Place::Directory(parent) = place else {
                unreachable!("memory is refused by `server()`")
            };
            db::list_test_directories(parent)?
                .into_iter()
                .filter(|d| d.kept)
                .map(|d| KeptSet {
                    test: d
                        .test
                        .as_deref()
                        .map(test_path)
                        .unwrap_or_else(|| d.path.display().to_string()),
                    kept_at_ms: d.kept_at_ms.unwrap_or(0),
                    databases: d
                        .databases
                        .iter()
                        .map(|l| KeptDatabase {
                            role: l.role.clone().unwrap_or_else(|| l.name.clone()),
                            name: l.name.clone(),
                            url: l.url.clone(),
                            path: l.path.clone(),
                            size_bytes: l
                                .path
                                .as_ref()
                                .and_then(|p| std::fs::metadata(p).ok())
                                .map(|m| m.len()),
                        })
                        .collect(),
                    directory: Some(d.path),
                })
                .collect()
        }
    };
    for set in &mut sets {
        set.databases
            .sort_by_key(|d| (d.role != "gateway", d.role.clone()));
    }
    sets.sort_by(|a, b| b.kept_at_ms.cmp(&a.kept_at_ms).then(a.test.cmp(&b.test)));
    Ok(sets)
}

/// A test's full name is its crate's, then its path: tests are named without the crate.
fn test_path(label: &str) -> String {
    match label.split_once("::") {
        Some((_, rest)) => rest.to_owned(),
        None => label.to_owned(),
    }
}

/// Kept databases on a server, grouped by test; a test kept twice (two failed runs) is two
/// sets, told apart by a role seen again.
async fn from_server(url: &str) -> Result<Vec<KeptSet>, CliError> {
    let mut kept: Vec<_> = db::list_databases(url)
        .await?
        .into_iter()
        .filter(|d| d.state == "kept")
        .collect();
    kept.sort_by_key(|d| std::cmp::Reverse(d.created_at_ms));
    let mut sets: Vec<KeptSet> = Vec::new();
    for d in kept {
        let (test, role) = d
            .label
            .split_once(LABEL_SEPARATOR)
            .map(|(t, r)| (test_path(t), r.to_owned()))
            .unwrap_or_else(|| (test_path(&d.label), d.name.clone()));
        let database = KeptDatabase {
            role: role.clone(),
            name: d.name.clone(),
            url: db::database_url(url, &d.name)?,
            path: None,
            size_bytes: d.size_bytes.map(|b| b.max(0) as u64),
        };
        match sets
            .iter_mut()
            .find(|s| s.test == test && !s.databases.iter().any(|x| x.role == role))
        {
            Some(set) => {
                set.kept_at_ms = set.kept_at_ms.max(d.created_at_ms);
                set.databases.push(database);
            }
            None => sets.push(KeptSet {
                test,
                kept_at_ms: d.created_at_ms,
                databases: vec![database],
                directory: None,
            }),
        }
    }
    Ok(sets)
}

/// `cargo persist kept`.
pub async fn list(place: &Place, out: &Out) -> Result<ExitCode, CliError> {
    let sets = collect(place).await?;
    out.document(&json!({ "kept": sets }));
    if sets.is_empty() {
        out.line(&format!("no kept databases in {}", place.describe()));
        return Ok(ExitCode::SUCCESS);
    }
    for set in &sets {
        out.line(&format!(
            "{}  {}",
            out.paint(&set.test, Paint::Bold),
            out.paint(&ago(set.kept_at_ms), Paint::Dim)
        ));
        for d in &set.databases {
            let place = d
                .path
                .as_ref()
                .map(|p| p.display().to_string())
                .unwrap_or_else(|| d.name.clone());
            out.line(&format!(
                "  {:<20} {:>9}  {place}",
                d.role,
                size(d.size_bytes)
            ));
        }
    }
    out.line(&format!(
        "{} kept test(s); open one with `cargo persist open TEST [ROLE]`, drop them with `cargo persist clean`",
        sets.len()
    ));
    Ok(ExitCode::SUCCESS)
}

/// The newest kept set of the test `name`: its full path, or a unique end of it.
pub fn find<'a>(sets: &'a [KeptSet], name: &str) -> Result<&'a KeptSet, CliError> {
    let name = name.trim();
    // Its path, or its path after its crate's name (`cli::isolation`), as `list` shows it.
    if let Some(set) = sets.iter().find(|s| {
        s.test == name
            || name
                .strip_suffix(&s.test)
                .is_some_and(|c| c.ends_with("::"))
    }) {
        return Ok(set);
    }
    let suffix = format!("::{name}");
    let mut matches: Vec<&KeptSet> = sets.iter().filter(|s| s.test.ends_with(&suffix)).collect();
    let mut tests: Vec<String> = matches.iter().map(|s| s.test.clone()).collect();
    tests.dedup();
    match tests.len() {
        0 => {
            let mut known: Vec<String> = sets.iter().map(|s| s.test.clone()).collect();
            known.sort();
            known.dedup();
            Err(CliError::UnknownTest {
                test: name.to_owned(),
                known,
            })
        }
        1 => Ok(matches.remove(0)),
        _ => Err(CliError::AmbiguousTest {
            test: name.to_owned(),
            matches: tests,
        }),
    }
}

/// The database of `role` (`gateway`, `agent X` or `X`) in a set.
fn database<'a>(set: &'a KeptSet, role: Option<&str>) -> Result<&'a KeptDatabase, CliError> {
    let role = role.unwrap_or("gateway").trim();
    let agent = format!("agent {role}");
    set.databases
        .iter()
        .find(|d| d.role == role || d.role == agent)
        .ok_or_else(|| CliError::UnknownRole {
            test: set.test.clone(),
            role: role.to_owned(),
            roles: set.databases.iter().map(|d| d.role.clone()).collect(),
        })
}

/// `cargo persist open TEST [ROLE]`: the client that fits, on the database; its exit code.
pub async fn open(
    place: &Place,
    test: &str,
    role: Option<&str>,
    print: bool,
    out: &Out,
) -> Result<ExitCode, CliError> {
    let sets = collect(place).await?;
    let set = find(&sets, test)?;
    let database = database(set, role)?;
    ensure_present(place, set, database).await?;
    let (tool, args) = client(database)?;
    if print || out.json() {
        out.document(
            &json!({ "test": set.test, "role": database.role, "tool": tool, "args": args }),
        );
        out.line(&shell_line(tool, &args));
        return Ok(ExitCode::SUCCESS);
    }
    if !on_path(tool) {
        return Err(CliError::ToolMissing {
            tool,
            target: database
                .path
                .as_ref()
                .map(|p| p.display().to_string())
                .unwrap_or_else(|| db::BackendConfig::Server(database.url.clone()).to_string()),
        });
    }
    out.note(&format!(
        "{} {} of {}",
        out.paint("opening", Paint::Green),
        database.role,
        set.test
    ));
    let status = std::process::Command::new(tool)
        .args(&args)
        .status()
        .map_err(|e| CliError::Command(format!("running {tool}: {e}")))?;
    Ok(match status.code() {
        Some(0) => ExitCode::SUCCESS,
        _ => ExitCode::FAILURE,
    })
}

/// The client and its arguments for a database.
fn client(database: &KeptDatabase) -> Result<(&'static str, Vec<String>), CliError> {
    if let Some(path) = &database.path {
        return Ok(("sqlite3", vec![path.display().to_string()]));
    }
    let url = url::Url::parse(&database.url)
        .map_err(|e| CliError::Usage(format!("the kept database's URL is not a URL: {e}")))?;
    match url.scheme() {
        "postgres" | "postgresql" => Ok(("psql", vec![database.url.clone()])),
        _ => {
            let mut args = vec![
                "--protocol=tcp".to_owned(),
                "-h".to_owned(),
                url.host_str().unwrap_or("127.0.0.1").to_owned(),
                "-P".to_owned(),
                url.port().unwrap_or(3306).to_string(),
                "-u".to_owned(),
                url.username().to_owned(),
            ];
            if let Some(password) = url.password() {
                args.push(format!("-p{password}"));
            }
            args.push(database.name.clone());
            Ok(("mysql", args))
        }
    }
}

fn shell_line(tool: &str, args: &[String]) -> String {
    let quote = |a: &String| {
        if a.chars()
            .all(|c| c.is_ascii_alphanumeric() || "-_./:=@?&%".contains(c))
        {
            a.clone()
        } else {
            format!("'{}'", a.replace('\'', r"'\''"))
        }
    };
    std::iter::once(tool.to_owned())
        .chain(args.iter().map(quote))
        .collect::<Vec<_>>()
        .join(" ")
}

fn on_path(tool: &str) -> bool {
    std::env::var_os("PATH").is_some_and(|paths| {
        std::env::split_paths(&paths).any(|dir| {
            let candidate = dir.join(tool);
            candidate.is_file() || candidate.with_extension("exe").is_file()
        })
    })
}

/// A kept database that is recorded but gone is an error that says so.
async fn ensure_present(
    place: &Place,
    set: &KeptSet,
    database: &KeptDatabase,
) -> Result<(), CliError> {
    let gone = |detail: String| CliError::KeptGone {
        test: set.test.clone(),
        role: database.role.clone(),
        detail,
    };
    match (&database.path, place) {
        (Some(path), _) if !path.is_file() => Err(gone(format!("no file {}", path.display()))),
        (None, Place::Server(_)) if database.size_bytes.is_none() => Err(gone(format!(
            "the server has no database {}",
            database.name
        ))),
        _ => Ok(()),
    }
}

/// `cargo persist clean [TEST]`: drops a test's kept databases, or all of them.
pub async fn clean(place: &Place, test: Option<&str>, out: &Out) -> Result<ExitCode, CliError> {
    let sets = collect(place).await?;
    let chosen: Vec<&KeptSet> = match test {
        Some(name) => {
            let found = find(&sets, name)?;
            // Every run of that test, not only the newest.
            sets.iter().filter(|s| s.test == found.test).collect()
        }
        None => sets.iter().collect(),
    };
    let mut dropped = Vec::new();
    match place {
        Place::Server(url) => {
            let names: Vec<String> = chosen
                .iter()
                .flat_map(|s| s.databases.iter().map(|d| d.name.clone()))
                .collect();
            out.progress(&format!("dropping {} kept databases…", names.len()));
            dropped = db::drop_kept(url, &names).await?;
        }
        _ => {
            for set in &chosen {
                if let Some(dir) = &set.directory {
                    db::remove_kept_directory(dir)?;
                    dropped.extend(set.databases.iter().map(|d| d.name.clone()));
                }
            }
        }
    }
    out.document(&json!({
        "command": "clean",
        "tests": chosen.iter().map(|s| s.test.clone()).collect::<Vec<_>>(),
        "dropped": dropped,
    }));
    out.line(&format!(
        "{} {} kept databases of {} test run(s)",
        out.paint("dropped", Paint::Green),
        dropped.len(),
        chosen.len()
    ));
    let expected: usize = chosen.iter().map(|s| s.databases.len()).sum();
    if dropped.len() < expected {
        return Err(CliError::NotDropped(expected - dropped.len()));
    }
    Ok(ExitCode::SUCCESS)
}

/// `cargo persist snapshot TEST`: the kept databases as `assert_data_snapshot!` renders them.
pub async fn snapshot(
    place: &Place,
    test: &str,
    tables: &[String],
    out: &Out,
) -> Result<ExitCode, CliError> {
    let sets = collect(place).await?;
    let set = find(&sets, test)?;
    let mut opened = Vec::new();
    for database in &set.databases {
        ensure_present(place, set, database).await?;
        let connection = sea_orm::Database::connect(&database.url)
            .await
            .map_err(|e| CliError::KeptGone {
                test: set.test.clone(),
                role: database.role.clone(),
                detail: e.to_string(),
            })?;
        opened.push((role_of(&database.role), connection));
    }
    let mut builder = persist_core::inspect::snapshot_of(&opened);
    if !tables.is_empty() {
        builder = builder.tables(tables.iter().cloned());
    }
    let taken = builder.await;
    for (_, connection) in opened {
        let _ = connection.close().await;
    }
    let snapshot = taken.map_err(|e| CliError::Usage(e.to_string()))?;
    out.document(&json!({ "test": set.test, "snapshot": snapshot.text() }));
    if !out.json() {
        out.clear();
        print!("{}", snapshot.text());
    }
    Ok(ExitCode::SUCCESS)
}

fn role_of(role: &str) -> DatabaseRole {
    match role.strip_prefix("agent ") {
        Some(agent) => DatabaseRole::agent(agent),
        None => DatabaseRole::Gateway,
    }
}
