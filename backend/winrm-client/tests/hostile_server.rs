//! What a broken or hostile WinRM server can send, and what the client makes of it.
//!
//! The server here is a few lines of plain HTTP/1.1 on 127.0.0.1:0 (the client opts in with
//! `allow_http`): it answers every operation like Windows would, except the one a test makes
//! hostile. Each case must end in a clear error, within bounded time and bounded memory, and
//! must not leave the shell behind.

use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use winrm_client::{Client, ClientConfig, Error, Output, ShellOptions, TlsMode};
use wsman::{Action, Response, ResponseBody, ShellInfo, StreamData};

// --- peak memory of this test process ------------------------------------------------------

/// Counts live heap bytes and their peak, so a test can say how much memory a response cost.
struct Counting;

static LIVE: AtomicUsize = AtomicUsize::new(0);
static PEAK: AtomicUsize = AtomicUsize::new(0);

unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        let p = System.alloc(layout);
        if !p.is_null() {
            let now = LIVE.fetch_add(layout.size(), Ordering::Relaxed) + layout.size();
            PEAK.fetch_max(now, Ordering::Relaxed);
        }
        p
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        System.dealloc(ptr, layout);
        LIVE.fetch_sub(layout.size(), Ordering::Relaxed);
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        let p = System.realloc(ptr, layout, new_size);
        if !p.is_null() {
            if new_size >= layout.size() {
                let now = LIVE.fetch_add(new_size - layout.size(), Ordering::Relaxed)
                    + (new_size - layout.size());
                PEAK.fetch_max(now, Ordering::Relaxed);
            } else {
                LIVE.fetch_sub(layout.size() - new_size, Ordering::Relaxed);
            }
        }
        p
    }
}

#[global_allocator]
static ALLOC: Counting = Counting;

/// Tests that measure memory run one at a time, so their peaks are their own.
static MEASURE: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

fn vm_hwm_kb() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap_or(0)
}

// --- the hostile server ----------------------------------------------------------------------

/// What the server does with the operation it is hostile to.
#[derive(Clone)]
enum Answer {
    /// A status, content type and body, sent whole.
    Raw(u16, &'static str, Vec<u8>),
    /// A 200 claiming `len` bytes and sending all of them, 64 KiB at a time.
    Huge(usize),
    /// A 200 claiming 1 MB (under the size limit), then one byte every 50 ms, forever.
    Trickle,
    /// A 200 with chunked encoding that sends an endless stream of chunks.
    Endless,
    /// Reads the request and never answers.
    Stall,
}

struct Hostile {
    endpoint: String,
    /// Operations the server saw, in order.
    seen: Arc<Mutex<Vec<Action>>>,
}

impl Hostile {
    fn seen(&self) -> Vec<Action> {
        self.seen.lock().unwrap().clone()
    }
}

async fn hostile(to: Action, answer: Answer) -> Hostile {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let endpoint = format!("http://{}/wsman", listener.local_addr().unwrap());
    let seen = Arc::new(Mutex::new(Vec::new()));
    let log = seen.clone();
    tokio::spawn(async move {
        loop {
            let Ok((sock, _)) = listener.accept().await else {
                return;
            };
            tokio::spawn(connection(sock, to, answer.clone(), log.clone()));
        }
    });
    Hostile { endpoint, seen }
}

/// Reads one HTTP request; returns its body, or None when the peer closed.
async fn read_request(sock: &mut TcpStream, buf: &mut Vec<u8>) -> Option<Vec<u8>> {
    loop {
        if let Some(end) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            let head = String::from_utf8_lossy(&buf[..end]).to_ascii_lowercase();
            let len: usize = head
                .lines()
                .find_map(|l| l.strip_prefix("content-length:"))
                .map_or(0, |v| v.trim().parse().unwrap());
            let total = end + 4 + len;
            while buf.len() < total {
                let mut chunk = [0u8; 16384];
                let n = sock.read(&mut chunk).await.ok()?;
                if n == 0 {
                    return None;
                }
                buf.extend_from_slice(&chunk[..n]);
            }
            let body = buf[end + 4..total].to_vec();
            buf.drain(..total);
            return Some(body);
        }
        let mut chunk = [0u8; 16384];
        let n = sock.read(&mut chunk).await.ok()?;
        if n == 0 {
            return None;
        }
        buf.extend_from_slice(&chunk[..n]);
    }
}

