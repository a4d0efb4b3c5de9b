//! Errors: every failure is JSON of one shape, [`ErrorBody`].

use axum::Json;
use axum::http::header::WWW_AUTHENTICATE;
use axum::http::{HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use serde::{Deserialize, Serialize};

use crate::error::PersistError;

/// The body of every error answer: `{ "error": { … } }`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ErrorBody {
    /// The error.
    pub error: ErrorDetail,
}

/// What went wrong, in an [`ErrorBody`].
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ErrorDetail {
    /// The HTTP status, repeated.
    pub status: u16,
    /// A stable, machine-readable code: `unauthorized`, `not_found`, `invalid_input`,
    /// `message_too_long`, `unknown_agent`, `malformed_body`, `unsupported_media_type`,
    /// `payload_too_large`, `method_not_allowed`, `model_failed`, `agent_unavailable`,
    /// `not_implemented` or `internal`.
    pub code: String,
    /// A sentence for people.
    pub message: String,
    /// The request field at fault, if one is.
    pub field: Option<String>,
}

/// An error answer of the API.
#[derive(Debug)]
pub(crate) struct ApiError {
    status: StatusCode,
    code: &'static str,
    message: String,
    field: Option<String>,
}

impl ApiError {
    pub(super) fn new(status: StatusCode, code: &'static str, message: impl Into<String>) -> Self {
        ApiError {
            status,
            code,
            message: message.into(),
            field: None,
        }
    }

    pub(super) fn field(mut self, field: &str) -> Self {
        self.field = Some(field.to_owned());
        self
    }

    pub(super) fn not_found(message: impl Into<String>) -> Self {
        Self::new(StatusCode::NOT_FOUND, "not_found", message)
    }

    pub(super) fn invalid(field: &str, message: impl Into<String>) -> Self {
        Self::new(StatusCode::UNPROCESSABLE_ENTITY, "invalid_input", message).field(field)
    }

    pub(super) fn unauthorized(message: impl Into<String>) -> Self {
        Self::new(StatusCode::UNAUTHORIZED, "unauthorized", message)
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let body = ErrorBody {
            error: ErrorDetail {
                status: self.status.as_u16(),
                code: self.code.to_owned(),
                message: self.message,
                field: self.field,
            },
        };
        let mut response = (self.status, Json(body)).into_response();
        if self.status == StatusCode::UNAUTHORIZED {
            response
                .headers_mut()
                .insert(WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
        }
        response
    }
}

/// The message of a `model_failed` answer. The error shape has no field for the agent, so the
/// message carries it; [`parse_model_failed`] reads it back, and the two stay together here.
fn model_failed(agent: &str, reason: &str) -> String {
    format!("agent {agent}: the model failed: {reason}; nothing was stored")
}

/// The agent and the model's error in a `model_failed` message, if it is one.
pub(crate) fn parse_model_failed(message: &str) -> Option<(String, String)> {
    let (agent, reason) = message
        .strip_prefix("agent ")?
        .split_once(": the model failed: ")?;
    let reason = reason
        .strip_suffix("; nothing was stored")
        .unwrap_or(reason);
    Some((agent.to_owned(), reason.to_owned()))
}

impl From<PersistError> for ApiError {
    fn from(error: PersistError) -> Self {
        match error {
            PersistError::SessionNotFound { .. } => ApiError::not_found("no such session"),
            PersistError::InvalidInput { field, reason } => {
                ApiError::invalid(field, format!("{field} {reason}"))
            }
            PersistError::MessageTooLong { length, max } => ApiError::new(
                StatusCode::UNPROCESSABLE_ENTITY,
                "message_too_long",
                format!("message is {length} characters long; the limit is {max}"),
            )
            .field("message"),
            PersistError::UnknownAgent { name, .. } => ApiError::new(
                StatusCode::UNPROCESSABLE_ENTITY,
                "unknown_agent",
                format!("there is no agent named {name:?}"),
            )
            .field("agent_name"),
            PersistError::Llm { agent, reason } => ApiError::new(
                StatusCode::BAD_GATEWAY,
                "model_failed",
                model_failed(&agent, &reason),
            ),
            PersistError::AgentUnavailable { agent } => ApiError::new(
                StatusCode::SERVICE_UNAVAILABLE,
                "agent_unavailable",
                format!("agent {agent} is not running"),
            ),
            PersistError::Unsupported { operation, reason } => ApiError::new(
                StatusCode::NOT_IMPLEMENTED,
                "not_implemented",
                format!("{operation} is not supported: {reason}"),
            ),
            other => {
                // The detail stays in the log: database errors are not for API clients.
                tracing::error!(error = %other, "gateway API: internal error");
                ApiError::new(
                    StatusCode::INTERNAL_SERVER_ERROR,
                    "internal",
                    "the gateway failed; nothing of this request was kept",
                )
            }
        }
    }
}

pub(super) type ApiResult<T> = Result<T, ApiError>;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_model_failure_reads_back_as_written() {
        let message = model_failed("Agent: B", "timed out: 30s");
        assert_eq!(
            parse_model_failed(&message),
            Some(("Agent: B".to_owned(), "timed out: 30s".to_owned()))
        );
        assert_eq!(parse_model_failed("something else"), None);
    }
}
