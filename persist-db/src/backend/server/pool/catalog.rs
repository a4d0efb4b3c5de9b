//! What a pool compares: the catalog digest of a database, and the catalog key of a schema built on
//! the server.

use sea_orm::{ConnectionTrait, DatabaseConnection, DbBackend, DbErr, Statement};

use super::{ADMIN, quote, raw_strings};
use crate::backend::server::registry::{self, Kind};
use crate::backend::server::{admin_connection_to, create_statement};
use crate::error::{DbContext, Error, Result};
use crate::{Fingerprint, catalog};

/// The catalog digest of the connection's database: its whole structure, the state of its
/// sequences, and the rows of `seeded` tables.
pub(crate) async fn catalog_digest(
    conn: &impl ConnectionTrait,
    seeded: &[String],
) -> Result<String, DbErr> {
    let backend = conn.get_database_backend();
    let mut lines = match backend {
        DbBackend::Postgres => {
            let mut lines = raw_strings(conn, catalog::postgres::DIGEST, "line").await?;
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
            raw_strings(conn, catalog::mysql::DIGEST, "line").await?
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

/// The [catalog key](crate::Backend::catalog_key) of `schema` on this server: built in a
/// scratch database of its own (registered, owned and dropped like any other), keyed by its
/// catalog digest and each table's row count.
pub(crate) async fn catalog_key(
    admin: &DatabaseConnection,
    admin_url: &str,
    owner: i64,
    label: &str,
    schema: &dyn crate::apply::ApplySchema,
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
                crate::fingerprint::CATALOG_FORMAT.to_owned(),
                format!("{backend:?}"),
            ];
            let catalogs: &[&str] = match backend {
                DbBackend::Postgres => &[catalog::postgres::DEFINITIONS],
                _ => &[catalog::mysql::DIGEST, catalog::mysql::DEFINITIONS],
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
            for table in crate::catalog::list_tables(&conn).await? {
                let rows = crate::catalog::count_rows(&conn, &table).await?;
                lines.push(format!("rows {table} {rows}"));
            }
            Ok::<_, Error>(Fingerprint::of(&lines).to_string())
        }
        .await;
        let _ = conn.close().await;
        key
    }
    .await;
    // A scratch database that will not drop is left to the sweeps.
    let _ = registry::drop_owned(admin, &name, owner).await?;
    key
}

/// Base tables of the connection's database, each with whether it holds rows.
pub(super) async fn tables_with_rows(conn: &impl ConnectionTrait) -> Result<Vec<(String, bool)>> {
    let mut out = Vec::new();
    for table in crate::catalog::list_tables(conn).await? {
        let rows = crate::catalog::count_rows(conn, &table).await?;
        out.push((table, rows > 0));
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// On the server `PERSIST_TEST_DATABASE_URL` names (without one there is nothing to check):
    /// a scratch database of the test's own, dropped after.
    async fn scratch() -> Option<(DatabaseConnection, DatabaseConnection, String)> {
        let url = crate::env::database_url().ok().flatten()?;
        if !url.contains("://") {
            return None;
        }
        let admin = sea_orm::Database::connect(url.replacen("mariadb://", "mysql://", 1))
            .await
            .unwrap();
        let name = format!(
            "persist_digest_{}_{}",
            std::process::id(),
            uuid::Uuid::new_v4().simple()
        );
        admin
            .execute_unprepared(&create_statement(admin.get_database_backend(), &name, None))
            .await
            .unwrap();
        let db = admin_connection_to(&url, &name).await.unwrap();
        Some((admin, db, name))
    }

    /// Runs `check` on a scratch database (on the server, if one is named), dropping it after
    /// whatever happens.
    async fn on_scratch<F>(check: impl FnOnce(DatabaseConnection) -> F)
    where
        F: std::future::Future<Output = DatabaseConnection>,
    {
        use futures::FutureExt as _;
        let Some((admin, db, name)) = scratch().await else {
            return;
        };
        let result = std::panic::AssertUnwindSafe(check(db)).catch_unwind().await;
        if let Ok(db) = &result {
            let _ = db.close_by_ref().await;
        }
        let quoted = quote(admin.get_database_backend(), &name);
        admin
            .execute_unprepared(&format!("DROP DATABASE {quoted}"))
            .await
            .unwrap();
        if let Err(panic) = result {
            std::panic::resume_unwind(panic);
        }
    }

    async fn run(db: &DatabaseConnection, statements: &[&str]) {
        for sql in statements {
            db.execute_unprepared(sql).await.unwrap();
        }
    }

    const TABLES: [&str; 3] = [
        "CREATE TABLE seeded (id INTEGER PRIMARY KEY, v VARCHAR(8))",
        "CREATE TABLE unseeded (id INTEGER PRIMARY KEY)",
        "INSERT INTO seeded (id, v) VALUES (1, 'a'), (2, 'b')",
    ];

    /// What a reset cannot undo changes the digest: a seeded table's rows, a column added;
    /// nothing else does. And the template's tables are told apart by whether they hold rows.
    #[tokio::test]
    async fn the_digest_sees_seeded_rows_and_structure_and_nothing_else() {
        on_scratch(|db| async move {
            run(&db, &TABLES).await;
            let mut tables = tables_with_rows(&db).await.unwrap();
            tables.sort();
            assert_eq!(
                tables,
                [("seeded".to_owned(), true), ("unseeded".to_owned(), false)]
            );
            let seeded = ["seeded".to_owned()];
            let digest = || async { catalog_digest(&db, &seeded).await.unwrap() };
            let first = digest().await;
            assert_eq!(digest().await, first, "read twice, the same");
            run(&db, &["UPDATE seeded SET v = 'c' WHERE id = 2"]).await;
            assert_ne!(digest().await, first, "a seeded row changed");
            run(&db, &["UPDATE seeded SET v = 'b' WHERE id = 2"]).await;
            assert_eq!(digest().await, first, "and put back");
            run(&db, &["ALTER TABLE unseeded ADD COLUMN x INTEGER"]).await;
            assert_ne!(digest().await, first, "a column added");
            db
        })
        .await;
    }

    /// A reset empties what the template had empty and keeps what it seeded: the database is
    /// pristine again. A change no reset undoes leaves it not pristine.
    #[tokio::test]
    async fn a_reset_makes_a_used_database_pristine_or_says_it_is_not() {
        on_scratch(|db| async move {
            run(&db, &TABLES).await;
            let seeded = vec!["seeded".to_owned()];
            let info = crate::backend::server::pool::TemplateInfo {
                name: String::new(),
                digest: catalog_digest(&db, &seeded).await.unwrap(),
                empty: vec!["unseeded".to_owned()],
                seeded,
                ddl: Vec::new(),
            };
            run(&db, &["INSERT INTO unseeded (id) VALUES (1), (2)"]).await;
            assert!(
                crate::backend::server::pool::reset(&db, &info)
                    .await
                    .unwrap()
            );
            let counts = tables_with_rows(&db).await.unwrap();
            assert!(
                counts.contains(&("unseeded".to_owned(), false)),
                "{counts:?}"
            );
            assert!(counts.contains(&("seeded".to_owned(), true)), "{counts:?}");
            run(&db, &["ALTER TABLE unseeded ADD COLUMN x INTEGER"]).await;
            assert!(
                !crate::backend::server::pool::reset(&db, &info)
                    .await
                    .unwrap()
            );
            db
        })
        .await;
    }
}
