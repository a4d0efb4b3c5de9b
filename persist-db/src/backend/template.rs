//! Migrate once, clone per test, across processes: template files for the SQLite backends.
//!
//! A template is a SQLite file holding a schema, named after the schema's
//! [definition fingerprint](crate::Fingerprint) in one directory shared by every process
//! (`persist-templates-<uid>` under `PERSIST_TEST_DIR` or the system's temporary directory).
//! The first process that needs one builds it under a file lock into a private file and
//! publishes it with an atomic rename; every other process, test and later run copies it.
//! A changed migration or entity changes the fingerprint, so a stale template is never used;
//! templates unused for [`TEMPLATE_IDLE`] are removed by [`sweep`](super::sqlite::sweep).

use std::collections::HashMap;
use std::fs::File;
use std::path::{Path, PathBuf};
use std::sync::{Mutex, OnceLock};
use std::time::{Duration, SystemTime};

use std::sync::Arc;

use sea_orm::sqlx::sqlite::{SqliteJournalMode, SqliteSynchronous};
use sea_orm::{ConnectOptions, ConnectionTrait as _, Database, DbBackend, Statement};

use super::SchemaTemplate;
use crate::apply::ApplySchema;
use crate::error::{DbContext, Error, Result};

/// How long a template may go unused before a sweep removes it.
pub(crate) const TEMPLATE_IDLE: Duration = Duration::from_secs(7 * 24 * 3600);

pub(crate) fn io(operation: &'static str, path: &Path) -> impl FnOnce(std::io::Error) -> Error {
    let path = path.to_owned();
    move |source| Error::Io {
        operation,
        path,
        source,
    }
}

/// The directory every process of this user shares for templates, under `parent`.
pub(crate) fn template_dir(parent: &Path) -> PathBuf {
    parent.join(format!("persist-templates-{}", user_id()))
}

/// The current user's id on Unix (so users sharing `/tmp` don't share templates), else 0.
fn user_id() -> u32 {
    #[cfg(unix)]
    {
        use std::os::unix::fs::MetadataExt as _;
        std::fs::metadata("/proc/self").map_or(0, |m| m.uid())
    }
    #[cfg(not(unix))]
    {
        0
    }
}

/// Templates this process has found or built, by directory and fingerprint.
fn known() -> &'static Mutex<HashMap<(PathBuf, String), PathBuf>> {
    static KNOWN: OnceLock<Mutex<HashMap<(PathBuf, String), PathBuf>>> = OnceLock::new();
    KNOWN.get_or_init(Default::default)
}

/// Forgets a template this process knew (its file went missing), so the next use rebuilds it.
pub(crate) fn forget(parent: &Path, template: &SchemaTemplate) {
    let key = (parent.to_owned(), template.key.clone());
    known()
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .remove(&key);
}

/// The template file for `template` under `parent`, built by whichever process gets there
/// first.
pub(crate) async fn template_file(parent: &Path, template: &SchemaTemplate) -> Result<PathBuf> {
    let key = (parent.to_owned(), template.key.clone());
    if let Some(file) = known().lock().unwrap_or_else(|p| p.into_inner()).get(&key) {
        return Ok(file.clone());
    }
    // One builder per process at a time; the file lock below orders processes.
    static BUILDING: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());
    let _building = BUILDING.lock().await;
    if let Some(file) = known().lock().unwrap_or_else(|p| p.into_inner()).get(&key) {
        return Ok(file.clone());
    }
    let dir = template_dir(parent);
    std::fs::create_dir_all(&dir).map_err(io("creating the template directory", &dir))?;
    let file = dir.join(format!("{}.sqlite3", template.key));
    if !file.exists() {
        let lock_path = dir.join(format!("{}.lock", template.key));
        let lock = File::create(&lock_path).map_err(io("creating", &lock_path))?;
        // Another process may be building this very template: wait for it (a build takes
        // milliseconds) without blocking this thread's other tasks.
        let lock = tokio::task::spawn_blocking(move || lock.lock().map(|()| lock))
            .await
            .map_err(|e| Error::Backend(format!("waiting for a template lock: {e}")))?
            .map_err(io("locking", &lock_path))?;
        if !file.exists() {
            build(&dir, &file, template).await?;
        }
        drop(lock);
    }
    // A sweep removes templates by age; using one makes it young again.
    if let Ok(handle) = File::options().append(true).open(&file) {
        let _ = handle.set_modified(SystemTime::now());
    }
    known()
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .insert(key, file.clone());
    Ok(file)
}

