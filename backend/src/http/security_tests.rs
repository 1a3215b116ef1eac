//! Issue 17 ("close what an attacker found"), in-process: each test names the item it
//! proves and failed before that item's fix.

use std::net::SocketAddr;

use axum::http::{Method, StatusCode};
use futures::future::join_all;
use winrelay_shared::api::{FailureCode, SessionInfo};
use winrelay_shared::protocol::Role;

use super::tests::{relay_with, Answer, Relay};
use crate::access::users::hash_with;

fn cheap_hash(pw: &str) -> String {
    hash_with(pw, argon2::Params::new(8, 1, 1, None).unwrap()).unwrap()
}

/// A relay with local users alice (password `right`) and bob, cheap hashes, plus `extra`.
async fn relay_with_users(extra: &str, hash: &str) -> Relay {
    let toml = format!(
        "{extra}\n[[user]]\nname = 'alice'\npassword_hash = '{hash}'\ngroups = ['ops']\n\
         [[user]]\nname = 'bob'\npassword_hash = '{hash}'\n"
    );
    relay_with("", move |dir| {
        toml.replace("{dir}", &dir.display().to_string())
    })
    .await
}

fn peer(last: u8, port: u16) -> SocketAddr {
    SocketAddr::from(([127, 0, 1, last], port))
}

async fn login(r: &Relay, from: SocketAddr, user: &str, password: &str) -> Answer {
    r.call_from(
        from,
        Method::POST,
        "/api/login",
        None,
        &[("content-type", "application/json")],
        Some(serde_json::json!({"user": user, "password": password}).to_string()),
    )
    .await
}

/// Item 2: 100 simultaneous guesses from one address try exactly the five free ones,
/// the right password among the rest gets no chance.
#[tokio::test]
async fn item2_a_burst_of_guesses_tries_five_passwords() {
    let r = relay_with_users("", &cheap_hash("right")).await;
    let from = peer(1, 1000);
    let answers = join_all((0..100).map(|i| {
        let pw = if i == 60 {
            "right".to_string()
        } else {
            format!("guess-{i}")
        };
        let r = &r;
        async move { login(r, from, "alice", &pw).await }
    }))
    .await;
    let tried = answers
        .iter()
        .filter(|a| a.status == StatusCode::UNAUTHORIZED)
        .count();
    let held = answers
        .iter()
        .filter(|a| a.status == StatusCode::TOO_MANY_REQUESTS)
        .count();
    assert_eq!(
        (tried, held),
        (5, 95),
        "five guesses, the rest told to wait"
    );
    assert!(answers.iter().all(|a| a.status != StatusCode::OK));
    let a = &answers[99];
    assert_eq!(a.failure(), FailureCode::TooManyAttempts);
    assert!(a.headers.contains_key("retry-after"));
}

/// Item 1: password checks run on a bounded set of threads with a bounded queue: a flood
/// from many addresses is told to come back (503, `Retry-After`), and does not count
/// against anyone's budget.
#[tokio::test]
async fn item1_a_login_flood_is_bounded_and_told_to_retry() {
    // A hash slow enough that the flood arrives while the first check runs.
    let slow = hash_with("right", argon2::Params::new(8192, 2, 1, None).unwrap()).unwrap();
    let r = relay_with_users("[limits]\npassword_checks = 1\npassword_queue = 2\n", &slow).await;
    let answers = join_all((0..40u8).map(|i| {
        let r = &r;
        async move { login(r, peer(i, 2000), &format!("nobody-{i}"), "x").await }
    }))
    .await;
    let busy: Vec<&Answer> = answers
        .iter()
        .filter(|a| a.status == StatusCode::SERVICE_UNAVAILABLE)
        .collect();
    let checked = answers
        .iter()
        .filter(|a| a.status == StatusCode::UNAUTHORIZED)
        .count();
    assert!(
        checked <= 6,
        "one running and two waiting (and a few that finished): {checked}"
    );
    assert_eq!(busy.len() + checked, 40);
    for a in &busy {
        assert_eq!(a.failure(), FailureCode::RelayBusy);
        assert_eq!(a.headers["retry-after"], "1");
    }
    assert!(
        r.state.limiter.tracked() <= checked * 3,
        "refused attempts are not counted"
    );
    // Afterwards the relay checks passwords again.
    assert_eq!(
        login(&r, peer(200, 1), "alice", "right").await.status,
        StatusCode::OK
    );
}

