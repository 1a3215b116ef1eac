//! A session another relay owns, served to this relay's clients: its output read from the
//! cluster's stream into a local mirror of the log (same offsets, so acks, resumes and
//! snapshots work as for a local session), its state and presence from the owner's events,
//! and what the clients do posted to the owner's inbox, in order.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, Weak};
use std::time::Duration;

use rand::Rng;
use tokio::sync::{broadcast, mpsc, watch};
use tracing::{debug, warn};
use winrelay_cluster::Read;
use winrelay_shared::api::{FailureCode, SessionInfo};
use winrelay_shared::protocol::{ErrorCode, Presence, Role, SessionState, Signal};

use super::wire::{FromOwner, Record, ToOwner};
use super::Node;
use crate::session::core::{why, Core, CoreConfig, OutputRead, Refused, REMOTE_CLIENTS};
use crate::session::{Attach, Event};

/// One of this relay's clients of the session.
#[derive(Debug, Clone)]
struct Local {
    name: String,
    user: Option<String>,
    role: Role,
    share: Option<String>,
}

/// A session another relay owns, as this relay serves it.
pub struct Follower {
    id: String,
    record: Record,
    /// The log (mirror) and snapshots; nothing else of the core is used.
    core: Mutex<Core>,
    end_tx: watch::Sender<u64>,
    events: broadcast::Sender<Event>,
    state: Mutex<SessionState>,
    presence: Mutex<Vec<Presence>>,
    input_mode: Mutex<(bool, Option<&'static str>)>,
    last_command: Mutex<Option<String>>,
    local: Mutex<HashMap<u64, Local>>,
    post: mpsc::UnboundedSender<ToOwner>,
    node: Arc<Node>,
}

impl std::fmt::Debug for Follower {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Follower").field("id", &self.id).finish()
    }
}

/// Why a session of another relay cannot be followed.
#[derive(Debug, thiserror::Error)]
pub enum FollowError {
    /// No such session in the cluster (or it ended long ago).
    #[error("no such session")]
    Unknown,
    /// Redis does not answer: sessions of other relays cannot be reached from here now.
    #[error("the cluster's Redis cannot be reached from this relay now, so sessions of other relays cannot be attached here: try again, or reach the relay that runs it")]
    Unavailable,
}

impl From<winrelay_cluster::Error> for FollowError {
    fn from(e: winrelay_cluster::Error) -> FollowError {
        warn!(error = %e, "cluster: following a session failed");
        FollowError::Unavailable
    }
}

/// How long a Redis call of an attach may take.
const ATTACH_TIMEOUT: Duration = Duration::from_secs(2);

impl Node {
    /// The session `id` of another relay, served here (shared by this relay's clients of it).
    pub async fn follow(self: &Arc<Self>, id: &str) -> Result<Arc<Follower>, FollowError> {
        if let Some(f) = self.followers().get(id).and_then(Weak::upgrade) {
            return Ok(f);
        }
        let f = tokio::time::timeout(ATTACH_TIMEOUT, Follower::start(self.clone(), id))
            .await
            .map_err(|_| FollowError::Unavailable)??;
        let mut map = self.followers();
        // Another client may have started one meanwhile: use the first.
        if let Some(existing) = map.get(id).and_then(Weak::upgrade) {
            return Ok(existing);
        }
        map.retain(|_, w| w.strong_count() > 0);
        map.insert(id.to_string(), Arc::downgrade(&f));
        self.metrics.followed.set(map.len() as i64);
        Ok(f)
    }

    /// The record of a session of the cluster (None: unknown).
    pub async fn record(&self, id: &str) -> Result<Option<Record>, FollowError> {
        let h = tokio::time::timeout(ATTACH_TIMEOUT, self.store.record(id))
            .await
            .map_err(|_| FollowError::Unavailable)??;
        Ok(Record::parse(&h))
    }

