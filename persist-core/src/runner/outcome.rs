//! How a test ended, and how that is reported to the harness.

use std::any::Any;
use std::io::Write as _;
use std::time::Duration;

use crate::db::{DatabaseLocation, DatabaseRole};
use crate::error::Result;

/// The databases a test kept, by role.
pub(super) type Kept = Vec<(DatabaseRole, DatabaseLocation)>;

/// How the body ended.
pub(super) enum Outcome {
    Passed,
    Failed(String),
    Panicked(Box<dyn Any + Send>),
    TimedOut(Duration),
}

impl Outcome {
    pub(super) fn describe(&self) -> &'static str {
        match self {
            Outcome::Passed => "passed",
            Outcome::Failed(_) => "returned an error",
            Outcome::Panicked(_) => "panicked",
            Outcome::TimedOut(_) => "timed out",
        }
    }
}

/// Reports the outcome; a failure panics at the caller's location (through `run_test`'s
/// `#[track_caller]`, the test's own attribute), never at a line of the runner.
#[track_caller]
pub(super) fn report(name: &str, outcome: Outcome, teardown: Result<Option<Kept>>) {
    match &teardown {
        Ok(Some(kept)) => {
            // Straight to stderr, past the harness's capture: a person asked for these.
            let mut text = format!("persist: kept the databases of `{name}`:\n");
            for (role, location) in kept {
                text.push_str(&format!("  {role:<20} {location}\n"));
            }
            let _ = std::io::stderr().write_all(text.as_bytes());
        }
        Ok(None) => {}
        Err(e) if matches!(outcome, Outcome::Passed) => {
            panic!("persistence_test `{name}` passed, but cleaning up its databases failed: {e}")
        }
        Err(e) => eprintln!("persist: cleaning up after `{name}` failed too: {e}"),
    }
    match outcome {
        Outcome::Passed => {}
        Outcome::Panicked(payload) => std::panic::resume_unwind(payload),
        Outcome::Failed(error) => panic!("persistence_test `{name}` returned an error: {error}"),
        Outcome::TimedOut(limit) => panic!(
            "persistence_test `{name}` timed out after {limit:?}; its databases were {}",
            if teardown.as_ref().is_ok_and(Option::is_some) {
                "kept"
            } else {
                "cleaned up"
            }
        ),
    }
}
