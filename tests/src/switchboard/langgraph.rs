//! An agent persisting through a port of LangGraph's Postgres checkpointer: its own numbered
//! migrations recorded in `checkpoint_migrations (v)`; a thread per conversation (its id is
//! the gateway's conversation id); each step a row of `checkpoints` whose JSON holds the
//! thread's whole message list at that step (keyed by `(thread_id, checkpoint_ns,
//! checkpoint_id)`, ids time-ordered); the writes of each step in `checkpoint_writes`; the
//! channel's value per version in `checkpoint_blobs`.
//!
//! The steps are LangGraph's, as a SeaORM user would port them. What changes off PostgreSQL:
//! MariaDB keys no `TEXT` column (`VARCHAR(128)` keys, short enough for a four-column key),
//! has no `JSONB` (`JSON`) nor `BYTEA` (`LONGBLOB`, and `blob` is a reserved word there),
//! drops a `NOT NULL` with `MODIFY`, and creates indexes without `CONCURRENTLY`; SQLite has
//! `BLOB` and `TEXT` JSON, and cannot drop a `NOT NULL` in place, so its blob column is
//! nullable from the start and that step does nothing.

use std::sync::Arc;

use persist_core::async_trait;
use persist_core::db::NumberedMigrations;
use persist_core::system::{AgentApi, AgentRequest, ContextMessage, LanguageModel, LlmRequest};
use persist_core::{PersistError, Result};
use sea_orm::sea_query::{Alias, Expr, ExprTrait as _, Order, Query};
use sea_orm::{ConnectionTrait, DatabaseConnection, DbBackend, TransactionTrait, Value};
use serde_json::{Value as Json, json};

use crate::helpdesk::failed;

/// The checkpointer's migrations, one step per entry of LangGraph's list.
pub fn migrations() -> NumberedMigrations {
    let key = |b: DbBackend| {
        if b == DbBackend::MySql {
            "VARCHAR(128)"
        } else {
            "TEXT"
        }
    };
    let json_type = |b: DbBackend| match b {
        DbBackend::Postgres => "JSONB",
        DbBackend::MySql => "JSON",
        _ => "TEXT",
    };
    let bytes = |b: DbBackend| match b {
        DbBackend::Postgres => "BYTEA",
        DbBackend::MySql => "LONGBLOB",
        _ => "BLOB",
    };
    let blob = |b: DbBackend| {
        if b == DbBackend::MySql {
            "`blob`"
        } else {
            "blob"
        }
    };
    let index = |b: DbBackend, name: &str, table: &str| match b {
        DbBackend::Postgres => {
            format!("CREATE INDEX CONCURRENTLY IF NOT EXISTS {name} ON {table}(thread_id)")
        }
        DbBackend::MySql => format!("CREATE INDEX {name} ON {table}(thread_id)"),
        _ => format!("CREATE INDEX IF NOT EXISTS {name} ON {table}(thread_id)"),
    };
    NumberedMigrations::new("checkpoint_migrations")
        .step("CREATE TABLE IF NOT EXISTS checkpoint_migrations (v INTEGER PRIMARY KEY)")
        .step_for(move |b| {
            let default = if b == DbBackend::Postgres {
                " DEFAULT '{}'"
            } else {
                ""
            };
            format!(
                "CREATE TABLE IF NOT EXISTS checkpoints (
                    thread_id {k} NOT NULL,
                    checkpoint_ns {k} NOT NULL DEFAULT '',
                    checkpoint_id {k} NOT NULL,
                    parent_checkpoint_id {k},
                    type {k},
                    checkpoint {j} NOT NULL,
                    metadata {j} NOT NULL{default},
                    PRIMARY KEY (thread_id, checkpoint_ns, checkpoint_id))",
                k = key(b),
                j = json_type(b),
            )
        })
        .step_for(move |b| {
            let nullable = if b == DbBackend::Sqlite {
                ""
            } else {
                " NOT NULL"
            };
            format!(
                "CREATE TABLE IF NOT EXISTS checkpoint_blobs (
                    thread_id {k} NOT NULL,
                    checkpoint_ns {k} NOT NULL DEFAULT '',
                    channel {k} NOT NULL,
                    version {k} NOT NULL,
                    type {k} NOT NULL,
                    {blob} {bytes}{nullable},
                    PRIMARY KEY (thread_id, checkpoint_ns, channel, version))",
                k = key(b),
                blob = blob(b),
                bytes = bytes(b),
            )
        })
        .step_for(move |b| {
            format!(
                "CREATE TABLE IF NOT EXISTS checkpoint_writes (
                    thread_id {k} NOT NULL,
                    checkpoint_ns {k} NOT NULL DEFAULT '',
                    checkpoint_id {k} NOT NULL,
                    task_id {k} NOT NULL,
                    idx INTEGER NOT NULL,
                    channel {k} NOT NULL,
                    type {k},
                    {blob} {bytes} NOT NULL,
                    PRIMARY KEY (thread_id, checkpoint_ns, checkpoint_id, task_id, idx))",
                k = key(b),
                blob = blob(b),
                bytes = bytes(b),
            )
        })
        .step_for(|b| match b {
            DbBackend::Postgres => {
                "ALTER TABLE checkpoint_blobs ALTER COLUMN blob DROP NOT NULL".into()
            }
            DbBackend::MySql => "ALTER TABLE checkpoint_blobs MODIFY `blob` LONGBLOB NULL".into(),
            _ => "SELECT 1".into(),
        })
        .step("SELECT 1")
        .step_for(move |b| index(b, "checkpoints_thread_id_idx", "checkpoints"))
        .step_for(move |b| index(b, "checkpoint_blobs_thread_id_idx", "checkpoint_blobs"))
        .step_for(move |b| index(b, "checkpoint_writes_thread_id_idx", "checkpoint_writes"))
        .step_for(|b| {
            let column = if b == DbBackend::MySql {
                "VARCHAR(255)"
            } else {
                "TEXT"
            };
            format!(
                "ALTER TABLE checkpoint_writes ADD COLUMN task_path {column} NOT NULL DEFAULT ''"
            )
        })
        .creates(["checkpoints", "checkpoint_blobs", "checkpoint_writes"])
}

