//! Sessions: one remote shell each, shared by any number of attached clients.
//!
//! * [`core`]: what happens to bytes and clients, as plain code (no I/O, no clock);
//! * [`Session`] (this file): the core behind a lock, with the channels that wake clients
//!   and feed the driver, and the [`Observer`]s (metrics, audit, recordings);
//! * [`driver`]: the task that owns the remote shell, generic over [`remote::RemoteShell`];
//! * [`registry`]: every session of this relay;
//! * [`outlog`], [`screen`], [`echo`]: the output log, snapshots, echo filtering.
//!
//! **Invariants.** The producer (the shell's output) never waits for a client: clients read
//! the log at their own pace, so a slow client cannot hold up the session or other clients.
//! Every byte a terminal shows, echo included, goes through the log exactly once, in order.
//! Ending a session, dropping it, or the relay shutting down deletes its remote shell. This
//! module knows nothing of HTTP or WebSockets.

pub mod core;
pub mod driver;
pub mod echo;
pub mod outlog;
pub mod pshost;
pub mod registry;
pub mod remote;
pub mod screen;

use std::collections::VecDeque;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use tokio::sync::{broadcast, watch};
use winrelay_shared::api::{FailureCode, SessionInfo};
use winrelay_shared::protocol::{Presence, Role, SessionState, Signal};

use self::core::Core;
pub use self::core::{Action, Client, OutputRead, Refused};
pub use registry::{Opener, Registry, SessionSettings, TooManySessions};

