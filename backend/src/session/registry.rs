//! Every session of this relay.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use tracing::{info, Instrument};
use winrelay_shared::protocol::SessionState;

use super::core::CoreConfig;
use super::remote::Connect;
use super::{Observer, Session};

pub use crate::config::SessionSettings;

/// Why no further session may start.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TooManySessions {
    /// The relay runs as many sessions as it may.
    #[error("this relay already runs {0} sessions, its limit: end some first")]
    Relay(usize),
    /// This person runs as many as one person may (issue 17, item 10).
    #[error("you already run {0} sessions, the most one person may: end one of yours first")]
    PerUser(usize),
    /// This target runs as many as one target may (its account's shell quota).
    #[error("target {target} already runs {limit} sessions, the most the relay opens on one target: end one first, or ask its owners")]
    PerTarget {
        /// The target.
        target: String,
        /// The limit.
        limit: usize,
    },
}

/// Who opens a session, and how.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Opener {
    /// The user's name, as shown.
    pub user: String,
    /// Who owns the session (`Identity::principal`: embed identities are `embed:NAME`).
    pub id: String,
    /// Opened with the person's own credentials (an `ask_credentials` target): only they
    /// type in it unless they share it (issue 17, item 8).
    pub personal: bool,
}

impl From<&str> for Opener {
    fn from(user: &str) -> Opener {
        Opener {
            user: user.into(),
            id: user.into(),
            personal: false,
        }
    }
}

impl From<String> for Opener {
    fn from(user: String) -> Opener {
        Opener {
            id: user.clone(),
            user,
            personal: false,
        }
    }
}

/// All sessions of this relay.
pub struct Registry {
    sessions: Mutex<HashMap<String, Arc<Session>>>,
    drivers: tokio::sync::Mutex<tokio::task::JoinSet<()>>,
    settings: SessionSettings,
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

impl Registry {
    /// An empty registry.
    pub fn new(settings: SessionSettings) -> Arc<Registry> {
        Arc::new(Registry {
            sessions: Mutex::new(HashMap::new()),
            drivers: Default::default(),
            settings,
        })
    }

    fn map(&self) -> MutexGuard<'_, HashMap<String, Arc<Session>>> {
        self.sessions.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// A session by id.
    pub fn get(&self, id: &str) -> Option<Arc<Session>> {
        self.map().get(id).cloned()
    }

    /// All sessions, oldest first.
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

    /// Starts a session: the shell opens in the background (state `connecting`). The
    /// observers (made from the new session's id) see everything from the start.
    pub async fn create<C: Connect>(
        self: &Arc<Self>,
        target: String,
        owner: Opener,
        connector: C,
        size: (u16, u16),
        observe: impl FnOnce(&str) -> Vec<Arc<dyn Observer>>,
    ) -> Result<Arc<Session>, TooManySessions> {
        self.room_for(&target, &owner.id)?;
        let created_at = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_secs())
            .unwrap_or(0);
        Ok(self
            .start(
                new_id(),
                target,
                owner,
                created_at,
                connector,
                size,
                observe,
                None,
            )
            .await)
    }

    /// Takes over a session another relay of the cluster opened (issue 15): same id, the
    /// log continuing at `log_start` with `tail`, the shell continued from `resume` (a
    /// checkpoint the last owner wrote). Not limited: the session exists already.
    #[allow(clippy::too_many_arguments)]
    pub async fn adopt<C: Connect>(
        self: &Arc<Self>,
        id: String,
        target: String,
        owner: Opener,
        created_at: u64,
        connector: C,
        size: (u16, u16),
        observe: impl FnOnce(&str) -> Vec<Arc<dyn Observer>>,
        log_start: u64,
        tail: &[u8],
        resume: String,
    ) -> Arc<Session> {
        self.start(
            id,
            target,
            owner,
            created_at,
            connector,
            size,
            observe,
            Some((log_start, tail, resume)),
        )
        .await
    }