/// The planner agent. Clones share it.
#[derive(Clone)]
pub struct LangGraphAgent {
    name: Arc<str>,
    db: DatabaseConnection,
    model: Arc<dyn LanguageModel>,
    turns: Arc<tokio::sync::Mutex<()>>,
}

fn text(value: &Json) -> String {
    value.to_string()
}

impl LangGraphAgent {
    /// An agent named `name` over its database, asking `model`.
    pub fn new(name: &str, db: DatabaseConnection, model: Arc<dyn LanguageModel>) -> Self {
        LangGraphAgent {
            name: name.into(),
            db,
            model,
            turns: Arc::default(),
        }
    }

    fn label(&self) -> String {
        format!("agent {}", self.name)
    }

    /// The thread's latest checkpoint: its id and its messages.
    async fn latest(
        &self,
        db: &impl ConnectionTrait,
        thread: &str,
    ) -> Result<Option<(String, Vec<Json>)>> {
        let query = Query::select()
            .columns(["checkpoint_id", "checkpoint"].map(Alias::new))
            .from(Alias::new("checkpoints"))
            .and_where(Expr::col(Alias::new("thread_id")).eq(thread))
            .and_where(Expr::col(Alias::new("checkpoint_ns")).eq(""))
            .order_by(Alias::new("checkpoint_id"), Order::Desc)
            .limit(1)
            .to_owned();
        let row = db
            .query_one(&query)
            .await
            .map_err(failed(&self.label(), "loading the latest checkpoint"))?;
        let Some(row) = row else { return Ok(None) };
        let id: String = row
            .try_get("", "checkpoint_id")
            .map_err(failed(&self.label(), "reading a checkpoint"))?;
        let checkpoint: Json = match row.try_get::<Json>("", "checkpoint") {
            Ok(value) => value,
            Err(_) => {
                let raw: String = row
                    .try_get("", "checkpoint")
                    .map_err(failed(&self.label(), "reading a checkpoint"))?;
                serde_json::from_str(&raw).unwrap_or_default()
            }
        };
        let messages = checkpoint["channel_values"]["messages"]
            .as_array()
            .cloned()
            .unwrap_or_default();
        Ok(Some((id, messages)))
    }

