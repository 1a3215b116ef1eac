//! Sessions: one WinRS shell each, shared by any number of attached clients.
//!
//! This is the relay's core and knows nothing about WebSockets or HTTP (see `ws.rs`, `api.rs`):
//! a [`Session`] holds the output log, the terminal size and the line discipline behind
//! one lock, a `watch` channel announcing the end offset of the output, and a `broadcast`
//! channel for state and presence changes. A driver task owns the WinRM shell.
//!
//! **Invariants.** The producer (the shell's output) never waits for a client: clients read
//! the log at their own pace, so a slow client cannot hold up the session or other clients.
//! Every byte a terminal shows, echo included, goes through the log exactly once, in order.
//! Ending a session, dropping it, or the relay shutting down deletes its WinRS shell.

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use tokio::sync::{broadcast, mpsc, watch};
use tracing::{info, warn, Instrument};
use winrelay_shared::line::{Effect, LineConfig, LineDiscipline};
use winrelay_shared::protocol::{api, ErrorCode, Presence, Role, SessionState, Signal};

use crate::echo::{EchoFilter, Newlines};
use crate::metrics::Metrics;
use crate::outlog::{OutputLog, Read};
use crate::targets::Connector;

/// Something every attached client hears about.
#[derive(Debug, Clone)]
pub enum Event {
    /// The shell's state changed.
    State(SessionState),
    /// Someone attached, left or changed role.
    Presence,
    /// A client is removed by the owner (or the session ends): its socket closes.
    Kick {
        /// The client, or `None` for all.
        client: Option<u64>,
        /// Why.
        reason: String,
        /// Whether reconnecting makes sense.
        reconnect: bool,
    },
}

/// Watches a session from outside (recordings, audit, share bookkeeping). Called with the
/// session's lock held, in order: implementations must be quick and must not call back into
/// the session.
pub trait Observer: Send + Sync {
    /// Bytes appended to the output: exactly what the terminals show, in order.
    fn output(&self, _bytes: &[u8]) {}
    /// Keystrokes a client sent that were accepted.
    fn input(&self, _client: u64, _data: &str) {}
    /// A line submitted to the shell.
    fn line(&self, _client: u64, _line: &str) {}
    /// The terminal size changed.
    fn resize(&self, _cols: u16, _rows: u16) {}
    /// A client attached.
    fn attached(&self, _client: u64, _name: &str, _role: Role) {}
    /// A client left.
    fn detached(&self, _client: u64) {}
    /// The shell reached a final state.
    fn ended(&self, _state: &SessionState) {}
}

/// Why a client's input was not accepted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Refused {
    /// Machine-readable code.
    pub code: ErrorCode,
    /// For a person.
    pub message: String,
}

enum ShellCmd {
    Line(Vec<u8>),
    Eof,
}

struct Inner {
    log: OutputLog,
    /// The most recent terminal size: snapshots are rendered for it.
    size: (u16, u16),
    line: LineDiscipline,
    state: SessionState,
    clients: BTreeMap<u64, Presence>,
    next_client: u64,
    last_active: Instant,
    pending_input: usize,
    echo: Option<EchoFilter>,
    newlines: Newlines,
}

/// One live shell and the clients attached to it.
pub struct Session {
    /// Random id (also the capability in `/s/ID` URLs; access is still checked).
    pub id: String,
    /// Target name.
    pub target: String,
    /// User who started it.
    pub owner: String,
    /// Seconds since the epoch.
    pub created_at: u64,
    inner: Mutex<Inner>,
    end_tx: watch::Sender<u64>,
    events: broadcast::Sender<Event>,
    input_tx: mpsc::Sender<ShellCmd>,
    signal_tx: mpsc::Sender<Signal>,
    stop_tx: watch::Sender<bool>,
    metrics: Metrics,
    observer: Option<Arc<dyn Observer>>,
}

impl std::fmt::Debug for Session {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Session")
            .field("id", &self.id)
            .field("target", &self.target)
            .finish()
    }
}

/// How much of the log's end a snapshot is rendered from (scrollback included).
const SNAPSHOT_TAIL: usize = 256 * 1024;

/// Bytes of input lines that may wait for the target before more input is refused.
const MAX_PENDING_INPUT: usize = 16 << 20;

