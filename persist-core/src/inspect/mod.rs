//! The cross-database inspector: reads every database through its own queries, never through
//! the components' code, and verifies what it finds.
//!
//! It reads through the system's [`Layout`]: which tables and columns hold sessions and
//! messages. Nothing here reuses a system's entities or code.

use std::sync::Arc;

use sea_orm::sea_query::{Alias, Expr, ExprTrait as _, Order, SelectStatement};
use sea_orm::{ConnectionTrait, DatabaseConnection, DbErr, QueryResult};

use crate::db::MultiDatabaseManager;
use crate::error::{DbContext, PersistError, Result};
use crate::system::{Layout, Table};

mod architecture;
mod report;
mod rows;
mod state;
mod verify;

pub use architecture::{ArchitectureReport, DatabaseStats, TableStats};
pub use report::{
    ContextIsolationReport, DatabaseIdentity, IntegrityProblem, IntegrityReport, IsolationReport,
    SessionLink, UserIsolationReport, VerificationError,
};
use rows::Names;
pub(crate) use rows::list;
pub use rows::{AgentMessageRow, AgentSessionRow, GatewayMessageRow, GatewaySessionRow};
pub(crate) use state::migration_state;
pub use state::{AgentSchemaState, MigrationState};

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
    layout: Option<Arc<Layout>>,
}

fn col(name: &str) -> Expr {
    Expr::col(Alias::new(name))
}

/// Adds `ORDER BY column` for an optional column, then by `id`.
fn order(query: &mut SelectStatement, by: Option<&str>, direction: Order, id: Option<&str>) {
    if let Some(column) = by {
        query.order_by(Alias::new(column), direction);
    }
    if let Some(id) = id {
        query.order_by(Alias::new(id), Order::Asc);
    }
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
    /// An inspector over the databases of `manager`, reading through the manager's layout
    /// (the system's).
    pub fn new(manager: MultiDatabaseManager) -> Self {
        let layout = manager.shared_layout();
        CrossDatabaseInspector { manager, layout }
    }

    /// An inspector that reads through `layout` instead of the manager's.
    pub fn with_layout(manager: MultiDatabaseManager, layout: Layout) -> Self {
        CrossDatabaseInspector {
            manager,
            layout: Some(Arc::new(layout)),
        }
    }

    /// The layout it reads through; an error for a system that gave none.
    pub fn layout(&self) -> Result<&Layout> {
        self.layout.as_deref().ok_or_else(|| PersistError::NotProvided {
            what: "layout".into(),
            hint: "the system under test says nothing of where it keeps sessions and messages: return one from `System::layout` (or give `ManagerBuilder::layout`)".into(),
        })
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
        filter: Option<(Field, &str)>,
    ) -> Result<Vec<GatewaySessionRow>> {
        let table = self.layout()?.gateway_sessions();
        let columns = GatewaySessionRow::columns(table);
        let names = Names::of(&columns);
        let mut query = columns.select();
        if let Some((field, value)) = filter {
            query.and_where(col(field.of(table)).eq(value));
        }
        let updated = table.updated.as_ref().map(|(c, _)| c.as_str());
        order(&mut query, updated, Order::Desc, table.id.as_deref());
        let mut rows = fetch(self.gateway(), "gateway", "sessions", &query, |row| {
            GatewaySessionRow::read(table, &names, row)
        })
        .await?;
        // Byte for byte: a collation that ignores case, accents or trailing spaces (MariaDB's
        // default) must not make a look-alike match.
        if let Some((field, value)) = filter {
            rows.retain(|r| match field {
                Field::Id => r.id == value,
                Field::User => r.user_id == value,
            });
        }
        Ok(rows)
    }

    /// A user's sessions in the gateway, most recently updated first.
    pub async fn gateway_sessions(&self, user_id: &str) -> Result<Vec<GatewaySessionRow>> {
        self.gateway_sessions_where(Some((Field::User, user_id)))
            .await
    }

    /// Every session in the gateway.
    pub async fn all_gateway_sessions(&self) -> Result<Vec<GatewaySessionRow>> {
        self.gateway_sessions_where(None).await
    }

    /// One gateway session, whoever owns it.
    pub async fn gateway_session(&self, session_id: &str) -> Result<Option<GatewaySessionRow>> {
        Ok(self
            .gateway_sessions_where(Some((Field::Id, session_id)))
            .await?
            .into_iter()
            .next())
    }

    async fn gateway_messages_where(
        &self,
        session_id: Option<&str>,
    ) -> Result<Vec<GatewayMessageRow>> {
        let table = self.layout()?.gateway_messages();
        let columns = GatewayMessageRow::columns(table);
        let names = Names::of(&columns);
        let query = messages_query(columns.select(), table, session_id);
        let mut rows = fetch(self.gateway(), "gateway", "chat messages", &query, |row| {
            GatewayMessageRow::read(table, &names, row)
        })
        .await?;
        if let Some(id) = session_id {
            rows.retain(|r| r.session_id == id);
        }
        Ok(rows)
    }

    /// A session's messages in the gateway, oldest first.
    pub async fn gateway_messages(&self, session_id: &str) -> Result<Vec<GatewayMessageRow>> {
        self.gateway_messages_where(Some(session_id)).await
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
        let table = self.layout()?.agent_sessions();
        let label = format!("agent {agent}");
        let columns = AgentSessionRow::columns(table);
        let names = Names::of(&columns);
        let mut query = columns.select();
        let link = table.session.as_deref();
        if let (Some(id), Some(link)) = (gateway_session_id, link) {
            query.and_where(col(link).eq(id));
        }
        order(&mut query, None, Order::Asc, link);
        let mut rows = fetch(db, &label, "agent sessions", &query, |row| {
            AgentSessionRow::read(table, &names, agent, &label, row)
        })
        .await?;
        if let (Some(id), Some(_)) = (gateway_session_id, link) {
            rows.retain(|r| r.id == id);
        }
        Ok(rows)
    }

    /// An agent's messages for one gateway session (or all of them), oldest first.
    pub async fn agent_messages(
        &self,
        agent: &str,
        gateway_session_id: Option<&str>,
    ) -> Result<Vec<AgentMessageRow>> {
        let db = self.agent(agent)?;
        let table = self.layout()?.agent_messages();
        let label = format!("agent {agent}");
        let columns = AgentMessageRow::columns(table);
        let names = Names::of(&columns);
        let query = messages_query(columns.select(), table, gateway_session_id);
        let mut rows = fetch(db, &label, "agent messages", &query, |row| {
            AgentMessageRow::read(table, &names, &label, row)
        })
        .await?;
        if let (Some(id), Some(_)) = (gateway_session_id, table.session.as_deref()) {
            rows.retain(|r| r.session_id == id);
        }
        Ok(rows)
    }
}

/// The columns a query filters on.
#[derive(Clone, Copy)]
enum Field {
    Id,
    User,
}

impl Field {
    fn of(self, table: &Table) -> &str {
        let column = match self {
            Field::Id => &table.id,
            Field::User => &table.user,
        };
        // `Layout::new` requires both on the gateway's session table.
        column.as_deref().unwrap_or_default()
    }
}

/// A message query, for one session or all, oldest first.
fn messages_query(
    mut query: SelectStatement,
    table: &Table,
    session_id: Option<&str>,
) -> SelectStatement {
    if let (Some(id), Some(column)) = (session_id, table.session.as_deref()) {
        query.and_where(col(column).eq(id));
    }
    let created = table.created.as_ref().map(|(c, _)| c.as_str());
    order(&mut query, created, Order::Asc, table.id.as_deref());
    query
}
