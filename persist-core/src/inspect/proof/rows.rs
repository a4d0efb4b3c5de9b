//! Faults in a table of one message per row: a row moved, deleted, copied, or given another
//! row's time.

use super::Fault;
use super::plant::{BACKUP, COPY, NOWHERE, Planted, Planter};
use crate::error::Result;
use crate::system::Source;

impl Planter<'_> {
    /// Faults in a table of one message per row.
    pub(super) async fn in_rows(&self, fault: Fault, target: &str) -> Result<Planted> {
        let Some(id) = self.table.id.as_ref().and_then(Source::plain) else {
            return Ok(Err("its messages have no id column to find them by".into()));
        };
        let Some(session) = self.session_source() else {
            return Ok(Err("its messages name no session".into()));
        };
        let history = self
            .inspector
            .agent_messages(&self.store, Some(target))
            .await?;
        let Some(message) = history.first() else {
            return Ok(Err(format!(
                "session {target} holds no message in this store"
            )));
        };
        let one = self.sql.is(id, &message.id);
        let moved = |to: Option<&String>, why: &'static str| to.cloned().ok_or(why.to_owned());
        let destination = match fault {
            Fault::MovedToAnotherSession => Some(moved(
                self.scene.second.as_ref(),
                "its user has no second session",
            )),
            Fault::MovedToAnotherUser => Some(moved(
                self.scene.other_user.as_ref(),
                "no other user has a session with it",
            )),
            Fault::MovedToAnotherAgent => Some(Ok(self.scene.first.clone().unwrap_or_default())),
            Fault::Orphan => Some(Ok(NOWHERE.to_owned())),
            _ => None,
        };
        if let Some(destination) = destination {
            let destination = match destination {
                Ok(d) => d,
                Err(why) => return Ok(Err(why)),
            };
            let undo = self.keep(&one, None).await?;
            let filed = self.filed_under(&destination).await?;
            self.set(session, &one, &filed).await?;
            return Ok(Ok((
                format!(
                    "{} message {} of session {target} filed under {destination}",
                    self.store, message.id
                ),
                undo,
            )));
        }
        match fault {
            Fault::LostReply => {
                let Some(reply) = history.iter().find(|m| m.role != "user") else {
                    return Ok(Err("the session holds no reply".into()));
                };
                let gone = self.sql.is(id, &reply.id);
                let undo = self.keep(&gone, None).await?;
                self.run(&format!("DELETE FROM {} WHERE {gone}", self.name()))
                    .await?;
                Ok(Ok((format!("reply {} deleted", reply.id), undo)))
            }
            Fault::Duplicated => {
                let (c, t) = (self.sql.id(COPY), self.name());
                let copy_id = if history
                    .iter()
                    .all(|m| m.id.bytes().all(|b| b.is_ascii_digit()))
                {
                    (self.max_id(id).await? + 1).to_string()
                } else {
                    uuid::Uuid::new_v4().to_string()
                };
                self.run(&format!("DROP TABLE IF EXISTS {c}")).await?;
                self.run(&format!(
                    "CREATE TABLE {c} AS SELECT * FROM {t} WHERE {one}"
                ))
                .await?;
                self.run(&format!(
                    "UPDATE {c} SET {} = {}",
                    self.sql.id(id),
                    self.sql.text(&copy_id)
                ))
                .await?;
                self.run(&format!("INSERT INTO {t} SELECT * FROM {c}"))
                    .await?;
                self.run(&format!("DROP TABLE {c}")).await?;
                let undo = vec![format!(
                    "DELETE FROM {t} WHERE {}",
                    self.sql.is(id, &copy_id)
                )];
                Ok(Ok((
                    format!("message {} copied as {copy_id}", message.id),
                    undo,
                )))
            }
            Fault::TurnsSwapped | Fault::ReplyBeforeQuestion => {
                let times: Vec<&str> = [
                    self.table.order.as_deref(),
                    self.table.created.as_ref().map(|(c, _)| c.as_str()),
                ]
                .into_iter()
                .flatten()
                .collect();
                if times.is_empty() {
                    return Ok(Err("its messages keep no time or order of their own".into()));
                }
                let ids: Vec<&str> = history.iter().take(4).map(|m| m.id.as_str()).collect();
                // Each message takes the time (and order) of another.
                let (moves, what): (&[(usize, usize)], _) = if fault == Fault::TurnsSwapped {
                    (
                        &[(0, 2), (1, 3), (2, 0), (3, 1)],
                        "the first two turns' times exchanged",
                    )
                } else {
                    // The question goes to the next turn's reply's place: after its own reply.
                    (&[(0, 3)], "the first question given a time after its reply")
                };
                let all = ids
                    .iter()
                    .map(|i| self.sql.is(id, i))
                    .collect::<Vec<_>>()
                    .join(" OR ");
                let undo = self.keep(&format!("({all})"), None).await?;
                for (to, from) in moves {
                    for time in &times {
                        self.run(&format!(
                            "UPDATE {} SET {t} = (SELECT b.{t} FROM {} b WHERE {}) WHERE {}",
                            self.name(),
                            self.sql.id(BACKUP),
                            self.sql.is(id, ids[*from]).replacen("CAST(", "CAST(b.", 1),
                            self.sql.is(id, ids[*to]),
                            t = self.sql.id(time),
                        ))
                        .await?;
                    }
                }
                Ok(Ok((format!("{what} in session {target}"), undo)))
            }
            _ => Ok(Err("not a fault of rows".into())),
        }
    }
}
