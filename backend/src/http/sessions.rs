//! Targets and sessions: list, open, look at, end; clients: kick, change role; and the
//! WebSocket that attaches a terminal.

use std::net::IpAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::extract::{Path, Query, State, WebSocketUpgrade};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde_json::json;
use tracing::info;
use winrelay_shared::api::{CreateSession, FailureCode, SessionInfo, SetRole, TargetInfo};
use winrelay_shared::protocol::{Role, SessionState, MAX_COLS, MAX_ROWS};

use super::caller::{
    check_origin, check_write, grant, owner_session, refused, session_role, Access, Caller,
};
use super::error::{ApiResult, Failure};
use super::AppState;
use crate::access::limiter::Refusal;
use crate::access::Identity;
use crate::cluster::follower::FollowError;
use crate::cluster::wire::ToOwner;
use crate::config::Secret;
use crate::ops::audit::SessionWatch;
use crate::ops::metrics::SessionMetrics;
use crate::session::remote::ShellError;
use crate::session::{Attach, Observer, Opener, Session, TooManySessions};
use crate::targets::LookupError;

/// `GET /api/targets`.
pub async fn targets(
    State(state): State<Arc<AppState>>,
    caller: Caller,
) -> ApiResult<Json<Vec<TargetInfo>>> {
    let who = caller.require()?;
    Ok(Json(state.targets().visible_to(who)))
}

/// `GET /api/sessions`: the caller's sessions, and the sessions of targets they have a role
/// on (with that role).
pub async fn list_sessions(
    State(state): State<Arc<AppState>>,
    caller: Caller,
) -> ApiResult<Json<Vec<SessionInfo>>> {
    let who = caller.require()?;
    let mut list: Vec<SessionInfo> = state
        .registry
        .list()
        .into_iter()
        .filter_map(|s| session_role(&state, Some(who), &*s).map(|r| s.info(r)))
        .collect();
    // In a cluster, the sessions of the other relays too (from their records; a relay
    // that cannot reach Redis lists its own).
    if let Some(node) = &state.cluster {
        for f in node.list_others(&state.registry).await {
            if let Some(r) = session_role(&state, Some(who), &*f) {
                list.push(f.info(r));
            }
        }
        list.sort_by_key(|s| (s.created_at, s.id.clone()));
    }
    Ok(Json(list))
}

/// A session by id: this relay's, or in a cluster one another relay runs (served here
/// through a follower).
async fn live(state: &Arc<AppState>, id: &str) -> ApiResult<Arc<dyn Attach>> {
    if let Some(s) = state.registry.get(id) {
        return Ok(s);
    }
    let Some(node) = &state.cluster else {
        return Err(Failure::no_session());
    };
    // Session ids are 32 hex digits: nothing else is looked up in Redis.
    if id.len() != 32 || !id.bytes().all(|b| b.is_ascii_hexdigit()) {
        return Err(Failure::no_session());
    }
    match node.follow(id).await {
        Ok(f) => Ok(f),
        Err(FollowError::Unknown) => Err(Failure::no_session()),
        Err(e @ FollowError::Unavailable) => Err(Failure::new(
            StatusCode::SERVICE_UNAVAILABLE,
            FailureCode::ClusterUnavailable,
            e.to_string(),
        )),
    }
}

/// What the owner of a session may act on: this relay's session, or another relay's
/// (the action is posted to its owner).
pub(super) enum Owned {
    Here(Arc<Session>),
    There(Arc<AppState>, Arc<dyn Attach>),
}

pub(super) async fn owned(state: &Arc<AppState>, caller: &Caller, id: &str) -> ApiResult<Owned> {
    if state.registry.get(id).is_some() || state.cluster.is_none() {
        return owner_session(state, caller, id).map(Owned::Here);
    }
    let s = live(state, id).await?;
    match session_role(state, caller.who.as_ref(), &*s) {
        Some(Role::Owner) => Ok(Owned::There(state.clone(), s)),
        _ => Err(Failure::no_session()),
    }
}

