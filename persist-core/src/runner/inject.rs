//! [`Inject`]: how a test's parameters are built, by their type.

use futures::future::LocalBoxFuture;
use sea_orm::DatabaseConnection;

use super::TestContext;
use crate::adapter::{AgentPersistenceAdapter, GatewayPersistenceAdapter};
use crate::db::MultiDatabaseManager;
use crate::error::{PersistError, Result};
use crate::inspect::CrossDatabaseInspector;
use crate::system::{Resource, ScriptedLlm};

/// A type that a `#[persistence_test]` can take as a parameter, by value or by `&`.
///
/// Implement [`inject`](Self::inject), or, for a value that needs async work (a client that
/// connects, a row read from a database), [`inject_async`](Self::inject_async); the attribute
/// calls `inject_async`, which by default calls `inject`.
///
/// ```
/// use futures::future::LocalBoxFuture;
/// use persist_core::{Inject, NoAgent, PersistError, TestContext};
///
/// /// How many sessions the gateway holds when the body starts (after any seed).
/// struct SessionsAtStart(u64);
///
/// impl Inject for SessionsAtStart {
///     type Agent = NoAgent;
///     fn inject_async<'a>(
///         ctx: &'a TestContext,
///         _agent: Option<&'a str>,
///     ) -> LocalBoxFuture<'a, Result<Self, PersistError>> {
///         Box::pin(async move {
///             Ok(SessionsAtStart(ctx.inspector().database_stats().await?.gateway.sessions))
///         })
///     }
/// }
/// ```
///
/// A synchronous one:
///
/// ```
/// use persist_core::{Inject, NoAgent, PersistError, TestContext};
///
/// /// The gateway's agent names, as a test sees them.
/// struct AgentNames(Vec<String>);
///
/// impl Inject for AgentNames {
///     type Agent = NoAgent;
///     fn inject(ctx: &TestContext, _agent: Option<&str>) -> Result<Self, PersistError> {
///         Ok(AgentNames(ctx.manager().agent_names().map(str::to_owned).collect()))
///     }
/// }
/// ```
#[diagnostic::on_unimplemented(
    message = "`{Self}` cannot be injected into a `#[persistence_test]`",
    label = "not injectable",
    note = "injectable: GatewayPersistenceAdapter, CrossDatabaseInspector, MultiDatabaseManager, TestContext, AgentPersistenceAdapter (with #[agent(\"Name\")]), DatabaseConnection (the gateway's, or an agent's with #[agent(\"Name\")]), Resource<T> (a value the system offers), HttpClient (with the `http` feature, when the system serves HTTP), MigrationCheck<M> (migration checks for migrator M on the test's backend; MigrationCheck alone for the gateway's migrations, or an agent store's with #[agent(\"Name\")]), and with the reference mesh ScriptedLlm, GatewayComponent and AgentHandle (with #[agent(\"Name\")]), by value or by `&`",
    note = "to inject a value your system offers, take `Resource<T>`; to inject your own type, implement `persist_core::Inject` for it"
)]
pub trait Inject: Sized {
    /// Whether the parameter takes `#[agent("Name")]`: [`NoAgent`], [`OptionalAgent`] or
    /// [`RequiredAgent`]. The attribute checks this at compile time.
    type Agent: AgentUse;

    /// Builds the value; `agent` is the name given with `#[agent("Name")]`, if any. A type
    /// that implements only [`inject_async`](Self::inject_async) answers
    /// [`PersistError::Unsupported`] here.
    fn inject(ctx: &TestContext, agent: Option<&str>) -> Result<Self> {
        let _ = (ctx, agent);
        Err(PersistError::Unsupported {
            operation: "injecting synchronously",
            reason: format!(
                "`{}` is built by `Inject::inject_async`",
                std::any::type_name::<Self>()
            ),
        })
    }

    /// Builds the value with async work, after the system started and any seed ran. By
    /// default, [`inject`](Self::inject).
    fn inject_async<'a>(
        ctx: &'a TestContext,
        agent: Option<&'a str>,
    ) -> LocalBoxFuture<'a, Result<Self>> {
        Box::pin(async move { Self::inject(ctx, agent) })
    }
}

