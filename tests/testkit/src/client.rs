//! One WebSocket attached to one session, reading frames through the shared cursor.

use std::time::{Duration, Instant};

use anyhow::{anyhow, bail, Context};
use futures::{SinkExt, StreamExt};
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::Message;
use winrelay_shared::cursor::Cursor;
use winrelay_shared::protocol::{ClientMsg, FrameKind, OutputFrame, Role, ServerMsg, Signal};

use crate::T;

type Ws =
    tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

/// How to attach: the socket's URL, its headers and the terminal's size.
#[derive(Debug, Clone)]
pub struct Attach {
    url: String,
    cookie: Option<String>,
    origin: Option<String>,
    cols: u16,
    rows: u16,
    resume_from: Option<u64>,
}

impl Attach {
    /// A socket to `url` (`ws://.../api/sessions/ID/ws`, with any query), 100x30, fresh.
    pub fn new(url: impl Into<String>) -> Attach {
        Attach {
            url: url.into(),
            cookie: None,
            origin: None,
            cols: 100,
            rows: 30,
            resume_from: None,
        }
    }

    /// The `cookie` header.
    pub fn cookie(mut self, cookie: &str) -> Attach {
        self.cookie = Some(cookie.into());
        self
    }

    /// The `origin` header (browsers send one; the relay refuses foreign ones).
    pub fn origin(mut self, origin: &str) -> Attach {
        self.origin = Some(origin.into());
        self
    }

    /// The terminal size sent in `hello`.
    pub fn size(mut self, cols: u16, rows: u16) -> Attach {
        self.cols = cols;
        self.rows = rows;
        self
    }

    /// A client that already has everything below `offset` (`None`: a fresh client).
    pub fn resume_from(mut self, offset: Option<u64>) -> Attach {
        self.resume_from = offset;
        self
    }
}

/// What one read brought (see [`Client::try_pump`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Read {
    /// Nothing within the timeout.
    Timeout,
    /// A binary frame with this many payload bytes.
    Frame {
        /// Payload bytes (all of them, even any the cursor trimmed).
        len: usize,
        /// Whether it was a snapshot.
        snapshot: bool,
    },
    /// A control message, now last in [`Client::messages`].
    Message,
    /// A ping or pong of the WebSocket itself.
    Other,
    /// The socket closed (a close frame, an error, or the end of the stream).
    Closed,
}

/// A protocol client: keeps what it received as a terminal shows it, and acknowledges
/// what it rendered (at once: it renders synchronously) as the shared [`Cursor`] says.
pub struct Client {
    /// The socket; `None` after [`Client::disconnect`].
    ws: Option<Ws>,
    /// Where the client is in the session's output; it survives [`Client::reconnect`].
    pub cursor: Cursor,
    /// Bytes received, as a terminal shows them: a reset (snapshot) starts it over.
    /// Shell-integration marks (OSC 133), which a terminal does not show, are left out; see
    /// [`Client::raw`].
    pub screen: Vec<u8>,
    /// The same with the OSC 133 marks ([`Client::wait_for_raw`], [`Client::raw_text`]).
    pub raw: Vec<u8>,
    /// The start of a mark split across frames.
    pending_mark: Vec<u8>,
    /// Keep only the last this many bytes of [`Client::screen`] (for long streams).
    pub screen_limit: Option<usize>,
    /// Every control message received, in order.
    pub messages: Vec<ServerMsg>,
    /// Snapshots received.
    pub snapshots: usize,
    /// Output bytes received (snapshots not included).
    pub output_bytes: u64,
    /// Whether to send the acks the cursor asks for (a client that stops reading and
    /// acknowledging: false).
    pub auto_ack: bool,
    /// Offset of the first output frame this client received.
    pub first_offset: Option<u64>,
    attach: Attach,
    /// Bumped whenever bytes leave the front of the screen (a reset, the limit), so
    /// searches know where to look again.
    screen_epoch: u64,
}

