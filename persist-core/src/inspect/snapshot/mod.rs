//! Snapshots of what landed: every table of every database of a test, as one text that is the
//! same on every backend and from run to run, for `insta` (the `insta` feature's
//! [`assert_data_snapshot!`](crate::assert_data_snapshot)) or any other comparison.

use std::future::{Future, IntoFuture};

use futures::future::BoxFuture;

use super::CrossDatabaseInspector;
use crate::db::{DatabaseRole, catalog};
use crate::error::{DbContext, PersistError, Result};
use crate::system::Source;
use sea_orm::DatabaseConnection;

mod cells;
mod render;

use cells::Kind;
use render::{DatabaseData, Rule, TableData};

/// The table every gateway migrator keeps its history in: left out of snapshots.
const MIGRATIONS_TABLE: &str = "seaql_migrations";

tokio::task_local! {
    static TEST_SNAPSHOT_NAME: &'static str;
}

/// Runs `body` as the body of the test whose snapshots are named `name`.
pub(crate) async fn named<F: Future>(name: Option<&'static str>, body: F) -> F::Output {
    match name {
        Some(name) => TEST_SNAPSHOT_NAME.scope(name, body).await,
        None => body.await,
    }
}

/// What a test's databases hold, as text: one block per database (the gateway, then each
/// agent), one per table (by name), one per row, one line per column (by name).
///
/// - **The same on every backend**: booleans as `true`/`false`, JSON (and text holding a JSON
///   object or array) with its keys sorted and no spaces, text quoted and escaped, native
///   date-times and numbers alike.
/// - **The same from run to run**: times are `[time]` (native date-time columns, the layout's
///   `created`/`updated` columns, columns named `*_at`, `*_time` or `timestamp`); ids are
///   `[id-1]`, `[id-2]`, … (UUIDs wherever they appear, inside text and JSON too, and the
///   values of the layout's id, session and turn columns), the same id getting the same
///   placeholder in every database, so the links between the gateway and the agents show.
///   Rows are in the order of their values, generated ones aside: a table's row order does not
///   depend on its ids or on when rows were written.
/// - Left out: the migrator's `seaql_migrations` table.
///
/// Take one with [`CrossDatabaseInspector::snapshot`]; compare it with
/// [`assert_data_snapshot!`](crate::assert_data_snapshot) (the `insta` feature) or as text.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DataSnapshot {
    text: String,
    test_name: Option<&'static str>,
}

impl DataSnapshot {
    /// The snapshot's text.
    pub fn text(&self) -> &str {
        &self.text
    }

    /// The path of the running `#[persistence_test]`, as its snapshots are named: the test
    /// function's, with `@case_N` for a case, the same for each backend and transport of a
    /// matrix (so that they share one snapshot); with rstest, each generated test's own.
    /// `None` outside a test's body (in a task it spawned, say).
    pub fn test_name(&self) -> Option<&'static str> {
        self.test_name
    }
}

impl std::fmt::Display for DataSnapshot {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.text)
    }
}

/// Which databases, tables and values a snapshot shows; await it (or call
/// [`take`](Self::take)) for the [`DataSnapshot`].
///
/// Tables are named as in the database; in `redact_id`, `redact_time` and `keep`, `"*"` stands
/// for every table.
///
/// ```
/// # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
/// use persist_core::prelude::*;
/// use persist_core::system::Source;
///
/// let manager = persist_core::mesh::setup(["AgentA"]).await?;
/// let inspector = CrossDatabaseInspector::new(manager.clone());
/// let snapshot = inspector
///     .snapshot()
///     .tables(["sessions", "agent_sessions"])
///     .redact_id("agent_sessions", Source::json("state", "/ticket"))
///     .await?;
/// assert_eq!(snapshot.text(), "gateway\n  sessions: empty\nagent AgentA\n  agent_sessions: empty\n");
/// manager.cleanup().await?;
/// # Ok::<(), persist_core::PersistError>(())
/// # }).unwrap();
/// ```
#[must_use = "a snapshot is taken when awaited"]
pub struct SnapshotBuilder<'a> {
    source: Databases<'a>,
    tables: Option<Vec<String>>,
    databases: Option<Vec<DatabaseRole>>,
    ids: Vec<(String, Source)>,
    times: Vec<(String, Source)>,
    kept: Vec<(String, String)>,
}

