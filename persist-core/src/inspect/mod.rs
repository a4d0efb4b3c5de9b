//! The cross-database inspector: reads every database through its own queries, never through
//! the components' code.

use crate::db::MultiDatabaseManager;

/// Reads and verifies a test's databases from the outside.
#[derive(Clone, Debug)]
pub struct CrossDatabaseInspector {
    manager: MultiDatabaseManager,
}

impl CrossDatabaseInspector {
    /// An inspector over the databases of `manager`.
    pub fn new(manager: MultiDatabaseManager) -> Self {
        CrossDatabaseInspector { manager }
    }

    /// The databases it reads.
    pub fn manager(&self) -> &MultiDatabaseManager {
        &self.manager
    }
}

/// A cross-database check failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum VerificationError {}
