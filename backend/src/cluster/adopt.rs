//! Ownership over a session's life: a new session's lease and record, the node's heartbeat,
//! adopting sessions whose owner's lease lapsed, and handing sessions over on SIGTERM.

use std::sync::Arc;
use std::time::Duration;

use tracing::{info, warn};
use winrelay_cluster::{Lease, Read};

use super::owner::{own, record_of, Mirror, MirrorRx};
use super::wire::{FromOwner, Record};
use super::Node;
use crate::session::{Observer, Opener, Registry, Session};
use crate::targets::Connector;

/// What adopting needs from the relay around the node.
pub trait Host: Send + Sync + 'static {
    /// The relay's sessions.
    fn registry(&self) -> Arc<Registry>;
    /// A connector for continuing a session on `target` (configured credentials only).
    fn connector(
        &self,
        target: &str,
    ) -> impl std::future::Future<Output = Option<Connector>> + Send;
    /// The relay's observers of a session (metrics, audit).
    fn observers(&self, id: &str, target: &str, user: &str) -> Vec<Arc<dyn Observer>>;
}

/// How often the node looks for sessions without a live owner.
const SWEEP: Duration = Duration::from_millis(250);

impl Node {
    /// Takes a new session of this relay into the cluster: its lease and record, then the
    /// mirror runs until it ends (or moves). Retries while Redis is away; meanwhile the
    /// session runs here and its output waits at the target once the first checkpoint is
    /// unacknowledged.
    ///
    /// The answer completes once the first attempt is over: the record is written (every
    /// relay knows the session), or Redis failed and the retries go on in the background.
    /// Creating a session waits for it, so that its id never meets a 404 on another relay.
    pub fn own_new(
        self: &Arc<Self>,
        session: Arc<Session>,
        rx: MirrorRx,
    ) -> tokio::sync::oneshot::Receiver<()> {
        let (registered, answer) = tokio::sync::oneshot::channel();
        let mut registered = Some(registered);
        let node = self.clone();
        let task = async move {
            let mut wait = Duration::from_millis(50);
            let lease = loop {
                match node
                    .store
                    .acquire(&session.id, &node.name, node.lease)
                    .await
                {
                    Ok(Some(lease)) => break lease,
                    Ok(None) => {
                        warn!(session = %session.id, "cluster: a new session's id is taken; it stays local");
                        return;
                    }
                    Err(e) => {
                        warn!(error = %e, "cluster: cannot register a new session; retrying");
                        registered.take();
                        tokio::time::sleep(wait).await;
                        wait = (wait * 2).min(Duration::from_secs(1));
                    }
                }
            };
            let remotes = super::owner::RemoteNodes::default();
            let record = record_of(&session, &node.name, None, &remotes);
            let f = record.fields();
            let fields: Vec<(&str, &str)> = f.iter().map(|(k, v)| (*k, v.as_str())).collect();
            if let Err(e) = node.store.put_record(&lease, &fields).await {
                warn!(error = %e, "cluster: cannot write a new session's record");
            }
            if let Some(tx) = registered.take() {
                let _ = tx.send(());
            }
            own(node, session, lease, rx, remotes).await;
        };
        self.spawn(task);
        answer
    }

    fn spawn(&self, task: impl std::future::Future<Output = ()> + Send + 'static) {
        let mut owners = self.owners.lock().unwrap_or_else(|p| p.into_inner());
        while owners.try_join_next().is_some() {}
        owners.spawn(task);
    }

    /// Waits until every owner task finished (after a hand-over: leases released).
    pub async fn owners_done(&self, within: Duration) {
        let mut set = std::mem::take(&mut *self.owners.lock().unwrap_or_else(|p| p.into_inner()));
        let _ =
            tokio::time::timeout(within, async { while set.join_next().await.is_some() {} }).await;
    }

    /// Other live nodes (heartbeat within three leases).
    pub async fn peers(&self) -> Vec<String> {
        match self.store.nodes(self.lease * 3).await {
            Ok(n) => n.into_iter().filter(|n| *n != self.name).collect(),
            Err(_) => Vec::new(),
        }
    }

