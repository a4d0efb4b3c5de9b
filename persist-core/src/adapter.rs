//! The adapters tests drive a system through: [`GatewayPersistenceAdapter`] (the gateway as an
//! API client would use it) and [`AgentPersistenceAdapter`] (one agent, directly).

use std::fmt;
use std::sync::Arc;

use crate::error::Result;
use crate::inspect::{AgentMessageRow, AgentSessionRow, CrossDatabaseInspector};
use crate::system::{AgentApi, AgentRequest, ChatMessage, GatewayApi, Session, Turn};

/// An API-like interface over the system's gateway ([`GatewayApi`]), scoped to the calling
/// user.
///
/// Every call takes the user id; another user's session behaves exactly like one that does not
/// exist ([`PersistError::SessionNotFound`](crate::PersistError::SessionNotFound), or `false`
/// from [`delete_session`](Self::delete_session)).
#[derive(Clone)]
pub struct GatewayPersistenceAdapter {
    api: Arc<dyn GatewayApi>,
}

impl fmt::Debug for GatewayPersistenceAdapter {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("GatewayPersistenceAdapter")
            .finish_non_exhaustive()
    }
}

impl GatewayPersistenceAdapter {
    /// An adapter over a gateway (the reference mesh's `GatewayComponent`, or yours).
    pub fn new(api: impl GatewayApi) -> Self {
        Self::from_arc(Arc::new(api))
    }

    /// An adapter over a shared gateway.
    pub fn from_arc(api: Arc<dyn GatewayApi>) -> Self {
        GatewayPersistenceAdapter { api }
    }

    /// The gateway API underneath.
    pub fn api(&self) -> &dyn GatewayApi {
        &*self.api
    }

    /// The gateway as `user_id` sees it: every call of the handle is that user's, so a user id
    /// can never be passed where a session id goes.
    ///
    /// ```
    /// use persist_core::prelude::*;
    ///
    /// #[persistence_test(agents = ["AgentA"])]
    /// async fn alice_talks(gateway: GatewayPersistenceAdapter) -> Result<(), PersistError> {
    ///     let alice = gateway.user("alice");
    ///     let session = alice.create_session("AgentA").await?;
    ///     alice.send_message(&session.id, "hello").await?;
    ///     assert_eq!(alice.session_messages(&session.id).await?.len(), 2);
    ///     // Bob does not see it: exactly like a session that does not exist.
    ///     assert!(gateway.user("bob").get_session(&session.id).await.is_err());
    ///     Ok(())
    /// }
    /// # fn main() {}
    /// ```
    pub fn user(&self, user_id: impl Into<String>) -> UserGateway {
        UserGateway {
            api: self.api.clone(),
            user_id: user_id.into(),
        }
    }

    /// Creates a session for `user_id` with `agent_name`.
    pub async fn create_session(&self, user_id: &str, agent_name: &str) -> Result<Session> {
        self.api.create_session(user_id, agent_name).await
    }

    /// Sends `message` in a session and waits for the agent's reply. The result carries the
    /// reply's content, the session id and the turn's task id.
    pub async fn send_message(
        &self,
        session_id: &str,
        message: &str,
        user_id: &str,
    ) -> Result<Turn> {
        self.api.send_message(user_id, session_id, message).await
    }

    /// Makes a session the user's active one.
    pub async fn switch_session(&self, session_id: &str, user_id: &str) -> Result<Session> {
        self.api.switch_session(user_id, session_id).await
    }

    /// The user's sessions, most recently updated first.
    pub async fn list_sessions(&self, user_id: &str) -> Result<Vec<Session>> {
        self.api.list_sessions(user_id).await
    }

    /// One session.
    pub async fn get_session(&self, session_id: &str, user_id: &str) -> Result<Session> {
        self.api.get_session(user_id, session_id).await
    }

    /// A session's messages, oldest first.
    pub async fn session_messages(
        &self,
        session_id: &str,
        user_id: &str,
    ) -> Result<Vec<ChatMessage>> {
        self.api.session_messages(user_id, session_id).await
    }

    /// A session's messages, oldest first.
    #[deprecated(note = "renamed `session_messages`, like `GatewayApi::session_messages`")]
    pub async fn get_session_messages(
        &self,
        session_id: &str,
        user_id: &str,
    ) -> Result<Vec<ChatMessage>> {
        self.session_messages(session_id, user_id).await
    }

    /// Renames a session.
    pub async fn rename_session(
        &self,
        session_id: &str,
        name: &str,
        user_id: &str,
    ) -> Result<Session> {
        self.api.rename_session(user_id, session_id, name).await
    }

    /// Deletes a session in the gateway and in its agent; whether the user had it.
    pub async fn delete_session(&self, session_id: &str, user_id: &str) -> Result<bool> {
        self.api.delete_session(user_id, session_id).await
    }
}