/// Builds a template in a private file, then publishes it with an atomic rename: a reader
/// sees no template or a whole one, never half of one.
async fn build(dir: &Path, file: &Path, template: &SchemaTemplate) -> Result<()> {
    let private = dir.join(format!(
        "{}.{}.building",
        template.key,
        uuid::Uuid::new_v4().simple()
    ));
    let mut options = ConnectOptions::new(format!("sqlite://{}?mode=rwc", private.display()));
    // WAL, as every test connection opens it: a copy starts in the mode it will be used in.
    // Closing checkpoints the log into the file, so the file alone holds everything.
    options
        .max_connections(1)
        .sqlx_logging(false)
        .map_sqlx_sqlite_opts(|o| {
            o.journal_mode(SqliteJournalMode::Wal)
                .synchronous(SqliteSynchronous::Off)
        });
    let built = async {
        let db = Database::connect(options).await.context(
            &template.label,
            format!("creating template {}", private.display()),
        )?;
        let applied = template.schema.apply(&db).await;
        let closed = db.close().await;
        applied.context(&template.label, "applying its schema to a template")?;
        closed.context(&template.label, "closing its template")?;
        std::fs::rename(&private, file).map_err(io("publishing the template", file))
    }
    .await;
    if built.is_err() {
        let _ = std::fs::remove_file(&private);
    }
    built
}

/// The [catalog key](super::Backend::catalog_key) of `schema` on SQLite: built once per
/// process in memory (over one connection), keyed by everything its catalog holds and how many
/// rows each table has. Both SQLite backends share it, as they share templates.
pub(crate) async fn catalog_key(label: &str, schema: &Arc<dyn ApplySchema>) -> Result<String> {
    static MEMO: OnceLock<Mutex<HashMap<String, String>>> = OnceLock::new();
    let memo = MEMO.get_or_init(Default::default);
    let process_key = schema.process_key();
    if let Some(key) = process_key.as_ref().and_then(|k| {
        memo.lock()
            .unwrap_or_else(|p| p.into_inner())
            .get(k)
            .cloned()
    }) {
        return Ok(key);
    }
    let mut options = ConnectOptions::new("sqlite::memory:");
    options
        .max_connections(1)
        .min_connections(1)
        .idle_timeout(None::<Duration>)
        .max_lifetime(None::<Duration>)
        .sqlx_logging(false);
    let db = Database::connect(options).await.context(
        label,
        "opening a database in memory to read its schema's catalog",
    )?;
    let key = async {
        schema
            .apply(&db)
            .await
            .context(label, "building its schema to read its catalog")?;
        sqlite_catalog_key(&db)
            .await
            .context(label, "reading its schema's catalog")
    }
    .await;
    let _ = db.close().await;
    let key = key?;
    if let Some(process_key) = process_key {
        memo.lock()
            .unwrap_or_else(|p| p.into_inner())
            .insert(process_key, key.clone());
    }
    Ok(key)
}

/// Every object of a SQLite database (its definition as stored), and each table's row count.
async fn sqlite_catalog_key(db: &sea_orm::DatabaseConnection) -> Result<String, sea_orm::DbErr> {
    let rows = db
        .query_all_raw(Statement::from_string(
            DbBackend::Sqlite,
            crate::catalog::sqlite::DEFINITIONS,
        ))
        .await?;
    let mut lines = vec![
        crate::fingerprint::CATALOG_FORMAT.to_owned(),
        "Sqlite".to_owned(),
    ];
    for row in rows {
        let kind: String = row.try_get("", "type")?;
        let name: String = row.try_get("", "name")?;
        let table: String = row.try_get("", "tbl_name")?;
        let sql: String = row.try_get("", "sql")?;
        if kind == "table" && !name.starts_with("sqlite_") {
            let count = crate::catalog::count_rows(db, &name)
                .await
                .map_err(|e| sea_orm::DbErr::Custom(e.to_string()))?;
            lines.push(format!("rows {name} {count}"));
        }
        lines.push(format!("{kind} {name} {table} {sql}"));
    }
    Ok(crate::Fingerprint::of(&lines).to_string())
}