impl Owned {
    pub(super) fn id(&self) -> &str {
        match self {
            Owned::Here(s) => &s.id,
            Owned::There(_, s) => s.id(),
        }
    }
    fn target(&self) -> &str {
        match self {
            Owned::Here(s) => &s.target,
            Owned::There(_, s) => s.target(),
        }
    }
    async fn post(&self, msg: ToOwner) -> ApiResult<()> {
        let Owned::There(state, s) = self else {
            return Ok(());
        };
        let node = state.cluster.as_ref().ok_or_else(Failure::no_session)?;
        node.post(s.id(), &msg).await.map_err(|e| {
            Failure::new(
                StatusCode::SERVICE_UNAVAILABLE,
                FailureCode::ClusterUnavailable,
                e.to_string(),
            )
        })
    }
    /// Removes the clients that came through share link `share` (on the owner); how many,
    /// when this relay owns the session.
    pub(super) async fn kick_share(&self, share: &str) -> ApiResult<usize> {
        match self {
            Owned::Here(s) => Ok(s.kick_share(share, "the share link was revoked")),
            Owned::There(..) => {
                self.post(ToOwner::KickShare {
                    share: share.to_string(),
                })
                .await?;
                Ok(0)
            }
        }
    }

    /// The clients attached through share link `share` (known where the session runs).
    pub(super) fn clients_via(&self, share: &str) -> Vec<u64> {
        match self {
            Owned::Here(s) => s.clients_via(share),
            Owned::There(..) => Vec::new(),
        }
    }

