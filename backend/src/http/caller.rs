//! Who is calling: the [`Caller`] extractor, and the cross-site rules every write and every
//! WebSocket passes.

use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;

use axum::extract::{ConnectInfo, FromRequestParts, Query};
use axum::http::request::Parts;
use axum::http::{header, HeaderMap, StatusCode};
use serde::Deserialize;
use serde_json::json;
use tracing::debug;
use winrelay_shared::api::FailureCode;
use winrelay_shared::protocol::Role;

use super::error::{ApiResult, Failure};
use super::AppState;
use crate::access::policy::{self, Grant, SessionFacts};
use crate::access::shared::Shared;
use crate::access::Identity;
use crate::session::{Attach, Session};

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
        // `[proxy_auth]` trusts the connection's own peer (the proxy), not the client
        // address a reverse proxy reported.
        let hop = parts
            .extensions
            .get::<super::Hop>()
            .map(|h| h.0.ip())
            .or(peer);
        // With `[cluster]`, a share link's token is looked up in Redis beside the caller
        // (at once), so that `grant` and `refused` answer for every relay.
        let share = state
            .cluster
            .as_ref()
            .and_then(|_| Query::<Access>::try_from_uri(&parts.uri).ok())
            .and_then(|q| q.0.share);
        let (who, ()) = tokio::join!(identify(state, parts, hop), async {
            if let Some(t) = &share {
                shared(state).refresh_share(t).await;
            }
        });
        Ok(Caller { who: who?, peer })
    }
}

impl Caller {
    /// The identity, or "sign in first".
    pub fn require(&self) -> ApiResult<&Identity> {
        self.who.as_ref().ok_or_else(Failure::not_signed_in)
    }

    /// The caller's user name ("" for nobody).
    pub fn name(&self) -> String {
        self.who
            .as_ref()
            .map(|w| w.user.clone())
            .unwrap_or_default()
    }
}

/// Resolves the caller: an embed token, then a trusted proxy's headers, then an API token,
/// then the sign-in cookie. A credential that is presented but wrong is an error, never a
/// silent fall-back to another one.
async fn identify(
    state: &AppState,
    parts: &Parts,
    peer: Option<IpAddr>,
) -> ApiResult<Option<Identity>> {
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
            return Err(Failure::new(
                StatusCode::UNAUTHORIZED,
                FailureCode::BadEmbedToken,
                "this relay does not accept embed tokens",
            ));
        };
        return match embed.verify(&token) {
            Ok(who) => Ok(Some(who)),
            Err(e) => {
                debug!(error = %e, "embed token refused");
                let client = parts
                    .extensions
                    .get::<ConnectInfo<SocketAddr>>()
                    .map(|c| c.0.ip());
                state.audit.log(
                    "embed_refused",
                    json!({"ip": client.or(peer), "reason": e.to_string()}),
                );
                Err(Failure::new(
                    StatusCode::UNAUTHORIZED,
                    FailureCode::BadEmbedToken,
                    e.to_string(),
                ))
            }
        };
    }
    // Behind a trusted proxy its headers win (it may pass on an Authorization of its own).
    match state.users().proxy(peer, headers) {
        Ok(Some(who)) => return Ok(Some(who)),
        Ok(None) => {}
        Err(message) => {
            state.audit.log(
                "proxy_headers_refused",
                json!({"ip": peer, "reason": message}),
            );
            return Err(Failure::new(
                StatusCode::BAD_REQUEST,
                FailureCode::BadRequest,
                message,
            ));
        }
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
        return match state.users().token(token) {
            Some((who, _name)) => Ok(Some(who)),
            None => Err(Failure::new(
                StatusCode::UNAUTHORIZED,
                FailureCode::BadToken,
                "the API token is not valid",
            )),
        };
    }
    let users = state.users();
    Ok(shared(state)
        .user(headers, |user, method| users.stamp(user, method))
        .await)
}

