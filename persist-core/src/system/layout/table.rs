//! One table of a [`Layout`](super::Layout): which column (or which value inside a JSON column)
//! plays which part.

use super::source::{Repr, Source};
use crate::error::{PersistError, Result};

/// How a time column stores its instant. Whatever the unit, a column of a native date-time
/// type is read as one; the unit says how to read numbers.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum TimeUnit {
    /// Integer milliseconds since the Unix epoch (the default).
    #[default]
    Millis,
    /// Seconds since the Unix epoch, integer or floating point.
    Seconds,
    /// A native date-time column: `TIMESTAMP`, `TIMESTAMPTZ`, `DATETIME`, with or without
    /// fractional seconds, or the text SQLite keeps them as. A time without a zone is UTC.
    DateTime,
}

/// How a value of a sender (or role, or author) maps to who sent the message.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Senders {
    pub(crate) source: Source,
    pub(crate) user: String,
    /// `None`: every value other than `user` is the agent's.
    pub(crate) agent: Option<String>,
}

/// Which rows of a table whose messages are the elements of a JSON array are read.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum ListRows {
    /// The latest row of each session holds its whole history (a checkpoint per step).
    Latest,
    /// Every row holds some of its session's messages, in row order.
    Every,
}

/// What a message table's row holds.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum Shape {
    /// One message per row: its text, and who sent it.
    Messages {
        content: Option<Source>,
        sender: Option<Senders>,
    },
    /// One turn per row: the user's text and the reply (absent while the turn has none).
    Turns { user: Source, reply: Source },
}

/// One table of a [`Layout`](super::Layout): its name and which column plays which part.
/// Only the parts a table needs are required (see [`Layout::new`](super::Layout::new)); the
/// rest are optional.
///
/// Every part takes a column name or a [`Source`]: a value inside a JSON column. Column names
/// are used as given (quoted for the backend), so they may be any identifier.
///
/// ```
/// use persist_core::system::{Source, Table, TimeUnit};
///
/// // One row per message, as an agent framework's event store keeps them.
/// let events = Table::new("events")
///     .id("id")
///     .agent_session("session_id")
///     .user("user_id")
///     .content_json("content", "/parts/0/text")
///     .sender("author")
///     .turn(Source::json("custom_metadata", "/task_id"))
///     .created("timestamp", TimeUnit::DateTime);
/// assert_eq!(events.name(), "events");
///
/// // One row per turn, both sides' text in one JSON column.
/// let tasks = Table::new("chat_tasks")
///     .id("id")
///     .session("session_id")
///     .user("user_id")
///     .turns(Source::json("bubbles", "/0/text"), Source::json("bubbles", "/1/text"))
///     .answered_by(Source::json("metadata", "/agent_name"))
///     .created("created_time", TimeUnit::Millis);
/// assert!(tasks.is_turns());
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Table {
    pub(crate) name: String,
    pub(crate) id: Option<Source>,
    pub(crate) key: Option<Source>,
    pub(crate) session: Option<Source>,
    pub(crate) agent_session: Option<Source>,
    pub(crate) user: Option<Source>,
    pub(crate) agent: Option<Source>,
    pub(crate) title: Option<Source>,
    pub(crate) state: Option<String>,
    pub(crate) shape: Shape,
    pub(crate) sender_name: Option<Source>,
    /// In a table of turns, the reply's sender.
    pub(crate) answered_by: Option<Source>,
    pub(crate) turn: Option<Source>,
    pub(crate) created: Option<(String, TimeUnit)>,
    pub(crate) updated: Option<(String, TimeUnit)>,
    /// A column that orders the rows, before `created`.
    pub(crate) order: Option<String>,
    /// Where the messages of a row are, when they are the elements of a JSON array.
    pub(crate) list: Option<(Source, ListRows)>,
    /// Whether its ids are unique only within its own database.
    pub(crate) local_ids: bool,
}

