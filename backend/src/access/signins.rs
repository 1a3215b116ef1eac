//! Sign-in sessions (cookies), one-time login links and share links.
//!
//! **Invariant:** tokens are random 256-bit values; only their SHA-256 is kept, so a memory
//! dump or a log line never holds a usable token. Nothing here logs a token or a password.
//!
//! With `[cluster]`, `access::shared` keeps these in Redis for every relay and uses this
//! in-process store as its mirror and fall-back (the by-digest methods at the end).

use std::collections::{HashMap, HashSet};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use http::{header, HeaderMap};
use winrelay_shared::protocol::Role;

use super::identity::{Identity, Method};
use super::{digest, new_token};

/// Name of the sign-in cookie.
pub const COOKIE: &str = "winrelay_session";

/// How long a sign-in lasts.
pub const SIGN_IN_TTL: Duration = Duration::from_secs(12 * 3600);

struct Entry {
    user: String,
    groups: Vec<String>,
    method: Method,
    expires: Instant,
    /// What the account was when the person signed in (see `Users::stamp`): a sign-in
    /// whose account changed since ends (issue 17, item 6).
    stamp: String,
}

/// A share link: joins one session with one role until it expires or is revoked.
#[derive(Debug, Clone)]
pub struct Share {
    /// Public id (for listing and revoking); not the secret.
    pub id: String,
    /// The session.
    pub session: String,
    /// The role it grants.
    pub role: Role,
    /// When it stops working.
    pub expires: Instant,
}

/// Sign-ins, login links and share links.
#[derive(Default)]
pub struct Signins {
    sign_ins: Mutex<HashMap<[u8; 32], Entry>>,
    /// Where sign-ins are kept so that they survive a restart of the relay (digests only).
    store: Option<std::path::PathBuf>,
    login_links: Mutex<HashMap<[u8; 32], Entry>>,
    shares: Mutex<HashMap<[u8; 32], Share>>,
    /// Share links revoked or expired, so that their holders hear that rather than "no such
    /// session" (digest → session id; the oldest go first beyond [`MAX_ENDED_SHARES`]).
    ended_shares: Mutex<EndedShares>,
    /// The cluster layer's memory (`access::shared`; unused without `[cluster]`): digests
    /// of what this relay made while Redis did not answer (they exist here only, so Redis
    /// not knowing them does not end them), sign-ins [`Signins::revalidate`] ended (to be
    /// ended in Redis too), and until when Redis is not asked after it failed.
    local_only: Mutex<HashSet<[u8; 32]>>,
    ended_sign_ins: Mutex<Vec<[u8; 32]>>,
    redis_resting: Mutex<Option<Instant>>,
}

/// A sign-in as the cluster keeps it in Redis (JSON), under the digest of its cookie.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
pub struct SignInRecord {
    /// The user.
    pub user: String,
    /// The user's groups.
    pub groups: Vec<String>,
    /// How they signed in.
    pub method: Method,
    /// Seconds since the Unix epoch.
    pub expires: u64,
    /// The account's stamp when they signed in (see `Users::stamp`).
    pub stamp: String,
}

impl SignInRecord {
    /// The identity it signs in, while it lasts.
    pub fn identity(&self) -> Option<Identity> {
        (self.expires > unix_now())
            .then(|| Identity::new(self.user.clone(), self.groups.clone(), self.method))
    }
}

/// Sign-ins ended by a revalidation and not yet ended in Redis, at most.
const MAX_ENDED_SIGN_INS: usize = 4096;

/// Ended share links: digest → session id, and the digests oldest first.
type EndedShares = (
    HashMap<[u8; 32], String>,
    std::collections::VecDeque<[u8; 32]>,
);

/// Ended share links remembered.
const MAX_ENDED_SHARES: usize = 4096;

/// A sign-in as kept on disk: the token's digest, never the token.
#[derive(serde::Serialize, serde::Deserialize)]
struct Stored {
    digest: String,
    user: String,
    groups: Vec<String>,
    method: Method,
    /// Seconds since the Unix epoch.
    expires: u64,
    /// The account's stamp (missing in files of older relays: those sign-ins end).
    #[serde(default)]
    stamp: String,
}

/// Seconds since the Unix epoch.
pub fn unix_now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

