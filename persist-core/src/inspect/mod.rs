//! The cross-database inspector: reads every database through its own queries, never through
//! the components' code, and verifies what it finds.
//!
//! The table and column names below are the inspector's own statement of the schema the mesh
//! must produce; nothing here reuses the mesh's entities.

use sea_orm::sea_query::{Alias, Expr, ExprTrait as _, Order, Query, SelectStatement};
use sea_orm::{ConnectionTrait, DatabaseConnection, DbErr, QueryResult};

use crate::db::MultiDatabaseManager;
use crate::error::{DbContext, Result};

mod architecture;
mod report;
mod rows;
mod verify;

pub use architecture::{
    AgentSchemaState, ArchitectureReport, DatabaseStats, MigrationState, TableStats,
};
pub use report::{
    ContextIsolationReport, DatabaseIdentity, IntegrityProblem, IntegrityReport, IsolationReport,
    SessionLink, UserIsolationReport, VerificationError,
};
pub(crate) use rows::list;
pub use rows::{AgentMessageRow, AgentSessionRow, GatewayMessageRow, GatewaySessionRow};

/// The tables every agent database must have.
pub const AGENT_TABLES: [&str; 2] = ["agent_sessions", "agent_messages"];

const SESSION_COLUMNS: [&str; 6] = [
    "id",
    "name",
    "user_id",
    "agent_name",
    "created_at",
    "updated_at",
];
const MESSAGE_COLUMNS: [&str; 7] = [
    "id",
    "session_id",
    "message",
    "sender_type",
    "sender_name",
    "task_id",
    "created_at",
];
const AGENT_SESSION_COLUMNS: [&str; 4] = ["id", "user_id", "agent_name", "state"];
const AGENT_MESSAGE_COLUMNS: [&str; 6] = [
    "id",
    "session_id",
    "role",
    "content",
    "task_id",
    "created_at",
];

/// Reads and verifies a test's databases from the outside.
///
/// ```
/// # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
/// use persist_core::{CrossDatabaseInspector, MultiDatabaseManager};
///
/// let manager = MultiDatabaseManager::setup(["AgentA"]).await?;
/// let inspector = CrossDatabaseInspector::new(manager.clone());
/// let report = inspector.verify_database_architecture(&["AgentA"]).await?;
/// assert!(report.gateway_migration_version.is_some());
/// println!("{report}");
/// manager.cleanup().await?;
/// # Ok::<(), persist_core::PersistError>(())
/// # }).unwrap();
/// ```
#[derive(Clone, Debug)]
pub struct CrossDatabaseInspector {
    manager: MultiDatabaseManager,
}

fn select(table: &str, columns: &[&str]) -> SelectStatement {
    Query::select()
        .columns(columns.iter().map(|c| Alias::new(*c)))
        .from(Alias::new(table))
        .to_owned()
}

fn col(name: &str) -> Expr {
    Expr::col(Alias::new(name))
}

/// Runs `query` on one database and decodes every row.
async fn fetch<T>(
    db: &DatabaseConnection,
    label: &str,
    what: &str,
    query: &SelectStatement,
    decode: impl Fn(&QueryResult) -> std::result::Result<T, DbErr>,
) -> Result<Vec<T>> {
    let rows = db
        .query_all(query)
        .await
        .context(label, format!("reading {what}"))?;
    rows.iter()
        .map(decode)
        .collect::<std::result::Result<_, _>>()
        .context(label, format!("decoding {what}"))
}

impl CrossDatabaseInspector {
    /// An inspector over the databases of `manager`.
    pub fn new(manager: MultiDatabaseManager) -> Self {
        CrossDatabaseInspector { manager }
    }

    /// The databases it reads.
    pub fn manager(&self) -> &MultiDatabaseManager {
        &self.manager
    }

    fn gateway(&self) -> &DatabaseConnection {
        self.manager.gateway_connection()
    }

