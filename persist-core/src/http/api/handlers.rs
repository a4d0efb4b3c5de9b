//! The handlers, one per route: read, check, call the [`GatewayApi`](crate::system::GatewayApi),
//! answer.

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use serde_json::{Map, Value};

use super::error::{ApiError, ApiResult};
use super::extract::{
    FormFields, JsonFields, QueryFields, SessionId, User, checked_agent, checked_id,
    checked_message, checked_name, page_param, required, string_field,
};
use super::wire::{MessageBody, SessionBody, SessionList, TaskAnswer};
use super::{DEFAULT_PAGE_SIZE, HttpApi, MAX_PAGE, MAX_PAGE_SIZE};

pub(super) async fn list_sessions(
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

pub(super) async fn create_session(
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

pub(super) async fn get_session(
    State(api): State<HttpApi>,
    User(user): User,
    SessionId(id): SessionId,
) -> ApiResult<Json<SessionBody>> {
    Ok(Json(api.gateway.get_session(&user, &id).await?.into()))
}

pub(super) async fn rename_session(
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

pub(super) async fn delete_session(
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

pub(super) async fn activate_session(
    State(api): State<HttpApi>,
    User(user): User,
    SessionId(id): SessionId,
) -> ApiResult<Json<SessionBody>> {
    Ok(Json(api.gateway.switch_session(&user, &id).await?.into()))
}

pub(super) async fn session_messages(
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

pub(super) async fn send_task(
    State(api): State<HttpApi>,
    User(user): User,
    JsonFields(fields): JsonFields,
) -> ApiResult<Json<TaskAnswer>> {
    task(&api, &user, &fields).await.map(Json)
}

pub(super) async fn subscribe_task(
    State(api): State<HttpApi>,
    User(user): User,
    FormFields(fields): FormFields,
) -> ApiResult<Json<TaskAnswer>> {
    task(&api, &user, &fields).await.map(Json)
}
