//! Logging: the framework's events and every SQL statement a test's connections run, through
//! `tracing`, when `PERSIST_LOG` is set.
//!
//! `PERSIST_LOG` takes `tracing` filter directives, like `RUST_LOG` (`debug`,
//! `persist_core=debug,persist_db=debug,sqlx::query=debug`); `1` means the framework's events and the SQL
//! statements. Output goes through the test harness's capture: `cargo test` shows it for a
//! failing test (or every test with `-- --nocapture`), `cargo nextest run` for a failing test
//! (or every test with `--no-capture`). A subscriber the test binary installed itself is kept.

use std::sync::{Once, OnceLock};

use crate::env::LOG_ENV;

const EVERYTHING: &str = "persist_core=debug,persist_db=debug,sqlx::query=debug";

/// The filter in force, if logging is on (read once per process).
fn filter() -> Option<&'static str> {
    static FILTER: OnceLock<Option<String>> = OnceLock::new();
    FILTER
        .get_or_init(|| {
            let value = crate::env::var(LOG_ENV)?;
            match value.trim() {
                "" | "0" | "off" | "false" => None,
                "1" | "on" | "true" => Some(EVERYTHING.to_owned()),
                directives => Some(directives.to_owned()),
            }
        })
        .as_deref()
}

/// Installs a subscriber for `PERSIST_LOG`, once per process (a no-op when it is unset or
/// when the process already has one).
pub fn init() {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        let Some(directives) = filter() else {
            return;
        };
        let filter = tracing_subscriber::EnvFilter::try_new(directives).unwrap_or_else(|e| {
            eprintln!("persist: {LOG_ENV}={directives:?} is not a valid filter ({e}); logging everything at debug");
            tracing_subscriber::EnvFilter::new(EVERYTHING)
        });
        let _ = tracing_subscriber::fmt()
            .with_env_filter(filter)
            .with_test_writer()
            .try_init();
    });
}

/// Whether test connections log their statements (at debug level, target `sqlx::query`).
pub(crate) fn statements() -> bool {
    filter().is_some()
}

/// Sets sqlx's statement logging on `options` as `PERSIST_LOG` says.
#[cfg(any(feature = "sqlite", feature = "postgres", feature = "mysql"))]
pub(crate) fn statement_logging<O: sea_orm::sqlx::ConnectOptions>(options: O) -> O {
    if statements() {
        options.log_statements(log::LevelFilter::Debug)
    } else {
        options.disable_statement_logging()
    }
}
