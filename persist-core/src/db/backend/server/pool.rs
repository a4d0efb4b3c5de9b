//! Templates and warm pools on a server.
//!
//! For each schema (by its [definition fingerprint](crate::db::Fingerprint)) a server holds
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
use std::time::Duration;

use sea_orm::{ConnectionTrait, DatabaseConnection, DbBackend, DbErr, Statement, TransactionTrait};
use serde::{Deserialize, Serialize};

use super::super::SchemaTemplate;
use super::super::registry::{self, Kind, REGISTRY_TABLE};
use super::{admin_connection_to, create_statement};
use crate::db::Fingerprint;
use crate::error::{DbContext, PersistError, Result};

/// How many idle databases a pool keeps per schema (default 16; 0 turns pooling off).
pub const POOL_SIZE_ENV: &str = "PERSIST_POOL_SIZE";

const ADMIN: &str = "server admin";
const TEMPLATE_LOCK_BASE: i64 = 0x7065_7275_0000_0000;

pub(crate) fn pool_size() -> usize {
    std::env::var(POOL_SIZE_ENV)
        .ok()
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or(16)
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

fn known() -> &'static Mutex<HashMap<(String, String), TemplateInfo>> {
    static KNOWN: OnceLock<Mutex<HashMap<(String, String), TemplateInfo>>> = OnceLock::new();
    KNOWN.get_or_init(Default::default)
}

