//! PostgreSQL and MySQL/MariaDB: each test creates its own databases on the server and drops
//! them at cleanup.

use std::collections::HashSet;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Mutex, OnceLock};
use std::time::Duration;

use futures::future::BoxFuture;
use sea_orm::{ConnectOptions, ConnectionTrait as _, Database, DatabaseConnection, DbBackend};

use super::registry::{self, owner};
use super::{Backend, BackendKind, DatabaseLocation, SERVER_IDLE};
use crate::error::{DbContext, PersistError, Result};

/// PostgreSQL allows 63 bytes in a name, MySQL 64 characters.
const MAX_NAME: usize = 63;

/// What kind of server a URL names.
pub(crate) fn kind_of(url: &str) -> Result<BackendKind> {
    let scheme = url.split("://").next().unwrap_or_default();
    match scheme {
        "postgres" | "postgresql" => Ok(BackendKind::Postgres),
        "mysql" | "mariadb" => Ok(BackendKind::MySql),
        _ => Err(PersistError::Backend(format!(
            "unsupported database URL {url:?}: expected postgres://, postgresql://, mysql:// or mariadb://"
        ))),
    }
}

/// The URL with its scheme the driver's (`mariadb://` is MySQL's protocol) and, if given,
/// another database.
fn url_for(admin_url: &str, database: Option<&str>) -> Result<String> {
    let normalized = match admin_url.strip_prefix("mariadb://") {
        Some(rest) => format!("mysql://{rest}"),
        None => admin_url.to_owned(),
    };
    let mut url = url::Url::parse(&normalized)
        .map_err(|e| PersistError::Backend(format!("invalid database URL {admin_url:?}: {e}")))?;
    if let Some(database) = database {
        url.set_path(&format!("/{database}"));
    }
    Ok(url.to_string())
}

/// A single-connection pool to the administration database.
pub(crate) async fn admin_connection(admin_url: &str) -> Result<DatabaseConnection> {
    let mut options = ConnectOptions::new(url_for(admin_url, None)?);
    options
        .max_connections(1)
        .min_connections(0)
        .connect_timeout(Duration::from_secs(10))
        .acquire_timeout(Duration::from_secs(30))
        .sqlx_logging(false);
    Database::connect(options)
        .await
        .context("server admin", format!("connecting to {admin_url}"))
}

pub(crate) fn drop_statement(backend: DbBackend, name: &str) -> String {
    match backend {
        // FORCE ends connections something still holds (PostgreSQL 13 and later).
        DbBackend::Postgres => format!("DROP DATABASE IF EXISTS \"{name}\" WITH (FORCE)"),
        _ => format!("DROP DATABASE IF EXISTS `{name}`"),
    }
}

fn create_statement(backend: DbBackend, name: &str) -> String {
    match backend {
        DbBackend::Postgres => format!("CREATE DATABASE \"{name}\""),
        _ => format!("CREATE DATABASE `{name}` CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci"),
    }
}

/// Once per server and process: make sure the registry exists and sweep what dead runs left.
async fn prepare(admin_url: &str) -> Result<()> {
    static PREPARED: OnceLock<tokio::sync::Mutex<HashSet<String>>> = OnceLock::new();
    let mut prepared = PREPARED.get_or_init(Default::default).lock().await;
    if prepared.contains(admin_url) {
        return Ok(());
    }
    let admin = admin_connection(admin_url).await?;
    let swept = registry::sweep_with(&admin).await;
    let _ = admin.close().await;
    swept?;
    prepared.insert(admin_url.to_owned());
    Ok(())
}

/// Databases on a PostgreSQL or MySQL/MariaDB server, named `pt_<run>_<n>_<role>`: unique to
/// this process's run and this manager, within the servers' name limits.
#[derive(Debug)]
pub struct ServerBackend {
    kind: BackendKind,
    admin_url: String,
    prefix: String,
    label: String,
    created: Mutex<Vec<String>>,
}

