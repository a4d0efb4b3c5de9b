//! Schemas that migrate: a SeaORM migrator, or a store's own numbered migrations (the way
//! LangGraph's checkpointer keeps `checkpoint_migrations`), driven one step at a time by the
//! framework and the migration checks alike.

use std::fmt;
use std::sync::Arc;

use futures::future::BoxFuture;
use sea_orm::{ConnectionTrait, DatabaseConnection, DbBackend, DbErr, Statement};
use sea_orm_migration::MigratorTrait;

use super::schema::{AgentSchema, Migrations};

/// Migrations as the framework drives them, step by step: what the architecture checks read
/// (which steps a database records) and what the migration checks run (round trips,
/// upgrades). [`Migrations`] (any SeaORM migrator) and [`NumberedMigrations`] (a store's
/// own numbered steps) are migrators; an agent schema that is one says so with
/// [`AgentSchema::migrator`].
pub trait Migrator: Send + Sync + 'static {
    /// The table that records applied migrations.
    fn table(&self) -> String;

    /// The column of [`table`](Self::table) that names each applied migration.
    fn column(&self) -> String {
        "version".to_owned()
    }

    /// Every migration's name as the table records it, in order.
    fn names(&self) -> Vec<String>;

    /// Applies the next `steps` pending migrations (every one with `None`).
    fn up<'a>(
        &'a self,
        db: &'a DatabaseConnection,
        steps: Option<u32>,
    ) -> BoxFuture<'a, Result<(), DbErr>>;

    /// Rolls back the last `steps` applied migrations (every one with `None`); an error for
    /// migrations that have no way down.
    fn down<'a>(
        &'a self,
        db: &'a DatabaseConnection,
        steps: Option<u32>,
    ) -> BoxFuture<'a, Result<(), DbErr>>;
}

impl<M: MigratorTrait + 'static> Migrator for Migrations<M> {
    fn table(&self) -> String {
        M::migration_table_name().to_string()
    }

    fn names(&self) -> Vec<String> {
        M::migrations()
            .iter()
            .map(|m| m.name().to_owned())
            .collect()
    }

    fn up<'a>(
        &'a self,
        db: &'a DatabaseConnection,
        steps: Option<u32>,
    ) -> BoxFuture<'a, Result<(), DbErr>> {
        Box::pin(M::up(db, steps))
    }

    fn down<'a>(
        &'a self,
        db: &'a DatabaseConnection,
        steps: Option<u32>,
    ) -> BoxFuture<'a, Result<(), DbErr>> {
        Box::pin(M::down(db, steps))
    }
}

/// A SeaORM migrator as an agent's schema: an agent whose store migrates itself.
impl<M: MigratorTrait + 'static> AgentSchema for Migrations<M> {
    fn create<'a>(&'a self, db: &'a DatabaseConnection) -> BoxFuture<'a, Result<(), DbErr>> {
        Box::pin(M::up(db, None))
    }

    /// Not known before it runs: what the migrations build.
    fn tables(&self) -> Vec<String> {
        Vec::new()
    }

    fn process_key(&self) -> Option<String> {
        Some(format!("migrations:{}", std::any::type_name::<M>()))
    }

    fn migrator(&self) -> Option<&dyn Migrator> {
        Some(self)
    }
}

/// One step's statements for a backend.
type Sql = Arc<dyn Fn(DbBackend) -> String + Send + Sync>;

#[derive(Clone)]
struct Step {
    up: Sql,
    down: Option<Sql>,
}