async fn connection(
    mut sock: TcpStream,
    to: Action,
    answer: Answer,
    seen: Arc<Mutex<Vec<Action>>>,
) {
    let mut buf = Vec::new();
    while let Some(body) = read_request(&mut sock, &mut buf).await {
        let req = wsman::server::parse_request(&body).expect("the client sends valid requests");
        let action = req.header.action;
        seen.lock().unwrap().push(action);
        if action != to {
            let xml = normal_response(action, &req.header.message_id);
            if send(
                &mut sock,
                200,
                "application/soap+xml;charset=UTF-8",
                xml.as_bytes(),
            )
            .await
            .is_err()
            {
                return;
            }
            continue;
        }
        let _ = match &answer {
            Answer::Raw(status, ctype, body) => send(&mut sock, *status, ctype, body).await,
            Answer::Huge(len) => {
                let head = format!(
                    "HTTP/1.1 200 OK\r\ncontent-type: application/soap+xml\r\ncontent-length: {len}\r\n\r\n"
                );
                let _ = sock.write_all(head.as_bytes()).await;
                let chunk = vec![b'A'; 65536];
                let mut left = *len;
                while left > 0 {
                    let n = left.min(chunk.len());
                    if sock.write_all(&chunk[..n]).await.is_err() {
                        return; // the client hung up: what a bounded client does
                    }
                    left -= n;
                }
                Ok(())
            }
            Answer::Trickle => {
                let head = "HTTP/1.1 200 OK\r\ncontent-type: application/soap+xml\r\ncontent-length: 1000000\r\n\r\n<s:Envelope";
                let _ = sock.write_all(head.as_bytes()).await;
                loop {
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    if sock.write_all(b" ").await.is_err() {
                        return;
                    }
                }
            }
            Answer::Endless => {
                let head = "HTTP/1.1 200 OK\r\ncontent-type: application/soap+xml\r\ntransfer-encoding: chunked\r\n\r\n";
                let _ = sock.write_all(head.as_bytes()).await;
                let chunk = format!("10000\r\n{}\r\n", "<a>".repeat(65536 / 3) + "x");
                loop {
                    if sock.write_all(chunk.as_bytes()).await.is_err() {
                        return;
                    }
                    tokio::time::sleep(Duration::from_millis(1)).await;
                }
            }
            Answer::Stall => {
                tokio::time::sleep(Duration::from_secs(3600)).await;
                return;
            }
        };
    }
}

async fn send(sock: &mut TcpStream, status: u16, ctype: &str, body: &[u8]) -> std::io::Result<()> {
    let head = format!(
        "HTTP/1.1 {status} X\r\ncontent-type: {ctype}\r\ncontent-length: {}\r\n\r\n",
        body.len()
    );
    sock.write_all(head.as_bytes()).await?;
    sock.write_all(body).await
}

const SHELL_ID: &str = "0A1B2C3D-0000-4000-8000-000000000001";
const COMMAND_ID: &str = "0A1B2C3D-0000-4000-8000-000000000002";

/// What Windows answers when nothing is wrong.
fn normal_response(action: Action, relates_to: &str) -> String {
    let body = match action {
        Action::Create => ResponseBody::Created(ShellInfo {
            shell_id: SHELL_ID.into(),
            resource_uri: wsman::ns::RESOURCE_CMD.into(),
            address: "http://127.0.0.1/wsman".into(),
            input_streams: vec!["stdin".into()],
            output_streams: vec!["stdout".into(), "stderr".into()],
            ..Default::default()
        }),
        Action::Command => ResponseBody::CommandStarted {
            command_id: COMMAND_ID.into(),
        },
        Action::Send => ResponseBody::Sent,
        Action::Receive => ResponseBody::Received {
            streams: vec![StreamData {
                name: "stdout".into(),
                command_id: Some(COMMAND_ID.into()),
                data: b"ABC".to_vec(),
                end: false,
            }],
            state: None,
        },
        Action::Signal => ResponseBody::Signalled,
        Action::Delete => ResponseBody::Deleted,
    };
    wsman::server::write_response(&Response::new(Some(relates_to.to_string()), body))
}

