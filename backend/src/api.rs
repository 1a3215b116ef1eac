//! The HTTP API (`/api/...`), sign-in, health and metrics.
//!
//! Every handler learns who is calling from [`Caller`] (embed token, API token, proxy
//! headers, or the sign-in cookie) and decides with [`session_role`] and the target's
//! roles; nothing trusts the page.

use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::extract::{ConnectInfo, FromRequestParts, Path, Query, State, WebSocketUpgrade};
use axum::http::request::Parts;
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use axum::Json;
use serde::{Deserialize, Serialize};
use serde_json::json;
use tracing::{debug, info};
use winrelay_shared::protocol::api::{ApiError, CreateSession, SessionInfo};
use winrelay_shared::protocol::{Role, SessionState};

use crate::audit::SessionWatch;
use crate::auth::{self, COOKIE, VIA_SHARE};
use crate::config::Secret;
use crate::server::AppState;
use crate::session::{Observer, Session};
use crate::targets::LookupError;
use crate::users::{Identity, Method};

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

/// Header a page sends on state-changing requests when its browser sends no Origin.
pub const CSRF_HEADER: &str = "x-winrelay";
/// Header (or `embed_token` query parameter) carrying an embed token.
pub const EMBED_HEADER: &str = "x-winrelay-embed";

/// Who is calling, and from where.
pub struct Caller {
    /// The identity, if any credential was presented.
    pub who: Option<Identity>,
    /// The peer address of the connection.
    pub peer: Option<IpAddr>,
}

#[derive(Deserialize)]
struct EmbedQuery {
    embed_token: Option<String>,
}

impl FromRequestParts<Arc<AppState>> for Caller {
    type Rejection = Failure;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &Arc<AppState>,
    ) -> Result<Self, Self::Rejection> {
        let peer = parts
            .extensions
            .get::<ConnectInfo<SocketAddr>>()
            .map(|c| c.0.ip());
        let who = identify(state, parts, peer)?;
        Ok(Caller { who, peer })
    }
}

impl Caller {
    fn require(&self) -> ApiResult<&Identity> {
        self.who.as_ref().ok_or_else(not_signed_in)
    }
}

/// Resolves the caller: an embed token, then a trusted proxy's headers, then an API token,
/// then the sign-in cookie. A credential that is presented but wrong is an error, never a
/// silent fall-back to another one.
fn identify(state: &AppState, parts: &Parts, peer: Option<IpAddr>) -> ApiResult<Option<Identity>> {
    let headers = &parts.headers;
    let embed_token = headers
        .get(EMBED_HEADER)
        .and_then(|v| v.to_str().ok())
        .map(str::to_string)
        .or_else(|| {
            Query::<EmbedQuery>::try_from_uri(&parts.uri)
                .ok()
                .and_then(|q| q.0.embed_token)
        });
    if let Some(token) = embed_token {
        let Some(embed) = &state.embed else {
            return Err(Failure(
                StatusCode::UNAUTHORIZED,
                "bad_embed_token",
                "this relay does not accept embed tokens".into(),
            ));
        };
        return match embed.verify(&token) {
            Ok(who) => Ok(Some(who)),
            Err(e) => {
                debug!(error = %e, "embed token refused");
                state.audit.log(
                    "embed_refused",
                    json!({"ip": peer, "reason": e.to_string()}),
                );
                Err(Failure(
                    StatusCode::UNAUTHORIZED,
                    "bad_embed_token",
                    e.to_string(),
                ))
            }
        };
    }
    // Behind a trusted proxy its headers win (it may pass on an Authorization of its own).
    if let Some(who) = state.users.proxy(peer, headers) {
        return Ok(Some(who));
    }
    let bearer = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|a| {
            a.strip_prefix("Bearer ")
                .or_else(|| a.strip_prefix("bearer "))
        })
        .map(str::trim);
    if let Some(token) = bearer {
        return match state.users.token(token) {
            Some((who, _name)) => Ok(Some(who)),
            None => Err(Failure(
                StatusCode::UNAUTHORIZED,
                "bad_token",
                "the API token is not valid".into(),
            )),
        };
    }
    Ok(state.auth.user(headers))
}

