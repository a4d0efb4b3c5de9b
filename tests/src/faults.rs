//! Planting faults directly in a database, behind the components' backs, to prove that the
//! framework's checks catch them. Every statement is built with sea-query, so it runs on every
//! backend; [`Plant`] plants the same faults in each system of the suites.

use futures::future::BoxFuture;
use sea_orm::sea_query::{Alias, Expr, ExprTrait as _, Query, Table};
use sea_orm::{ConnectionTrait, DatabaseConnection, DbBackend, DbErr, Statement};

fn now() -> i64 {
    1_700_000_000_000
}

/// Inserts an agent session row.
pub async fn insert_agent_session(
    db: &DatabaseConnection,
    id: &str,
    user_id: &str,
    agent_name: &str,
) -> Result<(), DbErr> {
    let insert = Query::insert()
        .into_table(Alias::new("agent_sessions"))
        .columns(
            [
                "id",
                "user_id",
                "agent_name",
                "state",
                "created_at",
                "updated_at",
            ]
            .map(Alias::new),
        )
        .values_panic([
            id.into(),
            user_id.into(),
            agent_name.into(),
            serde_json::json!({"planted": true}).into(),
            now().into(),
            now().into(),
        ])
        .to_owned();
    db.execute(&insert).await.map(|_| ())
}

/// Inserts an agent message row.
pub async fn insert_agent_message(
    db: &DatabaseConnection,
    id: &str,
    session_id: &str,
    role: &str,
    content: &str,
    task_id: &str,
) -> Result<(), DbErr> {
    let insert = Query::insert()
        .into_table(Alias::new("agent_messages"))
        .columns(
            [
                "id",
                "session_id",
                "role",
                "content",
                "task_id",
                "created_at",
            ]
            .map(Alias::new),
        )
        .values_panic([
            id.into(),
            session_id.into(),
            role.into(),
            content.into(),
            task_id.into(),
            now().into(),
        ])
        .to_owned();
    db.execute(&insert).await.map(|_| ())
}

/// Inserts a gateway chat message row.
pub async fn insert_gateway_message(
    db: &DatabaseConnection,
    id: &str,
    session_id: &str,
    sender_type: &str,
    sender_name: &str,
    message: &str,
    task_id: &str,
) -> Result<(), DbErr> {
    let insert = Query::insert()
        .into_table(Alias::new("chat_messages"))
        .columns(
            [
                "id",
                "session_id",
                "message",
                "sender_type",
                "sender_name",
                "created_at",
                "task_id",
            ]
            .map(Alias::new),
        )
        .values_panic([
            id.into(),
            session_id.into(),
            message.into(),
            sender_type.into(),
            sender_name.into(),
            now().into(),
            task_id.into(),
        ])
        .to_owned();
    db.execute(&insert).await.map(|_| ())
}

/// Deletes rows of `table` where `column = value`.
pub async fn delete_where(
    db: &DatabaseConnection,
    table: &str,
    column: &str,
    value: &str,
) -> Result<u64, DbErr> {
    let delete = Query::delete()
        .from_table(Alias::new(table))
        .and_where(Expr::col(Alias::new(column)).eq(value))
        .to_owned();
    Ok(db.execute(&delete).await?.rows_affected())
}

/// Drops a table.
pub async fn drop_table(db: &DatabaseConnection, table: &str) -> Result<(), DbErr> {
    db.execute(&Table::drop().table(Alias::new(table)).to_owned())
        .await
        .map(|_| ())
}

/// Creates a migration-tracking table where there should be none.
pub async fn create_migration_table(db: &DatabaseConnection) -> Result<(), DbErr> {
    let create = Table::create()
        .table(Alias::new("seaql_migrations"))
        .col(
            sea_orm::sea_query::ColumnDef::new(Alias::new("version"))
                .string_len(255)
                .not_null()
                .primary_key(),
        )
        .col(
            sea_orm::sea_query::ColumnDef::new(Alias::new("applied_at"))
                .big_integer()
                .not_null(),
        )
        .to_owned();
    db.execute(&create).await.map(|_| ())
}

