//! What a pool compares: the catalog digest of a database, and the catalog key of a schema built on the server.

use sea_orm::{ConnectionTrait, DatabaseConnection, DbBackend, DbErr, Statement};

use super::{ADMIN, quote, raw_strings};
use crate::db::Fingerprint;
use crate::db::backend::registry::{self, Kind};
use crate::db::backend::server::{admin_connection_to, create_statement};
use crate::error::{DbContext, PersistError, Result};

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
pub(super) async fn tables_with_rows(conn: &impl ConnectionTrait) -> Result<Vec<(String, bool)>> {
    let mut out = Vec::new();
    for table in crate::db::list_tables(conn).await? {
        let rows = crate::db::count_rows(conn, &table).await?;
        out.push((table, rows > 0));
    }
    Ok(out)
}
