//! The client's side of the output stream, without I/O: where the terminal is in the
//! session's output, what to do with each binary frame, when to acknowledge, and where to
//! resume after a reconnect.
//!
//! A [`Cursor`] lives as long as the client's terminal, across sockets. Its caller owns the
//! socket and the terminal and tells the cursor what happened:
//!
//! 1. Every socket starts with `hello { resume_from: cursor.resume_from() }`
//!    ([`Cursor::hello`] builds it), and the relay's `welcome` goes to [`Cursor::welcome`].
//! 2. Every binary frame goes to [`Cursor::receive`] (or [`Cursor::receive_frame`]), which
//!    answers with a [`Step`]: which bytes of the payload to write and whether to reset the
//!    terminal first; or with a [`Violation`] when the frame does not continue the stream.
//! 3. Once the terminal has parsed a step's bytes, [`Cursor::rendered`] with [`Step::end`]:
//!    at once for a terminal that renders synchronously, from the write callback for one
//!    that does not (xterm.js). Then [`Cursor::take_ack`] says whether an `ack` is due.
//!
//! What the relay guarantees (`backend/src/ws.rs`), and so what the cursor checks:
//!
//! * Output frames continue exactly where the previous one ended, from the `resume_from`
//!   offset on when `welcome` says `resumed: true`. A frame that starts later (a **gap**) is
//!   refused with [`Violation::Gap`] and leaves the cursor as it was: the bytes in between
//!   are missing, and the way to get them is a new socket resuming at
//!   [`Cursor::resume_from`]. A frame that starts earlier (an **overlap**) never comes from
//!   the relay either; should one come anyway, the bytes the terminal has already are
//!   trimmed ([`Step::skip`]) so nothing is shown twice, and [`Step::overlap`] reports it.
//! * A snapshot frame repaints a reset terminal and stands for everything below its offset.
//!   It comes first for a client that did not resume (`resumed: false`), and at any time for
//!   a client that fell out of the session's log.
//! * After `resumed: false` the stream starts over wherever the relay says: with a snapshot,
//!   or with output from offset 0 when the log still holds the whole session. A terminal that
//!   shows older output is then reset first.
//! * The relay sends at most [`WINDOW`] bytes beyond the last acknowledged offset, and acks
//!   on an earlier socket count for nothing on a new one.
//!
//! The cursor does no I/O and reads no clock, and compiles for wasm32 as for the host.
//!
//! A client whose terminal renders at once (the test kit's does):
//!
//! ```
//! use winrelay_shared::cursor::Cursor;
//! use winrelay_shared::protocol::{ClientMsg, FrameKind, OutputFrame};
//!
//! let mut cursor = Cursor::new();
//! let mut screen = Vec::new();
//! // hello { resume_from: None }, then the relay's welcome { resumed: false, .. }
//! assert!(matches!(cursor.hello(80, 24, None), ClientMsg::Hello { resume_from: None, .. }));
//! cursor.welcome(false);
//! for bytes in [
//!     OutputFrame { kind: FrameKind::Output, offset: 0, data: b"C:\\> " }.encode(),
//!     OutputFrame { kind: FrameKind::Output, offset: 5, data: b"dir" }.encode(),
//! ] {
//!     let frame = OutputFrame::decode(&bytes).unwrap();
//!     let step = cursor.receive_frame(&frame).expect("the stream continues exactly");
//!     if step.reset {
//!         screen.clear();
//!     }
//!     screen.extend_from_slice(step.bytes(frame.data));
//!     cursor.rendered(step.end);
//!     if let Some(ack) = cursor.take_ack_msg() {
//!         // send `ack` on the socket
//!         assert_eq!(ack, ClientMsg::Ack { offset: step.end });
//!     }
//! }
//! assert_eq!(screen, b"C:\\> dir");
//! // After a reconnect, the next hello resumes exactly there.
//! assert_eq!(cursor.resume_from(), Some(8));
//! ```

use crate::protocol::{ClientMsg, FrameKind, OutputFrame, WINDOW};

/// Acknowledge at least every this many rendered bytes while output keeps streaming in
/// (and whenever the terminal has caught up with everything it was given). An eighth of
/// the window keeps the relay sending while the terminal renders.
pub const ACK_EVERY: u64 = WINDOW / 8;

