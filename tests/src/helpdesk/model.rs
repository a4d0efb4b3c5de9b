//! The helpdesk's own model: canned answers, and failures on request.

use std::sync::Mutex;

use persist_core::async_trait;
use persist_core::system::{LanguageModel, LlmError, LlmRequest};

/// Answers `ack: {message}`, unless told to fail the next request.
#[derive(Debug, Default)]
pub struct CannedModel {
    fail_next: Mutex<Option<String>>,
}

impl CannedModel {
    /// Makes the next request fail with `reason`.
    pub fn fail_next(&self, reason: &str) {
        *self.fail_next.lock().unwrap() = Some(reason.to_owned());
    }
}

#[async_trait]
impl LanguageModel for CannedModel {
    async fn complete(&self, request: LlmRequest) -> Result<String, LlmError> {
        if let Some(reason) = self.fail_next.lock().unwrap().take() {
            return Err(LlmError(reason));
        }
        Ok(format!("ack: {}", request.message))
    }
}