impl Session {
    fn lock(&self) -> MutexGuard<'_, Inner> {
        // A panic while holding the lock would poison it; the data is still consistent
        // enough to keep serving (every mutation is a few plain assignments).
        self.inner.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// The current state.
    pub fn state(&self) -> SessionState {
        self.lock().state.clone()
    }

    /// Subscribe to the output end offset.
    pub fn subscribe_output(&self) -> watch::Receiver<u64> {
        self.end_tx.subscribe()
    }

    /// Subscribe to state, presence and kick events.
    pub fn subscribe_events(&self) -> broadcast::Receiver<Event> {
        self.events.subscribe()
    }

    /// Attached clients.
    pub fn clients(&self) -> Vec<Presence> {
        self.lock().clients.values().cloned().collect()
    }

    /// Adds a client; returns its id.
    pub fn attach(&self, name: String, role: Role) -> u64 {
        let id = {
            let mut inner = self.lock();
            inner.next_client += 1;
            let id = inner.next_client;
            if let Some(o) = &self.observer {
                o.attached(id, &name, role);
            }
            inner.clients.insert(id, Presence { id, name, role });
            inner.last_active = Instant::now();
            id
        };
        self.metrics.clients.inc();
        let _ = self.events.send(Event::Presence);
        id
    }

    /// Removes a client.
    pub fn detach(&self, client: u64) {
        let removed = {
            let mut inner = self.lock();
            inner.last_active = Instant::now();
            let removed = inner.clients.remove(&client).is_some();
            if let (true, Some(o)) = (removed, &self.observer) {
                o.detached(client);
            }
            removed
        };
        if removed {
            self.metrics.clients.dec();
            let _ = self.events.send(Event::Presence);
        }
    }

    /// The owner removes a client.
    pub fn kick(&self, client: u64) -> bool {
        if !self.lock().clients.contains_key(&client) {
            return false;
        }
        let _ = self.events.send(Event::Kick {
            client: Some(client),
            reason: "the session's owner removed you".into(),
            reconnect: false,
        });
        true
    }

    /// The role of an attached client (None once detached).
    pub fn role_of(&self, client: u64) -> Option<Role> {
        self.lock().clients.get(&client).map(|p| p.role)
    }

    /// Changes a client's role (owner action).
    pub fn set_role(&self, client: u64, role: Role) -> bool {
        let ok = {
            let mut inner = self.lock();
            match inner.clients.get_mut(&client) {
                Some(p) if p.role != Role::Owner => {
                    p.role = role;
                    true
                }
                _ => false,
            }
        };
        if ok {
            let _ = self.events.send(Event::Presence);
        }
        ok
    }

    /// Reads up to `max` bytes of output from `offset`, or a snapshot when the log no longer
    /// has it. Returns (kind is snapshot, offset of the data, data, new position).
    pub fn read_output(&self, offset: u64, max: usize) -> OutputRead {
        let inner = self.lock();
        match inner.log.read(offset, max) {
            Read::Bytes(data) => OutputRead::Bytes { offset, data },
            Read::Evicted | Read::Future => Self::snapshot_locked(&inner),
        }
    }

    /// A fresh view for a new client: the whole output when the log still starts at 0 (exact,
    /// scrollback and all), otherwise a snapshot of the screen.
    pub fn fresh_view(&self) -> OutputRead {
        let inner = self.lock();
        if inner.log.start() == 0 {
            OutputRead::Bytes {
                offset: 0,
                data: Vec::new(),
            }
        } else {
            Self::snapshot_locked(&inner)
        }
    }

    fn snapshot_locked(inner: &Inner) -> OutputRead {
        // The screen is rendered on demand from the end of the log: WinRS gives programs
        // pipes, not a console, so nothing redraws the screen by cursor addressing and the
        // last lines of output are what a terminal shows. Keeping an emulator fed on every
        // byte instead cost two thirds of the relay's CPU and most of an idle session's memory.
        let start = inner
            .log
            .start()
            .max(inner.log.end().saturating_sub(SNAPSHOT_TAIL as u64));
        let tail = match inner.log.read(start, SNAPSHOT_TAIL) {
            crate::outlog::Read::Bytes(b) => b,
            _ => Vec::new(),
        };
        let from_line_start = start == 0;
        let (cols, rows) = inner.size;
        let data = crate::screen::render(&tail, from_line_start, cols, rows);
        OutputRead::Snapshot {
            end: inner.log.end(),
            data,
        }
    }

