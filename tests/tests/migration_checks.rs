//! Migration testing (`persist_core::migrate`) on the project's own migrator and on the
//! helpdesk's, each check with a planted fault it must catch, on the backend the environment
//! names (CI: SQLite, PostgreSQL and MariaDB).

use persist_core::db::{BackendKind, EntitySchema};
use persist_core::migrate::{self, Allow, Difference, Loss, MigrationCheck, Schema};
use persist_core::prelude::*;
use persist_tests::faulty_migrations::{
    ArchivedSession, BrokenDown, ColumnChanges, LossyUpgrade, RetiredTable,
};
use persist_tests::helpdesk;
use sea_orm::ConnectionTrait;

fn mesh_gateway_entities() -> EntitySchema {
    EntitySchema::new()
        .entity::<persist_core::mesh::entity::session::Entity>()
        .entity::<persist_core::mesh::entity::chat_message::Entity>()
}

/// The mesh's intended differences: its migrations size its strings, add query indexes that
/// the entities do not declare, and (step 5) make message text `LONGTEXT` on MySQL.
fn mesh_allowances(backend: BackendKind) -> Vec<Allow> {
    let mut allow = vec![Allow::StringLengths, Allow::path("*.index(*)")];
    if backend == BackendKind::MySql {
        allow.push(Allow::path("chat_messages.message"));
    }
    allow
}

fn failure(error: PersistError) -> migrate::MigrationFailure {
    match error.migration_failure() {
        Some(failure) => failure.clone(),
        None => panic!("expected a migration failure, got: {error}"),
    }
}

/// How an upgrade from step `from`, after `seed`, fails (it must).
async fn upgrade_failure<M, S>(
    check: &MigrationCheck<M>,
    from: usize,
    seed: S,
) -> migrate::MigrationFailure
where
    S: for<'c> FnOnce(
        &'c DatabaseConnection,
    ) -> futures::future::LocalBoxFuture<'c, Result<(), PersistError>>,
    MigrationCheck<M>: Clone,
{
    let error = check
        .clone()
        .upgrade(from, seed, nothing)
        .await
        .unwrap_err();
    failure(error)
}

// ---------------------------------------------------------------------------------------------
// The three short tests a user writes, on the project's own migrator

#[persistence_test]
async fn every_mesh_step_goes_down_and_up_cleanly(
    check: MigrationCheck<migration::Migrator>,
) -> Result<(), PersistError> {
    let steps = check.round_trip().await?;
    assert_eq!(steps.len(), 5);
    Ok(())
}

#[persistence_test]
async fn the_mesh_migrations_match_its_entities(
    check: MigrationCheck<migration::Migrator>,
    manager: MultiDatabaseManager,
) -> Result<(), PersistError> {
    check
        .drift(
            mesh_gateway_entities(),
            &mesh_allowances(manager.backend_kind()),
        )
        .await
}

#[persistence_test]
async fn an_upgrade_from_step_two_keeps_every_row(
    check: MigrationCheck<migration::Migrator>,
) -> Result<(), PersistError> {
    check
        .upgrade(
            2,
            |db| {
                Box::pin(async move {
                    db.execute_unprepared(
                        "INSERT INTO sessions (id, name, user_id, agent_name, created_at, updated_at) \
                         VALUES ('s1', 'Trip', 'alice', 'AgentA', 1, 2)",
                    )
                    .await?;
                    db.execute_unprepared(
                        "INSERT INTO chat_messages (id, session_id, message, sender_type, sender_name, created_at) \
                         VALUES ('m1', 's1', 'hello', 'user', 'alice', 1), \
                                ('m2', 's1', 'hi', 'agent', 'AgentA', 2)",
                    )
                    .await?;
                    Ok(())
                })
            },
            |db| {
                Box::pin(async move {
                    use persist_core::mesh::entity::{chat_message, session};
                    use sea_orm::EntityTrait;
                    let sessions = session::Entity::find().all(db).await?;
                    assert_eq!(sessions.len(), 1);
                    assert_eq!(sessions[0].name.as_deref(), Some("Trip"));
                    assert_eq!(sessions[0].last_active_at, None, "added by step 4, empty");
                    let messages = chat_message::Entity::find().all(db).await?;
                    assert_eq!(messages.len(), 2);
                    assert!(messages.iter().all(|m| m.task_id.is_none()));
                    assert!(messages.iter().any(|m| m.message == "hello"));
                    Ok(())
                })
            },
        )
        .await
}