impl Client {
    /// Attaches: opens the socket and sends `hello`. The welcome and everything after it
    /// are read by the pump.
    pub async fn attach(attach: Attach) -> Result<Client, tokio_tungstenite::tungstenite::Error> {
        let cursor = match attach.resume_from {
            Some(n) => Cursor::resuming(n),
            None => Cursor::new(),
        };
        let ws = open(&attach, &cursor).await?;
        Ok(Client {
            ws: Some(ws),
            cursor,
            screen: Vec::new(),
            raw: Vec::new(),
            pending_mark: Vec::new(),
            screen_limit: None,
            messages: Vec::new(),
            snapshots: 0,
            output_bytes: 0,
            auto_ack: true,
            first_offset: None,
            attach,
            screen_epoch: 0,
        })
    }

    /// Attaches to `url` with a cookie; panics if the upgrade fails.
    pub async fn connect(url: &str, cookie: Option<&str>, resume_from: Option<u64>) -> Client {
        Client::connect_with(url, cookie, None, resume_from)
            .await
            .expect("websocket upgrade")
    }

    /// Attaches to `url` with a cookie and an origin.
    pub async fn connect_with(
        url: &str,
        cookie: Option<&str>,
        origin: Option<&str>,
        resume_from: Option<u64>,
    ) -> Result<Client, tokio_tungstenite::tungstenite::Error> {
        let mut a = Attach::new(url).resume_from(resume_from);
        if let Some(c) = cookie {
            a = a.cookie(c);
        }
        if let Some(o) = origin {
            a = a.origin(o);
        }
        Client::attach(a).await
    }

    /// A new socket for the same client (an old one is dropped without a close frame:
    /// [`Client::close`] first for a clean goodbye). The `hello` resumes where the cursor
    /// is; control messages of the old socket are forgotten.
    pub async fn reconnect(&mut self) -> anyhow::Result<()> {
        self.ws = None;
        self.ws = Some(open(&self.attach, &self.cursor).await?);
        self.messages.clear();
        Ok(())
    }

    /// A new socket through another URL (a load balancer sending the next connection to
    /// another relay of a cluster), resuming where the cursor is; what was received stays.
    pub async fn reconnect_to(&mut self, attach: Attach) -> anyhow::Result<()> {
        self.attach = attach;
        self.reconnect().await
    }

    /// Sends a close frame (the socket stays, to read the rest).
    pub async fn close(&mut self) {
        if let Some(ws) = &mut self.ws {
            let _ = ws.close(None).await;
        }
    }

    /// Drops the socket without a close frame, as a client that vanishes.
    pub fn disconnect(&mut self) {
        self.ws = None;
    }

    /// The socket, to send what the helpers do not (broken frames, raw text). Panics after
    /// [`Client::disconnect`].
    pub fn ws(&mut self) -> &mut Ws {
        self.ws
            .as_mut()
            .expect("the client is disconnected: reconnect first")
    }

    /// Everything below this offset was received.
    pub fn pos(&self) -> u64 {
        self.cursor.offset()
    }

    /// Sends a message; panics if the socket is gone.
    pub async fn send(&mut self, msg: &ClientMsg) {
        self.try_send(msg).await.unwrap();
    }

    /// Sends a message.
    pub async fn try_send(&mut self, msg: &ClientMsg) -> anyhow::Result<()> {
        let ws = self.ws.as_mut().context("the client is disconnected")?;
        ws.send(Message::Text(msg.to_json().into())).await?;
        Ok(())
    }

    /// Types `text`.
    pub async fn input(&mut self, text: &str) {
        self.send(&ClientMsg::Input { data: text.into() }).await;
    }

    /// Types `text`.
    pub async fn try_input(&mut self, text: &str) -> anyhow::Result<()> {
        self.try_send(&ClientMsg::Input { data: text.into() }).await
    }

    /// Resizes the terminal.
    pub async fn resize(&mut self, cols: u16, rows: u16) {
        self.send(&ClientMsg::Resize { cols, rows }).await;
    }

    /// Sends a signal to the running command.
    pub async fn signal(&mut self, signal: Signal) {
        self.send(&ClientMsg::Signal { signal }).await;
    }

