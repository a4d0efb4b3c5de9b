//! The rows the inspector reads, as plain data (its own types: it never uses the mesh's).

use std::fmt;
use std::sync::Arc;

use sea_orm::sea_query::{Alias, Expr, Query, SelectStatement};
use sea_orm::{DbErr, QueryResult};
use serde::Serialize;

use crate::system::layout::Senders;
use crate::system::{Table, TimeUnit};

/// A row of the gateway's session table, read through the system's
/// [`Layout`](crate::system::Layout). Columns the layout does not name read as `None`, empty
/// or 0.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct GatewaySessionRow {
    /// `id`.
    pub id: String,
    /// `name`.
    pub name: Option<String>,
    /// `user_id`.
    pub user_id: String,
    /// `agent_name`.
    pub agent_name: String,
    /// `created_at`, epoch milliseconds.
    pub created_at: i64,
    /// `updated_at`, epoch milliseconds.
    pub updated_at: i64,
    /// The real table and column names it was read by, for printing it.
    #[serde(skip)]
    names: Arc<Names>,
}

/// A row of the gateway's message table, read through the system's layout.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct GatewayMessageRow {
    /// `id`.
    pub id: String,
    /// `session_id`.
    pub session_id: String,
    /// `message`.
    pub message: String,
    /// Who sent it: `user`, `agent` or `system` (the layout maps the stored values).
    pub sender_type: String,
    /// `sender_name`.
    pub sender_name: String,
    /// `task_id`.
    pub task_id: Option<String>,
    /// `created_at`, epoch milliseconds.
    pub created_at: i64,
    /// The real table and column names it was read by, for printing it.
    #[serde(skip)]
    names: Arc<Names>,
}

/// A row of an agent's session table, read through the system's layout.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct AgentSessionRow {
    /// The agent database it was read from.
    pub database: String,
    /// `id` (the gateway session id).
    pub id: String,
    /// `user_id`.
    pub user_id: String,
    /// `agent_name`.
    pub agent_name: String,
    /// `state`.
    pub state: serde_json::Value,
    /// The real table and column names it was read by, for printing it.
    #[serde(skip)]
    names: Arc<Names>,
}

/// A row of an agent's message table, read through the system's layout.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct AgentMessageRow {
    /// The agent database it was read from.
    pub database: String,
    /// `id`.
    pub id: String,
    /// `session_id`.
    pub session_id: String,
    /// Who sent it: `user`, `assistant` or `system` (the layout maps the stored values).
    pub role: String,
    /// `content`.
    pub content: String,
    /// The turn (empty when the layout names no turn column).
    pub task_id: String,
    /// `created_at`, epoch milliseconds.
    pub created_at: i64,
    /// The real table and column names it was read by, for printing it.
    #[serde(skip)]
    names: Arc<Names>,
}

/// Reads a text column, or an integer one as its decimal text.
pub(crate) fn text(row: &QueryResult, column: &str) -> Result<String, DbErr> {
    opt_text(row, column)?.ok_or_else(|| DbErr::Type(format!("`{column}` is NULL")))
}

/// Reads a nullable text column, or an integer one as its decimal text.
pub(crate) fn opt_text(row: &QueryResult, column: &str) -> Result<Option<String>, DbErr> {
    match row.try_get::<Option<String>>("", column) {
        Ok(value) => Ok(value),
        Err(text_error) => row
            .try_get::<Option<i64>>("", column)
            .map(|v| v.map(|n| n.to_string()))
            .or_else(|_| {
                row.try_get::<Option<i32>>("", column)
                    .map(|v| v.map(|n| n.to_string()))
            })
            .map_err(|_| text_error),
    }
}

/// Reads a time column as epoch milliseconds (0 when NULL).
pub(crate) fn time(row: &QueryResult, column: &str, unit: TimeUnit) -> Result<i64, DbErr> {
    let scale = match unit {
        TimeUnit::Millis => 1.0,
        TimeUnit::Seconds => 1000.0,
    };
    if let Ok(value) = row.try_get::<Option<i64>>("", column) {
        return Ok((value.unwrap_or(0) as f64 * scale) as i64);
    }
    if let Ok(value) = row.try_get::<Option<i32>>("", column) {
        return Ok((f64::from(value.unwrap_or(0)) * scale) as i64);
    }
    let value: Option<f64> = row.try_get("", column)?;
    Ok((value.unwrap_or(0.0) * scale).round() as i64)
}

/// Reads a JSON column (or text holding JSON); `Null` when NULL.
pub(crate) fn json(row: &QueryResult, column: &str) -> Result<serde_json::Value, DbErr> {
    // Backends hand JSON back as JSON or as text; accept both.
    match row.try_get::<Option<serde_json::Value>>("", column) {
        Ok(value) => Ok(value.unwrap_or_default()),
        Err(_) => match row.try_get::<Option<String>>("", column)? {
            Some(text) => serde_json::from_str(&text).map_err(|e| DbErr::Json(e.to_string())),
            None => Ok(serde_json::Value::Null),
        },
    }
}

