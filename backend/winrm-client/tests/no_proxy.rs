//! The client never sends target traffic through a proxy named in the environment
//! (issue 17, item 12): a proxy resolves the host name again, which would undo the relay's
//! checked-address rule (a pattern target's name is resolved and checked once, then
//! connected to by address). Its own process: the proxy variables are set for all of it.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;
use winrm_client::{Client, ClientConfig, ShellOptions, TlsMode};

/// Counts connections; answers each request with `answer` (or nothing).
async fn listener(answer: Option<&'static str>) -> (String, Arc<AtomicUsize>) {
    let l = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = l.local_addr().unwrap().to_string();
    let hits = Arc::new(AtomicUsize::new(0));
    let h = hits.clone();
    tokio::spawn(async move {
        while let Ok((mut s, _)) = l.accept().await {
            h.fetch_add(1, Ordering::SeqCst);
            tokio::spawn(async move {
                let mut buf = vec![0u8; 65536];
                let _ = s.read(&mut buf).await;
                if let Some(a) = answer {
                    let _ = s.write_all(a.as_bytes()).await;
                }
            });
        }
    });
    (addr, hits)
}

#[tokio::test]
async fn environment_proxies_are_never_used() {
    let (proxy, proxied) = listener(None).await;
    let (target, reached) = listener(Some(
        "HTTP/1.1 401 Unauthorized\r\nContent-Length: 0\r\n\r\n",
    ))
    .await;
    for var in [
        "HTTPS_PROXY",
        "https_proxy",
        "HTTP_PROXY",
        "http_proxy",
        "ALL_PROXY",
        "all_proxy",
    ] {
        std::env::set_var(var, format!("http://{proxy}"));
    }
    for var in ["NO_PROXY", "no_proxy"] {
        std::env::remove_var(var);
    }
    let mut cfg = ClientConfig::new(
        format!("http://{target}/wsman"),
        "u",
        "p",
        TlsMode::Insecure,
    );
    cfg.allow_http = true;
    let client = Client::new(cfg).unwrap();
    let _ = client.open_shell(ShellOptions::default()).await;
    assert_eq!(proxied.load(Ordering::SeqCst), 0, "the proxy was used");
    assert!(
        reached.load(Ordering::SeqCst) >= 1,
        "the target was not reached directly"
    );
}
