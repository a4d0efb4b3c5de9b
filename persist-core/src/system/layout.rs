//! [`Layout`]: where a system keeps its sessions and messages, so that the inspector and the
//! assertions can read any system's tables, not one fixed set of names.

use std::sync::Arc;

use crate::db::{ManagerBuilder, MultiDatabaseManager};
use crate::error::{PersistError, Result};
use crate::system::System;

/// How a time column stores its instant.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum TimeUnit {
    /// Integer milliseconds since the Unix epoch (the default).
    #[default]
    Millis,
    /// Seconds since the Unix epoch, integer or floating point.
    Seconds,
}

/// How one value of a sender (or role) column maps to who sent the message.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Senders {
    pub(crate) column: String,
    pub(crate) user: String,
    /// `None`: every value other than `user` is the agent's.
    pub(crate) agent: Option<String>,
}

/// One table of a [`Layout`]: its name and which column plays which part. Only the parts a
/// table needs are required (see [`Layout::new`]); the rest are optional.
///
/// Column names are used as given (quoted for the backend), so they may be any identifier.
///
/// ```
/// use persist_core::system::{Table, TimeUnit};
///
/// let events = Table::new("events")
///     .id("id")
///     .session("session_id")
///     .content_json("content", "/parts/0/text")
///     .sender("author")
///     .turn("invocation_id")
///     .created("timestamp", TimeUnit::Seconds);
/// assert_eq!(events.name(), "events");
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Table {
    pub(crate) name: String,
    pub(crate) id: Option<String>,
    pub(crate) session: Option<String>,
    pub(crate) user: Option<String>,
    pub(crate) agent: Option<String>,
    pub(crate) title: Option<String>,
    pub(crate) state: Option<String>,
    pub(crate) content: Option<(String, Option<String>)>,
    pub(crate) sender: Option<Senders>,
    pub(crate) sender_name: Option<String>,
    pub(crate) turn: Option<String>,
    pub(crate) created: Option<(String, TimeUnit)>,
    pub(crate) updated: Option<(String, TimeUnit)>,
}

impl Table {
    /// A table named `name`, with no columns described yet.
    pub fn new(name: impl Into<String>) -> Self {
        Table {
            name: name.into(),
            id: None,
            session: None,
            user: None,
            agent: None,
            title: None,
            state: None,
            content: None,
            sender: None,
            sender_name: None,
            turn: None,
            created: None,
            updated: None,
        }
    }

    /// The table's name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The row's own id. Text or integer columns are read as text.
    pub fn id(mut self, column: impl Into<String>) -> Self {
        self.id = Some(column.into());
        self
    }

    /// The gateway session id: in a message table, the session it belongs to; in an agent's
    /// session table, the gateway session it is linked to.
    pub fn session(mut self, column: impl Into<String>) -> Self {
        self.session = Some(column.into());
        self
    }

    /// The owning user.
    pub fn user(mut self, column: impl Into<String>) -> Self {
        self.user = Some(column.into());
        self
    }

    /// The agent: in the gateway's session table, the agent a session talks to; in an agent's
    /// session table, the agent that stored it. Without it, an agent's rows are taken to be
    /// its own.
    pub fn agent(mut self, column: impl Into<String>) -> Self {
        self.agent = Some(column.into());
        self
    }

    /// A session's display name.
    pub fn title(mut self, column: impl Into<String>) -> Self {
        self.title = Some(column.into());
        self
    }

    /// An agent session's working state (JSON, or text holding JSON).
    pub fn state(mut self, column: impl Into<String>) -> Self {
        self.state = Some(column.into());
        self
    }

    /// A message's text.
    pub fn content(mut self, column: impl Into<String>) -> Self {
        self.content = Some((column.into(), None));
        self
    }

    /// A message's text inside a JSON value: the string at `pointer` (RFC 6901, like
    /// `/parts/0/text`) of the JSON in `column`.
    pub fn content_json(mut self, column: impl Into<String>, pointer: impl Into<String>) -> Self {
        self.content = Some((column.into(), Some(pointer.into())));
        self
    }

    /// Who sent a message: the value `user` is the user, any other value the agent. See
    /// [`sender_values`](Self::sender_values) to name both.
    pub fn sender(mut self, column: impl Into<String>) -> Self {
        self.sender = Some(Senders {
            column: column.into(),
            user: "user".into(),
            agent: None,
        });
        self
    }