/// Where a snapshot's databases come from.
enum Databases<'a> {
    /// A test's, through its inspector (with its layout).
    Inspector(&'a CrossDatabaseInspector),
    /// Databases opened by hand, in the order given (without a layout).
    Opened(&'a [(DatabaseRole, DatabaseConnection)]),
}

impl CrossDatabaseInspector {
    /// A snapshot of what every database holds: see [`DataSnapshot`] and [`SnapshotBuilder`].
    pub fn snapshot(&self) -> SnapshotBuilder<'_> {
        SnapshotBuilder::new(Databases::Inspector(self))
    }
}

/// A snapshot of databases opened by hand, each with the role it plays, rendered as a test's
/// [`CrossDatabaseInspector::snapshot`] renders them, without a system's layout: what
/// `cargo persist snapshot` prints of a kept test's databases.
///
/// ```
/// # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
/// use persist_core::db::DatabaseRole;
/// use sea_orm::ConnectionTrait as _;
///
/// let db = sea_orm::Database::connect("sqlite::memory:").await?;
/// db.execute_unprepared("CREATE TABLE notes (body TEXT); INSERT INTO notes VALUES ('hi')").await?;
/// let opened = [(DatabaseRole::Gateway, db)];
/// let snapshot = persist_core::inspect::snapshot_of(&opened).await?;
/// assert_eq!(snapshot.text(), "gateway\n  notes: 1 row\n    - body: \"hi\"\n");
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// # }).unwrap();
/// ```
pub fn snapshot_of(databases: &[(DatabaseRole, DatabaseConnection)]) -> SnapshotBuilder<'_> {
    SnapshotBuilder::new(Databases::Opened(databases))
}

impl<'a> SnapshotBuilder<'a> {
    fn new(source: Databases<'a>) -> Self {
        SnapshotBuilder {
            source,
            tables: None,
            databases: None,
            ids: Vec::new(),
            times: Vec::new(),
            kept: Vec::new(),
        }
    }

    /// Shows only these tables (in every database that has them).
    pub fn tables<I, S>(mut self, tables: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        self.tables = Some(tables.into_iter().map(Into::into).collect());
        self
    }

    /// Shows only these databases (in this order).
    pub fn databases(mut self, roles: impl IntoIterator<Item = DatabaseRole>) -> Self {
        self.databases = Some(roles.into_iter().collect());
        self
    }

    /// Treats the values of a column (or of a value inside a JSON column) of `table` as
    /// generated ids: each shown as its `[id-N]` placeholder, wherever it appears.
    pub fn redact_id(mut self, table: impl Into<String>, source: impl Into<Source>) -> Self {
        self.ids.push((table.into(), source.into()));
        self
    }

    /// Treats a column (or a value inside a JSON column) of `table` as a time: shown as
    /// `[time]`.
    pub fn redact_time(mut self, table: impl Into<String>, source: impl Into<Source>) -> Self {
        self.times.push((table.into(), source.into()));
        self
    }

    /// Shows a column of `table` as stored, without any redaction (a column named `*_at` that
    /// is not a time, or an id the test chose itself).
    pub fn keep(mut self, table: impl Into<String>, column: impl Into<String>) -> Self {
        self.kept.push((table.into(), column.into()));
        self
    }

