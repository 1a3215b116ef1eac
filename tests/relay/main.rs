//! Integration tests of the relay: the real `winrelay` binary, the real simulator behind
//! it, and a WebSocket client speaking `shared::protocol`.

mod access;
mod cluster;
mod common;
mod faults;
mod hidden;
mod hostile;
mod limits;
mod powershell;
mod security;
mod targets;

use std::time::{Duration, Instant};

use common::*;
use winrelay_shared::protocol::{ClientMsg, ErrorCode, Role, ServerMsg, SessionState};

fn is_error(code: ErrorCode) -> impl Fn(&ServerMsg) -> bool {
    move |m| matches!(m, ServerMsg::Error { code: c, .. } if *c == code)
}

#[tokio::test]
async fn a_command_and_its_output() {
    let relay = Relay::demo();
    let user = relay.sign_in().await;
    let s = user.create_session("demo").await;
    assert_eq!(s.state, SessionState::Connected);
    let mut c = user.attach(&s.id, None).await;
    let (_, role, resumed) = c.welcome().await;
    assert_eq!((role, resumed), (Role::Owner, false));
    c.wait_for("C:\\", T).await; // the prompt
    c.input("echo hel''lo\r").await;
    // The relay echoes the typed line, then the shell prints the result on its own line.
    c.wait_for("\r\nhello", T).await;
    c.drain(Duration::from_millis(300)).await;
    // One line as typed (echoed once, not again by the shell), its output, one new prompt.
    assert_eq!(
        c.text(),
        "C:\\Users\\demo>echo hel''lo\r\nhello\r\nC:\\Users\\demo>",
        "the screen shows the command once, its output, and one prompt"
    );
    // The session is listed, with the client attached.
    let list: Vec<serde_json::Value> = user
        .get("/api/sessions")
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(list.len(), 1);
    assert_eq!(list[0]["clients"].as_array().unwrap().len(), 1);
}

#[tokio::test]
async fn ctrl_c_stops_a_long_command() {
    let relay = Relay::demo();
    let user = relay.sign_in().await;
    let s = user.create_session("demo").await;
    let mut c = user.attach(&s.id, None).await;
    c.wait_for("C:\\", T).await;
    c.input("sleep 600; echo not-interrupted\r").await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    let started = Instant::now();
    c.input("\x03").await;
    c.wait_for("^C", T).await;
    c.input("echo after-$((40+2))\r").await;
    c.wait_for("after-42", T).await;
    assert!(started.elapsed() < Duration::from_secs(15));
    assert!(
        !c.text().contains("\r\nnot-interrupted"),
        "the command was interrupted: {:?}",
        c.text()
    );
}

#[tokio::test]
async fn reconnect_resumes_with_exactly_the_missed_output() {
    let relay = Relay::demo();
    let user = relay.sign_in().await;
    let s = user.create_session("demo").await;
    // A witness stays attached the whole time and sees the whole stream.
    let mut witness = user.attach(&s.id, None).await;
    let mut c = user.attach(&s.id, None).await;
    c.input("echo first-part\r").await;
    c.wait_for("\r\nfirst-part", T).await;
    let have = c.pos();
    let before = c.screen.clone();
    drop(c);
    // Output produced while the client is away.
    let mut other = user.attach(&s.id, None).await;
    other
        .input("for i in 1 2 3; do echo missed-$i; done\r")
        .await;
    other.wait_for("missed-3", T).await;
    witness.wait_for("missed-3", T).await;
    witness.drain(Duration::from_millis(300)).await;

    let mut back = user.attach(&s.id, Some(have)).await;
    assert!(back.welcome().await.2, "resumed exactly");
    back.wait_for("missed-3", T).await;
    back.drain(Duration::from_millis(300)).await;
    assert_eq!(
        back.first_offset,
        Some(have),
        "resume starts at the offset the client had"
    );
    assert_eq!(back.snapshots, 0);
    let mut whole = before;
    whole.extend_from_slice(&back.screen);
    assert_eq!(
        String::from_utf8_lossy(&whole),
        witness.text(),
        "nothing lost, nothing twice"
    );
}

