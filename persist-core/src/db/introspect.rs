//! Reading a database's structure with the backend's own catalog queries.

use std::collections::{BTreeMap, BTreeSet};

use sea_orm::sea_query::{Alias, Expr, Query};
use sea_orm::{ConnectionTrait, DbBackend, DbErr, Statement};

use crate::error::Result;

/// The base tables of the connection's current database (or schema), sorted by name.
pub async fn list_tables(db: &impl ConnectionTrait) -> Result<Vec<String>> {
    let sql = match db.get_database_backend() {
        DbBackend::Sqlite => {
            "SELECT name AS table_name FROM sqlite_master \
             WHERE type = 'table' AND name NOT LIKE 'sqlite_%' ORDER BY name"
        }
        DbBackend::Postgres => {
            "SELECT tablename::text AS table_name FROM pg_catalog.pg_tables \
             WHERE schemaname = current_schema() ORDER BY tablename"
        }
        _ => {
            "SELECT table_name AS table_name FROM information_schema.tables \
             WHERE table_schema = DATABASE() AND table_type = 'BASE TABLE' ORDER BY table_name"
        }
    };
    Ok(strings(db, sql, "table_name").await?)
}

/// The indexes of the connection's current database, sorted by name (primary keys excluded).
pub async fn list_indexes(db: &impl ConnectionTrait) -> Result<Vec<String>> {
    let sql = match db.get_database_backend() {
        DbBackend::Sqlite => {
            "SELECT name AS index_name FROM sqlite_master \
             WHERE type = 'index' AND name NOT LIKE 'sqlite_%' ORDER BY name"
        }
        DbBackend::Postgres => {
            "SELECT i.indexname::text AS index_name FROM pg_catalog.pg_indexes i \
             WHERE i.schemaname = current_schema() AND i.indexname NOT LIKE '%_pkey' \
             ORDER BY i.indexname"
        }
        _ => {
            "SELECT DISTINCT index_name AS index_name FROM information_schema.statistics \
             WHERE table_schema = DATABASE() AND index_name <> 'PRIMARY' ORDER BY index_name"
        }
    };
    Ok(strings(db, sql, "index_name").await?)
}

/// Foreign keys as `(child table, parent table)` pairs.
pub async fn foreign_keys(db: &impl ConnectionTrait) -> Result<Vec<(String, String)>> {
    let sql = match db.get_database_backend() {
        DbBackend::Sqlite => {
            "SELECT m.name AS child, p.\"table\" AS parent FROM sqlite_master m \
             JOIN pragma_foreign_key_list(m.name) p WHERE m.type = 'table'"
        }
        DbBackend::Postgres => {
            "SELECT child.relname::text AS child, parent.relname::text AS parent \
             FROM pg_catalog.pg_constraint c \
             JOIN pg_catalog.pg_class child ON child.oid = c.conrelid \
             JOIN pg_catalog.pg_class parent ON parent.oid = c.confrelid \
             JOIN pg_catalog.pg_namespace n ON n.oid = child.relnamespace \
             WHERE c.contype = 'f' AND n.nspname = current_schema()"
        }
        _ => {
            "SELECT table_name AS child, referenced_table_name AS parent \
             FROM information_schema.key_column_usage \
             WHERE table_schema = DATABASE() AND referenced_table_name IS NOT NULL"
        }
    };
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
    let sql = match db.get_database_backend() {
        DbBackend::Sqlite => {
            "SELECT file AS identity FROM pragma_database_list WHERE name = 'main'"
        }
        DbBackend::Postgres => "SELECT current_database()::text AS identity",
        _ => "SELECT DATABASE() AS identity",
    };
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
