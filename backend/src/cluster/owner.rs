//! The owner's side: a session this relay drives, mirrored into Redis.
//!
//! [`Mirror`] observes the session (under its lock, so in log order) and queues every byte
//! of output and every checkpoint; [`own`] writes them to the session's stream with the
//! lease's fencing token, acknowledges a checkpoint to the target only once the output
//! before it is in Redis, publishes state, presence and kicks for followers, renews the
//! lease, and applies what followers post to the inbox.

use std::sync::Arc;
use std::time::Duration;

use tokio::sync::broadcast::error::RecvError;
use tokio::sync::mpsc;
use tracing::{info, warn};
use winrelay_cluster::{Error as StoreError, Lease, Read};

use super::wire::{FromOwner, Record, RemoteClient, ToOwner};
use super::Node;
use crate::session::remote::Checkpoint;
use crate::session::{Event, Observer, Session};

/// What the mirror queues, in the order the session produced it.
enum Item {
    /// Output bytes starting at this offset of the log (echo, notices: not the target's).
    Bytes(u64, Vec<u8>),
    /// A response of the target (its bytes as shown, from this offset) and its checkpoint:
    /// stored together, atomically, then acknowledged.
    Checkpoint(u64, Vec<u8>, Checkpoint),
    HandedOver,
}

/// Observes a session for [`own`].
pub struct Mirror {
    tx: mpsc::UnboundedSender<Item>,
    /// The log offset the next output byte gets.
    at: std::sync::atomic::AtomicU64,
    /// A response's bytes so far, held until its checkpoint (its start offset).
    response: std::sync::Mutex<Option<(u64, Vec<u8>)>>,
}

/// The receiving end of a [`Mirror`].
pub struct MirrorRx(mpsc::UnboundedReceiver<Item>);

impl Mirror {
    /// A mirror for a log that ends at `end` now (0 for a new session), and the queue
    /// [`own`] reads.
    pub fn new(end: u64) -> (Arc<Mirror>, MirrorRx) {
        let (tx, rx) = mpsc::unbounded_channel();
        (
            Arc::new(Mirror {
                tx,
                at: std::sync::atomic::AtomicU64::new(end),
                response: std::sync::Mutex::new(None),
            }),
            MirrorRx(rx),
        )
    }
}

impl Observer for Mirror {
    fn wants_output(&self) -> bool {
        true
    }
    fn output(&self, bytes: &[u8]) {
        // Called under the session's lock, in log order.
        let at = self
            .at
            .fetch_add(bytes.len() as u64, std::sync::atomic::Ordering::SeqCst);
        let mut response = self.response.lock().unwrap_or_else(|p| p.into_inner());
        match &mut *response {
            Some((_, held)) => held.extend_from_slice(bytes),
            None => {
                let _ = self.tx.send(Item::Bytes(at, bytes.to_vec()));
            }
        }
    }
    fn response_begins(&self) {
        let at = self.at.load(std::sync::atomic::Ordering::SeqCst);
        *self.response.lock().unwrap_or_else(|p| p.into_inner()) = Some((at, Vec::new()));
    }
    fn checkpoint(&self, checkpoint: &Checkpoint) -> bool {
        let (at, held) = self
            .response
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .take()
            .unwrap_or((
                self.at.load(std::sync::atomic::Ordering::SeqCst),
                Vec::new(),
            ));
        self.tx
            .send(Item::Checkpoint(at, held, checkpoint.clone()))
            .is_ok()
    }
    fn handed_over(&self) {
        let _ = self.tx.send(Item::HandedOver);
    }
}

/// Most output written to Redis in one append.
const MAX_APPEND: usize = 256 * 1024;
/// How long ended sessions' keys stay for late readers.
const ENDED_KEEP: Duration = Duration::from_secs(600);

/// Which relay each client of another relay is attached to.
pub type RemoteNodes = Arc<std::sync::Mutex<std::collections::HashMap<u64, String>>>;

/// The clients of other relays, as the record keeps them.
fn remote_of(session: &Session, nodes: &RemoteNodes) -> Vec<RemoteClient> {
    let nodes = nodes.lock().unwrap_or_else(|p| p.into_inner());
    session
        .remote_clients()
        .into_iter()
        .map(|c| RemoteClient {
            id: c.presence.id,
            // A guest's shown name carries its number; the base name is what joins.
            name: if c.user.is_none() {
                "guest".into()
            } else {
                c.presence.name.clone()
            },
            user: c.user,
            role: c.presence.role,
            share: c.share,
            node: nodes.get(&c.presence.id).cloned().unwrap_or_default(),
        })
        .collect()
}

