//! Who may connect: local users and roles, sign-in limits, API tokens, the proxy rule,
//! embed tokens, share links, cross-site protection, audit log, recordings, HTTPS.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use crate::common::*;
use winrelay_shared::protocol::{ErrorCode, Role, ServerMsg};

const EMBED_SECRET: &str = "portal-and-relay-share-this-secret-0123456789";

/// An argon2 hash with small parameters (tests run unoptimised builds).
fn cheap_hash(pw: &str) -> String {
    use argon2::password_hash::{rand_core::OsRng, PasswordHasher, SaltString};
    let params = argon2::Params::new(64, 1, 1, None).unwrap();
    argon2::Argon2::new(argon2::Algorithm::Argon2id, argon2::Version::V0x13, params)
        .hash_password(pw.as_bytes(), &SaltString::generate(&mut OsRng))
        .unwrap()
        .to_string()
}

fn now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs()
}

fn jwt(secret: &str, claims: serde_json::Value) -> String {
    jsonwebtoken::encode(
        &jsonwebtoken::Header::new(jsonwebtoken::Algorithm::HS256),
        &claims,
        &jsonwebtoken::EncodingKey::from_secret(secret.as_bytes()),
    )
    .unwrap()
}

fn unique(name: &str) -> String {
    format!(
        "{name}_{}_{}",
        std::process::id(),
        &winrelay::access::new_token()[..8]
    )
}

fn http() -> reqwest::Client {
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap()
}

/// Signs in with user name and password: (status, signed-in user if it worked).
async fn login(
    relay: &Relay,
    name: &str,
    pw: &str,
) -> (u16, Option<User>, reqwest::header::HeaderMap) {
    let c = http();
    let r = c
        .post(format!("{}/api/login", relay.base))
        .json(&serde_json::json!({"user": name, "password": pw}))
        .send()
        .await
        .unwrap();
    let status = r.status().as_u16();
    let headers = r.headers().clone();
    let user = headers.get("set-cookie").map(|v| User {
        http: c.clone(),
        cookie: v.to_str().unwrap().split(';').next().unwrap().to_string(),
        base: relay.base.clone(),
        ws: relay.ws_base(),
    });
    (status, user, headers)
}

struct Setup {
    relay: Relay,
    _sims: Vec<Sim>,
    dir: std::path::PathBuf,
}

/// Two simulator targets `box` (recorded) and `other`, three users, an embed secret, the
/// audit log and recordings in a fresh directory; `extra` is appended to the file.
fn setup(extra: &str) -> Setup {
    let sim = Sim::start("svc", "pw-box");
    let sim2 = Sim::start("svc", "pw-other");
    let var = unique("BOX_PW");
    let var2 = unique("OTHER_PW");
    let evar = unique("EMBED_SECRET");
    std::env::set_var(&var, "pw-box");
    std::env::set_var(&var2, "pw-other");
    std::env::set_var(&evar, EMBED_SECRET);
    let text = format!(
        r#"
[[user]]
name = "alice"
password_hash = "{alice}"
[[user]]
name = "bob"
password_hash = "{bob}"
groups = ["support"]
[[user]]
name = "carol"
password_hash = "{carol}"

[embed]
secret_env = "{evar}"
audience = "winrelay-test"
frame_ancestors = ["http://127.0.0.2:9999"]

[audit]
path = "AUDIT"
log_input = true

[recordings]
dir = "RECS"

[[target]]
name = "box"
endpoint = "{ep}"
user = "svc"
password_env = "{var}"
pin = "{fp}"
owners = ["alice"]
viewers = ["group:support"]
record = true

[[target]]
name = "other"
endpoint = "{ep2}"
user = "svc"
password_env = "{var2}"
pin = "{fp2}"
owners = ["alice", "carol"]
{extra}
"#,
        alice = cheap_hash("alice-pw"),
        bob = cheap_hash("bob-pw"),
        carol = cheap_hash("carol-pw"),
        ep = sim.endpoint,
        fp = sim.fingerprint,
        ep2 = sim2.endpoint,
        fp2 = sim2.fingerprint,
    );
    let path = config_file("");
    let dir = path.parent().unwrap().to_path_buf();
    let text = text
        .replace("\"AUDIT\"", &format!("{:?}", dir.join("audit.jsonl")))
        .replace("\"RECS\"", &format!("{:?}", dir.join("recordings")));
    std::fs::write(&path, text).unwrap();
    let relay = Relay::start(&["--config", path.to_str().unwrap()]);
    Setup {
        relay,
        _sims: vec![sim, sim2],
        dir,
    }
}

