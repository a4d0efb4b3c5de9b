//! Looking at a database server from the outside, for the server-backend suite.

use sea_orm::{ConnectionTrait, Database, DbBackend, Statement};

/// The server of this run: `PERSIST_TEST_DATABASE_URL` when it names PostgreSQL or MySQL.
pub fn server_url() -> Option<String> {
    std::env::var("PERSIST_TEST_DATABASE_URL")
        .ok()
        .filter(|url| {
            ["postgres://", "postgresql://", "mysql://", "mariadb://"]
                .iter()
                .any(|s| url.starts_with(s))
        })
}

/// The test databases (`pt_…`) that exist on the server.
pub async fn test_databases(url: &str) -> Vec<String> {
    let url = url.replacen("mariadb://", "mysql://", 1);
    let db = Database::connect(url.as_str()).await.unwrap();
    let backend = db.get_database_backend();
    let sql = match backend {
        DbBackend::Postgres => {
            "SELECT datname::text AS name FROM pg_database WHERE datname LIKE 'pt\\_%'"
        }
        _ => {
            "SELECT schema_name AS name FROM information_schema.schemata WHERE schema_name LIKE 'pt\\_%'"
        }
    };
    let rows = db
        .query_all_raw(Statement::from_string(backend, sql))
        .await
        .unwrap();
    let names = rows
        .iter()
        .map(|r| r.try_get::<String>("", "name").unwrap())
        .collect();
    db.close().await.unwrap();
    names
}

/// Every registry row, as `(name, kind, state, pool key)`.
async fn registry(url: &str) -> Vec<(String, String, String, String)> {
    let url = url.replacen("mariadb://", "mysql://", 1);
    let db = Database::connect(url.as_str()).await.unwrap();
    let backend = db.get_database_backend();
    let rows = db
        .query_all_raw(Statement::from_string(
            backend,
            "SELECT db_name, kind, state, pool_key FROM persist_test_databases",
        ))
        .await
        .unwrap();
    let text = |r: &sea_orm::QueryResult, c: &str| r.try_get::<String>("", c).unwrap();
    let found = rows
        .iter()
        .map(|r| {
            let (name, kind) = (text(r, "db_name"), text(r, "kind"));
            (name, kind, text(r, "state"), text(r, "pool_key"))
        })
        .collect();
    db.close().await.unwrap();
    found
}

/// Registry rows for the given databases, as `(name, state)`.
pub async fn registry_rows(url: &str, names: &[String]) -> Vec<(String, String)> {
    registry(url)
        .await
        .into_iter()
        .filter(|(name, ..)| names.contains(name))
        .map(|(name, _, state, _)| (name, state))
        .collect()
}