async fn raw_strings(
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

fn quote(backend: DbBackend, name: &str) -> String {
    match backend {
        DbBackend::Postgres => format!("\"{}\"", name.replace('"', "\"\"")),
        _ => format!("`{}`", name.replace('`', "``")),
    }
}

// Plain catalog columns, no deparsing functions: cheap on a connection whose catalog caches
// are cold, which a test's connection always is.
const PG_CATALOG: &str = "\
WITH ns AS (SELECT oid, nspname FROM pg_catalog.pg_namespace WHERE nspname NOT LIKE 'pg\\_%' AND nspname <> 'information_schema'), \
rel AS (SELECT c.oid, ns.nspname || '.' || c.relname AS name, c.relkind FROM pg_catalog.pg_class c JOIN ns ON ns.oid = c.relnamespace) \
SELECT 'ns ' || nspname AS line FROM ns \
UNION ALL SELECT 'rel ' || name || ' ' || relkind::text FROM rel \
UNION ALL SELECT 'col ' || rel.name || '.' || a.attname || ' ' || a.atttypid::text || ' ' || a.atttypmod::text || ' ' || a.attnotnull::text || ' ' || a.attnum::text || ' ' || coalesce(d.adbin::text, '~') FROM pg_catalog.pg_attribute a JOIN rel ON rel.oid = a.attrelid LEFT JOIN pg_catalog.pg_attrdef d ON d.adrelid = a.attrelid AND d.adnum = a.attnum WHERE a.attnum > 0 AND NOT a.attisdropped \
UNION ALL SELECT 'idx ' || rel.name || ' ' || i.indisunique::text || ' ' || i.indkey::text || ' ' || coalesce(i.indexprs::text, '~') || ' ' || coalesce(i.indpred::text, '~') FROM pg_catalog.pg_index i JOIN rel ON rel.oid = i.indexrelid \
UNION ALL SELECT 'con ' || c.conname || ' ' || c.contype::text || ' ' || c.conrelid::text || ' ' || c.confrelid::text || ' ' || coalesce(c.conkey::text, '~') || ' ' || coalesce(c.confkey::text, '~') || ' ' || c.confdeltype::text || ' ' || coalesce(c.conbin::text, '~') FROM pg_catalog.pg_constraint c JOIN ns ON ns.oid = c.connamespace \
UNION ALL SELECT 'trg ' || t.tgname || ' ' || t.tgrelid::text || ' ' || t.tgtype::text || ' ' || t.tgfoid::text || ' ' || t.tgenabled::text FROM pg_catalog.pg_trigger t JOIN rel ON rel.oid = t.tgrelid WHERE NOT t.tgisinternal \
UNION ALL SELECT 'fn ' || ns.nspname || '.' || p.proname || ' ' || md5(coalesce(p.prosrc, '')) FROM pg_catalog.pg_proc p JOIN ns ON ns.oid = p.pronamespace \
UNION ALL SELECT 'type ' || ns.nspname || '.' || t.typname || ' ' || t.typtype::text FROM pg_catalog.pg_type t JOIN ns ON ns.oid = t.typnamespace WHERE t.typtype IN ('e', 'd') \
UNION ALL SELECT 'view ' || rel.name || ' ' || md5(coalesce(r.ev_action::text, '')) FROM pg_catalog.pg_rewrite r JOIN rel ON rel.oid = r.ev_class \
UNION ALL SELECT 'seq ' || rel.name || ' ' || s.seqstart::text || ' ' || s.seqincrement::text FROM pg_catalog.pg_sequence s JOIN rel ON rel.oid = s.seqrelid";

const MYSQL_CATALOG: &str = "\
SELECT CAST(CONCAT('col ', TABLE_NAME, '.', COLUMN_NAME, ' ', COLUMN_TYPE, ' ', IS_NULLABLE, ' ', IFNULL(COLUMN_DEFAULT, '~'), ' ', EXTRA) AS CHAR) AS line FROM information_schema.COLUMNS WHERE TABLE_SCHEMA = DATABASE() \
UNION ALL SELECT CAST(CONCAT('idx ', TABLE_NAME, '.', INDEX_NAME, ' ', NON_UNIQUE, ' ', SEQ_IN_INDEX, ' ', COLUMN_NAME) AS CHAR) FROM information_schema.STATISTICS WHERE TABLE_SCHEMA = DATABASE() \
UNION ALL SELECT CAST(CONCAT('key ', CONSTRAINT_NAME, ' ', TABLE_NAME, '.', COLUMN_NAME, ' ', IFNULL(REFERENCED_TABLE_NAME, '~'), '.', IFNULL(REFERENCED_COLUMN_NAME, '~')) AS CHAR) FROM information_schema.KEY_COLUMN_USAGE WHERE TABLE_SCHEMA = DATABASE() \
UNION ALL SELECT CAST(CONCAT('trg ', TRIGGER_NAME, ' ', EVENT_OBJECT_TABLE, ' ', ACTION_TIMING, ' ', EVENT_MANIPULATION) AS CHAR) FROM information_schema.TRIGGERS WHERE TRIGGER_SCHEMA = DATABASE() \
UNION ALL SELECT CAST(CONCAT('routine ', ROUTINE_TYPE, ' ', ROUTINE_NAME) AS CHAR) FROM information_schema.ROUTINES WHERE ROUTINE_SCHEMA = DATABASE() \
UNION ALL SELECT CAST(CONCAT('table ', TABLE_NAME, ' ', TABLE_TYPE, ' ', IFNULL(AUTO_INCREMENT, '~')) AS CHAR) FROM information_schema.TABLES WHERE TABLE_SCHEMA = DATABASE()";

/// The catalog digest of the connection's database: its whole structure, the state of its
/// sequences, and the rows of `seeded` tables.
pub(crate) async fn catalog_digest(
    conn: &impl ConnectionTrait,
    seeded: &[String],
) -> Result<String, DbErr> {
    let backend = conn.get_database_backend();
    let mut lines = match backend {
        DbBackend::Postgres => {
            let mut lines = raw_strings(conn, PG_CATALOG, "line").await?;
            // A used sequence is not as cloned.
            lines.extend(
                raw_strings(
                    conn,
                    "SELECT 'used ' || schemaname || '.' || sequencename AS line \
                     FROM pg_catalog.pg_sequences WHERE last_value IS NOT NULL",
                    "line",
                )
                .await?,
            );
            lines
        }
        _ => {
            // MySQL 8 caches table statistics (AUTO_INCREMENT) for a day unless told not to;
            // MariaDB has no such cache and no such variable.
            let _ = conn
                .execute_unprepared("SET SESSION information_schema_stats_expiry = 0")
                .await;
            raw_strings(conn, MYSQL_CATALOG, "line").await?
        }
    };
    for table in seeded {
        let q = quote(backend, table);
        let sql = match backend {
            DbBackend::Postgres => format!(
                "SELECT coalesce(md5(string_agg(x::text, '|' ORDER BY x::text)), '~') AS line FROM {q} x"
            ),
            _ => format!("CHECKSUM TABLE {q}"),
        };
        let column = if backend == DbBackend::Postgres {
            "line"
        } else {
            "Checksum"
        };
        let rows = conn
            .query_all_raw(Statement::from_string(backend, sql))
            .await?;
        for row in rows {
            let value: Option<i64> = if backend == DbBackend::Postgres {
                None
            } else {
                row.try_get("", column)?
            };
            let text = match value {
                Some(n) => n.to_string(),
                None if backend == DbBackend::Postgres => row.try_get("", column)?,
                None => "~".to_owned(),
            };
            lines.push(format!("data {table} {text}"));
        }
    }
    lines.sort();
    Ok(Fingerprint::of(&lines).to_string())
}

/// A PostgreSQL database's schema by names and definitions (no object ids, which differ
/// between two builds): columns, indexes, constraints, triggers, views, functions, sequences.
const PG_KEY_CATALOG: &str = "\
SELECT 'col ' || c.relname || '.' || a.attname || ' ' || pg_catalog.format_type(a.atttypid, a.atttypmod) || ' ' || a.attnotnull::text || ' ' || a.attnum::text || ' ' || coalesce(pg_catalog.pg_get_expr(d.adbin, d.adrelid), '~') AS line \
FROM pg_catalog.pg_attribute a JOIN pg_catalog.pg_class c ON c.oid = a.attrelid JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace \
LEFT JOIN pg_catalog.pg_attrdef d ON d.adrelid = a.attrelid AND d.adnum = a.attnum \
WHERE n.nspname = current_schema() AND c.relkind IN ('r', 'p', 'v', 'm') AND a.attnum > 0 AND NOT a.attisdropped \
UNION ALL SELECT 'idx ' || tablename || ' ' || indexdef FROM pg_catalog.pg_indexes WHERE schemaname = current_schema() \
UNION ALL SELECT 'con ' || c.relname || ' ' || k.conname || ' ' || pg_catalog.pg_get_constraintdef(k.oid) \
FROM pg_catalog.pg_constraint k JOIN pg_catalog.pg_class c ON c.oid = k.conrelid JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace WHERE n.nspname = current_schema() \
UNION ALL SELECT 'trg ' || c.relname || ' ' || t.tgname || ' ' || pg_catalog.pg_get_triggerdef(t.oid) \
FROM pg_catalog.pg_trigger t JOIN pg_catalog.pg_class c ON c.oid = t.tgrelid \
JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace WHERE NOT t.tgisinternal AND n.nspname = current_schema() \
UNION ALL SELECT 'view ' || viewname || ' ' || definition FROM pg_catalog.pg_views WHERE schemaname = current_schema() \
UNION ALL SELECT 'fn ' || p.proname || ' ' || md5(coalesce(p.prosrc, '')) FROM pg_catalog.pg_proc p \
JOIN pg_catalog.pg_namespace n ON n.oid = p.pronamespace WHERE n.nspname = current_schema() \
UNION ALL SELECT 'seq ' || sequencename || ' ' || coalesce(last_value::text, '~') FROM pg_catalog.pg_sequences WHERE schemaname = current_schema()";

/// With [`MYSQL_CATALOG`] (already by names), a MySQL/MariaDB database's schema: the
/// definitions of its triggers, views and routines, its own name taken out of them.
const MYSQL_KEY_DEFINITIONS: &str = "\
SELECT CAST(CONCAT('trg ', TRIGGER_NAME, ' ', EVENT_OBJECT_TABLE, ' ', ACTION_TIMING, ' ', EVENT_MANIPULATION, ' ', REPLACE(ACTION_STATEMENT, DATABASE(), '')) AS CHAR) AS line FROM information_schema.TRIGGERS WHERE TRIGGER_SCHEMA = DATABASE() \
UNION ALL SELECT CAST(CONCAT('view ', TABLE_NAME, ' ', REPLACE(VIEW_DEFINITION, DATABASE(), '')) AS CHAR) FROM information_schema.VIEWS WHERE TABLE_SCHEMA = DATABASE() \
UNION ALL SELECT CAST(CONCAT('routine ', ROUTINE_NAME, ' ', IFNULL(REPLACE(ROUTINE_DEFINITION, DATABASE(), ''), '~')) AS CHAR) FROM information_schema.ROUTINES WHERE ROUTINE_SCHEMA = DATABASE()";

/// The [catalog key](crate::db::Backend::catalog_key) of `schema` on this server: built in a
/// scratch database of its own (registered, owned and dropped like any other), keyed by its
/// catalog digest and each table's row count.
pub(crate) async fn catalog_key(
    admin: &DatabaseConnection,
    admin_url: &str,
    owner: i64,
    label: &str,
    schema: &dyn crate::db::ApplySchema,
) -> Result<String> {
    let backend = admin.get_database_backend();
    let name = format!("pt_s_{}", &uuid::Uuid::new_v4().simple().to_string()[..16]);
    registry::record(admin, &name, Kind::Test, "", owner, label).await?;
    let created = admin
        .execute_unprepared(&create_statement(backend, &name, None))
        .await
        .context(ADMIN, format!("creating scratch database {name}"));
    let key = async {
        created?;
        registry::set_state(admin, std::slice::from_ref(&name), owner, "claimed", owner).await?;
        let conn = admin_connection_to(admin_url, &name).await?;
        let key = async {
            schema
                .apply(&conn)
                .await
                .context(label, "building its schema to read its catalog")?;
            // Two separate builds must give one key: read the catalog by names and
            // definitions, with no object ids (unlike the digest that compares a clone with
            // its template).
            let mut lines = vec![
                crate::db::fingerprint::CATALOG_FORMAT.to_owned(),
                format!("{backend:?}"),
            ];
            let catalogs: &[&str] = match backend {
                DbBackend::Postgres => &[PG_KEY_CATALOG],
                _ => &[MYSQL_CATALOG, MYSQL_KEY_DEFINITIONS],
            };
            let mut read = Vec::new();
            for catalog in catalogs {
                read.extend(
                    raw_strings(&conn, catalog, "line")
                        .await
                        .context(label, "reading its schema's catalog")?,
                );
            }
            read.sort();
            lines.extend(read);
            for table in crate::db::list_tables(&conn).await? {
                let rows = crate::db::count_rows(&conn, &table).await?;
                lines.push(format!("rows {table} {rows}"));
            }
            Ok::<_, PersistError>(Fingerprint::of(&lines).to_string())
        }
        .await;
        let _ = conn.close().await;
        key
    }
    .await;
    registry::drop_owned(admin, &name, owner).await?;
    key
}

/// Base tables of the connection's database, each with whether it holds rows.
async fn tables_with_rows(conn: &impl ConnectionTrait) -> Result<Vec<(String, bool)>> {
    let mut out = Vec::new();
    for table in crate::db::list_tables(conn).await? {
        let rows = crate::db::count_rows(conn, &table).await?;
        out.push((table, rows > 0));
    }
    Ok(out)
}

/// The template for `template`, built if no process has built it yet.
pub(crate) async fn ensure_template(
    admin: &DatabaseConnection,
    admin_url: &str,
    owner: i64,
    template: &SchemaTemplate,
) -> Result<TemplateInfo> {
    let memo_key = (admin_url.to_owned(), template.key.clone());
    if let Some(info) = known()
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .get(&memo_key)
    {
        return Ok(info.clone());
    }
    // One build per schema in this process: the server's lock is re-entrant for a session,
    // so two databases of one test (two agents) must not both take it.
    static ENSURING: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());
    let _ensuring = ENSURING.lock().await;
    if let Some(info) = known()
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .get(&memo_key)
    {
        return Ok(info.clone());
    }
    let backend = admin.get_database_backend();
    let name = template_name(&template.key);
    let lock_key = TEMPLATE_LOCK_BASE
        + i64::from(u32::from_str_radix(&template.key[24..], 16).unwrap_or(0) >> 1);
    let (lock, unlock) = match backend {
        DbBackend::Postgres => (
            format!("SELECT pg_advisory_lock({lock_key})"),
            format!("SELECT pg_advisory_unlock({lock_key})"),
        ),
        _ => (
            format!("SELECT GET_LOCK('persist_template_{lock_key}', 600)"),
            format!("SELECT RELEASE_LOCK('persist_template_{lock_key}')"),
        ),
    };
    admin
        .execute_unprepared(&lock)
        .await
        .context(ADMIN, format!("waiting for template {name}"))?;
    let result = async {
        if let Some(info) = published(admin, &name).await? {
            // In use: a sweep of stale pools counts from here (once per process).
            touch_template(admin, &name).await?;
            return Ok(info);
        }
        build_template(admin, admin_url, owner, template, &name).await
    }
    .await;
    let _ = admin.execute_unprepared(&unlock).await;
    let info = result?;
    known()
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .insert(memo_key, info.clone());
    Ok(info)
}