/// Something every attached client hears about.
#[derive(Debug, Clone)]
pub enum Event {
    /// The shell's state changed.
    State(SessionState),
    /// Someone attached, left or changed role.
    Presence,
    /// Hidden input was switched on or off.
    InputMode {
        /// Whether the next line is hidden.
        hidden: bool,
        /// What switched it on.
        why: Option<&'static str>,
    },
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

/// Watches a session from outside: metrics, audit, recordings. Called with the session's
/// lock held, in order: implementations must be quick and must not call back into the
/// session.
pub trait Observer: Send + Sync {
    /// Whether [`Observer::output`] is wanted (it costs a copy of every byte).
    fn wants_output(&self) -> bool {
        false
    }
    /// Bytes appended to the output: exactly what the terminals show, in order.
    fn output(&self, _bytes: &[u8]) {}
    /// The output grew by this many bytes.
    fn output_len(&self, _bytes: u64) {}
    /// Keystrokes a client sent that were accepted.
    fn input(&self, _client: u64, _data: &str) {}
    /// A line submitted to the shell.
    fn line(&self, _client: u64, _line: &str) {}
    /// The terminal size changed.
    fn resize(&self, _cols: u16, _rows: u16) {}
    /// A client attached.
    fn attached(&self, _client: &Client) {}
    /// A client left.
    fn detached(&self, _client: &Client) {}
    /// The remote shell opened after this long.
    fn opened(&self, _took: Duration) {}
    /// The remote shell failed (while opening or later).
    fn fault(&self) {}
    /// The shell reached a final state.
    fn ended(&self, _state: &SessionState) {}
    /// The session was removed from the registry.
    fn retired(&self) {}
    /// A checkpointed response begins: the [`Observer::output`] calls until the next
    /// [`Observer::checkpoint`] are its bytes (all under the session's lock).
    fn response_begins(&self) {}
    /// The output so far came from the target up to `checkpoint`; returns true when this
    /// observer acknowledges it once it is safe (a cluster's mirror). When no observer
    /// takes it, the session acknowledges at once.
    fn checkpoint(&self, _checkpoint: &remote::Checkpoint) -> bool {
        false
    }
    /// The driver let go of the shell for another relay (after the last output).
    fn handed_over(&self) {}
}

/// What a terminal attaches to: a session this relay runs ([`Session`]), or in a cluster one
/// that another relay runs, seen through its mirror (`crate::cluster`). The WebSocket loop
/// knows sessions only through this.
pub trait Attach: Send + Sync + 'static {
    /// The session's id.
    fn id(&self) -> &str;
    /// The target's name.
    fn target(&self) -> &str;
    /// Who owns it, for decisions.
    fn owner_id(&self) -> &str;
    /// Opened with its owner's own credentials.
    fn personal(&self) -> bool;
    /// The API view for a caller with `role`.
    fn info(&self, role: Role) -> SessionInfo;
    /// The role the owner's decisions give a person coming with `role` (None: an owner
    /// removed them). Another relay's session answers from what it knows.
    fn admit(&self, user: Option<&str>, share: Option<&str>, role: Role) -> Result<Role, Refused>;
    /// State, presence, input-mode and kick events.
    fn subscribe_events(&self) -> broadcast::Receiver<Event>;
    /// The output's end offset.
    fn subscribe_output(&self) -> watch::Receiver<u64>;
    /// Adds a client with the role the owner's decisions give it; its id and role.
    fn join(
        &self,
        name: String,
        user: Option<String>,
        role: Role,
        share: Option<String>,
    ) -> Result<(u64, Role), Refused>;
    /// Removes a client.
    fn detach(&self, client: u64);
    /// A client's terminal size (writers and owners only).
    fn resize(&self, client: u64, cols: u16, rows: u16) -> bool;
    /// Whether `offset` can be resumed exactly.
    fn can_resume(&self, offset: u64) -> bool;
    /// A new client's first view.
    fn fresh_view(&self) -> OutputRead;
    /// Output from `offset`, or a snapshot.
    fn read_output(&self, offset: u64, max: usize) -> OutputRead;
    /// The current state.
    fn state(&self) -> SessionState;
    /// Who is attached.
    fn clients(&self) -> Vec<Presence>;
    /// Whether the next line is hidden, and why.
    fn input_mode(&self) -> (bool, Option<&'static str>);
    /// Keystrokes.
    fn input(&self, client: u64, data: &str) -> Result<(), Refused>;
    /// A signal button.
    fn signal(&self, client: u64, signal: Signal) -> Result<(), Refused>;
    /// The next line is a secret.
    fn hide_next_line(&self, client: u64) -> Result<(), Refused>;
}

impl Attach for Session {
    fn id(&self) -> &str {
        &self.id
    }
    fn target(&self) -> &str {
        &self.target
    }
    fn owner_id(&self) -> &str {
        &self.owner_id
    }
    fn personal(&self) -> bool {
        self.personal
    }
    fn info(&self, role: Role) -> SessionInfo {
        Session::info(self, role)
    }
    fn admit(&self, user: Option<&str>, share: Option<&str>, role: Role) -> Result<Role, Refused> {
        Session::admit(self, user, share, role)
    }
    fn subscribe_events(&self) -> broadcast::Receiver<Event> {
        Session::subscribe_events(self)
    }
    fn subscribe_output(&self) -> watch::Receiver<u64> {
        Session::subscribe_output(self)
    }
    fn join(
        &self,
        name: String,
        user: Option<String>,
        role: Role,
        share: Option<String>,
    ) -> Result<(u64, Role), Refused> {
        Session::join(self, name, user, role, share)
    }
    fn detach(&self, client: u64) {
        Session::detach(self, client)
    }
    fn resize(&self, client: u64, cols: u16, rows: u16) -> bool {
        Session::resize(self, client, cols, rows)
    }
    fn can_resume(&self, offset: u64) -> bool {
        Session::can_resume(self, offset)
    }
    fn fresh_view(&self) -> OutputRead {
        Session::fresh_view(self)
    }
    fn read_output(&self, offset: u64, max: usize) -> OutputRead {
        Session::read_output(self, offset, max)
    }
    fn state(&self) -> SessionState {
        Session::state(self)
    }
    fn clients(&self) -> Vec<Presence> {
        Session::clients(self)
    }
    fn input_mode(&self) -> (bool, Option<&'static str>) {
        Session::input_mode(self)
    }
    fn input(&self, client: u64, data: &str) -> Result<(), Refused> {
        Session::input(self, client, data)
    }
    fn signal(&self, client: u64, signal: Signal) -> Result<(), Refused> {
        Session::signal(self, client, signal)
    }
    fn hide_next_line(&self, client: u64) -> Result<(), Refused> {
        Session::hide_next_line(self, client)
    }
}

/// What the driver does with the shell's input.
#[derive(Debug)]
pub(crate) enum ShellCmd {
    Line(Vec<u8>),
    Eof,
    Complete(remote::CompleteRequest),
    Resize(u16, u16),
}

/// The time sessions use: tokio's clock, so that tests with paused time control it.
pub(crate) fn now() -> Instant {
    tokio::time::Instant::now().into_std()
}

/// One live shell and the clients attached to it.
pub struct Session {
    /// Random id (also the capability in `/s/ID` URLs; access is still checked).
    pub id: String,
    /// Target name.
    pub target: String,
    /// User who started it (as shown).
    pub owner: String,
    /// Who owns it, for decisions (`embed:NAME` for embed identities).
    pub owner_id: String,
    /// Opened with the owner's own credentials: others type only through a share link.
    pub personal: bool,
    /// Seconds since the epoch.
    pub created_at: u64,
    core: Mutex<Core>,
    end_tx: watch::Sender<u64>,
    events: Events,
    /// Lines, EOF, completions and sizes for the shell, in order (the driver's input task).
    pub(crate) input: Inbox<ShellCmd>,
    /// Signals, apart from input so that Ctrl+C never waits behind queued lines.
    pub(crate) signals: Inbox<Signal>,
    stop_tx: watch::Sender<bool>,
    /// The state to end in when stopped from outside (`TargetLost` for a gone container).
    end_as: Mutex<Option<SessionState>>,
    /// Why the relay ended the session, once it did.
    end_reason: Mutex<Option<String>>,
    /// Handed to another relay of the cluster: stop without deleting the shell.
    handed_over: std::sync::atomic::AtomicBool,
    observers: Vec<Arc<dyn Observer>>,
}

impl std::fmt::Debug for Session {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Session")
            .field("id", &self.id)
            .field("target", &self.target)
            .finish()
    }
}