    /// Takes the snapshot. An error names a table, database or column that does not exist.
    pub async fn take(self) -> Result<DataSnapshot> {
        let test_name = TEST_SNAPSHOT_NAME.try_with(|name| *name).ok();
        let (opened, layout) = match self.source {
            Databases::Inspector(inspector) => {
                let manager = inspector.manager();
                let roles = match &self.databases {
                    Some(roles) => roles.clone(),
                    None => std::iter::once(DatabaseRole::Gateway)
                        .chain(manager.agent_names().map(DatabaseRole::agent))
                        .collect(),
                };
                let mut opened = Vec::with_capacity(roles.len());
                for role in roles {
                    let db = manager.connection(&role)?;
                    opened.push((role, db));
                }
                (opened, inspector.layout.as_deref())
            }
            Databases::Opened(all) => {
                let opened: Vec<_> = match &self.databases {
                    Some(roles) => roles
                        .iter()
                        .map(|role| {
                            all.iter()
                                .find(|(r, _)| r == role)
                                .map(|(r, db)| (r.clone(), db))
                                .ok_or_else(|| PersistError::InvalidInput {
                                    field: "snapshot",
                                    reason: format!("no database {role} was opened"),
                                })
                        })
                        .collect::<Result<_>>()?,
                    None => all.iter().map(|(r, db)| (r.clone(), db)).collect(),
                };
                (opened, None)
            }
        };
        let mut databases = Vec::new();
        for (role, db) in opened {
            let label = role.to_string();
            let mut tables = Vec::new();
            let mut names = catalog::list_tables(db)
                .await
                .context(&label, "listing tables")?;
            // In byte order: each server sorts by its own collation.
            names.sort();
            for name in names {
                if name == MIGRATIONS_TABLE && self.tables.is_none() {
                    continue;
                }
                if let Some(wanted) = &self.tables
                    && !wanted.contains(&name)
                {
                    continue;
                }
                let schema = catalog::read_table(db, &name)
                    .await
                    .context(&label, format!("reading `{name}`"))?;
                let rows = cells::rows(db, &name, &schema)
                    .await
                    .context(&label, format!("reading `{name}` for a snapshot"))?;
                let columns: Vec<String> = schema.columns.keys().cloned().collect();
                let layout_tables: Vec<&crate::system::Table> = match (layout, &role) {
                    (None, _) => Vec::new(),
                    (Some(l), DatabaseRole::Gateway) => {
                        vec![l.gateway_sessions(), l.gateway_messages()]
                    }
                    (Some(l), DatabaseRole::Agent(agent)) => {
                        vec![l.agent_sessions_of(agent), l.agent_messages_of(agent)]
                    }
                };
                let rules = columns
                    .iter()
                    .map(|column| {
                        self.rule(
                            &name,
                            column,
                            &schema.columns[column].data_type,
                            &layout_tables,
                        )
                    })
                    .collect();
                tables.push(TableData {
                    name,
                    columns,
                    rules,
                    rows,
                });
            }
            databases.push(DatabaseData { label, tables });
        }
        self.check_names(&databases)?;
        Ok(DataSnapshot {
            text: render::render(&databases),
            test_name,
        })
    }

