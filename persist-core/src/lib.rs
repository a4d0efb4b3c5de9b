//! Black-box persistence testing for SeaORM systems made of a gateway and agents.
//!
//! A gateway database (schema by real migrations) holds users' sessions and chat history; each
//! agent owns a separate database (schema straight from its entities) with its session state
//! and messages. `persist-core` provisions those databases per test, starts the system under
//! test over them (yours, described once as a [`System`], or the reference mesh), and checks
//! from the outside that data landed where it should.
//!
//! # Features
//!
//! | feature | default | what it adds |
//! |---------|---------|--------------|
//! | `sqlite` | yes | SQLite files and in-memory databases (the embedded default backend) |
//! | `postgres` | no | PostgreSQL servers |
//! | `mysql` | no | MySQL and MariaDB servers |
//! | `mesh` | no | the reference mesh (`mesh`): the demo system and the default `system` |
//! | `http` | no | testing gateways over HTTP ([`http`]), and the reference mesh's `/api/v1` |
//! | `insta` | no | [`assert_data_snapshot!`]: data snapshots ([`inspect::DataSnapshot`]) compared and reviewed by insta |
//!
//! A crate that tests its own system needs only the defaults (and the server drivers it runs
//! on): `persist-core = "0.1"`. The examples here run on the reference mesh (`features =
//! ["mesh"]`).
//!
//! ```
//! use persist_core::prelude::*;
//!
//! #[persistence_test(agents = ["AgentA", "AgentB"])]
//! async fn replies_land_in_the_right_agent(
//!     gateway: GatewayPersistenceAdapter,
//!     #[agent("AgentA")] a: AgentHandle,
//!     #[agent("AgentB")] b: &AgentHandle,
//! ) -> Result<(), PersistError> {
//!     let session = gateway.create_session("alice", "AgentA").await?;
//!     gateway.send_message(&session.id, "hello", "alice").await?;
//!     assert_eq!(a.messages(&session.id).await?.len(), 2);
//!     assert!(b.messages(&session.id).await?.is_empty());
//!     Ok(())
//! }
//! # fn main() {}
//! ```
//!
//! Start with [`persistence_test`]; the pieces it hands out are [`GatewayPersistenceAdapter`],
//! [`AgentPersistenceAdapter`], [`CrossDatabaseInspector`], [`MultiDatabaseManager`],
//! [`system::Resource`]s and raw [`sea_orm::DatabaseConnection`]s. To test your own system,
//! see [`system`]; the guide, chapter by chapter, is [`guide`].

#![warn(missing_docs)]
#![cfg_attr(docsrs, feature(doc_cfg))]

mod adapter;
pub mod assertions;
/// The test-database engine (the `persist-db` crate): the manager and its builder, schemas,
/// backends, the catalog reader, server upkeep and the engine's [`db::Error`].
pub use persist_db as db;
/// Every environment variable the framework reads, with its default and what it accepts.
pub use persist_db::env;
mod error;
#[cfg(feature = "http")]
pub mod http;
pub mod inspect;
#[cfg(feature = "mesh")]
pub mod mesh;
pub mod migrate;
pub mod runner;
pub mod system;

pub use adapter::{AgentPersistenceAdapter, GatewayPersistenceAdapter, UserGateway};
pub use db::MultiDatabaseManager;
pub use error::{PersistError, Result};
pub use inspect::CrossDatabaseInspector;
pub use runner::{Inject, NoAgent, OptionalAgent, RequiredAgent, TestContext};
pub use system::System;

/// `#[async_trait]`, to implement [`System`], [`system::GatewayApi`], [`system::AgentApi`] and
/// [`system::LanguageModel`].
pub use async_trait::async_trait;
/// The futures crate this one is built on: the [`BoxFuture`](futures::future::BoxFuture) that
/// [`db::AgentSchema::create`] and [`db::GatewaySchema::migrate`] return, without a matching
/// dependency of your own.
pub use futures;
/// The SeaORM this crate is built on, so that an injected connection can be queried (and
/// entities defined) without adding a matching `sea-orm` dependency.
pub use sea_orm;
/// The sea-orm-migration this crate is built on, for a gateway migrator without a matching
/// dependency of your own.
pub use sea_orm_migration;

