//! [`ApplySchema`]: what a backend applies to an empty database, a gateway's migrations or an
//! agent's tables alike. A leaf: the backends, the fingerprints and provisioning all name it.

use futures::future::BoxFuture;
use sea_orm::{DatabaseConnection, DbErr};

/// Applies a schema to an empty database: gateway migrations or an agent's tables.
pub trait ApplySchema: Send + Sync + 'static {
    /// Applies it.
    fn apply<'a>(&'a self, db: &'a DatabaseConnection) -> BoxFuture<'a, Result<(), DbErr>>;

    /// Its migration table and the names of its migrations, if it migrates: they are part of
    /// its fingerprint, and the rows it writes there are bookkeeping, not schema.
    fn history(&self) -> Option<(String, Vec<String>)> {
        None
    }

    /// Names the schema within one process, so that its fingerprint is computed once.
    fn process_key(&self) -> Option<String> {
        None
    }
}
