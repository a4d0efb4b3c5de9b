//! What can go wrong, and the exit code each gives.

use persist_core::db::Error as EngineError;

/// A failure of a command.
#[derive(Debug, thiserror::Error)]
pub enum CliError {
    /// The arguments do not say what to do.
    #[error("{0}")]
    Usage(String),
    /// The place the databases are in cannot be worked with this way.
    #[error("{0}")]
    Unsupported(String),
    /// No kept test matches the name given.
    #[error("no kept test matches `{test}`{}", known_list(.known))]
    UnknownTest {
        /// The name given.
        test: String,
        /// The kept tests there are.
        known: Vec<String>,
    },
    /// Several kept tests match the name given.
    #[error("`{test}` matches several kept tests: {}; give more of its path", .matches.join(", "))]
    AmbiguousTest {
        /// The name given.
        test: String,
        /// The tests it matches.
        matches: Vec<String>,
    },
    /// The test kept no database of that role.
    #[error("`{test}` kept no database for `{role}`; it kept: {}", .roles.join(", "))]
    UnknownRole {
        /// The test.
        test: String,
        /// The role asked for.
        role: String,
        /// The roles it kept.
        roles: Vec<String>,
    },
    /// A kept database is recorded but no longer there.
    #[error(
        "the {role} database `{test}` kept is gone ({detail}); `cargo persist clean {test}` forgets it"
    )]
    KeptGone {
        /// The test.
        test: String,
        /// Its role.
        role: String,
        /// Where it was, and what happened.
        detail: String,
    },
    /// The server did not answer.
    #[error("the server at {url} did not answer: {reason}")]
    Unreachable {
        /// The URL tried, its password hidden.
        url: String,
        /// Why.
        reason: String,
    },
    /// A client tool that `open` needs is not installed.
    #[error("`{tool}` is not installed (or not on PATH); open {target} with another client")]
    ToolMissing {
        /// The tool.
        tool: &'static str,
        /// The database's URL or file.
        target: String,
    },
    /// `cargo` or a test binary could not be run, or failed.
    #[error("{0}")]
    Command(String),
    /// Some tests could not prepare their databases.
    #[error("{failed} of {tests} tests could not prepare their databases")]
    PrepareFailed {
        /// How many failed.
        failed: usize,
        /// How many were prepared.
        tests: usize,
    },
    /// A database would not drop.
    #[error("{0} database(s) would not drop; `cargo persist list` shows why")]
    NotDropped(usize),
    /// The engine failed.
    #[error(transparent)]
    Engine(#[from] EngineError),
    /// A file could not be read or written.
    #[error("{what}: {source}")]
    Io {
        /// What was being done.
        what: String,
        /// Why it failed.
        #[source]
        source: std::io::Error,
    },
}

fn known_list(known: &[String]) -> String {
    if known.is_empty() {
        " (no test kept any database)".to_owned()
    } else {
        format!("; kept: {}", known.join(", "))
    }
}

impl CliError {
    /// The exit code: 1 the work failed, 2 bad input, 3 the server did not answer.
    pub fn exit_code(&self) -> u8 {
        match self {
            CliError::Usage(_)
            | CliError::Unsupported(_)
            | CliError::UnknownTest { .. }
            | CliError::AmbiguousTest { .. }
            | CliError::UnknownRole { .. }
            | CliError::KeptGone { .. } => 2,
            CliError::Engine(EngineError::InvalidInput { .. } | EngineError::NotKept { .. }) => 2,
            CliError::Unreachable { .. } => 3,
            _ => 1,
        }
    }

    /// A short machine-readable name, for `--json`.
    pub fn kind(&self) -> &'static str {
        match self {
            CliError::Usage(_) => "usage",
            CliError::Unsupported(_) => "unsupported",
            CliError::UnknownTest { .. } => "unknown-test",
            CliError::AmbiguousTest { .. } => "ambiguous-test",
            CliError::UnknownRole { .. } => "unknown-role",
            CliError::KeptGone { .. } => "kept-gone",
            CliError::Unreachable { .. } => "unreachable",
            CliError::ToolMissing { .. } => "tool-missing",
            CliError::Command(_) => "command",
            CliError::PrepareFailed { .. } => "prepare-failed",
            CliError::NotDropped(_) => "not-dropped",
            CliError::Engine(_) => "engine",
            CliError::Io { .. } => "io",
        }
    }
}