    fn has_client(&self, client: u64) -> bool {
        match self {
            Owned::Here(s) => s.role_of(client).is_some(),
            Owned::There(_, s) => s.clients().iter().any(|c| c.id == client),
        }
    }
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

fn lookup_failure(e: LookupError) -> Failure {
    let (status, code) = match &e {
        LookupError::Unknown(_) => (StatusCode::NOT_FOUND, FailureCode::UnknownTarget),
        LookupError::ViewOnly(_) => (StatusCode::FORBIDDEN, FailureCode::ViewOnly),
        LookupError::NeedsCredentials(_) => {
            (StatusCode::BAD_REQUEST, FailureCode::CredentialsRequired)
        }
        LookupError::AddressNotAllowed(_) => {
            (StatusCode::FORBIDDEN, FailureCode::AddressNotAllowed)
        }
        LookupError::NoSuchHost(_) => (StatusCode::BAD_GATEWAY, FailureCode::NoSuchHost),
    };
    Failure::new(status, code, e.to_string())
}

/// Opens a session on `target` for `who` and waits (a while) for its shell, so that wrong
/// credentials or an unreachable target are reported to the caller.
pub async fn open_session(
    state: &Arc<AppState>,
    who: &Identity,
    peer: Option<IpAddr>,
    target: &str,
    creds: Option<(String, Secret)>,
    cols: Option<u16>,
    rows: Option<u16>,
) -> ApiResult<Arc<Session>> {
    let personal = creds.is_some();
    // Issue 17, item 11: wrong target passwords are limited per user and target, as the
    // relay's own sign-in is; the attempt is reserved before the target is asked.
    let attempt = if personal {
        let key = format!("{}\u{0}{target}", who.principal());
        let from = peer.unwrap_or(IpAddr::from([0, 0, 0, 0]));
        match state.target_limiter.attempt(&key, from, Instant::now()) {
            Ok(a) => Some(a),
            Err(refusal) => {
                let secs = match refusal {
                    Refusal::Wait(w) => (w.as_secs() + u64::from(w.subsec_nanos() > 0)).max(1),
                    Refusal::Full => 60,
                };
                let mut f = Failure::new(
                    StatusCode::TOO_MANY_REQUESTS,
                    FailureCode::TooManyAttempts,
                    format!("too many wrong passwords for {target}: try again in {secs} s"),
                );
                f.retry_after = Some(secs);
                return Err(f);
            }
        }
    } else {
        None
    };
    let result = open_checked(state, who, peer, target, creds, personal, cols, rows).await;
    if let Some(attempt) = attempt {
        match &result {
            Err(f) if f.body.error == FailureCode::WrongCredentials => {}
            Ok(_) => state.target_limiter.succeeded(attempt, Instant::now()),
            Err(_) => state.target_limiter.release(attempt, Instant::now()),
        }
    }
    result
}

#[allow(clippy::too_many_arguments)]
async fn open_checked(
    state: &Arc<AppState>,
    who: &Identity,
    peer: Option<IpAddr>,
    target: &str,
    creds: Option<(String, Secret)>,
    personal: bool,
    cols: Option<u16>,
    rows: Option<u16>,
) -> ApiResult<Arc<Session>> {
    let mut connector = state
        .targets()
        .connector(target, who, creds)
        .await
        .map_err(lookup_failure)?;
    connector.observe(state.metrics.winrm_observer(target));
    // In a cluster: mirrored into Redis, and resumable by another relay unless it was
    // opened with typed credentials (those never leave this relay).
    let mirror = state.cluster.as_ref().map(|_| {
        connector.resumable(!personal);
        crate::cluster::owner::Mirror::new(0)
    });
    let (mirror, mirror_rx) = match mirror {
        Some((m, rx)) => (Some(m), Some(rx)),
        None => (None, None),
    };
    let cols = cols.unwrap_or(80).clamp(1, MAX_COLS);
    let rows = rows.unwrap_or(24).clamp(1, MAX_ROWS);
    let user = who.user.clone();
    let record = state.targets().records(target);
    let observe = |id: &str| -> Vec<Arc<dyn Observer>> {
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
        let mut v: Vec<Arc<dyn Observer>> = vec![
            Arc::new(SessionMetrics::new(&state.metrics, target)),
            Arc::new(SessionWatch::new(id, target, state.audit.clone(), recorder)),
        ];
        if let Some(m) = mirror {
            v.push(m);
        }
        v
    };
    let session = state
        .registry
        .create(
            target.to_string(),
            Opener {
                user: user.clone(),
                id: who.principal(),
                personal,
            },
            connector,
            (cols, rows),
            observe,
        )
        .await
        .map_err(|e| {
            let (status, code) = match e {
                TooManySessions::Relay(_) => (
                    StatusCode::SERVICE_UNAVAILABLE,
                    FailureCode::TooManySessions,
                ),
                _ => (StatusCode::TOO_MANY_REQUESTS, FailureCode::SessionLimit),
            };
            Failure::new(status, code, e.to_string())
        })?;
    let registered = match (&state.cluster, mirror_rx) {
        (Some(node), Some(rx)) => Some(node.own_new(session.clone(), rx)),
        _ => None,
    };
    info!(session = %session.id, %target, %user, "session created");
    state.audit.log(
        "opened",
        json!({"user": user, "method": who.method, "target": target, "session": session.id,
            "ip": peer, "recorded": record && state.recordings.is_some()}),
    );
    let mut events = session.subscribe_events();
    let opened = async {
        while session.state() == SessionState::Connecting {
            if events.recv().await.is_err() {
                break;
            }
        }
    };
    // In a cluster, the answer also waits for the session's record: the browser may attach
    // through another relay next.
    let known = async {
        if let Some(r) = registered {
            let _ = r.await;
        }
    };
    let _ = tokio::time::timeout(OPEN_WAIT, futures::future::join(opened, known)).await;
    if let SessionState::Failed {
        code,
        message,
        fingerprints,
    } = session.state()
    {
        return Err(Failure::from_shell(ShellError {
            code,
            message,
            fingerprints,
        }));
    }
    Ok(session)
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
        return Err(Failure::not_signed_in());
    }
    let session = live(&state, &id).await?;
    let g = grant(&state, &caller, &*session, &q).ok_or_else(|| refused(&state, &*session, &q))?;
    let role = session
        .admit(g.user.as_deref(), g.via_share.as_deref(), g.role)
        .map_err(|r| {
            Failure::new(
                StatusCode::FORBIDDEN,
                FailureCode::RemovedByOwner,
                r.message,
            )
        })?;
    Ok(Json(session.info(role)))
}