/// A table's columns under the names the rows are read by.
pub(crate) struct Columns<'a> {
    pub(crate) table: &'a Table,
    pub(crate) selected: Vec<(&'a str, &'static str)>,
}

impl<'a> Columns<'a> {
    fn new(table: &'a Table) -> Self {
        Columns {
            table,
            selected: Vec::new(),
        }
    }

    fn add(mut self, column: Option<&'a str>, alias: &'static str) -> Self {
        if let Some(column) = column {
            self.selected.push((column, alias));
        }
        self
    }

    /// `SELECT column AS alias, … FROM table`.
    pub(crate) fn select(&self) -> SelectStatement {
        let mut query = Query::select();
        for (column, alias) in &self.selected {
            query.expr_as(Expr::col(Alias::new(*column)), Alias::new(*alias));
        }
        query.from(Alias::new(&self.table.name)).to_owned()
    }
}

fn created(table: &Table) -> Option<&str> {
    table.created.as_ref().map(|(c, _)| c.as_str())
}

fn read_time(
    row: &QueryResult,
    column: &Option<(String, TimeUnit)>,
    alias: &str,
) -> Result<i64, DbErr> {
    match column {
        Some((_, unit)) => time(row, alias, *unit),
        None => Ok(0),
    }
}

fn content(table: &Table, row: &QueryResult) -> Result<String, DbErr> {
    match &table.content {
        Some((_, Some(pointer))) => {
            let value = json(row, "content")?;
            Ok(match value.pointer(pointer) {
                Some(serde_json::Value::String(text)) => text.clone(),
                Some(other) => other.to_string(),
                None => String::new(),
            })
        }
        _ => Ok(opt_text(row, "content")?.unwrap_or_default()),
    }
}

/// `user`, `agent` or `system`, as the table's sender values say.
fn sender(table: &Table, raw: &str, agent_word: &'static str) -> String {
    match &table.sender {
        Some(senders) if raw == senders.user => "user".to_owned(),
        Some(Senders { agent: None, .. }) => agent_word.to_owned(),
        Some(Senders {
            agent: Some(agent), ..
        }) if raw == agent => agent_word.to_owned(),
        _ => "system".to_owned(),
    }
}

impl GatewaySessionRow {
    pub(crate) fn columns(t: &Table) -> Columns<'_> {
        Columns::new(t)
            .add(t.id.as_deref(), "id")
            .add(t.title.as_deref(), "name")
            .add(t.user.as_deref(), "user_id")
            .add(t.agent.as_deref(), "agent_name")
            .add(created(t), "created_at")
            .add(t.updated.as_ref().map(|(c, _)| c.as_str()), "updated_at")
    }

    pub(crate) fn read(t: &Table, names: &Arc<Names>, row: &QueryResult) -> Result<Self, DbErr> {
        Ok(GatewaySessionRow {
            names: names.clone(),
            id: text(row, "id")?,
            name: match t.title {
                Some(_) => opt_text(row, "name")?,
                None => None,
            },
            user_id: text(row, "user_id")?,
            agent_name: text(row, "agent_name")?,
            created_at: read_time(row, &t.created, "created_at")?,
            updated_at: read_time(row, &t.updated, "updated_at")?,
        })
    }
}

/// The columns both sides' message tables are read by.
fn message_columns(t: &Table) -> Columns<'_> {
    Columns::new(t)
        .add(t.id.as_deref(), "id")
        .add(t.session.as_deref(), "session_id")
        .add(t.content.as_ref().map(|(c, _)| c.as_str()), "content")
        .add(t.sender.as_ref().map(|s| s.column.as_str()), "sender")
        .add(t.turn.as_deref(), "task_id")
        .add(created(t), "created_at")
}

impl GatewayMessageRow {
    pub(crate) fn columns(t: &Table) -> Columns<'_> {
        message_columns(t).add(t.sender_name.as_deref(), "sender_name")
    }

    pub(crate) fn read(t: &Table, names: &Arc<Names>, row: &QueryResult) -> Result<Self, DbErr> {
        let raw = opt_text(row, "sender")?.unwrap_or_default();
        Ok(GatewayMessageRow {
            names: names.clone(),
            id: text(row, "id")?,
            session_id: text(row, "session_id")?,
            message: content(t, row)?,
            sender_type: sender(t, &raw, "agent"),
            sender_name: match t.sender_name {
                Some(_) => opt_text(row, "sender_name")?.unwrap_or_default(),
                None => String::new(),
            },
            task_id: match t.turn {
                Some(_) => opt_text(row, "task_id")?,
                None => None,
            },
            created_at: read_time(row, &t.created, "created_at")?,
        })
    }
}

