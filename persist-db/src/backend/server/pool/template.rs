//! Templates: built once per schema under an advisory lock, published in the registry, and touched
//! when used.

use sea_orm::{ConnectionTrait, DatabaseConnection, DbBackend, Statement};

use super::catalog::{catalog_digest, tables_with_rows};
use super::claim::placeholder;
use super::{ADMIN, TEMPLATE_LOCK_BASE, TemplateInfo, known, quote, template_name};
use crate::backend::SchemaTemplate;
use crate::backend::server::registry::{self, Kind, REGISTRY_TABLE};
use crate::backend::server::{admin_connection_to, create_statement, drop_statement};
use crate::error::{DbContext, Error, Result};

/// The template for `template`, built if no process has built it yet.
pub(crate) async fn ensure_template(
    admin: &DatabaseConnection,
    admin_url: &str,
    owner: i64,
    template: &SchemaTemplate,
) -> Result<TemplateInfo> {
    let memo_key = (admin_url.to_owned(), template.key.clone());
    if let Some(info) = fresh(&memo_key) {
        return Ok(info);
    }
    // One build per schema in this process: the server's lock is re-entrant for a session,
    // so two databases of one test (two agents) must not both take it.
    static ENSURING: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());
    let _ensuring = ENSURING.lock().await;
    if let Some(info) = fresh(&memo_key) {
        return Ok(info);
    }
    let backend = admin.get_database_backend();
    let name = template_name(&template.key);
    let lock_key = TEMPLATE_LOCK_BASE
        + i64::from(u32::from_str_radix(&template.key[24..], 16).unwrap_or(0) >> 1);
    let (lock, unlock) = match backend {
        DbBackend::Postgres => (
            format!("SELECT pg_advisory_lock({lock_key})"),
            format!("SELECT pg_advisory_unlock({lock_key})"),
        ),
        _ => (
            format!("SELECT GET_LOCK('persist_template_{lock_key}', 600)"),
            format!("SELECT RELEASE_LOCK('persist_template_{lock_key}')"),
        ),
    };
    admin
        .execute_unprepared(&lock)
        .await
        .context(ADMIN, format!("waiting for template {name}"))?;
    let result = async {
        if let Some(info) = published(admin, &template.key).await? {
            // In use: a sweep of stale pools counts from here (once per process).
            touch_template(admin, &info.name).await?;
            return Ok(info);
        }
        match build_template(admin, admin_url, owner, template, &name).await {
            // The server closed the build's own connection (it dropped what it had built):
            // once more, on a new one.
            Err(e) if lost_connection(&e) => {
                tracing::warn!(schema = %template.label, error = %e, "a template build lost its connection; building it again");
                build_template(admin, admin_url, owner, template, &name).await
            }
            built => built,
        }
    }
    .await;
    let _ = admin.execute_unprepared(&unlock).await;
    let info = result?;
    known()
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .insert(memo_key, (info.clone(), std::time::Instant::now()));
    Ok(info)
}

/// Whether `error` says the server closed the connection under a statement (not that it
/// refused the statement).
fn lost_connection(error: &Error) -> bool {
    let text = error.to_string().to_ascii_lowercase();
    [
        "error communicating with database",
        "server has gone away",
        "lost connection",
        "connection reset",
    ]
    .iter()
    .any(|sign| text.contains(sign))
}

/// What this process knows of a template, while it was touched recently enough that no sweep
/// of unused pools can have dropped it (half the time one waits); after that, it is looked up
/// (and touched) again.
fn fresh(memo_key: &(String, String)) -> Option<TemplateInfo> {
    let known = known().lock().unwrap_or_else(|p| p.into_inner());
    let (info, touched) = known.get(memo_key)?;
    (touched.elapsed() < super::claim::stale_after() / 2).then(|| info.clone())
}

/// The template of schema `key` as published in the registry, if it is there. One whose
/// database is gone from the server (dropped by hand) loses its record, and is built again.
/// Called under the template's lock.
async fn published(admin: &DatabaseConnection, key: &str) -> Result<Option<TemplateInfo>> {
    let backend = admin.get_database_backend();
    let sql = format!(
        "SELECT db_name, detail, {} AS present FROM {REGISTRY_TABLE} WHERE pool_key = {} \
         AND kind = 'template' AND state = 'ready' ORDER BY created_at DESC LIMIT 1",
        registry::present_sql(backend),
        placeholder(admin)
    );
    let name = template_name(key);
    let row = admin
        .query_one_raw(Statement::from_sql_and_values(backend, sql, [key.into()]))
        .await
        .context(ADMIN, format!("looking up template {name}"))?;
    let Some(row) = row else { return Ok(None) };
    if registry::int_column(&row, "present").context(ADMIN, "reading a template")? != 1 {
        let db_name: String = row
            .try_get("", "db_name")
            .context(ADMIN, "reading a template")?;
        registry::forget_missing(admin, &db_name).await?;
        return Ok(None);
    }
    let detail: String = row
        .try_get("", "detail")
        .context(ADMIN, "reading a template")?;
    Ok(serde_json::from_str(&detail).ok())
}

