//! [`Schema`]: what a database's tables look like, read from the backend's catalog, and
//! [`SchemaDiff`]: how two of them differ, for a person to read.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;

use sea_orm::ConnectionTrait;
use serde::Serialize;

use crate::db::catalog::{list_tables, read_table};
use crate::error::Result;

pub use crate::db::catalog::{ColumnSchema, ForeignKeySchema, IndexSchema, TableSchema};

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
            let schema = read_table(db, &table).await?;
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