#[doc = include_str!("../docs/persistence_test.md")]
pub use persist_macros::persistence_test;
/// [`persistence_test`] under a path that ends in `test`, the form rstest (and other
/// attributes that generate tests) look for to mark each test they generate:
///
/// ```
/// use persist_core::prelude::*;
/// use rstest::rstest;
///
/// #[rstest]
/// #[case("alice")]
/// #[case("bob")]
/// #[persist_core::test(agents = ["AgentA"])]
/// async fn each_user_gets_a_session(
///     #[case] user: &str,
///     #[values(1, 2)] turns: usize,
///     #[ignore] gateway: GatewayPersistenceAdapter,
/// ) -> Result<(), PersistError> {
///     let session = gateway.create_session(user, "AgentA").await?;
///     for _ in 0..turns {
///         gateway.send_message(&session.id, "hi", user).await?;
///     }
///     Ok(())
/// }
/// # fn main() {}
/// ```
///
/// rstest takes every parameter it does not see marked `#[ignore]` for one of its fixtures:
/// mark those `#[persistence_test]` injects. See [the guide](crate::guide::first_test).
pub use persist_macros::persistence_test as test;

/// Asserts a [`DataSnapshot`](inspect::DataSnapshot) with insta (the `insta` feature): `cargo insta review` shows a
/// changed snapshot, and insta's settings (`INSTA_UPDATE`, `INSTA_FORCE_PASS`, …) apply.
///
/// Without a name, the snapshot is named after the running `#[persistence_test]`
/// ([`DataSnapshot::test_name`](inspect::DataSnapshot::test_name)), so the tests of a backend matrix share one snapshot file and
/// each run compares with it. A second snapshot in the same test needs a name of its own:
/// `assert_data_snapshot!("after_reply", snapshot)`.
///
/// ```
/// use persist_core::prelude::*;
/// use persist_core::assert_data_snapshot;
///
/// #[persistence_test(agents = ["AgentA"], backends = ["sqlite", "postgres", "mysql"])]
/// async fn a_reply_lands_in_both_databases(
///     gateway: GatewayPersistenceAdapter,
///     inspector: CrossDatabaseInspector,
/// ) -> Result<(), PersistError> {
///     let session = gateway.create_session("alice", "AgentA").await?;
///     gateway.send_message(&session.id, "hello", "alice").await?;
///     assert_data_snapshot!(inspector.snapshot().await?);
///     Ok(())
/// }
/// # fn main() {}
/// ```
#[cfg(feature = "insta")]
#[cfg_attr(docsrs, doc(cfg(feature = "insta")))]
#[macro_export]
macro_rules! assert_data_snapshot {
    ($snapshot:expr $(,)?) => {{
        let snapshot: &$crate::inspect::DataSnapshot = &$snapshot;
        $crate::__private::insta::assert_snapshot!(
            $crate::__private::snapshot_name(snapshot, ::core::module_path!()),
            snapshot.text(),
            ::core::stringify!($snapshot)
        );
    }};
    ($name:expr, $snapshot:expr $(,)?) => {{
        let snapshot: &$crate::inspect::DataSnapshot = &$snapshot;
        $crate::__private::insta::assert_snapshot!(
            ::std::string::String::from($name),
            snapshot.text(),
            ::core::stringify!($snapshot)
        );
    }};
}

/// The guide, chapter by chapter; every sample in it compiles and runs as a doc test.
///
/// 1. [`first_test`](guide::first_test): a test, its parameters, fixtures and seeds, cases,
///    the backend matrix, rstest.
/// 2. [`own_system`](guide::own_system): your own system, described once; layouts for the
///    stores real agent frameworks ship; a mesh of several frameworks.
/// 3. [`inspecting`](guide::inspecting): the checks and assertions, verdicts on real data,
///    proving a layout.
/// 4. [`migrations`](guide::migrations): round trips, drift, upgrades with data.
/// 5. [`snapshots`](guide::snapshots): what landed, as one text, with insta.
/// 6. [`http`](guide::http): testing a gateway over HTTP.
/// 7. [`backends_and_ci`](guide::backends_and_ci): SQLite, PostgreSQL, MySQL/MariaDB, pools,
///    nextest and partitions, databases that will not drop.
/// 8. [`speed`](guide::speed): what a test costs, and why.
/// 9. [`architecture`](guide::architecture): the crates, the floors, the reference mesh.
/// 10. [`troubleshooting`](guide::troubleshooting): the errors a user meets, and what to do.
#[cfg(any(doc, doctest))]
pub mod guide {
    #[doc = include_str!("../guide/first_test.md")]
    pub mod first_test {}
    #[doc = include_str!("../guide/own_system.md")]
    pub mod own_system {}
    #[doc = include_str!("../guide/inspecting.md")]
    pub mod inspecting {}
    #[doc = include_str!("../guide/migrations.md")]
    pub mod migrations {}
    #[doc = include_str!("../guide/snapshots.md")]
    pub mod snapshots {}
    #[doc = include_str!("../guide/http.md")]
    pub mod http {}
    #[doc = include_str!("../guide/backends_and_ci.md")]
    pub mod backends_and_ci {}
    #[doc = include_str!("../guide/speed.md")]
    pub mod speed {}
    #[doc = include_str!("../guide/architecture.md")]
    pub mod architecture {}
    #[doc = include_str!("../guide/troubleshooting.md")]
    pub mod troubleshooting {}
}

