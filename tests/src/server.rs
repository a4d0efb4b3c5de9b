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

/// Registry rows for the given databases, as `(name, state)`.
pub async fn registry_rows(url: &str, names: &[String]) -> Vec<(String, String)> {
    let url = url.replacen("mariadb://", "mysql://", 1);
    let db = Database::connect(url.as_str()).await.unwrap();
    let backend = db.get_database_backend();
    let rows = db
        .query_all_raw(Statement::from_string(
            backend,
            "SELECT db_name, state FROM persist_test_databases",
        ))
        .await
        .unwrap();
    let found = rows
        .iter()
        .map(|r| {
            (
                r.try_get::<String>("", "db_name").unwrap(),
                r.try_get::<String>("", "state").unwrap(),
            )
        })
        .filter(|(name, _)| names.contains(name))
        .collect();
    db.close().await.unwrap();
    found
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
            agents: persist_core::db::EntitySchema::mesh_agents(),
        })
        .agent_schema(Tagged {
            tag,
            gateway: persist_core::db::Migrations::new(),
            agents: persist_core::db::EntitySchema::mesh_agents(),
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
