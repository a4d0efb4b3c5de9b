//! Reading requests: the caller's identity, ids, bodies and queries, and the checks on their
//! fields.

use std::collections::HashMap;

use axum::Json;
use axum::extract::rejection::{FormRejection, JsonRejection};
use axum::extract::{FromRequest, FromRequestParts, Path, Request};
use axum::http::StatusCode;
use axum::http::header::AUTHORIZATION;
use axum::http::request::Parts;
use serde_json::{Map, Value};

use super::error::{ApiError, ApiResult};
use super::{HttpApi, MAX_ID_CHARS, MAX_MESSAGE_CHARS, MAX_NAME_CHARS, MAX_USER_ID_CHARS};
use crate::error::PersistError;

// ---------------------------------------------------------------------------------------------
// Extractors

/// The caller, from the identity header or a bearer token.
pub(super) struct User(pub(super) String);

impl FromRequestParts<HttpApi> for User {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, api: &HttpApi) -> ApiResult<Self> {
        let user = if let Some(value) = parts.headers.get(&api.user_header) {
            let value = value.to_str().map_err(|_| {
                ApiError::unauthorized(format!("the {} header is not text", api.user_header))
            })?;
            value.to_owned()
        } else if let Some(value) = parts.headers.get(AUTHORIZATION) {
            let token = value
                .to_str()
                .ok()
                .and_then(|v| {
                    let (scheme, token) = v.split_once(' ')?;
                    scheme.eq_ignore_ascii_case("bearer").then(|| token.trim())
                })
                .filter(|t| !t.is_empty())
                .ok_or_else(|| {
                    ApiError::unauthorized("the Authorization header is not `Bearer <token>`")
                })?;
            match &api.tokens {
                None => token.to_owned(),
                Some(tokens) => tokens
                    .get(token)
                    .cloned()
                    .ok_or_else(|| ApiError::unauthorized("unknown bearer token"))?,
            }
        } else {
            return Err(ApiError::unauthorized(format!(
                "no identity: send the {} header or `Authorization: Bearer <token>`",
                api.user_header
            )));
        };
        if user.trim().is_empty()
            || user.trim() != user
            || user.chars().any(char::is_control)
            || user.chars().count() > MAX_USER_ID_CHARS
        {
            return Err(ApiError::unauthorized(format!(
                "not a valid user id (1–{MAX_USER_ID_CHARS} characters, no surrounding spaces or control characters)"
            )));
        }
        Ok(User(user))
    }
}

/// A session id from the path: blank, `null`, `undefined` and over-long ids are `404` without
/// a lookup.
pub(super) struct SessionId(pub(super) String);

impl FromRequestParts<HttpApi> for SessionId {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, api: &HttpApi) -> ApiResult<Self> {
        let Path(id) = Path::<String>::from_request_parts(parts, api)
            .await
            .map_err(|_| ApiError::not_found("no such session"))?;
        checked_id(&id).map(SessionId)
    }
}

pub(super) fn checked_id(id: &str) -> ApiResult<String> {
    let trimmed = id.trim();
    if trimmed.is_empty()
        || trimmed == "null"
        || trimmed == "undefined"
        || id.chars().count() > MAX_ID_CHARS
        || id.chars().any(char::is_control)
    {
        return Err(ApiError::not_found("no such session"));
    }
    Ok(id.to_owned())
}

/// A JSON object body; anything else is a typed 4xx, never a 500.
pub(super) struct JsonFields(pub(super) Map<String, Value>);

impl FromRequest<HttpApi> for JsonFields {
    type Rejection = ApiError;

    async fn from_request(req: Request, api: &HttpApi) -> ApiResult<Self> {
        match Json::<Value>::from_request(req, api).await {
            Ok(Json(Value::Object(fields))) => Ok(JsonFields(fields)),
            Ok(Json(_)) => Err(ApiError::invalid("body", "the body must be a JSON object")),
            Err(rejection) => Err(json_rejection(rejection)),
        }
    }
}

fn json_rejection(rejection: JsonRejection) -> ApiError {
    match rejection {
        JsonRejection::MissingJsonContentType(_) => ApiError::new(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "unsupported_media_type",
            "send the body as `Content-Type: application/json`",
        ),
        JsonRejection::JsonSyntaxError(e) => ApiError::new(
            StatusCode::BAD_REQUEST,
            "malformed_body",
            format!("the body is not valid JSON: {}", e.body_text()),
        )
        .field("body"),
        JsonRejection::JsonDataError(e) => ApiError::invalid("body", e.body_text()),
        other => body_rejection(other.status(), other.body_text()),
    }
}