/// The template as published in the registry, if it is.
async fn published(admin: &DatabaseConnection, name: &str) -> Result<Option<TemplateInfo>> {
    let backend = admin.get_database_backend();
    let sql = format!(
        "SELECT detail FROM {REGISTRY_TABLE} WHERE db_name = {} AND kind = 'template' AND state = 'ready'",
        placeholder(admin)
    );
    let row = admin
        .query_one_raw(Statement::from_sql_and_values(backend, sql, [name.into()]))
        .await
        .context(ADMIN, format!("looking up template {name}"))?;
    let Some(row) = row else { return Ok(None) };
    let detail: String = row
        .try_get("", "detail")
        .context(ADMIN, "reading a template")?;
    Ok(serde_json::from_str(&detail).ok())
}

async fn build_template(
    admin: &DatabaseConnection,
    admin_url: &str,
    owner: i64,
    template: &SchemaTemplate,
    name: &str,
) -> Result<TemplateInfo> {
    let backend = admin.get_database_backend();
    // A build whose process died half-way left its database and record: start again.
    if registry::take_abandoned(admin, name, owner).await? {
        registry::drop_owned(admin, name, owner).await?;
    }
    registry::record(
        admin,
        name,
        Kind::Template,
        &template.key,
        owner,
        &template.label,
    )
    .await?;
    admin
        .execute_unprepared(&create_statement(backend, name, None))
        .await
        .context(ADMIN, format!("creating template {name}"))?;
    let conn = admin_connection_to(admin_url, name).await?;
    let built = async {
        template.schema.apply(&conn).await.context(
            &template.label,
            format!("applying its schema to template {name}"),
        )?;
        let tables = tables_with_rows(&conn)
            .await
            .context(&template.label, "reading its template")?;
        let seeded: Vec<String> = tables
            .iter()
            .filter(|(_, r)| *r)
            .map(|(t, _)| t.clone())
            .collect();
        let empty = tables
            .iter()
            .filter(|(_, r)| !*r)
            .map(|(t, _)| t.clone())
            .collect();
        let digest = catalog_digest(&conn, &seeded)
            .await
            .context(&template.label, "reading its template's catalog")?;
        let ddl = if backend == DbBackend::Postgres {
            Vec::new()
        } else {
            let mut ddl = Vec::new();
            for (table, _) in &tables {
                let row = conn
                    .query_one_raw(Statement::from_string(
                        backend,
                        format!("SHOW CREATE TABLE {}", quote(backend, table)),
                    ))
                    .await
                    .context(&template.label, "reading its template's tables")?;
                if let Some(row) = row {
                    ddl.push(
                        row.try_get_by_index::<String>(1)
                            .context(&template.label, "reading DDL")?,
                    );
                }
            }
            ddl
        };
        Ok::<_, PersistError>(TemplateInfo {
            name: name.to_owned(),
            digest,
            empty,
            seeded,
            ddl,
        })
    }
    .await;
    let _ = conn.close().await;
    let info = match built {
        Ok(info) => info,
        Err(e) => {
            let _ = registry::drop_owned(admin, name, owner).await;
            return Err(e);
        }
    };
    let detail = serde_json::to_string(&info)
        .map_err(|e| PersistError::Backend(format!("recording template {name}: {e}")))?;
    registry::update(
        admin,
        name,
        [
            ("detail", detail.into()),
            ("digest", info.digest.clone().into()),
            ("state", "ready".into()),
            ("owner", 0i64.into()),
        ],
    )
    .await?;
    Ok(info)
}

