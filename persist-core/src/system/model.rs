//! The model seam: [`LanguageModel`], what a request carries, and two implementations that any
//! system can use: [`ScriptedLlm`] (deterministic, scriptable) and [`Recording`] (a proxy that
//! records what any model was shown).

use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use async_trait::async_trait;
use serde::Serialize;

/// A language model, as the agents of a system under test call it.
///
/// [`ScriptedLlm`] implements it; so can a user's own model, a stub, or a proxy in front of a
/// real one. Agents hold it as `Arc<dyn LanguageModel>`.
///
/// ```
/// use persist_core::async_trait;
/// use persist_core::system::{LanguageModel, LlmError, LlmRequest};
///
/// /// Answers in capitals.
/// struct Shouty;
///
/// #[async_trait]
/// impl LanguageModel for Shouty {
///     async fn complete(&self, request: LlmRequest) -> Result<String, LlmError> {
///         Ok(request.message.to_uppercase())
///     }
/// }
/// ```
#[async_trait]
pub trait LanguageModel: Send + Sync + 'static {
    /// Answers one request.
    async fn complete(&self, request: LlmRequest) -> Result<String, LlmError>;
}

/// Something that remembers every request a model was shown, in order: [`ScriptedLlm`] and
/// [`Recording`]. [`assert_llm_context_isolated`](crate::assertions::assert_llm_context_isolated)
/// reads it.
pub trait RequestLog {
    /// Every request so far, in the order they arrived.
    fn requests(&self) -> Vec<LlmRequest>;

    /// The requests made for one gateway session.
    fn requests_for_session(&self, session_id: &str) -> Vec<LlmRequest> {
        self.requests()
            .into_iter()
            .filter(|r| r.session_id == session_id)
            .collect()
    }
}

/// A proxy that records every request to the model behind it, then forwards it. Clones share
/// one record.
///
/// ```
/// # tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(async {
/// use persist_core::system::{LanguageModel, LlmRequest, Recording, RequestLog, ScriptedLlm};
///
/// let model = Recording::new(ScriptedLlm::new());
/// let request = LlmRequest::new("AgentA", "s1", "alice", "t1", "hello");
/// assert_eq!(model.complete(request).await.unwrap(), "Received: hello");
/// assert_eq!(model.requests_for_session("s1").len(), 1);
/// # });
/// ```
#[derive(Debug)]
pub struct Recording<M> {
    inner: Arc<M>,
    requests: Arc<Mutex<Vec<LlmRequest>>>,
}

impl<M> Clone for Recording<M> {
    fn clone(&self) -> Self {
        Recording {
            inner: self.inner.clone(),
            requests: self.requests.clone(),
        }
    }
}

impl<M: LanguageModel> Recording<M> {
    /// Records what `inner` is asked.
    pub fn new(inner: M) -> Self {
        Recording {
            inner: Arc::new(inner),
            requests: Arc::default(),
        }
    }

    /// The model behind the proxy.
    pub fn inner(&self) -> &M {
        &self.inner
    }
}

#[async_trait]
impl<M: LanguageModel> LanguageModel for Recording<M> {
    async fn complete(&self, request: LlmRequest) -> Result<String, LlmError> {
        self.requests
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .push(request.clone());
        self.inner.complete(request).await
    }
}

impl<M> RequestLog for Recording<M> {
    fn requests(&self) -> Vec<LlmRequest> {
        self.requests
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }
}

/// One message of the context an agent sends to the model.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct ContextMessage {
    /// `user` or `assistant`.
    pub role: String,
    /// The text.
    pub content: String,
}

/// Everything the model was shown for one completion.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct LlmRequest {
    /// The agent asking.
    pub agent: String,
    /// The gateway session the request belongs to.
    pub session_id: String,
    /// The user of that session.
    pub user_id: String,
    /// The gateway task (turn).
    pub task_id: String,
    /// The new user message.
    pub message: String,
    /// The history the agent sent along, oldest first.
    pub context: Vec<ContextMessage>,
}

impl LlmRequest {
    /// A request with no history.
    pub fn new(
        agent: impl Into<String>,
        session_id: impl Into<String>,
        user_id: impl Into<String>,
        task_id: impl Into<String>,
        message: impl Into<String>,
    ) -> Self {
        LlmRequest {
            agent: agent.into(),
            session_id: session_id.into(),
            user_id: user_id.into(),
            task_id: task_id.into(),
            message: message.into(),
            context: Vec::new(),
        }
    }

    /// The request with `context` as its history.
    pub fn with_context(mut self, context: Vec<ContextMessage>) -> Self {
        self.context = context;
        self
    }
}

/// A failure of a model.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct LlmError(pub String);

#[derive(Debug)]
enum Scripted {
    Reply(String),
    Fail(String),
}

#[derive(Debug, Default)]
struct State {
    scripts: HashMap<String, VecDeque<Scripted>>,
    requests: Vec<LlmRequest>,
    latency: Duration,
}