/// A store's own numbered migrations: steps numbered from 0, each recorded in a table of
/// applied versions once it ran (LangGraph's checkpointer keeps them as
/// `checkpoint_migrations (v INTEGER PRIMARY KEY)`). Applying them creates that table if it is
/// missing, reads the highest version recorded, and runs every later step in order, each
/// recording its number. As an [`AgentSchema`], an agent database is migrated by them.
///
/// A step is the same SQL on every backend ([`step`](Self::step)), or written per backend
/// ([`step_for`](Self::step_for)) where a store's DDL is one server's (`JSONB`, `BYTEA`);
/// several statements may be separated by `;`. A step may have a way down
/// ([`step_with_down`](Self::step_with_down)); without one, a round trip check says so.
///
/// ```
/// use persist_db::{AgentSchema, Migrator, NumberedMigrations};
/// use sea_orm::DbBackend;
///
/// let store = NumberedMigrations::new("checkpoint_migrations")
///     .step("CREATE TABLE IF NOT EXISTS checkpoint_migrations (v INTEGER PRIMARY KEY)")
///     .step_for(|backend| match backend {
///         DbBackend::Postgres => "CREATE TABLE checkpoints (thread_id TEXT NOT NULL, \
///             checkpoint_id TEXT NOT NULL, checkpoint JSONB NOT NULL, \
///             PRIMARY KEY (thread_id, checkpoint_id))".to_owned(),
///         // MariaDB cannot key a TEXT column, and has no JSONB.
///         _ => "CREATE TABLE checkpoints (thread_id VARCHAR(255) NOT NULL, \
///             checkpoint_id VARCHAR(255) NOT NULL, checkpoint JSON NOT NULL, \
///             PRIMARY KEY (thread_id, checkpoint_id))".to_owned(),
///     })
///     .creates(["checkpoints"]);
/// assert_eq!(store.names(), ["0", "1"]);
/// assert_eq!(store.table(), "checkpoint_migrations");
/// assert_eq!(store.column(), "v");
/// assert_eq!(store.tables(), ["checkpoints"]);
/// ```
#[derive(Clone)]
pub struct NumberedMigrations {
    table: String,
    column: String,
    steps: Vec<Step>,
    tables: Vec<String>,
}

impl NumberedMigrations {
    /// Migrations recorded in `table`, one row per applied step in its column `v`.
    pub fn new(table: impl Into<String>) -> Self {
        NumberedMigrations {
            table: table.into(),
            column: "v".to_owned(),
            steps: Vec::new(),
            tables: Vec::new(),
        }
    }

    /// Names the column that records each applied step (default `v`).
    pub fn version_column(mut self, column: impl Into<String>) -> Self {
        self.column = column.into();
        self
    }

    /// Adds a step: the same SQL on every backend.
    pub fn step(self, sql: impl Into<String>) -> Self {
        let sql = sql.into();
        self.step_for(move |_| sql.clone())
    }

    /// Adds a step written for each backend.
    pub fn step_for(mut self, sql: impl Fn(DbBackend) -> String + Send + Sync + 'static) -> Self {
        self.steps.push(Step {
            up: Arc::new(sql),
            down: None,
        });
        self
    }

    /// Adds a step with its way down, both the same SQL on every backend.
    pub fn step_with_down(mut self, up: impl Into<String>, down: impl Into<String>) -> Self {
        let (up, down) = (up.into(), down.into());
        self.steps.push(Step {
            up: Arc::new(move |_| up.clone()),
            down: Some(Arc::new(move |_| down.clone())),
        });
        self
    }

    /// The tables the steps build, for the architecture checks (a table missing from an agent
    /// database is reported; [`AgentSchema::tables`] returns them).
    pub fn creates<I, S>(mut self, tables: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        self.tables = tables.into_iter().map(Into::into).collect();
        self
    }

    fn quoted(&self, backend: DbBackend) -> (String, String) {
        let quote = |name: &str| match backend {
            DbBackend::MySql => format!("`{}`", name.replace('`', "``")),
            _ => format!("\"{}\"", name.replace('"', "\"\"")),
        };
        (quote(&self.table), quote(&self.column))
    }

    /// The versions recorded, after making sure the table is there.
    async fn recorded(&self, db: &DatabaseConnection) -> Result<Vec<i64>, DbErr> {
        let backend = db.get_database_backend();
        let (table, column) = self.quoted(backend);
        db.execute_unprepared(&format!(
            "CREATE TABLE IF NOT EXISTS {table} ({column} INTEGER PRIMARY KEY)"
        ))
        .await?;
        let rows = db
            .query_all_raw(Statement::from_string(
                backend,
                format!("SELECT {column} AS v FROM {table} ORDER BY {column}"),
            ))
            .await?;
        rows.iter()
            .map(|row| {
                row.try_get::<i64>("", "v")
                    .or_else(|_| row.try_get::<i32>("", "v").map(i64::from))
            })
            .collect()
    }

