//! The one reader of a database's catalog. Each backend's catalog SQL lives in its own file
//! (`sqlite.rs`, `postgres.rs`, `mysql.rs`); everything that looks at a database's structure
//! (introspection, the inspector, migration snapshots, pool digests and template keys) asks
//! here.

use std::collections::{BTreeMap, BTreeSet};

use sea_orm::sea_query::{Alias, Expr, Query};
use sea_orm::{ConnectionTrait, DbBackend, DbErr, QueryResult, Statement};
use serde::Serialize;

use crate::error::Result;

pub(crate) mod mysql;
pub(crate) mod postgres;
pub(crate) mod sqlite;

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

/// Reads one table of `db`'s current database from the catalog.
pub async fn read_table(db: &impl ConnectionTrait, table: &str) -> Result<TableSchema> {
    match db.get_database_backend() {
        DbBackend::Sqlite => sqlite::table(db, table).await,
        DbBackend::Postgres => postgres::table(db, table).await,
        _ => mysql::table(db, table).await,
    }
}

/// The statement for `db`'s backend.
fn sql(
    db: &impl ConnectionTrait,
    sqlite: &'static str,
    postgres: &'static str,
    mysql: &'static str,
) -> &'static str {
    match db.get_database_backend() {
        DbBackend::Sqlite => sqlite,
        DbBackend::Postgres => postgres,
        _ => mysql,
    }
}

/// The base tables of the connection's current database (or schema), sorted by name.
pub async fn list_tables(db: &impl ConnectionTrait) -> Result<Vec<String>> {
    let sql = sql(db, sqlite::TABLES, postgres::TABLES, mysql::TABLES);
    Ok(strings(db, sql, "table_name").await?)
}

/// The indexes of the connection's current database, sorted by name (primary keys excluded).
pub async fn list_indexes(db: &impl ConnectionTrait) -> Result<Vec<String>> {
    let sql = sql(db, sqlite::INDEXES, postgres::INDEXES, mysql::INDEXES);
    Ok(strings(db, sql, "index_name").await?)
}

/// Foreign keys as `(child table, parent table)` pairs.
pub async fn foreign_keys(db: &impl ConnectionTrait) -> Result<Vec<(String, String)>> {
    let sql = sql(
        db,
        sqlite::FOREIGN_KEYS,
        postgres::FOREIGN_KEYS,
        mysql::FOREIGN_KEYS,
    );
    let backend = db.get_database_backend();
    let rows = db
        .query_all_raw(Statement::from_string(backend, sql))
        .await?;
    let pairs: Result<_, DbErr> = rows
        .iter()
        .map(|row| Ok((row.try_get("", "child")?, row.try_get("", "parent")?)))
        .collect();
    Ok(pairs?)
}

/// What the server says this connection's database is: the main file for SQLite, the
/// database name for PostgreSQL and MySQL. Two connections to one database say the same.
pub async fn database_identity(db: &impl ConnectionTrait) -> Result<String> {
    let sql = sql(db, sqlite::IDENTITY, postgres::IDENTITY, mysql::IDENTITY);
    let mut found = strings(db, sql, "identity").await?;
    Ok(found
        .pop()
        .ok_or_else(|| DbErr::RecordNotFound("the database's identity".into()))?)
}

/// The number of rows in `table`.
pub async fn count_rows(db: &impl ConnectionTrait, table: &str) -> Result<u64> {
    let query = Query::select()
        .expr_as(Expr::cust("COUNT(*)"), Alias::new("n"))
        .from(Alias::new(table))
        .to_owned();
    let n: i64 = match db.query_one(&query).await? {
        Some(row) => row.try_get("", "n")?,
        None => 0,
    };
    Ok(n.try_into().unwrap_or(0))
}

async fn strings(db: &impl ConnectionTrait, sql: &str, column: &str) -> Result<Vec<String>, DbErr> {
    let backend = db.get_database_backend();
    let rows = db
        .query_all_raw(Statement::from_string(backend, sql))
        .await?;
    rows.iter().map(|row| row.try_get("", column)).collect()
}

/// Orders `tables` so that every table comes before the tables it references: deleting rows in
/// this order never violates a foreign key. Self-references are ignored; a cycle falls back to
/// the remaining tables in name order.
pub fn delete_order(tables: &[String], fks: &[(String, String)]) -> Vec<String> {
    let mut referenced_by: BTreeMap<&str, BTreeSet<&str>> = tables
        .iter()
        .map(|t| (t.as_str(), BTreeSet::new()))
        .collect();
    for (child, parent) in fks {
        if child != parent
            && let (Some(children), true) = (
                referenced_by.get_mut(parent.as_str()),
                tables.contains(child),
            )
        {
            children.insert(child.as_str());
        }
    }
    let mut order = Vec::with_capacity(tables.len());
    while !referenced_by.is_empty() {
        // Tables that nothing left references can go now.
        let ready: Vec<&str> = referenced_by
            .iter()
            .filter(|(_, children)| children.is_empty())
            .map(|(t, _)| *t)
            .collect();
        let batch = if ready.is_empty() {
            referenced_by.keys().copied().collect()
        } else {
            ready
        };
        for table in batch {
            referenced_by.remove(table);
            for children in referenced_by.values_mut() {
                children.remove(table);
            }
            order.push(table.to_owned());
        }
    }
    order
}

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

#[cfg(test)]
mod tests {
    use super::*;

    fn s(v: &[&str]) -> Vec<String> {
        v.iter().map(|x| x.to_string()).collect()
    }

    #[test]
    fn children_are_deleted_before_parents() {
        let tables = s(&["a_parent", "b_child", "c_grandchild", "d_alone"]);
        let fks = vec![
            ("b_child".to_owned(), "a_parent".to_owned()),
            ("c_grandchild".to_owned(), "b_child".to_owned()),
            ("c_grandchild".to_owned(), "c_grandchild".to_owned()),
        ];
        let order = delete_order(&tables, &fks);
        let pos = |t: &str| order.iter().position(|x| x == t).unwrap();
        assert_eq!(order.len(), 4);
        assert!(pos("c_grandchild") < pos("b_child"));
        assert!(pos("b_child") < pos("a_parent"));
    }

    #[test]
    fn cycles_still_yield_every_table() {
        let tables = s(&["x", "y"]);
        let fks = vec![("x".into(), "y".into()), ("y".into(), "x".into())];
        assert_eq!(delete_order(&tables, &fks), s(&["x", "y"]));
    }
}
