//! PostgreSQL and MySQL/MariaDB: each test claims ready databases from a warm pool (or creates
//! its own), returns them pristine or drops them at cleanup.
//!
//! See [`pool`] for templates and pools, [`session`] for the connection budget, owner locks
//! and failing fast, `connect` for the connections themselves, and [`registry`](super::registry)
//! for the sweep of what dead owners left.

use std::collections::{HashMap, HashSet};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use futures::future::BoxFuture;
use sea_orm::{ConnectionTrait as _, DatabaseConnection, DbBackend, DbErr};

pub(crate) use super::redacted;
use super::{BackendKind, DatabaseLocation, Engine, SchemaTemplate, kind_of};
use crate::error::{DbContext, Error, Result};
use registry::Kind;

mod connect;
mod heartbeat;
mod locks;
mod pool;
pub(crate) mod registry;
mod session;
mod sweeper;

pub(crate) use connect::{admin_connection, admin_connection_to};
use connect::{lazy_pool, url_for};
pub use pool::max_idle;
pub(crate) use session::owner_connection;
use session::{Session, on_engine};

/// PostgreSQL allows 63 bytes in a name, MySQL 64 characters.
const MAX_NAME: usize = 63;
/// The most connections one test database's pool opens.
const PER_DATABASE: usize = 2;
pub(super) const ADMIN: &str = "server admin";

/// How long a drop on MySQL/MariaDB waits for a lock another session holds on the database,
/// in seconds, before it fails (the server's default is a day or a year). A database that
/// will not drop is retried by later sweeps, not waited for.
const DROP_LOCK_WAIT_SECS: u32 = 2;

pub(crate) fn drop_statement(backend: DbBackend, name: &str) -> String {
    match backend {
        // FORCE ends connections something still holds (PostgreSQL 13 and later).
        DbBackend::Postgres => format!("DROP DATABASE IF EXISTS \"{name}\" WITH (FORCE)"),
        // The wait applies to the admin connection's later DDL too, which is as it should be.
        _ => format!(
            "SET SESSION lock_wait_timeout = {DROP_LOCK_WAIT_SECS}; DROP DATABASE IF EXISTS `{name}`"
        ),
    }
}

fn create_statement(backend: DbBackend, name: &str, template: Option<&str>) -> String {
    match (backend, template) {
        (DbBackend::Postgres, Some(template)) => {
            format!("CREATE DATABASE \"{name}\" TEMPLATE \"{template}\"")
        }
        (DbBackend::Postgres, None) => format!("CREATE DATABASE \"{name}\""),
        _ => format!("CREATE DATABASE `{name}` CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci"),
    }
}

/// Once per server and process: make sure the registry exists, say which databases on the
/// server will not drop, and start a sweep of what dead owners left, off the test's path.
async fn prepare(admin: &DatabaseConnection, admin_url: &str) -> Result<()> {
    static PREPARED: OnceLock<std::sync::Mutex<HashSet<String>>> = OnceLock::new();
    let prepared = PREPARED.get_or_init(Default::default);
    if prepared
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .contains(admin_url)
    {
        return Ok(());
    }
    registry::stuck::open_registry(admin, admin_url).await?;
    sweeper::sweep_soon(admin_url);
    prepared
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .insert(admin_url.to_owned());
    Ok(())
}

#[derive(Default)]
struct State {
    session: Option<Session>,
    /// Databases of this manager that are its own (dropped at cleanup).
    created: Vec<String>,
    /// Pool databases this manager claimed, with their pool key.
    pooled: HashMap<String, String>,
    /// Pool databases reset at cleanup, to go back to their pool.
    recycled: Vec<String>,
    /// Whether each database's pool ever opened a connection.
    touched: HashMap<String, Arc<AtomicBool>>,
    /// Pool databases being made ahead of demand, on the session runtime.
    refills: Vec<tokio::task::JoinHandle<()>>,
}

/// Databases on a PostgreSQL or MySQL/MariaDB server: claimed from a warm pool when the schema
/// has a template, else created as `pt_<run>_<n>_<role>`.
#[derive(Debug)]
pub struct ServerBackend {
    kind: BackendKind,
    admin_url: String,
    prefix: String,
    label: String,
    state: Arc<tokio::sync::Mutex<State>>,
}

impl std::fmt::Debug for State {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("State")
            .field("created", &self.created)
            .field("pooled", &self.pooled)
            .finish()
    }
}