/// A frame that does not continue the stream where the client is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Violation {
    /// Output started past the client's offset: the bytes `expected..offset` are missing.
    Gap {
        /// Where the stream had to continue.
        expected: u64,
        /// Where the frame started.
        offset: u64,
    },
    /// Output started below the client's offset: the bytes `offset..expected` (or the whole
    /// frame, if shorter) came twice.
    Overlap {
        /// Where the stream had to continue.
        expected: u64,
        /// Where the frame started.
        offset: u64,
    },
}

impl core::fmt::Display for Violation {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self {
            Violation::Gap { expected, offset } => write!(
                f,
                "output frame at offset {offset} after {expected}: {} bytes are missing \
                 (attach again resuming from {expected})",
                offset - expected
            ),
            Violation::Overlap { expected, offset } => write!(
                f,
                "output frame at offset {offset} after {expected}: {} bytes came twice",
                expected - offset
            ),
        }
    }
}

impl core::error::Error for Violation {}

/// What to do with one frame's payload: reset the terminal or not, then write
/// `payload[skip..]` (see [`Step::bytes`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Step {
    /// Reset the terminal before writing: a snapshot, or a stream that starts over.
    pub reset: bool,
    /// Leading payload bytes the terminal already has (an overlap): leave them out.
    pub skip: usize,
    /// How many bytes to write (`payload.len() - skip`).
    pub len: usize,
    /// Stream offset once these bytes are rendered: pass it to [`Cursor::rendered`].
    pub end: u64,
    /// Set when the frame overlapped what the client had; the overlap is trimmed already.
    /// The relay never does this, so a strict client treats it as an error.
    pub overlap: Option<Violation>,
}

impl Step {
    /// The bytes to write out of the frame's payload.
    pub fn bytes<'a>(&self, payload: &'a [u8]) -> &'a [u8] {
        &payload[self.skip.min(payload.len())..]
    }

    /// Whether there is nothing to do for the terminal (a frame it had in full).
    pub fn is_empty(&self) -> bool {
        !self.reset && self.len == 0
    }
}

/// Where the next frame has to start.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Anchor {
    /// Exactly at `received` (after a resumed welcome, or any frame on this socket).
    Exact,
    /// Wherever the relay starts (a fresh client, or after `resumed: false`).
    Open,
}

/// The client's position in a session's output stream (see the [module docs](self)).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Cursor {
    /// Everything below this offset has been handed to the terminal.
    received: u64,
    /// Whether the terminal has any of the session's output, so a reconnect can resume.
    have_output: bool,
    /// Everything below this offset has been rendered by the terminal.
    rendered: u64,
    /// The last acknowledged offset on the current socket.
    acked: u64,
    /// Steps handed out and not rendered yet.
    pending: u32,
    anchor: Anchor,
}

impl Default for Cursor {
    fn default() -> Self {
        Cursor::new()
    }
}

impl Cursor {
    /// A fresh client: no output yet, so the first `hello` asks for the current screen.
    pub fn new() -> Cursor {
        Cursor {
            received: 0,
            have_output: false,
            rendered: 0,
            acked: 0,
            pending: 0,
            anchor: Anchor::Open,
        }
    }

    /// A client that already has (and has rendered) everything below `offset`, for
    /// example from an earlier page: its first `hello` resumes there.
    pub fn resuming(offset: u64) -> Cursor {
        Cursor {
            received: offset,
            have_output: true,
            rendered: offset,
            ..Cursor::new()
        }
    }

    /// The `resume_from` of the next `hello`: `None` until the terminal has any output.
    pub fn resume_from(&self) -> Option<u64> {
        self.have_output.then_some(self.received)
    }

    /// The `hello` that starts a socket.
    pub fn hello(&self, cols: u16, rows: u16, name: Option<String>) -> ClientMsg {
        ClientMsg::Hello {
            resume_from: self.resume_from(),
            cols,
            rows,
            name,
        }
    }

    /// Everything below this offset has been handed to the terminal.
    pub fn offset(&self) -> u64 {
        self.received
    }

    /// Everything below this offset has been rendered (as told by [`Cursor::rendered`]).
    pub fn rendered_offset(&self) -> u64 {
        self.rendered
    }

    /// Steps handed out whose [`Cursor::rendered`] has not come yet.
    pub fn pending(&self) -> u32 {
        self.pending
    }

    /// The relay answered `hello` with `welcome`. `resumed` is its field of that name:
    /// true when the stream continues exactly at [`Cursor::resume_from`].
    ///
    /// Acks on earlier sockets count for nothing now: [`Cursor::take_ack`] reports the
    /// rendered offset again once the terminal has caught up.
    pub fn welcome(&mut self, resumed: bool) {
        self.acked = 0;
        self.anchor = if resumed && self.have_output {
            Anchor::Exact
        } else {
            Anchor::Open
        };
    }

