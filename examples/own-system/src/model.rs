//! The team's own model: a few rules, and a switch to make it fail.

use std::sync::atomic::{AtomicBool, Ordering};

use persist_core::async_trait;
use persist_core::system::{LanguageModel, LlmError, LlmRequest};

/// Answers by rule; remembers how long the conversation has been.
#[derive(Debug, Default)]
pub struct RuleModel {
    down: AtomicBool,
}

impl RuleModel {
    /// Makes every request fail (or succeed again).
    pub fn set_down(&self, down: bool) {
        self.down.store(down, Ordering::SeqCst);
    }
}

#[async_trait]
impl LanguageModel for RuleModel {
    async fn complete(&self, request: LlmRequest) -> Result<String, LlmError> {
        if self.down.load(Ordering::SeqCst) {
            return Err(LlmError("the model is down".into()));
        }
        let turn = request.context.len() / 2 + 1;
        Ok(if request.message.contains("refund") {
            format!("[{turn}] Refunds take five days.")
        } else {
            format!("[{turn}] Noted: {}", request.message)
        })
    }
}
