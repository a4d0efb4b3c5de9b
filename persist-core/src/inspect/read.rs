//! How the inspector reads a layout's parts out of a row: each column once, values inside
//! JSON by their pointer, times of any kind as epoch milliseconds.

use sea_orm::sea_query::{Alias, Expr, Query, SelectStatement};
use sea_orm::{DbErr, QueryResult};

use crate::system::layout::{Repr, Shape};
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

/// Reads a JSON column (or text, or bytes, holding JSON); `Null` when NULL.
pub(crate) fn json(row: &QueryResult, column: &str) -> Result<serde_json::Value, DbErr> {
    // Backends hand JSON back as JSON or as text; a store may keep it in a blob.
    match row.try_get::<Option<serde_json::Value>>("", column) {
        Ok(value) => Ok(value.unwrap_or_default()),
        Err(_) => {
            let text = match row.try_get::<Option<String>>("", column) {
                Ok(text) => text,
                Err(e) => match row.try_get::<Option<Vec<u8>>>("", column) {
                    Ok(bytes) => bytes.map(|b| String::from_utf8_lossy(&b).into_owned()),
                    Err(_) => return Err(e),
                },
            };
            match text {
                Some(text) => serde_json::from_str(&text).map_err(|e| DbErr::Json(e.to_string())),
                None => Ok(serde_json::Value::Null),
            }
        }
    }
}

/// A value as text: a string as it is, `null` as `None`, anything else as its JSON text.
fn text(value: serde_json::Value) -> Option<String> {
    match value {
        serde_json::Value::Null => None,
        serde_json::Value::String(text) => Some(text),
        other => Some(other.to_string()),
    }
}

/// A value as text when it is text (a string, a number, a boolean): what
/// [`Source::first_of`] takes.
fn scalar(value: serde_json::Value) -> Option<String> {
    match value {
        serde_json::Value::String(text) => Some(text),
        serde_json::Value::Number(n) => Some(n.to_string()),
        serde_json::Value::Bool(b) => Some(b.to_string()),
        _ => None,
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
        let mut parts: Vec<&'a Source> = sources.into_iter().flatten().collect();
        match &table.shape {
            Shape::Messages { content, sender } => {
                parts.extend(content);
                parts.extend(sender.iter().map(|s| &s.source));
            }
            Shape::Turns { user, reply } => parts.extend([user, reply]),
        }
        parts.extend(table.list.iter().map(|(list, _)| list));
        let mut names: Vec<&'a str> = parts
            .into_iter()
            .flat_map(Source::leaves)
            .filter(|leaf| !matches!(leaf.repr(), Repr::Item { .. }))
            .map(Source::column)
            .collect();
        names.extend(table.state.as_deref());
        names.extend(table.created.iter().map(|(c, _)| c.as_str()));
        names.extend(table.updated.iter().map(|(c, _)| c.as_str()));
        names.extend(table.order.as_deref());
        for name in names {
            if !columns.iter().any(|(c, _)| *c == name) {
                let alias = format!("c{}", columns.len());
                columns.push((name, alias));
            }
        }
        Columns { table, columns }
    }

    /// The alias `column` is selected under (every column the table names has one).
    pub(crate) fn alias(&self, column: &str) -> &str {
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
        self.get_in(row, None, source)
    }

    /// A part's value in `row`, or in `item` (a message of the row's list) for a
    /// [`Source::item`]; `None` when the part is not named or holds nothing.
    pub(crate) fn get_in(
        &self,
        row: &QueryResult,
        item: Option<&serde_json::Value>,
        source: Option<&Source>,
    ) -> Result<Option<String>, DbErr> {
        let Some(source) = source else {
            return Ok(None);
        };
        if let Repr::FirstOf(sources) = source.repr() {
            for source in sources {
                if let Some(found) = self.value(row, item, source)?.and_then(scalar) {
                    return Ok(Some(found));
                }
            }
            return Ok(None);
        }
        Ok(self.value(row, item, source)?.and_then(text))
    }

    /// One place's value, as JSON (a plain column's as a string).
    pub(crate) fn value(
        &self,
        row: &QueryResult,
        item: Option<&serde_json::Value>,
        source: &Source,
    ) -> Result<Option<serde_json::Value>, DbErr> {
        match source.repr() {
            Repr::Column {
                column,
                pointer: None,
            } => Ok(opt_text(row, self.alias(column))?.map(serde_json::Value::String)),
            Repr::Column {
                column,
                pointer: Some(pointer),
            } => Ok(json(row, self.alias(column))?.pointer(pointer).cloned()),
            Repr::Item { pointer } => Ok(item.and_then(|v| v.pointer(pointer)).cloned()),
            Repr::FirstOf(_) => Ok(self
                .get_in(row, item, Some(source))?
                .map(serde_json::Value::String)),
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

    /// What places a row in time (see [`Message::when`]).
    pub(crate) fn when(&self, row: &QueryResult) -> Result<(Option<String>, i64), DbErr> {
        let t = self.table;
        let order = match &t.order {
            Some(column) => opt_text(row, self.alias(column))?,
            None if t.created.is_none() => match t.id.as_ref().and_then(Source::plain) {
                Some(id) => opt_text(row, self.alias(id))?,
                None => None,
            },
            None => None,
        };
        Ok((order, self.time(row, &t.created)?))
    }

    pub(crate) fn state(&self, row: &QueryResult) -> Result<serde_json::Value, DbErr> {
        match &self.table.state {
            Some(column) => json(row, self.alias(column)),
            None => Ok(serde_json::Value::Null),
        }
    }
}
