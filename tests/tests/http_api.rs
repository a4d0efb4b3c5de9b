//! The gateway's HTTP API (`/api/v1`), driven over the router (in-process) and over a real
//! socket on 127.0.0.1, on whichever backend the environment names: status codes and JSON
//! bodies first, then the databases, read with the inspector.
//!
//! Suites: lifecycle, authorization, validation, error responses and hostile requests. The
//! contract (every documented route answers in its documented shape) is in
//! `http_contract.rs`.

use persist_core::assertions::*;
use persist_core::http::{HttpApi, HttpClient, HttpResponse, Identity};
use persist_core::inspect::DatabaseStats;
use persist_core::prelude::*;
use serde_json::{Value, json};

/// Sends a task as `user` and returns `(session id, task id)`, requiring a 200.
async fn task(http: &HttpClient, user: &str, body: Value) -> (String, String) {
    let answer = http
        .post("/api/v1/tasks")
        .as_user(user)
        .json(&body)
        .send()
        .await
        .unwrap();
    assert_eq!(answer.status(), 200, "task failed: {}", answer.text());
    let result = &answer.json_value().unwrap()["result"];
    (
        result["sessionId"].as_str().unwrap().to_owned(),
        result["taskId"].as_str().unwrap().to_owned(),
    )
}

fn body(answer: &HttpResponse) -> Value {
    answer
        .json_value()
        .unwrap_or_else(|e| panic!("not JSON: {e}"))
}

/// The answer is the API's error shape with this status, code and field.
#[track_caller]
fn assert_error(answer: &HttpResponse, status: u16, code: &str, field: Option<&str>) {
    assert_eq!(
        answer.status(),
        status,
        "expected {status} {code}, got: {}",
        answer.text()
    );
    assert_eq!(
        answer.header("content-type"),
        Some("application/json"),
        "errors are JSON"
    );
    let body = body(answer);
    let error = body["error"].as_object().expect("an `error` object");
    assert_eq!(error["status"], status);
    assert_eq!(error["code"], code, "{body}");
    assert!(error["message"].as_str().is_some_and(|m| !m.is_empty()));
    assert_eq!(error["field"].as_str(), field, "{body}");
    assert_eq!(
        error.len(),
        4,
        "exactly status, code, message, field: {body}"
    );
}

async fn stats(inspector: &CrossDatabaseInspector) -> DatabaseStats {
    inspector.database_stats().await.unwrap()
}

// ---------------------------------------------------------------------------------------------
// Lifecycle

#[persistence_test(agents = ["AgentA", "AgentB"], http = ["router", "socket"])]
async fn a_task_without_a_session_creates_one_and_lands_in_both_databases(
    http: HttpClient,
    inspector: CrossDatabaseInspector,
) {
    let (session, task_id) = task(
        &http,
        "alice",
        json!({ "agent_name": "AgentA", "message": "hello" }),
    )
    .await;

    let list = body(
        &http
            .get("/api/v1/sessions")
            .as_user("alice")
            .send()
            .await
            .unwrap(),
    );
    assert_eq!(list["total_count"], 1);
    assert_eq!(list["sessions"][0]["id"], session.as_str());
    assert_eq!(list["sessions"][0]["agent_id"], "AgentA");
    assert_eq!(list["sessions"][0]["user_id"], "alice");

    let messages = http
        .get(&format!("/api/v1/sessions/{session}/messages"))
        .as_user("alice")
        .send()
        .await
        .unwrap()
        .expect_status(200)
        .unwrap();
    let messages = body(&messages);
    let messages = messages.as_array().unwrap();
    assert_eq!(messages.len(), 2);
    assert_eq!(messages[0]["sender_type"], "user");
    assert_eq!(messages[0]["sender_name"], "alice");
    assert_eq!(messages[0]["message"], "hello");
    assert_eq!(messages[1]["sender_type"], "agent");
    assert_eq!(messages[1]["sender_name"], "AgentA");
    for m in messages {
        assert_eq!(m["session_id"], session.as_str());
        assert_eq!(m["task_id"], task_id.as_str());
    }

    assert_gateway_session_exists(&inspector, &session, "alice", "AgentA").await;
    assert_gateway_message_count(&inspector, &session, 2).await;
    assert_agent_message_count(&inspector, "AgentA", &session, 2).await;
    assert_agent_message_count(&inspector, "AgentB", &session, 0).await;
    assert_session_linking(&inspector, &session, "AgentA").await;
    assert_integrity(&inspector).await;
}

