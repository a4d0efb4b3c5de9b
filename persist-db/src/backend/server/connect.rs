//! Connections to a server: URLs, single-connection pools for administration and owners, and the
//! lazy pools a test's databases get.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use sea_orm::{ConnectOptions, Database, DatabaseConnection, DbErr};

use super::{ADMIN, redacted};
use crate::backend::{BackendKind, SERVER_IDLE};
use crate::error::{DbContext, Error, Result};

/// The URL with its scheme the driver's (`mariadb://` is MySQL's protocol) and, if given,
/// another database.
pub(super) fn url_for(admin_url: &str, database: Option<&str>) -> Result<String> {
    let normalized = match admin_url.strip_prefix("mariadb://") {
        Some(rest) => format!("mysql://{rest}"),
        None => admin_url.to_owned(),
    };
    let mut url = url::Url::parse(&normalized).map_err(|e| {
        Error::Backend(format!(
            "invalid database URL {:?}: {e}",
            redacted(admin_url)
        ))
    })?;
    if let Some(database) = database {
        url.set_path(&format!("/{database}"));
    }
    Ok(url.to_string())
}

fn single_connection(url: String) -> ConnectOptions {
    #[cfg(feature = "postgres")]
    let postgres = url.starts_with("postgres");
    #[allow(unused_mut)]
    let mut options = ConnectOptions::new(url);
    #[cfg(feature = "postgres")]
    if postgres {
        // Bookkeeping about test databases need not wait for the disk at each commit.
        options.map_sqlx_postgres_opts(|o| o.options([("synchronous_commit", "off")]));
    }
    options
        .max_connections(1)
        .min_connections(0)
        .idle_timeout(None::<Duration>)
        .max_lifetime(None::<Duration>)
        .connect_timeout(connect_timeout())
        .acquire_timeout(Duration::from_secs(300))
        .sqlx_logging(false);
    options
}

/// How long connecting to a server may take ([`CONNECT_TIMEOUT_ENV`](crate::env::CONNECT_TIMEOUT_ENV)).
pub(crate) fn connect_timeout() -> Duration {
    crate::env::seconds_or_default(&crate::env::CONNECT_TIMEOUT)
}

/// A single-connection pool to the administration database.
pub(crate) async fn admin_connection(admin_url: &str) -> Result<DatabaseConnection> {
    Database::connect(single_connection(url_for(admin_url, None)?))
        .await
        .context(ADMIN, format!("connecting to {}", redacted(admin_url)))
}

/// A single-connection pool to database `name` on the server.
pub(crate) async fn admin_connection_to(admin_url: &str, name: &str) -> Result<DatabaseConnection> {
    Database::connect(single_connection(url_for(admin_url, Some(name))?))
        .await
        .context(name, "connecting")
}
/// A pool that connects on first use and notes that it did: a database its test never
/// touched needs no reset. Few connections per database, closed soon when idle: many tests
/// share one server.
pub(super) fn lazy_pool(
    kind: BackendKind,
    url: &str,
    touched: Arc<AtomicBool>,
    connections: u32,
) -> std::result::Result<DatabaseConnection, DbErr> {
    #[cfg(feature = "mysql")]
    use sea_orm::sqlx::mysql::{MySqlConnectOptions, MySqlPoolOptions};
    #[cfg(feature = "postgres")]
    use sea_orm::sqlx::postgres::{PgConnectOptions, PgPoolOptions};
    use std::str::FromStr as _;
    let invalid =
        |e: sea_orm::sqlx::Error| DbErr::Conn(sea_orm::RuntimeErr::Internal(e.to_string()));
    macro_rules! pool {
        ($options:ty) => {{
            let flag = touched.clone();
            <$options>::new()
                .max_connections(connections)
                .min_connections(0)
                .idle_timeout(SERVER_IDLE)
                .acquire_timeout(Duration::from_secs(30))
                .after_connect(move |_, _| {
                    flag.store(true, Ordering::SeqCst);
                    Box::pin(async { Ok(()) })
                })
        }};
    }
    match kind {
        #[cfg(feature = "postgres")]
        BackendKind::Postgres => {
            // A test's commits need not wait for the disk: the data is thrown away after.
            let options = crate::logging::statement_logging(
                PgConnectOptions::from_str(url)
                    .map_err(invalid)?
                    .options([("synchronous_commit", "off")]),
            );
            let pool = pool!(PgPoolOptions).connect_lazy_with(options);
            Ok(sea_orm::SqlxPostgresConnector::from_sqlx_postgres_pool(
                pool,
            ))
        }
        #[cfg(feature = "mysql")]
        BackendKind::MySql => {
            let options = crate::logging::statement_logging(
                MySqlConnectOptions::from_str(url).map_err(invalid)?,
            );
            let pool = pool!(MySqlPoolOptions).connect_lazy_with(options);
            Ok(sea_orm::SqlxMySqlConnector::from_sqlx_mysql_pool(pool))
        }
        #[allow(unreachable_patterns)]
        other => Err(DbErr::Conn(sea_orm::RuntimeErr::Internal(
            crate::backend::missing_driver(other).to_string(),
        ))),
    }
}
