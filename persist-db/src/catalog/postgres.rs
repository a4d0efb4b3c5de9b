//! PostgreSQL's catalog: `pg_catalog` and `information_schema`, in the current schema.

use sea_orm::ConnectionTrait;

use super::{
    ColumnSchema, ForeignKeySchema, IndexSchema, TableSchema, list, literal, opt_text, rows, text,
};
use crate::error::Result;

/// The base tables of the current database, sorted, as `table_name`.
pub(super) const TABLES: &str = "SELECT tablename::text AS table_name FROM pg_catalog.pg_tables \
             WHERE schemaname = current_schema() ORDER BY tablename";

/// The indexes of the current database (primary keys excluded), sorted, as `index_name`.
pub(super) const INDEXES: &str = "SELECT i.indexname::text AS index_name FROM pg_catalog.pg_indexes i \
             WHERE i.schemaname = current_schema() AND i.indexname NOT LIKE '%_pkey' \
             ORDER BY i.indexname";

/// Foreign keys as `child` and `parent` tables.
pub(super) const FOREIGN_KEYS: &str = "SELECT child.relname::text AS child, parent.relname::text AS parent \
             FROM pg_catalog.pg_constraint c \
             JOIN pg_catalog.pg_class child ON child.oid = c.conrelid \
             JOIN pg_catalog.pg_class parent ON parent.oid = c.confrelid \
             JOIN pg_catalog.pg_namespace n ON n.oid = child.relnamespace \
             WHERE c.contype = 'f' AND n.nspname = current_schema()";

/// What the server says the current database is, as `identity`.
pub(super) const IDENTITY: &str = "SELECT current_database()::text AS identity";

// Plain catalog columns, no deparsing functions: cheap on a connection whose catalog caches
// are cold, which a test's connection always is.
/// Every object of the database by its ids: compares a clone with its template.
#[cfg(any(feature = "postgres", feature = "mysql"))]
pub(crate) const DIGEST: &str = "\
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

/// A PostgreSQL database's schema by names and definitions (no object ids, which differ
/// between two builds): columns, indexes, constraints, triggers, views, functions, sequences.
#[cfg(any(feature = "postgres", feature = "mysql"))]
pub(crate) const DEFINITIONS: &str = "\
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

/// One table: columns, primary key, indexes and foreign keys.
pub(super) async fn table(db: &impl ConnectionTrait, table: &str) -> Result<TableSchema> {
    let t = literal(table);
    let oid = format!(
        "(SELECT c.oid FROM pg_catalog.pg_class c JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace WHERE n.nspname = current_schema() AND c.relname = {t})"
    );
    let mut schema = TableSchema::default();
    for row in rows(
        db,
        format!(
            "SELECT column_name::text AS name, \
             CASE WHEN character_maximum_length IS NULL THEN data_type::text \
                  ELSE data_type::text || '(' || character_maximum_length || ')' END AS data_type, \
             is_nullable::text AS nullable, column_default::text AS dflt \
             FROM information_schema.columns \
             WHERE table_schema = current_schema() AND table_name = {t}"
        ),
    )
    .await?
    {
        schema.columns.insert(
            text(&row, "name")?,
            ColumnSchema {
                data_type: text(&row, "data_type")?.to_ascii_lowercase(),
                nullable: text(&row, "nullable")? == "YES",
                default: opt_text(&row, "dflt")?,
            },
        );
    }
    let columns_of = |keys: &str, rel: &str| {
        format!(
            "array_to_string(ARRAY(SELECT a.attname::text FROM unnest({keys}) WITH ORDINALITY k(num, ord) \
             JOIN pg_catalog.pg_attribute a ON a.attrelid = {rel} AND a.attnum = k.num ORDER BY k.ord), ',')"
        )
    };
    for row in rows(
        db,
        format!(
            "SELECT c.relname::text AS name, i.indisunique AS uq, i.indisprimary AS pk, {} AS cols \
             FROM pg_catalog.pg_index i JOIN pg_catalog.pg_class c ON c.oid = i.indexrelid \
             WHERE i.indrelid = {oid}",
            columns_of("i.indkey::int2[]", "i.indrelid")
        ),
    )
    .await?
    {
        let columns = list(&text(&row, "cols")?);
        let primary: bool = row.try_get("", "pk")?;
        if primary {
            schema.primary_key = columns;
            continue;
        }
        let unique: bool = row.try_get("", "uq")?;
        schema.indexes.insert(
            (columns.clone(), unique),
            IndexSchema {
                columns,
                unique,
                name: text(&row, "name")?,
            },
        );
    }
    for row in rows(
        db,
        format!(
            "SELECT p.relname::text AS parent, {} AS cols, {} AS pcols, \
             CASE c.confdeltype WHEN 'c' THEN 'cascade' WHEN 'n' THEN 'set null' \
             WHEN 'd' THEN 'set default' WHEN 'r' THEN 'restrict' ELSE 'no action' END AS on_delete \
             FROM pg_catalog.pg_constraint c JOIN pg_catalog.pg_class p ON p.oid = c.confrelid \
             WHERE c.conrelid = {oid} AND c.contype = 'f'",
            columns_of("c.conkey", "c.conrelid"),
            columns_of("c.confkey", "c.confrelid")
        ),
    )
    .await?
    {
        schema.foreign_keys.insert(ForeignKeySchema {
            columns: list(&text(&row, "cols")?),
            parent: text(&row, "parent")?,
            parent_columns: list(&text(&row, "pcols")?),
            on_delete: text(&row, "on_delete")?,
        });
    }
    Ok(schema)
}