#[persistence_test(agents = ["AgentA"], http = ["router", "socket"])]
async fn a_task_with_a_session_continues_it(
    http: HttpClient,
    inspector: CrossDatabaseInspector,
    llm: ScriptedLlm,
) {
    let (session, _) = task(
        &http,
        "alice",
        json!({ "agent_name": "AgentA", "message": "one" }),
    )
    .await;
    // agent_name may be given again, if it is the session's.
    let (again, _) = task(
        &http,
        "alice",
        json!({ "session_id": session, "agent_name": "AgentA", "message": "two" }),
    )
    .await;
    let (third, _) = task(
        &http,
        "alice",
        json!({ "session_id": session, "message": "three" }),
    )
    .await;
    assert_eq!(
        (again.as_str(), third.as_str()),
        (session.as_str(), session.as_str())
    );

    let stats = stats(&inspector).await;
    assert_eq!(stats, DatabaseStats::expect(1, 6).agent("AgentA", 1, 6));
    let texts: Vec<String> = inspector
        .gateway_messages(&session)
        .await
        .unwrap()
        .into_iter()
        .map(|m| m.message)
        .collect();
    assert_eq!(texts[0], "one");
    assert_eq!(texts[2], "two");
    assert_eq!(texts[4], "three");
    // The model saw the session's earlier turns as context.
    let last = llm.requests().pop().unwrap();
    assert_eq!(last.context.len(), 4);
}

#[persistence_test(agents = ["AgentA"], http = ["router", "socket"])]
async fn the_form_endpoint_stores_tasks_like_the_json_one(
    http: HttpClient,
    inspector: CrossDatabaseInspector,
) {
    let answer = http
        .post("/api/v1/tasks/subscribe")
        .as_user("alice")
        .form(&[("agent_name", "AgentA"), ("message", "über form & co")])
        .send()
        .await
        .unwrap()
        .expect_status(200)
        .unwrap();
    let session = body(&answer)["result"]["sessionId"]
        .as_str()
        .unwrap()
        .to_owned();
    let answer = http
        .post("/api/v1/tasks/subscribe")
        .as_user("alice")
        .form(&[("session_id", session.as_str()), ("message", "again")])
        .send()
        .await
        .unwrap();
    assert_eq!(answer.status(), 200, "{}", answer.text());
    assert_message_contains(&inspector, &session, "über form & co", Some("user")).await;
    assert_agent_message_count(&inspector, "AgentA", &session, 4).await;
}