async fn touch_template(admin: &DatabaseConnection, name: &str) -> Result<()> {
    registry::update(admin, name, [("created_at", registry::now_millis().into())]).await
}

/// How long a template may go unused before a sweep drops it and its pool.
pub const STALE_POOL_AFTER: Duration = Duration::from_secs(7 * 24 * 3600);

/// Drops the templates no process has used for [`STALE_POOL_AFTER`] (a schema that changed
/// leaves its old one behind), with their idle pool databases.
pub(crate) async fn sweep_stale(admin: &DatabaseConnection, owner: i64) -> Result<Vec<String>> {
    let backend = admin.get_database_backend();
    let cutoff = registry::now_millis() - STALE_POOL_AFTER.as_millis() as i64;
    let sql = format!(
        "SELECT pool_key FROM {REGISTRY_TABLE} WHERE kind = 'template' AND state = 'ready' AND created_at < {}",
        placeholder(admin)
    );
    let keys = admin
        .query_all_raw(Statement::from_sql_and_values(
            backend,
            sql,
            [cutoff.into()],
        ))
        .await
        .context(ADMIN, "looking for stale templates")?
        .iter()
        .map(|row| row.try_get::<String>("", "pool_key"))
        .collect::<Result<Vec<_>, _>>()
        .context(ADMIN, "looking for stale templates")?;
    let mut dropped = Vec::new();
    for key in keys {
        while let Some(name) = claim_idle(admin, owner, Some(&key)).await? {
            if registry::drop_owned(admin, &name, owner).await? {
                dropped.push(name);
            }
        }
    }
    Ok(dropped)
}