#[tokio::test]
async fn a_client_that_reconnects_resumes_where_its_cursor_is() {
    let relay = Relay::demo();
    let user = relay.sign_in().await;
    let s = user.create_session("demo").await;
    let mut witness = user.attach(&s.id, None).await;
    let mut c = user.attach(&s.id, None).await;
    c.input("echo before-$((1+1))\r").await;
    c.wait_for("before-2", T).await;
    // Vanishes (no close frame) while output goes on, then the same client comes back.
    c.disconnect();
    witness
        .input("for i in 1 2 3; do echo away-$i; done\r")
        .await;
    witness.wait_for("away-3", T).await;
    let had = c.pos();
    c.reconnect().await.unwrap();
    assert!(c.welcome().await.2, "resumed at {had}");
    c.input("echo back-$((2+2))\r").await;
    c.wait_for("back-4", T).await;
    witness.wait_for("back-4", T).await;
    c.drain(Duration::from_millis(300)).await;
    witness.drain(Duration::from_millis(300)).await;
    assert_eq!(c.snapshots, 0);
    assert_eq!(c.first_offset, Some(0));
    assert_eq!(c.text(), witness.text(), "nothing lost, nothing twice");
}

/// A demo session on a relay whose output log keeps only 4 KiB, and a client attached to it.
async fn small_log_session() -> (Relay, User, winrelay_shared::api::SessionInfo, Client) {
    let cfg = tempdir().join("relay.toml");
    std::fs::write(&cfg, "demo = true\n[sessions]\nlog_bytes = 4096\n").unwrap();
    let relay = Relay::start(&["--config", cfg.to_str().unwrap()]);
    let user = relay.sign_in().await;
    let s = user.create_session("demo").await;
    let c = user.attach(&s.id, None).await;
    (relay, user, s, c)
}

/// A client that joins session `id` after its log has moved on: it is welcomed afresh and
/// gets exactly one snapshot.
async fn join_late(user: &User, id: &str) -> Client {
    let mut late = user.attach(id, None).await;
    late.wait_msg(T, |m| {
        matches!(m, ServerMsg::Welcome { resumed: false, .. })
    })
    .await;
    late.drain(Duration::from_millis(500)).await;
    assert_eq!(
        late.snapshots, 1,
        "a late joiner past the log gets one snapshot"
    );
    late
}

#[tokio::test]
async fn late_joiner_gets_the_screen_when_the_log_has_moved_on() {
    let (_relay, user, s, mut c) = small_log_session().await;
    c.input("for i in $(seq 1 400); do echo line-$i-padding-padding; done; echo DONE-$((1+1))\r")
        .await;
    c.wait_for("DONE-2", T).await;
    let mut late = join_late(&user, &s.id).await;
    let text = late.text();
    assert!(
        text.contains("DONE-2") && text.contains("line-400-"),
        "the snapshot shows the screen: {text}"
    );
    // Scrollback beyond the screen is in the snapshot too.
    assert!(text.contains("line-300-"), "scrollback: {text}");
    // And live output follows the snapshot.
    c.input("echo live-after-snapshot\r").await;
    late.wait_for("live-after-snapshot", T).await;
}

/// A late joiner after a long line without line breaks (a file printed whole) sees the
/// line's end: the screen was once rendered from the first line break of the log, which here
/// is the one after the line.
#[tokio::test]
async fn late_joiner_after_a_long_line_sees_its_end() {
    let (_relay, user, s, mut c) = small_log_session().await;
    c.input("head -c 20000 /dev/zero | tr '\\0' x; echo END-$((2+2))\r")
        .await;
    c.wait_for("END-4", T).await;
    let late = join_late(&user, &s.id).await;
    let text = late.text();
    let end = &text[text.len().saturating_sub(300)..];
    // The marker follows the row's x's (written as `x ESC[nb`, "repeat n times").
    let before = end.split("END-4").next().filter(|b| b.len() < end.len());
    assert!(
        before.is_some_and(|b| b
            .trim_end_matches(|c: char| c.is_ascii_digit() || "\x1b[b".contains(c))
            .ends_with('x')),
        "the line's end: {end:?}"
    );
}

