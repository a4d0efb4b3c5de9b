//! [`HttpGateway`]: a [`GatewayApi`] that is a client of the gateway's `/api/v1`.

use async_trait::async_trait;
use percent_encoding::{AsciiSet, NON_ALPHANUMERIC, utf8_percent_encode};
use serde_json::json;

use super::api::{ErrorBody, MAX_PAGE_SIZE, MessageBody, SessionBody, SessionList, TaskAnswer};
use super::client::{HttpClient, HttpResponse};
use crate::error::{PersistError, Result};
use crate::system::{ChatMessage, GatewayApi, SenderType, Session, Turn};

/// Everything but unreserved characters is escaped in a path segment.
const SEGMENT: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'_')
    .remove(b'.')
    .remove(b'~');

/// The gateway over HTTP: each [`GatewayApi`] call is a request to `/api/v1` (see
/// [`api`](super::api)), and each answer is read back into the framework's types, so every
/// suite written against [`GatewayPersistenceAdapter`](crate::GatewayPersistenceAdapter) runs
/// over HTTP unchanged.
///
/// Errors come back as the direct gateway's: `404` is
/// [`PersistError::SessionNotFound`], `422` is [`PersistError::InvalidInput`] (or
/// `MessageTooLong`, `UnknownAgent`), `502 model_failed` is [`PersistError::Llm`], `401` is
/// `InvalidInput` on `user_id`; anything else unexpected is [`PersistError::Http`] with the
/// status and body.
#[derive(Clone, Debug)]
pub struct HttpGateway {
    client: HttpClient,
}

impl HttpGateway {
    /// A gateway reached through `client`.
    pub fn new(client: HttpClient) -> Self {
        HttpGateway { client }
    }

    /// The client underneath.
    pub fn client(&self) -> &HttpClient {
        &self.client
    }
}

fn segment(id: &str) -> String {
    utf8_percent_encode(id, SEGMENT).to_string()
}

/// The field names the API reports, as the `'static` names [`PersistError::InvalidInput`]
/// carries.
fn field_name(field: Option<&str>) -> &'static str {
    match field {
        Some("message") => "message",
        Some("name") => "name",
        Some("agent_name") => "agent_name",
        Some("session_id") => "session_id",
        Some("page") => "page",
        Some("page_size") => "page_size",
        Some("user_id") => "user_id",
        _ => "request",
    }
}

/// What a call was about, to rebuild the direct gateway's error from an answer.
#[derive(Clone, Copy)]
struct Call<'a> {
    operation: &'static str,
    user_id: &'a str,
    session_id: Option<&'a str>,
    message: Option<&'a str>,
}

impl<'a> Call<'a> {
    /// A call about no session in particular.
    fn new(operation: &'static str, user_id: &'a str) -> Self {
        Call {
            operation,
            user_id,
            session_id: None,
            message: None,
        }
    }

    /// A call about one session.
    fn on(operation: &'static str, user_id: &'a str, session_id: &'a str) -> Self {
        Call {
            session_id: Some(session_id),
            ..Call::new(operation, user_id)
        }
    }
}

/// Turns an error answer into the error the direct gateway would have returned.
fn failure(answer: &HttpResponse, call: &Call<'_>) -> PersistError {
    let Call {
        operation,
        user_id,
        session_id,
        message,
    } = *call;
    let Ok(body) = answer.json::<ErrorBody>() else {
        return answer.error(format!("unexpected answer: {}", answer.text()));
    };
    let error = body.error;
    match (answer.status().as_u16(), error.code.as_str()) {
        (404, _) if session_id.is_some() => PersistError::SessionNotFound {
            session_id: session_id.unwrap_or_default().to_owned(),
            user_id: user_id.to_owned(),
        },
        (422, "message_too_long") => PersistError::MessageTooLong {
            length: message.map_or(0, |m| m.chars().count()),
            max: super::api::MAX_MESSAGE_CHARS,
        },
        (422, "unknown_agent") => PersistError::UnknownAgent {
            name: error.message,
            known: Vec::new(),
        },
        (422, _) => PersistError::InvalidInput {
            field: field_name(error.field.as_deref()),
            reason: error.message,
        },
        (502, "model_failed") => {
            let (agent, reason) = super::api::parse_model_failed(&error.message)
                .unwrap_or_else(|| (String::new(), error.message));
            PersistError::Llm { agent, reason }
        }
        (501, _) => PersistError::Unsupported {
            operation,
            reason: error.message,
        },
        (401, _) => PersistError::InvalidInput {
            field: "user_id",
            reason: error.message,
        },
        _ => answer.error(format!("{}: {}", error.code, error.message)),
    }
}

fn expect(answer: HttpResponse, status: u16, call: Call<'_>) -> Result<HttpResponse> {
    if answer.status() == status {
        Ok(answer)
    } else {
        Err(failure(&answer, &call))
    }
}

fn turn(answer: TaskAnswer, content: Option<String>) -> Turn {
    Turn {
        session_id: answer.result.session_id,
        task_id: answer.result.task_id,
        content: content.unwrap_or_default(),
    }
}

