//! Signing in and out: one-time login links, passwords of local users, `GET /api/me`.

use std::net::SocketAddr;
use std::sync::Arc;

use axum::body::Body;
use axum::extract::{ConnectInfo, Query, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use axum::Json;
use serde::Deserialize;
use serde_json::json;
use tracing::info;
use winrelay_shared::api::{FailureCode, Me, PasswordLogin};

use super::caller::{check_write, shared, Caller};
use super::error::{ApiResult, Failure};
use super::AppState;
use crate::access::hasher::Busy;
use crate::access::identity::{clip, valid_name, MAX_NAME};
use crate::access::limiter::Refusal;
use crate::access::signins::COOKIE;
use crate::access::{Identity, Method};
use crate::config::Secret;

/// How long a sign-in cookie lives, seconds.
const COOKIE_AGE: u64 = 43200;

fn session_cookie(state: &AppState, headers: &HeaderMap, value: &str, max_age: u64) -> String {
    // HTTPS here, or at a trusted reverse proxy in front.
    let https = state.tls || headers.contains_key(crate::access::forwarded::FORWARDED_HTTPS);
    let secure = if https { "; Secure" } else { "" };
    format!("{COOKIE}={value}; Path=/; HttpOnly; SameSite=Lax; Max-Age={max_age}{secure}")
}

/// Query of `/login`.
#[derive(Deserialize)]
pub struct LoginQuery {
    token: String,
}

/// `GET /login?token=T`: redeems a one-time login link. A used, expired or made-up link
/// leads someone already signed in into the app, anyone else to the app's sign-in page,
/// which says what happened and how to get a new link.
pub async fn login(
    State(state): State<Arc<AppState>>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    caller: Caller,
    headers: HeaderMap,
    Query(q): Query<LoginQuery>,
) -> Response {
    let shared = shared(&state);
    match shared.redeem(&q.token).await {
        Some(user) => {
            info!(%user, "signed in with a login link");
            let who = Identity::new(user.clone(), state.users().groups_of(&user), Method::Link);
            let stamp = state.users().stamp(&user, Method::Link).unwrap_or_default();
            let cookie = shared.sign_in(&who, &stamp).await;
            state.audit.log(
                "signed_in",
                json!({"user": user, "method": Method::Link, "ip": peer.ip()}),
            );
            (
                [(
                    header::SET_COOKIE,
                    session_cookie(&state, &headers, &cookie, COOKIE_AGE),
                )],
                Redirect::to("/"),
            )
                .into_response()
        }
        None if caller.who.is_some() => Redirect::to("/").into_response(),
        None => Redirect::to("/?login=invalid").into_response(),
    }
}

/// `POST /api/login/link`: prints a new one-time login link where the relay runs (its
/// stdout), for someone on the relay's own machine who has no other way in (signed out of
/// the demo, or its link expired). The answer carries no link: only whoever sees the relay's
/// output can use it, as at start.
pub async fn print_login_link(
    State(state): State<Arc<AppState>>,
    ConnectInfo(hop): ConnectInfo<SocketAddr>,
    caller: Caller,
    headers: HeaderMap,
) -> ApiResult<Json<serde_json::Value>> {
    check_write(&state, &headers, caller.who.as_ref())?;
    let local = hop.ip().is_loopback() && caller.peer.is_none_or(|p| p.is_loopback());
    if !local {
        return Err(Failure::new(
            StatusCode::FORBIDDEN,
            FailureCode::AddressNotAllowed,
            "a new login link can only be asked for from the relay's own machine",
        ));
    }
    let Some(ttl) = state.print_login_link().await else {
        return Err(Failure::new(
            StatusCode::NOT_FOUND,
            FailureCode::NotFound,
            "this relay gives no login links (login_link = false): sign in with a password",
        ));
    };
    info!("printed a new login link, asked for from {}", hop.ip());
    Ok(Json(json!({
        "message": format!(
            "A new login link is printed where the relay runs (the terminal of `make run` or \
             `winrelay serve`); it works once, for {}.",
            humantime::format_duration(ttl)
        )
    })))
}

/// Largest `POST /api/login` body.
const MAX_LOGIN_BODY: usize = 16 * 1024;
/// Longest password accepted (argon2 takes any length; nobody types more).
const MAX_PASSWORD: usize = 1024;

fn bad_login(message: impl Into<String>) -> Failure {
    Failure::new(StatusCode::BAD_REQUEST, FailureCode::BadRequest, message)
}

/// `POST /api/login`: user name and password of a local user -> sign-in cookie.
///
/// In order: the cross-site rule; the body's size and the fields' sizes (item 3: nothing
/// unbounded is kept or logged); the attempt is reserved with the limiter (item 2: before
/// the slow check, so a burst gets no more than the free attempts); the check runs on the
/// bounded hashing threads (item 1: refused with 503 and `Retry-After` when they are busy).
pub async fn password_login(
    State(state): State<Arc<AppState>>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    body: Body,
) -> ApiResult<Response> {
    check_write(&state, &headers, None)?;
    let ip = peer.ip();
    let body = axum::body::to_bytes(body, MAX_LOGIN_BODY)
        .await
        .map_err(|_| {
            bad_login(format!(
                "a sign-in request has at most {MAX_LOGIN_BODY} bytes"
            ))
        })?;
    let req: PasswordLogin = serde_json::from_slice(&body)
        .map_err(|_| bad_login("send {\"user\": NAME, \"password\": PASSWORD} as JSON"))?;
    if !valid_name(&req.user) || req.password.len() > MAX_PASSWORD {
        state.audit.log(
            "sign_in_refused",
            json!({"user": clip(&req.user, 64), "ip": ip, "reason": "malformed"}),
        );
        return Err(bad_login(format!(
            "user names have 1 to {MAX_NAME} bytes and no control characters; passwords at most {MAX_PASSWORD} bytes"
        )));
    }
    let shared = shared(&state);
    let attempt = match shared.attempt(&req.user, ip).await {
        Ok(a) => a,
        Err(refusal) => {
            let secs = match refusal {
                Refusal::Wait(wait) => (wait.as_secs() + u64::from(wait.subsec_nanos() > 0)).max(1),
                Refusal::Full => 60,
            };
            state.audit.log(
                "sign_in_refused",
                json!({"user": req.user, "ip": ip, "reason": "too many attempts"}),
            );
            let mut f = Failure::new(
                StatusCode::TOO_MANY_REQUESTS,
                FailureCode::TooManyAttempts,
                format!("too many failed sign-ins: try again in {secs} s"),
            );
            f.retry_after = Some(secs);
            return Err(f);
        }
    };
    let checked = {
        let state2 = state.clone();
        let (user, password) = (req.user.clone(), Secret(req.password));
        state
            .hasher
            .run(move || state2.users().check_password(&user, &password.0))
            .await
    };
    let checked = match checked {
        Ok(c) => c,
        Err(Busy) => {
            shared.release(attempt).await;
            let mut f = Failure::new(
                StatusCode::SERVICE_UNAVAILABLE,
                FailureCode::RelayBusy,
                "the relay is checking many sign-ins right now: try again in a second",
            );
            f.retry_after = Some(1);
            return Err(f);
        }
    };
    let Some(who) = checked else {
        state.audit.log(
            "sign_in_failed",
            json!({"user": req.user, "ip": ip, "method": Method::Password}),
        );
        return Err(Failure::new(
            StatusCode::UNAUTHORIZED,
            FailureCode::BadCredentials,
            "wrong user name or password",
        ));
    };
    shared.succeeded(attempt).await;
    let stamp = state
        .users()
        .stamp(&who.user, Method::Password)
        .unwrap_or_default();
    let cookie = shared.sign_in(&who, &stamp).await;
    info!(user = %who.user, "signed in with a password");
    state.audit.log(
        "signed_in",
        json!({"user": who.user, "method": Method::Password, "ip": ip}),
    );
    Ok((
        [(
            header::SET_COOKIE,
            session_cookie(&state, &headers, &cookie, COOKIE_AGE),
        )],
        Json(me_of(&who)),
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
    if let Some(c) = crate::access::signins::cookie_value(&headers, COOKIE) {
        if let Some(who) = &caller.who {
            state
                .audit
                .log("signed_out", json!({"user": who.user, "ip": caller.peer}));
        }
        shared(&state).sign_out(&c).await;
    }
    Ok((
        [(header::SET_COOKIE, session_cookie(&state, &headers, "", 0))],
        StatusCode::NO_CONTENT,
    )
        .into_response())
}

fn me_of(who: &Identity) -> Me {
    Me {
        user: who.user.clone(),
        signed_in: true,
        groups: who.groups.clone(),
        method: who.method,
    }
}

/// `GET /api/me`.
pub async fn me(caller: Caller) -> ApiResult<Json<Me>> {
    Ok(Json(me_of(caller.require()?)))
}
