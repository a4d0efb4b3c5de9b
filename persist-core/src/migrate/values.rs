//! What a database holds, as an upgrade check counts it between steps: each table's rows, and
//! each column's values (how many are not NULL, and enough about them to tell a column that
//! was renamed from one that was dropped).

use std::collections::BTreeMap;

use sea_orm::sea_query::{Alias, Expr, Func, Query, SimpleExpr};
use sea_orm::{ConnectionTrait, DatabaseConnection, DbBackend, QueryResult};

use crate::error::Result;

/// One column's values, summarized.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Values {
    /// How many are not NULL.
    pub(crate) count: u64,
    /// How many distinct ones, and the least and greatest, as text.
    pub(crate) shape: (u64, Option<String>, Option<String>),
}

/// One table.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub(crate) struct TableValues {
    pub(crate) rows: u64,
    pub(crate) columns: BTreeMap<String, Values>,
}

fn int(row: &QueryResult, column: &str) -> u64 {
    row.try_get::<i64>("", column)
        .or_else(|_| row.try_get::<i32>("", column).map(i64::from))
        .map_or(0, |n| u64::try_from(n).unwrap_or(0))
}

/// Every table but `migration_table`, counted.
pub(crate) async fn count(
    db: &DatabaseConnection,
    migration_table: &str,
) -> Result<BTreeMap<String, TableValues>> {
    let backend = db.get_database_backend();
    let text = match backend {
        DbBackend::MySql => "CHAR",
        _ => "TEXT",
    };
    let mut out = BTreeMap::new();
    for table in crate::db::catalog::list_tables(db).await? {
        if table == migration_table {
            continue;
        }
        let columns: Vec<String> = crate::db::catalog::read_table(db, &table)
            .await?
            .columns
            .into_keys()
            .collect();
        let mut query = Query::select();
        query.expr_as(Func::count(Expr::cust("*")), Alias::new("n"));
        for (i, column) in columns.iter().enumerate() {
            let col = || Expr::col(Alias::new(column.as_str()));
            let as_text = || -> SimpleExpr { Func::cast_as(col(), Alias::new(text)).into() };
            query
                .expr_as(Func::count(col()), Alias::new(format!("v{i}")))
                .expr_as(Func::count_distinct(as_text()), Alias::new(format!("d{i}")))
                .expr_as(Func::min(as_text()), Alias::new(format!("lo{i}")))
                .expr_as(Func::max(as_text()), Alias::new(format!("hi{i}")));
        }
        query.from(Alias::new(table.as_str()));
        let row = db.query_one(&query).await?;
        let mut values = TableValues::default();
        if let Some(row) = row {
            values.rows = int(&row, "n");
            for (i, column) in columns.into_iter().enumerate() {
                let text = |name: String| row.try_get::<Option<String>>("", &name).ok().flatten();
                values.columns.insert(
                    column,
                    Values {
                        count: int(&row, &format!("v{i}")),
                        shape: (
                            int(&row, &format!("d{i}")),
                            text(format!("lo{i}")),
                            text(format!("hi{i}")),
                        ),
                    },
                );
            }
        }
        out.insert(table, values);
    }
    Ok(out)
}

/// What a step lost of `before` that `after` no longer holds: tables gone or with fewer rows,
/// and in tables that kept every row, columns dropped holding values (unless a column that
/// appeared in the same table holds the same ones: a rename) or with values set to NULL.
/// `allowed` says whether a table's loss (`None`) or a column's is declared.
pub(crate) fn losses(
    before: &BTreeMap<String, TableValues>,
    after: &BTreeMap<String, TableValues>,
    allowed: impl Fn(&str, Option<&str>) -> bool,
) -> Vec<String> {
    let mut lost = Vec::new();
    for (table, was) in before.iter().filter(|(_, v)| v.rows > 0) {
        if allowed(table, None) {
            continue;
        }
        let Some(now) = after.get(table) else {
            lost.push(format!("{table} ({} rows) is gone", was.rows));
            continue;
        };
        if now.rows < was.rows {
            lost.push(format!("{table} had {} rows, has {}", was.rows, now.rows));
            continue;
        }
        let appeared: Vec<&Values> = now
            .columns
            .iter()
            .filter(|(c, _)| !was.columns.contains_key(*c))
            .map(|(_, v)| v)
            .collect();
        for (column, held) in was.columns.iter().filter(|(_, v)| v.count > 0) {
            if allowed(table, Some(column)) {
                continue;
            }
            match now.columns.get(column) {
                None if appeared.contains(&held) => {}
                None => lost.push(format!(
                    "{table}.{column} was dropped holding {} values",
                    held.count
                )),
                Some(kept) if kept.count < held.count => lost.push(format!(
                    "{table}.{column} had {} values, has {} (the rest set to NULL)",
                    held.count, kept.count
                )),
                Some(_) => {}
            }
        }
    }
    lost
}
