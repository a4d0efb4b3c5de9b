//! The route table, and the router and OpenAPI document built from it.

use axum::http::{Method, StatusCode};
use axum::routing::{MethodRouter, delete, get, patch, post};
use serde_json::{Map, Value, json};

use super::handlers::{
    activate_session, create_session, delete_session, get_session, list_sessions, rename_session,
    send_task, session_messages, subscribe_task,
};
use super::{
    HttpApi, MAX_MESSAGE_CHARS, MAX_NAME_CHARS, MAX_PAGE, MAX_PAGE_SIZE, MAX_USER_ID_CHARS,
};

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
    pub(super) handler: fn() -> MethodRouter<HttpApi>,
}

impl std::fmt::Debug for Route {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} {}", self.method, self.path)
    }
}

pub(super) const JSON: &str = "application/json";
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

pub(super) fn object(required: &[&str], properties: Value) -> Value {
    json!({ "type": "object", "required": required, "properties": properties })
}

/// Text that is not blank (the handlers trim before checking).
const NOT_BLANK: &str = "\\S";

fn schemas(agents: Option<&[String]>) -> Value {
    let string = json!({ "type": "string" });
    let not_blank = |max: Option<usize>| {
        let mut schema = json!({ "type": "string", "minLength": 1, "pattern": NOT_BLANK });
        if let Some(max) = max {
            schema["maxLength"] = json!(max);
        }
        schema
    };
    let nullable_string = json!({ "type": ["string", "null"] });
    let millis =
        json!({ "type": "integer", "format": "int64", "description": "epoch milliseconds" });
    let nullable_millis = json!({ "type": ["integer", "null"], "format": "int64" });
    let agent_name = match agents {
        Some(names) => json!({ "type": "string", "enum": names }),
        None => not_blank(None),
    };
    // `null` is taken as absent.
    let or_null = |schema: &Value| json!({ "anyOf": [schema, { "type": "null" }] });
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
            json!({ "agent_name": agent_name, "name": or_null(&not_blank(Some(MAX_NAME_CHARS))) }),
        ),
        "Rename": object(&["name"], json!({ "name": not_blank(Some(MAX_NAME_CHARS)) })),
        "Task": {
            "type": "object",
            "required": ["message"],
            "properties": {
                "agent_name": or_null(&agent_name),
                "message": not_blank(Some(MAX_MESSAGE_CHARS)),
                "session_id": nullable_string,
            },
            "description": "Without a session_id (absent or null), agent_name names the agent of the new session. With one, agent_name may be left out; given, it must be that session's agent, or the call is refused with 422 (which agent that is, no schema can say).",
            "anyOf": [
                { "required": ["session_id"], "properties": { "session_id": string } },
                { "required": ["agent_name"], "properties": { "agent_name": agent_name } },
            ],
        },
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

/// The OpenAPI 3.1 document of `/api/v1`, built from [`ROUTES`]: any agent name, identity in
/// `X-User-Id`. What an [`HttpApi`] serves is [`HttpApi::openapi`].
pub fn openapi() -> Value {
    document(None, super::USER_HEADER)
}

/// The document, for these agents (any, for `None`) and this identity header.
pub(super) fn document(agents: Option<&[String]>, user_header: &str) -> Value {
    let user_header = if user_header == super::USER_HEADER {
        "X-User-Id"
    } else {
        user_header
    };
    let mut paths = Map::new();
    for route in ROUTES {
        let mut parameters = Vec::new();
        if route.path.contains("{id}") {
            parameters.push(json!({
                "name": "id", "in": "path", "required": true, "schema": { "type": "string" }
            }));
        }
        for name in route.query {
            let max = if *name == "page_size" {
                MAX_PAGE_SIZE
            } else {
                MAX_PAGE
            };
            parameters.push(json!({
                "name": name, "in": "query", "required": false,
                "schema": { "type": "integer", "minimum": 1, "maximum": max }
            }));
        }
        let mut responses = Map::new();
        let (status, schema) = route.success;
        let mut success = match schema {
            Some(schema) => json!({
                "description": "success",
                "content": { JSON: { "schema": { "$ref": format!("#/components/schemas/{schema}") } } }
            }),
            None => json!({ "description": "success" }),
        };
        if let Some(links) = links(route) {
            success["links"] = links;
        }
        responses.insert(status.to_string(), success);
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
            "schemas": schemas(agents),
            "securitySchemes": {
                "userHeader": {
                    "type": "apiKey", "in": "header", "name": user_header,
                    "description": format!(
                        "The caller's user id, trusted as given: this API does not authenticate, it sits behind a front end that does and sets the header. Any user id is accepted (1–{MAX_USER_ID_CHARS} characters, no surrounding spaces or control characters); each user sees only their own sessions."
                    ),
                },
                "bearer": {
                    "type": "http", "scheme": "bearer",
                    "description": "A token standing for a user id: the id itself, or one the server was configured with (`HttpApi::tokens`).",
                },
            },
        },
    })
}

/// The operations a success leads to: a session made (or used) by the call, by its id.
fn links(route: &Route) -> Option<Value> {
    let id = match route.operation_id {
        "createSession" => "$response.body#/id",
        "sendTask" | "subscribeTask" => "$response.body#/result/sessionId",
        _ => return None,
    };
    let mut links = Map::new();
    for target in ROUTES.iter().filter(|r| r.path.contains("{id}")) {
        links.insert(
            target.operation_id.to_owned(),
            json!({ "operationId": target.operation_id, "parameters": { "id": id } }),
        );
    }
    Some(Value::Object(links))
}

/// `GET /api/v1/openapi.json`: the document.
async fn openapi_document(
    axum::extract::State(api): axum::extract::State<HttpApi>,
) -> axum::Json<Value> {
    axum::Json(api.openapi())
}