    /// How `column` of `table` is shown.
    fn rule(
        &self,
        table: &str,
        column: &str,
        data_type: &str,
        layout: &[&crate::system::Table],
    ) -> Rule {
        let mine = |t: &String| t == table || t == "*";
        let mut rule = Rule {
            kept: self.kept.iter().any(|(t, c)| mine(t) && c == column),
            ..Rule::default()
        };
        for (wanted, source, times) in self
            .ids
            .iter()
            .map(|(t, s)| (t, s, false))
            .chain(self.times.iter().map(|(t, s)| (t, s, true)))
        {
            if !mine(wanted) || source.column() != column {
                continue;
            }
            match (source.pointer(), times) {
                (None, false) => rule.id = true,
                (None, true) => rule.time = true,
                (Some(p), false) => rule.id_pointers.push(p.to_owned()),
                (Some(p), true) => rule.time_pointers.push(p.to_owned()),
            }
        }
        let kind = Kind::of(data_type);
        let named_like_a_time =
            column.ends_with("_at") || column.ends_with("_time") || column == "timestamp";
        if matches!(kind, Kind::Int | Kind::Float | Kind::Text | Kind::Decimal) && named_like_a_time
        {
            rule.time = true;
        }
        for t in layout.iter().filter(|t| t.name == table) {
            for (time, _) in [&t.created, &t.updated].into_iter().flatten() {
                rule.time |= time == column;
            }
            for source in [&t.id, &t.key, &t.session, &t.agent_session, &t.turn]
                .into_iter()
                .flatten()
                .flat_map(|s| s.leaves())
            {
                // A value inside a message of a list has no place of its own in a column.
                if source.in_item() || source.column() != column {
                    continue;
                }
                match source.pointer() {
                    None => rule.id = true,
                    Some(p) => rule.id_pointers.push(p.to_owned()),
                }
            }
        }
        rule
    }

    /// Every table and column named must exist in a database shown.
    fn check_names(&self, databases: &[DatabaseData]) -> Result<()> {
        let seen = || databases.iter().flat_map(|d| &d.tables);
        let invalid = |reason: String| PersistError::InvalidInput {
            field: "snapshot",
            reason,
        };
        if let Some(wanted) = &self.tables {
            for table in wanted {
                if !seen().any(|t| &t.name == table) {
                    return Err(invalid(format!("no database shown has a table `{table}`")));
                }
            }
        }
        let named = self
            .ids
            .iter()
            .chain(&self.times)
            .map(|(t, s)| (t, s.column()))
            .chain(self.kept.iter().map(|(t, c)| (t, c.as_str())));
        for (table, column) in named {
            let found = seen()
                .filter(|t| table == "*" || &t.name == table)
                .any(|t| t.columns.iter().any(|c| c == column));
            if !found {
                return Err(invalid(format!(
                    "no table `{table}` shown has a column `{column}`"
                )));
            }
        }
        Ok(())
    }
}

impl<'a> IntoFuture for SnapshotBuilder<'a> {
    type Output = Result<DataSnapshot>;
    type IntoFuture = BoxFuture<'a, Result<DataSnapshot>>;

    fn into_future(self) -> Self::IntoFuture {
        Box::pin(self.take())
    }
}

#[cfg(test)]
mod tests {
    use sea_orm::ConnectionTrait as _;

    use super::*;

    /// A database with one `notes` row, `body`.
    async fn with_note(body: &str) -> DatabaseConnection {
        let db = sea_orm::Database::connect("sqlite::memory:").await.unwrap();
        db.execute_unprepared(&format!(
            "CREATE TABLE notes (body TEXT); INSERT INTO notes VALUES ('{body}')"
        ))
        .await
        .unwrap();
        db
    }

    #[tokio::test(flavor = "current_thread")]
    async fn databases_opened_by_hand_are_chosen_by_role() {
        let opened = [
            (DatabaseRole::Gateway, with_note("in the gateway").await),
            (DatabaseRole::agent("Travel"), with_note("for Travel").await),
        ];
        let all = snapshot_of(&opened).await.unwrap();
        assert!(all.text().contains("in the gateway") && all.text().contains("for Travel"));

        // Only the agent asked for, whatever the order they were opened in.
        let agent = snapshot_of(&opened)
            .databases([DatabaseRole::agent("Travel")])
            .await
            .unwrap();
        assert!(
            agent.text().starts_with("agent Travel\n"),
            "{}",
            agent.text()
        );
        assert!(!agent.text().contains("in the gateway"), "{}", agent.text());

        // A role that was not opened is an error naming it, not an empty snapshot.
        let missing = snapshot_of(&opened)
            .databases([DatabaseRole::agent("Billing")])
            .await
            .unwrap_err();
        assert!(missing.to_string().contains("Billing"), "{missing}");
    }
}