/// The OSC 133 marks survive a snapshot: a late joiner past the log gets them where they
/// were (the page draws ✓/✗ by each prompt from them).
#[tokio::test]
async fn late_joiner_snapshot_carries_the_command_marks() {
    let (_relay, user, s, mut c) = small_log_session().await;
    // A shell integration's marks, as the browser test sets them up: D;$? and A before the
    // prompt, B after it, C (ST-terminated) before a command runs.
    c.input(
        "PS1='\\[\\e]133;D;$?\\a\\e]133;A\\a\\]MARK> \\[\\e]133;B\\a\\]'; PS0='\\e]133;C\\e\\\\'\r",
    )
    .await;
    c.wait_for("MARK>", T).await;
    c.input("for i in $(seq 1 400); do echo line-$i-padding-padding; done\r")
        .await;
    c.wait_for("line-400-", T).await;
    // The log has moved on; this command is in the snapshot's scrollback (it fails: its
    // status is 1), and the last prompt on its screen.
    c.input("seq -f tail-%g 1 40; false\r").await;
    c.wait_for("tail-40", T).await;
    c.drain(Duration::from_millis(300)).await;
    let late = join_late(&user, &s.id).await;
    let raw = late.raw_text();
    // Inline in the scrollback: the prompt's A and B (with the loop's status before them)
    // and the C before the output.
    assert!(
        raw.contains(
            "\x1b]133;D;0\x07\x1b]133;A\x07MARK> \x1b]133;B\x07seq -f tail-%g 1 40; false\r\n"
        ),
        "{raw:?}"
    );
    assert!(raw.contains("\x1b]133;C\x07tail-1\r\n"), "{raw:?}");
    // The last prompt is on the snapshot's screen: its marks after the text, the status
    // of the failed command first.
    let tail = &raw[raw.rfind("tail-40").expect("the output")..];
    let at = |m: &str| tail.find(m).unwrap_or_else(|| panic!("{m:?} in {tail:?}"));
    assert!(at("\x1b]133;D;1\x07") < at("\x1b]133;A\x07"), "{tail:?}");
    assert!(at("\x1b]133;A\x07") < at("\x1b]133;B\x07"), "{tail:?}");
    // The screen is the same as the writer's (marks show nothing).
    assert!(late.text().contains("tail-40"), "{:?}", late.text());
}

