//! Templates and warm pools on a server.
//!
//! For each schema (by its [definition fingerprint](crate::Fingerprint)) a server holds
//! one migrated template, `pt_t_<key>`, built once under an advisory lock by whichever test
//! needs it first and published in the registry. Pool databases, `pt_p_<key>_<id>`, are
//! cloned from it (PostgreSQL: `CREATE DATABASE … TEMPLATE`; MySQL/MariaDB: the template's
//! own `SHOW CREATE TABLE` statements, replayed and checked) and claimed atomically
//! (`FOR UPDATE SKIP LOCKED`) by tests in any process on any machine.
//!
//! At cleanup a pool database is reset (other sessions ended, rows deleted, sequences and
//! auto-increments restarted) and goes back only if its catalog digest (tables, columns,
//! indexes, keys, triggers, views, routines, sequences, and the rows of tables the template
//! itself holds rows in, such as the migration history) equals the template's. Anything else
//! is dropped.

use std::collections::HashMap;
use std::sync::{Mutex, OnceLock};

use sea_orm::{ConnectionTrait, DatabaseConnection, DbBackend, DbErr, Statement};
use serde::{Deserialize, Serialize};

use crate::backend::server::registry::{self, REGISTRY_TABLE};
use crate::error::{DbContext, Result};

mod catalog;
mod claim;
mod give_back;
mod reset;
mod template;

pub(crate) use catalog::catalog_key;
pub(crate) use claim::{claim, create_pooled, refill_if_low, sweep_stale};
use claim::{claim_first, placeholder};
pub(crate) use give_back::give_back;
pub(crate) use reset::reset;
pub(crate) use template::ensure_template;

pub(super) const ADMIN: &str = "server admin";
pub(super) const TEMPLATE_LOCK_BASE: i64 = 0x7065_7275_0000_0000;

pub(crate) fn pool_size() -> usize {
    crate::env::count_or_default(&crate::env::POOL_SIZE)
}

/// How many idle pool databases a server keeps in all: [`POOL_MAX_IDLE_ENV`](crate::env::POOL_MAX_IDLE_ENV) if set, else 32.
pub fn max_idle() -> usize {
    crate::env::count_or_default(&crate::env::POOL_MAX_IDLE)
}

/// How many ready pool databases the server holds, whatever their schema.
pub(crate) async fn total_ready(admin: &DatabaseConnection) -> Result<usize> {
    let backend = admin.get_database_backend();
    let sql = format!(
        "SELECT COUNT(*) AS n FROM {REGISTRY_TABLE} WHERE kind = 'pool' AND state = 'ready'"
    );
    let row = admin
        .query_one_raw(Statement::from_string(backend, sql))
        .await
        .context(ADMIN, "counting pool databases")?;
    let n: i64 = match row {
        Some(row) => row
            .try_get("", "n")
            .context(ADMIN, "counting pool databases")?,
        None => 0,
    };
    Ok(usize::try_from(n).unwrap_or(0))
}

/// How long a schema must have gone unused before its idle databases make room for others.
const EVICT_UNUSED_FOR: std::time::Duration = std::time::Duration::from_secs(30);

/// Claims an idle pool database of a schema other than `keep`'s and unused for
/// [`EVICT_UNUSED_FOR`], of the schema whose template was used least recently first: what
/// makes room under [`max_idle`].
pub(crate) async fn claim_evictable(
    admin: &DatabaseConnection,
    owner: i64,
    keep: &[&str],
) -> Result<Option<String>> {
    let backend = admin.get_database_backend();
    let mut values: Vec<sea_orm::Value> = keep.iter().map(|k| (*k).into()).collect();
    if values.is_empty() {
        values.push("".into());
    }
    let placeholders = registry::placeholders(backend, values.len());
    // Only a schema no process has used for a while: evicting an active one's idle databases
    // would take them from under its next test's claim for nothing (and a process killed
    // between its claim and its drop would leave the other run's pool a database short).
    let cutoff = registry::now_millis() - EVICT_UNUSED_FOR.as_millis() as i64;
    let filter = format!(
        "kind = 'pool' AND pool_key NOT IN ({}) AND pool_key NOT IN (SELECT u.pool_key FROM \
         (SELECT pool_key FROM {REGISTRY_TABLE} WHERE kind = 'template' AND created_at >= {cutoff}) u)",
        placeholders
    );
    // A pool whose template is gone sorts first.
    let order = format!(
        "COALESCE((SELECT t.created_at FROM {REGISTRY_TABLE} t WHERE t.kind = 'template' \
         AND t.pool_key = {REGISTRY_TABLE}.pool_key ORDER BY t.created_at LIMIT 1), 0)"
    );
    claim::claim_first_by(
        admin,
        owner,
        &filter,
        &order,
        values,
        "an idle database",
        None,
    )
    .await
}

