//! Architecture: the gateway's migration state, each agent's directly created schema, where each
//! database lives, and row statistics.

use super::CrossDatabaseInspector;
use super::report::{DatabaseIdentity, VerificationError};
use crate::db::BackendKind;
use crate::db::catalog::{count_rows, list_indexes, list_tables};
use crate::error::{DbContext, Result};
use sea_orm::DatabaseConnection;
use serde::Serialize;
use std::collections::BTreeMap;
use std::fmt;

use super::state::{AgentSchemaState, MigrationState, migration_state};

/// The whole architecture, as [`CrossDatabaseInspector::verify_database_architecture`] found it.
/// `Display` draws it as a diagram.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct ArchitectureReport {
    /// The backend.
    pub backend: BackendKind,
    /// Where the gateway database lives.
    pub gateway_location: String,
    /// The latest applied gateway migration.
    pub gateway_migration_version: Option<String>,
    /// The gateway's migration state.
    pub gateway_migrations: MigrationState,
    /// The gateway's tables.
    pub gateway_tables: Vec<String>,
    /// Each agent's tables, by agent name.
    pub agent_schemas: BTreeMap<String, Vec<String>>,
    /// Each agent's schema in full (location, tables, indexes), by agent name.
    pub agents: BTreeMap<String, AgentSchemaState>,
    /// What each database's server calls it (all distinct).
    pub identities: Vec<DatabaseIdentity>,
}

impl ArchitectureReport {
    /// The latest migration applied to `agent`'s database, for a store that migrates itself.
    pub fn agent_migration_version(&self, agent: &str) -> Option<&str> {
        self.agents.get(agent)?.migrations.as_ref()?.version()
    }
}

/// Rows of the two tables that matter in one database (the layout's session and message
/// tables).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize)]
pub struct TableStats {
    /// Sessions.
    pub sessions: u64,
    /// Messages.
    pub messages: u64,
}

/// Sessions and messages per database.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct DatabaseStats {
    /// The gateway.
    pub gateway: TableStats,
    /// Each agent, by name.
    pub agents: BTreeMap<String, TableStats>,
}

impl DatabaseStats {
    /// Expected statistics, for [`assert_database_stats`](crate::assertions::assert_database_stats):
    /// start with the gateway's, then add the agents to compare.
    ///
    /// ```
    /// use persist_core::inspect::DatabaseStats;
    ///
    /// let expected = DatabaseStats::expect(2, 4).agent("AgentA", 1, 2).agent("AgentB", 1, 2);
    /// assert_eq!(expected.agents.len(), 2);
    /// ```
    pub fn expect(gateway_sessions: u64, gateway_messages: u64) -> Self {
        DatabaseStats {
            gateway: TableStats {
                sessions: gateway_sessions,
                messages: gateway_messages,
            },
            agents: BTreeMap::new(),
        }
    }

    /// Adds an agent's expected sessions and messages.
    pub fn agent(mut self, agent: &str, sessions: u64, messages: u64) -> Self {
        self.agents
            .insert(agent.to_owned(), TableStats { sessions, messages });
        self
    }
}

/// Whether a table name is a migration-tracking table (SeaORM's, Alembic's, Diesel's, …).
fn is_migration_table(table: &str, gateway_table: &str) -> bool {
    table == gateway_table || table.contains("migration") || table == "alembic_version"
}

async fn count(db: &DatabaseConnection, label: &str, table: &str) -> Result<u64> {
    count_rows(db, table)
        .await
        .context(label, format!("counting {table}"))
}

impl CrossDatabaseInspector {
    /// The gateway's migration state, read from its tracking table.
    pub async fn gateway_migration_state(&self) -> Result<MigrationState> {
        let schema = self.manager().gateway_schema();
        migration_state(
            self.manager().gateway_connection(),
            "gateway",
            &schema.migration_table(),
            "version",
            &schema.migration_names(),
        )
        .await
    }

    /// The latest applied gateway migration.
    pub async fn gateway_migration_version(&self) -> Result<Option<String>> {
        Ok(self
            .gateway_migration_state()
            .await?
            .version()
            .map(str::to_owned))
    }