    /// Whether `offset` can be resumed exactly.
    pub fn can_resume(&self, offset: u64) -> bool {
        let inner = self.lock();
        offset >= inner.log.start() && offset <= inner.log.end()
    }

    /// Current end of the output.
    pub fn output_end(&self) -> u64 {
        self.lock().log.end()
    }

    /// Appends terminal bytes to the log and wakes the clients.
    fn push_locked(&self, inner: &mut Inner, bytes: &[u8]) {
        if bytes.is_empty() {
            return;
        }
        if let Some(o) = &self.observer {
            o.output(bytes);
        }
        inner.log.append(bytes);
        self.metrics.output_bytes.inc_by(bytes.len() as u64);
        self.end_tx.send_replace(inner.log.end());
    }

    /// Remote output arrived.
    fn remote_output(&self, bytes: &[u8]) {
        let mut inner = self.lock();
        inner.last_active = Instant::now();
        let inner = &mut *inner;
        let filtered = match &mut inner.echo {
            Some(echo) => echo.filter(bytes),
            None => bytes.to_vec(),
        };
        let translated = inner.newlines.translate(&filtered);
        let shown = inner.line.pass_output(&translated);
        self.push_locked(inner, &shown);
    }

    /// A message to show in every terminal (relay notices), in the log like everything else.
    fn notice(&self, text: &str) {
        let mut inner = self.lock();
        let shown = format!("\r\n\x1b[33m[winrelay] {text}\x1b[0m\r\n");
        self.push_locked(&mut inner, shown.as_bytes());
    }

    /// Keystrokes from a client.
    pub fn input(&self, client: u64, data: &str) -> Result<(), Refused> {
        let mut effects = Vec::new();
        let mut inner = self.lock();
        match inner.clients.get(&client).map(|p| p.role) {
            Some(r) if r.can_write() => {}
            Some(_) => {
                return Err(Refused {
                    code: ErrorCode::Forbidden,
                    message: "you are a viewer in this session: your input was not sent".into(),
                })
            }
            None => {
                return Err(Refused {
                    code: ErrorCode::Forbidden,
                    message: "you are not attached to this session".into(),
                })
            }
        }
        if inner.state.is_final() {
            return Err(Refused {
                code: ErrorCode::SessionEnded,
                message: "the shell has ended: start a new one".into(),
            });
        }
        if inner.pending_input + data.len() > MAX_PENDING_INPUT {
            return Err(Refused {
                code: ErrorCode::InputFailed,
                message:
                    "the target is not taking input fast enough: wait and paste the rest again"
                        .into(),
            });
        }
        inner.last_active = Instant::now();
        if let Some(o) = &self.observer {
            o.input(client, data);
        }
        self.metrics.input_bytes.inc_by(data.len() as u64);
        inner.line.feed(data, &mut effects);
        for effect in effects {
            match effect {
                Effect::Echo(s) => self.push_locked(&mut inner, s.as_bytes()),
                Effect::Submit(line) => {
                    if let Some(o) = &self.observer {
                        o.line(client, &line);
                    }
                    inner.pending_input += line.len();
                    if let Some(echo) = &mut inner.echo {
                        echo.submitted(line.trim_end_matches(['\r', '\n']));
                    }
                    // Cannot fail while the driver runs; the bound above keeps the queue finite.
                    if self
                        .input_tx
                        .try_send(ShellCmd::Line(line.into_bytes()))
                        .is_err()
                    {
                        return Err(Refused { code: ErrorCode::InputFailed, message: "the target is not taking input fast enough: wait and paste the rest again".into() });
                    }
                }
                Effect::Interrupt => {
                    if let Some(echo) = &mut inner.echo {
                        echo.clear();
                    }
                    let _ = self.signal_tx.try_send(Signal::CtrlC);
                }
                Effect::Break => {
                    let _ = self.signal_tx.try_send(Signal::CtrlBreak);
                }
                Effect::Eof => {
                    let _ = self.input_tx.try_send(ShellCmd::Eof);
                }
                Effect::Bell => self.push_locked(&mut inner, b"\x07"),
            }
        }
        Ok(())
    }