fn audit_lines(dir: &std::path::Path) -> Vec<serde_json::Value> {
    std::fs::read_to_string(dir.join("audit.jsonl"))
        .unwrap_or_default()
        .lines()
        .map(|l| serde_json::from_str(l).expect("every audit line is JSON"))
        .collect()
}

fn is_forbidden(m: &ServerMsg) -> bool {
    matches!(
        m,
        ServerMsg::Error {
            code: ErrorCode::Forbidden,
            ..
        }
    )
}

#[tokio::test]
async fn roles_per_target_on_the_api_and_the_websocket() {
    let s = setup("");
    let (st, alice, _) = login(&s.relay, "alice", "alice-pw").await;
    assert_eq!(st, 200);
    let alice = alice.unwrap();
    let bob = login(&s.relay, "bob", "bob-pw").await.1.unwrap();
    let carol = login(&s.relay, "carol", "carol-pw").await.1.unwrap();

    let targets = |u: &User| {
        let r = u.get("/api/targets").send();
        async move {
            let v: Vec<serde_json::Value> = r.await.unwrap().json().await.unwrap();
            v.iter()
                .map(|t| {
                    format!(
                        "{}:{}",
                        t["name"].as_str().unwrap(),
                        t["role"].as_str().unwrap()
                    )
                })
                .collect::<Vec<_>>()
        }
    };
    assert_eq!(targets(&alice).await, ["box:owner", "other:owner"]);
    assert_eq!(
        targets(&bob).await,
        ["box:viewer"],
        "bob is a viewer through his group"
    );
    assert_eq!(targets(&carol).await, ["other:owner"]);

    let sess = alice.create_session("box").await;
    // A viewer may not open sessions; someone without a role does not even see the target.
    let r = bob
        .post("/api/sessions")
        .json(&serde_json::json!({"target": "box"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 403);
    assert_eq!(
        r.json::<serde_json::Value>().await.unwrap()["error"],
        "view_only"
    );
    let r = carol
        .post("/api/sessions")
        .json(&serde_json::json!({"target": "box"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 404);

    // Bob finds alice's session (support colleagues find sessions) and joins as viewer.
    let list: Vec<serde_json::Value> = bob
        .get("/api/sessions")
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(list.len(), 1);
    assert_eq!(
        (list[0]["id"].as_str(), list[0]["role"].as_str()),
        (Some(sess.id.as_str()), Some("viewer"))
    );
    let carol_list: Vec<serde_json::Value> = carol
        .get("/api/sessions")
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert!(carol_list.is_empty(), "carol has no role on box");
    let r = carol
        .get(&format!("/api/sessions/{}", sess.id))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 404);
    let url = format!("{}/api/sessions/{}/ws", s.relay.ws_base(), sess.id);
    assert!(
        Client::connect_with(&url, Some(&carol.cookie), None, None)
            .await
            .is_err(),
        "no socket without a role"
    );

    let mut a = alice.attach(&sess.id, None).await;
    a.wait_for("C:\\", T).await;
    let mut b = bob.attach(&sess.id, None).await;
    assert_eq!(b.role().await, Role::Viewer);
    // The viewer's keystrokes are refused on every message; the owner's go through.
    b.input("echo from-bob-$((6*7))\r").await;
    b.wait_msg(T, is_forbidden).await;
    b.signal(winrelay_shared::protocol::Signal::CtrlC).await;
    a.input("echo from-alice-$((6*7))\r").await;
    a.wait_for("\r\nfrom-alice-42", T).await;
    b.wait_for("\r\nfrom-alice-42", T).await;
    assert!(
        !a.text().contains("from-bob"),
        "a viewer's input must never reach the shell"
    );
    assert_eq!(
        b.messages.iter().filter(|m| is_forbidden(m)).count(),
        2,
        "input and signal both refused"
    );
    // Only the owner ends it.
    let r = bob
        .delete(&format!("/api/sessions/{}", sess.id))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 404);
    // A forged cookie is nobody.
    let forged = User {
        cookie: format!("winrelay_session={}", winrelay::access::new_token()),
        ..bob
    };
    assert_eq!(forged.get("/api/me").send().await.unwrap().status(), 401);
    assert_eq!(
        forged.get("/api/sessions").send().await.unwrap().status(),
        401
    );
}

#[tokio::test]
async fn sign_in_limits_no_enumeration_logout_and_cross_site_rules() {
    let s = setup("");
    // Unknown user and wrong password: the same answer.
    let c = http();
    let wrong = |user: &str, pw: &str| {
        c.post(format!("{}/api/login", s.relay.base))
            .json(&serde_json::json!({"user": user, "password": pw}))
            .send()
    };
    let r1 = wrong("alice", "nope").await.unwrap();
    let (st1, body1) = (r1.status(), r1.text().await.unwrap());
    let r2 = wrong("nobody-at-all", "nope").await.unwrap();
    let (st2, body2) = (r2.status(), r2.text().await.unwrap());
    assert_eq!(st1.as_u16(), 401);
    assert_eq!((st1, &body1), (st2, &body2), "no user enumeration");
    for _ in 0..3 {
        assert_eq!(wrong("alice", "nope").await.unwrap().status(), 401);
    }
    // Five quick failures from this address: the sixth is refused without checking.
    let r = wrong("alice", "alice-pw").await.unwrap();
    assert_eq!(r.status(), 429, "the sixth quick attempt is slowed down");
    let retry: u64 = r.headers()["retry-after"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!((1..=2).contains(&retry), "retry after {retry}");
    // After the wait it works again, and the next failures wait longer.
    tokio::time::sleep(Duration::from_secs(retry)).await;
    let (st, alice, headers) = login(&s.relay, "alice", "alice-pw").await;
    assert_eq!(st, 200);
    let set_cookie = headers["set-cookie"].to_str().unwrap();
    assert!(set_cookie.contains("HttpOnly") && set_cookie.contains("SameSite=Lax"));
    assert!(!set_cookie.contains("Secure"), "no Secure over plain HTTP");
    let alice = alice.unwrap();
    let me: serde_json::Value = alice
        .get("/api/me")
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(
        (me["user"].as_str(), me["method"].as_str()),
        (Some("alice"), Some("password"))
    );

    // Cross-site rule: a browser-like request with the cookie and no Origin needs X-Winrelay.
    let browserish = |b: reqwest::RequestBuilder| {
        b.header("user-agent", "Mozilla/5.0")
            .json(&serde_json::json!({"target": "other"}))
    };
    let without_header = alice
        .http
        .post(format!("{}/api/sessions", alice.base))
        .header("cookie", &alice.cookie);
    let r = browserish(without_header).send().await.unwrap();
    assert_eq!(r.status(), 403);
    assert_eq!(
        r.json::<serde_json::Value>().await.unwrap()["error"],
        "csrf"
    );
    let r = browserish(alice.post("/api/sessions"))
        .header("origin", "http://evil.example")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 403);
    let r = browserish(alice.post("/api/sessions"))
        .header("x-winrelay", "1")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 201, "{}", r.text().await.unwrap());
    let r = browserish(
        alice
            .http
            .post(format!("{}/api/sessions", alice.base))
            .header("cookie", &alice.cookie),
    )
    .header("origin", s.relay.base.as_str())
    .send()
    .await
    .unwrap();
    assert_eq!(r.status(), 201);

    // Sign-out ends the cookie.
    let r = alice
        .post("/api/logout")
        .header("x-winrelay", "1")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 204);
    assert_eq!(alice.get("/api/me").send().await.unwrap().status(), 401);

    let audit = audit_lines(&s.dir);
    let events: Vec<&str> = audit.iter().map(|l| l["event"].as_str().unwrap()).collect();
    for e in [
        "sign_in_failed",
        "sign_in_refused",
        "signed_in",
        "opened",
        "signed_out",
    ] {
        assert!(events.contains(&e), "audit has {e}: {events:?}");
    }
    let text = std::fs::read_to_string(s.dir.join("audit.jsonl")).unwrap();
    assert!(
        !text.contains("alice-pw") && !text.contains("nope"),
        "no password in the audit log"
    );
    assert!(
        !s.relay.log().contains("alice-pw"),
        "no password in the log"
    );
}