    /// The node's background work: heartbeats, and adopting sessions whose owner is gone.
    pub async fn run<H: Host>(self: Arc<Self>, host: Arc<H>) {
        let mut beat = tokio::time::interval(self.lease / 3);
        let mut sweep = tokio::time::interval(SWEEP);
        sweep.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                _ = beat.tick() => {
                    let t0 = std::time::Instant::now();
                    match self.store.heartbeat(&self.name).await {
                        Ok(()) => {
                            self.redis_ok.store(true, std::sync::atomic::Ordering::Relaxed);
                            self.metrics.redis_latency.observe(t0.elapsed().as_secs_f64());
                        }
                        Err(e) => {
                            if self.redis_ok.swap(false, std::sync::atomic::Ordering::Relaxed) {
                                warn!(error = %e, "cluster: Redis does not answer");
                            }
                        }
                    }
                }
                _ = sweep.tick() => {
                    if let Err(e) = self.sweep(&*host).await {
                        tracing::debug!(error = %e, "cluster: looking for orphaned sessions failed");
                    }
                }
            }
        }
    }

    /// One look for sessions without an owner.
    async fn sweep<H: Host>(self: &Arc<Self>, host: &H) -> Result<(), winrelay_cluster::Error> {
        let registry = host.registry();
        let ids = self.store.sessions().await?;
        let foreign: Vec<String> = ids
            .into_iter()
            .filter(|id| registry.get(id).is_none())
            .collect();
        if foreign.is_empty() {
            return Ok(());
        }
        let holders = self.store.holders(&foreign).await?;
        for (id, holder) in foreign.into_iter().zip(holders) {
            if holder.is_some() {
                continue;
            }
            let Some(lease) = self.store.acquire(&id, &self.name, self.lease).await? else {
                continue;
            };
            self.adopt(host, lease).await;
        }
        Ok(())
    }

    /// Continues a session whose lease this node just took.
    async fn adopt<H: Host>(self: &Arc<Self>, host: &H, lease: Lease) {
        let id = lease.session.clone();
        let t0 = std::time::Instant::now();
        let record = match self.store.record(&id).await.map(|h| Record::parse(&h)) {
            Ok(Some(r)) if !r.ended && !r.state.is_final() => r,
            Ok(_) => {
                // Ended or half-written: nothing to continue.
                let _ = self.store.end(&lease, Duration::from_secs(60)).await;
                return;
            }
            Err(e) => {
                warn!(error = %e, "cluster: cannot read a session to adopt");
                let _ = self.store.release(&lease).await;
                return;
            }
        };
        let why_not = if record.personal {
            Some("it was opened with credentials typed on the relay that stopped, which no other relay has")
        } else if record.resume.is_none() {
            Some("its shell cannot be continued by another relay (it had not started)")
        } else {
            None
        };
        let connector = match why_not {
            Some(_) => None,
            None => host.connector(&record.target).await,
        };
        let (Some(connector), Some(resume)) = (connector, record.resume.clone()) else {
            let reason = why_not.unwrap_or("its target is no longer configured here");
            warn!(session = %id, reason, "cluster: a session whose relay stopped cannot be adopted");
            self.metrics.adoptions_failed.inc();
            let state = super::follower::lost_state(&format!(
                "the relay running this session stopped, and {reason}"
            ));
            let f = Record::state_fields(&state);
            let fields: Vec<(&str, &str)> = f.iter().map(|(k, v)| (*k, v.as_str())).collect();
            let _ = self.store.put_record(&lease, &fields).await;
            let _ = self
                .store
                .publish(&lease, &FromOwner::State { state }.encode())
                .await;
            let _ = self.store.end(&lease, Duration::from_secs(600)).await;
            return;
        };
        // The log as Redis has it: the adopted session's offsets continue from there.
        let (start, tail) = match read_log(&self.store, &id).await {
            Ok(l) => l,
            Err(e) => {
                warn!(error = %e, "cluster: cannot read a session's log to adopt it");
                let _ = self.store.release(&lease).await;
                return;
            }
        };
        let (mirror, rx) = Mirror::new(start + tail.len() as u64);
        let mut observers = host.observers(&id, &record.target, &record.owner);
        observers.push(mirror);
        let session = host
            .registry()
            .adopt(
                id.clone(),
                record.target.clone(),
                Opener {
                    user: record.owner.clone(),
                    id: record.owner_id.clone(),
                    personal: false,
                },
                record.created_at,
                connector,
                record.size,
                move |_| observers,
                start,
                &tail,
                resume.clone(),
            )
            .await;
        // The owner's decisions stand; the clients of relays that are alive stay attached
        // (they join again too when they hear of the new owner; joining twice is one join).
        session.restore_decisions(record.decisions.clone());
        let live = self.store.nodes(self.lease * 3).await.unwrap_or_default();
        let remotes = super::owner::RemoteNodes::default();
        for c in record.remote.iter().filter(|c| live.contains(&c.node)) {
            remotes
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .insert(c.id, c.node.clone());
            let _ = session.join_as(
                c.id,
                c.name.clone(),
                c.user.clone(),
                c.role,
                c.share.clone(),
            );
        }
        let r = record_of(&session, &self.name, Some(resume), &remotes);
        let f = r.fields();
        let fields: Vec<(&str, &str)> = f.iter().map(|(k, v)| (*k, v.as_str())).collect();
        let _ = self.store.put_record(&lease, &fields).await;
        let _ = self
            .store
            .publish(
                &lease,
                &FromOwner::Owner {
                    node: self.name.clone(),
                    fence: lease.fence,
                }
                .encode(),
            )
            .await;
        self.metrics.adoptions.inc();
        info!(session = %id, from = %record.node, fence = lease.fence, log_end = start + tail.len() as u64,
            took_ms = t0.elapsed().as_millis() as u64, "cluster: adopted a session whose relay stopped");
        self.spawn(own(self.clone(), session, lease, rx, remotes));
    }

    /// SIGTERM: with live peers, hand every session over (their shells stay) and wait until
    /// the leases are free; alone, end them as a single relay does. Returns whether the
    /// sessions were handed over.
    pub async fn leave_cluster(&self, registry: &Registry) -> bool {
        let peers = self.peers().await;
        let handed = if peers.is_empty() {
            false
        } else {
            info!(
                peers = peers.len(),
                "cluster: handing this relay's sessions to the other relays"
            );
            registry
                .hand_over_all("this relay is restarting: the session continues on another relay")
                .await;
            self.owners_done(Duration::from_secs(10)).await;
            true
        };
        let _ = self.store.leave(&self.name).await;
        handed
    }

    /// Whether Redis answered the last heartbeat.
    pub fn redis_ok(&self) -> bool {
        self.redis_ok.load(std::sync::atomic::Ordering::Relaxed)
    }
}

/// Everything the stream holds of a session's log: start offset and bytes.
pub async fn read_log(
    store: &winrelay_cluster::Store,
    id: &str,
) -> Result<(u64, Vec<u8>), winrelay_cluster::Error> {
    let mut tail = Vec::new();
    let mut start = None;
    let mut at = 0u64;
    loop {
        match store.read(id, at, 1 << 20).await? {
            Read::Gone { start: s, .. } => {
                at = s;
                start = None;
                tail.clear();
            }
            Read::Ahead { end } => return Ok((start.unwrap_or(end), tail)),
            Read::Bytes(slice) => {
                start.get_or_insert(slice.offset);
                if slice.data.is_empty() {
                    return Ok((start.unwrap_or(at), tail));
                }
                at = slice.offset + slice.data.len() as u64;
                tail.extend_from_slice(&slice.data);
                if at >= slice.end {
                    return Ok((start.unwrap_or(at), tail));
                }
            }
        }
    }
}
