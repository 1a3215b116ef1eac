//! Targets discovered from where the containers run: the seam.
//!
//! * A [`Source`] answers two questions: which targets exist now ([`Source::list`]) and
//!   "tell me when that may have changed" ([`Source::changed`]). Docker is one source
//!   ([`engine::DockerSource`]); Kubernetes pods will be another.
//! * [`docker`] is the pure half of the Docker source: Engine API answers in, targets out.
//! * [`run`] drives any source: it lists at start, after every change (debounced, with a
//!   follow-up read for tasks that were still starting) and on a periodic reconcile, and
//!   publishes the result into the [`Directory`] the relay's `targets` read.
//!
//! **Invariant:** a discovered target's address was checked against its block's
//! `allow_networks` here, and credentials, certificate checks and roles come from the
//! `[[discovery]]` block, never from what a container says about itself (its labels choose
//! only the shell, the port and the session configuration).

pub mod docker;
pub mod engine;

use std::collections::{BTreeSet, HashMap};
use std::future::Future;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::sync::watch;
use tracing::{info, warn};
use winrelay_shared::api::TargetFacts;

use crate::config::{CertCheck, ConfigError, Credentials, DiscoveryConfig, ShellKind, Target};

/// A target a source found, before the block's settings are applied.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Found {
    /// Target name: `SERVICE.SLOT` for a task, the container name otherwise.
    pub name: String,
    /// Its address on the block's network, inside `allow_networks`.
    pub address: IpAddr,
    /// The WinRM port a label chose.
    pub port: Option<u16>,
    /// The shell a label chose.
    pub shell: Option<ShellKind>,
    /// The PowerShell session configuration a label chose.
    pub configuration: Option<String>,
    /// The service (empty for a plain container), for grouping in the picker.
    pub group: String,
    /// The task's replica number.
    pub slot: Option<u64>,
    /// The node it runs on.
    pub node: Option<String>,
    /// Its image.
    pub image: String,
    /// Its state as the source says it.
    pub state: String,
    /// Since when it is in that state (RFC 3339), if known.
    pub since: Option<String>,
}

impl Default for Found {
    fn default() -> Found {
        Found {
            name: String::new(),
            address: IpAddr::V4(Ipv4Addr::UNSPECIFIED),
            port: None,
            shell: None,
            configuration: None,
            group: String::new(),
            slot: None,
            node: None,
            image: String::new(),
            state: String::new(),
            since: None,
        }
    }
}

/// Something a source saw but did not make a target, and why (for the log).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct Skipped {
    /// Its would-be name.
    pub name: String,
    /// Why not.
    pub why: String,
}

/// A discovered target, ready to connect to.
#[derive(Debug, Clone)]
pub struct Discovered {
    /// The target (endpoint `https://ADDRESS:PORT/wsman`, the block's credentials, checks
    /// and roles).
    pub target: Target,
    /// The checked address the relay connects to.
    pub address: SocketAddr,
    /// The PowerShell session configuration a label chose.
    pub configuration: Option<String>,
    /// The service (empty for a plain container).
    pub group: String,
    /// Where it runs and since when, for the picker and the fleet view.
    pub facts: TargetFacts,
}

/// Why a source could not answer.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct SourceError(pub String);

/// Where targets come from and go.
pub trait Source: Send + 'static {
    /// For the log: `docker unix:///var/run/docker.sock`.
    fn describe(&self) -> String;
    /// The targets now, and what was left out.
    fn list(
        &mut self,
    ) -> impl Future<Output = Result<(Vec<Found>, Vec<Skipped>), SourceError>> + Send;
    /// Resolves when the targets may have changed. Must be cancel-safe (it is raced against
    /// the reconcile timer).
    fn changed(&mut self) -> impl Future<Output = Result<(), SourceError>> + Send;
}

/// The block's settings applied to what a source found.
#[derive(Debug, Clone)]
pub struct Block {
    credentials: Credentials,
    cert: CertCheck,
    config: DiscoveryConfig,
}

impl Block {
    /// From a `[[discovery]]` block (checked when the configuration was loaded).
    pub fn new(config: &DiscoveryConfig) -> Result<Block, ConfigError> {
        Ok(Block {
            credentials: config.access.credentials(&config.what())?,
            cert: config.access.cert_check(&config.what())?,
            config: config.clone(),
        })
    }

