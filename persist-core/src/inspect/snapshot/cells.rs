//! Reading a table's rows as backend-neutral values: each column decoded by the kind its
//! catalog type names, so that SQLite, PostgreSQL and MySQL hand back the same values for the
//! same data.

use sea_orm::sea_query::{Alias, Expr, Query};
use sea_orm::{ConnectionTrait, DbBackend, DbErr, QueryResult};

use crate::db::catalog::TableSchema;
use crate::inspect::read;
use crate::system::TimeUnit;

/// What a column holds, from its catalog type.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Kind {
    Bool,
    Int,
    Float,
    /// `NUMERIC`/`DECIMAL`: read as text (no decimal type is built in).
    Decimal,
    Json,
    /// A native date, time or date-time (SQLite's `*_text` date-times included).
    Time,
    Uuid,
    Bytes,
    Text,
}

impl Kind {
    /// The kind of a catalog type (lower case, as [`crate::db::catalog`] reports it).
    pub(super) fn of(data_type: &str) -> Kind {
        let t = data_type;
        if t.contains("bool") || t == "tinyint(1)" {
            Kind::Bool
        } else if t.contains("json") {
            Kind::Json
        } else if t.contains("uuid") {
            Kind::Uuid
        } else if t.contains("time") || t.contains("date") {
            Kind::Time
        } else if t.contains("int") || t.contains("serial") {
            Kind::Int
        } else if t.contains("float") || t.contains("double") || t.contains("real") {
            Kind::Float
        } else if t.contains("numeric") || t.contains("decimal") {
            Kind::Decimal
        } else if t.contains("blob") || t.contains("bytea") || t.contains("binary") {
            Kind::Bytes
        } else {
            Kind::Text
        }
    }
}

/// One value, as every backend reads it.
#[derive(Clone, Debug, PartialEq)]
pub(super) enum Cell {
    Null,
    Bool(bool),
    Int(i64),
    Float(f64),
    Text(String),
    Json(serde_json::Value),
    /// Epoch milliseconds.
    Time(i64),
    Bytes(Vec<u8>),
}

/// Every row of `table` (all columns, in name order), decoded by kind.
pub(super) async fn rows(
    db: &impl ConnectionTrait,
    table: &str,
    schema: &TableSchema,
) -> Result<Vec<Vec<Cell>>, DbErr> {
    let backend = db.get_database_backend();
    let mut query = Query::select();
    query.from(Alias::new(table));
    let kinds: Vec<(&str, Kind)> = schema
        .columns
        .iter()
        .map(|(name, column)| (name.as_str(), Kind::of(&column.data_type)))
        .collect();
    for (name, kind) in &kinds {
        if *kind == Kind::Decimal {
            // As its digits, read as text: exact on the servers; SQLite keeps a NUMERIC as an
            // integer or a REAL, which it writes out as such.
            let cast = match backend {
                DbBackend::MySql => format!("CAST(`{name}` AS CHAR)"),
                _ => format!("CAST(\"{name}\" AS TEXT)"),
            };
            query.expr_as(Expr::cust(cast), Alias::new(*name));
        } else {
            query.column(Alias::new(*name));
        }
    }
    if kinds.is_empty() {
        return Ok(Vec::new());
    }
    let found = db.query_all(&query).await?;
    found
        .iter()
        .map(|row| {
            kinds
                .iter()
                .map(|(name, kind)| {
                    cell(row, name, *kind).map_err(|e| {
                        DbErr::Type(format!(
                            "`{table}`.`{name}` cannot be read for a snapshot: {e}"
                        ))
                    })
                })
                .collect()
        })
        .collect()
}

