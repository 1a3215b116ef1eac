//! HTTP/1.1 as WS-Management uses it: one POST at a time per connection, a pool of idle
//! connections per [`crate::Client`], and nothing held for a connection that waits.
//!
//! Why not hyper (through reqwest): every relay session keeps one Receive outstanding (a long
//! poll), so it keeps one connection busy all its life, and a hyper client connection holds a
//! dispatch channel (about 9 KiB), an 8 KiB header buffer and an 8 KiB or larger read buffer
//! for as long as it lives: about 30 KiB per idle session, twice the budget. Here a
//! connection that waits for its answer is its socket and its TLS state, with no buffer
//! (`tls_io.rs`); the request goes out of one buffer freed as soon as it is written, and the
//! response buffer is allocated only once the socket is readable.
//!
//! What the client needs of HTTP and no more: `Content-Length` and chunked bodies, both
//! bounded by the caller's limit; interim 1xx answers skipped; `Connection: close` and
//! HTTP/1.0 honoured; no redirects, no proxies, no DNS when the caller gave an address
//! ([`Target::resolve`]); an idle connection the server closed is never used again.

use std::io;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll, Waker};
use std::time::{Duration, Instant};

use rustls::pki_types::ServerName;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt, ReadBuf};
use tokio::net::TcpStream;

use crate::tls_io::TlsStream;

/// How long an unused connection stays in the pool.
const IDLE_TIMEOUT: Duration = Duration::from_secs(60);
/// TCP keepalive probes on every connection (a long poll is quiet for its whole duration).
const KEEPALIVE: Duration = Duration::from_secs(15);
/// Largest response head (status line and headers) read.
const MAX_HEAD: usize = 64 * 1024;
/// Largest chunk-size or trailer line of a chunked body.
const MAX_LINE: usize = 4096;
/// Read buffer for a response head, and the step a body of unknown length grows by.
const READ_CHUNK: usize = 8192;

/// Where the requests go: parsed once from the endpoint URL.
#[derive(Debug, Clone)]
pub(crate) struct Target {
    /// `https` (else plain `http`).
    pub https: bool,
    /// The host name or address, IPv6 without brackets: for DNS and TLS.
    pub host: String,
    /// The port (the scheme's default when the URL has none).
    pub port: u16,
    /// The `Host` header: the URL's host and explicit port.
    pub authority: String,
    /// Path and query of the URL (`/wsman`).
    pub path: String,
    /// Connect here instead of resolving [`Target::host`].
    pub resolve: Option<SocketAddr>,
}

impl Target {
    /// Parses `scheme://host[:port][/path]`; user info in the URL is refused (the client sends
    /// its own credentials).
    pub fn parse(url: &str) -> Result<Target, String> {
        let uri: http::Uri = url
            .parse()
            .map_err(|e| format!("{url:?} is not a URL: {e}"))?;
        let https = match uri.scheme_str().map(str::to_ascii_lowercase).as_deref() {
            Some("https") => true,
            Some("http") => false,
            _ => return Err(format!("{url:?} is not an http(s) URL")),
        };
        let authority = uri
            .authority()
            .ok_or_else(|| format!("{url:?} has no host"))?;
        if authority.as_str().contains('@') {
            return Err(format!(
                "{url:?} has user info; give the account in the configuration instead"
            ));
        }
        let host = authority.host();
        if host.is_empty() {
            return Err(format!("{url:?} has no host"));
        }
        let port = authority.port_u16().unwrap_or(if https { 443 } else { 80 });
        Ok(Target {
            https,
            host: host
                .trim_start_matches('[')
                .trim_end_matches(']')
                .to_string(),
            port,
            authority: authority.as_str().to_string(),
            path: uri
                .path_and_query()
                .map_or("/".to_string(), |p| p.as_str().to_string()),
            resolve: None,
        })
    }
}

/// What went wrong on the wire. The client turns it into its own [`crate::Error`].
#[derive(Debug)]
pub(crate) enum HttpError {
    /// No connection: DNS, TCP, the TLS handshake, or the connect timeout.
    Connect(String),
    /// The connection failed or closed while a request was under way.
    Io(io::Error),
    /// The answer is not HTTP/1.x as this client reads it.
    Malformed(String),
    /// The body is larger than the caller's limit.
    TooLarge,
}