    /// Posts a message for the owner of session `id`.
    pub async fn post(&self, id: &str, msg: &ToOwner) -> Result<(), FollowError> {
        tokio::time::timeout(ATTACH_TIMEOUT, self.store.post(id, &msg.encode()))
            .await
            .map_err(|_| FollowError::Unavailable)??;
        Ok(())
    }
}

impl Follower {
    async fn start(node: Arc<Node>, id: &str) -> Result<Arc<Follower>, FollowError> {
        let record = node.record(id).await?.ok_or(FollowError::Unknown)?;
        let events_after = node.store.last_event(id).await?;
        // The log as the stream has it now: from its start (as much as the owner keeps).
        let (start, tail) = super::adopt::read_log(&node.store, id).await?;
        let mut core = Core::new(
            CoreConfig {
                log_bytes: node.log_bytes,
                size: record.size,
                ..CoreConfig::default()
            },
            crate::session::now(),
        );
        core.restore_log(node.log_bytes, start, &tail);
        let end = core.output_end();
        let (post, post_rx) = mpsc::unbounded_channel();
        let (events, _) = broadcast::channel(16);
        let f = Arc::new(Follower {
            id: id.to_string(),
            core: Mutex::new(core),
            end_tx: watch::channel(end).0,
            events,
            state: Mutex::new(record.state.clone()),
            presence: Mutex::new(record.clients.clone()),
            input_mode: Mutex::new((
                record.input_mode.0,
                record.input_mode.1.as_deref().and_then(why::intern),
            )),
            last_command: Mutex::new(record.last_command.clone()),
            record,
            local: Mutex::new(HashMap::new()),
            post,
            node: node.clone(),
        });
        tokio::spawn(read_loop(Arc::downgrade(&f), node.clone(), events_after));
        tokio::spawn(post_loop(node, id.to_string(), post_rx));
        debug!(session = %id, from = start, end, "cluster: following a session of another relay");
        Ok(f)
    }

    fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
        m.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn role_of(&self, client: u64) -> Option<Role> {
        Self::lock(&self.local).get(&client).map(|l| l.role)
    }

    fn writer(&self, client: u64) -> Result<(), Refused> {
        match self.role_of(client) {
            Some(Role::Writer | Role::Owner) => Ok(()),
            _ => Err(Refused {
                code: ErrorCode::Forbidden,
                message: "viewers cannot type".into(),
            }),
        }
    }

    fn mirror(&self, bytes: &[u8]) {
        let mut out = Vec::new();
        let end = {
            let mut core = Self::lock(&self.core);
            core.mirror(bytes, &mut out);
            core.output_end()
        };
        self.end_tx.send_replace(end);
    }

    /// The stream dropped what this mirror had not read yet (this relay fell behind):
    /// continue from what it holds; clients get a snapshot.
    fn jump(&self, start: u64, tail: &[u8]) {
        let end = {
            let mut core = Self::lock(&self.core);
            core.restore_log(self.node.log_bytes, start, tail);
            core.output_end()
        };
        self.end_tx.send_replace(end);
    }

    fn on_event(&self, ev: FromOwner) {
        match ev {
            FromOwner::Owner { node, .. } => {
                debug!(session = %self.id, %node, "cluster: a new owner; joining this relay's clients again");
                for (client, l) in Self::lock(&self.local).iter() {
                    let _ = self.post.send(join_msg(*client, l, &self.node.name));
                }
            }
            FromOwner::State { state } => {
                *Self::lock(&self.state) = state.clone();
                let _ = self.events.send(Event::State(state));
            }
            FromOwner::Presence { clients } => {
                {
                    let mut local = Self::lock(&self.local);
                    for p in &clients {
                        if let Some(l) = local.get_mut(&p.id) {
                            l.role = p.role;
                        }
                    }
                }
                *Self::lock(&self.presence) = clients;
                let _ = self.events.send(Event::Presence);
            }
            FromOwner::InputMode { hidden, why } => {
                let why = why.as_deref().and_then(why::intern);
                *Self::lock(&self.input_mode) = (hidden, why);
                let _ = self.events.send(Event::InputMode { hidden, why });
            }
            FromOwner::Kick {
                client,
                reason,
                reconnect,
            } => {
                let _ = self.events.send(Event::Kick {
                    client,
                    reason,
                    reconnect,
                });
            }
        }
    }
}