    fn agent(&self, agent: &str) -> Result<&DatabaseConnection> {
        self.manager.agent_connection(agent)
    }

    async fn gateway_sessions_where(
        &self,
        filter: Option<(&str, &str)>,
    ) -> Result<Vec<GatewaySessionRow>> {
        let mut query = select("sessions", &SESSION_COLUMNS);
        if let Some((column, value)) = filter {
            query.and_where(col(column).eq(value));
        }
        query
            .order_by(Alias::new("updated_at"), Order::Desc)
            .order_by(Alias::new("id"), Order::Asc);
        fetch(
            self.gateway(),
            "gateway",
            "sessions",
            &query,
            GatewaySessionRow::read,
        )
        .await
    }

    /// A user's sessions in the gateway, most recently updated first.
    pub async fn gateway_sessions(&self, user_id: &str) -> Result<Vec<GatewaySessionRow>> {
        self.gateway_sessions_where(Some(("user_id", user_id)))
            .await
    }

    /// Every session in the gateway.
    pub async fn all_gateway_sessions(&self) -> Result<Vec<GatewaySessionRow>> {
        self.gateway_sessions_where(None).await
    }

    /// One gateway session, whoever owns it.
    pub async fn gateway_session(&self, session_id: &str) -> Result<Option<GatewaySessionRow>> {
        Ok(self
            .gateway_sessions_where(Some(("id", session_id)))
            .await?
            .into_iter()
            .next())
    }

    async fn gateway_messages_where(
        &self,
        filter: Option<(&str, &str)>,
    ) -> Result<Vec<GatewayMessageRow>> {
        let mut query = select("chat_messages", &MESSAGE_COLUMNS);
        if let Some((column, value)) = filter {
            query.and_where(col(column).eq(value));
        }
        query
            .order_by(Alias::new("created_at"), Order::Asc)
            .order_by(Alias::new("id"), Order::Asc);
        fetch(
            self.gateway(),
            "gateway",
            "chat messages",
            &query,
            GatewayMessageRow::read,
        )
        .await
    }

    /// A session's messages in the gateway, oldest first.
    pub async fn gateway_messages(&self, session_id: &str) -> Result<Vec<GatewayMessageRow>> {
        self.gateway_messages_where(Some(("session_id", session_id)))
            .await
    }

    /// Every message in the gateway, oldest first.
    pub async fn all_gateway_messages(&self) -> Result<Vec<GatewayMessageRow>> {
        self.gateway_messages_where(None).await
    }

    /// An agent's sessions, or only the one linked to `gateway_session_id`.
    pub async fn agent_sessions(
        &self,
        agent: &str,
        gateway_session_id: Option<&str>,
    ) -> Result<Vec<AgentSessionRow>> {
        let db = self.agent(agent)?;
        let label = format!("agent {agent}");
        let mut query = select("agent_sessions", &AGENT_SESSION_COLUMNS);
        if let Some(id) = gateway_session_id {
            query.and_where(col("id").eq(id));
        }
        query.order_by(Alias::new("id"), Order::Asc);
        fetch(db, &label, "agent sessions", &query, |row| {
            AgentSessionRow::read(&label, row)
        })
        .await
    }

    /// An agent's messages for one gateway session (or all of them), oldest first.
    pub async fn agent_messages(
        &self,
        agent: &str,
        gateway_session_id: Option<&str>,
    ) -> Result<Vec<AgentMessageRow>> {
        let db = self.agent(agent)?;
        let label = format!("agent {agent}");
        let mut query = select("agent_messages", &AGENT_MESSAGE_COLUMNS);
        if let Some(id) = gateway_session_id {
            query.and_where(col("session_id").eq(id));
        }
        query
            .order_by(Alias::new("created_at"), Order::Asc)
            .order_by(Alias::new("id"), Order::Asc);
        fetch(db, &label, "agent messages", &query, |row| {
            AgentMessageRow::read(&label, row)
        })
        .await
    }
}
