//! The concierge's migrator, checked: every step undoes cleanly, the migrations build what the
//! entities describe, and an upgrade keeps the rows that were there.

use concierge::{entity, migration::Migrator};
use persist_core::db::EntitySchema;
use persist_core::migrate::{Allow, MigrationCheck};
use persist_core::prelude::*;
use persist_core::sea_orm::ConnectionTrait;

#[persistence_test(system = "concierge::Concierge")]
async fn every_step_goes_down_and_up_cleanly(
    check: MigrationCheck<Migrator>,
) -> Result<(), PersistError> {
    check.round_trip().await.map(drop)
}

#[persistence_test(system = "concierge::Concierge")]
async fn the_migrations_match_the_entities(
    check: MigrationCheck<Migrator>,
) -> Result<(), PersistError> {
    let entities = EntitySchema::new()
        .entity::<entity::conversation::Entity>()
        .entity::<entity::utterance::Entity>();
    // Intended: the migrations size their strings and add query indexes.
    check
        .drift(
            entities,
            &[
                Allow::StringLengths,
                Allow::path("*.index(*)"),
                Allow::path("*.foreign_key(*)"),
            ],
        )
        .await
}

#[persistence_test(system = "concierge::Concierge")]
async fn an_upgrade_keeps_every_conversation(
    check: MigrationCheck<Migrator>,
) -> Result<(), PersistError> {
    check
        .upgrade(
            1,
            |db| {
                Box::pin(async move {
                    db.execute_unprepared(
                    "INSERT INTO conversations (id, owner, agent, subject, opened_at, touched_at) \
                     VALUES ('c1', 'ana', 'Travel', NULL, 1, 2)",
                )
                .await?;
                    Ok(())
                })
            },
            |db| {
                Box::pin(async move {
                    assert_eq!(persist_core::db::catalog::count_rows(db, "conversations").await?, 1);
                    Ok(())
                })
            },
        )
        .await
}
