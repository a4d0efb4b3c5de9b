//! Messages as a table holds them: one per row, a turn's two, or the elements of a list; a
//! table of histories read as each session's latest row; and each message's place in time
//! (its block: ties of a clock are not an order).

use sea_orm::{DbErr, QueryResult};

use super::read::{Columns, json};
use crate::system::layout::{ListRows, Repr, Senders, Shape};
use crate::system::{Source, Table};

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
    /// The row it was read from (messages of one row share it), in query order.
    pub(crate) row: usize,
    /// An element of a list without an id of its own: numbered by its place once its
    /// session's messages are known.
    pub(crate) numbered: bool,
    /// What places its row in time: the declared order value and the created time (the row's
    /// id when the table declares neither). Rows alike in it are a tie.
    pub(crate) when: (Option<String>, i64),
    /// Its block: messages whose order is not known share one ([`super::order`]).
    pub(crate) block: usize,
}

/// The messages of one row of a message table: one, in a table of turns the user's and (when
/// there is one) the reply, in a table of lists each element of the row's list.
pub(crate) fn messages(
    columns: &Columns<'_>,
    row: &QueryResult,
    index: usize,
    agent_word: &'static str,
) -> Result<Vec<Message>, DbErr> {
    let t = columns.table;
    let session = t.agent_session.as_ref().or(t.session.as_ref());
    let base = |item: Option<&serde_json::Value>| -> Result<Message, DbErr> {
        let id = columns.get_in(row, item, t.id.as_ref())?;
        Ok(Message {
            numbered: id.is_none() && item.is_some(),
            id: match id {
                Some(id) => id,
                None if item.is_some() => String::new(),
                None => columns.need(row, t.id.as_ref())?,
            },
            session: columns.need(row, session)?,
            text: String::new(),
            sender: String::new(),
            sender_name: columns.get_in(row, item, t.sender_name.as_ref())?,
            user: columns.get_in(row, item, t.user.as_ref())?,
            turn: columns.get_in(row, item, t.turn_source())?,
            created: columns.time(row, &t.created)?,
            row: index,
            when: columns.when(row)?,
            block: 0,
        })
    };
    let one = |item: Option<&serde_json::Value>| -> Result<Vec<Message>, DbErr> {
        match &t.shape {
            Shape::Messages {
                content,
                sender: senders,
            } => {
                let raw = columns
                    .get_in(row, item, senders.as_ref().map(|s| &s.source))?
                    .unwrap_or_default();
                let kind = sender(senders.as_ref(), &raw, agent_word);
                Ok(vec![Message {
                    text: columns
                        .get_in(row, item, content.as_ref())?
                        .unwrap_or_default(),
                    sender: kind,
                    ..base(item)?
                }])
            }
            Shape::Turns { user, reply } => {
                let asked = base(item)?;
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
    };
    let Some((list, _)) = &t.list else {
        return one(None);
    };
    // A list kept whole in a column is JSON whatever the column's type (a blob, say).
    let value = match list.repr() {
        Repr::Column {
            column,
            pointer: None,
        } => Some(json(row, columns.alias(column))?),
        _ => columns.value(row, None, list)?,
    };
    let items = match value {
        None | Some(serde_json::Value::Null) => Vec::new(),
        Some(serde_json::Value::Array(items)) => items,
        // A list kept as text holding JSON.
        Some(serde_json::Value::String(text)) => match serde_json::from_str(&text) {
            Ok(serde_json::Value::Array(items)) => items,
            _ => return Err(not_a_list(t, list)),
        },
        Some(_) => return Err(not_a_list(t, list)),
    };
    let mut out = Vec::new();
    for item in &items {
        out.extend(one(Some(item))?);
    }
    Ok(out)
}

fn not_a_list(t: &Table, list: &Source) -> DbErr {
    DbErr::Type(format!(
        "`{}`: `{}` is not a JSON array of messages",
        t.name,
        list.label()
    ))
}

/// The session a row of a message table belongs to (the gateway's, or the agent's own key).
pub(crate) fn row_session(columns: &Columns<'_>, row: &QueryResult) -> Result<String, DbErr> {
    let t = columns.table;
    columns.need(row, t.agent_session.as_ref().or(t.session.as_ref()))
}

/// What a table's rows say once read together: in a table of histories, only each session's
/// latest row (`sessions` gives each row's session, in query order, so that a latest row
/// with an empty history counts too); messages without an id of their own numbered by their
/// place in their session (`<session>#<n>`, from 0).
pub(crate) fn settle(
    table: &Table,
    sessions: &[String],
    mut messages: Vec<Message>,
) -> Vec<Message> {
    if let Some((_, ListRows::Latest)) = &table.list {
        // The latest in the table's order; with no order at all, the longest history (a
        // history only grows), the later of two as long.
        let ordered = table.order.is_some()
            || table.created.is_some()
            || table.id.as_ref().and_then(Source::plain).is_some();
        let mut lengths = vec![0usize; sessions.len()];
        for m in &messages {
            lengths[m.row] += 1;
        }
        let mut latest: std::collections::HashMap<&str, usize> = std::collections::HashMap::new();
        for (row, session) in sessions.iter().enumerate() {
            let entry = latest.entry(session).or_insert(row);
            if ordered || lengths[row] >= lengths[*entry] {
                *entry = row;
            }
        }
        messages.retain(|m| latest.get(m.session.as_str()) == Some(&m.row));
    }
    place_in_blocks(&mut messages);
    let mut places: std::collections::HashMap<String, usize> = std::collections::HashMap::new();
    for m in &mut messages {
        let place = places.entry(m.session.clone()).or_default();
        if m.numbered {
            m.id = format!("{}#{place}", m.session);
        }
        *place += 1;
    }
    messages
}

/// Gives each message its block, session by session: rows alike in time are a tie. A tie of
/// one row keeps that row's own order (each of its messages a block of its own); a tie of
/// several rows is one block, its order not known. Within a block, a turn's messages go in the
/// order of the turn's first message anywhere, a user's message before the reply of the same
/// turn; messages with no turn after those, as read.
fn place_in_blocks(messages: &mut [Message]) {
    let mut by_session: std::collections::HashMap<&str, Vec<usize>> =
        std::collections::HashMap::new();
    for (i, m) in messages.iter().enumerate() {
        by_session.entry(m.session.as_str()).or_default().push(i);
    }
    let mut blocks = vec![0; messages.len()];
    let mut next = 0;
    let mut sessions: Vec<Vec<usize>> = by_session.into_values().collect();
    sessions.sort();
    for indexes in sessions {
        let mut start = 0;
        while start < indexes.len() {
            let when = &messages[indexes[start]].when;
            let end = indexes[start..]
                .iter()
                .position(|&i| messages[i].when != *when)
                .map_or(indexes.len(), |n| start + n);
            let tie = &indexes[start..end];
            let one_row = tie.iter().all(|&i| messages[i].row == messages[tie[0]].row);
            for &i in tie {
                blocks[i] = next;
                if one_row {
                    next += 1;
                }
            }
            if !one_row {
                next += 1;
            }
            start = end;
        }
    }
    for (m, block) in messages.iter_mut().zip(blocks) {
        m.block = block;
    }
    let mut first: std::collections::HashMap<String, usize> = std::collections::HashMap::new();
    for (i, m) in messages.iter().enumerate() {
        if let Some(turn) = m.turn.as_ref().filter(|t| !t.is_empty()) {
            first.entry(turn.clone()).or_insert(i);
        }
    }
    let rank = |m: &Message| match m.sender.as_str() {
        "user" => 0,
        "system" => 2,
        _ => 1,
    };
    // A block's messages are together in the list (one session's, read in order): sort each
    // run of one block.
    let mut start = 0;
    while start < messages.len() {
        let block = messages[start].block;
        let end = messages[start..]
            .iter()
            .position(|m| m.block != block)
            .map_or(messages.len(), |n| start + n);
        messages[start..end].sort_by_key(|m| match m.turn.as_ref().and_then(|t| first.get(t)) {
            Some(at) => (*at, rank(m)),
            None => (usize::MAX, 0),
        });
        start = end;
    }
}
