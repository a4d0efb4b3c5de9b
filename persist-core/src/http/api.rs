//! The gateway's HTTP API, `/api/v1`: an axum [`Router`] over any [`GatewayApi`].
//!
//! The reference mesh serves it ([`ReferenceMesh`](crate::mesh::ReferenceMesh) offers it to
//! tests), and any system can serve its own [`GatewayApi`] with it. [`HttpGateway`](super::HttpGateway) is its
//! client. The routes, their bodies and their answers are in [`ROUTES`] and in the OpenAPI
//! document [`openapi`] builds from them (served at `GET /api/v1/openapi.json`).
//!
//! # Identity
//! Every route but the document needs the caller's user id, from the `X-User-Id` header (the
//! name can be changed) or from `Authorization: Bearer <token>`. By default a bearer token is
//! the user id itself; with [`HttpApi::bearer_tokens`], only the listed tokens are accepted,
//! each for its user. A request without an identity, or with one that is not valid, is `401`.
//!
//! # Errors
//! Every error, including a malformed body, an unknown route and a refused method, is JSON of
//! one shape ([`ErrorBody`]):
//!
//! ```json
//! { "error": { "status": 422, "code": "invalid_input", "message": "…", "field": "name" } }
//! ```
//!
//! `field` is `null` when no single field is at fault. Another user's session is `404`,
//! exactly like an unknown one; so are blank, `null` and `undefined` ids.

use std::collections::HashMap;
use std::sync::Arc;

use axum::extract::rejection::{FormRejection, JsonRejection};
use axum::extract::{DefaultBodyLimit, FromRequest, FromRequestParts, Path, Request, State};
use axum::http::header::{AUTHORIZATION, WWW_AUTHENTICATE};
use axum::http::request::Parts;
use axum::http::{HeaderName, HeaderValue, Method, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{MethodRouter, delete, get, patch, post};
use axum::{Json, Router};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value, json};

use crate::error::PersistError;
use crate::system::{ChatMessage, GatewayApi, Session, Turn};

/// The longest message a task may carry, in characters.
pub const MAX_MESSAGE_CHARS: usize = 10_000;
/// The longest session name, in characters (after trimming).
pub const MAX_NAME_CHARS: usize = 255;
/// The longest user id an identity may carry, in characters.
pub const MAX_USER_ID_CHARS: usize = 255;
/// The longest id a path or body may name; longer ones are `404` without a lookup.
pub const MAX_ID_CHARS: usize = 255;
/// The default page size of `GET /api/v1/sessions`.
pub const DEFAULT_PAGE_SIZE: u64 = 20;
/// The largest page size of `GET /api/v1/sessions`.
pub const MAX_PAGE_SIZE: u64 = 100;
/// The largest page number of `GET /api/v1/sessions`.
pub const MAX_PAGE: u64 = 1_000_000;
/// The default limit on a request body, in bytes: a 10,000-character message with every
/// character escaped fits.
pub const DEFAULT_BODY_LIMIT: usize = 128 * 1024;
/// The header that carries the caller's user id, by default.
pub const USER_HEADER: &str = "x-user-id";

/// The gateway's HTTP API over a [`GatewayApi`], configured and turned into a [`Router`].
///
/// ```
/// use persist_core::http::HttpApi;
/// # fn app(gateway: persist_core::mesh::GatewayComponent) -> persist_core::http::Router {
/// let app = HttpApi::new(gateway)
///     .bearer_tokens([("s3cret", "alice")])
///     .router();
/// # app }
/// ```
#[derive(Clone)]
pub struct HttpApi {
    gateway: Arc<dyn GatewayApi>,
    user_header: HeaderName,
    tokens: Option<Arc<HashMap<String, String>>>,
    body_limit: usize,
}

impl std::fmt::Debug for HttpApi {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("HttpApi")
            .field("user_header", &self.user_header)
            .field("tokens", &self.tokens.as_ref().map(|t| t.len()))
            .field("body_limit", &self.body_limit)
            .finish_non_exhaustive()
    }
}

impl HttpApi {
    /// The API over `gateway`, with the defaults: identity from `X-User-Id` or a bearer token
    /// that is the user id, bodies up to [`DEFAULT_BODY_LIMIT`].
    pub fn new(gateway: impl GatewayApi) -> Self {
        Self::from_arc(Arc::new(gateway))
    }