    /// Checks that every gateway migration is applied and none is pending or unknown.
    pub async fn verify_gateway_migrations(&self) -> Result<MigrationState> {
        let state = self.gateway_migration_state().await?;
        if state.is_current() {
            Ok(state)
        } else {
            Err(VerificationError::Migrations { state }.into())
        }
    }

    /// An agent database's schema as found.
    pub async fn agent_schema_state(&self, agent: &str) -> Result<AgentSchemaState> {
        let db = self.manager().agent_connection(agent)?;
        let label = format!("agent {agent}");
        let tables = list_tables(db).await.context(&label, "listing tables")?;
        let indexes = list_indexes(db).await.context(&label, "listing indexes")?;
        let gateway_table = self.manager().gateway_schema().migration_table();
        let schema = self.manager().agent_schema_of(agent)?;
        let migrations = match schema.migrator() {
            Some(migrator) => Some(
                migration_state(
                    db,
                    &label,
                    &migrator.table(),
                    &migrator.column(),
                    &migrator.names(),
                )
                .await?,
            ),
            None => None,
        };
        let own = schema.migrator().map(|m| m.table());
        Ok(AgentSchemaState {
            agent: agent.to_owned(),
            location: self.manager().agent_location(agent)?.to_string(),
            missing_tables: schema
                .tables()
                .into_iter()
                .filter(|t| !tables.contains(t))
                .collect(),
            migration_tables: tables
                .iter()
                .filter(|t| is_migration_table(t, &gateway_table) && Some(*t) != own.as_ref())
                .cloned()
                .collect(),
            tables,
            indexes,
            migrations,
        })
    }

    /// Checks that an agent has every table of its schema and no migration table but its own
    /// store's, and, for a store that migrates itself, every one of its migrations applied.
    pub async fn verify_agent_schema(&self, agent: &str) -> Result<AgentSchemaState> {
        let state = self.agent_schema_state(agent).await?;
        if state.is_correct() {
            Ok(state)
        } else {
            Err(VerificationError::AgentSchema { state }.into())
        }
    }

    /// Checks the whole architecture: the gateway fully migrated, each listed agent with its
    /// direct schema and no migrations, and every database distinct.
    pub async fn verify_database_architecture(
        &self,
        agents: &[&str],
    ) -> Result<ArchitectureReport> {
        let gateway_migrations = self.verify_gateway_migrations().await?;
        let db = self.manager().gateway_connection();
        let gateway_tables = list_tables(db).await.context("gateway", "listing tables")?;
        let mut states = BTreeMap::new();
        for agent in agents {
            states.insert((*agent).to_owned(), self.verify_agent_schema(agent).await?);
        }
        let identities = self.verify_databases_distinct().await?;
        Ok(ArchitectureReport {
            backend: self.manager().backend_kind(),
            gateway_location: self.manager().gateway_location().to_string(),
            gateway_migration_version: gateway_migrations.version().map(str::to_owned),
            gateway_migrations,
            gateway_tables,
            agent_schemas: states
                .iter()
                .map(|(agent, state)| (agent.clone(), state.tables.clone()))
                .collect(),
            agents: states,
            identities,
        })
    }

    /// Sessions and messages in every database (the layout's tables). Messages are counted
    /// as the inspector reads them: a table of turns holds two per answered turn.
    pub async fn database_stats(&self) -> Result<DatabaseStats> {
        let layout = self.layout()?;
        let gateway = self.manager().gateway_connection();
        let gateway_messages =
            if layout.gateway_messages().is_turns() || layout.gateway_messages().is_list() {
                self.all_gateway_messages().await?.len() as u64
            } else {
                count(gateway, "gateway", layout.gateway_messages().name()).await?
            };
        let mut stats = DatabaseStats {
            gateway: TableStats {
                sessions: count(gateway, "gateway", layout.gateway_sessions().name()).await?,
                messages: gateway_messages,
            },
            agents: BTreeMap::new(),
        };
        for (agent, db) in self.manager().agent_databases() {
            let label = format!("agent {agent}");
            let messages = layout.agent_messages_of(agent);
            stats.agents.insert(
                agent.to_owned(),
                TableStats {
                    // Read, not counted: a store may repeat a session over rows.
                    sessions: self.agent_sessions(agent, None).await?.len() as u64,
                    messages: if messages.is_turns() || messages.is_list() {
                        self.agent_messages(agent, None).await?.len() as u64
                    } else {
                        count(db, &label, messages.name()).await?
                    },
                },
            );
        }
        Ok(stats)
    }
}

