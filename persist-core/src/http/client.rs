//! [`HttpClient`]: raw HTTP requests to a gateway, in-process through its router or over a
//! socket, with the caller's identity attached the way the gateway expects it.

use std::fmt;
use std::sync::Arc;

use axum::Router;
use axum::http::header::{AUTHORIZATION, CONTENT_TYPE};
use axum::http::{HeaderMap, HeaderName, HeaderValue, Method, Request, StatusCode, Uri};
use bytes::Bytes;
use http_body_util::{BodyExt as _, Full};
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;
use serde::Serialize;
use serde::de::DeserializeOwned;
use tower::ServiceExt as _;

use super::api::USER_HEADER;
use crate::error::{PersistError, Result};

/// How a request says who the caller is.
#[derive(Clone)]
pub enum Identity {
    /// The user id in a header (`X-User-Id` by default).
    Header(HeaderName),
    /// `Authorization: Bearer <token>`, the token made from the user id.
    Bearer(Arc<dyn Fn(&str) -> String + Send + Sync>),
}

impl Identity {
    /// `Authorization: Bearer <user id>`: the reference gateway's default tokens.
    pub fn bearer() -> Self {
        Identity::Bearer(Arc::new(str::to_owned))
    }

    /// `Authorization: Bearer <token>`, with `token` made from the user id.
    pub fn bearer_with(token: impl Fn(&str) -> String + Send + Sync + 'static) -> Self {
        Identity::Bearer(Arc::new(token))
    }
}

impl Default for Identity {
    /// The `X-User-Id` header.
    fn default() -> Self {
        Identity::Header(HeaderName::from_static(USER_HEADER))
    }
}

impl fmt::Debug for Identity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Identity::Header(name) => f.debug_tuple("Header").field(name).finish(),
            Identity::Bearer(_) => f.write_str("Bearer(..)"),
        }
    }
}

/// Where requests go.
#[derive(Clone)]
enum Transport {
    /// Straight into the router: no socket, no serialization of the connection.
    Router(Router),
    /// Over TCP to `base` (`http://host:port`, no trailing slash).
    Socket {
        base: String,
        client: Client<HttpConnector, Full<Bytes>>,
    },
}

/// An HTTP client for a gateway: in-process through an axum [`Router`]
/// ([`HttpClient::router`]) or over a real socket ([`HttpClient::connect`]), the same requests
/// and the same answers either way. Cheap to clone.
///
/// Injected into a `#[persistence_test]` whose system serves HTTP
/// ([`Running::with_http`](crate::system::Running::with_http)); with `http = "socket"` the
/// test's server listens on 127.0.0.1 and the client goes through it.
///
/// ```
/// use persist_core::http::HttpClient;
/// use persist_core::prelude::*;
///
/// #[persistence_test(agents = ["A"], http = "socket")]
/// async fn unknown_sessions_are_404(http: HttpClient) -> Result<(), PersistError> {
///     let answer = http.get("/api/v1/sessions/nope").as_user("alice").send().await?;
///     assert_eq!(answer.status(), 404);
///     assert_eq!(answer.json_value()?["error"]["code"], "not_found");
///     Ok(())
/// }
/// # fn main() {}
/// ```
#[derive(Clone)]
pub struct HttpClient {
    transport: Transport,
    identity: Identity,
}

impl fmt::Debug for HttpClient {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut s = f.debug_struct("HttpClient");
        match &self.transport {
            Transport::Router(_) => s.field("transport", &"router"),
            Transport::Socket { base, .. } => s.field("transport", base),
        };
        s.field("identity", &self.identity).finish()
    }
}

impl HttpClient {
    /// A client that calls `router` in-process.
    pub fn router(router: Router) -> Self {
        HttpClient {
            transport: Transport::Router(router),
            identity: Identity::default(),
        }
    }

