//! The security rules, each tried the way an attacker would: targets outside the
//! configuration, redirects, foreign pages, viewers that want to type, a changed target
//! certificate, secrets in the logs, a simulator on a public address. SECURITY.md lists the
//! threats and points at these tests.

use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;
use winrelay_shared::protocol::{ErrorCode, Role, ServerMsg, SessionState};

use crate::common::*;
use crate::faults::sim_on;

/// A loopback listener that counts connections and answers nothing: it must never be
/// reached by anything the relay is asked to do.
async fn canary() -> (u16, Arc<AtomicUsize>) {
    let l = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = l.local_addr().unwrap().port();
    let hits = Arc::new(AtomicUsize::new(0));
    let h = hits.clone();
    tokio::spawn(async move {
        while let Ok((_s, _)) = l.accept().await {
            h.fetch_add(1, Ordering::SeqCst);
        }
    });
    (port, hits)
}

#[tokio::test]
async fn no_name_address_or_trick_reaches_an_unconfigured_host() {
    let (port, hits) = canary().await;
    let relay = Relay::demo();
    let user = relay.sign_in().await;
    let tricks = [
        format!("127.0.0.1:{port}"),
        format!("https://127.0.0.1:{port}/wsman"),
        format!("http://127.0.0.1:{port}/wsman"),
        format!("demo@127.0.0.1:{port}"),
        format!("127.0.0.1:{port}#demo"),
        format!("demo/127.0.0.1:{port}"),
        format!("[::1]:{port}"),
        format!("localhost:{port}"),
        format!("2130706433:{port}"),
        format!("0x7f000001:{port}"),
        "DEMO".into(),
        "Demo".into(),
        "demo.".into(),
        "demo ".into(),
        " demo".into(),
        "demo\u{0}".into(),
        "d\u{0435}mo".into(), // Cyrillic e
        "%64emo".into(),
        "demo%2F..".into(),
        "demo/".into(),
        "demo/x".into(),
        "./demo".into(),
        "*".into(),
        "demo/*".into(),
        "".into(),
    ];
    for t in &tricks {
        let r = user
            .post("/api/sessions")
            .json(&serde_json::json!({"target": t, "cols": 80, "rows": 24}))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 404, "{t:?}");
        let body: serde_json::Value = r.json().await.unwrap();
        assert_eq!(body["error"], "unknown_target", "{t:?}");
    }
    // Extra fields that name an endpoint are not a way in: refused, or ignored (the session
    // then is the demo target's, on the demo simulator).
    for extra in [
        serde_json::json!({"target": "demo", "endpoint": format!("https://127.0.0.1:{port}/wsman")}),
        serde_json::json!({"target": "demo", "host": "127.0.0.1", "port": port}),
        serde_json::json!({"target": {"name": "demo", "endpoint": format!("127.0.0.1:{port}")}}),
        serde_json::json!({"target": ["demo", format!("127.0.0.1:{port}")]}),
    ] {
        let r = user
            .post("/api/sessions")
            .json(&extra)
            .send()
            .await
            .unwrap();
        let status = r.status().as_u16();
        assert!(
            status == 201 || (400..500).contains(&status),
            "{extra}: {status}"
        );
    }
    // The connector only knows its configuration: nothing ever connected to the canary.
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(
        hits.load(Ordering::SeqCst),
        0,
        "the relay connected somewhere it was not told to"
    );
}

#[tokio::test]
async fn a_pattern_target_refuses_names_that_resolve_outside_its_ranges() {
    let (port, hits) = canary().await;
    let cfg = config_file(&format!(
        "[[target_pattern]]\nname = \"swarm\"\nhost_suffix = \"\"\nallow_networks = [\"10.99.0.0/16\"]\n\
         user = \"svc\"\npassword_env = \"SEC_PW\"\ninsecure = true\nport = {port}\n"
    ));
    std::env::set_var("SEC_PW", "pattern-pw");
    let relay = Relay::start(&["--config", cfg.to_str().unwrap()]);
    let user = relay.sign_in().await;
    // Names that resolve to loopback in any of their spellings: all outside 10.99.0.0/16.
    for host in ["localhost", "localhost.", "LOCALHOST", "ip6-localhost"] {
        let r = user
            .post("/api/sessions")
            .json(&serde_json::json!({"target": format!("swarm/{host}")}))
            .send()
            .await
            .unwrap();
        let status = r.status().as_u16();
        let body: serde_json::Value = r.json().await.unwrap();
        assert!(
            matches!(status, 403 | 404 | 502),
            "swarm/{host}: {status} {body}"
        );
        assert_ne!(
            body["error"], "unreachable",
            "swarm/{host} was tried: {body}"
        );
    }
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(
        hits.load(Ordering::SeqCst),
        0,
        "a refused address was connected to"
    );
}

