//! Creating a test's databases and giving them their schemas; closing and removing them.

use std::sync::Arc;
use std::time::Duration;

use futures::future::BoxFuture;
use sea_orm::{DatabaseConnection, DbErr};

use super::apply::ApplySchema;
use super::backend::{DatabaseLocation, Engine, SchemaTemplate};
use super::fingerprint::{Untrusted, definition};
use super::names::AgentName;
use super::role::DatabaseRole;
use super::schema::{AgentSchema, GatewaySchema};
use crate::error::{DbContext, Error, Result};

/// How long cleanup waits for a pool's borrowed connections to come back before moving on.
const CLOSE_TIMEOUT: Duration = Duration::from_secs(5);

/// One database of a manager.
#[derive(Clone)]
pub(crate) struct Provisioned {
    pub role: DatabaseRole,
    pub location: DatabaseLocation,
    pub connection: DatabaseConnection,
}

/// What a test's databases are to be: each role, its database name, its schema and, with
/// templates, the schema's template key. Agents that share a schema share its key.
pub(crate) struct Plan {
    entries: Vec<Planned>,
}

/// One database of a plan: its role, name, schema and template key.
type Planned = (DatabaseRole, String, Arc<dyn ApplySchema>, Option<String>);

impl Plan {
    /// What identifies these databases across tests: every role, name and template key, or
    /// `None` when a schema has no template (its databases are then never reused).
    #[cfg_attr(not(feature = "sqlite"), allow(dead_code))]
    pub(crate) fn identity(&self) -> Option<String> {
        let mut identity = String::new();
        for (role, name, _, key) in &self.entries {
            identity.push_str(&format!("{role}={name}@{};", key.as_deref()?));
        }
        Some(identity)
    }
}

/// Where template keys come from when a schema's statements cannot key it.
pub(crate) enum Keys<'a> {
    /// The backend that will hold the databases.
    Backend(&'a dyn Engine),
    /// SQLite, before any backend is open (both SQLite backends key schemas alike).
    #[cfg(feature = "sqlite")]
    Sqlite,
}

impl Keys<'_> {
    fn kind(&self) -> super::backend::BackendKind {
        match self {
            Keys::Backend(backend) => backend.kind(),
            #[cfg(feature = "sqlite")]
            Keys::Sqlite => super::backend::BackendKind::SqliteFile,
        }
    }

    async fn catalog_key(
        &self,
        label: &str,
        schema: &Arc<dyn ApplySchema>,
    ) -> Result<Option<String>> {
        match self {
            Keys::Backend(backend) => backend.catalog_key(label, schema).await,
            #[cfg(feature = "sqlite")]
            Keys::Sqlite => super::backend::sqlite_catalog_key(label, schema)
                .await
                .map(Some),
        }
    }
}

/// Plans a test's databases: the gateway's first, then one per agent, each with its schema and,
/// with `templates`, its template key.
pub(crate) async fn plan(
    keys: Keys<'_>,
    agents: &[(AgentName, Arc<dyn AgentSchema>)],
    gateway_schema: &Arc<dyn GatewaySchema>,
    templates: bool,
) -> Result<Plan> {
    let gateway: Arc<dyn ApplySchema> = Arc::new(GatewayApply(gateway_schema.clone()));
    // One schema to apply per distinct agent schema: agents that share one share its key.
    let mut distinct: Vec<(Arc<dyn AgentSchema>, Arc<dyn ApplySchema>)> = Vec::new();
    let mut entries = vec![(
        DatabaseRole::Gateway,
        "gateway".to_owned(),
        gateway.clone(),
        None,
    )];
    for (agent, schema) in agents {
        let apply = match distinct.iter().find(|(s, _)| Arc::ptr_eq(s, schema)) {
            Some((_, apply)) => apply.clone(),
            None => {
                let apply: Arc<dyn ApplySchema> = Arc::new(AgentApply(schema.clone()));
                distinct.push((schema.clone(), apply.clone()));
                apply
            }
        };
        entries.push((
            DatabaseRole::Agent(agent.as_str().to_owned()),
            format!("agent_{}", agent.slug()),
            apply,
            None,
        ));
    }
    if templates {
        let mut keyed: Vec<(Arc<dyn ApplySchema>, Option<String>)> = Vec::new();
        for (label, schema) in std::iter::once(("gateway", &gateway))
            .chain(distinct.iter().map(|(_, apply)| ("agents", apply)))
        {
            keyed.push((schema.clone(), schema_key(&keys, label, schema).await?));
        }
        for (_, _, schema, key) in &mut entries {
            *key = keyed
                .iter()
                .find(|(s, _)| Arc::ptr_eq(s, schema))
                .and_then(|(_, key)| key.clone());
        }
    }
    Ok(Plan { entries })
}