/// A session's event channel, made on the first subscription and dropped once nobody
/// listens: a broadcast channel allocates all its slots at once, and a session without
/// clients has no use for them (issue 18). Nothing is lost by that: tokio's broadcast drops
/// a message sent while nobody listens, and a new receiver sees only later ones anyway.
#[derive(Default)]
struct Events(Mutex<Option<broadcast::Sender<Event>>>);

impl Events {
    /// Events are human-paced (joins, roles, state); a receiver that lags still gets the
    /// newest ones, and a lag is answered with a fresh presence list.
    const SLOTS: usize = 16;

    fn send(&self, event: Event) {
        let mut tx = self.0.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(sender) = tx.as_ref() {
            if sender.send(event).is_err() {
                *tx = None;
            }
        }
    }

    fn subscribe(&self) -> broadcast::Receiver<Event> {
        let mut tx = self.0.lock().unwrap_or_else(|e| e.into_inner());
        tx.get_or_insert_with(|| broadcast::channel(Events::SLOTS).0)
            .subscribe()
    }
}

/// A queue from a session to its driver: what a tokio mpsc channel did here, without the
/// block of 32 slots and the cache-padded halves such a channel allocates up front (about
/// 0.7 KiB each, and an idle session never sends; issue 18). Bounded; one consumer; closed
/// by the driver when it ends, after which nothing more is taken.
pub(crate) struct Inbox<T> {
    queue: Mutex<(VecDeque<T>, bool)>,
    ready: tokio::sync::Notify,
    limit: usize,
}

impl<T> Inbox<T> {
    fn new(limit: usize) -> Inbox<T> {
        Inbox {
            queue: Mutex::new((VecDeque::new(), false)),
            ready: tokio::sync::Notify::new(),
            limit,
        }
    }

    fn lock(&self) -> MutexGuard<'_, (VecDeque<T>, bool)> {
        self.queue.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Queues `item`; gives it back if the queue is full or closed.
    pub(crate) fn push(&self, item: T) -> Result<(), T> {
        let mut q = self.lock();
        if q.1 || q.0.len() >= self.limit {
            return Err(item);
        }
        q.0.push_back(item);
        drop(q);
        self.ready.notify_one();
        Ok(())
    }