#[tokio::test]
async fn a_target_that_redirects_is_not_followed() {
    let (elsewhere, hits) = canary().await;
    // The configured target answers every request with a redirect to the canary.
    let l = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let endpoint = format!("http://{}/wsman", l.local_addr().unwrap());
    tokio::spawn(async move {
        while let Ok((mut s, _)) = l.accept().await {
            tokio::spawn(async move {
                let mut buf = vec![0u8; 65536];
                let _ = s.read(&mut buf).await;
                let head = format!(
                    "HTTP/1.1 307 Temporary Redirect\r\nlocation: http://127.0.0.1:{elsewhere}/wsman\r\ncontent-length: 0\r\nconnection: close\r\n\r\n"
                );
                let _ = s.write_all(head.as_bytes()).await;
            });
        }
    });
    let cfg = config_file(&format!(
        "[[target]]\nname = \"mover\"\nendpoint = \"{endpoint}\"\nallow_http = true\nuser = \"svc\"\npassword_env = \"SEC_PW2\"\n"
    ));
    std::env::set_var("SEC_PW2", "redirect-pw");
    let relay = Relay::start(&["--config", cfg.to_str().unwrap()]);
    let user = relay.sign_in().await;
    let r = user
        .post("/api/sessions")
        .json(&serde_json::json!({"target": "mover"}))
        .send()
        .await
        .unwrap();
    let status = r.status().as_u16();
    let body: serde_json::Value = r.json().await.unwrap();
    assert_eq!(status, 502, "{body}");
    assert!(body["message"].as_str().unwrap().contains("307"), "{body}");
    assert!(!body.to_string().contains("redirect-pw"));
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(hits.load(Ordering::SeqCst), 0, "the redirect was followed");
}

#[tokio::test]
async fn websockets_from_foreign_origins_are_refused() {
    let cfg = config_file("demo = true\nallowed_origins = [\"https://portal.example\"]\n");
    let relay = Relay::start(&["--config", cfg.to_str().unwrap()]);
    let user = relay.sign_in().await;
    let s = user.create_session("demo").await;
    let url = format!("{}/api/sessions/{}/ws", relay.ws_base(), s.id);
    let own = relay.base.clone();
    let host = own.trim_start_matches("http://").to_string();
    for origin in [
        "null".to_string(),
        "http://evil.example".into(),
        "https://portal.example.evil".into(),
        "https://evil.portal.example".into(),
        "http://portal.example".into(),
        format!("http://{host}.evil.example"),
        format!("http://{host}@evil.example"),
        format!("http://evil.example/{host}"),
        format!("ftp://{host}"),
        format!("http://{host}/"),
        "http://localhost".into(),
    ] {
        let r = Client::connect_with(&url, Some(&user.cookie), Some(&origin), None).await;
        assert!(r.is_err(), "a WebSocket from {origin} must be refused");
        // And the API refuses state changes from there too.
        let r = user
            .post("/api/sessions")
            .header("origin", &origin)
            .json(&serde_json::json!({"target":"demo"}))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 403, "{origin}");
    }
    for origin in [own.as_str(), "https://portal.example"] {
        let mut c = Client::connect_with(&url, Some(&user.cookie), Some(origin), None)
            .await
            .unwrap_or_else(|e| panic!("{origin} is allowed: {e}"));
        c.welcome().await;
    }
}