fn join_msg(client: u64, l: &Local, node: &str) -> ToOwner {
    ToOwner::Join {
        client,
        name: l.name.clone(),
        user: l.user.clone(),
        role: l.role,
        share: l.share.clone(),
        node: node.to_string(),
    }
}

/// Posts the clients' messages in order; a failed post is retried (Redis away) so that
/// nothing typed is reordered.
async fn post_loop(node: Arc<Node>, id: String, mut rx: mpsc::UnboundedReceiver<ToOwner>) {
    while let Some(msg) = rx.recv().await {
        let bytes = msg.encode();
        let mut wait = Duration::from_millis(50);
        loop {
            match node.store.post(&id, &bytes).await {
                Ok(_) => break,
                Err(e) => {
                    warn!(error = %e, "cluster: cannot post to a session's owner; retrying");
                    tokio::time::sleep(wait).await;
                    wait = (wait * 2).min(Duration::from_secs(1));
                }
            }
        }
    }
}

/// Reads the owner's output and events into the follower until it is dropped.
async fn read_loop(f: Weak<Follower>, node: Arc<Node>, mut events_after: String) {
    let store = node.store.clone();
    let mut conn = None;
    loop {
        let Some(me) = f.upgrade() else { return };
        let id = me.id.clone();
        let end = me.end_tx.borrow().to_owned();
        drop(me);
        if conn.is_none() {
            match store.blocking_connection().await {
                Ok(c) => conn = Some(c),
                Err(e) => {
                    warn!(error = %e, "cluster: no connection to read a followed session");
                    tokio::time::sleep(Duration::from_millis(500)).await;
                    continue;
                }
            }
        }
        let c = conn.as_mut().expect("set above");
        let (chunks, events) = match store
            .wait_session(c, &id, end, &events_after, Duration::from_secs(1))
            .await
        {
            Ok(r) => r,
            Err(e) => {
                warn!(error = %e, "cluster: reading a followed session failed");
                conn = None;
                tokio::time::sleep(Duration::from_millis(200)).await;
                continue;
            }
        };
        let Some(me) = f.upgrade() else { return };
        // Output shows as new chunks; but a log written back after Redis lost its data is
        // one chunk at an older id that a blocking read never returns: after any event (the
        // owner announces such a write-back) look at the log's end too.
        let output = !chunks.is_empty() || !events.is_empty();
        // The chunks XREAD gave continue the mirror exactly: take them as they are (no
        // second round trip); anything else (a chunk holding `end` in its middle after a
        // restore) is read from `end`.
        let direct = !chunks.is_empty()
            && chunks
                .iter()
                .try_fold(end, |at, (off, data)| {
                    (*off == at).then(|| at + data.len() as u64)
                })
                .is_some();
        if output && direct {
            for (_, data) in &chunks {
                me.mirror(data);
            }
        } else if output {
            let mut at = end;
            loop {
                match store.read(&id, at, 1 << 20).await {
                    Ok(Read::Bytes(slice)) => {
                        if slice.data.is_empty() {
                            break;
                        }
                        at += slice.data.len() as u64;
                        me.mirror(&slice.data);
                        if at >= slice.end {
                            break;
                        }
                    }
                    Ok(Read::Gone { start, end }) => {
                        match store.read(&id, start, 1 << 20).await {
                            Ok(Read::Bytes(s)) => me.jump(s.offset, &s.data),
                            _ => me.jump(end, &[]),
                        }
                        break;
                    }
                    Ok(Read::Ahead { .. }) | Err(_) => break,
                }
            }
        }
        for (eid, m) in events {
            events_after = eid;
            match FromOwner::decode(&m) {
                Ok(ev) => me.on_event(ev),
                Err(e) => warn!(error = %e, "cluster: an event this relay cannot read was skipped"),
            }
        }
        let ended = Follower::lock(&me.state).is_final();
        if ended && !output {
            // Nothing more will come; keep serving what there is until dropped.
            drop(me);
            tokio::time::sleep(Duration::from_secs(1)).await;
        }
    }
}