impl ServerBackend {
    /// A backend for the server at `admin_url` (the database to administer from). It fails
    /// at once if that server already failed in this process; it connects when first used.
    pub async fn open(admin_url: &str, label: &str) -> Result<Self> {
        static NEXT: AtomicU64 = AtomicU64::new(0);
        let kind = kind_of(admin_url)?;
        url_for(admin_url, None)?;
        session::check_not_failed(admin_url)?;
        let n = NEXT.fetch_add(1, Ordering::Relaxed);
        let run = uuid::Uuid::new_v4().simple().to_string();
        Ok(ServerBackend {
            kind,
            admin_url: admin_url.to_owned(),
            prefix: format!("pt_{}_{n}_", &run[..8]),
            label: label.to_owned(),
            state: Arc::new(tokio::sync::Mutex::new(State::default())),
        })
    }

    /// Opens the admin session with room for `databases` databases, once.
    async fn ensure_session(&self, databases: usize) -> Result<()> {
        let mut state = self.state.lock().await;
        if state.session.is_some() {
            return Ok(());
        }
        let url = self.admin_url.clone();
        let backend = self.kind.db_backend();
        // The session itself, each pool at its fullest, and one for building or cloning.
        let slots = 2 + PER_DATABASE * databases;
        let session = on_engine(async move {
            let session = Session::open(&url, backend, slots).await?;
            if let Err(e) = prepare(&session.conn, &url).await {
                session.close().await;
                return Err(e);
            }
            Ok::<_, Error>(session)
        })
        .await??;
        state.session = Some(session);
        Ok(())
    }

    /// Whether any connection to database `name` was ever opened, as a flag every pool to it
    /// shares.
    async fn touched(&self, name: &str) -> Arc<AtomicBool> {
        self.state
            .lock()
            .await
            .touched
            .entry(name.to_owned())
            .or_insert_with(|| Arc::new(AtomicBool::new(false)))
            .clone()
    }

    /// The session's connection and owner key (opening a session for one database if none).
    async fn session(&self) -> Result<(DatabaseConnection, i64)> {
        self.ensure_session(1).await?;
        let state = self.state.lock().await;
        let session = state.session.as_ref().expect("opened above");
        Ok((session.conn.clone(), session.owner))
    }

    /// Takes the session's owner lock again if a server restart ended its connection (the
    /// heartbeat may not have come round yet); `true` when the session holds it.
    async fn keep_locks(&self) -> Result<bool> {
        self.ensure_session(1).await?;
        let state = self.state.lock().await;
        let session = state.session.as_ref().expect("opened above");
        let (conn, held) = session.for_heartbeat();
        drop(state);
        on_engine(async move { heartbeat::keep_locks(&conn, held).await }).await?
    }
}

impl Engine for ServerBackend {
    fn kind(&self) -> BackendKind {
        self.kind
    }

