//! [`Layout`]: where a system keeps its sessions and messages, so that the inspector and the
//! assertions can read any system's tables, not one fixed set of names.

use std::collections::BTreeMap;

use crate::error::Result;

mod source;
mod table;

pub(crate) use source::Repr;
pub use source::Source;
pub(crate) use table::{ListRows, Senders, Shape};
pub use table::{Table, TimeUnit};

/// Where a system keeps its sessions and messages: two tables in the gateway's database and two
/// in each agent's. Every agent reads through the same two unless the layout names an agent
/// with tables of its own ([`agent`](Self::agent)): a mesh whose agents run on different
/// frameworks. Every inspector check and assertion reads through it.
///
/// | table | needs | may have |
/// |-------|-------|----------|
/// | gateway sessions | `id`, `user`, `agent` | `title`, `created`, `updated` |
/// | gateway messages | `id`, `session`, and `content` + `sender` or `turns` | `user`, `sender_name`, `turn`, `created`, `order`, `answered_by` |
/// | agent sessions | `session` (the gateway session id) | `user` (else its gateway session's), `key`, `agent`, `state` |
/// | agent messages | `id` (or a list), `session` or `agent_session`, and `content` + `sender` or `turns` | `user`, `turn`, `created`, `order`, `answered_by` |
///
/// An agent session table that repeats a session over several rows (a checkpoint per step)
/// reads as one session per id. A message table may keep its messages as the elements of a
/// JSON array in each row ([`Table::history`], [`Table::message_list`]).
///
/// A message table keeps one message per row (`content` and `sender`), or one turn per row
/// holding both sides ([`Table::turns`]). Any part may be a value inside a JSON column
/// ([`Source::json`]); times may be epoch numbers or native date-times ([`TimeUnit`]). Agent
/// messages that name the agent's own session rather than the gateway's
/// ([`Table::agent_session`]) are joined to it through the agent's session table, which then
/// needs a [`key`](Table::key).
///
/// ```
/// use persist_core::system::{Layout, Source, Table, TimeUnit};
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
///         .created("timestamp", TimeUnit::DateTime),
/// )?;
/// assert_eq!(layout.agent_messages().name(), "events");
///
/// // An agent session table whose own ids are not the gateway's: the link is in its state.
/// let agent_sessions = Table::new("sessions").key("id")
///     .session(Source::json("state", "/gateway_session_id")).user("user_id");
/// let events = Table::new("events").id("id").agent_session("session_id")
///     .content_json("content", "/parts/0/text").sender("author");
/// let joined = Layout::new(
///     layout.gateway_sessions().clone(), layout.gateway_messages().clone(), agent_sessions, events,
/// )?;
/// assert!(joined.agent_messages().name() == "events");
/// # Ok::<(), persist_core::PersistError>(())
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Layout {
    gateway_sessions: Table,
    gateway_messages: Table,
    agent_sessions: Table,
    agent_messages: Table,
    /// Agents with tables of their own, by name.
    agents: BTreeMap<String, (Table, Table)>,
}

const AS: &str = "agent sessions table";
const AM: &str = "agent messages table";

/// Checks one agent's two tables.
fn check_agent(sessions: &Table, messages: &Table) -> Result<()> {
    check_messages(AM, messages)?;
    let t = messages;
    t.require(
        AM,
        "a session column (or `agent_session`)",
        t.session.is_some() || t.agent_session.is_some(),
    )?;
    let t = sessions;
    t.check_names(AS)?;
    t.require(AS, "a session column", t.session.is_some())?;
    if messages.agent_session.is_some() {
        t.require(
            AS,
            "a key column: the agent's messages name their session by `agent_session`",
            t.key.is_some(),
        )?;
    }
    Ok(())
}

/// Checks what any message table needs.
fn check_messages(role: &str, t: &Table) -> Result<()> {
    t.check_names(role)?;
    t.require(
        role,
        "an id column (or a message list)",
        t.id.is_some() || t.is_list(),
    )?;
    if let Shape::Messages { content, sender } = &t.shape {
        t.require(role, "a content column (or `turns`)", content.is_some())?;
        t.require(role, "a sender column (or `turns`)", sender.is_some())?;
    }
    Ok(())
}

impl Layout {
    /// A layout from its four tables (the agents' two are every agent's unless
    /// [`agent`](Self::agent) names other ones); an error names a table that lacks a column
    /// it needs.
    pub fn new(
        gateway_sessions: Table,
        gateway_messages: Table,
        agent_sessions: Table,
        agent_messages: Table,
    ) -> Result<Self> {
        const GS: &str = "gateway sessions table";
        const GM: &str = "gateway messages table";
        let t = &gateway_sessions;
        t.check_names(GS)?;
        t.require(GS, "an id column", t.id.is_some())?;
        t.require(GS, "a user column", t.user.is_some())?;
        t.require(GS, "an agent column", t.agent.is_some())?;
        check_messages(GM, &gateway_messages)?;
        let t = &gateway_messages;
        t.require(GM, "a session column", t.session.is_some())?;
        check_agent(&agent_sessions, &agent_messages)?;
        Ok(Layout {
            gateway_sessions,
            gateway_messages,
            agent_sessions,
            agent_messages,
            agents: BTreeMap::new(),
        })
    }

