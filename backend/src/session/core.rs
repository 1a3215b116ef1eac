//! The session core: what happens to a session's bytes and clients, as plain code.
//!
//! Keystrokes go through the line discipline; submitted lines go to the remote shell; the
//! shell's output goes through the echo filter and newline translation into the output log.
//! Roles and presence decide who may type. Every call takes the current time where time
//! matters and returns [`Action`]s for the caller to carry out (send to the shell, wake the
//! clients, tell the observers).
//!
//! **Invariant:** this module knows nothing of HTTP, WebSockets, WinRM, tasks or clocks. The
//! [`Session`](super::Session) wraps it in a lock and channels; tests drive it directly with
//! recorded shell output and made-up instants.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use winrelay_shared::line::{Effect, LineConfig, LineDiscipline};
use winrelay_shared::protocol::{ErrorCode, Presence, Role, SessionState, Signal};

use super::echo::{EchoFilter, Newlines};
use super::outlog::{OutputLog, Read};

/// How much of the log's end a snapshot is rendered from (scrollback included).
pub const SNAPSHOT_TAIL: usize = 256 * 1024;

/// Bytes of input lines that may wait for the target before more input is refused.
pub const MAX_PENDING_INPUT: usize = 16 << 20;

/// What a session is, for its core.
#[derive(Debug, Clone)]
pub struct CoreConfig {
    /// Size of the output log.
    pub log_bytes: usize,
    /// The remote shell prints each line it reads (cmd.exe on a pipe): drop that echo.
    pub filter_echo: bool,
    /// Longest command line (cmd.exe cuts at 8191).
    pub max_line_len: usize,
    /// Whether observers want the output bytes ([`Action::Shown`]); without, the core
    /// does not copy them.
    pub observe_bytes: bool,
    /// Initial terminal size.
    pub size: (u16, u16),
}

/// Something the caller must do, in the order given.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Action {
    /// Bytes were appended to the output (only with `observe_bytes`): exactly what the
    /// terminals show.
    Shown(Vec<u8>),
    /// The output grew to this end offset: wake the clients.
    OutputEnd(u64),
    /// A line for the remote shell's input.
    Send(Vec<u8>),
    /// Close the remote shell's input.
    CloseStdin,
    /// A signal for the remote command.
    Signal(Signal),
    /// Keystrokes a client sent that were accepted.
    Input {
        /// The client.
        client: u64,
        /// The keystrokes.
        data: String,
    },
    /// A line a client submitted.
    Line {
        /// The client.
        client: u64,
        /// The line, with its line ending.
        line: String,
    },
    /// The terminal size changed.
    Resized(u16, u16),
    /// A client attached.
    Attached(Client),
    /// A client left.
    Detached(Client),
    /// The set of clients or their roles changed.
    Presence,
    /// The session's state changed.
    State(SessionState),
    /// Close a client's socket (or all, with `None`).
    Kick {
        /// The client, or every client.
        client: Option<u64>,
        /// Why, for the person.
        reason: String,
        /// Whether reconnecting makes sense.
        reconnect: bool,
    },
}

/// An attached client, as the session knows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Client {
    /// What others see.
    pub presence: Presence,
    /// The share link the client came through, if that is what grants its role.
    pub share: Option<String>,
}

/// Why a client's input was not accepted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Refused {
    /// Machine-readable code.
    pub code: ErrorCode,
    /// For a person.
    pub message: String,
}

impl Refused {
    fn new(code: ErrorCode, message: &str) -> Refused {
        Refused {
            code,
            message: message.into(),
        }
    }
}

/// What [`Core::read_output`] found.
#[derive(Debug, PartialEq, Eq)]
pub enum OutputRead {
    /// Output bytes at `offset`.
    Bytes {
        /// Where they start.
        offset: u64,
        /// The bytes.
        data: Vec<u8>,
    },
    /// The screen as of `end`: the client resets its terminal and continues from `end`.
    Snapshot {
        /// The output offset the snapshot stands for.
        end: u64,
        /// ANSI bytes.
        data: Vec<u8>,
    },
}

/// The state of one session, without I/O.
pub struct Core {
    log: OutputLog,
    size: (u16, u16),
    line: LineDiscipline,
    state: SessionState,
    clients: BTreeMap<u64, Client>,
    next_client: u64,
    last_active: Instant,
    pending_input: usize,
    echo: Option<EchoFilter>,
    newlines: Newlines,
    observe_bytes: bool,
}

