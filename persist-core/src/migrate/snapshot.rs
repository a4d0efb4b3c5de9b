//! [`Schema`]: what a database's tables look like, read from the backend's catalog, and
//! [`SchemaDiff`]: how two of them differ, for a person to read.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;

use sea_orm::{ConnectionTrait, DbBackend, DbErr, QueryResult, Statement};
use serde::Serialize;

use crate::db::list_tables;
use crate::error::Result;

/// One column.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize)]
pub struct ColumnSchema {
    /// The type as the backend reports it, lower-cased (`varchar(255)`, `bigint`, `text`).
    pub data_type: String,
    /// Whether it accepts NULL.
    pub nullable: bool,
    /// Its default, as the backend reports it.
    pub default: Option<String>,
}

/// One index (primary keys apart), known by its columns and uniqueness: two indexes that
/// differ only by name are the same index.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize)]
pub struct IndexSchema {
    /// Its columns, in order.
    pub columns: Vec<String>,
    /// Whether it is unique.
    pub unique: bool,
    /// Its name (not compared).
    pub name: String,
}

/// One foreign key.
#[derive(Clone, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Serialize)]
pub struct ForeignKeySchema {
    /// The referencing columns.
    pub columns: Vec<String>,
    /// The referenced table.
    pub parent: String,
    /// The referenced columns.
    pub parent_columns: Vec<String>,
    /// What a delete of the parent does: `cascade`, `set null`, `restrict`, `no action`, …
    pub on_delete: String,
}

/// One table.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct TableSchema {
    /// Columns by name.
    pub columns: BTreeMap<String, ColumnSchema>,
    /// The primary key's columns, in order.
    pub primary_key: Vec<String>,
    /// Indexes, keyed by columns and uniqueness.
    pub indexes: BTreeMap<(Vec<String>, bool), IndexSchema>,
    /// Foreign keys.
    pub foreign_keys: BTreeSet<ForeignKeySchema>,
}

/// A database's tables: columns (type, nullability, default), primary keys, indexes and
/// foreign keys, read from the backend's catalog.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct Schema {
    /// Tables by name.
    pub tables: BTreeMap<String, TableSchema>,
}

impl Schema {
    /// Reads the schema of `db`'s current database.
    pub async fn read(db: &impl ConnectionTrait) -> Result<Schema> {
        let mut tables = BTreeMap::new();
        for table in list_tables(db).await? {
            let schema = match db.get_database_backend() {
                DbBackend::Sqlite => sqlite_table(db, &table).await?,
                DbBackend::Postgres => postgres_table(db, &table).await?,
                _ => mysql_table(db, &table).await?,
            };
            tables.insert(table, schema);
        }
        Ok(Schema { tables })
    }

    /// The same schema without `table`.
    pub fn without(mut self, table: &str) -> Schema {
        self.tables.remove(table);
        self
    }

    /// The table names.
    pub fn table_names(&self) -> Vec<&str> {
        self.tables.keys().map(String::as_str).collect()
    }

    /// How `other` differs from `self`; `expected` and `found` name the two in the output.
    pub fn diff(&self, other: &Schema, expected: &str, found: &str) -> SchemaDiff {
        let mut differences = Vec::new();
        let names: BTreeSet<&String> = self.tables.keys().chain(other.tables.keys()).collect();
        for name in names {
            match (self.tables.get(name), other.tables.get(name)) {
                (Some(_), None) | (None, Some(_)) => differences.push(Difference::Table {
                    table: name.clone(),
                    expected: self.tables.contains_key(name),
                }),
                (Some(a), Some(b)) => table_diff(name, a, b, &mut differences),
                (None, None) => {}
            }
        }
        SchemaDiff {
            expected: expected.to_owned(),
            found: found.to_owned(),
            differences,
        }
    }
}

fn table_diff(table: &str, a: &TableSchema, b: &TableSchema, out: &mut Vec<Difference>) {
    let columns: BTreeSet<&String> = a.columns.keys().chain(b.columns.keys()).collect();
    for column in columns {
        let (x, y) = (a.columns.get(column), b.columns.get(column));
        if x != y {
            out.push(Difference::Column {
                table: table.to_owned(),
                column: column.clone(),
                expected: x.cloned(),
                found: y.cloned(),
            });
        }
    }
    if a.primary_key != b.primary_key {
        out.push(Difference::PrimaryKey {
            table: table.to_owned(),
            expected: a.primary_key.clone(),
            found: b.primary_key.clone(),
        });
    }
    let indexes: BTreeSet<&(Vec<String>, bool)> =
        a.indexes.keys().chain(b.indexes.keys()).collect();
    for key in indexes {
        match (a.indexes.get(key), b.indexes.get(key)) {
            (Some(_), Some(_)) => {}
            (x, y) => out.push(Difference::Index {
                table: table.to_owned(),
                expected: x.cloned(),
                found: y.cloned(),
            }),
        }
    }
    for fk in a.foreign_keys.symmetric_difference(&b.foreign_keys) {
        out.push(Difference::ForeignKey {
            table: table.to_owned(),
            foreign_key: fk.clone(),
            expected: a.foreign_keys.contains(fk),
        });
    }
}

