//! The sweep of what dead owners left: each database taken over by its own conditional
//! update, then dropped once; stuck ones said and, by a run's own sweeps, tried only when due.

use sea_orm::{ConnectionTrait, DatabaseConnection, Statement};

use super::stuck::{self, StuckDatabase};
use super::{
    ADMIN, Dropped, REGISTRY_TABLE, Retry, drop_owned, ensure_table, now_millis, owner_alive_sql,
    take_abandoned,
};
use crate::backend::server::owner_connection;
use crate::error::{DbContext, Result};

/// Drops every database in the registry of the server at `admin_url` whose owner is gone, and
/// returns their names. Databases of live tests, pools, templates and kept ones stay.
///
/// This is the sweep a person asks for: databases that refused to drop before are tried
/// again now, whatever their interval (the sweeps a run makes by itself try them only when
/// due). One that still refuses is reported on stderr and stays recorded with why
/// ([`list_databases`](super::list_databases) shows it).
pub async fn sweep_leaked(admin_url: &str) -> Result<Vec<String>> {
    crate::env::check()?;
    let (admin, me) = owner_connection(admin_url).await?;
    let result = sweep_now(&admin, admin_url, me).await;
    let _ = admin.close().await;
    result
}

/// A sweep a person (or CI's last step) asks for: it waits out the owners it finds gone for
/// the first time ([`SUSPECT_FOR`]), then drops what they left, and returns their names.
pub(crate) async fn sweep_now(
    admin: &DatabaseConnection,
    admin_url: &str,
    me: i64,
) -> Result<Vec<String>> {
    let mut dropped = Vec::new();
    // A sweep that suspects comes back once; an owner found gone on the second pass for the
    // first time was alive on the first, and is left to the next sweep.
    for _ in 0..2 {
        let sweep = sweep_with(admin, admin_url, me, Retry::Now).await?;
        dropped.extend(sweep.dropped);
        let Some(due) = sweep.next_due_ms else { break };
        let wait = (due - now_millis()).clamp(0, millis(SUSPECT_FOR));
        tokio::time::sleep(std::time::Duration::from_millis(wait.unsigned_abs())).await;
    }
    Ok(dropped)
}

/// How long a run's own sweeps wait, after they first find a database's owner lock free,
/// before they take it over: long enough for a live owner's heartbeat to take its lock again.
pub(crate) const SUSPECT_FOR: std::time::Duration =
    std::time::Duration::from_secs(3 * crate::backend::server::heartbeat::HEARTBEAT.as_secs());

fn millis(d: std::time::Duration) -> i64 {
    i64::try_from(d.as_millis()).unwrap_or(i64::MAX)
}

/// Marks database `name`, whose owner lock is free now, as due for a take-over at `at_ms`;
/// only if no sweep suspected it before and it never refused to drop.
async fn suspect(admin: &DatabaseConnection, name: &str, at_ms: i64) -> Result<()> {
    let backend = admin.get_database_backend();
    let sql = format!(
        "UPDATE {REGISTRY_TABLE} SET retry_at = {at_ms} WHERE db_name = {} AND retry_at = 0 \
         AND drop_failures = 0 AND state IN ('creating', 'claimed', 'dropping') AND NOT ({})",
        super::placeholder(backend),
        owner_alive_sql(backend),
    );
    admin
        .execute_raw(Statement::from_sql_and_values(backend, sql, [name.into()]))
        .await
        .context(ADMIN, format!("noting that the owner of {name} is gone"))
        .map(|_| ())
}

/// Forgets every suspicion about owner `me`'s databases: what a session that took its lock
/// again after losing it says, so that a later loss is waited out again.
pub(crate) async fn clear_suspicion(admin: &impl ConnectionTrait, me: i64) -> Result<()> {
    let sql = format!(
        "UPDATE {REGISTRY_TABLE} SET retry_at = 0 WHERE owner = {me} AND drop_failures = 0"
    );
    admin
        .execute_unprepared(&sql)
        .await
        .context(ADMIN, "clearing a live owner's suspicion")
        .map(|_| ())
}

/// What a sweep did.
#[derive(Debug, Default)]
pub(crate) struct Sweep {
    /// The databases it dropped.
    pub(crate) dropped: Vec<String>,
    /// When the first stuck database it left is due again (epoch ms), if it left any.
    pub(crate) next_due_ms: Option<i64>,
}

impl Sweep {
    /// Notes a stuck database due again at `at_ms`.
    fn due(&mut self, at_ms: i64) {
        self.next_due_ms = Some(self.next_due_ms.map_or(at_ms, |t| Ord::min(t, at_ms)));
    }
}

/// Drops, as owner `me`, what owners that are gone left behind; reports each stuck database
/// it meets on stderr (once per process).
pub(crate) async fn sweep_with(
    admin: &DatabaseConnection,
    admin_url: &str,
    me: i64,
    retry: Retry,
) -> Result<Sweep> {
    ensure_table(admin).await?;
    let backend = admin.get_database_backend();
    // Candidates only: each is taken over, or not, by its own conditional update below.
    let sql = format!(
        "SELECT db_name, drop_failures, drop_error, failed_at, retry_at FROM {REGISTRY_TABLE} \
         WHERE state IN ('creating', 'claimed', 'dropping') AND NOT ({})",
        owner_alive_sql(backend)
    );
    let rows = admin
        .query_all_raw(Statement::from_string(backend, sql))
        .await
        .context(ADMIN, "reading the registry")?;
    let mut sweep = Sweep::default();
    for row in rows {
        let found = StuckDatabase::from_row(&row).context(ADMIN, "reading the registry")?;
        if found.failures > 0 {
            stuck::announce(admin_url, &found);
        }
        // A sweep first only suspects an owner it finds gone: a live process whose session
        // the server ended (a restart, a proxy, a person) takes its lock again within a
        // heartbeat, and a sweep that comes back later finds it alive.
        if found.failures == 0 {
            if found.retry_at_ms == 0 {
                let at = now_millis() + millis(SUSPECT_FOR);
                suspect(admin, &found.name, at).await?;
                sweep.due(at);
                continue;
            }
            if found.retry_at_ms > now_millis() {
                sweep.due(found.retry_at_ms);
                continue;
            }
        } else if retry == Retry::Due && found.retry_at_ms > now_millis() {
            sweep.due(found.retry_at_ms);
            continue;
        }
        // One database that will not go is left for the next sweep; the rest still go.
        let name = found.name;
        let taken = match take_abandoned(admin, &name, me, retry).await {
            Ok(true) => drop_owned(admin, &name, me).await,
            Ok(false) => Ok(Dropped::NotHeld),
            Err(e) => Err(e),
        };
        match taken {
            Ok(Dropped::Yes) => {
                tracing::info!(database = %name, "dropped a test database whose owner is gone");
                sweep.dropped.push(name);
            }
            Ok(Dropped::NotHeld) => {}
            Ok(Dropped::Stuck(reason)) => {
                let again = stuck::read(admin, &name).await.ok().flatten();
                if let Some(again) = again {
                    stuck::announce(admin_url, &again);
                    if retry == Retry::Due {
                        sweep.due(again.retry_at_ms);
                    }
                } else {
                    tracing::warn!(database = %name, reason = %reason, "a leaked database would not drop");
                }
            }
            Err(e) => {
                tracing::warn!(database = %name, error = %e, "a leaked database was not dropped; the next sweep tries again")
            }
        }
    }
    Ok(sweep)
}