    /// A signal from a client's button (not the Ctrl+C key, which goes through `input`).
    pub fn signal(&self, client: u64, signal: Signal) -> Result<(), Refused> {
        match self.role_of(client) {
            Some(r) if r.can_write() => {}
            _ => {
                return Err(Refused {
                    code: ErrorCode::Forbidden,
                    message: "you are a viewer in this session: signals are not sent".into(),
                })
            }
        }
        let _ = self.signal_tx.try_send(signal);
        Ok(())
    }

    /// A client's terminal changed size. WinRS shells have no window size; the relay's
    /// screen follows the most recent size so snapshots fit the clients.
    pub fn resize(&self, cols: u16, rows: u16) {
        let mut inner = self.lock();
        if let Some(o) = &self.observer {
            o.resize(cols, rows);
        }
        inner.size = (cols.max(1), rows.max(1));
        inner.line.set_columns(Some(cols));
    }

    /// Ends the session: the shell is terminated and deleted.
    pub fn end(&self) {
        self.stop_tx.send_replace(true);
    }

    fn set_state(&self, state: SessionState) {
        {
            let mut inner = self.lock();
            if inner.state == state {
                return;
            }
            inner.state = state.clone();
            if let (true, Some(o)) = (state.is_final(), &self.observer) {
                o.ended(&state);
            }
        }
        let _ = self.events.send(Event::State(state));
    }

    /// When the session last saw input, output or a client.
    pub fn idle_for(&self) -> Option<Duration> {
        let inner = self.lock();
        inner
            .clients
            .is_empty()
            .then(|| inner.last_active.elapsed())
    }

    /// The API view of this session for a caller with `role`.
    pub fn info(&self, role: Role) -> api::SessionInfo {
        let inner = self.lock();
        api::SessionInfo {
            id: self.id.clone(),
            target: self.target.clone(),
            owner: self.owner.clone(),
            created_at: self.created_at,
            state: inner.state.clone(),
            clients: inner.clients.values().cloned().collect(),
            role,
        }
    }
}

/// What [`Session::read_output`] found.
#[derive(Debug)]
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

/// Settings of new sessions.
#[derive(Debug, Clone)]
pub struct SessionSettings {
    /// Log size per session.
    pub log_bytes: usize,
    /// End sessions with no client and no activity after this.
    pub idle_timeout: Duration,
    /// Most sessions at once.
    pub max_sessions: usize,
}

/// All sessions of this relay.
pub struct Registry {
    sessions: Mutex<HashMap<String, Arc<Session>>>,
    drivers: tokio::sync::Mutex<tokio::task::JoinSet<()>>,
    settings: SessionSettings,
    metrics: Metrics,
}

impl Registry {
    /// An empty registry.
    pub fn new(settings: SessionSettings, metrics: Metrics) -> Arc<Registry> {
        Arc::new(Registry {
            sessions: Mutex::new(HashMap::new()),
            drivers: Default::default(),
            settings,
            metrics,
        })
    }

    fn map(&self) -> MutexGuard<'_, HashMap<String, Arc<Session>>> {
        self.sessions.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// A session by id.
    pub fn get(&self, id: &str) -> Option<Arc<Session>> {
        self.map().get(id).cloned()
    }

    /// All sessions.
    pub fn list(&self) -> Vec<Arc<Session>> {
        let mut v: Vec<_> = self.map().values().cloned().collect();
        v.sort_by_key(|s| (s.created_at, s.id.clone()));
        v
    }

    /// Number of sessions.
    pub fn len(&self) -> usize {
        self.map().len()
    }

    /// True when there are none.
    pub fn is_empty(&self) -> bool {
        self.map().is_empty()
    }

    /// Starts a session: the shell opens in the background (state `connecting`).
    pub async fn create(
        self: &Arc<Self>,
        target: String,
        owner: String,
        connector: Connector,
        cols: u16,
        rows: u16,
    ) -> Result<Arc<Session>, String> {
        self.create_observed(target, owner, connector, cols, rows, |_| None)
            .await
    }