    /// The next item, waiting for one. Cancel-safe: an item is taken only when this returns.
    pub(crate) async fn pop(&self) -> T {
        loop {
            {
                let mut q = self.lock();
                if let Some(item) = q.0.pop_front() {
                    // A burst (a long paste) leaves no large buffer behind.
                    if q.0.is_empty() && q.0.capacity() > 16 {
                        q.0 = VecDeque::new();
                    }
                    return item;
                }
            }
            self.ready.notified().await;
        }
    }

    /// Refuses further items and drops the queued ones (the driver ended).
    pub(crate) fn close(&self) {
        let mut q = self.lock();
        q.1 = true;
        q.0 = VecDeque::new();
    }
}

/// The receiving end a driver needs besides the session's inboxes.
pub(crate) struct DriverChannels {
    pub stop_rx: watch::Receiver<bool>,
}

impl Session {
    /// A new session in state `connecting`, and the channels its driver reads.
    pub(crate) fn new(
        id: String,
        target: String,
        opener: Opener,
        created_at: u64,
        mut config: self::core::CoreConfig,
        observers: Vec<Arc<dyn Observer>>,
    ) -> (Arc<Session>, DriverChannels) {
        let (stop_tx, stop_rx) = watch::channel(false);
        config.observe_bytes = observers.iter().any(|o| o.wants_output());
        let size = config.size;
        let session = Arc::new(Session {
            id,
            target,
            owner: opener.user,
            owner_id: opener.id,
            personal: opener.personal,
            created_at,
            core: Mutex::new(Core::new(config, now())),
            end_tx: watch::channel(0).0,
            events: Events::default(),
            input: Inbox::new(4096),
            signals: Inbox::new(16),
            stop_tx,
            end_as: Mutex::new(None),
            end_reason: Mutex::new(None),
            handed_over: Default::default(),
            observers,
        });
        for o in &session.observers {
            o.resize(size.0.max(1), size.1.max(1));
        }
        (session, DriverChannels { stop_rx })
    }

    fn lock(&self) -> MutexGuard<'_, Core> {
        // A panic while holding the lock would poison it; the data is still consistent
        // enough to keep serving (every mutation is a few plain assignments).
        self.core.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Runs `f` on the core and carries out the actions it asks for, lock held, in order.
    fn with_core<T>(&self, f: impl FnOnce(&mut Core, &mut Vec<Action>) -> T) -> T {
        let mut out = Vec::new();
        let mut core = self.lock();
        let result = f(&mut core, &mut out);
        // Still under the lock: observers and the end offset see actions in order.
        for action in out {
            self.apply(action);
        }
        drop(core);
        result
    }

    fn apply(&self, action: Action) {
        let obs = &self.observers;
        match action {
            Action::Shown(bytes) => obs.iter().for_each(|o| o.output(&bytes)),
            Action::OutputEnd(end) => {
                let before = self.end_tx.send_replace(end);
                obs.iter()
                    .for_each(|o| o.output_len(end.saturating_sub(before)));
            }
            Action::Send(line) => {
                // Cannot fail while the driver runs: the core bounds pending input.
                if self.input.push(ShellCmd::Line(line)).is_err() {
                    tracing::warn!("input queue full or closed: a line was dropped");
                }
            }
            Action::CloseStdin => {
                let _ = self.input.push(ShellCmd::Eof);
            }
            Action::Signal(s) => {
                let _ = self.signals.push(s);
            }
            Action::Input { client, data } => obs.iter().for_each(|o| o.input(client, &data)),
            Action::Line { client, line } => obs.iter().for_each(|o| o.line(client, &line)),
            Action::Resized(c, r) => {
                obs.iter().for_each(|o| o.resize(c, r));
                let _ = self.input.push(ShellCmd::Resize(c, r));
            }
            Action::Complete(req) => {
                let _ = self.input.push(ShellCmd::Complete(req));
            }
            Action::InputMode { hidden, why } => {
                self.events.send(Event::InputMode { hidden, why });
            }
            Action::Attached(c) => obs.iter().for_each(|o| o.attached(&c)),
            Action::Detached(c) => obs.iter().for_each(|o| o.detached(&c)),
            Action::Presence => {
                self.events.send(Event::Presence);
            }
            Action::State(state) => {
                if state.is_final() {
                    obs.iter().for_each(|o| o.ended(&state));
                }
                self.events.send(Event::State(state));
            }
            Action::Kick {
                client,
                reason,
                reconnect,
            } => {
                self.events.send(Event::Kick {
                    client,
                    reason,
                    reconnect,
                });
            }
        }
    }

