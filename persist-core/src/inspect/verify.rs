//! Verifications across databases. Each returns what it found, or a [`VerificationError`] that
//! names the databases and prints the rows it looked at.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use super::CrossDatabaseInspector;
use super::order::{self, Item};
use super::report::{
    ContextIsolationReport, IsolationReport, SessionLink, UserIsolationReport, VerificationError,
};
use super::rows::{AgentMessageRow, AgentSessionRow, list};
use crate::error::Result;

impl CrossDatabaseInspector {
    /// Whether the gateway and `agent` both record turns, so a message can be traced to its
    /// turn.
    pub(super) fn turns_known(&self, agent: &str) -> Result<bool> {
        let layout = self.layout()?;
        Ok(layout.gateway_messages().turn_source().is_some()
            && layout.agent_messages_of(agent).turn_source().is_some())
    }

    /// Whether message id `id` of `agent` names its row beyond the agent's own database: not
    /// when its table says its ids are local, when it numbers messages by their place in a
    /// list, or when the id is a number (every store counts from 1).
    fn global_id(&self, agent: &str, id: &str) -> Result<bool> {
        let table = self.layout()?.agent_messages_of(agent);
        let numbered = table.is_list() && table.id.is_none();
        Ok(!table.local_ids && !numbered && !id.bytes().all(|b| b.is_ascii_digit()))
    }

    /// Whether the gateway's messages name their sender.
    fn senders_named(&self) -> Result<bool> {
        let table = self.layout()?.gateway_messages();
        Ok(table.sender_name.is_some() || (table.is_turns() && table.user.is_some()))
    }

    /// Checks that a gateway session and the agent's session for it exist and agree on id,
    /// agent and user, and that no message the agent keeps for it is stored under another
    /// user (where the agent's message table names its user).
    pub async fn verify_session_linking(
        &self,
        session_id: &str,
        agent: &str,
    ) -> Result<SessionLink> {
        let gateway = self.gateway_session(session_id).await?;
        let agent_rows = self.agent_sessions(agent, Some(session_id)).await?;
        let fail = |reason: String| {
            let mut rows: Vec<String> = gateway.iter().map(ToString::to_string).collect();
            rows.extend(agent_rows.iter().map(ToString::to_string));
            VerificationError::SessionLink {
                session_id: session_id.to_owned(),
                agent: agent.to_owned(),
                reason,
                rows: list(&rows),
            }
        };
        let Some(gateway_row) = gateway.clone() else {
            return Err(fail("the gateway has no such session".into()).into());
        };
        if gateway_row.agent_name != agent {
            return Err(fail(format!(
                "the gateway links it to agent {}",
                gateway_row.agent_name
            ))
            .into());
        }
        let Some(agent_row) = agent_rows.first().cloned() else {
            return Err(fail(format!(
                "agent {agent}'s database has no session with this id"
            ))
            .into());
        };
        if agent_row.user_id != gateway_row.user_id {
            return Err(fail(format!(
                "the gateway says user {}, the agent says user {}",
                gateway_row.user_id, agent_row.user_id
            ))
            .into());
        }
        if agent_row.agent_name != agent {
            return Err(fail(format!(
                "the agent row names agent {}",
                agent_row.agent_name
            ))
            .into());
        }
        let messages = self.agent_messages(agent, Some(session_id)).await?;
        if let Some(stray) = messages.iter().find(|m| {
            m.user_id
                .as_ref()
                .is_some_and(|u| *u != gateway_row.user_id)
        }) {
            return Err(fail(format!(
                "the agent stores a message of user {}'s session under user {}: {stray}",
                gateway_row.user_id,
                stray.user_id.as_deref().unwrap_or_default()
            ))
            .into());
        }
        Ok(SessionLink {
            gateway: gateway_row,
            agent: agent_row,
        })
    }

