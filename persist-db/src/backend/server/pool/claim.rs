//! Pool databases: claimed at once, cloned from the template, refilled off the test's path, and
//! swept when stale.

use std::sync::{Mutex, OnceLock};
use std::time::Duration;

use sea_orm::{ConnectionTrait, DatabaseConnection, DbBackend, Statement, TransactionTrait};

use super::catalog::catalog_digest;
use super::{ADMIN, TemplateInfo, claim_idle, pool_size, quote, ready_counts};
use crate::backend::SchemaTemplate;
use crate::backend::server::registry::{self, Kind, REGISTRY_TABLE};
use crate::backend::server::{admin_connection_to, create_statement};
use crate::error::{DbContext, Result};

/// How long a template may go unused before a sweep drops it and its pool.
pub(crate) fn stale_after() -> Duration {
    Duration::from_secs(crate::env::count_or_default(&crate::env::POOL_UNUSED_SECS) as u64)
}

/// Drops the templates no process has used for [`stale_after`] (a schema that changed leaves
/// its old one behind; a project not tested for a while leaves its pools), with their idle
/// pool databases.
pub(crate) async fn sweep_stale(admin: &DatabaseConnection, owner: i64) -> Result<Vec<String>> {
    let backend = admin.get_database_backend();
    let cutoff = registry::now_millis() - stale_after().as_millis() as i64;
    let sql = format!(
        "SELECT pool_key FROM {REGISTRY_TABLE} WHERE kind = 'template' AND state = 'ready' AND created_at < {}",
        placeholder(admin)
    );
    let keys = admin
        .query_all_raw(Statement::from_sql_and_values(
            backend,
            sql,
            [cutoff.into()],
        ))
        .await
        .context(ADMIN, "looking for stale templates")?
        .iter()
        .map(|row| row.try_get::<String>("", "pool_key"))
        .collect::<Result<Vec<_>, _>>()
        .context(ADMIN, "looking for stale templates")?;
    let mut dropped = Vec::new();
    for key in keys {
        // A database that will not drop leaves the pool (given up to nobody), so this ends.
        while let Some(name) = claim_idle(admin, owner, Some(&key)).await? {
            if registry::drop_owned(admin, &name, owner)
                .await?
                .is_dropped()
            {
                dropped.push(name);
            }
        }
    }
    Ok(dropped)
}

/// Claims a ready pool database of `key`, atomically across every process and machine.
/// The claimer's `label` (its test and the database's part) goes on the record.
pub(crate) async fn claim(
    admin: &DatabaseConnection,
    key: &str,
    owner: i64,
    label: &str,
) -> Result<Option<String>> {
    let filter = format!("kind = 'pool' AND pool_key = {}", placeholder(admin));
    claim_first(
        admin,
        owner,
        &filter,
        vec![key.into()],
        "a pool database",
        Some(label),
    )
    .await
}

/// The first bind parameter in the admin database's dialect.
pub(super) fn placeholder(admin: &DatabaseConnection) -> &'static str {
    registry::placeholder(admin.get_database_backend())
}

/// Claims the first ready database that `filter` (a condition on the registry, with its
/// `values`) selects, pool databases before templates: `FOR UPDATE SKIP LOCKED`, so that two
/// claimers never take the same one and neither waits for the other.
pub(super) async fn claim_first(
    admin: &DatabaseConnection,
    owner: i64,
    filter: &str,
    values: Vec<sea_orm::Value>,
    what: &str,
    label: Option<&str>,
) -> Result<Option<String>> {
    claim_first_by(admin, owner, filter, "kind", values, what, label).await
}

/// [`claim_first`], taking the first by `order` (an `ORDER BY` list on the registry).
pub(super) async fn claim_first_by(
    admin: &DatabaseConnection,
    owner: i64,
    filter: &str,
    order: &str,
    values: Vec<sea_orm::Value>,
    what: &str,
    label: Option<&str>,
) -> Result<Option<String>> {
    let backend = admin.get_database_backend();
    // Ready records are owned by nobody; each says whether its database is still there (one
    // dropped by hand, or by anything that did not tell the registry, must not be handed out).
    let select = format!(
        "SELECT db_name, {} AS present FROM {REGISTRY_TABLE} WHERE state = 'ready' AND owner = 0 \
         AND {filter} ORDER BY {order} LIMIT 1 FOR UPDATE SKIP LOCKED",
        registry::present_sql(backend)
    );
    let operation = format!("claiming {what}");
    loop {
        let txn = admin.begin().await.context(ADMIN, &operation)?;
        let row = txn
            .query_one_raw(Statement::from_sql_and_values(
                backend,
                select.clone(),
                values.clone(),
            ))
            .await
            .context(ADMIN, &operation)?;
        let Some(row) = row else {
            let _ = txn.rollback().await;
            return Ok(None);
        };
        let name: String = row.try_get("", "db_name").context(ADMIN, &operation)?;
        let present = registry::int_column(&row, "present").context(ADMIN, &operation)? == 1;
        if !present {
            // Its record goes, and the next one is tried.
            registry::forget_missing(&txn, &name).await?;
            txn.commit().await.context(ADMIN, &operation)?;
            continue;
        }
        // The row is locked, ready and nobody's: the update takes it.
        if !registry::hand_over(&txn, &name, owner, label).await? {
            let _ = txn.rollback().await;
            return Err(crate::error::Error::Backend(format!(
                "{operation}: {name} was ready but could not be handed over"
            )));
        }
        txn.commit().await.context(ADMIN, &operation)?;
        return Ok(Some(name));
    }
}