impl Signins {
    /// Sign-ins kept in `path` (a JSON file of digests), loaded now and rewritten on every
    /// sign-in and sign-out, so people stay signed in across restarts of the relay.
    pub fn persistent(path: std::path::PathBuf) -> Signins {
        let auth = Signins {
            store: Some(path.clone()),
            ..Signins::default()
        };
        let stored: Vec<Stored> = std::fs::read(&path)
            .ok()
            .and_then(|b| serde_json::from_slice(&b).ok())
            .unwrap_or_default();
        let now_unix = unix_now();
        let now = Instant::now();
        let mut map = auth.sign_ins.lock().unwrap_or_else(|p| p.into_inner());
        for e in stored.into_iter().filter(|e| e.expires > now_unix) {
            let mut digest = [0u8; 32];
            if hex::decode_to_slice(&e.digest, &mut digest).is_ok() {
                let left = Duration::from_secs(e.expires - now_unix);
                map.insert(
                    digest,
                    Entry {
                        user: e.user,
                        groups: e.groups,
                        method: e.method,
                        expires: now + left,
                        stamp: e.stamp,
                    },
                );
            }
        }
        drop(map);
        auth
    }

    /// Writes the sign-ins to the store (atomically: a temporary file renamed over it).
    fn save(&self) {
        let Some(path) = &self.store else { return };
        let now = Instant::now();
        let now_unix = unix_now();
        let stored: Vec<Stored> = self
            .sign_ins
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .iter()
            .filter(|(_, e)| e.expires > now)
            .map(|(d, e)| Stored {
                digest: hex::encode(d),
                user: e.user.clone(),
                groups: e.groups.clone(),
                method: e.method,
                expires: now_unix + e.expires.duration_since(now).as_secs(),
                stamp: e.stamp.clone(),
            })
            .collect();
        let result = (|| -> std::io::Result<()> {
            if let Some(dir) = path.parent() {
                std::fs::create_dir_all(dir)?;
            }
            let tmp = path.with_extension(format!("tmp{}", &new_token()[..8]));
            {
                use std::io::Write;
                let mut opts = std::fs::OpenOptions::new();
                opts.write(true).create_new(true);
                #[cfg(unix)]
                std::os::unix::fs::OpenOptionsExt::mode(&mut opts, 0o600);
                let mut f = opts.open(&tmp)?;
                f.write_all(&serde_json::to_vec(&stored).unwrap_or_default())?;
                f.sync_all()?;
            }
            std::fs::rename(&tmp, path)
        })();
        if let Err(e) = result {
            tracing::warn!(path = %path.display(), error = %e, "could not save sign-ins; they will not survive a restart");
        }
    }

    /// Makes a one-time login link token for `user`, valid for `ttl`.
    pub fn login_link(&self, user: &str, ttl: Duration) -> String {
        let token = new_token();
        self.login_links
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .insert(
                digest(&token),
                Entry {
                    user: user.into(),
                    groups: Vec::new(),
                    method: Method::Link,
                    expires: Instant::now() + ttl,
                    stamp: String::new(),
                },
            );
        token
    }

    /// Redeems a login link (once): returns the user it signs in.
    pub fn redeem(&self, token: &str) -> Option<String> {
        let entry = self
            .login_links
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .remove(&digest(token))?;
        (entry.expires >= Instant::now()).then_some(entry.user)
    }

    /// Signs someone in, with their account's `stamp`: returns the cookie value.
    pub fn sign_in(&self, who: &Identity, stamp: &str) -> String {
        let token = new_token();
        self.sign_ins
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .insert(
                digest(&token),
                Entry {
                    user: who.user.clone(),
                    groups: who.groups.clone(),
                    method: who.method,
                    expires: Instant::now() + SIGN_IN_TTL,
                    stamp: stamp.to_string(),
                },
            );
        self.save();
        token
    }

    /// Ends every sign-in whose account changed or is gone: `stamp_of(user, method)` is
    /// the account's stamp now (`None`: no such account). Returns the users whose sign-ins
    /// ended. Called at start (sign-ins come back from the state directory) and on reload.
    pub fn revalidate(&self, stamp_of: impl Fn(&str, Method) -> Option<String>) -> Vec<String> {
        let mut ended = Vec::new();
        self.sign_ins
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .retain(|d, e| {
                let keep = stamp_of(&e.user, e.method).is_some_and(|s| s == e.stamp);
                if !keep {
                    ended.push(e.user.clone());
                    let mut pending = self
                        .ended_sign_ins
                        .lock()
                        .unwrap_or_else(|p| p.into_inner());
                    if pending.len() < MAX_ENDED_SIGN_INS {
                        pending.push(*d);
                    }
                }
                keep
            });
        if !ended.is_empty() {
            self.save();
        }
        ended
    }

    /// Ends a sign-in.
    pub fn sign_out(&self, cookie: &str) {
        self.sign_ins
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .remove(&digest(cookie));
        self.save();
    }