async fn build_template(
    admin: &DatabaseConnection,
    admin_url: &str,
    owner: i64,
    template: &SchemaTemplate,
    name: &str,
) -> Result<TemplateInfo> {
    let backend = admin.get_database_backend();
    // A build whose process died half-way left its database and record: start again. Holding
    // the template's lock means its builder is gone, but the server may not show its owner
    // lock free for a moment yet (it sees a killed process's sessions end one by one).
    let mut waited = 0;
    let mut name = name.to_owned();
    loop {
        if registry::take_abandoned(admin, &name, owner, registry::Retry::Now).await? {
            if let registry::Dropped::Stuck(_) = registry::drop_owned(admin, &name, owner).await? {
                // Its name is taken by a database that will not drop (the sweeps retry it):
                // build under another.
                name = format!("{name}_{}", &uuid::Uuid::new_v4().simple().to_string()[..8]);
            }
            break;
        }
        if !registry::is_recorded(admin, &name).await? || waited >= 100 {
            break;
        }
        waited += 1;
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    let name = name.as_str();
    registry::record(
        admin,
        name,
        Kind::Template,
        &template.key,
        owner,
        &template.label,
    )
    .await?;
    if let Err(e) = create_template_database(admin, name).await {
        let _ = registry::drop_owned(admin, name, owner).await;
        return Err(e);
    }
    let conn = admin_connection_to(admin_url, name).await?;
    let built = async {
        template.schema.apply(&conn).await.context(
            &template.label,
            format!("applying its schema to template {name}"),
        )?;
        let tables = tables_with_rows(&conn)
            .await
            .context(&template.label, "reading its template")?;
        let seeded: Vec<String> = tables
            .iter()
            .filter(|(_, r)| *r)
            .map(|(t, _)| t.clone())
            .collect();
        let empty = tables
            .iter()
            .filter(|(_, r)| !*r)
            .map(|(t, _)| t.clone())
            .collect();
        let digest = catalog_digest(&conn, &seeded)
            .await
            .context(&template.label, "reading its template's catalog")?;
        let ddl = if backend == DbBackend::Postgres {
            Vec::new()
        } else {
            let mut ddl = Vec::new();
            for (table, _) in &tables {
                let row = conn
                    .query_one_raw(Statement::from_string(
                        backend,
                        format!("SHOW CREATE TABLE {}", quote(backend, table)),
                    ))
                    .await
                    .context(&template.label, "reading its template's tables")?;
                if let Some(row) = row {
                    ddl.push(
                        row.try_get_by_index::<String>(1)
                            .context(&template.label, "reading DDL")?,
                    );
                }
            }
            ddl
        };
        Ok::<_, Error>(TemplateInfo {
            name: name.to_owned(),
            digest,
            empty,
            seeded,
            ddl,
        })
    }
    .await;
    let _ = conn.close().await;
    let info = match built {
        Ok(info) => info,
        Err(e) => {
            let _ = registry::drop_owned(admin, name, owner).await;
            return Err(e);
        }
    };
    let detail = serde_json::to_string(&info)
        .map_err(|e| Error::Backend(format!("recording template {name}: {e}")))?;
    registry::update(
        admin,
        name,
        [
            ("detail", detail.into()),
            ("digest", info.digest.clone().into()),
            ("state", "ready".into()),
            ("owner", 0i64.into()),
        ],
    )
    .await?;
    Ok(info)
}

/// Creates the template's database. One already there has no record (the name was just
/// recorded, under the template's lock): it was left by hand, or by a process whose record was
/// removed, and is nobody's, so it is dropped and created afresh.
async fn create_template_database(admin: &DatabaseConnection, name: &str) -> Result<()> {
    let backend = admin.get_database_backend();
    let create = create_statement(backend, name, None);
    match admin.execute_unprepared(&create).await {
        Err(e) if e.to_string().contains("exists") => {
            tracing::warn!(database = %name, "a template's database was there without a record; dropped and built again");
            admin
                .execute_unprepared(&drop_statement(backend, name))
                .await
                .context(ADMIN, format!("dropping {name}, which no record names"))?;
            admin
                .execute_unprepared(&create)
                .await
                .context(ADMIN, format!("creating template {name}"))?;
            Ok(())
        }
        other => other
            .map(|_| ())
            .context(ADMIN, format!("creating template {name}")),
    }
}

async fn touch_template(admin: &DatabaseConnection, name: &str) -> Result<()> {
    registry::update(admin, name, [("created_at", registry::now_millis().into())]).await
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::backend::server::admin_connection;

    /// The server of this run (`PERSIST_TEST_DATABASE_URL`), if it is one.
    fn server() -> Option<String> {
        crate::env::var(crate::env::DATABASE_URL_ENV).filter(|url| {
            url.starts_with("postgres") || url.starts_with("mysql") || url.starts_with("mariadb")
        })
    }

    #[tokio::test]
    async fn a_template_database_left_without_its_record_is_built_again() {
        let Some(url) = server() else { return };
        let admin = admin_connection(&url).await.unwrap();
        let backend = admin.get_database_backend();
        let name = format!(
            "pt_t_left_{}",
            &uuid::Uuid::new_v4().simple().to_string()[..12]
        );
        admin
            .execute_unprepared(&create_statement(backend, &name, None))
            .await
            .unwrap();
        let old = admin_connection_to(&url, &name).await.unwrap();
        old.execute_unprepared("CREATE TABLE old_build (id INT)")
            .await
            .unwrap();
        old.close().await.unwrap();

        let created = create_template_database(&admin, &name).await;
        let new = admin_connection_to(&url, &name).await.unwrap();
        let tables = crate::catalog::list_tables(&new).await.unwrap();
        new.close().await.unwrap();
        admin
            .execute_unprepared(&drop_statement(backend, &name))
            .await
            .unwrap();
        created.unwrap();
        assert!(
            tables.is_empty(),
            "the old build is still there: {tables:?}"
        );
    }
}