    /// Takes one binary frame (decoded header, `len` payload bytes): what to write, or why
    /// the frame does not fit. A [`Violation`] leaves the cursor unchanged.
    ///
    /// For a caller that keeps the payload elsewhere (the page hands a view of the socket's
    /// buffer to xterm.js without copying it); [`Cursor::receive_frame`] takes the frame.
    pub fn receive(&mut self, kind: FrameKind, offset: u64, len: usize) -> Result<Step, Violation> {
        let step = match kind {
            FrameKind::Snapshot => {
                self.received = offset;
                Step {
                    reset: true,
                    skip: 0,
                    len,
                    end: offset,
                    overlap: None,
                }
            }
            FrameKind::Output => {
                let end = offset + len as u64;
                match self.anchor {
                    Anchor::Open => {
                        // The stream starts (over) here: a terminal with older output
                        // shows this instead of continuing it.
                        let reset = self.have_output;
                        self.received = end;
                        Step {
                            reset,
                            skip: 0,
                            len,
                            end,
                            overlap: None,
                        }
                    }
                    Anchor::Exact if offset > self.received => {
                        return Err(Violation::Gap {
                            expected: self.received,
                            offset,
                        });
                    }
                    Anchor::Exact => {
                        let expected = self.received;
                        let skip = (expected - offset).min(len as u64) as usize;
                        self.received = self.received.max(end);
                        Step {
                            reset: false,
                            skip,
                            len: len - skip,
                            end: self.received,
                            overlap: (offset < expected)
                                .then_some(Violation::Overlap { expected, offset }),
                        }
                    }
                }
            }
        };
        if step.reset {
            // Whatever was rendered belongs to the old screen.
            self.rendered = self.rendered.min(offset);
        }
        self.anchor = Anchor::Exact;
        self.have_output = true;
        self.pending += 1;
        Ok(step)
    }

    /// [`Cursor::receive`] for a decoded frame; write [`Step::bytes`] of `frame.data`.
    pub fn receive_frame(&mut self, frame: &OutputFrame<'_>) -> Result<Step, Violation> {
        self.receive(frame.kind, frame.offset, frame.data.len())
    }

    /// The terminal has parsed a step's bytes: `end` is its [`Step::end`]. Call it once for
    /// every step [`Cursor::receive`] returned, empty ones included, in any order.
    pub fn rendered(&mut self, end: u64) {
        self.pending = self.pending.saturating_sub(1);
        self.rendered = self.rendered.max(end).min(self.received);
    }

    /// The offset to acknowledge now, if an `ack` is due: the terminal rendered
    /// [`ACK_EVERY`] bytes since the last one, or everything it was given. Counts as sent.
    #[must_use = "send the ack: the relay stops after a window of unacknowledged output"]
    pub fn take_ack(&mut self) -> Option<u64> {
        let r = self.rendered;
        let due = r > self.acked && (r - self.acked >= ACK_EVERY || self.pending == 0);
        if due {
            self.acked = r;
        }
        due.then_some(r)
    }