    /// The current state.
    pub fn state(&self) -> SessionState {
        self.lock().state().clone()
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
        self.lock().presence()
    }

    /// Adds a client (`share`: the share link that grants its role, if that is how it
    /// came); returns its id. Its name is taken for the signed-in person.
    pub fn attach(&self, name: String, role: Role, share: Option<String>) -> u64 {
        self.with_core(|c, out| c.attach(name, role, share, now(), out))
    }

    /// The role `user` (None: an anonymous guest) coming with `role` through `share` gets
    /// in this session, or why not (the owner removed or demoted them).
    pub fn admit(
        &self,
        user: Option<&str>,
        share: Option<&str>,
        role: Role,
    ) -> Result<Role, Refused> {
        self.lock().admit(user, share, role)
    }

    /// Adds a client with the role [`Session::admit`] gives it; returns its id and role.
    pub fn join(
        &self,
        name: String,
        user: Option<String>,
        role: Role,
        share: Option<String>,
    ) -> Result<(u64, Role), Refused> {
        self.with_core(|c, out| c.join(name, user, role, share, now(), out))
    }

    /// Adds a client attached to another relay of the cluster, with the id that relay
    /// chose; returns its role.
    pub fn join_as(
        &self,
        id: u64,
        name: String,
        user: Option<String>,
        role: Role,
        share: Option<String>,
    ) -> Result<Role, Refused> {
        self.with_core(|c, out| c.join_as(id, name, user, role, share, now(), out))
    }

    /// Removes a client.
    pub fn detach(&self, client: u64) {
        self.with_core(|c, out| c.detach(client, now(), out))
    }

    /// The owner removes a client, and its person and share link for the rest of the
    /// session.
    pub fn kick(&self, client: u64) -> bool {
        self.with_core(|c, out| c.remove(client, &self.owner_id, out))
    }

    /// Removes every client that came through share link `share` (revoked or expired);
    /// returns how many.
    pub fn kick_share(&self, share: &str, reason: &str) -> usize {
        self.with_core(|c, out| {
            let clients = c.clients_via(share);
            for id in &clients {
                c.kick(*id, reason, out);
            }
            clients.len()
        })
    }

    /// The clients attached through share link `share`.
    pub fn clients_via(&self, share: &str) -> Vec<u64> {
        self.lock().clients_via(share)
    }

    /// The role of an attached client (None once detached).
    pub fn role_of(&self, client: u64) -> Option<Role> {
        self.lock().role_of(client)
    }

    /// Changes a client's role (owner action).
    pub fn set_role(&self, client: u64, role: Role) -> bool {
        self.with_core(|c, out| c.set_role(client, role, &self.owner_id, out))
    }

    /// Up to `max` bytes of output from `offset`, or a snapshot when the log no longer has
    /// them.
    pub fn read_output(&self, offset: u64, max: usize) -> OutputRead {
        self.lock().read_output(offset, max)
    }

    /// A fresh view for a new client.
    pub fn fresh_view(&self) -> OutputRead {
        self.lock().fresh_view()
    }

    /// Whether `offset` can be resumed exactly.
    pub fn can_resume(&self, offset: u64) -> bool {
        self.lock().can_resume(offset)
    }

    /// Current end of the output.
    pub fn output_end(&self) -> u64 {
        self.lock().output_end()
    }

    /// Keystrokes from a client.
    pub fn input(&self, client: u64, data: &str) -> Result<(), Refused> {
        self.with_core(|c, out| c.input(client, data, now(), out))
    }

    /// A writer's switch: the next line typed is hidden.
    pub fn hide_next_line(&self, client: u64) -> Result<(), Refused> {
        self.with_core(|c, out| c.hide_next_line_for(client, out))
    }

    /// Whether the next line is hidden, and why.
    pub fn input_mode(&self) -> (bool, Option<&'static str>) {
        self.lock().input_mode()
    }

    /// A signal from a client's button (not the Ctrl+C key, which goes through `input`).
    pub fn signal(&self, client: u64, signal: Signal) -> Result<(), Refused> {
        self.with_core(|c, out| c.signal(client, signal, out))
    }