/// Claims a ready pool database of `key`, atomically across every process and machine.
/// The claimer's `label` (its test and the database's part) goes on the record.
pub(crate) async fn claim(
    admin: &DatabaseConnection,
    key: &str,
    owner: i64,
    label: &str,
) -> Result<Option<String>> {
    let filter = format!("kind = 'pool' AND pool_key = {}", placeholder(admin));
    claim_first(
        admin,
        owner,
        &filter,
        vec![key.into()],
        "a pool database",
        Some(label),
    )
    .await
}

/// The first bind parameter in the admin database's dialect.
fn placeholder(admin: &DatabaseConnection) -> &'static str {
    registry::placeholder(admin.get_database_backend())
}

/// Claims the first ready database that `filter` (a condition on the registry, with its
/// `values`) selects, pool databases before templates: `FOR UPDATE SKIP LOCKED`, so that two
/// claimers never take the same one and neither waits for the other.
async fn claim_first(
    admin: &DatabaseConnection,
    owner: i64,
    filter: &str,
    values: Vec<sea_orm::Value>,
    what: &str,
    label: Option<&str>,
) -> Result<Option<String>> {
    let backend = admin.get_database_backend();
    let select = format!(
        "SELECT db_name FROM {REGISTRY_TABLE} WHERE state = 'ready' AND {filter} \
         ORDER BY kind LIMIT 1 FOR UPDATE SKIP LOCKED"
    );
    let operation = format!("claiming {what}");
    let txn = admin.begin().await.context(ADMIN, &operation)?;
    let row = txn
        .query_one_raw(Statement::from_sql_and_values(backend, select, values))
        .await
        .context(ADMIN, &operation)?;
    let Some(row) = row else {
        let _ = txn.rollback().await;
        return Ok(None);
    };
    let name: String = row.try_get("", "db_name").context(ADMIN, &operation)?;
    registry::hand_over(&txn, &name, owner, label).await?;
    txn.commit().await.context(ADMIN, &operation)?;
    Ok(Some(name))
}