#[tokio::test]
async fn a_viewer_cannot_write_signal_or_promote_itself() {
    let relay = Relay::demo();
    let owner = relay.sign_in().await;
    let s = owner.create_session("demo").await;
    let token = owner.share(&s.id, "viewer").await;
    let ws = relay.ws_base();
    let mut a = owner.attach(&s.id, None).await;
    a.input("sleep 3; echo slept-$((1+2))\r").await;
    // Asking for more than the link grants gets the link's role.
    for role in ["owner", "writer"] {
        let mut v = Client::connect(
            &format!("{ws}/api/sessions/{}/ws?share={token}&role={role}", s.id),
            None,
            None,
        )
        .await;
        assert_eq!(v.role().await, Role::Viewer);
    }
    let mut v = Client::connect(
        &format!("{ws}/api/sessions/{}/ws?share={token}", s.id),
        None,
        None,
    )
    .await;
    v.welcome().await;
    let forbidden = |m: &ServerMsg| {
        matches!(
            m,
            ServerMsg::Error {
                code: ErrorCode::Forbidden,
                ..
            }
        )
    };
    // Ctrl+C as a key and as a button: both refused; the sleeping command is not interrupted.
    v.input("\u{3}").await;
    v.wait_msg(T, forbidden).await;
    v.messages.clear();
    v.signal(winrelay_shared::protocol::Signal::CtrlC).await;
    v.wait_msg(T, forbidden).await;
    a.wait_for("slept-3", T).await;
    // The share token is no key to the API: it cannot end the session or hand out links.
    let http = reqwest::Client::new();
    let r = http
        .delete(format!(
            "{}/api/sessions/{}?share={token}",
            relay.base, s.id
        ))
        .send()
        .await
        .unwrap();
    assert!(r.status().is_client_error(), "{}", r.status());
    let r = http
        .post(format!(
            "{}/api/sessions/{}/shares?share={token}",
            relay.base, s.id
        ))
        .json(&serde_json::json!({"role": "writer"}))
        .send()
        .await
        .unwrap();
    assert!(r.status().is_client_error(), "{}", r.status());
    // The session still runs and never saw the viewer's keys.
    a.input("echo owner-still-$((2*2))\r").await;
    a.wait_for("owner-still-4", T).await;
    assert!(
        !a.text().contains("^C"),
        "the viewer's Ctrl+C reached the shell"
    );
}

