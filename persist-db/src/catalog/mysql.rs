//! MySQL's and MariaDB's catalog: `information_schema`, in the current database.

use std::collections::BTreeMap;

use sea_orm::ConnectionTrait;

use super::{
    ColumnSchema, ForeignKeySchema, IndexSchema, TableSchema, literal, opt_text, rows, text,
};
use crate::error::Result;

/// The base tables of the current database, sorted, as `table_name`.
pub(super) const TABLES: &str = "SELECT table_name AS table_name FROM information_schema.tables \
             WHERE table_schema = DATABASE() AND table_type = 'BASE TABLE' ORDER BY table_name";

/// The indexes of the current database (primary keys excluded), sorted, as `index_name`.
pub(super) const INDEXES: &str = "SELECT DISTINCT index_name AS index_name FROM information_schema.statistics \
             WHERE table_schema = DATABASE() AND index_name <> 'PRIMARY' ORDER BY index_name";

/// Foreign keys as `child` and `parent` tables.
pub(super) const FOREIGN_KEYS: &str = "SELECT table_name AS child, referenced_table_name AS parent \
             FROM information_schema.key_column_usage \
             WHERE table_schema = DATABASE() AND referenced_table_name IS NOT NULL";

/// What the server says the current database is, as `identity`.
pub(super) const IDENTITY: &str = "SELECT DATABASE() AS identity";

/// Every object of the database by its names: compares a clone with its template, and, with
/// [`DEFINITIONS`], keys a schema.
#[cfg(any(feature = "postgres", feature = "mysql"))]
pub(crate) const DIGEST: &str = "\
SELECT CAST(CONCAT('col ', TABLE_NAME, '.', COLUMN_NAME, ' ', COLUMN_TYPE, ' ', IS_NULLABLE, ' ', IFNULL(COLUMN_DEFAULT, '~'), ' ', EXTRA) AS CHAR) AS line FROM information_schema.COLUMNS WHERE TABLE_SCHEMA = DATABASE() \
UNION ALL SELECT CAST(CONCAT('idx ', TABLE_NAME, '.', INDEX_NAME, ' ', NON_UNIQUE, ' ', SEQ_IN_INDEX, ' ', COLUMN_NAME) AS CHAR) FROM information_schema.STATISTICS WHERE TABLE_SCHEMA = DATABASE() \
UNION ALL SELECT CAST(CONCAT('key ', CONSTRAINT_NAME, ' ', TABLE_NAME, '.', COLUMN_NAME, ' ', IFNULL(REFERENCED_TABLE_NAME, '~'), '.', IFNULL(REFERENCED_COLUMN_NAME, '~')) AS CHAR) FROM information_schema.KEY_COLUMN_USAGE WHERE TABLE_SCHEMA = DATABASE() \
UNION ALL SELECT CAST(CONCAT('trg ', TRIGGER_NAME, ' ', EVENT_OBJECT_TABLE, ' ', ACTION_TIMING, ' ', EVENT_MANIPULATION) AS CHAR) FROM information_schema.TRIGGERS WHERE TRIGGER_SCHEMA = DATABASE() \
UNION ALL SELECT CAST(CONCAT('routine ', ROUTINE_TYPE, ' ', ROUTINE_NAME) AS CHAR) FROM information_schema.ROUTINES WHERE ROUTINE_SCHEMA = DATABASE() \
UNION ALL SELECT CAST(CONCAT('table ', TABLE_NAME, ' ', TABLE_TYPE, ' ', IFNULL(AUTO_INCREMENT, '~')) AS CHAR) FROM information_schema.TABLES WHERE TABLE_SCHEMA = DATABASE()";