/// A form body (`application/x-www-form-urlencoded`).
pub(super) struct FormFields(pub(super) Map<String, Value>);

impl FromRequest<HttpApi> for FormFields {
    type Rejection = ApiError;

    async fn from_request(req: Request, api: &HttpApi) -> ApiResult<Self> {
        match axum::Form::<Vec<(String, String)>>::from_request(req, api).await {
            Ok(axum::Form(pairs)) => {
                let mut fields = Map::new();
                for (key, value) in pairs {
                    if fields.contains_key(&key) {
                        return Err(ApiError::invalid(&key, format!("{key} is given twice")));
                    }
                    fields.insert(key, Value::String(value));
                }
                Ok(FormFields(fields))
            }
            Err(FormRejection::InvalidFormContentType(_)) => Err(ApiError::new(
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                "unsupported_media_type",
                "send the body as `Content-Type: application/x-www-form-urlencoded`",
            )),
            Err(FormRejection::FailedToDeserializeForm(e)) => {
                Err(ApiError::invalid("body", e.body_text()))
            }
            Err(FormRejection::FailedToDeserializeFormBody(e)) => Err(ApiError::new(
                StatusCode::BAD_REQUEST,
                "malformed_body",
                format!("the body is not a valid form: {}", e.body_text()),
            )
            .field("body")),
            Err(other) => Err(body_rejection(other.status(), other.body_text())),
        }
    }
}

/// A body that could not be read: too large, or cut off.
fn body_rejection(status: StatusCode, text: String) -> ApiError {
    if status == StatusCode::PAYLOAD_TOO_LARGE {
        ApiError::new(status, "payload_too_large", "the request body is too large")
    } else {
        ApiError::new(StatusCode::BAD_REQUEST, "malformed_body", text).field("body")
    }
}

/// The query string as text pairs; a malformed one is `400`.
pub(super) struct QueryFields(pub(super) HashMap<String, String>);

impl FromRequestParts<HttpApi> for QueryFields {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _api: &HttpApi) -> ApiResult<Self> {
        let query = parts.uri.query().unwrap_or("");
        let pairs: Vec<(String, String)> = serde_urlencoded::from_str(query).map_err(|e| {
            ApiError::new(
                StatusCode::BAD_REQUEST,
                "malformed_body",
                format!("the query string is malformed: {e}"),
            )
        })?;
        Ok(QueryFields(pairs.into_iter().collect()))
    }
}

// ---------------------------------------------------------------------------------------------
// Field checks

/// A string field; `None` when absent or JSON `null`.
pub(super) fn string_field(fields: &Map<String, Value>, name: &str) -> ApiResult<Option<String>> {
    match fields.get(name) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) => Ok(Some(s.clone())),
        Some(_) => Err(ApiError::invalid(name, format!("{name} must be a string"))),
    }
}

pub(super) fn required(fields: &Map<String, Value>, name: &str) -> ApiResult<String> {
    string_field(fields, name)?
        .ok_or_else(|| ApiError::invalid(name, format!("{name} is required")))
}

pub(super) fn checked_message(message: String) -> ApiResult<String> {
    if message.trim().is_empty() {
        return Err(ApiError::invalid("message", "message must not be empty"));
    }
    let length = message.chars().count();
    if length > MAX_MESSAGE_CHARS {
        return Err(PersistError::MessageTooLong {
            length,
            max: MAX_MESSAGE_CHARS,
        }
        .into());
    }
    Ok(message)
}

pub(super) fn checked_name(name: String) -> ApiResult<String> {
    let trimmed = name.trim();
    let length = trimmed.chars().count();
    if length == 0 || length > MAX_NAME_CHARS {
        return Err(ApiError::invalid(
            "name",
            format!("name must be 1–{MAX_NAME_CHARS} characters after trimming; it is {length}"),
        ));
    }
    Ok(trimmed.to_owned())
}

pub(super) fn checked_agent(name: String) -> ApiResult<String> {
    if name.trim().is_empty() {
        return Err(ApiError::invalid(
            "agent_name",
            "agent_name must not be blank",
        ));
    }
    Ok(name)
}

pub(super) fn page_param(
    query: &HashMap<String, String>,
    name: &str,
    default: u64,
    max: u64,
) -> ApiResult<u64> {
    match query.get(name) {
        None => Ok(default),
        Some(text) => match text.trim().parse::<u64>() {
            Ok(n) if (1..=max).contains(&n) => Ok(n),
            _ => Err(ApiError::invalid(
                name,
                format!("{name} must be a whole number from 1 to {max}"),
            )),
        },
    }
}