    /// The signed-in user of a request, from its cookie.
    pub fn user(&self, headers: &HeaderMap) -> Option<Identity> {
        let token = cookie_value(headers, COOKIE)?;
        let map = self.sign_ins.lock().unwrap_or_else(|p| p.into_inner());
        let e = map.get(&digest(&token))?;
        (e.expires > Instant::now())
            .then(|| Identity::new(e.user.clone(), e.groups.clone(), e.method))
    }

    /// Makes a share link token for a session.
    pub fn share(&self, session: &str, role: Role, ttl: Duration) -> (String, Share) {
        let token = new_token();
        let share = Share {
            id: new_token()[..16].to_string(),
            session: session.into(),
            role,
            expires: Instant::now() + ttl,
        };
        self.shares
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .insert(digest(&token), share.clone());
        (token, share)
    }

    /// The share a token stands for, if valid.
    pub fn share_for(&self, token: &str) -> Option<Share> {
        let map = self.shares.lock().unwrap_or_else(|p| p.into_inner());
        map.get(&digest(token))
            .filter(|s| s.expires > Instant::now())
            .cloned()
    }

    /// Revokes a share by its public id; true if it existed.
    pub fn revoke(&self, session: &str, id: &str) -> bool {
        let mut map = self.shares.lock().unwrap_or_else(|p| p.into_inner());
        let mut ended = Vec::new();
        map.retain(|d, s| {
            let keep = !(s.session == session && s.id == id);
            if !keep {
                ended.push(*d);
            }
            keep
        });
        drop(map);
        for d in &ended {
            self.ended(*d, session);
        }
        !ended.is_empty()
    }

    fn ended(&self, digest: [u8; 32], session: &str) {
        let mut guard = self.ended_shares.lock().unwrap_or_else(|p| p.into_inner());
        let (map, order) = &mut *guard;
        if map.insert(digest, session.to_string()).is_none() {
            order.push_back(digest);
        }
        while order.len() > MAX_ENDED_SHARES {
            if let Some(old) = order.pop_front() {
                map.remove(&old);
            }
        }
    }

    /// Whether `token` is a share link for `session` that was revoked or has expired.
    pub fn share_ended(&self, token: &str, session: &str) -> bool {
        let d = digest(token);
        let expired = self
            .shares
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .get(&d)
            .is_some_and(|s| s.session == session && s.expires <= Instant::now());
        expired
            || self
                .ended_shares
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .0
                .get(&d)
                .is_some_and(|s| s == session)
    }

    /// The live shares of a session.
    pub fn shares_of(&self, session: &str) -> Vec<Share> {
        let now = Instant::now();
        self.shares
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .values()
            .filter(|s| s.session == session && s.expires > now)
            .cloned()
            .collect()
    }

    /// Drops expired entries (called periodically); returns the shares that expired, as
    /// (session, share id), so their clients can be removed.
    pub fn purge(&self) -> Vec<(String, String)> {
        let now = Instant::now();
        let mut expired = Vec::new();
        let mut ended = Vec::new();
        self.sign_ins
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .retain(|_, e| e.expires > now);
        self.login_links
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .retain(|_, e| e.expires > now);
        self.shares
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .retain(|d, s| {
                if s.expires > now {
                    true
                } else {
                    expired.push((s.session.clone(), s.id.clone()));
                    ended.push((*d, s.session.clone()));
                    false
                }
            });
        for (d, session) in ended {
            self.ended(d, &session);
        }
        let (sign_ins, links, shares) = (
            self.sign_ins.lock().unwrap_or_else(|p| p.into_inner()),
            self.login_links.lock().unwrap_or_else(|p| p.into_inner()),
            self.shares.lock().unwrap_or_else(|p| p.into_inner()),
        );
        self.local_only
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .retain(|d| {
                sign_ins.contains_key(d) || links.contains_key(d) || shares.contains_key(d)
            });
        expired
    }

    // --- for the cluster layer (`access::shared`), by digest -------------------------------

    /// Notes that `digest` (a sign-in, login link or share link this relay made) exists
    /// here only: Redis did not take it.
    pub fn mark_local_only(&self, digest: [u8; 32]) {
        self.local_only
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .insert(digest);
    }

    /// Whether `digest` exists on this relay only.
    pub fn is_local_only(&self, digest: &[u8; 32]) -> bool {
        self.local_only
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .contains(digest)
    }

    /// Whether Redis is resting (it failed less than a moment ago).
    pub fn redis_resting(&self, now: Instant) -> bool {
        self.redis_resting
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .is_some_and(|until| until > now)
    }