    /// Agent `name` keeps its data in tables of its own (it runs on another framework than
    /// the others): its sessions and messages are read through these. An error names a table
    /// that lacks a column it needs.
    ///
    /// ```
    /// use persist_core::system::{Layout, Source, Table, TimeUnit};
    ///
    /// let openai_sessions = Table::new("agent_sessions").session("session_id");
    /// let openai_messages = Table::new("agent_messages").id("id").session("session_id")
    ///     .content(Source::first_of([
    ///         Source::json("message_data", "/content/0/text"),
    ///         Source::json("message_data", "/content"),
    ///     ]))
    ///     .sender(Source::json("message_data", "/role"))
    ///     .created("created_at", TimeUnit::DateTime);
    /// let threads = Table::new("checkpoints").session("thread_id");
    /// let checkpoints = Table::new("checkpoints").session("thread_id").order("checkpoint_id")
    ///     .history(Source::json("checkpoint", "/channel_values/messages"))
    ///     .content(Source::item("/content"))
    ///     .sender_values(Source::item("/type"), "human", "ai");
    /// let layout = Layout::new(
    ///     Table::new("conversations").id("id").user("user_id").agent("agent_name"),
    ///     Table::new("messages").id("id").session("conversation_id").order("sequence_id")
    ///         .content("text").sender("role"),
    ///     openai_sessions,
    ///     openai_messages,
    /// )?
    /// .agent("Planner", threads, checkpoints)?;
    /// assert_eq!(layout.agent_messages_of("Planner").name(), "checkpoints");
    /// assert_eq!(layout.agent_messages_of("Chat").name(), "agent_messages");
    /// # Ok::<(), persist_core::PersistError>(())
    /// ```
    pub fn agent(
        mut self,
        name: impl Into<String>,
        sessions: Table,
        messages: Table,
    ) -> Result<Self> {
        check_agent(&sessions, &messages)?;
        self.agents.insert(name.into(), (sessions, messages));
        Ok(self)
    }

    /// The session table of agent `agent`: its own, or every agent's.
    pub fn agent_sessions_of(&self, agent: &str) -> &Table {
        self.agents
            .get(agent)
            .map_or(&self.agent_sessions, |(sessions, _)| sessions)
    }

    /// The message table of agent `agent`: its own, or every agent's.
    pub fn agent_messages_of(&self, agent: &str) -> &Table {
        self.agents
            .get(agent)
            .map_or(&self.agent_messages, |(_, messages)| messages)
    }

    /// The agents named with tables of their own.
    pub fn agents_with_own_tables(&self) -> impl Iterator<Item = &str> {
        self.agents.keys().map(String::as_str)
    }

    /// The gateway's session table.
    pub fn gateway_sessions(&self) -> &Table {
        &self.gateway_sessions
    }

    /// The gateway's message table.
    pub fn gateway_messages(&self) -> &Table {
        &self.gateway_messages
    }

    /// Every agent's session table (but for those with tables of their own: see
    /// [`agent_sessions_of`](Self::agent_sessions_of)).
    pub fn agent_sessions(&self) -> &Table {
        &self.agent_sessions
    }

    /// Every agent's message table (but for those with tables of their own: see
    /// [`agent_messages_of`](Self::agent_messages_of)).
    pub fn agent_messages(&self) -> &Table {
        &self.agent_messages
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
            "invalid layout: gateway messages table `m`: it needs a sender column (or `turns`)"
        );
        let error = Layout::new(gs.clone(), gm.clone(), Table::new("as"), am.clone()).unwrap_err();
        assert!(
            error.to_string().contains("needs a session column"),
            "{error}"
        );
        // An agent session table without a user: its sessions are its gateway sessions' users'.
        assert!(Layout::new(gs, gm, Table::new("as").session("id"), am).is_ok());
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

    #[test]
    fn turns_and_joined_sessions_are_checked() {
        let [gs, _, agent_sessions, am] = valid();
        let turns = Table::new("tasks")
            .id("id")
            .session("s")
            .turns(Source::json("b", "/0/text"), Source::json("b", "/1/text"));
        assert!(turns.is_turns());
        assert!(
            Layout::new(
                gs.clone(),
                turns.clone(),
                agent_sessions.clone(),
                am.clone()
            )
            .is_ok()
        );
        // `answered_by` before `turns` is kept; alone, it is refused.
        let later = Table::new("tasks")
            .id("id")
            .session("s")
            .answered_by("agent")
            .turns("u", "r");
        assert!(later.is_turns());
        assert_eq!(
            later.answered_by.as_ref().map(Source::column),
            Some("agent")
        );
        let alone = Table::new("tasks").id("id").session("s").answered_by("a");
        let error = Layout::new(gs.clone(), alone, agent_sessions.clone(), am.clone()).unwrap_err();
        assert!(
            error.to_string().contains("`turns` does not say"),
            "{error}"
        );
        // Messages joined through the agent's sessions need the sessions' key.
        let joined = Table::new("am")
            .id("id")
            .agent_session("sid")
            .content("c")
            .sender("r");
        let error = Layout::new(
            gs.clone(),
            turns.clone(),
            agent_sessions.clone(),
            joined.clone(),
        )
        .unwrap_err();
        assert!(error.to_string().contains("needs a key column"), "{error}");
        assert!(Layout::new(gs, turns, agent_sessions.key("id"), joined).is_ok());
    }
}
