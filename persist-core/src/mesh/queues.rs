//! How the gateway orders work: one queue per session, a gate that shutdown closes, and work that
//! finishes whatever becomes of its caller.

use std::collections::HashMap;
use std::sync::{Arc, Mutex as SyncMutex};

use tokio::sync::{Mutex, OwnedMutexGuard, OwnedRwLockReadGuard, RwLock};

use crate::error::{PersistError, Result};

/// One queue per session (turns and deletes of a session run one at a time, in order), and a
/// gate that shutdown closes after the work in flight.
#[derive(Debug, Default)]
pub(super) struct Queues {
    sessions: SyncMutex<HashMap<String, Arc<Mutex<()>>>>,
    gate: Arc<RwLock<bool>>,
}

/// A session's turn in its queue; the queue entry goes when nobody waits on it.
pub(super) struct QueueSlot {
    queues: Arc<Queues>,
    session_id: String,
    guard: Option<OwnedMutexGuard<()>>,
}

impl Drop for QueueSlot {
    fn drop(&mut self) {
        drop(self.guard.take());
        let mut sessions = self
            .queues
            .sessions
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        if sessions
            .get(&self.session_id)
            .is_some_and(|queue| Arc::strong_count(queue) == 1)
        {
            sessions.remove(&self.session_id);
        }
    }
}

impl Queues {
    pub(super) async fn enter(self: &Arc<Self>, session_id: &str) -> QueueSlot {
        let queue = self
            .sessions
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .entry(session_id.to_owned())
            .or_default()
            .clone();
        QueueSlot {
            queues: self.clone(),
            session_id: session_id.to_owned(),
            guard: Some(queue.lock_owned().await),
        }
    }

    /// Waits until no work is in flight.
    pub(super) async fn wait_idle(&self) {
        drop(self.gate.write().await);
    }

    /// Waits for the work in flight, then closes the gate.
    pub(super) async fn close(&self) {
        *self.gate.write().await = true;
    }

    /// Admits one piece of work; once the gateway is closed, [`open`] refuses it.
    pub(super) async fn admit(&self) -> OwnedRwLockReadGuard<bool> {
        self.gate.clone().read_owned().await
    }
}

/// Refuses work through a closed gateway: its agents are stopped.
pub(super) fn open(gate: &OwnedRwLockReadGuard<bool>, agent: &str) -> Result<()> {
    if **gate {
        return Err(PersistError::AgentUnavailable {
            agent: agent.to_owned(),
        });
    }
    Ok(())
}

/// Runs `work` on a task of its own, so that it finishes whatever becomes of the caller.
pub(super) async fn detached<T: Send + 'static>(
    work: impl std::future::Future<Output = Result<T>> + Send + 'static,
) -> Result<T> {
    match tokio::spawn(work).await {
        Ok(result) => result,
        Err(error) if error.is_panic() => std::panic::resume_unwind(error.into_panic()),
        Err(_) => Err(PersistError::AgentUnavailable {
            agent: "(the runtime is shutting down)".into(),
        }),
    }
}
