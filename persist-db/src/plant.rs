//! Writing behind a system's back: the rows a fault test plants, past the foreign keys that
//! would refuse them, on any backend.

use sea_orm::sea_query::{Alias, Query};
use sea_orm::{ConnectionTrait, DatabaseConnection, DbBackend, Statement, StatementBuilder, Value};

use super::{DatabaseRole, MultiDatabaseManager};
use crate::error::{DbContext, Error, Result};

/// The statement that turns a connection's foreign-key checks off.
fn checks_off(backend: DbBackend) -> &'static str {
    match backend {
        DbBackend::Sqlite => "PRAGMA foreign_keys = OFF",
        // Triggers, foreign keys among them, do not fire for a replica (needs a superuser).
        DbBackend::Postgres => "SET session_replication_role = replica",
        _ => "SET FOREIGN_KEY_CHECKS = 0",
    }
}

impl MultiDatabaseManager {
    /// A connection of its own to `role`'s database whose foreign-key checks are off (what
    /// planting a fault past the schema needs), as used by
    /// [`insert_unchecked`](Self::insert_unchecked) and
    /// [`execute_unchecked`](Self::execute_unchecked).
    pub async fn unchecked_connection(&self, role: &DatabaseRole) -> Result<DatabaseConnection> {
        let db = self.connect_one(role).await?;
        let backend = db.get_database_backend();
        let off = db
            .execute_raw(Statement::from_string(backend, checks_off(backend)))
            .await
            .context(
                role.to_string(),
                "turning foreign-key checks off (PostgreSQL needs a superuser for it)",
            );
        if let Err(error) = off {
            let _ = db.close().await;
            return Err(error);
        }
        Ok(db)
    }

    /// Runs `statement` (any sea-query statement: insert, update, delete) on `role`'s
    /// database past its foreign keys, on a connection of its own: how a test plants a row
    /// the schema would refuse, like a message whose session does not exist. Returns the
    /// rows affected.
    pub async fn execute_unchecked<S: StatementBuilder>(
        &self,
        role: &DatabaseRole,
        statement: &S,
    ) -> Result<u64> {
        let db = self.unchecked_connection(role).await?;
        let result = db
            .execute(statement)
            .await
            .map(|r| r.rows_affected())
            .context(role.to_string(), "writing past foreign keys");
        let _ = db.close().await;
        result
    }

    /// Inserts one row into `table` of `role`'s database, past its foreign keys (see
    /// [`execute_unchecked`](Self::execute_unchecked)). Values are any [`sea_orm::Value`]:
    /// text, numbers, JSON, times.
    ///
    /// ```
    /// # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
    /// use persist_db::{DatabaseRole, MultiDatabaseManager, NumberedMigrations};
    ///
    /// let manager = MultiDatabaseManager::builder()
    ///     .agents(["AgentA"])
    ///     .gateway_schema(NumberedMigrations::new("migrations").step("CREATE TABLE sessions (id TEXT)"))
    ///     .agent_schema(NumberedMigrations::new("migrations").step(
    ///         "CREATE TABLE agent_sessions (id TEXT PRIMARY KEY); \
    ///          CREATE TABLE agent_messages (id TEXT PRIMARY KEY, content TEXT, \
    ///          session_id TEXT NOT NULL REFERENCES agent_sessions (id))",
    ///     ))
    ///     .setup()
    ///     .await?;
    /// // A message of a session that does not exist: the foreign key would refuse it.
    /// manager
    ///     .insert_unchecked(
    ///         &DatabaseRole::agent("AgentA"),
    ///         "agent_messages",
    ///         [
    ///             ("id", "m-1".into()),
    ///             ("session_id", "no-such-session".into()),
    ///             ("content", "hello".into()),
    ///         ],
    ///     )
    ///     .await?;
    /// manager.cleanup().await?;
    /// # Ok::<(), persist_db::Error>(())
    /// # }).unwrap();
    /// ```
    pub async fn insert_unchecked<'a>(
        &self,
        role: &DatabaseRole,
        table: &str,
        row: impl IntoIterator<Item = (&'a str, Value)>,
    ) -> Result<()> {
        let (columns, values): (Vec<&str>, Vec<Value>) = row.into_iter().unzip();
        if columns.is_empty() {
            return Err(Error::InvalidInput {
                field: "row",
                reason: format!("a row for `{table}` needs at least one column"),
            });
        }
        let mut insert = Query::insert();
        insert
            .into_table(Alias::new(table))
            .columns(columns.iter().map(|c| Alias::new(*c)));
        insert
            .values(values.into_iter().map(Into::into))
            .map_err(|e| Error::InvalidInput {
                field: "row",
                reason: e.to_string(),
            })?;
        self.execute_unchecked(role, &insert).await.map(drop)
    }
}