/// The Origin rule, for every state-changing request and every WebSocket.
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

/// Cross-site protection of a state-changing request: an Origin must be allowed; without
/// one, a request carrying credentials the browser adds by itself (cookies) must carry
/// `X-Winrelay: 1`, which a page of another site cannot add without the relay's consent
/// (CORS). Requests without ambient credentials (API tokens, embed tokens, nobody signed
/// in) cannot be forged by another site and are not asked for it.
fn check_write(state: &AppState, headers: &HeaderMap, who: Option<&Identity>) -> ApiResult<()> {
    check_origin(state, headers)?;
    let ambient = who.is_some_and(|w| w.method.ambient());
    if ambient
        && !headers.contains_key(header::ORIGIN)
        && headers.get(CSRF_HEADER).and_then(|v| v.to_str().ok()) != Some("1")
    {
        return Err(Failure(
            StatusCode::FORBIDDEN,
            "csrf",
            format!("this request needs an Origin header or `{CSRF_HEADER}: 1`"),
        ));
    }
    Ok(())
}

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

/// The role `who` has on `session` without any share link: the session's owner is its
/// owner; others have their role on the session's target (so colleagues find and join
/// sessions of targets they may use); an embed token for one session has its role there.
pub fn session_role(state: &AppState, who: Option<&Identity>, session: &Session) -> Option<Role> {
    let who = who?;
    if let Some(sid) = who.scope.as_ref().and_then(|s| s.session.as_ref()) {
        return (*sid == session.id).then(|| who.scope.as_ref().map(|s| s.role))?;
    }
    let on_target = state.targets.role_of(&session.target, who)?;
    if session.owner == who.user && on_target >= Role::Writer {
        Some(Role::Owner)
    } else {
        Some(on_target)
    }
}

/// The caller's name, role and the share link used (if that is what grants the role).
fn access(
    state: &AppState,
    caller: &Caller,
    session: &Session,
    q: &Access,
) -> Option<(String, Role, Option<String>)> {
    let own = session_role(state, caller.who.as_ref(), session);
    let shared = q
        .share
        .as_deref()
        .and_then(|t| state.auth.share_for(t))
        .filter(|s| s.session == session.id);
    let (granted, via) = match (own, shared) {
        (Some(r), Some(s)) if s.role > r => (s.role, Some(s.id)),
        (Some(r), _) => (r, None),
        (None, Some(s)) => (s.role, Some(s.id)),
        (None, None) => return None,
    };
    let role = match q.role {
        Some(r) if r < granted => r,
        _ => granted,
    };
    let name = caller
        .who
        .as_ref()
        .map(|w| w.user.clone())
        .unwrap_or_else(|| "guest".into());
    Some((name, role, via))
}

fn session_cookie(state: &AppState, value: &str, max_age: u64) -> String {
    let secure = if state.tls { "; Secure" } else { "" };
    format!("{COOKIE}={value}; Path=/; HttpOnly; SameSite=Lax; Max-Age={max_age}{secure}")
}

/// `GET /login?token=T`: redeems a one-time login link.
pub async fn login(
    State(state): State<Arc<AppState>>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    Query(q): Query<LoginQuery>,
) -> Response {
    match state.auth.redeem(&q.token) {
        Some(user) => {
            info!(%user, "signed in with a login link");
            let who = Identity::new(user.clone(), state.users.groups_of(&user), Method::Link);
            let cookie = state.auth.sign_in(&who);
            state.audit.log(
                "signed_in",
                json!({"user": user, "method": Method::Link, "ip": peer.ip()}),
            );
            (
                [(header::SET_COOKIE, session_cookie(&state, &cookie, 43200))],
                Redirect::to("/"),
            )
                .into_response()
        }
        None => (StatusCode::UNAUTHORIZED, [(header::CONTENT_TYPE, "text/html; charset=utf-8")], "<!doctype html><title>winrelay</title><p>This login link is invalid, expired or already used. Ask for a new one (restarting the demo relay prints one).</p>").into_response(),
    }
}