impl std::fmt::Display for HttpError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            HttpError::Connect(m) => f.write_str(m),
            HttpError::Io(e) if e.kind() == io::ErrorKind::UnexpectedEof => {
                f.write_str("the connection closed before the answer was complete")
            }
            HttpError::Io(e) => write!(f, "connection error: {e}"),
            HttpError::Malformed(m) => write!(f, "not an HTTP/1.1 answer: {m}"),
            HttpError::TooLarge => f.write_str("response too large"),
        }
    }
}

impl From<io::Error> for HttpError {
    fn from(e: io::Error) -> HttpError {
        HttpError::Io(e)
    }
}

/// A response: its status and whole body.
#[derive(Debug)]
pub(crate) struct Answer {
    pub status: u16,
    pub body: Vec<u8>,
}

/// One connection, plain or TLS. Always boxed (`Box<Stream>`), so the size of the TLS variant
/// costs nothing where a plain connection is kept, and moving one is cheap.
#[allow(clippy::large_enum_variant)]
enum Stream {
    Plain(TcpStream),
    Tls(TlsStream),
}

impl Stream {
    fn tcp(&self) -> &TcpStream {
        match self {
            Stream::Plain(s) => s,
            Stream::Tls(s) => s.tcp(),
        }
    }

    /// Bytes received and not read yet.
    fn has_buffered(&self) -> bool {
        match self {
            Stream::Plain(_) => false,
            Stream::Tls(s) => s.has_buffered(),
        }
    }

    /// Frees the buffers of a connection that is about to wait.
    fn release(&mut self) {
        if let Stream::Tls(s) = self {
            s.release();
        }
    }

    /// True while the server has neither closed the connection nor sent anything unasked:
    /// an idle HTTP/1.1 connection must be silent, and one that is not cannot be used.
    fn is_quiet(&self) -> bool {
        if self.has_buffered() {
            return false;
        }
        let mut cx = Context::from_waker(Waker::noop());
        let mut byte = [0u8; 1];
        let mut buf = ReadBuf::new(&mut byte);
        self.tcp().poll_peek(&mut cx, &mut buf).is_pending()
    }
}

impl AsyncRead for Stream {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        match self.get_mut() {
            Stream::Plain(s) => Pin::new(s).poll_read(cx, buf),
            Stream::Tls(s) => Pin::new(s).poll_read(cx, buf),
        }
    }
}

impl AsyncWrite for Stream {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        match self.get_mut() {
            Stream::Plain(s) => Pin::new(s).poll_write(cx, buf),
            Stream::Tls(s) => Pin::new(s).poll_write(cx, buf),
        }
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            Stream::Plain(s) => Pin::new(s).poll_flush(cx),
            Stream::Tls(s) => Pin::new(s).poll_flush(cx),
        }
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            Stream::Plain(s) => Pin::new(s).poll_shutdown(cx),
            Stream::Tls(s) => Pin::new(s).poll_shutdown(cx),
        }
    }
}

struct Idle {
    conn: Box<Stream>,
    since: Instant,
}

/// The HTTP side of one client: where to connect, how, and the idle connections.
pub(crate) struct Transport {
    target: Target,
    tls: Option<(Arc<rustls::ClientConfig>, ServerName<'static>)>,
    /// The request line and the headers every request carries (credentials included), up to
    /// `Content-Length`.
    head: Box<[u8]>,
    connect_timeout: Duration,
    idle: Mutex<Vec<Idle>>,
}

impl Transport {
    /// A transport for `target`; `tls` is required for `https` targets. `headers` are extra
    /// `name: value` lines sent with every request.
    pub fn new(
        target: Target,
        tls: Option<rustls::ClientConfig>,
        headers: &[(&str, &str)],
        connect_timeout: Duration,
    ) -> Result<Transport, String> {
        let tls = match (target.https, tls) {
            (true, Some(config)) => {
                let name = ServerName::try_from(target.host.clone())
                    .map_err(|_| format!("{:?} is not a valid TLS server name", target.host))?;
                Some((Arc::new(config), name))
            }
            (true, None) => return Err("an https endpoint needs a TLS configuration".into()),
            (false, _) => None,
        };
        let mut head = format!(
            "POST {} HTTP/1.1\r\nHost: {}\r\n",
            target.path, target.authority
        );
        for (name, value) in headers {
            if [name, value]
                .iter()
                .any(|s| s.bytes().any(|b| b == b'\r' || b == b'\n'))
            {
                return Err(format!("the {name} header contains a line break"));
            }
            head.push_str(name);
            head.push_str(": ");
            head.push_str(value);
            head.push_str("\r\n");
        }
        Ok(Transport {
            target,
            tls,
            head: head.into_bytes().into_boxed_slice(),
            connect_timeout,
            idle: Mutex::new(Vec::new()),
        })
    }

