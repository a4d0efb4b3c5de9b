//! [`Source`]: where a part of a [`Table`](super::Table) is kept.

/// Where a value is kept: a column, the value at a JSON pointer inside a column, a value
/// inside each message of a row's message list, or the first of several of those that holds
/// one.
///
/// A `&str` or `String` converts to a column, so every [`Table`](super::Table) method takes a column name
/// as it is; [`Source::json`] names a value inside a JSON (or text holding JSON) column;
/// [`Source::item`] a value inside each message of a [`Table::history`](super::Table::history) or
/// [`Table::message_list`](super::Table::message_list); [`Source::first_of`] the first of several places that holds a
/// value (a store that keeps a user's text at `/content` and an assistant's at
/// `/content/0/text`).
///
/// ```
/// use persist_core::system::Source;
///
/// let turn = Source::json("custom_metadata", "/task_id");
/// assert_eq!(turn.column(), "custom_metadata");
/// assert_eq!(turn.pointer(), Some("/task_id"));
/// assert_eq!(Source::from("id").pointer(), None);
///
/// let text = Source::first_of([
///     Source::json("message_data", "/content/0/text"),
///     Source::json("message_data", "/content"),
/// ]);
/// assert_eq!(text.column(), "message_data");
/// ```
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Source(Repr);

#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub(crate) enum Repr {
    Column {
        column: String,
        pointer: Option<String>,
    },
    /// Inside each message of a row's message list.
    Item { pointer: String },
    /// The first that holds text.
    FirstOf(Vec<Source>),
}

impl Source {
    /// The value at `pointer` (RFC 6901, like `/parts/0/text`) of the JSON in `column`.
    /// Strings are read as they are; numbers and other values as their JSON text.
    pub fn json(column: impl Into<String>, pointer: impl Into<String>) -> Self {
        Source(Repr::Column {
            column: column.into(),
            pointer: Some(pointer.into()),
        })
    }

    /// The value at `pointer` inside each message of a row's message list (a table whose
    /// messages are the elements of a JSON array: [`Table::history`](super::Table::history),
    /// [`Table::message_list`](super::Table::message_list)); `""` is the message itself.
    pub fn item(pointer: impl Into<String>) -> Self {
        Source(Repr::Item {
            pointer: pointer.into(),
        })
    }

    /// The first of `sources` that holds text (a string, or a number or boolean as its text;
    /// an object, an array, `null` or nothing at all is passed over). When none does, the
    /// part is absent.
    pub fn first_of(sources: impl IntoIterator<Item = impl Into<Source>>) -> Self {
        let mut flat = Vec::new();
        for source in sources {
            match source.into() {
                Source(Repr::FirstOf(inner)) => flat.extend(inner),
                other => flat.push(other),
            }
        }
        Source(Repr::FirstOf(flat))
    }

    /// The column it reads (of several, the first's; `""` for a value inside a message of a
    /// list, which is read from the list's column).
    pub fn column(&self) -> &str {
        match &self.0 {
            Repr::Column { column, .. } => column,
            Repr::Item { .. } => "",
            Repr::FirstOf(sources) => sources.first().map_or("", Source::column),
        }
    }

    /// The JSON pointer inside the column (or inside the message, for [`Source::item`]), if
    /// any (of several, the first's).
    pub fn pointer(&self) -> Option<&str> {
        match &self.0 {
            Repr::Column { pointer, .. } => pointer.as_deref(),
            Repr::Item { pointer } => Some(pointer),
            Repr::FirstOf(sources) => sources.first().and_then(Source::pointer),
        }
    }

    pub(crate) fn repr(&self) -> &Repr {
        &self.0
    }

    /// Each single place it reads: itself, or each of several.
    pub(crate) fn leaves(&self) -> Vec<&Source> {
        match &self.0 {
            Repr::FirstOf(sources) => sources.iter().flat_map(Source::leaves).collect(),
            _ => vec![self],
        }
    }

    /// Whether it reads inside the messages of a list (any of its places).
    pub(crate) fn in_item(&self) -> bool {
        self.leaves()
            .iter()
            .any(|s| matches!(s.0, Repr::Item { .. }))
    }

    /// The plain column, when the value is the whole column (so SQL can filter on it).
    pub(crate) fn plain(&self) -> Option<&str> {
        match &self.0 {
            Repr::Column {
                column,
                pointer: None,
            } => Some(column),
            _ => None,
        }
    }

    /// `column`, `column/pointer`, `item/pointer` or `a | b`, for printing rows.
    pub(crate) fn label(&self) -> String {
        match &self.0 {
            Repr::Column {
                column,
                pointer: Some(pointer),
            } => format!("{column}{pointer}"),
            Repr::Column { column, .. } => column.clone(),
            Repr::Item { pointer } => format!("item{pointer}"),
            Repr::FirstOf(sources) => sources
                .iter()
                .map(Source::label)
                .collect::<Vec<_>>()
                .join(" | "),
        }
    }
}

impl From<&str> for Source {
    fn from(column: &str) -> Self {
        Source(Repr::Column {
            column: column.to_owned(),
            pointer: None,
        })
    }
}

impl From<String> for Source {
    fn from(column: String) -> Self {
        Source(Repr::Column {
            column,
            pointer: None,
        })
    }
}

impl From<&String> for Source {
    fn from(column: &String) -> Self {
        Source::from(column.as_str())
    }
}

impl From<&Source> for Source {
    fn from(source: &Source) -> Self {
        source.clone()
    }
}
