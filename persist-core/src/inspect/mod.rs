//! The cross-database inspector: reads every database through its own queries, never through
//! the components' code, and verifies what it finds.
//!
//! It reads through the system's [`Layout`]: which tables and columns hold sessions and
//! messages. Nothing here reuses a system's entities or code.

use std::collections::HashMap;
use std::sync::Arc;

use sea_orm::sea_query::{Alias, Expr, ExprTrait as _, Order, SelectStatement};
use sea_orm::{ConnectionTrait, DatabaseConnection, DbErr, QueryResult};

use crate::db::MultiDatabaseManager;
use crate::error::{DbContext, PersistError, Result};
use crate::system::{Layout, Source, Table};

mod architecture;
mod distinct;
mod integrity;
mod message;
mod order;
mod proof;
pub(crate) use order::{Item as HistoryItem, agree as histories_agree};
mod read;
mod report;
mod rows;
mod snapshot;
mod state;
mod verify;

pub use architecture::{ArchitectureReport, DatabaseStats, TableStats};
pub use proof::{Fault, FaultOutcome, LayoutProof};
use read::Columns;
pub use report::{
    ContextIsolationReport, DatabaseIdentity, IntegrityProblem, IntegrityReport, IsolationReport,
    SessionLink, UserIsolationReport, VerificationError,
};
pub(crate) use rows::list;
pub use rows::{AgentMessageRow, AgentSessionRow, GatewayMessageRow, GatewaySessionRow};
pub(crate) use snapshot::named as snapshot_named;
pub use snapshot::{DataSnapshot, SnapshotBuilder, snapshot_of};
pub(crate) use state::migration_state;
pub use state::{AgentSchemaState, MigrationState};

/// Reads and verifies a test's databases from the outside.
///
/// ```
/// # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
/// use persist_core::{CrossDatabaseInspector, MultiDatabaseManager};
///
/// let manager = persist_core::mesh::setup(["AgentA"]).await?;
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

/// Adds `ORDER BY` each of the optional columns, then by `id`.
fn order(query: &mut SelectStatement, by: &[Option<&str>], direction: Order, id: Option<&str>) {
    for column in by.iter().flatten() {
        query.order_by(Alias::new(*column), direction.clone());
    }
    if let Some(id) = id {
        query.order_by(Alias::new(id), Order::Asc);
    }
}

/// Runs `query` on one database and decodes every row (into one or more values).
async fn fetch<T>(
    db: &DatabaseConnection,
    label: &str,
    what: &str,
    query: &SelectStatement,
    decode: impl Fn(&QueryResult) -> std::result::Result<Vec<T>, DbErr>,
) -> Result<Vec<T>> {
    let rows = db
        .query_all(query)
        .await
        .context(label, format!("reading {what}"))?;
    let mut out = Vec::with_capacity(rows.len());
    for row in &rows {
        out.extend(decode(row).context(label, format!("decoding {what}"))?);
    }
    Ok(out)
}

impl CrossDatabaseInspector {
    /// An inspector over the databases of `manager`, knowing no layout: it checks schemas
    /// and architecture; the data checks need one ([`for_system`](Self::for_system),
    /// [`with_layout`](Self::with_layout)). A test's injected inspector has its system's.
    pub fn new(manager: MultiDatabaseManager) -> Self {
        CrossDatabaseInspector {
            manager,
            layout: None,
        }
    }

    /// An inspector that reads through `layout`.
    pub fn with_layout(manager: MultiDatabaseManager, layout: Layout) -> Self {
        Self::shared(manager, Some(Arc::new(layout)))
    }

    /// An inspector that reads through the layout of `system` (the one the databases were
    /// given the schemas of).
    pub fn for_system(manager: MultiDatabaseManager, system: &dyn crate::system::System) -> Self {
        Self::shared(manager, system.layout().map(Arc::new))
    }

    pub(crate) fn shared(manager: MultiDatabaseManager, layout: Option<Arc<Layout>>) -> Self {
        CrossDatabaseInspector { manager, layout }
    }

