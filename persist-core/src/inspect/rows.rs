//! The rows the inspector reads, as plain data (its own types: it never uses the mesh's).

use std::fmt;
use std::sync::Arc;

use sea_orm::sea_query::{Alias, Expr, Query, SelectStatement};
use sea_orm::{DbErr, QueryResult};
use serde::Serialize;

use crate::system::layout::{Senders, Shape};
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
            .or_else(|_| {
                row.try_get::<Option<uuid::Uuid>>("", column)
                    .map(|v| v.map(|n| n.to_string()))
            })
            .map_err(|_| text_error),
    }
}

/// Reads a time column as epoch milliseconds (0 when NULL): a number in `unit`, a native
/// date-time of any backend, or text holding either.
pub(crate) fn time(row: &QueryResult, column: &str, unit: TimeUnit) -> Result<i64, DbErr> {
    use sea_orm::prelude::{DateTime, DateTimeUtc, DateTimeWithTimeZone};
    let scale = match unit {
        TimeUnit::Seconds => 1000.0,
        TimeUnit::Millis | TimeUnit::DateTime => 1.0,
    };
    if let Ok(value) = row.try_get::<Option<i64>>("", column) {
        return Ok((value.unwrap_or(0) as f64 * scale) as i64);
    }
    if let Ok(value) = row.try_get::<Option<i32>>("", column) {
        return Ok((f64::from(value.unwrap_or(0)) * scale) as i64);
    }
    if let Ok(value) = row.try_get::<Option<f64>>("", column) {
        return Ok((value.unwrap_or(0.0) * scale).round() as i64);
    }
    if let Ok(value) = row.try_get::<Option<DateTimeUtc>>("", column) {
        return Ok(value.map_or(0, |t| t.timestamp_millis()));
    }
    if let Ok(value) = row.try_get::<Option<DateTimeWithTimeZone>>("", column) {
        return Ok(value.map_or(0, |t| t.timestamp_millis()));
    }
    if let Ok(value) = row.try_get::<Option<DateTime>>("", column) {
        return Ok(value.map_or(0, |t| t.and_utc().timestamp_millis()));
    }
    match row.try_get::<Option<String>>("", column)? {
        None => Ok(0),
        Some(text) => parse_time(&text, scale)
            .ok_or_else(|| DbErr::Type(format!("`{column}`: {text:?} is not a time"))),
    }
}

/// A time kept as text: a number, RFC 3339, or `YYYY-MM-DD HH:MM:SS[.f][zone]`.
fn parse_time(text: &str, scale: f64) -> Option<i64> {
    use sea_orm::prelude::{DateTime, DateTimeWithTimeZone};
    let text = text.trim();
    if let Ok(number) = text.parse::<f64>() {
        return Some((number * scale).round() as i64);
    }
    if let Ok(t) = DateTimeWithTimeZone::parse_from_rfc3339(text) {
        return Some(t.timestamp_millis());
    }
    for format in ["%Y-%m-%d %H:%M:%S%.f%#z", "%Y-%m-%dT%H:%M:%S%.f%#z"] {
        if let Ok(t) = DateTimeWithTimeZone::parse_from_str(text, format) {
            return Some(t.timestamp_millis());
        }
    }
    for format in ["%Y-%m-%d %H:%M:%S%.f", "%Y-%m-%dT%H:%M:%S%.f"] {
        if let Ok(t) = DateTime::parse_from_str(text, format) {
            return Some(t.and_utc().timestamp_millis());
        }
    }
    None
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

/// The value at a JSON pointer as text: a string as it is, `null` or a missing value as
/// `None`, anything else as its JSON text.
fn at_pointer(value: &serde_json::Value, pointer: &str) -> Option<String> {
    match value.pointer(pointer)? {
        serde_json::Value::Null => None,
        serde_json::Value::String(text) => Some(text.clone()),
        other => Some(other.to_string()),
    }
}

/// The columns a table's rows are read by: each column the layout names, selected once
/// under an alias of its own, whatever parts are read from it.
pub(crate) struct Columns<'a> {
    pub(crate) table: &'a Table,
    columns: Vec<&'a str>,
}

impl<'a> Columns<'a> {
    /// Every column `table` names.
    pub(crate) fn of(table: &'a Table) -> Self {
        let mut columns: Vec<&'a str> = Vec::new();
        let sources = [
            &table.id,
            &table.key,
            &table.session,
            &table.agent_session,
            &table.user,
            &table.agent,
            &table.title,
            &table.sender_name,
            &table.turn,
        ];
        let mut names: Vec<&'a str> = sources.into_iter().flatten().map(Source::column).collect();
        match &table.shape {
            Shape::Messages { content, sender } => {
                names.extend(content.iter().map(Source::column));
                names.extend(sender.iter().map(|s| s.source.column()));
            }
            Shape::Turns {
                user,
                reply,
                answered_by,
            } => {
                names.extend([user.column(), reply.column()]);
                names.extend(answered_by.iter().map(Source::column));
            }
        }
        names.extend(table.state.as_deref());
        names.extend(table.created.iter().map(|(c, _)| c.as_str()));
        names.extend(table.updated.iter().map(|(c, _)| c.as_str()));
        for name in names {
            if !columns.contains(&name) {
                columns.push(name);
            }
        }
        Columns { table, columns }
    }

    fn alias(&self, column: &str) -> String {
        let index = self.columns.iter().position(|c| *c == column);
        format!("c{}", index.unwrap_or(usize::MAX))
    }