    /// POSTs `body` and reads the answer, whose body may be at most `limit` bytes. The caller
    /// bounds the whole exchange in time; the connect has its own timeout.
    pub async fn post(&self, body: String, limit: usize) -> Result<Answer, HttpError> {
        // The steps around the wait are boxed, so that the state a waiting request keeps (in
        // the task of every idle session) is not as large as the largest step.
        let mut conn = match self.take_idle() {
            Some(conn) => conn,
            None => Box::pin(self.connect()).await?,
        };
        let mut request = Vec::with_capacity(self.head.len() + 32 + body.len());
        request.extend_from_slice(&self.head);
        request.extend_from_slice(format!("Content-Length: {}\r\n\r\n", body.len()).as_bytes());
        request.extend_from_slice(body.as_bytes());
        drop(body);
        Box::pin(async {
            conn.write_all(&request).await?;
            conn.flush().await
        })
        .await?;
        drop(request);
        // A long poll waits here, for minutes in total per session: with no buffer allocated.
        if !conn.has_buffered() {
            conn.tcp().readable().await?;
        }
        let (answer, reusable) = Box::pin(read_answer(&mut *conn, limit)).await?;
        conn.release();
        if reusable {
            self.put_idle(conn);
        }
        Ok(answer)
    }

    fn take_idle(&self) -> Option<Box<Stream>> {
        let mut idle = self.idle.lock().unwrap_or_else(|e| e.into_inner());
        while let Some(Idle { conn, since }) = idle.pop() {
            if since.elapsed() < IDLE_TIMEOUT && conn.is_quiet() {
                return Some(conn);
            }
        }
        None
    }

    fn put_idle(&self, conn: Box<Stream>) {
        let mut idle = self.idle.lock().unwrap_or_else(|e| e.into_inner());
        idle.retain(|i| i.since.elapsed() < IDLE_TIMEOUT);
        idle.push(Idle {
            conn,
            since: Instant::now(),
        });
    }

    async fn connect(&self) -> Result<Box<Stream>, HttpError> {
        let timeout = self.connect_timeout;
        match tokio::time::timeout(timeout, self.connect_inner()).await {
            Ok(r) => r,
            Err(_) => Err(HttpError::Connect(format!(
                "no connection within {}s",
                timeout.as_secs_f64()
            ))),
        }
    }

