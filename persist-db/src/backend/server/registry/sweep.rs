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
    let result = sweep_with(&admin, admin_url, me, Retry::Now).await;
    let _ = admin.close().await;
    result.map(|sweep| sweep.dropped)
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
        if retry == Retry::Due && found.retry_at_ms > now_millis() {
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