/// The gateway as one user sees it ([`GatewayPersistenceAdapter::user`]): the same calls, with
/// the user given once.
#[derive(Clone)]
pub struct UserGateway {
    api: Arc<dyn GatewayApi>,
    user_id: String,
}

impl fmt::Debug for UserGateway {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("UserGateway")
            .field("user_id", &self.user_id)
            .finish_non_exhaustive()
    }
}

impl UserGateway {
    /// The user.
    pub fn user_id(&self) -> &str {
        &self.user_id
    }

    /// Creates a session with `agent_name`.
    pub async fn create_session(&self, agent_name: &str) -> Result<Session> {
        self.api.create_session(&self.user_id, agent_name).await
    }

    /// Sends `message` in a session and waits for the agent's reply.
    pub async fn send_message(&self, session_id: &str, message: &str) -> Result<Turn> {
        self.api
            .send_message(&self.user_id, session_id, message)
            .await
    }

    /// Makes a session the user's active one.
    pub async fn switch_session(&self, session_id: &str) -> Result<Session> {
        self.api.switch_session(&self.user_id, session_id).await
    }

    /// The user's sessions, most recently updated first.
    pub async fn list_sessions(&self) -> Result<Vec<Session>> {
        self.api.list_sessions(&self.user_id).await
    }

    /// One session.
    pub async fn get_session(&self, session_id: &str) -> Result<Session> {
        self.api.get_session(&self.user_id, session_id).await
    }

    /// A session's messages, oldest first.
    pub async fn session_messages(&self, session_id: &str) -> Result<Vec<ChatMessage>> {
        self.api.session_messages(&self.user_id, session_id).await
    }

    /// Renames a session.
    pub async fn rename_session(&self, session_id: &str, name: &str) -> Result<Session> {
        self.api
            .rename_session(&self.user_id, session_id, name)
            .await
    }

    /// Deletes a session in the gateway and in its agent; whether the user had it.
    pub async fn delete_session(&self, session_id: &str) -> Result<bool> {
        self.api.delete_session(&self.user_id, session_id).await
    }
}

/// One agent of the system, driven directly (not through the gateway), with what it stored
/// read back from its own database through the system's layout: the seed's "agent
/// persistence adapter". Injected with `#[agent("Name")]`.
///
/// ```
/// use persist_core::prelude::*;
/// use persist_core::system::AgentRequest;
///
/// #[persistence_test(agents = ["A"])]
/// async fn an_agent_alone(#[agent("A")] agent: AgentPersistenceAdapter) -> Result<(), PersistError> {
///     let request = AgentRequest {
///         session_id: "s1".into(),
///         user_id: "alice".into(),
///         task_id: "t1".into(),
///         message: "hi".into(),
///     };
///     agent.send(request).await?;
///     assert_eq!(agent.messages("s1").await?.len(), 2);
///     assert_eq!(agent.session("s1").await?.unwrap().user_id, "alice");
///     Ok(())
/// }
/// # fn main() {}
/// ```
#[derive(Clone)]
pub struct AgentPersistenceAdapter {
    api: Arc<dyn AgentApi>,
    inspector: CrossDatabaseInspector,
}

impl fmt::Debug for AgentPersistenceAdapter {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AgentPersistenceAdapter")
            .field("agent", &self.api.name())
            .finish_non_exhaustive()
    }
}

impl AgentPersistenceAdapter {
    /// An adapter over `api`, reading its database with `inspector`.
    pub fn new(api: Arc<dyn AgentApi>, inspector: CrossDatabaseInspector) -> Self {
        AgentPersistenceAdapter { api, inspector }
    }

    /// The agent's name.
    pub fn name(&self) -> &str {
        self.api.name()
    }

    /// The agent API underneath.
    pub fn api(&self) -> &dyn AgentApi {
        &*self.api
    }

    /// Runs one turn at the agent and returns its reply.
    pub async fn send(&self, request: AgentRequest) -> Result<String> {
        self.api.send(request).await
    }

    /// Removes what the agent stores for a session; whether it had one.
    pub async fn delete_session(&self, session_id: &str) -> Result<bool> {
        self.api.delete_session(session_id).await
    }

    /// The agent's stored session for a gateway session, if any.
    pub async fn session(&self, session_id: &str) -> Result<Option<AgentSessionRow>> {
        Ok(self
            .inspector
            .agent_sessions(self.name(), Some(session_id))
            .await?
            .into_iter()
            .next())
    }

    /// Every session the agent stores.
    pub async fn sessions(&self) -> Result<Vec<AgentSessionRow>> {
        self.inspector.agent_sessions(self.name(), None).await
    }

    /// The agent's stored messages of a gateway session, oldest first.
    pub async fn messages(&self, session_id: &str) -> Result<Vec<AgentMessageRow>> {
        self.inspector
            .agent_messages(self.name(), Some(session_id))
            .await
    }
}
