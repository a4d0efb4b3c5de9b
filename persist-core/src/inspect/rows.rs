//! The rows the inspector reads, as plain data (its own types: it never uses the mesh's).

use std::fmt;
use std::sync::Arc;

use sea_orm::{DbErr, QueryResult};
use serde::Serialize;

use super::message::Message;
use super::read::Columns;
use crate::system::{Source, Table, TimeUnit};

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
    /// The user the row is stored under, when the layout names a user column.
    pub user_id: Option<String>,
    /// `created_at`, epoch milliseconds.
    pub created_at: i64,
    /// The real table and column names it was read by, for printing it.
    #[serde(skip)]
    names: Arc<Names>,
    /// Its place among the messages read with it (messages tied in time share one).
    #[serde(skip)]
    pub(crate) block: Block,
}

/// Where a message falls among those read with it: messages whose order is not known (read
/// in one tie of time) share a block. Not part of what a row is: two rows equal whatever
/// their blocks.
#[derive(Clone, Copy, Debug, Default, Eq)]
pub(crate) struct Block(pub(crate) usize);

impl PartialEq for Block {
    fn eq(&self, _: &Block) -> bool {
        true
    }
}

/// A row of an agent's session table, read through the system's layout.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct AgentSessionRow {
    /// The agent database it was read from.
    pub database: String,
    /// `id` (the gateway session id).
    pub id: String,
    /// The agent's own key for the session (the gateway session id when the layout names no
    /// key).
    pub key: String,
    /// `user_id`; for a table without a user column (a store that keeps none), the user of
    /// the gateway session it is linked to (empty when there is none).
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
    /// The gateway session it belongs to (`session_id`); for messages that name the agent's
    /// own session, the one that session is linked to, or the agent's key when it is linked
    /// to none.
    pub session_id: String,
    /// Who sent it: `user`, `assistant` or `system` (the layout maps the stored values).
    pub role: String,
    /// `content`.
    pub content: String,
    /// The turn (empty when the layout names no turn column).
    pub task_id: String,
    /// The user the row is stored under, when the layout names a user column.
    pub user_id: Option<String>,
    /// `created_at`, epoch milliseconds.
    pub created_at: i64,
    /// The real table and column names it was read by, for printing it.
    #[serde(skip)]
    names: Arc<Names>,
    /// Its place among the messages read with it.
    #[serde(skip)]
    pub(crate) block: Block,
}

impl GatewaySessionRow {
    pub(crate) fn names(t: &Table) -> Arc<Names> {
        Names::new(
            t,
            [
                ("id", t.id.as_ref()),
                ("name", t.title.as_ref()),
                ("user_id", t.user.as_ref()),
                ("agent_name", t.agent.as_ref()),
            ],
            [("updated_at", &t.updated)],
        )
    }

    pub(crate) fn read(
        c: &Columns<'_>,
        names: &Arc<Names>,
        row: &QueryResult,
    ) -> Result<Self, DbErr> {
        let t = c.table;
        Ok(GatewaySessionRow {
            names: names.clone(),
            id: c.need(row, t.id.as_ref())?,
            name: c.get(row, t.title.as_ref())?,
            user_id: c.need(row, t.user.as_ref())?,
            agent_name: c.need(row, t.agent.as_ref())?,
            created_at: c.time(row, &t.created)?,
            updated_at: c.time(row, &t.updated)?,
        })
    }
}

/// The names both sides' message rows print.
fn message_names(t: &Table) -> Arc<Names> {
    let session = t.agent_session.as_ref().or(t.session.as_ref());
    Names::new(
        t,
        [
            ("id", t.id.as_ref()),
            ("session_id", session),
            ("task_id", t.turn_source()),
            ("user_id", t.user.as_ref()),
        ],
        [],
    )
}

impl GatewayMessageRow {
    pub(crate) fn names(t: &Table) -> Arc<Names> {
        message_names(t)
    }

    pub(crate) fn from_message(names: &Arc<Names>, m: Message) -> Self {
        GatewayMessageRow {
            names: names.clone(),
            id: m.id,
            session_id: m.session,
            message: m.text,
            sender_type: m.sender,
            sender_name: m.sender_name.unwrap_or_default(),
            task_id: m.turn,
            user_id: m.user,
            created_at: m.created,
            block: Block(m.block),
        }
    }
}

impl AgentSessionRow {
    pub(crate) fn names(t: &Table) -> Arc<Names> {
        Names::new(
            t,
            [
                ("key", t.key.as_ref()),
                ("id", t.session.as_ref()),
                ("user_id", t.user.as_ref()),
                ("agent_name", t.agent.as_ref()),
            ],
            [],
        )
        .with_state(t.state.as_deref())
    }

    pub(crate) fn read(
        c: &Columns<'_>,
        names: &Arc<Names>,
        agent: &str,
        database: &str,
        row: &QueryResult,
    ) -> Result<Self, DbErr> {
        let t = c.table;
        let id = c.need(row, t.session.as_ref())?;
        Ok(AgentSessionRow {
            names: names.clone(),
            database: database.to_owned(),
            key: match t.key {
                Some(_) => c.need(row, t.key.as_ref())?,
                None => id.clone(),
            },
            id,
            // Without a user column, its gateway session's (filled in by the inspector).
            user_id: match t.user {
                Some(_) => c.need(row, t.user.as_ref())?,
                None => String::new(),
            },
            agent_name: match t.agent {
                Some(_) => c.need(row, t.agent.as_ref())?,
                None => agent.to_owned(),
            },
            state: c.state(row)?,
        })
    }
}

impl AgentMessageRow {
    pub(crate) fn names(t: &Table) -> Arc<Names> {
        message_names(t)
    }

    pub(crate) fn from_message(names: &Arc<Names>, database: &str, m: Message) -> Self {
        AgentMessageRow {
            names: names.clone(),
            database: database.to_owned(),
            id: m.id,
            session_id: m.session,
            role: m.sender,
            content: m.text,
            task_id: m.turn.unwrap_or_default(),
            user_id: m.user,
            created_at: m.created,
            block: Block(m.block),
        }
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
                ("user_id", self.user_id.clone().unwrap_or_default()),
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
                ("key", self.key.clone()),
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
                ("user_id", self.user_id.clone().unwrap_or_default()),
            ],
        )
    }
}

/// The real names a row was read by: its table, and the column behind each of its fields.
#[derive(Clone, PartialEq, Eq)]
pub(crate) struct Names {
    table: String,
    columns: Vec<(&'static str, String)>,
}

impl Names {
    /// The names of a table's parts (each field's column, or `column/pointer`) and times.
    fn new<const P: usize, const T: usize>(
        table: &Table,
        parts: [(&'static str, Option<&Source>); P],
        times: [(&'static str, &Option<(String, TimeUnit)>); T],
    ) -> Arc<Names> {
        let mut columns: Vec<(&'static str, String)> = parts
            .into_iter()
            .filter_map(|(field, source)| source.map(|s| (field, s.label())))
            .collect();
        columns.extend(
            times
                .into_iter()
                .filter_map(|(field, time)| time.as_ref().map(|(c, _)| (field, c.clone()))),
        );
        Arc::new(Names {
            table: table.name.clone(),
            columns,
        })
    }

    fn with_state(self: Arc<Self>, state: Option<&str>) -> Arc<Names> {
        let mut names = Arc::unwrap_or_clone(self);
        names.columns.extend(state.map(|c| ("state", c.to_owned())));
        Arc::new(names)
    }

    /// `database table(column=value, …)`, for the fields whose column the layout names; a
    /// field without a name (`""`) is printed as it is.
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
