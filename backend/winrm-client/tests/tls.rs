//! The client's own TLS record layer (`tls_io.rs`, on rustls' unbuffered API) against a
//! rustls server (tokio-rustls): TLS 1.2 and 1.3, answers spread over many records, key
//! updates in the middle of an answer, close_notify, and reuse of a connection.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;
use winrm_client::{fingerprint, Client, ClientConfig, Error, ShellOptions, TlsMode};

/// How the server answers each request.
#[derive(Clone, Copy)]
enum Style {
    /// 500 with a body of `n` bytes (not SOAP: the client reports the status).
    Sized(usize),
    /// The same, after a TLS 1.3 key update.
    KeyUpdate(usize),
    /// The same, then close_notify and the end of the connection.
    CloseAfter(usize),
}

struct Server {
    endpoint: String,
    pin: [u8; 32],
    connections: Arc<AtomicUsize>,
}

async fn server(version: &'static rustls::SupportedProtocolVersion, style: Style) -> Server {
    let key = rcgen::generate_simple_self_signed(vec!["localhost".to_string()]).unwrap();
    let cert: CertificateDer<'static> = key.cert.der().clone();
    let pin = fingerprint(&cert);
    let der = PrivateKeyDer::try_from(key.signing_key.serialize_der()).unwrap();
    let config = rustls::ServerConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_protocol_versions(&[version])
    .unwrap()
    .with_no_client_auth()
    .with_single_cert(vec![cert], der)
    .unwrap();
    let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(config));
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let endpoint = format!(
        "https://localhost:{}/wsman",
        listener.local_addr().unwrap().port()
    );
    let connections = Arc::new(AtomicUsize::new(0));
    let count = connections.clone();
    tokio::spawn(async move {
        while let Ok((tcp, _)) = listener.accept().await {
            count.fetch_add(1, Ordering::SeqCst);
            let acceptor = acceptor.clone();
            tokio::spawn(async move {
                let Ok(mut tls) = acceptor.accept(tcp).await else {
                    return;
                };
                let mut buf = Vec::new();
                loop {
                    // Read one request: head, then Content-Length bytes.
                    let body_start = loop {
                        if let Some(i) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
                            break i + 4;
                        }
                        let mut chunk = [0u8; 4096];
                        match tls.read(&mut chunk).await {
                            Ok(0) | Err(_) => return,
                            Ok(n) => buf.extend_from_slice(&chunk[..n]),
                        }
                    };
                    let head = String::from_utf8_lossy(&buf[..body_start]).to_ascii_lowercase();
                    assert!(head.contains("authorization: basic "), "{head}");
                    let len: usize = head
                        .lines()
                        .find_map(|l| l.strip_prefix("content-length:"))
                        .unwrap()
                        .trim()
                        .parse()
                        .unwrap();
                    while buf.len() < body_start + len {
                        let mut chunk = [0u8; 4096];
                        match tls.read(&mut chunk).await {
                            Ok(0) | Err(_) => return,
                            Ok(n) => buf.extend_from_slice(&chunk[..n]),
                        }
                    }
                    buf.drain(..body_start + len);
                    let n = match style {
                        Style::Sized(n) | Style::CloseAfter(n) => n,
                        Style::KeyUpdate(n) => {
                            tls.get_mut().1.refresh_traffic_keys().unwrap();
                            n
                        }
                    };
                    let mut answer = format!(
                        "HTTP/1.1 500 X\r\ncontent-type: text/plain\r\ncontent-length: {n}\r\n\r\n"
                    )
                    .into_bytes();
                    answer.extend((0..n).map(|i| b'a' + (i % 26) as u8));
                    if tls.write_all(&answer).await.is_err() {
                        return;
                    }
                    let _ = tls.flush().await;
                    if let Style::CloseAfter(_) = style {
                        let _ = tls.shutdown().await;
                        return;
                    }
                }
            });
        }
    });
    Server {
        endpoint,
        pin,
        connections,
    }
}

fn client(s: &Server) -> Client {
    let mut config = ClientConfig::new(&s.endpoint, "u", "p", TlsMode::Pin(s.pin));
    config.resolve = Some(
        format!(
            "127.0.0.1:{}",
            s.endpoint
                .rsplit(':')
                .next()
                .unwrap()
                .trim_end_matches("/wsman")
        )
        .parse()
        .unwrap(),
    );
    Client::new(config).unwrap()
}

/// Asks three times; each answer must arrive whole (the client reports its status).
async fn ask(c: &Client) {
    for _ in 0..3 {
        let err = c.open_shell(ShellOptions::default()).await.unwrap_err();
        assert!(matches!(err, Error::Http { status: 500, .. }), "{err:?}");
    }
}

#[tokio::test]
async fn tls13_answers_over_many_records_on_one_connection() {
    let s = server(&rustls::version::TLS13, Style::Sized(300_000)).await;
    ask(&client(&s)).await;
    assert_eq!(s.connections.load(Ordering::SeqCst), 1);
}

#[tokio::test]
async fn tls12_works_the_same() {
    let s = server(&rustls::version::TLS12, Style::Sized(300_000)).await;
    ask(&client(&s)).await;
    assert_eq!(s.connections.load(Ordering::SeqCst), 1);
}

#[tokio::test]
async fn a_key_update_in_the_middle_is_followed() {
    let s = server(&rustls::version::TLS13, Style::KeyUpdate(100_000)).await;
    ask(&client(&s)).await;
    assert_eq!(s.connections.load(Ordering::SeqCst), 1);
}

#[tokio::test]
async fn a_connection_the_server_closed_is_replaced() {
    for version in [&rustls::version::TLS13, &rustls::version::TLS12] {
        let s = server(version, Style::CloseAfter(10)).await;
        let c = client(&s);
        ask(&c).await;
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
        ask(&c).await;
        assert_eq!(s.connections.load(Ordering::SeqCst), 6, "one per request");
    }
}
