//! What a test's databases and runtime are made from: shared by a run and by prepare mode.

use super::config::{Flavor, TestConfig};
use super::matrix::backend_conflict;
use crate::db::{BackendConfig, ManagerBuilder};
use crate::error::Result;

/// The manager of `config`'s databases, before setup: its agents, the system's schemas, then
/// the test's own `setup` (which may not choose another backend than the test's).
pub(super) fn builder(
    config: &TestConfig,
    backend: BackendConfig,
    system: Option<&dyn crate::system::System>,
) -> Result<ManagerBuilder> {
    let mut builder = ManagerBuilder::default()
        // Warm databases for the next test of this process, when there is one.
        .reuse(!crate::env::process_per_test())
        .label(config.name)
        .agents(config.agents.iter().copied())
        .backend(backend);
    if let Some(system) = system {
        builder = builder.schemas(system.gateway_schema(), system.agent_schemas());
    }
    if let Some(setup) = config.setup {
        let before = persist_db::__private::backend_choice(&builder);
        builder = setup(builder);
        let after = persist_db::__private::backend_choice(&builder);
        if after != before {
            backend_conflict(config, &after)?;
        }
    }
    Ok(builder)
}

/// The runtime a test's body runs on, as its attribute asks.
pub(super) fn build_runtime(config: &TestConfig) -> std::io::Result<tokio::runtime::Runtime> {
    let mut builder = match config.flavor {
        Flavor::CurrentThread => tokio::runtime::Builder::new_current_thread(),
        Flavor::MultiThread => {
            let mut builder = tokio::runtime::Builder::new_multi_thread();
            if let Some(threads) = config.worker_threads {
                builder.worker_threads(threads);
            }
            builder
        }
    };
    builder.enable_all().build()
}