/// Creates every database of `plan` at once (they are independent, and a server creates
/// several faster together than one after another), then gives each its schema (each agent
/// its own). Whatever was created is in `created`, in order, even when something failed.
pub(crate) async fn provision_all(
    backend: &dyn Engine,
    plan: Plan,
    created: &mut Vec<Provisioned>,
) -> Result<()> {
    backend.reserve(plan.entries.len()).await?;
    let outcomes = futures::future::join_all(plan.entries.into_iter().map(
        |(role, name, schema, key)| async move {
            let label = role.to_string();
            let template = key.map(|key| SchemaTemplate {
                key,
                label: label.clone(),
                schema: schema.clone(),
            });
            let (database, cloned) = provision(backend, role, &name, template.as_ref()).await?;
            let applied = if cloned {
                Ok(())
            } else {
                apply_over_one_connection(backend, &database.location, &*schema, &label).await
            };
            Ok::<_, Error>((database, applied))
        },
    ))
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

/// The template key of a schema on this backend: what its statements are in its dialect
/// (with its migration history, if it has one), or, where those cannot be trusted, what it
/// builds (`Engine::catalog_key`); `None` for a schema with no template.
async fn schema_key(
    keys: &Keys<'_>,
    label: &str,
    schema: &Arc<dyn ApplySchema>,
) -> Result<Option<String>> {
    let dialect = keys.kind().db_backend();
    let recorded = match schema.history() {
        Some((table, names)) => definition(&**schema, dialect, Some(&table), &names).await,
        None => definition(&**schema, dialect, None, &[]).await,
    };
    key_for(keys, label, schema, recorded).await
}

async fn key_for(
    keys: &Keys<'_>,
    label: &str,
    schema: &Arc<dyn ApplySchema>,
    recorded: std::result::Result<super::Fingerprint, Untrusted>,
) -> Result<Option<String>> {
    let why = match recorded {
        Ok(fingerprint) => return Ok(Some(fingerprint.to_string())),
        Err(why) => why,
    };
    let key = keys.catalog_key(label, schema).await?;
    if key.is_none() {
        warn_once(label, why);
    } else {
        tracing::debug!(schema = label, reason = %why, "keyed by the catalog it builds");
    }
    Ok(key)
}

/// Said once per process and schema: the fallback costs a migration per test.
fn warn_once(label: &str, why: Untrusted) {
    static WARNED: std::sync::Mutex<Vec<String>> = std::sync::Mutex::new(Vec::new());
    let mut warned = WARNED.lock().unwrap_or_else(|p| p.into_inner());
    if !warned.iter().any(|w| w == label) {
        warned.push(label.to_owned());
        tracing::warn!(
            schema = label,
            "the {label} schema is applied to every test database instead of cloned from a \
             template: {why}, and this backend cannot key a template by what it builds"
        );
    }
}

/// Applies `schema` over a connection of its own, exactly one, then closes it.
async fn apply_over_one_connection(
    backend: &dyn Engine,
    location: &DatabaseLocation,
    schema: &dyn ApplySchema,
    label: &str,
) -> Result<()> {
    let one = backend.connect_one(location).await.context(
        label,
        format!("connecting to {location} to apply its schema"),
    )?;
    let applied = schema
        .apply(&one)
        .await
        .context(label, "applying its schema");
    let _ = one.close().await;
    applied
}

/// Creates one database, cloned from a template if the backend can; `true` when cloned.
async fn provision(
    backend: &dyn Engine,
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
    let mut location = location;
    location.role = Some(role.to_string());
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
            Err(Error::Database {
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
    fn history(&self) -> Option<(String, Vec<String>)> {
        Some((self.0.migration_table(), self.0.migration_names()))
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
    fn history(&self) -> Option<(String, Vec<String>)> {
        let migrator = self.0.migrator()?;
        Some((migrator.table(), migrator.names()))
    }

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
    backend: &dyn Engine,
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
    // All at once: each close waits for its connection's own thread (SQLite) or server.
    // A connection still borrowed elsewhere delays `close`; don't let it block teardown.
    futures::future::join_all(
        databases
            .clone()
            .map(|db| tokio::time::timeout(CLOSE_TIMEOUT, db.connection.close_by_ref())),
    )
    .await;
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
    backend: &dyn Engine,
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