    async fn run(&self, db: &DatabaseConnection, sql: &Sql, what: &str) -> Result<(), DbErr> {
        let backend = db.get_database_backend();
        for statement in (sql)(backend).split(';').map(str::trim) {
            if !statement.is_empty() {
                db.execute_unprepared(statement)
                    .await
                    .map_err(|e| DbErr::Migration(format!("{} {what}: {e}", self.table)))?;
            }
        }
        Ok(())
    }
}

impl fmt::Debug for NumberedMigrations {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("NumberedMigrations")
            .field("table", &self.table)
            .field("column", &self.column)
            .field("steps", &self.steps.len())
            .field("tables", &self.tables)
            .finish()
    }
}

impl Migrator for NumberedMigrations {
    fn table(&self) -> String {
        self.table.clone()
    }

    fn column(&self) -> String {
        self.column.clone()
    }

    fn names(&self) -> Vec<String> {
        (0..self.steps.len()).map(|v| v.to_string()).collect()
    }

    fn up<'a>(
        &'a self,
        db: &'a DatabaseConnection,
        steps: Option<u32>,
    ) -> BoxFuture<'a, Result<(), DbErr>> {
        Box::pin(async move {
            let backend = db.get_database_backend();
            let (table, column) = self.quoted(backend);
            let next = self.recorded(db).await?.last().map_or(0, |v| v + 1);
            let next = usize::try_from(next).unwrap_or(0);
            let last = match steps {
                Some(n) => (next + n as usize).min(self.steps.len()),
                None => self.steps.len(),
            };
            for (v, step) in self.steps.iter().enumerate().take(last).skip(next) {
                self.run(db, &step.up, &format!("step {v}")).await?;
                db.execute_unprepared(&format!("INSERT INTO {table} ({column}) VALUES ({v})"))
                    .await?;
            }
            Ok(())
        })
    }

    fn down<'a>(
        &'a self,
        db: &'a DatabaseConnection,
        steps: Option<u32>,
    ) -> BoxFuture<'a, Result<(), DbErr>> {
        Box::pin(async move {
            let backend = db.get_database_backend();
            let (table, column) = self.quoted(backend);
            let mut recorded = self.recorded(db).await?;
            recorded.reverse();
            let take = steps.map_or(recorded.len(), |n| n as usize);
            for v in recorded.into_iter().take(take) {
                let step = usize::try_from(v)
                    .ok()
                    .and_then(|v| self.steps.get(v))
                    .ok_or_else(|| {
                        DbErr::Migration(format!(
                            "{} records step {v}, which it does not have",
                            self.table
                        ))
                    })?;
                let down = step.down.as_ref().ok_or_else(|| {
                    DbErr::Migration(format!("{} step {v} has no way down", self.table))
                })?;
                self.run(db, down, &format!("step {v} down")).await?;
                db.execute_unprepared(&format!("DELETE FROM {table} WHERE {column} = {v}"))
                    .await?;
            }
            Ok(())
        })
    }
}

impl AgentSchema for NumberedMigrations {
    fn create<'a>(&'a self, db: &'a DatabaseConnection) -> BoxFuture<'a, Result<(), DbErr>> {
        self.up(db, None)
    }

    fn tables(&self) -> Vec<String> {
        self.tables.clone()
    }

    fn migrator(&self) -> Option<&dyn Migrator> {
        Some(self)
    }
}

/// A gateway whose schema is a list of numbered SQL steps rather than a SeaORM migrator.
impl crate::GatewaySchema for NumberedMigrations {
    fn migrate<'a>(&'a self, db: &'a DatabaseConnection) -> BoxFuture<'a, Result<(), DbErr>> {
        self.up(db, None)
    }

    fn migration_names(&self) -> Vec<String> {
        self.names()
    }

    fn migration_table(&self) -> String {
        self.table.clone()
    }

    fn migrator(&self) -> Option<&dyn Migrator> {
        Some(self)
    }
}
