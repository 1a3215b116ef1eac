//! The HTTP API (`/api/...`), sign-in, health and metrics.

use std::sync::Arc;
use std::time::Duration;

use axum::extract::{Path, Query, State, WebSocketUpgrade};
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use axum::Json;
use serde::{Deserialize, Serialize};
use tracing::info;
use winrelay_shared::protocol::api::{ApiError, CreateSession, SessionInfo};
use winrelay_shared::protocol::{Role, SessionState};

use crate::auth::{self, COOKIE};
use crate::config::Secret;
use crate::server::AppState;
use crate::session::Session;
use crate::targets::LookupError;

/// An API failure: status, code and a message for a person.
pub struct Failure(StatusCode, &'static str, String);

impl IntoResponse for Failure {
    fn into_response(self) -> Response {
        (
            self.0,
            Json(ApiError {
                error: self.1.into(),
                message: self.2,
            }),
        )
            .into_response()
    }
}

fn not_signed_in() -> Failure {
    Failure(
        StatusCode::UNAUTHORIZED,
        "not_signed_in",
        "sign in first (the relay printed a login link when it started)".into(),
    )
}

fn no_session() -> Failure {
    Failure(
        StatusCode::NOT_FOUND,
        "unknown_session",
        "no such session, or it is not yours: it may have ended".into(),
    )
}

type ApiResult<T> = Result<T, Failure>;

/// Query parameters that may carry a share token.
#[derive(Deserialize, Default)]
pub struct Access {
    /// A share link's token.
    #[serde(default)]
    share: Option<String>,
    /// A lower role than the caller has (an owner watching read-only).
    #[serde(default)]
    role: Option<Role>,
}

/// The caller's name and role on a session, or `None` without access.
fn access(
    state: &AppState,
    headers: &HeaderMap,
    session: &Session,
    q: &Access,
) -> Option<(String, Role)> {
    let user = state.auth.user(headers);
    let granted = if user.as_deref() == Some(session.owner.as_str()) {
        Some(Role::Owner)
    } else {
        q.share
            .as_deref()
            .and_then(|t| state.auth.share_for(t))
            .filter(|s| s.session == session.id)
            .map(|s| s.role)
    }?;
    let role = match q.role {
        Some(r) if r < granted => r,
        _ => granted,
    };
    Some((user.unwrap_or_else(|| "guest".into()), role))
}

fn check_origin(state: &AppState, headers: &HeaderMap) -> ApiResult<()> {
    if auth::origin_allowed(headers, &state.allowed_origins) {
        Ok(())
    } else {
        Err(Failure(
            StatusCode::FORBIDDEN,
            "bad_origin",
            "requests from this page's origin are not allowed".into(),
        ))
    }
}

/// `GET /login?token=T`: redeems a one-time login link.
pub async fn login(State(state): State<Arc<AppState>>, Query(q): Query<LoginQuery>) -> Response {
    match state.auth.redeem(&q.token) {
        Some((cookie, user)) => {
            info!(%user, "signed in with a login link");
            let secure = if state.tls { "; Secure" } else { "" };
            let set = format!("{COOKIE}={cookie}; Path=/; HttpOnly; SameSite=Lax; Max-Age=43200{secure}");
            ([(header::SET_COOKIE, set)], Redirect::to("/")).into_response()
        }
        None => (StatusCode::UNAUTHORIZED, [(header::CONTENT_TYPE, "text/html; charset=utf-8")], "<!doctype html><title>winrelay</title><p>This login link is invalid, expired or already used. Ask for a new one (restarting the demo relay prints one).</p>").into_response(),
    }
}

/// Query of `/login`.
#[derive(Deserialize)]
pub struct LoginQuery {
    token: String,
}

/// `POST /api/logout`.
pub async fn logout(State(state): State<Arc<AppState>>, headers: HeaderMap) -> ApiResult<Response> {
    check_origin(&state, &headers)?;
    if let Some(c) = auth::cookie_value(&headers, COOKIE) {
        state.auth.sign_out(&c);
    }
    Ok((
        [(
            header::SET_COOKIE,
            format!("{COOKIE}=; Path=/; HttpOnly; SameSite=Lax; Max-Age=0"),
        )],
        StatusCode::NO_CONTENT,
    )
        .into_response())
}

#[derive(Serialize)]
struct Me {
    user: String,
    signed_in: bool,
}

/// `GET /api/me`.
pub async fn me(State(state): State<Arc<AppState>>, headers: HeaderMap) -> ApiResult<Response> {
    let user = state.auth.user(&headers).ok_or_else(not_signed_in)?;
    Ok(Json(Me {
        user,
        signed_in: true,
    })
    .into_response())
}

/// `GET /api/targets`.
pub async fn targets(
    State(state): State<Arc<AppState>>,
    headers: HeaderMap,
) -> ApiResult<Response> {
    let user = state.auth.user(&headers).ok_or_else(not_signed_in)?;
    Ok(Json(state.targets.visible_to(&user)).into_response())
}

/// `GET /api/sessions`: the caller's sessions.
pub async fn list_sessions(
    State(state): State<Arc<AppState>>,
    headers: HeaderMap,
) -> ApiResult<Json<Vec<SessionInfo>>> {
    let user = state.auth.user(&headers).ok_or_else(not_signed_in)?;
    Ok(Json(
        state
            .registry
            .list()
            .into_iter()
            .filter(|s| s.owner == user)
            .map(|s| s.info(Role::Owner))
            .collect(),
    ))
}

/// How long `POST /api/sessions` waits for the shell before answering.
const OPEN_WAIT: Duration = Duration::from_secs(30);

/// `POST /api/sessions`: opens a shell on a target.
pub async fn create_session(
    State(state): State<Arc<AppState>>,
    headers: HeaderMap,
    Json(req): Json<CreateSession>,
) -> ApiResult<Response> {
    check_origin(&state, &headers)?;
    let user = state.auth.user(&headers).ok_or_else(not_signed_in)?;
    let creds = match (req.username, req.password) {
        (Some(u), Some(p)) => Some((u, Secret(p))),
        _ => None,
    };
    let connector = state
        .targets
        .connector(&req.target, &user, creds)
        .await
        .map_err(|e| match e {
            LookupError::Unknown(_) => {
                Failure(StatusCode::NOT_FOUND, "unknown_target", e.to_string())
            }
            LookupError::NeedsCredentials(_) => Failure(
                StatusCode::BAD_REQUEST,
                "credentials_required",
                e.to_string(),
            ),
            LookupError::AddressNotAllowed(_) => {
                Failure(StatusCode::FORBIDDEN, "address_not_allowed", e.to_string())
            }
            LookupError::NoSuchHost(_) => {
                Failure(StatusCode::BAD_GATEWAY, "no_such_host", e.to_string())
            }
        })?;
    let cols = req
        .cols
        .unwrap_or(80)
        .clamp(1, winrelay_shared::protocol::MAX_COLS);
    let rows = req
        .rows
        .unwrap_or(24)
        .clamp(1, winrelay_shared::protocol::MAX_ROWS);
    let session = state
        .registry
        .create(req.target.clone(), user.clone(), connector, cols, rows)
        .await
        .map_err(|m| Failure(StatusCode::SERVICE_UNAVAILABLE, "too_many_sessions", m))?;
    info!(session = %session.id, target = %req.target, %user, "session created");
    // Wait for the shell so that wrong credentials or an unreachable target are reported here.
    let mut events = session.subscribe_events();
    let _ = tokio::time::timeout(OPEN_WAIT, async {
        while session.state() == SessionState::Connecting {
            if events.recv().await.is_err() {
                break;
            }
        }
    })
    .await;
    if let SessionState::Failed { message } = session.state() {
        let code = classify(&message);
        return Err(Failure(StatusCode::BAD_GATEWAY, code, message));
    }
    Ok((StatusCode::CREATED, Json(session.info(Role::Owner))).into_response())
}

/// A machine-readable code for an open failure, so the page can react (ask again, ...).
fn classify(message: &str) -> &'static str {
    if message.starts_with("wrong user name or password") {
        "wrong_credentials"
    } else if message.contains("has fingerprint") {
        "certificate_mismatch"
    } else if message.contains("not trusted") {
        "certificate_untrusted"
    } else if message.starts_with("cannot reach") {
        "unreachable"
    } else {
        "target_failed"
    }
}