/// What a test file usually needs: `use persist_core::prelude::*;`.
pub mod prelude {
    pub use crate::adapter::{AgentPersistenceAdapter, GatewayPersistenceAdapter};
    pub use crate::db::{DatabaseRole, MultiDatabaseManager};
    pub use crate::error::PersistError;
    pub use crate::inspect::CrossDatabaseInspector;
    #[cfg(feature = "mesh")]
    pub use crate::mesh::{AgentHandle, GatewayComponent};
    pub use crate::persistence_test;
    pub use crate::runner::TestContext;
    pub use crate::system::{Resource, ScriptedLlm, System};
    pub use sea_orm::DatabaseConnection;
}

/// Not public API: what `#[persistence_test]` expands to. It may change in any release.
#[doc(hidden)]
pub mod __private {
    pub use crate::runner::config::{
        Fixture, Flavor, HttpTransport, KeepPolicy, Seed, SeedFuture, Setup, SystemFactory,
        TestConfig, TestReturn,
    };
    pub use crate::runner::prepare::announce;
    pub use crate::runner::run::run_test;
    use crate::runner::{Inject, TestContext, WithAgent, WithoutAgent};
    use crate::system::System;
    #[cfg(feature = "insta")]
    pub use insta;

    /// A snapshot's name for insta: the test's path from the asserting module (`::` as `__`).
    pub fn snapshot_name(
        snapshot: &crate::inspect::DataSnapshot,
        module: &str,
    ) -> Option<::std::string::String> {
        let full = snapshot.test_name()?;
        let relative = full
            .strip_prefix(module)
            .and_then(|rest| rest.strip_prefix("::"))
            .unwrap_or(full);
        Some(relative.replace("::", "__"))
    }

    /// What a test that names no system runs against.
    pub struct NoSystemNamed;

    /// A system to use when a test names none: the reference mesh, with the `mesh` feature.
    #[diagnostic::on_unimplemented(
        message = "this test names no system, and persist-core is built without its `mesh` feature (the default system)",
        label = "no system to run this test against",
        note = "name yours: `#[persistence_test(system = \"MySystem\", …)]`, where `MySystem: System + Default`"
    )]
    pub trait DefaultSystem {
        /// Makes it.
        fn make() -> ::std::sync::Arc<dyn System>;
    }

    #[cfg(feature = "mesh")]
    impl DefaultSystem for NoSystemNamed {
        fn make() -> ::std::sync::Arc<dyn System> {
            ::std::sync::Arc::new(crate::mesh::ReferenceMesh)
        }
    }

    /// Makes the default system `D` (the attribute without `system = "…"`).
    pub fn default_system<D: DefaultSystem>() -> ::std::sync::Arc<dyn System> {
        D::make()
    }

    /// Makes the system `S` (the attribute's `system = "S"`).
    pub fn system_of<S: System + Default>() -> ::std::sync::Arc<dyn System> {
        ::std::sync::Arc::new(S::default())
    }

    /// Builds a parameter that has no `#[agent]`; a failure fails the test with its name.
    pub async fn inject<T>(ctx: &TestContext, param: &str) -> T
    where
        T: Inject,
        T::Agent: WithoutAgent,
    {
        T::inject_async(ctx, None).await.unwrap_or_else(|e| {
            panic!("persistence_test: could not set up parameter `{param}`: {e}")
        })
    }

    /// Compile-time check of a parameter without `#[agent]` (used outside test builds).
    pub fn check_inject<T>()
    where
        T: Inject,
        T::Agent: WithoutAgent,
    {
    }

    /// Compile-time check of a parameter with `#[agent]` (used outside test builds).
    pub fn check_inject_agent<T>()
    where
        T: Inject,
        T::Agent: WithAgent,
    {
    }

    /// Compile-time check of the return type (used outside test builds).
    pub fn check_return<T: TestReturn>() {}

    /// Builds a parameter with `#[agent("Name")]`.
    pub async fn inject_agent<T>(ctx: &TestContext, param: &str, agent: &str) -> T
    where
        T: Inject,
        T::Agent: WithAgent,
    {
        T::inject_async(ctx, Some(agent)).await.unwrap_or_else(|e| {
            panic!(
                "persistence_test: could not set up parameter `{param}` for agent `{agent}`: {e}"
            )
        })
    }
}