    #[allow(clippy::too_many_arguments)]
    async fn start<C: Connect>(
        self: &Arc<Self>,
        id: String,
        target: String,
        owner: Opener,
        created_at: u64,
        connector: C,
        size: (u16, u16),
        observe: impl FnOnce(&str) -> Vec<Arc<dyn Observer>>,
        continued: Option<(u64, &[u8], String)>,
    ) -> Arc<Session> {
        let traits = connector.traits();
        let (session, channels) = Session::new(
            id.clone(),
            target,
            owner,
            created_at,
            CoreConfig {
                log_bytes: self.settings.log_bytes,
                filter_echo: traits.echoes_input,
                max_line_len: traits.max_line_len,
                observe_bytes: false,
                size,
                completes: traits.completes,
                detect_password_prompts: traits.detect_password_prompts,
                // Shells that complete know their commands and mark them themselves.
                line_marks: !traits.completes,
            },
            observe(&id),
        );
        let resume = continued.map(|(start, tail, resume)| {
            session.restore_log(self.settings.log_bytes, start, tail);
            resume
        });
        self.map().insert(session.id.clone(), session.clone());
        let span = tracing::info_span!("session", id = %session.id, target = %session.target);
        let registry = self.clone();
        let s = session.clone();
        let mut drivers = self.drivers.lock().await;
        // Forget drivers that have finished, so a long-running relay does not collect them.
        while drivers.try_join_next().is_some() {}
        // Made here, not inside the task's future, which would keep the connector all its life.
        let driving = super::driver::drive(s.clone(), connector, channels, resume);
        drivers.spawn(
            async move {
                driving.await;
                // A shell that never opened is reported to whoever asked (the API call waits
                // for it); only sessions that ran stay listed so that clients learn how they ended.
                // A session handed to another relay is that relay's now.
                let keep = if s.is_handed_over() {
                    Duration::ZERO
                } else if matches!(s.state(), SessionState::Failed { .. }) {
                    FAILED_RETENTION
                } else {
                    ENDED_RETENTION
                };
                registry.retire(&s.id, keep);
            }
            .instrument(span),
        );
        session
    }

    /// Whether `user` may open another session on `target`: the relay's, the person's and
    /// the target's limits. Sessions that ended (kept listed for a while) do not count.
    pub fn room_for(&self, target: &str, user: &str) -> Result<(), TooManySessions> {
        let map = self.map();
        if map.len() >= self.settings.max_sessions {
            return Err(TooManySessions::Relay(self.settings.max_sessions));
        }
        let live: Vec<&Arc<Session>> = map.values().filter(|s| !s.state().is_final()).collect();
        if let Some(limit) = self.settings.max_per_user {
            if live.iter().filter(|s| s.owner_id == user).count() >= limit {
                return Err(TooManySessions::PerUser(limit));
            }
        }
        if let Some(limit) = self.settings.max_per_target {
            if live.iter().filter(|s| s.target == target).count() >= limit {
                return Err(TooManySessions::PerTarget {
                    target: target.to_string(),
                    limit,
                });
            }
        }
        Ok(())
    }

    /// Removes a finished session after its clients had time to see how it ended.
    fn retire(self: &Arc<Self>, id: &str, keep: Duration) {
        let registry = self.clone();
        let id = id.to_string();
        tokio::spawn(async move {
            tokio::time::sleep(keep).await;
            if let Some(s) = registry.map().remove(&id) {
                s.observers().iter().for_each(|o| o.retired());
            }
        });
    }

    /// Ends idle sessions (saying so in their final state); called periodically.
    pub fn reap_idle(&self) {
        for s in self.list() {
            if !s.state().is_final()
                && s.idle_for()
                    .is_some_and(|d| d >= self.settings.idle_timeout)
            {
                info!(session = %s.id, "ending an idle session");
                s.end_because(&format!(
                    "ended after {} without input (idle timeout)",
                    spell(self.settings.idle_timeout)
                ));
            }
        }
    }

    /// Hands every session to the other relays of the cluster and waits until every driver
    /// let go of its shell (SIGTERM with live peers): the shells stay.
    pub async fn hand_over_all(&self, reason: &str) {
        for s in self.list() {
            if !s.state().is_final() {
                s.hand_over(reason);
            }
        }
        let mut drivers = self.drivers.lock().await;
        while drivers.join_next().await.is_some() {}
    }

    /// Ends every session and waits until every shell is deleted (SIGTERM).
    pub async fn shutdown(&self) {
        for s in self.list() {
            s.kick_all("the relay is shutting down", true);
            s.end_because("ended because the relay shut down");
        }
        let mut drivers = self.drivers.lock().await;
        while drivers.join_next().await.is_some() {}
    }
}

/// A duration as a person says it: `30 minutes`, `1 hour`, `90 seconds`.
fn spell(d: Duration) -> String {
    let s = d.as_secs();
    let (n, unit) = if s >= 3600 && s.is_multiple_of(3600) {
        (s / 3600, "hour")
    } else if s >= 60 && s.is_multiple_of(60) {
        (s / 60, "minute")
    } else {
        (s, "second")
    };
    format!("{n} {unit}{}", if n == 1 { "" } else { "s" })
}