    /// Who sent a message, with the value that means the user and the one that means the
    /// agent; any other value is a system message.
    pub fn sender_values(
        mut self,
        column: impl Into<String>,
        user: impl Into<String>,
        agent: impl Into<String>,
    ) -> Self {
        self.sender = Some(Senders {
            column: column.into(),
            user: user.into(),
            agent: Some(agent.into()),
        });
        self
    }

    /// The sender's name (the user id, or the agent's name).
    pub fn sender_name(mut self, column: impl Into<String>) -> Self {
        self.sender_name = Some(column.into());
        self
    }

    /// The turn (task, invocation) a message belongs to, shared by the gateway's and the
    /// agent's messages of one turn.
    pub fn turn(mut self, column: impl Into<String>) -> Self {
        self.turn = Some(column.into());
        self
    }

    /// When the row was created; messages are ordered by it (then by id).
    pub fn created(mut self, column: impl Into<String>, unit: TimeUnit) -> Self {
        self.created = Some((column.into(), unit));
        self
    }

    /// When the row was last updated; a user's sessions are listed most recent first by it.
    pub fn updated(mut self, column: impl Into<String>, unit: TimeUnit) -> Self {
        self.updated = Some((column.into(), unit));
        self
    }

    fn require(&self, role: &str, which: &str, present: bool) -> Result<()> {
        if present {
            Ok(())
        } else {
            Err(PersistError::InvalidLayout {
                table: format!("{role} `{}`", self.name),
                reason: format!("it needs a {which} column"),
            })
        }
    }

    fn check_names(&self, role: &str) -> Result<()> {
        let bad = |reason: String| PersistError::InvalidLayout {
            table: format!("{role} `{}`", self.name),
            reason,
        };
        if self.name.trim().is_empty() {
            return Err(bad("the table name is blank".into()));
        }
        let mut columns: Vec<&str> = [
            &self.id,
            &self.session,
            &self.user,
            &self.agent,
            &self.title,
            &self.state,
            &self.sender_name,
            &self.turn,
        ]
        .into_iter()
        .flatten()
        .map(String::as_str)
        .collect();
        columns.extend(self.content.iter().map(|(c, _)| c.as_str()));
        columns.extend(self.sender.iter().map(|s| s.column.as_str()));
        columns.extend(self.created.iter().map(|(c, _)| c.as_str()));
        columns.extend(self.updated.iter().map(|(c, _)| c.as_str()));
        if columns.iter().any(|c| c.trim().is_empty()) {
            return Err(bad("a column name is blank".into()));
        }
        if let Some((_, Some(pointer))) = &self.content
            && !pointer.is_empty()
            && !pointer.starts_with('/')
        {
            return Err(bad(format!(
                "the JSON pointer {pointer:?} must be empty or start with `/`"
            )));
        }
        Ok(())
    }
}

/// Where a system keeps its sessions and messages: four tables, two in the gateway's database
/// and two in every agent's. Every inspector check and assertion reads through it.
///
/// | table | needs | may have |
/// |-------|-------|----------|
/// | gateway sessions | `id`, `user`, `agent` | `title`, `created`, `updated` |
/// | gateway messages | `id`, `session`, `content`, `sender` | `sender_name`, `turn`, `created` |
/// | agent sessions | `session` (the gateway session id), `user` | `agent`, `state` |
/// | agent messages | `id`, `session` (the gateway session id), `content`, `sender` | `turn`, `created` |
///
/// ```
/// use persist_core::system::{Layout, Table, TimeUnit};
///
/// let layout = Layout::new(
///     Table::new("sessions").id("id").user("user_id").agent("agent").title("title")
///         .updated("updated_ms", TimeUnit::Millis),
///     Table::new("chat_messages").id("id").session("session_id").content("body")
///         .sender_values("author_kind", "human", "bot").turn("turn_id")
///         .created("created_ms", TimeUnit::Millis),
///     Table::new("sessions").session("id").user("user_id").agent("app_name").state("state"),
///     Table::new("events").id("id").session("session_id")
///         .content_json("content", "/parts/0/text").sender("author").turn("invocation_id")
///         .created("timestamp", TimeUnit::Millis),
/// )?;
/// assert_eq!(layout.agent_messages().name(), "events");
/// # Ok::<(), persist_core::PersistError>(())
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Layout {
    gateway_sessions: Table,
    gateway_messages: Table,
    agent_sessions: Table,
    agent_messages: Table,
}