#[persistence_test(agents = ["AgentA", "AgentB"], http = ["router", "socket"])]
async fn sessions_are_listed_most_recent_first_one_page_at_a_time(
    http: HttpClient,
    gateway: GatewayPersistenceAdapter,
) {
    let mut ids = Vec::new();
    for (i, agent) in ["AgentA", "AgentB", "AgentA", "AgentB", "AgentA"]
        .iter()
        .enumerate()
    {
        let answer = http
            .post("/api/v1/sessions")
            .as_user("alice")
            .json(&json!({ "agent_name": agent, "name": format!("s{i}") }))
            .send()
            .await
            .unwrap();
        assert_eq!(answer.status(), 201, "{}", answer.text());
        ids.push(body(&answer)["id"].as_str().unwrap().to_owned());
    }
    // Someone else's session is never counted.
    gateway.create_session("bob", "AgentA").await.unwrap();
    // A turn in the second session makes it the most recently updated.
    task(
        &http,
        "alice",
        json!({ "session_id": ids[1], "message": "bump" }),
    )
    .await;

    let page = |query: &str| {
        let http = http.clone();
        let query = query.to_owned();
        async move {
            body(
                &http
                    .get(&format!("/api/v1/sessions{query}"))
                    .as_user("alice")
                    .send()
                    .await
                    .unwrap()
                    .expect_status(200)
                    .unwrap(),
            )
        }
    };
    let all = page("").await;
    assert_eq!(all["total_count"], 5);
    let order: Vec<&str> = all["sessions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["id"].as_str().unwrap())
        .collect();
    assert_eq!(
        order[0], ids[1],
        "the session with the latest turn comes first"
    );
    let mut rest = ids.clone();
    rest.remove(1);
    rest.reverse();
    assert_eq!(
        &order[1..],
        &rest.iter().map(String::as_str).collect::<Vec<_>>()[..]
    );

    let first = page("?page=1&page_size=2").await;
    assert_eq!(first["total_count"], 5);
    assert_eq!(first["sessions"].as_array().unwrap().len(), 2);
    assert_eq!(first["sessions"][0]["id"], order[0]);
    let third = page("?page=3&page_size=2").await;
    assert_eq!(third["sessions"].as_array().unwrap().len(), 1);
    assert_eq!(third["sessions"][0]["id"], order[4]);
    let beyond = page("?page=4&page_size=2").await;
    assert_eq!(beyond["sessions"], json!([]));
    assert_eq!(beyond["total_count"], 5);
}

#[persistence_test(agents = ["AgentA"], http = ["router", "socket"])]
async fn a_session_reads_back_renames_and_activates(
    http: HttpClient,
    inspector: CrossDatabaseInspector,
) {
    let (session, _) = task(
        &http,
        "alice",
        json!({ "agent_name": "AgentA", "message": "hi" }),
    )
    .await;
    let path = format!("/api/v1/sessions/{session}");
    let before = body(&http.get(&path).as_user("alice").send().await.unwrap());
    assert_eq!(before["id"], session.as_str());
    assert_eq!(before["name"], Value::Null);
    for key in [
        "id",
        "user_id",
        "name",
        "agent_id",
        "created_at",
        "updated_at",
    ] {
        assert!(before.get(key).is_some(), "missing {key}: {before}");
    }

    let renamed = http
        .patch(&path)
        .as_user("alice")
        .json(&json!({ "name": "  Trip to Lisbon  " }))
        .send()
        .await
        .unwrap()
        .expect_status(200)
        .unwrap();
    let renamed = body(&renamed);
    assert_eq!(renamed["name"], "Trip to Lisbon", "names are trimmed");
    assert!(renamed["updated_at"].as_i64() > before["updated_at"].as_i64());
    let row = inspector.gateway_session(&session).await.unwrap().unwrap();
    assert_eq!(row.name.as_deref(), Some("Trip to Lisbon"));
    assert_eq!(row.updated_at, renamed["updated_at"].as_i64().unwrap());

    let active = http
        .post(&format!("{path}/activate"))
        .as_user("alice")
        .send()
        .await
        .unwrap()
        .expect_status(200)
        .unwrap();
    assert!(body(&active)["last_active_at"].as_i64() >= before["last_active_at"].as_i64());
}

#[persistence_test(agents = ["AgentA", "AgentB"], http = ["router", "socket"])]
async fn deleting_a_session_removes_it_from_the_gateway_and_its_agent(
    http: HttpClient,
    inspector: CrossDatabaseInspector,
) {
    let (gone, _) = task(
        &http,
        "alice",
        json!({ "agent_name": "AgentA", "message": "a" }),
    )
    .await;
    let (kept, _) = task(
        &http,
        "alice",
        json!({ "agent_name": "AgentB", "message": "b" }),
    )
    .await;
    let path = format!("/api/v1/sessions/{gone}");

    let answer = http.delete(&path).as_user("alice").send().await.unwrap();
    assert_eq!(answer.status(), 204);
    assert!(answer.bytes().is_empty(), "204 has no body");
    assert_error(
        &http.get(&path).as_user("alice").send().await.unwrap(),
        404,
        "not_found",
        None,
    );
    assert_error(
        &http.delete(&path).as_user("alice").send().await.unwrap(),
        404,
        "not_found",
        None,
    );

    assert!(inspector.gateway_session(&gone).await.unwrap().is_none());
    assert!(inspector.gateway_messages(&gone).await.unwrap().is_empty());
    assert!(
        inspector
            .agent_sessions("AgentA", Some(&gone))
            .await
            .unwrap()
            .is_empty()
    );
    assert!(
        inspector
            .agent_messages("AgentA", Some(&gone))
            .await
            .unwrap()
            .is_empty()
    );
    assert_eq!(
        stats(&inspector).await,
        DatabaseStats::expect(1, 2)
            .agent("AgentA", 0, 0)
            .agent("AgentB", 1, 2)
    );
    assert_session_linking(&inspector, &kept, "AgentB").await;
    assert_integrity(&inspector).await;
}

/// The adapter over HTTP behaves as it does directly: the same calls, the same typed errors.
#[persistence_test(agents = ["AgentA", "AgentB"], http = ["direct", "router", "socket"])]
async fn the_adapter_behaves_the_same_over_every_transport(
    gateway: GatewayPersistenceAdapter,
    inspector: CrossDatabaseInspector,
) -> Result<(), PersistError> {
    let session = gateway.create_session("alice", "AgentA").await?;
    let turn = gateway.send_message(&session.id, "hello", "alice").await?;
    assert_eq!(turn.session_id, session.id);
    assert!(!turn.content.is_empty());
    let messages = gateway.session_messages(&session.id, "alice").await?;
    assert_eq!(messages.len(), 2);
    assert_eq!(messages[1].message, turn.content);
    assert_eq!(messages[1].task_id.as_deref(), Some(turn.task_id.as_str()));

    let renamed = gateway
        .rename_session(&session.id, "  Renamed ", "alice")
        .await?;
    assert_eq!(renamed.name.as_deref(), Some("Renamed"));
    assert_eq!(gateway.get_session(&session.id, "alice").await?, {
        let mut s = gateway.get_session(&session.id, "alice").await?;
        s.name = Some("Renamed".into());
        s
    });
    assert_eq!(gateway.list_sessions("alice").await?.len(), 1);
    assert!(gateway.list_sessions("bob").await?.is_empty());

    // Typed errors, as the direct gateway gives them.
    assert!(matches!(
        gateway.get_session(&session.id, "bob").await,
        Err(PersistError::SessionNotFound { .. })
    ));
    assert!(matches!(
        gateway.send_message(&session.id, "   ", "alice").await,
        Err(PersistError::InvalidInput {
            field: "message",
            ..
        })
    ));
    assert!(matches!(
        gateway
            .send_message(&session.id, &"x".repeat(10_001), "alice")
            .await,
        Err(PersistError::MessageTooLong { max: 10_000, .. })
    ));
    assert!(matches!(
        gateway.create_session("alice", "Nobody").await,
        Err(PersistError::UnknownAgent { .. })
    ));
    assert!(matches!(
        gateway.rename_session(&session.id, " ", "alice").await,
        Err(PersistError::InvalidInput { field: "name", .. })
    ));
    assert!(!gateway.delete_session(&session.id, "bob").await?);
    assert_eq!(inspector.database_stats().await?.gateway.messages, 2);
    assert!(gateway.delete_session(&session.id, "alice").await?);
    assert!(!gateway.delete_session(&session.id, "alice").await?);
    assert_eq!(
        inspector.database_stats().await?,
        DatabaseStats::expect(0, 0)
            .agent("AgentA", 0, 0)
            .agent("AgentB", 0, 0)
    );
    Ok(())
}

// ---------------------------------------------------------------------------------------------
// Authorization

#[persistence_test(agents = ["AgentA"], http = ["router", "socket"])]
async fn every_route_needs_an_identity(http: HttpClient, inspector: CrossDatabaseInspector) {
    let (session, _) = task(
        &http,
        "alice",
        json!({ "agent_name": "AgentA", "message": "hi" }),
    )
    .await;
    let before = stats(&inspector).await;
    for route in persist_core::http::api::ROUTES
        .iter()
        .filter(|r| r.authenticated)
    {
        let path = route.path.replace("{id}", &session);
        let mut request = http.request(route.method.clone(), &path);
        request = match route.body {
            Some((media, _)) if media.contains("json") => {
                request.json(&json!({ "agent_name": "AgentA", "message": "x", "name": "x" }))
            }
            Some(_) => request.form(&[("agent_name", "AgentA"), ("message", "x")]),
            None => request,
        };
        let answer = request.send().await.unwrap();
        assert_error(&answer, 401, "unauthorized", None);
        assert_eq!(
            answer.header("www-authenticate"),
            Some("Bearer"),
            "{route:?}"
        );
    }
    // Blank, over-long and control-character identities are no identity. (HTTP/1.1 drops
    // the spaces around a header value, so a padded id arrives unpadded.)
    for bad in ["", "   ", "al\tice", &"u".repeat(256)] {
        let answer = http
            .get("/api/v1/sessions")
            .header("x-user-id", bad)
            .send()
            .await
            .unwrap();
        assert_error(&answer, 401, "unauthorized", None);
    }
    let answer = http
        .get("/api/v1/sessions")
        .header("authorization", "Basic YWxpY2U6cHc=")
        .send()
        .await
        .unwrap();
    assert_error(&answer, 401, "unauthorized", None);
    assert_eq!(stats(&inspector).await, before, "nothing was written");
}

#[persistence_test(agents = ["AgentA"], http = ["router", "socket"])]
async fn a_bearer_token_identifies_the_user(http: HttpClient) {
    let bearer = http.clone().with_identity(Identity::bearer());
    let (session, _) = task(
        &bearer,
        "alice",
        json!({ "agent_name": "AgentA", "message": "hi" }),
    )
    .await;
    // The header and the token name the same user.
    let answer = http
        .get(&format!("/api/v1/sessions/{session}"))
        .as_user("alice")
        .send()
        .await
        .unwrap();
    assert_eq!(answer.status(), 200);
    let as_bob = bearer
        .get(&format!("/api/v1/sessions/{session}"))
        .as_user("bob")
        .send()
        .await
        .unwrap();
    assert_error(&as_bob, 404, "not_found", None);
}

#[persistence_test(agents = ["AgentA"])]
async fn configured_tokens_are_the_only_ones_accepted(gateway: GatewayComponent) {
    let app = HttpApi::new(gateway).bearer_tokens([("t-alice", "alice"), ("t-bob", "bob")]);
    let http = HttpClient::router(app.clone().router())
        .with_identity(Identity::bearer_with(|user| format!("t-{user}")));
    let (session, _) = task(
        &http,
        "alice",
        json!({ "agent_name": "AgentA", "message": "hi" }),
    )
    .await;
    let path = format!("/api/v1/sessions/{session}");
    assert_eq!(
        http.get(&path)
            .as_user("alice")
            .send()
            .await
            .unwrap()
            .status(),
        200
    );
    assert_error(
        &http.get(&path).as_user("bob").send().await.unwrap(),
        404,
        "not_found",
        None,
    );
    assert_error(
        &http.get(&path).as_user("mallory").send().await.unwrap(),
        401,
        "unauthorized",
        None,
    );
    // A raw user id is not a token here.
    let raw = HttpClient::router(app.router()).with_identity(Identity::bearer());
    assert_error(
        &raw.get("/api/v1/sessions")
            .as_user("alice")
            .send()
            .await
            .unwrap(),
        401,
        "unauthorized",
        None,
    );
}

#[persistence_test(agents = ["AgentA"], http = ["router", "socket"])]
async fn another_users_session_is_exactly_like_an_unknown_one(
    http: HttpClient,
    inspector: CrossDatabaseInspector,
) {
    let (session, _) = task(
        &http,
        "alice",
        json!({ "agent_name": "AgentA", "message": "mine" }),
    )
    .await;
    let before = stats(&inspector).await;
    let row_before = inspector.gateway_session(&session).await.unwrap();
    let unknown = uuid::Uuid::new_v4().to_string();

    let attempts = |id: &str| {
        let path = format!("/api/v1/sessions/{id}");
        vec![
            http.get(&path),
            http.get(&format!("{path}/messages")),
            http.patch(&path).json(&json!({ "name": "stolen" })),
            http.delete(&path),
            http.post(&format!("{path}/activate")),
            http.post("/api/v1/tasks")
                .json(&json!({ "session_id": id, "message": "hi" })),
            http.post("/api/v1/tasks/subscribe")
                .form(&[("session_id", id), ("message", "hi")]),
        ]
    };
    for (theirs, missing) in attempts(&session).into_iter().zip(attempts(&unknown)) {
        let theirs = theirs.as_user("bob").send().await.unwrap();
        let missing = missing.as_user("bob").send().await.unwrap();
        assert_error(&theirs, 404, "not_found", None);
        assert_eq!(theirs.text(), missing.text(), "no existence leak");
    }
    // Look-alike users are other users.
    for other in ["Alice", "ALICE", "alice2"] {
        let answer = http
            .get(&format!("/api/v1/sessions/{session}"))
            .as_user(other)
            .send()
            .await
            .unwrap();
        assert_error(&answer, 404, "not_found", None);
    }
    let listed = body(
        &http
            .get("/api/v1/sessions")
            .as_user("bob")
            .send()
            .await
            .unwrap(),
    );
    assert_eq!(listed, json!({ "sessions": [], "total_count": 0 }));

    assert_eq!(stats(&inspector).await, before, "nothing was written");
    assert_eq!(
        inspector.gateway_session(&session).await.unwrap(),
        row_before
    );
    assert_no_user_data_leakage(&inspector, "alice", "bob").await;
}

#[persistence_test(agents = ["AgentA"], http = ["router", "socket"])]
async fn blank_null_and_undefined_ids_are_404(http: HttpClient, inspector: CrossDatabaseInspector) {
    task(
        &http,
        "alice",
        json!({ "agent_name": "AgentA", "message": "hi" }),
    )
    .await;
    let before = stats(&inspector).await;
    for id in ["%20", "null", "undefined", "%20null%20", "%09"] {
        for path in [
            format!("/api/v1/sessions/{id}"),
            format!("/api/v1/sessions/{id}/messages"),
        ] {
            let answer = http.get(&path).as_user("alice").send().await.unwrap();
            assert_error(&answer, 404, "not_found", None);
        }
        let answer = http
            .delete(&format!("/api/v1/sessions/{id}"))
            .as_user("alice")
            .send()
            .await
            .unwrap();
        assert_error(&answer, 404, "not_found", None);
    }
    for id in ["", " ", "null", "undefined"] {
        let answer = http
            .post("/api/v1/tasks")
            .as_user("alice")
            .json(&json!({ "session_id": id, "message": "hi" }))
            .send()
            .await
            .unwrap();
        assert_error(&answer, 404, "not_found", None);
    }
    assert_eq!(stats(&inspector).await, before);
}

// ---------------------------------------------------------------------------------------------
// Validation

#[persistence_test(agents = ["AgentA"], http = ["router", "socket"])]
async fn invalid_fields_are_422_naming_the_field_and_store_nothing(
    http: HttpClient,
    inspector: CrossDatabaseInspector,
) {
    let (session, _) = task(
        &http,
        "alice",
        json!({ "agent_name": "AgentA", "message": "hi" }),
    )
    .await;
    let before = stats(&inspector).await;
    let post = |body: Value| http.post("/api/v1/tasks").as_user("alice").json(&body);

    let cases: Vec<(Value, &str, &str)> = vec![
        (
            json!({ "agent_name": "AgentA", "message": "" }),
            "invalid_input",
            "message",
        ),
        (
            json!({ "agent_name": "AgentA", "message": " \n\t " }),
            "invalid_input",
            "message",
        ),
        (
            json!({ "agent_name": "AgentA" }),
            "invalid_input",
            "message",
        ),
        (
            json!({ "agent_name": "AgentA", "message": 42 }),
            "invalid_input",
            "message",
        ),
        (
            json!({ "agent_name": "AgentA", "message": "x".repeat(10_001) }),
            "message_too_long",
            "message",
        ),
        (
            json!({ "session_id": session, "message": "é".repeat(10_001) }),
            "message_too_long",
            "message",
        ),
        (json!({ "message": "hi" }), "invalid_input", "agent_name"),
        (
            json!({ "agent_name": " ", "message": "hi" }),
            "invalid_input",
            "agent_name",
        ),
        (
            json!({ "agent_name": ["AgentA"], "message": "hi" }),
            "invalid_input",
            "agent_name",
        ),
        (
            json!({ "agent_name": "Nobody", "message": "hi" }),
            "unknown_agent",
            "agent_name",
        ),
        (
            json!({ "session_id": session, "agent_name": "Other", "message": "hi" }),
            "invalid_input",
            "agent_name",
        ),
        (
            json!({ "session_id": 7, "message": "hi" }),
            "invalid_input",
            "session_id",
        ),
        (json!(["not", "an", "object"]), "invalid_input", "body"),
    ];
    for (request, code, field) in cases {
        let answer = post(request.clone()).send().await.unwrap();
        assert_error(&answer, 422, code, Some(field));
    }

    let path = format!("/api/v1/sessions/{session}");
    for name in [
        json!(""),
        json!("    "),
        json!("n".repeat(256)),
        json!(null),
        json!(3),
    ] {
        let answer = http
            .patch(&path)
            .as_user("alice")
            .json(&json!({ "name": name }))
            .send()
            .await
            .unwrap();
        assert_error(&answer, 422, "invalid_input", Some("name"));
    }
    for query in [
        "page=0",
        "page=-1",
        "page=abc",
        "page_size=0",
        "page_size=101",
        "page=1.5",
    ] {
        let field = query.split('=').next().unwrap();
        let answer = http
            .get(&format!("/api/v1/sessions?{query}"))
            .as_user("alice")
            .send()
            .await
            .unwrap();
        assert_error(&answer, 422, "invalid_input", Some(field));
    }
    let answer = http
        .post("/api/v1/sessions")
        .as_user("alice")
        .json(&json!({ "agent_name": "AgentA", "name": "" }))
        .send()
        .await
        .unwrap();
    assert_error(&answer, 422, "invalid_input", Some("name"));

    assert_eq!(stats(&inspector).await, before, "nothing was written");
    assert_eq!(
        inspector
            .gateway_session(&session)
            .await
            .unwrap()
            .unwrap()
            .name,
        None
    );
}

#[persistence_test(agents = ["AgentA"], http = ["router", "socket"])]
async fn limits_are_inclusive(http: HttpClient, inspector: CrossDatabaseInspector) {
    // 10,000 four-byte characters, escaped or not, fit.
    let longest = "😀".repeat(10_000);
    let (session, _) = task(
        &http,
        "alice",
        json!({ "agent_name": "AgentA", "message": longest }),
    )
    .await;
    assert_message_contains(&inspector, &session, &longest, Some("user")).await;
    let name = format!("  {}  ", "n".repeat(255));
    let answer = http
        .patch(&format!("/api/v1/sessions/{session}"))
        .as_user("alice")
        .json(&json!({ "name": name }))
        .send()
        .await
        .unwrap();
    assert_eq!(answer.status(), 200, "{}", answer.text());
    assert_eq!(body(&answer)["name"], "n".repeat(255));
    let page = http
        .get("/api/v1/sessions?page=1&page_size=100")
        .as_user("alice")
        .send()
        .await
        .unwrap();
    assert_eq!(page.status(), 200);
}

// ---------------------------------------------------------------------------------------------
// Error responses and hostile requests

#[persistence_test(agents = ["AgentA"], http = ["router", "socket"])]
async fn malformed_bodies_are_4xx_never_500(http: HttpClient, inspector: CrossDatabaseInspector) {
    let cases: Vec<(&str, &str, &str, u16, &str)> = vec![
        (
            "/api/v1/tasks",
            "application/json",
            "{\"agent_name\": \"AgentA\", ",
            400,
            "malformed_body",
        ),
        (
            "/api/v1/tasks",
            "application/json",
            "",
            400,
            "malformed_body",
        ),
        (
            "/api/v1/tasks",
            "application/json",
            "\u{0}\u{1}garbage",
            400,
            "malformed_body",
        ),
        (
            "/api/v1/tasks",
            "text/plain",
            "{\"agent_name\":\"AgentA\",\"message\":\"hi\"}",
            415,
            "unsupported_media_type",
        ),
        (
            "/api/v1/tasks",
            "",
            "{\"agent_name\":\"AgentA\",\"message\":\"hi\"}",
            415,
            "unsupported_media_type",
        ),
        (
            "/api/v1/tasks",
            "application/x-www-form-urlencoded",
            "agent_name=AgentA&message=hi",
            415,
            "unsupported_media_type",
        ),
        (
            "/api/v1/tasks/subscribe",
            "application/json",
            "{\"agent_name\":\"AgentA\",\"message\":\"hi\"}",
            415,
            "unsupported_media_type",
        ),
        (
            "/api/v1/tasks/subscribe",
            "application/x-www-form-urlencoded",
            "message=hi&message=again&agent_name=AgentA",
            422,
            "invalid_input",
        ),
        (
            "/api/v1/sessions",
            "application/json",
            "null",
            422,
            "invalid_input",
        ),
    ];
    for (path, content_type, raw, status, code) in cases {
        let answer = http
            .post(path)
            .as_user("alice")
            .body(content_type, raw.to_owned())
            .send()
            .await
            .unwrap();
        assert_eq!(
            answer.status(),
            status,
            "{path} {content_type} {raw:?}: {}",
            answer.text()
        );
        assert_eq!(body(&answer)["error"]["code"], code);
    }
    assert_eq!(
        stats(&inspector).await,
        DatabaseStats::expect(0, 0).agent("AgentA", 0, 0)
    );
}

#[persistence_test(agents = ["AgentA"], http = ["router", "socket"])]
async fn oversized_bodies_are_refused(http: HttpClient, inspector: CrossDatabaseInspector) {
    let huge = json!({ "agent_name": "AgentA", "message": "x".repeat(300_000) });
    let answer = http
        .post("/api/v1/tasks")
        .as_user("alice")
        .json(&huge)
        .send()
        .await
        .unwrap();
    assert_error(&answer, 413, "payload_too_large", None);
    let form = http
        .post("/api/v1/tasks/subscribe")
        .as_user("alice")
        .form(&[("agent_name", "AgentA"), ("message", &"y".repeat(300_000))])
        .send()
        .await
        .unwrap();
    assert_error(&form, 413, "payload_too_large", None);
    assert_eq!(
        stats(&inspector).await,
        DatabaseStats::expect(0, 0).agent("AgentA", 0, 0)
    );
}

#[persistence_test(agents = ["AgentA"], http = ["router", "socket"])]
async fn path_traversal_and_sql_looking_ids_find_nothing_and_change_nothing(
    http: HttpClient,
    inspector: CrossDatabaseInspector,
) {
    let (session, _) = task(
        &http,
        "alice",
        json!({ "agent_name": "AgentA", "message": "hi" }),
    )
    .await;
    let before = stats(&inspector).await;
    let hostile = [
        "..%2F..%2Fetc%2Fpasswd",
        "%2E%2E",
        "..",
        "%27%20OR%20%271%27%3D%271",
        "1%3B%20DROP%20TABLE%20sessions%3B%20--",
        "%22%29%3B%20DELETE%20FROM%20chat_messages%3B%20--",
        "%25",
        "%00",
        &format!("{session}%27%20OR%201%3D1"),
        &format!("{session}%20"),
        &"a".repeat(300),
    ];
    for id in hostile {
        for (method, path) in [
            ("GET", format!("/api/v1/sessions/{id}")),
            ("GET", format!("/api/v1/sessions/{id}/messages")),
            ("DELETE", format!("/api/v1/sessions/{id}")),
        ] {
            let request = match method {
                "GET" => http.get(&path),
                _ => http.delete(&path),
            };
            let answer = request.as_user("alice").send().await.unwrap();
            assert_error(&answer, 404, "not_found", None);
        }
    }
    for path in [
        "/api/v1/sessions/../../../etc/passwd",
        "/api/v1/../v1/sessions",
        "/etc/passwd",
        "/api/v2/sessions",
    ] {
        let answer = http.get(path).as_user("alice").send().await.unwrap();
        assert_error(&answer, 404, "not_found", None);
    }
    // SQL in a user id is just a user id that owns nothing.
    let answer = http
        .get("/api/v1/sessions")
        .as_user("' OR '1'='1")
        .send()
        .await
        .unwrap();
    assert_eq!(body(&answer)["total_count"], 0);
    assert_eq!(
        stats(&inspector).await,
        before,
        "nothing was written or removed"
    );
    assert_integrity(&inspector).await;
}

#[persistence_test(agents = ["AgentA"], http = ["router", "socket"])]
async fn unknown_routes_and_methods_answer_in_the_error_shape(http: HttpClient) {
    assert_error(
        &http.get("/").as_user("alice").send().await.unwrap(),
        404,
        "not_found",
        None,
    );
    assert_error(
        &http
            .get("/api/v1/nothing")
            .as_user("alice")
            .send()
            .await
            .unwrap(),
        404,
        "not_found",
        None,
    );
    let answer = http
        .put("/api/v1/sessions")
        .as_user("alice")
        .send()
        .await
        .unwrap();
    assert_error(&answer, 405, "method_not_allowed", None);
    let answer = http
        .get("/api/v1/tasks")
        .as_user("alice")
        .send()
        .await
        .unwrap();
    assert_error(&answer, 405, "method_not_allowed", None);
}

#[persistence_test(agents = ["AgentA"], http = ["router", "socket"])]
async fn a_failed_model_leaves_no_session_and_no_message(
    http: HttpClient,
    llm: ScriptedLlm,
    inspector: CrossDatabaseInspector,
) {
    llm.queue_failure("AgentA", "the model is down");
    let answer = http
        .post("/api/v1/tasks")
        .as_user("alice")
        .json(&json!({ "agent_name": "AgentA", "message": "hi" }))
        .send()
        .await
        .unwrap();
    assert_error(&answer, 502, "model_failed", None);
    assert_eq!(
        stats(&inspector).await,
        DatabaseStats::expect(0, 0).agent("AgentA", 0, 0),
        "a failed first turn leaves no session"
    );
    let (session, _) = task(
        &http,
        "alice",
        json!({ "agent_name": "AgentA", "message": "hi" }),
    )
    .await;
    llm.queue_failure("AgentA", "down again");
    let answer = http
        .post("/api/v1/tasks")
        .as_user("alice")
        .json(&json!({ "session_id": session, "message": "more" }))
        .send()
        .await
        .unwrap();
    assert_error(&answer, 502, "model_failed", None);
    assert_eq!(
        stats(&inspector).await,
        DatabaseStats::expect(1, 2).agent("AgentA", 1, 2)
    );
}

// ---------------------------------------------------------------------------------------------
// The server's lifetime is the test's

mod server_lifetime {
    use std::cell::Cell;
    use std::net::{SocketAddr, TcpStream};
    use std::sync::Arc;

    use persist_core::db::{AgentSchema, GatewaySchema};
    use persist_core::mesh::ReferenceMesh;
    // The runner without the attribute: its plumbing, not public API.
    use persist_core::__private::{HttpTransport, TestConfig, run_test};
    use persist_core::system::{Layout, Running, System};
    use persist_core::{MultiDatabaseManager, async_trait};

    thread_local! {
        /// The server's address, as the body saw it.
        static ADDRESS: Cell<Option<SocketAddr>> = const { Cell::new(None) };
        /// Whether nothing listened there when the system stopped (after the server's stop,
        /// before the databases go, while the runtime still runs).
        static CLOSED_AT_STOP: Cell<Option<bool>> = const { Cell::new(None) };
    }

    /// The reference mesh, with a stop that probes the test server's port.
    struct Probe;

    #[async_trait]
    impl System for Probe {
        fn gateway_schema(&self) -> Arc<dyn GatewaySchema> {
            ReferenceMesh.gateway_schema()
        }
        fn agent_schema(&self) -> Arc<dyn AgentSchema> {
            ReferenceMesh.agent_schema()
        }
        fn layout(&self) -> Option<Layout> {
            ReferenceMesh.layout()
        }
        async fn start(&self, databases: &MultiDatabaseManager) -> persist_core::Result<Running> {
            // The test runs on one thread: the stop runs where the body did.
            Ok(ReferenceMesh.start(databases).await?.on_stop(async {
                if let Some(addr) = ADDRESS.with(Cell::get) {
                    let closed = tokio::net::TcpStream::connect(addr).await.is_err();
                    CLOSED_AT_STOP.with(|c| c.set(Some(closed)));
                }
            }))
        }
    }

    /// Runs a socket-transport test whose body records its server's address (and panics if
    /// asked to); returns the address and what the system's stop found there.
    fn run(panics: bool) -> (SocketAddr, Option<bool>) {
        ADDRESS.with(|a| a.set(None));
        CLOSED_AT_STOP.with(|c| c.set(None));
        let config = TestConfig {
            http: Some(HttpTransport::Socket),
            system: Some(|| Arc::new(Probe)),
            ..TestConfig::new("http_api::server_lifetime", &["AgentA"])
        };
        let outcome = std::panic::catch_unwind(move || {
            run_test(config, move |ctx| async move {
                let http = ctx.http().map_err(|e| e.to_string())?;
                let url = http.base_url().expect("a socket client has a base URL");
                let addr: SocketAddr = url.trim_start_matches("http://").parse().unwrap();
                // The server answers while the test runs, also to a second connection.
                TcpStream::connect(addr).expect("the server is listening during the test");
                let answer = http.get("/api/v1/sessions").as_user("alice").send().await;
                assert_eq!(answer.map_err(|e| e.to_string())?.status(), 200);
                ADDRESS.with(|a| a.set(Some(addr)));
                assert!(!panics, "the body panics");
                Ok(())
            })
        });
        assert_eq!(outcome.is_err(), panics);
        (
            ADDRESS.with(Cell::get).expect("the body ran"),
            CLOSED_AT_STOP.with(Cell::get),
        )
    }

    #[test]
    fn the_server_is_stopped_and_awaited_before_the_system_stops() {
        for panics in [false, true] {
            let (addr, closed) = run(panics);
            assert_eq!(
                closed,
                Some(true),
                "panics: {panics}: the port was closed when the system stopped"
            );
            assert!(TcpStream::connect(addr).is_err(), "and stays closed");
        }
    }
}
