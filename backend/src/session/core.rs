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

use winrelay_shared::line::{Completion, Effect, LineConfig, LineDiscipline, TabMode};
use winrelay_shared::protocol::{ErrorCode, Presence, Role, SessionState, Signal};

use super::echo::{EchoFilter, Newlines};
use super::outlog::{OutputLog, Read};
use super::remote::CompleteRequest;

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
    /// The shell completes: Tab asks it ([`Action::Complete`]).
    pub completes: bool,
    /// Output ending in a password prompt hides the next line (shells on pipes).
    pub detect_password_prompts: bool,
    /// The core writes the OSC 133 marks (shells on pipes, which cannot): `A`/`B` around
    /// what looks like a cmd prompt, `C` when a line is submitted, `D` (no status) before
    /// the next prompt. Shells that know their commands (PSRP) write their own.
    pub line_marks: bool,
}

impl Default for CoreConfig {
    fn default() -> Self {
        CoreConfig {
            log_bytes: 1 << 20,
            filter_echo: false,
            max_line_len: 8191,
            observe_bytes: false,
            size: (80, 24),
            completes: false,
            detect_password_prompts: false,
            line_marks: false,
        }
    }
}

/// Client ids from here on are chosen by other relays of a cluster for their clients
/// (below 2^53, so that a page's JSON numbers hold them exactly).
pub const REMOTE_CLIENTS: u64 = 1 << 40;

/// Characters of the last line kept for the list of live sessions.
pub const MAX_LAST_LINE: usize = 200;

/// OSC 133 shell-integration marks, as the relay writes them (terminated with BEL).
pub mod marks {
    /// Prompt start.
    pub const PROMPT_START: &str = "\x1b]133;A\x07";
    /// Prompt end, command start.
    pub const COMMAND_START: &str = "\x1b]133;B\x07";
    /// Command output start.
    pub const OUTPUT_START: &str = "\x1b]133;C\x07";
    /// Command end without a known status.
    pub const COMMAND_END: &str = "\x1b]133;D\x07";

    /// Command end with exit status `code`.
    pub fn command_end(code: i32) -> String {
        format!("\x1b]133;D;{code}\x07")
    }
}

/// Why the next line is hidden, for the page (`ServerMsg::InputMode::why`).
pub mod why {
    /// Read-Host -AsSecureString.
    pub const READ_HOST: &str = "read-host";
    /// A credential's password (Get-Credential, PromptForCredential).
    pub const CREDENTIAL: &str = "credential";
    /// Output ending in a password prompt.
    pub const PASSWORD_PROMPT: &str = "password-prompt";
    /// A writer asked for it.
    pub const MANUAL: &str = "manual";

    /// Interns a reason received as text (from another relay of a cluster).
    pub fn intern(why: &str) -> Option<&'static str> {
        [READ_HOST, CREDENTIAL, PASSWORD_PROMPT, MANUAL]
            .into_iter()
            .find(|w| *w == why)
    }
}

/// A hidden line being typed: kept here, never in the line discipline, the log, the
/// observers' input events or history.
#[derive(Default)]
struct Hidden {
    why: &'static str,
    text: String,
    /// Inside an escape sequence the keyboard sent (arrows and the like are ignored).
    esc: Esc,
    after_cr: bool,
}

#[derive(Default, PartialEq, Eq, Clone, Copy)]
enum Esc {
    #[default]
    No,
    Started,
    Csi,
    Str,
}

/// Whether a cmd-style prompt ends this partial line (`C:\Users\demo>`).
fn looks_like_cmd_prompt(partial: &str) -> bool {
    let b = partial.trim_end_matches(' ').as_bytes();
    b.len() >= 3
        && b.len() <= 260
        && b[0].is_ascii_alphabetic()
        && b[1] == b':'
        && b[2] == b'\\'
        && b.ends_with(b">")
}

/// Whether output ending in `partial` (the text after its last line break) asks for a
/// password: a password word near its end, followed by nothing but punctuation, or by a
/// short text ending in `:` (`Password for alice:`). A cmd prompt in a folder named
/// `passwords` is not one.
pub fn asks_for_password(partial: &str) -> bool {
    let t = partial.trim_end().to_lowercase();
    if t.is_empty() || t.len() > 200 || looks_like_cmd_prompt(&t) {
        return false;
    }
    [
        "password",
        "passphrase",
        "passcode",
        "pass phrase",
        "kennwort",
        "mot de passe",
    ]
    .iter()
    .filter_map(|w| t.rfind(w).map(|i| &t[i + w.len()..]))
    .any(|rest| {
        rest.chars().all(|c| " :?)(*".contains(c))
            || (rest.ends_with(':') && rest.len() <= 60 && !rest.contains(['\\', '>']))
    })
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
    /// Ask the shell to complete a line.
    Complete(CompleteRequest),
    /// Hidden input was switched on or off: tell every client.
    InputMode {
        /// Whether the next line is hidden.
        hidden: bool,
        /// What switched it on.
        why: Option<&'static str>,
    },
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
    /// The signed-in person behind it (`None` for an anonymous share-link guest).
    pub user: Option<String>,
}