/// Records a migration the migrator does not know.
pub async fn record_unknown_migration(db: &DatabaseConnection, version: &str) -> Result<(), DbErr> {
    let insert = Query::insert()
        .into_table(Alias::new("seaql_migrations"))
        .columns(["version", "applied_at"].map(Alias::new))
        .values_panic([version.into(), now().into()])
        .to_owned();
    db.execute(&insert).await.map(|_| ())
}

/// Runs `plant` on a connection of `url` whose foreign-key checks are off, to leave orphans
/// that the schema itself would refuse.
pub async fn with_foreign_keys_off<F, Fut>(url: &str, plant: F) -> Result<(), DbErr>
where
    F: FnOnce(DatabaseConnection) -> Fut,
    Fut: std::future::Future<Output = Result<(), DbErr>>,
{
    let mut options = sea_orm::ConnectOptions::new(url.to_owned());
    // One connection, so the session setting below applies to every statement.
    options
        .max_connections(1)
        .min_connections(1)
        .sqlx_logging(false);
    let db = sea_orm::Database::connect(options).await?;
    let off = match db.get_database_backend() {
        DbBackend::Sqlite => "PRAGMA foreign_keys = OFF",
        DbBackend::Postgres => "SET session_replication_role = replica",
        _ => "SET FOREIGN_KEY_CHECKS = 0",
    };
    db.execute_raw(Statement::from_string(db.get_database_backend(), off))
        .await?;
    plant(db.clone()).await?;
    db.close().await
}

/// Plants the same faults in any system of the suites: each system stores its rows its own
/// way, so the fault suite is written once against this trait and run on every system.
pub trait Plant {
    /// The gateway's session table.
    const GATEWAY_SESSIONS: &'static str;
    /// The agents' message table.
    const AGENT_MESSAGES: &'static str;
    /// What the system's model puts before an echoed message.
    const REPLY_PREFIX: &'static str;
    /// The gateway's column for a session's agent, as the system names it.
    const AGENT_COLUMN: &'static str;
    /// The model the system offers tests.
    type Model: persist_core::system::LanguageModel
        + persist_core::system::RequestLog
        + Clone
        + Send
        + Sync
        + 'static;

    /// Inserts an agent session row.
    fn agent_session<'a>(
        db: &'a DatabaseConnection,
        id: &'a str,
        user_id: &'a str,
        agent_name: &'a str,
    ) -> BoxFuture<'a, Result<(), DbErr>>;

    /// Inserts an agent message (`role`: `user` or `assistant`).
    fn agent_message<'a>(
        db: &'a DatabaseConnection,
        id: &'a str,
        session_id: &'a str,
        role: &'a str,
        content: &'a str,
        task_id: &'a str,
    ) -> BoxFuture<'a, Result<(), DbErr>>;

    /// Inserts a gateway message (`sender_type`: `user`, `agent` or `system`) and returns the
    /// id it was stored under (derived from `id` where ids are numbers).
    fn gateway_message<'a>(
        db: &'a DatabaseConnection,
        id: &'a str,
        session_id: &'a str,
        sender_type: &'a str,
        sender_name: &'a str,
        message: &'a str,
        task_id: &'a str,
    ) -> BoxFuture<'a, Result<String, DbErr>>;
}

/// The reference mesh's rows.
pub struct MeshPlant;

impl Plant for MeshPlant {
    const GATEWAY_SESSIONS: &'static str = "sessions";
    const AGENT_MESSAGES: &'static str = "agent_messages";
    const REPLY_PREFIX: &'static str = "Received: ";
    const AGENT_COLUMN: &'static str = "agent_name";
    type Model = persist_core::system::ScriptedLlm;

    fn agent_session<'a>(
        db: &'a DatabaseConnection,
        id: &'a str,
        user_id: &'a str,
        agent_name: &'a str,
    ) -> BoxFuture<'a, Result<(), DbErr>> {
        Box::pin(insert_agent_session(db, id, user_id, agent_name))
    }

    fn agent_message<'a>(
        db: &'a DatabaseConnection,
        id: &'a str,
        session_id: &'a str,
        role: &'a str,
        content: &'a str,
        task_id: &'a str,
    ) -> BoxFuture<'a, Result<(), DbErr>> {
        Box::pin(insert_agent_message(
            db, id, session_id, role, content, task_id,
        ))
    }

    fn gateway_message<'a>(
        db: &'a DatabaseConnection,
        id: &'a str,
        session_id: &'a str,
        sender_type: &'a str,
        sender_name: &'a str,
        message: &'a str,
        task_id: &'a str,
    ) -> BoxFuture<'a, Result<String, DbErr>> {
        Box::pin(async move {
            insert_gateway_message(
                db,
                id,
                session_id,
                sender_type,
                sender_name,
                message,
                task_id,
            )
            .await
            .map(|()| id.to_owned())
        })
    }
}