    /// [`Registry::create`] with an observer (made from the new session's id) that sees
    /// everything from the start.
    pub async fn create_observed(
        self: &Arc<Self>,
        target: String,
        owner: String,
        connector: Connector,
        cols: u16,
        rows: u16,
        observe: impl FnOnce(&str) -> Option<Arc<dyn Observer>>,
    ) -> Result<Arc<Session>, String> {
        if self.len() >= self.settings.max_sessions {
            return Err(format!(
                "this relay already runs {} sessions, its limit: end some first",
                self.settings.max_sessions
            ));
        }
        let (input_tx, input_rx) = mpsc::channel(4096);
        let (signal_tx, signal_rx) = mpsc::channel(16);
        let (stop_tx, stop_rx) = watch::channel(false);
        let (events, _) = broadcast::channel(64);
        let id = new_id();
        let observer = observe(&id);
        let session = Arc::new(Session {
            id,
            target,
            owner,
            created_at: SystemTime::now()
                .duration_since(UNIX_EPOCH)
                .map(|d| d.as_secs())
                .unwrap_or(0),
            inner: Mutex::new(Inner {
                log: OutputLog::new(self.settings.log_bytes),
                size: (cols.max(1), rows.max(1)),
                line: LineDiscipline::new(LineConfig {
                    // cmd.exe cuts command lines at 8191 characters.
                    max_line_len: if connector.target().shell == crate::config::ShellKind::Cmd {
                        8191
                    } else {
                        64 * 1024
                    },
                    ..LineConfig::default()
                }),
                state: SessionState::Connecting,
                clients: BTreeMap::new(),
                next_client: 0,
                last_active: Instant::now(),
                pending_input: 0,
                echo: connector
                    .target()
                    .shell
                    .echoes_input()
                    .then(EchoFilter::default),
                newlines: Newlines::default(),
            }),
            end_tx: watch::channel(0).0,
            events,
            input_tx,
            signal_tx,
            stop_tx,
            metrics: self.metrics.clone(),
            observer,
        });
        session.resize(cols, rows);
        self.map().insert(session.id.clone(), session.clone());
        self.metrics.sessions.inc();
        self.metrics.sessions_created.inc();
        let span = tracing::info_span!("session", id = %session.id, target = %session.target);
        let registry = self.clone();
        let s = session.clone();
        let mut drivers = self.drivers.lock().await;
        // Forget drivers that have finished, so a long-running relay does not collect them.
        while drivers.try_join_next().is_some() {}
        drivers.spawn(
            async move {
                drive(s.clone(), connector, input_rx, signal_rx, stop_rx).await;
                // A shell that never opened is reported to whoever asked (the API call waits
                // for it); only sessions that ran stay listed so that clients learn how they ended.
                let keep = if matches!(s.state(), SessionState::Failed { .. }) {
                    FAILED_RETENTION
                } else {
                    ENDED_RETENTION
                };
                registry.retire(&s.id, keep);
            }
            .instrument(span),
        );
        Ok(session)
    }

    /// Removes a finished session after its clients had time to see how it ended.
    fn retire(self: &Arc<Self>, id: &str, keep: Duration) {
        let registry = self.clone();
        let id = id.to_string();
        tokio::spawn(async move {
            tokio::time::sleep(keep).await;
            if registry.map().remove(&id).is_some() {
                registry.metrics.sessions.dec();
            }
        });
    }

    /// Ends idle sessions; called periodically.
    pub fn reap_idle(&self) {
        for s in self.list() {
            if !s.state().is_final()
                && s.idle_for()
                    .is_some_and(|d| d >= self.settings.idle_timeout)
            {
                info!(session = %s.id, "ending an idle session");
                s.end();
            }
        }
    }

    /// Ends every session and waits until every shell is deleted (SIGTERM).
    pub async fn shutdown(&self) {
        for s in self.list() {
            let _ = s.events.send(Event::Kick {
                client: None,
                reason: "the relay is shutting down".into(),
                reconnect: true,
            });
            s.end();
        }
        let mut drivers = self.drivers.lock().await;
        while drivers.join_next().await.is_some() {}
    }
}

/// How long a session whose shell never opened stays listed.
const FAILED_RETENTION: Duration = Duration::from_secs(5);