// ---------------------------------------------------------------------------------------------
// The helpdesk's migrator (a second, differently shaped system)

#[persistence_test]
async fn the_helpdesk_migrator_round_trips_and_upgrades(
    check: MigrationCheck<helpdesk::migration::Migrator>,
) -> Result<(), PersistError> {
    assert_eq!(check.round_trip().await?.len(), 2);
    check
        .upgrade(
            1,
            |db| {
                Box::pin(async move {
                    db.execute_unprepared(
                        "INSERT INTO users (id, display_name) VALUES ('alice', 'Alice')",
                    )
                    .await?;
                    Ok(())
                })
            },
            |db| {
                Box::pin(async move {
                    assert_eq!(persist_core::db::catalog::count_rows(db, "users").await?, 1);
                    Ok(())
                })
            },
        )
        .await
}

#[persistence_test]
async fn the_helpdesk_migrations_match_its_entities_but_for_what_is_allowed(
    check: MigrationCheck<helpdesk::migration::Migrator>,
) -> Result<(), PersistError> {
    let entities = EntitySchema::new()
        .entity::<helpdesk::entity::gw_user::Entity>()
        .entity::<helpdesk::entity::gw_session::Entity>()
        .entity::<helpdesk::entity::gw_message::Entity>();
    // Its entities declare no relations: the foreign keys are the migrations' alone.
    let allow = [
        Allow::StringLengths,
        Allow::path("*.index(*)"),
        Allow::path("*.foreign_key(*)"),
    ];
    check.drift(entities.clone(), &allow).await?;
    // Without the allowances, the differences are reported, foreign keys among them.
    let error = failure(check.drift(entities, &[]).await.unwrap_err());
    let diff = error.diff.expect("a schema difference");
    assert!(
        diff.differences
            .iter()
            .any(|d| matches!(d, Difference::ForeignKey { table, expected: false, .. } if table == "chat_messages")),
        "{diff}"
    );
    // Printed as a diff a person reads: the foreign key the migrations alone have.
    assert!(
        diff.to_string().contains(
            "+ chat_messages: foreign key (session_id) references sessions (id) on delete "
        ),
        "{diff}"
    );
    Ok(())
}

// ---------------------------------------------------------------------------------------------
// Status

#[persistence_test(agents = ["AgentA"])]
async fn status_sees_pending_unknown_and_out_of_order_migrations(
    gateway_db: DatabaseConnection,
) -> Result<(), PersistError> {
    type M = migration::Migrator;
    let status = migrate::status::<M>(&gateway_db).await?;
    assert!(status.is_current(), "{status:?}");
    assert_eq!(status.applied.len(), 5);

    gateway_db
        .execute_unprepared(
            "DELETE FROM seaql_migrations WHERE version = 'm20260101_000003_add_task_id_to_chat_messages'",
        )
        .await?;
    gateway_db
        .execute_unprepared(
            "INSERT INTO seaql_migrations (version, applied_at) VALUES ('m20991231_000001_from_the_future', 0)",
        )
        .await?;
    let status = migrate::status::<M>(&gateway_db).await?;
    assert!(!status.is_current());
    assert_eq!(
        status.pending,
        ["m20260101_000003_add_task_id_to_chat_messages"]
    );
    assert_eq!(status.unknown, ["m20991231_000001_from_the_future"]);
    assert_eq!(
        status.out_of_order,
        [
            "m20260101_000004_add_last_active_at_to_sessions",
            "m20260101_000005_long_message_text"
        ]
    );
    Ok(())
}

// ---------------------------------------------------------------------------------------------
// Planted faults, each caught with a diff a person can read

