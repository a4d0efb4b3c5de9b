//! Many small four-agent tests, so that a whole run has well over a hundred tests: under
//! `cargo nextest run` with 8 threads against a database server, they must not exhaust its
//! connections. Each one still checks what it wrote.

use persist_core::assertions::*;
use persist_core::inspect::DatabaseStats;
use persist_core::prelude::*;

macro_rules! load_tests {
    ($($name:ident),* $(,)?) => {$(
        #[persistence_test(agents = ["AgentA", "AgentB", "AgentC", "AgentD"])]
        async fn $name(gateway: GatewayPersistenceAdapter, inspector: CrossDatabaseInspector) {
            let user = stringify!($name);
            let a = gateway.create_session(user, "AgentA").await.unwrap();
            let d = gateway.create_session(user, "AgentD").await.unwrap();
            gateway.send_message(&a.id, user, user).await.unwrap();
            gateway.send_message(&d.id, user, user).await.unwrap();
            assert_session_linking(&inspector, &a.id, "AgentA").await;
            assert_database_isolation(&inspector, "AgentA", "AgentD").await;
            assert_database_stats(
                &inspector,
                &DatabaseStats::expect(2, 4).agent("AgentA", 1, 2).agent("AgentB", 0, 0).agent("AgentD", 1, 2),
            )
            .await;
        }
    )*};
}

load_tests!(
    load_01, load_02, load_03, load_04, load_05, load_06, load_07, load_08, load_09, load_10,
    load_11, load_12, load_13, load_14, load_15, load_16, load_17, load_18, load_19, load_20,
    load_21, load_22, load_23, load_24, load_25, load_26, load_27, load_28, load_29, load_30,
    load_31, load_32, load_33, load_34, load_35, load_36, load_37, load_38, load_39, load_40,
    load_41, load_42, load_43, load_44, load_45, load_46, load_47, load_48,
);
