//! What the framework costs per test under nextest, where every test is a process of its own:
//! `framework_*` tests take a gateway and four agents and do nothing else; `queried_*` tests
//! take the same and make a query on each of the five databases; `bare_*` tests are plain
//! `#[test]` fns doing nothing. `scripts/nextest-overhead.sh` runs each kind and divides the
//! difference from the bare ones by the number of tests. Ignored in ordinary runs.

/// A count on each of the test's databases: the gateway's sessions, each agent's sessions.
async fn query_each(manager: &persist_core::MultiDatabaseManager) {
    for (role, _) in manager.locations() {
        let table = match role {
            persist_core::db::DatabaseRole::Gateway => "sessions",
            persist_core::db::DatabaseRole::Agent(_) => "agent_sessions",
        };
        let db = manager.connection(&role).unwrap();
        assert_eq!(
            persist_core::db::catalog::count_rows(db, table)
                .await
                .unwrap(),
            0
        );
    }
}

macro_rules! pairs {
    ($($framework:ident $queried:ident $bare:ident)*) => {$(
        #[persist_core::persistence_test(agents = ["AgentA", "AgentB", "AgentC", "AgentD"])]
        #[ignore = "measured by scripts/nextest-overhead.sh"]
        async fn $framework(gateway: persist_core::GatewayPersistenceAdapter) {
            let _ = gateway;
        }

        #[persist_core::persistence_test(agents = ["AgentA", "AgentB", "AgentC", "AgentD"])]
        #[ignore = "measured by scripts/nextest-overhead.sh"]
        async fn $queried(manager: persist_core::MultiDatabaseManager) {
            query_each(&manager).await;
        }

        #[test]
        #[ignore = "measured by scripts/nextest-overhead.sh"]
        fn $bare() {}
    )*};
}

pairs! {
    framework_00 queried_00 bare_00 framework_01 queried_01 bare_01 framework_02 queried_02
    bare_02 framework_03 queried_03 bare_03 framework_04 queried_04 bare_04 framework_05
    queried_05 bare_05 framework_06 queried_06 bare_06 framework_07 queried_07 bare_07
    framework_08 queried_08 bare_08 framework_09 queried_09 bare_09 framework_10 queried_10
    bare_10 framework_11 queried_11 bare_11 framework_12 queried_12 bare_12 framework_13
    queried_13 bare_13 framework_14 queried_14 bare_14 framework_15 queried_15 bare_15
    framework_16 queried_16 bare_16 framework_17 queried_17 bare_17 framework_18 queried_18
    bare_18 framework_19 queried_19 bare_19 framework_20 queried_20 bare_20 framework_21
    queried_21 bare_21 framework_22 queried_22 bare_22 framework_23 queried_23 bare_23
    framework_24 queried_24 bare_24 framework_25 queried_25 bare_25 framework_26 queried_26
    bare_26 framework_27 queried_27 bare_27 framework_28 queried_28 bare_28 framework_29
    queried_29 bare_29 framework_30 queried_30 bare_30 framework_31 queried_31 bare_31
    framework_32 queried_32 bare_32 framework_33 queried_33 bare_33 framework_34 queried_34
    bare_34 framework_35 queried_35 bare_35 framework_36 queried_36 bare_36 framework_37
    queried_37 bare_37 framework_38 queried_38 bare_38 framework_39 queried_39 bare_39
    framework_40 queried_40 bare_40 framework_41 queried_41 bare_41 framework_42 queried_42
    bare_42 framework_43 queried_43 bare_43 framework_44 queried_44 bare_44 framework_45
    queried_45 bare_45 framework_46 queried_46 bare_46 framework_47 queried_47 bare_47
    framework_48 queried_48 bare_48 framework_49 queried_49 bare_49
}
