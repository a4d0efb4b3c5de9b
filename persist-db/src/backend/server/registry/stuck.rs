//! Databases that will not drop: tried once, recorded, retried on a growing interval that
//! every process reads from the registry, and said once per process where a person sees it.
//!
//! A server can refuse a `DROP DATABASE` for reasons no test controls: PostgreSQL refuses a
//! database marked as a template, a role may lack the right, MariaDB waits for a lock a
//! session holds. Waiting or retrying on the spot would put that cost on every test of every
//! process that meets the database. Instead the failure goes on the database's row (how many
//! tries, when, why, and when it is due again) and the database is given up to nobody, so
//! that whichever sweep finds it due next tries once more, off its tests' path.

use std::collections::HashSet;
use std::io::Write as _;
use std::sync::{Mutex, OnceLock};
use std::time::Duration;

use sea_orm::{ConnectionTrait, DbErr, QueryResult, Statement};

use super::{ADMIN, REGISTRY_TABLE, now_millis, placeholder};
use crate::backend::redacted;
use crate::error::{DbContext, Result};

/// How long after its first refusal a database is tried again; each refusal doubles it.
pub(crate) const FIRST_RETRY: Duration = Duration::from_secs(5);
/// The longest interval between two tries.
pub(crate) const LONGEST_RETRY: Duration = Duration::from_secs(30 * 60);

/// How long after its `failures`-th refusal a database is tried again.
pub(crate) fn retry_interval(failures: u32) -> Duration {
    let doublings = failures.saturating_sub(1).min(20);
    FIRST_RETRY
        .saturating_mul(1 << doublings)
        .min(LONGEST_RETRY)
}

/// A database as a sweep finds it: with its refusals, if it ever refused to drop.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct StuckDatabase {
    pub(crate) name: String,
    /// How many times a drop was refused.
    pub(crate) failures: u32,
    /// Why, as the server said the last time.
    pub(crate) reason: String,
    /// When it was last refused, epoch milliseconds.
    pub(crate) failed_at_ms: i64,
    /// When it is due again, epoch milliseconds.
    pub(crate) retry_at_ms: i64,
}

impl StuckDatabase {
    /// From a registry row with `db_name`, `drop_failures`, `drop_error`, `failed_at` and
    /// `retry_at`.
    pub(crate) fn from_row(row: &QueryResult) -> std::result::Result<Self, DbErr> {
        let failures: i64 = super::listing::int(row, "drop_failures")?;
        Ok(StuckDatabase {
            name: row.try_get("", "db_name")?,
            failures: u32::try_from(failures).unwrap_or(0),
            reason: row
                .try_get::<Option<String>>("", "drop_error")?
                .unwrap_or_default(),
            failed_at_ms: super::listing::int(row, "failed_at")?,
            retry_at_ms: super::listing::int(row, "retry_at")?,
        })
    }
}

/// The server's own words for why a statement failed: its message, without the driver's
/// wrapping, on one line.
pub(crate) fn reason(error: &DbErr) -> String {
    let text = error.to_string();
    let text = text
        .rsplit_once("error returned from database: ")
        .map_or(text.as_str(), |(_, message)| message);
    let mut line = text.lines().next().unwrap_or_default().trim();
    // PostgreSQL's driver appends the line of the server's own source that raised it.
    if let Some((message, number)) = line.rsplit_once(" at line ")
        && !number.is_empty()
        && number.bytes().all(|b| b.is_ascii_digit())
    {
        line = message;
    }
    line.chars().take(500).collect()
}

/// The row of database `name`, if the registry has it.
pub(crate) async fn read(
    admin: &impl ConnectionTrait,
    name: &str,
) -> Result<Option<StuckDatabase>> {
    let backend = admin.get_database_backend();
    let sql = format!(
        "SELECT db_name, drop_failures, drop_error, failed_at, retry_at FROM {REGISTRY_TABLE} \
         WHERE db_name = {}",
        placeholder(backend)
    );
    let row = admin
        .query_one_raw(Statement::from_sql_and_values(backend, sql, [name.into()]))
        .await
        .context(ADMIN, format!("looking up {name}"))?;
    row.map(|row| StuckDatabase::from_row(&row))
        .transpose()
        .context(ADMIN, format!("looking up {name}"))
}

/// Records that `me` could not drop `name` (`reason`), and gives it up to nobody, due again
/// after [`retry_interval`] of its refusals so far.
pub(crate) async fn record_failure(
    admin: &impl ConnectionTrait,
    name: &str,
    me: i64,
    reason: &str,
) -> Result<()> {
    let failures = read(admin, name).await?.map_or(0, |d| d.failures) + 1;
    let now = now_millis();
    let due = now + i64::try_from(retry_interval(failures).as_millis()).unwrap_or(i64::MAX / 2);
    let backend = admin.get_database_backend();
    let p = |i: usize| match backend {
        sea_orm::DbBackend::Postgres => format!("${i}"),
        _ => "?".to_owned(),
    };
    let sql = format!(
        "UPDATE {REGISTRY_TABLE} SET state = 'claimed', owner = 0, drop_failures = {}, \
         drop_error = {}, failed_at = {}, retry_at = {} WHERE db_name = {} AND owner = {me}",
        p(1),
        p(2),
        p(3),
        p(4),
        p(5)
    );
    admin
        .execute_raw(Statement::from_sql_and_values(
            backend,
            sql,
            [
                i32::try_from(failures).unwrap_or(i32::MAX).into(),
                reason.into(),
                now.into(),
                due.into(),
                name.into(),
            ],
        ))
        .await
        .context(ADMIN, format!("recording why {name} would not drop"))
        .map(|_| ())
}

