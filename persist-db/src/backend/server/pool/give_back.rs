//! Giving pool databases back at a test's end, within the pool's size and the server's bound
//! on idle databases.

use std::collections::HashMap;

use sea_orm::DatabaseConnection;

use crate::backend::server::registry;
use crate::error::Result;

/// Returns reset pool databases to their pool, dropping those beyond its size. The server's
/// idle pool databases stay within [`super::max_idle`] in all: room is made by dropping other
/// schemas' idle ones (the least recently used schema's first), and what still does not fit
/// is dropped. `true` when a database it dropped would not go (a sweep should say so).
pub(crate) async fn give_back(
    admin: &DatabaseConnection,
    owner: i64,
    recycled: &[String],
    pooled: &HashMap<String, String>,
) -> Result<bool> {
    let mut by_key: HashMap<&str, Vec<String>> = HashMap::new();
    for name in recycled {
        let key = pooled.get(name).map(String::as_str).unwrap_or_default();
        by_key.entry(key).or_default().push(name.clone());
    }
    let keys: Vec<&str> = by_key.keys().copied().collect();
    let ready = super::ready_counts(admin, &keys).await?;
    let mut back = Vec::new();
    let mut surplus = Vec::new();
    for (key, mut names) in by_key {
        let have = ready.get(key).copied().unwrap_or(0);
        let room = super::pool_size().saturating_sub(have);
        surplus.extend(names.split_off(room.min(names.len())));
        back.extend(names);
    }
    // Within the server's bound: the schema just used stays, the least recently used goes.
    let bound = super::max_idle();
    surplus.extend(back.split_off(bound.min(back.len())));
    let mut idle = super::total_ready(admin).await?;
    let mut stuck = false;
    while !back.is_empty() && idle + back.len() > bound {
        let Some(name) = super::claim_evictable(admin, owner, &keys).await? else {
            // None left to drop: count again, others may have claimed some meanwhile.
            idle = super::total_ready(admin).await?;
            break;
        };
        // Dropped or stuck, it is no longer idle.
        stuck |= matches!(
            registry::drop_owned(admin, &name, owner).await?,
            registry::Dropped::Stuck(_)
        );
        idle = idle.saturating_sub(1);
    }
    let room = bound.saturating_sub(idle);
    surplus.extend(back.split_off(room.min(back.len())));
    registry::set_state(admin, &back, owner, "ready", 0).await?;
    for name in surplus {
        stuck |= matches!(
            registry::drop_owned(admin, &name, owner).await?,
            registry::Dropped::Stuck(_)
        );
    }
    Ok(stuck)
}
