//! The contract of `/api/v1`: the OpenAPI document the code generates lists every route the
//! router serves, and every route answers in the documented shape, on success and on error,
//! over the router and over a socket.

use persist_core::http::api::{ROUTES, Route, openapi};
use persist_core::http::{HttpClient, HttpResponse, RequestBuilder};
use persist_core::prelude::*;
use serde_json::{Value, json};

/// Checks `value` against a schema of the document (the subset it uses: `$ref`, `type`,
/// `required`, `properties`, `items`, `enum`, `minLength`, `maxLength`, `minimum`). Objects
/// may hold no property the schema does not list. Returns what does not match.
fn violations(doc: &Value, schema: &Value, value: &Value, at: &str) -> Vec<String> {
    if let Some(reference) = schema["$ref"].as_str() {
        let name = reference.rsplit('/').next().unwrap();
        let target = &doc["components"]["schemas"][name];
        assert!(!target.is_null(), "{reference} is not in the document");
        return violations(doc, target, value, at);
    }
    let mut out = Vec::new();
    let types: Vec<&str> = match &schema["type"] {
        Value::String(t) => vec![t.as_str()],
        Value::Array(ts) => ts.iter().filter_map(Value::as_str).collect(),
        _ => vec![],
    };
    let type_of = match value {
        Value::Null => "null",
        Value::Bool(_) => "boolean",
        Value::Number(n) if n.is_i64() || n.is_u64() => "integer",
        Value::Number(_) => "number",
        Value::String(_) => "string",
        Value::Array(_) => "array",
        Value::Object(_) => "object",
    };
    if !types.is_empty() && !types.contains(&type_of) {
        out.push(format!("{at}: expected {types:?}, found {type_of} {value}"));
        return out;
    }
    if let Some(allowed) = schema["enum"].as_array()
        && !allowed.contains(value)
    {
        out.push(format!("{at}: {value} is not one of {allowed:?}"));
    }
    if let Value::String(s) = value {
        let length = s.chars().count() as u64;
        if schema["minLength"].as_u64().is_some_and(|min| length < min) {
            out.push(format!("{at}: shorter than minLength"));
        }
        if schema["maxLength"].as_u64().is_some_and(|max| length > max) {
            out.push(format!("{at}: longer than maxLength"));
        }
    }
    if let (Some(min), Some(n)) = (schema["minimum"].as_i64(), value.as_i64())
        && n < min
    {
        out.push(format!("{at}: {n} is below {min}"));
    }
    if let Value::Array(items) = value {
        for (i, item) in items.iter().enumerate() {
            out.extend(violations(
                doc,
                &schema["items"],
                item,
                &format!("{at}[{i}]"),
            ));
        }
    }
    if let Value::Object(fields) = value {
        let properties = schema["properties"].as_object();
        for required in schema["required"].as_array().into_iter().flatten() {
            let name = required.as_str().unwrap();
            if !fields.contains_key(name) {
                out.push(format!("{at}: missing required `{name}`"));
            }
        }
        for (name, field) in fields {
            match properties.and_then(|p| p.get(name)) {
                Some(schema) => out.extend(violations(doc, schema, field, &format!("{at}.{name}"))),
                None => out.push(format!("{at}: `{name}` is not documented")),
            }
        }
    }
    out
}

/// The answer has a status the document lists for the route, and a body of the documented
/// schema for that status.
#[track_caller]
fn assert_documented(doc: &Value, route: &Route, answer: &HttpResponse) {
    let operation = &doc["paths"][route.path][route.method.as_str().to_ascii_lowercase()];
    let status = answer.status().as_u16().to_string();
    let documented = &operation["responses"][&status];
    assert!(
        !documented.is_null(),
        "{route:?} answered {status}, which the document does not list: {}",
        answer.text()
    );
    match documented["content"]["application/json"]["schema"].as_object() {
        None => assert!(
            answer.bytes().is_empty() || route.operation_id == "openapi",
            "{route:?} {status} should have no body: {}",
            answer.text()
        ),
        Some(schema) => {
            let body = answer
                .json_value()
                .unwrap_or_else(|e| panic!("{route:?} {status}: {e}"));
            let problems = violations(doc, &Value::Object(schema.clone()), &body, "body");
            assert!(
                problems.is_empty(),
                "{route:?} {status} does not match the document:\n  {}\n{body:#}",
                problems.join("\n  ")
            );
            assert_eq!(
                answer.header("content-type"),
                Some("application/json"),
                "{route:?}"
            );
        }
    }
}

