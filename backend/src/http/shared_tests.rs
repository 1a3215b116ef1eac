//! Two relays of one cluster, in-process, sharing a real `redis-server` started here on a
//! free loopback port (`make test` installs it): sign-ins, login links, share links and
//! sign-in attempts made on one relay hold on the other (issue 15). The two share one
//! session registry, standing for the cluster's shared sessions, so that a share link's
//! session exists on both.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::Command;
use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::http::{header, Method, StatusCode};
use sha2::{Digest, Sha256};
use winrelay_shared::api::{FailureCode, SessionInfo, ShareInfo};
use winrelay_shared::protocol::Role;

use super::super::tests::{Answer, Relay};
use super::super::{app, AppState};
use crate::access::signins::Signins;
use crate::access::users::hash_with;
use crate::config::Config;
use crate::ops::metrics::Metrics;
use crate::session::{Registry, SessionSettings};
use crate::targets::Targets;

use winrelay_testkit::Redis;

/// Relays A and B of one cluster: local user alice (password `right`, group ops), API
/// tokens `tok-alice` and `tok-bob`, target `ops-box` (owners: group ops) on a simulator.
async fn two_relays(redis: &Redis) -> (Relay, Relay) {
    let (a, b, _) = two_relays_and_config(redis).await;
    (a, b)
}

/// [`two_relays`] and their configuration's TOML.
async fn two_relays_and_config(redis: &Redis) -> (Relay, Relay, String) {
    let sim = winrs_sim::start(winrs_sim::SimConfig::new("demo", "right-pw"))
        .await
        .unwrap();
    let dirs: Vec<PathBuf> = (0..2)
        .map(|_| {
            let d = std::env::temp_dir()
                .join(format!("winrelay-shared-{}", crate::access::new_token()));
            std::fs::create_dir_all(&d).unwrap();
            d
        })
        .collect();
    let pwfile = dirs[0].join("pw");
    std::fs::write(&pwfile, "right-pw").unwrap();
    let hash = hash_with("right", argon2::Params::new(8, 1, 1, None).unwrap()).unwrap();
    let token = |u: &str| hex::encode(Sha256::digest(format!("tok-{u}")));
    let toml = format!(
        "[[user]]\nname = 'alice'\npassword_hash = '{hash}'\ngroups = ['ops']\n\
         [[token]]\nname = 'alice'\nhash = '{ta}'\nuser = 'alice'\ngroups = ['ops']\n\
         [[token]]\nname = 'bob'\nhash = '{tb}'\nuser = 'bob'\ngroups = []\n\
         [[target]]\nname = 'ops-box'\nendpoint = '{ep}'\nuser = 'demo'\npassword_file = '{pw}'\npin = '{pin}'\nowners = ['group:ops']\n\
         [cluster]\nredis = 'redis://127.0.0.1:{port}/0'\n",
        ta = token("alice"),
        tb = token("bob"),
        ep = sim.endpoint(),
        pw = pwfile.display(),
        pin = sim.fingerprint().unwrap(),
        port = redis.port,
    );
    let config = Config::parse(&toml).unwrap();
    let registry = Registry::new(SessionSettings {
        log_bytes: 1 << 16,
        idle_timeout: Duration::from_secs(300),
        max_sessions: 10,
        ..config.sessions.clone()
    });
    let mut sim = Some(sim);
    let mut relays = Vec::new();
    for (name, dir) in ["relay-a", "relay-b"].into_iter().zip(dirs) {
        let metrics = Metrics::new();
        let node = crate::cluster::Node::connect(
            config.cluster.as_ref().unwrap(),
            name.into(),
            config.sessions.log_bytes,
            metrics.cluster.clone(),
        )
        .await
        .unwrap();
        let state = Arc::new(
            AppState::new(
                &config,
                Targets::from_config(&config).unwrap(),
                registry.clone(),
                metrics,
                Signins::default(),
                false,
            )
            .unwrap()
            .in_cluster(Some(node)),
        );
        relays.push(Relay {
            app: app(state.clone()),
            state,
            _sim: sim.take(),
            _dir: dir,
        });
    }
    let b = relays.pop().unwrap();
    (relays.pop().unwrap(), b, toml)
}