    /// The API over a shared gateway.
    pub fn from_arc(gateway: Arc<dyn GatewayApi>) -> Self {
        HttpApi {
            gateway,
            user_header: HeaderName::from_static(USER_HEADER),
            tokens: None,
            body_limit: DEFAULT_BODY_LIMIT,
        }
    }

    /// Reads the user id from this header instead of `X-User-Id`.
    pub fn user_header(mut self, name: HeaderName) -> Self {
        self.user_header = name;
        self
    }

    /// Accepts only these bearer tokens, each for its user: `(token, user_id)` pairs.
    pub fn bearer_tokens<T: Into<String>, U: Into<String>>(
        mut self,
        tokens: impl IntoIterator<Item = (T, U)>,
    ) -> Self {
        let tokens = tokens
            .into_iter()
            .map(|(t, u)| (t.into(), u.into()))
            .collect();
        self.tokens = Some(Arc::new(tokens));
        self
    }

    /// Refuses request bodies over `bytes` with `413`.
    pub fn body_limit(mut self, bytes: usize) -> Self {
        self.body_limit = bytes;
        self
    }

    /// The router: every route of [`ROUTES`], JSON errors for unknown routes and refused
    /// methods, and the body limit.
    pub fn router(self) -> Router {
        let limit = self.body_limit;
        let mut router = Router::new();
        for route in ROUTES {
            router = router.route(route.path, (route.handler)());
        }
        router
            .fallback(|| async { ApiError::not_found("no such route") })
            .method_not_allowed_fallback(|| async {
                ApiError::new(
                    StatusCode::METHOD_NOT_ALLOWED,
                    "method_not_allowed",
                    "this route does not take that method",
                )
            })
            .layer(DefaultBodyLimit::max(limit))
            .with_state(self)
    }
}

impl From<HttpApi> for Router {
    fn from(api: HttpApi) -> Router {
        api.router()
    }
}

// ---------------------------------------------------------------------------------------------
// Errors

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
    fn new(status: StatusCode, code: &'static str, message: impl Into<String>) -> Self {
        ApiError {
            status,
            code,
            message: message.into(),
            field: None,
        }
    }

    fn field(mut self, field: &str) -> Self {
        self.field = Some(field.to_owned());
        self
    }

    fn not_found(message: impl Into<String>) -> Self {
        Self::new(StatusCode::NOT_FOUND, "not_found", message)
    }

    fn invalid(field: &str, message: impl Into<String>) -> Self {
        Self::new(StatusCode::UNPROCESSABLE_ENTITY, "invalid_input", message).field(field)
    }

    fn unauthorized(message: impl Into<String>) -> Self {
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
                format!("agent {agent}: the model failed: {reason}; nothing was stored"),
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

type ApiResult<T> = Result<T, ApiError>;

// ---------------------------------------------------------------------------------------------
// Extractors

/// The caller, from the identity header or a bearer token.
struct User(String);

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
struct SessionId(String);

impl FromRequestParts<HttpApi> for SessionId {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, api: &HttpApi) -> ApiResult<Self> {
        let Path(id) = Path::<String>::from_request_parts(parts, api)
            .await
            .map_err(|_| ApiError::not_found("no such session"))?;
        checked_id(&id).map(SessionId)
    }
}

fn checked_id(id: &str) -> ApiResult<String> {
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
struct JsonFields(Map<String, Value>);

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
struct FormFields(Map<String, Value>);

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
struct QueryFields(HashMap<String, String>);

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
fn string_field(fields: &Map<String, Value>, name: &str) -> ApiResult<Option<String>> {
    match fields.get(name) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) => Ok(Some(s.clone())),
        Some(_) => Err(ApiError::invalid(name, format!("{name} must be a string"))),
    }
}

fn required(fields: &Map<String, Value>, name: &str) -> ApiResult<String> {
    string_field(fields, name)?
        .ok_or_else(|| ApiError::invalid(name, format!("{name} is required")))
}