/// Sign-ins, login links, share links and sign-in attempts: in this relay's memory, and
/// with `[cluster]` in Redis for every relay (`access::shared`).
pub fn shared(state: &AppState) -> Shared<'_> {
    Shared::new(
        &state.signins,
        &state.limiter,
        state.cluster.as_ref().map(|n| &n.store),
    )
}

/// The Origin rule, for every state-changing request and every WebSocket.
pub fn check_origin(state: &AppState, headers: &HeaderMap) -> ApiResult<()> {
    if state.origins.origin_allowed(headers) {
        Ok(())
    } else {
        Err(Failure::new(
            StatusCode::FORBIDDEN,
            FailureCode::BadOrigin,
            "requests from this page's origin are not allowed",
        ))
    }
}

/// Cross-site protection of a state-changing request: an Origin must be allowed; without
/// one, a request carrying credentials the browser adds by itself (cookies) must carry
/// `X-Winrelay: 1`, which a page of another site cannot add without the relay's consent
/// (CORS). Requests without ambient credentials (API tokens, embed tokens, nobody signed
/// in) cannot be forged by another site and are not asked for it.
pub fn check_write(state: &AppState, headers: &HeaderMap, who: Option<&Identity>) -> ApiResult<()> {
    check_origin(state, headers)?;
    let ambient = who.is_some_and(|w| w.method.ambient());
    if ambient
        && !headers.contains_key(header::ORIGIN)
        && headers.get(CSRF_HEADER).and_then(|v| v.to_str().ok()) != Some("1")
    {
        return Err(Failure::new(
            StatusCode::FORBIDDEN,
            FailureCode::Csrf,
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
    pub share: Option<String>,
    /// A lower role than the caller has (an owner watching read-only).
    #[serde(default)]
    pub role: Option<Role>,
}

fn facts(session: &dyn Attach) -> SessionFacts<'_> {
    SessionFacts {
        id: session.id(),
        target: session.target(),
        owner: session.owner_id(),
        personal: session.personal(),
    }
}

/// The role `who` has on `session` without any share link.
pub fn session_role(
    state: &AppState,
    who: Option<&Identity>,
    session: &dyn Attach,
) -> Option<Role> {
    policy::session_role(who, facts(session), |w| {
        state.targets().role_of(session.target(), w).or_else(|| {
            // Its target is gone (a discovered container removed): whoever opened the
            // session still reads how it ended, and nothing more.
            (session.state().is_final() && session.owner_id() == w.principal())
                .then_some(Role::Viewer)
        })
    })
}

/// The caller's access to `session`, with a share link if one is given.
pub fn grant(state: &AppState, caller: &Caller, session: &dyn Attach, q: &Access) -> Option<Grant> {
    let own = session_role(state, caller.who.as_ref(), session);
    let share = q.share.as_deref().and_then(|t| state.signins.share_for(t));
    policy::grant(
        caller.who.as_ref(),
        own,
        share.as_ref(),
        session.id(),
        q.role,
    )
}

/// Why the caller has no access to `session`: its share link ended (revoked or expired),
/// or, as for anyone else, "no such session".
pub fn refused(state: &AppState, session: &dyn Attach, q: &Access) -> Failure {
    match q.share.as_deref() {
        Some(t) if state.signins.share_ended(t, session.id()) => Failure::share_ended(),
        _ => Failure::no_session(),
    }
}

/// The session, if the caller owns it.
pub fn owner_session(state: &AppState, caller: &Caller, id: &str) -> ApiResult<Arc<Session>> {
    let session = state.registry.get(id).ok_or_else(Failure::no_session)?;
    match session_role(state, caller.who.as_ref(), &*session) {
        Some(Role::Owner) => Ok(session),
        _ => Err(Failure::no_session()),
    }
}

#[cfg(test)]
#[path = "shared_tests.rs"]
mod shared_tests;
