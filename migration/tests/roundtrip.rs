//! Every step goes up and comes back down cleanly.

use migration::Migrator;
use sea_orm_migration::MigratorTrait;
use sea_orm_migration::sea_orm::{ConnectionTrait, Database, DatabaseConnection, Statement};

async fn tables(db: &DatabaseConnection) -> Vec<String> {
    let rows = db
        .query_all_raw(Statement::from_string(
            db.get_database_backend(),
            "SELECT name FROM sqlite_master WHERE type IN ('table', 'index') \
             AND name NOT LIKE 'sqlite_%' ORDER BY name",
        ))
        .await
        .unwrap();
    rows.iter()
        .map(|r| r.try_get_by_index(0).unwrap())
        .collect()
}

async fn columns(db: &DatabaseConnection, table: &str) -> Vec<String> {
    let rows = db
        .query_all_raw(Statement::from_string(
            db.get_database_backend(),
            format!("SELECT name FROM pragma_table_info('{table}')"),
        ))
        .await
        .unwrap();
    rows.iter()
        .map(|r| r.try_get_by_index(0).unwrap())
        .collect()
}

#[tokio::test]
async fn each_step_has_a_working_down() {
    let db = Database::connect("sqlite::memory:").await.unwrap();
    Migrator::up(&db, None).await.unwrap();
    assert!(
        Migrator::get_pending_migrations(&db)
            .await
            .unwrap()
            .is_empty()
    );
    assert!(
        columns(&db, "chat_messages")
            .await
            .contains(&"task_id".to_owned())
    );
    assert!(
        columns(&db, "sessions")
            .await
            .contains(&"last_active_at".to_owned())
    );

    // Step 5 changes a column's type on MySQL only: on SQLite its down is a no-op.
    Migrator::down(&db, Some(1)).await.unwrap();
    assert!(
        columns(&db, "sessions")
            .await
            .contains(&"last_active_at".to_owned())
    );
    Migrator::down(&db, Some(1)).await.unwrap();
    assert!(
        !columns(&db, "sessions")
            .await
            .contains(&"last_active_at".to_owned())
    );
    Migrator::down(&db, Some(1)).await.unwrap();
    assert!(
        !columns(&db, "chat_messages")
            .await
            .contains(&"task_id".to_owned())
    );
    assert!(
        !tables(&db)
            .await
            .contains(&"idx_chat_messages_task_id".to_owned())
    );
    Migrator::down(&db, Some(1)).await.unwrap();
    assert!(!tables(&db).await.iter().any(|t| t.starts_with("idx_")));
    Migrator::down(&db, Some(1)).await.unwrap();
    assert_eq!(tables(&db).await, ["seaql_migrations"]);

    // And all the way up again.
    Migrator::up(&db, None).await.unwrap();
    assert_eq!(
        Migrator::get_applied_migrations(&db).await.unwrap().len(),
        Migrator::migrations().len()
    );
}