/// Creates a new pool database from the template, recorded as claimed by `owner`.
pub(crate) async fn create_pooled(
    admin: &DatabaseConnection,
    admin_url: &str,
    owner: i64,
    template: &SchemaTemplate,
    info: &TemplateInfo,
    label: &str,
) -> Result<String> {
    let backend = admin.get_database_backend();
    let key = template.key.as_str();
    let name = format!(
        "pt_p_{key}_{}",
        &uuid::Uuid::new_v4().simple().to_string()[..12]
    );
    registry::record(admin, &name, Kind::Pool, key, owner, label).await?;
    let created = async {
        match backend {
            DbBackend::Postgres => {
                let sql = create_statement(backend, &name, Some(&info.name));
                // The template is busy for a moment after a build, or while autovacuum visits.
                let mut attempt = 0;
                loop {
                    match admin.execute_unprepared(&sql).await {
                        Ok(_) => break Ok(()),
                        Err(e)
                            if attempt < 20
                                && e.to_string().contains("being accessed by other users") =>
                        {
                            attempt += 1;
                            tokio::time::sleep(Duration::from_millis(50)).await;
                        }
                        Err(e) => break Err(e),
                    }
                }
                .context(ADMIN, format!("cloning {} into {name}", info.name))
            }
            _ => clone_mysql(admin, admin_url, &name, template, info).await,
        }
    }
    .await;
    if let Err(e) = created {
        let _ = registry::drop_owned(admin, &name, owner).await;
        return Err(e);
    }
    registry::set_state(admin, std::slice::from_ref(&name), owner, "claimed", owner).await?;
    Ok(name)
}