impl AgentSessionRow {
    pub(crate) fn columns(t: &Table) -> Columns<'_> {
        Columns::new(t)
            .add(t.session.as_deref(), "id")
            .add(t.user.as_deref(), "user_id")
            .add(t.agent.as_deref(), "agent_name")
            .add(t.state.as_deref(), "state")
    }

    pub(crate) fn read(
        t: &Table,
        names: &Arc<Names>,
        agent: &str,
        database: &str,
        row: &QueryResult,
    ) -> Result<Self, DbErr> {
        Ok(AgentSessionRow {
            names: names.clone(),
            database: database.to_owned(),
            id: text(row, "id")?,
            user_id: text(row, "user_id")?,
            agent_name: match t.agent {
                Some(_) => text(row, "agent_name")?,
                None => agent.to_owned(),
            },
            state: match t.state {
                Some(_) => json(row, "state")?,
                None => serde_json::Value::Null,
            },
        })
    }
}

impl AgentMessageRow {
    pub(crate) fn columns(t: &Table) -> Columns<'_> {
        message_columns(t)
    }

    pub(crate) fn read(
        t: &Table,
        names: &Arc<Names>,
        database: &str,
        row: &QueryResult,
    ) -> Result<Self, DbErr> {
        let raw = opt_text(row, "sender")?.unwrap_or_default();
        Ok(AgentMessageRow {
            names: names.clone(),
            database: database.to_owned(),
            id: text(row, "id")?,
            session_id: text(row, "session_id")?,
            role: sender(t, &raw, "assistant"),
            content: content(t, row)?,
            task_id: match t.turn {
                Some(_) => opt_text(row, "task_id")?.unwrap_or_default(),
                None => String::new(),
            },
            created_at: read_time(row, &t.created, "created_at")?,
        })
    }
}

fn clip(text: &str) -> String {
    const MAX: usize = 60;
    if text.chars().count() <= MAX {
        format!("{text:?}")
    } else {
        format!("{:?}…", text.chars().take(MAX).collect::<String>())
    }
}

impl fmt::Display for GatewaySessionRow {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.names.write(
            f,
            "gateway",
            &[
                ("id", self.id.clone()),
                ("user_id", self.user_id.clone()),
                ("agent_name", self.agent_name.clone()),
                ("name", format!("{:?}", self.name)),
                ("updated_at", self.updated_at.to_string()),
            ],
        )
    }
}

impl fmt::Display for GatewayMessageRow {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let sender = match self.sender_name.as_str() {
            "" => self.sender_type.clone(),
            name => format!("{} {name}", self.sender_type),
        };
        self.names.write(
            f,
            "gateway",
            &[
                ("id", self.id.clone()),
                ("session_id", self.session_id.clone()),
                ("", format!("{sender}: {}", clip(&self.message))),
                (
                    "task_id",
                    self.task_id.clone().unwrap_or_else(|| "-".into()),
                ),
            ],
        )
    }
}

impl fmt::Display for AgentSessionRow {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.names.write(
            f,
            &self.database,
            &[
                ("id", self.id.clone()),
                ("user_id", self.user_id.clone()),
                ("agent_name", self.agent_name.clone()),
                ("state", self.state.to_string()),
            ],
        )
    }
}

impl fmt::Display for AgentMessageRow {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.names.write(
            f,
            &self.database,
            &[
                ("id", self.id.clone()),
                ("session_id", self.session_id.clone()),
                ("", format!("{}: {}", self.role, clip(&self.content))),
                ("task_id", self.task_id.clone()),
            ],
        )
    }
}

/// The real names a row was read by: its table, and the column behind each of its fields.
#[derive(Clone, Default, PartialEq, Eq)]
pub(crate) struct Names {
    table: String,
    columns: Vec<(&'static str, String)>,
}

impl Names {
    /// The names `columns` reads by: computed once per query, shared by its rows.
    pub(crate) fn of(columns: &Columns<'_>) -> Arc<Names> {
        Arc::new(Names {
            table: columns.table.name.clone(),
            columns: columns
                .selected
                .iter()
                .map(|(column, alias)| (*alias, (*column).to_owned()))
                .collect(),
        })
    }

    /// `database table(column=value, …)`, for the fields whose column the layout names (all
    /// of them when the names are unknown); a field without a name (`""`) is printed as it
    /// is.
    fn write(
        &self,
        f: &mut fmt::Formatter<'_>,
        database: &str,
        values: &[(&'static str, String)],
    ) -> fmt::Result {
        let table = if self.table.is_empty() {
            "?"
        } else {
            &self.table
        };
        write!(f, "{database} {table}(")?;
        let mut first = true;
        for (field, value) in values {
            let column = match self.columns.iter().find(|(alias, _)| alias == field) {
                _ if field.is_empty() => None,
                Some((_, column)) => Some(column.as_str()),
                None if self.columns.is_empty() => Some(*field),
                None => continue,
            };
            if !first {
                f.write_str(", ")?;
            }
            first = false;
            match column {
                Some(column) => write!(f, "{column}={value}")?,
                None => f.write_str(value)?,
            }
        }
        f.write_str(")")
    }
}

impl fmt::Debug for Names {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.table)
    }
}

/// Rows as an indented list, for failure messages; `(no rows)` when empty.
pub(crate) fn list<T: fmt::Display>(rows: &[T]) -> String {
    if rows.is_empty() {
        return "    (no rows)".to_owned();
    }
    rows.iter()
        .map(|row| format!("    {row}"))
        .collect::<Vec<_>>()
        .join("\n")
}