impl Core {
    /// A session that is opening its shell.
    pub fn new(config: CoreConfig, now: Instant) -> Core {
        let mut line = LineDiscipline::new(LineConfig {
            max_line_len: config.max_line_len,
            ..LineConfig::default()
        });
        let size = (config.size.0.max(1), config.size.1.max(1));
        line.set_columns(Some(size.0));
        Core {
            log: OutputLog::new(config.log_bytes),
            size,
            line,
            state: SessionState::Connecting,
            clients: BTreeMap::new(),
            next_client: 0,
            last_active: now,
            pending_input: 0,
            echo: config.filter_echo.then(EchoFilter::default),
            newlines: Newlines::default(),
            observe_bytes: config.observe_bytes,
        }
    }

    /// The state.
    pub fn state(&self) -> &SessionState {
        &self.state
    }

    /// The terminal size snapshots are rendered for.
    pub fn size(&self) -> (u16, u16) {
        self.size
    }

    /// Attached clients, as others see them.
    pub fn presence(&self) -> Vec<Presence> {
        self.clients.values().map(|c| c.presence.clone()).collect()
    }

    /// The role of an attached client.
    pub fn role_of(&self, client: u64) -> Option<Role> {
        self.clients.get(&client).map(|c| c.presence.role)
    }

    /// The clients attached through share link `share`.
    pub fn clients_via(&self, share: &str) -> Vec<u64> {
        self.clients
            .values()
            .filter(|c| c.share.as_deref() == Some(share))
            .map(|c| c.presence.id)
            .collect()
    }

    /// Bytes of submitted lines not yet delivered to the shell.
    pub fn pending_input(&self) -> usize {
        self.pending_input
    }

    /// How long the session has had no client and no activity (None while anyone is
    /// attached).
    pub fn idle_for(&self, now: Instant) -> Option<Duration> {
        self.clients
            .is_empty()
            .then(|| now.saturating_duration_since(self.last_active))
    }

    /// Adds a client; returns its id.
    pub fn attach(
        &mut self,
        name: String,
        role: Role,
        share: Option<String>,
        now: Instant,
        out: &mut Vec<Action>,
    ) -> u64 {
        self.next_client += 1;
        let id = self.next_client;
        let client = Client {
            presence: Presence { id, name, role },
            share,
        };
        self.clients.insert(id, client.clone());
        self.last_active = now;
        out.push(Action::Attached(client));
        out.push(Action::Presence);
        id
    }

    /// Removes a client.
    pub fn detach(&mut self, client: u64, now: Instant, out: &mut Vec<Action>) {
        self.last_active = now;
        if let Some(c) = self.clients.remove(&client) {
            out.push(Action::Detached(c));
            out.push(Action::Presence);
        }
    }

    /// The owner removes a client; false when there is no such client.
    pub fn kick(&mut self, client: u64, reason: &str, out: &mut Vec<Action>) -> bool {
        if !self.clients.contains_key(&client) {
            return false;
        }
        out.push(Action::Kick {
            client: Some(client),
            reason: reason.into(),
            reconnect: false,
        });
        true
    }

    /// Changes an attached writer's or viewer's role (owners keep theirs).
    pub fn set_role(&mut self, client: u64, role: Role, out: &mut Vec<Action>) -> bool {
        match self.clients.get_mut(&client) {
            Some(c) if c.presence.role != Role::Owner && role != Role::Owner => {
                c.presence.role = role;
                out.push(Action::Presence);
                true
            }
            _ => false,
        }
    }

    /// A client's terminal changed size. WinRS shells have no window size; snapshots and
    /// line wrapping follow the most recent size.
    pub fn resize(&mut self, cols: u16, rows: u16, out: &mut Vec<Action>) {
        self.size = (cols.max(1), rows.max(1));
        self.line.set_columns(Some(self.size.0));
        out.push(Action::Resized(self.size.0, self.size.1));
    }

    fn writer(&self, client: u64) -> Result<(), Refused> {
        match self.role_of(client) {
            Some(r) if r.can_write() => Ok(()),
            Some(_) => Err(Refused::new(
                ErrorCode::Forbidden,
                "you are a viewer in this session: your input was not sent",
            )),
            None => Err(Refused::new(
                ErrorCode::Forbidden,
                "you are not attached to this session",
            )),
        }
    }

