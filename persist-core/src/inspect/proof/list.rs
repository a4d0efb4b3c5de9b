//! Faults in a table whose messages are the elements of a JSON array: the latest row's list
//! changed, or the row copied under another session.

use sea_orm::{ConnectionTrait, DbBackend, Statement};

use super::Fault;
use super::plant::{COPY, NOWHERE, Planted, Planter};
use crate::error::{DbContext, Result};
use crate::system::Source;

impl Planter<'_> {
    /// The condition that selects session `session`'s latest row of a table of lists.
    async fn latest_row(&self, session: &str) -> Result<std::result::Result<String, String>> {
        let Some(column) = self.table.session.as_ref().and_then(Source::plain) else {
            return Ok(Err("its rows name their session inside JSON".into()));
        };
        let Some(key) = self.table.order.as_deref().or(self
            .table
            .id
            .as_ref()
            .and_then(Source::plain))
        else {
            return Ok(Err("its rows have no order to tell the latest by".into()));
        };
        let backend = self.db.get_database_backend();
        let text = if backend == DbBackend::MySql {
            "CHAR"
        } else {
            "TEXT"
        };
        let row = self
            .db
            .query_one_raw(Statement::from_string(
                backend,
                format!(
                    "SELECT CAST({k} AS {text}) AS k FROM {} WHERE {} ORDER BY {k} DESC LIMIT 1",
                    self.name(),
                    self.sql.is(column, session),
                    k = self.sql.id(key),
                ),
            ))
            .await
            .context(format!("agent {}", self.store), "finding a latest row")?;
        let Some(value) = row.and_then(|r| r.try_get::<Option<String>>("", "k").ok().flatten())
        else {
            return Ok(Err(format!("session {session} has no row in this store")));
        };
        Ok(Ok(format!(
            "({} AND {})",
            self.sql.is(column, session),
            self.sql.is(key, &value)
        )))
    }

    /// The list of the row `condition` selects, and where it sits in its column.
    async fn list(&self, condition: &str) -> Result<(String, Option<String>, serde_json::Value)> {
        let (source, _) = self.table.list.as_ref().expect("a table of lists");
        let (column, pointer) = (
            source.column().to_owned(),
            source.pointer().map(str::to_owned),
        );
        let whole = self.read_json(&column, condition).await?;
        Ok((column, pointer, whole))
    }

    /// Replaces the list of the row `condition` selects by what `change` makes of it.
    async fn change_list(
        &self,
        condition: &str,
        change: impl FnOnce(&mut Vec<serde_json::Value>),
    ) -> Result<()> {
        let (column, pointer, mut whole) = self.list(condition).await?;
        let slot = match &pointer {
            Some(p) if !p.is_empty() => whole.pointer_mut(p),
            _ => Some(&mut whole),
        };
        if let Some(serde_json::Value::Array(items)) = slot {
            change(items);
        }
        self.write_json(&column, condition, whole).await
    }

    /// Faults in a table whose messages are the elements of a JSON array.
    pub(super) async fn in_list(&self, fault: Fault, target: &str) -> Result<Planted> {
        let here = match self.latest_row(target).await? {
            Ok(c) => c,
            Err(why) => return Ok(Err(why)),
        };
        let session_column = self
            .table
            .session
            .as_ref()
            .and_then(Source::plain)
            .unwrap_or_default()
            .to_owned();
        match fault {
            Fault::MovedToAnotherSession | Fault::MovedToAnotherUser => {
                let to = if fault == Fault::MovedToAnotherSession {
                    self.scene.second.as_ref()
                } else {
                    self.scene.other_user.as_ref()
                };
                let Some(to) = to else {
                    return Ok(Err("the data has no session to move it to".into()));
                };
                let there = match self.latest_row(to).await? {
                    Ok(c) => c,
                    Err(why) => return Ok(Err(why)),
                };
                let undo = self.keep(&format!("({here} OR {there})"), None).await?;
                let mut taken = None;
                self.change_list(&here, |items| taken = Some(items.remove(0)))
                    .await?;
                if let Some(item) = taken {
                    self.change_list(&there, |items| items.push(item)).await?;
                }
                Ok(Ok((
                    format!("the first message of {target}'s history moved into {to}'s"),
                    undo,
                )))
            }
            Fault::MovedToAnotherAgent | Fault::Orphan => {
                let to = if fault == Fault::Orphan {
                    NOWHERE.to_owned()
                } else {
                    self.scene.first.clone().unwrap_or_default()
                };
                let (c, t) = (self.sql.id(COPY), self.name());
                self.run(&format!("DROP TABLE IF EXISTS {c}")).await?;
                self.run(&format!(
                    "CREATE TABLE {c} AS SELECT * FROM {t} WHERE {here}"
                ))
                .await?;
                self.run(&format!(
                    "UPDATE {c} SET {} = {}",
                    self.sql.id(&session_column),
                    self.sql.text(&to)
                ))
                .await?;
                self.run(&format!("INSERT INTO {t} SELECT * FROM {c}"))
                    .await?;
                self.run(&format!("DROP TABLE {c}")).await?;
                let undo = vec![format!(
                    "DELETE FROM {t} WHERE {}",
                    self.sql.is(&session_column, &to)
                )];
                Ok(Ok((
                    format!("{}'s latest row of {target} copied under {to}", self.store),
                    undo,
                )))
            }
            Fault::LostReply
            | Fault::Duplicated
            | Fault::TurnsSwapped
            | Fault::ReplyBeforeQuestion => {
                let undo = self.keep(&here, None).await?;
                self.change_list(&here, |items| match fault {
                    Fault::LostReply => {
                        if items.len() > 1 {
                            items.remove(1);
                        }
                    }
                    Fault::Duplicated => {
                        if let Some(first) = items.first().cloned() {
                            items.insert(1, first);
                        }
                    }
                    Fault::TurnsSwapped => {
                        if items.len() >= 4 {
                            items[..4].rotate_left(2);
                        }
                    }
                    _ => {
                        if items.len() >= 2 {
                            items.swap(0, 1);
                        }
                    }
                })
                .await?;
                Ok(Ok((
                    format!("{} in {target}'s latest history", fault.describe()),
                    undo,
                )))
            }
        }
    }
}