    /// The target for what a source found.
    pub fn resolve(&self, f: Found) -> Discovered {
        let port = f.port.unwrap_or(self.config.port);
        let address = SocketAddr::new(f.address, port);
        let mut description = if f.group.is_empty() {
            "container".to_string()
        } else {
            format!("service {}", f.group)
        };
        if let Some(node) = &f.node {
            description.push_str(&format!(" · node {}", short_id(node)));
        }
        if !f.image.is_empty() {
            description.push_str(&format!(" · {}", f.image));
        }
        if !f.state.is_empty() {
            description.push_str(&format!(" · {}", f.state));
        }
        if let Some(since) = &f.since {
            description.push_str(&format!(" since {since}"));
        }
        let facts = TargetFacts {
            service: Some(f.group.clone()).filter(|g| !g.is_empty()),
            slot: f.slot,
            node: f.node.as_deref().map(|n| short_id(n).to_string()),
            image: Some(f.image.clone()).filter(|i| !i.is_empty()),
            state: Some(f.state.clone()).filter(|s| !s.is_empty()),
            started_at: f.since.clone(),
        };
        Discovered {
            facts,
            target: Target {
                name: f.name,
                description,
                endpoint: format!("https://{address}/wsman"),
                shell: f.shell.unwrap_or(self.config.shell),
                configuration: f.configuration.clone(),
                credentials: self.credentials.clone(),
                cert: self.cert.clone(),
                allow_http: false,
                roles: self.config.roles(),
                record: self.config.record,
            },
            address,
            configuration: f.configuration,
            group: f.group,
        }
    }
}

fn short_id(id: &str) -> &str {
    id.get(..12).unwrap_or(id)
}

/// Every discovered target, by block; shared by the relay's `targets` (clones share it).
#[derive(Clone)]
pub struct Directory {
    blocks: Arc<Mutex<HashMap<usize, Vec<Discovered>>>>,
    version: Arc<watch::Sender<u64>>,
    /// Last reachability check of each discovered target's checked address.
    reach: Arc<Mutex<HashMap<String, bool>>>,
}

impl Default for Directory {
    fn default() -> Directory {
        Directory {
            blocks: Default::default(),
            version: Arc::new(watch::Sender::new(0)),
            reach: Default::default(),
        }
    }
}

impl std::fmt::Debug for Directory {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Directory")
            .field("targets", &self.names())
            .finish()
    }
}