/// What a template holds, as recorded when it was built.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub(crate) struct TemplateInfo {
    pub name: String,
    pub digest: String,
    /// Tables empty in the template: a reset deletes their rows.
    pub empty: Vec<String>,
    /// Tables with rows in the template (the migration history, seed data): a reset leaves
    /// them, and the digest covers their rows.
    pub seeded: Vec<String>,
    /// MySQL: the statements that recreate the template's tables.
    pub ddl: Vec<String>,
}

pub(crate) fn template_name(key: &str) -> String {
    format!("pt_t_{key}")
}

/// The templates this process has looked up, with when it last touched each.
type Known = HashMap<(String, String), (TemplateInfo, std::time::Instant)>;

pub(super) fn known() -> &'static Mutex<Known> {
    static KNOWN: OnceLock<Mutex<Known>> = OnceLock::new();
    KNOWN.get_or_init(Default::default)
}

pub(super) async fn raw_strings(
    conn: &impl ConnectionTrait,
    sql: &str,
    column: &str,
) -> Result<Vec<String>, DbErr> {
    let backend = conn.get_database_backend();
    let rows = conn
        .query_all_raw(Statement::from_string(backend, sql))
        .await?;
    rows.iter().map(|row| row.try_get("", column)).collect()
}

pub(super) fn quote(backend: DbBackend, name: &str) -> String {
    match backend {
        DbBackend::Postgres => format!("\"{}\"", name.replace('"', "\"\"")),
        _ => format!("`{}`", name.replace('`', "``")),
    }
}

/// How many ready databases the pools of `keys` hold, by key.
pub(crate) async fn ready_counts(
    admin: &DatabaseConnection,
    keys: &[&str],
) -> Result<HashMap<String, usize>> {
    if keys.is_empty() {
        return Ok(HashMap::new());
    }
    let backend = admin.get_database_backend();
    let placeholders = registry::placeholders(backend, keys.len());
    let sql = format!(
        "SELECT pool_key, COUNT(*) AS n FROM {REGISTRY_TABLE} WHERE kind = 'pool' AND state = 'ready' \
         AND pool_key IN ({}) GROUP BY pool_key",
        placeholders
    );
    let values: Vec<sea_orm::Value> = keys.iter().map(|k| (*k).into()).collect();
    let rows = admin
        .query_all_raw(Statement::from_sql_and_values(backend, sql, values))
        .await
        .context(ADMIN, "counting pool databases")?;
    let mut counts = HashMap::new();
    for row in rows {
        let key: String = row
            .try_get("", "pool_key")
            .context(ADMIN, "counting pool databases")?;
        let n: i64 = row
            .try_get("", "n")
            .context(ADMIN, "counting pool databases")?;
        counts.insert(key, usize::try_from(n).unwrap_or(0));
    }
    Ok(counts)
}

/// Claims any idle pool database or template (of `key`, if given), pool databases first.
pub(crate) async fn claim_idle(
    admin: &DatabaseConnection,
    owner: i64,
    key: Option<&str>,
) -> Result<Option<String>> {
    let mut filter = "kind IN ('pool', 'template')".to_owned();
    if key.is_some() {
        filter.push_str(&format!(" AND pool_key = {}", placeholder(admin)));
    }
    let values = key.map(Into::into).into_iter().collect();
    claim_first(admin, owner, &filter, values, "an idle database", None).await
}

/// Forgets the template of `key` this process knew: its database is gone.
pub(crate) fn forget_template(admin_url: &str, key: &str) {
    known()
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .remove(&(admin_url.to_owned(), key.to_owned()));
}

/// Forgets every template this process knew (they were dropped).
pub(crate) fn forget_templates() {
    known().lock().unwrap_or_else(|p| p.into_inner()).clear();
}

/// The template of a pool database this process claimed, by pool key.
pub(crate) fn known_template(admin_url: &str, key: &str) -> Option<TemplateInfo> {
    known()
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .get(&(admin_url.to_owned(), key.to_owned()))
        .map(|(info, _)| info.clone())
}
