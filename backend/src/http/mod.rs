//! The HTTP layer: [`app`] builds the whole router from an [`AppState`], one file per
//! resource. Tests call it in-process (`tower::ServiceExt::oneshot`); `winrelay serve`
//! binds it to a socket.
//!
//! Every handler learns who is calling from [`caller::Caller`] (embed token, API token,
//! proxy headers, or the sign-in cookie) and decides with `access::policy`; nothing trusts
//! the page. Every failure is a [`error::Failure`] with a typed code.

pub mod assets;
pub mod caller;
pub mod embed;
pub mod error;
pub mod health;
pub mod listen;
pub mod recordings;
pub mod sessions;
pub mod shares;
pub mod signin;
pub mod tls;
pub mod ws;

#[cfg(test)]
mod security_tests;
#[cfg(test)]
mod tests;

use std::sync::atomic::AtomicBool;
use std::sync::Arc;

use axum::http::{header, HeaderValue};
use axum::routing::{delete, get, post, put};
use axum::Router;
use serde_json::json;
use tower_http::compression::CompressionLayer;
use tower_http::set_header::SetResponseHeaderLayer;

use crate::access::embed::Embed;
use crate::access::hasher::Hasher;
use crate::access::limiter::Limiter;
use crate::access::origin::OriginRule;
use crate::access::signins::Signins;
use crate::access::users::Users;
use crate::config::Config;
use crate::ops::audit::Audit;
use crate::ops::metrics::Metrics;
use crate::ops::recording::Recordings;
use crate::session::Registry;
use crate::targets::Targets;

/// Shared state of every handler.
pub struct AppState {
    /// Sessions.
    pub registry: Arc<Registry>,
    /// Targets (replaced by a reload).
    targets: std::sync::RwLock<Arc<Targets>>,
    /// A target added by the program rather than the configuration (the demo), kept across
    /// reloads.
    extra_target: Vec<crate::config::Target>,
    /// Sign-ins, login links and share links.
    pub signins: Arc<Signins>,
    /// Local users, API tokens, the proxy rule (replaced by a reload).
    users: std::sync::RwLock<Arc<Users>>,
    /// Sign-in attempt limits.
    pub limiter: Limiter,
    /// Password checks, bounded.
    pub hasher: Hasher,
    /// Limits on guessing target passwords (`ask_credentials`), per user and target.
    pub target_limiter: Limiter,
    /// Embed token verifier (with `[embed]`).
    pub embed: Option<Embed>,
    /// Origins that may frame the relay.
    pub frame_ancestors: Vec<String>,
    /// The audit log.
    pub audit: Arc<Audit>,
    /// Recordings (with `[recordings]`).
    pub recordings: Option<Arc<Recordings>>,
    /// Metrics.
    pub metrics: Metrics,
    /// The relay's own origins and host names, and the allowed other origins.
    pub origins: OriginRule,
    /// What the origin rule is made from, for [`AppState::listening_on`].
    origin_config: (Vec<String>, Option<String>, Vec<String>),
    /// Whether the relay serves HTTPS (cookies get `Secure`).
    pub tls: bool,
    /// Ready for sessions.
    pub ready: AtomicBool,
    /// SHA-256 of the token that reads `/metrics` on the main port.
    pub metrics_token: Option<[u8; 32]>,
    /// How long a request's body may take to arrive.
    pub body_timeout: std::time::Duration,
    /// Reverse proxies whose `X-Forwarded-*` headers are believed.
    pub trusted_proxies: Vec<ipnet::IpNet>,
    /// How to print a new one-time login link (set by `serve` when login links are on).
    pub login_links: std::sync::OnceLock<LoginLinks>,
    /// This relay as a node of a cluster (with `[cluster]`).
    pub cluster: Option<Arc<crate::cluster::Node>>,
}

impl crate::cluster::adopt::Host for AppState {
    fn registry(&self) -> Arc<Registry> {
        self.registry.clone()
    }

    async fn connector(&self, target: &str) -> Option<crate::targets::Connector> {
        let mut c = self.targets().adoption_connector(target).await.ok()?;
        c.observe(self.metrics.winrm_observer(target));
        Some(c)
    }