    fn reserve(&self, databases: usize) -> BoxFuture<'_, Result<()>> {
        Box::pin(self.ensure_session(databases))
    }

    fn create_database<'a>(&'a self, name: &'a str) -> BoxFuture<'a, Result<DatabaseLocation>> {
        Box::pin(async move {
            let full = format!("{}{name}", self.prefix);
            if full.len() > MAX_NAME {
                return Err(Error::Backend(format!(
                    "database name {full} is longer than {MAX_NAME} characters"
                )));
            }
            let (admin, owner) = self.session().await?;
            // Whose it is, for a person looking at the server: the test, and the database's part.
            let (db, label) = (full.clone(), format!("{} · {name}", self.label));
            on_engine(async move {
                // Recorded first: a process killed between the two leaves a record the sweep
                // clears, never a database nobody knows about.
                registry::record(&admin, &db, Kind::Test, "", owner, &label).await?;
                admin
                    .execute_unprepared(&create_statement(admin.get_database_backend(), &db, None))
                    .await
                    .context(ADMIN, format!("creating database {db}"))?;
                registry::set_state(&admin, std::slice::from_ref(&db), owner, "claimed", owner)
                    .await
            })
            .await??;
            self.state.lock().await.created.push(full.clone());
            Ok(DatabaseLocation::new(
                full.clone(),
                url_for(&self.admin_url, Some(&full))?,
            ))
        })
    }

    fn create_from_template<'a>(
        &'a self,
        _name: &'a str,
        template: &'a SchemaTemplate,
    ) -> BoxFuture<'a, Result<Option<DatabaseLocation>>> {
        Box::pin(async move {
            if pool::pool_size() == 0 {
                return Ok(None);
            }
            let (admin, owner) = self.session().await?;
            let (url, template) = (self.admin_url.clone(), template.clone());
            let key = template.key.clone();
            let label = format!("{} · {}", self.label, template.label);
            let (name, refill) = on_engine(async move {
                let mut info = pool::ensure_template(&admin, &url, owner, &template).await?;
                let name = match pool::claim(&admin, &template.key, owner, &label).await? {
                    Some(name) => name,
                    None => match pool::create_pooled(&admin, &url, owner, &template, &info, &label)
                        .await
                    {
                        Ok(name) => name,
                        // The template this process knew was dropped (by hand, or by a sweep
                        // of unused pools): look it up again, built anew if need be, once.
                        Err(e) if !registry::exists(&admin, &info.name).await.unwrap_or(true) => {
                            tracing::warn!(template = %info.name, error = %e, "the template was gone; looked up again");
                            pool::forget_template(&url, &template.key);
                            info = pool::ensure_template(&admin, &url, owner, &template).await?;
                            pool::create_pooled(&admin, &url, owner, &template, &info, &label)
                                .await?
                        }
                        Err(e) => return Err(e),
                    },
                };
                let refill = pool::refill_if_low(&admin, &url, &template, &info).await;
                Ok::<_, Error>((name, refill))
            })
            .await??;
            let mut state = self.state.lock().await;
            state.pooled.insert(name.clone(), key);
            state.refills.extend(refill);
            drop(state);
            Ok(Some(DatabaseLocation::new(
                name.clone(),
                url_for(&self.admin_url, Some(&name))?,
            )))
        })
    }

    fn catalog_key<'a>(
        &'a self,
        label: &'a str,
        schema: &'a Arc<dyn crate::apply::ApplySchema>,
    ) -> BoxFuture<'a, Result<Option<String>>> {
        Box::pin(async move {
            type Memo = std::sync::Mutex<HashMap<(String, String), String>>;
            static MEMO: OnceLock<Memo> = OnceLock::new();
            let memo = MEMO.get_or_init(Default::default);
            let memo_key = schema.process_key().map(|k| (self.admin_url.clone(), k));
            if let Some(key) = memo_key.as_ref().and_then(|k| {
                memo.lock()
                    .unwrap_or_else(|p| p.into_inner())
                    .get(k)
                    .cloned()
            }) {
                return Ok(Some(key));
            }
            let (admin, owner) = self.session().await?;
            let (url, label, schema) = (self.admin_url.clone(), label.to_owned(), schema.clone());
            let key =
                on_engine(
                    async move { pool::catalog_key(&admin, &url, owner, &label, &*schema).await },
                )
                .await??;
            if let Some(memo_key) = memo_key {
                memo.lock()
                    .unwrap_or_else(|p| p.into_inner())
                    .insert(memo_key, key.clone());
            }
            Ok(Some(key))
        })
    }

    fn connect_one<'a>(
        &'a self,
        location: &'a DatabaseLocation,
    ) -> BoxFuture<'a, std::result::Result<DatabaseConnection, DbErr>> {
        Box::pin(async move {
            // Seen like the test's own pool: a database changed through it is reset, or dropped.
            let touched = self.touched(&location.name).await;
            lazy_pool(self.kind, &location.url, touched, 1)
        })
    }

    fn connect<'a>(
        &'a self,
        location: &'a DatabaseLocation,
    ) -> BoxFuture<'a, std::result::Result<DatabaseConnection, DbErr>> {
        Box::pin(async move {
            let touched = self.touched(&location.name).await;
            lazy_pool(self.kind, &location.url, touched, PER_DATABASE as u32)
        })
    }

    fn recycle<'a>(
        &'a self,
        location: &'a DatabaseLocation,
        connection: &'a DatabaseConnection,
    ) -> BoxFuture<'a, Result<bool>> {
        Box::pin(async move {
            let (key, touched) = {
                let state = self.state.lock().await;
                let touched = state
                    .touched
                    .get(&location.name)
                    .is_none_or(|t| t.load(Ordering::SeqCst));
                (state.pooled.get(&location.name).cloned(), touched)
            };
            let Some(info) = key.and_then(|key| pool::known_template(&self.admin_url, &key)) else {
                return Ok(false);
            };
            // A database its test never connected to is as it was claimed: pristine.
            let pristine = !touched || pool::reset(connection, &info).await.unwrap_or(false);
            if pristine {
                self.state.lock().await.recycled.push(location.name.clone());
            } else {
                tracing::info!(database = %location.name, "a pool database was changed by its test; it is dropped");
            }
            Ok(pristine)
        })
    }

    fn drop_database<'a>(&'a self, location: &'a DatabaseLocation) -> BoxFuture<'a, Result<()>> {
        Box::pin(async move {
            let (admin, owner) = self.session().await?;
            let drop_it = |admin: DatabaseConnection| {
                let name = location.name.clone();
                on_engine(async move { registry::drop_owned(&admin, &name, owner).await })
            };
            let mut dropped = drop_it(admin.clone()).await??;
            // A server restart ended the session, and the heartbeat has not taken its lock
            // again yet: take it now and try once more.
            if dropped == registry::Dropped::NotHeld && self.keep_locks().await? {
                dropped = drop_it(admin).await??;
            }
            match dropped {
                registry::Dropped::Yes => {}
                registry::Dropped::NotHeld => {
                    return Err(Error::Backend(format!(
                        "database {} was not dropped: the registry ({}) no longer says it is \
                         this test's",
                        location.name,
                        registry::REGISTRY_TABLE
                    )));
                }
                // Not the test's failure: recorded, said on stderr by the sweep this wakes,
                // and tried again by any run's sweep once due.
                registry::Dropped::Stuck(_) => sweeper::sweep_soon(&self.admin_url),
            }
            let mut state = self.state.lock().await;
            state.created.retain(|n| *n != location.name);
            state.pooled.remove(&location.name);
            Ok(())
        })
    }

    fn release(&self, keep: bool) -> BoxFuture<'_, Result<()>> {
        Box::pin(async move {
            let state = std::mem::take(&mut *self.state.lock().await);
            let Some(session) = state.session else {
                return Ok(());
            };
            let url = self.admin_url.clone();
            on_engine(async move {
                // Refills record their databases under this session's owner: let them finish.
                for refill in state.refills {
                    let _ = tokio::time::timeout(Duration::from_secs(60), refill).await;
                }
                let admin = &session.conn;
                let result = if keep {
                    // Kept databases leave their pool and are never swept.
                    let mut names = state.created;
                    names.extend(state.pooled.into_keys());
                    registry::set_state(admin, &names, session.owner, "kept", 0).await
                } else {
                    let stuck =
                        pool::give_back(admin, session.owner, &state.recycled, &state.pooled).await;
                    if matches!(stuck, Ok(true)) {
                        sweeper::sweep_soon(&url);
                    }
                    stuck.map(|_| ())
                };
                session.close().await;
                result
            })
            .await?
        })
    }
}