/// How few ready databases a pool may hold before a test that claims one starts making another.
const REFILL_BELOW: usize = 2;

/// If the pool of `template` runs low, starts making one more database in the background (on
/// a connection of its own, so the test's setup does not wait for it), ready for the next test.
pub(crate) async fn refill_if_low(
    admin: &DatabaseConnection,
    admin_url: &str,
    template: &SchemaTemplate,
    info: &TemplateInfo,
) -> Option<tokio::task::JoinHandle<()>> {
    static REFILLING: OnceLock<Mutex<std::collections::HashSet<String>>> = OnceLock::new();
    let refilling = REFILLING.get_or_init(Default::default);
    if pool_size() < REFILL_BELOW {
        return None;
    }
    let ready = ready_counts(admin, &[&template.key]).await.ok()?;
    if ready.get(&template.key).copied().unwrap_or(0) >= REFILL_BELOW {
        return None;
    }
    if !refilling
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .insert(template.key.clone())
    {
        return None;
    }
    let (url, template, info) = (admin_url.to_owned(), template.clone(), info.clone());
    Some(tokio::spawn(async move {
        let made = async {
            // An owner of its own: what it records is protected by a lock it holds itself,
            // whenever the test that started it ends.
            let (conn, owner) = super::owner_connection(&url).await?;
            let made = async {
                let label = format!("made ahead · {}", template.label);
                let name = create_pooled(&conn, &url, owner, &template, &info, &label).await?;
                registry::set_state(&conn, std::slice::from_ref(&name), owner, "ready", 0).await
            }
            .await;
            let _ = conn.close().await;
            made
        }
        .await;
        if let Err(e) = made {
            tracing::warn!(error = %e, "making a pool database ahead of demand failed");
        }
        refilling
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .remove(&template.key);
    }))
}

/// MySQL has no template databases: replay the template's tables and copy its rows, then
/// check that the copy's digest is the template's.
async fn clone_mysql(
    admin: &DatabaseConnection,
    admin_url: &str,
    name: &str,
    template: &SchemaTemplate,
    info: &TemplateInfo,
) -> Result<()> {
    let backend = admin.get_database_backend();
    admin
        .execute_unprepared(&create_statement(backend, name, None))
        .await
        .context(ADMIN, format!("creating {name}"))?;
    let conn = admin_connection_to(admin_url, name).await?;
    let result = async {
        let mut script = String::from("SET FOREIGN_KEY_CHECKS = 0;\n");
        for ddl in &info.ddl {
            script.push_str(ddl);
            script.push_str(";\n");
        }
        for table in &info.seeded {
            let t = quote(backend, table);
            script.push_str(&format!(
                "INSERT INTO {t} SELECT * FROM {}.{t};\n",
                quote(backend, &info.name)
            ));
        }
        script.push_str("SET FOREIGN_KEY_CHECKS = 1;");
        conn.execute_unprepared(&script).await.context(
            &template.label,
            format!("copying template {} into {name}", info.name),
        )?;
        let digest = catalog_digest(&conn, &info.seeded)
            .await
            .context(&template.label, format!("reading {name}'s catalog"))?;
        if digest != info.digest {
            // Something the statements do not carry (a view, a trigger): migrate instead.
            conn.execute_unprepared(&format!(
                "DROP DATABASE {0}; CREATE DATABASE {0}",
                quote(backend, name)
            ))
            .await
            .context(ADMIN, format!("emptying {name}"))?;
            conn.execute_unprepared(&format!("USE {}", quote(backend, name)))
                .await
                .context(ADMIN, format!("using {name}"))?;
            template
                .schema
                .apply(&conn)
                .await
                .context(&template.label, format!("applying its schema to {name}"))?;
        }
        Ok(())
    }
    .await;
    let _ = conn.close().await;
    result
}

