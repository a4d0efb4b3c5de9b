//! That every database of a test is its own: asked of each connection, and probed where an
//! in-memory database has no name to ask for.

use sea_orm::ConnectionTrait as _;

use super::CrossDatabaseInspector;
use super::report::{DatabaseIdentity, VerificationError};
use crate::db::catalog::{database_identity, list_tables};
use crate::db::{DatabaseLocation, DatabaseRole};
use crate::error::{DbContext, Result};

impl CrossDatabaseInspector {
    /// Checks that the gateway and every agent use different databases, by asking each
    /// connection what its database is. In-memory SQLite databases have no name to ask for:
    /// for those, a uniquely named probe table is created, looked for in every other
    /// database, and dropped again.
    pub async fn verify_databases_distinct(&self) -> Result<Vec<DatabaseIdentity>> {
        let roles: Vec<_> = self.manager().locations();
        let mut identities = Vec::new();
        for (role, location) in &roles {
            let db = self.manager().connection(role)?;
            let identity = database_identity(db)
                .await
                .context(role.to_string(), "asking the database its name")?;
            let identity = if identity.is_empty() {
                format!("memory:{}", location.name)
            } else {
                identity
            };
            identities.push(DatabaseIdentity {
                role: role.to_string(),
                identity,
            });
        }
        let mut shared = Vec::new();
        for (i, a) in identities.iter().enumerate() {
            for b in &identities[i + 1..] {
                if a.identity == b.identity {
                    shared.push(format!("{} and {} both use {}", a.role, b.role, a.identity));
                }
            }
        }
        for (i, (role, _)) in roles.iter().enumerate() {
            if identities[i].identity.starts_with("memory:") {
                shared.extend(self.probe(role, &roles).await?);
            }
        }
        if shared.is_empty() {
            Ok(identities)
        } else {
            Err(VerificationError::DatabasesNotDistinct { shared }.into())
        }
    }

    /// Creates a probe table in `role`'s database and reports every other database that sees it.
    async fn probe(
        &self,
        role: &DatabaseRole,
        roles: &[(DatabaseRole, DatabaseLocation)],
    ) -> Result<Vec<String>> {
        let table = format!(
            "persist_probe_{}",
            &uuid::Uuid::new_v4().simple().to_string()[..12]
        );
        let db = self.manager().connection(role)?;
        let label = role.to_string();
        db.execute_unprepared(&format!("CREATE TABLE {table} (x INTEGER)"))
            .await
            .context(&label, "creating a probe table")?;
        let mut shared = Vec::new();
        for (other, _) in roles.iter().filter(|(other, _)| other != role) {
            let tables = list_tables(self.manager().connection(other)?)
                .await
                .context(other.to_string(), "listing tables")?;
            if tables.contains(&table) {
                shared.push(format!("{role} and {other} share one in-memory database"));
            }
        }
        db.execute_unprepared(&format!("DROP TABLE {table}"))
            .await
            .context(&label, "dropping a probe table")?;
        Ok(shared)
    }
}