    /// The ack [`Cursor::take_ack`] would send, as a message.
    #[must_use = "send the ack: the relay stops after a window of unacknowledged output"]
    pub fn take_ack_msg(&mut self) -> Option<ClientMsg> {
        self.take_ack().map(|offset| ClientMsg::Ack { offset })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// One thing that happens to a client, in a case table.
    #[derive(Debug, Clone, Copy)]
    enum Ev {
        Welcome(bool),
        Out(u64, usize),
        Snap(u64, usize),
        /// Renders everything pending (a synchronous terminal).
        Render,
    }
    use Ev::*;

    /// What a case expects after each event: the step (or violation) of a frame.
    #[derive(Debug, Clone, Copy, PartialEq, Eq)]
    enum Want {
        Any,
        Append {
            skip: usize,
            len: usize,
        },
        Reset {
            len: usize,
        },
        Gap {
            expected: u64,
            offset: u64,
        },
        Overlap {
            skip: usize,
            len: usize,
            expected: u64,
            offset: u64,
        },
    }

    struct Case {
        name: &'static str,
        start: Option<u64>,
        events: &'static [(Ev, Want)],
        resume_from: Option<u64>,
        offset: u64,
    }

    fn run(case: &Case) {
        let mut c = match case.start {
            None => Cursor::new(),
            Some(n) => Cursor::resuming(n),
        };
        let mut ends = Vec::new();
        for (i, (ev, want)) in case.events.iter().enumerate() {
            let at = format!("{}: event {i} {ev:?}", case.name);
            let got = match *ev {
                Welcome(r) => {
                    c.welcome(r);
                    None
                }
                Out(o, n) => Some(c.receive(FrameKind::Output, o, n)),
                Snap(o, n) => Some(c.receive(FrameKind::Snapshot, o, n)),
                Render => {
                    for e in ends.drain(..) {
                        c.rendered(e);
                    }
                    None
                }
            };
            if let Some(Ok(s)) = got {
                ends.push(s.end);
            }
            let ok = match (*want, got) {
                (Want::Any, _) => true,
                (Want::Append { skip, len }, Some(Ok(s))) => {
                    !s.reset && s.skip == skip && s.len == len && s.overlap.is_none()
                }
                (Want::Reset { len }, Some(Ok(s))) => s.reset && s.skip == 0 && s.len == len,
                (Want::Gap { expected, offset }, Some(Err(v))) => {
                    v == Violation::Gap { expected, offset }
                }
                (
                    Want::Overlap {
                        skip,
                        len,
                        expected,
                        offset,
                    },
                    Some(Ok(s)),
                ) => {
                    s.skip == skip
                        && s.len == len
                        && s.overlap == Some(Violation::Overlap { expected, offset })
                }
                _ => false,
            };
            assert!(ok, "{at}: wanted {want:?}, got {got:?}");
        }
        assert_eq!(
            c.resume_from(),
            case.resume_from,
            "{}: resume_from",
            case.name
        );
        assert_eq!(c.offset(), case.offset, "{}: offset", case.name);
    }

    const A: Want = Want::Any;

    #[test]
    fn frames_give_the_right_steps() {
        let cases = [
            Case {
                name: "a fresh client that has seen nothing does not resume",
                start: None,
                events: &[(Welcome(false), A)],
                resume_from: None,
                offset: 0,
            },
            Case {
                name: "a fresh client whose log starts at 0 gets output from 0",
                start: None,
                events: &[
                    (Welcome(false), A),
                    (Out(0, 10), Want::Append { skip: 0, len: 10 }),
                    (Out(10, 5), Want::Append { skip: 0, len: 5 }),
                ],
                resume_from: Some(15),
                offset: 15,
            },
            Case {
                name: "a fresh client gets a snapshot, then output from its offset",
                start: None,
                events: &[
                    (Welcome(false), A),
                    (Snap(1000, 300), Want::Reset { len: 300 }),
                    (Out(1000, 7), Want::Append { skip: 0, len: 7 }),
                ],
                resume_from: Some(1007),
                offset: 1007,
            },
            Case {
                name: "an empty snapshot still means a resumable client",
                start: None,
                events: &[(Welcome(false), A), (Snap(0, 0), Want::Reset { len: 0 })],
                resume_from: Some(0),
                offset: 0,
            },
            Case {
                name: "a resumed client continues exactly where it was",
                start: Some(500),
                events: &[
                    (Welcome(true), A),
                    (Out(500, 20), Want::Append { skip: 0, len: 20 }),
                ],
                resume_from: Some(520),
                offset: 520,
            },
            Case {
                name: "a resumed client refuses a gap and stays where it was",
                start: Some(500),
                events: &[
                    (Welcome(true), A),
                    (
                        Out(600, 20),
                        Want::Gap {
                            expected: 500,
                            offset: 600,
                        },
                    ),
                    (Out(500, 20), Want::Append { skip: 0, len: 20 }),
                ],
                resume_from: Some(520),
                offset: 520,
            },
            Case {
                name: "a gap on a live stream is refused",
                start: None,
                events: &[
                    (Welcome(false), A),
                    (Out(0, 10), A),
                    (
                        Out(11, 1),
                        Want::Gap {
                            expected: 10,
                            offset: 11,
                        },
                    ),
                ],
                resume_from: Some(10),
                offset: 10,
            },
            Case {
                name: "an overlap after a resume is trimmed and reported",
                start: Some(500),
                events: &[
                    (Welcome(true), A),
                    (
                        Out(490, 20),
                        Want::Overlap {
                            skip: 10,
                            len: 10,
                            expected: 500,
                            offset: 490,
                        },
                    ),
                    (Out(510, 1), Want::Append { skip: 0, len: 1 }),
                ],
                resume_from: Some(511),
                offset: 511,
            },
            Case {
                name: "a frame the client has in full is trimmed to nothing",
                start: None,
                events: &[
                    (Welcome(false), A),
                    (Out(0, 10), A),
                    (
                        Out(2, 5),
                        Want::Overlap {
                            skip: 5,
                            len: 0,
                            expected: 10,
                            offset: 2,
                        },
                    ),
                ],
                resume_from: Some(10),
                offset: 10,
            },
            Case {
                name: "a client that fell behind gets a snapshot mid-stream",
                start: None,
                events: &[
                    (Welcome(false), A),
                    (Out(0, 100), A),
                    (Snap(900_000, 2000), Want::Reset { len: 2000 }),
                    (Out(900_000, 3), Want::Append { skip: 0, len: 3 }),
                ],
                resume_from: Some(900_003),
                offset: 900_003,
            },
            Case {
                name: "a resume the relay refuses starts over with a snapshot",
                start: Some(500),
                events: &[
                    (Welcome(false), A),
                    (Snap(9000, 40), Want::Reset { len: 40 }),
                    (Out(9000, 1), Want::Append { skip: 0, len: 1 }),
                ],
                resume_from: Some(9001),
                offset: 9001,
            },
            Case {
                name: "a resume the relay refuses may start over from 0: the old screen goes",
                start: Some(500),
                events: &[
                    (Welcome(false), A),
                    (Out(0, 30), Want::Reset { len: 30 }),
                    (Out(30, 1), Want::Append { skip: 0, len: 1 }),
                ],
                resume_from: Some(31),
                offset: 31,
            },
            Case {
                name: "a second socket resumes where the first one stopped",
                start: None,
                events: &[
                    (Welcome(false), A),
                    (Out(0, 64), A),
                    (Render, A),
                    (Welcome(true), A),
                    (
                        Out(65, 1),
                        Want::Gap {
                            expected: 64,
                            offset: 65,
                        },
                    ),
                    (Out(64, 1), Want::Append { skip: 0, len: 1 }),
                ],
                resume_from: Some(65),
                offset: 65,
            },
        ];
        for case in &cases {
            run(case);
        }
    }

    #[test]
    fn violations_say_where_and_how_much() {
        let gap = Violation::Gap {
            expected: 10,
            offset: 25,
        };
        assert!(gap.to_string().contains("15 bytes are missing"), "{gap}");
        assert!(gap.to_string().contains("resuming from 10"), "{gap}");
        let overlap = Violation::Overlap {
            expected: 10,
            offset: 4,
        };
        assert!(
            overlap.to_string().contains("6 bytes came twice"),
            "{overlap}"
        );
    }

    #[test]
    fn steps_pick_the_bytes_to_write() {
        let mut c = Cursor::new();
        c.welcome(false);
        let f = OutputFrame {
            kind: FrameKind::Output,
            offset: 0,
            data: b"hello",
        };
        let s = c.receive_frame(&f).unwrap();
        assert_eq!(s.bytes(f.data), b"hello");
        c.rendered(s.end);
        let again = OutputFrame {
            kind: FrameKind::Output,
            offset: 3,
            data: b"lo world",
        };
        let s = c.receive_frame(&again).unwrap();
        assert_eq!(s.bytes(again.data), b" world");
        assert_eq!(s.end, 11);
        assert!(s.overlap.is_some());
        let dup = c.receive(FrameKind::Output, 0, 5).unwrap();
        assert!(dup.is_empty() && dup.bytes(b"hello").is_empty());
        assert!(!c.receive(FrameKind::Snapshot, 11, 0).unwrap().is_empty());
    }

    #[test]
    fn hello_asks_for_what_the_cursor_lacks() {
        let mut c = Cursor::new();
        assert_eq!(
            c.hello(80, 24, None),
            ClientMsg::Hello {
                resume_from: None,
                cols: 80,
                rows: 24,
                name: None
            }
        );
        c.welcome(false);
        let _ = c.receive(FrameKind::Output, 0, 42).unwrap();
        assert!(matches!(
            c.hello(80, 24, None),
            ClientMsg::Hello {
                resume_from: Some(42),
                ..
            }
        ));
    }

    #[test]
    fn a_synchronous_terminal_acks_every_frame() {
        let mut c = Cursor::new();
        c.welcome(false);
        assert_eq!(c.take_ack(), None, "nothing rendered, nothing to ack");
        let mut acks = Vec::new();
        for i in 0..3u64 {
            let s = c.receive(FrameKind::Output, i * 100, 100).unwrap();
            assert_eq!(c.take_ack(), None, "not rendered yet");
            c.rendered(s.end);
            acks.push(c.take_ack());
            assert_eq!(c.take_ack(), None, "an ack is taken once");
        }
        assert_eq!(acks, [Some(100), Some(200), Some(300)]);
        assert_eq!(c.take_ack_msg(), None);
    }

    #[test]
    fn an_asynchronous_terminal_acks_every_eighth_window_then_when_caught_up() {
        // Frames of 16 KiB arrive faster than the terminal renders them: 4 writes behind.
        let mut c = Cursor::new();
        c.welcome(false);
        let frame = 16 * 1024u64;
        let mut ends = std::collections::VecDeque::new();
        let mut acks = Vec::new();
        for i in 0..32u64 {
            ends.push_back(
                c.receive(FrameKind::Output, i * frame, frame as usize)
                    .unwrap()
                    .end,
            );
            if ends.len() > 4 {
                c.rendered(ends.pop_front().unwrap());
                acks.extend(c.take_ack());
            }
        }
        // Until the terminal catches up, acks come every ACK_EVERY bytes exactly.
        assert_eq!(acks.len() as u64, (28 * frame) / ACK_EVERY);
        assert!(acks.iter().all(|a| a % ACK_EVERY == 0), "{acks:?}");
        // The unacknowledged bytes never reach the window: the relay never stalls.
        assert!(32 * frame - acks.last().unwrap() < WINDOW);
        while let Some(e) = ends.pop_front() {
            c.rendered(e);
        }
        assert_eq!(
            c.take_ack(),
            Some(32 * frame),
            "caught up: everything acked"
        );
        assert_eq!(c.pending(), 0);
        assert_eq!(c.rendered_offset(), 32 * frame);
    }

    #[test]
    fn acks_at_window_boundaries() {
        // One frame of exactly a window: acked once rendered, never before.
        let mut c = Cursor::new();
        c.welcome(false);
        let s = c.receive(FrameKind::Output, 0, WINDOW as usize).unwrap();
        assert_eq!(c.take_ack(), None);
        c.rendered(s.end);
        assert_eq!(c.take_ack(), Some(WINDOW));
        // Rendered one byte short of ACK_EVERY with a write still pending: not yet.
        let a = c
            .receive(FrameKind::Output, WINDOW, (ACK_EVERY - 1) as usize)
            .unwrap();
        let b = c.receive(FrameKind::Output, a.end, 1).unwrap();
        c.rendered(a.end);
        assert_eq!(c.take_ack(), None);
        // The byte that completes ACK_EVERY (and the last pending write).
        c.rendered(b.end);
        assert_eq!(c.take_ack(), Some(WINDOW + ACK_EVERY));
    }

    #[test]
    fn a_new_socket_hears_the_rendered_offset_again() {
        let mut c = Cursor::new();
        c.welcome(false);
        let s = c.receive(FrameKind::Output, 0, 10).unwrap();
        c.rendered(s.end);
        assert_eq!(c.take_ack(), Some(10));
        c.welcome(true);
        assert_eq!(
            c.take_ack(),
            Some(10),
            "acks on the old socket count for nothing"
        );
        // A frame still being rendered when the socket changed: the ack waits for it.
        let s = c.receive(FrameKind::Output, 10, 10).unwrap();
        c.welcome(true);
        assert_eq!(c.take_ack(), None);
        c.rendered(s.end);
        assert_eq!(c.take_ack(), Some(20));
    }

    #[test]
    fn a_snapshot_resets_what_counts_as_rendered() {
        let mut c = Cursor::resuming(500);
        c.welcome(false);
        let s = c.receive(FrameKind::Output, 0, 30).unwrap();
        assert!(s.reset);
        assert_eq!(c.rendered_offset(), 0, "the old screen's offsets are gone");
        c.rendered(s.end);
        assert_eq!(c.take_ack(), Some(30));
        // A rendered offset past what was received is never acknowledged.
        c.rendered(1_000_000);
        assert_eq!(c.rendered_offset(), 30);
    }

    #[test]
    fn a_violation_leaves_the_cursor_unchanged() {
        let mut c = Cursor::new();
        c.welcome(false);
        let _ = c.receive(FrameKind::Output, 0, 10).unwrap();
        let before = c.clone();
        assert!(c.receive(FrameKind::Output, 20, 5).is_err());
        assert_eq!(c, before);
    }
}
