//! The one error type of the framework.

use std::path::PathBuf;

use sea_orm::DbErr;

/// Everything that can go wrong in the framework or in the mesh under test.
///
/// Each variant says what was expected, what was found, and names the database or agent involved.
/// `Debug` prints the same readable message as `Display` (which includes the underlying cause),
/// because a test that returns `Err` is reported through `Debug`, and the message, with the rows
/// a check looked at, is what a person needs there.
#[derive(thiserror::Error)]
#[non_exhaustive]
pub enum PersistError {
    /// An input failed validation (a blank user id, an empty message, …).
    #[error("invalid {field}: {reason}")]
    InvalidInput {
        /// The input that was rejected.
        field: &'static str,
        /// Why it was rejected.
        reason: String,
    },
    /// A message exceeded the gateway's limit on message length.
    #[error("message is {length} characters long; the limit is {max}")]
    MessageTooLong {
        /// The message's length in characters.
        length: usize,
        /// The limit.
        max: usize,
    },
    /// An agent name that this mesh or manager does not know.
    #[error("unknown agent `{name}` (known agents: {})", list(known))]
    UnknownAgent {
        /// The name that was asked for.
        name: String,
        /// The agents that exist.
        known: Vec<String>,
    },
    /// No such session for this user: it does not exist, or another user owns it.
    #[error("session `{session_id}` not found for user `{user_id}`")]
    SessionNotFound {
        /// The session asked for.
        session_id: String,
        /// The user who asked.
        user_id: String,
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
    /// The scripted language model failed for an agent; nothing of the turn was stored.
    #[error("agent `{agent}`: the language model failed: {reason}")]
    Llm {
        /// The agent whose model call failed.
        agent: String,
        /// The model's error.
        reason: String,
    },
    /// An agent task is not running (it was shut down or crashed).
    #[error("agent `{agent}` is not running")]
    AgentUnavailable {
        /// The agent.
        agent: String,
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
    /// A query failed where no framework context was at hand: SeaORM's [`DbErr`] converted with
    /// `?` (in a test body, a seed or a system's own code). `location` is where the `?` was.
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
    /// A backend could not be configured (a bad URL, an unsupported scheme, …).
    #[error("backend configuration: {0}")]
    Backend(String),
    /// A [`Layout`](crate::system::Layout) that cannot be read by: a table lacks a column it
    /// needs, or a name is blank.
    #[error("invalid layout: {table}: {reason}")]
    InvalidLayout {
        /// The table, with its part in the layout.
        table: String,
        /// What is wrong.
        reason: String,
    },
    /// Something a test or check needs was not configured or not offered by the system
    /// under test (a schema, a layout, a gateway API, a resource).
    #[error("no {what}: {hint}")]
    NotProvided {
        /// What is missing.
        what: String,
        /// How to provide it.
        hint: String,
    },
    /// The system under test does not support this operation.
    #[error("{operation} is not supported: {reason}")]
    Unsupported {
        /// The operation.
        operation: &'static str,
        /// Why.
        reason: String,
    },
    /// An HTTP request to the system under test got no answer, or an answer it should not
    /// have.
    #[error("{method} {path}: {}{detail}", status.map(|s| format!("status {s}: ")).unwrap_or_default())]
    Http {
        /// The request's method.
        method: String,
        /// The request's path (or URL).
        path: String,
        /// The answer's status, if one came.
        status: Option<u16>,
        /// What went wrong, with the answer's body if it helps.
        detail: String,
    },
    /// A migration check found a problem: a
    /// [`MigrationFailure`](crate::migrate::MigrationFailure) with the
    /// check, the step and the schemas' differences. Read it with
    /// [`PersistError::migration_failure`], or downcast the box.
    #[error(transparent)]
    Migration(Box<dyn std::error::Error + Send + Sync>),
    /// A cross-database verification found a problem: a
    /// [`VerificationError`](crate::inspect::VerificationError) with the rows
    /// it saw. Read it with [`PersistError::verification`], or downcast the box.
    #[error(transparent)]
    Verification(Box<dyn std::error::Error + Send + Sync>),
}

impl From<persist_config::env::EnvError> for PersistError {
    /// A variable whose value cannot be read: named as the input that was rejected.
    fn from(error: persist_config::env::EnvError) -> Self {
        PersistError::InvalidInput {
            field: error.variable,
            reason: error.to_string(),
        }
    }
}

impl From<DbErr> for PersistError {
    /// Keeps where the conversion happened: with `?`, the line of the `?`.
    #[track_caller]
    fn from(source: DbErr) -> Self {
        PersistError::Query {
            source,
            location: std::panic::Location::caller(),
        }
    }
}

impl std::fmt::Debug for PersistError {
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

/// Shorthand for results of this crate.
pub type Result<T, E = PersistError> = std::result::Result<T, E>;

/// Attaches the database and operation to a [`DbErr`] (or to a [`PersistError::Query`]).
pub(crate) trait DbContext<T> {
    fn context(self, database: impl Into<String>, operation: impl Into<String>) -> Result<T>;
}

impl<T> DbContext<T> for Result<T> {
    fn context(self, database: impl Into<String>, operation: impl Into<String>) -> Result<T> {
        self.map_err(|error| match error {
            PersistError::Query { source, .. } => PersistError::Database {
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
        self.map_err(|source| PersistError::Database {
            database: database.into(),
            operation: operation.into(),
            source,
        })
    }
}

impl From<persist_db::Error> for PersistError {
    /// Each engine error as the variant of the same name.
    fn from(error: persist_db::Error) -> Self {
        use persist_db::Error as E;
        match error {
            E::InvalidInput { field, reason } => PersistError::InvalidInput { field, reason },
            E::UnknownAgent { name, known } => PersistError::UnknownAgent { name, known },
            E::InvalidAgentName { name, reason } => PersistError::InvalidAgentName { name, reason },
            E::DuplicateAgent { name } => PersistError::DuplicateAgent { name },
            E::AgentNameCollision {
                first,
                second,
                slug,
            } => PersistError::AgentNameCollision {
                first,
                second,
                slug,
            },
            E::Database {
                database,
                operation,
                source,
            } => PersistError::Database {
                database,
                operation,
                source,
            },
            E::Query { source, location } => PersistError::Query { source, location },
            E::Io {
                operation,
                path,
                source,
            } => PersistError::Io {
                operation,
                path,
                source,
            },
            E::CleanedUp => PersistError::CleanedUp,
            E::NotKept { name } => PersistError::NotKept { name },
            E::Backend(reason) => PersistError::Backend(reason),
            E::NotProvided { what, hint } => PersistError::NotProvided { what, hint },
            // The engine's error is non-exhaustive: a variant added later keeps its message.
            other => PersistError::Backend(other.to_string()),
        }
    }
}

impl<T> DbContext<T> for Result<T, persist_db::Error> {
    fn context(self, database: impl Into<String>, operation: impl Into<String>) -> Result<T> {
        self.map_err(PersistError::from)
            .context(database, operation)
    }
}