/// How long an ended session stays listed, so reconnecting clients learn its exit code.
const ENDED_RETENTION: Duration = Duration::from_secs(600);

fn new_id() -> String {
    use rand::Rng;
    let bytes: [u8; 16] = rand::rng().random();
    hex::encode(bytes)
}

/// Resolves once the session is asked to end.
async fn stopped(rx: &mut watch::Receiver<bool>) {
    let _ = rx.wait_for(|s| *s).await;
}

/// Owns the WinRS shell of one session.
async fn drive(
    session: Arc<Session>,
    connector: Connector,
    mut input_rx: mpsc::Receiver<ShellCmd>,
    mut signal_rx: mpsc::Receiver<Signal>,
    mut stop_rx: watch::Receiver<bool>,
) {
    let started = Instant::now();
    let opened = tokio::select! {
        r = connector.open(Some(session.metrics.winrm_observer(&session.target))) => r,
        _ = stopped(&mut stop_rx) => {
            session.set_state(SessionState::Failed { message: "ended before the shell opened".into() });
            return;
        }
    };
    let (shell, command) = match opened {
        Ok(x) => x,
        Err(e) => {
            warn!(error = %e, "could not open the shell");
            session
                .metrics
                .winrm_faults
                .get_or_create(&crate::metrics::TargetLabel {
                    target: session.target.clone(),
                })
                .inc();
            session.notice(&e);
            session.set_state(SessionState::Failed { message: e });
            return;
        }
    };
    info!(
        elapsed_ms = started.elapsed().as_millis() as u64,
        "shell open"
    );
    session
        .metrics
        .open_seconds
        .get_or_create(&crate::metrics::TargetLabel {
            target: session.target.clone(),
        })
        .observe(started.elapsed().as_secs_f64());
    session.set_state(SessionState::Connected);
    let (input, mut output) = command.into_split();

    // Input goes through its own task, in order, so a long Send never delays output.
    let input_task = {
        let input = input.clone();
        let session = session.clone();
        tokio::spawn(async move {
            while let Some(cmd) = input_rx.recv().await {
                let result = match &cmd {
                    ShellCmd::Line(bytes) => {
                        let r = input.send(bytes).await;
                        session.lock().pending_input -= bytes.len();
                        r
                    }
                    ShellCmd::Eof => input.close_stdin().await,
                };
                if let Err(e) = result {
                    warn!(error = %e, "input not delivered");
                    session.notice(&format!("input not delivered: {e}"));
                    if e.is_shell_gone() {
                        break;
                    }
                }
            }
        })
    };

    let end_state = loop {
        tokio::select! {
            out = output.recv() => match out {
                Some(Ok(winrm_client::Output::Stdout(b))) | Some(Ok(winrm_client::Output::Stderr(b))) => session.remote_output(&b),
                Some(Ok(winrm_client::Output::Exited(code))) => break SessionState::Exited { code },
                Some(Err(e)) => {
                    warn!(error = %e, "lost the shell");
                    session.metrics.winrm_faults.get_or_create(&crate::metrics::TargetLabel { target: session.target.clone() }).inc();
                    let message = if e.is_shell_gone() {
                        format!("the shell is gone (the container restarted or its idle timeout hit): {e}")
                    } else {
                        e.to_string()
                    };
                    session.notice(&message);
                    break SessionState::TargetLost { message };
                }
                None => break SessionState::TargetLost { message: "the target stopped sending output".into() },
            },
            Some(sig) = signal_rx.recv() => {
                let r = match sig {
                    Signal::CtrlC => input.ctrl_c().await,
                    Signal::CtrlBreak => input.ctrl_break().await,
                };
                if let Err(e) = r {
                    session.notice(&format!("signal not delivered: {e}"));
                }
            }
            _ = stopped(&mut stop_rx) => {
                let _ = input.terminate().await;
                break SessionState::Exited { code: -1 };
            }
        }
    };
    input_task.abort();
    if let SessionState::Exited { code } = &end_state {
        session.notice(&format!("the shell ended (exit code {code})"));
    }
    session.set_state(end_state);
    if let Err(e) = shell.close().await {
        warn!(error = %e, "could not delete the shell");
    }
    session.metrics.sessions_ended.inc();
}