/// Makes sure the registry is there, and says (once per process) which databases on the server
/// are stuck: one read, which the first test of a process on a server makes.
pub(crate) async fn open_registry(
    admin: &sea_orm::DatabaseConnection,
    admin_url: &str,
) -> Result<()> {
    let backend = admin.get_database_backend();
    let sql = format!(
        "SELECT db_name, drop_failures, drop_error, failed_at, retry_at FROM {REGISTRY_TABLE} \
         WHERE drop_failures > 0"
    );
    let read = || admin.query_all_raw(Statement::from_string(backend, sql.clone()));
    let rows = match read().await {
        Ok(rows) => rows,
        // Missing, or made by an earlier version without these columns.
        Err(_) => {
            super::ensure_table(admin).await?;
            read().await.context(ADMIN, "reading the registry")?
        }
    };
    for row in rows {
        announce(
            admin_url,
            &StuckDatabase::from_row(&row).context(ADMIN, "reading the registry")?,
        );
    }
    Ok(())
}

/// The line a person reads about a stuck database.
pub(crate) fn message(admin_url: &str, stuck: &StuckDatabase, now_ms: i64) -> String {
    let url = redacted(admin_url);
    let quoted = if url.starts_with("postgres") {
        format!("\"{}\"", stuck.name)
    } else {
        format!("`{}`", stuck.name)
    };
    let next = (stuck.retry_at_ms - now_ms).max(0) / 1000;
    let tries = if stuck.failures == 1 {
        "1 try".to_owned()
    } else {
        format!("{} tries", stuck.failures)
    };
    format!(
        "persist: database {} on {url} will not drop: {} ({tries}; any run's sweep tries again \
         in {next} s). See it with `cargo persist list --database-url {url}`; fix the cause, or \
         drop it by hand (DROP DATABASE {quoted}): the next sweep forgets it.",
        stuck.name, stuck.reason,
    )
}

/// Says once per process, on stderr (past any test harness's capture), that `stuck` will not
/// drop, why, and what to do about it.
pub(crate) fn announce(admin_url: &str, stuck: &StuckDatabase) {
    static SAID: OnceLock<Mutex<HashSet<(String, String)>>> = OnceLock::new();
    let said = SAID.get_or_init(Default::default);
    let fresh = said
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .insert((admin_url.to_owned(), stuck.name.clone()));
    if fresh {
        let line = message(admin_url, stuck, now_millis());
        // Written to the stream itself: `eprintln!` in a test thread is captured, and hidden
        // when the test passes.
        let _ = writeln!(std::io::stderr().lock(), "{line}");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_interval_grows_from_the_first_retry_to_the_longest() {
        assert_eq!(retry_interval(1), FIRST_RETRY);
        assert_eq!(retry_interval(2), FIRST_RETRY * 2);
        assert_eq!(retry_interval(3), FIRST_RETRY * 4);
        assert!(retry_interval(9) < LONGEST_RETRY);
        assert_eq!(retry_interval(10), LONGEST_RETRY);
        assert_eq!(retry_interval(u32::MAX), LONGEST_RETRY);
    }

    #[test]
    fn the_line_names_the_database_why_and_what_to_do() {
        let stuck = StuckDatabase {
            name: "pt_ab_0_gateway".into(),
            failures: 3,
            reason: "cannot drop a template database".into(),
            failed_at_ms: 1_000,
            retry_at_ms: 41_000,
        };
        let line = message("postgres://u:secret@h:5432/postgres", &stuck, 1_000);
        assert!(line.contains("pt_ab_0_gateway"), "{line}");
        assert!(line.contains("cannot drop a template database"), "{line}");
        assert!(line.contains("3 tries"), "{line}");
        assert!(line.contains("in 40 s"), "{line}");
        assert!(line.contains("DROP DATABASE \"pt_ab_0_gateway\""), "{line}");
        assert!(!line.contains("secret"), "{line}");
        let line = message("mysql://root@h/test", &stuck, 50_000);
        assert!(line.contains("DROP DATABASE `pt_ab_0_gateway`"), "{line}");
        assert!(line.contains("in 0 s"), "{line}");
        assert!(!line.contains('\n'));
    }

    #[test]
    fn the_reason_is_the_servers_message_on_one_line() {
        let error = DbErr::Custom(
            "Execution Error: error returned from database: cannot drop a template database at line 1579\nDETAIL: x"
                .into(),
        );
        assert_eq!(reason(&error), "cannot drop a template database");
        let error = DbErr::Custom("connection closed".into());
        assert!(reason(&error).ends_with("connection closed"));
    }
}
