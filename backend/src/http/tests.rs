//! The access matrix and typed failures, in-process: requests go to [`super::app`] through
//! `tower::ServiceExt::oneshot`, with no socket; targets are a simulator started here.

use std::net::SocketAddr;
use std::sync::Arc;

use axum::body::Body;
use axum::extract::ConnectInfo;
use axum::http::{header, Method, Request, StatusCode};
use axum::Router;
use sha2::{Digest, Sha256};
use tower::ServiceExt;
use winrelay_shared::api::{ApiError, FailureCode, Me, SessionInfo, TargetInfo};
use winrelay_shared::protocol::Role;

use super::{app, AppState};
use crate::access::signins::Signins;
use crate::config::Config;
use crate::ops::metrics::Metrics;
use crate::session::{Registry, SessionSettings};
use crate::targets::Targets;

/// A token per user: `tok-NAME`.
fn token_entries(users: &[(&str, &str)]) -> String {
    users
        .iter()
        .map(|(user, groups)| {
            format!(
                "[[token]]\nname = '{user}'\nhash = '{}'\nuser = '{user}'\ngroups = [{groups}]\n",
                hex::encode(Sha256::digest(format!("tok-{user}")))
            )
        })
        .collect()
}

pub(super) struct Relay {
    pub(super) app: Router,
    pub(super) state: Arc<AppState>,
    pub(super) _sim: Option<winrs_sim::SimHandle>,
    pub(super) _dir: std::path::PathBuf,
}

/// A relay with users alice (group ops), bob, carol, and targets: `ops-box` (owners:
/// group ops, viewers: bob), `public` (no roles: everyone owns), `ask` (asks for
/// credentials), plus `extra` TOML; `sim` adds a simulator's endpoint as `{endpoint}` and
/// its fingerprint as `{pin}`, its password in `{pwfile}`.
pub(super) async fn relay(extra: &str) -> Relay {
    relay_with(extra, |_| String::new()).await
}

/// [`relay`] with TOML that may name files in the relay's own directory (`dir`).
pub(super) async fn relay_with(
    extra: &str,
    more: impl FnOnce(&std::path::Path) -> String,
) -> Relay {
    let dir = std::env::temp_dir().join(format!("winrelay-http-{}", crate::access::new_token()));
    std::fs::create_dir_all(&dir).unwrap();
    let sim = winrs_sim::start(winrs_sim::SimConfig::new("demo", "right-pw"))
        .await
        .unwrap();
    let pwfile = dir.join("pw");
    std::fs::write(&pwfile, "right-pw").unwrap();
    let wrongfile = dir.join("wrong");
    std::fs::write(&wrongfile, "wrong-pw").unwrap();
    let toml = format!(
        "{more}\n{}\n\
         [[target]]\nname = 'ops-box'\nendpoint = '{ep}'\nuser = 'demo'\npassword_file = '{pw}'\npin = '{pin}'\nowners = ['group:ops']\nviewers = ['bob']\n\
         [[target]]\nname = 'public'\nendpoint = '{ep}'\nuser = 'demo'\npassword_file = '{pw}'\npin = '{pin}'\n\
         [[target]]\nname = 'ask'\nendpoint = '{ep}'\nask_credentials = true\npin = '{pin}'\n\
         [[target]]\nname = 'wrong-pw'\nendpoint = '{ep}'\nuser = 'demo'\npassword_file = '{wrong}'\npin = '{pin}'\n\
         [[target]]\nname = 'wrong-pin'\nendpoint = '{ep}'\nuser = 'demo'\npassword_file = '{pw}'\npin = '{badpin}'\n\
         {extra}",
        token_entries(&[("alice", "'ops'"), ("bob", ""), ("carol", "")]),
        ep = sim.endpoint(),
        pw = pwfile.display(),
        wrong = wrongfile.display(),
        pin = sim.fingerprint().unwrap(),
        badpin = "ab".repeat(32),
        more = more(&dir),
    );
    let config = Config::parse(&toml).unwrap();
    let targets = Targets::from_config(&config).unwrap();
    let registry = Registry::new(SessionSettings {
        log_bytes: 1 << 16,
        idle_timeout: std::time::Duration::from_secs(300),
        max_sessions: 10,
        ..config.sessions.clone()
    });
    let state = Arc::new(
        AppState::new(
            &config,
            targets,
            registry,
            Metrics::new(),
            Signins::default(),
            false,
        )
        .unwrap(),
    );
    Relay {
        app: app(state.clone()),
        state,
        _sim: Some(sim),
        _dir: dir,
    }
}