#[test]
fn the_document_lists_every_route_once() {
    let doc = openapi();
    assert_eq!(doc["openapi"], "3.1.0");
    let mut seen = std::collections::HashSet::new();
    for route in ROUTES {
        assert!(
            seen.insert((route.method.clone(), route.path)),
            "{route:?} is listed twice"
        );
        let operation = &doc["paths"][route.path][route.method.as_str().to_ascii_lowercase()];
        assert_eq!(operation["operationId"], route.operation_id, "{route:?}");
        assert!(
            operation["responses"][route.success.0.to_string()].is_object(),
            "{route:?}"
        );
        assert_eq!(
            operation["security"].is_array(),
            route.authenticated,
            "{route:?}"
        );
        for status in route.errors {
            let error = &operation["responses"][status.to_string()];
            assert_eq!(
                error["content"]["application/json"]["schema"]["$ref"],
                "#/components/schemas/Error",
                "{route:?} {status}"
            );
        }
    }
    let operations: usize = doc["paths"]
        .as_object()
        .unwrap()
        .values()
        .map(|p| p.as_object().unwrap().len())
        .sum();
    assert_eq!(
        operations,
        ROUTES.len(),
        "the document has no operation the table lacks"
    );
    // Every reference resolves.
    let text = doc.to_string();
    for reference in text.split("\"$ref\":\"").skip(1) {
        let name = reference
            .split('"')
            .next()
            .unwrap()
            .rsplit('/')
            .next()
            .unwrap();
        assert!(
            doc["components"]["schemas"][name].is_object(),
            "dangling $ref {name}"
        );
    }
}

/// A valid request for each operation over a session `alice` owns, as `user` (`None`: with
/// no identity).
fn valid_request(
    http: &HttpClient,
    route: &Route,
    session: &str,
    user: Option<&str>,
) -> RequestBuilder {
    let path = match route.operation_id {
        "listSessions" => format!("{}?page=1&page_size=10", route.path),
        _ => route.path.replace("{id}", session),
    };
    let mut request = http.request(route.method.clone(), &path);
    if let Some(user) = user {
        request = request.as_user(user);
    }
    match route.operation_id {
        "createSession" => request.json(&json!({ "agent_name": "AgentA", "name": "new" })),
        "renameSession" => request.json(&json!({ "name": "renamed" })),
        "sendTask" => request.json(&json!({ "session_id": session, "message": "json" })),
        "subscribeTask" => request.form(&[("agent_name", "AgentA"), ("message", "form")]),
        "listSessions" | "getSession" | "deleteSession" | "sessionMessages" | "activateSession"
        | "openapi" => request,
        other => panic!("no contract case for operation {other}: add one"),
    }
}

#[persistence_test(agents = ["AgentA"], http = ["router", "socket"])]
async fn every_route_answers_in_its_documented_shape(http: HttpClient) {
    let doc = openapi();
    let served = http
        .get("/api/v1/openapi.json")
        .send()
        .await
        .unwrap()
        .expect_status(200)
        .unwrap();
    // The served document is the generated one, naming the agents it answers for.
    let mut expected = doc.clone();
    let agents = json!({ "type": "string", "enum": ["AgentA"] });
    let schemas = &mut expected["components"]["schemas"];
    schemas["NewSession"]["properties"]["agent_name"] = agents.clone();
    schemas["Task"]["properties"]["agent_name"]["anyOf"][0] = agents.clone();
    schemas["Task"]["anyOf"][1]["properties"]["agent_name"] = agents;
    assert_eq!(served.json_value().unwrap(), expected);

    // Deletion last, so that every other operation has the session.
    let mut routes: Vec<&Route> = ROUTES.iter().collect();
    routes.sort_by_key(|r| r.operation_id == "deleteSession");
    let first = http
        .post("/api/v1/tasks")
        .as_user("alice")
        .json(&json!({ "agent_name": "AgentA", "message": "hello" }))
        .send()
        .await
        .unwrap()
        .expect_status(200)
        .unwrap();
    let session = first.json_value().unwrap()["result"]["sessionId"]
        .as_str()
        .unwrap()
        .to_owned();
    for route in routes {
        let answer = valid_request(&http, route, &session, Some("alice"))
            .send()
            .await
            .unwrap();
        assert_eq!(
            answer.status().as_u16(),
            route.success.0,
            "{route:?}: {}",
            answer.text()
        );
        assert_documented(&doc, route, &answer);
    }
}