/// The session's record as its owner writes it.
pub fn record_of(
    session: &Session,
    node: &str,
    resume: Option<String>,
    nodes: &RemoteNodes,
) -> Record {
    let (hidden, why) = session.input_mode();
    Record {
        target: session.target.clone(),
        owner: session.owner.clone(),
        owner_id: session.owner_id.clone(),
        personal: session.personal,
        created_at: session.created_at,
        node: node.to_string(),
        state: session.state(),
        clients: session.clients(),
        input_mode: (hidden, why.map(str::to_string)),
        last_command: session.last_command(),
        resume,
        size: session.size(),
        ended: false,
        remote: remote_of(session, nodes),
        decisions: session.decisions(),
    }
}

fn fields<'a>(f: &'a [(&'static str, String)]) -> Vec<(&'static str, &'a str)> {
    f.iter().map(|(k, v)| (*k, v.as_str())).collect()
}

/// The owner's side of one session while this node owns it.
struct Owning {
    node: Arc<Node>,
    session: Arc<Session>,
    lease: Lease,
    /// The inbox task follows the lease (it changes when the lease is taken again).
    lease_tx: tokio::sync::watch::Sender<Lease>,
    remotes: RemoteNodes,
    /// The last checkpoint written.
    resume: Option<String>,
    /// Where the stream in Redis ends (output before it is there).
    redis_end: u64,
}

/// Why the owner stopped.
enum Stop {
    /// Another node owns the session now.
    Lost,
}

impl Owning {
    /// Runs a write until it works: retried while Redis is away (output waits at the
    /// target meanwhile). When the lease was found gone (Redis restarted without its data,
    /// or this node was cut off for longer than the lease) it is taken again when nobody
    /// else took it, and `Ok(None)` says so: the record and log were written back, so the
    /// caller decides again what to write. `Err(Lost)` when another node owns the session.
    async fn try_write<T, F, Fut>(&mut self, what: &str, mut op: F) -> Result<Option<T>, Stop>
    where
        F: FnMut(Lease) -> Fut,
        Fut: std::future::Future<Output = Result<T, StoreError>>,
    {
        let mut wait = Duration::from_millis(50);
        loop {
            match op(self.lease.clone()).await {
                Ok(v) => return Ok(Some(v)),
                Err(StoreError::Fenced(_)) => {
                    self.retake().await?;
                    return Ok(None);
                }
                Err(e) => {
                    warn!(error = %e, "cluster: {what} failed; retrying (output waits at the target)");
                    tokio::time::sleep(wait).await;
                    wait = (wait * 2).min(Duration::from_secs(1));
                }
            }
        }
    }

    /// [`Owning::try_write`] for writes that are the same after a retake.
    async fn write<T, F, Fut>(&mut self, what: &str, mut op: F) -> Result<T, Stop>
    where
        F: FnMut(Lease) -> Fut,
        Fut: std::future::Future<Output = Result<T, StoreError>>,
    {
        loop {
            if let Some(v) = self.try_write(what, &mut op).await? {
                return Ok(v);
            }
        }
    }

    /// The lease is no longer this node's: take it again if nobody holds it.
    async fn retake(&mut self) -> Result<(), Stop> {
        let store = self.node.store.clone();
        let mut wait = Duration::from_millis(50);
        loop {
            let r = match store.holder(&self.session.id).await {
                Ok(Some(_)) => return Err(Stop::Lost),
                Ok(None) => {
                    store
                        .acquire(&self.session.id, &self.node.name, self.node.lease)
                        .await
                }
                Err(e) => Err(e),
            };
            match r {
                Ok(Some(new)) => {
                    warn!(session = %self.session.id, fence = new.fence, "cluster: this node's lease was gone (Redis restarted, or this node was cut off); it took the session again");
                    self.lease = new.clone();
                    self.lease_tx.send_replace(new);
                    match self.reregister().await {
                        Ok(()) => return Ok(()),
                        Err(StoreError::Fenced(_)) => continue,
                        Err(e) => {
                            warn!(error = %e, "cluster: registering the session again failed")
                        }
                    }
                }
                Ok(None) => return Err(Stop::Lost),
                Err(e) => warn!(error = %e, "cluster: cannot reach Redis to take a lease again"),
            }
            tokio::time::sleep(wait).await;
            wait = (wait * 2).min(Duration::from_secs(1));
        }
    }

    /// The record, and the log if Redis no longer has it, from what this relay holds.
    async fn reregister(&mut self) -> Result<(), StoreError> {
        let record = record_of(
            &self.session,
            &self.node.name,
            self.resume.clone(),
            &self.remotes,
        );
        let f = record.fields();
        let store = &self.node.store;
        store.put_record(&self.lease, &fields(&f)).await?;
        let (start, tail) = self.session.log_contents();
        if store
            .restore_log(&self.lease, start, &tail, self.node.log_bytes as u64)
            .await?
        {
            self.redis_end = start + tail.len() as u64;
        } else {
            // Redis kept the log (the lease only lapsed): it ends where it ends.
            self.redis_end = match store.read(&self.session.id, 0, 0).await? {
                Read::Bytes(s) => s.end,
                Read::Gone { end, .. } | Read::Ahead { end } => end,
            };
        }
        store
            .publish(
                &self.lease,
                &FromOwner::Owner {
                    node: self.node.name.clone(),
                    fence: self.lease.fence,
                }
                .encode(),
            )
            .await?;
        Ok(())
    }

    /// Appends output starting at offset `at` (what Redis already has is skipped: after the
    /// log was written back from this relay's own).
    async fn append(&mut self, at: u64, bytes: &[u8]) -> Result<(), Stop> {
        let cap = self.node.log_bytes as u64;
        let store = self.node.store.clone();
        loop {
            // What Redis has is skipped (after a retake the log was written back from this
            // relay's own, which holds these bytes already).
            let skip = self.redis_end.saturating_sub(at) as usize;
            if skip >= bytes.len() {
                return Ok(());
            }
            let part = bytes[skip..].to_vec();
            let r = self
                .try_write("appending output", |lease| {
                    let store = store.clone();
                    let part = part.clone();
                    async move { store.append(&lease, &part, cap).await }
                })
                .await?;
            if let Some(end) = r {
                self.redis_end = end;
                return Ok(());
            }
        }
    }

    /// Appends a response's bytes (what Redis has skipped) and writes its checkpoint, in
    /// one fenced script.
    async fn append_checkpoint(&mut self, at: u64, bytes: &[u8], resume: &str) -> Result<(), Stop> {
        let cap = self.node.log_bytes as u64;
        let store = self.node.store.clone();
        loop {
            let skip = (self.redis_end.saturating_sub(at) as usize).min(bytes.len());
            let part = bytes[skip..].to_vec();
            let r = self
                .try_write("writing a checkpoint", |lease| {
                    let store = store.clone();
                    let part = part.clone();
                    let resume = resume.to_string();
                    async move {
                        store
                            .append_with(&lease, &part, cap, &[("resume", resume.as_str())])
                            .await
                    }
                })
                .await?;
            if let Some(end) = r {
                self.redis_end = end;
                return Ok(());
            }
        }
    }

    async fn put(&mut self, what: &str, f: Vec<(&'static str, String)>) -> Result<(), Stop> {
        let store = self.node.store.clone();
        self.write(what, |lease| {
            let store = store.clone();
            let f = f.clone();
            async move { store.put_record(&lease, &fields(&f)).await }
        })
        .await
    }

    async fn publish(&mut self, msg: &FromOwner) -> Result<(), Stop> {
        let store = self.node.store.clone();
        let bytes = msg.encode();
        self.write("publishing an event", |lease| {
            let store = store.clone();
            let bytes = bytes.clone();
            async move { store.publish(&lease, &bytes).await.map(|_| ()) }
        })
        .await
    }
}

/// Runs while this node owns `session`: mirrors it, renews the lease, applies the inbox.
/// `lease` was acquired (a new session or an adoption) and the record written; the log in
/// Redis ends where the session's log ended when its mirror was made.
pub async fn own(
    node: Arc<Node>,
    session: Arc<Session>,
    lease: Lease,
    rx: MirrorRx,
    remotes: RemoteNodes,
) {
    let mut rx = rx.0;
    let mut events = session.subscribe_events();
    let (lease_tx, lease_rx) = tokio::sync::watch::channel(lease.clone());
    let inbox = tokio::spawn(apply_inbox(
        node.clone(),
        session.clone(),
        lease_rx,
        remotes.clone(),
    ));
    let (start, tail) = session.log_contents();
    let mut o = Owning {
        node: node.clone(),
        session: session.clone(),
        lease,
        lease_tx,
        remotes,
        resume: None,
        redis_end: 0,
    };
    // Where Redis' stream ends: it holds everything before the mirror's first byte.
    o.redis_end = node
        .store
        .read(&session.id, 0, 0)
        .await
        .map(|r| match r {
            Read::Bytes(s) => s.end,
            Read::Gone { end, .. } | Read::Ahead { end } => end,
        })
        .unwrap_or(start + tail.len() as u64);
    let outcome = run(&mut o, &mut rx, &mut events).await;
    inbox.abort();
    match outcome {
        Err(Stop::Lost) => {
            // Another node owns it now: never touch the shell again, never write again.
            warn!(session = %session.id, "cluster: another relay took this session over; letting go of the shell");
            node.metrics.leases_lost.inc();
            session.hand_over("this session moved to another relay: reconnecting");
        }
        Ok(()) => {}
    }
}

async fn run(
    o: &mut Owning,
    rx: &mut mpsc::UnboundedReceiver<Item>,
    events: &mut tokio::sync::broadcast::Receiver<Event>,
) -> Result<(), Stop> {
    let session = o.session.clone();
    let node = o.node.clone();
    // What changed before this task listened (the shell may have opened meanwhile).
    let state = session.state();
    let mut f = Record::state_fields(&state);
    f.extend(Record::presence_fields(&session.clients()));
    o.put("writing the state", f).await?;
    o.publish(&FromOwner::State {
        state: state.clone(),
    })
    .await?;
    if state.is_final() {
        return finish(o, rx).await;
    }
    let mut renew = tokio::time::interval(node.lease / 3);
    renew.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut ticks = 0u64;
    loop {
        tokio::select! {
            item = rx.recv() => {
                let Some(item) = item else { return Ok(()) };
                let mut next = Some(item);
                let mut batch: Option<(u64, Vec<u8>)> = None;
                while let Some(item) = next.take() {
                    match item {
                        Item::Bytes(at, b) => {
                            match &mut batch {
                                Some((_, buf)) => buf.extend_from_slice(&b),
                                None => batch = Some((at, b)),
                            }
                            if batch.as_ref().is_some_and(|(_, buf)| buf.len() < MAX_APPEND) {
                                next = rx.try_recv().ok();
                            }
                        }
                        Item::Checkpoint(at, bytes, cp) => {
                            if let Some((at, buf)) = batch.take() {
                                o.append(at, &buf).await?;
                            }
                            // The response and where to go on after it, in one write: a
                            // relay taking over never gets this response twice.
                            o.append_checkpoint(at, &bytes, &cp.resume).await?;
                            node.metrics.checkpoints.inc();
                            o.resume = Some(cp.resume.clone());
                            cp.ack();
                            next = rx.try_recv().ok();
                        }
                        Item::HandedOver => {
                            if let Some((at, buf)) = batch.take() {
                                o.append(at, &buf).await?;
                            }
                            info!(session = %session.id, "cluster: handed over; the lease is free for the next owner");
                            let _ = node.store.release(&o.lease).await;
                            return Ok(());
                        }
                    }
                }
                if let Some((at, buf)) = batch.take() {
                    o.append(at, &buf).await?;
                }
            }
            ev = events.recv() => {
                let msg = match ev {
                    Ok(Event::State(state)) => {
                        o.put("writing the state", Record::state_fields(&state)).await?;
                        if state.is_final() {
                            return finish(o, rx).await;
                        }
                        FromOwner::State { state }
                    }
                    Ok(Event::Presence) | Err(RecvError::Lagged(_)) => {
                        let clients = session.clients();
                        let (hidden, why) = session.input_mode();
                        let mut f = Record::presence_fields(&clients);
                        f.extend(Record::input_mode_fields(hidden, why));
                        if let Some(l) = session.last_command() {
                            f.push(("last_command", l));
                        }
                        f.extend(Record::remote_fields(&remote_of(&session, &o.remotes), &session.decisions()));
                        o.put("writing presence", f).await?;
                        FromOwner::Presence { clients }
                    }
                    Ok(Event::InputMode { hidden, why }) => {
                        o.put("writing the input mode", Record::input_mode_fields(hidden, why)).await?;
                        FromOwner::InputMode { hidden, why: why.map(str::to_string) }
                    }
                    // A hand-over sends this relay's own clients elsewhere; the clients of
                    // other relays stay where they are (the session goes on).
                    Ok(Event::Kick { .. }) if session.is_handed_over() => continue,
                    Ok(Event::Kick { client, reason, reconnect }) => FromOwner::Kick { client, reason, reconnect },
                    Err(RecvError::Closed) => return Ok(()),
                };
                o.publish(&msg).await?;
            }
            _ = renew.tick() => {
                ticks += 1;
                // Now and then: clients of relays that died leave (nobody else says so).
                if ticks.is_multiple_of(6) {
                    forget_dead_nodes(&node, &session, &o.remotes).await;
                }
                let t0 = std::time::Instant::now();
                match node.store.renew(&o.lease, node.lease).await {
                    Ok(true) => {
                        node.metrics.lease_renewals.inc();
                        node.metrics.redis_latency.observe(t0.elapsed().as_secs_f64());
                    }
                    Ok(false) => o.retake().await?,
                    Err(e) => warn!(error = %e, "cluster: cannot renew a lease"),
                }
            }
        }
    }
}

/// The session ended: the rest of its output, its final state for followers, and its keys
/// set to expire.
async fn finish(o: &mut Owning, rx: &mut mpsc::UnboundedReceiver<Item>) -> Result<(), Stop> {
    while let Ok(item) = rx.try_recv() {
        if let Item::Bytes(at, b) = item {
            o.append(at, &b).await?;
        }
    }
    let state = o.session.state();
    o.publish(&FromOwner::State { state }).await?;
    let _ = o.node.store.end(&o.lease, ENDED_KEEP).await;
    info!(session = %o.session.id, "cluster: the session ended");
    Ok(())
}

/// Detaches the clients of relays whose heartbeat stopped.
async fn forget_dead_nodes(node: &Node, session: &Session, remotes: &RemoteNodes) {
    let Ok(live) = node.store.nodes(node.lease * 3).await else {
        return;
    };
    let dead: Vec<u64> = remotes
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .iter()
        .filter(|(_, n)| !n.is_empty() && !live.contains(n))
        .map(|(id, _)| *id)
        .collect();
    for id in dead {
        remotes
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .remove(&id);
        session.detach(id);
    }
}

/// Applies followers' messages, in order, and records how far (fenced).
async fn apply_inbox(
    node: Arc<Node>,
    session: Arc<Session>,
    lease: tokio::sync::watch::Receiver<Lease>,
    remotes: RemoteNodes,
) {
    let store = &node.store;
    let mut conn = None;
    let mut after = match store.applied(&session.id).await {
        Ok(a) => a,
        Err(_) => "0-0".into(),
    };
    loop {
        if conn.is_none() {
            match store.blocking_connection().await {
                Ok(c) => conn = Some(c),
                Err(e) => {
                    warn!(error = %e, "cluster: no connection for the inbox");
                    tokio::time::sleep(Duration::from_millis(500)).await;
                    continue;
                }
            }
        }
        let c = conn.as_mut().expect("set above");
        let msgs = match store
            .take_inbox(c, &session.id, &after, 256, Some(Duration::from_secs(2)))
            .await
        {
            Ok(m) => m,
            Err(e) => {
                warn!(error = %e, "cluster: reading the inbox failed");
                conn = None;
                tokio::time::sleep(Duration::from_millis(200)).await;
                continue;
            }
        };
        let Some((last, _)) = msgs.last() else {
            continue;
        };
        let last = last.clone();
        for (_, m) in msgs {
            match ToOwner::decode(&m) {
                Ok(msg) => apply(&session, msg, &remotes),
                Err(e) => {
                    warn!(error = %e, "cluster: an inbox message this relay cannot read was skipped")
                }
            }
        }
        after = last;
        // Under the current lease (it changes when the owner takes it again); a fenced
        // mark is retried with the next one, and the owner task stops this one when the
        // session moves.
        let current = lease.borrow().clone();
        if let Err(e) = store.mark_applied(&current, &after).await {
            warn!(error = %e, "cluster: cannot record how far the inbox was applied");
        }
    }
}

/// One follower message, applied as if the client were attached here.
fn apply(session: &Session, msg: ToOwner, remotes: &RemoteNodes) {
    match msg {
        ToOwner::Join {
            client,
            name,
            user,
            role,
            share,
            node,
        } => {
            if client < crate::session::core::REMOTE_CLIENTS {
                return;
            }
            remotes
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .insert(client, node);
            if let Err(r) = session.join_as(client, name, user, role, share) {
                session.kick_client(client, &r.message);
            }
        }
        ToOwner::Leave { client } => {
            remotes
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .remove(&client);
            session.detach(client)
        }
        ToOwner::Input { client, data } => {
            let _ = session.input(client, &data);
        }
        ToOwner::Signal { client, signal } => {
            let _ = session.signal(client, signal);
        }
        ToOwner::Resize { client, cols, rows } => {
            session.resize(client, cols, rows);
        }
        ToOwner::Hide { client } => {
            let _ = session.hide_next_line(client);
        }
        ToOwner::Kick { client } => {
            session.kick(client);
        }
        ToOwner::SetRole { client, role } => {
            session.set_role(client, role);
        }
        ToOwner::End => session.end(),
        ToOwner::KickShare { share } => {
            session.kick_share(&share, "the share link was revoked");
        }
    }
}
