//! The registry of databases the framework creates on a server, and the sweep that drops those
//! leaked by processes that died without cleaning up (nextest kills timed-out tests, CI jobs
//! get cancelled, people press Ctrl-C).
//!
//! Each database is recorded before it is created, with its owner: the process id, the
//! process's start time (so a reused pid is not mistaken for the owner), the host and boot, and
//! a run id. A sweep drops a database only when its owner is certainly gone: on this host, its
//! process no longer exists (or is another process with the same pid); on another host, its
//! record is older than [`STALE_AFTER`]. Kept databases are never swept.

use std::sync::OnceLock;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use sea_orm::sea_query::{Alias, ColumnDef, Expr, ExprTrait as _, Query, Table};
use sea_orm::{ConnectionTrait, DatabaseConnection};

use super::server::{admin_connection, drop_statement};
use crate::error::{DbContext, Result};

/// The registry table, in the server's administration database.
pub const REGISTRY_TABLE: &str = "persist_test_registry";

/// How old a record from another host must be before a sweep may drop its database.
pub const STALE_AFTER: Duration = Duration::from_secs(6 * 3600);

const ADMIN: &str = "server admin";

/// Who owns the databases this process creates.
#[derive(Debug)]
pub(crate) struct Owner {
    pub run_id: String,
    pub pid: u32,
    pub host: String,
    pub start: i64,
}

pub(crate) fn owner() -> &'static Owner {
    static OWNER: OnceLock<Owner> = OnceLock::new();
    OWNER.get_or_init(|| {
        let pid = std::process::id();
        Owner {
            run_id: uuid::Uuid::new_v4().simple().to_string()[..8].to_owned(),
            pid,
            host: host(),
            start: process_start(pid).unwrap_or(0),
        }
    })
}

fn read_trimmed(path: &str) -> Option<String> {
    std::fs::read_to_string(path)
        .ok()
        .map(|s| s.trim().to_owned())
}

/// The host name and boot: after a reboot, no process of before is alive.
fn host() -> String {
    let name = read_trimmed("/proc/sys/kernel/hostname")
        .or_else(|| std::env::var("HOSTNAME").ok())
        .unwrap_or_else(|| "unknown".to_owned());
    let boot = read_trimmed("/proc/sys/kernel/random/boot_id").unwrap_or_default();
    format!("{name}:{}", boot.get(..8).unwrap_or(""))
}

/// A process's start time in clock ticks since boot (field 22 of `/proc/<pid>/stat`).
pub(crate) fn process_start(pid: u32) -> Option<i64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // The command name (field 2) may hold spaces and parentheses: count from the last ')'.
    let rest = &stat[stat.rfind(')')? + 1..];
    rest.split_whitespace().nth(19)?.parse().ok()
}

fn now_millis() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
}

/// Whether the owner recorded for a database may still be running.
fn owner_alive(pid: i64, host: &str, start: i64, created_at: i64) -> bool {
    let me = owner();
    if host != me.host {
        return now_millis().saturating_sub(created_at) < STALE_AFTER.as_millis() as i64;
    }
    if !std::path::Path::new("/proc/self/stat").exists() {
        // No way to ask about processes here: trust only age.
        return now_millis().saturating_sub(created_at) < STALE_AFTER.as_millis() as i64;
    }
    u32::try_from(pid)
        .ok()
        .and_then(process_start)
        .is_some_and(|running_since| running_since == start)
}

/// Creates the registry table if it is missing.
pub(crate) async fn ensure_table(admin: &DatabaseConnection) -> Result<()> {
    let create = Table::create()
        .table(Alias::new(REGISTRY_TABLE))
        .if_not_exists()
        .col(
            ColumnDef::new(Alias::new("db_name"))
                .string_len(64)
                .not_null()
                .primary_key(),
        )
        .col(
            ColumnDef::new(Alias::new("run_id"))
                .string_len(64)
                .not_null(),
        )
        .col(ColumnDef::new(Alias::new("pid")).big_integer().not_null())
        .col(
            ColumnDef::new(Alias::new("host"))
                .string_len(255)
                .not_null(),
        )
        .col(
            ColumnDef::new(Alias::new("owner_start"))
                .big_integer()
                .not_null(),
        )
        .col(
            ColumnDef::new(Alias::new("label"))
                .string_len(255)
                .not_null(),
        )
        .col(
            ColumnDef::new(Alias::new("created_at"))
                .big_integer()
                .not_null(),
        )
        .col(
            ColumnDef::new(Alias::new("kept"))
                .boolean()
                .not_null()
                .default(false),
        )
        .to_owned();
    // Two processes creating the table at once can collide even with IF NOT EXISTS
    // (PostgreSQL's catalog); the second attempt then finds it.
    if admin.execute(&create).await.is_err() {
        tokio::time::sleep(Duration::from_millis(100)).await;
        admin
            .execute(&create)
            .await
            .context(ADMIN, format!("creating {REGISTRY_TABLE}"))?;
    }
    Ok(())
}

