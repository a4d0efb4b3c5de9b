//! Creating a test's databases and giving them their schemas; closing and removing them.

use std::sync::Arc;
use std::time::Duration;

use futures::future::BoxFuture;
use sea_orm::{DatabaseConnection, DbErr};

use super::backend::{ApplySchema, Backend, DatabaseLocation, SchemaTemplate};
use super::fingerprint::definition;
use super::manager::DatabaseRole;
use super::names::AgentName;
use super::schema::{AgentSchema, GatewaySchema};
use crate::error::{DbContext, PersistError, Result};

/// How long cleanup waits for a pool's borrowed connections to come back before moving on.
const CLOSE_TIMEOUT: Duration = Duration::from_secs(5);

/// One database of a manager.
pub(crate) struct Provisioned {
    pub role: DatabaseRole,
    pub location: DatabaseLocation,
    pub connection: DatabaseConnection,
}

/// Creates every database at once (they are independent, and a server creates several
/// faster together than one after another), then gives each its schema. Whatever was
/// created is in `created`, in order, even when something failed.
pub(crate) async fn provision_all(
    backend: &dyn Backend,
    agents: &[AgentName],
    gateway_schema: &Arc<dyn GatewaySchema>,
    agent_schema: &Arc<dyn AgentSchema>,
    templates: bool,
    created: &mut Vec<Provisioned>,
) -> Result<()> {
    let mut plan = vec![(DatabaseRole::Gateway, "gateway".to_owned())];
    plan.extend(agents.iter().map(|agent| {
        (
            DatabaseRole::Agent(agent.as_str().to_owned()),
            format!("agent_{}", agent.slug()),
        )
    }));
    let gateway_schema: Arc<dyn ApplySchema> = Arc::new(GatewayApply(gateway_schema.clone()));
    let agent_schema: Arc<dyn ApplySchema> = Arc::new(AgentApply(agent_schema.clone()));
    let (gateway_key, agent_key) = if templates {
        schema_keys(backend, &gateway_schema, &agent_schema, agents.is_empty()).await
    } else {
        (None, None)
    };
    let databases = plan.len();
    backend.reserve(databases).await?;
    let (gateway_key, agent_key) = (&gateway_key, &agent_key);
    let (gateway_schema, agent_schema) = (&gateway_schema, &agent_schema);
    let outcomes = futures::future::join_all(plan.into_iter().map(|(role, name)| async move {
        let (schema, key) = match role {
            DatabaseRole::Gateway => (gateway_schema, gateway_key),
            DatabaseRole::Agent(_) => (agent_schema, agent_key),
        };
        let label = role.to_string();
        let template = key.as_ref().map(|key| SchemaTemplate {
            key: key.clone(),
            label: label.clone(),
            schema: schema.clone(),
        });
        let (database, cloned) = provision(backend, role, &name, template.as_ref()).await?;
        let applied = if cloned {
            Ok(())
        } else {
            schema
                .apply(&database.connection)
                .await
                .context(label, "applying its schema")
        };
        Ok::<_, PersistError>((database, applied))
    }))
    .await;
    let mut first_error = None;
    for outcome in outcomes {
        match outcome {
            Ok((database, schema)) => {
                created.push(database);
                if let Err(e) = schema {
                    first_error.get_or_insert(e);
                }
            }
            Err(e) => {
                first_error.get_or_insert(e);
            }
        }
    }
    first_error.map_or(Ok(()), Err)
}

/// The definition fingerprints of the gateway's and the agents' schemas on this backend.
async fn schema_keys(
    backend: &dyn Backend,
    gateway: &Arc<dyn ApplySchema>,
    agent: &Arc<dyn ApplySchema>,
    no_agents: bool,
) -> (Option<String>, Option<String>) {
    let dialect = backend.kind().db_backend();
    let gateway_key = match gateway.as_gateway() {
        Some(schema) => {
            let table = schema.migration_table();
            definition(&**gateway, dialect, Some(&table), &schema.migration_names()).await
        }
        None => None,
    };
    let agent_key = if no_agents {
        None
    } else {
        definition(&**agent, dialect, None, &[]).await
    };
    (
        gateway_key.map(|f| f.to_string()),
        agent_key.map(|f| f.to_string()),
    )
}

