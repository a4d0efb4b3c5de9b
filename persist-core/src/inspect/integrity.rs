//! Integrity within and across databases: orphans, sessions without their gateway session,
//! counts, and the order of each session's history on both sides.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use super::CrossDatabaseInspector;
use super::order::{self, Item};
use super::report::{IntegrityProblem, IntegrityReport, VerificationError};
use super::rows::GatewaySessionRow;
use crate::error::Result;

impl CrossDatabaseInspector {
    /// Checks integrity within and across databases: no orphan message on either side, no
    /// agent session without its gateway session, the same number of messages for each
    /// session in the gateway and in its agent, and, where both sides keep an order, the
    /// session's history in the same order on both sides: its turns where both sides name the
    /// turn of every message, else its messages. Messages tied in time (one second of a
    /// one-second clock) may come in either order; nothing is reported that the data cannot
    /// show.
    pub async fn verify_integrity(&self) -> Result<IntegrityReport> {
        let layout = self.layout()?;
        let sessions = self.all_gateway_sessions().await?;
        let messages = self.all_gateway_messages().await?;
        let by_id: HashMap<&str, &GatewaySessionRow> =
            sessions.iter().map(|s| (s.id.as_str(), s)).collect();
        let mut problems = Vec::new();
        let mut gateway_history: HashMap<&str, Vec<Said>> = HashMap::new();
        for message in &messages {
            if by_id.contains_key(message.session_id.as_str()) {
                gateway_history
                    .entry(message.session_id.as_str())
                    .or_default()
                    .push(Said {
                        block: message.block.0,
                        turn: message.task_id.clone().unwrap_or_default(),
                        question: message.sender_type == "user",
                        text: message.message.clone(),
                    });
            } else {
                problems.push(IntegrityProblem::OrphanGatewayMessage {
                    message: message.clone(),
                });
            }
        }
        let mut agent_sessions = BTreeMap::new();
        let mut agent_history: HashMap<(String, String), Vec<Said>> = HashMap::new();
        let agents: Vec<String> = self.manager().agent_names().map(str::to_owned).collect();
        for agent in &agents {
            let rows = self.agent_sessions(agent, None).await?;
            let ids: BTreeSet<&str> = rows.iter().map(|r| r.id.as_str()).collect();
            for message in self.agent_messages(agent, None).await? {
                if ids.contains(message.session_id.as_str()) {
                    agent_history
                        .entry((agent.clone(), message.session_id.clone()))
                        .or_default()
                        .push(Said {
                            block: message.block.0,
                            turn: message.task_id.clone(),
                            question: message.role == "user",
                            text: message.content.clone(),
                        });
                } else {
                    problems.push(IntegrityProblem::OrphanAgentMessage { message });
                }
            }
            for row in &rows {
                if !by_id.contains_key(row.id.as_str()) {
                    problems.push(IntegrityProblem::AgentSessionWithoutGateway {
                        session: row.clone(),
                    });
                }
            }
            agent_sessions.insert(agent.clone(), rows.len());
        }
        let keeps_order = |t: &crate::system::Table| {
            t.order.is_some()
                || t.created.is_some()
                || t.is_list()
                || t.id
                    .as_ref()
                    .and_then(crate::system::Source::plain)
                    .is_some()
        };
        let empty = Vec::new();
        for session in &sessions {
            if !agents.contains(&session.agent_name) {
                continue;
            }
            let ours = gateway_history.get(session.id.as_str()).unwrap_or(&empty);
            let key = (session.agent_name.clone(), session.id.clone());
            let theirs = agent_history.get(&key).unwrap_or(&empty);
            if ours.len() != theirs.len() {
                problems.push(IntegrityProblem::CountMismatch {
                    session_id: session.id.clone(),
                    agent: session.agent_name.clone(),
                    gateway: ours.len(),
                    agent_count: theirs.len(),
                });
                continue;
            }
            let agent_table = layout.agent_messages_of(&session.agent_name);
            if !keeps_order(layout.gateway_messages()) || !keeps_order(agent_table) {
                continue;
            }
            let by_turn = self.turns_known(&session.agent_name)?
                && ours.iter().chain(theirs).all(|m| !m.turn.is_empty());
            if by_turn {
                if let Err(at) =
                    order::agree(&keys(ours, |m| &m.turn), &keys(theirs, |m| &m.turn), false)
                {
                    let (gateway_turns, agent_turns) = (turn_list(ours), turn_list(theirs));
                    // The turn of the first message no order of the ties can place.
                    let position = if at < ours.len() {
                        turn_list(&ours[..=at]).len() - 1
                    } else {
                        gateway_turns.len()
                    };
                    problems.push(IntegrityProblem::OrderMismatch {
                        session_id: session.id.clone(),
                        agent: session.agent_name.clone(),
                        position,
                        gateway_turns,
                        agent_turns,
                    });
                }
            } else {
                if let Err(position) =
                    order::agree(&keys(ours, |m| &m.text), &keys(theirs, |m| &m.text), false)
                {
                    problems.push(IntegrityProblem::HistoryOrderMismatch {
                        session_id: session.id.clone(),
                        agent: session.agent_name.clone(),
                        position,
                        gateway: ours.iter().map(|m| m.text.clone()).collect(),
                        agent_messages: theirs.iter().map(|m| m.text.clone()).collect(),
                    });
                }
            }
        }
        if problems.is_empty() {
            Ok(IntegrityReport {
                gateway_sessions: sessions.len(),
                gateway_messages: messages.len(),
                agent_sessions,
            })
        } else {
            Err(VerificationError::Integrity { problems }.into())
        }
    }
}

/// One message of a session's history, as the order checks compare it.
struct Said {
    block: usize,
    turn: String,
    /// Whether it is its turn's question (the user's message).
    question: bool,
    text: String,
}

/// A history compared by `key`, for [`order::agree`].
fn keys(history: &[Said], key: fn(&Said) -> &String) -> Vec<Item<&str>> {
    history
        .iter()
        .map(|m| Item::new(m.block, key(m).as_str()).in_turn(&m.turn, m.question))
        .collect()
}

/// A history's turns, once per run of messages of one turn.
fn turn_list(history: &[Said]) -> Vec<String> {
    let mut turns: Vec<String> = Vec::new();
    for m in history {
        if turns.last() != Some(&m.turn) {
            turns.push(m.turn.clone());
        }
    }
    turns
}