    async fn connect_inner(&self) -> Result<Box<Stream>, HttpError> {
        let t = &self.target;
        let addrs: Vec<SocketAddr> = match t.resolve {
            Some(addr) => vec![addr],
            None => tokio::net::lookup_host((t.host.as_str(), t.port))
                .await
                .map_err(|e| HttpError::Connect(format!("dns error: {e}")))?
                .collect(),
        };
        let mut last = None;
        let mut tcp = None;
        for addr in addrs {
            match TcpStream::connect(addr).await {
                Ok(s) => {
                    tcp = Some(s);
                    break;
                }
                Err(e) => last = Some(e),
            }
        }
        let tcp = tcp.ok_or_else(|| {
            HttpError::Connect(match last {
                Some(e) => format!("tcp connect error: {e}"),
                None => format!("dns error: no address for {}", t.host),
            })
        })?;
        tcp.set_nodelay(true)
            .map_err(|e| HttpError::Connect(format!("tcp error: {e}")))?;
        let keepalive = socket2::TcpKeepalive::new()
            .with_time(KEEPALIVE)
            .with_interval(KEEPALIVE);
        // Best effort, as in reqwest: a socket without keepalive still works.
        let _ = socket2::SockRef::from(&tcp).set_tcp_keepalive(&keepalive);
        let stream = match &self.tls {
            None => Stream::Plain(tcp),
            Some((config, name)) => Stream::Tls(
                TlsStream::connect(config.clone(), name.clone(), tcp)
                    .await
                    .map_err(|e| HttpError::Connect(tls_error(&e)))?,
            ),
        };
        Ok(Box::new(stream))
    }
}

/// The handshake's failure as rustls put it (`tls_io` wraps it in an `io::Error`).
fn tls_error(e: &io::Error) -> String {
    match e
        .get_ref()
        .and_then(|inner| inner.downcast_ref::<rustls::Error>())
    {
        Some(rustls_error) => format!("TLS handshake failed: {rustls_error}"),
        None => format!("TLS handshake failed: {e}"),
    }
}

/// How a response body ends.
#[derive(Debug, PartialEq, Eq)]
enum Framing {
    Empty,
    Length(u64),
    Chunked,
    UntilClose,
}

/// The parts of a response head this client acts on.
#[derive(Debug, PartialEq, Eq)]
struct Head {
    status: u16,
    framing: Framing,
    /// The connection may carry another request afterwards.
    keep_alive: bool,
    /// Bytes of the buffer the head took.
    len: usize,
}

/// Parses a complete response head at the start of `buf`; `Ok(None)` if more bytes are needed.
fn parse_head(buf: &[u8]) -> Result<Option<Head>, HttpError> {
    let mut headers = [httparse::EMPTY_HEADER; 64];
    let mut resp = httparse::Response::new(&mut headers);
    let len = match resp.parse(buf) {
        Ok(httparse::Status::Complete(n)) => n,
        Ok(httparse::Status::Partial) => return Ok(None),
        Err(e) => return Err(HttpError::Malformed(e.to_string())),
    };
    let status = resp.code.unwrap_or(0);
    let mut keep_alive = resp.version == Some(1);
    let mut length: Option<u64> = None;
    let mut chunked = false;
    for h in resp.headers.iter() {
        let value = std::str::from_utf8(h.value)
            .map_err(|_| HttpError::Malformed(format!("header {} is not text", h.name)))?
            .trim();
        if h.name.eq_ignore_ascii_case("content-length") {
            let n: u64 = value
                .parse()
                .map_err(|_| HttpError::Malformed(format!("Content-Length {value:?}")))?;
            if length.is_some_and(|m| m != n) {
                return Err(HttpError::Malformed("two different Content-Lengths".into()));
            }
            length = Some(n);
        } else if h.name.eq_ignore_ascii_case("transfer-encoding") {
            let last = value.rsplit(',').next().unwrap_or("").trim();
            if !last.eq_ignore_ascii_case("chunked") {
                return Err(HttpError::Malformed(format!(
                    "Transfer-Encoding {value:?} is not chunked"
                )));
            }
            chunked = true;
        } else if h.name.eq_ignore_ascii_case("connection")
            && value
                .split(',')
                .any(|t| t.trim().eq_ignore_ascii_case("close"))
        {
            keep_alive = false;
        }
    }
    let framing = if (100..200).contains(&status) || status == 204 || status == 304 {
        Framing::Empty
    } else if chunked {
        // A Content-Length beside chunked is a smuggling attempt; the connection is not reused.
        if length.is_some() {
            keep_alive = false;
        }
        Framing::Chunked
    } else if let Some(n) = length {
        Framing::Length(n)
    } else {
        keep_alive = false;
        Framing::UntilClose
    };
    Ok(Some(Head {
        status,
        framing,
        keep_alive,
        len,
    }))
}

/// Reads one response; says whether the connection can carry another request.
async fn read_answer<S: AsyncRead + Unpin>(
    conn: &mut S,
    limit: usize,
) -> Result<(Answer, bool), HttpError> {
    let mut raw = Vec::with_capacity(READ_CHUNK);
    let head = loop {
        if let Some(head) = parse_head(&raw)? {
            if (100..200).contains(&head.status) {
                // An interim answer (100 Continue and the like): the real one follows.
                raw.drain(..head.len);
                continue;
            }
            break head;
        }
        if raw.len() >= MAX_HEAD {
            return Err(HttpError::Malformed(
                "the response head is too large".into(),
            ));
        }
        fill(conn, &mut raw).await?;
    };
    raw.drain(..head.len);
    let mut reusable = head.keep_alive;
    let body = match head.framing {
        Framing::Empty => {
            reusable &= raw.is_empty();
            Vec::new()
        }
        Framing::Length(n) => {
            if n > limit as u64 {
                return Err(HttpError::TooLarge);
            }
            let n = n as usize;
            let mut body = raw;
            if body.len() < n {
                body.reserve_exact(n - body.len());
            }
            while body.len() < n {
                // Into the spare capacity only: never past the announced length.
                let got = conn.read_buf(&mut body).await?;
                if got == 0 {
                    return Err(io::Error::from(io::ErrorKind::UnexpectedEof).into());
                }
            }
            if body.len() > n {
                // The server sent more than it announced: answer what it announced, and
                // never read a later answer out of this one.
                body.truncate(n);
                reusable = false;
            }
            body
        }
        Framing::Chunked => {
            let mut r = Pending { raw, pos: 0 };
            let body = read_chunked(conn, &mut r, limit).await?;
            reusable &= r.pos == r.raw.len();
            body
        }
        Framing::UntilClose => {
            let mut body = raw;
            loop {
                if body.len() > limit {
                    return Err(HttpError::TooLarge);
                }
                if read_more(conn, &mut body).await? == 0 {
                    break body;
                }
            }
        }
    };
    Ok((
        Answer {
            status: head.status,
            body,
        },
        reusable,
    ))
}

/// Reads more bytes onto the end of `buf`; how many (0 at the end of the stream).
async fn read_more<S: AsyncRead + Unpin>(
    conn: &mut S,
    buf: &mut Vec<u8>,
) -> Result<usize, HttpError> {
    if buf.capacity() - buf.len() < READ_CHUNK / 2 {
        buf.reserve(READ_CHUNK);
    }
    Ok(conn.read_buf(buf).await?)
}

/// Reads more bytes onto the end of `buf`; the end of the stream is an error.
async fn fill<S: AsyncRead + Unpin>(conn: &mut S, buf: &mut Vec<u8>) -> Result<(), HttpError> {
    match read_more(conn, buf).await? {
        0 => Err(io::Error::from(io::ErrorKind::UnexpectedEof).into()),
        _ => Ok(()),
    }
}

/// Bytes read from the connection and not used yet.
struct Pending {
    raw: Vec<u8>,
    pos: usize,
}

impl Pending {
    /// Reads until there is a line; returns it without its CRLF.
    async fn line<S: AsyncRead + Unpin>(&mut self, conn: &mut S) -> Result<Vec<u8>, HttpError> {
        loop {
            if let Some(i) = self.raw[self.pos..].windows(2).position(|w| w == b"\r\n") {
                let line = self.raw[self.pos..self.pos + i].to_vec();
                self.pos += i + 2;
                return Ok(line);
            }
            if self.raw.len() - self.pos > MAX_LINE {
                return Err(HttpError::Malformed("a chunk line is too long".into()));
            }
            self.compact();
            fill(conn, &mut self.raw).await?;
        }
    }

