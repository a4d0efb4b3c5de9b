//! The runtime behind `#[persistence_test]`: runtime construction, provisioning, injection,
//! the body under a timeout, teardown (or keeping the databases), and reporting.
//!
//! The attribute expands to one call of the runner (`persist_core::__private::run_test`, not
//! public API); what a test's parameters are built from is public here.
//!
//! - `config`: what the attribute configures (`TestConfig`).
//! - `run`: one test, from runtime to teardown; `matrix`: which backends it runs on here;
//!   `outcome`: how it ended and how that is reported.
//! - [`TestContext`] and [`Inject`]: what a test's parameters are built from.

pub(crate) mod config;
mod context;
mod http;
mod inject;
mod matrix;
mod outcome;
pub(crate) mod prepare;
pub(crate) mod run;
mod setup;

pub use config::KEEP_ENV;
pub use context::TestContext;
#[cfg_attr(not(feature = "mesh"), allow(unused_imports))]
pub(crate) use inject::required;
pub use inject::{
    AgentUse, Inject, NoAgent, OptionalAgent, RequiredAgent, WithAgent, WithoutAgent,
};