impl ServerBackend {
    /// Connects to the server at `admin_url` (the database to administer from), creates the
    /// registry if needed and, once per process, sweeps databases leaked by dead runs.
    pub async fn open(admin_url: &str, label: &str) -> Result<Self> {
        static NEXT: AtomicU64 = AtomicU64::new(0);
        let kind = kind_of(admin_url)?;
        url_for(admin_url, None)?;
        prepare(admin_url).await?;
        let n = NEXT.fetch_add(1, Ordering::Relaxed);
        Ok(ServerBackend {
            kind,
            admin_url: admin_url.to_owned(),
            prefix: format!("pt_{}_{n}_", owner().run_id),
            label: label.to_owned(),
            created: Mutex::new(Vec::new()),
        })
    }

    fn created(&self) -> std::sync::MutexGuard<'_, Vec<String>> {
        self.created.lock().unwrap_or_else(|p| p.into_inner())
    }
}

impl Backend for ServerBackend {
    fn kind(&self) -> BackendKind {
        self.kind
    }

    fn create_database<'a>(&'a self, name: &'a str) -> BoxFuture<'a, Result<DatabaseLocation>> {
        Box::pin(async move {
            let full = format!("{}{name}", self.prefix);
            if full.len() > MAX_NAME {
                return Err(PersistError::Backend(format!(
                    "database name {full} is longer than {MAX_NAME} characters"
                )));
            }
            let admin = admin_connection(&self.admin_url).await?;
            // Record first: a process killed between the two leaves a record the sweep clears,
            // never a database nobody knows about.
            let result = async {
                registry::record(&admin, &full, &self.label).await?;
                self.created().push(full.clone());
                admin
                    .execute_unprepared(&create_statement(admin.get_database_backend(), &full))
                    .await
                    .context("server admin", format!("creating database {full}"))
            }
            .await;
            let _ = admin.close().await;
            result?;
            Ok(DatabaseLocation {
                url: url_for(&self.admin_url, Some(&full))?,
                name: full,
                path: None,
            })
        })
    }

    fn drop_database<'a>(&'a self, location: &'a DatabaseLocation) -> BoxFuture<'a, Result<()>> {
        Box::pin(async move {
            let admin = admin_connection(&self.admin_url).await?;
            let result = async {
                admin
                    .execute_unprepared(&drop_statement(
                        admin.get_database_backend(),
                        &location.name,
                    ))
                    .await
                    .context(
                        "server admin",
                        format!("dropping database {}", location.name),
                    )?;
                registry::forget(&admin, &location.name).await
            }
            .await;
            let _ = admin.close().await;
            if result.is_ok() {
                self.created().retain(|n| *n != location.name);
            }
            result
        })
    }

    fn release(&self, keep: bool) -> BoxFuture<'_, Result<()>> {
        Box::pin(async move {
            let names = std::mem::take(&mut *self.created());
            if !keep || names.is_empty() {
                return Ok(());
            }
            let admin = admin_connection(&self.admin_url).await?;
            let result = registry::mark_kept(&admin, &names).await;
            let _ = admin.close().await;
            result
        })
    }

    fn configure(&self, options: &mut ConnectOptions) {
        // Few connections per database, closed soon when idle: many tests share one server.
        options
            .max_connections(2)
            .min_connections(0)
            .idle_timeout(SERVER_IDLE);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_point_at_each_database() {
        assert_eq!(
            url_for("postgres://postgres@127.0.0.1:5432/postgres", Some("pt_x")).unwrap(),
            "postgres://postgres@127.0.0.1:5432/pt_x"
        );
        assert_eq!(
            url_for(
                "mariadb://root@127.0.0.1:3306/test?ssl-mode=disabled",
                Some("pt_y")
            )
            .unwrap(),
            "mysql://root@127.0.0.1:3306/pt_y?ssl-mode=disabled"
        );
        assert!(kind_of("sqlite://x").is_err());
    }
}
