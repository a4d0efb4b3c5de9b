//! [`GatewayPersistenceAdapter`]: the gateway as an API client would use it.

use crate::error::Result;
use crate::mesh::{ChatMessage, GatewayComponent, Session, Turn};

/// An API-like interface over the gateway component, scoped to the calling user.
///
/// Every call takes the user id; another user's session behaves exactly like one that does not
/// exist ([`PersistError::SessionNotFound`](crate::PersistError::SessionNotFound), or `false`
/// from [`delete_session`](Self::delete_session)).
#[derive(Clone, Debug)]
pub struct GatewayPersistenceAdapter {
    gateway: GatewayComponent,
}

impl GatewayPersistenceAdapter {
    /// An adapter over `gateway`.
    pub fn new(gateway: GatewayComponent) -> Self {
        GatewayPersistenceAdapter { gateway }
    }

    /// The gateway component underneath.
    pub fn gateway(&self) -> &GatewayComponent {
        &self.gateway
    }

    /// Creates a session for `user_id` with `agent_name`.
    pub async fn create_session(&self, user_id: &str, agent_name: &str) -> Result<Session> {
        self.gateway.create_session(user_id, agent_name).await
    }

    /// Sends `message` in a session and waits for the agent's reply. The result carries the
    /// reply's content, the session id and the turn's task id.
    pub async fn send_message(
        &self,
        session_id: &str,
        message: &str,
        user_id: &str,
    ) -> Result<Turn> {
        self.gateway
            .send_message(user_id, session_id, message)
            .await
    }

    /// Makes a session the user's active one.
    pub async fn switch_session(&self, session_id: &str, user_id: &str) -> Result<Session> {
        self.gateway.switch_session(user_id, session_id).await
    }

    /// The user's sessions, most recently updated first.
    pub async fn list_sessions(&self, user_id: &str) -> Result<Vec<Session>> {
        self.gateway.list_sessions(user_id).await
    }

    /// One session.
    pub async fn get_session(&self, session_id: &str, user_id: &str) -> Result<Session> {
        self.gateway.get_session(user_id, session_id).await
    }

    /// A session's messages, oldest first.
    pub async fn get_session_messages(
        &self,
        session_id: &str,
        user_id: &str,
    ) -> Result<Vec<ChatMessage>> {
        self.gateway.session_messages(user_id, session_id).await
    }

    /// Renames a session.
    pub async fn rename_session(
        &self,
        session_id: &str,
        name: &str,
        user_id: &str,
    ) -> Result<Session> {
        self.gateway.rename_session(user_id, session_id, name).await
    }

    /// Deletes a session in the gateway and in its agent; whether the user had it.
    pub async fn delete_session(&self, session_id: &str, user_id: &str) -> Result<bool> {
        self.gateway.delete_session(user_id, session_id).await
    }
}
