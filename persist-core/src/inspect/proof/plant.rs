//! Planting one fault through a layout, and undoing it: every row a fault touches is first
//! copied aside in its own database (`CREATE TABLE … AS SELECT`), and put back from there
//! after, so nothing is decoded and nothing is lost whatever the column types.

use sea_orm::{ConnectionTrait, DatabaseConnection, DbBackend, Statement, Value};

use super::Fault;
use crate::db::DatabaseRole;
use crate::error::{DbContext, Result};
use crate::inspect::CrossDatabaseInspector;
use crate::inspect::read::json;
use crate::system::layout::Repr;
use crate::system::{Source, Table};

/// Where touched rows are kept until they are put back.
pub(super) const BACKUP: &str = "persist_proof_backup";
/// Where a copy is made before it is inserted.
pub(super) const COPY: &str = "persist_proof_copy";
/// A session no gateway has.
pub(super) const NOWHERE: &str = "persist-proof-orphan";

/// What puts the data back: statements on one agent database.
pub(super) struct Undo {
    role: DatabaseRole,
    statements: Vec<String>,
}

impl Undo {
    pub(super) async fn run(self, inspector: &CrossDatabaseInspector) -> Result<()> {
        let db = inspector.manager().unchecked_connection(&self.role).await?;
        let result = async {
            for sql in &self.statements {
                db.execute_unprepared(sql)
                    .await
                    .context(self.role.to_string(), "putting planted data back")?;
            }
            Ok(())
        }
        .await;
        let _ = db.close().await;
        result
    }
}

/// SQL text for one database.
pub(super) struct Sql(pub(super) DbBackend);

impl Sql {
    pub(super) fn id(&self, name: &str) -> String {
        match self.0 {
            DbBackend::MySql => format!("`{}`", name.replace('`', "``")),
            _ => format!("\"{}\"", name.replace('"', "\"\"")),
        }
    }

    pub(super) fn text(&self, value: &str) -> String {
        let value = value.replace('\'', "''");
        match self.0 {
            DbBackend::MySql => format!("'{}'", value.replace('\\', "\\\\")),
            _ => format!("'{value}'"),
        }
    }

    /// `column`, read as text.
    pub(super) fn as_text(&self, column: &str) -> String {
        let text = if self.0 == DbBackend::MySql {
            "CHAR"
        } else {
            "TEXT"
        };
        format!("CAST({} AS {text})", self.id(column))
    }

    /// `column`, compared as text with `value`.
    pub(super) fn is(&self, column: &str, value: &str) -> String {
        format!("{} = {}", self.as_text(column), self.text(value))
    }

    pub(super) fn param(&self) -> &'static str {
        if self.0 == DbBackend::Postgres {
            "$1"
        } else {
            "?"
        }
    }
}

/// What a fault needs from a test's data, for one agent.
pub(super) struct Scene {
    /// A session of the agent with two turns, and another session of its user.
    pub(super) first: Option<String>,
    pub(super) second: Option<String>,
    /// A session of the agent of another user.
    pub(super) other_user: Option<String>,
    /// Another agent, and one of its sessions with messages.
    pub(super) other_agent: Option<(String, String)>,
}

async fn scene(inspector: &CrossDatabaseInspector, agent: &str) -> Result<Scene> {
    let sessions: Vec<_> = inspector
        .all_gateway_sessions()
        .await?
        .into_iter()
        .filter(|s| s.agent_name == agent)
        .collect();
    let mut first = None;
    for session in &sessions {
        let history = inspector.agent_messages(agent, Some(&session.id)).await?;
        let roles: Vec<&str> = history.iter().take(4).map(|m| m.role.as_str()).collect();
        if roles == ["user", "assistant", "user", "assistant"] {
            first = Some(session.clone());
            break;
        }
    }
    let second = first.as_ref().and_then(|f| {
        sessions
            .iter()
            .find(|s| s.user_id == f.user_id && s.id != f.id)
            .map(|s| s.id.clone())
    });
    let other_user = first.as_ref().and_then(|f| {
        sessions
            .iter()
            .find(|s| s.user_id != f.user_id)
            .map(|s| s.id.clone())
    });
    let mut other_agent = None;
    for other in inspector.manager().agent_names().filter(|a| *a != agent) {
        if let Some(m) = inspector.agent_messages(other, None).await?.first() {
            other_agent = Some((other.to_owned(), m.session_id.clone()));
            break;
        }
    }
    Ok(Scene {
        first: first.map(|s| s.id),
        second,
        other_user,
        other_agent,
    })
}