    /// A client's terminal changed size (applied for writers and owners only).
    pub fn resize(&self, client: u64, cols: u16, rows: u16) -> bool {
        self.with_core(|c, out| c.resize(client, cols, rows, out))
    }

    /// The owner ends the session: the shell is terminated and deleted.
    pub fn end(&self) {
        self.end_because("ended by the owner");
    }

    /// The relay ends the session for `reason` (the first reason given sticks), which the
    /// final `exited` state carries.
    pub fn end_because(&self, reason: &str) {
        self.end_reason
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .get_or_insert_with(|| reason.to_string());
        self.stop_tx.send_replace(true);
    }

    /// Another relay of the cluster takes the session over: this relay's driver lets go of
    /// the shell without deleting it, and this relay's clients are told to reconnect.
    pub fn hand_over(&self, reason: &str) {
        self.handed_over
            .store(true, std::sync::atomic::Ordering::SeqCst);
        self.kick_all(reason, true);
        self.stop_tx.send_replace(true);
    }

    /// Whether [`Session::hand_over`] was called.
    pub fn is_handed_over(&self) -> bool {
        self.handed_over.load(std::sync::atomic::Ordering::SeqCst)
    }

    /// Ends the session because its target went away (a discovered container is gone): the
    /// shell is terminated and deleted, and the session ends as `TargetLost` with `message`.
    pub fn end_lost(&self, code: FailureCode, message: String) {
        *self.end_as.lock().unwrap_or_else(|p| p.into_inner()) =
            Some(SessionState::TargetLost { code, message });
        self.end_because("its target is gone");
    }

    /// The state [`Session::end_lost`] asked for, if any (for the driver).
    pub(crate) fn take_end_state(&self) -> Option<SessionState> {
        self.end_as.lock().unwrap_or_else(|p| p.into_inner()).take()
    }