mod sealed {
    pub trait Sealed {}
}

/// Whether an injectable type takes `#[agent("Name")]`.
pub trait AgentUse: sealed::Sealed {}

/// The parameter takes no `#[agent]`.
#[derive(Debug)]
pub enum NoAgent {}
/// The parameter may take `#[agent]` (without it, it means the gateway's).
#[derive(Debug)]
pub enum OptionalAgent {}
/// The parameter needs `#[agent]`.
#[derive(Debug)]
pub enum RequiredAgent {}

impl sealed::Sealed for NoAgent {}
impl sealed::Sealed for OptionalAgent {}
impl sealed::Sealed for RequiredAgent {}
impl AgentUse for NoAgent {}
impl AgentUse for OptionalAgent {}
impl AgentUse for RequiredAgent {}

/// Implemented by the [`AgentUse`] kinds that work without `#[agent]`.
#[diagnostic::on_unimplemented(
    message = "this parameter needs `#[agent(\"Name\")]` to say which agent it is for",
    label = "add `#[agent(\"Name\")]` before this parameter"
)]
pub trait WithoutAgent: AgentUse {}
impl WithoutAgent for NoAgent {}
impl WithoutAgent for OptionalAgent {}

/// Implemented by the [`AgentUse`] kinds that accept `#[agent]`.
#[diagnostic::on_unimplemented(
    message = "this parameter's type takes no agent",
    label = "this type takes no `#[agent(...)]`: remove it from the parameter"
)]
pub trait WithAgent: AgentUse {}
impl WithAgent for OptionalAgent {}
impl WithAgent for RequiredAgent {}

macro_rules! inject_plain {
    ($($ty:ty => |$ctx:ident| $make:expr;)*) => {$(
        impl Inject for $ty {
            type Agent = NoAgent;
            fn inject($ctx: &TestContext, _agent: Option<&str>) -> Result<Self> {
                $make
            }
        }
    )*};
}

inject_plain! {
    GatewayPersistenceAdapter => |ctx| ctx.adapter();
    CrossDatabaseInspector => |ctx| Ok(ctx.inspector());
    MultiDatabaseManager => |ctx| Ok(ctx.manager().clone());
    ScriptedLlm => |ctx| ctx.resource::<ScriptedLlm>().cloned();
    TestContext => |ctx| Ok(ctx.clone());
}

#[cfg(feature = "http")]
inject_plain! {
    crate::http::HttpClient => |ctx| ctx.http();
}

/// The agent named by `#[agent("Name")]`, for a parameter that needs one (`ty` names it in the
/// error).
pub(crate) fn required<'a>(agent: Option<&'a str>, ty: &str) -> Result<&'a str> {
    agent.ok_or_else(|| PersistError::InvalidInput {
        field: "agent",
        reason: format!("an {ty} needs #[agent(\"Name\")]"),
    })
}

impl Inject for AgentPersistenceAdapter {
    type Agent = RequiredAgent;
    fn inject(ctx: &TestContext, agent: Option<&str>) -> Result<Self> {
        ctx.agent_adapter(required(agent, "AgentPersistenceAdapter")?)
    }
}

impl<T: Clone + Send + Sync + 'static> Inject for Resource<T> {
    type Agent = OptionalAgent;
    fn inject(ctx: &TestContext, agent: Option<&str>) -> Result<Self> {
        match agent {
            None => ctx.resource::<T>().cloned().map(Resource),
            Some(agent) => ctx.resource_for::<T>(agent).cloned().map(Resource),
        }
    }
}

impl Inject for DatabaseConnection {
    type Agent = OptionalAgent;
    fn inject(ctx: &TestContext, agent: Option<&str>) -> Result<Self> {
        match agent {
            None => Ok(ctx.manager().gateway_connection().clone()),
            Some(name) => Ok(ctx.manager().agent_connection(name)?.clone()),
        }
    }
}