/// Plants `fault` in `agent`'s store: what was done and how to undo it, or why it could not be.
pub(super) async fn plant(
    inspector: &CrossDatabaseInspector,
    agent: &str,
    fault: Fault,
) -> Result<std::result::Result<(String, Undo), String>> {
    let scene = scene(inspector, agent).await?;
    let Some(first) = scene.first.clone() else {
        return Ok(Err(format!(
            "no session of agent {agent} holds two turns (a question and its reply, twice)"
        )));
    };
    // The store the fault goes into: the agent's own, or for a move to another agent, the
    // other's, holding a message of this agent's session.
    let (store, target) = match fault {
        Fault::MovedToAnotherAgent => match &scene.other_agent {
            Some((other, session)) => (other.clone(), session.clone()),
            None => return Ok(Err("no other agent holds a message".into())),
        },
        _ => (agent.to_owned(), first.clone()),
    };
    let layout = inspector.layout()?;
    let table = layout.agent_messages_of(&store).clone();
    let role = DatabaseRole::agent(&store);
    let db = inspector.manager().unchecked_connection(&role).await?;
    let planter = Planter {
        inspector,
        db: &db,
        sql: Sql(db.get_database_backend()),
        table: &table,
        store: store.clone(),
        scene: &scene,
    };
    let planted = if table.is_turns() {
        Ok(Err(
            "a table of turns keeps a question and its reply in one row: not planted there".into(),
        ))
    } else if table.is_list() {
        planter.in_list(fault, &target).await
    } else {
        planter.in_rows(fault, &target).await
    };
    let planted = match planted {
        Ok(Ok((what, undo))) => Ok(Ok((
            what,
            Undo {
                role,
                statements: undo,
            },
        ))),
        Ok(Err(why)) => Ok(Err(why)),
        Err(e) => {
            // Half planted: put back what was copied aside, and say why.
            let _ = planter.restore_after_error().await;
            Ok(Err(format!("the database refused it: {e}")))
        }
    };
    let _ = db.close().await;
    planted
}

pub(super) struct Planter<'a> {
    pub(super) inspector: &'a CrossDatabaseInspector,
    pub(super) db: &'a DatabaseConnection,
    pub(super) sql: Sql,
    pub(super) table: &'a Table,
    pub(super) store: String,
    pub(super) scene: &'a Scene,
}

pub(super) type Planted = std::result::Result<(String, Vec<String>), String>;

