//! SQLite's catalog: `sqlite_master` and the `pragma_*` table functions.

use std::collections::BTreeMap;

use sea_orm::ConnectionTrait;

use super::{
    ColumnSchema, ForeignKeySchema, IndexSchema, TableSchema, literal, opt_text, rows, text,
};
use crate::error::Result;

/// The base tables of the current database, sorted, as `table_name`.
pub(super) const TABLES: &str = "SELECT name AS table_name FROM sqlite_master \
             WHERE type = 'table' AND name NOT LIKE 'sqlite_%' ORDER BY name";

/// The indexes of the current database (primary keys excluded), sorted, as `index_name`.
pub(super) const INDEXES: &str = "SELECT name AS index_name FROM sqlite_master \
             WHERE type = 'index' AND name NOT LIKE 'sqlite_%' ORDER BY name";

/// Foreign keys as `child` and `parent` tables.
pub(super) const FOREIGN_KEYS: &str = "SELECT m.name AS child, p.\"table\" AS parent FROM sqlite_master m \
             JOIN pragma_foreign_key_list(m.name) p WHERE m.type = 'table'";

/// What the server says the current database is, as `identity`.
pub(super) const IDENTITY: &str =
    "SELECT file AS identity FROM pragma_database_list WHERE name = 'main'";

/// Every object of the database with the SQL that made it, as `type`, `name`, `tbl_name`
/// and `sql`: keys a schema.
#[cfg(feature = "sqlite")]
pub(crate) const DEFINITIONS: &str = "SELECT type, name, tbl_name, COALESCE(sql, '') AS sql \
     FROM sqlite_master ORDER BY type, name";

/// One table: columns, primary key, indexes and foreign keys.
pub(super) async fn table(db: &impl ConnectionTrait, table: &str) -> Result<TableSchema> {
    let t = literal(table);
    let mut schema = TableSchema::default();
    let mut pk: Vec<(i64, String)> = Vec::new();
    for row in rows(
        db,
        format!("SELECT name, type, \"notnull\" AS nn, dflt_value, pk FROM pragma_table_info({t})"),
    )
    .await?
    {
        let name = text(&row, "name")?;
        let position: i64 = row.try_get("", "pk")?;
        if position > 0 {
            pk.push((position, name.clone()));
        }
        let not_null: i64 = row.try_get("", "nn")?;
        schema.columns.insert(
            name,
            ColumnSchema {
                data_type: text(&row, "type")?.to_ascii_lowercase(),
                nullable: not_null == 0,
                default: opt_text(&row, "dflt_value")?,
            },
        );
    }
    pk.sort();
    schema.primary_key = pk.into_iter().map(|(_, c)| c).collect();
    for row in rows(
        db,
        format!("SELECT name, \"unique\" AS uq, origin FROM pragma_index_list({t})"),
    )
    .await?
    {
        if text(&row, "origin")? == "pk" {
            continue;
        }
        let name = text(&row, "name")?;
        let unique: i64 = row.try_get("", "uq")?;
        let columns: Vec<String> = rows(
            db,
            format!(
                "SELECT name FROM pragma_index_info({}) ORDER BY seqno",
                literal(&name)
            ),
        )
        .await?
        .iter()
        .map(|r| text(r, "name"))
        .collect::<Result<_, _>>()?;
        let unique = unique != 0;
        schema.indexes.insert(
            (columns.clone(), unique),
            IndexSchema {
                columns,
                unique,
                name,
            },
        );
    }
    let mut fks: BTreeMap<i64, ForeignKeySchema> = BTreeMap::new();
    for row in rows(
        db,
        format!(
            "SELECT id, seq, \"table\" AS parent, \"from\" AS child_col, \"to\" AS parent_col, \
             on_delete FROM pragma_foreign_key_list({t}) ORDER BY id, seq"
        ),
    )
    .await?
    {
        let id: i64 = row.try_get("", "id")?;
        let fk = fks.entry(id).or_default();
        fk.parent = text(&row, "parent")?;
        fk.columns.push(text(&row, "child_col")?);
        fk.parent_columns
            .push(opt_text(&row, "parent_col")?.unwrap_or_default());
        fk.on_delete = text(&row, "on_delete")?.to_ascii_lowercase();
    }
    schema.foreign_keys = fks.into_values().collect();
    Ok(schema)
}