fn checked_message(message: String) -> ApiResult<String> {
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

fn checked_name(name: String) -> ApiResult<String> {
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

fn checked_agent(name: String) -> ApiResult<String> {
    if name.trim().is_empty() {
        return Err(ApiError::invalid(
            "agent_name",
            "agent_name must not be blank",
        ));
    }
    Ok(name)
}

fn page_param(
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

// ---------------------------------------------------------------------------------------------
// Answers

/// A session as the API shows it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct SessionBody {
    /// Session id.
    pub id: String,
    /// The owner.
    pub user_id: String,
    /// Display name, if given.
    pub name: Option<String>,
    /// The agent the session talks to.
    pub agent_id: String,
    /// Creation time, epoch milliseconds.
    pub created_at: i64,
    /// Last activity, epoch milliseconds.
    pub updated_at: i64,
    /// Last switch to this session, epoch milliseconds, if any.
    #[serde(default)]
    pub last_active_at: Option<i64>,
}

impl From<Session> for SessionBody {
    fn from(s: Session) -> Self {
        SessionBody {
            id: s.id,
            user_id: s.user_id,
            name: s.name,
            agent_id: s.agent_name,
            created_at: s.created_at,
            updated_at: s.updated_at,
            last_active_at: s.last_active_at,
        }
    }
}

impl From<SessionBody> for Session {
    fn from(s: SessionBody) -> Self {
        Session {
            id: s.id,
            name: s.name,
            user_id: s.user_id,
            agent_name: s.agent_id,
            created_at: s.created_at,
            updated_at: s.updated_at,
            last_active_at: s.last_active_at,
        }
    }
}

/// One page of the caller's sessions.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct SessionList {
    /// The page, most recently updated first.
    pub sessions: Vec<SessionBody>,
    /// How many sessions the caller has in all.
    pub total_count: u64,
}

/// A message as the API shows it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct MessageBody {
    /// Message id.
    pub id: String,
    /// The session.
    pub session_id: String,
    /// The text.
    pub message: String,
    /// `user` or `agent`.
    pub sender_type: String,
    /// The user id or the agent name.
    pub sender_name: String,
    /// Creation time, epoch milliseconds.
    pub created_at: i64,
    /// The turn (task) it belongs to.
    #[serde(default)]
    pub task_id: Option<String>,
}

impl From<ChatMessage> for MessageBody {
    fn from(m: ChatMessage) -> Self {
        MessageBody {
            id: m.id,
            session_id: m.session_id,
            message: m.message,
            sender_type: m.sender_type.as_str().to_owned(),
            sender_name: m.sender_name,
            created_at: m.created_at,
            task_id: m.task_id,
        }
    }
}

impl From<MessageBody> for ChatMessage {
    fn from(m: MessageBody) -> Self {
        ChatMessage {
            sender_type: crate::system::SenderType::parse(&m.sender_type),
            id: m.id,
            session_id: m.session_id,
            message: m.message,
            sender_name: m.sender_name,
            created_at: m.created_at,
            task_id: m.task_id,
        }
    }
}

/// The answer to a task: `{ "result": { "taskId", "sessionId", "content" } }`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct TaskAnswer {
    /// The stored turn.
    pub result: TaskResult,
}

/// A stored turn, in a [`TaskAnswer`].
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct TaskResult {
    /// The turn's task id.
    pub task_id: String,
    /// The session it was stored in (new, when the task named none).
    pub session_id: String,
    /// The agent's reply (not every gateway sends it).
    #[serde(default)]
    pub content: Option<String>,
}

