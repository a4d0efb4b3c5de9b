//! Giving a pool database back: reset, then kept only if its catalog digest still equals the
//! template's.

use sea_orm::{ConnectionTrait, DatabaseConnection, DbBackend, DbErr, TransactionTrait};

use super::catalog::catalog_digest;
use super::{TemplateInfo, quote, raw_strings};
use crate::error::Result;

/// Resets a pool database through `conn` (its own connection) and says whether it is now
/// exactly as cloned: if not, it must be dropped.
pub(crate) async fn reset(conn: &DatabaseConnection, info: &TemplateInfo) -> Result<bool, DbErr> {
    // Everything on one connection (a transaction pins it): the sessions ended below must not
    // include the one doing the work.
    let txn = conn.begin().await?;
    let pristine = reset_on(&txn, info).await?;
    txn.commit().await?;
    Ok(pristine)
}

async fn reset_on(conn: &impl ConnectionTrait, info: &TemplateInfo) -> Result<bool, DbErr> {
    let backend = conn.get_database_backend();
    let tables: Vec<String> = info.empty.iter().map(|t| quote(backend, t)).collect();
    let script = match backend {
        DbBackend::Postgres => {
            let mut script = String::from(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity \
                 WHERE datname = current_database() AND pid <> pg_backend_pid();\n",
            );
            if !tables.is_empty() {
                // One statement: foreign keys are checked at its end, when every table is
                // empty. DELETE, not TRUNCATE: no new files for a handful of rows.
                let deletes: Vec<String> = tables
                    .iter()
                    .enumerate()
                    .map(|(i, t)| format!("d{i} AS (DELETE FROM {t})"))
                    .collect();
                script.push_str(&format!("WITH {} SELECT 1;\n", deletes.join(", ")));
            }
            // A used sequence starts again as if new (`is_called` false: its next value is its
            // first), which is also what the digest checks.
            script.push_str(
                "SELECT pg_catalog.setval(format('%I.%I', schemaname, sequencename)::regclass, start_value, false) \
                 FROM pg_catalog.pg_sequences WHERE last_value IS NOT NULL \
                 AND schemaname NOT LIKE 'pg\\_%' AND schemaname <> 'information_schema';",
            );
            script
        }
        _ => {
            let others = raw_strings(
                conn,
                "SELECT CAST(ID AS CHAR) AS id FROM information_schema.PROCESSLIST \
                 WHERE DB = DATABASE() AND ID <> CONNECTION_ID()",
                "id",
            )
            .await?;
            // Restarting an auto-increment is DDL, and slow: only where a test moved it.
            let moved = raw_strings(
                conn,
                "SELECT CAST(TABLE_NAME AS CHAR) AS t FROM information_schema.TABLES \
                 WHERE TABLE_SCHEMA = DATABASE() AND AUTO_INCREMENT > 1",
                "t",
            )
            .await?;
            let mut script = String::new();
            for id in others {
                script.push_str(&format!("KILL CONNECTION {id};\n"));
            }
            script.push_str("SET FOREIGN_KEY_CHECKS = 0;\n");
            for (name, t) in info.empty.iter().zip(&tables) {
                script.push_str(&format!("DELETE FROM {t};\n"));
                if moved.contains(name) {
                    script.push_str(&format!("ALTER TABLE {t} AUTO_INCREMENT = 1;\n"));
                }
            }
            script.push_str("SET FOREIGN_KEY_CHECKS = 1;");
            script
        }
    };
    if conn.execute_unprepared(&script).await.is_err() {
        // A table the reset expects is gone, or a statement was refused: not pristine.
        return Ok(false);
    }
    Ok(catalog_digest(conn, &info.seeded).await? == info.digest)
}