/// Creates a new pool database from the template, recorded as claimed by `owner`.
pub(crate) async fn create_pooled(
    admin: &DatabaseConnection,
    admin_url: &str,
    owner: i64,
    template: &SchemaTemplate,
    info: &TemplateInfo,
    label: &str,
) -> Result<String> {
    let backend = admin.get_database_backend();
    let key = template.key.as_str();
    let name = format!(
        "pt_p_{key}_{}",
        &uuid::Uuid::new_v4().simple().to_string()[..12]
    );
    registry::record(admin, &name, Kind::Pool, key, owner, label).await?;
    let created = async {
        match backend {
            DbBackend::Postgres => {
                let sql = create_statement(backend, &name, Some(&info.name));
                // The template is busy for a moment after a build, or while autovacuum visits.
                let mut attempt = 0;
                loop {
                    match admin.execute_unprepared(&sql).await {
                        Ok(_) => break Ok(()),
                        Err(e)
                            if attempt < 20
                                && e.to_string().contains("being accessed by other users") =>
                        {
                            attempt += 1;
                            tokio::time::sleep(Duration::from_millis(50)).await;
                        }
                        Err(e) => break Err(e),
                    }
                }
                .context(ADMIN, format!("cloning {} into {name}", info.name))
            }
            _ => clone_mysql(admin, admin_url, &name, template, info).await,
        }
    }
    .await;
    if let Err(e) = created {
        let _ = registry::drop_owned(admin, &name, owner).await;
        return Err(e);
    }
    registry::set_state(admin, std::slice::from_ref(&name), owner, "claimed", owner).await?;
    Ok(name)
}

/// How few ready databases a pool may hold before a test that claims one starts making another.
const REFILL_BELOW: usize = 2;

/// If the pool of `template` runs low, starts making one more database in the background (on
/// a connection of its own, so the test's setup does not wait for it), ready for the next test.
pub(crate) async fn refill_if_low(
    admin: &DatabaseConnection,
    admin_url: &str,
    template: &SchemaTemplate,
    info: &TemplateInfo,
) -> Option<tokio::task::JoinHandle<()>> {
    static REFILLING: OnceLock<Mutex<std::collections::HashSet<String>>> = OnceLock::new();
    let refilling = REFILLING.get_or_init(Default::default);
    if pool_size() < REFILL_BELOW {
        return None;
    }
    let ready = ready_counts(admin, &[&template.key]).await.ok()?;
    if ready.get(&template.key).copied().unwrap_or(0) >= REFILL_BELOW {
        return None;
    }
    // The server's idle databases stay within their bound.
    if super::total_ready(admin).await.ok()? >= super::max_idle() {
        return None;
    }
    if !refilling
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .insert(template.key.clone())
    {
        return None;
    }
    let (url, template, info) = (admin_url.to_owned(), template.clone(), info.clone());
    Some(tokio::spawn(async move {
        let made = async {
            // An owner of its own: what it records is protected by a lock it holds itself,
            // whenever the test that started it ends.
            let (conn, owner) = crate::backend::server::owner_connection(&url).await?;
            let made = async {
                let label = format!("made ahead · {}", template.label);
                let name = create_pooled(&conn, &url, owner, &template, &info, &label).await?;
                registry::set_state(&conn, std::slice::from_ref(&name), owner, "ready", 0).await
            }
            .await;
            let _ = conn.close().await;
            made
        }
        .await;
        if let Err(e) = made {
            tracing::warn!(error = %e, "making a pool database ahead of demand failed");
        }
        refilling
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .remove(&template.key);
    }))
}

/// MySQL has no template databases: replay the template's tables and copy its rows, then
/// check that the copy's digest is the template's.
async fn clone_mysql(
    admin: &DatabaseConnection,
    admin_url: &str,
    name: &str,
    template: &SchemaTemplate,
    info: &TemplateInfo,
) -> Result<()> {
    let backend = admin.get_database_backend();
    admin
        .execute_unprepared(&create_statement(backend, name, None))
        .await
        .context(ADMIN, format!("creating {name}"))?;
    let conn = admin_connection_to(admin_url, name).await?;
    let result = async {
        let mut script = String::from("SET FOREIGN_KEY_CHECKS = 0;\n");
        for ddl in &info.ddl {
            script.push_str(ddl);
            script.push_str(";\n");
        }
        for table in &info.seeded {
            let t = quote(backend, table);
            script.push_str(&format!(
                "INSERT INTO {t} SELECT * FROM {}.{t};\n",
                quote(backend, &info.name)
            ));
        }
        script.push_str("SET FOREIGN_KEY_CHECKS = 1;");
        conn.execute_unprepared(&script).await.context(
            &template.label,
            format!("copying template {} into {name}", info.name),
        )?;
        let digest = catalog_digest(&conn, &info.seeded)
            .await
            .context(&template.label, format!("reading {name}'s catalog"))?;
        if digest != info.digest {
            // Something the statements do not carry (a view, a trigger): migrate instead.
            conn.execute_unprepared(&format!(
                "DROP DATABASE {0}; CREATE DATABASE {0}",
                quote(backend, name)
            ))
            .await
            .context(ADMIN, format!("emptying {name}"))?;
            conn.execute_unprepared(&format!("USE {}", quote(backend, name)))
                .await
                .context(ADMIN, format!("using {name}"))?;
            template
                .schema
                .apply(&conn)
                .await
                .context(&template.label, format!("applying its schema to {name}"))?;
        }
        Ok(())
    }
    .await;
    let _ = conn.close().await;
    result
}
