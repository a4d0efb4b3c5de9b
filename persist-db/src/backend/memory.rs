//! SQLite databases in memory, one named shared-cache database per role.
//!
//! Each database is held open by an anchor connection that the backend owns, so it lives
//! exactly as long as the manager (a shared-cache in-memory database ends with its last
//! connection). A database with a schema starts as a page-for-page copy of the shared template
//! file, made with SQLite's online-backup API: no migration and no DDL runs per test.

use std::collections::HashMap;
use std::ffi::CStr;
use std::path::{Path, PathBuf};
use std::str::FromStr as _;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, OnceLock};

use futures::future::BoxFuture;
use sea_orm::sqlx::Connection as _;
use sea_orm::sqlx::sqlite::{SqliteConnectOptions, SqliteConnection};

use super::sqlite::default_parent;
use super::template::template_file;
use super::{
    BackendKind, DatabaseLocation, Engine, SchemaTemplate, connect_ahead, lazy_sqlite, short_label,
};
use crate::error::{Error, Result};
use sea_orm::{DatabaseConnection, DbErr};

/// Named in-memory SQLite databases, each held open by the backend until it is dropped.
#[derive(Debug)]
pub struct SqliteMemoryBackend {
    prefix: String,
    templates: PathBuf,
    anchors: Mutex<HashMap<String, SqliteConnection>>,
}

impl SqliteMemoryBackend {
    /// A backend whose databases are named after `label`, unique within the process.
    pub fn new(label: &str) -> Self {
        static NEXT: AtomicU64 = AtomicU64::new(0);
        let n = NEXT.fetch_add(1, Ordering::Relaxed);
        SqliteMemoryBackend {
            prefix: format!(
                "persist-{}-{}-{n}",
                std::process::id(),
                short_label(label, 40)
            ),
            templates: default_parent(),
            anchors: Mutex::new(HashMap::new()),
        }
    }

    fn anchors(&self) -> std::sync::MutexGuard<'_, HashMap<String, SqliteConnection>> {
        self.anchors.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Opens database `name` and keeps it open.
    async fn open(&self, name: &str) -> Result<(DatabaseLocation, SqliteConnection)> {
        let full = format!("{}-{name}", self.prefix);
        let location = DatabaseLocation::new(
            full.clone(),
            format!("sqlite:file:{full}?mode=memory&cache=shared"),
        );
        let options = SqliteConnectOptions::from_str(&location.url)
            .map_err(|e| sqlite_error(&location.name, "opening", e))?;
        let anchor = SqliteConnection::connect_with(&options)
            .await
            .map_err(|e| sqlite_error(&location.name, "opening", e))?;
        Ok((location, anchor))
    }
}

fn sqlite_error(name: &str, operation: &str, error: impl std::fmt::Display) -> Error {
    Error::Backend(format!("{operation} in-memory database {name}: {error}"))
}

type Source = Arc<tokio::sync::Mutex<SqliteConnection>>;

/// A read-only connection to a template file, opened once per process: its page cache keeps
/// the template in memory for every copy after the first.
async fn source_for(file: &Path) -> Result<Source> {
    static SOURCES: OnceLock<Mutex<HashMap<PathBuf, Source>>> = OnceLock::new();
    let sources = SOURCES.get_or_init(Default::default);
    if let Some(source) = sources.lock().unwrap_or_else(|p| p.into_inner()).get(file) {
        return Ok(source.clone());
    }
    let url = format!("sqlite://{}?mode=ro", file.display());
    let fail = |e: &dyn std::fmt::Display| {
        Error::Backend(format!("opening template {}: {e}", file.display()))
    };
    let options = SqliteConnectOptions::from_str(&url).map_err(|e| fail(&e))?;
    let connection = SqliteConnection::connect_with(&options)
        .await
        .map_err(|e| fail(&e))?;
    let source = Arc::new(tokio::sync::Mutex::new(connection));
    Ok(sources
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .entry(file.to_owned())
        .or_insert(source)
        .clone())
}

