//! Hostile input from the browser side: floods, huge pastes, frames that are not what the
//! protocol allows. Each gets a clear error or a closed socket, never a panic, never
//! unbounded memory, and never trouble for the other clients of the session.
//! (`malformed_frames_get_errors_and_the_session_survives` in main.rs covers the basic
//! malformed messages; these go further.)

use std::time::{Duration, Instant};

use futures::SinkExt;
use tokio_tungstenite::tungstenite::protocol::frame::coding::{Data, OpCode};
use tokio_tungstenite::tungstenite::protocol::frame::Frame;
use tokio_tungstenite::tungstenite::Message;
use winrelay_shared::protocol::{ClientMsg, ErrorCode, ServerMsg};

use crate::common::*;
use crate::faults::rss_kb;

fn error_of(m: &ServerMsg) -> Option<(ErrorCode, &str)> {
    match m {
        ServerMsg::Error { code, message } => Some((*code, message.as_str())),
        _ => None,
    }
}

fn errors(c: &Client) -> Vec<(ErrorCode, String)> {
    c.messages
        .iter()
        .filter_map(error_of)
        .map(|(c, m)| (c, m.to_string()))
        .collect()
}

/// Reads until the socket closes; fails if it stays open.
async fn closes(c: &mut Client, within: Duration) {
    let deadline = Instant::now() + within;
    while c.pump(Duration::from_millis(200)).await {
        assert!(Instant::now() < deadline, "the socket stayed open");
    }
}

#[tokio::test]
async fn odd_messages_are_refused_one_by_one() {
    let relay = Relay::demo();
    let user = relay.sign_in().await;
    let s = user.create_session("demo").await;
    let mut bystander = user.attach(&s.id, None).await;
    let mut c = user.attach(&s.id, None).await;
    c.welcome().await;
    let deep = format!("{}{}", "[".repeat(10_000), "]".repeat(10_000));
    let odd: Vec<String> = vec![
        r#"{"type":"resize","cols":100000,"rows":100000}"#.into(),
        r#"{"type":"resize","cols":-1,"rows":24}"#.into(),
        r#"{"type":"resize","cols":1001,"rows":24}"#.into(),
        r#"{"type":"resize","cols":80,"rows":501}"#.into(),
        r#"{"type":"hello","cols":80,"rows":24}"#.into(),
        r#"{"type":"launch_missiles"}"#.into(),
        r#"{"type":"input"}"#.into(),
        r#"{"type":"input","data":42}"#.into(),
        r#"{"type":"ack","offset":1e400}"#.into(),
        r#"{"type":"signal","signal":"sigkill"}"#.into(),
        "null".into(),
        "".into(),
        deep,
        "\u{0}\u{1}\u{2}".into(),
    ];
    for text in &odd {
        c.messages.clear();
        c.ws()
            .send(Message::Text(text.clone().into()))
            .await
            .unwrap();
        let m = c
            .wait_msg(T, |m| {
                matches!(
                    m,
                    ServerMsg::Error {
                        code: ErrorCode::BadMessage,
                        ..
                    }
                )
            })
            .await;
        let (_, message) = error_of(&m).unwrap();
        assert!(
            !message.is_empty(),
            "{text:.40}: an error says what was wrong"
        );
    }
    // An ack beyond what was sent does not open the window (the relay clamps it), and the
    // boundary sizes are accepted.
    c.messages.clear();
    c.send(&ClientMsg::Ack { offset: u64::MAX }).await;
    c.send(&ClientMsg::Resize {
        cols: 1000,
        rows: 500,
    })
    .await;
    c.send(&ClientMsg::Resize { cols: 1, rows: 1 }).await;
    c.send(&ClientMsg::Resize {
        cols: 100,
        rows: 30,
    })
    .await;
    c.send(&ClientMsg::Ping { id: 9 }).await;
    c.wait_msg(T, |m| matches!(m, ServerMsg::Pong { id: 9 }))
        .await;
    assert!(errors(&c).is_empty(), "{:?}", errors(&c));
    c.input("echo odd-survived-$((7*6))\r").await;
    c.wait_for("odd-survived-42", T).await;
    bystander.wait_for("odd-survived-42", T).await;
}