/// Records a database this process is about to create.
pub(crate) async fn record(admin: &DatabaseConnection, db_name: &str, label: &str) -> Result<()> {
    let me = owner();
    let label: String = label.chars().take(255).collect();
    let insert = Query::insert()
        .into_table(Alias::new(REGISTRY_TABLE))
        .columns(
            [
                "db_name",
                "run_id",
                "pid",
                "host",
                "owner_start",
                "label",
                "created_at",
                "kept",
            ]
            .map(Alias::new),
        )
        .values_panic([
            db_name.into(),
            me.run_id.clone().into(),
            i64::from(me.pid).into(),
            me.host.clone().into(),
            me.start.into(),
            label.into(),
            now_millis().into(),
            false.into(),
        ])
        .to_owned();
    admin
        .execute(&insert)
        .await
        .context(ADMIN, format!("recording {db_name} in {REGISTRY_TABLE}"))
        .map(|_| ())
}

/// Removes a database's record.
pub(crate) async fn forget(admin: &DatabaseConnection, db_name: &str) -> Result<()> {
    let delete = Query::delete()
        .from_table(Alias::new(REGISTRY_TABLE))
        .and_where(Expr::col(Alias::new("db_name")).eq(db_name))
        .to_owned();
    admin
        .execute(&delete)
        .await
        .context(ADMIN, format!("removing {db_name} from {REGISTRY_TABLE}"))
        .map(|_| ())
}

/// Marks databases as kept on purpose, so that no sweep drops them.
pub(crate) async fn mark_kept(admin: &DatabaseConnection, names: &[String]) -> Result<()> {
    if names.is_empty() {
        return Ok(());
    }
    let update = Query::update()
        .table(Alias::new(REGISTRY_TABLE))
        .value(Alias::new("kept"), true)
        .and_where(Expr::col(Alias::new("db_name")).is_in(names.iter().map(String::as_str)))
        .to_owned();
    admin
        .execute(&update)
        .await
        .context(ADMIN, "marking kept databases")
        .map(|_| ())
}

/// Drops every database in the registry of the server at `admin_url` whose owner is gone, and
/// returns their names. Databases of live runs, and kept ones, are left alone.
pub async fn sweep_leaked(admin_url: &str) -> Result<Vec<String>> {
    let admin = admin_connection(admin_url).await?;
    let result = sweep_with(&admin).await;
    let _ = admin.close().await;
    result
}

pub(crate) async fn sweep_with(admin: &DatabaseConnection) -> Result<Vec<String>> {
    ensure_table(admin).await?;
    let query = Query::select()
        .columns(["db_name", "pid", "host", "owner_start", "created_at"].map(Alias::new))
        .from(Alias::new(REGISTRY_TABLE))
        .and_where(Expr::col(Alias::new("kept")).eq(false))
        .to_owned();
    let rows = admin
        .query_all(&query)
        .await
        .context(ADMIN, "reading the registry")?;
    let mut dropped = Vec::new();
    for row in rows {
        let name: String = row
            .try_get("", "db_name")
            .context(ADMIN, "reading the registry")?;
        let pid: i64 = row
            .try_get("", "pid")
            .context(ADMIN, "reading the registry")?;
        let host: String = row
            .try_get("", "host")
            .context(ADMIN, "reading the registry")?;
        let start: i64 = row
            .try_get("", "owner_start")
            .context(ADMIN, "reading the registry")?;
        let created_at: i64 = row
            .try_get("", "created_at")
            .context(ADMIN, "reading the registry")?;
        if owner_alive(pid, &host, start, created_at) {
            continue;
        }
        let drop = drop_statement(admin.get_database_backend(), &name);
        admin
            .execute_unprepared(&drop)
            .await
            .context(ADMIN, format!("dropping leaked database {name}"))?;
        forget(admin, &name).await?;
        tracing::info!(database = %name, "dropped a test database leaked by a process that is gone");
        dropped.push(name);
    }
    Ok(dropped)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn this_process_is_alive_and_a_reused_pid_is_not() {
        let me = owner();
        assert!(owner_alive(
            i64::from(me.pid),
            &me.host,
            me.start,
            now_millis()
        ));
        // Same pid, different start: a different process that reused the pid.
        assert!(!owner_alive(
            i64::from(me.pid),
            &me.host,
            me.start + 1,
            now_millis()
        ));
        // A pid that cannot exist.
        assert!(!owner_alive(i64::from(u32::MAX), &me.host, 0, now_millis()));
    }

    #[test]
    fn other_hosts_are_trusted_until_stale() {
        assert!(owner_alive(1, "elsewhere:1234", 0, now_millis()));
        let old = now_millis() - STALE_AFTER.as_millis() as i64 - 1;
        assert!(!owner_alive(1, "elsewhere:1234", 0, old));
    }
}