/// Draws boxes side by side, `per_row` to a row.
fn draw_boxes(boxes: &[Vec<String>], per_row: usize, out: &mut fmt::Formatter<'_>) -> fmt::Result {
    for row in boxes.chunks(per_row) {
        let widths: Vec<usize> = row
            .iter()
            .map(|b| b.iter().map(|l| l.chars().count()).max().unwrap_or(0) + 2)
            .collect();
        let height = row.iter().map(Vec::len).max().unwrap_or(0);
        let line = |left: &str, fill: &str, right: &str| -> String {
            widths
                .iter()
                .map(|w| format!("{left}{}{right}", fill.repeat(*w)))
                .collect::<Vec<_>>()
                .join("   ")
        };
        writeln!(out, "{}", line("┌", "─", "┐"))?;
        for i in 0..height {
            let cells: Vec<String> = row
                .iter()
                .zip(&widths)
                .map(|(b, w)| {
                    let text = b.get(i).map(String::as_str).unwrap_or("");
                    let pad = w - 1 - text.chars().count();
                    format!("│ {text}{}│", " ".repeat(pad))
                })
                .collect();
            writeln!(out, "{}", cells.join("   "))?;
        }
        writeln!(out, "{}", line("└", "─", "┘"))?;
    }
    Ok(())
}

impl fmt::Display for ArchitectureReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut gateway = vec!["Gateway DB".to_owned(), String::new()];
        gateway.extend(self.gateway_tables.iter().map(|t| format!("- {t}")));
        gateway.push(String::new());
        let migrations = &self.gateway_migrations;
        gateway.push(format!(
            "✓ migrations: {}/{} applied",
            migrations.applied.len(),
            migrations.applied.len() + migrations.pending.len()
        ));
        if let Some(version) = &self.gateway_migration_version {
            gateway.push(format!("  at {version}"));
        }
        let mut boxes = vec![gateway];
        for (agent, state) in &self.agents {
            let mut lines = vec![format!("{agent} DB"), String::new()];
            lines.extend(state.tables.iter().map(|t| format!("- {t}")));
            lines.push(String::new());
            if let Some(migrations) = &state.migrations {
                lines.push(format!(
                    "✓ own migrations ({}): {}/{} applied",
                    migrations.table,
                    migrations.applied.len(),
                    migrations.applied.len() + migrations.pending.len()
                ));
                if let Some(version) = migrations.version() {
                    lines.push(format!("  at {version}"));
                }
            }
            if !state.migration_tables.is_empty() {
                lines.push(format!(
                    "! migration tables: {}",
                    state.migration_tables.join(", ")
                ));
            } else if state.migrations.is_none() {
                lines.push("✗ no migrations (direct schema)".to_owned());
            }
            boxes.push(lines);
        }
        writeln!(f, "Database architecture ({})", self.backend)?;
        draw_boxes(&boxes, 3, f)?;
        writeln!(f, "  gateway: {}", self.gateway_location)?;
        for (agent, state) in &self.agents {
            writeln!(f, "  {agent}: {}", state.location)?;
        }
        Ok(())
    }
}

impl fmt::Display for DatabaseStats {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(f, "{:<24} {:>9} {:>9}", "database", "sessions", "messages")?;
        writeln!(
            f,
            "{:<24} {:>9} {:>9}",
            "gateway", self.gateway.sessions, self.gateway.messages
        )?;
        for (agent, stats) in &self.agents {
            writeln!(
                f,
                "{:<24} {:>9} {:>9}",
                format!("agent {agent}"),
                stats.sessions,
                stats.messages
            )?;
        }
        Ok(())
    }
}
