//! TLS under the transport, on rustls' unbuffered API: this file owns the buffers, so a
//! connection that waits for an answer holds none.
//!
//! `tokio_rustls` (rustls' buffered `ClientConnection`) keeps a 4 KiB receive buffer in every
//! connection for as long as it lives, and every relay session keeps one connection waiting
//! on its long-poll Receive: 4 KiB of the 16 KiB an idle session may cost (issue 18). Here
//! received TLS bytes and decrypted plaintext live in buffers that [`TlsStream::release`]
//! frees once an answer has been read, and a request is encrypted into a buffer freed once
//! it is written.

use std::io;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{ready, Context, Poll};

use rustls::client::UnbufferedClientConnection;
use rustls::pki_types::ServerName;
use rustls::unbuffered::{ConnectionState, EncodeError, EncryptError};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::TcpStream;

/// Room for a whole TLS record (16 KiB of payload plus header, padding and tag) per read.
const RECORD_ROOM: usize = 16 * 1024 + 512;

/// A TLS client connection over TCP.
pub(crate) struct TlsStream {
    tcp: TcpStream,
    conn: UnbufferedClientConnection,
    /// TLS bytes received and not processed yet.
    incoming: Vec<u8>,
    /// TLS bytes to send; `sent` of them are sent.
    outgoing: Vec<u8>,
    sent: usize,
    /// Plaintext decrypted and not read yet, from `taken` on.
    plain: Vec<u8>,
    taken: usize,
    /// The peer closed (close_notify or end of stream): reads return end of stream.
    eof: bool,
}

fn tls_error(e: rustls::Error) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, e)
}

/// What the record layer needs before it can go on.
enum Next {
    /// Process the buffers again.
    Again,
    /// More bytes from the peer.
    Read,
    /// The connection can carry application data (the handshake is complete).
    Traffic,
    /// The peer closed the connection.
    Closed,
}

impl TlsStream {
    /// Connects: the handshake over `tcp`, checked by `config`'s verifier.
    pub async fn connect(
        config: Arc<rustls::ClientConfig>,
        name: ServerName<'static>,
        tcp: TcpStream,
    ) -> io::Result<TlsStream> {
        let conn = UnbufferedClientConnection::new(config, name).map_err(tls_error)?;
        let mut s = TlsStream {
            tcp,
            conn,
            incoming: Vec::new(),
            outgoing: Vec::new(),
            sent: 0,
            plain: Vec::new(),
            taken: 0,
            eof: false,
        };
        std::future::poll_fn(|cx| s.poll_handshake(cx)).await?;
        s.release();
        Ok(s)
    }

    /// The TCP connection under it (for readiness, and to see whether it is still quiet).
    pub fn tcp(&self) -> &TcpStream {
        &self.tcp
    }

    /// Bytes received and not read yet (TLS or plaintext).
    pub fn has_buffered(&self) -> bool {
        !self.incoming.is_empty() || self.taken < self.plain.len()
    }

    /// Frees the buffers that hold nothing: called when an answer has been read.
    pub fn release(&mut self) {
        if self.incoming.is_empty() {
            self.incoming = Vec::new();
        }
        if self.taken == self.plain.len() {
            self.plain = Vec::new();
            self.taken = 0;
        }
        if self.sent == self.outgoing.len() {
            self.outgoing = Vec::new();
            self.sent = 0;
        }
    }

    fn poll_handshake(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        loop {
            match ready!(self.poll_step(cx, None))? {
                Next::Again => {}
                Next::Read => {
                    ready!(self.poll_fill(cx))?;
                    if self.eof {
                        return Poll::Ready(Err(io::Error::new(
                            io::ErrorKind::UnexpectedEof,
                            "the server closed the connection during the TLS handshake",
                        )));
                    }
                }
                Next::Traffic => return Poll::Ready(Ok(())),
                Next::Closed => {
                    return Poll::Ready(Err(io::Error::new(
                        io::ErrorKind::UnexpectedEof,
                        "the server closed the connection during the TLS handshake",
                    )))
                }
            }
        }
    }