#[tokio::test]
async fn a_target_whose_certificate_changes_is_refused() {
    let first = Sim::start("svc", "cert-pw");
    let port = first.port;
    let cfg = config_file(&format!(
        "[[target]]\nname = \"box\"\nendpoint = \"{}\"\nuser = \"svc\"\npassword_env = \"CERT_PW\"\npin = \"{}\"\n",
        first.endpoint, first.fingerprint
    ));
    std::env::set_var("CERT_PW", "cert-pw");
    let relay = Relay::start(&["--config", cfg.to_str().unwrap()]);
    let user = relay.sign_in().await;
    let s = user.create_session("box").await;
    let mut c = user.attach(&s.id, None).await;
    c.input("echo pinned-$((40+2))\r").await;
    c.wait_for("pinned-42", T).await;
    let old = first.fingerprint.clone();
    drop(first);
    // Something else now answers at the same address with another certificate: the running
    // session is lost, and a new one is refused with both fingerprints in the message.
    let imposter = sim_on(port);
    assert_ne!(imposter.fingerprint, old);
    let state = c
        .wait_msg(
            Duration::from_secs(60),
            |m| matches!(m, ServerMsg::Status { state } if state.is_final()),
        )
        .await;
    assert!(
        matches!(
            state,
            ServerMsg::Status {
                state: SessionState::TargetLost { .. }
            }
        ),
        "{state:?}"
    );
    let r = user
        .post("/api/sessions")
        .json(&serde_json::json!({"target": "box"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 502);
    let body: serde_json::Value = r.json().await.unwrap();
    assert_eq!(body["error"], "certificate_mismatch", "{body}");
    let msg = body["message"].as_str().unwrap();
    assert!(
        msg.contains(&old) && msg.contains(&imposter.fingerprint),
        "{msg}"
    );
    assert!(
        imposter.children().is_empty(),
        "no shell was opened on the imposter"
    );
}

/// Starts the relay like `Relay::start`, but logging at trace level.
fn relay_at_trace(extra: &[&str]) -> Relay {
    Relay::builder().args(extra).log("trace").start()
}

#[tokio::test]
async fn no_secret_reaches_the_trace_log() {
    let fixed_pw = "Fixed-Target-Pw-71";
    let asked_pw = "Asked-Pw-Correct-72";
    let wrong_pw = "Asked-Pw-Wrong-73";
    let sim = Sim::start("svc", fixed_pw);
    let asked = Sim::start("alice", asked_pw);
    let cfg = config_file(&format!(
        "[[target]]\nname = \"box\"\nendpoint = \"{}\"\nuser = \"svc\"\npassword_env = \"TRACE_PW\"\npin = \"{}\"\n\n\
         [[target]]\nname = \"ask\"\nendpoint = \"{}\"\nask_credentials = true\npin = \"{}\"\n",
        sim.endpoint, sim.fingerprint, asked.endpoint, asked.fingerprint
    ));
    std::env::set_var("TRACE_PW", fixed_pw);
    let relay = relay_at_trace(&["--config", cfg.to_str().unwrap()]);
    let login_token = relay.login.split("token=").nth(1).unwrap().to_string();
    let user = relay.sign_in().await;
    let cookie_value = user.cookie.split_once('=').unwrap().1.to_string();
    let s = user.create_session("box").await;
    let mut c = user.attach(&s.id, None).await;
    c.input("echo traced-$((1+1))\r").await;
    c.wait_for("traced-2", T).await;
    let share = user.share(&s.id, "writer").await;
    let mut w = Client::connect(
        &format!("{}/api/sessions/{}/ws?share={share}", relay.ws_base(), s.id),
        None,
        None,
    )
    .await;
    w.welcome().await;
    for pw in [wrong_pw, asked_pw] {
        let r = user
            .post("/api/sessions")
            .json(&serde_json::json!({"target": "ask", "username": "alice", "password": pw}))
            .send()
            .await
            .unwrap();
        let body = r.text().await.unwrap();
        assert!(
            !body.contains(pw),
            "an API answer repeats a password: {body}"
        );
    }
    // A login link used twice, and a made-up cookie.
    let _ = reqwest::get(&relay.login).await;
    let _ = reqwest::Client::new()
        .get(format!("{}/api/targets", relay.base))
        .header("cookie", "winrelay_session=Forged-Cookie-Value-74")
        .send()
        .await;
    c.input("exit\r").await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    let log = relay.log();
    assert!(
        log.len() > 1000,
        "the trace log has content: {} bytes",
        log.len()
    );
    use base64::Engine as _;
    let b64 = base64::engine::general_purpose::STANDARD;
    for (what, secret) in [
        ("the fixed target's password", fixed_pw.to_string()),
        ("a typed password", asked_pw.to_string()),
        ("a wrong typed password", wrong_pw.to_string()),
        (
            "the Basic auth header",
            b64.encode(format!("svc:{fixed_pw}")),
        ),
        (
            "the Basic auth header of a typed password",
            b64.encode(format!("alice:{asked_pw}")),
        ),
        ("the login token", login_token.clone()),
        ("the session cookie", cookie_value.clone()),
        ("a share token", share.clone()),
        ("a forged cookie", "Forged-Cookie-Value-74".to_string()),
    ] {
        assert!(!log.contains(&secret), "{what} is in the trace log");
    }
}

#[test]
fn the_simulator_refuses_a_public_address_by_default() {
    for listen in ["0.0.0.0:0", "[::]:0", "10.1.2.3:5986", "192.168.1.1:0"] {
        let out = Command::new(bin())
            .args([
                "sim",
                "--listen",
                listen,
                "--user",
                "u",
                "--password-env",
                "SIM_PUBLIC_PW",
            ])
            .env("SIM_PUBLIC_PW", "x-pw")
            .stdin(Stdio::null())
            .output()
            .unwrap();
        assert!(!out.status.success(), "{listen}: the simulator started");
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(err.contains("not a loopback address"), "{listen}: {err}");
        assert!(
            !String::from_utf8_lossy(&out.stdout).contains("endpoint:"),
            "{listen}"
        );
    }
}

/// Where the relay would keep sign-ins without `WINRELAY_STATE_DIR`: the developer's own.
fn home_state_dir() -> Option<std::path::PathBuf> {
    std::env::var_os("XDG_STATE_HOME")
        .map(|d| std::path::PathBuf::from(d).join("winrelay"))
        .or_else(|| {
            std::env::var_os("HOME")
                .map(|h| std::path::PathBuf::from(h).join(".local/state/winrelay"))
        })
}

#[tokio::test]
async fn test_relays_keep_sign_ins_in_a_temporary_state_dir_of_their_own() {
    // The way the trace-log test starts its relay (it once wrote into the real home).
    let relay = relay_at_trace(&[]);
    let user = relay.sign_in().await;
    let dir = relay.state_dir().to_path_buf();
    assert!(
        dir.starts_with(std::env::temp_dir()),
        "state dir {} is not under the temporary directory",
        dir.display()
    );
    // The sign-in is in that directory: the relay really used it.
    use sha2::Digest as _;
    let token = user.cookie.split_once('=').unwrap().1;
    let digest = hex::encode(sha2::Sha256::digest(token.as_bytes()));
    let stored = std::fs::read_to_string(dir.join("signins.json")).unwrap_or_default();
    assert!(
        stored.contains(&digest),
        "the sign-in is not in {}: {stored}",
        dir.display()
    );
    // And not in the developer's own state.
    if let Some(home) = home_state_dir() {
        let theirs = std::fs::read_to_string(home.join("signins.json")).unwrap_or_default();
        assert!(
            !theirs.contains(&digest),
            "a test sign-in was written into {}",
            home.display()
        );
    }
    // Two relays never share a state dir, and dropping the relay removes its own.
    let other = Relay::demo();
    assert_ne!(other.state_dir(), dir);
    drop(relay);
    assert!(!dir.exists(), "{} is left behind", dir.display());
}

/// Issue 17, item 7: a removed share-link guest cannot come back through the same link;
/// a demoted one comes back as a viewer.
#[tokio::test]
async fn kicks_and_demotions_last_for_the_rest_of_the_session() {
    let relay = Relay::demo();
    let owner = relay.sign_in().await;
    let s = owner.create_session("demo").await;
    let kicked_link = owner.share(&s.id, "writer").await;
    let demoted_link = owner.share(&s.id, "writer").await;
    let url = |token: &str| format!("{}/api/sessions/{}/ws?share={token}", relay.ws_base(), s.id);

    let mut k = Client::connect(&url(&kicked_link), None, None).await;
    let (kid, role, _) = k.welcome().await;
    assert_eq!(role, Role::Writer);
    let r = owner
        .post(&format!("/api/sessions/{}/clients/{kid}/kick", s.id))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 204);
    k.wait_bye(T).await;
    let again = Client::connect_with(&url(&kicked_link), None, None, None).await;
    assert!(
        again.is_err(),
        "a removed guest does not come back through its link"
    );
    let info = reqwest::Client::new()
        .get(format!(
            "{}/api/sessions/{}?share={kicked_link}",
            relay.base, s.id
        ))
        .send()
        .await
        .unwrap();
    assert_eq!(info.status(), 403);
    let body: serde_json::Value = info.json().await.unwrap();
    assert_eq!(body["error"], "removed_by_owner");

    let mut d = Client::connect(&url(&demoted_link), None, None).await;
    let (did, _, _) = d.welcome().await;
    let r = owner
        .put(&format!("/api/sessions/{}/clients/{did}/role", s.id))
        .json(&serde_json::json!({"role": "viewer"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 204);
    drop(d);
    let mut back = Client::connect(&url(&demoted_link), None, None).await;
    assert_eq!(
        back.role().await,
        Role::Viewer,
        "a demoted guest comes back as a viewer"
    );
    back.input("echo sneaky\r").await;
    back.wait_msg(T, |m| {
        matches!(
            m,
            ServerMsg::Error {
                code: ErrorCode::Forbidden,
                ..
            }
        )
    })
    .await;
}

/// Issue 17, item 17: a client that came through a share link is removed the moment the
/// link expires, not at the next housekeeping pass (up to 15 s later).
#[tokio::test]
async fn an_expired_share_link_ends_its_clients_at_once() {
    let relay = Relay::demo();
    let owner = relay.sign_in().await;
    let s = owner.create_session("demo").await;
    let r = owner
        .post(&format!("/api/sessions/{}/shares", s.id))
        .json(&serde_json::json!({"role": "writer", "ttl_secs": 2}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 201);
    let token = r.json::<serde_json::Value>().await.unwrap()["token"]
        .as_str()
        .unwrap()
        .to_string();
    let mut guest = Client::connect(
        &format!("{}/api/sessions/{}/ws?share={token}", relay.ws_base(), s.id),
        None,
        None,
    )
    .await;
    guest.welcome().await;
    let started = std::time::Instant::now();
    let (reason, reconnect) = guest.wait_bye(Duration::from_secs(30)).await;
    let took = started.elapsed();
    assert!(!reconnect && reason.contains("expired"), "{reason}");
    assert!(
        took < Duration::from_secs(8),
        "removed {took:?} after joining a link that had 2 s left"
    );
}