/// One difference between two schemas.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[non_exhaustive]
pub enum Difference {
    /// A table only one side has (`expected`: the expected side has it).
    Table {
        /// The table.
        table: String,
        /// Whether the expected side has it (else only the found side does).
        expected: bool,
    },
    /// A column missing on one side or different (type, nullability, default).
    Column {
        /// The table.
        table: String,
        /// The column.
        column: String,
        /// On the expected side.
        expected: Option<ColumnSchema>,
        /// On the found side.
        found: Option<ColumnSchema>,
    },
    /// Different primary keys.
    PrimaryKey {
        /// The table.
        table: String,
        /// On the expected side.
        expected: Vec<String>,
        /// On the found side.
        found: Vec<String>,
    },
    /// An index only one side has.
    Index {
        /// The table.
        table: String,
        /// On the expected side.
        expected: Option<IndexSchema>,
        /// On the found side.
        found: Option<IndexSchema>,
    },
    /// A foreign key only one side has.
    ForeignKey {
        /// The table.
        table: String,
        /// The foreign key.
        foreign_key: ForeignKeySchema,
        /// Whether the expected side has it.
        expected: bool,
    },
}

impl Difference {
    /// Where it is, for [`Allow`](super::Allow): `table`, `table.column`, `table.index(a,b)`,
    /// `table.primary_key` or `table.foreign_key(a)`.
    pub fn path(&self) -> String {
        match self {
            Difference::Table { table, .. } => table.clone(),
            Difference::Column { table, column, .. } => format!("{table}.{column}"),
            Difference::PrimaryKey { table, .. } => format!("{table}.primary_key"),
            Difference::Index {
                table,
                expected,
                found,
            } => {
                let index = expected.as_ref().or(found.as_ref());
                let columns = index.map(|i| i.columns.join(",")).unwrap_or_default();
                format!("{table}.index({columns})")
            }
            Difference::ForeignKey {
                table, foreign_key, ..
            } => format!("{table}.foreign_key({})", foreign_key.columns.join(",")),
        }
    }
}

fn column_text(c: &ColumnSchema) -> String {
    let mut text = format!(
        "{} {}",
        c.data_type,
        if c.nullable { "NULL" } else { "NOT NULL" }
    );
    if let Some(default) = &c.default {
        text.push_str(&format!(" DEFAULT {default}"));
    }
    text
}

fn index_text(i: &IndexSchema) -> String {
    format!(
        "{}index {} ({})",
        if i.unique { "unique " } else { "" },
        i.name,
        i.columns.join(", ")
    )
}

fn fk_text(f: &ForeignKeySchema) -> String {
    format!(
        "foreign key ({}) references {} ({}) on delete {}",
        f.columns.join(", "),
        f.parent,
        f.parent_columns.join(", "),
        f.on_delete
    )
}

/// The differences between two schemas; empty when they are the same. `Display` is a diff a
/// person can read: `-` lines are the expected side, `+` lines the found side.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct SchemaDiff {
    /// What the expected side is.
    pub expected: String,
    /// What the found side is.
    pub found: String,
    /// The differences.
    pub differences: Vec<Difference>,
}

impl SchemaDiff {
    /// No difference.
    pub fn is_empty(&self) -> bool {
        self.differences.is_empty()
    }

    /// The same diff without the differences `keep` refuses.
    pub fn retain(mut self, keep: impl Fn(&Difference) -> bool) -> SchemaDiff {
        self.differences.retain(keep);
        self
    }
}

impl fmt::Display for SchemaDiff {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.differences.is_empty() {
            return write!(f, "{} and {} are the same", self.expected, self.found);
        }
        writeln!(f, "--- {}", self.expected)?;
        write!(f, "+++ {}", self.found)?;
        for difference in &self.differences {
            match difference {
                Difference::Table { table, expected } => {
                    let sign = if *expected { '-' } else { '+' };
                    write!(f, "\n{sign} table {table}")?;
                }
                Difference::Column {
                    table,
                    column,
                    expected,
                    found,
                } => {
                    if let Some(c) = expected {
                        write!(f, "\n- {table}.{column}: {}", column_text(c))?;
                    }
                    if let Some(c) = found {
                        write!(f, "\n+ {table}.{column}: {}", column_text(c))?;
                    }
                }
                Difference::PrimaryKey {
                    table,
                    expected,
                    found,
                } => {
                    write!(f, "\n- {table}: primary key ({})", expected.join(", "))?;
                    write!(f, "\n+ {table}: primary key ({})", found.join(", "))?;
                }
                Difference::Index {
                    table,
                    expected,
                    found,
                } => {
                    if let Some(i) = expected {
                        write!(f, "\n- {table}: {}", index_text(i))?;
                    }
                    if let Some(i) = found {
                        write!(f, "\n+ {table}: {}", index_text(i))?;
                    }
                }
                Difference::ForeignKey {
                    table,
                    foreign_key,
                    expected,
                } => {
                    let sign = if *expected { '-' } else { '+' };
                    write!(f, "\n{sign} {table}: {}", fk_text(foreign_key))?;
                }
            }
        }
        Ok(())
    }
}

// ---------------------------------------------------------------------------------------------
// Catalog queries

async fn rows(db: &impl ConnectionTrait, sql: String) -> Result<Vec<QueryResult>, DbErr> {
    db.query_all_raw(Statement::from_string(db.get_database_backend(), sql))
        .await
}

fn text(row: &QueryResult, column: &str) -> Result<String, DbErr> {
    row.try_get("", column)
}

fn opt_text(row: &QueryResult, column: &str) -> Result<Option<String>, DbErr> {
    row.try_get("", column)
}

/// A string literal for a catalog query (table names come from the catalog itself).
fn literal(value: &str) -> String {
    format!("'{}'", value.replace('\'', "''"))
}

fn list(value: &str) -> Vec<String> {
    value
        .split(',')
        .filter(|s| !s.is_empty())
        .map(str::to_owned)
        .collect()
}

async fn sqlite_table(db: &impl ConnectionTrait, table: &str) -> Result<TableSchema> {
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

async fn postgres_table(db: &impl ConnectionTrait, table: &str) -> Result<TableSchema> {
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

async fn mysql_table(db: &impl ConnectionTrait, table: &str) -> Result<TableSchema> {
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