#[persistence_test]
async fn a_down_that_does_not_undo_its_up_is_caught(check: MigrationCheck<BrokenDown>) {
    let failure = failure(check.round_trip().await.unwrap_err());
    assert_eq!(failure.check, "round trip");
    assert_eq!(
        failure.step.as_deref(),
        Some("m20260301_000002_index_without_down")
    );
    let diff = failure.diff.clone().expect("a schema difference");
    assert!(
        diff.differences.iter().any(|d| matches!(
            d,
            Difference::Index { table, expected: None, found: Some(index) }
                if table == "chat_messages" && index.columns == ["sender_name"]
        )),
        "{diff}"
    );
    let text = failure.to_string();
    assert!(
        text.contains("at m20260301_000002_index_without_down"),
        "{text}"
    );
    assert!(text.contains("its down does not undo its up"), "{text}");
    assert!(
        text.contains("+ chat_messages: index idx_chat_messages_sender_name (sender_name)"),
        "{text}"
    );
}

#[persistence_test]
async fn a_column_the_entities_have_and_the_migrations_lack_is_caught(
    check: MigrationCheck<migration::Migrator>,
    manager: MultiDatabaseManager,
) {
    let backend = manager.backend_kind();
    let entities = EntitySchema::new()
        .entity::<ArchivedSession>()
        .entity::<persist_core::mesh::entity::chat_message::Entity>();
    let failure = failure(
        check
            .drift(entities, &mesh_allowances(backend))
            .await
            .unwrap_err(),
    );
    let diff = failure.diff.clone().expect("a schema difference");
    assert_eq!(
        diff.differences.len(),
        1,
        "only the planted column, the rest allowed: {diff}"
    );
    assert!(matches!(
        &diff.differences[0],
        Difference::Column { table, column, expected: Some(_), found: None }
            if table == "sessions" && column == "archived"
    ));
    let text = failure.to_string();
    assert!(text.contains("--- the entities"), "{text}");
    let archived = text
        .lines()
        .find(|l| l.starts_with("- sessions.archived: "))
        .expect("the planted column, printed");
    assert!(archived.ends_with(" NOT NULL"), "{text}");
    // An explicit allowance lets it through.
    check
        .drift(
            EntitySchema::new()
                .entity::<ArchivedSession>()
                .entity::<persist_core::mesh::entity::chat_message::Entity>(),
            &[
                mesh_allowances(backend),
                vec![Allow::path("sessions.archived")],
            ]
            .concat(),
        )
        .await
        .unwrap();
}

#[persistence_test]
async fn an_upgrade_that_drops_data_is_caught(check: MigrationCheck<LossyUpgrade>) {
    let error = check.upgrade(2, one_session, nothing).await.unwrap_err();
    let failure = failure(error);
    assert_eq!(failure.check, "upgrade");
    assert_eq!(
        failure.step.as_deref(),
        Some("m20260301_000003_rebuild_chat_messages")
    );
    assert!(
        failure.problem.contains("sessions had 1 rows, has 0"),
        "{failure}"
    );
}

// ---------------------------------------------------------------------------------------------
// The schema reader itself

#[persistence_test(agents = ["AgentA"])]
async fn a_schema_reads_the_same_twice_and_sees_a_change(
    gateway_db: DatabaseConnection,
) -> Result<(), PersistError> {
    let before = Schema::read(&gateway_db).await?;
    assert_eq!(Schema::read(&gateway_db).await?, before);
    let sessions = &before.tables["sessions"];
    assert_eq!(sessions.primary_key, ["id"]);
    assert!(!sessions.columns["user_id"].nullable);
    assert!(sessions.columns["name"].nullable);
    let messages = &before.tables["chat_messages"];
    assert!(
        messages
            .foreign_keys
            .iter()
            .any(|fk| fk.parent == "sessions"
                && fk.columns == ["session_id"]
                && fk.on_delete == "cascade")
    );
    gateway_db
        .execute_unprepared("CREATE INDEX idx_probe ON sessions (created_at)")
        .await?;
    let after = Schema::read(&gateway_db).await?;
    let diff = before.diff(&after, "before", "after");
    assert_eq!(diff.differences.len(), 1, "{diff}");
    assert!(
        diff.to_string()
            .contains("+ sessions: index idx_probe (created_at)"),
        "{diff}"
    );
    Ok(())
}