impl Directory {
    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<usize, Vec<Discovered>>> {
        self.blocks.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Replaces what block `index` found; wakes subscribers when names or addresses changed.
    pub fn set(&self, index: usize, targets: Vec<Discovered>) {
        let key = |v: &[Discovered]| -> Vec<(String, SocketAddr, String)> {
            v.iter()
                .map(|d| {
                    (
                        d.target.name.clone(),
                        d.address,
                        d.target.description.clone(),
                    )
                })
                .collect()
        };
        let changed = {
            let mut blocks = self.lock();
            let before = blocks.get(&index).map(|v| key(v)).unwrap_or_default();
            let changed = before != key(&targets);
            blocks.insert(index, targets);
            changed
        };
        if changed {
            self.version.send_modify(|v| *v += 1);
        }
    }

    /// The target named `name` (the first block that has it).
    pub fn get(&self, name: &str) -> Option<Discovered> {
        let blocks = self.lock();
        let mut indexes: Vec<&usize> = blocks.keys().collect();
        indexes.sort();
        indexes
            .into_iter()
            .find_map(|i| blocks[i].iter().find(|d| d.target.name == name).cloned())
    }

    /// Every discovered target, by block and name.
    pub fn all(&self) -> Vec<Discovered> {
        let blocks = self.lock();
        let mut indexes: Vec<&usize> = blocks.keys().collect();
        indexes.sort();
        let mut seen = BTreeSet::new();
        indexes
            .into_iter()
            .flat_map(|i| blocks[i].iter())
            .filter(|d| seen.insert(d.target.name.clone()))
            .cloned()
            .collect()
    }

    /// The names of every discovered target.
    pub fn names(&self) -> BTreeSet<String> {
        self.all().into_iter().map(|d| d.target.name).collect()
    }

    /// Changes whenever the targets do.
    pub fn subscribe(&self) -> watch::Receiver<u64> {
        self.version.subscribe()
    }

    /// The last reachability check of a discovered target: `None` before the first one.
    pub fn reachable(&self, name: &str) -> Option<bool> {
        self.reach
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .get(name)
            .copied()
    }

    /// Checks whether each discovered target's WinRM port accepts connections at its
    /// checked address (a TCP connect, at most 3 s each, all at once), for the picker and
    /// the fleet view; forgets targets that are gone. Called periodically.
    pub async fn check_reachability(&self) {
        let targets = self.all();
        let checks = targets.iter().map(|d| async move {
            let ok = matches!(
                tokio::time::timeout(
                    Duration::from_secs(3),
                    tokio::net::TcpStream::connect(d.address)
                )
                .await,
                Ok(Ok(_))
            );
            (d.target.name.clone(), ok)
        });
        let results: HashMap<String, bool> = futures::future::join_all(checks)
            .await
            .into_iter()
            .collect();
        *self.reach.lock().unwrap_or_else(|p| p.into_inner()) = results;
    }
}

/// How long to wait after an event for the burst that usually follows it.
const DEBOUNCE: Duration = Duration::from_millis(150);
/// A task's container starts before Swarm marks the task running, and no event says when it
/// does: after an event the list is read again this often, this many times.
const FOLLOW_UP: Duration = Duration::from_millis(500);
const FOLLOW_UPS: u32 = 4;
/// Waiting before asking a source that failed again.
const RETRY: Duration = Duration::from_secs(5);

/// Drives `source` for ever, publishing into `directory` as block `index`. When the source
/// fails, the last answer stays (an engine restart must not end every session) and it is
/// asked again after a pause.
pub async fn run<S: Source>(mut source: S, block: Block, index: usize, directory: Directory) {
    let what = source.describe();
    let reconcile = block.config.reconcile;
    let mut last_skipped: Vec<Skipped> = Vec::new();
    let mut failing = false;
    let mut follow_ups = 0;
    loop {
        match source.list().await {
            Ok((found, mut skipped)) => {
                if failing {
                    info!(source = %what, "discovery answers again");
                    failing = false;
                }
                skipped.sort();
                if skipped != last_skipped {
                    for s in &skipped {
                        info!(source = %what, target = %s.name, why = %s.why, "not a target");
                    }
                    last_skipped = skipped;
                }
                let targets: Vec<Discovered> =
                    found.into_iter().map(|f| block.resolve(f)).collect();
                directory.set(index, targets);
            }
            Err(e) => {
                if !failing {
                    warn!(source = %what, error = %e, "discovery failed; keeping the last list");
                }
                failing = true;
                tokio::time::sleep(RETRY).await;
                continue;
            }
        }
        let wake = tokio::time::Instant::now()
            + if follow_ups > 0 {
                follow_ups -= 1;
                FOLLOW_UP
            } else {
                reconcile
            };
        tokio::select! {
            r = source.changed() => match r {
                Ok(()) => {
                    tokio::time::sleep(DEBOUNCE).await;
                    follow_ups = FOLLOW_UPS;
                }
                Err(e) => {
                    if !failing {
                        warn!(source = %what, error = %e, "lost the event stream; reading the list again");
                    }
                    tokio::time::sleep(RETRY.min(reconcile)).await;
                }
            },
            _ = tokio::time::sleep_until(wake) => {}
        }
    }
}

/// Starts every `[[discovery]]` block of `config`, publishing into `directory`.
pub fn start(
    config: &crate::config::Config,
    directory: &Directory,
) -> Result<Vec<tokio::task::JoinHandle<()>>, ConfigError> {
    let mut tasks = Vec::new();
    for (index, c) in config.discovery.iter().enumerate() {
        let block = Block::new(c)?;
        let source = match c.kind {
            crate::config::DiscoveryKind::Docker => engine::DockerSource::new(c)
                .map_err(|e| ConfigError::Invalid(format!("{}: {e}", c.what())))?,
        };
        info!(source = %source.describe(), network = %c.network, "discovering targets");
        tasks.push(tokio::spawn(run(source, block, index, directory.clone())));
    }
    Ok(tasks)
}

#[cfg(test)]
mod tests;