impl Drop for Follower {
    fn drop(&mut self) {
        let n = self
            .node
            .followers()
            .values()
            .filter(|w| w.strong_count() > 0)
            .count();
        self.node.metrics.followed.set(n as i64);
    }
}

impl Attach for Follower {
    fn id(&self) -> &str {
        &self.id
    }
    fn target(&self) -> &str {
        &self.record.target
    }
    fn owner_id(&self) -> &str {
        &self.record.owner_id
    }
    fn personal(&self) -> bool {
        self.record.personal
    }
    fn info(&self, role: Role) -> SessionInfo {
        SessionInfo {
            id: self.id.clone(),
            target: self.record.target.clone(),
            owner: self.record.owner.clone(),
            created_at: self.record.created_at,
            state: self.state(),
            clients: self.clients(),
            role,
            last_command: Self::lock(&self.last_command).clone(),
        }
    }
    fn admit(
        &self,
        _user: Option<&str>,
        _share: Option<&str>,
        role: Role,
    ) -> Result<Role, Refused> {
        // The owner decides on join (a removed person's join is answered with a kick).
        Ok(role)
    }
    fn subscribe_events(&self) -> broadcast::Receiver<Event> {
        self.events.subscribe()
    }
    fn subscribe_output(&self) -> watch::Receiver<u64> {
        self.end_tx.subscribe()
    }
    fn join(
        &self,
        name: String,
        user: Option<String>,
        role: Role,
        share: Option<String>,
    ) -> Result<(u64, Role), Refused> {
        let id = rand::rng().random_range(REMOTE_CLIENTS..(1u64 << 52));
        let l = Local {
            name,
            user,
            role,
            share,
        };
        let _ = self.post.send(join_msg(id, &l, &self.node.name));
        Self::lock(&self.local).insert(id, l);
        Ok((id, role))
    }
    fn detach(&self, client: u64) {
        if Self::lock(&self.local).remove(&client).is_some() {
            let _ = self.post.send(ToOwner::Leave { client });
        }
    }
    fn resize(&self, client: u64, cols: u16, rows: u16) -> bool {
        if self.writer(client).is_err() {
            return false;
        }
        let _ = self.post.send(ToOwner::Resize { client, cols, rows });
        true
    }
    fn can_resume(&self, offset: u64) -> bool {
        Self::lock(&self.core).can_resume(offset)
    }
    fn fresh_view(&self) -> OutputRead {
        Self::lock(&self.core).fresh_view()
    }
    fn read_output(&self, offset: u64, max: usize) -> OutputRead {
        Self::lock(&self.core).read_output(offset, max)
    }
    fn state(&self) -> SessionState {
        Self::lock(&self.state).clone()
    }
    fn clients(&self) -> Vec<Presence> {
        Self::lock(&self.presence).clone()
    }
    fn input_mode(&self) -> (bool, Option<&'static str>) {
        *Self::lock(&self.input_mode)
    }
    fn input(&self, client: u64, data: &str) -> Result<(), Refused> {
        self.writer(client)?;
        if self.state().is_final() {
            return Err(Refused {
                code: ErrorCode::Forbidden,
                message: "the session has ended".into(),
            });
        }
        let _ = self.post.send(ToOwner::Input {
            client,
            data: data.to_string(),
        });
        Ok(())
    }
    fn signal(&self, client: u64, signal: Signal) -> Result<(), Refused> {
        self.writer(client)?;
        let _ = self.post.send(ToOwner::Signal { client, signal });
        Ok(())
    }
    fn hide_next_line(&self, client: u64) -> Result<(), Refused> {
        self.writer(client)?;
        let _ = self.post.send(ToOwner::Hide { client });
        Ok(())
    }
}

