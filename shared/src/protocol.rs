//! The WebSocket protocol between the browser (or any client) and the relay.
//!
//! One WebSocket attaches one client to one session (`GET /api/sessions/{id}/ws`).
//!
//! * Text frames carry JSON control messages: [`ClientMsg`] from the client, [`ServerMsg`]
//!   from the relay, each an object with a `"type"` field.
//! * Binary frames from the relay carry terminal bytes: see [`OutputFrame`]. A one-byte kind,
//!   an 8-byte big-endian offset, then the bytes. The offset is the position of the first
//!   byte in the session's output stream, which starts at 0 when the session starts: a client
//!   that has everything below offset N resumes with `hello { resume_from: N }` and gets
//!   exactly the bytes from N on, nothing twice.
//! * Binary frames from the client are refused; input is a typed [`ClientMsg::Input`].
//!
//! Flow control: the client acknowledges the offset up to which the terminal has rendered
//! (`ack`). The relay sends at most [`WINDOW`] bytes beyond the last acknowledged offset;
//! a client that falls further behind than the session keeps in its log gets a screen
//! snapshot instead of the lost bytes.

use serde::{Deserialize, Serialize};

use crate::api::FailureCode;

/// Protocol version, sent in `welcome`; bumped on incompatible changes.
pub const PROTOCOL_VERSION: u32 = 1;

/// Bytes the relay may send beyond the client's last acknowledgement before it waits.
pub const WINDOW: u64 = 256 * 1024;

/// Largest text frame the relay accepts from a client (a paste larger than this must be
/// split by the client into several `input` messages).
pub const MAX_CLIENT_TEXT: usize = 1024 * 1024;

/// Terminal dimensions are clamped to this range by the relay.
pub const MAX_COLS: u16 = 1000;
/// See [`MAX_COLS`].
pub const MAX_ROWS: u16 = 500;

/// A role of a client attached to a session.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    /// Sees output only; input is refused.
    Viewer,
    /// Sees output and types.
    Writer,
    /// Started the session: types, shares and ends it.
    Owner,
}

impl Role {
    /// Whether this role may send input and signals.
    pub fn can_write(self) -> bool {
        !matches!(self, Role::Viewer)
    }
}

/// Signals a client may send to the session's command.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Signal {
    /// Ctrl+C (WinRS `ctrl_c`).
    CtrlC,
    /// Ctrl+Break (WinRS `ctrl_break`).
    CtrlBreak,
}

/// Messages from the client to the relay (JSON text frames).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum ClientMsg {
    /// First message on every socket.
    Hello {
        /// Offset the client already has everything below; `None` for a fresh client, which
        /// gets the current screen then live output.
        #[serde(default)]
        resume_from: Option<u64>,
        /// Terminal width.
        cols: u16,
        /// Terminal height.
        rows: u16,
        /// Display name for presence (the relay may override it with the signed-in user).
        #[serde(default)]
        name: Option<String>,
    },
    /// Keystrokes or pasted text, as xterm.js `onData` produces them.
    Input {
        /// The text.
        data: String,
    },
    /// The terminal was resized.
    Resize {
        /// Columns.
        cols: u16,
        /// Rows.
        rows: u16,
    },
    /// Interrupt or break the running command.
    Signal {
        /// Which signal.
        signal: Signal,
    },
    /// Everything below `offset` has been rendered.
    Ack {
        /// Offset in the output stream.
        offset: u64,
    },
    /// Latency probe; the relay answers `pong` with the same id.
    Ping {
        /// Opaque id chosen by the client.
        id: u64,
    },
    /// A writer's manual switch: the next line typed is hidden (a password the shell cannot
    /// announce, e.g. after `set /p` on a WinRS pipe). Answered with `input_mode`.
    HideNextLine,
}