    /// A client for the server at `base_url` (`http://127.0.0.1:8080`; plain HTTP/1.1).
    pub fn connect(base_url: &str) -> Result<Self> {
        let base = base_url.trim_end_matches('/');
        let uri: Uri = base.parse().map_err(|e| PersistError::InvalidInput {
            field: "base_url",
            reason: format!("{base_url:?} is not a URL: {e}"),
        })?;
        if uri.scheme_str() != Some("http") || uri.authority().is_none() {
            return Err(PersistError::InvalidInput {
                field: "base_url",
                reason: format!("{base_url:?} is not an http://host:port URL"),
            });
        }
        let client = Client::builder(TokioExecutor::new()).build_http();
        Ok(HttpClient {
            transport: Transport::Socket {
                base: base.to_owned(),
                client,
            },
            identity: Identity::default(),
        })
    }

    /// The same client, sending the caller's identity this way.
    pub fn with_identity(mut self, identity: Identity) -> Self {
        self.identity = identity;
        self
    }

    /// The base URL requests go to; `None` in-process.
    pub fn base_url(&self) -> Option<&str> {
        match &self.transport {
            Transport::Router(_) => None,
            Transport::Socket { base, .. } => Some(base),
        }
    }

    /// A request with `method` to `path` (starting with `/`, with any query string).
    pub fn request(&self, method: Method, path: &str) -> RequestBuilder {
        RequestBuilder {
            client: self.clone(),
            method,
            path: path.to_owned(),
            headers: HeaderMap::new(),
            body: Bytes::new(),
            error: None,
        }
    }

    /// A `GET` request.
    pub fn get(&self, path: &str) -> RequestBuilder {
        self.request(Method::GET, path)
    }

    /// A `POST` request.
    pub fn post(&self, path: &str) -> RequestBuilder {
        self.request(Method::POST, path)
    }

    /// A `PATCH` request.
    pub fn patch(&self, path: &str) -> RequestBuilder {
        self.request(Method::PATCH, path)
    }

    /// A `PUT` request.
    pub fn put(&self, path: &str) -> RequestBuilder {
        self.request(Method::PUT, path)
    }

    /// A `DELETE` request.
    pub fn delete(&self, path: &str) -> RequestBuilder {
        self.request(Method::DELETE, path)
    }

    async fn execute(&self, request: Request<Full<Bytes>>) -> Result<HttpResponse> {
        let method = request.method().clone();
        let path = request.uri().to_string();
        let failed = |detail: String| PersistError::Http {
            method: method.to_string(),
            path: path.clone(),
            status: None,
            detail,
        };
        let (parts, body) = match &self.transport {
            Transport::Router(router) => {
                let response = router
                    .clone()
                    .oneshot(request.map(axum::body::Body::new))
                    .await
                    .unwrap_or_else(|never| match never {});
                let (parts, body) = response.into_parts();
                let body = body
                    .collect()
                    .await
                    .map_err(|e| failed(format!("reading the answer: {e}")))?
                    .to_bytes();
                (parts, body)
            }
            Transport::Socket { base, client } => {
                let mut request = request;
                let uri: Uri = format!("{base}{path}")
                    .parse()
                    .map_err(|e| failed(format!("not a URL: {e}")))?;
                *request.uri_mut() = uri;
                let response = client
                    .request(request)
                    .await
                    .map_err(|e| failed(format!("the request failed: {e}")))?;
                let (parts, body) = response.into_parts();
                let body = body
                    .collect()
                    .await
                    .map_err(|e| failed(format!("reading the answer: {e}")))?
                    .to_bytes();
                (parts, body)
            }
        };
        Ok(HttpResponse {
            method,
            path,
            status: parts.status,
            headers: parts.headers,
            body,
        })
    }
}

/// A request being built; [`send`](Self::send) it.
#[derive(Debug)]
#[must_use = "a request does nothing until it is sent"]
pub struct RequestBuilder {
    client: HttpClient,
    method: Method,
    path: String,
    headers: HeaderMap,
    body: Bytes,
    error: Option<String>,
}

impl RequestBuilder {
    /// Sends the request as `user_id`, the way the client's [`Identity`] says.
    pub fn as_user(self, user_id: &str) -> Self {
        match self.client.identity.clone() {
            Identity::Header(name) => self.header(name.as_str(), user_id),
            Identity::Bearer(token) => {
                let value = format!("Bearer {}", token(user_id));
                self.header(AUTHORIZATION.as_str(), &value)
            }
        }
    }