    /// Redis failed: do not ask it until `until`. Returns whether it answered before (the
    /// first failure of an outage, worth a warning).
    pub fn rest_redis(&self, until: Instant) -> bool {
        self.redis_resting
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .replace(until)
            .is_none()
    }

    /// Redis answered: returns whether it had failed before (the end of an outage).
    pub fn redis_answered(&self) -> bool {
        self.redis_resting
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .take()
            .is_some()
    }

    /// Sign-ins a revalidation ended since the last call.
    pub fn take_ended_sign_ins(&self) -> Vec<[u8; 32]> {
        std::mem::take(
            &mut *self
                .ended_sign_ins
                .lock()
                .unwrap_or_else(|p| p.into_inner()),
        )
    }

    /// The sign-in of a cookie's digest, as Redis would keep it.
    pub fn sign_in_record(&self, digest: &[u8; 32]) -> Option<SignInRecord> {
        let now = Instant::now();
        let now_unix = unix_now();
        let map = self.sign_ins.lock().unwrap_or_else(|p| p.into_inner());
        let e = map.get(digest)?;
        Some(SignInRecord {
            user: e.user.clone(),
            groups: e.groups.clone(),
            method: e.method,
            expires: now_unix + e.expires.saturating_duration_since(now).as_secs(),
            stamp: e.stamp.clone(),
        })
    }

    /// The signed-in user of a cookie's digest, known here.
    pub fn user_by_digest(&self, digest: &[u8; 32]) -> Option<Identity> {
        let map = self.sign_ins.lock().unwrap_or_else(|p| p.into_inner());
        let e = map.get(digest)?;
        (e.expires > Instant::now())
            .then(|| Identity::new(e.user.clone(), e.groups.clone(), e.method))
    }

    /// Keeps a sign-in seen in Redis (another relay made it), so that this relay still
    /// knows it when Redis does not answer.
    pub fn remember_sign_in(&self, digest: [u8; 32], r: &SignInRecord) {
        let left = Duration::from_secs(r.expires.saturating_sub(unix_now()));
        let new = self
            .sign_ins
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .insert(
                digest,
                Entry {
                    user: r.user.clone(),
                    groups: r.groups.clone(),
                    method: r.method,
                    expires: Instant::now() + left,
                    stamp: r.stamp.clone(),
                },
            )
            .is_none();
        if new {
            self.save();
        }
    }

    /// Forgets a sign-in (ended elsewhere).
    pub fn drop_sign_in(&self, digest: &[u8; 32]) {
        let was = self
            .sign_ins
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .remove(digest)
            .is_some();
        self.local_only
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .remove(digest);
        if was {
            self.save();
        }
    }

    /// Forgets a login link kept here (Redis holds it now).
    pub fn drop_login_link(&self, digest: &[u8; 32]) {
        self.login_links
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .remove(digest);
    }

    /// Keeps a share link seen in Redis, live.
    pub fn remember_share(&self, digest: [u8; 32], share: Share) {
        self.shares
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .insert(digest, share);
        let mut guard = self.ended_shares.lock().unwrap_or_else(|p| p.into_inner());
        if guard.0.remove(&digest).is_some() {
            guard.1.retain(|d| *d != digest);
        }
    }

    /// A share link ended elsewhere (revoked or ran out): its holders hear so.
    pub fn end_share(&self, digest: [u8; 32], session: &str) {
        self.shares
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .remove(&digest);
        self.ended(digest, session);
    }

    /// Forgets a share link Redis does not know (unless it exists here only).
    pub fn drop_share(&self, digest: &[u8; 32]) {
        if !self.is_local_only(digest) {
            self.shares
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .remove(digest);
        }
    }

    /// The live share links of a session that exist on this relay only.
    pub fn local_only_shares(&self, session: &str) -> Vec<Share> {
        let now = Instant::now();
        let only = self.local_only.lock().unwrap_or_else(|p| p.into_inner());
        self.shares
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .iter()
            .filter(|(d, s)| only.contains(*d) && s.session == session && s.expires > now)
            .map(|(_, s)| s.clone())
            .collect()
    }
}

/// A cookie's value from the request headers.
pub fn cookie_value(headers: &HeaderMap, name: &str) -> Option<String> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .find_map(|kv| {
            let (k, v) = kv.trim().split_once('=')?;
            (k == name).then(|| v.to_string())
        })
}

#[cfg(test)]
mod persist_tests {
    use super::*;