/// Drops every idle pool database and template on the server at `admin_url` (those no test
/// holds), and returns their names: what a CI job runs last to leave the server as it found it.
pub async fn drain_pools(admin_url: &str) -> Result<Vec<String>> {
    crate::env::check()?;
    let url = admin_url.to_owned();
    let backend = kind_of(admin_url)?.db_backend();
    on_engine(async move {
        let session = Session::open(&url, backend, 1).await?;
        let result = async {
            let admin = &session.conn;
            // A server no test has run on yet has nothing to drain, and no registry either.
            registry::ensure_table(admin).await?;
            let mut dropped = Vec::new();
            loop {
                // Claimed first, so no test takes one while it is being dropped.
                let claimed = pool::claim_idle(admin, session.owner, None).await?;
                let Some(name) = claimed else { break };
                // One that will not drop leaves the pool, so this ends; the sweep says it.
                if registry::drop_owned(admin, &name, session.owner)
                    .await?
                    .is_dropped()
                {
                    dropped.push(name);
                }
            }
            pool::forget_templates();
            // Then what dead owners left, now: a person (or CI's last step) asked. It also
            // says which databases, drained above or before, would not drop.
            let swept = registry::sweep_now(admin, &url, session.owner);
            dropped.extend(swept.await?);
            Ok::<_, Error>(dropped)
        }
        .await;
        session.close().await;
        result
    })
    .await?
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_point_at_each_database() {
        assert_eq!(
            url_for("postgres://postgres@127.0.0.1:5432/postgres", Some("pt_x")).unwrap(),
            "postgres://postgres@127.0.0.1:5432/pt_x"
        );
        assert_eq!(
            url_for(
                "mariadb://root@127.0.0.1:3306/test?ssl-mode=disabled",
                Some("pt_y")
            )
            .unwrap(),
            "mysql://root@127.0.0.1:3306/pt_y?ssl-mode=disabled"
        );
        assert!(kind_of("sqlite://x").is_err());
        assert_eq!(
            redacted("postgres://u:secret@h/db"),
            "postgres://u:***@h/db"
        );
    }
}