    /// The layout it reads through; an error for a system that gave none.
    pub fn layout(&self) -> Result<&Layout> {
        self.layout.as_deref().ok_or_else(|| PersistError::NotProvided {
            what: "layout".into(),
            hint: "the system under test says nothing of where it keeps sessions and messages: return one from `System::layout` (or build the inspector with `CrossDatabaseInspector::with_layout`)".into(),
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
        Ok(self.manager.agent_connection(agent)?)
    }

    async fn gateway_sessions_where(
        &self,
        filter: Option<(Field, &str)>,
    ) -> Result<Vec<GatewaySessionRow>> {
        let table = self.layout()?.gateway_sessions();
        let columns = Columns::of(table);
        let names = GatewaySessionRow::names(table);
        let mut query = columns.select();
        if let Some((field, value)) = filter
            && let Some(column) = field.of(table)
        {
            query.and_where(col(column).eq(value));
        }
        let updated = table.updated.as_ref().map(|(c, _)| c.as_str());
        order(&mut query, &[updated], Order::Desc, plain(&table.id));
        let mut rows = fetch(self.gateway(), "gateway", "sessions", &query, |row| {
            GatewaySessionRow::read(&columns, &names, row).map(|r| vec![r])
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
        let names = GatewayMessageRow::names(table);
        let messages = read_messages(self.gateway(), "gateway", table, session_id, "agent").await?;
        let mut rows: Vec<GatewayMessageRow> = messages
            .into_iter()
            .map(|m| GatewayMessageRow::from_message(&names, m))
            .collect();
        if let Some(id) = session_id {
            rows.retain(|r| r.session_id == id);
        }
        Ok(rows)
    }

    /// A session's messages in the gateway, oldest first (a table of turns gives each turn's
    /// two messages, the user's first).
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
        let table = self.layout()?.agent_sessions_of(agent);
        let label = format!("agent {agent}");
        let columns = Columns::of(table);
        let names = AgentSessionRow::names(table);
        let mut query = columns.select();
        let link = plain(&table.session);
        if let (Some(id), Some(link)) = (gateway_session_id, link) {
            query.and_where(col(link).eq(id));
        }
        order(&mut query, &[], Order::Asc, link.or(plain(&table.key)));
        let mut rows = fetch(db, &label, "agent sessions", &query, |row| {
            AgentSessionRow::read(&columns, &names, agent, &label, row).map(|r| vec![r])
        })
        .await?;
        if let Some(id) = gateway_session_id {
            rows.retain(|r| r.id == id);
        }
        if link.is_none() {
            rows.sort_by(|a, b| (&a.id, &a.key).cmp(&(&b.id, &b.key)));
        }
        // A table that repeats a session over rows (a checkpoint per step) holds it once.
        let mut seen = std::collections::HashSet::new();
        rows.retain(|r| {
            seen.insert((
                r.key.clone(),
                r.id.clone(),
                r.user_id.clone(),
                r.agent_name.clone(),
                r.state.to_string(),
            ))
        });
        if table.user.is_none() {
            // A store that keeps no user: a session is its gateway session's user's.
            let owners: HashMap<String, String> = self
                .all_gateway_sessions()
                .await?
                .into_iter()
                .map(|s| (s.id, s.user_id))
                .collect();
            for row in &mut rows {
                row.user_id = owners.get(&row.id).cloned().unwrap_or_default();
            }
        }
        Ok(rows)
    }

    /// An agent's messages for one gateway session (or all of them), oldest first. Messages
    /// that name the agent's own session ([`Table::agent_session`]) are given the gateway
    /// session that session is linked to; one whose key no session of the agent has belongs
    /// to no gateway session (its session id says so).
    pub async fn agent_messages(
        &self,
        agent: &str,
        gateway_session_id: Option<&str>,
    ) -> Result<Vec<AgentMessageRow>> {
        let db = self.agent(agent)?;
        let table = self.layout()?.agent_messages_of(agent);
        let label = format!("agent {agent}");
        let names = AgentMessageRow::names(table);
        let joined = table.agent_session.is_some();
        let filter = if joined { None } else { gateway_session_id };
        let messages = read_messages(db, &label, table, filter, "assistant").await?;
        let mut rows: Vec<AgentMessageRow> = messages
            .into_iter()
            .map(|m| AgentMessageRow::from_message(&names, &label, m))
            .collect();
        if joined {
            let links: HashMap<String, String> = self
                .agent_sessions(agent, None)
                .await?
                .into_iter()
                .map(|s| (s.key, s.id))
                .collect();
            for row in &mut rows {
                match links.get(&row.session_id) {
                    Some(gateway) => row.session_id = gateway.clone(),
                    // Not the key of any of the agent's sessions: the agent cannot find it,
                    // whatever its value looks like (a gateway session id, say).
                    None => {
                        row.session_id = format!(
                            "{} (the key of no session of agent {agent})",
                            row.session_id
                        )
                    }
                }
            }
        }
        if let Some(id) = gateway_session_id {
            rows.retain(|r| r.session_id == id);
        }
        Ok(rows)
    }
}

/// A part's column, when the part is a whole column (so SQL can filter and sort on it).
fn plain(source: &Option<Source>) -> Option<&str> {
    source.as_ref().and_then(Source::plain)
}

/// The columns a query filters on.
#[derive(Clone, Copy)]
enum Field {
    Id,
    User,
}

impl Field {
    /// The plain column to filter on in SQL, if the part is one (else rows are filtered as
    /// they are read).
    fn of(self, table: &Table) -> Option<&str> {
        plain(match self {
            Field::Id => &table.id,
            Field::User => &table.user,
        })
    }
}

/// A message query, for one session or all, oldest first.
fn messages_query(
    mut query: SelectStatement,
    table: &Table,
    session: Option<&str>,
    session_id: Option<&str>,
) -> SelectStatement {
    if let (Some(id), Some(column)) = (session_id, session) {
        query.and_where(col(column).eq(id));
    }
    let created = table.created.as_ref().map(|(c, _)| c.as_str());
    order(
        &mut query,
        &[table.order.as_deref(), created],
        Order::Asc,
        plain(&table.id),
    );
    query
}

/// A message table's messages, for one session or all, oldest first: each row's (one, a
/// turn's two, or a list's elements), and of a table of histories only each session's latest
/// row's.
async fn read_messages(
    db: &DatabaseConnection,
    label: &str,
    table: &Table,
    session_id: Option<&str>,
    agent_word: &'static str,
) -> Result<Vec<message::Message>> {
    let columns = Columns::of(table);
    let query = messages_query(columns.select(), table, plain(&table.session), session_id);
    let rows = db
        .query_all(&query)
        .await
        .context(label, format!("reading {}", table.name))?;
    let mut sessions = Vec::with_capacity(rows.len());
    let mut messages = Vec::new();
    for (index, row) in rows.iter().enumerate() {
        let decoded = message::row_session(&columns, row)
            .and_then(|session| {
                Ok((
                    session,
                    message::messages(&columns, row, index, agent_word)?,
                ))
            })
            .context(label, format!("decoding {}", table.name))?;
        sessions.push(decoded.0);
        messages.extend(decoded.1);
    }
    Ok(message::settle(table, &sessions, messages))
}
