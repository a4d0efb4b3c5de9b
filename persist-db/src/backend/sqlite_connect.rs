//! Opening SQLite test databases: pools that connect on first use, and a first connection
//! opened ahead.

use std::time::Duration;

use sea_orm::{DatabaseConnection, DbErr};

/// A pool for a SQLite database that opens its connections on first use: a test pays only for
/// the databases it touches, and a database just copied from a template cannot fail to open.
pub(crate) fn lazy_sqlite(
    url: &str,
    sync_off: bool,
    connections: u32,
) -> Result<DatabaseConnection, DbErr> {
    use sea_orm::sqlx::sqlite::{SqliteConnectOptions, SqlitePoolOptions, SqliteSynchronous};
    use std::str::FromStr as _;
    let mut options = crate::logging::statement_logging(
        SqliteConnectOptions::from_str(url)
            .map_err(|e| DbErr::Conn(sea_orm::RuntimeErr::Internal(e.to_string())))?,
    );
    if sync_off {
        options = options.synchronous(SqliteSynchronous::Off);
    }
    let pool = SqlitePoolOptions::new()
        .max_connections(connections)
        .min_connections(0)
        .acquire_timeout(Duration::from_secs(30))
        // A connection to a local file cannot go stale: no ping before each query.
        .test_before_acquire(false)
        .connect_lazy_with(options);
    Ok(sea_orm::SqlxSqliteConnector::from_sqlx_sqlite_pool(pool))
}

/// Starts opening `db`'s first connection without waiting for it: the opening runs on the
/// driver's own thread, alongside the other databases' and the test's setup, and the test's
/// first query finds it open (or waits only for the rest). Outside a Tokio runtime, or if the
/// opening fails, nothing happens: the first query opens it (and reports the error).
pub(crate) fn connect_ahead(db: &DatabaseConnection) {
    if let Ok(runtime) = tokio::runtime::Handle::try_current() {
        let pool = db.get_sqlite_connection_pool().clone();
        runtime.spawn(async move { drop(pool.acquire().await) });
    }
}