fn peer(last: u8) -> SocketAddr {
    SocketAddr::from(([127, 0, 2, last], 1000))
}

async fn login(r: &Relay, from: SocketAddr, password: &str) -> Answer {
    r.call_from(
        from,
        Method::POST,
        "/api/login",
        None,
        &[("content-type", "application/json")],
        Some(serde_json::json!({"user": "alice", "password": password}).to_string()),
    )
    .await
}

/// The sign-in cookie an answer sets.
fn cookie_of(a: &Answer) -> String {
    let set = a.headers[header::SET_COOKIE].to_str().unwrap();
    let value = set.split(';').next().unwrap().to_string();
    assert!(value.len() > 40, "a sign-in cookie: {set}");
    value
}

async fn me(r: &Relay, cookie: &str) -> StatusCode {
    r.call(Method::GET, "/api/me", None, &[("cookie", cookie)], None)
        .await
        .status
}

#[tokio::test]
async fn sign_ins_login_links_and_attempts_hold_on_every_relay() {
    let redis = Redis::start();
    let (a, b) = two_relays(&redis).await;

    // Signed in on A: honoured on B; signed out on B: refused on A at once.
    let signed = login(&a, peer(1), "right").await;
    assert_eq!(signed.status, StatusCode::OK);
    let cookie = cookie_of(&signed);
    assert_eq!(me(&b, &cookie).await, StatusCode::OK);
    assert_eq!(me(&a, &cookie).await, StatusCode::OK);
    let out = b
        .call(
            Method::POST,
            "/api/logout",
            None,
            &[("cookie", &cookie), ("x-winrelay", "1")],
            None,
        )
        .await;
    assert_eq!(out.status, StatusCode::NO_CONTENT);
    assert_eq!(me(&a, &cookie).await, StatusCode::UNAUTHORIZED);
    assert_eq!(me(&b, &cookie).await, StatusCode::UNAUTHORIZED);

    // A login link made by A works once, on whichever relay comes first.
    let shared_a = super::shared(&a.state);
    for (first, second) in [(&a, &b), (&b, &a)] {
        let link = shared_a.login_link("alice", Duration::from_secs(60)).await;
        let used = first.get(&format!("/login?token={link}"), None).await;
        assert_eq!(used.status, StatusCode::SEE_OTHER);
        let cookie = cookie_of(&used);
        assert_eq!(me(second, &cookie).await, StatusCode::OK);
        let again = second.get(&format!("/login?token={link}"), None).await;
        assert_eq!(again.headers[header::LOCATION], "/?login=invalid");
        assert!(!again.headers.contains_key(header::SET_COOKIE));
        let again = first.get(&format!("/login?token={link}"), None).await;
        assert_eq!(again.headers[header::LOCATION], "/?login=invalid");
    }

    // Failures on A and B count together: five free ones in all, then a wait on both.
    for (i, r) in [&a, &b, &a, &b, &a].into_iter().enumerate() {
        let wrong = login(r, peer(9), "wrong").await;
        assert_eq!(wrong.status, StatusCode::UNAUTHORIZED, "attempt {i}");
    }
    for r in [&a, &b] {
        let refused = login(r, peer(9), "right").await;
        assert_eq!(refused.status, StatusCode::TOO_MANY_REQUESTS);
        assert_eq!(refused.failure(), FailureCode::TooManyAttempts);
    }
    // Nothing of a token or a name in Redis' keys: digests only.
    let scan = Command::new("redis-cli")
        .args(["-p", &redis.port.to_string(), "--scan"])
        .output()
        .expect("redis-cli comes with redis-server");
    let keys: Vec<String> = String::from_utf8_lossy(&scan.stdout)
        .lines()
        .map(str::to_string)
        .collect();
    assert!(!keys.is_empty());
    for k in &keys {
        assert!(
            !k.contains("alice") && !k.contains(&cookie[cookie.len() - 64..]),
            "{k}"
        );
    }
}