/// What an owner's decision about a client sticks to: the person, and the share link they
/// came through (anonymous guests are known only by their link).
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
enum Mark {
    User(String),
    Share(String),
}

fn marks(user: Option<&str>, share: Option<&str>, except: &str) -> Vec<Mark> {
    let mut m = Vec::new();
    if let Some(u) = user.filter(|u| *u != except) {
        m.push(Mark::User(u.to_string()));
    }
    if let Some(s) = share {
        m.push(Mark::Share(s.to_string()));
    }
    m
}

/// The owner's standing decisions, as another relay of a cluster takes them over: who
/// (signed-in person, or share link id) was removed or made a viewer.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Decisions {
    /// Removed people.
    pub removed_users: Vec<String>,
    /// Removed share links (their ids).
    pub removed_shares: Vec<String>,
    /// People made viewers.
    pub demoted_users: Vec<String>,
    /// Share links made viewer links.
    pub demoted_shares: Vec<String>,
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
    /// Anonymous guests who joined so far: each is named "guest N" in join order.
    guests: u64,
    last_active: Instant,
    pending_input: usize,
    echo: Option<EchoFilter>,
    newlines: Newlines,
    observe_bytes: bool,
    /// People and share links the owner removed: they stay out of this session.
    removed: std::collections::BTreeSet<Mark>,
    /// People and share links the owner made viewers: they come back as viewers.
    demoted: std::collections::BTreeSet<Mark>,
    /// The next line is a secret.
    hidden: Option<Hidden>,
    detect_password_prompts: bool,
    line_marks: bool,
    /// A submitted line's output is running (for [`CoreConfig::line_marks`]).
    running: bool,
    /// The last line submitted (never a hidden one), for the list of live sessions.
    last_line: Option<String>,
}