    /// Sends the ack the cursor has due, if any (for a client with `auto_ack` off).
    pub async fn ack(&mut self) {
        if let Some(ack) = self.cursor.take_ack_msg() {
            self.send(&ack).await;
        }
    }

    /// Reads one message (waiting at most `timeout`); returns false when the socket
    /// closed. Panics on a protocol violation.
    pub async fn pump(&mut self, timeout: Duration) -> bool {
        match self.try_pump(timeout).await {
            Ok(r) => r != Read::Closed,
            Err(e) => panic!("{e:#}"),
        }
    }

    /// Reads one message (waiting at most `timeout`). An error is a protocol violation: a
    /// frame that does not decode or does not continue the stream, an unknown message.
    pub async fn try_pump(&mut self, timeout: Duration) -> anyhow::Result<Read> {
        let Some(ws) = &mut self.ws else {
            return Ok(Read::Closed);
        };
        match tokio::time::timeout(timeout, ws.next()).await {
            Err(_) => Ok(Read::Timeout),
            Ok(msg) => self.handle(msg).await,
        }
    }

    /// Reads one message, however long it takes.
    pub async fn try_read(&mut self) -> anyhow::Result<Read> {
        let Some(ws) = &mut self.ws else {
            return Ok(Read::Closed);
        };
        let msg = ws.next().await;
        self.handle(msg).await
    }

    async fn handle(
        &mut self,
        msg: Option<Result<Message, tokio_tungstenite::tungstenite::Error>>,
    ) -> anyhow::Result<Read> {
        let Some(Ok(msg)) = msg else {
            return Ok(Read::Closed);
        };
        match msg {
            Message::Binary(b) => {
                let f = OutputFrame::decode(&b)
                    .ok_or_else(|| anyhow!("undecodable binary frame of {} bytes", b.len()))?;
                let step = self.cursor.receive_frame(&f)?;
                if let Some(v) = step.overlap {
                    bail!("{v}: the relay must resume exactly");
                }
                match f.kind {
                    FrameKind::Output => {
                        self.first_offset.get_or_insert(f.offset);
                        self.output_bytes += f.data.len() as u64;
                    }
                    FrameKind::Snapshot => self.snapshots += 1,
                }
                if step.reset {
                    self.screen.clear();
                    self.raw.clear();
                    self.pending_mark.clear();
                    self.screen_epoch += 1;
                }
                let bytes = step.bytes(f.data);
                self.raw.extend_from_slice(bytes);
                let mut shown = std::mem::take(&mut self.pending_mark);
                shown.extend_from_slice(bytes);
                let (visible, pending) = strip_marks(&shown);
                self.pending_mark = pending;
                self.screen.extend_from_slice(&visible);
                if let Some(limit) = self.screen_limit {
                    if self.screen.len() > limit {
                        self.screen.drain(..self.screen.len() - limit);
                        self.screen_epoch += 1;
                    }
                    if self.raw.len() > limit {
                        self.raw.drain(..self.raw.len() - limit);
                    }
                }
                self.cursor.rendered(step.end);
                if self.auto_ack {
                    if let Some(ack) = self.cursor.take_ack_msg() {
                        self.try_send(&ack).await?;
                    }
                }
                Ok(Read::Frame {
                    len: f.data.len(),
                    snapshot: f.kind == FrameKind::Snapshot,
                })
            }
            Message::Text(t) => {
                let m = ServerMsg::from_json(&t)
                    .with_context(|| format!("not a server message: {t}"))?;
                if let ServerMsg::Welcome { resumed, .. } = m {
                    self.cursor.welcome(resumed);
                }
                self.messages.push(m);
                Ok(Read::Message)
            }
            Message::Close(_) => Ok(Read::Closed),
            _ => Ok(Read::Other),
        }
    }

    /// Whether the screen holds `needle`.
    pub fn has(&self, needle: &[u8]) -> bool {
        find(&self.screen, needle, 0)
    }

