//! The embed page's calls: open (or find) its session with an embed token, and which
//! origins may frame the relay.

use std::sync::Arc;

use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use winrelay_shared::api::{EmbedInfo, EmbedOpen, FailureCode};
use winrelay_shared::protocol::Role;

use super::caller::{check_origin, Caller, EMBED_HEADER};
use super::error::{ApiResult, Failure};
use super::sessions::open_session;
use super::AppState;

/// `POST /api/embed/session`: what an embed page calls with its token: a token scoped to a
/// session returns that session; one scoped to a target opens a new session there (for
/// writers and owners).
pub async fn embed_session(
    State(state): State<Arc<AppState>>,
    caller: Caller,
    headers: HeaderMap,
    body: Option<Json<EmbedOpen>>,
) -> ApiResult<Response> {
    check_origin(&state, &headers)?;
    let who = caller.require()?;
    let Some(scope) = &who.scope else {
        return Err(Failure::new(
            StatusCode::BAD_REQUEST,
            FailureCode::EmbedTokenRequired,
            format!("send the embed token as `embed_token=` or `{EMBED_HEADER}`"),
        ));
    };
    if let Some(sid) = &scope.session {
        let session = state.registry.get(sid).ok_or_else(Failure::no_session)?;
        return Ok(Json(session.info(scope.role)).into_response());
    }
    let target = scope.target.clone().unwrap_or_default();
    let Json(req) = body.unwrap_or_default();
    let session = open_session(&state, who, caller.peer, &target, None, req.cols, req.rows).await?;
    Ok((StatusCode::CREATED, Json(session.info(Role::Owner))).into_response())
}

/// `GET /api/embed/info`: the origins that may frame the relay (the embed page posts
/// messages only to, and accepts them only from, one of these).
pub async fn embed_info(State(state): State<Arc<AppState>>) -> Json<EmbedInfo> {
    Json(EmbedInfo {
        frame_ancestors: state.frame_ancestors.clone(),
    })
}