    #[test]
    fn sign_ins_survive_a_restart_and_sign_out_too() {
        let dir = std::env::temp_dir().join(format!("winrelay-auth-{}", new_token()));
        let path = dir.join("signins.json");
        let who = Identity::new("alice", vec!["ops".into()], Method::Password);
        let (kept, gone) = {
            let auth = Signins::persistent(path.clone());
            (auth.sign_in(&who, "s1"), auth.sign_in(&who, "s1"))
        };
        let stored = std::fs::read_to_string(&path).unwrap();
        assert!(
            !stored.contains(&kept) && !stored.contains(&gone),
            "tokens are never stored"
        );
        let auth = Signins::persistent(path.clone());
        auth.sign_out(&gone);
        let cookie = |t: &str| {
            let mut h = HeaderMap::new();
            h.insert(header::COOKIE, format!("{COOKIE}={t}").parse().unwrap());
            h
        };
        let again = Signins::persistent(path.clone());
        let id = again
            .user(&cookie(&kept))
            .expect("still signed in after a restart");
        assert_eq!(
            (id.user.as_str(), id.groups.as_slice()),
            ("alice", &["ops".to_string()][..])
        );
        assert!(
            again.user(&cookie(&gone)).is_none(),
            "signed out stays signed out"
        );
        assert!(again.user(&cookie(&new_token())).is_none());
        // Issue 17, item 6: the account changed (password, groups, removed): the sign-in
        // ends, also in the file.
        let bob = again.sign_in(&Identity::new("bob", vec![], Method::Password), "b1");
        let ended = again.revalidate(|user, _| match user {
            "alice" => Some("s2".into()),
            _ => Some("b1".into()),
        });
        assert_eq!(ended, ["alice"]);
        assert!(
            again.user(&cookie(&kept)).is_none(),
            "alice's account changed"
        );
        assert!(again.user(&cookie(&bob)).is_some(), "bob's did not");
        let reloaded = Signins::persistent(path.clone());
        assert!(reloaded.user(&cookie(&kept)).is_none(), "ended for good");
        assert_eq!(
            reloaded.revalidate(|_, _| None),
            ["bob"],
            "removed accounts end too"
        );
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            assert_eq!(
                std::fs::metadata(&path).unwrap().permissions().mode() & 0o777,
                0o600
            );
        }
        let _ = std::fs::remove_dir_all(dir);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use http::HeaderValue;

    fn headers(pairs: &[(header::HeaderName, &str)]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for (k, v) in pairs {
            h.append(k.clone(), HeaderValue::from_str(v).unwrap());
        }
        h
    }

    #[test]
    fn login_links_work_once() {
        let auth = Signins::default();
        let t = auth.login_link("demo", Duration::from_secs(60));
        let user = auth.redeem(&t).unwrap();
        assert_eq!(user, "demo");
        assert!(auth.redeem(&t).is_none(), "a login link must be single-use");
        let expired = auth.login_link("demo", Duration::ZERO);
        assert!(auth.redeem(&expired).is_none(), "and short-lived");
        let cookie = auth.sign_in(&Identity::new("demo", vec!["g".into()], Method::Link), "");
        let h = headers(&[(header::COOKIE, &format!("a=b; {COOKIE}={cookie}"))]);
        let who = auth.user(&h).unwrap();
        assert_eq!(
            (who.user.as_str(), who.groups.as_slice()),
            ("demo", &["g".to_string()][..])
        );
        let forged = headers(&[(header::COOKIE, &format!("{COOKIE}={}", new_token()))]);
        assert_eq!(auth.user(&forged), None);
        auth.sign_out(&cookie);
        assert_eq!(auth.user(&h), None);
    }

    #[test]
    fn shares_expire_and_revoke() {
        let auth = Signins::default();
        let (t, s) = auth.share("s1", Role::Viewer, Duration::from_secs(60));
        assert_eq!(auth.share_for(&t).unwrap().role, Role::Viewer);
        assert!(!auth.revoke("other", &s.id));
        assert!(auth.revoke("s1", &s.id));
        assert!(auth.share_for(&t).is_none());
        assert!(auth.share_ended(&t, "s1"), "revoked: known as ended");
        assert!(!auth.share_ended(&t, "s2"), "only for its own session");
        assert!(!auth.share_ended("bogus", "s1"));
        let (t2, _) = auth.share("s1", Role::Writer, Duration::ZERO);
        assert!(auth.share_for(&t2).is_none());
        assert!(auth.share_ended(&t2, "s1"), "expired");
        auth.purge();
        assert!(auth.share_ended(&t2, "s1"), "expired and purged");
    }
}
