//! The relay gateway's migrations, each with a real `down`: sessions and one row per
//! message, then one row per turn (a conversion that carries the messages over and drops
//! their table), then tasks, their events and feedback.

use sea_orm::{ConnectionTrait, QueryResult};
use sea_orm_migration::prelude::*;
use serde_json::{Value, json};

/// The relay gateway's migrator.
pub struct Migrator;

#[async_trait::async_trait]
impl MigratorTrait for Migrator {
    fn migrations() -> Vec<Box<dyn MigrationTrait>> {
        vec![
            Box::new(SessionsAndMessages),
            Box::new(ChatTasks),
            Box::new(TasksAndFeedback),
        ]
    }
}

/// The name of the second migration, which folds `chat_messages` into `chat_tasks`.
pub const CHAT_TASKS: &str = "m20250201_000002_chat_tasks";

struct SessionsAndMessages;

impl MigrationName for SessionsAndMessages {
    fn name(&self) -> &str {
        "m20250101_000001_sessions_and_messages"
    }
}

fn chat_messages() -> TableCreateStatement {
    Table::create()
        .table("chat_messages")
        .col(ColumnDef::new("id").string_len(64).not_null().primary_key())
        .col(ColumnDef::new("session_id").string_len(64).not_null())
        .col(ColumnDef::new("message").text().not_null())
        .col(ColumnDef::new("sender_type").string_len(32).not_null())
        .col(ColumnDef::new("sender_name").string_len(255).not_null())
        .col(ColumnDef::new("created_time").big_integer().not_null())
        .foreign_key(
            ForeignKey::create()
                .name("fk_chat_messages_session")
                .from("chat_messages", "session_id")
                .to("sessions", "id")
                .on_delete(ForeignKeyAction::Cascade),
        )
        .to_owned()
}

#[async_trait::async_trait]
impl MigrationTrait for SessionsAndMessages {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table("sessions")
                    .col(ColumnDef::new("id").string_len(64).not_null().primary_key())
                    .col(ColumnDef::new("user_id").string_len(255).not_null())
                    .col(ColumnDef::new("name").string_len(255).null())
                    .col(ColumnDef::new("agent_id").string_len(255).not_null())
                    .col(ColumnDef::new("created_time").big_integer().not_null())
                    .col(ColumnDef::new("updated_time").big_integer().not_null())
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("idx_sessions_user")
                    .table("sessions")
                    .col("user_id")
                    .to_owned(),
            )
            .await?;
        manager.create_table(chat_messages()).await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_table(Table::drop().table("chat_messages").to_owned())
            .await?;
        manager
            .drop_table(Table::drop().table("sessions").to_owned())
            .await
    }
}

struct ChatTasks;

impl MigrationName for ChatTasks {
    fn name(&self) -> &str {
        CHAT_TASKS
    }
}

fn get(row: &QueryResult, column: &str) -> Result<String, DbErr> {
    row.try_get("", column)
}

/// A turn's bubbles as stored: the user's, then the agent's when there is one.
fn bubbles(user: &str, reply: Option<&str>) -> String {
    let mut list = vec![json!({"type": "user", "text": user})];
    list.extend(reply.map(|text| json!({"type": "agent", "text": text})));
    Value::Array(list).to_string()
}

async fn insert(
    db: &impl ConnectionTrait,
    table: &str,
    row: Vec<(&str, sea_orm::Value)>,
) -> Result<(), DbErr> {
    let (columns, values): (Vec<&str>, Vec<sea_orm::Value>) = row.into_iter().unzip();
    let insert = Query::insert()
        .into_table(Alias::new(table))
        .columns(columns.into_iter().map(Alias::new))
        .values_panic(values.into_iter().map(Into::into))
        .to_owned();
    db.execute(&insert).await.map(drop)
}