/// Removes templates unused for [`TEMPLATE_IDLE`], and files left by builders that died. A
/// template being built is locked, so it is never taken for an abandoned one.
pub(crate) fn sweep_templates(parent: &Path) {
    sweep_legacy(parent);
    let dir = template_dir(parent);
    let Ok(entries) = std::fs::read_dir(&dir) else {
        return;
    };
    let now = SystemTime::now();
    for entry in entries.flatten() {
        let path = entry.path();
        let name = entry.file_name().to_string_lossy().into_owned();
        let Some(key) = name.split('.').next() else {
            continue;
        };
        let age = entry
            .metadata()
            .and_then(|m| m.modified())
            .ok()
            .and_then(|modified| now.duration_since(modified).ok())
            .unwrap_or_default();
        let stale = if name.ends_with(".building") {
            age > Duration::from_secs(3600)
        } else if name.starts_with("sweep-") && name.ends_with(".stamp") {
            // Sweep stamps of directories nobody has swept for a day.
            if age > Duration::from_secs(24 * 3600) {
                let _ = std::fs::remove_file(&path);
            }
            continue;
        } else {
            name.ends_with(".sqlite3") && age > TEMPLATE_IDLE
        };
        if !stale {
            continue;
        }
        // Not while someone builds it.
        let Ok(lock) = File::create(dir.join(format!("{key}.lock"))) else {
            continue;
        };
        if lock.try_lock().is_ok() {
            let _ = std::fs::remove_file(&path);
        }
    }
}

/// Removes the per-process template directories of earlier versions
/// (`persist-templates-<pid>-<start>`), once they are an hour old: templates are shared now.
fn sweep_legacy(parent: &Path) {
    let Ok(entries) = std::fs::read_dir(parent) else {
        return;
    };
    for entry in entries.flatten() {
        let name = entry.file_name();
        let Some(rest) = name
            .to_str()
            .and_then(|n| n.strip_prefix("persist-templates-"))
        else {
            continue;
        };
        let legacy = rest
            .split_once('-')
            .is_some_and(|(pid, start)| pid.parse::<u32>().is_ok() && start.parse::<i64>().is_ok());
        let old = entry
            .metadata()
            .and_then(|m| m.modified())
            .ok()
            .and_then(|at| SystemTime::now().duration_since(at).ok())
            .is_some_and(|age| age > Duration::from_secs(3600));
        if legacy && old {
            let _ = std::fs::remove_dir_all(entry.path());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_idle_templates_and_abandoned_builds_are_removed() {
        let parent = tempfile::tempdir().unwrap();
        let dir = template_dir(parent.path());
        std::fs::create_dir_all(&dir).unwrap();
        let old = SystemTime::now() - TEMPLATE_IDLE - Duration::from_secs(60);
        let file = |name: &str, modified: SystemTime| {
            let path = dir.join(name);
            File::create(&path).unwrap().set_modified(modified).unwrap();
            path
        };
        let fresh = file("aaaa.sqlite3", SystemTime::now());
        let idle = file("bbbb.sqlite3", old);
        let abandoned = file("cccc.x.building", old);
        let building = file("dddd.y.building", old);
        // Someone is building `dddd` right now.
        let held = File::create(dir.join("dddd.lock")).unwrap();
        held.lock().unwrap();
        sweep_templates(parent.path());
        assert!(fresh.exists(), "a template in use stays");
        assert!(!idle.exists(), "an idle template goes");
        assert!(!abandoned.exists(), "a dead builder's file goes");
        assert!(building.exists(), "a locked build stays");
    }
}