/// With [`DIGEST`] (already by names), a MySQL/MariaDB database's schema: the
/// definitions of its triggers, views and routines, its own name taken out of them.
#[cfg(any(feature = "postgres", feature = "mysql"))]
pub(crate) const DEFINITIONS: &str = "\
SELECT CAST(CONCAT('trg ', TRIGGER_NAME, ' ', EVENT_OBJECT_TABLE, ' ', ACTION_TIMING, ' ', EVENT_MANIPULATION, ' ', REPLACE(ACTION_STATEMENT, DATABASE(), '')) AS CHAR) AS line FROM information_schema.TRIGGERS WHERE TRIGGER_SCHEMA = DATABASE() \
UNION ALL SELECT CAST(CONCAT('view ', TABLE_NAME, ' ', REPLACE(VIEW_DEFINITION, DATABASE(), '')) AS CHAR) FROM information_schema.VIEWS WHERE TABLE_SCHEMA = DATABASE() \
UNION ALL SELECT CAST(CONCAT('routine ', ROUTINE_NAME, ' ', IFNULL(REPLACE(ROUTINE_DEFINITION, DATABASE(), ''), '~')) AS CHAR) FROM information_schema.ROUTINES WHERE ROUTINE_SCHEMA = DATABASE()";

/// One table: columns, primary key, indexes and foreign keys.
pub(super) async fn table(db: &impl ConnectionTrait, table: &str) -> Result<TableSchema> {
    let t = literal(table);
    let mut schema = TableSchema::default();
    for row in rows(
        db,
        format!(
            "SELECT CAST(column_name AS CHAR) AS name, CAST(column_type AS CHAR) AS data_type, \
             CAST(is_nullable AS CHAR) AS nullable, CAST(column_default AS CHAR) AS dflt \
             FROM information_schema.columns \
             WHERE table_schema = DATABASE() AND table_name = {t}"
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
    let mut indexes: BTreeMap<String, (bool, Vec<String>)> = BTreeMap::new();
    for row in rows(
        db,
        format!(
            "SELECT CAST(index_name AS CHAR) AS name, CAST(non_unique AS SIGNED) AS nu, \
             CAST(column_name AS CHAR) AS col FROM information_schema.statistics \
             WHERE table_schema = DATABASE() AND table_name = {t} \
             ORDER BY index_name, seq_in_index"
        ),
    )
    .await?
    {
        let non_unique: i64 = row.try_get("", "nu")?;
        let entry = indexes
            .entry(text(&row, "name")?)
            .or_insert((non_unique == 0, Vec::new()));
        entry.1.push(text(&row, "col")?);
    }
    for (name, (unique, columns)) in indexes {
        if name == "PRIMARY" {
            schema.primary_key = columns;
        } else {
            schema.indexes.insert(
                (columns.clone(), unique),
                IndexSchema {
                    columns,
                    unique,
                    name,
                },
            );
        }
    }
    let mut fks: BTreeMap<String, ForeignKeySchema> = BTreeMap::new();
    for row in rows(
        db,
        format!(
            "SELECT CAST(k.constraint_name AS CHAR) AS name, CAST(k.column_name AS CHAR) AS col, \
             CAST(k.referenced_table_name AS CHAR) AS parent, \
             CAST(k.referenced_column_name AS CHAR) AS pcol, CAST(r.delete_rule AS CHAR) AS on_delete \
             FROM information_schema.key_column_usage k \
             JOIN information_schema.referential_constraints r \
               ON r.constraint_schema = k.constraint_schema AND r.constraint_name = k.constraint_name \
             WHERE k.table_schema = DATABASE() AND k.table_name = {t} \
               AND k.referenced_table_name IS NOT NULL \
             ORDER BY k.constraint_name, k.ordinal_position"
        ),
    )
    .await?
    {
        let fk = fks.entry(text(&row, "name")?).or_default();
        fk.columns.push(text(&row, "col")?);
        fk.parent = text(&row, "parent")?;
        fk.parent_columns.push(text(&row, "pcol")?);
        fk.on_delete = text(&row, "on_delete")?.to_ascii_lowercase();
    }
    schema.foreign_keys = fks.into_values().collect();
    Ok(schema)
}