    /// Keystrokes from a client.
    pub fn input(
        &mut self,
        client: u64,
        data: &str,
        now: Instant,
        out: &mut Vec<Action>,
    ) -> Result<(), Refused> {
        self.writer(client)?;
        if self.state.is_final() {
            return Err(Refused::new(
                ErrorCode::SessionEnded,
                "the shell has ended: start a new one",
            ));
        }
        if self.pending_input + data.len() > MAX_PENDING_INPUT {
            return Err(Refused::new(
                ErrorCode::InputFailed,
                "the target is not taking input fast enough: wait and paste the rest again",
            ));
        }
        self.last_active = now;
        out.push(Action::Input {
            client,
            data: data.to_string(),
        });
        let mut effects = Vec::new();
        self.line.feed(data, &mut effects);
        for effect in effects {
            match effect {
                Effect::Echo(s) => self.push(s.as_bytes(), out),
                Effect::Submit(line) => {
                    self.pending_input += line.len();
                    if let Some(echo) = &mut self.echo {
                        echo.submitted(line.trim_end_matches(['\r', '\n']));
                    }
                    out.push(Action::Line {
                        client,
                        line: line.clone(),
                    });
                    out.push(Action::Send(line.into_bytes()));
                }
                Effect::Interrupt => {
                    if let Some(echo) = &mut self.echo {
                        echo.clear();
                    }
                    out.push(Action::Signal(Signal::CtrlC));
                }
                Effect::Break => out.push(Action::Signal(Signal::CtrlBreak)),
                Effect::Eof => out.push(Action::CloseStdin),
                Effect::Bell => self.push(b"\x07", out),
            }
        }
        Ok(())
    }

    /// A signal from a client's button (the Ctrl+C key goes through [`Core::input`]).
    pub fn signal(
        &mut self,
        client: u64,
        signal: Signal,
        out: &mut Vec<Action>,
    ) -> Result<(), Refused> {
        self.writer(client).map_err(|_| {
            Refused::new(
                ErrorCode::Forbidden,
                "you are a viewer in this session: signals are not sent",
            )
        })?;
        out.push(Action::Signal(signal));
        Ok(())
    }

    /// A submitted line of `len` bytes reached the shell (or could not be delivered).
    pub fn delivered(&mut self, len: usize) {
        self.pending_input = self.pending_input.saturating_sub(len);
    }

    /// Output from the remote shell.
    pub fn remote_output(&mut self, bytes: &[u8], now: Instant, out: &mut Vec<Action>) {
        self.last_active = now;
        let filtered = match &mut self.echo {
            Some(echo) => echo.filter(bytes),
            None => bytes.to_vec(),
        };
        let translated = self.newlines.translate(&filtered);
        let shown = self.line.pass_output(&translated);
        self.push(&shown, out);
    }

    /// A message from the relay in every terminal, in the log like everything else.
    pub fn notice(&mut self, text: &str, out: &mut Vec<Action>) {
        let shown = format!("\r\n\x1b[33m[winrelay] {text}\x1b[0m\r\n");
        self.push(shown.as_bytes(), out);
    }

    /// The shell's state changed.
    pub fn set_state(&mut self, state: SessionState, out: &mut Vec<Action>) {
        if self.state != state {
            self.state = state.clone();
            out.push(Action::State(state));
        }
    }

    fn push(&mut self, bytes: &[u8], out: &mut Vec<Action>) {
        if bytes.is_empty() {
            return;
        }
        if self.observe_bytes {
            out.push(Action::Shown(bytes.to_vec()));
        }
        self.log.append(bytes);
        out.push(Action::OutputEnd(self.log.end()));
    }

    /// End of the output.
    pub fn output_end(&self) -> u64 {
        self.log.end()
    }

    /// Whether a client holding everything below `offset` can resume exactly.
    pub fn can_resume(&self, offset: u64) -> bool {
        offset >= self.log.start() && offset <= self.log.end()
    }

    /// Up to `max` bytes of output from `offset`, or a snapshot when the log no longer has
    /// them.
    pub fn read_output(&self, offset: u64, max: usize) -> OutputRead {
        match self.log.read(offset, max) {
            Read::Bytes(data) => OutputRead::Bytes { offset, data },
            Read::Evicted | Read::Future => self.snapshot(),
        }
    }

