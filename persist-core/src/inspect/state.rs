//! What the inspector finds a database's schema in: where its migrations stand, and an agent
//! database's tables.

use sea_orm::sea_query::{Alias, Expr, Query};
use sea_orm::{ConnectionTrait, DatabaseConnection};
use serde::Serialize;

use crate::db::catalog::list_tables;
use crate::error::{DbContext, Result};

/// Where a database's migrations stand: what the migrator has against what the database
/// recorded. The inspector reads it for the gateway; [`migrate::status`](crate::migrate::status)
/// for any migrator and database.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct MigrationState {
    /// The tracking table (`seaql_migrations`).
    pub table: String,
    /// Whether the tracking table exists.
    pub table_present: bool,
    /// Migrations recorded as applied, in the migrator's order.
    pub applied: Vec<String>,
    /// Migrations of the migrator not recorded as applied.
    pub pending: Vec<String>,
    /// Recorded migrations the migrator does not know.
    pub unknown: Vec<String>,
    /// Applied although a migration before them (in the migrator's order) is pending.
    pub out_of_order: Vec<String>,
}

impl MigrationState {
    /// The latest applied migration, if any.
    pub fn version(&self) -> Option<&str> {
        self.applied.last().map(String::as_str)
    }

    /// Every migration applied, in order, and none unknown.
    pub fn is_current(&self) -> bool {
        self.table_present
            && self.pending.is_empty()
            && self.unknown.is_empty()
            && self.out_of_order.is_empty()
    }
}

/// One agent database's schema as found.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct AgentSchemaState {
    /// The agent.
    pub agent: String,
    /// Where its database lives.
    pub location: String,
    /// Its tables.
    pub tables: Vec<String>,
    /// Its indexes.
    pub indexes: Vec<String>,
    /// Expected tables that are missing.
    pub missing_tables: Vec<String>,
    /// Tables that track migrations, but for its own store's (there should be none).
    pub migration_tables: Vec<String>,
    /// Where its migrations stand, for a store that migrates itself
    /// ([`AgentSchema::migrator`](crate::db::AgentSchema::migrator)); `None` for tables
    /// created directly.
    pub migrations: Option<MigrationState>,
}

impl AgentSchemaState {
    /// All expected tables, no stray migration table, and, for a store that migrates itself,
    /// every one of its migrations applied.
    pub fn is_correct(&self) -> bool {
        self.missing_tables.is_empty()
            && self.migration_tables.is_empty()
            && self
                .migrations
                .as_ref()
                .is_none_or(MigrationState::is_current)
    }
}

/// A database's migration state: which of `known` its tracking table `table` records (in its
/// `column`), which it lacks, and which it records that are not `known` (`label` names the
/// database in errors).
pub(crate) async fn migration_state(
    db: &DatabaseConnection,
    label: &str,
    table: &str,
    column: &str,
    known: &[String],
) -> Result<MigrationState> {
    let tables = list_tables(db).await.context(label, "listing tables")?;
    let table_present = tables.iter().any(|t| t == table);
    let mut recorded: Vec<String> = Vec::new();
    if table_present {
        let query = Query::select()
            .expr_as(Expr::col(Alias::new(column)), Alias::new("version"))
            .from(Alias::new(table))
            .to_owned();
        for row in db
            .query_all(&query)
            .await
            .context(label, "reading migrations")?
        {
            // A store's own numbers are integers.
            let version =
                super::read::opt_text(&row, "version").context(label, "decoding a migration")?;
            recorded.extend(version);
        }
    }
    let first_pending = known.iter().position(|m| !recorded.contains(m));
    let out_of_order = match first_pending {
        Some(index) => known[index..]
            .iter()
            .filter(|m| recorded.contains(m))
            .cloned()
            .collect(),
        None => Vec::new(),
    };
    Ok(MigrationState {
        table: table.to_owned(),
        table_present,
        applied: known
            .iter()
            .filter(|m| recorded.contains(m))
            .cloned()
            .collect(),
        pending: known
            .iter()
            .filter(|m| !recorded.contains(m))
            .cloned()
            .collect(),
        unknown: recorded
            .into_iter()
            .filter(|m| !known.contains(m))
            .collect(),
        out_of_order,
    })
}
