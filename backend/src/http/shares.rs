//! Share links: a viewer or writer link to one session, listed and revoked by its owner.

use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde_json::json;
use winrelay_shared::api::{FailureCode, NewShare, ShareInfo};
use winrelay_shared::protocol::Role;

use super::caller::{check_write, shared, Caller};
use super::error::{ApiResult, Failure};
use super::AppState;

/// `POST /api/sessions/{id}/shares`: a viewer or writer link.
pub async fn create_share(
    State(state): State<Arc<AppState>>,
    caller: Caller,
    headers: HeaderMap,
    Path(id): Path<String>,
    Json(req): Json<NewShare>,
) -> ApiResult<Response> {
    check_write(&state, &headers, caller.who.as_ref())?;
    let session = super::sessions::owned(&state, &caller, &id).await?;
    if req.role == Role::Owner {
        return Err(Failure::new(
            StatusCode::BAD_REQUEST,
            FailureCode::BadRole,
            "share links grant viewer or writer",
        ));
    }
    let ttl = Duration::from_secs(req.ttl_secs.clamp(1, 7 * 24 * 3600));
    let (token, share) = shared(&state).share(session.id(), req.role, ttl).await;
    state.audit.log(
        "share_created",
        json!({"user": caller.name(), "session": session.id(), "share": share.id,
            "role": share.role, "ttl_secs": ttl.as_secs()}),
    );
    let path = format!("/s/{}?share={}", session.id(), token);
    Ok((
        StatusCode::CREATED,
        Json(ShareInfo {
            id: share.id,
            role: share.role,
            expires_in_secs: ttl.as_secs(),
            clients: Vec::new(),
            token: Some(token),
            path: Some(path),
        }),
    )
        .into_response())
}

/// `GET /api/sessions/{id}/shares`.
pub async fn list_shares(
    State(state): State<Arc<AppState>>,
    caller: Caller,
    Path(id): Path<String>,
) -> ApiResult<Json<Vec<ShareInfo>>> {
    let session = super::sessions::owned(&state, &caller, &id).await?;
    let shares = shared(&state).shares_of(session.id()).await;
    let now = Instant::now();
    Ok(Json(
        shares
            .into_iter()
            .map(|s| ShareInfo {
                clients: session.clients_via(&s.id),
                id: s.id,
                role: s.role,
                expires_in_secs: s.expires.saturating_duration_since(now).as_secs(),
                token: None,
                path: None,
            })
            .collect(),
    ))
}

/// `DELETE /api/sessions/{id}/shares/{share}`: the link stops working and everyone who
/// joined through it is removed.
pub async fn revoke_share(
    State(state): State<Arc<AppState>>,
    caller: Caller,
    headers: HeaderMap,
    Path((id, share)): Path<(String, String)>,
) -> ApiResult<StatusCode> {
    check_write(&state, &headers, caller.who.as_ref())?;
    let session = super::sessions::owned(&state, &caller, &id).await?;
    if shared(&state).revoke(session.id(), &share).await {
        // On the relay that runs the session (its clients on every relay leave).
        let removed = session.kick_share(&share).await?;
        state.audit.log(
            "share_revoked",
            json!({"user": caller.name(), "session": session.id(), "share": share, "removed_clients": removed}),
        );
        Ok(StatusCode::NO_CONTENT)
    } else {
        Err(Failure::new(
            StatusCode::NOT_FOUND,
            FailureCode::UnknownShare,
            "no such share link",
        ))
    }
}