#[tokio::test]
async fn invalid_utf8_in_a_text_frame_closes_only_that_socket() {
    let relay = Relay::demo();
    let user = relay.sign_in().await;
    let s = user.create_session("demo").await;
    let mut bystander = user.attach(&s.id, None).await;
    let mut c = user.attach(&s.id, None).await;
    c.welcome().await;
    // A text frame whose payload is not UTF-8, sent raw (tungstenite would not build one
    // from a Message::Text). RFC 6455 says the receiver fails the connection (1007).
    let payload: Vec<u8> = b"{\"type\":\"input\",\"data\":\"\xff\xfe\xc0\x80\"}".to_vec();
    let frame = Frame::message(payload, OpCode::Data(Data::Text), true);
    c.ws().send(Message::Frame(frame)).await.unwrap();
    closes(&mut c, T).await;
    // The session and the others carry on; the same user can come back.
    let mut back = user.attach(&s.id, Some(c.pos())).await;
    back.input("echo after-bad-utf8-$((40+2))\r").await;
    back.wait_for("after-bad-utf8-42", T).await;
    bystander.wait_for("after-bad-utf8-42", T).await;
    let log = relay.log();
    assert!(!log.contains("panicked"), "{log}");
}

#[tokio::test]
async fn a_message_far_over_the_limit_closes_only_that_socket() {
    let relay = Relay::demo();
    let user = relay.sign_in().await;
    let s = user.create_session("demo").await;
    let mut bystander = user.attach(&s.id, None).await;
    bystander.wait_for("C:\\", T).await;
    let pid = relay.child.id();
    let before = rss_kb(pid);
    // 2 MiB: over the protocol limit, refused with too_large, the socket carries on (main.rs
    // tests that). 16 MiB: over what the WebSocket layer reads at all: the socket is closed
    // before the relay buffers it.
    let mut c = user.attach(&s.id, None).await;
    c.welcome().await;
    c.auto_ack = false; // the socket is about to break under us
    let huge = serde_json::json!({"type":"input","data": "y".repeat(16 << 20)}).to_string();
    let _ = c.ws().send(Message::Text(huge.into())).await;
    closes(&mut c, T).await;
    let after = rss_kb(pid);
    eprintln!("relay RSS {before} kB -> {after} kB after a refused 16 MiB message");
    assert!(after < before + 32 * 1024, "{before} kB -> {after} kB");
    bystander.input("echo big-refused-$((40+2))\r").await;
    bystander.wait_for("big-refused-42", T).await;
    assert!(
        !bystander.text().contains("yyyyyyyy"),
        "none of it reached the shell"
    );
}

#[tokio::test]
async fn a_flood_of_input_messages() {
    let relay = Relay::demo();
    let user = relay.sign_in().await;
    let s = user.create_session("demo").await;
    let mut bystander = user.attach(&s.id, None).await;
    let mut c = user.attach(&s.id, None).await;
    c.wait_for("C:\\", T).await;
    let pid = relay.child.id();
    let before = rss_kb(pid);
    let started = Instant::now();
    // 8000 keystrokes, one message each, as fast as the socket takes them, then Enter (cmd's
    // line limit is 8191).
    c.input("echo ").await;
    for i in 0..8_000u32 {
        let ch = char::from(b'a' + (i % 26) as u8);
        c.ws()
            .send(Message::Text(
                ClientMsg::Input {
                    data: ch.to_string(),
                }
                .to_json()
                .into(),
            ))
            .await
            .unwrap();
    }
    // 12000 pings on top.
    for i in 0..12_000u64 {
        c.ws()
            .send(Message::Text(ClientMsg::Ping { id: i }.to_json().into()))
            .await
            .unwrap();
    }
    c.input("\r").await;
    // The 8000 letters come back in order as the command's output (the echo wraps them).
    let expect: String = (0..8_000u32)
        .map(|i| char::from(b'a' + (i % 26) as u8))
        .collect();
    let deadline = Instant::now() + Duration::from_secs(60);
    while !c.text().contains(&format!("\r\n{expect}\r\n")) {
        assert!(
            Instant::now() < deadline,
            "the flood's line did not come back whole"
        );
        assert!(c.pump(Duration::from_millis(200)).await, "socket closed");
    }
    c.drain(Duration::from_millis(300)).await;
    let elapsed = started.elapsed();
    let pongs = c
        .messages
        .iter()
        .filter(|m| matches!(m, ServerMsg::Pong { .. }))
        .count();
    assert_eq!(pongs, 12_000, "every ping answered");
    let after = rss_kb(pid);
    eprintln!("flood: 20000 messages in {elapsed:?}; relay RSS {before} kB -> {after} kB");
    assert!(after < before + 32 * 1024, "{before} kB -> {after} kB");
    bystander.input("echo flood-$((40+2))-survived\r").await;
    bystander.wait_for("flood-42-survived", T).await;
}