/// Registry rows for the given databases once none is passing through another process's
/// hands: a database being dropped to keep the server's idle databases within their bound is
/// `claimed` by the process dropping it for a moment. Waits up to five seconds, then returns
/// what it sees (so a database left claimed for good still fails the caller).
pub async fn settled_rows(url: &str, names: &[String]) -> Vec<(String, String)> {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
    loop {
        let rows = registry_rows(url, names).await;
        let moving = rows
            .iter()
            .any(|(_, state)| state == "claimed" || state == "dropping");
        if !moving || std::time::Instant::now() > deadline {
            return rows;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
}

/// Runs one statement on the server's administration database, as a person at a console.
pub async fn run_by_hand(url: &str, sql: &str) {
    let url = url.replacen("mariadb://", "mysql://", 1);
    let db = Database::connect(url.as_str()).await.unwrap();
    db.execute_unprepared(sql).await.unwrap();
    db.close().await.unwrap();
}

/// Drops databases by hand (what a person does with kept ones) and forgets them.
pub async fn drop_by_hand(url: &str, names: &[String]) {
    let url = url.replacen("mariadb://", "mysql://", 1);
    let db = Database::connect(url.as_str()).await.unwrap();
    let backend = db.get_database_backend();
    for name in names {
        let drop = match backend {
            DbBackend::Postgres => format!("DROP DATABASE IF EXISTS \"{name}\" WITH (FORCE)"),
            _ => format!("DROP DATABASE IF EXISTS `{name}`"),
        };
        db.execute_unprepared(&drop).await.unwrap();
        db.execute_raw(Statement::from_sql_and_values(
            backend,
            match backend {
                DbBackend::Postgres => "DELETE FROM persist_test_databases WHERE db_name = $1",
                _ => "DELETE FROM persist_test_databases WHERE db_name = ?",
            },
            [name.clone().into()],
        ))
        .await
        .unwrap();
    }
    db.close().await.unwrap();
}

/// Drops databases by hand and says nothing to the registry: what a person cleaning a server
/// with `DROP DATABASE` alone leaves behind, records naming databases that are gone.
pub async fn drop_leaving_records(url: &str, names: &[String]) {
    let url = url.replacen("mariadb://", "mysql://", 1);
    let db = Database::connect(url.as_str()).await.unwrap();
    for name in names {
        let drop = match db.get_database_backend() {
            DbBackend::Postgres => format!("DROP DATABASE IF EXISTS \"{name}\" WITH (FORCE)"),
            _ => format!("DROP DATABASE IF EXISTS `{name}`"),
        };
        db.execute_unprepared(&drop).await.unwrap();
    }
    db.close().await.unwrap();
}

/// The pool key in a pool database's name (`pt_p_<key>_<id>`).
pub fn pool_key(name: &str) -> Option<&str> {
    name.strip_prefix("pt_p_")?
        .rsplit_once('_')
        .map(|(key, _)| key)
}

/// The idle databases the registry records for the pools of `keys` (ready pool databases and
/// templates), as `(name, kind)`.
pub async fn idle_in_pools(url: &str, keys: &[String]) -> Vec<(String, String)> {
    registry(url)
        .await
        .into_iter()
        .filter(|(_, _, state, key)| state == "ready" && keys.contains(key))
        .map(|(name, kind, ..)| (name, kind))
        .collect()
}

/// Waits until no database of the pools of `keys` is being made, claimed or dropped (a refill
/// made ahead of demand, a test's return), for at most ten seconds.
pub async fn settled_pools(url: &str, keys: &[String]) {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    while std::time::Instant::now() < deadline {
        let moving = registry(url)
            .await
            .into_iter()
            .any(|(_, _, state, key)| keys.contains(&key) && state != "ready");
        if !moving {
            return;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
}

/// A pool of its own for a test that looks at what becomes of its pool databases: the mesh's
/// schemas plus a table named after `tag`, so that no other test (in any process) shares the
/// pool.
pub fn own_pool(
    builder: persist_core::db::ManagerBuilder,
    tag: &'static str,
) -> persist_core::db::ManagerBuilder {
    builder
        .gateway_schema(Tagged {
            tag,
            gateway: persist_core::db::Migrations::new(),
            agents: persist_core::mesh::agent_schema(),
        })
        .agent_schema(Tagged {
            tag,
            gateway: persist_core::db::Migrations::new(),
            agents: persist_core::mesh::agent_schema(),
        })
}

struct Tagged {
    tag: &'static str,
    gateway: persist_core::db::Migrations<migration::Migrator>,
    agents: persist_core::db::EntitySchema,
}

impl Tagged {
    async fn tag_table(&self, db: &sea_orm::DatabaseConnection) -> Result<(), sea_orm::DbErr> {
        db.execute_unprepared(&format!(
            "CREATE TABLE pool_tag_{} (id INTEGER PRIMARY KEY)",
            self.tag
        ))
        .await
        .map(|_| ())
    }
}

impl persist_core::db::GatewaySchema for Tagged {
    fn migrate<'a>(
        &'a self,
        db: &'a sea_orm::DatabaseConnection,
    ) -> futures::future::BoxFuture<'a, Result<(), sea_orm::DbErr>> {
        Box::pin(async move {
            self.gateway.migrate(db).await?;
            self.tag_table(db).await
        })
    }

    fn migration_names(&self) -> Vec<String> {
        self.gateway.migration_names()
    }
}

impl persist_core::db::AgentSchema for Tagged {
    fn create<'a>(
        &'a self,
        db: &'a sea_orm::DatabaseConnection,
    ) -> futures::future::BoxFuture<'a, Result<(), sea_orm::DbErr>> {
        Box::pin(async move {
            self.agents.create(db).await?;
            self.tag_table(db).await
        })
    }

    fn tables(&self) -> Vec<String> {
        let mut tables = self.agents.tables();
        tables.push(format!("pool_tag_{}", self.tag));
        tables
    }
}