#[tokio::test]
async fn a_share_link_made_on_one_relay_admits_and_ends_on_the_other() {
    let redis = Redis::start();
    let (a, b) = two_relays(&redis).await;
    let opened = a.open("alice", "ops-box").await;
    assert_eq!(opened.status, StatusCode::CREATED);
    let s: SessionInfo = opened.json();
    let path = format!("/api/sessions/{}", s.id);
    let made = a
        .call(
            Method::POST,
            &format!("{path}/shares"),
            Some("alice"),
            &[],
            Some(serde_json::json!({"role": "writer", "ttl_secs": 600})),
        )
        .await;
    assert_eq!(made.status, StatusCode::CREATED);
    let made: ShareInfo = made.json();
    let token = made.token.expect("the token, once");
    let with = format!("{path}?share={token}");

    // B admits the link with its role, and lists it with its expiry.
    let guest: SessionInfo = b.get(&with, None).await.json();
    assert_eq!(guest.role, Role::Writer);
    let listed: Vec<ShareInfo> = b.get(&format!("{path}/shares"), Some("alice")).await.json();
    assert_eq!(listed.len(), 1);
    assert_eq!(
        (listed[0].id.as_str(), listed[0].role),
        (made.id.as_str(), Role::Writer)
    );
    assert!((590..=600).contains(&listed[0].expires_in_secs));
    assert!(listed[0].token.is_none());

    // Revoked on A: B answers share_ended (410), and so does A.
    let revoked = a
        .call(
            Method::DELETE,
            &format!("{path}/shares/{}", made.id),
            Some("alice"),
            &[],
            None,
        )
        .await;
    assert_eq!(revoked.status, StatusCode::NO_CONTENT);
    for r in [&b, &a] {
        let gone = r.get(&with, None).await;
        assert_eq!(gone.status, StatusCode::GONE);
        assert_eq!(gone.failure(), FailureCode::ShareEnded);
    }
    let listed: Vec<ShareInfo> = a.get(&format!("{path}/shares"), Some("alice")).await.json();
    assert!(listed.is_empty());

    // A link made on B and revoked on B ends on A, which had seen it live.
    let made: ShareInfo = b
        .call(
            Method::POST,
            &format!("{path}/shares"),
            Some("alice"),
            &[],
            Some(serde_json::json!({"role": "viewer"})),
        )
        .await
        .json();
    let with = format!("{path}?share={}", made.token.unwrap());
    assert_eq!(
        a.get(&with, None).await.json::<SessionInfo>().role,
        Role::Viewer
    );
    let revoked = b
        .call(
            Method::DELETE,
            &format!("{path}/shares/{}", made.id),
            Some("alice"),
            &[],
            None,
        )
        .await;
    assert_eq!(revoked.status, StatusCode::NO_CONTENT);
    assert_eq!(a.get(&with, None).await.failure(), FailureCode::ShareEnded);

    // A link that ran out reads as ended on the relay that did not make it.
    let (expired, _) = super::shared(&a.state)
        .share(&s.id, Role::Viewer, Duration::from_millis(50))
        .await;
    tokio::time::sleep(Duration::from_millis(200)).await;
    let ran_out = b.get(&format!("{path}?share={expired}"), None).await;
    assert_eq!(ran_out.failure(), FailureCode::ShareEnded);
    a.state.registry.shutdown().await;
}

#[tokio::test]
async fn without_redis_each_relay_keeps_the_sign_ins_it_knows_and_never_hangs() {
    let mut redis = Redis::start();
    let (a, b) = two_relays(&redis).await;
    let signed = login(&a, peer(1), "right").await;
    let cookie = cookie_of(&signed);
    assert_eq!(me(&b, &cookie).await, StatusCode::OK, "B has seen it");

    redis.kill();
    let timed = |r: &'static str, started: Instant| {
        let took = started.elapsed();
        assert!(took < Duration::from_millis(1500), "{r}: {took:?}");
    };
    for _ in 0..3 {
        let t = Instant::now();
        assert_eq!(me(&a, &cookie).await, StatusCode::OK);
        timed("the relay that made it", t);
        let t = Instant::now();
        assert_eq!(me(&b, &cookie).await, StatusCode::OK);
        timed("a relay that saw it", t);
    }
    // A new sign-in works where it was made (not shared: B cannot know it).
    let t = Instant::now();
    let fresh = login(&a, peer(2), "right").await;
    timed("a new sign-in", t);
    assert_eq!(fresh.status, StatusCode::OK);
    let fresh = cookie_of(&fresh);
    assert_eq!(me(&a, &fresh).await, StatusCode::OK);
    assert_eq!(me(&b, &fresh).await, StatusCode::UNAUTHORIZED);
    // Still none after Redis' rest: each answer stays quick.
    tokio::time::sleep(crate::access::shared::REDIS_REST).await;
    let t = Instant::now();
    assert_eq!(me(&a, &fresh).await, StatusCode::OK);
    timed("after the rest", t);
    let t = Instant::now();
    let out = a
        .call(
            Method::POST,
            "/api/logout",
            None,
            &[("cookie", &fresh), ("x-winrelay", "1")],
            None,
        )
        .await;
    assert_eq!(out.status, StatusCode::NO_CONTENT);
    timed("a sign-out", t);
    assert_eq!(me(&a, &fresh).await, StatusCode::UNAUTHORIZED);
}

