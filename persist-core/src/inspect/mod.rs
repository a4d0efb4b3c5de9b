//! Cross-database verification.

/// A cross-database check failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum VerificationError {}