/// `DELETE /api/sessions/{id}`: ends the shell.
pub async fn end_session(
    State(state): State<Arc<AppState>>,
    caller: Caller,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> ApiResult<StatusCode> {
    check_write(&state, &headers, caller.who.as_ref())?;
    let session = owned(&state, &caller, &id).await?;
    state.audit.log(
        "end_requested",
        json!({"user": caller.name(), "session": session.id(), "target": session.target()}),
    );
    match &session {
        Owned::Here(s) => s.end(),
        Owned::There(..) => session.post(ToOwner::End).await?,
    }
    Ok(StatusCode::NO_CONTENT)
}

/// `POST /api/sessions/{id}/clients/{client}/kick`.
pub async fn kick(
    State(state): State<Arc<AppState>>,
    caller: Caller,
    headers: HeaderMap,
    Path((id, client)): Path<(String, u64)>,
) -> ApiResult<StatusCode> {
    check_write(&state, &headers, caller.who.as_ref())?;
    let session = owned(&state, &caller, &id).await?;
    let done = match &session {
        Owned::Here(s) => s.kick(client),
        Owned::There(..) if session.has_client(client) => {
            session.post(ToOwner::Kick { client }).await?;
            true
        }
        Owned::There(..) => false,
    };
    if done {
        state.audit.log(
            "kicked",
            json!({"user": caller.name(), "session": session.id(), "client": client}),
        );
        Ok(StatusCode::NO_CONTENT)
    } else {
        Err(Failure::new(
            StatusCode::NOT_FOUND,
            FailureCode::UnknownClient,
            "no such client in this session",
        ))
    }
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
    let session = owned(&state, &caller, &id).await?;
    let done = req.role != Role::Owner
        && match &session {
            Owned::Here(s) => s.set_role(client, req.role),
            Owned::There(..) if session.has_client(client) => {
                session
                    .post(ToOwner::SetRole {
                        client,
                        role: req.role,
                    })
                    .await?;
                true
            }
            Owned::There(..) => false,
        };
    if done {
        state.audit.log(
            "role_changed",
            json!({"user": caller.name(), "session": session.id(), "client": client, "role": req.role}),
        );
        Ok(StatusCode::NO_CONTENT)
    } else {
        Err(Failure::new(
            StatusCode::BAD_REQUEST,
            FailureCode::BadRole,
            "only attached writers and viewers can change role, to writer or viewer",
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
    let session = live(&state, &id).await?;
    let mut g =
        grant(&state, &caller, &*session, &q).ok_or_else(|| refused(&state, &*session, &q))?;
    // Removed by the owner: refused before the upgrade, with the reason (item 7).
    g.role = session
        .admit(g.user.as_deref(), g.via_share.as_deref(), g.role)
        .map_err(|r| {
            Failure::new(
                StatusCode::FORBIDDEN,
                FailureCode::RemovedByOwner,
                r.message,
            )
        })?;
    let metrics = state.metrics.clone();
    Ok(ws
        .max_message_size(4 * winrelay_shared::protocol::MAX_CLIENT_TEXT)
        // Clients send keystrokes, acks and small control messages: tungstenite's default
        // 128 KiB read buffer per socket would be most of an attached client's memory, and
        // 4 KiB holds any of them (a larger message grows the buffer while it is read).
        .read_buffer_size(4 * 1024)
        .on_upgrade(move |socket| super::ws::run(socket, session, g, metrics)))
}