    /// One turn of the record layer: sends what it has to send, keeps the plaintext it
    /// decrypted, and says what it needs next. With `data`, encrypts it once the connection
    /// can carry application data (then answers `Traffic`).
    fn poll_step(&mut self, cx: &mut Context<'_>, data: Option<&[u8]>) -> Poll<io::Result<Next>> {
        // Whatever was encoded goes out before anything else happens.
        ready!(self.poll_send(cx))?;
        let status = self.conn.process_tls_records(&mut self.incoming);
        let mut discard = status.discard;
        let next = match status.state.map_err(tls_error)? {
            ConnectionState::ReadTraffic(mut records) => {
                while let Some(record) = records.next_record() {
                    let record = record.map_err(tls_error)?;
                    discard += record.discard;
                    if self.taken == self.plain.len() {
                        self.plain.clear();
                        self.taken = 0;
                    }
                    self.plain.extend_from_slice(record.payload);
                }
                Next::Again
            }
            ConnectionState::EncodeTlsData(mut encode) => {
                let written = append_encoded(&mut self.outgoing, 1024, |buf| {
                    encode.encode(buf).map_err(|e| match e {
                        EncodeError::InsufficientSize(e) => Grow::To(e.required_size),
                        e => Grow::Fail(e.to_string()),
                    })
                });
                if let Err(e) = written {
                    return Poll::Ready(Err(e));
                }
                Next::Again
            }
            ConnectionState::TransmitTlsData(transmit) => {
                // poll_send above sent all that was encoded.
                transmit.done();
                Next::Again
            }
            ConnectionState::BlockedHandshake => Next::Read,
            ConnectionState::WriteTraffic(mut traffic) => {
                if let Some(data) = data {
                    let room = data.len() + data.len() / 64 + 256;
                    let written = append_encoded(&mut self.outgoing, room, |buf| {
                        traffic.encrypt(data, buf).map_err(|e| match e {
                            EncryptError::InsufficientSize(e) => Grow::To(e.required_size),
                            e => Grow::Fail(e.to_string()),
                        })
                    });
                    if let Err(e) = written {
                        return Poll::Ready(Err(e));
                    }
                }
                Next::Traffic
            }
            ConnectionState::PeerClosed | ConnectionState::Closed => Next::Closed,
            _ => {
                return Poll::Ready(Err(io::Error::other(
                    "unexpected TLS state on a client connection",
                )))
            }
        };
        self.incoming.drain(..discard);
        Poll::Ready(Ok(next))
    }

    /// Writes out what is in `outgoing`.
    fn poll_send(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        while self.sent < self.outgoing.len() {
            let n = ready!(Pin::new(&mut self.tcp).poll_write(cx, &self.outgoing[self.sent..]))?;
            if n == 0 {
                return Poll::Ready(Err(io::ErrorKind::WriteZero.into()));
            }
            self.sent += n;
        }
        self.outgoing.clear();
        self.sent = 0;
        Poll::Ready(Ok(()))
    }

    /// Reads more TLS bytes from the peer; the end of the stream sets `eof`.
    fn poll_fill(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        if self.incoming.capacity() - self.incoming.len() < RECORD_ROOM / 4 {
            self.incoming.reserve(RECORD_ROOM);
        }
        loop {
            ready!(self.tcp.poll_read_ready(cx))?;
            match self.tcp.try_read_buf(&mut self.incoming) {
                Ok(0) => {
                    self.eof = true;
                    return Poll::Ready(Ok(()));
                }
                Ok(_) => return Poll::Ready(Ok(())),
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => continue,
                Err(e) => return Poll::Ready(Err(e)),
            }
        }
    }
}

/// Why rustls could not write a record into the room it was given.
enum Grow {
    /// It needs this much room.
    To(usize),
    /// It failed.
    Fail(String),
}

/// Appends what `write` puts into the room it is given (`room` bytes at first, more when it
/// asks) to `out`; on failure `out` is as it was.
fn append_encoded(
    out: &mut Vec<u8>,
    mut room: usize,
    mut write: impl FnMut(&mut [u8]) -> Result<usize, Grow>,
) -> io::Result<()> {
    let start = out.len();
    loop {
        out.resize(start + room, 0);
        match write(&mut out[start..]) {
            Ok(n) => {
                out.truncate(start + n);
                return Ok(());
            }
            Err(Grow::To(need)) => room = need,
            Err(Grow::Fail(e)) => {
                out.truncate(start);
                return Err(io::Error::other(e));
            }
        }
    }
}

impl AsyncRead for TlsStream {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let s = self.get_mut();
        loop {
            if s.taken < s.plain.len() {
                let n = buf.remaining().min(s.plain.len() - s.taken);
                buf.put_slice(&s.plain[s.taken..s.taken + n]);
                s.taken += n;
                return Poll::Ready(Ok(()));
            }
            if s.eof {
                return Poll::Ready(Ok(()));
            }
            match ready!(s.poll_step(cx, None))? {
                Next::Again => {}
                // Application data comes when the peer sends it: wait for more bytes.
                Next::Read | Next::Traffic => {
                    let before = s.incoming.len();
                    ready!(s.poll_fill(cx))?;
                    if s.eof && s.incoming.len() == before {
                        // The end of the stream without close_notify: no more data either.
                        return Poll::Ready(Ok(()));
                    }
                }
                Next::Closed => s.eof = true,
            }
        }
    }
}

impl AsyncWrite for TlsStream {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        let s = self.get_mut();
        // One request at a time: what was encrypted before goes out first.
        ready!(s.poll_send(cx))?;
        loop {
            match ready!(s.poll_step(cx, Some(buf)))? {
                Next::Again => {}
                Next::Traffic => return Poll::Ready(Ok(buf.len())),
                Next::Read => {
                    ready!(s.poll_fill(cx))?;
                    if s.eof {
                        return Poll::Ready(Err(io::ErrorKind::BrokenPipe.into()));
                    }
                }
                Next::Closed => return Poll::Ready(Err(io::ErrorKind::BrokenPipe.into())),
            }
        }
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let s = self.get_mut();
        ready!(s.poll_send(cx))?;
        if s.outgoing.capacity() > 0 {
            s.outgoing = Vec::new();
        }
        Pin::new(&mut s.tcp).poll_flush(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let s = self.get_mut();
        ready!(s.poll_send(cx))?;
        Pin::new(&mut s.tcp).poll_shutdown(cx)
    }
}