/// State of the session's remote shell.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "state", rename_all = "snake_case")]
pub enum SessionState {
    /// The relay is opening the WinRS shell.
    Connecting,
    /// The shell runs.
    Connected,
    /// The shell's command ended with this exit code.
    Exited {
        /// Exit code of the remote command.
        code: i32,
        /// Why the relay ended it, when it did (idle timeout, ended by the owner); `None`
        /// when the shell ended by itself.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        reason: Option<String>,
    },
    /// The target went away (shell deleted, container restarted, network down).
    TargetLost {
        /// What went wrong, for programs.
        #[serde(default)]
        code: FailureCode,
        /// What happened and what to do.
        message: String,
    },
    /// Opening the shell failed.
    Failed {
        /// What went wrong, for programs (a page asks again for credentials on
        /// [`FailureCode::WrongCredentials`]).
        #[serde(default)]
        code: FailureCode,
        /// What happened and what to do.
        message: String,
        /// Both fingerprints, with [`FailureCode::CertificateMismatch`].
        #[serde(default, skip_serializing_if = "Option::is_none")]
        fingerprints: Option<crate::api::Fingerprints>,
    },
}

impl SessionState {
    /// True once the shell can no longer take input.
    pub fn is_final(&self) -> bool {
        !matches!(self, SessionState::Connecting | SessionState::Connected)
    }
}

/// One client attached to a session, as others see it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Presence {
    /// Per-session client id.
    pub id: u64,
    /// Display name.
    pub name: String,
    /// Role.
    pub role: Role,
}

/// Machine-readable error codes of [`ServerMsg::Error`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ErrorCode {
    /// The frame was not a valid message.
    BadMessage,
    /// The frame was larger than the relay accepts.
    TooLarge,
    /// The client's role does not allow this (a viewer typing).
    Forbidden,
    /// The session has ended; input is not delivered.
    SessionEnded,
    /// The relay could not deliver input to the target.
    InputFailed,
}

/// Messages from the relay to the client (JSON text frames).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum ServerMsg {
    /// Answer to `hello`.
    Welcome {
        /// [`PROTOCOL_VERSION`].
        version: u32,
        /// The session id.
        session: String,
        /// The target name.
        target: String,
        /// This client's id within the session.
        client_id: u64,
        /// This client's role.
        role: Role,
        /// True when the relay resumes exactly from the client's `resume_from`; false when
        /// it sends a snapshot first (fresh client, or the offset is no longer in the log).
        resumed: bool,
    },
    /// The session's state changed (also sent once after `welcome`).
    Status {
        /// The state.
        #[serde(flatten)]
        state: SessionState,
    },
    /// Who is attached (sent after `welcome` and on every change).
    Presence {
        /// All attached clients, this one included.
        clients: Vec<Presence>,
    },
    /// Something the client sent was refused; the socket and the session carry on.
    Error {
        /// Machine-readable code.
        code: ErrorCode,
        /// What happened, for a person.
        message: String,
    },
    /// Whether typed input is hidden now (sent after `welcome` and on every change): while
    /// hidden, keystrokes are not echoed, logged, recorded or shown to anyone.
    InputMode {
        /// Hidden input is active.
        hidden: bool,
        /// What switched it (`read-host`, `credential`, `password-prompt`, `manual`), for
        /// the page's indicator.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        why: Option<String>,
    },
    /// Answer to `ping`.
    Pong {
        /// The ping's id.
        id: u64,
    },
    /// The relay is closing this socket on purpose (removed by the owner, session ended,
    /// relay shutting down); a client should not reconnect when `reconnect` is false.
    Bye {
        /// Why.
        reason: String,
        /// Whether reconnecting makes sense.
        reconnect: bool,
    },
}

/// Kind byte of a binary frame from the relay.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u8)]
pub enum FrameKind {
    /// Live output: the bytes at `offset..offset+len` of the output stream.
    Output = 0,
    /// A screen snapshot (ANSI bytes that repaint scrollback and screen on a reset
    /// terminal), standing for everything below `offset`.
    Snapshot = 1,
}

/// A decoded binary frame from the relay.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OutputFrame<'a> {
    /// What the bytes are.
    pub kind: FrameKind,
    /// Output-stream offset (see [`FrameKind`]).
    pub offset: u64,
    /// The bytes.
    pub data: &'a [u8],
}

