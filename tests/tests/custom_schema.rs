//! Pointing the attribute at your own gateway migrations and agent entities with
//! `setup = "…"`: the framework provisions, verifies and cleans up whatever schema it is given.

use persist_core::db::catalog::list_tables;
use persist_core::db::{EntitySchema, ManagerBuilder};
use persist_core::mesh::entity::agent_session;
use persist_core::prelude::*;
use sea_orm_migration::prelude::*;

/// A user's own gateway schema: one step, one table.
mod audit {
    use sea_orm_migration::prelude::*;

    #[derive(DeriveMigrationName)]
    pub struct CreateAuditLog;

    #[async_trait::async_trait]
    impl MigrationTrait for CreateAuditLog {
        async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
            manager
                .create_table(
                    Table::create()
                        .table("audit_log")
                        .col(ColumnDef::new("id").string_len(64).not_null().primary_key())
                        .col(ColumnDef::new("event").text().not_null())
                        .to_owned(),
                )
                .await
        }

        async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
            manager
                .drop_table(Table::drop().table("audit_log").to_owned())
                .await
        }
    }

    pub struct Migrator;

    #[async_trait::async_trait]
    impl MigratorTrait for Migrator {
        fn migrations() -> Vec<Box<dyn MigrationTrait>> {
            vec![Box::new(CreateAuditLog)]
        }
    }
}

fn audit_gateway_and_lean_agents(builder: ManagerBuilder) -> ManagerBuilder {
    builder
        .gateway_migrator::<audit::Migrator>()
        .agent_schema(EntitySchema::new().entity::<agent_session::Entity>())
}

#[persistence_test(agents = ["Auditor"], setup = "audit_gateway_and_lean_agents")]
async fn your_own_schema_is_provisioned_and_verified(
    manager: MultiDatabaseManager,
    inspector: CrossDatabaseInspector,
) {
    let gateway_tables = list_tables(manager.gateway_connection()).await.unwrap();
    assert_eq!(gateway_tables, ["audit_log", "seaql_migrations"]);
    let state = inspector.verify_gateway_migrations().await.unwrap();
    let expected: Vec<String> = audit::Migrator::migrations()
        .iter()
        .map(|m| m.name().to_owned())
        .collect();
    assert_eq!(state.applied, expected);
    assert_eq!(
        inspector
            .gateway_migration_version()
            .await
            .unwrap()
            .as_deref(),
        Some(state.applied[0].as_str())
    );
    let agent = inspector.verify_agent_schema("Auditor").await.unwrap();
    assert_eq!(agent.tables, ["agent_sessions"]);
}

#[persistence_test(agents = ["Auditor"], setup = "audit_gateway_and_lean_agents")]
async fn a_missing_table_of_your_schema_is_still_caught(
    #[agent("Auditor")] db: DatabaseConnection,
    inspector: CrossDatabaseInspector,
) {
    use sea_orm::ConnectionTrait;
    db.execute_unprepared("DROP TABLE agent_sessions")
        .await
        .unwrap();
    let error = inspector.verify_agent_schema("Auditor").await.unwrap_err();
    assert!(
        error
            .to_string()
            .contains("missing tables [\"agent_sessions\"]"),
        "{error}"
    );
}