/// Decodes one value; the column's kind first, then what the backend may hand back instead.
fn cell(row: &QueryResult, column: &str, kind: Kind) -> Result<Cell, DbErr> {
    let get = |row: &QueryResult| -> Result<Option<Cell>, DbErr> {
        Ok(match kind {
            Kind::Bool => row
                .try_get::<Option<bool>>("", column)
                .map(|v| v.map(Cell::Bool))
                .or_else(|_| int(row, column))?,
            Kind::Int => int(row, column)?,
            Kind::Float => match row.try_get::<Option<f64>>("", column) {
                Ok(v) => v.map(Cell::Float),
                // A 4-byte float: its shortest text, so 0.1 reads as 0.1 on every backend.
                Err(_) => match row.try_get::<Option<f32>>("", column) {
                    Ok(v) => v.map(|f| Cell::Float(f.to_string().parse().unwrap_or(f64::from(f)))),
                    Err(_) => int(row, column)?,
                },
            },
            Kind::Json => match read::json(row, column)? {
                serde_json::Value::Null => None,
                value => Some(Cell::Json(value)),
            },
            Kind::Time => {
                if row
                    .try_get::<Option<String>>("", column)
                    .is_ok_and(|v| v.is_none())
                {
                    None
                } else {
                    match read::time(row, column, TimeUnit::DateTime) {
                        Ok(millis) => Some(Cell::Time(millis)),
                        // A `date_text` or other form it does not parse: the stored text.
                        Err(_) => text(row, column)?,
                    }
                }
            }
            Kind::Uuid | Kind::Bytes => match row.try_get::<Option<uuid::Uuid>>("", column) {
                Ok(v) => v.map(|u| Cell::Text(u.to_string())),
                Err(_) => match row.try_get::<Option<Vec<u8>>>("", column) {
                    Ok(v) => v.map(Cell::Bytes),
                    Err(_) => text(row, column)?,
                },
            },
            Kind::Decimal | Kind::Text => text(row, column)?,
        })
    };
    Ok(get(row)?.unwrap_or(Cell::Null))
}

fn int(row: &QueryResult, column: &str) -> Result<Option<Cell>, DbErr> {
    match read::opt_int(row, column) {
        Ok(value) => Ok(value.map(Cell::Int)),
        // Wider than an `i64`, or not stored as an integer: its text.
        Err(_) => text(row, column),
    }
}

fn text(row: &QueryResult, column: &str) -> Result<Option<Cell>, DbErr> {
    if let Ok(v) = row.try_get::<Option<String>>("", column) {
        return Ok(v.map(Cell::Text));
    }
    if let Ok(v) = row.try_get::<Option<Vec<u8>>>("", column) {
        return Ok(v.map(|bytes| match String::from_utf8(bytes) {
            Ok(text) => Cell::Text(text),
            Err(e) => Cell::Bytes(e.into_bytes()),
        }));
    }
    read::opt_text(row, column).map(|v| v.map(Cell::Text))
}

#[cfg(test)]
mod tests {
    use super::Kind;

    /// Each backend's catalog names for a kind (SQLite's, PostgreSQL's and MySQL's), so a
    /// value is shown the same whichever backend stored it.
    #[test]
    fn every_backends_type_names_read_as_their_kind() {
        let kinds = [
            (Kind::Bool, &["boolean", "bool", "tinyint(1)"][..]),
            (Kind::Json, &["json", "jsonb"]),
            (Kind::Uuid, &["uuid"]),
            (
                Kind::Time,
                &[
                    "timestamp with time zone",
                    "datetime",
                    "date",
                    "time",
                    "timestamp_text",
                ],
            ),
            (
                Kind::Int,
                &["integer", "bigint", "tinyint(4)", "int(11)", "bigserial"],
            ),
            (
                Kind::Float,
                &["double precision", "float", "real", "double"],
            ),
            (Kind::Decimal, &["numeric(10,2)", "decimal(10,2)"]),
            (Kind::Bytes, &["blob", "bytea", "varbinary(16)"]),
            (Kind::Text, &["varchar(64)", "text", "character varying"]),
        ];
        for (kind, names) in kinds {
            for name in names {
                assert_eq!(Kind::of(name), kind, "{name}");
            }
        }
    }
}