#[persistence_test(agents = ["AgentA"], http = ["router", "socket"])]
async fn every_route_answers_bad_requests_with_documented_errors(
    http: HttpClient,
    inspector: CrossDatabaseInspector,
) {
    let doc = openapi();
    let first = http
        .post("/api/v1/tasks")
        .as_user("alice")
        .json(&json!({ "agent_name": "AgentA", "message": "hello" }))
        .send()
        .await
        .unwrap();
    let session = first.json_value().unwrap()["result"]["sessionId"]
        .as_str()
        .unwrap()
        .to_owned();
    let before = inspector.database_stats().await.unwrap();
    for route in ROUTES.iter().filter(|r| r.authenticated) {
        let path = route.path.replace("{id}", &session);
        let mut bad: Vec<RequestBuilder> = vec![
            // No identity, or a blank one.
            valid_request(&http, route, &session, None),
            valid_request(&http, route, &session, None).header("x-user-id", " "),
        ];
        if route.path.contains("{id}") {
            // Someone else's session, and an unknown one.
            bad.push(valid_request(&http, route, &session, Some("bob")));
            bad.push(valid_request(
                &http,
                route,
                "no-such-session",
                Some("alice"),
            ));
        }
        if route.body.is_some() {
            // Broken JSON, the wrong media type, an empty object, a huge body.
            let request = || http.request(route.method.clone(), &path).as_user("alice");
            bad.push(request().body("application/json", "{\"message\":"));
            bad.push(request().body("text/plain", "hello"));
            bad.push(request().json(&json!({})));
            bad.push(request().body("application/json", vec![b' '; 400_000]));
        }
        for request in bad {
            let answer = request.send().await.unwrap();
            assert!(
                answer.status().is_client_error(),
                "{route:?}: {} {}",
                answer.status(),
                answer.text()
            );
            assert_documented(&doc, route, &answer);
        }
    }
    // Nothing was written.
    let after = inspector.database_stats().await.unwrap();
    assert_eq!(after, before);
}

/// What the handlers refuse, the document says: a fuzzer that follows it sends nothing the API
/// refuses as invalid, and reaches every session operation through its links.
#[persistence_test(agents = ["AgentA"], http = "router")]
async fn the_document_states_what_the_handlers_enforce(http: HttpClient) {
    let doc = openapi();
    let list = &doc["paths"]["/api/v1/sessions"]["get"]["parameters"];
    let page_size = list
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["name"] == "page_size")
        .unwrap();
    let max = page_size["schema"]["maximum"].as_u64().unwrap();
    for (size, status) in [(max, 200), (max + 1, 422)] {
        let answer = http
            .get(&format!("/api/v1/sessions?page_size={size}"))
            .as_user("alice")
            .send()
            .await
            .unwrap();
        assert_eq!(answer.status().as_u16(), status, "page_size={size}");
    }
    // Blank agent names: refused, and outside the documented pattern (some non-space).
    let schemas = &doc["components"]["schemas"];
    assert_eq!(
        schemas["NewSession"]["properties"]["agent_name"]["pattern"],
        "\\S"
    );
    for (path, body) in [
        ("/api/v1/sessions", json!({ "agent_name": "  " })),
        (
            "/api/v1/tasks",
            json!({ "agent_name": " ", "message": "hi" }),
        ),
        ("/api/v1/tasks", json!({ "message": "hi" })),
    ] {
        let answer = http
            .post(path)
            .as_user("alice")
            .json(&body)
            .send()
            .await
            .unwrap();
        assert_eq!(answer.status().as_u16(), 422, "{path} {body}");
    }
    // Without a session, the task schema requires an agent.
    let task = &schemas["Task"]["anyOf"];
    assert_eq!(task[1]["required"], json!(["agent_name"]));
    // Every operation on a session is linked from those that make one.
    for (path, method, status, id) in [
        ("/api/v1/sessions", "post", "201", "$response.body#/id"),
        (
            "/api/v1/tasks",
            "post",
            "200",
            "$response.body#/result/sessionId",
        ),
    ] {
        let links = &doc["paths"][path][method]["responses"][status]["links"];
        for route in ROUTES.iter().filter(|r| r.path.contains("{id}")) {
            assert_eq!(
                links[route.operation_id]["parameters"]["id"], id,
                "{route:?}"
            );
        }
    }
}