    /// Why the relay ended the session, once it did.
    pub(crate) fn end_reason(&self) -> Option<String> {
        self.end_reason
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    /// How long the session has had no client and no activity (None while anyone is
    /// attached).
    pub fn idle_for(&self) -> Option<Duration> {
        self.lock().idle_for(now())
    }

    /// The owner's standing decisions (people and links removed or made viewers), for
    /// another relay that takes the session over.
    pub fn decisions(&self) -> self::core::Decisions {
        self.lock().decisions()
    }

    /// Restores [`Session::decisions`] (an adopted session).
    pub fn restore_decisions(&self, d: self::core::Decisions) {
        self.lock().restore_decisions(d)
    }

    /// The clients attached to other relays of the cluster.
    pub fn remote_clients(&self) -> Vec<Client> {
        self.lock().remote_clients()
    }

    /// Everything the log still holds: its start offset and bytes.
    pub fn log_contents(&self) -> (u64, Vec<u8>) {
        let core = self.lock();
        let start = core.output_start();
        match core.read_output(start, usize::MAX) {
            OutputRead::Bytes { data, .. } => (start, data),
            OutputRead::Snapshot { .. } => (core.output_end(), Vec::new()),
        }
    }

    /// The terminal size.
    pub fn size(&self) -> (u16, u16) {
        self.lock().size()
    }

    /// The last line submitted (never a hidden one).
    pub fn last_command(&self) -> Option<String> {
        self.lock().last_line().map(str::to_string)
    }

    /// The API view of this session for a caller with `role`.
    pub fn info(&self, role: Role) -> SessionInfo {
        let core = self.lock();
        SessionInfo {
            id: self.id.clone(),
            target: self.target.clone(),
            owner: self.owner.clone(),
            created_at: self.created_at,
            state: core.state().clone(),
            clients: core.presence(),
            role,
            last_command: core.last_line().map(str::to_string),
        }
    }

    // --- for the driver -------------------------------------------------------------------

    pub(crate) fn remote_output(&self, bytes: &[u8]) {
        self.with_core(|c, out| c.remote_output(bytes, now(), out))
    }

    /// A response of the target and its checkpoint, under one lock: the observers see its
    /// bytes (as the terminals do) between `response_begins` and `checkpoint`.
    pub(crate) fn checkpoint(&self, cp: remote::Checkpoint) {
        let mut out = Vec::new();
        let mut core = self.lock();
        self.observers.iter().for_each(|o| o.response_begins());
        if !cp.output.is_empty() {
            core.remote_output(&cp.output, now(), &mut out);
        }
        for action in out {
            self.apply(action);
        }
        // Every observer hears of it (not only up to the first that takes it).
        let mut taken = false;
        for o in &self.observers {
            taken |= o.checkpoint(&cp);
        }
        drop(core);
        if !taken {
            cp.ack();
        }
    }

    /// The log continues a stream another relay began (an adopted session): call before
    /// the driver runs.
    pub(crate) fn restore_log(&self, capacity: usize, start: u64, tail: &[u8]) {
        self.lock().restore_log(capacity, start, tail);
        self.end_tx.send_replace(start + tail.len() as u64);
    }

    pub(crate) fn hide_from_shell(&self, why: &'static str) {
        self.with_core(|c, out| c.hide_next_line(why, out))
    }

    pub(crate) fn completion(&self, id: u64, answer: winrelay_shared::line::Completion) {
        self.with_core(|c, out| c.completion(id, answer, out))
    }

    pub(crate) fn notice(&self, text: &str) {
        self.with_core(|c, out| c.notice(text, out))
    }

    pub(crate) fn set_state(&self, state: SessionState) {
        self.with_core(|c, out| c.set_state(state, out))
    }

    pub(crate) fn delivered(&self, len: usize) {
        self.lock().delivered(len)
    }

    pub(crate) fn observers(&self) -> &[Arc<dyn Observer>] {
        &self.observers
    }

    /// Closes one client's socket (a join the owner refused for another relay's client).
    pub fn kick_client(&self, client: u64, reason: &str) {
        self.events.send(Event::Kick {
            client: Some(client),
            reason: reason.into(),
            reconnect: false,
        });
    }

    pub(crate) fn kick_all(&self, reason: &str, reconnect: bool) {
        self.events.send(Event::Kick {
            client: None,
            reason: reason.into(),
            reconnect,
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn is_presence(r: Result<Event, broadcast::error::TryRecvError>) -> bool {
        matches!(r, Ok(Event::Presence))
    }

    #[tokio::test]
    async fn an_inbox_keeps_order_and_bounds_and_loses_nothing_to_cancellation() {
        let inbox = Arc::new(Inbox::new(3));
        for i in 0..3 {
            inbox.push(i).unwrap();
        }
        assert_eq!(inbox.push(3), Err(3), "full");
        assert_eq!(inbox.pop().await, 0);
        // A pop that loses a select takes nothing.
        tokio::select! {
            biased;
            _ = std::future::ready(()) => {}
            _ = inbox.pop() => unreachable!(),
        }
        assert_eq!((inbox.pop().await, inbox.pop().await), (1, 2));
        // A waiting pop is woken by a push.
        let waiter = tokio::spawn({
            let inbox = inbox.clone();
            async move { inbox.pop().await }
        });
        tokio::task::yield_now().await;
        inbox.push(7).unwrap();
        assert_eq!(waiter.await.unwrap(), 7);
        inbox.push(8).unwrap();
        inbox.close();
        assert_eq!(inbox.push(9), Err(9), "closed");
        assert!(inbox.lock().0.is_empty(), "closing drops what was queued");
    }

    #[test]
    fn the_event_channel_exists_only_while_someone_listens() {
        let events = Events::default();
        events.send(Event::Presence);
        assert!(
            events.0.lock().unwrap().is_none(),
            "nobody listened: nothing allocated"
        );
        let mut a = events.subscribe();
        let mut b = events.subscribe();
        events.send(Event::Presence);
        assert!(is_presence(a.try_recv()) && is_presence(b.try_recv()));
        drop((a, b));
        events.send(Event::Presence);
        assert!(events.0.lock().unwrap().is_none(), "the last receiver left");
        let mut c = events.subscribe();
        assert!(
            c.try_recv().is_err(),
            "a new receiver sees only later events"
        );
        events.send(Event::Presence);
        assert!(is_presence(c.try_recv()));
    }
}