impl Planter<'_> {
    pub(super) async fn run(&self, sql: &str) -> Result<()> {
        self.db
            .execute_unprepared(sql)
            .await
            .context(format!("agent {}", self.store), "planting a fault")
            .map(drop)
    }

    pub(super) fn name(&self) -> String {
        self.sql.id(&self.table.name)
    }

    /// Copies the rows `condition` selects aside; the statements that put them back.
    pub(super) async fn keep(
        &self,
        condition: &str,
        inserted: Option<&str>,
    ) -> Result<Vec<String>> {
        let (t, b) = (self.name(), self.sql.id(BACKUP));
        self.run(&format!("DROP TABLE IF EXISTS {b}")).await?;
        self.run(&format!(
            "CREATE TABLE {b} AS SELECT * FROM {t} WHERE {condition}"
        ))
        .await?;
        let mut undo = vec![format!("DELETE FROM {t} WHERE {condition}")];
        if let Some(inserted) = inserted {
            undo.push(format!("DELETE FROM {t} WHERE {inserted}"));
        }
        undo.push(format!("INSERT INTO {t} SELECT * FROM {b}"));
        undo.push(format!("DROP TABLE {b}"));
        Ok(undo)
    }

    pub(super) async fn restore_after_error(&self) -> Result<()> {
        self.run(&format!("DROP TABLE IF EXISTS {}", self.sql.id(COPY)))
            .await
    }

    /// The session part of a message row, as the table names it.
    pub(super) fn session_source(&self) -> Option<&Source> {
        self.table
            .agent_session
            .as_ref()
            .or(self.table.session.as_ref())
    }

    /// The value the table files a message of gateway session `session` under: the id, or
    /// the agent's own key for it.
    pub(super) async fn filed_under(&self, session: &str) -> Result<String> {
        if self.table.agent_session.is_none() || session == NOWHERE {
            return Ok(session.to_owned());
        }
        let keys = self
            .inspector
            .agent_sessions(&self.store, Some(session))
            .await?;
        Ok(keys
            .first()
            .map_or_else(|| session.to_owned(), |s| s.key.clone()))
    }

    /// Writes `value` at `source` of the rows `condition` selects.
    pub(super) async fn set(&self, source: &Source, condition: &str, value: &str) -> Result<()> {
        match source.repr() {
            Repr::Column {
                column,
                pointer: None,
            } => {
                self.run(&format!(
                    "UPDATE {} SET {} = {} WHERE {condition}",
                    self.name(),
                    self.sql.id(column),
                    self.sql.text(value)
                ))
                .await
            }
            Repr::Column {
                column,
                pointer: Some(pointer),
            } => {
                let mut whole = self.read_json(column, condition).await?;
                if let Some(slot) = whole.pointer_mut(pointer) {
                    *slot = serde_json::Value::String(value.to_owned());
                }
                self.write_json(column, condition, whole).await
            }
            _ => Ok(()),
        }
    }

    pub(super) async fn read_json(
        &self,
        column: &str,
        condition: &str,
    ) -> Result<serde_json::Value> {
        let backend = self.db.get_database_backend();
        let row = self
            .db
            .query_one_raw(Statement::from_string(
                backend,
                format!(
                    "SELECT {} AS v FROM {} WHERE {condition}",
                    self.sql.id(column),
                    self.name()
                ),
            ))
            .await
            .context(format!("agent {}", self.store), "reading a row to plant in")?;
        match row {
            Some(row) => json(&row, "v").context(format!("agent {}", self.store), "reading JSON"),
            None => Ok(serde_json::Value::Null),
        }
    }

    /// Writes JSON back in the column's own kind: JSON, bytes, or text.
    pub(super) async fn write_json(
        &self,
        column: &str,
        condition: &str,
        value: serde_json::Value,
    ) -> Result<()> {
        let kind = crate::db::catalog::read_table(self.db, &self.table.name)
            .await?
            .columns
            .get(column)
            .map(|c| c.data_type.clone())
            .unwrap_or_default();
        let bound: Value = if kind.contains("json") {
            value.into()
        } else if kind.contains("blob") || kind.contains("bytea") || kind.contains("binary") {
            value.to_string().into_bytes().into()
        } else {
            value.to_string().into()
        };
        let backend = self.db.get_database_backend();
        self.db
            .execute_raw(Statement::from_sql_and_values(
                backend,
                format!(
                    "UPDATE {} SET {} = {} WHERE {condition}",
                    self.name(),
                    self.sql.id(column),
                    self.sql.param()
                ),
                [bound],
            ))
            .await
            .context(format!("agent {}", self.store), "planting a fault")
            .map(drop)
    }

    /// The highest id of the table, as a number: ids made of digits, whether the column
    /// keeps them as numbers or as text (where `MAX` would compare them as text).
    pub(super) async fn max_id(&self, id: &str) -> Result<i64> {
        let backend = self.db.get_database_backend();
        let rows = self
            .db
            .query_all_raw(Statement::from_string(
                backend,
                format!("SELECT {} AS i FROM {}", self.sql.as_text(id), self.name()),
            ))
            .await
            .context(format!("agent {}", self.store), "reading the highest id")?;
        Ok(rows
            .iter()
            .filter_map(|r| r.try_get::<Option<String>>("", "i").ok().flatten())
            .filter_map(|i| i.trim().parse::<i64>().ok())
            .max()
            .unwrap_or(0))
    }
}