    /// A fresh view for a new client: the whole output when the log still starts at 0
    /// (exact, scrollback and all), otherwise a snapshot of the screen.
    pub fn fresh_view(&self) -> OutputRead {
        if self.log.start() == 0 {
            OutputRead::Bytes {
                offset: 0,
                data: Vec::new(),
            }
        } else {
            self.snapshot()
        }
    }

    fn snapshot(&self) -> OutputRead {
        // The screen is rendered on demand from the end of the log: WinRS gives programs
        // pipes, not a console, so nothing redraws the screen by cursor addressing and the
        // last lines of output are what a terminal shows.
        let start = self
            .log
            .start()
            .max(self.log.end().saturating_sub(SNAPSHOT_TAIL as u64));
        let tail = match self.log.read(start, SNAPSHOT_TAIL) {
            Read::Bytes(b) => b,
            _ => Vec::new(),
        };
        let (cols, rows) = self.size;
        OutputRead::Snapshot {
            end: self.log.end(),
            data: super::screen::render(&tail, start == 0, cols, rows),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn core(filter_echo: bool) -> (Core, Instant) {
        core_with(filter_echo, 8191)
    }

    fn core_with(filter_echo: bool, max_line_len: usize) -> (Core, Instant) {
        let t0 = Instant::now();
        let c = Core::new(
            CoreConfig {
                log_bytes: 1 << 20,
                filter_echo,
                max_line_len,
                observe_bytes: true,
                size: (80, 24),
            },
            t0,
        );
        (c, t0)
    }

    fn shown(actions: &[Action]) -> Vec<u8> {
        actions
            .iter()
            .filter_map(|a| match a {
                Action::Shown(b) => Some(b.clone()),
                _ => None,
            })
            .flatten()
            .collect()
    }

    fn sent(actions: &[Action]) -> Vec<Vec<u8>> {
        actions
            .iter()
            .filter_map(|a| match a {
                Action::Send(b) => Some(b.clone()),
                _ => None,
            })
            .collect()
    }

    #[test]
    fn a_typed_line_is_echoed_once_sent_once_and_cmds_echo_dropped() {
        let (mut c, t0) = core(true);
        let mut out = Vec::new();
        let me = c.attach("alice".into(), Role::Owner, None, t0, &mut out);
        c.set_state(SessionState::Connected, &mut out);
        // Bytes as cmd.exe sends them on a pipe: the banner and prompt.
        c.remote_output(b"Microsoft Windows [Version 10.0.20348.2113]\r\n(c) Microsoft Corporation. All rights reserved.\r\n\r\nC:\\Users\\demo>", t0, &mut out);
        out.clear();
        c.input(me, "dir\r", t0, &mut out).unwrap();
        assert_eq!(sent(&out), vec![b"dir\r\n".to_vec()]);
        assert!(String::from_utf8_lossy(&shown(&out)).starts_with("dir"));
        assert!(out.contains(&Action::Line {
            client: me,
            line: "dir\r\n".into()
        }));
        out.clear();
        // cmd.exe echoes the line it read, then the output: the echo is dropped.
        c.remote_output(b"dir\r\n Volume in drive C has no label.\r\n", t0, &mut out);
        let text = String::from_utf8(shown(&out)).unwrap();
        assert!(
            !text.contains("dir"),
            "the shell's echo is dropped: {text:?}"
        );
        assert!(text.contains("Volume in drive C"));
    }

    #[test]
    fn viewers_and_strangers_cannot_type_or_signal() {
        let (mut c, t0) = core(false);
        let mut out = Vec::new();
        let v = c.attach("bob".into(), Role::Viewer, Some("sh1".into()), t0, &mut out);
        c.set_state(SessionState::Connected, &mut out);
        out.clear();
        let e = c.input(v, "x", t0, &mut out).unwrap_err();
        assert_eq!(e.code, ErrorCode::Forbidden);
        assert!(c.signal(v, Signal::CtrlC, &mut out).is_err());
        assert!(c.input(99, "x", t0, &mut out).is_err());
        assert!(out.is_empty(), "nothing happened: {out:?}");
        assert_eq!(c.clients_via("sh1"), vec![v]);
        assert!(c.set_role(v, Role::Writer, &mut out));
        c.input(v, "x", t0, &mut out).unwrap();
        assert!(
            !c.set_role(v, Role::Owner, &mut out),
            "nobody becomes owner"
        );
    }

    #[test]
    fn ctrl_c_clears_the_echo_filter_and_signals() {
        let (mut c, t0) = core(true);
        let mut out = Vec::new();
        let me = c.attach("a".into(), Role::Writer, None, t0, &mut out);
        c.set_state(SessionState::Connected, &mut out);
        c.input(me, "ping -t x\r", t0, &mut out).unwrap();
        out.clear();
        c.input(me, "\x03", t0, &mut out).unwrap();
        assert!(out.contains(&Action::Signal(Signal::CtrlC)));
        out.clear();
        // The shell never echoed the line; after Ctrl+C the same text printed later is
        // output, not an echo to drop.
        c.remote_output(b"ping -t x\r\n", t0, &mut out);
        assert!(String::from_utf8(shown(&out))
            .unwrap()
            .contains("ping -t x"));
    }

    #[test]
    fn input_after_the_end_is_refused_and_pending_input_is_bounded() {
        let (mut c, t0) = core_with(false, MAX_PENDING_INPUT);
        let mut out = Vec::new();
        let me = c.attach("a".into(), Role::Writer, None, t0, &mut out);
        c.set_state(SessionState::Connected, &mut out);
        let big = "x".repeat(MAX_PENDING_INPUT / 2) + "\r";
        c.input(me, &big, t0, &mut out).unwrap();
        assert_eq!(c.pending_input(), big.len() + 1);
        let e = c.input(me, &big, t0, &mut out).unwrap_err();
        assert_eq!(e.code, ErrorCode::InputFailed);
        c.delivered(big.len() + 1);
        assert_eq!(c.pending_input(), 0);
        c.set_state(SessionState::Exited { code: 0 }, &mut out);
        assert_eq!(
            c.input(me, "x", t0, &mut out).unwrap_err().code,
            ErrorCode::SessionEnded
        );
    }

    #[test]
    fn idle_time_counts_only_without_clients() {
        let (mut c, t0) = core(false);
        let mut out = Vec::new();
        assert_eq!(
            c.idle_for(t0 + Duration::from_secs(5)),
            Some(Duration::from_secs(5))
        );
        let me = c.attach(
            "a".into(),
            Role::Writer,
            None,
            t0 + Duration::from_secs(5),
            &mut out,
        );
        assert_eq!(c.idle_for(t0 + Duration::from_secs(500)), None);
        c.detach(me, t0 + Duration::from_secs(600), &mut out);
        assert_eq!(
            c.idle_for(t0 + Duration::from_secs(660)),
            Some(Duration::from_secs(60))
        );
        c.remote_output(b"tick", t0 + Duration::from_secs(700), &mut out);
        assert_eq!(
            c.idle_for(t0 + Duration::from_secs(701)),
            Some(Duration::from_secs(1))
        );
    }

    #[test]
    fn offsets_are_exact_and_an_evicted_position_gets_a_snapshot() {
        let t0 = Instant::now();
        let mut c = Core::new(
            CoreConfig {
                log_bytes: 64,
                filter_echo: false,
                max_line_len: 100,
                observe_bytes: false,
                size: (20, 5),
            },
            t0,
        );
        let mut out = Vec::new();
        c.remote_output(b"hello\n", t0, &mut out);
        assert_eq!(
            out,
            vec![Action::OutputEnd(7)],
            "no byte copies without observers"
        );
        assert!(c.can_resume(3));
        assert_eq!(
            c.read_output(2, 100),
            OutputRead::Bytes {
                offset: 2,
                data: b"llo\r\n".to_vec()
            }
        );
        assert_eq!(
            c.fresh_view(),
            OutputRead::Bytes {
                offset: 0,
                data: vec![]
            }
        );
        for i in 0..20 {
            c.remote_output(format!("line {i}\n").as_bytes(), t0, &mut out);
        }
        assert!(!c.can_resume(3));
        match c.read_output(3, 100) {
            OutputRead::Snapshot { end, data } => {
                assert_eq!(end, c.output_end());
                assert!(String::from_utf8_lossy(&data).contains("line 19"));
            }
            other => panic!("expected a snapshot, got {other:?}"),
        }
        assert!(matches!(c.fresh_view(), OutputRead::Snapshot { .. }));
    }

    #[test]
    fn state_changes_are_reported_once() {
        let (mut c, _) = core(false);
        let mut out = Vec::new();
        c.set_state(SessionState::Connected, &mut out);
        c.set_state(SessionState::Connected, &mut out);
        assert_eq!(out, vec![Action::State(SessionState::Connected)]);
    }
}