impl Drop for Relay {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self._dir);
    }
}

pub(super) struct Answer {
    pub(super) status: StatusCode,
    pub(super) headers: axum::http::HeaderMap,
    pub(super) body: Vec<u8>,
}

impl Answer {
    pub(super) fn json<T: serde::de::DeserializeOwned>(&self) -> T {
        serde_json::from_slice(&self.body).unwrap_or_else(|e| {
            panic!(
                "not the expected JSON ({e}): {}",
                String::from_utf8_lossy(&self.body)
            )
        })
    }

    pub(super) fn failure(&self) -> FailureCode {
        self.json::<ApiError>().error
    }
}

impl Relay {
    pub(super) async fn call(
        &self,
        method: Method,
        path: &str,
        user: Option<&str>,
        headers: &[(&str, &str)],
        body: Option<serde_json::Value>,
    ) -> Answer {
        let peer = SocketAddr::from(([127, 0, 0, 1], 40000));
        self.call_from(
            peer,
            method,
            path,
            user,
            headers,
            body.map(|b| b.to_string()),
        )
        .await
    }

    /// A request from `peer` with a raw body.
    pub(super) async fn call_from(
        &self,
        peer: SocketAddr,
        method: Method,
        path: &str,
        user: Option<&str>,
        headers: &[(&str, &str)],
        body: Option<String>,
    ) -> Answer {
        let mut req = Request::builder().method(method).uri(path);
        if let Some(u) = user {
            req = req.header(header::AUTHORIZATION, format!("Bearer tok-{u}"));
        }
        for (k, v) in headers {
            req = req.header(*k, *v);
        }
        let mut req = match body {
            Some(b) => req
                .header(header::CONTENT_TYPE, "application/json")
                .body(Body::from(b)),
            None => req.body(Body::empty()),
        }
        .unwrap();
        req.extensions_mut().insert(ConnectInfo(peer));
        let resp = self.app.clone().oneshot(req).await.unwrap();
        let status = resp.status();
        let headers = resp.headers().clone();
        let body = axum::body::to_bytes(resp.into_body(), 1 << 20)
            .await
            .unwrap()
            .to_vec();
        Answer {
            status,
            headers,
            body,
        }
    }

    pub(super) async fn get(&self, path: &str, user: Option<&str>) -> Answer {
        self.call(Method::GET, path, user, &[], None).await
    }

    pub(super) async fn open(&self, user: &str, target: &str) -> Answer {
        self.call(
            Method::POST,
            "/api/sessions",
            Some(user),
            &[],
            Some(serde_json::json!({"target": target})),
        )
        .await
    }
}

#[tokio::test]
async fn callers_without_a_credential_are_told_to_sign_in_and_wrong_ones_are_refused() {
    let r = relay("").await;
    for path in [
        "/api/me",
        "/api/targets",
        "/api/sessions",
        "/api/recordings",
    ] {
        let a = r.get(path, None).await;
        assert_eq!(a.status, StatusCode::UNAUTHORIZED, "{path}");
        assert_eq!(a.failure(), FailureCode::NotSignedIn, "{path}");
    }
    let a = r.get("/api/me", Some("mallory")).await;
    assert_eq!(
        (a.status, a.failure()),
        (StatusCode::UNAUTHORIZED, FailureCode::BadToken)
    );
    let a = r
        .call(
            Method::GET,
            "/api/me",
            None,
            &[("x-winrelay-embed", "x.y.z")],
            None,
        )
        .await;
    assert_eq!(
        a.failure(),
        FailureCode::BadEmbedToken,
        "no [embed]: no embed tokens"
    );
    let me: Me = r.get("/api/me", Some("alice")).await.json();
    assert_eq!(
        (me.user.as_str(), me.groups.as_slice()),
        ("alice", &["ops".to_string()][..])
    );
    // Someone asking about a session without any credential hears "sign in" first.
    let a = r.get("/api/sessions/0123", None).await;
    assert_eq!(a.failure(), FailureCode::NotSignedIn);
    let a = r.get("/api/sessions/0123", Some("bob")).await;
    assert_eq!(a.failure(), FailureCode::UnknownSession);
}

