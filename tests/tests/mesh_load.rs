//! The seed's "performance under load" and "multi-user scenarios": many users, each with
//! several sessions over four agents, all sending at once, with renames, deletes and model
//! failures mixed in. Afterwards nothing is lost, duplicated or orphaned, both sides hold each
//! session's turns in one order, every user sees exactly their own sessions, and every context
//! the model saw was its own session's.
//!
//! Small by default, so that CI stays fast; `PERSIST_LOAD=50x4x20` runs the full size
//! (4,000 turns), on the backend `PERSIST_TEST_DATABASE_URL` names. The `mesh_load` example
//! measures the same workload.

use persist_core::prelude::*;
use persist_tests::workload::{self, Shape};

const AGENTS: [&str; 4] = ["AgentA", "AgentB", "AgentC", "AgentD"];

#[persistence_test(agents = ["AgentA", "AgentB", "AgentC", "AgentD"], flavor = "multi_thread", worker_threads = 4)]
async fn many_users_many_sessions_four_agents(
    gateway: GatewayComponent,
    llm: ScriptedLlm,
    inspector: CrossDatabaseInspector,
) {
    let shape = Shape::from_env(Shape {
        users: 10,
        sessions: 3,
        messages: 6,
    });
    let outcome = workload::run(&gateway, &llm, &inspector, &AGENTS, shape).await;
    assert_eq!(
        outcome.turns + outcome.failed_turns,
        shape.turns(),
        "every turn either stored or failed for its model"
    );
    assert!(outcome.failed_turns > 0, "model failures were mixed in");
    assert_eq!(outcome.deletes, shape.users / 5);
    assert_eq!(outcome.renames, shape.users * shape.sessions);
    println!(
        "{shape}: {} turns stored, {} failed by design, {:.0} turns/s, p50 {:?}, p99 {:?}",
        outcome.turns,
        outcome.failed_turns,
        outcome.throughput(),
        outcome.percentile(50.0),
        outcome.percentile(99.0)
    );
}

#[test]
fn shapes_parse() {
    assert_eq!(
        Shape::parse("50x4x20"),
        Some(Shape {
            users: 50,
            sessions: 4,
            messages: 20
        })
    );
    assert_eq!(Shape::parse("50x4x20").unwrap().turns(), 4000);
    for bad in ["", "50x4", "0x4x20", "ax4x20", "1x2x3x4"] {
        assert_eq!(Shape::parse(bad), None, "{bad}");
    }
}
