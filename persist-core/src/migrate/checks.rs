//! The checks themselves, over one connection each: round trip, drift, upgrade and status.

use futures::future::LocalBoxFuture;
use sea_orm::DatabaseConnection;
use sea_orm_migration::MigratorTrait;

use crate::db::{Migrations, Migrator};

use super::allow::{Allow, Loss};
use super::failure::{db_error, failure};
use super::snapshot::Schema;
use super::values;
use crate::error::{PersistError, Result};
use crate::inspect::MigrationState;

async fn read(db: &DatabaseConnection, table: &str) -> Result<Schema> {
    Ok(Schema::read(db).await?.without(table))
}

/// Every step of `M`, one at a time on an empty database: up, down, up again must leave the
/// schema as the first up did, and the down as it was before the step; down to zero must
/// leave nothing but the migration table. Returns the names of the steps checked.
pub async fn round_trip<M: MigratorTrait + 'static>(
    db: &DatabaseConnection,
) -> Result<Vec<String>> {
    round_trip_of(&Migrations::<M>::new(), db).await
}

/// [`round_trip`] for any [`Migrator`]: a SeaORM migrator or a store's own numbered steps.
pub async fn round_trip_of(m: &dyn Migrator, db: &DatabaseConnection) -> Result<Vec<String>> {
    const CHECK: &str = "round trip";
    let table = m.table();
    let names = m.names();
    let start = read(db, &table).await?;
    if !start.tables.is_empty() {
        return Err(failure(
            CHECK,
            None,
            format!(
                "the database is not empty: it has {:?}",
                start.table_names()
            ),
            None,
        ));
    }
    let mut before = start.clone();
    for name in &names {
        let step = Some(name.as_str());
        m.up(db, Some(1))
            .await
            .map_err(|e| db_error(CHECK, step, "up", e))?;
        let after = read(db, &table).await?;
        m.down(db, Some(1))
            .await
            .map_err(|e| db_error(CHECK, step, "down", e))?;
        let undone = read(db, &table).await?;
        let diff = before.diff(&undone, "before the step's up", "after its up and down");
        if !diff.is_empty() {
            return Err(failure(
                CHECK,
                step,
                "its down does not undo its up".into(),
                Some(diff),
            ));
        }
        m.up(db, Some(1))
            .await
            .map_err(|e| db_error(CHECK, step, "up again", e))?;
        let again = read(db, &table).await?;
        let diff = after.diff(&again, "after the first up", "after up, down and up");
        if !diff.is_empty() {
            return Err(failure(
                CHECK,
                step,
                "up after down builds a different schema".into(),
                Some(diff),
            ));
        }
        before = again;
    }
    m.down(db, None)
        .await
        .map_err(|e| db_error(CHECK, None, "down to zero", e))?;
    let end = read(db, &table).await?;
    let diff = start.diff(&end, "an empty database", "after every step down");
    if !diff.is_empty() {
        return Err(failure(
            CHECK,
            None,
            "down to zero leaves more than the migration table".into(),
            Some(diff),
        ));
    }
    Ok(names)
}

/// The schema `migrated` has (after all of `M`'s migrations) against the one `from_entities`
/// has (created straight from the entities the code queries with); differences at an
/// [`Allow`]ed path are let through. The migration table is not compared.
pub async fn drift<M: MigratorTrait>(
    migrated: &DatabaseConnection,
    from_entities: &DatabaseConnection,
    allow: &[Allow],
) -> Result<()> {
    drift_at(
        &M::migration_table_name().to_string(),
        migrated,
        from_entities,
        allow,
    )
    .await
}

/// [`drift`], leaving out the migration table `table`.
pub(crate) async fn drift_at(
    table: &str,
    migrated: &DatabaseConnection,
    from_entities: &DatabaseConnection,
    allow: &[Allow],
) -> Result<()> {
    let table = table.to_owned();
    let expected = read(from_entities, &table).await?;
    let found = read(migrated, &table).await?;
    let diff = expected
        .diff(&found, "the entities", "the migrations")
        .retain(|d| !allow.iter().any(|a| a.allows(d)));
    if diff.is_empty() {
        Ok(())
    } else {
        Err(failure(
            "drift",
            None,
            "the migrated schema differs from the entities".into(),
            Some(diff),
        ))
    }
}