impl Core {
    /// A session that is opening its shell.
    pub fn new(config: CoreConfig, now: Instant) -> Core {
        let mut line = LineDiscipline::new(LineConfig {
            max_line_len: config.max_line_len,
            tab: if config.completes {
                TabMode::Remote
            } else {
                TabMode::HistoryOrSpaces
            },
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
            guests: 0,
            last_active: now,
            pending_input: 0,
            echo: config.filter_echo.then(EchoFilter::default),
            newlines: Newlines::default(),
            observe_bytes: config.observe_bytes,
            removed: Default::default(),
            demoted: Default::default(),
            hidden: None,
            detect_password_prompts: config.detect_password_prompts,
            line_marks: config.line_marks,
            running: false,
            last_line: None,
        }
    }

    /// Whether the next line is hidden, and why.
    pub fn input_mode(&self) -> (bool, Option<&'static str>) {
        match &self.hidden {
            Some(h) => (true, Some(h.why)),
            None => (false, None),
        }
    }

    /// The next line typed is a secret (`why`: see [`why`]). Whatever was typed on the line
    /// so far stays visible; what comes next is not.
    pub fn hide_next_line(&mut self, why: &'static str, out: &mut Vec<Action>) {
        if self.hidden.is_some() || self.state.is_final() {
            return;
        }
        self.hidden = Some(Hidden {
            why,
            ..Hidden::default()
        });
        out.push(Action::InputMode {
            hidden: true,
            why: Some(why),
        });
    }

    /// A writer's switch: the next line is hidden.
    pub fn hide_next_line_for(
        &mut self,
        client: u64,
        out: &mut Vec<Action>,
    ) -> Result<(), Refused> {
        self.writer(client)?;
        self.hide_next_line(why::MANUAL, out);
        Ok(())
    }

    fn unhide(&mut self, out: &mut Vec<Action>) {
        if self.hidden.take().is_some() {
            out.push(Action::InputMode {
                hidden: false,
                why: None,
            });
        }
    }

    /// Keystrokes while the line is hidden: a minimal editor (characters, Backspace,
    /// Ctrl+U, Enter, Ctrl+C) that echoes nothing but the line break.
    /// Returns how much of `data` it took: the rest, after the hidden line ended, is typed
    /// as usual.
    fn hidden_input(&mut self, data: &str, out: &mut Vec<Action>) -> usize {
        for (i, c) in data.char_indices() {
            let Some(h) = self.hidden.as_mut() else {
                return i;
            };
            let after_cr = std::mem::replace(&mut h.after_cr, c == '\r');
            match h.esc {
                Esc::Started => {
                    h.esc = match c {
                        '[' => Esc::Csi,
                        ']' | 'P' | '_' | '^' | 'X' => Esc::Str,
                        _ => Esc::No,
                    };
                    continue;
                }
                Esc::Csi => {
                    if ('\x40'..='\x7e').contains(&c) {
                        h.esc = Esc::No;
                    }
                    continue;
                }
                Esc::Str => {
                    if c == '\x07' || c == '\\' {
                        h.esc = Esc::No;
                    }
                    continue;
                }
                Esc::No => {}
            }
            match c {
                '\x1b' => h.esc = Esc::Started,
                '\n' if after_cr => {}
                '\r' | '\n' => {
                    let mut line = std::mem::take(&mut h.text);
                    line.push_str("\r\n");
                    self.pending_input += line.len();
                    self.push(b"\r\n", out);
                    self.line.note_output(b"\r\n");
                    out.push(Action::Send(line.into_bytes()));
                    self.unhide(out);
                }
                '\x7f' | '\x08' => {
                    h.text.pop();
                }
                '\x15' => h.text.clear(),
                '\x03' => {
                    h.text.clear();
                    self.push(b"^C\r\n", out);
                    self.line.note_output(b"\r\n");
                    self.unhide(out);
                    out.push(Action::Signal(Signal::CtrlC));
                }
                c if c.is_control() => {}
                c => {
                    if h.text.len() + c.len_utf8() <= self.line.config().max_line_len {
                        h.text.push(c);
                    }
                }
            }
        }
        data.len()
    }

    /// The shell's answer to a completion request.
    pub fn completion(&mut self, id: u64, answer: Completion, out: &mut Vec<Action>) {
        let mut effects = Vec::new();
        self.line.completed(id, answer, &mut effects);
        for effect in effects {
            match effect {
                Effect::Echo(s) => self.push(s.as_bytes(), out),
                Effect::Bell => self.push(b"\x07", out),
                _ => {}
            }
        }
    }

    /// The state.
    pub fn state(&self) -> &SessionState {
        &self.state
    }

    /// The last non-empty line submitted (at most [`MAX_LAST_LINE`] characters); hidden
    /// lines never count.
    pub fn last_line(&self) -> Option<&str> {
        self.last_line.as_deref()
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

    /// Adds a client (its name doubling as the signed-in person); returns its id.
    pub fn attach(
        &mut self,
        name: String,
        role: Role,
        share: Option<String>,
        now: Instant,
        out: &mut Vec<Action>,
    ) -> u64 {
        let user = Some(name.clone());
        match self.join(name, user, role, share, now, out) {
            Ok((id, _)) => id,
            Err(_) => 0,
        }
    }

    /// The role a person (`user`, `None` for an anonymous guest) coming with `role` (through
    /// share link `share`) gets here: refused when the owner removed them or that link, a
    /// viewer when the owner made them or that link one (issue 17, item 7).
    pub fn admit(
        &self,
        user: Option<&str>,
        share: Option<&str>,
        role: Role,
    ) -> Result<Role, Refused> {
        let m = marks(user, share, "");
        if m.iter().any(|m| self.removed.contains(m)) {
            return Err(Refused::new(
                ErrorCode::Forbidden,
                "the session's owner removed you from this session",
            ));
        }
        if role == Role::Writer && m.iter().any(|m| self.demoted.contains(m)) {
            return Ok(Role::Viewer);
        }
        Ok(role)
    }

    /// Adds a client, with the role [`Core::admit`] gives it; returns its id and role. An
    /// anonymous guest (`user` None) is named `name` and its number: "guest 1", "guest 2".
    pub fn join(
        &mut self,
        name: String,
        user: Option<String>,
        role: Role,
        share: Option<String>,
        now: Instant,
        out: &mut Vec<Action>,
    ) -> Result<(u64, Role), Refused> {
        self.join_with(None, name, user, role, share, now, out)
    }

    /// [`Core::join`] for a client attached to another relay of a cluster, which chose its
    /// id (at or above [`REMOTE_CLIENTS`], so it never meets this core's own numbers). A
    /// client already present with that id keeps its place (a join repeated after an
    /// adoption).
    #[allow(clippy::too_many_arguments)]
    pub fn join_as(
        &mut self,
        id: u64,
        name: String,
        user: Option<String>,
        role: Role,
        share: Option<String>,
        now: Instant,
        out: &mut Vec<Action>,
    ) -> Result<Role, Refused> {
        if let Some(c) = self.clients.get(&id) {
            return Ok(c.presence.role);
        }
        self.join_with(Some(id), name, user, role, share, now, out)
            .map(|(_, role)| role)
    }

    #[allow(clippy::too_many_arguments)]
    fn join_with(
        &mut self,
        id: Option<u64>,
        name: String,
        user: Option<String>,
        role: Role,
        share: Option<String>,
        now: Instant,
        out: &mut Vec<Action>,
    ) -> Result<(u64, Role), Refused> {
        let role = self.admit(user.as_deref(), share.as_deref(), role)?;
        let id = match id {
            Some(id) => id,
            None => {
                self.next_client += 1;
                self.next_client
            }
        };
        // Anonymous guests are told apart by number (issue 19). Share-link guests carry
        // nothing of their own (the link is the same for all of them), so one that
        // reconnects is a new guest with the next number; numbers are never reused.
        let name = if user.is_none() {
            self.guests += 1;
            format!("{name} {}", self.guests)
        } else {
            name
        };
        let client = Client {
            presence: Presence { id, name, role },
            share,
            user,
        };
        self.clients.insert(id, client.clone());
        self.last_active = now;
        out.push(Action::Attached(client));
        out.push(Action::Presence);
        Ok((id, role))
    }

    /// Removes a client.
    pub fn detach(&mut self, client: u64, now: Instant, out: &mut Vec<Action>) {
        self.last_active = now;
        if let Some(c) = self.clients.remove(&client) {
            out.push(Action::Detached(c));
            out.push(Action::Presence);
        }
    }

    /// Closes a client's socket (a revoked or expired share link); false when there is no
    /// such client. Nothing is remembered: see [`Core::remove`] for the owner's decision.
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

    fn clients_marked(&self, m: &[Mark]) -> Vec<u64> {
        self.clients
            .values()
            .filter(|c| {
                marks(c.user.as_deref(), c.share.as_deref(), "")
                    .iter()
                    .any(|x| m.contains(x))
            })
            .map(|c| c.presence.id)
            .collect()
    }

    /// The owner removes a client, and with it the person and the share link it came
    /// through, for the rest of this session: every client of theirs goes, and coming back
    /// is refused. `owner` (the session's owner) is never shut out by name. False when
    /// there is no such client.
    pub fn remove(&mut self, client: u64, owner: &str, out: &mut Vec<Action>) -> bool {
        let Some(c) = self.clients.get(&client) else {
            return false;
        };
        let m = marks(c.user.as_deref(), c.share.as_deref(), owner);
        let mut gone = self.clients_marked(&m);
        if !gone.contains(&client) {
            gone.push(client);
        }
        self.removed.extend(m);
        for id in gone {
            self.kick(id, "the session's owner removed you", out);
        }
        true
    }

    /// Changes an attached writer's or viewer's role (owners keep theirs). Making a client
    /// a viewer sticks to its person and share link: their other clients become viewers
    /// too, and they come back as viewers; making it a writer again lifts that.
    pub fn set_role(
        &mut self,
        client: u64,
        role: Role,
        owner: &str,
        out: &mut Vec<Action>,
    ) -> bool {
        let Some(c) = self.clients.get(&client) else {
            return false;
        };
        if c.presence.role == Role::Owner || role == Role::Owner {
            return false;
        }
        let m = marks(c.user.as_deref(), c.share.as_deref(), owner);
        let targets = if role == Role::Viewer {
            self.demoted.extend(m.iter().cloned());
            let mut t = self.clients_marked(&m);
            t.push(client);
            t
        } else {
            for x in &m {
                self.demoted.remove(x);
            }
            vec![client]
        };
        for id in targets {
            if let Some(c) = self.clients.get_mut(&id) {
                if c.presence.role != Role::Owner {
                    c.presence.role = role;
                }
            }
        }
        out.push(Action::Presence);
        true
    }

    /// A client's terminal changed size. WinRS shells have no window size; snapshots, line
    /// wrapping and recordings follow the most recent size of a writer's or owner's
    /// terminal. A viewer's size is ignored (issue 17, item 9: a viewer's narrow window
    /// garbled the writers' echo and the recording); returns whether it was applied.
    pub fn resize(&mut self, client: u64, cols: u16, rows: u16, out: &mut Vec<Action>) -> bool {
        if !self.role_of(client).is_some_and(|r| r.can_write()) {
            return false;
        }
        self.size = (cols.max(1), rows.max(1));
        self.line.set_columns(Some(self.size.0));
        out.push(Action::Resized(self.size.0, self.size.1));
        true
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
        let mut data = data;
        if self.hidden.is_some() {
            // Never in the observers' input events (recordings, audit), never echoed.
            let took = self.hidden_input(data, out);
            data = &data[took..];
            if data.is_empty() {
                return Ok(());
            }
        }
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
                    let text = line.trim();
                    if !text.is_empty() {
                        self.last_line = Some(text.chars().take(MAX_LAST_LINE).collect());
                    }
                    if let Some(echo) = &mut self.echo {
                        echo.submitted(line.trim_end_matches(['\r', '\n']));
                    }
                    out.push(Action::Line {
                        client,
                        line: line.clone(),
                    });
                    out.push(Action::Send(line.into_bytes()));
                    if self.line_marks {
                        self.running = true;
                        self.push(marks::OUTPUT_START.as_bytes(), out);
                    }
                }
                Effect::Complete {
                    id,
                    line,
                    cursor,
                    how: _,
                } => out.push(Action::Complete(CompleteRequest { id, line, cursor })),
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
        let mut translated = self.newlines.translate(&filtered);
        if self.line_marks && contains(&translated, b"\x1b]133;") {
            // The shell writes its own marks (a prompt with shell integration): it knows
            // its commands and their status better than the relay's guess; stop guessing.
            self.line_marks = false;
        }
        if self.line_marks {
            translated = self.mark_prompt(translated);
        }
        let shown = self.line.pass_output(&translated);
        self.push(&shown, out);
        if self.detect_password_prompts
            && self.hidden.is_none()
            && !translated.ends_with(b"\n")
            && asks_for_password(&self.line.prompt())
        {
            self.hide_next_line(why::PASSWORD_PROMPT, out);
        }
    }

    /// Marks a cmd prompt at the end of `bytes`: `D` for the command before (if one ran),
    /// `A` before the prompt, `B` after it.
    fn mark_prompt(&mut self, bytes: Vec<u8>) -> Vec<u8> {
        if bytes.ends_with(b"\n") || bytes.is_empty() {
            return bytes;
        }
        let start = bytes.iter().rposition(|&b| b == b'\n').map_or(0, |i| i + 1);
        let partial = String::from_utf8_lossy(&bytes[start..]);
        if !looks_like_cmd_prompt(&partial) {
            return bytes;
        }
        let mut out = Vec::with_capacity(bytes.len() + 32);
        out.extend_from_slice(&bytes[..start]);
        if std::mem::take(&mut self.running) {
            out.extend_from_slice(marks::COMMAND_END.as_bytes());
        }
        out.extend_from_slice(marks::PROMPT_START.as_bytes());
        out.extend_from_slice(&bytes[start..]);
        out.extend_from_slice(marks::COMMAND_START.as_bytes());
        out
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

    /// The log continues a stream another relay began (an adopted session, or a
    /// follower's mirror): it starts at `start` and holds `tail`.
    pub fn restore_log(&mut self, capacity: usize, start: u64, tail: &[u8]) {
        self.log = OutputLog::starting_at(capacity, start, tail);
    }

    /// Bytes another relay already made into output (a follower's mirror of the owner's
    /// log): straight into the log, as they are.
    pub fn mirror(&mut self, bytes: &[u8], out: &mut Vec<Action>) {
        self.push(bytes, out);
    }

    /// The owner's standing decisions.
    pub fn decisions(&self) -> Decisions {
        let split = |set: &std::collections::BTreeSet<Mark>| {
            let mut users = Vec::new();
            let mut shares = Vec::new();
            for m in set {
                match m {
                    Mark::User(u) => users.push(u.clone()),
                    Mark::Share(s) => shares.push(s.clone()),
                }
            }
            (users, shares)
        };
        let (removed_users, removed_shares) = split(&self.removed);
        let (demoted_users, demoted_shares) = split(&self.demoted);
        Decisions {
            removed_users,
            removed_shares,
            demoted_users,
            demoted_shares,
        }
    }

    /// Takes over another relay's decisions (an adopted session).
    pub fn restore_decisions(&mut self, d: Decisions) {
        self.removed
            .extend(d.removed_users.into_iter().map(Mark::User));
        self.removed
            .extend(d.removed_shares.into_iter().map(Mark::Share));
        self.demoted
            .extend(d.demoted_users.into_iter().map(Mark::User));
        self.demoted
            .extend(d.demoted_shares.into_iter().map(Mark::Share));
    }

    /// Clients attached to other relays (ids from [`REMOTE_CLIENTS`] on).
    pub fn remote_clients(&self) -> Vec<Client> {
        self.clients
            .range(REMOTE_CLIENTS..)
            .map(|(_, c)| c.clone())
            .collect()
    }

    /// Start of the log.
    pub fn output_start(&self) -> u64 {
        self.log.start()
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

/// Whether `needle` occurs in `hay`.
fn contains(hay: &[u8], needle: &[u8]) -> bool {
    hay.windows(needle.len()).any(|w| w == needle)
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
                ..CoreConfig::default()
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
        assert!(c.set_role(v, Role::Writer, "alice", &mut out));
        c.input(v, "x", t0, &mut out).unwrap();
        assert!(
            !c.set_role(v, Role::Owner, "alice", &mut out),
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
        c.set_state(
            SessionState::Exited {
                code: 0,
                reason: None,
            },
            &mut out,
        );
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
                ..CoreConfig::default()
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

    /// Issue 19: anonymous guests are numbered in join order, numbers are not reused, a
    /// refused guest takes none, and signed-in people keep their names.
    #[test]
    fn guests_are_numbered_in_join_order() {
        let (mut c, t0) = core(false);
        let mut out = Vec::new();
        let guest = |c: &mut Core, out: &mut Vec<Action>, link: &str| {
            c.join(
                "guest".into(),
                None,
                Role::Viewer,
                Some(link.into()),
                t0,
                out,
            )
        };
        let owner = c.attach("alice".into(), Role::Owner, None, t0, &mut out);
        let (g1, _) = guest(&mut c, &mut out, "l1").unwrap();
        let (g2, _) = guest(&mut c, &mut out, "l2").unwrap();
        let names =
            |c: &Core| -> Vec<String> { c.presence().into_iter().map(|p| p.name).collect() };
        assert_eq!(names(&c), ["alice", "guest 1", "guest 2"]);
        c.detach(g1, t0, &mut out);
        // Removed: its socket closes on the kick, and its link stays out.
        assert!(c.remove(g2, "alice", &mut out));
        c.detach(g2, t0, &mut out);
        assert!(guest(&mut c, &mut out, "l2").is_err());
        guest(&mut c, &mut out, "l1").unwrap();
        assert_eq!(names(&c), ["alice", "guest 3"]);
        let _ = owner;
    }

    /// Issue 17, item 9: only writers and owners size the session.
    #[test]
    fn a_viewers_window_does_not_size_the_session() {
        let (mut c, t0) = core(false);
        let mut out = Vec::new();
        let w = c.attach("alice".into(), Role::Owner, None, t0, &mut out);
        let v = c.attach(
            "guest".into(),
            Role::Viewer,
            Some("sh".into()),
            t0,
            &mut out,
        );
        out.clear();
        assert!(!c.resize(v, 7, 3, &mut out), "a viewer's size is ignored");
        assert!(!c.resize(99, 7, 3, &mut out), "so is a stranger's");
        assert_eq!(c.size(), (80, 24));
        assert!(out.is_empty(), "{out:?}");
        assert!(c.resize(w, 100, 30, &mut out));
        assert_eq!(c.size(), (100, 30));
        assert!(out.contains(&Action::Resized(100, 30)));
        // A viewer made a writer sizes it from then on.
        assert!(c.set_role(v, Role::Writer, "alice", &mut out));
        assert!(c.resize(v, 90, 20, &mut out));
    }

    /// Issue 17, item 7: a removed person or share link stays out; a demoted one comes
    /// back as a viewer; the owner is never shut out by name.
    #[test]
    fn kicks_and_demotions_stick_to_the_person_and_the_link() {
        let (mut c, t0) = core(false);
        let mut out = Vec::new();
        let owner = c
            .join(
                "alice".into(),
                Some("alice".into()),
                Role::Owner,
                None,
                t0,
                &mut out,
            )
            .unwrap()
            .0;
        let (bob, _) = c
            .join(
                "bob".into(),
                Some("bob".into()),
                Role::Writer,
                None,
                t0,
                &mut out,
            )
            .unwrap();
        let (bob2, _) = c
            .join(
                "bob".into(),
                Some("bob".into()),
                Role::Writer,
                None,
                t0,
                &mut out,
            )
            .unwrap();
        let (guest, _) = c
            .join(
                "guest".into(),
                None,
                Role::Writer,
                Some("link1".into()),
                t0,
                &mut out,
            )
            .unwrap();
        out.clear();
        // Demote bob: both his clients become viewers, and he comes back as one.
        assert!(c.set_role(bob, Role::Viewer, "alice", &mut out));
        assert_eq!(c.role_of(bob2), Some(Role::Viewer));
        assert_eq!(c.admit(Some("bob"), None, Role::Writer), Ok(Role::Viewer));
        let (again, role) = c
            .join(
                "bob".into(),
                Some("bob".into()),
                Role::Writer,
                None,
                t0,
                &mut out,
            )
            .unwrap();
        assert_eq!(role, Role::Viewer);
        assert_eq!(c.role_of(again), Some(Role::Viewer));
        // Made a writer again: lifted.
        assert!(c.set_role(again, Role::Writer, "alice", &mut out));
        assert_eq!(c.admit(Some("bob"), None, Role::Writer), Ok(Role::Writer));
        // Remove the guest: every client of that link goes, and the link stays out, for
        // anyone who comes through it.
        out.clear();
        assert!(c.remove(guest, "alice", &mut out));
        assert!(out
            .iter()
            .any(|a| matches!(a, Action::Kick { client: Some(id), .. } if *id == guest)));
        let e = c
            .join(
                "guest".into(),
                None,
                Role::Writer,
                Some("link1".into()),
                t0,
                &mut out,
            )
            .unwrap_err();
        assert_eq!(e.code, ErrorCode::Forbidden);
        assert!(c.admit(Some("carol"), Some("link1"), Role::Writer).is_err());
        // Remove bob: all his clients are told to go, and he cannot come back.
        out.clear();
        assert!(c.remove(bob, "alice", &mut out));
        let kicked: Vec<u64> = out
            .iter()
            .filter_map(|a| match a {
                Action::Kick {
                    client: Some(id), ..
                } => Some(*id),
                _ => None,
            })
            .collect();
        assert!(kicked.contains(&bob) && kicked.contains(&bob2) && kicked.contains(&again));
        assert!(c.admit(Some("bob"), None, Role::Viewer).is_err());
        // The owner kicking her own other tab does not shut herself out.
        let (tab, _) = c
            .join(
                "alice".into(),
                Some("alice".into()),
                Role::Owner,
                None,
                t0,
                &mut out,
            )
            .unwrap();
        assert!(c.remove(tab, "alice", &mut out));
        assert_eq!(c.admit(Some("alice"), None, Role::Owner), Ok(Role::Owner));
        assert_eq!(c.role_of(owner), Some(Role::Owner));
    }

    fn inputs(actions: &[Action]) -> String {
        actions
            .iter()
            .map(|a| match a {
                Action::Input { data, .. } => data.clone(),
                Action::Line { line, .. } => line.clone(),
                _ => String::new(),
            })
            .collect()
    }

    fn with(config: CoreConfig) -> (Core, Instant) {
        let t0 = Instant::now();
        (
            Core::new(
                CoreConfig {
                    observe_bytes: true,
                    ..config
                },
                t0,
            ),
            t0,
        )
    }

    /// A connected core with an owner attached: the core, the owner's id, the start time
    /// and the actions so far.
    fn owned(config: CoreConfig) -> (Core, u64, Instant, Vec<Action>) {
        let (mut c, t0) = with(config);
        let mut out = Vec::new();
        let me = c.attach("a".into(), Role::Owner, None, t0, &mut out);
        c.set_state(SessionState::Connected, &mut out);
        (c, me, t0, out)
    }

    /// Issue 14: a hidden line goes to the shell and nowhere else (log, echo, observers'
    /// input and line events, history, snapshots).
    #[test]
    fn a_hidden_line_reaches_the_shell_only() {
        let (mut c, t0) = core(false);
        let mut out = Vec::new();
        let me = c.attach("a".into(), Role::Owner, None, t0, &mut out);
        c.set_state(SessionState::Connected, &mut out);
        c.remote_output(b"Secret: ", t0, &mut out);
        out.clear();
        c.hide_next_line(why::READ_HOST, &mut out);
        assert_eq!(
            out,
            vec![Action::InputMode {
                hidden: true,
                why: Some("read-host")
            }]
        );
        assert_eq!(c.input_mode(), (true, Some("read-host")));
        out.clear();
        // Pieces, an arrow key, a bracketed paste, a backspace; then Enter and more typing.
        for piece in ["s3c", "\x1b[D", "\x1b[200~retX\x1b[201~", "\x7f", "!\rdir"] {
            c.input(me, piece, t0, &mut out).unwrap();
        }
        assert_eq!(sent(&out), vec![b"s3cret!\r\n".to_vec()]);
        let log = String::from_utf8(shown(&out)).unwrap();
        assert!(!log.contains("s3c") && !log.contains("ret"), "{log:?}");
        assert!(
            log.starts_with("\r\n"),
            "Enter still moves to a new line: {log:?}"
        );
        assert!(
            log.ends_with("dir"),
            "typing after the hidden line is echoed: {log:?}"
        );
        assert_eq!(inputs(&out), "dir", "observers never see the secret");
        assert!(out.contains(&Action::InputMode {
            hidden: false,
            why: None
        }));
        assert_eq!(c.input_mode(), (false, None));
        let OutputRead::Bytes { data, .. } = c.read_output(0, 1 << 20) else {
            panic!()
        };
        assert!(!String::from_utf8_lossy(&data).contains("s3c"));
        let snap = c.snapshot();
        let OutputRead::Snapshot { data, .. } = snap else {
            panic!()
        };
        assert!(!String::from_utf8_lossy(&data).contains("s3c"));
        // Not in history: Up brings back nothing secret.
        out.clear();
        c.input(me, "\x15\x1b[A", t0, &mut out).unwrap();
        assert!(!String::from_utf8(shown(&out)).unwrap().contains("s3c"));
    }

    #[test]
    fn ctrl_c_abandons_a_hidden_line_and_viewers_cannot_hide() {
        let (mut c, t0) = core(false);
        let mut out = Vec::new();
        let me = c.attach("a".into(), Role::Owner, None, t0, &mut out);
        let v = c.attach("v".into(), Role::Viewer, None, t0, &mut out);
        c.set_state(SessionState::Connected, &mut out);
        assert!(c.hide_next_line_for(v, &mut out).is_err());
        c.hide_next_line_for(me, &mut out).unwrap();
        assert_eq!(c.input_mode(), (true, Some("manual")));
        out.clear();
        c.input(me, "abc\x03", t0, &mut out).unwrap();
        assert!(out.contains(&Action::Signal(Signal::CtrlC)));
        assert!(sent(&out).is_empty());
        assert_eq!(c.input_mode(), (false, None));
    }

    #[test]
    fn password_prompts_hide_the_next_line_on_pipes() {
        let (mut c, t0) = with(CoreConfig {
            detect_password_prompts: true,
            ..CoreConfig::default()
        });
        let mut out = Vec::new();
        c.set_state(SessionState::Connected, &mut out);
        for (text, hides) in [
            ("C:\\Users\\passwords>", false),
            ("Password: ", true),
            ("Enter password for alice:", true),
            ("Enter passphrase for key '/x/id_rsa': ", true),
            ("password stored\r\n", false),
            ("Passwords are case-sensitive. Type yours", false),
            ("C:\\>", false),
        ] {
            out.clear();
            c.remote_output(b"\r\n", t0, &mut out);
            c.remote_output(text.as_bytes(), t0, &mut out);
            let hidden = out
                .iter()
                .any(|a| matches!(a, Action::InputMode { hidden: true, .. }));
            assert_eq!(hidden, hides, "{text:?}");
            c.unhide(&mut out);
        }
    }

    /// cmd sessions: `A`/`B` around the prompt, `C` after a submitted line, `D` without a
    /// status before the next prompt.
    #[test]
    fn cmd_sessions_get_marks_from_the_line_discipline() {
        let (mut c, me, t0, mut out) = owned(CoreConfig {
            line_marks: true,
            ..CoreConfig::default()
        });
        out.clear();
        c.remote_output(b"Microsoft Windows\r\n\r\nC:\\Users\\demo>", t0, &mut out);
        c.input(me, "dir\r", t0, &mut out).unwrap();
        c.remote_output(b" Volume in drive C\r\n\r\nC:\\Users\\demo>", t0, &mut out);
        assert_eq!(
            String::from_utf8(shown(&out)).unwrap(),
            "Microsoft Windows\r\n\r\n\x1b]133;A\x07C:\\Users\\demo>\x1b]133;B\x07dir\r\n\x1b]133;C\x07 Volume in drive C\r\n\r\n\x1b]133;D\x07\x1b]133;A\x07C:\\Users\\demo>\x1b]133;B\x07"
        );
    }

    /// A shell that writes its own marks (a prompt with shell integration) is trusted with
    /// them: the relay stops adding its guesses, so no command is marked twice.
    #[test]
    fn a_shell_with_its_own_marks_gets_no_relay_marks() {
        let (mut c, me, t0, mut out) = owned(CoreConfig {
            line_marks: true,
            ..CoreConfig::default()
        });
        c.remote_output(b"C:\\>", t0, &mut out);
        out.clear();
        c.input(me, "x\r", t0, &mut out).unwrap();
        c.remote_output(
            b"\x1b]133;D;0\x07\x1b]133;A\x07OWN> \x1b]133;B\x07",
            t0,
            &mut out,
        );
        c.input(me, "y\r", t0, &mut out).unwrap();
        c.remote_output(b"out\r\nC:\\>", t0, &mut out);
        let text = String::from_utf8(shown(&out)).unwrap();
        assert_eq!(
            text.matches("\x1b]133;").count(),
            4,
            "the relay's C for x, then only the shell's three: {text:?}"
        );
        assert!(
            text.ends_with("out\r\nC:\\>"),
            "no relay marks after: {text:?}"
        );
    }

    /// The live-sessions list names the last command: the last line submitted, never a
    /// hidden one.
    #[test]
    fn the_last_line_is_kept_but_never_a_hidden_one() {
        let (mut c, me, t0, mut out) = owned(CoreConfig {
            detect_password_prompts: true,
            ..CoreConfig::default()
        });
        assert_eq!(c.last_line(), None);
        c.input(me, "dir C:\\\r", t0, &mut out).unwrap();
        assert_eq!(c.last_line(), Some("dir C:\\"));
        c.input(me, "   \r", t0, &mut out).unwrap();
        assert_eq!(
            c.last_line(),
            Some("dir C:\\"),
            "an empty line is no command"
        );
        c.remote_output(b"\r\nPassword: ", t0, &mut out);
        c.input(me, "s3cret\r", t0, &mut out).unwrap();
        assert_eq!(
            c.last_line(),
            Some("dir C:\\"),
            "a hidden line never counts"
        );
        let long = "x".repeat(500);
        c.input(me, &format!("{long}\r"), t0, &mut out).unwrap();
        assert_eq!(c.last_line().map(str::len), Some(MAX_LAST_LINE));
    }
}