/// Query of `/login`.
#[derive(Deserialize)]
pub struct LoginQuery {
    token: String,
}

/// Body of `POST /api/login`.
#[derive(Deserialize)]
pub struct PasswordLogin {
    user: String,
    password: String,
}

/// `POST /api/login`: user name and password of a local user -> sign-in cookie.
pub async fn password_login(
    State(state): State<Arc<AppState>>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    Json(req): Json<PasswordLogin>,
) -> ApiResult<Response> {
    check_write(&state, &headers, None)?;
    let ip = peer.ip();
    let keys = vec![format!("ip:{ip}"), format!("user:{}", req.user)];
    if let Some(wait) = state.limiter.blocked(&keys, Instant::now()) {
        let secs = wait.as_secs() + u64::from(wait.subsec_nanos() > 0);
        state.audit.log(
            "sign_in_refused",
            json!({"user": req.user, "ip": ip, "reason": "too many attempts"}),
        );
        return Ok((
            StatusCode::TOO_MANY_REQUESTS,
            [(header::RETRY_AFTER, secs.max(1).to_string())],
            Json(ApiError {
                error: "too_many_attempts".into(),
                message: format!("too many failed sign-ins: try again in {} s", secs.max(1)),
            }),
        )
            .into_response());
    }
    let checked = {
        let state = state.clone();
        let (user, password) = (req.user.clone(), Secret(req.password));
        tokio::task::spawn_blocking(move || state.users.check_password(&user, &password.0))
            .await
            .ok()
            .flatten()
    };
    let Some(who) = checked else {
        state.limiter.failed(&keys, Instant::now());
        state.audit.log(
            "sign_in_failed",
            json!({"user": req.user, "ip": ip, "method": Method::Password}),
        );
        return Err(Failure(
            StatusCode::UNAUTHORIZED,
            "bad_credentials",
            "wrong user name or password".into(),
        ));
    };
    state.limiter.succeeded(&keys[1..]);
    let cookie = state.auth.sign_in(&who);
    info!(user = %who.user, "signed in with a password");
    state.audit.log(
        "signed_in",
        json!({"user": who.user, "method": Method::Password, "ip": ip}),
    );
    Ok((
        [(header::SET_COOKIE, session_cookie(&state, &cookie, 43200))],
        Json(json!({"user": who.user, "signed_in": true, "method": Method::Password})),
    )
        .into_response())
}

/// `POST /api/logout`.
pub async fn logout(
    State(state): State<Arc<AppState>>,
    caller: Caller,
    headers: HeaderMap,
) -> ApiResult<Response> {
    check_write(&state, &headers, caller.who.as_ref())?;
    if let Some(c) = auth::cookie_value(&headers, COOKIE) {
        if let Some(who) = &caller.who {
            state
                .audit
                .log("signed_out", json!({"user": who.user, "ip": caller.peer}));
        }
        state.auth.sign_out(&c);
    }
    Ok((
        [(header::SET_COOKIE, session_cookie(&state, "", 0))],
        StatusCode::NO_CONTENT,
    )
        .into_response())
}

#[derive(Serialize)]
struct Me {
    user: String,
    signed_in: bool,
    groups: Vec<String>,
    method: Method,
}

/// `GET /api/me`.
pub async fn me(caller: Caller) -> ApiResult<Response> {
    let who = caller.require()?;
    Ok(Json(Me {
        user: who.user.clone(),
        signed_in: true,
        groups: who.groups.clone(),
        method: who.method,
    })
    .into_response())
}

/// `GET /api/targets`.
pub async fn targets(State(state): State<Arc<AppState>>, caller: Caller) -> ApiResult<Response> {
    let who = caller.require()?;
    Ok(Json(state.targets.visible_to(who)).into_response())
}

