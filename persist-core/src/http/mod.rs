//! Testing a gateway over HTTP (the `http` feature).
//!
//! - [`HttpApi`]: the gateway's `/api/v1` as an axum [`Router`] over any
//!   [`GatewayApi`](crate::system::GatewayApi); the reference mesh serves it. Its routes are
//!   [`api::ROUTES`], described by the OpenAPI document [`api::openapi`].
//! - [`HttpClient`]: raw requests, in-process through a router or over a socket, each sent
//!   as a user ([`RequestBuilder::as_user`]); answers are read whole ([`HttpResponse`]).
//! - [`HttpGateway`]: a [`GatewayApi`](crate::system::GatewayApi) that is a client of
//!   `/api/v1`, so the [`GatewayPersistenceAdapter`](crate::GatewayPersistenceAdapter) and
//!   every suite written against it run over HTTP unchanged.
//! - [`TestServer`]: a router served on 127.0.0.1 with an ephemeral port, shut down and
//!   awaited at the end.
//!
//! A system serves HTTP by handing its router to
//! [`Running::with_http`](crate::system::Running::with_http). A test then picks the transport
//! with the attribute's `http` key:
//!
//! | `http = …` | the adapter goes | an injected [`HttpClient`] goes |
//! |---|---|---|
//! | (absent) | straight to the [`GatewayApi`](crate::system::GatewayApi) | through the router, in-process |
//! | `"router"` | through the router, in-process | through the router, in-process |
//! | `"socket"` | over TCP to a server on 127.0.0.1 | over TCP to the same server |
//! | `["router", "socket"]` | one test each | one test each |
//!
//! ```
//! use persist_core::http::HttpClient;
//! use persist_core::prelude::*;
//! use serde_json::json;
//!
//! #[persistence_test(agents = ["A"], http = ["router", "socket"])]
//! async fn a_task_lands_in_both_databases(
//!     http: HttpClient,
//!     inspector: CrossDatabaseInspector,
//! ) -> Result<(), PersistError> {
//!     let answer = http
//!         .post("/api/v1/tasks")
//!         .as_user("alice")
//!         .json(&json!({ "agent_name": "A", "message": "hello" }))
//!         .send()
//!         .await?
//!         .expect_status(200)?;
//!     let session = answer.json_value()?["result"]["sessionId"].as_str().unwrap().to_owned();
//!     assert_eq!(inspector.gateway_messages(&session).await?.len(), 2);
//!     assert_eq!(inspector.agent_messages("A", Some(&session)).await?.len(), 2);
//!     Ok(())
//! }
//! # fn main() {}
//! ```

pub mod api;
mod client;
mod gateway;
mod server;

pub use api::HttpApi;
pub use axum::Router;
pub use axum::http::{HeaderMap, Method, StatusCode};
/// axum's routing functions, to build a router of your own.
pub use axum::routing;
/// axum's server, to serve a router on a listener of your own.
pub use axum::serve;
pub use client::{HttpClient, HttpResponse, Identity, RequestBuilder};
pub use gateway::HttpGateway;
pub use server::{SHUTDOWN_GRACE, TestServer};