/// The helpdesk's rows (see [`crate::helpdesk`]).
pub struct HelpdeskPlant;

/// A stable number for a planted gateway message's label (the helpdesk's ids are integers).
fn numeric_id(label: &str) -> i64 {
    let hash = label.bytes().fold(0xcbf2_9ce4_8422_2325_u64, |h, b| {
        (h ^ u64::from(b)).wrapping_mul(0x100_0000_01b3)
    });
    900_000_000 + (hash % 99_999_999) as i64
}

async fn insert(
    db: &DatabaseConnection,
    table: &str,
    row: Vec<(&str, sea_orm::Value)>,
) -> Result<(), DbErr> {
    let insert = Query::insert()
        .into_table(Alias::new(table))
        .columns(row.iter().map(|(c, _)| Alias::new(*c)))
        .values_panic(row.iter().map(|(_, v)| v.clone().into()))
        .to_owned();
    db.execute(&insert).await.map(|_| ())
}

impl Plant for HelpdeskPlant {
    const GATEWAY_SESSIONS: &'static str = "sessions";
    const AGENT_MESSAGES: &'static str = "events";
    const REPLY_PREFIX: &'static str = "ack: ";
    const AGENT_COLUMN: &'static str = "agent";
    type Model = crate::helpdesk::Model;

    fn agent_session<'a>(
        db: &'a DatabaseConnection,
        id: &'a str,
        user_id: &'a str,
        agent_name: &'a str,
    ) -> BoxFuture<'a, Result<(), DbErr>> {
        Box::pin(insert(
            db,
            "sessions",
            vec![
                ("app_name", agent_name.into()),
                ("user_id", user_id.into()),
                ("id", id.into()),
                ("state", serde_json::json!({"planted": true}).into()),
                ("create_time", 1_700_000_000.0_f64.into()),
                ("update_time", 1_700_000_000.0_f64.into()),
            ],
        ))
    }

    fn agent_message<'a>(
        db: &'a DatabaseConnection,
        id: &'a str,
        session_id: &'a str,
        role: &'a str,
        content: &'a str,
        task_id: &'a str,
    ) -> BoxFuture<'a, Result<(), DbErr>> {
        let author = if role == "user" {
            "user"
        } else {
            "planted-agent"
        };
        let content = serde_json::json!({"role": role, "parts": [{"text": content}]});
        Box::pin(async move {
            insert(
                db,
                "events",
                vec![
                    ("id", id.into()),
                    ("app_name", "planted".into()),
                    ("user_id", "planted".into()),
                    ("session_id", session_id.into()),
                    ("invocation_id", task_id.into()),
                    ("author", author.into()),
                    ("content", content.into()),
                    ("timestamp", 1_700_000_000.0_f64.into()),
                ],
            )
            .await
        })
    }

    fn gateway_message<'a>(
        db: &'a DatabaseConnection,
        id: &'a str,
        session_id: &'a str,
        sender_type: &'a str,
        sender_name: &'a str,
        message: &'a str,
        task_id: &'a str,
    ) -> BoxFuture<'a, Result<String, DbErr>> {
        let kind = match sender_type {
            "user" => "human",
            "agent" => "bot",
            other => other,
        };
        let number = numeric_id(id);
        Box::pin(async move {
            insert(
                db,
                "chat_messages",
                vec![
                    ("id", number.into()),
                    ("session_id", session_id.into()),
                    ("author_kind", kind.into()),
                    ("author", sender_name.into()),
                    ("body", message.into()),
                    ("turn_id", task_id.into()),
                    ("created_ms", now().into()),
                ],
            )
            .await
            .map(|()| number.to_string())
        })
    }
}

/// The relay's rows (see [`crate::relay`]).
pub struct RelayPlant;