/// `GET /api/sessions`: the caller's sessions, and the sessions of targets they have a role
/// on (with that role).
pub async fn list_sessions(
    State(state): State<Arc<AppState>>,
    caller: Caller,
) -> ApiResult<Json<Vec<SessionInfo>>> {
    let who = caller.require()?;
    Ok(Json(
        state
            .registry
            .list()
            .into_iter()
            .filter_map(|s| session_role(&state, Some(who), &s).map(|r| s.info(r)))
            .collect(),
    ))
}

/// How long `POST /api/sessions` waits for the shell before answering.
const OPEN_WAIT: Duration = Duration::from_secs(30);

/// `POST /api/sessions`: opens a shell on a target.
pub async fn create_session(
    State(state): State<Arc<AppState>>,
    caller: Caller,
    headers: HeaderMap,
    Json(req): Json<CreateSession>,
) -> ApiResult<Response> {
    check_write(&state, &headers, caller.who.as_ref())?;
    let who = caller.require()?;
    let creds = match (req.username, req.password) {
        (Some(u), Some(p)) => Some((u, Secret(p))),
        _ => None,
    };
    let session = open_session(
        &state,
        who,
        caller.peer,
        &req.target,
        creds,
        req.cols,
        req.rows,
    )
    .await?;
    Ok((StatusCode::CREATED, Json(session.info(Role::Owner))).into_response())
}