/// Item 3: user names and bodies are bounded; nothing large is kept or written to the
/// audit log, even for refused attempts.
#[tokio::test]
async fn item3_huge_user_names_are_refused_and_never_logged_whole() {
    let r = relay_with_users("[audit]\npath = '{dir}/audit.log'\n", &cheap_hash("right")).await;
    let audit = r._dir.join("audit.log");
    for (i, len) in [300usize, 10_000, 1_900_000].into_iter().enumerate() {
        for j in 0..15u8 {
            let a = login(
                &r,
                peer(10 + i as u8, 3000 + j as u16),
                &"n".repeat(len),
                "x",
            )
            .await;
            assert_eq!(a.status, StatusCode::BAD_REQUEST, "{len}");
            assert_eq!(a.failure(), FailureCode::BadRequest);
        }
    }
    let a = login(&r, peer(20, 1), "evil\nname", "x").await;
    assert_eq!(a.failure(), FailureCode::BadRequest, "control characters");
    let written = std::fs::metadata(&audit).map(|m| m.len()).unwrap_or(0);
    assert!(written < 46 * 400, "the audit log grew by {written} bytes");
    let text = std::fs::read_to_string(&audit).unwrap_or_default();
    assert!(
        !text.contains("evil\\nname"),
        "names are cleaned before logging"
    );
    assert_eq!(
        r.state.limiter.tracked(),
        0,
        "nothing is kept for malformed requests"
    );
    // A name at the limit is still an ordinary (wrong) sign-in.
    let a = login(
        &r,
        peer(21, 1),
        &"n".repeat(crate::access::identity::MAX_NAME),
        "x",
    )
    .await;
    assert_eq!(a.failure(), FailureCode::BadCredentials);
}

/// Item 5: strangers failing on purpose for alice's name from many addresses do not keep
/// her out of her usual address; her name is still slowed down everywhere else.
#[tokio::test]
async fn item5_strangers_cannot_lock_a_colleague_out() {
    let r = relay_with_users("", &cheap_hash("right")).await;
    let home = peer(1, 1);
    assert_eq!(
        login(&r, home, "alice", "right").await.status,
        StatusCode::OK
    );
    for i in 0..30u8 {
        for _ in 0..6 {
            login(&r, peer(100 + i, 4000), "alice", "wrong").await;
        }
    }
    let stranger = login(&r, peer(250, 1), "alice", "wrong").await;
    assert_eq!(
        stranger.status,
        StatusCode::TOO_MANY_REQUESTS,
        "guessing alice's password from new places is slowed down"
    );
    let a = login(&r, home, "alice", "right").await;
    assert_eq!(
        a.status,
        StatusCode::OK,
        "alice still signs in from her usual address"
    );
    // Another user from the strangers' addresses is not affected by alice's budget.
    assert_eq!(
        login(&r, peer(250, 2), "bob", "right").await.status,
        StatusCode::OK
    );
}

/// Item 8: a shell opened with the person's own credentials (`ask_credentials`): others
/// with write access to the target watch it, and type only through a share link.
#[tokio::test]
async fn item8_only_the_person_types_in_a_shell_opened_with_their_credentials() {
    let r = relay_with("", |_| String::new()).await;
    let a = r
        .call(
            Method::POST,
            "/api/sessions",
            Some("alice"),
            &[],
            Some(serde_json::json!({"target": "ask", "username": "demo", "password": "right-pw"})),
        )
        .await;
    assert_eq!(a.status, StatusCode::CREATED);
    let s: SessionInfo = a.json();
    let path = format!("/api/sessions/{}", s.id);
    let mine: SessionInfo = r.get(&path, Some("alice")).await.json();
    assert_eq!(mine.role, Role::Owner);
    let bob: SessionInfo = r.get(&path, Some("bob")).await.json();
    assert_eq!(
        bob.role,
        Role::Viewer,
        "bob may write on the target, not as alice"
    );
    // Alice shares it explicitly: then bob types.
    let a = r
        .call(
            Method::POST,
            &format!("{path}/shares"),
            Some("alice"),
            &[],
            Some(serde_json::json!({"role": "writer"})),
        )
        .await;
    let token = a.json::<winrelay_shared::api::ShareInfo>().token.unwrap();
    let bob: SessionInfo = r
        .get(&format!("{path}?share={token}"), Some("bob"))
        .await
        .json();
    assert_eq!(bob.role, Role::Writer);
    // A shell with the target's configured account is shared with the target's writers
    // as before.
    let s: SessionInfo = r.open("alice", "public").await.json();
    let bob: SessionInfo = r
        .get(&format!("/api/sessions/{}", s.id), Some("bob"))
        .await
        .json();
    assert_eq!(bob.role, Role::Owner, "everyone owns `public`: {bob:?}");
    r.state.registry.shutdown().await;
}