/// A Redis that stops answering (paused, not gone: no error comes back, only silence)
/// holds a request up for at most one wait; once it answers again, new sign-ins are shared
/// again.
#[tokio::test]
async fn a_silent_redis_holds_no_request_up_and_sharing_resumes_after() {
    let redis = Redis::start();
    let (a, b) = two_relays(&redis).await;
    let cookie = cookie_of(&login(&a, peer(1), "right").await);
    assert_eq!(me(&b, &cookie).await, StatusCode::OK);

    let signal = |s: &str| {
        let ok = Command::new("kill")
            .args([s, &redis.pid().to_string()])
            .status()
            .unwrap()
            .success();
        assert!(ok, "kill {s}");
    };
    signal("-STOP");
    let most = crate::access::shared::REDIS_WAIT + Duration::from_millis(500);
    for r in [&a, &b, &a, &b] {
        let t = Instant::now();
        assert_eq!(me(r, &cookie).await, StatusCode::OK);
        assert!(t.elapsed() < most, "{:?}", t.elapsed());
    }
    let t = Instant::now();
    let local = cookie_of(&login(&b, peer(2), "right").await);
    assert!(t.elapsed() < most * 2, "{:?}", t.elapsed());
    assert_eq!(me(&b, &local).await, StatusCode::OK);

    signal("-CONT");
    tokio::time::sleep(crate::access::shared::REDIS_REST + Duration::from_millis(100)).await;
    // The sign-in made in the silence stays B's own; a new one is shared again.
    assert_eq!(me(&b, &local).await, StatusCode::OK);
    assert_eq!(me(&a, &local).await, StatusCode::UNAUTHORIZED);
    let fresh = cookie_of(&login(&a, peer(3), "right").await);
    assert_eq!(me(&b, &fresh).await, StatusCode::OK);
    // And the first sign-in, signed out on A, ends on B.
    let out = a
        .call(
            Method::POST,
            "/api/logout",
            None,
            &[("cookie", &cookie), ("x-winrelay", "1")],
            None,
        )
        .await;
    assert_eq!(out.status, StatusCode::NO_CONTENT);
    assert_eq!(me(&b, &cookie).await, StatusCode::UNAUTHORIZED);
}

/// A reload that ends a sign-in on one relay (the account changed) ends it on every relay,
/// also on one that still has the old configuration.
#[tokio::test]
async fn a_sign_in_a_reload_ends_ends_everywhere() {
    let redis = Redis::start();
    let (a, b, toml) = two_relays_and_config(&redis).await;
    let cookie = cookie_of(&login(&a, peer(1), "right").await);
    assert_eq!(me(&b, &cookie).await, StatusCode::OK);
    let changed = toml.replacen("groups = ['ops']", "groups = ['ops', 'new']", 1);
    assert_ne!(changed, toml);
    a.state.reload(&Config::parse(&changed).unwrap()).unwrap();
    // A's next request ends it in Redis; B, with the old configuration, follows.
    assert_eq!(me(&a, &cookie).await, StatusCode::UNAUTHORIZED);
    assert_eq!(me(&b, &cookie).await, StatusCode::UNAUTHORIZED);
}