    /// Reads until the output with its OSC 133 marks holds `needle`.
    pub async fn wait_for_raw(&mut self, needle: &str, within: Duration) {
        let deadline = Instant::now() + within;
        loop {
            if find(&self.raw, needle.as_bytes(), 0) {
                return;
            }
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                panic!(
                    "did not see {needle:?} within {within:?}; got:\n{:?}",
                    self.raw_text()
                );
            }
            match self.try_pump(left.min(Duration::from_millis(200))).await {
                Ok(Read::Closed) | Err(_) => {
                    if find(&self.raw, needle.as_bytes(), 0) {
                        return;
                    }
                    panic!(
                        "the socket closed before {needle:?}; got:\n{:?}",
                        self.raw_text()
                    );
                }
                Ok(_) => {}
            }
        }
    }

    /// The output with its OSC 133 marks, as text.
    pub fn raw_text(&self) -> String {
        String::from_utf8_lossy(&self.raw).into_owned()
    }

    /// Reads until the screen holds `needle` (anywhere, also before the call).
    pub async fn wait_for(&mut self, needle: &str, within: Duration) {
        if let Err(e) = self.try_wait_for(needle.as_bytes(), within).await {
            panic!("{e:#}; got:\n{:?}", self.text());
        }
    }

    /// Reads until the screen holds `needle`.
    pub async fn try_wait_for(&mut self, needle: &[u8], within: Duration) -> anyhow::Result<()> {
        let deadline = Instant::now() + within;
        let mut from = 0;
        let mut epoch = self.screen_epoch;
        loop {
            if epoch != self.screen_epoch {
                (from, epoch) = (0, self.screen_epoch);
            }
            if find(&self.screen, needle, from) {
                return Ok(());
            }
            // Only the bytes that come next are new: search them (and a needle's length
            // before them) next time.
            from = self.screen.len().saturating_sub(needle.len());
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                bail!(
                    "did not see {:?} within {within:?}",
                    String::from_utf8_lossy(needle)
                );
            }
            if self.try_pump(left.min(Duration::from_millis(200))).await? == Read::Closed {
                bail!(
                    "the socket closed before {:?}",
                    String::from_utf8_lossy(needle)
                );
            }
        }
    }

    /// Reads until everything below `offset` was received.
    pub async fn try_wait_offset(&mut self, offset: u64, within: Duration) -> anyhow::Result<()> {
        let deadline = Instant::now() + within;
        while self.pos() < offset {
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                bail!("stopped at offset {} before {offset}", self.pos());
            }
            if self.try_pump(left.min(Duration::from_millis(200))).await? == Read::Closed {
                bail!(
                    "the socket closed at offset {}, before {offset}",
                    self.pos()
                );
            }
        }
        Ok(())
    }

    /// Waits for `welcome`: (client id, role, resumed).
    pub async fn welcome(&mut self) -> (u64, Role, bool) {
        match self
            .wait_msg(T, |m| matches!(m, ServerMsg::Welcome { .. }))
            .await
        {
            ServerMsg::Welcome {
                client_id,
                role,
                resumed,
                ..
            } => (client_id, role, resumed),
            _ => unreachable!(),
        }
    }

    /// The role the relay gave this client.
    pub async fn role(&mut self) -> Role {
        self.welcome().await.1
    }

    /// Reads until a server message matches (one received before the call counts).
    pub async fn wait_msg(
        &mut self,
        within: Duration,
        pred: impl Fn(&ServerMsg) -> bool,
    ) -> ServerMsg {
        match self.try_wait_msg(within, pred).await {
            Ok(m) => m,
            Err(e) => panic!("{e:#}; messages: {:?}", self.messages),
        }
    }

    /// Reads until a server message matches.
    pub async fn try_wait_msg(
        &mut self,
        within: Duration,
        pred: impl Fn(&ServerMsg) -> bool,
    ) -> anyhow::Result<ServerMsg> {
        let deadline = Instant::now() + within;
        loop {
            if let Some(m) = self.messages.iter().find(|m| pred(m)) {
                return Ok(m.clone());
            }
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                bail!("no matching message within {within:?}");
            }
            if self.try_pump(left.min(Duration::from_millis(200))).await? == Read::Closed {
                if let Some(m) = self.messages.iter().find(|m| pred(m)) {
                    return Ok(m.clone());
                }
                bail!("the socket closed before a matching message");
            }
        }
    }

    /// Reads until the relay says `bye`: (reason, reconnect).
    pub async fn wait_bye(&mut self, within: Duration) -> (String, bool) {
        match self
            .wait_msg(within, |m| matches!(m, ServerMsg::Bye { .. }))
            .await
        {
            ServerMsg::Bye { reason, reconnect } => (reason, reconnect),
            _ => unreachable!(),
        }
    }

    /// The screen as text.
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.screen).into_owned()
    }

    /// Reads whatever arrives for `d`.
    pub async fn drain(&mut self, d: Duration) {
        if let Err(e) = self.try_drain(d).await {
            panic!("{e:#}");
        }
    }

    /// Reads whatever arrives for `d`; stops early when the socket closes.
    pub async fn try_drain(&mut self, d: Duration) -> anyhow::Result<()> {
        let deadline = Instant::now() + d;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero()
                || self.try_pump(left.min(Duration::from_millis(50))).await? == Read::Closed
            {
                return Ok(());
            }
        }
    }
}