impl Table {
    /// A table named `name`, with no columns described yet.
    pub fn new(name: impl Into<String>) -> Self {
        Table {
            name: name.into(),
            id: None,
            key: None,
            session: None,
            agent_session: None,
            user: None,
            agent: None,
            title: None,
            state: None,
            shape: Shape::Messages {
                content: None,
                sender: None,
            },
            sender_name: None,
            answered_by: None,
            turn: None,
            created: None,
            updated: None,
            order: None,
            list: None,
            local_ids: false,
        }
    }

    /// The table's name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Whether it keeps one row per turn (see [`turns`](Self::turns)).
    pub fn is_turns(&self) -> bool {
        matches!(self.shape, Shape::Turns { .. })
    }

    /// The row's own id. Text or integer columns are read as text.
    pub fn id(mut self, source: impl Into<Source>) -> Self {
        self.id = Some(source.into());
        self
    }

    /// In an agent's session table, the agent's own key for a session, when it is not the
    /// gateway's session id: its messages name the session by this key (see
    /// [`agent_session`](Self::agent_session)).
    pub fn key(mut self, source: impl Into<Source>) -> Self {
        self.key = Some(source.into());
        self
    }

    /// The gateway session id: in a message table, the session it belongs to; in an agent's
    /// session table, the gateway session it is linked to.
    pub fn session(mut self, source: impl Into<Source>) -> Self {
        self.session = Some(source.into());
        self
    }

    /// In an agent's message table, the agent's own session [`key`](Self::key) a message
    /// belongs to, for messages that do not carry the gateway session id: they are joined to
    /// the gateway session through the agent's session table.
    pub fn agent_session(mut self, source: impl Into<Source>) -> Self {
        self.agent_session = Some(source.into());
        self
    }

    /// The owning user. In a message table, the user the row is stored under: a row under
    /// another user than its session's is a linking failure. In a table of turns, it also
    /// names the sender of the user's side.
    pub fn user(mut self, source: impl Into<Source>) -> Self {
        self.user = Some(source.into());
        self
    }

    /// The agent: in the gateway's session table, the agent a session talks to; in an agent's
    /// session table, the agent that stored it. Without it, an agent's rows are taken to be
    /// its own.
    pub fn agent(mut self, source: impl Into<Source>) -> Self {
        self.agent = Some(source.into());
        self
    }

    /// A session's display name.
    pub fn title(mut self, source: impl Into<Source>) -> Self {
        self.title = Some(source.into());
        self
    }

    /// An agent session's working state (JSON, or text holding JSON).
    pub fn state(mut self, column: impl Into<String>) -> Self {
        self.state = Some(column.into());
        self
    }

    fn messages(&mut self) -> (&mut Option<Source>, &mut Option<Senders>) {
        if self.is_turns() {
            self.shape = Shape::Messages {
                content: None,
                sender: None,
            };
        }
        match &mut self.shape {
            Shape::Messages { content, sender } => (content, sender),
            Shape::Turns { .. } => unreachable!("set to messages above"),
        }
    }

    /// A message's text (one message per row).
    pub fn content(mut self, source: impl Into<Source>) -> Self {
        *self.messages().0 = Some(source.into());
        self
    }

    /// A message's text inside a JSON value: the same as
    /// `content(Source::json(column, pointer))`.
    pub fn content_json(self, column: impl Into<String>, pointer: impl Into<String>) -> Self {
        self.content(Source::json(column, pointer))
    }

    /// Who sent a message: the value `user` is the user, any other value the agent. See
    /// [`sender_values`](Self::sender_values) to name both.
    pub fn sender(mut self, source: impl Into<Source>) -> Self {
        *self.messages().1 = Some(Senders {
            source: source.into(),
            user: "user".into(),
            agent: None,
        });
        self
    }

