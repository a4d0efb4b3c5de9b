//! The backend matrix: which backends a test runs on here, and a setup function that chooses one
//! too.

use super::config::TestConfig;
use crate::db::BackendConfig;
use crate::error::{PersistError, Result};

/// Why a test of a backend matrix cannot run here, if it cannot: its server is not configured
/// (no URL in the environment for it) or this build has no driver for it.
pub(super) fn matrix_skip(backend: Option<&str>) -> Option<String> {
    use crate::env::{DATABASE_URL_ENV, MYSQL_URL_ENV, POSTGRES_URL_ENV};
    use persist_config::Backend;
    let (kind, env, feature, compiled) = match Backend::parse(backend?)? {
        Backend::Postgres => (
            Backend::Postgres,
            POSTGRES_URL_ENV,
            "postgres",
            cfg!(feature = "postgres"),
        ),
        Backend::Mysql => (
            Backend::Mysql,
            MYSQL_URL_ENV,
            "mysql",
            cfg!(feature = "mysql"),
        ),
        Backend::SqliteFile | Backend::SqliteMemory if !cfg!(feature = "sqlite") => {
            return Some("persist-core was built without its `sqlite` feature".into());
        }
        _ => return None,
    };
    if !compiled {
        return Some(format!(
            "persist-core was built without its `{feature}` feature, so it cannot reach {}",
            kind.describe()
        ));
    }
    let run_url = persist_db::__private::var(DATABASE_URL_ENV)
        .is_some_and(|url| Backend::of_url(&url) == Some(kind));
    if persist_db::__private::var(env).is_some() || run_url {
        None
    } else {
        Some(format!(
            "no {kind} server is configured: set {env} (or {DATABASE_URL_ENV} to a {kind} URL)",
            kind = kind.describe()
        ))
    }
}

/// The setup function chose the backend (`chosen`). With `backend = "…"` on the attribute as
/// well, that is a conflict; over `PERSIST_TEST_DATABASE_URL`, the setup function wins, and a
/// note says so.
pub(super) fn backend_conflict(config: &TestConfig, chosen: &(BackendConfig, bool)) -> Result<()> {
    let what = if chosen.1 {
        "a custom backend".to_owned()
    } else {
        chosen.0.to_string()
    };
    if let Some(attribute) = config.backend {
        return Err(PersistError::InvalidInput {
            field: "backend",
            reason: format!(
                "the attribute says `backend = {attribute:?}` and the setup function chooses {what}: choose the backend in one place"
            ),
        });
    }
    if let Some(url) = persist_db::__private::var(crate::env::DATABASE_URL_ENV) {
        eprintln!(
            "persist: `{}`: its setup function chooses {what}, so {} ({}) is not used for it",
            config.name,
            crate::env::DATABASE_URL_ENV,
            persist_db::__private::redacted(&url)
        );
    }
    Ok(())
}