async fn open_session(
    state: &Arc<AppState>,
    who: &Identity,
    peer: Option<IpAddr>,
    target: &str,
    creds: Option<(String, Secret)>,
    cols: Option<u16>,
    rows: Option<u16>,
) -> ApiResult<Arc<Session>> {
    let connector = state
        .targets
        .connector(target, who, creds)
        .await
        .map_err(|e| match e {
            LookupError::Unknown(_) => {
                Failure(StatusCode::NOT_FOUND, "unknown_target", e.to_string())
            }
            LookupError::ViewOnly(_) => Failure(StatusCode::FORBIDDEN, "view_only", e.to_string()),
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
    let cols = cols
        .unwrap_or(80)
        .clamp(1, winrelay_shared::protocol::MAX_COLS);
    let rows = rows
        .unwrap_or(24)
        .clamp(1, winrelay_shared::protocol::MAX_ROWS);
    let user = who.user.clone();
    let record = state.targets.records(target);
    let observe = |id: &str| -> Option<Arc<dyn Observer>> {
        let recorder = match (&state.recordings, record) {
            (Some(r), true) => match r.start(id, target, &user, cols, rows) {
                Ok(rec) => Some(rec),
                Err(e) => {
                    tracing::warn!(error = %e, "cannot start the recording");
                    None
                }
            },
            _ => None,
        };
        Some(Arc::new(SessionWatch::new(
            id,
            target,
            state.audit.clone(),
            state.auth.clone(),
            recorder,
        )))
    };
    let session = state
        .registry
        .create_observed(
            target.to_string(),
            user.clone(),
            connector,
            cols,
            rows,
            observe,
        )
        .await
        .map_err(|m| Failure(StatusCode::SERVICE_UNAVAILABLE, "too_many_sessions", m))?;
    info!(session = %session.id, %target, %user, "session created");
    state.audit.log(
        "opened",
        json!({"user": user, "method": who.method, "target": target, "session": session.id,
            "ip": peer, "recorded": record && state.recordings.is_some()}),
    );
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
    Ok(session)
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

/// Body of `POST /api/embed/session`.
#[derive(Deserialize, Default)]
pub struct EmbedOpen {
    #[serde(default)]
    cols: Option<u16>,
    #[serde(default)]
    rows: Option<u16>,
}

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
        return Err(Failure(
            StatusCode::BAD_REQUEST,
            "embed_token_required",
            format!("send the embed token as `embed_token=` or `{EMBED_HEADER}`"),
        ));
    };
    if let Some(sid) = &scope.session {
        let session = state.registry.get(sid).ok_or_else(no_session)?;
        return Ok(Json(session.info(scope.role)).into_response());
    }
    let target = scope.target.clone().unwrap_or_default();
    let Json(req) = body.unwrap_or_default();
    let session = open_session(&state, who, caller.peer, &target, None, req.cols, req.rows).await?;
    Ok((StatusCode::CREATED, Json(session.info(Role::Owner))).into_response())
}

/// `GET /api/embed/info`: the origins that may frame the relay (the embed page posts
/// messages only to, and accepts them only from, one of these).
pub async fn embed_info(State(state): State<Arc<AppState>>) -> Json<serde_json::Value> {
    Json(json!({"frame_ancestors": state.frame_ancestors}))
}

/// `GET /api/sessions/{id}`.
pub async fn get_session(
    State(state): State<Arc<AppState>>,
    caller: Caller,
    Path(id): Path<String>,
    Query(q): Query<Access>,
) -> ApiResult<Json<SessionInfo>> {
    // Someone with no credential at all learns that first, not that the session is gone:
    // a page tells "sign in again" from "start a new shell" by this.
    if caller.who.is_none() && q.share.is_none() {
        return Err(not_signed_in());
    }
    let session = state.registry.get(&id).ok_or_else(no_session)?;
    let (_, role, _) = access(&state, &caller, &session, &q).ok_or_else(no_session)?;
    Ok(Json(session.info(role)))
}

fn owner_session(state: &AppState, caller: &Caller, id: &str) -> ApiResult<Arc<Session>> {
    let session = state.registry.get(id).ok_or_else(no_session)?;
    match session_role(state, caller.who.as_ref(), &session) {
        Some(Role::Owner) => Ok(session),
        _ => Err(no_session()),
    }
}

fn who_name(caller: &Caller) -> String {
    caller
        .who
        .as_ref()
        .map(|w| w.user.clone())
        .unwrap_or_default()
}

/// `DELETE /api/sessions/{id}`: ends the shell.
pub async fn end_session(
    State(state): State<Arc<AppState>>,
    caller: Caller,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> ApiResult<StatusCode> {
    check_write(&state, &headers, caller.who.as_ref())?;
    let session = owner_session(&state, &caller, &id)?;
    state.audit.log(
        "end_requested",
        json!({"user": who_name(&caller), "session": session.id, "target": session.target}),
    );
    session.end();
    Ok(StatusCode::NO_CONTENT)
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
    /// Clients attached through this link right now.
    clients: Vec<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    token: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    path: Option<String>,
}

/// `POST /api/sessions/{id}/shares`: a viewer or writer link.
pub async fn create_share(
    State(state): State<Arc<AppState>>,
    caller: Caller,
    headers: HeaderMap,
    Path(id): Path<String>,
    Json(req): Json<NewShare>,
) -> ApiResult<Response> {
    check_write(&state, &headers, caller.who.as_ref())?;
    let session = owner_session(&state, &caller, &id)?;
    if req.role == Role::Owner {
        return Err(Failure(
            StatusCode::BAD_REQUEST,
            "bad_role",
            "share links grant viewer or writer".into(),
        ));
    }
    let ttl = Duration::from_secs(req.ttl_secs.clamp(1, 7 * 24 * 3600));
    let (token, share) = state.auth.share(&session.id, req.role, ttl);
    state.audit.log(
        "share_created",
        json!({"user": who_name(&caller), "session": session.id, "share": share.id,
            "role": share.role, "ttl_secs": ttl.as_secs()}),
    );
    let path = format!("/s/{}?share={}", session.id, token);
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
    let session = owner_session(&state, &caller, &id)?;
    let now = Instant::now();
    Ok(Json(
        state
            .auth
            .shares_of(&session.id)
            .into_iter()
            .map(|s| ShareInfo {
                clients: state.auth.clients_via(&session.id, &s.id),
                id: s.id,
                role: s.role,
                expires_in_secs: s.expires.saturating_duration_since(now).as_secs(),
                token: None,
                path: None,
            })
            .collect(),
    ))
}

/// Removes the clients that joined through a share link (revoked or expired).
pub fn remove_share_clients(state: &AppState, session: &str, share: &str) -> usize {
    let clients = state.auth.clients_via(session, share);
    if let Some(s) = state.registry.get(session) {
        for c in &clients {
            s.kick(*c);
        }
    }
    clients.len()
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
    let session = owner_session(&state, &caller, &id)?;
    if state.auth.revoke(&session.id, &share) {
        let removed = remove_share_clients(&state, &session.id, &share);
        state.audit.log(
            "share_revoked",
            json!({"user": who_name(&caller), "session": session.id, "share": share, "removed_clients": removed}),
        );
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
    caller: Caller,
    headers: HeaderMap,
    Path((id, client)): Path<(String, u64)>,
) -> ApiResult<StatusCode> {
    check_write(&state, &headers, caller.who.as_ref())?;
    let session = owner_session(&state, &caller, &id)?;
    if session.kick(client) {
        state.audit.log(
            "kicked",
            json!({"user": who_name(&caller), "session": session.id, "client": client}),
        );
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
    caller: Caller,
    headers: HeaderMap,
    Path((id, client)): Path<(String, u64)>,
    Json(req): Json<SetRole>,
) -> ApiResult<StatusCode> {
    check_write(&state, &headers, caller.who.as_ref())?;
    let session = owner_session(&state, &caller, &id)?;
    if req.role != Role::Owner && session.set_role(client, req.role) {
        state.audit.log(
            "role_changed",
            json!({"user": who_name(&caller), "session": session.id, "client": client, "role": req.role}),
        );
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
    caller: Caller,
    headers: HeaderMap,
    Path(id): Path<String>,
    Query(q): Query<Access>,
    ws: WebSocketUpgrade,
) -> ApiResult<Response> {
    check_origin(&state, &headers)?;
    let session = state.registry.get(&id).ok_or_else(no_session)?;
    let (name, role, via) = access(&state, &caller, &session, &q).ok_or_else(no_session)?;
    let metrics = state.metrics.clone();
    Ok(ws
        .max_message_size(4 * winrelay_shared::protocol::MAX_CLIENT_TEXT)
        // Clients send keystrokes and small control messages: tungstenite's default 128 KiB
        // read buffer per socket would be most of an attached client's memory.
        .read_buffer_size(8 * 1024)
        .on_upgrade(move |socket| {
            VIA_SHARE.scope(via, crate::ws::run(socket, session, name, role, metrics))
        }))
}

/// `GET /api/recordings`: recordings of targets the caller owns.
pub async fn list_recordings(
    State(state): State<Arc<AppState>>,
    caller: Caller,
) -> ApiResult<Response> {
    let who = caller.require()?;
    let Some(recs) = &state.recordings else {
        return Ok(Json(Vec::<crate::recording::RecordingInfo>::new()).into_response());
    };
    let list: Vec<_> = recs
        .list()
        .into_iter()
        .filter(|r| state.targets.role_of(&r.target, who) == Some(Role::Owner))
        .collect();
    Ok(Json(list).into_response())
}

/// `GET /api/recordings/{id}`: the asciicast file, for owners of its target.
pub async fn get_recording(
    State(state): State<Arc<AppState>>,
    caller: Caller,
    Path(id): Path<String>,
) -> ApiResult<Response> {
    let who = caller.require()?;
    let unknown = || {
        Failure(
            StatusCode::NOT_FOUND,
            "unknown_recording",
            "no such recording, or not yours to see".into(),
        )
    };
    let recs = state.recordings.as_ref().ok_or_else(unknown)?;
    let (info, path) = recs.get(&id).ok_or_else(unknown)?;
    if state.targets.role_of(&info.target, who) != Some(Role::Owner) {
        return Err(unknown());
    }
    let data = tokio::fs::read(&path).await.map_err(|_| unknown())?;
    state.audit.log(
        "recording_downloaded",
        json!({"user": who.user, "recording": id, "target": info.target}),
    );
    Ok((
        [
            (header::CONTENT_TYPE, "application/x-asciicast".to_string()),
            (
                header::CONTENT_DISPOSITION,
                format!("attachment; filename=\"{id}.cast\""),
            ),
            (header::CACHE_CONTROL, "no-store".to_string()),
        ],
        data,
    )
        .into_response())
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