    /// Who sent a message, with the value that means the user and the one that means the
    /// agent; any other value is a system message.
    pub fn sender_values(
        mut self,
        source: impl Into<Source>,
        user: impl Into<String>,
        agent: impl Into<String>,
    ) -> Self {
        *self.messages().1 = Some(Senders {
            source: source.into(),
            user: user.into(),
            agent: Some(agent.into()),
        });
        self
    }

    /// One row per turn, holding both sides: the user's text and the reply. Each row is read
    /// as two messages, the user's then the agent's (only the user's while the reply is
    /// absent or null). The turn is the row's id unless [`turn`](Self::turn) names one.
    pub fn turns(mut self, user: impl Into<Source>, reply: impl Into<Source>) -> Self {
        self.shape = Shape::Turns {
            user: user.into(),
            reply: reply.into(),
        };
        self
    }

    /// In a table of [`turns`](Self::turns), who answered: the reply's sender name.
    pub fn answered_by(mut self, source: impl Into<Source>) -> Self {
        self.answered_by = Some(source.into());
        self
    }

    /// The sender's name (the user id, or the agent's name).
    pub fn sender_name(mut self, source: impl Into<Source>) -> Self {
        self.sender_name = Some(source.into());
        self
    }

    /// The turn (task, invocation) a message belongs to, shared by the gateway's and the
    /// agent's messages of one turn.
    pub fn turn(mut self, source: impl Into<Source>) -> Self {
        self.turn = Some(source.into());
        self
    }

    /// When the row was created; messages are ordered by it (after any
    /// [`order`](Self::order), then by id).
    pub fn created(mut self, column: impl Into<String>, unit: TimeUnit) -> Self {
        self.created = Some((column.into(), unit));
        self
    }

    /// A column that orders the rows and is not a time: a sequence number
    /// (`sequence_id`), a position, a time-ordered id (`checkpoint_id`). Rows are ordered by
    /// it first (as the database sorts it: numbers as numbers, text as text), then by
    /// [`created`](Self::created), then by id.
    pub fn order(mut self, column: impl Into<String>) -> Self {
        self.order = Some(column.into());
        self
    }

    /// Each row holds a session's whole history so far, as a JSON array of messages (a
    /// checkpoint per step, say): the latest row of each session (by [`order`](Self::order),
    /// else [`created`](Self::created), else id) is read, one message per element. The
    /// message's parts are [`Source::item`]s (or the row's columns); a message without an id
    /// of its own is `<session>#<position>`, its place in the history.
    ///
    /// ```
    /// use persist_core::system::{Source, Table};
    ///
    /// // LangGraph's checkpointer: the thread's messages inside each checkpoint.
    /// let checkpoints = Table::new("checkpoints")
    ///     .session("thread_id")
    ///     .order("checkpoint_id")
    ///     .history(Source::json("checkpoint", "/channel_values/messages"))
    ///     .id(Source::item("/id"))
    ///     .content(Source::item("/content"))
    ///     .sender_values(Source::item("/type"), "human", "ai");
    /// assert!(checkpoints.is_list());
    /// ```
    pub fn history(mut self, list: impl Into<Source>) -> Self {
        self.list = Some((list.into(), ListRows::Latest));
        self
    }

    /// Each row holds some of its session's messages, as a JSON array: every row's messages
    /// are read, rows in order, elements in order. Parts as for [`history`](Self::history);
    /// a message without an id of its own is `<row id>#<position>`.
    pub fn message_list(mut self, list: impl Into<Source>) -> Self {
        self.list = Some((list.into(), ListRows::Every));
        self
    }

    /// Whether its messages are the elements of a JSON array in each row.
    pub fn is_list(&self) -> bool {
        self.list.is_some()
    }

    /// Its ids are unique only within its own database (each agent's store numbers its rows
    /// from 1, say): the inspector never takes the same id in another database for the same
    /// row. Ids made of digits alone are taken so whatever this says.
    pub fn local_ids(mut self) -> Self {
        self.local_ids = true;
        self
    }