/// Migrates the empty database `db` to step `from` (how many migrations), runs `seed` on it,
/// then migrates to the latest, one step at a time. A step after which a table that held rows
/// holds fewer, or is gone, or a column that held values was dropped (and not renamed) or had
/// values set to NULL, fails the check, naming the step, the table, the column and how many;
/// the test then checks that what is left was not mangled. See [`upgrade_allowing`] for an
/// upgrade that loses data on purpose.
pub async fn upgrade<M, F>(db: &DatabaseConnection, from: usize, seed: F) -> Result<()>
where
    M: MigratorTrait + 'static,
    F: for<'c> FnOnce(&'c DatabaseConnection) -> LocalBoxFuture<'c, Result<()>>,
{
    upgrade_allowing::<M, F>(db, from, &[], seed).await
}

/// [`upgrade`], letting through the losses `allowed` declares: at its step, its table may
/// lose rows or go, or its column its values. Any other loss fails the check as before. A loss naming a step that
/// does not exist, or one the upgrade does not run (at or before `from`), is refused.
pub async fn upgrade_allowing<M, F>(
    db: &DatabaseConnection,
    from: usize,
    allowed: &[Loss],
    seed: F,
) -> Result<()>
where
    M: MigratorTrait + 'static,
    F: for<'c> FnOnce(&'c DatabaseConnection) -> LocalBoxFuture<'c, Result<()>>,
{
    upgrade_of(&Migrations::<M>::new(), db, from, allowed, seed).await
}

/// [`upgrade_allowing`] for any [`Migrator`]: a SeaORM migrator or a store's own numbered
/// steps.
pub async fn upgrade_of<F>(
    m: &dyn Migrator,
    db: &DatabaseConnection,
    from: usize,
    allowed: &[Loss],
    seed: F,
) -> Result<()>
where
    F: for<'c> FnOnce(&'c DatabaseConnection) -> LocalBoxFuture<'c, Result<()>>,
{
    let names = m.names();
    let steps = names.len();
    if from > steps {
        return Err(PersistError::InvalidInput {
            field: "from",
            reason: format!("the migrator has {steps} steps; cannot start at step {from}"),
        });
    }
    let mut allowed_at: Vec<(usize, &str, Option<&str>)> = Vec::new();
    for loss in allowed {
        let index = loss
            .index(&names)
            .map_err(|reason| PersistError::InvalidInput {
                field: "allowed",
                reason,
            })?;
        if index < from {
            return Err(PersistError::InvalidInput {
                field: "allowed",
                reason: format!(
                    "{} is step {}, which the upgrade from step {from} does not run",
                    names[index],
                    index + 1
                ),
            });
        }
        allowed_at.push((index, loss.table.as_str(), loss.column.as_deref()));
    }
    if from > 0 {
        m.up(db, Some(from as u32))
            .await
            .map_err(|e| db_error("upgrade", None, &format!("migrating to step {from}"), e))?;
    }
    seed(db).await?;
    let table = m.table();
    let mut counts = values::count(db, &table).await?;
    for (index, name) in names.iter().enumerate().skip(from) {
        let step = Some(name.as_str());
        m.up(db, Some(1))
            .await
            .map_err(|e| db_error("upgrade", step, "migrating", e))?;
        let after = values::count(db, &table).await?;
        let lost = values::losses(&counts, &after, |t, column| {
            allowed_at.iter().any(|(i, table, declared)| {
                *i == index && *table == t && (declared.is_none() || *declared == column)
            })
        });
        if !lost.is_empty() {
            return Err(failure(
                "upgrade",
                step,
                format!("data was lost: {}", lost.join("; ")),
                None,
            ));
        }
        counts = after;
    }
    Ok(())
}

/// Where `db`'s tracking table stands against `M`'s migrations, without changing anything.
pub async fn status<M: MigratorTrait>(db: &DatabaseConnection) -> Result<MigrationState> {
    let known: Vec<String> = M::migrations()
        .iter()
        .map(|m| m.name().to_owned())
        .collect();
    let table = M::migration_table_name().to_string();
    crate::inspect::migration_state(db, "database", &table, "version", &known).await
}