/// Makes a database on the server refuse `DROP DATABASE` for as long as it lives, and undoes
/// it when dropped, on a panic too: a test that makes a database undroppable never leaves it
/// so for the runs after it.
///
/// PostgreSQL refuses to drop a template database; MySQL/MariaDB waits for the lock another
/// session holds on one of its tables (here, `LOCK TABLES … READ` from a session in the
/// administration database, which nothing that ends a database's own sessions ends), and the
/// framework's drop gives up after its short lock wait.
pub struct Undroppable {
    url: String,
    name: String,
    runtime: tokio::runtime::Runtime,
    lock: Option<sea_orm::sqlx::MySqlConnection>,
}

impl Undroppable {
    /// Makes database `name` undroppable; it must hold a table on MySQL/MariaDB.
    pub fn new(url: &str, name: &str) -> Self {
        use sea_orm::sqlx::Connection as _;
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        let url = url.replacen("mariadb://", "mysql://", 1);
        let lock = if url.starts_with("postgres") {
            runtime.block_on(run_by_hand(
                &url,
                &format!("ALTER DATABASE \"{name}\" IS_TEMPLATE true"),
            ));
            None
        } else {
            runtime.block_on(async {
                let mut conn = sea_orm::sqlx::MySqlConnection::connect(&url).await.unwrap();
                let table: (String,) = sea_orm::sqlx::query_as(
                    "SELECT CAST(TABLE_NAME AS CHAR) FROM information_schema.TABLES \
                     WHERE TABLE_SCHEMA = ? ORDER BY TABLE_NAME LIMIT 1",
                )
                .bind(name)
                .fetch_one(&mut conn)
                .await
                .unwrap_or_else(|e| panic!("{name} holds no table to lock: {e}"));
                let lock = format!("LOCK TABLES `{name}`.`{}` READ", table.0);
                sea_orm::sqlx::raw_sql(sea_orm::sqlx::AssertSqlSafe(lock))
                    .execute(&mut conn)
                    .await
                    .unwrap();
                Some(conn)
            })
        };
        Undroppable {
            url,
            name: name.to_owned(),
            runtime,
            lock,
        }
    }
}

impl Drop for Undroppable {
    fn drop(&mut self) {
        use sea_orm::sqlx::Connection as _;
        let (url, name) = (self.url.clone(), self.name.clone());
        match self.lock.take() {
            Some(conn) => {
                let _ = self.runtime.block_on(conn.close());
            }
            None => self.runtime.block_on(async {
                // It may be gone already; a failure here must not hide the test's own.
                let Ok(db) = Database::connect(url.as_str()).await else {
                    return;
                };
                let _ = db
                    .execute_unprepared(&format!("ALTER DATABASE \"{name}\" IS_TEMPLATE false"))
                    .await;
                let _ = db.close().await;
            }),
        }
    }
}

/// Ends, from outside, the server session that holds the owner lock of database `name`'s
/// owner (what a server restart, a proxy's idle timeout or a person's `KILL` does to a live
/// test's session); `true` if there was one.
pub async fn end_owner_session(url: &str, name: &str) -> bool {
    let url = url.replacen("mariadb://", "mysql://", 1);
    let db = Database::connect(url.as_str()).await.unwrap();
    let backend = db.get_database_backend();
    let ended = match backend {
        DbBackend::Postgres => {
            let sql = "SELECT pg_terminate_backend(l.pid) AS ended FROM pg_catalog.pg_locks l \
                       JOIN persist_test_databases r \
                       ON ((l.classid::bigint << 32) | l.objid::bigint) = r.owner \
                       WHERE l.locktype = 'advisory' AND l.granted AND l.objsubid = 1 \
                       AND r.db_name = $1";
            db.query_one_raw(Statement::from_sql_and_values(backend, sql, [name.into()]))
                .await
                .unwrap()
                .is_some_and(|row| row.try_get::<bool>("", "ended").unwrap_or(false))
        }
        _ => {
            let sql = "SELECT CAST(IS_USED_LOCK(CONCAT('persist_owner_', owner)) AS SIGNED) AS id \
                       FROM persist_test_databases WHERE db_name = ?";
            let id = db
                .query_one_raw(Statement::from_sql_and_values(backend, sql, [name.into()]))
                .await
                .unwrap()
                .and_then(|row| row.try_get::<Option<i64>>("", "id").ok().flatten());
            match id {
                Some(id) => db
                    .execute_unprepared(&format!("KILL CONNECTION {id}"))
                    .await
                    .is_ok(),
                None => false,
            }
        }
    };
    db.close().await.unwrap();
    ended
}
