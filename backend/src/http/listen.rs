//! The connection loop (issue 17, item 4): what `axum::serve` does, plus the limits it does
//! not have. A client that sends its headers a byte every few seconds, never finishes a
//! body, or opens connections without end must not hold the relay:
//!
//! * at most `max_connections` connections, and `max_connections_per_address` from one
//!   address (loopback and trusted proxies excepted); beyond that the answer is 503 and the
//!   connection is closed at once; a WebSocket keeps its connection's place while it lives;
//! * a request's headers (and a TLS handshake) must arrive within `header_timeout`, its
//!   body within `body_timeout` (a layer in [`super::app`]);
//! * a connection with no byte in either direction for `idle_timeout` is closed, unless it
//!   became a WebSocket (those keep themselves alive with pings and time out sends).
//!
//! The defaults pass an ordinary slow network: 30 s for headers, 120 s idle.

use std::collections::HashMap;
use std::future::Future;
use std::net::{IpAddr, SocketAddr};
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use axum::extract::ConnectInfo;
use axum::Router;
use hyper_util::rt::{TokioIo, TokioTimer};
use ipnet::IpNet;
use tokio::io::{AsyncRead, AsyncWrite, AsyncWriteExt, ReadBuf};
use tokio::net::TcpListener;
use tracing::debug;

use crate::config::Limits;

/// The connection limits.
#[derive(Debug, Clone)]
pub struct ConnLimits {
    /// Connections at once.
    pub max_connections: usize,
    /// Connections from one address at once.
    pub per_address: usize,
    /// Addresses without the per-address limit (reverse proxies).
    pub exempt: Vec<IpNet>,
    /// Headers (and TLS handshakes) within this.
    pub header_timeout: Duration,
    /// Close after this long without a byte.
    pub idle_timeout: Duration,
}

impl ConnLimits {
    /// From `[limits]`, exempting `trusted` proxies from the per-address limit.
    pub fn new(limits: &Limits, trusted: Vec<IpNet>) -> ConnLimits {
        ConnLimits {
            max_connections: limits.max_connections.max(1),
            per_address: limits.max_connections_per_address.max(1),
            exempt: trusted,
            header_timeout: limits.header_timeout,
            idle_timeout: limits.idle_timeout,
        }
    }
}

/// Counts connections, in all and per address.
#[derive(Default)]
struct Counts {
    all: usize,
    per: HashMap<IpAddr, usize>,
}

/// A connection's place in the counts, given back when it ends.
struct Slot {
    counts: Arc<Mutex<Counts>>,
    ip: IpAddr,
}

impl Drop for Slot {
    fn drop(&mut self) {
        let mut c = self.counts.lock().unwrap_or_else(|p| p.into_inner());
        c.all -= 1;
        if let Some(n) = c.per.get_mut(&self.ip) {
            *n -= 1;
            if *n == 0 {
                c.per.remove(&self.ip);
            }
        }
    }
}

fn take_slot(counts: &Arc<Mutex<Counts>>, limits: &ConnLimits, ip: IpAddr) -> Option<Slot> {
    let mut c = counts.lock().unwrap_or_else(|p| p.into_inner());
    if c.all >= limits.max_connections {
        return None;
    }
    // Loopback peers are local programs or a reverse proxy on this host (behind which
    // everyone shares the address): only the global limit applies to them.
    let exempt = ip.is_loopback() || limits.exempt.iter().any(|n| n.contains(&ip));
    let mine = c.per.get(&ip).copied().unwrap_or(0);
    if !exempt && mine >= limits.per_address {
        return None;
    }
    c.all += 1;
    *c.per.entry(ip).or_insert(0) += 1;
    Some(Slot {
        counts: counts.clone(),
        ip,
    })
}

/// An I/O stream that notes when a byte last went through, and holds the connection's
/// slot for as long as it lives (also after it became a WebSocket).
struct Watched<T> {
    inner: T,
    last: Arc<AtomicU64>,
    epoch: Instant,
    _slot: Slot,
}

impl<T> Watched<T> {
    fn touch(&self) {
        self.last
            .store(self.epoch.elapsed().as_millis() as u64, Ordering::Relaxed);
    }
}

impl<T: AsyncRead + Unpin> AsyncRead for Watched<T> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<std::io::Result<()>> {
        let before = buf.filled().len();
        let r = Pin::new(&mut self.inner).poll_read(cx, buf);
        if buf.filled().len() > before {
            self.touch();
        }
        r
    }
}

impl<T: AsyncWrite + Unpin> AsyncWrite for Watched<T> {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        let r = Pin::new(&mut self.inner).poll_write(cx, buf);
        if matches!(r, Poll::Ready(Ok(n)) if n > 0) {
            self.touch();
        }
        r
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.inner).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }
}

