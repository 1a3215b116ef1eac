//! Several relays, one set of sessions (issue 15): this relay's side of the cluster.
//!
//! Without `[cluster]` none of this runs: one process, sessions in memory. With it, every
//! relay is a **node** of one cluster sharing a Redis (`winrelay_cluster::Store`):
//!
//! * the node that opened a session **owns** it: it drives the remote shell, holds the
//!   session's lease (renewed; every write it makes is fenced by the lease's token), and
//!   mirrors the output log, state and presence into Redis;
//! * any other node serves browsers for it as a **follower**: output read from the stream
//!   with the same offsets, input and control forwarded to the owner's inbox;
//! * when an owner's lease lapses (crash, `kill -9`, partition) another node **adopts** the
//!   session: it continues the same remote shell where the last owner's persisted output
//!   ends; on SIGTERM an owner with live peers hands its sessions over instead of deleting
//!   their shells.
//!
//! **Invariants.** Target secrets and typed secrets never go to Redis. An owner never
//! acknowledges remote output before it is in Redis. A node that lost a lease never writes
//! again for that session (Redis refuses: fencing).

use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard, Weak};
use std::time::Duration;

use anyhow::Context;
use winrelay_cluster::{Connect, Store};

use crate::config::ClusterConfig;
use crate::ops::metrics::ClusterMetrics;

/// This relay as a node of the cluster.
pub struct Node {
    /// The node's name (unique in the cluster).
    pub name: String,
    /// The shared state.
    pub store: Store,
    /// How long a lease lasts without renewal.
    pub lease: Duration,
    /// The sessions' log size (`[sessions] log_bytes`): the stream keeps as much.
    pub log_bytes: usize,
    /// The node's metrics.
    pub metrics: ClusterMetrics,
    /// Sessions of other relays this relay serves clients of.
    followers: Mutex<HashMap<String, Weak<follower::Follower>>>,
    /// The tasks mirroring the sessions this relay owns.
    owners: Mutex<tokio::task::JoinSet<()>>,
    /// Whether Redis answered the last heartbeat.
    redis_ok: std::sync::atomic::AtomicBool,
}

impl std::fmt::Debug for Node {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Node").field("name", &self.name).finish()
    }
}

impl Node {
    /// Connects to the cluster's Redis. `default_name`: the name when the configuration
    /// gives none (host name and port).
    pub async fn connect(
        config: &ClusterConfig,
        default_name: String,
        log_bytes: usize,
        metrics: ClusterMetrics,
    ) -> anyhow::Result<Arc<Node>> {
        let mut c = Connect::new(config.redis.clone());
        c.password = config.password()?;
        c.prefix = config.prefix.clone();
        let store = tokio::time::timeout(Duration::from_secs(10), Store::connect(&c))
            .await
            .map_err(|_| anyhow::anyhow!("no answer within 10 s"))
            .and_then(|r| r.map_err(anyhow::Error::from))
            .with_context(|| format!("connecting to the cluster's Redis at {}", config.redis))?;
        Ok(Arc::new(Node {
            name: config.node.clone().unwrap_or(default_name),
            store,
            lease: config.lease,
            log_bytes,
            metrics,
            followers: Mutex::default(),
            owners: Mutex::default(),
            redis_ok: std::sync::atomic::AtomicBool::new(true),
        }))
    }

    /// Makes sure no other live relay uses this node's name: a relay restarted right after a
    /// crash waits for its old heartbeat to lapse; a second relay with the same name running
    /// is refused (their sessions' leases would be indistinguishable).
    pub async fn claim_name(&self) -> anyhow::Result<()> {
        let ttl = self.lease * 3;
        let deadline = tokio::time::Instant::now() + ttl + Duration::from_secs(1);
        loop {
            let alive = self.store.nodes(ttl).await?;
            if !alive.contains(&self.name) {
                self.store.heartbeat(&self.name).await?;
                return Ok(());
            }
            if tokio::time::Instant::now() >= deadline {
                anyhow::bail!(
                    "another relay named {:?} is alive in this cluster: give each relay its own [cluster] node name",
                    self.name
                );
            }
            tracing::info!(node = %self.name, "cluster: waiting for an earlier relay of this name to time out");
            tokio::time::sleep(self.lease / 2).await;
        }
    }

    fn followers(&self) -> MutexGuard<'_, HashMap<String, Weak<follower::Follower>>> {
        self.followers.lock().unwrap_or_else(|p| p.into_inner())
    }
}
pub mod adopt;
pub mod follower;
pub mod owner;
pub mod wire;