/// Creates one database, cloned from a template if the backend can; `true` when cloned.
async fn provision(
    backend: &dyn Backend,
    role: DatabaseRole,
    name: &str,
    template: Option<&SchemaTemplate>,
) -> Result<(Provisioned, bool)> {
    let cloned = match template {
        Some(template) => backend.create_from_template(name, template).await?,
        None => None,
    };
    let (location, is_clone) = match cloned {
        Some(location) => (location, true),
        None => (backend.create_database(name).await?, false),
    };
    match backend.connect(&location).await {
        Ok(connection) => Ok((
            Provisioned {
                role,
                location,
                connection,
            },
            is_clone,
        )),
        Err(source) => {
            let _ = backend.drop_database(&location).await;
            Err(PersistError::Database {
                database: role.to_string(),
                operation: format!("connecting to {location}"),
                source,
            })
        }
    }
}

/// The gateway's migrations as a schema to apply.
struct GatewayApply(Arc<dyn GatewaySchema>);

impl ApplySchema for GatewayApply {
    fn as_gateway(&self) -> Option<&dyn GatewaySchema> {
        Some(&*self.0)
    }

    fn process_key(&self) -> Option<String> {
        self.0.process_key()
    }

    fn apply<'a>(
        &'a self,
        db: &'a DatabaseConnection,
    ) -> BoxFuture<'a, std::result::Result<(), DbErr>> {
        self.0.migrate(db)
    }
}

/// An agent schema as a schema to apply.
struct AgentApply(Arc<dyn AgentSchema>);

impl ApplySchema for AgentApply {
    fn process_key(&self) -> Option<String> {
        self.0.process_key()
    }

    fn apply<'a>(
        &'a self,
        db: &'a DatabaseConnection,
    ) -> BoxFuture<'a, std::result::Result<(), DbErr>> {
        self.0.create(db)
    }
}

/// Closes every pool, then removes the databases (unless kept) and releases the backend.
/// Goes on after a failure and reports the first one.
pub(crate) async fn teardown<'a>(
    backend: &dyn Backend,
    databases: impl Iterator<Item = &'a Provisioned> + Clone,
    keep: bool,
) -> Result<()> {
    // A pooling backend resets each database through its own connection, before it closes.
    let recycled: Vec<bool> = if keep {
        databases.clone().map(|_| false).collect()
    } else {
        futures::future::join_all(
            databases
                .clone()
                .map(|db| backend.recycle(&db.location, &db.connection)),
        )
        .await
        .into_iter()
        .map(|r| r.unwrap_or(false))
        .collect()
    };
    for db in databases.clone() {
        // A connection still borrowed elsewhere delays `close`; don't let it block teardown.
        let _ = tokio::time::timeout(CLOSE_TIMEOUT, db.connection.close_by_ref()).await;
    }
    let locations: Vec<&DatabaseLocation> = databases
        .zip(recycled)
        .filter(|(_, recycled)| !recycled)
        .map(|(db, _)| &db.location)
        .collect();
    drop_all(backend, &locations, keep).await
}

/// Drops the databases (all at once) unless kept, then releases the backend; goes on after a
/// failure and reports the first.
pub(crate) async fn drop_all(
    backend: &dyn Backend,
    locations: &[&DatabaseLocation],
    keep: bool,
) -> Result<()> {
    let mut first_error = None;
    if !keep {
        let drops = locations
            .iter()
            .map(|location| backend.drop_database(location));
        for result in futures::future::join_all(drops).await {
            if let Err(e) = result {
                first_error.get_or_insert(e);
            }
        }
    }
    if let Err(e) = backend.release(keep).await {
        first_error.get_or_insert(e);
    }
    first_error.map_or(Ok(()), Err)
}
