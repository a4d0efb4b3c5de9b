//! Quickstart: a gateway and two agents persist a real conversation into three separate SQLite
//! databases, and we look at what landed where.
//!
//! Run it with `cargo run --example quickstart`.

use persist_core::mesh::{Mesh, ReferenceMesh, ScriptedLlm};
use persist_core::{CrossDatabaseInspector, PersistError};

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), PersistError> {
    // 1. A migrated gateway database and one database per agent, in a private directory.
    let manager = persist_core::mesh::manager()
        .agents(["WeatherAgent", "TravelAgent"])
        .label("quickstart")
        .setup()
        .await?;

    // 2. The mesh under test: gateway, one task per agent, and a scripted model.
    let llm = ScriptedLlm::new();
    llm.queue_reply("WeatherAgent", "Sunny, 24°C in Lisbon.");
    let mesh = Mesh::start(&manager, llm.clone());
    let gateway = mesh.gateway();

    // 3. Two users, two agents, a short conversation.
    let alice_weather = gateway.create_session("alice", "WeatherAgent").await?;
    let alice_travel = gateway.create_session("alice", "TravelAgent").await?;
    let bob_weather = gateway.create_session("bob", "WeatherAgent").await?;
    gateway
        .rename_session("alice", &alice_travel.id, "Lisbon trip")
        .await?;

    for (user, session, message) in [
        ("alice", &alice_weather.id, "Weather in Lisbon tomorrow?"),
        ("alice", &alice_travel.id, "Find me a train to Porto."),
        ("bob", &bob_weather.id, "Will it rain in Oslo?"),
        ("alice", &alice_travel.id, "Make it a morning train."),
    ] {
        let turn = gateway.send_message(user, session, message).await?;
        println!("{user:>5} → {message}\n{:>5} ← {}", "", turn.content);
    }

    // 4. What landed where, read back by the inspector with its own queries.
    let inspector = CrossDatabaseInspector::for_system(manager.clone(), &ReferenceMesh);
    let agents = ["WeatherAgent", "TravelAgent"];
    println!(
        "\n{}",
        inspector.verify_database_architecture(&agents).await?
    );
    println!("{}", inspector.database_stats().await?);
    println!("\nAlice's sessions, most recent first:");
    for session in inspector.gateway_sessions("alice").await? {
        let messages = inspector.gateway_messages(&session.id).await?;
        println!(
            "  {:<14} with {:<13} {} messages",
            session.name.as_deref().unwrap_or("(unnamed)"),
            session.agent_name,
            messages.len()
        );
    }
    let link = inspector
        .verify_session_linking(&alice_travel.id, "TravelAgent")
        .await?;
    println!(
        "\nTravelAgent's state for Alice's trip: {}",
        link.agent.state
    );

    // 5. The checks that make this a test: linking, isolation and integrity.
    inspector
        .verify_database_isolation("WeatherAgent", "TravelAgent")
        .await?;
    inspector.verify_user_isolation("alice", "bob").await?;
    inspector
        .verify_session_context_isolation("WeatherAgent", &alice_weather.id, &bob_weather.id)
        .await?;
    inspector.verify_integrity().await?;
    let shown_to_travel_about_bob = llm
        .requests_for_agent("TravelAgent")
        .iter()
        .filter(|request| request.user_id == "bob")
        .count();
    println!(
        "Isolation, linking and integrity verified; the model was asked {} times and TravelAgent was shown {shown_to_travel_about_bob} of Bob's messages.",
        llm.requests().len()
    );

    // 6. Stop the agents and remove every database.
    mesh.shutdown().await;
    manager.cleanup().await?;
    println!("\nCleaned up: no database file is left.");
    Ok(())
}