    fn compact(&mut self) {
        self.raw.drain(..self.pos);
        self.pos = 0;
    }
}

async fn read_chunked<S: AsyncRead + Unpin>(
    conn: &mut S,
    r: &mut Pending,
    limit: usize,
) -> Result<Vec<u8>, HttpError> {
    let mut body = Vec::new();
    loop {
        let line = r.line(conn).await?;
        let size = chunk_size(&line)?;
        if size == 0 {
            // Trailers, up to the empty line.
            while !r.line(conn).await?.is_empty() {}
            return Ok(body);
        }
        if size > (limit - body.len()) as u64 {
            return Err(HttpError::TooLarge);
        }
        let mut left = size as usize;
        body.reserve(left);
        while left > 0 {
            if r.pos == r.raw.len() {
                r.raw.clear();
                r.pos = 0;
                fill(conn, &mut r.raw).await?;
            }
            let take = left.min(r.raw.len() - r.pos);
            body.extend_from_slice(&r.raw[r.pos..r.pos + take]);
            r.pos += take;
            left -= take;
        }
        if !r.line(conn).await?.is_empty() {
            return Err(HttpError::Malformed(
                "a chunk is longer than its size".into(),
            ));
        }
    }
}

/// The size of a chunk from its line (`1a2b` or `1a2b;extension`).
fn chunk_size(line: &[u8]) -> Result<u64, HttpError> {
    let digits = line.split(|&b| b == b';').next().unwrap_or_default();
    let digits = std::str::from_utf8(digits).unwrap_or("").trim();
    if digits.is_empty() || digits.len() > 15 {
        return Err(HttpError::Malformed(format!("chunk size {digits:?}")));
    }
    u64::from_str_radix(digits, 16)
        .map_err(|_| HttpError::Malformed(format!("chunk size {digits:?}")))
}

#[cfg(test)]
mod tests {
    use super::*;

    async fn answer(bytes: &[u8], limit: usize) -> Result<(Answer, bool), HttpError> {
        let mut r = bytes;
        read_answer(&mut r, limit).await
    }