/// A session of the cluster that ended without an owner able to say so (its relay died
/// and it could not be adopted): what followers and lists show.
pub fn lost_state(message: &str) -> SessionState {
    SessionState::TargetLost {
        code: FailureCode::ShellGone,
        message: message.to_string(),
    }
}

/// A session of another relay as its record lists it (for `GET /api/sessions`): a
/// read-only view that attaches nothing.
pub struct Listed {
    id: String,
    record: Record,
}

impl Node {
    /// The sessions of the other relays (a relay that cannot reach Redis lists none).
    pub async fn list_others(&self, registry: &crate::session::Registry) -> Vec<Arc<Listed>> {
        let Ok(Ok(ids)) = tokio::time::timeout(ATTACH_TIMEOUT, self.store.sessions()).await else {
            return Vec::new();
        };
        let mut out = Vec::new();
        for id in ids.into_iter().filter(|id| registry.get(id).is_none()) {
            if let Ok(Some(record)) = self.record(&id).await {
                if !record.ended {
                    out.push(Arc::new(Listed { id, record }));
                }
            }
        }
        out
    }
}

impl Attach for Listed {
    fn id(&self) -> &str {
        &self.id
    }
    fn target(&self) -> &str {
        &self.record.target
    }
    fn owner_id(&self) -> &str {
        &self.record.owner_id
    }
    fn personal(&self) -> bool {
        self.record.personal
    }
    fn info(&self, role: Role) -> SessionInfo {
        SessionInfo {
            id: self.id.clone(),
            target: self.record.target.clone(),
            owner: self.record.owner.clone(),
            created_at: self.record.created_at,
            state: self.record.state.clone(),
            clients: self.record.clients.clone(),
            role,
            last_command: self.record.last_command.clone(),
        }
    }
    fn admit(&self, _: Option<&str>, _: Option<&str>, role: Role) -> Result<Role, Refused> {
        Ok(role)
    }
    fn subscribe_events(&self) -> broadcast::Receiver<Event> {
        broadcast::channel(1).1
    }
    fn subscribe_output(&self) -> watch::Receiver<u64> {
        watch::channel(0).1
    }
    fn join(
        &self,
        _: String,
        _: Option<String>,
        _: Role,
        _: Option<String>,
    ) -> Result<(u64, Role), Refused> {
        Err(Refused {
            code: ErrorCode::Forbidden,
            message: "a listed session is not attachable".into(),
        })
    }
    fn detach(&self, _: u64) {}
    fn resize(&self, _: u64, _: u16, _: u16) -> bool {
        false
    }
    fn can_resume(&self, _: u64) -> bool {
        false
    }
    fn fresh_view(&self) -> OutputRead {
        OutputRead::Bytes {
            offset: 0,
            data: Vec::new(),
        }
    }
    fn read_output(&self, offset: u64, _: usize) -> OutputRead {
        OutputRead::Bytes {
            offset,
            data: Vec::new(),
        }
    }
    fn state(&self) -> SessionState {
        self.record.state.clone()
    }
    fn clients(&self) -> Vec<Presence> {
        self.record.clients.clone()
    }
    fn input_mode(&self) -> (bool, Option<&'static str>) {
        (false, None)
    }
    fn input(&self, _: u64, _: &str) -> Result<(), Refused> {
        Err(Refused {
            code: ErrorCode::Forbidden,
            message: "a listed session is not attachable".into(),
        })
    }
    fn signal(&self, _: u64, _: Signal) -> Result<(), Refused> {
        self.input(0, "")
    }
    fn hide_next_line(&self, _: u64) -> Result<(), Refused> {
        self.input(0, "")
    }
}