/// Two notes, each with an author and a tag.
async fn seed_notes(db: &DatabaseConnection) -> Result<(), PersistError> {
    db.execute_unprepared(
        "INSERT INTO notes (id, body, author, tag) VALUES \
         ('n1', 'first', 'alice', 'red'), ('n2', 'second', 'bob', 'blue')",
    )
    .await?;
    Ok(())
}

#[persistence_test]
async fn a_column_that_loses_its_values_is_caught_and_a_rename_is_not(
    check: MigrationCheck<ColumnChanges>,
) {
    // Step 3 sets every author to NULL: caught there, naming the column and how many.
    let found = upgrade_failure(&check, 1, |db| Box::pin(seed_notes(db))).await;
    assert_eq!(
        found.step.as_deref(),
        Some("m20260401_000003_forget_authors")
    );
    assert!(
        found.problem.contains("notes.author had 2 values, has 0"),
        "{found}"
    );
    // Declared, the next loss is caught: step 4 drops `tag` holding two values.
    let check = check.allowing_loss(Loss::column(3, "notes", "author"));
    let error = check
        .clone()
        .upgrade(1, |db| Box::pin(seed_notes(db)), nothing)
        .await
        .unwrap_err();
    let found = failure(error);
    assert_eq!(found.step.as_deref(), Some("m20260401_000004_drop_tags"));
    assert!(
        found
            .problem
            .contains("notes.tag was dropped holding 2 values"),
        "{found}"
    );
    // Both declared: the upgrade goes through; step 2's rename was never a loss, and a loss
    // declared for one column lets no other through.
    check
        .clone()
        .allowing_loss(Loss::column("m20260401_000004_drop_tags", "notes", "tag"))
        .upgrade(
            1,
            |db| Box::pin(seed_notes(db)),
            |db| {
                Box::pin(async move {
                    assert_eq!(persist_core::db::catalog::count_rows(db, "notes").await?, 2);
                    Ok(())
                })
            },
        )
        .await
        .unwrap();
    let error = check
        .allowing_loss(Loss::column(4, "notes", "author"))
        .upgrade(1, |db| Box::pin(seed_notes(db)), nothing)
        .await
        .unwrap_err();
    assert!(failure(error).problem.contains("notes.tag"));
}

#[persistence_test]
async fn a_step_that_drops_an_empty_table_or_column_loses_nothing(
    check: MigrationCheck<RetiredTable>,
) {
    // Notes without tags, no drafts: retiring the drafts table and the tag column loses
    // nothing.
    let untagged = |db: &DatabaseConnection| {
        let db = db.clone();
        async move {
            db.execute_unprepared(
                "INSERT INTO notes (id, body) VALUES ('n1', 'first'), ('n2', 'second')",
            )
            .await?;
            Ok::<_, PersistError>(())
        }
    };
    check
        .clone()
        .upgrade(
            2,
            |db| Box::pin(untagged(db)),
            |db| {
                Box::pin(async move {
                    assert_eq!(persist_core::db::catalog::count_rows(db, "notes").await?, 2);
                    Ok(())
                })
            },
        )
        .await
        .unwrap();
    // A draft written before the step is lost with its table, and said so.
    let found = upgrade_failure(&check, 2, |db| {
        Box::pin(async move {
            untagged(db).await?;
            db.execute_unprepared("INSERT INTO drafts (id) VALUES ('d1')")
                .await?;
            Ok(())
        })
    })
    .await;
    assert_eq!(
        found.step.as_deref(),
        Some("m20260501_000003_retire_drafts")
    );
    assert!(found.problem.contains("drafts (1 rows) is gone"), "{found}");
    // Tags written before are lost with their column.
    let found = upgrade_failure(&check, 2, |db| Box::pin(seed_notes(db))).await;
    assert_eq!(found.step.as_deref(), Some("m20260501_000004_drop_tags"));
    assert!(
        found
            .problem
            .contains("notes.tag was dropped holding 2 values"),
        "{found}"
    );
}