#[async_trait::async_trait]
impl MigrationTrait for ChatTasks {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table("chat_tasks")
                    .col(ColumnDef::new("id").string_len(64).not_null().primary_key())
                    .col(ColumnDef::new("session_id").string_len(64).not_null())
                    .col(ColumnDef::new("user_id").string_len(255).not_null())
                    .col(ColumnDef::new("user_message").text().null())
                    .col(ColumnDef::new("message_bubbles").text().not_null())
                    .col(ColumnDef::new("task_metadata").text().null())
                    .col(ColumnDef::new("created_time").big_integer().not_null())
                    .col(ColumnDef::new("updated_time").big_integer().null())
                    .foreign_key(
                        ForeignKey::create()
                            .name("fk_chat_tasks_session")
                            .from("chat_tasks", "session_id")
                            .to("sessions", "id")
                            .on_delete(ForeignKeyAction::Cascade),
                    )
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("idx_chat_tasks_session")
                    .table("chat_tasks")
                    .col("session_id")
                    .col("created_time")
                    .to_owned(),
            )
            .await?;
        // Each user message and the agent's reply after it become one turn.
        let db = manager.get_connection();
        let query = Query::select()
            .columns(
                [
                    "id",
                    "session_id",
                    "message",
                    "sender_type",
                    "sender_name",
                    "created_time",
                ]
                .map(Alias::new),
            )
            .from(Alias::new("chat_messages"))
            .order_by(Alias::new("session_id"), Order::Asc)
            .order_by(Alias::new("created_time"), Order::Asc)
            .order_by(Alias::new("id"), Order::Asc)
            .to_owned();
        let rows = db.query_all(&query).await?;
        let mut turns: Vec<(
            String,
            String,
            String,
            String,
            Option<(String, String)>,
            i64,
        )> = Vec::new();
        for row in &rows {
            let (id, session) = (get(row, "id")?, get(row, "session_id")?);
            let (text, sender) = (get(row, "message")?, get(row, "sender_name")?);
            let at: i64 = row.try_get("", "created_time")?;
            let open = turns.last_mut().filter(|t| t.1 == session && t.4.is_none());
            match (get(row, "sender_type")?.as_str(), open) {
                ("agent", Some(turn)) => turn.4 = Some((text, sender)),
                ("agent", None) => turns.push((
                    format!("migrated-{id}"),
                    session,
                    String::new(),
                    String::new(),
                    Some((text, sender)),
                    at,
                )),
                _ => turns.push((format!("migrated-{id}"), session, sender, text, None, at)),
            }
        }
        for (id, session, user, text, reply, at) in turns {
            let user = if user.is_empty() {
                // A reply with no question before it: the session's owner asked.
                let owner = db
                    .query_one(
                        &Query::select()
                            .column(Alias::new("user_id"))
                            .from(Alias::new("sessions"))
                            .and_where(Expr::col(Alias::new("id")).eq(session.as_str()))
                            .to_owned(),
                    )
                    .await?;
                owner.map_or(Ok(String::new()), |r| get(&r, "user_id"))?
            } else {
                user
            };
            let metadata = reply
                .as_ref()
                .map(|(_, agent)| json!({"agent_name": agent}).to_string());
            insert(
                db,
                "chat_tasks",
                vec![
                    ("id", id.into()),
                    ("session_id", session.into()),
                    ("user_id", user.into()),
                    ("user_message", text.clone().into()),
                    (
                        "message_bubbles",
                        bubbles(&text, reply.as_ref().map(|(t, _)| t.as_str())).into(),
                    ),
                    ("task_metadata", metadata.into()),
                    ("created_time", at.into()),
                    ("updated_time", Some(at).into()),
                ],
            )
            .await?;
        }
        manager
            .drop_table(Table::drop().table("chat_messages").to_owned())
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager.create_table(chat_messages()).await?;
        let db = manager.get_connection();
        let query = Query::select()
            .columns(
                [
                    "id",
                    "session_id",
                    "user_id",
                    "message_bubbles",
                    "task_metadata",
                    "created_time",
                ]
                .map(Alias::new),
            )
            .from(Alias::new("chat_tasks"))
            .order_by(Alias::new("created_time"), Order::Asc)
            .to_owned();
        for row in db.query_all(&query).await? {
            let id = get(&row, "id")?;
            let at: i64 = row.try_get("", "created_time")?;
            let bubbles: Value = serde_json::from_str(&get(&row, "message_bubbles")?)
                .map_err(|e| DbErr::Json(e.to_string()))?;
            let metadata: Option<String> = row.try_get("", "task_metadata")?;
            let agent = metadata
                .and_then(|m| serde_json::from_str::<Value>(&m).ok())
                .and_then(|m| m["agent_name"].as_str().map(str::to_owned))
                .unwrap_or_default();
            for (n, bubble) in bubbles.as_array().into_iter().flatten().enumerate() {
                let from_user = bubble["type"] == "user";
                let sender = if from_user {
                    get(&row, "user_id")?
                } else {
                    agent.clone()
                };
                insert(
                    db,
                    "chat_messages",
                    vec![
                        ("id", format!("{id}-{n}").into()),
                        ("session_id", get(&row, "session_id")?.into()),
                        (
                            "message",
                            bubble["text"].as_str().unwrap_or_default().into(),
                        ),
                        (
                            "sender_type",
                            if from_user { "user" } else { "agent" }.into(),
                        ),
                        ("sender_name", sender.into()),
                        ("created_time", (at + n as i64).into()),
                    ],
                )
                .await?;
            }
        }
        manager
            .drop_table(Table::drop().table("chat_tasks").to_owned())
            .await
    }
}

struct TasksAndFeedback;

impl MigrationName for TasksAndFeedback {
    fn name(&self) -> &str {
        "m20250301_000003_tasks_and_feedback"
    }
}

#[async_trait::async_trait]
impl MigrationTrait for TasksAndFeedback {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table("tasks")
                    .col(ColumnDef::new("id").string_len(64).not_null().primary_key())
                    .col(ColumnDef::new("user_id").string_len(255).not_null())
                    .col(ColumnDef::new("start_time").big_integer().not_null())
                    .col(ColumnDef::new("end_time").big_integer().null())
                    .col(ColumnDef::new("status").string_len(32).null())
                    .col(ColumnDef::new("initial_request_text").text().null())
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table("task_events")
                    .col(ColumnDef::new("id").string_len(64).not_null().primary_key())
                    .col(ColumnDef::new("task_id").string_len(64).not_null())
                    .col(ColumnDef::new("user_id").string_len(255).null())
                    .col(ColumnDef::new("created_time").big_integer().not_null())
                    .col(ColumnDef::new("topic").string_len(255).not_null())
                    .col(ColumnDef::new("direction").string_len(32).not_null())
                    .col(ColumnDef::new("payload").text().not_null())
                    .foreign_key(
                        ForeignKey::create()
                            .name("fk_task_events_task")
                            .from("task_events", "task_id")
                            .to("tasks", "id")
                            .on_delete(ForeignKeyAction::Cascade),
                    )
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table("feedback")
                    .col(ColumnDef::new("id").string_len(64).not_null().primary_key())
                    .col(ColumnDef::new("session_id").string_len(64).not_null())
                    .col(ColumnDef::new("task_id").string_len(64).not_null())
                    .col(ColumnDef::new("user_id").string_len(255).not_null())
                    .col(ColumnDef::new("rating").string_len(16).not_null())
                    .col(ColumnDef::new("comment").text().null())
                    .col(ColumnDef::new("created_time").big_integer().not_null())
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        for table in ["feedback", "task_events", "tasks"] {
            manager
                .drop_table(Table::drop().table(table).to_owned())
                .await?;
        }
        Ok(())
    }
}