#[tokio::test]
async fn each_user_sees_the_targets_they_have_a_role_on() {
    let r = relay("").await;
    let roles = |list: Vec<TargetInfo>| -> Vec<(String, Role)> {
        list.into_iter().map(|t| (t.name, t.role)).collect()
    };
    let alice = roles(r.get("/api/targets", Some("alice")).await.json());
    assert!(alice.contains(&("ops-box".into(), Role::Owner)));
    assert!(alice.contains(&("public".into(), Role::Owner)));
    let bob = roles(r.get("/api/targets", Some("bob")).await.json());
    assert!(bob.contains(&("ops-box".into(), Role::Viewer)));
    let carol = roles(r.get("/api/targets", Some("carol")).await.json());
    assert!(!carol.iter().any(|(n, _)| n == "ops-box"), "{carol:?}");
    let ask: Vec<TargetInfo> = r.get("/api/targets", Some("carol")).await.json();
    assert!(ask.iter().any(|t| t.name == "ask" && t.ask_credentials));
}

#[tokio::test]
async fn discovered_targets_carry_where_they_run_and_whether_they_answer() {
    let r = relay("").await;
    let block = crate::discovery::Block::new(
        &Config::parse(
            "[[discovery]]\nkind = 'docker'\nnetwork = 'app_net'\nallow_networks = ['127.0.0.0/8']\n\
             user = 'u'\npassword_env = 'WINRM_PASSWORD'\ninsecure = true\nwriters = ['group:ops']\n",
        )
        .unwrap()
        .discovery[0],
    )
    .unwrap();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let task = crate::discovery::Found {
        name: "web.2".into(),
        address: "127.0.0.1".parse().unwrap(),
        port: Some(listener.local_addr().unwrap().port()),
        group: "web".into(),
        slot: Some(2),
        node: Some("n0d3a1b2c3d4e5f6".into()),
        image: "winapp:ltsc2022".into(),
        state: "running".into(),
        since: Some("2026-11-29T01:12:03Z".into()),
        ..Default::default()
    };
    let directory = r.state.targets().discovered().clone();
    directory.set(0, vec![block.resolve(task)]);
    directory.check_reachability().await;
    let list: Vec<TargetInfo> = r.get("/api/targets", Some("alice")).await.json();
    let web = list.iter().find(|t| t.name == "web.2").expect("listed");
    assert_eq!(web.reachable, Some(true));
    assert_eq!(web.facts.service.as_deref(), Some("web"));
    assert_eq!(web.facts.slot, Some(2));
    assert_eq!(web.facts.node.as_deref(), Some("n0d3a1b2c3d4"));
    assert_eq!(web.facts.image.as_deref(), Some("winapp:ltsc2022"));
    assert_eq!(web.facts.state.as_deref(), Some("running"));
    assert_eq!(
        web.facts.started_at.as_deref(),
        Some("2026-11-29T01:12:03Z")
    );
    // Configured targets carry none of it; the raw answer has no such keys for them.
    let raw: serde_json::Value = r.get("/api/targets", Some("alice")).await.json();
    let public = raw
        .as_array()
        .unwrap()
        .iter()
        .find(|t| t["name"] == "public")
        .unwrap();
    assert!(
        public.get("service").is_none() && public.get("node").is_none(),
        "{public}"
    );
    // Someone without a role on the block does not see it.
    let carol: Vec<TargetInfo> = r.get("/api/targets", Some("carol")).await.json();
    assert!(!carol.iter().any(|t| t.name == "web.2"));
}

