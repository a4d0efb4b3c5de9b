//! How the inspector reads a layout's parts out of a row: each column once, values inside
//! JSON by their pointer, times of any kind as epoch milliseconds.

use sea_orm::sea_query::{Alias, Expr, Query, SelectStatement};
use sea_orm::{DbErr, QueryResult};

use crate::system::layout::{Senders, Shape};
use crate::system::{Source, Table, TimeUnit};

/// Reads a nullable integer column of any width that fits an `i64`.
pub(crate) fn opt_int(row: &QueryResult, column: &str) -> Result<Option<i64>, DbErr> {
    let wide = match row.try_get::<Option<i64>>("", column) {
        Ok(value) => return Ok(value),
        Err(e) => e,
    };
    if let Ok(value) = row.try_get::<Option<i32>>("", column) {
        return Ok(value.map(i64::from));
    }
    if let Ok(value) = row.try_get::<Option<i16>>("", column) {
        return Ok(value.map(i64::from));
    }
    if let Ok(value) = row.try_get::<Option<i8>>("", column) {
        return Ok(value.map(i64::from));
    }
    if let Ok(value) = row.try_get::<Option<u32>>("", column) {
        return Ok(value.map(i64::from));
    }
    match row.try_get::<Option<u64>>("", column) {
        Ok(value) => value.map(i64::try_from).transpose().map_err(|_| wide),
        Err(_) => Err(wide),
    }
}

/// Reads a nullable text column, or an integer one as its decimal text.
pub(crate) fn opt_text(row: &QueryResult, column: &str) -> Result<Option<String>, DbErr> {
    match row.try_get::<Option<String>>("", column) {
        Ok(value) => Ok(value),
        Err(text_error) => opt_int(row, column)
            .map(|v| v.map(|n| n.to_string()))
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
    let number = |row: &QueryResult| {
        if let Ok(value) = opt_int(row, column) {
            return Some((value.unwrap_or(0) as f64 * scale) as i64);
        }
        if let Ok(value) = row.try_get::<Option<f64>>("", column) {
            return Some((value.unwrap_or(0.0) * scale).round() as i64);
        }
        None
    };
    let native = |row: &QueryResult| {
        if let Ok(value) = row.try_get::<Option<DateTimeUtc>>("", column) {
            return Some(value.map_or(0, |t| t.timestamp_millis()));
        }
        if let Ok(value) = row.try_get::<Option<DateTimeWithTimeZone>>("", column) {
            return Some(value.map_or(0, |t| t.timestamp_millis()));
        }
        if let Ok(value) = row.try_get::<Option<DateTime>>("", column) {
            return Some(value.map_or(0, |t| t.and_utc().timestamp_millis()));
        }
        None
    };
    // The declared kind first: each wrong guess is a failed decode.
    let found = if unit == TimeUnit::DateTime {
        native(row).or_else(|| number(row))
    } else {
        number(row).or_else(|| native(row))
    };
    if let Some(millis) = found {
        return Ok(millis);
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
    /// Each column, with the alias it is selected under.
    columns: Vec<(&'a str, String)>,
}

impl<'a> Columns<'a> {
    /// Every column `table` names.
    pub(crate) fn of(table: &'a Table) -> Self {
        let mut columns: Vec<(&'a str, String)> = Vec::new();
        let sources = [
            &table.id,
            &table.key,
            &table.session,
            &table.agent_session,
            &table.user,
            &table.agent,
            &table.title,
            &table.sender_name,
            &table.answered_by,
            &table.turn,
        ];
        let mut names: Vec<&'a str> = sources.into_iter().flatten().map(Source::column).collect();
        match &table.shape {
            Shape::Messages { content, sender } => {
                names.extend(content.iter().map(Source::column));
                names.extend(sender.iter().map(|s| s.source.column()));
            }
            Shape::Turns { user, reply } => names.extend([user.column(), reply.column()]),
        }
        names.extend(table.state.as_deref());
        names.extend(table.created.iter().map(|(c, _)| c.as_str()));
        names.extend(table.updated.iter().map(|(c, _)| c.as_str()));
        for name in names {
            if !columns.iter().any(|(c, _)| *c == name) {
                let alias = format!("c{}", columns.len());
                columns.push((name, alias));
            }
        }
        Columns { table, columns }
    }

    /// The alias `column` is selected under (every column the table names has one).
    fn alias(&self, column: &str) -> &str {
        self.columns
            .iter()
            .find(|(c, _)| *c == column)
            .map_or("", |(_, alias)| alias.as_str())
    }

    /// `SELECT column AS alias, … FROM table`.
    pub(crate) fn select(&self) -> SelectStatement {
        let mut query = Query::select();
        for (column, alias) in &self.columns {
            query.expr_as(Expr::col(Alias::new(*column)), Alias::new(alias.as_str()));
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
            None => opt_text(row, alias),
            Some(pointer) => Ok(at_pointer(&json(row, alias)?, pointer)),
        }
    }

    /// A part's value that must be there.
    pub(crate) fn need(&self, row: &QueryResult, source: Option<&Source>) -> Result<String, DbErr> {
        self.get(row, source)?.ok_or_else(|| {
            let which = source.map_or_else(String::new, Source::label);
            DbErr::Type(format!(
                "`{}`: `{which}` is NULL or missing",
                self.table.name
            ))
        })
    }

    pub(crate) fn time(
        &self,
        row: &QueryResult,
        column: &Option<(String, TimeUnit)>,
    ) -> Result<i64, DbErr> {
        match column {
            Some((column, unit)) => time(row, self.alias(column), *unit),
            None => Ok(0),
        }
    }

    pub(crate) fn state(&self, row: &QueryResult) -> Result<serde_json::Value, DbErr> {
        match &self.table.state {
            Some(column) => json(row, self.alias(column)),
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
pub(crate) struct Message {
    pub(crate) id: String,
    pub(crate) session: String,
    pub(crate) text: String,
    /// The raw sender value (one message per row) or the sender's name (turns).
    pub(crate) sender: String,
    pub(crate) sender_name: Option<String>,
    pub(crate) user: Option<String>,
    pub(crate) turn: Option<String>,
    pub(crate) created: i64,
}

/// The messages of one row of a message table: one, or in a table of turns, the user's and
/// (when there is one) the reply.
pub(crate) fn messages(
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
        Shape::Turns { user, reply } => {
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
                    sender_name: columns.get(row, t.answered_by.as_ref())?,
                    ..asked
                });
            }
            Ok(out)
        }
    }
}
