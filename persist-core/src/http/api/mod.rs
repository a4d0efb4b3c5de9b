//! The gateway's HTTP API, `/api/v1`: an axum [`Router`] over any [`GatewayApi`].
//!
//! The reference mesh serves it ([`ReferenceMesh`](crate::mesh::ReferenceMesh) offers it to
//! tests), and any system can serve its own [`GatewayApi`] with it.
//! [`HttpGateway`](super::HttpGateway) is its
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

use axum::Router;
use axum::extract::DefaultBodyLimit;
use axum::http::{HeaderName, StatusCode};

use crate::system::GatewayApi;

mod error;
mod extract;
mod handlers;
mod routes;
mod wire;

use error::ApiError;
pub(crate) use error::parse_model_failed;
pub use error::{ErrorBody, ErrorDetail};
pub use routes::{ROUTES, Route, openapi};
pub use wire::{MessageBody, SessionBody, SessionList, TaskAnswer, TaskResult};

pub use crate::system::{MAX_MESSAGE_CHARS, MAX_NAME_CHARS};
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
    agents: Option<Arc<[String]>>,
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
            agents: None,
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

    /// Names the agents the gateway answers for: the served document's `agent_name` then
    /// lists them (an unknown agent is refused with `422 unknown_agent`, so a client or a
    /// fuzzer reading the document knows which names are valid).
    pub fn agents<S: Into<String>>(mut self, names: impl IntoIterator<Item = S>) -> Self {
        self.agents = Some(names.into_iter().map(Into::into).collect());
        self
    }

    /// The OpenAPI document this API serves at `GET /api/v1/openapi.json`: [`openapi`], with
    /// the agents named by [`agents`](Self::agents) and the identity header it reads.
    pub fn openapi(&self) -> serde_json::Value {
        routes::document(self.agents.as_deref(), self.user_header.as_str())
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