#[tokio::test]
async fn api_tokens_act_as_their_user() {
    let token = winrelay::access::new_token();
    let hash = {
        use sha2::Digest;
        hex::encode(sha2::Sha256::digest(token.as_bytes()))
    };
    let s = setup(&format!(
        "[[token]]\nname = \"ci\"\nhash = \"{hash}\"\nuser = \"robot\"\ngroups = [\"support\"]\n"
    ));
    let c = http();
    let me: serde_json::Value = c
        .get(format!("{}/api/me", s.relay.base))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(
        (me["user"].as_str(), me["method"].as_str()),
        (Some("robot"), Some("token"))
    );
    let targets: Vec<serde_json::Value> = c
        .get(format!("{}/api/targets", s.relay.base))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(targets.len(), 1, "the token's groups give it viewer on box");
    // A token sent by a program needs no cross-site header; a viewer still cannot open.
    let r = c
        .post(format!("{}/api/sessions", s.relay.base))
        .bearer_auth(&token)
        .header("user-agent", "ci")
        .json(&serde_json::json!({"target":"box"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 403);
    let r = c
        .get(format!("{}/api/me", s.relay.base))
        .bearer_auth(format!("{token}x"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 401);
}

#[tokio::test]
async fn proxy_headers_count_only_from_trusted_proxies() {
    // The test connects from 127.0.0.1.
    let trusted = setup("[proxy_auth]\ntrusted_proxies = [\"127.0.0.1/32\"]\n");
    let untrusted = setup("[proxy_auth]\ntrusted_proxies = [\"127.0.0.2/32\"]\n");
    let me = |relay: &Relay| {
        http()
            .get(format!("{}/api/me", relay.base))
            .header("x-forwarded-user", "dave")
            .header("x-forwarded-groups", "support, ops")
            .send()
    };
    let r = me(&trusted.relay).await.unwrap();
    assert_eq!(r.status(), 200);
    let v: serde_json::Value = r.json().await.unwrap();
    assert_eq!(
        (v["user"].as_str(), v["method"].as_str()),
        (Some("dave"), Some("proxy"))
    );
    assert_eq!(v["groups"], serde_json::json!(["support", "ops"]));
    let targets: Vec<serde_json::Value> = http()
        .get(format!("{}/api/targets", trusted.relay.base))
        .header("x-forwarded-user", "dave")
        .header("x-forwarded-groups", "support")
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(
        targets[0]["role"], "viewer",
        "groups from the proxy count in target roles"
    );
    let r = me(&untrusted.relay).await.unwrap();
    assert_eq!(
        r.status(),
        401,
        "a proxy header from a non-proxy address is ignored"
    );
    assert!(
        untrusted.relay.log().contains("not a trusted proxy"),
        "and logged at debug"
    );
}

#[tokio::test]
async fn embed_tokens_are_scoped_and_checked() {
    let s = setup("");
    let base = &s.relay.base;
    let c = http();
    let claims = |extra: serde_json::Value| {
        let mut v = serde_json::json!({"sub": "erin", "role": "writer", "exp": now() + 120, "aud": "winrelay-test"});
        v.as_object_mut()
            .unwrap()
            .extend(extra.as_object().unwrap().clone());
        v
    };
    let for_other = jwt(EMBED_SECRET, claims(serde_json::json!({"target": "other"})));
    // The token opens its target ...
    let r = c
        .post(format!("{base}/api/embed/session?embed_token={for_other}"))
        .json(&serde_json::json!({"cols": 90, "rows": 20}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 201, "{}", r.text().await.unwrap());
    let sess: serde_json::Value = r.json().await.unwrap();
    assert_eq!(
        (sess["owner"].as_str(), sess["target"].as_str()),
        (Some("erin"), Some("other"))
    );
    let sid = sess["id"].as_str().unwrap().to_string();
    // ... and attaches to it and types, without any cookie.
    let mut e = Client::connect(
        &format!(
            "{}/api/sessions/{sid}/ws?embed_token={for_other}",
            s.relay.ws_base()
        ),
        None,
        None,
    )
    .await;
    e.input("echo embedded-$((2+3))\r").await;
    e.wait_for("\r\nembedded-5", T).await;
    // ... but never another target, by the API or by a socket.
    let r = c
        .post(format!("{base}/api/sessions"))
        .header("x-winrelay-embed", &for_other)
        .json(&serde_json::json!({"target": "box"}))
        .send()
        .await
        .unwrap();
    assert_eq!(
        r.status(),
        404,
        "a token for target A does not open target B"
    );
    let alice = login(&s.relay, "alice", "alice-pw").await.1.unwrap();
    let on_box = alice.create_session("box").await;
    let url = format!(
        "{}/api/sessions/{}/ws?embed_token={for_other}",
        s.relay.ws_base(),
        on_box.id
    );
    assert!(Client::connect_with(&url, None, None, None).await.is_err());
    let targets: Vec<serde_json::Value> = c
        .get(format!("{base}/api/targets?embed_token={for_other}"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(targets.len(), 1);

    // A viewer token for one session joins that session as viewer, and its input is refused.
    let watch = jwt(
        EMBED_SECRET,
        claims(serde_json::json!({"session": on_box.id, "role": "viewer"})),
    );
    let r = c
        .post(format!("{base}/api/embed/session?embed_token={watch}"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(
        r.json::<serde_json::Value>().await.unwrap()["role"],
        "viewer"
    );
    let mut v = Client::connect(
        &format!(
            "{}/api/sessions/{}/ws?embed_token={watch}",
            s.relay.ws_base(),
            on_box.id
        ),
        None,
        None,
    )
    .await;
    assert_eq!(v.role().await, Role::Viewer);
    v.input("echo nope\r").await;
    v.wait_msg(T, is_forbidden).await;
    let url = format!(
        "{}/api/sessions/{sid}/ws?embed_token={watch}",
        s.relay.ws_base()
    );
    assert!(
        Client::connect_with(&url, None, None, None).await.is_err(),
        "a session token opens only its session"
    );

    // Expired, forged, wrong audience, too long, or a token of a session scope opening a target.
    let refused = [
        (
            "expired",
            jwt(
                EMBED_SECRET,
                claims(serde_json::json!({"target": "other", "exp": now() - 30})),
            ),
        ),
        (
            "forged",
            jwt(
                "some-other-secret-that-is-long-enough-too",
                claims(serde_json::json!({"target": "other"})),
            ),
        ),
        ("tampered", {
            let t = jwt(EMBED_SECRET, claims(serde_json::json!({"target": "other"})));
            let mut parts: Vec<String> = t.split('.').map(String::from).collect();
            use base64::Engine;
            let b64 = base64::engine::general_purpose::URL_SAFE_NO_PAD;
            let mut payload: serde_json::Value =
                serde_json::from_slice(&b64.decode(&parts[1]).unwrap()).unwrap();
            payload["target"] = "box".into();
            parts[1] = b64.encode(payload.to_string());
            parts.join(".")
        }),
        (
            "audience",
            jwt(
                EMBED_SECRET,
                claims(serde_json::json!({"target": "other", "aud": "elsewhere"})),
            ),
        ),
        (
            "long-lived",
            jwt(
                EMBED_SECRET,
                claims(serde_json::json!({"target": "other", "exp": now() + 86400})),
            ),
        ),
    ];
    for (what, token) in refused {
        let r = c
            .post(format!("{base}/api/embed/session?embed_token={token}"))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 401, "{what} token refused");
        let url = format!(
            "{}/api/sessions/{sid}/ws?embed_token={token}",
            s.relay.ws_base()
        );
        assert!(
            Client::connect_with(&url, None, None, None).await.is_err(),
            "{what} token opens no socket"
        );
    }
    // Framing: only the configured portal may frame the pages; the embed page knows it too.
    let r = c.get(format!("{base}/embed/t/other")).send().await.unwrap();
    let csp = r.headers()["content-security-policy"]
        .to_str()
        .unwrap()
        .to_string();
    assert!(
        csp.contains("frame-ancestors 'self' http://127.0.0.2:9999"),
        "{csp}"
    );
    let info: serde_json::Value = c
        .get(format!("{base}/api/embed/info"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(
        info["frame_ancestors"],
        serde_json::json!(["http://127.0.0.2:9999"])
    );
    let audit = audit_lines(&s.dir);
    assert!(audit.iter().any(|l| l["event"] == "embed_refused"));
    assert!(audit
        .iter()
        .any(|l| l["event"] == "opened" && l["user"] == "erin" && l["method"] == "embed"));
}

/// Issue 19: guests are told apart: "guest 1", "guest 2" in join order, and a number is
/// never given twice (a guest that leaves and comes back through the link is a new one).
#[tokio::test]
async fn guests_through_a_share_link_are_numbered_in_join_order() {
    let s = setup("");
    let alice = login(&s.relay, "alice", "alice-pw").await.1.unwrap();
    let sess = alice.create_session("other").await;
    let mut owner = alice.attach(&sess.id, None).await;
    owner.wait_for("C:\\", T).await;
    let token = alice.share(&sess.id, "viewer").await;
    let url = format!(
        "{}/api/sessions/{}/ws?share={token}",
        s.relay.ws_base(),
        sess.id
    );
    let names = |m: &ServerMsg| match m {
        ServerMsg::Presence { clients } => {
            let mut n: Vec<String> = clients.iter().map(|c| c.name.clone()).collect();
            n.sort();
            Some(n)
        }
        _ => None,
    };
    let mut first = Client::connect(&url, None, None).await;
    first.welcome().await;
    let mut second = Client::connect(&url, None, None).await;
    second.welcome().await;
    let seen = owner
        .wait_msg(T, |m| names(m).is_some_and(|n| n.len() == 3))
        .await;
    assert_eq!(
        names(&seen).unwrap(),
        ["alice", "guest 1", "guest 2"],
        "{seen:?}"
    );
    first.close().await;
    let mut third = Client::connect(&url, None, None).await;
    third.welcome().await;
    // The presence list once the third guest is in (earlier lists stay in the history).
    let seen = owner
        .wait_msg(T, |m| {
            names(m).is_some_and(|n| {
                n.iter()
                    .any(|n| n.starts_with("guest ") && n != "guest 1" && n != "guest 2")
            })
        })
        .await;
    assert_eq!(
        names(&seen).unwrap(),
        ["alice", "guest 2", "guest 3"],
        "{seen:?}"
    );
}

#[tokio::test]
async fn revoking_a_share_removes_its_clients_and_links_expire() {
    let s = setup("");
    let alice = login(&s.relay, "alice", "alice-pw").await.1.unwrap();
    let sess = alice.create_session("other").await;
    let mut owner = alice.attach(&sess.id, None).await;
    owner.wait_for("C:\\", T).await;
    let token = alice.share(&sess.id, "viewer").await;
    let shares: Vec<serde_json::Value> = alice
        .get(&format!("/api/sessions/{}/shares", sess.id))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let share_id = shares[0]["id"].as_str().unwrap().to_string();
    let url = format!(
        "{}/api/sessions/{}/ws?share={token}",
        s.relay.ws_base(),
        sess.id
    );
    let mut guest = Client::connect(&url, None, None).await;
    guest
        .wait_msg(T, |m| {
            matches!(
                m,
                ServerMsg::Welcome {
                    role: Role::Viewer,
                    ..
                }
            )
        })
        .await;
    // The owner sees who is attached, and through which link.
    owner
        .wait_msg(
            T,
            |m| matches!(m, ServerMsg::Presence { clients } if clients.len() == 2),
        )
        .await;
    let shares: Vec<serde_json::Value> = alice
        .get(&format!("/api/sessions/{}/shares", sess.id))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(shares[0]["clients"].as_array().unwrap().len(), 1);
    let r = alice
        .delete(&format!("/api/sessions/{}/shares/{share_id}", sess.id))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 204);
    let (reason, reconnect) = guest.wait_bye(T).await;
    assert!(!reconnect, "must not reconnect: {reason}");
    assert!(
        Client::connect_with(&url, None, None, None).await.is_err(),
        "a revoked link opens nothing"
    );
    // A link with a one-second life stops working.
    let r = alice
        .post(&format!("/api/sessions/{}/shares", sess.id))
        .json(&serde_json::json!({"role": "writer", "ttl_secs": 1}))
        .send()
        .await
        .unwrap();
    let short = r.json::<serde_json::Value>().await.unwrap()["token"]
        .as_str()
        .unwrap()
        .to_string();
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let url = format!(
        "{}/api/sessions/{}/ws?share={short}",
        s.relay.ws_base(),
        sess.id
    );
    assert!(
        Client::connect_with(&url, None, None, None).await.is_err(),
        "an expired link opens nothing"
    );
    let events: Vec<String> = audit_lines(&s.dir)
        .iter()
        .map(|l| l["event"].as_str().unwrap().to_string())
        .collect();
    for e in ["share_created", "share_revoked", "joined", "left"] {
        assert!(events.iter().any(|x| x == e), "audit has {e}: {events:?}");
    }
}

#[tokio::test]
async fn recordings_replay_byte_for_byte_for_owners_only() {
    let s = setup("");
    let alice = login(&s.relay, "alice", "alice-pw").await.1.unwrap();
    let bob = login(&s.relay, "bob", "bob-pw").await.1.unwrap();
    let sess = alice.create_session("box").await;
    let mut c = alice.attach(&sess.id, None).await;
    c.wait_for("C:\\", T).await;
    c.input("echo héllo-wörld-$((7*6)); printf 'a\\tb\\n'\r")
        .await;
    c.wait_for("wörld-42", T).await;
    c.input("echo secret-typed-line\r").await;
    c.wait_for("\r\nsecret-typed-line", T).await;
    c.send(&winrelay_shared::protocol::ClientMsg::Resize {
        cols: 120,
        rows: 40,
    })
    .await;
    c.input("exit\r").await;
    c.wait_msg(
        T,
        |m| matches!(m, ServerMsg::Status { state } if state.is_final()),
    )
    .await;
    c.drain(Duration::from_millis(500)).await;
    assert_eq!(c.snapshots, 0);

    let list: Vec<serde_json::Value> = alice
        .get("/api/recordings")
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let rec = list
        .iter()
        .find(|r| r["id"] == sess.id.as_str())
        .expect("the session is listed");
    assert_eq!(
        (rec["target"].as_str(), rec["owner"].as_str()),
        (Some("box"), Some("alice"))
    );
    let r = alice
        .get(&format!("/api/recordings/{}", sess.id))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(r.headers()["content-type"], "application/x-asciicast");
    let cast = r.text().await.unwrap();
    let mut lines = cast.lines();
    let header: serde_json::Value = serde_json::from_str(lines.next().unwrap()).unwrap();
    assert_eq!(
        (
            header["version"].as_u64(),
            header["width"].as_u64(),
            header["height"].as_u64()
        ),
        (Some(2), Some(100), Some(30))
    );
    assert!(header["timestamp"].as_u64().unwrap() > 1_600_000_000);
    let events: Vec<serde_json::Value> = lines.map(|l| serde_json::from_str(l).unwrap()).collect();
    let output: String = events
        .iter()
        .filter(|e| e[1] == "o")
        .map(|e| e[2].as_str().unwrap())
        .collect();
    assert_eq!(
        output.as_bytes(),
        &c.raw[..],
        "replaying the output gives exactly the bytes the client received"
    );
    let input: String = events
        .iter()
        .filter(|e| e[1] == "i")
        .map(|e| e[2].as_str().unwrap())
        .collect();
    assert!(input.contains("echo secret-typed-line\r"));
    assert!(events.iter().any(|e| e[1] == "r" && e[2] == "120x40"));
    let times: Vec<f64> = events.iter().map(|e| e[0].as_f64().unwrap()).collect();
    assert!(
        times.windows(2).all(|w| w[0] <= w[1]),
        "time never goes back"
    );

    // Bob is only a viewer of box: no recordings for him.
    let list: Vec<serde_json::Value> = bob
        .get("/api/recordings")
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert!(list.is_empty());
    assert_eq!(
        bob.get(&format!("/api/recordings/{}", sess.id))
            .send()
            .await
            .unwrap()
            .status(),
        404
    );
    assert_eq!(
        alice
            .get("/api/recordings/..%2Fetc")
            .send()
            .await
            .unwrap()
            .status(),
        404
    );

    // The audit log has the whole story, input lines included (log_input = true).
    let audit = audit_lines(&s.dir);
    let has = |event: &str, pred: &dyn Fn(&serde_json::Value) -> bool| {
        audit.iter().any(|l| l["event"] == event && pred(l))
    };
    assert!(has("opened", &|l| l["session"] == sess.id.as_str()
        && l["target"] == "box"
        && l["user"] == "alice"));
    assert!(has("joined", &|l| l["session"] == sess.id.as_str()
        && l["role"] == "owner"));
    assert!(has("input", &|l| l["line"] == "echo secret-typed-line"));
    assert!(has("ended", &|l| l["session"] == sess.id.as_str()));
    assert!(has("recording_downloaded", &|l| l["user"] == "alice"));
}

#[tokio::test]
async fn the_relay_serves_https_with_secure_cookies() {
    let path = config_file("demo = true\n[tls]\ngenerate = true\n");
    let relay = Relay::start(&["--config", path.to_str().unwrap()]);
    assert!(
        relay.base.starts_with("https://127.0.0.1:"),
        "{}",
        relay.base
    );
    assert!(relay.login.starts_with("https://"), "{}", relay.login);
    // Plain HTTP on the HTTPS port gets nothing useful.
    let plain = reqwest::Client::new()
        .get(relay.base.replacen("https://", "http://", 1) + "/healthz")
        .send()
        .await;
    assert!(plain.map(|r| !r.status().is_success()).unwrap_or(true));
    // The certificate is self-signed: this client skips verification (a real one pins the
    // printed fingerprint).
    let c = reqwest::Client::builder()
        .danger_accept_invalid_certs(true)
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let r = c.get(&relay.login).send().await.unwrap();
    assert_eq!(r.status(), 303);
    let set_cookie = r.headers()["set-cookie"].to_str().unwrap().to_string();
    assert!(set_cookie.contains("; Secure"), "{set_cookie}");
    let cookie = set_cookie.split(';').next().unwrap().to_string();
    let me: serde_json::Value = c
        .get(format!("{}/api/me", relay.base))
        .header("cookie", &cookie)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(me["user"], "admin");
    let r = c
        .post(format!("{}/api/sessions", relay.base))
        .header("cookie", &cookie)
        .header("x-winrelay", "1")
        .json(&serde_json::json!({"target": "demo"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 201);
}
