//! What a migration check reports: [`MigrationFailure`] (and the former name of the inspector's
//! `MigrationState`).

use std::fmt;

use sea_orm::DbErr;

use super::snapshot::SchemaDiff;
use crate::error::PersistError;

/// The former name of [`MigrationState`](crate::inspect::MigrationState), which
/// [`status`](super::status) returns: one concept, one name.
#[deprecated(
    note = "renamed `persist_core::inspect::MigrationState` (it has the same fields and more)"
)]
pub type MigrationStatus = crate::inspect::MigrationState;

/// A migration check that failed: which check, which step, and the schema difference.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub struct MigrationFailure {
    /// The check (`round trip`, `drift`, `upgrade`, `status`).
    pub check: &'static str,
    /// The migration at fault, if one is.
    pub step: Option<String>,
    /// What went wrong.
    pub problem: String,
    /// The schema difference, when that is the problem.
    pub diff: Option<SchemaDiff>,
}

impl fmt::Display for MigrationFailure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "migration {} check failed", self.check)?;
        if let Some(step) = &self.step {
            write!(f, " at {step}")?;
        }
        write!(f, ": {}", self.problem)?;
        if let Some(diff) = &self.diff {
            write!(f, "\n{diff}")?;
        }
        Ok(())
    }
}

impl From<MigrationFailure> for PersistError {
    fn from(failure: MigrationFailure) -> Self {
        PersistError::Migration(Box::new(failure))
    }
}

impl PersistError {
    /// The migration check's failure, if this is one ([`PersistError::Migration`]).
    pub fn migration_failure(&self) -> Option<&MigrationFailure> {
        match self {
            PersistError::Migration(failure) => failure.downcast_ref(),
            _ => None,
        }
    }
}

pub(super) fn failure(
    check: &'static str,
    step: Option<&str>,
    problem: String,
    diff: Option<SchemaDiff>,
) -> PersistError {
    PersistError::Migration(Box::new(MigrationFailure {
        check,
        step: step.map(str::to_owned),
        problem,
        diff,
    }))
}

pub(super) fn db_error(
    check: &'static str,
    step: Option<&str>,
    doing: &str,
    error: DbErr,
) -> PersistError {
    failure(check, step, format!("{doing} failed: {error}"), None)
}