    /// Checks that no session or message of one agent appears in the other's database: every
    /// session an agent stores belongs (in the gateway) to that agent, and the two share no
    /// session, message or turn.
    pub async fn verify_database_isolation(
        &self,
        agent_a: &str,
        agent_b: &str,
    ) -> Result<IsolationReport> {
        let owners: HashMap<String, String> = self
            .all_gateway_sessions()
            .await?
            .into_iter()
            .map(|s| (s.id, s.agent_name))
            .collect();
        let mut leaks = Vec::new();
        let mut checked = BTreeMap::new();
        let mut seen: Vec<(String, Vec<AgentSessionRow>, Vec<AgentMessageRow>)> = Vec::new();
        for agent in [agent_a, agent_b] {
            let sessions = self.agent_sessions(agent, None).await?;
            let messages = self.agent_messages(agent, None).await?;
            for session in &sessions {
                if session.agent_name != agent {
                    leaks.push(format!(
                        "a session of agent {} is stored by agent {agent}: {session}",
                        session.agent_name
                    ));
                }
                if let Some(owner) = owners.get(&session.id)
                    && owner != agent
                {
                    leaks.push(format!("the gateway gives this session to agent {owner}, but agent {agent} stores it: {session}"));
                }
            }
            for message in &messages {
                if let Some(owner) = owners.get(&message.session_id)
                    && owner != agent
                {
                    leaks.push(format!(
                        "a message of agent {owner}'s session is stored by agent {agent}: {message}"
                    ));
                }
            }
            checked.insert(agent.to_owned(), (sessions.len(), messages.len()));
            seen.push((agent.to_owned(), sessions, messages));
        }
        let (a, b) = (&seen[0], &seen[1]);
        let ids =
            |rows: &[AgentSessionRow]| rows.iter().map(|r| r.id.clone()).collect::<BTreeSet<_>>();
        for shared in ids(&a.1).intersection(&ids(&b.1)) {
            leaks.push(format!("session {shared} is stored by both agents"));
        }
        let keys = |agent: &str, rows: &[AgentMessageRow]| -> Result<BTreeSet<String>> {
            let mut keys = BTreeSet::new();
            for r in rows {
                // An id only its own database gives means nothing in another.
                if self.global_id(agent, &r.id)? {
                    keys.insert(format!("message {}", r.id));
                }
                if !r.task_id.is_empty() {
                    keys.insert(format!("turn {}", r.task_id));
                }
            }
            Ok(keys)
        };
        for shared in keys(&a.0, &a.2)?.intersection(&keys(&b.0, &b.2)?) {
            leaks.push(format!("{shared} is stored by both agents"));
        }
        if leaks.is_empty() {
            Ok(IsolationReport { checked })
        } else {
            Err(VerificationError::AgentIsolation {
                agent_a: agent_a.to_owned(),
                agent_b: agent_b.to_owned(),
                leaks,
            }
            .into())
        }
    }