/// Resets a pool database through `conn` (its own connection) and says whether it is now
/// exactly as cloned: if not, it must be dropped.
pub(crate) async fn reset(conn: &DatabaseConnection, info: &TemplateInfo) -> Result<bool, DbErr> {
    // Everything on one connection (a transaction pins it): the sessions ended below must not
    // include the one doing the work.
    let txn = conn.begin().await?;
    let pristine = reset_on(&txn, info).await?;
    txn.commit().await?;
    Ok(pristine)
}

async fn reset_on(conn: &impl ConnectionTrait, info: &TemplateInfo) -> Result<bool, DbErr> {
    let backend = conn.get_database_backend();
    let tables: Vec<String> = info.empty.iter().map(|t| quote(backend, t)).collect();
    let script = match backend {
        DbBackend::Postgres => {
            let mut script = String::from(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity \
                 WHERE datname = current_database() AND pid <> pg_backend_pid();\n",
            );
            if !tables.is_empty() {
                // One statement: foreign keys are checked at its end, when every table is
                // empty. DELETE, not TRUNCATE: no new files for a handful of rows.
                let deletes: Vec<String> = tables
                    .iter()
                    .enumerate()
                    .map(|(i, t)| format!("d{i} AS (DELETE FROM {t})"))
                    .collect();
                script.push_str(&format!("WITH {} SELECT 1;\n", deletes.join(", ")));
            }
            // A used sequence starts again as if new (`is_called` false: its next value is its
            // first), which is also what the digest checks.
            script.push_str(
                "SELECT pg_catalog.setval(format('%I.%I', schemaname, sequencename)::regclass, start_value, false) \
                 FROM pg_catalog.pg_sequences WHERE last_value IS NOT NULL \
                 AND schemaname NOT LIKE 'pg\\_%' AND schemaname <> 'information_schema';",
            );
            script
        }
        _ => {
            let others = raw_strings(
                conn,
                "SELECT CAST(ID AS CHAR) AS id FROM information_schema.PROCESSLIST \
                 WHERE DB = DATABASE() AND ID <> CONNECTION_ID()",
                "id",
            )
            .await?;
            // Restarting an auto-increment is DDL, and slow: only where a test moved it.
            let moved = raw_strings(
                conn,
                "SELECT CAST(TABLE_NAME AS CHAR) AS t FROM information_schema.TABLES \
                 WHERE TABLE_SCHEMA = DATABASE() AND AUTO_INCREMENT > 1",
                "t",
            )
            .await?;
            let mut script = String::new();
            for id in others {
                script.push_str(&format!("KILL CONNECTION {id};\n"));
            }
            script.push_str("SET FOREIGN_KEY_CHECKS = 0;\n");
            for (name, t) in info.empty.iter().zip(&tables) {
                script.push_str(&format!("DELETE FROM {t};\n"));
                if moved.contains(name) {
                    script.push_str(&format!("ALTER TABLE {t} AUTO_INCREMENT = 1;\n"));
                }
            }
            script.push_str("SET FOREIGN_KEY_CHECKS = 1;");
            script
        }
    };
    if conn.execute_unprepared(&script).await.is_err() {
        // A table the reset expects is gone, or a statement was refused: not pristine.
        return Ok(false);
    }
    Ok(catalog_digest(conn, &info.seeded).await? == info.digest)
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
    let placeholders: Vec<String> = (1..=keys.len())
        .map(|n| {
            if backend == DbBackend::Postgres {
                format!("${n}")
            } else {
                "?".to_owned()
            }
        })
        .collect();
    let sql = format!(
        "SELECT pool_key, COUNT(*) AS n FROM {REGISTRY_TABLE} WHERE kind = 'pool' AND state = 'ready' \
         AND pool_key IN ({}) GROUP BY pool_key",
        placeholders.join(", ")
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
        .cloned()
}
