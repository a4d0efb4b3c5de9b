use persist_core::prelude::*;

#[persistence_test(agents = ["AgentA"])]
async fn by_value(
    gateway: GatewayPersistenceAdapter,
    inspector: CrossDatabaseInspector,
    manager: MultiDatabaseManager,
    llm: ScriptedLlm,
    component: GatewayComponent,
    ctx: TestContext,
    #[agent("AgentA")] agent: AgentHandle,
    gateway_db: DatabaseConnection,
    #[agent("AgentA")] agent_db: DatabaseConnection,
) {
    let _ = (gateway, inspector, manager, llm, component, ctx, agent, gateway_db, agent_db);
}

#[persistence_test(agents = ["AgentA"])]
async fn by_reference(
    gateway: &GatewayPersistenceAdapter,
    inspector: &CrossDatabaseInspector,
    manager: &MultiDatabaseManager,
    llm: &ScriptedLlm,
    component: &GatewayComponent,
    ctx: &TestContext,
    #[agent("AgentA")] agent: &AgentHandle,
    gateway_db: &DatabaseConnection,
    #[agent("AgentA")] agent_db: &DatabaseConnection,
    _unused: &MultiDatabaseManager,
    mut owned: GatewayPersistenceAdapter,
) {
    owned = owned.clone();
    let _ = (gateway, inspector, manager, llm, component, ctx, agent, gateway_db, agent_db, owned);
}

fn main() {}