impl From<Turn> for TaskAnswer {
    fn from(t: Turn) -> Self {
        TaskAnswer {
            result: TaskResult {
                task_id: t.task_id,
                session_id: t.session_id,
                content: Some(t.content),
            },
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Handlers

async fn list_sessions(
    State(api): State<HttpApi>,
    User(user): User,
    QueryFields(query): QueryFields,
) -> ApiResult<Json<SessionList>> {
    let page = page_param(&query, "page", 1, MAX_PAGE)?;
    let page_size = page_param(&query, "page_size", DEFAULT_PAGE_SIZE, MAX_PAGE_SIZE)?;
    let sessions = api.gateway.list_sessions(&user).await?;
    let total_count = sessions.len() as u64;
    let skip = usize::try_from((page - 1) * page_size).unwrap_or(usize::MAX);
    let sessions = sessions
        .into_iter()
        .skip(skip)
        .take(page_size as usize)
        .map(SessionBody::from)
        .collect();
    Ok(Json(SessionList {
        sessions,
        total_count,
    }))
}

async fn create_session(
    State(api): State<HttpApi>,
    User(user): User,
    JsonFields(fields): JsonFields,
) -> ApiResult<(StatusCode, Json<SessionBody>)> {
    let agent = checked_agent(required(&fields, "agent_name")?)?;
    let name = string_field(&fields, "name")?
        .map(checked_name)
        .transpose()?;
    let mut session = api.gateway.create_session(&user, &agent).await?;
    if let Some(name) = name {
        session = match api.gateway.rename_session(&user, &session.id, &name).await {
            Ok(renamed) => renamed,
            Err(error) => {
                // Whole or absent: a session that could not be named is not kept.
                let _ = api.gateway.delete_session(&user, &session.id).await;
                return Err(error.into());
            }
        };
    }
    Ok((StatusCode::CREATED, Json(session.into())))
}

async fn get_session(
    State(api): State<HttpApi>,
    User(user): User,
    SessionId(id): SessionId,
) -> ApiResult<Json<SessionBody>> {
    Ok(Json(api.gateway.get_session(&user, &id).await?.into()))
}

async fn rename_session(
    State(api): State<HttpApi>,
    User(user): User,
    SessionId(id): SessionId,
    JsonFields(fields): JsonFields,
) -> ApiResult<Json<SessionBody>> {
    let name = checked_name(required(&fields, "name")?)?;
    Ok(Json(
        api.gateway.rename_session(&user, &id, &name).await?.into(),
    ))
}

async fn delete_session(
    State(api): State<HttpApi>,
    User(user): User,
    SessionId(id): SessionId,
) -> ApiResult<StatusCode> {
    if api.gateway.delete_session(&user, &id).await? {
        Ok(StatusCode::NO_CONTENT)
    } else {
        Err(ApiError::not_found("no such session"))
    }
}

async fn activate_session(
    State(api): State<HttpApi>,
    User(user): User,
    SessionId(id): SessionId,
) -> ApiResult<Json<SessionBody>> {
    Ok(Json(api.gateway.switch_session(&user, &id).await?.into()))
}

async fn session_messages(
    State(api): State<HttpApi>,
    User(user): User,
    SessionId(id): SessionId,
) -> ApiResult<Json<Vec<MessageBody>>> {
    let messages = api.gateway.session_messages(&user, &id).await?;
    Ok(Json(messages.into_iter().map(MessageBody::from).collect()))
}

async fn task(api: &HttpApi, user: &str, fields: &Map<String, Value>) -> ApiResult<TaskAnswer> {
    let message = checked_message(required(fields, "message")?)?;
    let agent = string_field(fields, "agent_name")?;
    let turn = match string_field(fields, "session_id")? {
        Some(id) => {
            let id = checked_id(&id)?;
            let session = api.gateway.get_session(user, &id).await?;
            if let Some(agent) = agent
                && agent != session.agent_name
            {
                return Err(ApiError::invalid(
                    "agent_name",
                    format!("the session talks to {}, not {agent}", session.agent_name),
                ));
            }
            api.gateway.send_message(user, &id, &message).await?
        }
        None => {
            let agent = agent.ok_or_else(|| {
                ApiError::invalid("agent_name", "agent_name is required to start a session")
            })?;
            let agent = checked_agent(agent)?;
            api.gateway.start_session(user, &agent, &message).await?
        }
    };
    Ok(turn.into())
}

async fn send_task(
    State(api): State<HttpApi>,
    User(user): User,
    JsonFields(fields): JsonFields,
) -> ApiResult<Json<TaskAnswer>> {
    task(&api, &user, &fields).await.map(Json)
}

async fn subscribe_task(
    State(api): State<HttpApi>,
    User(user): User,
    FormFields(fields): FormFields,
) -> ApiResult<Json<TaskAnswer>> {
    task(&api, &user, &fields).await.map(Json)
}

async fn openapi_document() -> Json<Value> {
    Json(openapi())
}

// ---------------------------------------------------------------------------------------------
// The route table: the router and the OpenAPI document are both built from it.

/// One operation of the API, as the router serves it and the OpenAPI document describes it.
#[derive(Clone)]
pub struct Route {
    /// The method.
    pub method: Method,
    /// The path, with `{id}` for a session id.
    pub path: &'static str,
    /// The OpenAPI operation id.
    pub operation_id: &'static str,
    /// What it does.
    pub summary: &'static str,
    /// Whether it needs an identity.
    pub authenticated: bool,
    /// The request body's media type and schema name, if it takes one.
    pub body: Option<(&'static str, &'static str)>,
    /// The query parameters it reads.
    pub query: &'static [&'static str],
    /// The success status and the schema name of its body (`None`: no body).
    pub success: (u16, Option<&'static str>),
    /// The error statuses it may answer.
    pub errors: &'static [u16],
    handler: fn() -> MethodRouter<HttpApi>,
}

impl std::fmt::Debug for Route {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} {}", self.method, self.path)
    }
}

const JSON: &str = "application/json";
const FORM: &str = "application/x-www-form-urlencoded";

/// Every operation of `/api/v1`.
pub const ROUTES: &[Route] = &[
    Route {
        method: Method::GET,
        path: "/api/v1/sessions",
        operation_id: "listSessions",
        summary: "The caller's sessions, most recently updated first, one page at a time.",
        authenticated: true,
        body: None,
        query: &["page", "page_size"],
        success: (200, Some("SessionList")),
        errors: &[400, 401, 422],
        handler: || get(list_sessions),
    },
    Route {
        method: Method::POST,
        path: "/api/v1/sessions",
        operation_id: "createSession",
        summary: "Creates an empty session with an agent (optionally named).",
        authenticated: true,
        body: Some((JSON, "NewSession")),
        query: &[],
        success: (201, Some("Session")),
        errors: &[400, 401, 413, 415, 422],
        handler: || post(create_session),
    },
    Route {
        method: Method::GET,
        path: "/api/v1/sessions/{id}",
        operation_id: "getSession",
        summary: "One of the caller's sessions.",
        authenticated: true,
        body: None,
        query: &[],
        success: (200, Some("Session")),
        errors: &[401, 404],
        handler: || get(get_session),
    },
    Route {
        method: Method::PATCH,
        path: "/api/v1/sessions/{id}",
        operation_id: "renameSession",
        summary: "Renames a session (1–255 characters after trimming).",
        authenticated: true,
        body: Some((JSON, "Rename")),
        query: &[],
        success: (200, Some("Session")),
        errors: &[400, 401, 404, 413, 415, 422],
        handler: || patch(rename_session),
    },
    Route {
        method: Method::DELETE,
        path: "/api/v1/sessions/{id}",
        operation_id: "deleteSession",
        summary: "Deletes a session, in the gateway and in its agent.",
        authenticated: true,
        body: None,
        query: &[],
        success: (204, None),
        errors: &[401, 404],
        handler: || delete(delete_session),
    },
    Route {
        method: Method::GET,
        path: "/api/v1/sessions/{id}/messages",
        operation_id: "sessionMessages",
        summary: "A session's history, oldest first.",
        authenticated: true,
        body: None,
        query: &[],
        success: (200, Some("MessageList")),
        errors: &[401, 404],
        handler: || get(session_messages),
    },
    Route {
        method: Method::POST,
        path: "/api/v1/sessions/{id}/activate",
        operation_id: "activateSession",
        summary: "Makes a session the caller's active one.",
        authenticated: true,
        body: None,
        query: &[],
        success: (200, Some("Session")),
        errors: &[401, 404, 501],
        handler: || post(activate_session),
    },
    Route {
        method: Method::POST,
        path: "/api/v1/tasks",
        operation_id: "sendTask",
        summary: "Sends a message to an agent and stores the turn; without session_id, in a new session.",
        authenticated: true,
        body: Some((JSON, "Task")),
        query: &[],
        success: (200, Some("TaskAnswer")),
        errors: &[400, 401, 404, 413, 415, 422, 502, 503],
        handler: || post(send_task),
    },
    Route {
        method: Method::POST,
        path: "/api/v1/tasks/subscribe",
        operation_id: "subscribeTask",
        summary: "As sendTask, with a form body.",
        authenticated: true,
        body: Some((FORM, "Task")),
        query: &[],
        success: (200, Some("TaskAnswer")),
        errors: &[400, 401, 404, 413, 415, 422, 502, 503],
        handler: || post(subscribe_task),
    },
    Route {
        method: Method::GET,
        path: "/api/v1/openapi.json",
        operation_id: "openapi",
        summary: "This document.",
        authenticated: false,
        body: None,
        query: &[],
        success: (200, None),
        errors: &[],
        handler: || get(openapi_document),
    },
];

fn object(required: &[&str], properties: Value) -> Value {
    json!({ "type": "object", "required": required, "properties": properties })
}

fn schemas() -> Value {
    let string = json!({ "type": "string" });
    let nullable_string = json!({ "type": ["string", "null"] });
    let millis =
        json!({ "type": "integer", "format": "int64", "description": "epoch milliseconds" });
    let nullable_millis = json!({ "type": ["integer", "null"], "format": "int64" });
    json!({
        "Session": object(
            &["id", "user_id", "name", "agent_id", "created_at", "updated_at"],
            json!({
                "id": string, "user_id": string, "name": nullable_string, "agent_id": string,
                "created_at": millis, "updated_at": millis, "last_active_at": nullable_millis,
            }),
        ),
        "SessionList": object(
            &["sessions", "total_count"],
            json!({
                "sessions": { "type": "array", "items": { "$ref": "#/components/schemas/Session" } },
                "total_count": { "type": "integer", "minimum": 0 },
            }),
        ),
        "Message": object(
            &["id", "session_id", "message", "sender_type", "sender_name", "created_at"],
            json!({
                "id": string, "session_id": string, "message": string,
                "sender_type": { "type": "string", "enum": ["user", "agent"] },
                "sender_name": string, "created_at": millis, "task_id": nullable_string,
            }),
        ),
        "MessageList": { "type": "array", "items": { "$ref": "#/components/schemas/Message" } },
        "NewSession": object(
            &["agent_name"],
            json!({ "agent_name": string, "name": { "type": "string", "minLength": 1, "maxLength": MAX_NAME_CHARS } }),
        ),
        "Rename": object(
            &["name"],
            json!({ "name": { "type": "string", "minLength": 1, "maxLength": MAX_NAME_CHARS } }),
        ),
        "Task": object(
            &["message"],
            json!({
                "agent_name": { "type": "string", "description": "required without session_id" },
                "message": { "type": "string", "minLength": 1, "maxLength": MAX_MESSAGE_CHARS },
                "session_id": nullable_string,
            }),
        ),
        "TaskAnswer": object(
            &["result"],
            json!({ "result": object(
                &["taskId", "sessionId"],
                json!({ "taskId": string, "sessionId": string, "content": nullable_string }),
            ) }),
        ),
        "Error": object(
            &["error"],
            json!({ "error": object(
                &["status", "code", "message", "field"],
                json!({
                    "status": { "type": "integer" }, "code": string, "message": string,
                    "field": nullable_string,
                }),
            ) }),
        ),
    })
}

/// The OpenAPI 3.1 document of `/api/v1`, built from [`ROUTES`].
pub fn openapi() -> Value {
    let mut paths = Map::new();
    for route in ROUTES {
        let mut parameters = Vec::new();
        if route.path.contains("{id}") {
            parameters.push(json!({
                "name": "id", "in": "path", "required": true, "schema": { "type": "string" }
            }));
        }
        for name in route.query {
            parameters.push(json!({
                "name": name, "in": "query", "required": false,
                "schema": { "type": "integer", "minimum": 1 }
            }));
        }
        let mut responses = Map::new();
        let (status, schema) = route.success;
        responses.insert(
            status.to_string(),
            match schema {
                Some(schema) => json!({
                    "description": "success",
                    "content": { JSON: { "schema": { "$ref": format!("#/components/schemas/{schema}") } } }
                }),
                None => json!({ "description": "success" }),
            },
        );
        for status in route.errors {
            responses.insert(
                status.to_string(),
                json!({
                    "description": StatusCode::from_u16(*status).ok().and_then(|s| s.canonical_reason()).unwrap_or("error"),
                    "content": { JSON: { "schema": { "$ref": "#/components/schemas/Error" } } }
                }),
            );
        }
        let mut operation = json!({
            "operationId": route.operation_id,
            "summary": route.summary,
            "parameters": parameters,
            "responses": responses,
        });
        if let Some((media, schema)) = route.body {
            operation["requestBody"] = json!({
                "required": true,
                "content": { media: { "schema": { "$ref": format!("#/components/schemas/{schema}") } } }
            });
        }
        if route.authenticated {
            operation["security"] = json!([{ "userHeader": [] }, { "bearer": [] }]);
        }
        let entry = paths
            .entry(route.path.to_owned())
            .or_insert_with(|| Value::Object(Map::new()));
        entry[route.method.as_str().to_ascii_lowercase()] = operation;
    }
    json!({
        "openapi": "3.1.0",
        "info": { "title": "Gateway API", "version": "1" },
        "paths": paths,
        "components": {
            "schemas": schemas(),
            "securitySchemes": {
                "userHeader": { "type": "apiKey", "in": "header", "name": "X-User-Id" },
                "bearer": { "type": "http", "scheme": "bearer" },
            },
        },
    })
}