/// The answer to a connection beyond the limits.
fn busy() -> Vec<u8> {
    let body =
        r#"{"error":"relay_busy","message":"too many connections: try again in a few seconds"}"#;
    format!(
        "HTTP/1.1 503 Service Unavailable\r\nRetry-After: 5\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    )
    .into_bytes()
}

/// Serves `app` on `listener` (over TLS with `tls`) with `limits` until `shutdown`
/// resolves; then stops accepting, lets requests in progress finish (5 s at most) and
/// returns. WebSockets already upgraded live on (the registry ends them).
pub async fn serve(
    listener: TcpListener,
    app: Router,
    tls: Option<tokio_rustls::TlsAcceptor>,
    limits: ConnLimits,
    shutdown: impl Future<Output = ()>,
) -> std::io::Result<()> {
    let counts = Arc::new(Mutex::new(Counts::default()));
    // HTTP connections being served (not WebSockets, which the registry ends).
    let serving = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
    let limits = Arc::new(limits);
    tokio::pin!(shutdown);
    loop {
        let (mut tcp, peer) = tokio::select! {
            _ = &mut shutdown => break,
            accepted = listener.accept() => match accepted {
                Ok(a) => a,
                Err(e) => {
                    // Out of file descriptors and the like: wait a little, do not spin.
                    debug!(error = %e, "accept failed");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
        };
        let Some(slot) = take_slot(&counts, &limits, peer.ip()) else {
            debug!(%peer, "connection refused: too many connections");
            tokio::spawn(async move {
                let _ = tokio::time::timeout(Duration::from_secs(1), tcp.write_all(&busy())).await;
            });
            continue;
        };
        let _ = tcp.set_nodelay(true);
        let (app, tls, limits, mut stop) =
            (app.clone(), tls.clone(), limits.clone(), stop_rx.clone());
        let serving = serving.clone();
        serving.fetch_add(1, Ordering::SeqCst);
        tokio::spawn(async move {
            match tls {
                Some(acceptor) => {
                    match tokio::time::timeout(limits.header_timeout, acceptor.accept(tcp)).await {
                        Ok(Ok(stream)) => {
                            connection(stream, slot, peer, app, &limits, &mut stop).await
                        }
                        _ => debug!(%peer, "TLS handshake failed or timed out"),
                    }
                }
                None => connection(tcp, slot, peer, app, &limits, &mut stop).await,
            }
            serving.fetch_sub(1, Ordering::SeqCst);
        });
    }
    // Stop: connections finish their request in progress, then close.
    stop_tx.send_replace(true);
    let deadline = Instant::now() + Duration::from_secs(5);
    while serving.load(Ordering::SeqCst) > 0 && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    Ok(())
}

async fn connection<T>(
    io: T,
    slot: Slot,
    peer: SocketAddr,
    app: Router,
    limits: &ConnLimits,
    stop: &mut tokio::sync::watch::Receiver<bool>,
) where
    T: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let epoch = Instant::now();
    let last = Arc::new(AtomicU64::new(0));
    let io = Watched {
        inner: io,
        last: last.clone(),
        epoch,
        _slot: slot,
    };
    let service =
        hyper::service::service_fn(move |mut req: hyper::Request<hyper::body::Incoming>| {
            req.extensions_mut().insert(ConnectInfo(peer));
            tower::ServiceExt::oneshot(app.clone(), req.map(axum::body::Body::new))
        });
    let mut builder = hyper::server::conn::http1::Builder::new();
    builder
        .timer(TokioTimer::new())
        .header_read_timeout(limits.header_timeout)
        .keep_alive(true);
    let conn = builder
        .serve_connection(TokioIo::new(io), service)
        .with_upgrades();
    tokio::pin!(conn);
    let idle_ms = limits.idle_timeout.as_millis() as u64;
    let mut check = tokio::time::interval((limits.idle_timeout / 4).max(Duration::from_millis(50)));
    let mut stopping = *stop.borrow();
    if stopping {
        conn.as_mut().graceful_shutdown();
    }
    loop {
        tokio::select! {
            result = conn.as_mut() => {
                if let Err(e) = result {
                    debug!(%peer, error = %e, "connection ended with an error");
                }
                break;
            }
            changed = stop.changed(), if !stopping => {
                stopping = true;
                if changed.is_ok() {
                    conn.as_mut().graceful_shutdown();
                }
            }
            _ = check.tick() => {
                let quiet = (epoch.elapsed().as_millis() as u64)
                    .saturating_sub(last.load(Ordering::Relaxed));
                if quiet >= idle_ms {
                    debug!(%peer, "closing an idle connection");
                    break;
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slots_are_limited_in_all_and_per_address_and_given_back() {
        let limits = ConnLimits {
            max_connections: 3,
            per_address: 2,
            exempt: vec!["10.0.0.1/32".parse().unwrap()],
            header_timeout: Duration::from_secs(1),
            idle_timeout: Duration::from_secs(1),
        };
        let counts = Arc::new(Mutex::new(Counts::default()));
        let a: IpAddr = "192.0.2.1".parse().unwrap();
        let b: IpAddr = "192.0.2.2".parse().unwrap();
        let proxy: IpAddr = "10.0.0.1".parse().unwrap();
        let local: IpAddr = "127.0.0.1".parse().unwrap();
        let s1 = take_slot(&counts, &limits, a).unwrap();
        let _s2 = take_slot(&counts, &limits, a).unwrap();
        assert!(take_slot(&counts, &limits, a).is_none(), "two per address");
        let s3 = take_slot(&counts, &limits, b).unwrap();
        assert!(take_slot(&counts, &limits, b).is_none(), "three in all");
        drop(s1);
        let p1 = take_slot(&counts, &limits, proxy).expect("a slot came back");
        assert!(
            take_slot(&counts, &limits, local).is_none(),
            "the global limit holds"
        );
        drop(p1);
        drop(s3);
        let _l1 = take_slot(&counts, &limits, local).unwrap();
        let _l2 = take_slot(&counts, &limits, local).expect("loopback: no per-address limit");
        assert_eq!(
            counts.lock().unwrap().all,
            3,
            "slots are given back when dropped"
        );
    }
}