/// Copies every page of the template file `file` into `dest`'s main database.
async fn copy_file_into(file: &Path, dest: &mut SqliteConnection) -> Result<()> {
    let fail = |e: &dyn std::fmt::Display| {
        Error::Backend(format!("copying template {}: {e}", file.display()))
    };
    let source = source_for(file).await?;
    let mut source = source.lock().await;
    let copied = {
        let mut from = source.lock_handle().await.map_err(|e| fail(&e))?;
        let mut to = dest.lock_handle().await.map_err(|e| fail(&e))?;
        let (from, to) = (from.as_raw_handle().as_ptr(), to.as_raw_handle().as_ptr());
        // SAFETY: both handles are open connections that sqlx's worker threads leave alone
        // while their `LockedSqliteHandle`s are held (for this whole block). The backup object
        // is created, stepped to completion and finished here, before either lock is released.
        unsafe {
            use libsqlite3_sys as ffi;
            let main = c"main".as_ptr();
            let backup = ffi::sqlite3_backup_init(to, main, from, main);
            if backup.is_null() {
                Err(CStr::from_ptr(ffi::sqlite3_errmsg(to))
                    .to_string_lossy()
                    .into_owned())
            } else {
                let step = ffi::sqlite3_backup_step(backup, -1);
                let finish = ffi::sqlite3_backup_finish(backup);
                if step == ffi::SQLITE_DONE && finish == ffi::SQLITE_OK {
                    Ok(())
                } else {
                    Err(format!("backup step returned {step}, finish {finish}"))
                }
            }
        }
    };
    copied.map_err(|e| fail(&e))
}

impl Engine for SqliteMemoryBackend {
    fn kind(&self) -> BackendKind {
        BackendKind::SqliteMemory
    }

    fn create_database<'a>(&'a self, name: &'a str) -> BoxFuture<'a, Result<DatabaseLocation>> {
        Box::pin(async move {
            let (location, anchor) = self.open(name).await?;
            self.anchors().insert(location.name.clone(), anchor);
            Ok(location)
        })
    }

    fn create_from_template<'a>(
        &'a self,
        name: &'a str,
        template: &'a SchemaTemplate,
    ) -> BoxFuture<'a, Result<Option<DatabaseLocation>>> {
        Box::pin(async move {
            let source = template_file(&self.templates, template).await?;
            let (location, mut anchor) = self.open(name).await?;
            copy_file_into(&source, &mut anchor).await?;
            self.anchors().insert(location.name.clone(), anchor);
            Ok(Some(location))
        })
    }

    fn drop_database<'a>(&'a self, location: &'a DatabaseLocation) -> BoxFuture<'a, Result<()>> {
        Box::pin(async move {
            // The database goes with its anchor, the last connection once the pool is closed.
            let anchor = self.anchors().remove(&location.name);
            if let Some(anchor) = anchor {
                anchor
                    .close()
                    .await
                    .map_err(|e| sqlite_error(&location.name, "closing", e))?;
            }
            Ok(())
        })
    }

    fn release(&self, keep: bool) -> BoxFuture<'_, Result<()>> {
        Box::pin(async move {
            let anchors: Vec<_> = self.anchors().drain().map(|(_, a)| a).collect();
            if keep {
                // Kept in memory means: until the process ends.
                static KEPT: Mutex<Vec<SqliteConnection>> = Mutex::new(Vec::new());
                KEPT.lock()
                    .unwrap_or_else(|p| p.into_inner())
                    .extend(anchors);
            } else {
                for anchor in anchors {
                    let _ = anchor.close().await;
                }
            }
            Ok(())
        })
    }

    fn connect<'a>(
        &'a self,
        location: &'a DatabaseLocation,
    ) -> BoxFuture<'a, std::result::Result<DatabaseConnection, DbErr>> {
        // The anchor holds each database; the pool's one connection (as on files: one
        // connection a test may leave warm for the next) opens ahead, on the driver's thread,
        // while the test sets up.
        Box::pin(async move {
            let db = lazy_sqlite(&location.url, false, 1)?;
            connect_ahead(&db);
            Ok(db)
        })
    }

    fn connect_one<'a>(
        &'a self,
        location: &'a DatabaseLocation,
    ) -> BoxFuture<'a, std::result::Result<DatabaseConnection, DbErr>> {
        Box::pin(async move { lazy_sqlite(&location.url, false, 1) })
    }

    fn catalog_key<'a>(
        &'a self,
        label: &'a str,
        schema: &'a std::sync::Arc<dyn crate::apply::ApplySchema>,
    ) -> BoxFuture<'a, Result<Option<String>>> {
        Box::pin(async move { super::template::catalog_key(label, schema).await.map(Some) })
    }
}