impl HttpGateway {
    /// `POST /api/v1/tasks` with `body`: the stored turn, with its reply.
    async fn task(&self, body: serde_json::Value, call: Call<'_>) -> Result<Turn> {
        let user_id = call.user_id;
        let answer = self
            .client
            .post("/api/v1/tasks")
            .as_user(user_id)
            .json(&body)
            .send()
            .await?;
        let answer: TaskAnswer = expect(answer, 200, call)?.json()?;
        let content = self.reply_of(user_id, &answer).await?;
        Ok(turn(answer, content))
    }

    /// The reply of a turn whose answer did not carry it: the agent's message with its task id.
    async fn reply_of(&self, user_id: &str, answer: &TaskAnswer) -> Result<Option<String>> {
        if let Some(content) = &answer.result.content {
            return Ok(Some(content.clone()));
        }
        let messages = self
            .session_messages(user_id, &answer.result.session_id)
            .await?;
        Ok(messages
            .into_iter()
            .rev()
            .find(|m| {
                m.sender_type == SenderType::Agent
                    && m.task_id.as_deref() == Some(&answer.result.task_id)
            })
            .map(|m| m.message))
    }
}

#[async_trait]
impl GatewayApi for HttpGateway {
    async fn create_session(&self, user_id: &str, agent_name: &str) -> Result<Session> {
        let answer = self
            .client
            .post("/api/v1/sessions")
            .as_user(user_id)
            .json(&json!({ "agent_name": agent_name }))
            .send()
            .await?;
        let body: SessionBody =
            expect(answer, 201, Call::new("create_session", user_id))?.json()?;
        Ok(body.into())
    }

    async fn send_message(&self, user_id: &str, session_id: &str, message: &str) -> Result<Turn> {
        let body = json!({ "session_id": session_id, "message": message });
        let call = Call {
            message: Some(message),
            ..Call::on("send_message", user_id, session_id)
        };
        self.task(body, call).await
    }

    async fn start_session(&self, user_id: &str, agent_name: &str, message: &str) -> Result<Turn> {
        let body = json!({ "agent_name": agent_name, "message": message });
        let call = Call {
            message: Some(message),
            ..Call::new("start_session", user_id)
        };
        self.task(body, call).await
    }

    async fn list_sessions(&self, user_id: &str) -> Result<Vec<Session>> {
        let mut sessions = Vec::new();
        for page in 1.. {
            let answer = self
                .client
                .get(&format!(
                    "/api/v1/sessions?page={page}&page_size={MAX_PAGE_SIZE}"
                ))
                .as_user(user_id)
                .send()
                .await?;
            let list: SessionList =
                expect(answer, 200, Call::new("list_sessions", user_id))?.json()?;
            let last = list.sessions.len() < MAX_PAGE_SIZE as usize;
            sessions.extend(list.sessions.into_iter().map(Session::from));
            if last || sessions.len() as u64 >= list.total_count {
                break;
            }
        }
        Ok(sessions)
    }

    async fn get_session(&self, user_id: &str, session_id: &str) -> Result<Session> {
        let answer = self
            .client
            .get(&format!("/api/v1/sessions/{}", segment(session_id)))
            .as_user(user_id)
            .send()
            .await?;
        let body: SessionBody =
            expect(answer, 200, Call::on("get_session", user_id, session_id))?.json()?;
        Ok(body.into())
    }

    async fn session_messages(&self, user_id: &str, session_id: &str) -> Result<Vec<ChatMessage>> {
        let answer = self
            .client
            .get(&format!(
                "/api/v1/sessions/{}/messages",
                segment(session_id)
            ))
            .as_user(user_id)
            .send()
            .await?;
        let messages: Vec<MessageBody> = expect(
            answer,
            200,
            Call::on("session_messages", user_id, session_id),
        )?
        .json()?;
        Ok(messages.into_iter().map(ChatMessage::from).collect())
    }

    async fn rename_session(&self, user_id: &str, session_id: &str, name: &str) -> Result<Session> {
        let answer = self
            .client
            .patch(&format!("/api/v1/sessions/{}", segment(session_id)))
            .as_user(user_id)
            .json(&json!({ "name": name }))
            .send()
            .await?;
        let body: SessionBody =
            expect(answer, 200, Call::on("rename_session", user_id, session_id))?.json()?;
        Ok(body.into())
    }

    async fn delete_session(&self, user_id: &str, session_id: &str) -> Result<bool> {
        let answer = self
            .client
            .delete(&format!("/api/v1/sessions/{}", segment(session_id)))
            .as_user(user_id)
            .send()
            .await?;
        match answer.status().as_u16() {
            204 => Ok(true),
            404 => Ok(false),
            _ => Err(failure(
                &answer,
                &Call::on("delete_session", user_id, session_id),
            )),
        }
    }

    async fn switch_session(&self, user_id: &str, session_id: &str) -> Result<Session> {
        let answer = self
            .client
            .post(&format!(
                "/api/v1/sessions/{}/activate",
                segment(session_id)
            ))
            .as_user(user_id)
            .send()
            .await?;
        let body: SessionBody =
            expect(answer, 200, Call::on("switch_session", user_id, session_id))?.json()?;
        Ok(body.into())
    }
}