/// The relay agent's own key (`app_name`, `user_id`, `id`) for the session linked to gateway
/// session `session_id`; for a session no agent session serves, `session_id` itself under a
/// made-up app and user (so the row is an orphan).
async fn relay_key(
    db: &DatabaseConnection,
    session_id: &str,
) -> Result<(String, String, String), DbErr> {
    let query = Query::select()
        .columns(["app_name", "user_id", "id", "state"].map(Alias::new))
        .from(Alias::new("sessions"))
        .to_owned();
    for row in db.query_all(&query).await? {
        let state: serde_json::Value = row.try_get("", "state")?;
        if state["gateway_session_id"] == session_id {
            return Ok((
                row.try_get("", "app_name")?,
                row.try_get("", "user_id")?,
                row.try_get("", "id")?,
            ));
        }
    }
    Ok(("planted".into(), "planted".into(), session_id.to_owned()))
}

impl Plant for RelayPlant {
    const GATEWAY_SESSIONS: &'static str = "sessions";
    const AGENT_MESSAGES: &'static str = "events";
    const REPLY_PREFIX: &'static str = "ack: ";
    const AGENT_COLUMN: &'static str = "agent_id";
    type Model = crate::relay::Model;

    fn agent_session<'a>(
        db: &'a DatabaseConnection,
        id: &'a str,
        user_id: &'a str,
        agent_name: &'a str,
    ) -> BoxFuture<'a, Result<(), DbErr>> {
        let at = chrono::DateTime::from_timestamp(1_700_000_000, 0).map(|t| t.naive_utc());
        Box::pin(insert(
            db,
            "sessions",
            vec![
                ("app_name", agent_name.into()),
                ("user_id", user_id.into()),
                ("id", format!("planted-{id}").into()),
                (
                    "state",
                    serde_json::json!({"gateway_session_id": id, "planted": true}).into(),
                ),
                ("create_time", at.into()),
                ("update_time", at.into()),
            ],
        ))
    }

    fn agent_message<'a>(
        db: &'a DatabaseConnection,
        id: &'a str,
        session_id: &'a str,
        role: &'a str,
        content: &'a str,
        task_id: &'a str,
    ) -> BoxFuture<'a, Result<(), DbErr>> {
        let author = if role == "user" {
            "user"
        } else {
            "planted-agent"
        };
        let content = serde_json::json!({"role": role, "parts": [{"text": content}]});
        Box::pin(async move {
            let (app, user, key) = relay_key(db, session_id).await?;
            insert(
                db,
                "events",
                vec![
                    ("id", id.into()),
                    ("app_name", app.into()),
                    ("user_id", user.into()),
                    ("session_id", key.into()),
                    ("invocation_id", "e-planted".into()),
                    ("author", author.into()),
                    ("timestamp", chrono::Utc::now().into()),
                    ("content", content.into()),
                    (
                        "custom_metadata",
                        serde_json::json!({ "task_id": task_id }).into(),
                    ),
                ],
            )
            .await
        })
    }

    fn gateway_message<'a>(
        db: &'a DatabaseConnection,
        id: &'a str,
        session_id: &'a str,
        sender_type: &'a str,
        sender_name: &'a str,
        message: &'a str,
        _task_id: &'a str,
    ) -> BoxFuture<'a, Result<String, DbErr>> {
        // A turn of its own: the user's side alone, or an unasked reply.
        let (bubbles, metadata) = if sender_type == "agent" {
            (
                serde_json::json!([{"type": "user", "text": ""}, {"type": "agent", "text": message}]),
                Some(serde_json::json!({ "agent_name": sender_name }).to_string()),
            )
        } else {
            (serde_json::json!([{"type": "user", "text": message}]), None)
        };
        Box::pin(async move {
            insert(
                db,
                "chat_tasks",
                vec![
                    ("id", id.into()),
                    ("session_id", session_id.into()),
                    ("user_id", sender_name.into()),
                    ("user_message", message.into()),
                    ("message_bubbles", bubbles.to_string().into()),
                    ("task_metadata", metadata.into()),
                    ("created_time", now().into()),
                ],
            )
            .await
            .map(|()| id.to_owned())
        })
    }
}