    /// Checks that two sessions of one agent keep separate histories: every message the agent
    /// stores for a session comes from a turn of that session in the gateway, and the agent's
    /// history of each session is the gateway's, message for message. Name one session twice
    /// to check it alone.
    pub async fn verify_session_context_isolation(
        &self,
        agent: &str,
        session_a: &str,
        session_b: &str,
    ) -> Result<ContextIsolationReport> {
        let turns_known = self.turns_known(agent)?;
        let mut leaks = Vec::new();
        let mut messages = BTreeMap::new();
        // One session named twice is checked once.
        let sessions = if session_a == session_b {
            &[session_a][..]
        } else {
            &[session_a, session_b][..]
        };
        for &session in sessions {
            let gateway = self.gateway_messages(session).await?;
            let stored = self.agent_messages(agent, Some(session)).await?;
            let turns: BTreeSet<&str> = gateway
                .iter()
                .filter_map(|m| m.task_id.as_deref())
                .collect();
            for message in &stored {
                // A message with no turn cannot be traced to one: the history below still is.
                if turns_known
                    && !message.task_id.is_empty()
                    && !turns.contains(message.task_id.as_str())
                {
                    leaks.push(format!("not from a turn of session {session}: {message}"));
                }
            }
            // In the order each side knows; messages tied in time may come in either order.
            let gateway_texts: Vec<Item<&str>> = gateway
                .iter()
                .map(|m| {
                    Item::new(m.block.0, m.message.as_str()).in_turn(
                        m.task_id.as_deref().unwrap_or_default(),
                        m.sender_type == "user",
                    )
                })
                .collect();
            let agent_texts: Vec<Item<&str>> = stored
                .iter()
                .map(|m| {
                    Item::new(m.block.0, m.content.as_str()).in_turn(&m.task_id, m.role == "user")
                })
                .collect();
            if order::agree(&gateway_texts, &agent_texts, false).is_err() {
                leaks.push(format!(
                    "the agent's history of session {session} differs from the gateway's:\n{}\n{}",
                    list(&gateway),
                    list(&stored)
                ));
            }
            messages.insert(session.to_owned(), stored.len());
        }
        if leaks.is_empty() {
            Ok(ContextIsolationReport {
                agent: agent.to_owned(),
                messages,
            })
        } else {
            Err(VerificationError::ContextIsolation {
                agent: agent.to_owned(),
                session_a: session_a.to_owned(),
                session_b: session_b.to_owned(),
                leaks,
            }
            .into())
        }
    }

    /// Checks that no data of one user appears in the other's: every user message in a user's
    /// gateway sessions was sent by that user, and every agent stores each of those sessions
    /// under that user, with only turns of that user's sessions.
    pub async fn verify_user_isolation(
        &self,
        user_a: &str,
        user_b: &str,
    ) -> Result<UserIsolationReport> {
        let names_known = self.senders_named()?;
        let mut leaks = Vec::new();
        let mut sessions = BTreeMap::new();
        for user in [user_a, user_b] {
            let owned = self.gateway_sessions(user).await?;
            for session in &owned {
                let gateway = self.gateway_messages(&session.id).await?;
                for message in &gateway {
                    if names_known && message.sender_type == "user" && message.sender_name != user {
                        leaks.push(format!(
                            "user {}'s message in user {user}'s session: {message}",
                            message.sender_name
                        ));
                    } else if let Some(other) = message.user_id.as_ref().filter(|u| *u != user) {
                        leaks.push(format!(
                            "a row of user {user}'s session stored under user {other}: {message}"
                        ));
                    }
                }
                if !self
                    .manager()
                    .agent_names()
                    .any(|a| a == session.agent_name)
                {
                    continue;
                }
                for row in self
                    .agent_sessions(&session.agent_name, Some(&session.id))
                    .await?
                {
                    if row.user_id != user {
                        leaks.push(format!(
                            "the agent stores user {user}'s session as user {}'s: {row}",
                            row.user_id
                        ));
                    }
                }
                let turns: BTreeSet<&str> = gateway
                    .iter()
                    .filter_map(|m| m.task_id.as_deref())
                    .collect();
                let turns_known = self.turns_known(&session.agent_name)?;
                for message in self
                    .agent_messages(&session.agent_name, Some(&session.id))
                    .await?
                {
                    if turns_known
                        && !message.task_id.is_empty()
                        && !turns.contains(message.task_id.as_str())
                    {
                        leaks.push(format!(
                            "a message from outside user {user}'s turns in their session: {message}"
                        ));
                    } else if let Some(other) = message.user_id.as_ref().filter(|u| *u != user) {
                        leaks.push(format!(
                            "the agent stores a message of user {user}'s session under user {other}: {message}"
                        ));
                    }
                }
            }
            sessions.insert(user.to_owned(), owned.len());
        }
        if leaks.is_empty() {
            Ok(UserIsolationReport { sessions })
        } else {
            Err(VerificationError::UserIsolation {
                user_a: user_a.to_owned(),
                user_b: user_b.to_owned(),
                leaks,
            }
            .into())
        }
    }
}
