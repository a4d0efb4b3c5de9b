//! The runtime behind `#[persistence_test]`: runtime construction, provisioning, injection,
//! the body under a timeout, teardown (or keeping the databases), and reporting.
//!
//! The attribute expands to one call of [`run_test`]; everything here can also be used and
//! tested without the macro.
//!
//! - `config`: what the attribute configures ([`TestConfig`]).
//! - `run`: one test, from runtime to teardown; `matrix`: which backends it runs on here;
//!   `outcome`: how it ended and how that is reported.
//! - [`TestContext`] and [`Inject`]: what a test's parameters are built from.

mod config;
mod context;
mod http;
mod inject;
mod matrix;
mod outcome;
mod run;

pub use config::{
    Fixture, Flavor, HttpTransport, KEEP_ENV, KeepPolicy, Seed, SeedFuture, Setup, SystemFactory,
    TestConfig, TestReturn,
};
pub use context::TestContext;
#[cfg_attr(not(feature = "mesh"), allow(unused_imports))]
pub(crate) use inject::required;
pub use inject::{
    AgentUse, Inject, NoAgent, OptionalAgent, RequiredAgent, WithAgent, WithoutAgent,
};
pub use run::run_test;