#[tokio::test]
async fn two_writers_and_a_viewer() {
    let relay = Relay::demo();
    let owner = relay.sign_in().await;
    let s = owner.create_session("demo").await;
    let writer_token = owner.share(&s.id, "writer").await;
    let viewer_token = owner.share(&s.id, "viewer").await;
    let ws = relay.ws_base();
    let mut a = owner.attach(&s.id, None).await;
    let mut w = Client::connect(
        &format!("{ws}/api/sessions/{}/ws?share={writer_token}", s.id),
        None,
        None,
    )
    .await;
    let mut v = Client::connect(
        &format!("{ws}/api/sessions/{}/ws?share={viewer_token}", s.id),
        None,
        None,
    )
    .await;
    assert_eq!(w.role().await, Role::Writer);
    assert_eq!(v.role().await, Role::Viewer);
    // Everyone sees who is there.
    a.wait_msg(
        T,
        |m| matches!(m, ServerMsg::Presence { clients } if clients.len() == 3),
    )
    .await;

    a.input("echo from-owner\r").await;
    w.input("echo from-writer\r").await;
    v.input("echo from-viewer\r").await;
    let refusal = v.wait_msg(T, is_error(ErrorCode::Forbidden)).await;
    assert!(matches!(refusal, ServerMsg::Error { message, .. } if message.contains("viewer")));
    for c in [&mut a, &mut w, &mut v] {
        // Two sockets: either line may reach the shell first, and the second is then typed
        // ahead of the first's output: the shell's echo of it is dropped, so its output can
        // follow the prompt directly (issue 19 bug 6). Each output is followed by a prompt.
        c.wait_for("from-owner\r\nC:\\Users\\demo>", T).await;
        c.wait_for("from-writer\r\nC:\\Users\\demo>", T).await;
    }
    a.drain(Duration::from_millis(500)).await;
    assert!(
        !a.text().contains("from-viewer"),
        "a viewer's input must never reach the shell"
    );
    // A forged share token gets nothing.
    let forged = Client::connect_with(
        &format!("{ws}/api/sessions/{}/ws?share={}", s.id, "0".repeat(64)),
        None,
        None,
        None,
    )
    .await;
    assert!(forged.is_err());
    // The owner demotes the writer: its input is refused from then on.
    let (client_id, _, _) = w.welcome().await;
    let r = owner
        .put(&format!("/api/sessions/{}/clients/{client_id}/role", s.id))
        .json(&serde_json::json!({"role":"viewer"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 204);
    w.messages.clear();
    w.input("echo demoted\r").await;
    w.wait_msg(T, is_error(ErrorCode::Forbidden)).await;
    // The owner removes the viewer.
    let (vid, _, _) = v.welcome().await;
    let r = owner
        .post(&format!("/api/sessions/{}/clients/{vid}/kick", s.id))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 204);
    let (reason, reconnect) = v.wait_bye(T).await;
    assert!(!reconnect, "must not reconnect: {reason}");
}

#[tokio::test]
async fn a_slow_client_does_not_stall_a_fast_one() {
    let relay = Relay::demo();
    let user = relay.sign_in().await;
    let s = user.create_session("demo").await;
    let mut fast = user.attach(&s.id, None).await;
    let mut slow = user.attach(&s.id, None).await;
    slow.auto_ack = false; // never acknowledges, never reads after this
    fast.wait_for("C:\\", T).await;
    let started = Instant::now();
    fast.input(
        "head -c 3000000 /dev/zero | tr '\\0' x | fold -w 100; echo; echo BIG-$((2*3))-DONE\r",
    )
    .await;
    fast.wait_for("BIG-6-DONE", Duration::from_secs(60)).await;
    let elapsed = started.elapsed();
    assert!(fast.pos() > 3_000_000);
    // The slow client is still attached and, when it reads again, gets a snapshot.
    slow.auto_ack = true;
    slow.drain(Duration::from_secs(2)).await;
    assert!(
        slow.snapshots >= 1,
        "a client that fell behind gets a snapshot"
    );
    slow.wait_for("BIG-6-DONE", T).await;
    eprintln!("3 MB through the relay to the fast client in {elapsed:?}");
}

#[tokio::test]
async fn unknown_target_and_foreign_origin_are_refused() {
    let relay = Relay::demo();
    let user = relay.sign_in().await;
    for target in [
        "nope",
        "demo/../x",
        "127.0.0.1:5986",
        "https://127.0.0.1:5986/wsman",
    ] {
        let r = user
            .post("/api/sessions")
            .json(&serde_json::json!({"target": target}))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 404, "{target}");
        let body: serde_json::Value = r.json().await.unwrap();
        assert_eq!(body["error"], "unknown_target");
    }
    // Not signed in.
    let r = reqwest::Client::new()
        .post(format!("{}/api/sessions", relay.base))
        .json(&serde_json::json!({"target":"demo"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 401);
    let s = user.create_session("demo").await;
    let url = format!("{}/api/sessions/{}/ws", relay.ws_base(), s.id);
    let foreign =
        Client::connect_with(&url, Some(&user.cookie), Some("http://evil.example"), None).await;
    assert!(
        foreign.is_err(),
        "a WebSocket from a foreign Origin must be refused"
    );
    let own = Client::connect_with(&url, Some(&user.cookie), Some(&relay.base), None).await;
    assert!(own.is_ok(), "the relay's own origin is allowed");
    // A state-changing API call from a foreign page is refused too.
    let r = user
        .post("/api/sessions")
        .header("origin", "http://evil.example")
        .json(&serde_json::json!({"target":"demo"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 403);
    // No cookie: no WebSocket.
    assert!(Client::connect_with(&url, None, None, None).await.is_err());
}

#[tokio::test]
async fn malformed_frames_get_errors_and_the_session_survives() {
    use futures::SinkExt;
    use tokio_tungstenite::tungstenite::Message;
    let relay = Relay::demo();
    let user = relay.sign_in().await;
    let s = user.create_session("demo").await;
    let mut bystander = user.attach(&s.id, None).await;
    let mut c = user.attach(&s.id, None).await;
    c.ws()
        .send(Message::Binary(vec![1, 2, 3].into()))
        .await
        .unwrap();
    c.wait_msg(T, is_error(ErrorCode::BadMessage)).await;
    c.messages.clear();
    c.ws()
        .send(Message::Text("{\"type\":\"input\",\"data\":".into()))
        .await
        .unwrap();
    c.wait_msg(T, is_error(ErrorCode::BadMessage)).await;
    c.messages.clear();
    c.ws()
        .send(Message::Text(
            serde_json::json!({"type":"input","data": "x".repeat(2 << 20)})
                .to_string()
                .into(),
        ))
        .await
        .unwrap();
    c.wait_msg(T, is_error(ErrorCode::TooLarge)).await;
    c.messages.clear();
    c.send(&ClientMsg::Resize { cols: 0, rows: 0 }).await;
    c.wait_msg(T, is_error(ErrorCode::BadMessage)).await;
    c.messages.clear();
    c.send(&ClientMsg::Resize {
        cols: 65535,
        rows: 65535,
    })
    .await;
    c.wait_msg(T, is_error(ErrorCode::BadMessage)).await;
    c.send(&ClientMsg::Ping { id: 7 }).await;
    c.wait_msg(T, |m| matches!(m, ServerMsg::Pong { id: 7 }))
        .await;
    // Invalid UTF-8 cannot be a text frame; a lone surrogate escape is refused by JSON.
    c.ws()
        .send(Message::Text(r#"{"type":"input","data":"\ud800"}"#.into()))
        .await
        .unwrap();
    // The same socket and the session carry on.
    c.input("echo still-$((6*7))\r").await;
    c.wait_for("still-42", T).await;
    bystander.wait_for("still-42", T).await;
}

#[tokio::test]
async fn sigterm_ends_every_shell() {
    let mut relay = Relay::demo();
    let user = relay.sign_in().await;
    let mut shells = Vec::new();
    for _ in 0..3 {
        let s = user.create_session("demo").await;
        let mut c = user.attach(&s.id, None).await;
        c.input("echo marker-$$-$((1+1))\r").await;
        c.wait_for("-2\r\n", T).await;
        let text = c.text();
        let pid: u32 = text
            .split("\r\nmarker-")
            .nth(1)
            .unwrap()
            .split('-')
            .next()
            .unwrap()
            .parse()
            .unwrap();
        shells.push((pid, c));
    }
    for (pid, _) in &shells {
        assert!(
            std::path::Path::new(&format!("/proc/{pid}")).exists(),
            "the shell process {pid} runs"
        );
    }
    let status = relay.terminate();
    assert!(status.success(), "clean exit on SIGTERM: {status:?}");
    let log = relay.log();
    assert!(log.contains("shutting down"), "{log}");
    for (pid, mut c) in shells {
        assert!(
            !std::path::Path::new(&format!("/proc/{pid}")).exists() || is_zombie(pid),
            "shell process {pid} must be gone after SIGTERM"
        );
        // Clients were told.
        c.wait_msg(T, |m| {
            matches!(m, ServerMsg::Bye { .. } | ServerMsg::Status { .. })
        })
        .await;
    }
    assert!(
        !log.contains(&user.cookie[user.cookie.find('=').unwrap() + 1..]),
        "the cookie must never be logged"
    );
    assert!(
        !log.contains(relay.login.split("token=").nth(1).unwrap()),
        "the login token must never be logged"
    );
}

fn is_zombie(pid: u32) -> bool {
    std::fs::read_to_string(format!("/proc/{pid}/stat"))
        .map(|s| s.contains(") Z "))
        .unwrap_or(true)
}

#[tokio::test]
async fn health_metrics_and_pages() {
    // Metrics name targets: on the main port they need the metrics token (issue 17, item 16).
    use sha2::Digest;
    let cfg = config_file(&format!(
        "demo = true\n[metrics]\ntoken_hash = '{}'\n",
        hex::encode(sha2::Sha256::digest(b"metrics-token-1"))
    ));
    let relay = Relay::start(&["--config", cfg.to_str().unwrap()]);
    let http = reqwest::Client::new();
    assert_eq!(
        http.get(format!("{}/healthz", relay.base))
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap(),
        "ok"
    );
    assert_eq!(
        http.get(format!("{}/readyz", relay.base))
            .send()
            .await
            .unwrap()
            .status(),
        200
    );
    let user = relay.sign_in().await;
    let s = user.create_session("demo").await;
    let mut c = user.attach(&s.id, None).await;
    c.input("echo metered\r").await;
    c.wait_for("\r\nmetered", T).await;
    let anonymous = http
        .get(format!("{}/metrics", relay.base))
        .send()
        .await
        .unwrap();
    assert_eq!(anonymous.status(), 401, "no token, no metrics");
    let metrics = http
        .get(format!("{}/metrics", relay.base))
        .bearer_auth("metrics-token-1")
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(metrics.contains("winrelay_sessions 1"), "{metrics}");
    assert!(metrics.contains("winrelay_clients 1"), "{metrics}");
    // WinRM request latency and outcomes per target and action.
    for needle in [
        r#"winrelay_winrm_request_seconds_count{target="demo",action="create"} 1"#,
        r#"winrelay_winrm_request_seconds_count{target="demo",action="command"} 1"#,
        r#"winrelay_winrm_requests_total{target="demo",action="send",outcome="ok"}"#,
        r#"winrelay_winrm_requests_total{target="demo",action="receive",outcome="ok"}"#,
    ] {
        assert!(metrics.contains(needle), "{needle} missing in\n{metrics}");
    }
    let page = http
        .get(format!("{}/s/{}", relay.base, s.id))
        .send()
        .await
        .unwrap();
    assert_eq!(page.status(), 200);
    assert_eq!(page.headers()["cache-control"], "no-cache");
    assert!(page.headers()["content-security-policy"]
        .to_str()
        .unwrap()
        .contains("frame-ancestors 'self'"));
    assert_eq!(page.headers()["referrer-policy"], "no-referrer");
    // Ending the session deletes the shell and tells the client the exit.
    let r = user
        .delete(&format!("/api/sessions/{}", s.id))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 204);
    c.wait_msg(
        T,
        |m| matches!(m, ServerMsg::Status { state } if state.is_final()),
    )
    .await;
}

fn tempdir() -> std::path::PathBuf {
    let d = temp_path("test");
    std::fs::create_dir_all(&d).unwrap();
    d
}

#[tokio::test]
async fn the_picker_shows_which_targets_answer() {
    let cfg = config_file(
        "demo = true\n[[target]]\nname = \"down\"\nendpoint = \"https://127.0.0.1:1/wsman\"\nask_credentials = true\n",
    );
    let relay = Relay::start(&["--config", cfg.to_str().unwrap()]);
    let user = relay.sign_in().await;
    let deadline = Instant::now() + Duration::from_secs(15);
    loop {
        let targets: Vec<serde_json::Value> = user
            .get("/api/targets")
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        let reach = |n: &str| {
            targets
                .iter()
                .find(|t| t["name"] == n)
                .map(|t| t["reachable"].clone())
        };
        if reach("demo") != Some(serde_json::Value::Null) {
            assert_eq!(reach("demo"), Some(serde_json::Value::Bool(true)));
            assert_eq!(reach("down"), Some(serde_json::Value::Bool(false)));
            break;
        }
        assert!(
            Instant::now() < deadline,
            "no reachability after 15 s: {targets:?}"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

#[tokio::test]
async fn sign_ins_survive_a_relay_restart() {
    let state = std::env::temp_dir().join(format!("winrelay-restart-{}", std::process::id()));
    let mut relay = Relay::start_with_state(&[], &state);
    let user = relay.sign_in().await;
    assert!(relay.terminate().success());
    let relay = Relay::start_with_state(&[], &state);
    let me = reqwest::Client::new()
        .get(format!("{}/api/me", relay.base))
        .header("cookie", &user.cookie)
        .send()
        .await
        .unwrap();
    assert_eq!(
        me.status(),
        200,
        "the cookie still signs in after a restart"
    );
    // Signing out is remembered too.
    let out = reqwest::Client::new()
        .post(format!("{}/api/logout", relay.base))
        .header("cookie", &user.cookie)
        .header("x-winrelay", "1")
        .send()
        .await
        .unwrap();
    assert!(out.status().is_success());
    drop(relay);
    let relay = Relay::start_with_state(&[], &state);
    let me = reqwest::Client::new()
        .get(format!("{}/api/me", relay.base))
        .header("cookie", &user.cookie)
        .send()
        .await
        .unwrap();
    assert_eq!(me.status(), 401);
    let _ = std::fs::remove_dir_all(&state);
}

#[tokio::test]
async fn session_lookups_say_signed_out_before_gone() {
    let relay = Relay::demo();
    let anonymous = reqwest::Client::new()
        .get(format!("{}/api/sessions/{}", relay.base, "0".repeat(32)))
        .send()
        .await
        .unwrap();
    assert_eq!(anonymous.status(), 401);
    let user = relay.sign_in().await;
    let gone = user
        .get(&format!("/api/sessions/{}", "0".repeat(32)))
        .send()
        .await
        .unwrap();
    assert_eq!(gone.status(), 404);
    let body: serde_json::Value = gone.json().await.unwrap();
    assert_eq!(body["error"], "unknown_session");
}