/// Length of the binary frame header.
pub const FRAME_HEADER: usize = 9;

impl<'a> OutputFrame<'a> {
    /// Encodes the frame.
    pub fn encode(&self) -> Vec<u8> {
        let mut v = Vec::with_capacity(FRAME_HEADER + self.data.len());
        v.push(self.kind as u8);
        v.extend_from_slice(&self.offset.to_be_bytes());
        v.extend_from_slice(self.data);
        v
    }

    /// Decodes a frame; `None` when it is too short or of an unknown kind.
    pub fn decode(bytes: &'a [u8]) -> Option<OutputFrame<'a>> {
        if bytes.len() < FRAME_HEADER {
            return None;
        }
        let kind = match bytes[0] {
            0 => FrameKind::Output,
            1 => FrameKind::Snapshot,
            _ => return None,
        };
        let offset = u64::from_be_bytes(bytes[1..FRAME_HEADER].try_into().ok()?);
        Some(OutputFrame {
            kind,
            offset,
            data: &bytes[FRAME_HEADER..],
        })
    }
}

impl ClientMsg {
    /// Parses a text frame from a client.
    pub fn from_json(text: &str) -> Result<ClientMsg, serde_json::Error> {
        serde_json::from_str(text)
    }

    /// Encodes as a text frame.
    pub fn to_json(&self) -> String {
        serde_json::to_string(self).expect("client messages always serialize")
    }
}

impl ServerMsg {
    /// Parses a text frame from the relay.
    pub fn from_json(text: &str) -> Result<ServerMsg, serde_json::Error> {
        serde_json::from_str(text)
    }

    /// Encodes as a text frame.
    pub fn to_json(&self) -> String {
        serde_json::to_string(self).expect("server messages always serialize")
    }
}

/// The HTTP API's types live in [`crate::api`]; this path is kept for existing callers.
pub use crate::api;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn frames_round_trip() {
        let f = OutputFrame {
            kind: FrameKind::Output,
            offset: 1 << 40,
            data: b"hi",
        };
        let bytes = f.encode();
        assert_eq!(bytes.len(), FRAME_HEADER + 2);
        assert_eq!(OutputFrame::decode(&bytes), Some(f));
        assert_eq!(OutputFrame::decode(&bytes[..5]), None);
        let mut bad = bytes.clone();
        bad[0] = 9;
        assert_eq!(OutputFrame::decode(&bad), None);
    }

    #[test]
    fn messages_have_stable_json() {
        let m = ClientMsg::Hello {
            resume_from: Some(5),
            cols: 80,
            rows: 24,
            name: None,
        };
        assert_eq!(
            m.to_json(),
            r#"{"type":"hello","resume_from":5,"cols":80,"rows":24,"name":null}"#
        );
        assert_eq!(
            ClientMsg::from_json(r#"{"type":"hello","cols":80,"rows":24}"#).unwrap(),
            ClientMsg::Hello {
                resume_from: None,
                cols: 80,
                rows: 24,
                name: None
            }
        );
        let s = ServerMsg::Status {
            state: SessionState::Exited {
                code: 3,
                reason: None,
            },
        };
        assert_eq!(
            s.to_json(),
            r#"{"type":"status","state":"exited","code":3}"#
        );
        assert_eq!(ServerMsg::from_json(&s.to_json()).unwrap(), s);
        assert!(ClientMsg::from_json(r#"{"type":"input"}"#).is_err());
        assert!(ClientMsg::from_json(r#"{"type":"nope"}"#).is_err());
        assert!(ClientMsg::from_json("not json").is_err());
        let sig = ClientMsg::Signal {
            signal: Signal::CtrlC,
        };
        assert_eq!(sig.to_json(), r#"{"type":"signal","signal":"ctrl_c"}"#);
    }

    #[test]
    fn roles_order_and_write() {
        assert!(Role::Owner > Role::Writer && Role::Writer > Role::Viewer);
        assert!(!Role::Viewer.can_write());
        assert!(Role::Writer.can_write());
    }
}
