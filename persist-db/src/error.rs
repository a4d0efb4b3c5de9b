//! The engine's error type.

use std::path::PathBuf;

use sea_orm::DbErr;

/// What can go wrong while creating, preparing, connecting to or removing test databases.
///
/// Each variant names the database, agent, path or variable involved. `Debug` prints the same
/// readable message as `Display`, because a test that returns `Err` is reported through
/// `Debug`. persist-core converts each variant into the `Error` variant of the same name.
#[derive(thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// An input failed validation (a variable's value, a name, …).
    #[error("invalid {field}: {reason}")]
    InvalidInput {
        /// The input that was rejected.
        field: &'static str,
        /// Why it was rejected.
        reason: String,
    },
    /// An agent name that this manager does not know.
    #[error("unknown agent `{name}` (known agents: {})", list(known))]
    UnknownAgent {
        /// The name that was asked for.
        name: String,
        /// The agents that exist.
        known: Vec<String>,
    },
    /// An agent name that cannot name a database.
    #[error("invalid agent name {name:?}: {reason}")]
    InvalidAgentName {
        /// The rejected name.
        name: String,
        /// Why it was rejected.
        reason: String,
    },
    /// The same agent name was given twice.
    #[error("agent name {name:?} is listed more than once")]
    DuplicateAgent {
        /// The repeated name.
        name: String,
    },
    /// Two agent names would share one database name.
    #[error("agent names {first:?} and {second:?} both map to the database name `{slug}`")]
    AgentNameCollision {
        /// The first name.
        first: String,
        /// The second name.
        second: String,
        /// The database name they share.
        slug: String,
    },
    /// A database operation failed.
    #[error("{operation} on the {database} database failed: {source}")]
    Database {
        /// Which database (`gateway`, `agent AgentA`, `server admin`, …).
        database: String,
        /// What was being done.
        operation: String,
        /// The driver's error.
        #[source]
        source: DbErr,
    },
    /// A query failed where no engine context was at hand: SeaORM's [`DbErr`] converted with
    /// `?` (in a schema or a migration). `location` is where the `?` was.
    #[error("a database operation failed at {location}: {source}")]
    Query {
        /// The driver's error.
        #[source]
        source: DbErr,
        /// Where it was converted (the `?`).
        location: &'static std::panic::Location<'static>,
    },
    /// A file-system operation failed.
    #[error("{operation} `{}` failed: {source}", path.display())]
    Io {
        /// What was being done.
        operation: &'static str,
        /// The path involved.
        path: PathBuf,
        /// The underlying error.
        #[source]
        source: std::io::Error,
    },
    /// The databases were already cleaned up (or kept and released).
    #[error("the test databases were already cleaned up")]
    CleanedUp,
    /// A database asked for as kept is not kept (any more): dropped by someone else, or never
    /// kept.
    #[error("database {name} is not kept (dropped already, or never kept)")]
    NotKept {
        /// Its name on the server.
        name: String,
    },
    /// A backend could not be configured or reached (a bad URL, an unsupported scheme, a
    /// server that does not answer, …).
    #[error("backend configuration: {0}")]
    Backend(String),
    /// Something the engine needs was not configured (a schema, a server URL).
    #[error("no {what}: {hint}")]
    NotProvided {
        /// What is missing.
        what: String,
        /// How to provide it.
        hint: String,
    },
}

impl From<persist_config::env::EnvError> for Error {
    /// A variable whose value cannot be read: named as the input that was rejected.
    fn from(error: persist_config::env::EnvError) -> Self {
        Error::InvalidInput {
            field: error.variable,
            reason: error.to_string(),
        }
    }
}

impl From<DbErr> for Error {
    /// Keeps where the conversion happened: with `?`, the line of the `?`.
    #[track_caller]
    fn from(source: DbErr) -> Self {
        Error::Query {
            source,
            location: std::panic::Location::caller(),
        }
    }
}

impl std::fmt::Debug for Error {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{self}")
    }
}

fn list(names: &[String]) -> String {
    if names.is_empty() {
        "none".to_owned()
    } else {
        names.join(", ")
    }
}

/// Shorthand for results of the engine.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Attaches the database and operation to a [`DbErr`] (or to an [`Error::Query`]).
pub(crate) trait DbContext<T> {
    fn context(self, database: impl Into<String>, operation: impl Into<String>) -> Result<T>;
}

impl<T> DbContext<T> for Result<T> {
    fn context(self, database: impl Into<String>, operation: impl Into<String>) -> Result<T> {
        self.map_err(|error| match error {
            Error::Query { source, .. } => Error::Database {
                database: database.into(),
                operation: operation.into(),
                source,
            },
            other => other,
        })
    }
}

impl<T> DbContext<T> for std::result::Result<T, DbErr> {
    fn context(self, database: impl Into<String>, operation: impl Into<String>) -> Result<T> {
        self.map_err(|source| Error::Database {
            database: database.into(),
            operation: operation.into(),
            source,
        })
    }
}
