//! Signing in and out: one-time login links, passwords of local users, `GET /api/me`.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Instant;

use axum::extract::{ConnectInfo, Query, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use axum::Json;
use serde::Deserialize;
use serde_json::json;
use tracing::info;
use winrelay_shared::api::{FailureCode, Me, PasswordLogin};

use super::caller::{check_write, Caller};
use super::error::{ApiResult, Failure};
use super::AppState;
use crate::access::signins::COOKIE;
use crate::access::{Identity, Method};
use crate::config::Secret;

/// How long a sign-in cookie lives, seconds.
const COOKIE_AGE: u64 = 43200;

fn session_cookie(state: &AppState, value: &str, max_age: u64) -> String {
    let secure = if state.tls { "; Secure" } else { "" };
    format!("{COOKIE}={value}; Path=/; HttpOnly; SameSite=Lax; Max-Age={max_age}{secure}")
}

/// Query of `/login`.
#[derive(Deserialize)]
pub struct LoginQuery {
    token: String,
}

/// `GET /login?token=T`: redeems a one-time login link.
pub async fn login(
    State(state): State<Arc<AppState>>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    Query(q): Query<LoginQuery>,
) -> Response {
    match state.signins.redeem(&q.token) {
        Some(user) => {
            info!(%user, "signed in with a login link");
            let who = Identity::new(user.clone(), state.users.groups_of(&user), Method::Link);
            let cookie = state.signins.sign_in(&who);
            state.audit.log(
                "signed_in",
                json!({"user": user, "method": Method::Link, "ip": peer.ip()}),
            );
            (
                [(header::SET_COOKIE, session_cookie(&state, &cookie, COOKIE_AGE))],
                Redirect::to("/"),
            )
                .into_response()
        }
        None => (StatusCode::UNAUTHORIZED, [(header::CONTENT_TYPE, "text/html; charset=utf-8")], "<!doctype html><title>winrelay</title><p>This login link is invalid, expired or already used. Ask for a new one (restarting the demo relay prints one).</p>").into_response(),
    }
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
        let secs = (wait.as_secs() + u64::from(wait.subsec_nanos() > 0)).max(1);
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
        return Err(Failure::new(
            StatusCode::UNAUTHORIZED,
            FailureCode::BadCredentials,
            "wrong user name or password",
        ));
    };
    state.limiter.succeeded(&keys[1..]);
    let cookie = state.signins.sign_in(&who);
    info!(user = %who.user, "signed in with a password");
    state.audit.log(
        "signed_in",
        json!({"user": who.user, "method": Method::Password, "ip": ip}),
    );
    Ok((
        [(
            header::SET_COOKIE,
            session_cookie(&state, &cookie, COOKIE_AGE),
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
        state.signins.sign_out(&c);
    }
    Ok((
        [(header::SET_COOKIE, session_cookie(&state, "", 0))],
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
