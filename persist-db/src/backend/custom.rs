//! [`Backend`]: what a backend of a user's own implements, and how the manager drives it.

use std::fmt;
use std::time::Duration;

use futures::future::BoxFuture;
use sea_orm::{ConnectOptions, DatabaseConnection, DbErr};

use super::{BackendKind, DatabaseLocation, Engine};
use crate::error::Result;

/// Creates and removes the databases of one manager: what a backend of your own implements
/// (given to [`ManagerBuilder::custom_backend`](crate::ManagerBuilder::custom_backend)).
///
/// Implementations must make every name they are given unique to this manager (across threads,
/// processes and concurrent runs), and must be able to remove what they created from a runtime
/// other than the one that created it: the manager's `Drop` safety net runs on its own thread.
/// The manager applies each schema itself, over one connection, to the empty databases a
/// custom backend creates.
pub trait Backend: Send + Sync + fmt::Debug + 'static {
    /// The kind of database this backend provides.
    fn kind(&self) -> BackendKind;

    /// Creates an empty database for the logical name `name` (`gateway`, `agent_billing`, …).
    fn create_database<'a>(&'a self, name: &'a str) -> BoxFuture<'a, Result<DatabaseLocation>>;

    /// Removes one database this backend created. Removing one that is already gone succeeds.
    fn drop_database<'a>(&'a self, location: &'a DatabaseLocation) -> BoxFuture<'a, Result<()>>;

    /// Releases what the backend holds for its manager once its databases are dropped (or,
    /// with `keep`, left in place). By default, nothing to release.
    fn release(&self, keep: bool) -> BoxFuture<'_, Result<()>> {
        let _ = keep;
        Box::pin(async { Ok(()) })
    }

    /// Connects to one of this backend's databases. By default: SeaORM's pool of at most 4
    /// connections, opened on demand, on the database's URL.
    fn connect<'a>(
        &'a self,
        location: &'a DatabaseLocation,
    ) -> BoxFuture<'a, Result<DatabaseConnection, DbErr>> {
        Box::pin(pooled(location, |options| {
            options.max_connections(4).min_connections(0);
        }))
    }
}

/// A [`Backend`] of a user's, driven as an [`Engine`] with the default hooks.
#[derive(Debug)]
pub(crate) struct Custom(pub(crate) Box<dyn Backend>);

impl Engine for Custom {
    fn kind(&self) -> BackendKind {
        self.0.kind()
    }
    fn create_database<'a>(&'a self, name: &'a str) -> BoxFuture<'a, Result<DatabaseLocation>> {
        self.0.create_database(name)
    }
    fn drop_database<'a>(&'a self, location: &'a DatabaseLocation) -> BoxFuture<'a, Result<()>> {
        self.0.drop_database(location)
    }
    fn release(&self, keep: bool) -> BoxFuture<'_, Result<()>> {
        self.0.release(keep)
    }
    fn connect<'a>(
        &'a self,
        location: &'a DatabaseLocation,
    ) -> BoxFuture<'a, Result<DatabaseConnection, DbErr>> {
        self.0.connect(location)
    }
}

/// SeaORM's pool on `location`'s URL, with `configure`'s options and the engine's timeouts.
pub(super) async fn pooled(
    location: &DatabaseLocation,
    configure: impl FnOnce(&mut ConnectOptions),
) -> Result<DatabaseConnection, DbErr> {
    let mut options = ConnectOptions::new(location.url.clone());
    configure(&mut options);
    options
        .connect_timeout(Duration::from_secs(10))
        .acquire_timeout(Duration::from_secs(30))
        .sqlx_logging(false);
    sea_orm::Database::connect(options).await
}
