//! The environment, read with one vocabulary: a value a variable cannot take is an error that
//! names the variable, the value and what it accepts, in the first test that meets it; never a
//! default taken in silence.

use persist_core::prelude::*;
use persist_tests::{output_text, run_ignored};

#[persistence_test(agents = ["AgentA"])]
#[ignore = "driven by another test in this file"]
async fn driven_sets_up(gateway: GatewayPersistenceAdapter) {
    gateway.create_session("alice", "AgentA").await.unwrap();
}

#[test]
fn a_bad_value_of_every_variable_fails_the_test_naming_it() {
    let bad = [
        ("PERSIST_TEST_DATABASE_URL", "postgre"),
        ("PERSIST_POSTGRES_URL", "mysql://root@127.0.0.1/test"),
        (
            "PERSIST_MYSQL_URL",
            "postgres://postgres@127.0.0.1/postgres",
        ),
        ("PERSIST_KEEP", "sometimes"),
        ("PERSIST_POOL_SIZE", "abc"),
        ("PERSIST_POOL_MAX_IDLE", "-1"),
        ("PERSIST_POOL_UNUSED_SECS", "an hour"),
        ("PERSIST_MAX_CONNECTIONS", "0"),
        ("PERSIST_CONNECTION_WAIT", "soon"),
        ("PERSIST_CONNECT_TIMEOUT", "-5"),
    ];
    for (variable, value) in bad {
        let output = run_ignored("driven_sets_up", &[(variable, value)]);
        let text = output_text(&output);
        assert!(
            !output.status.success(),
            "{variable}={value} passed:\n{text}"
        );
        assert!(
            text.contains(&format!("{variable}={value:?} cannot be read: expected")),
            "{variable}={value}:\n{text}"
        );
    }
    // Every variable a value could be wrong for is tried above.
    let tried: Vec<&str> = bad.iter().map(|(v, _)| *v).collect();
    for var in persist_config::env::ALL {
        assert!(
            tried.contains(&var.name) || ["PERSIST_LOG", "PERSIST_TEST_DIR"].contains(&var.name),
            "{} has no test",
            var.name
        );
    }
}

#[test]
fn good_values_and_blank_ones_set_up() {
    for (variable, value) in [
        ("PERSIST_POOL_SIZE", "0"),
        ("PERSIST_KEEP", "NEVER"),
        ("PERSIST_CONNECT_TIMEOUT", "2.5"),
        ("PERSIST_POOL_SIZE", "  "),
    ] {
        let output = run_ignored("driven_sets_up", &[(variable, value)]);
        assert!(
            output.status.success(),
            "{variable}={value:?}:\n{}",
            output_text(&output)
        );
    }
}

/// The attribute takes every name the environment takes (`backends` lists no URL).
#[persistence_test(agents = ["AgentA"], backends = ["sqlite", "memory", "mariadb", "postgresql"])]
async fn the_attribute_takes_the_environments_names(manager: MultiDatabaseManager) {
    assert!(manager.is_active());
}