    fn observers(
        &self,
        id: &str,
        target: &str,
        _user: &str,
    ) -> Vec<Arc<dyn crate::session::Observer>> {
        // Recordings stay with the relay that started them (a file on its disk): an
        // adopted session is not recorded further.
        vec![
            Arc::new(crate::ops::metrics::SessionMetrics::new(
                &self.metrics,
                target,
            )),
            Arc::new(crate::ops::audit::SessionWatch::new(
                id,
                target,
                self.audit.clone(),
                None,
            )),
        ]
    }
}

/// What a new one-time login link is made of: printed where the relay runs, as at start.
#[derive(Debug, Clone)]
pub struct LoginLinks {
    /// `http://127.0.0.1:8080`.
    pub base: String,
    /// Who it signs in.
    pub user: String,
    /// How long it works.
    pub ttl: std::time::Duration,
}

impl AppState {
    /// Mints a one-time login link and prints it on stdout (never in the log), as at start;
    /// how long it works, or None when login links are off.
    /// In a cluster the link works once on any relay.
    pub async fn print_login_link(&self) -> Option<std::time::Duration> {
        let l = self.login_links.get()?;
        let token = caller::shared(self).login_link(&l.user, l.ttl).await;
        println!("open: {}/login?token={token}", l.base);
        println!(
            "(a new login link, asked for from the relay's machine; it works once, for {})",
            humantime::format_duration(l.ttl)
        );
        Some(l.ttl)
    }
}

/// The address a request came from before [`forwarded`] replaced it with the client's
/// (the proxy's own address: what `[proxy_auth]` checks).
#[derive(Debug, Clone, Copy)]
pub struct Hop(pub std::net::SocketAddr);

impl AppState {
    /// The state of a relay serving `config` (its targets already resolved, with the
    /// demo's added), not yet ready.
    pub fn new(
        config: &Config,
        targets: Targets,
        registry: Arc<Registry>,
        metrics: Metrics,
        signins: Signins,
        tls: bool,
    ) -> anyhow::Result<AppState> {
        // Which sites may frame the relay: `[embed] frame_ancestors`, else the allowed origins.
        let frame_ancestors = match &config.embed {
            Some(e) if !e.frame_ancestors.is_empty() => e.frame_ancestors.clone(),
            _ => config.allowed_origins.clone(),
        };
        Ok(AppState {
            registry,
            targets: std::sync::RwLock::new(Arc::new(targets)),
            extra_target: Vec::new(),
            signins: Arc::new(signins),
            users: std::sync::RwLock::new(Arc::new(Users::from_config(config))),
            limiter: Limiter::default(),
            target_limiter: Limiter::names_only(),
            hasher: Hasher::new(
                config
                    .limits
                    .password_checks
                    .unwrap_or_else(Hasher::default_workers),
                config.limits.password_queue,
            ),
            embed: config.embed.as_ref().map(Embed::from_config).transpose()?,
            frame_ancestors,
            audit: Arc::new(Audit::open(config.audit.as_ref())?),
            recordings: config
                .recordings
                .as_ref()
                .map(Recordings::from_config)
                .transpose()?,
            metrics,
            origins: OriginRule::new(
                config.allowed_origins.clone(),
                tls,
                config.public_url.as_deref(),
                &config.allowed_hosts,
                None,
            ),
            origin_config: (
                config.allowed_origins.clone(),
                config.public_url.clone(),
                config.allowed_hosts.clone(),
            ),
            tls,
            ready: AtomicBool::new(false),
            body_timeout: config.limits.body_timeout,
            login_links: std::sync::OnceLock::new(),
            cluster: None,
            trusted_proxies: config
                .trusted_proxies
                .iter()
                .chain(
                    config
                        .proxy_auth
                        .iter()
                        .flat_map(|p| p.trusted_proxies.iter()),
                )
                .cloned()
                .collect(),
            metrics_token: config.metrics.token_hash.as_ref().and_then(|h| {
                let mut d = [0u8; 32];
                hex::decode_to_slice(h.to_ascii_lowercase(), &mut d).ok()?;
                Some(d)
            }),
        })
    }

    /// The state of a relay that is a node of a cluster.
    pub fn in_cluster(mut self, node: Option<Arc<crate::cluster::Node>>) -> AppState {
        self.cluster = node;
        self
    }

    /// The state of a relay listening on `addr`: its host names follow (item 13).
    pub fn listening_on(mut self, addr: std::net::SocketAddr) -> AppState {
        let (allowed, public, hosts) = &self.origin_config;
        self.origins = OriginRule::new(
            allowed.clone(),
            self.tls,
            public.as_deref(),
            hosts,
            Some(addr),
        );
        self
    }

