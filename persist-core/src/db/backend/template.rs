//! Migrate once, clone per test: template files for the SQLite file backend.
//!
//! The first test of a process that needs a schema applies it to a template file; every later
//! database with that schema starts as a copy of it. Templates live in a directory named after
//! the process (`persist-templates-<pid>-<start>` in the system's temporary directory), since a
//! template is only known to be current for the process that built it. A process cannot
//! clean up after its own exit, so each process, on first use, removes the template
//! directories of processes that have ended.

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::OnceLock;

use sea_orm::sqlx::sqlite::{SqliteJournalMode, SqliteSynchronous};
use sea_orm::{ConnectOptions, Database};

use super::SchemaTemplate;
use super::registry::{owner, process_start};
use crate::db::names::fnv1a;
use crate::error::{DbContext, PersistError, Result};

const PREFIX: &str = "persist-templates-";

#[derive(Default)]
struct Templates {
    dir: Option<PathBuf>,
    files: HashMap<String, PathBuf>,
}

fn io(
    operation: &'static str,
    path: &std::path::Path,
) -> impl FnOnce(std::io::Error) -> PersistError {
    let path = path.to_owned();
    move |source| PersistError::Io {
        operation,
        path,
        source,
    }
}

/// The template file for `template`, built on first use.
pub(crate) async fn template_file(template: &SchemaTemplate<'_>) -> Result<PathBuf> {
    static TEMPLATES: OnceLock<tokio::sync::Mutex<Templates>> = OnceLock::new();
    // Held while building, so that concurrent tests wait for one template instead of racing.
    let mut templates = TEMPLATES.get_or_init(Default::default).lock().await;
    if let Some(file) = templates.files.get(template.key) {
        return Ok(file.clone());
    }
    let dir = match &templates.dir {
        Some(dir) => dir.clone(),
        None => {
            sweep_ended_processes(&std::env::temp_dir());
            let me = owner();
            let dir = std::env::temp_dir().join(format!("{PREFIX}{}-{}", me.pid, me.start));
            std::fs::create_dir_all(&dir).map_err(io("creating the template directory", &dir))?;
            templates.dir = Some(dir.clone());
            dir
        }
    };
    let file = dir.join(format!("{:016x}.sqlite3", fnv1a(template.key)));
    // A template left half-built by a failed attempt is rebuilt from scratch.
    let _ = std::fs::remove_file(&file);
    let mut options = ConnectOptions::new(format!("sqlite://{}?mode=rwc", file.display()));
    // Rollback journal: once closed, the file alone holds everything, ready to copy.
    options
        .max_connections(1)
        .sqlx_logging(false)
        .map_sqlx_sqlite_opts(|o| {
            o.journal_mode(SqliteJournalMode::Delete)
                .synchronous(SqliteSynchronous::Off)
        });
    let db = Database::connect(options)
        .await
        .context("template", format!("creating {}", file.display()))?;
    let applied = template.schema.apply(&db).await;
    let closed = db.close().await;
    applied.context("template", "applying the schema to a template")?;
    closed.context("template", "closing a template")?;
    templates
        .files
        .insert(template.key.to_owned(), file.clone());
    Ok(file)
}

/// Removes, from `parent`, the template directories of processes that are no longer running.
fn sweep_ended_processes(parent: &std::path::Path) {
    let Ok(entries) = std::fs::read_dir(parent) else {
        return;
    };
    for entry in entries.flatten() {
        let name = entry.file_name();
        let Some(rest) = name.to_str().and_then(|n| n.strip_prefix(PREFIX)) else {
            continue;
        };
        let Some((pid, start)) = rest.split_once('-') else {
            continue;
        };
        let (Ok(pid), Ok(start)) = (pid.parse::<u32>(), start.parse::<i64>()) else {
            continue;
        };
        if pid != owner().pid && process_start(pid) != Some(start) {
            let _ = std::fs::remove_dir_all(entry.path());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_the_template_directories_of_ended_processes_are_removed() {
        let parent = tempfile::tempdir().unwrap();
        let me = owner();
        let mine = parent
            .path()
            .join(format!("{PREFIX}{}-{}", me.pid, me.start));
        let ended = parent.path().join(format!("{PREFIX}{}-1", u32::MAX - 1));
        let unrelated = parent.path().join("persist-templates-not-a-pid");
        for dir in [&mine, &ended, &unrelated] {
            std::fs::create_dir(dir).unwrap();
        }
        sweep_ended_processes(parent.path());
        assert!(mine.exists(), "this process's templates stay");
        assert!(!ended.exists(), "an ended process's templates go");
        assert!(unrelated.exists(), "names that are not ours stay");
    }
}