/// A deterministic model server.
///
/// By default it replies `Received: {message}`. Replies and failures can be queued per agent,
/// and every request is recorded with the context it carried, so a test can prove what each
/// agent was shown. Clones share one script and one record.
///
/// ```
/// # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
/// use persist_core::system::{LlmRequest, ScriptedLlm};
///
/// let llm = ScriptedLlm::new();
/// llm.queue_reply("AgentA", "Bonjour");
/// let request = LlmRequest {
///     agent: "AgentA".into(),
///     session_id: "s1".into(),
///     user_id: "alice".into(),
///     task_id: "t1".into(),
///     message: "hello".into(),
///     context: vec![],
/// };
/// assert_eq!(llm.complete(request.clone()).await.unwrap(), "Bonjour");
/// assert_eq!(llm.complete(request).await.unwrap(), "Received: hello");
/// assert_eq!(llm.requests().len(), 2);
/// # });
/// ```
#[derive(Clone, Debug, Default)]
pub struct ScriptedLlm {
    state: Arc<Mutex<State>>,
}

impl ScriptedLlm {
    /// A model with no script: every reply is `Received: {message}`.
    pub fn new() -> Self {
        Self::default()
    }

    fn state(&self) -> MutexGuard<'_, State> {
        // A panic while holding the lock cannot leave `State` inconsistent (every update is a
        // single push or pop), so a poisoned lock is still safe to use.
        self.state
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Queues `reply` as the next answer to `agent`.
    pub fn queue_reply(&self, agent: &str, reply: impl Into<String>) {
        self.push(agent, Scripted::Reply(reply.into()));
    }

    /// Makes the next request from `agent` fail with `reason`.
    pub fn queue_failure(&self, agent: &str, reason: impl Into<String>) {
        self.push(agent, Scripted::Fail(reason.into()));
    }

    fn push(&self, agent: &str, item: Scripted) {
        self.state()
            .scripts
            .entry(agent.to_owned())
            .or_default()
            .push_back(item);
    }

    /// Makes every completion wait `latency` first (to let concurrent turns interleave).
    pub fn set_latency(&self, latency: Duration) {
        self.state().latency = latency;
    }

    /// Answers one request: the next scripted item for its agent, or the default reply.
    pub async fn complete(&self, request: LlmRequest) -> Result<String, LlmError> {
        let (latency, scripted) = {
            let mut state = self.state();
            let scripted = state
                .scripts
                .get_mut(&request.agent)
                .and_then(VecDeque::pop_front);
            state.requests.push(request.clone());
            (state.latency, scripted)
        };
        if !latency.is_zero() {
            tokio::time::sleep(latency).await;
        }
        match scripted {
            Some(Scripted::Reply(reply)) => Ok(reply),
            Some(Scripted::Fail(reason)) => Err(LlmError(reason)),
            None => Ok(format!("Received: {}", request.message)),
        }
    }

    /// Every request so far, in the order they arrived.
    pub fn requests(&self) -> Vec<LlmRequest> {
        self.state().requests.clone()
    }

    /// The requests made for one gateway session.
    pub fn requests_for_session(&self, session_id: &str) -> Vec<LlmRequest> {
        self.filtered(|r| r.session_id == session_id)
    }

    /// The requests made by one agent.
    pub fn requests_for_agent(&self, agent: &str) -> Vec<LlmRequest> {
        self.filtered(|r| r.agent == agent)
    }

    fn filtered(&self, keep: impl Fn(&LlmRequest) -> bool) -> Vec<LlmRequest> {
        self.state()
            .requests
            .iter()
            .filter(|r| keep(r))
            .cloned()
            .collect()
    }

    /// Scripted items not yet used, per agent.
    pub fn pending_scripts(&self) -> usize {
        self.state().scripts.values().map(VecDeque::len).sum()
    }
}

#[async_trait]
impl LanguageModel for ScriptedLlm {
    async fn complete(&self, request: LlmRequest) -> Result<String, LlmError> {
        ScriptedLlm::complete(self, request).await
    }
}

impl RequestLog for ScriptedLlm {
    fn requests(&self) -> Vec<LlmRequest> {
        ScriptedLlm::requests(self)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn request(agent: &str, message: &str) -> LlmRequest {
        LlmRequest {
            agent: agent.into(),
            session_id: format!("{agent}-session"),
            user_id: "u".into(),
            task_id: "t".into(),
            message: message.into(),
            context: vec![],
        }
    }

    #[tokio::test]
    async fn scripts_are_per_agent_and_in_order() {
        let llm = ScriptedLlm::new();
        llm.queue_reply("A", "first");
        llm.queue_failure("A", "boom");
        llm.queue_reply("B", "for b");
        assert_eq!(llm.complete(request("B", "x")).await.unwrap(), "for b");
        assert_eq!(llm.complete(request("A", "x")).await.unwrap(), "first");
        assert_eq!(
            llm.complete(request("A", "x")).await,
            Err(LlmError("boom".into()))
        );
        assert_eq!(
            llm.complete(request("A", "hi")).await.unwrap(),
            "Received: hi"
        );
        assert_eq!(llm.pending_scripts(), 0);
        assert_eq!(llm.requests_for_agent("A").len(), 3);
        assert_eq!(llm.requests_for_session("B-session").len(), 1);
    }
}
