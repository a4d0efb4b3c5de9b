//! SQLite databases in memory, one named shared-cache database per role.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use futures::future::BoxFuture;
use sea_orm::ConnectOptions;

use super::{Backend, BackendKind, DatabaseLocation, short_label};
use crate::error::Result;

/// Named in-memory SQLite databases. A database lives while its pool holds a connection, so
/// the pool keeps one open for the manager's whole life; closing the pool at cleanup frees it.
#[derive(Debug)]
pub struct SqliteMemoryBackend {
    prefix: String,
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
        }
    }
}

impl Backend for SqliteMemoryBackend {
    fn kind(&self) -> BackendKind {
        BackendKind::SqliteMemory
    }

    fn create_database<'a>(&'a self, name: &'a str) -> BoxFuture<'a, Result<DatabaseLocation>> {
        Box::pin(async move {
            let full = format!("{}-{name}", self.prefix);
            Ok(DatabaseLocation {
                url: format!("sqlite:file:{full}?mode=memory&cache=shared"),
                name: full,
                path: None,
            })
        })
    }

    fn drop_database<'a>(&'a self, _location: &'a DatabaseLocation) -> BoxFuture<'a, Result<()>> {
        // The database goes with the last connection, which cleanup closes.
        Box::pin(async { Ok(()) })
    }

    fn release(&self, _keep: bool) -> BoxFuture<'_, Result<()>> {
        Box::pin(async { Ok(()) })
    }

    fn configure(&self, options: &mut ConnectOptions) {
        // Never let the pool close its last connection: that would drop the database.
        options
            .max_connections(4)
            .min_connections(1)
            .idle_timeout(None::<Duration>)
            .max_lifetime(None::<Duration>);
    }
}