    #[test]
    fn targets_parse() {
        let t = Target::parse("https://win-1.example:5986/wsman").unwrap();
        assert!(t.https);
        assert_eq!((t.host.as_str(), t.port), ("win-1.example", 5986));
        assert_eq!(t.authority, "win-1.example:5986");
        assert_eq!(t.path, "/wsman");
        let t = Target::parse("HTTP://[::1]/wsman?x=1").unwrap();
        assert!(!t.https);
        assert_eq!((t.host.as_str(), t.port), ("::1", 80));
        assert_eq!(t.authority, "[::1]");
        assert_eq!(t.path, "/wsman?x=1");
        assert_eq!(Target::parse("https://h").unwrap().path, "/");
        assert!(Target::parse("ftp://h/wsman").is_err());
        assert!(Target::parse("https://u:p@h/wsman").is_err());
        assert!(Target::parse("/wsman").is_err());
    }

    #[test]
    fn header_values_cannot_add_lines() {
        let t = Target::parse("http://h/wsman").unwrap();
        let bad = Transport::new(t, None, &[("User-Agent", "x\r\nEvil: 1")], Duration::ZERO);
        assert!(bad.is_err());
    }

    #[tokio::test]
    async fn content_length_bodies() {
        let (a, reuse) = answer(b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhello", 100)
            .await
            .unwrap();
        assert_eq!(
            (a.status, a.body.as_slice(), reuse),
            (200, &b"hello"[..], true)
        );
        // More than announced: the announced part, and the connection is not reused.
        let (a, reuse) = answer(b"HTTP/1.1 500 X\r\ncontent-length: 2\r\n\r\nabcdef", 100)
            .await
            .unwrap();
        assert_eq!(
            (a.status, a.body.as_slice(), reuse),
            (500, &b"ab"[..], false)
        );
        // Fewer than announced: an error, not a short body.
        assert!(
            answer(b"HTTP/1.1 200 OK\r\nContent-Length: 9\r\n\r\nab", 100)
                .await
                .is_err()
        );
        assert!(matches!(
            answer(b"HTTP/1.1 200 OK\r\nContent-Length: 101\r\n\r\n", 100).await,
            Err(HttpError::TooLarge)
        ));
        assert!(answer(
            b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nContent-Length: 3\r\n\r\nabc",
            100
        )
        .await
        .is_err());
    }

    #[tokio::test]
    async fn chunked_bodies() {
        let raw = b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5;x=y\r\nhello\r\n1\r\n!\r\n0\r\nTrailer: t\r\n\r\n";
        let (a, reuse) = answer(raw, 100).await.unwrap();
        assert_eq!((a.body.as_slice(), reuse), (&b"hello!"[..], true));
        let (_, reuse) = answer(&[&raw[..], b"extra"].concat(), 100).await.unwrap();
        assert!(!reuse, "bytes after the answer");
        assert!(matches!(answer(raw, 5).await, Err(HttpError::TooLarge)));
        for bad in [
            &b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n"[..],
            b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nabc\r\n0\r\n\r\n",
            b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nffffffffffffffffff\r\n",
            b"HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip\r\n\r\n",
            b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhel",
        ] {
            assert!(
                answer(bad, 100).await.is_err(),
                "{}",
                String::from_utf8_lossy(bad)
            );
        }
    }

    #[tokio::test]
    async fn framing_and_reuse() {
        let (a, reuse) = answer(b"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 204 No\r\n\r\n", 10)
            .await
            .unwrap();
        assert_eq!((a.status, a.body.len(), reuse), (204, 0, true));
        let (a, reuse) = answer(b"HTTP/1.1 200 OK\r\n\r\nuntil close", 100)
            .await
            .unwrap();
        assert_eq!((a.body.as_slice(), reuse), (&b"until close"[..], false));
        assert!(matches!(
            answer(b"HTTP/1.1 200 OK\r\n\r\nuntil close", 5).await,
            Err(HttpError::TooLarge)
        ));
        let (_, reuse) = answer(
            b"HTTP/1.1 200 OK\r\nConnection: close\r\nContent-Length: 0\r\n\r\n",
            10,
        )
        .await
        .unwrap();
        assert!(!reuse);
        let (_, reuse) = answer(b"HTTP/1.0 200 OK\r\nContent-Length: 0\r\n\r\n", 10)
            .await
            .unwrap();
        assert!(!reuse);
        assert!(answer(b"SSH-2.0-OpenSSH\r\n\r\n", 10).await.is_err());
        assert!(
            answer(b"HTTP/1.1 200 OK\r\n", 10).await.is_err(),
            "cut short"
        );
    }
}