impl Layout {
    /// A layout from its four tables; an error names a table that lacks a column it needs.
    pub fn new(
        gateway_sessions: Table,
        gateway_messages: Table,
        agent_sessions: Table,
        agent_messages: Table,
    ) -> Result<Self> {
        const GS: &str = "gateway sessions table";
        const GM: &str = "gateway messages table";
        const AS: &str = "agent sessions table";
        const AM: &str = "agent messages table";
        let t = &gateway_sessions;
        t.check_names(GS)?;
        t.require(GS, "id", t.id.is_some())?;
        t.require(GS, "user", t.user.is_some())?;
        t.require(GS, "agent", t.agent.is_some())?;
        for (role, t) in [(GM, &gateway_messages), (AM, &agent_messages)] {
            t.check_names(role)?;
            t.require(role, "id", t.id.is_some())?;
            t.require(role, "session", t.session.is_some())?;
            t.require(role, "content", t.content.is_some())?;
            t.require(role, "sender", t.sender.is_some())?;
        }
        let t = &agent_sessions;
        t.check_names(AS)?;
        t.require(AS, "session", t.session.is_some())?;
        t.require(AS, "user", t.user.is_some())?;
        Ok(Layout {
            gateway_sessions,
            gateway_messages,
            agent_sessions,
            agent_messages,
        })
    }

    /// The gateway's session table.
    pub fn gateway_sessions(&self) -> &Table {
        &self.gateway_sessions
    }

    /// The gateway's message table.
    pub fn gateway_messages(&self) -> &Table {
        &self.gateway_messages
    }

    /// Each agent's session table.
    pub fn agent_sessions(&self) -> &Table {
        &self.agent_sessions
    }

    /// Each agent's message table.
    pub fn agent_messages(&self) -> &Table {
        &self.agent_messages
    }
}

impl ManagerBuilder {
    /// Takes the schemas and layout of `system` (what `#[persistence_test(system = "…")]`
    /// does). Later calls can still replace any of them.
    pub fn system(self, system: &dyn System) -> Self {
        self.schemas(system.gateway_schema(), system.agent_schema())
            .attach(system.layout())
    }

    /// Where the system keeps sessions and messages, for the inspector.
    pub fn layout(self, layout: Layout) -> Self {
        self.attach(Some(layout))
    }
}

impl MultiDatabaseManager {
    /// Where the system keeps sessions and messages, if it said.
    pub fn layout(&self) -> Option<&Layout> {
        self.attached()
    }

    /// The layout, shared.
    pub(crate) fn shared_layout(&self) -> Option<Arc<Layout>> {
        self.attached_shared()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn valid() -> [Table; 4] {
        [
            Table::new("s").id("id").user("u").agent("a"),
            Table::new("m")
                .id("id")
                .session("s")
                .content("c")
                .sender("k"),
            Table::new("as").session("id").user("u"),
            Table::new("am")
                .id("id")
                .session("s")
                .content("c")
                .sender("r"),
        ]
    }

    #[test]
    fn a_missing_column_is_named() {
        let [gs, gm, agent_sessions, am] = valid();
        assert!(Layout::new(gs.clone(), gm.clone(), agent_sessions.clone(), am.clone()).is_ok());
        let error = Layout::new(
            gs.clone(),
            Table::new("m").id("id").session("s").content("c"),
            agent_sessions.clone(),
            am.clone(),
        )
        .unwrap_err();
        assert_eq!(
            error.to_string(),
            "invalid layout: gateway messages table `m`: it needs a sender column"
        );
        let error = Layout::new(gs, gm, Table::new("as").session("id"), am).unwrap_err();
        assert!(error.to_string().contains("needs a user column"), "{error}");
    }

    #[test]
    fn blank_names_and_bad_pointers_are_refused() {
        let [gs, gm, agent_sessions, _] = valid();
        let am = Table::new("am")
            .id("id")
            .session("s")
            .content_json("c", "parts/0")
            .sender("r");
        let error = Layout::new(gs.clone(), gm.clone(), agent_sessions.clone(), am).unwrap_err();
        assert!(error.to_string().contains("JSON pointer"), "{error}");
        let am = Table::new("am")
            .id(" ")
            .session("s")
            .content("c")
            .sender("r");
        let error = Layout::new(gs, gm, agent_sessions, am).unwrap_err();
        assert!(error.to_string().contains("blank"), "{error}");
    }
}
