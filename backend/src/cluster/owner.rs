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
use winrelay_cluster::{Error as StoreError, Lease};

use super::wire::{FromOwner, Record, RemoteClient, ToOwner};
use super::Node;
use crate::session::remote::Checkpoint;
use crate::session::{Event, Observer, Session};

/// What the mirror queues, in the order the session produced it.
enum Item {
    Bytes(Vec<u8>),
    Checkpoint(Checkpoint),
    HandedOver,
}

/// Observes a session for [`own`].
pub struct Mirror {
    tx: mpsc::UnboundedSender<Item>,
}

/// The receiving end of a [`Mirror`].
pub struct MirrorRx(mpsc::UnboundedReceiver<Item>);

impl Mirror {
    /// A mirror and the queue [`own`] reads.
    pub fn new() -> (Arc<Mirror>, MirrorRx) {
        let (tx, rx) = mpsc::unbounded_channel();
        (Arc::new(Mirror { tx }), MirrorRx(rx))
    }
}

impl Observer for Mirror {
    fn wants_output(&self) -> bool {
        true
    }
    fn output(&self, bytes: &[u8]) {
        let _ = self.tx.send(Item::Bytes(bytes.to_vec()));
    }
    fn checkpoint(&self, checkpoint: &Checkpoint) -> bool {
        self.tx.send(Item::Checkpoint(checkpoint.clone())).is_ok()
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

/// Retries a Redis write until it works, the lease is lost, or `give_up` passes.
async fn persist<T, F, Fut>(what: &str, mut op: F) -> Result<T, StoreError>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Result<T, StoreError>>,
{
    let mut wait = Duration::from_millis(50);
    loop {
        match op().await {
            Ok(v) => return Ok(v),
            Err(e @ StoreError::Fenced(_)) => return Err(e),
            Err(e) => {
                warn!(error = %e, "cluster: {what} failed; retrying (output waits at the target)");
                tokio::time::sleep(wait).await;
                wait = (wait * 2).min(Duration::from_secs(1));
            }
        }
    }
}

/// Runs while this node owns `session`: mirrors it, renews the lease, applies the inbox.
/// `lease` was acquired (a new session or an adoption) and the record written.
pub async fn own(
    node: Arc<Node>,
    session: Arc<Session>,
    mut lease: Lease,
    rx: MirrorRx,
    remotes: RemoteNodes,
) {
    let mut rx = rx.0;
    let mut events = session.subscribe_events();
    // What changed before this task listened (the shell may have opened meanwhile).
    {
        let state = session.state();
        let mut f = Record::state_fields(&state);
        f.extend(Record::presence_fields(&session.clients()));
        let end = state.is_final();
        if put(&node.store, &lease, f, "writing the state").await.is_ok() {
            let _ = node
                .store
                .publish(&lease, &FromOwner::State { state }.encode())
                .await;
        }
        if end {
            // It ended before this task started (a shell that failed at once).
            let mut rest = Vec::new();
            while let Ok(Item::Bytes(b)) = rx.try_recv() {
                rest.extend_from_slice(&b);
            }
            let _ = flush(&node.store, &lease, &mut rest, node.log_bytes as u64).await;
            let _ = node.store.end(&lease, ENDED_KEEP).await;
            return;
        }
    }
    let inbox = tokio::spawn(apply_inbox(
        node.clone(),
        session.clone(),
        lease.clone(),
        remotes.clone(),
    ));
    let mut ticks = 0u64;
    let mut renew = tokio::time::interval(node.lease / 3);
    renew.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let cap = node.log_bytes as u64;
    let store = node.store.clone();
    let mut resume: Option<String> = None;
    let outcome: Result<(), StoreError> = async {
        loop {
            tokio::select! {
                item = rx.recv() => {
                    let Some(item) = item else { return Ok(()) };
                    let mut batch = Vec::new();
                    let mut next = Some(item);
                    // Everything queued now goes in as few appends as it takes.
                    while let Some(item) = next.take() {
                        match item {
                            Item::Bytes(b) => {
                                batch.extend_from_slice(&b);
                                if batch.len() < MAX_APPEND {
                                    next = rx.try_recv().ok();
                                }
                            }
                            Item::Checkpoint(cp) => {
                                flush(&store, &lease, &mut batch, cap).await?;
                                put(&store, &lease, vec![("resume", cp.resume.clone())], "writing a checkpoint").await?;
                                node.metrics.checkpoints.inc();
                                resume = Some(cp.resume.clone());
                                cp.ack();
                                next = rx.try_recv().ok();
                            }
                            Item::HandedOver => {
                                flush(&store, &lease, &mut batch, cap).await?;
                                info!(session = %session.id, "cluster: handed over; the lease is free for the next owner");
                                let _ = store.release(&lease).await;
                                return Ok(());
                            }
                        }
                    }
                    flush(&store, &lease, &mut batch, cap).await?;
                }
                ev = events.recv() => {
                    let msg = match ev {
                        Ok(Event::State(state)) => {
                            put(&store, &lease, Record::state_fields(&state), "writing the state").await?;
                            let last = FromOwner::State { state: state.clone() };
                            if state.is_final() {
                                // Everything the terminals showed is in before the end.
                                while let Ok(Item::Bytes(b)) = rx.try_recv() {
                                    let mut b = b;
                                    flush(&store, &lease, &mut b, cap).await?;
                                }
                                let _ = store.publish(&lease, &last.encode()).await;
                                store.end(&lease, ENDED_KEEP).await?;
                                info!(session = %session.id, "cluster: the session ended");
                                return Ok(());
                            }
                            last
                        }
                        Ok(Event::Presence) | Err(RecvError::Lagged(_)) => {
                            let clients = session.clients();
                            let (hidden, why) = session.input_mode();
                            let mut f = Record::presence_fields(&clients);
                            f.extend(Record::input_mode_fields(hidden, why));
                            if let Some(l) = session.last_command() {
                                f.push(("last_command", l));
                            }
                            f.extend(Record::remote_fields(&remote_of(&session, &remotes), &session.decisions()));
                            put(&store, &lease, f, "writing presence").await?;
                            FromOwner::Presence { clients }
                        }
                        Ok(Event::InputMode { hidden, why }) => {
                            let f = Record::input_mode_fields(hidden, why);
                            put(&store, &lease, f, "writing the input mode").await?;
                            FromOwner::InputMode { hidden, why: why.map(str::to_string) }
                        }
                        Ok(Event::Kick { client, reason, reconnect }) => FromOwner::Kick { client, reason, reconnect },
                        Err(RecvError::Closed) => return Ok(()),
                    };
                    let bytes = msg.encode();
                    let (st, le, b) = (&store, &lease, &bytes);
                    persist("publishing an event", move || async move { st.publish(le, b).await }).await?;
                }
                _ = renew.tick() => {
                    ticks += 1;
                    // Now and then: clients of relays that died leave (nobody else says so).
                    if ticks % 6 == 0 {
                        forget_dead_nodes(&node, &session, &remotes).await;
                    }
                    let t0 = std::time::Instant::now();
                    match store.renew(&lease, node.lease).await {
                        Ok(true) => {
                            node.metrics.lease_renewals.inc();
                            node.metrics.redis_latency.observe(t0.elapsed().as_secs_f64());
                        }
                        Ok(false) => {
                            // Lapsed (Redis restarted, or this node was cut off for longer
                            // than the lease): take it again if nobody else did.
                            match store.holder(&session.id).await {
                                Ok(None) => match store.acquire(&session.id, &node.name, node.lease).await {
                                    Ok(Some(new)) => {
                                        warn!(session = %session.id, fence = new.fence, "cluster: the lease had lapsed; this node took it again");
                                        lease = new;
                                        reregister(&node, &session, &lease, resume.clone(), &remotes).await?;
                                    }
                                    _ => return Err(StoreError::Fenced(session.id.clone())),
                                },
                                Ok(Some(_)) => return Err(StoreError::Fenced(session.id.clone())),
                                Err(e) => warn!(error = %e, "cluster: cannot renew a lease"),
                            }
                        }
                        Err(e) => warn!(error = %e, "cluster: cannot renew a lease"),
                    }
                }
            }
        }
    }
    .await;
    inbox.abort();
    if let Err(StoreError::Fenced(_)) = outcome {
        // Another node owns it now: never touch the shell again, never write again.
        warn!(session = %session.id, "cluster: another relay took this session over; letting go of the shell");
        node.metrics.leases_lost.inc();
        session.hand_over("this session moved to another relay: reconnecting");
    } else if let Err(e) = outcome {
        warn!(session = %session.id, error = %e, "cluster: mirroring stopped");
    }
}

/// Writes record fields (retrying while Redis is away).
async fn put(
    store: &winrelay_cluster::Store,
    lease: &Lease,
    f: Vec<(&'static str, String)>,
    what: &str,
) -> Result<(), StoreError> {
    let f = &f;
    persist(what, move || async move {
        store.put_record(lease, &fields(f)).await
    })
    .await
}

/// Writes the batch (retrying while Redis is away).
async fn flush(
    store: &winrelay_cluster::Store,
    lease: &Lease,
    batch: &mut Vec<u8>,
    cap: u64,
) -> Result<(), StoreError> {
    if batch.is_empty() {
        return Ok(());
    }
    let bytes = std::mem::take(batch);
    let b = &bytes;
    persist("appending output", move || async move {
        store.append(lease, b, cap).await
    })
    .await?;
    Ok(())
}

/// After the lease was taken again (Redis lost its data, or it lapsed): the record, and the
/// log if Redis no longer has it, from what this relay holds.
async fn reregister(
    node: &Node,
    session: &Session,
    lease: &Lease,
    resume: Option<String>,
    remotes: &RemoteNodes,
) -> Result<(), StoreError> {
    let record = record_of(session, &node.name, resume, remotes);
    let f = record.fields();
    node.store.put_record(lease, &fields(&f)).await?;
    let (start, tail) = session.log_contents();
    node.store
        .restore_log(lease, start, &tail, node.log_bytes as u64)
        .await?;
    node.store
        .publish(
            lease,
            &FromOwner::Owner {
                node: node.name.clone(),
                fence: lease.fence,
            }
            .encode(),
        )
        .await?;
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
async fn apply_inbox(node: Arc<Node>, session: Arc<Session>, lease: Lease, remotes: RemoteNodes) {
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
        match store.mark_applied(&lease, &after).await {
            Ok(()) => {}
            Err(StoreError::Fenced(_)) => return,
            Err(e) => warn!(error = %e, "cluster: cannot record how far the inbox was applied"),
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
    }
}