/// Opens a socket and says hello where the cursor is.
async fn open(a: &Attach, cursor: &Cursor) -> Result<Ws, tokio_tungstenite::tungstenite::Error> {
    let mut req = a.url.as_str().into_client_request()?;
    let headers = req.headers_mut();
    for (name, value) in [("cookie", &a.cookie), ("origin", &a.origin)] {
        if let Some(v) = value {
            let v = v.parse().map_err(|_| {
                tokio_tungstenite::tungstenite::Error::Url(
                    tokio_tungstenite::tungstenite::error::UrlError::UnableToConnect(format!(
                        "{name} header {v:?} is not a header value"
                    )),
                )
            })?;
            headers.insert(name, v);
        }
    }
    // TCP_NODELAY, as browsers set it: with Nagle's algorithm an ack followed by a keystroke
    // waits for the peer's delayed ACK (about 40 ms).
    let (mut ws, _) = tokio_tungstenite::connect_async_with_config(req, None, true).await?;
    let hello = cursor.hello(a.cols, a.rows, None);
    ws.send(Message::Text(hello.to_json().into())).await?;
    Ok(ws)
}

fn find(hay: &[u8], needle: &[u8], from: usize) -> bool {
    needle.is_empty()
        || hay
            .get(from.min(hay.len())..)
            .is_some_and(|h| h.windows(needle.len()).any(|w| w == needle))
}

/// `bytes` without OSC 133 marks (`ESC ] 133 ; ... BEL` or `... ESC \\`), and an unfinished
/// mark (or the start of one) at the end, kept for the next frame.
fn strip_marks(bytes: &[u8]) -> (Vec<u8>, Vec<u8>) {
    const START: &[u8] = b"\x1b]133;";
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let rest = &bytes[i..];
        if rest.starts_with(START) {
            // The first terminator ends it, BEL or ST: a BEL further on belongs to a later
            // mark (an ST-terminated mark must not swallow the output after it).
            let end = rest.iter().enumerate().find_map(|(p, &b)| match b {
                0x07 => Some(p + 1),
                0x1b if rest.get(p + 1) == Some(&b'\\') => Some(p + 2),
                _ => None,
            });
            match end {
                Some(n) => i += n,
                None => return (out, rest.to_vec()),
            }
        } else if rest.len() < START.len() && START.starts_with(rest) {
            return (out, rest.to_vec());
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    (out, Vec::new())
}

#[cfg(test)]
mod tests {
    use super::strip_marks;

    #[test]
    fn an_st_terminated_mark_keeps_the_output_after_it() {
        let (shown, pending) = strip_marks(b"\x1b]133;C\x1b\\out\r\n\x1b]133;D;1\x07> \x1b]133;B");
        assert_eq!(shown, b"out\r\n> ");
        assert_eq!(pending, b"\x1b]133;B");
    }
}