    /// The targets now.
    pub fn targets(&self) -> Arc<Targets> {
        self.targets
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    /// The local users, tokens and proxy rule now.
    pub fn users(&self) -> Arc<Users> {
        self.users.read().unwrap_or_else(|p| p.into_inner()).clone()
    }

    /// Keeps `target` (a demo target; call once per target) across reloads; it is already
    /// in the targets given to [`AppState::new`].
    pub fn keeping_target(mut self, target: Option<crate::config::Target>) -> AppState {
        self.extra_target.extend(target);
        self
    }

    /// Applies a changed configuration's users, tokens, proxy rule, targets and roles
    /// without touching sessions, then ends the sign-ins whose account changed (item 6).
    /// Everything else (listen address, TLS, limits, audit, embed) needs a restart.
    pub fn reload(&self, config: &Config) -> anyhow::Result<()> {
        let mut targets = Targets::from_config(config)?;
        for t in &self.extra_target {
            targets.add(t.clone());
        }
        let users = Users::from_config(config);
        *self.targets.write().unwrap_or_else(|p| p.into_inner()) = Arc::new(targets);
        *self.users.write().unwrap_or_else(|p| p.into_inner()) = Arc::new(users);
        self.audit.log("configuration_reloaded", json!({}));
        self.revalidate_sign_ins();
        Ok(())
    }

    /// Ends the sign-ins whose account changed or is gone (issue 17, item 6): at start,
    /// and after a configuration reload.
    pub fn revalidate_sign_ins(&self) {
        let users = self.users();
        let ended = self.signins.revalidate(|u, m| users.stamp(u, m));
        for user in ended {
            tracing::info!(%user, "a sign-in ended: the account changed or was removed");
            self.audit.log(
                "sign_in_ended",
                json!({"user": user, "reason": "the account changed or was removed"}),
            );
        }
    }

    /// Housekeeping: ends share links that expired and removes the clients that came
    /// through them.
    pub fn expire_shares(&self) {
        for (session, share) in self.signins.purge() {
            let removed = self
                .registry
                .get(&session)
                .map_or(0, |s| s.kick_share(&share, "the share link expired"));
            self.audit.log(
                "share_expired",
                json!({"session": session, "share": share, "removed_clients": removed}),
            );
        }
    }
}

/// Issue 17, item 13: requests naming a host that is not the relay's (a page of a name
/// made to resolve to the relay: DNS rebinding) are refused; health checks, which probes
/// send to an address, are not.
async fn host_rule(
    axum::extract::State(state): axum::extract::State<Arc<AppState>>,
    req: axum::extract::Request,
    next: axum::middleware::Next,
) -> axum::response::Response {
    use axum::response::IntoResponse;
    let probe = matches!(req.uri().path(), "/healthz" | "/readyz");
    if probe || state.origins.host_allowed(req.headers()) {
        return next.run(req).await;
    }
    error::Failure::new(
        axum::http::StatusCode::MISDIRECTED_REQUEST,
        winrelay_shared::api::FailureCode::BadHost,
        "this relay does not answer to that host name (see allowed_hosts and public_url)",
    )
    .into_response()
}

/// Behind a trusted reverse proxy: the client's address replaces the proxy's in
/// `ConnectInfo` (limits, audit), the proxy's is kept as [`Hop`], and a forwarded HTTPS is
/// noted in a header of the relay's own (removed from every incoming request first).
async fn forwarded(
    axum::extract::State(state): axum::extract::State<Arc<AppState>>,
    mut req: axum::extract::Request,
    next: axum::middleware::Next,
) -> axum::response::Response {
    use crate::access::forwarded::{client_addr, forwarded_https, FORWARDED_HTTPS};
    use axum::extract::ConnectInfo;
    req.headers_mut().remove(FORWARDED_HTTPS);
    if let Some(ConnectInfo(peer)) = req
        .extensions()
        .get::<ConnectInfo<std::net::SocketAddr>>()
        .copied()
    {
        req.extensions_mut().insert(Hop(peer));
        if !state.trusted_proxies.is_empty() {
            let client = client_addr(&state.trusted_proxies, peer.ip(), req.headers());
            let https = forwarded_https(&state.trusted_proxies, peer.ip(), req.headers());
            req.extensions_mut()
                .insert(ConnectInfo(std::net::SocketAddr::new(client, peer.port())));
            if https {
                req.headers_mut()
                    .insert(FORWARDED_HTTPS, HeaderValue::from_static("1"));
            }
        }
    }
    next.run(req).await
}

/// `/api/...` paths that do not exist.
async fn api_not_found() -> error::Failure {
    error::Failure::new(
        axum::http::StatusCode::NOT_FOUND,
        winrelay_shared::api::FailureCode::NotFound,
        "no such API path",
    )
}

/// Issue 17, item 16: API answers (some carry new tokens) and login redirects are never
/// stored by a browser or a proxy; under `[tls]` browsers are told to use HTTPS only.
async fn api_headers(
    axum::extract::State(state): axum::extract::State<Arc<AppState>>,
    req: axum::extract::Request,
    next: axum::middleware::Next,
) -> axum::response::Response {
    let path = req.uri().path();
    let private = path.starts_with("/api/") || path == "/login" || path == "/metrics";
    let mut resp = next.run(req).await;
    let h = resp.headers_mut();
    if private {
        h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    }
    if state.tls {
        h.insert(
            header::STRICT_TRANSPORT_SECURITY,
            HeaderValue::from_static("max-age=31536000"),
        );
    }
    resp
}

/// The metrics listener's router: `/metrics` only.
pub fn metrics_app(state: Arc<AppState>) -> Router {
    Router::new()
        .route("/metrics", get(health::metrics))
        .with_state(state)
}

/// The relay's router.
pub fn app(state: Arc<AppState>) -> Router {
    let ancestors = if state.frame_ancestors.is_empty() {
        "'self'".to_string()
    } else {
        format!("'self' {}", state.frame_ancestors.join(" "))
    };
    let csp = HeaderValue::from_str(&assets::csp(&ancestors)).expect("CSP is ASCII");
    let pages = Router::new()
        .fallback(assets::serve)
        .layer(CompressionLayer::new())
        .layer(SetResponseHeaderLayer::overriding(
            header::CONTENT_SECURITY_POLICY,
            csp,
        ));
    Router::new()
        .route("/login", get(signin::login))
        .route("/api/login", post(signin::password_login))
        .route("/api/logout", post(signin::logout))
        .route("/api/login/link", post(signin::print_login_link))
        .route("/api/me", get(signin::me))
        .route("/api/embed/session", post(embed::embed_session))
        .route("/api/embed/info", get(embed::embed_info))
        .route("/api/recordings", get(recordings::list_recordings))
        .route("/api/recordings/{id}", get(recordings::get_recording))
        .route("/healthz", get(health::healthz))
        .route("/readyz", get(health::readyz))
        .route("/metrics", get(health::metrics_on_main_port))
        // Unknown API paths are JSON 404s, not the app's page (item 16).
        .route("/api/{*rest}", axum::routing::any(api_not_found))
        .route("/api/targets", get(sessions::targets))
        .route(
            "/api/sessions",
            get(sessions::list_sessions).post(sessions::create_session),
        )
        .route(
            "/api/sessions/{id}",
            get(sessions::get_session).delete(sessions::end_session),
        )
        .route("/api/sessions/{id}/ws", get(sessions::websocket))
        .route(
            "/api/sessions/{id}/shares",
            get(shares::list_shares).post(shares::create_share),
        )
        .route(
            "/api/sessions/{id}/shares/{share}",
            delete(shares::revoke_share),
        )
        .route(
            "/api/sessions/{id}/clients/{client}/kick",
            post(sessions::kick),
        )
        .route(
            "/api/sessions/{id}/clients/{client}/role",
            put(sessions::set_role),
        )
        .merge(pages)
        // A body dribbled a byte at a time does not hold a request forever (item 4).
        .layer(tower_http::timeout::RequestBodyTimeoutLayer::new(
            state.body_timeout,
        ))
        .layer(axum::middleware::from_fn_with_state(
            state.clone(),
            host_rule,
        ))
        .layer(axum::middleware::from_fn_with_state(
            state.clone(),
            api_headers,
        ))
        .layer(axum::middleware::from_fn_with_state(
            state.clone(),
            forwarded,
        ))
        .layer(SetResponseHeaderLayer::overriding(
            header::X_CONTENT_TYPE_OPTIONS,
            HeaderValue::from_static("nosniff"),
        ))
        // Login and share tokens travel in URLs: never leak them to other sites.
        .layer(SetResponseHeaderLayer::overriding(
            header::REFERRER_POLICY,
            HeaderValue::from_static("no-referrer"),
        ))
        .with_state(state)
}