/// Item 10: per-person and per-target session limits, with a clear message.
#[tokio::test]
async fn item10_one_person_cannot_take_every_shell_of_a_target() {
    let r = relay_with("[sessions]\nmax_per_user = 2\nmax_per_target = 3\n", |_| {
        String::new()
    })
    .await;
    for _ in 0..2 {
        assert_eq!(r.open("alice", "public").await.status, StatusCode::CREATED);
    }
    let a = r.open("alice", "public").await;
    assert_eq!(
        (a.status, a.failure()),
        (StatusCode::TOO_MANY_REQUESTS, FailureCode::SessionLimit)
    );
    assert!(a
        .json::<winrelay_shared::api::ApiError>()
        .message
        .contains("you already run 2"));
    assert_eq!(r.open("bob", "public").await.status, StatusCode::CREATED);
    let a = r.open("carol", "public").await;
    assert_eq!(a.failure(), FailureCode::SessionLimit);
    assert!(a
        .json::<winrelay_shared::api::ApiError>()
        .message
        .contains("target public"));
    // Ending one makes room again.
    let mine: Vec<SessionInfo> = r.get("/api/sessions", Some("alice")).await.json();
    let id = &mine.iter().find(|s| s.owner == "alice").unwrap().id;
    r.state.registry.get(id).unwrap().end();
    for _ in 0..100 {
        if r.open("carol", "public").await.status == StatusCode::CREATED {
            r.state.registry.shutdown().await;
            return;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    panic!("no room after a session ended");
}

/// Item 11: wrong passwords for an `ask_credentials` target are limited per user and
/// target, like the relay's own sign-in.
#[tokio::test]
async fn item11_target_passwords_cannot_be_guessed_quickly() {
    let r = relay_with("", |_| String::new()).await;
    let open = |user: &'static str, pw: &'static str| {
        let r = &r;
        async move {
            r.call(
                Method::POST,
                "/api/sessions",
                Some(user),
                &[],
                Some(serde_json::json!({"target": "ask", "username": "demo", "password": pw})),
            )
            .await
        }
    };
    let mut codes = Vec::new();
    for _ in 0..8 {
        codes.push(open("carol", "wrong").await.failure());
    }
    assert_eq!(
        codes
            .iter()
            .filter(|c| **c == FailureCode::WrongCredentials)
            .count(),
        5,
        "{codes:?}"
    );
    let a = open("carol", "right-pw").await;
    assert_eq!(
        (a.status, a.failure()),
        (StatusCode::TOO_MANY_REQUESTS, FailureCode::TooManyAttempts)
    );
    assert!(a.headers.contains_key("retry-after"));
    // Someone else on the same target, from the same address, is not held up.
    assert_eq!(open("bob", "right-pw").await.status, StatusCode::CREATED);
    r.state.registry.shutdown().await;
}

/// Item 13: the own-origin check compares the scheme too, and only the relay's host names
/// are answered (DNS rebinding).
#[tokio::test]
async fn item13_origin_scheme_and_host_names() {
    let r = relay_with("", |_| "allowed_hosts = ['relay.example']\n".to_string()).await;
    let open = |host: &'static str, origin: &'static str| {
        let r = &r;
        async move {
            r.call(
                Method::POST,
                "/api/sessions",
                Some("alice"),
                &[("host", host), ("origin", origin)],
                Some(serde_json::json!({"target": "nosuch"})),
            )
            .await
        }
    };
    // The relay's own origin gets through to the handler (which finds no such target).
    let a = open("relay.example:8080", "http://relay.example:8080").await;
    assert_eq!(a.failure(), FailureCode::UnknownTarget);
    // An https page is not this plain-HTTP relay's own.
    let a = open("relay.example:8080", "https://relay.example:8080").await;
    assert_eq!(
        (a.status, a.failure()),
        (StatusCode::FORBIDDEN, FailureCode::BadOrigin)
    );
    // A rebound name: same-origin from the browser's point of view, not the relay's name.
    let a = open(
        "rebound.evil.example:8080",
        "http://rebound.evil.example:8080",
    )
    .await;
    assert_eq!(
        (a.status, a.failure()),
        (StatusCode::MISDIRECTED_REQUEST, FailureCode::BadHost)
    );
    let a = r
        .call(
            Method::GET,
            "/api/me",
            Some("alice"),
            &[("host", "rebound.evil.example")],
            None,
        )
        .await;
    assert_eq!(a.failure(), FailureCode::BadHost);
    let a = r
        .call(
            Method::GET,
            "/healthz",
            None,
            &[("host", "10.1.2.3:8080")],
            None,
        )
        .await;
    assert_eq!(a.status, StatusCode::OK, "probes by address still answer");
}

/// Item 14: a trusted proxy's doubled user or groups headers are refused, not merged (the
/// first one may be the client's own, passed on).
#[tokio::test]
async fn item14_doubled_proxy_headers_are_refused() {
    let r = relay_with("", |_| {
        "[proxy_auth]\ntrusted_proxies = ['127.0.0.1/32']\n".to_string()
    })
    .await;
    let me = |headers: &'static [(&'static str, &'static str)]| {
        let r = &r;
        async move { r.call(Method::GET, "/api/me", None, headers, None).await }
    };
    let a = me(&[("x-forwarded-user", "carol"), ("x-forwarded-groups", "dev")]).await;
    assert_eq!(a.status, StatusCode::OK);
    let a = me(&[("x-forwarded-user", "alice"), ("x-forwarded-user", "carol")]).await;
    assert_eq!(
        (a.status, a.failure()),
        (StatusCode::BAD_REQUEST, FailureCode::BadRequest)
    );
    let a = me(&[
        ("x-forwarded-user", "carol"),
        ("x-forwarded-groups", "ops"),
        ("x-forwarded-groups", "dev"),
    ])
    .await;
    assert_eq!(
        a.failure(),
        FailureCode::BadRequest,
        "groups are not merged"
    );
}

/// Item 16: metrics are not public on the main port; API answers are not stored; unknown
/// API paths are JSON 404s; HSTS under TLS.
#[tokio::test]
async fn item16_operations_endpoints() {
    let r = relay_with("", |_| String::new()).await;
    let a = r.get("/metrics", None).await;
    assert_eq!(
        (a.status, a.failure()),
        (StatusCode::NOT_FOUND, FailureCode::NotFound)
    );
    let a = r.get("/api/nosuch/thing", Some("alice")).await;
    assert_eq!(
        (a.status, a.failure()),
        (StatusCode::NOT_FOUND, FailureCode::NotFound)
    );
    let a = r.get("/api/targets", Some("alice")).await;
    assert_eq!(a.headers["cache-control"], "no-store");
    assert!(
        !a.headers.contains_key("strict-transport-security"),
        "not over HTTP"
    );
    let page = r.get("/", None).await;
    assert_ne!(
        page.headers
            .get("cache-control")
            .map(|v| v.to_str().unwrap()),
        Some("no-store")
    );
    // With a metrics token: only with it.
    use sha2::Digest;
    let hash = hex::encode(sha2::Sha256::digest(b"m-token"));
    let r = relay_with("", move |_| format!("[metrics]\ntoken_hash = '{hash}'\n")).await;
    assert_eq!(
        r.get("/metrics", None).await.failure(),
        FailureCode::BadToken
    );
    let a = r
        .call(
            Method::GET,
            "/metrics",
            None,
            &[("authorization", "Bearer m-token")],
            None,
        )
        .await;
    assert_eq!(a.status, StatusCode::OK);
    assert!(String::from_utf8_lossy(&a.body).contains("winrelay_sessions"));
    // The metrics listener's router serves them without a token (it is bound elsewhere).
    let resp = tower::ServiceExt::oneshot(
        super::metrics_app(r.state.clone()),
        axum::http::Request::get("/metrics")
            .body(axum::body::Body::empty())
            .unwrap(),
    )
    .await
    .unwrap();
    assert_eq!(resp.status(), StatusCode::OK);
}

/// Item 16: HSTS under `[tls]`.
#[tokio::test]
async fn item16_hsts_under_tls() {
    let config = crate::config::Config::parse("").unwrap();
    let state = std::sync::Arc::new(
        super::AppState::new(
            &config,
            crate::targets::Targets::from_config(&config).unwrap(),
            crate::session::Registry::new(config.sessions.clone()),
            crate::ops::metrics::Metrics::new(),
            crate::access::signins::Signins::default(),
            true,
        )
        .unwrap(),
    );
    let resp = tower::ServiceExt::oneshot(
        super::app(state),
        axum::http::Request::get("/healthz")
            .body(axum::body::Body::empty())
            .unwrap(),
    )
    .await
    .unwrap();
    assert_eq!(
        resp.headers()["strict-transport-security"],
        "max-age=31536000"
    );
}

/// Behind a reverse proxy: `X-Forwarded-For` / `-Proto` from a trusted proxy give the
/// client's address (limits, audit) and scheme (cookie `Secure`); from anyone else they
/// are ignored.
#[tokio::test]
async fn behind_a_reverse_proxy_each_client_has_its_own_address() {
    let r = relay_with_users(
        "trusted_proxies = ['127.0.0.1/32']\n[audit]\npath = '{dir}/audit.log'\n",
        &cheap_hash("right"),
    )
    .await;
    let proxy = SocketAddr::from(([127, 0, 0, 1], 5000));
    let via = |client: &'static str, password: &'static str| {
        let r = &r;
        async move {
            r.call_from(
                proxy,
                Method::POST,
                "/api/login",
                None,
                &[
                    ("content-type", "application/json"),
                    ("x-forwarded-for", client),
                    ("x-forwarded-proto", "https"),
                ],
                Some(serde_json::json!({"user": "alice", "password": password}).to_string()),
            )
            .await
        }
    };
    for _ in 0..5 {
        assert_eq!(
            via("192.0.2.1", "wrong").await.status,
            StatusCode::UNAUTHORIZED
        );
    }
    assert_eq!(
        via("192.0.2.1", "wrong").await.status,
        StatusCode::TOO_MANY_REQUESTS
    );
    // Another person behind the same proxy is not slowed down by the first one.
    let a = via("192.0.2.2", "right").await;
    assert_eq!(a.status, StatusCode::OK);
    let cookie = a.headers["set-cookie"].to_str().unwrap();
    assert!(cookie.contains("Secure"), "HTTPS at the proxy: {cookie}");
    let audit = std::fs::read_to_string(r._dir.join("audit.log")).unwrap();
    assert!(audit.contains("\"ip\":\"192.0.2.2\""), "{audit}");
    // A client that is not a trusted proxy cannot choose its address.
    let direct = SocketAddr::from(([127, 0, 1, 7], 5000));
    for _ in 0..5 {
        r.call_from(
            direct,
            Method::POST,
            "/api/login",
            None,
            &[
                ("content-type", "application/json"),
                ("x-forwarded-for", "192.0.2.99"),
            ],
            Some(serde_json::json!({"user": "bob", "password": "x"}).to_string()),
        )
        .await;
    }
    let a = r
        .call_from(
            direct,
            Method::POST,
            "/api/login",
            None,
            &[
                ("content-type", "application/json"),
                ("x-forwarded-for", "192.0.2.100"),
            ],
            Some(serde_json::json!({"user": "bob", "password": "right"}).to_string()),
        )
        .await;
    assert_eq!(
        a.status,
        StatusCode::TOO_MANY_REQUESTS,
        "its own address counts"
    );
    assert!(!audit.contains("192.0.2.99"));
}