/// `GET /api/sessions/{id}`.
pub async fn get_session(
    State(state): State<Arc<AppState>>,
    headers: HeaderMap,
    Path(id): Path<String>,
    Query(q): Query<Access>,
) -> ApiResult<Json<SessionInfo>> {
    let session = state.registry.get(&id).ok_or_else(no_session)?;
    let (_, role) = access(&state, &headers, &session, &q).ok_or_else(no_session)?;
    Ok(Json(session.info(role)))
}

/// `DELETE /api/sessions/{id}`: ends the shell.
pub async fn end_session(
    State(state): State<Arc<AppState>>,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> ApiResult<StatusCode> {
    check_origin(&state, &headers)?;
    let session = state.registry.get(&id).ok_or_else(no_session)?;
    match access(&state, &headers, &session, &Access::default()) {
        Some((_, Role::Owner)) => {
            session.end();
            Ok(StatusCode::NO_CONTENT)
        }
        _ => Err(no_session()),
    }
}

/// `POST /api/sessions/{id}/shares` body.
#[derive(Deserialize)]
pub struct NewShare {
    role: Role,
    #[serde(default = "default_share_ttl")]
    ttl_secs: u64,
}

fn default_share_ttl() -> u64 {
    3600
}

/// A share link as the owner sees it.
#[derive(Serialize)]
pub struct ShareInfo {
    id: String,
    role: Role,
    expires_in_secs: u64,
    #[serde(skip_serializing_if = "Option::is_none")]
    token: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    path: Option<String>,
}

fn owner_session(state: &AppState, headers: &HeaderMap, id: &str) -> ApiResult<Arc<Session>> {
    let session = state.registry.get(id).ok_or_else(no_session)?;
    match access(state, headers, &session, &Access::default()) {
        Some((_, Role::Owner)) => Ok(session),
        _ => Err(no_session()),
    }
}

/// `POST /api/sessions/{id}/shares`: a viewer or writer link.
pub async fn create_share(
    State(state): State<Arc<AppState>>,
    headers: HeaderMap,
    Path(id): Path<String>,
    Json(req): Json<NewShare>,
) -> ApiResult<Response> {
    check_origin(&state, &headers)?;
    let session = owner_session(&state, &headers, &id)?;
    if req.role == Role::Owner {
        return Err(Failure(
            StatusCode::BAD_REQUEST,
            "bad_role",
            "share links grant viewer or writer".into(),
        ));
    }
    let ttl = Duration::from_secs(req.ttl_secs.clamp(60, 7 * 24 * 3600));
    let (token, share) = state.auth.share(&session.id, req.role, ttl);
    let path = format!("/s/{}?share={}", session.id, token);
    Ok((
        StatusCode::CREATED,
        Json(ShareInfo {
            id: share.id,
            role: share.role,
            expires_in_secs: ttl.as_secs(),
            token: Some(token),
            path: Some(path),
        }),
    )
        .into_response())
}

/// `GET /api/sessions/{id}/shares`.
pub async fn list_shares(
    State(state): State<Arc<AppState>>,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> ApiResult<Json<Vec<ShareInfo>>> {
    let session = owner_session(&state, &headers, &id)?;
    let now = std::time::Instant::now();
    Ok(Json(
        state
            .auth
            .shares_of(&session.id)
            .into_iter()
            .map(|s| ShareInfo {
                id: s.id,
                role: s.role,
                expires_in_secs: s.expires.saturating_duration_since(now).as_secs(),
                token: None,
                path: None,
            })
            .collect(),
    ))
}

/// `DELETE /api/sessions/{id}/shares/{share}`.
pub async fn revoke_share(
    State(state): State<Arc<AppState>>,
    headers: HeaderMap,
    Path((id, share)): Path<(String, String)>,
) -> ApiResult<StatusCode> {
    check_origin(&state, &headers)?;
    let session = owner_session(&state, &headers, &id)?;
    if state.auth.revoke(&session.id, &share) {
        Ok(StatusCode::NO_CONTENT)
    } else {
        Err(Failure(
            StatusCode::NOT_FOUND,
            "unknown_share",
            "no such share link".into(),
        ))
    }
}

/// `POST /api/sessions/{id}/clients/{client}/kick`.
pub async fn kick(
    State(state): State<Arc<AppState>>,
    headers: HeaderMap,
    Path((id, client)): Path<(String, u64)>,
) -> ApiResult<StatusCode> {
    check_origin(&state, &headers)?;
    let session = owner_session(&state, &headers, &id)?;
    if session.kick(client) {
        Ok(StatusCode::NO_CONTENT)
    } else {
        Err(Failure(
            StatusCode::NOT_FOUND,
            "unknown_client",
            "no such client in this session".into(),
        ))
    }
}

/// Body of `PUT /api/sessions/{id}/clients/{client}/role`.
#[derive(Deserialize)]
pub struct SetRole {
    role: Role,
}

/// `PUT /api/sessions/{id}/clients/{client}/role`: writer <-> viewer.
pub async fn set_role(
    State(state): State<Arc<AppState>>,
    headers: HeaderMap,
    Path((id, client)): Path<(String, u64)>,
    Json(req): Json<SetRole>,
) -> ApiResult<StatusCode> {
    check_origin(&state, &headers)?;
    let session = owner_session(&state, &headers, &id)?;
    if req.role != Role::Owner && session.set_role(client, req.role) {
        Ok(StatusCode::NO_CONTENT)
    } else {
        Err(Failure(
            StatusCode::BAD_REQUEST,
            "bad_role",
            "only attached writers and viewers can change role, to writer or viewer".into(),
        ))
    }
}

/// `GET /api/sessions/{id}/ws`: attaches a WebSocket.
pub async fn websocket(
    State(state): State<Arc<AppState>>,
    headers: HeaderMap,
    Path(id): Path<String>,
    Query(q): Query<Access>,
    ws: WebSocketUpgrade,
) -> ApiResult<Response> {
    check_origin(&state, &headers)?;
    let session = state.registry.get(&id).ok_or_else(no_session)?;
    let (name, role) = access(&state, &headers, &session, &q).ok_or_else(no_session)?;
    let metrics = state.metrics.clone();
    Ok(ws
        .max_message_size(4 * winrelay_shared::protocol::MAX_CLIENT_TEXT)
        .on_upgrade(move |socket| crate::ws::run(socket, session, name, role, metrics)))
}

/// `GET /healthz`: the process serves requests.
pub async fn healthz() -> &'static str {
    "ok"
}

/// `GET /readyz`: the relay is ready for sessions.
pub async fn readyz(State(state): State<Arc<AppState>>) -> Response {
    if state.ready.load(std::sync::atomic::Ordering::Acquire) {
        "ready".into_response()
    } else {
        (StatusCode::SERVICE_UNAVAILABLE, "starting").into_response()
    }
}

/// `GET /metrics`.
pub async fn metrics(State(state): State<Arc<AppState>>) -> Response {
    (
        [(
            header::CONTENT_TYPE,
            "application/openmetrics-text; version=1.0.0; charset=utf-8",
        )],
        state.metrics.render(),
    )
        .into_response()
}