#[tokio::test]
async fn a_session_whose_container_is_gone_ends_as_target_lost_and_its_owner_still_sees_that() {
    let r = relay("").await;
    let sim = r._sim.as_ref().unwrap();
    let toml = format!(
        "[[discovery]]\nkind = 'docker'\nnetwork = 'n'\nallow_networks = ['127.0.0.0/8']\n\
         port = {port}\nuser = 'demo'\npassword_file = '{pw}'\ninsecure = true\nwriters = ['group:ops']\n",
        port = sim.local_addr().port(),
        pw = r._dir.join("pw").display(),
    );
    let block = crate::discovery::Block::new(&Config::parse(&toml).unwrap().discovery[0]).unwrap();
    let task = crate::discovery::Found {
        name: "web.1".into(),
        address: "127.0.0.1".parse().unwrap(),
        group: "web".into(),
        state: "running".into(),
        ..Default::default()
    };
    let directory = r.state.targets().discovered().clone();
    directory.set(0, vec![block.resolve(task)]);
    let opened = r.open("alice", "web.1").await;
    assert_eq!(opened.status, StatusCode::CREATED, "{:?}", opened.body);
    let info: SessionInfo = opened.json();
    // The container goes: what `serve` does for a target that disappears.
    directory.set(0, vec![]);
    let s = r.state.registry.get(&info.id).unwrap();
    s.end_lost(
        FailureCode::ShellGone,
        "the container of target web.1 is gone".into(),
    );
    let mut state = s.state();
    for _ in 0..200 {
        if state.is_final() {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
        state = s.state();
    }
    assert!(
        matches!(&state, winrelay_shared::protocol::SessionState::TargetLost { code: FailureCode::ShellGone, message } if message.contains("is gone")),
        "{state:?}"
    );
    // Its owner (no role on a target that no longer exists) still learns how it ended.
    let seen = r
        .get(&format!("/api/sessions/{}", info.id), Some("alice"))
        .await;
    assert_eq!(seen.status, StatusCode::OK);
    let seen: SessionInfo = seen.json();
    assert_eq!(seen.state, state);
    assert_eq!(seen.role, Role::Viewer);
    // Nobody else does.
    let other = r
        .get(&format!("/api/sessions/{}", info.id), Some("bob"))
        .await;
    assert_eq!(other.failure(), FailureCode::UnknownSession);
}

#[tokio::test]
async fn a_used_or_made_up_login_link_leads_into_the_app_not_to_a_bare_page() {
    let r = relay("").await;
    let link = r
        .state
        .signins
        .login_link("alice", std::time::Duration::from_secs(60));
    let first = r.get(&format!("/login?token={link}"), None).await;
    assert_eq!(first.status, StatusCode::SEE_OTHER);
    assert_eq!(first.headers[header::LOCATION], "/");
    assert!(first.headers.contains_key(header::SET_COOKIE));
    // Used again, or made up: the app's sign-in page says what happened.
    for token in [link.as_str(), "made-up"] {
        let again = r.get(&format!("/login?token={token}"), None).await;
        assert_eq!(again.status, StatusCode::SEE_OTHER);
        assert_eq!(again.headers[header::LOCATION], "/?login=invalid");
        assert!(!again.headers.contains_key(header::SET_COOKIE));
    }
    // Someone signed in who opens a bookmarked used link goes to the app.
    let signed_in = r.get(&format!("/login?token={link}"), Some("bob")).await;
    assert_eq!(signed_in.headers[header::LOCATION], "/");
}

#[tokio::test]
async fn a_new_login_link_is_printed_only_for_the_relays_own_machine() {
    let r = relay("").await;
    let ask = |peer: [u8; 4]| {
        r.call_from(
            SocketAddr::from((peer, 40000)),
            Method::POST,
            "/api/login/link",
            None,
            &[("x-winrelay", "1")],
            None,
        )
    };
    // Login links off (no `serve` set them up): nothing to print.
    let off = ask([127, 0, 0, 1]).await;
    assert_eq!(
        (off.status, off.failure()),
        (StatusCode::NOT_FOUND, FailureCode::NotFound)
    );
    r.state
        .login_links
        .set(super::LoginLinks {
            base: "http://127.0.0.1:8080".into(),
            user: "demo".into(),
            ttl: std::time::Duration::from_secs(900),
        })
        .unwrap();
    let local = ask([127, 0, 0, 1]).await;
    assert_eq!(local.status, StatusCode::OK);
    let said: serde_json::Value = local.json();
    let said = said["message"].as_str().unwrap();
    assert!(
        said.contains("printed where the relay runs") && said.contains("15m"),
        "{said}"
    );
    assert!(!said.contains("token"), "the answer never carries the link");
    let remote = ask([192, 0, 2, 7]).await;
    assert_eq!(
        (remote.status, remote.failure()),
        (StatusCode::FORBIDDEN, FailureCode::AddressNotAllowed)
    );
    // A page elsewhere cannot make the browser ask.
    let foreign = r
        .call(
            Method::POST,
            "/api/login/link",
            None,
            &[("origin", "https://evil.example")],
            None,
        )
        .await;
    assert_eq!(foreign.failure(), FailureCode::BadOrigin);
}

#[tokio::test]
async fn opening_needs_a_writer_a_known_target_and_credentials_where_asked() {
    let r = relay("").await;
    let a = r.open("bob", "ops-box").await;
    assert_eq!(
        (a.status, a.failure()),
        (StatusCode::FORBIDDEN, FailureCode::ViewOnly)
    );
    let a = r.open("carol", "ops-box").await;
    assert_eq!(
        (a.status, a.failure()),
        (StatusCode::NOT_FOUND, FailureCode::UnknownTarget),
        "a target one has no role on looks like no target at all"
    );
    let a = r.open("carol", "nosuch").await;
    assert_eq!(a.failure(), FailureCode::UnknownTarget);
    let a = r.open("carol", "ask").await;
    assert_eq!(
        (a.status, a.failure()),
        (StatusCode::BAD_REQUEST, FailureCode::CredentialsRequired)
    );
    // Writes from another site's page are refused before anything else.
    let a = r
        .call(
            Method::POST,
            "/api/sessions",
            Some("alice"),
            &[("origin", "https://evil.example"), ("host", "relay:8080")],
            Some(serde_json::json!({"target": "public"})),
        )
        .await;
    assert_eq!(
        (a.status, a.failure()),
        (StatusCode::FORBIDDEN, FailureCode::BadOrigin)
    );
    assert!(r.state.registry.is_empty());
}

#[tokio::test]
async fn target_failures_arrive_typed_with_the_fingerprints() {
    let r = relay("").await;
    let a = r.open("alice", "wrong-pw").await;
    assert_eq!(
        (a.status, a.failure()),
        (StatusCode::BAD_GATEWAY, FailureCode::WrongCredentials)
    );
    let a = r.open("alice", "wrong-pin").await;
    let e: ApiError = a.json();
    assert_eq!(e.error, FailureCode::CertificateMismatch);
    let f = e.fingerprints.expect("both fingerprints");
    assert_eq!(f.expected, "ab".repeat(32));
    assert_eq!(f.seen, r._sim.as_ref().unwrap().fingerprint().unwrap());
    let a = r
        .call(
            Method::POST,
            "/api/sessions",
            Some("carol"),
            &[],
            Some(serde_json::json!({"target": "ask", "username": "demo", "password": "nope"})),
        )
        .await;
    assert_eq!(a.failure(), FailureCode::WrongCredentials);
}

#[tokio::test]
async fn owners_writers_viewers_and_strangers_of_a_session() {
    let r = relay("").await;
    let a = r.open("alice", "ops-box").await;
    assert_eq!(
        a.status,
        StatusCode::CREATED,
        "{}",
        String::from_utf8_lossy(&a.body)
    );
    let s: SessionInfo = a.json();
    assert_eq!(s.role, Role::Owner);
    let path = format!("/api/sessions/{}", s.id);
    let bob: SessionInfo = r.get(&path, Some("bob")).await.json();
    assert_eq!(bob.role, Role::Viewer);
    assert_eq!(
        r.get(&path, Some("carol")).await.failure(),
        FailureCode::UnknownSession
    );
    let listed: Vec<SessionInfo> = r.get("/api/sessions", Some("bob")).await.json();
    assert_eq!(listed.len(), 1);
    let listed: Vec<SessionInfo> = r.get("/api/sessions", Some("carol")).await.json();
    assert!(listed.is_empty());
    // Only the owner shares and ends it.
    let share = serde_json::json!({"role": "writer"});
    let a = r
        .call(
            Method::POST,
            &format!("{path}/shares"),
            Some("bob"),
            &[],
            Some(share.clone()),
        )
        .await;
    assert_eq!(a.failure(), FailureCode::UnknownSession);
    let a = r
        .call(
            Method::POST,
            &format!("{path}/shares"),
            Some("alice"),
            &[],
            Some(share),
        )
        .await;
    assert_eq!(a.status, StatusCode::CREATED);
    let created: winrelay_shared::api::ShareInfo = a.json();
    let token = created.token.expect("the token, once");
    // The share link makes a stranger a writer of this session only.
    let guest: SessionInfo = r
        .get(&format!("{path}?share={token}"), Some("carol"))
        .await
        .json();
    assert_eq!(guest.role, Role::Writer);
    let a = r.call(Method::DELETE, &path, Some("bob"), &[], None).await;
    assert_eq!(a.failure(), FailureCode::UnknownSession);
    let a = r
        .call(Method::DELETE, &path, Some("alice"), &[], None)
        .await;
    assert_eq!(a.status, StatusCode::NO_CONTENT);
    r.state.registry.shutdown().await;
}

/// A revoked or expired share link says so (410 share_ended), not "no such session"; a
/// token that was never a link still reads as no such session.
#[tokio::test]
async fn a_revoked_or_expired_share_link_says_so() {
    let r = relay("").await;
    let a = r.open("alice", "ops-box").await;
    assert_eq!(a.status, StatusCode::CREATED);
    let s: SessionInfo = a.json();
    let path = format!("/api/sessions/{}", s.id);
    let a = r
        .call(
            Method::POST,
            &format!("{path}/shares"),
            Some("alice"),
            &[],
            Some(serde_json::json!({"role": "viewer"})),
        )
        .await;
    let created: winrelay_shared::api::ShareInfo = a.json();
    let token = created.token.expect("the token, once");
    let with = |t: &str| format!("{path}?share={t}");
    let guest: SessionInfo = r.get(&with(&token), None).await.json();
    assert_eq!(guest.role, Role::Viewer);
    assert_eq!(
        r.get(&with("not-a-link"), None).await.failure(),
        FailureCode::UnknownSession
    );
    let a = r
        .call(
            Method::DELETE,
            &format!("{path}/shares/{}", created.id),
            Some("alice"),
            &[],
            None,
        )
        .await;
    assert_eq!(a.status, StatusCode::NO_CONTENT);
    let a = r.get(&with(&token), None).await;
    assert_eq!(a.status, StatusCode::GONE);
    assert_eq!(a.failure(), FailureCode::ShareEnded);
    // Signed in as someone else with the revoked link: the same.
    assert_eq!(
        r.get(&with(&token), Some("carol")).await.failure(),
        FailureCode::ShareEnded
    );
    // An expired link.
    let (expired, _) = r
        .state
        .signins
        .share(&s.id, Role::Viewer, std::time::Duration::ZERO);
    assert_eq!(
        r.get(&with(&expired), None).await.failure(),
        FailureCode::ShareEnded
    );
    r.state.registry.shutdown().await;
}