    /// When the row was last updated; a user's sessions are listed most recent first by it.
    pub fn updated(mut self, column: impl Into<String>, unit: TimeUnit) -> Self {
        self.updated = Some((column.into(), unit));
        self
    }

    /// The turn of a message: the named one, or in a table of turns, the row's id.
    pub(crate) fn turn_source(&self) -> Option<&Source> {
        self.turn
            .as_ref()
            .or_else(|| self.is_turns().then_some(self.id.as_ref()).flatten())
    }

    pub(crate) fn require(&self, role: &str, which: &str, present: bool) -> Result<()> {
        if present {
            Ok(())
        } else {
            Err(PersistError::InvalidLayout {
                table: format!("{role} `{}`", self.name),
                reason: format!("it needs {which}"),
            })
        }
    }

    /// Every source it names.
    fn sources(&self) -> Vec<&Source> {
        let mut sources: Vec<&Source> = [
            &self.id,
            &self.key,
            &self.session,
            &self.agent_session,
            &self.user,
            &self.agent,
            &self.title,
            &self.sender_name,
            &self.answered_by,
            &self.turn,
        ]
        .into_iter()
        .flatten()
        .collect();
        match &self.shape {
            Shape::Messages { content, sender } => {
                sources.extend(content);
                sources.extend(sender.iter().map(|s| &s.source));
            }
            Shape::Turns { user, reply } => sources.extend([user, reply]),
        }
        sources.extend(self.list.iter().map(|(s, _)| s));
        sources
    }

    pub(crate) fn check_names(&self, role: &str) -> Result<()> {
        let bad = |reason: String| PersistError::InvalidLayout {
            table: format!("{role} `{}`", self.name),
            reason,
        };
        if self.name.trim().is_empty() {
            return Err(bad("the table name is blank".into()));
        }
        let sources = self.sources();
        let leaves: Vec<&Source> = sources.iter().flat_map(|s| s.leaves()).collect();
        if sources
            .iter()
            .any(|s| matches!(s.repr(), Repr::FirstOf(v) if v.is_empty()))
        {
            return Err(bad("`Source::first_of` was given no source".into()));
        }
        let mut columns: Vec<&str> = leaves
            .iter()
            .filter(|s| !matches!(s.repr(), Repr::Item { .. }))
            .map(|s| s.column())
            .collect();
        columns.extend(self.state.as_deref());
        columns.extend(self.created.iter().map(|(c, _)| c.as_str()));
        columns.extend(self.updated.iter().map(|(c, _)| c.as_str()));
        columns.extend(self.order.as_deref());
        if self.answered_by.is_some() && !self.is_turns() {
            return Err(bad(
                "`answered_by` names who answered a turn, but `turns` does not say where the turn's two sides are".into(),
            ));
        }
        if columns.iter().any(|c| c.trim().is_empty()) {
            return Err(bad("a column name is blank".into()));
        }
        for pointer in leaves.iter().filter_map(|s| s.pointer()) {
            if !pointer.is_empty() && !pointer.starts_with('/') {
                return Err(bad(format!(
                    "the JSON pointer {pointer:?} must be empty or start with `/`"
                )));
            }
        }
        match &self.list {
            Some((list, _)) => {
                if list.in_item() {
                    return Err(bad(
                        "the message list is a `Source::item`: name the column (or the value inside one) that holds the array".into(),
                    ));
                }
                if self.is_turns() {
                    return Err(bad(
                        "a table of `turns` cannot also keep its messages in a list".into(),
                    ));
                }
            }
            None => {
                if let Some(item) = leaves
                    .iter()
                    .find(|s| matches!(s.repr(), Repr::Item { .. }))
                {
                    return Err(bad(format!(
                        "`{}` reads inside a message of a list, but the table keeps no message list (`history` or `message_list`)",
                        item.label()
                    )));
                }
            }
        }
        Ok(())
    }
}