#[persistence_test]
async fn a_round_trip_refuses_a_database_that_is_not_empty_and_names_its_tables()
-> Result<(), PersistError> {
    let db = sea_orm::Database::connect("sqlite::memory:").await?;
    db.execute_unprepared("CREATE TABLE leftover (id INTEGER PRIMARY KEY)")
        .await?;
    let failure = failure(
        migrate::round_trip::<migration::Migrator>(&db)
            .await
            .unwrap_err(),
    );
    assert_eq!(failure.check, "round trip");
    assert!(
        failure.problem.contains("not empty") && failure.problem.contains("\"leftover\""),
        "{failure}"
    );
    Ok(())
}

/// Seeds one session into a database at step 2 of the mesh's history.
fn one_session(
    db: &DatabaseConnection,
) -> futures::future::LocalBoxFuture<'_, Result<(), PersistError>> {
    Box::pin(async move {
        db.execute_unprepared(
            "INSERT INTO sessions (id, user_id, agent_name, created_at, updated_at) \
             VALUES ('s1', 'alice', 'AgentA', 1, 2)",
        )
        .await?;
        Ok(())
    })
}

/// Does nothing to a database.
fn nothing(
    _: &DatabaseConnection,
) -> futures::future::LocalBoxFuture<'_, Result<(), PersistError>> {
    Box::pin(async { Ok(()) })
}

#[persistence_test]
async fn the_free_checks_give_the_same_verdicts_on_databases_you_hold() -> Result<(), PersistError>
{
    use persist_core::db::AgentSchema as _;
    let memory = || sea_orm::Database::connect("sqlite::memory:");

    // An upgrade that drops a table's rows, whether losses are declared or not.
    let (plain, allowing) = (memory().await?, memory().await?);
    for (check, error) in [
        (
            "upgrade",
            migrate::upgrade::<LossyUpgrade, _>(&plain, 2, one_session).await,
        ),
        (
            "upgrade_allowing",
            migrate::upgrade_allowing::<LossyUpgrade, _>(&allowing, 2, &[], one_session).await,
        ),
    ] {
        let problem = failure(error.unwrap_err()).problem;
        assert!(
            problem.contains("sessions had 1 rows, has 0"),
            "{check}: {problem}"
        );
    }
    // The same upgrade on the project's own migrations keeps its rows.
    let db = memory().await?;
    migrate::upgrade::<migration::Migrator, _>(&db, 2, one_session).await?;

    // A column the entities have and the migrations lack.
    let (migrated, from_entities) = (memory().await?, memory().await?);
    <migration::Migrator as sea_orm_migration::MigratorTrait>::up(&migrated, None).await?;
    EntitySchema::new()
        .entity::<ArchivedSession>()
        .entity::<persist_core::mesh::entity::chat_message::Entity>()
        .create(&from_entities)
        .await?;
    let allow = mesh_allowances(BackendKind::SqliteMemory);
    let error = migrate::drift::<migration::Migrator>(&migrated, &from_entities, &allow)
        .await
        .unwrap_err();
    assert!(
        failure(error).to_string().contains("- sessions.archived: "),
        "drift"
    );
    Ok(())
}

#[persistence_test]
async fn an_upgrade_from_beyond_the_last_step_is_refused_and_from_the_last_runs_none(
    check: MigrationCheck<migration::Migrator>,
    manager: MultiDatabaseManager,
) -> Result<(), PersistError> {
    // What it checks, in its debug form: the tracking table, on the test's own backend, and
    // the losses let through.
    let debug = format!("{check:?}");
    let backend = manager
        .backend_config()
        .expect("a built-in backend")
        .to_string();
    assert!(
        debug.contains("\"seaql_migrations\"")
            && debug.contains(&format!("backend: {backend:?}"))
            && debug.contains("losses: []"),
        "{debug}"
    );
    let steps = <migration::Migrator as sea_orm_migration::MigratorTrait>::migrations().len();
    let error = check
        .upgrade(steps + 1, nothing, nothing)
        .await
        .unwrap_err();
    assert!(
        matches!(&error, PersistError::InvalidInput { field: "from", reason }
            if reason.contains(&format!("has {steps} steps"))),
        "{error}"
    );
    // From the last step there is nothing to run, and nothing to lose.
    check.upgrade(steps, nothing, nothing).await
}
