//! rstest and `#[persistence_test]` together: `#[case]`, `#[values]` and rstest fixtures next
//! to injected handles, in either order of the two attributes. rstest generates one test per
//! case and value; each gets fresh databases of its own.

use persist_core::assert_data_snapshot;
use persist_core::prelude::*;
use rstest::{fixture, rstest};

#[fixture]
fn greeting() -> &'static str {
    "hello"
}

/// rstest on top, as with `#[tokio::test]`: `#[persist_core::test]` is the attribute under a
/// path rstest recognises, and `#[ignore]` leaves a parameter to it.
#[rstest]
#[case::alice("alice")]
#[case::bob("bob")]
#[persist_core::test(agents = ["AgentA", "AgentB"])]
async fn rstest_above(
    #[case] user: &str,
    #[values(1, 2)] turns: usize,
    greeting: &str,
    #[ignore] gateway: GatewayPersistenceAdapter,
    // An agent's handle comes from the context: rstest would keep `#[agent]` on the function.
    #[ignore] ctx: TestContext,
    #[ignore] inspector: CrossDatabaseInspector,
) -> Result<(), PersistError> {
    let agent = ctx.resource_for::<AgentHandle>("AgentA")?;
    let session = gateway.create_session(user, "AgentA").await?;
    for _ in 0..turns {
        gateway.send_message(&session.id, greeting, user).await?;
    }
    // Each generated test starts from empty databases: only this test's turns are there.
    assert_eq!(agent.messages(&session.id).await?.len(), 2 * turns);
    let stats = inspector.database_stats().await?;
    assert_eq!(stats.gateway.sessions, 1);
    Ok(())
}

/// `#[persistence_test]` on top works the same: it hands the test to rstest.
#[persistence_test(agents = ["AgentA"])]
#[rstest]
#[case("first")]
#[case("second")]
async fn rstest_below(
    #[case] text: &str,
    #[values("alice", "bob")] user: &str,
    #[ignore] gateway: GatewayPersistenceAdapter,
    #[ignore] manager: &MultiDatabaseManager,
) -> Result<(), PersistError> {
    let session = gateway.create_session(user, "AgentA").await?;
    gateway.send_message(&session.id, text, user).await?;
    let counts = manager.table_counts(&DatabaseRole::Gateway).await?;
    let sessions = counts.iter().find(|c| c.table == "sessions").unwrap();
    assert_eq!(sessions.rows, 1);
    Ok(())
}

/// Each case snapshots under its own name (`rstest_snapshot__case_1_alice.snap`, …).
#[rstest]
#[case("alice")]
#[case("bob")]
#[persist_core::test(agents = ["AgentA"])]
async fn rstest_snapshot(
    #[case] user: &str,
    #[ignore] gateway: GatewayPersistenceAdapter,
    #[ignore] inspector: CrossDatabaseInspector,
) -> Result<(), PersistError> {
    let session = gateway.create_session(user, "AgentA").await?;
    gateway.send_message(&session.id, "hi", user).await?;
    assert_data_snapshot!(
        inspector
            .snapshot()
            .tables(["sessions", "chat_messages"])
            .await?
    );
    Ok(())
}