    /// `SELECT column AS alias, … FROM table`.
    pub(crate) fn select(&self) -> SelectStatement {
        let mut query = Query::select();
        for column in &self.columns {
            query.expr_as(
                Expr::col(Alias::new(*column)),
                Alias::new(self.alias(column)),
            );
        }
        query.from(Alias::new(&self.table.name)).to_owned()
    }

    /// A part's value in `row`; `None` when the part is not named, NULL, or not in the JSON.
    pub(crate) fn get(
        &self,
        row: &QueryResult,
        source: Option<&Source>,
    ) -> Result<Option<String>, DbErr> {
        let Some(source) = source else {
            return Ok(None);
        };
        let alias = self.alias(source.column());
        match source.pointer() {
            None => opt_text(row, &alias),
            Some(pointer) => Ok(at_pointer(&json(row, &alias)?, pointer)),
        }
    }

    /// A part's value that must be there.
    fn need(&self, row: &QueryResult, source: Option<&Source>) -> Result<String, DbErr> {
        self.get(row, source)?.ok_or_else(|| {
            let which = source.map_or_else(String::new, Source::label);
            DbErr::Type(format!(
                "`{}`: `{which}` is NULL or missing",
                self.table.name
            ))
        })
    }

    fn time(&self, row: &QueryResult, column: &Option<(String, TimeUnit)>) -> Result<i64, DbErr> {
        match column {
            Some((column, unit)) => time(row, &self.alias(column), *unit),
            None => Ok(0),
        }
    }

    fn state(&self, row: &QueryResult) -> Result<serde_json::Value, DbErr> {
        match &self.table.state {
            Some(column) => json(row, &self.alias(column)),
            None => Ok(serde_json::Value::Null),
        }
    }
}

/// `user`, `agent` or `system`, as the table's sender values say.
fn sender(senders: Option<&Senders>, raw: &str, agent_word: &'static str) -> String {
    match senders {
        Some(senders) if raw == senders.user => "user".to_owned(),
        Some(Senders { agent: None, .. }) => agent_word.to_owned(),
        Some(Senders {
            agent: Some(agent), ..
        }) if raw == agent => agent_word.to_owned(),
        _ => "system".to_owned(),
    }
}

/// One message as a table holds it, before it is typed for its side.
#[derive(Clone)]
struct Message {
    id: String,
    session: String,
    text: String,
    /// The raw sender value (one message per row) or the sender's name (turns).
    sender: String,
    sender_name: Option<String>,
    user: Option<String>,
    turn: Option<String>,
    created: i64,
}

/// The messages of one row of a message table: one, or in a table of turns, the user's and
/// (when there is one) the reply.
fn messages(
    columns: &Columns<'_>,
    row: &QueryResult,
    agent_word: &'static str,
) -> Result<Vec<Message>, DbErr> {
    let t = columns.table;
    let session = t.agent_session.as_ref().or(t.session.as_ref());
    let base = || -> Result<Message, DbErr> {
        Ok(Message {
            id: columns.need(row, t.id.as_ref())?,
            session: columns.need(row, session)?,
            text: String::new(),
            sender: String::new(),
            sender_name: columns.get(row, t.sender_name.as_ref())?,
            user: columns.get(row, t.user.as_ref())?,
            turn: columns.get(row, t.turn_source())?,
            created: columns.time(row, &t.created)?,
        })
    };
    match &t.shape {
        Shape::Messages {
            content,
            sender: senders,
        } => {
            let raw = columns
                .get(row, senders.as_ref().map(|s| &s.source))?
                .unwrap_or_default();
            let kind = sender(senders.as_ref(), &raw, agent_word);
            Ok(vec![Message {
                text: columns.get(row, content.as_ref())?.unwrap_or_default(),
                sender: kind,
                ..base()?
            }])
        }
        Shape::Turns {
            user,
            reply,
            answered_by,
        } => {
            let asked = base()?;
            let mut out = vec![Message {
                text: columns.get(row, Some(user))?.unwrap_or_default(),
                sender: "user".into(),
                sender_name: asked.sender_name.clone().or_else(|| asked.user.clone()),
                ..asked.clone()
            }];
            if let Some(text) = columns.get(row, Some(reply))? {
                out.push(Message {
                    text,
                    sender: agent_word.into(),
                    sender_name: columns.get(row, answered_by.as_ref())?,
                    ..asked
                });
            }
            Ok(out)
        }
    }
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

    pub(crate) fn read(
        c: &Columns<'_>,
        names: &Arc<Names>,
        row: &QueryResult,
    ) -> Result<Vec<Self>, DbErr> {
        Ok(messages(c, row, "agent")?
            .into_iter()
            .map(|m| GatewayMessageRow {
                names: names.clone(),
                id: m.id,
                session_id: m.session,
                message: m.text,
                sender_type: m.sender,
                sender_name: m.sender_name.unwrap_or_default(),
                task_id: m.turn,
                user_id: m.user,
                created_at: m.created,
            })
            .collect())
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
            user_id: c.need(row, t.user.as_ref())?,
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

    pub(crate) fn read(
        c: &Columns<'_>,
        names: &Arc<Names>,
        database: &str,
        row: &QueryResult,
    ) -> Result<Vec<Self>, DbErr> {
        Ok(messages(c, row, "assistant")?
            .into_iter()
            .map(|m| AgentMessageRow {
                names: names.clone(),
                database: database.to_owned(),
                id: m.id,
                session_id: m.session,
                role: m.sender,
                content: m.text,
                task_id: m.turn.unwrap_or_default(),
                user_id: m.user,
                created_at: m.created,
            })
            .collect())
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
#[derive(Clone, Default, PartialEq, Eq)]
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