    /// Adds a header. A name or value that HTTP cannot carry fails the request at
    /// [`send`](Self::send).
    pub fn header(mut self, name: &str, value: &str) -> Self {
        match (HeaderName::try_from(name), HeaderValue::try_from(value)) {
            (Ok(name), Ok(value)) => {
                self.headers.append(name, value);
            }
            _ => self.error = Some(format!("header {name:?}: {value:?} cannot be sent")),
        }
        self
    }

    /// A JSON body (`Content-Type: application/json`).
    pub fn json(self, value: &impl Serialize) -> Self {
        let encoded =
            serde_json::to_vec(value).map_err(|e| format!("the body cannot be JSON: {e}"));
        self.encoded("application/json", encoded)
    }

    /// A form body (`Content-Type: application/x-www-form-urlencoded`) from pairs or a struct.
    pub fn form(self, value: &impl Serialize) -> Self {
        let encoded = serde_urlencoded::to_string(value)
            .map(String::into_bytes)
            .map_err(|e| format!("the body cannot be a form: {e}"));
        self.encoded("application/x-www-form-urlencoded", encoded)
    }

    fn encoded(mut self, content_type: &str, body: std::result::Result<Vec<u8>, String>) -> Self {
        match body {
            Ok(body) => self.body(content_type, body),
            Err(error) => {
                self.error = Some(error);
                self
            }
        }
    }

    /// A raw body with its content type (an empty `content_type` sends none).
    pub fn body(mut self, content_type: &str, body: impl Into<Bytes>) -> Self {
        self.headers.remove(CONTENT_TYPE);
        if !content_type.is_empty() {
            self = self.header(CONTENT_TYPE.as_str(), content_type);
        }
        self.body = body.into();
        self
    }

    /// Sends the request and reads the whole answer. Any status is an `Ok` answer; an `Err`
    /// means no answer came (or the request could not be built).
    pub async fn send(self) -> Result<HttpResponse> {
        let failed = |detail: String| PersistError::Http {
            method: self.method.to_string(),
            path: self.path.clone(),
            status: None,
            detail,
        };
        if let Some(error) = &self.error {
            return Err(failed(error.clone()));
        }
        if !self.path.starts_with('/') {
            return Err(failed("the path must start with `/`".into()));
        }
        let mut request = Request::builder()
            .method(self.method.clone())
            .uri(&self.path)
            .body(Full::new(self.body.clone()))
            .map_err(|e| failed(e.to_string()))?;
        *request.headers_mut() = self.headers.clone();
        self.client.execute(request).await
    }
}

/// A whole HTTP answer.
#[derive(Clone, Debug)]
pub struct HttpResponse {
    method: Method,
    path: String,
    status: StatusCode,
    headers: HeaderMap,
    body: Bytes,
}

impl HttpResponse {
    /// The status (compares with a `u16`: `answer.status() == 404`).
    pub fn status(&self) -> StatusCode {
        self.status
    }

    /// The headers.
    pub fn headers(&self) -> &HeaderMap {
        &self.headers
    }

    /// One header's value as text, if present and text.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }

    /// The body's bytes.
    pub fn bytes(&self) -> &Bytes {
        &self.body
    }

    /// The body as text (invalid UTF-8 replaced).
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }

    /// The body as JSON of type `T`; an error names the request and shows the body.
    pub fn json<T: DeserializeOwned>(&self) -> Result<T> {
        serde_json::from_slice(&self.body).map_err(|e| {
            self.error(format!(
                "the answer is not the expected JSON ({e}): {}",
                self.text()
            ))
        })
    }

    /// The body as any JSON value.
    pub fn json_value(&self) -> Result<serde_json::Value> {
        self.json()
    }

    /// `Ok(self)` if the status is `expected`; otherwise an error with the status and body.
    pub fn expect_status(self, expected: u16) -> Result<Self> {
        if self.status == expected {
            Ok(self)
        } else {
            Err(self.error(format!("expected status {expected}: {}", self.text())))
        }
    }

    /// An error about this answer.
    pub(crate) fn error(&self, detail: String) -> PersistError {
        PersistError::Http {
            method: self.method.to_string(),
            path: self.path.clone(),
            status: Some(self.status.as_u16()),
            detail,
        }
    }
}