fn client(endpoint: &str) -> Client {
    let mut cfg = ClientConfig::new(endpoint, "admin", "hostile-test-pw", TlsMode::Insecure);
    cfg.allow_http = true;
    cfg.operation_timeout = Duration::from_secs(2);
    cfg.http_grace = Duration::from_secs(1);
    cfg.connect_timeout = Duration::from_secs(2);
    Client::new(cfg).unwrap()
}

/// Opens a shell against a server hostile to Create; returns the error and how long it took.
async fn create_fails(answer: Answer) -> (Error, Duration, Hostile) {
    let server = hostile(Action::Create, answer).await;
    let c = client(&server.endpoint);
    let started = Instant::now();
    let err = tokio::time::timeout(
        Duration::from_secs(60),
        c.open_shell(ShellOptions::default()),
    )
    .await
    .expect("the client gives up on its own, well before 60 s")
    .expect_err("a hostile answer is an error");
    let msg = err.to_string();
    assert!(!msg.contains("hostile-test-pw"), "{msg}");
    assert!(c.open_shell_ids().is_empty(), "no shell was opened");
    (err, started.elapsed(), server)
}

/// Starts a command against a server hostile to Receive; returns the first error read.
async fn receive_fails(answer: Answer) -> (Error, Duration, Hostile) {
    let server = hostile(Action::Receive, answer).await;
    let c = client(&server.endpoint);
    let shell = c.open_shell(ShellOptions::default()).await.unwrap();
    let mut cmd = shell.start("cmd.exe", Vec::<String>::new()).await.unwrap();
    let started = Instant::now();
    let err = loop {
        match tokio::time::timeout(Duration::from_secs(60), cmd.recv()).await {
            Err(_) => panic!("the receive loop did not give up within 60 s"),
            Ok(Some(Ok(Output::Exited(code)))) => panic!("exited with {code} instead of an error"),
            Ok(Some(Ok(_))) => continue,
            Ok(Some(Err(e))) => break e,
            Ok(None) => panic!("the output ended without an error"),
        }
    };
    let elapsed = started.elapsed();
    drop(cmd);
    drop(shell);
    // The shell is deleted even though its output failed.
    let deadline = Instant::now() + Duration::from_secs(10);
    while !server.seen().contains(&Action::Delete) {
        assert!(
            Instant::now() < deadline,
            "no Delete after a failed Receive: {:?}",
            server.seen()
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    (err, elapsed, server)
}

// --- the cases -------------------------------------------------------------------------------

#[tokio::test]
async fn a_100_mb_body_is_refused_within_bounded_memory() {
    let _one = MEASURE.lock().await;
    let live_before = LIVE.load(Ordering::Relaxed);
    PEAK.store(live_before, Ordering::Relaxed);
    let hwm_before = vm_hwm_kb();
    let (err, elapsed, _s) = create_fails(Answer::Huge(100 << 20)).await;
    let peak = PEAK.load(Ordering::Relaxed).saturating_sub(live_before);
    eprintln!(
        "100 MB body: {err} after {elapsed:?}; peak heap growth {} KiB; VmHWM {} -> {} kB",
        peak >> 10,
        hwm_before,
        vm_hwm_kb()
    );
    assert!(matches!(err, Error::Protocol { .. }), "{err:?}");
    assert!(err.to_string().contains("too large"), "{err}");
    assert!(elapsed < Duration::from_secs(20), "{elapsed:?}");
    assert!(
        peak < 16 << 20,
        "reading a 100 MB answer cost {} MiB of heap: the client must stop at a size limit",
        peak >> 20
    );
}

#[tokio::test]
async fn an_endless_chunked_body_is_cut_off_within_bounded_memory() {
    let _one = MEASURE.lock().await;
    let live_before = LIVE.load(Ordering::Relaxed);
    PEAK.store(live_before, Ordering::Relaxed);
    let (err, elapsed, _s) = create_fails(Answer::Endless).await;
    let peak = PEAK.load(Ordering::Relaxed).saturating_sub(live_before);
    eprintln!(
        "endless body: {err} after {elapsed:?}; peak heap growth {} KiB",
        peak >> 10
    );
    assert!(
        matches!(err, Error::Protocol { .. } | Error::Timeout { .. }),
        "{err:?}"
    );
    assert!(elapsed < Duration::from_secs(20), "{elapsed:?}");
    assert!(
        peak < 16 << 20,
        "an endless answer cost {} MiB of heap",
        peak >> 20
    );
}

#[tokio::test]
async fn deeply_nested_elements_are_refused() {
    let body = format!(
        "<s:Envelope xmlns:s=\"http://www.w3.org/2003/05/soap-envelope\"><s:Body>{}{}</s:Body></s:Envelope>",
        "<a>".repeat(100_000),
        "</a>".repeat(100_000)
    );
    let (err, elapsed, _s) =
        create_fails(Answer::Raw(200, "application/soap+xml", body.into_bytes())).await;
    assert!(matches!(err, Error::Protocol { .. }), "{err:?}");
    assert!(err.to_string().contains("deeply nested"), "{err}");
    assert!(elapsed < Duration::from_secs(5), "{elapsed:?}");
}

#[tokio::test]
async fn entity_expansion_is_refused() {
    let laughs = r#"<?xml version="1.0"?>
<!DOCTYPE lolz [
 <!ENTITY lol "lol">
 <!ENTITY lol1 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">
 <!ENTITY lol2 "&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;">
 <!ENTITY lol3 "&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;">
 <!ENTITY lol4 "&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;">
 <!ENTITY lol5 "&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;">
 <!ENTITY lol6 "&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;">
 <!ENTITY lol7 "&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;">
 <!ENTITY lol8 "&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;">
 <!ENTITY lol9 "&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;">
]>
<s:Envelope xmlns:s="http://www.w3.org/2003/05/soap-envelope"><s:Body><rsp:ShellId xmlns:rsp="http://schemas.microsoft.com/wbem/wsman/1/windows/shell">&lol9;</rsp:ShellId></s:Body></s:Envelope>"#;
    let (err, elapsed, _s) =
        create_fails(Answer::Raw(200, "application/soap+xml", laughs.into())).await;
    assert!(matches!(err, Error::Protocol { .. }), "{err:?}");
    assert!(err.to_string().to_lowercase().contains("dtd"), "{err}");
    assert!(elapsed < Duration::from_secs(5), "{elapsed:?}");
}

#[tokio::test]
async fn invalid_base64_output_ends_the_command_with_an_error() {
    let good = normal_response(Action::Receive, "uuid:X");
    let encoded = "QUJD"; // "ABC"
    assert!(good.contains(encoded));
    let bad = good.replace(encoded, "Q!J*D===");
    let (err, elapsed, _s) =
        receive_fails(Answer::Raw(200, "application/soap+xml", bad.into_bytes())).await;
    assert!(matches!(err, Error::Protocol { .. }), "{err:?}");
    assert!(err.to_string().contains("base64"), "{err}");
    assert!(elapsed < Duration::from_secs(5), "{elapsed:?}");
}

#[tokio::test]
async fn a_web_page_instead_of_soap_is_not_taken_for_winrm() {
    let (err, _, _s) = create_fails(Answer::Raw(
        200,
        "text/html",
        b"<!doctype html><html><body><h1>Welcome to nginx!</h1></body></html>".to_vec(),
    ))
    .await;
    assert!(matches!(err, Error::Protocol { .. }), "{err:?}");
    assert!(
        err.to_string().contains("is this a WinRM endpoint?"),
        "{err}"
    );
    let (err, _, _s) = create_fails(Answer::Raw(
        200,
        "application/json",
        b"{\"ok\":true}".to_vec(),
    ))
    .await;
    assert!(matches!(err, Error::Protocol { .. }), "{err:?}");
    // A proxy's error page with a 500 says so by its status.
    let (err, _, _s) = create_fails(Answer::Raw(
        500,
        "text/plain",
        b"Internal Server Error".to_vec(),
    ))
    .await;
    assert!(matches!(err, Error::Http { status: 500, .. }), "{err:?}");
}

#[tokio::test]
async fn a_fault_without_a_code_is_still_a_clear_fault() {
    let fault = r#"<s:Envelope xmlns:s="http://www.w3.org/2003/05/soap-envelope"><s:Body><s:Fault><s:Code><s:Value>s:Receiver</s:Value></s:Code><s:Reason><s:Text xml:lang="en-US">The service is going away</s:Text></s:Reason></s:Fault></s:Body></s:Envelope>"#;
    let (err, _, _s) = create_fails(Answer::Raw(500, "application/soap+xml", fault.into())).await;
    match &err {
        Error::Fault {
            code: None,
            message,
            ..
        } => assert!(message.contains("going away"), "{message}"),
        other => panic!("expected a fault without a code, got {other:?}"),
    }
    assert!(err.to_string().contains("(no code)"), "{err}");
    // A fault with no s:Code at all is not a usable envelope: the status speaks instead.
    let bare = r#"<s:Envelope xmlns:s="http://www.w3.org/2003/05/soap-envelope"><s:Body><s:Fault/></s:Body></s:Envelope>"#;
    let (err, _, _s) = create_fails(Answer::Raw(500, "application/soap+xml", bare.into())).await;
    assert!(matches!(err, Error::Http { status: 500, .. }), "{err:?}");
}

#[tokio::test]
async fn a_body_that_trickles_forever_times_out() {
    let (err, elapsed, _s) = create_fails(Answer::Trickle).await;
    assert!(matches!(err, Error::Timeout { .. }), "{err:?}");
    assert!(err.to_string().contains("did not answer within"), "{err}");
    // operation timeout 2 s + grace 1 s: the whole request, body included, is bounded.
    assert!(
        elapsed >= Duration::from_secs(2) && elapsed < Duration::from_secs(15),
        "{elapsed:?}"
    );
}

#[tokio::test]
async fn a_server_that_stalls_times_out() {
    let (err, elapsed, _s) = create_fails(Answer::Stall).await;
    assert!(matches!(err, Error::Timeout { .. }), "{err:?}");
    assert!(elapsed < Duration::from_secs(15), "{elapsed:?}");
    // A stalled Receive ends the command's output with the same error, and the shell is
    // still deleted.
    let (err, elapsed, _s) = receive_fails(Answer::Stall).await;
    assert!(matches!(err, Error::Timeout { .. }), "{err:?}");
    assert!(elapsed < Duration::from_secs(15), "{elapsed:?}");
}

#[tokio::test]
async fn a_redirect_is_never_followed() {
    // The place the redirect points to: it must never see a request (nor the password).
    let elsewhere = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let target = format!("http://{}/wsman", elsewhere.local_addr().unwrap());
    let reached = Arc::new(AtomicUsize::new(0));
    let r = reached.clone();
    tokio::spawn(async move {
        while let Ok((_s, _)) = elsewhere.accept().await {
            r.fetch_add(1, Ordering::SeqCst);
        }
    });
    for status in [301u16, 302, 307, 308] {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let endpoint = format!("http://{}/wsman", listener.local_addr().unwrap());
        let location = target.clone();
        tokio::spawn(async move {
            while let Ok((mut sock, _)) = listener.accept().await {
                let location = location.clone();
                tokio::spawn(async move {
                    let mut buf = Vec::new();
                    while read_request(&mut sock, &mut buf).await.is_some() {
                        let head = format!(
                            "HTTP/1.1 {status} Moved\r\nlocation: {location}\r\ncontent-length: 0\r\n\r\n"
                        );
                        if sock.write_all(head.as_bytes()).await.is_err() {
                            return;
                        }
                    }
                });
            }
        });
        let err = client(&endpoint)
            .open_shell(ShellOptions::default())
            .await
            .unwrap_err();
        assert!(
            matches!(err, Error::Http { status: s, .. } if s == status),
            "{err:?}"
        );
    }
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert_eq!(reached.load(Ordering::SeqCst), 0, "a redirect was followed");
}
