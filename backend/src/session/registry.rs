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

/// The relay runs as many sessions as it may.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("this relay already runs {0} sessions, its limit: end some first")]
pub struct TooManySessions(pub usize);

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
        owner: String,
        connector: C,
        size: (u16, u16),
        observe: impl FnOnce(&str) -> Vec<Arc<dyn Observer>>,
    ) -> Result<Arc<Session>, TooManySessions> {
        if self.len() >= self.settings.max_sessions {
            return Err(TooManySessions(self.settings.max_sessions));
        }
        let id = new_id();
        let traits = connector.traits();
        let (session, channels) = Session::new(
            id.clone(),
            target,
            owner,
            SystemTime::now()
                .duration_since(UNIX_EPOCH)
                .map(|d| d.as_secs())
                .unwrap_or(0),
            CoreConfig {
                log_bytes: self.settings.log_bytes,
                filter_echo: traits.echoes_input,
                max_line_len: traits.max_line_len,
                observe_bytes: false,
                size,
            },
            observe(&id),
        );
        self.map().insert(session.id.clone(), session.clone());
        let span = tracing::info_span!("session", id = %session.id, target = %session.target);
        let registry = self.clone();
        let s = session.clone();
        let mut drivers = self.drivers.lock().await;
        // Forget drivers that have finished, so a long-running relay does not collect them.
        while drivers.try_join_next().is_some() {}
        drivers.spawn(
            async move {
                super::driver::drive(s.clone(), connector, channels).await;
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
            if let Some(s) = registry.map().remove(&id) {
                s.observers().iter().for_each(|o| o.retired());
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
            s.kick_all("the relay is shutting down", true);
            s.end();
        }
        let mut drivers = self.drivers.lock().await;
        while drivers.join_next().await.is_some() {}
    }
}
