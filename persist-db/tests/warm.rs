//! Warm databases: a manager built with `reuse` gives a pristine set of SQLite files back for
//! the next setup of the same plan in this process, and removes a set changed in any way.

#![cfg(feature = "sqlite")]

use std::path::PathBuf;

use sea_orm::{ConnectionTrait, Database, DatabaseConnection};

use persist_db::{BackendConfig, ManagerBuilder, MultiDatabaseManager, NumberedMigrations};

/// A manager of schemas no other test shares (`tag` names its table), under `dir`.
async fn setup(dir: &std::path::Path, tag: &str, reuse: bool) -> MultiDatabaseManager {
    let schema = || {
        NumberedMigrations::new(format!("{tag}_versions")).step(format!(
            "CREATE TABLE {tag} (id INTEGER PRIMARY KEY, parent INTEGER REFERENCES {tag}(id))"
        ))
    };
    ManagerBuilder::default()
        .backend(BackendConfig::SqliteFileIn(dir.to_owned()))
        .agents(["AgentA"])
        .gateway_schema(schema())
        .agent_schema(schema())
        .reuse(reuse)
        .setup()
        .await
        .unwrap()
}

fn gateway_file(manager: &MultiDatabaseManager) -> PathBuf {
    manager.gateway_location().path.clone().unwrap()
}

async fn rows(db: &DatabaseConnection, table: &str) -> i64 {
    let row = db
        .query_one_raw(sea_orm::Statement::from_string(
            db.get_database_backend(),
            format!("SELECT count(*) AS n FROM {table}"),
        ))
        .await
        .unwrap()
        .unwrap();
    row.try_get("", "n").unwrap()
}

#[tokio::test]
async fn a_set_nothing_changed_is_taken_by_the_next_setup() {
    let dir = tempfile::tempdir().unwrap();
    let first = setup(dir.path(), "untouched", true).await;
    let file = gateway_file(&first);
    // Reading changes nothing.
    assert_eq!(rows(first.gateway_connection(), "untouched").await, 0);
    first.cleanup().await.unwrap();
    assert!(file.exists(), "a pristine set is kept for the next test");

    let second = setup(dir.path(), "untouched", true).await;
    assert_eq!(gateway_file(&second), file);
    second.cleanup().await.unwrap();
}

#[tokio::test]
async fn without_reuse_nothing_is_kept() {
    let dir = tempfile::tempdir().unwrap();
    let first = setup(dir.path(), "unreused", false).await;
    let file = gateway_file(&first);
    first.cleanup().await.unwrap();
    assert!(!file.exists());
    let second = setup(dir.path(), "unreused", true).await;
    assert_ne!(gateway_file(&second), file);
    second.cleanup().await.unwrap();
}

/// Each way a test can change a database, through its own connection or another one.
#[derive(Clone, Copy, Debug)]
enum Change {
    RowThroughItsConnection,
    RowThroughAnotherConnection,
    RowInAnAgent,
    Table,
    UserVersion,
    ForeignKeysOff,
    TemporaryTable,
    Attached,
    TransactionLeftOpen,
    RowWrittenAndDeleted,
    FileRemoved,
    FileReplaced,
}

async fn make(change: Change, manager: &MultiDatabaseManager, tag: &str) {
    let db = manager.gateway_connection();
    let sql = match change {
        Change::RowThroughItsConnection => format!("INSERT INTO {tag} (id) VALUES (1)"),
        Change::RowThroughAnotherConnection => {
            let other = Database::connect(manager.gateway_location().url.as_str())
                .await
                .unwrap();
            other
                .execute_unprepared(&format!("INSERT INTO {tag} (id) VALUES (1)"))
                .await
                .unwrap();
            other.close().await.unwrap();
            return;
        }
        Change::RowInAnAgent => {
            let agent = manager.agent_connection("AgentA").unwrap();
            agent
                .execute_unprepared(&format!("INSERT INTO {tag} (id) VALUES (1)"))
                .await
                .unwrap();
            return;
        }
        Change::Table => "CREATE TABLE intruder (id INTEGER)".to_owned(),
        Change::UserVersion => "PRAGMA user_version = 7".to_owned(),
        Change::ForeignKeysOff => "PRAGMA foreign_keys = OFF".to_owned(),
        Change::TemporaryTable => "CREATE TEMP TABLE scratch (id INTEGER)".to_owned(),
        Change::Attached => "ATTACH DATABASE ':memory:' AS elsewhere".to_owned(),
        Change::TransactionLeftOpen => "BEGIN".to_owned(),
        Change::FileRemoved => {
            std::fs::remove_file(gateway_file(manager)).unwrap();
            return;
        }
        Change::FileReplaced => {
            let file = gateway_file(manager);
            let copy = file.with_extension("copy");
            std::fs::copy(&file, &copy).unwrap();
            std::fs::rename(&copy, &file).unwrap();
            return;
        }
        Change::RowWrittenAndDeleted => {
            format!("INSERT INTO {tag} (id) VALUES (1); DELETE FROM {tag}")
        }
    };
    db.execute_unprepared(&sql).await.unwrap();
}

#[tokio::test]
async fn a_set_changed_in_any_way_is_removed_never_reused() {
    let dir = tempfile::tempdir().unwrap();
    for (i, change) in [
        Change::RowThroughItsConnection,
        Change::RowThroughAnotherConnection,
        Change::RowInAnAgent,
        Change::Table,
        Change::UserVersion,
        Change::ForeignKeysOff,
        Change::TemporaryTable,
        Change::Attached,
        Change::TransactionLeftOpen,
        Change::RowWrittenAndDeleted,
        Change::FileRemoved,
        Change::FileReplaced,
    ]
    .into_iter()
    .enumerate()
    {
        let tag = format!("changed{i}");
        let first = setup(dir.path(), &tag, true).await;
        let file = gateway_file(&first);
        make(change, &first, &tag).await;
        first.cleanup().await.unwrap();
        assert!(!file.exists(), "{change:?}: the changed set was kept");

        let second = setup(dir.path(), &tag, true).await;
        assert_ne!(gateway_file(&second), file, "{change:?}");
        let db = second.gateway_connection();
        assert_eq!(rows(db, &tag).await, 0, "{change:?}");
        second.cleanup().await.unwrap();
    }
}