    /// Writes one step: the checkpoint holding `messages`, its write, and the channel's blob.
    #[allow(clippy::too_many_arguments)]
    async fn step(
        &self,
        db: &impl ConnectionTrait,
        thread: &str,
        parent: Option<&str>,
        messages: &[Json],
        written: &Json,
        source: &str,
        request: &AgentRequest,
    ) -> Result<String> {
        let label = self.label();
        let id = uuid::Uuid::now_v7().to_string();
        let version = format!("{:032}", messages.len());
        let checkpoint = json!({
            "v": 1,
            "id": id,
            "ts": chrono::Utc::now().to_rfc3339(),
            "channel_values": { "messages": messages },
            "channel_versions": { "messages": version },
        });
        let metadata = json!({
            "source": source,
            "step": messages.len(),
            "user_id": request.user_id,
            "run_id": request.task_id,
        });
        let insert = |table: &str, row: Vec<(&str, Value)>| {
            let (columns, values): (Vec<&str>, Vec<Value>) = row.into_iter().unzip();
            Query::insert()
                .into_table(Alias::new(table))
                .columns(columns.into_iter().map(Alias::new))
                .values_panic(values.into_iter().map(Into::into))
                .to_owned()
        };
        let statements = [
            insert(
                "checkpoints",
                vec![
                    ("thread_id", thread.into()),
                    ("checkpoint_ns", "".into()),
                    ("checkpoint_id", id.clone().into()),
                    ("parent_checkpoint_id", parent.map(str::to_owned).into()),
                    ("type", "json".into()),
                    ("checkpoint", checkpoint.into()),
                    ("metadata", metadata.into()),
                ],
            ),
            insert(
                "checkpoint_writes",
                vec![
                    ("thread_id", thread.into()),
                    ("checkpoint_ns", "".into()),
                    ("checkpoint_id", id.clone().into()),
                    ("task_id", request.task_id.clone().into()),
                    ("idx", 0_i32.into()),
                    ("channel", "messages".into()),
                    ("type", "json".into()),
                    ("blob", text(written).into_bytes().into()),
                ],
            ),
            insert(
                "checkpoint_blobs",
                vec![
                    ("thread_id", thread.into()),
                    ("checkpoint_ns", "".into()),
                    ("channel", "messages".into()),
                    ("version", version.into()),
                    ("type", "json".into()),
                    (
                        "blob",
                        text(&Json::from(messages.to_vec())).into_bytes().into(),
                    ),
                ],
            ),
        ];
        for statement in &statements {
            db.execute(statement)
                .await
                .map_err(failed(&label, "writing a checkpoint"))?;
        }
        Ok(id)
    }
}

/// A message of the thread, as LangGraph serializes one.
fn message(kind: &str, text: &str) -> Json {
    json!({ "type": kind, "content": text, "id": uuid::Uuid::new_v4().to_string() })
}

#[async_trait]
impl AgentApi for LangGraphAgent {
    fn name(&self) -> &str {
        &self.name
    }

    async fn send(&self, request: AgentRequest) -> Result<String> {
        let _turn = self.turns.lock().await;
        let label = self.label();
        let thread = request.session_id.clone();
        let (parent, mut messages) = self
            .latest(&self.db, &thread)
            .await?
            .map_or((None, Vec::new()), |(id, m)| (Some(id), m));
        let context = messages
            .iter()
            .map(|m| ContextMessage {
                role: if m["type"] == "human" {
                    "user"
                } else {
                    "assistant"
                }
                .to_owned(),
                content: m["content"].as_str().unwrap_or_default().to_owned(),
            })
            .collect();
        let reply = self
            .model
            .complete(
                LlmRequest::new(
                    &*self.name,
                    &request.session_id,
                    &request.user_id,
                    &request.task_id,
                    &request.message,
                )
                .with_context(context),
            )
            .await
            .map_err(|e| PersistError::Llm {
                agent: self.name.to_string(),
                reason: e.0,
            })?;
        let txn = self
            .db
            .begin()
            .await
            .map_err(failed(&label, "starting a turn"))?;
        let asked = message("human", &request.message);
        messages.push(asked.clone());
        let input = self
            .step(
                &txn,
                &thread,
                parent.as_deref(),
                &messages,
                &asked,
                "input",
                &request,
            )
            .await?;
        let answer = message("ai", &reply);
        messages.push(answer.clone());
        self.step(
            &txn,
            &thread,
            Some(&input),
            &messages,
            &answer,
            "loop",
            &request,
        )
        .await?;
        txn.commit()
            .await
            .map_err(failed(&label, "committing a turn"))?;
        Ok(reply)
    }

    async fn delete_session(&self, session_id: &str) -> Result<bool> {
        let _turn = self.turns.lock().await;
        let label = self.label();
        let txn = self
            .db
            .begin()
            .await
            .map_err(failed(&label, "starting a delete"))?;
        let mut deleted = 0;
        for table in ["checkpoint_writes", "checkpoint_blobs", "checkpoints"] {
            let delete = Query::delete()
                .from_table(Alias::new(table))
                .and_where(Expr::col(Alias::new("thread_id")).eq(session_id))
                .to_owned();
            deleted = txn
                .execute(&delete)
                .await
                .map_err(failed(&label, "deleting a thread"))?
                .rows_affected();
        }
        txn.commit()
            .await
            .map_err(failed(&label, "committing a delete"))?;
        Ok(deleted > 0)
    }
}