#[tokio::test]
async fn a_10_mb_paste_in_1_mib_messages_arrives_in_order_or_is_refused_clearly() {
    let relay = Relay::demo();
    let user = relay.sign_in().await;
    let s = user.create_session("demo").await;
    let mut bystander = user.attach(&s.id, None).await;
    let mut c = user.attach(&s.id, None).await;
    c.wait_for("C:\\", T).await;
    let pid = relay.child.id();
    let before = rss_kb(pid);
    // Ten messages just under 1 MiB each, lines with a sequence mark, going into a file
    // through a here-document; the shell then prints the file's SHA-256. (The terminals only
    // keep up with the echo through snapshots: 10 MB of echo is ten times the output log.)
    c.input("cat > /tmp/winrelay-paste-$$.txt <<'PASTE_END'\r")
        .await;
    let line_len = 4000;
    // (each line's \r doubles in JSON, so one more byte per line)
    let per_message = ((1 << 20) - 64) / (line_len + 1);
    let mut whole = Vec::with_capacity(10 << 20);
    let started = Instant::now();
    for m in 0..10 {
        let mut data = String::with_capacity(per_message * (line_len + 1));
        for l in 0..per_message {
            let head = format!("P{m:02}-{l:05} ");
            let line = format!("{head}{}", "x".repeat(line_len - head.len() - 1));
            data.push_str(&line);
            data.push('\r');
            whole.extend_from_slice(line.as_bytes());
            whole.push(b'\n');
        }
        c.input(&data).await;
    }
    c.input("PASTE_END\r").await;
    c.input("echo sum-$(sha256sum < /tmp/winrelay-paste-$$.txt | cut -c1-64)-end; rm /tmp/winrelay-paste-$$.txt\r")
        .await;
    let refused: Vec<_> = {
        // Wait for the sum, or for a refusal.
        let deadline = Instant::now() + Duration::from_secs(180);
        loop {
            let t = c.text();
            if t.contains("-end\r\n") && t.contains("\r\nsum-") {
                break errors(&c);
            }
            assert!(Instant::now() < deadline, "no checksum within 180 s");
            assert!(c.pump(Duration::from_millis(200)).await, "socket closed");
        }
    };
    let elapsed = started.elapsed();
    for (code, message) in &refused {
        assert_eq!(*code, ErrorCode::InputFailed, "{message}");
        assert!(message.contains("paste the rest again"), "{message}");
    }
    use sha2::Digest as _;
    let expected = hex::encode(sha2::Sha256::digest(&whole));
    let text = c.text();
    let got = text
        .split("\r\nsum-")
        .nth(1)
        .and_then(|t| t.split("-end").next())
        .unwrap_or_default()
        .to_string();
    if refused.is_empty() {
        assert_eq!(
            got, expected,
            "the shell received the 10 MB paste whole and in order"
        );
    }
    let after = rss_kb(pid);
    eprintln!(
        "10 MB paste: checksum {}, {} message(s) refused, in {elapsed:?}; relay RSS {before} kB -> {after} kB",
        if got == expected { "equal" } else { "different" },
        refused.len()
    );
    assert!(after < before + 96 * 1024, "{before} kB -> {after} kB");
    bystander.input("echo paste-$((40+2))-survived\r").await;
    bystander.wait_for("paste-42-survived", T).await;
}

#[tokio::test]
async fn the_largest_terminal_costs_bounded_memory() {
    let relay = Relay::demo();
    let user = relay.sign_in().await;
    let s = user.create_session("demo").await;
    let mut c = user.attach(&s.id, None).await;
    c.wait_for("C:\\", T).await;
    let pid = relay.child.id();
    let before = rss_kb(pid);
    // The largest size the protocol allows, then enough full-width lines to fill the server's
    // scrollback.
    c.send(&ClientMsg::Resize {
        cols: 1000,
        rows: 500,
    })
    .await;
    c.input("for i in $(seq 1 1600); do printf '%0999d\\n' $i; done; echo WIDE-$((2+2))\r")
        .await;
    c.wait_for("WIDE-4", Duration::from_secs(120)).await;
    c.drain(Duration::from_millis(500)).await;
    let after = rss_kb(pid);
    eprintln!("1000x500 terminal, 1.6 MB of full-width lines: relay RSS {before} kB -> {after} kB");
    assert!(errors(&c).is_empty(), "{:?}", errors(&c));
    assert!(
        after < before + 64 * 1024,
        "one session cost {} MiB: the server-side screen must be bounded in bytes",
        (after - before) / 1024
    );
}
