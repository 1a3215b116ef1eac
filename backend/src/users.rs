//! Who a request speaks for: local users (argon2), API tokens, an authenticating proxy's
//! headers, and the limits on guessing passwords.
//!
//! **Invariant:** a wrong password and an unknown user look the same from outside: same
//! answer, same work (an unknown user is checked against a dummy hash with the same cost),
//! and both count against the limits. Passwords and tokens are never logged.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use argon2::password_hash::rand_core::OsRng;
use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use argon2::Argon2;
use axum::http::HeaderMap;
use ipnet::IpNet;
use sha2::{Digest, Sha256};
use tracing::debug;
use winrelay_shared::protocol::Role;

use crate::config::{Config, ProxyAuthConfig};

/// How the caller proved who they are.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Method {
    /// A one-time login link printed by the relay.
    Link,
    /// User name and password.
    Password,
    /// An API token (`Authorization: Bearer`).
    Token,
    /// Headers from a trusted authenticating proxy.
    Proxy,
    /// An embed token from a portal.
    Embed,
}

impl Method {
    /// Whether the browser sends this credential by itself (cookies, and the proxy's own
    /// cookie behind proxy headers): such requests need the cross-site checks.
    pub fn ambient(self) -> bool {
        matches!(self, Method::Link | Method::Password | Method::Proxy)
    }
}

/// What an embed token allows: one target or one session, with one role.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EmbedScope {
    /// The target it may open (and whose sessions it may join).
    pub target: Option<String>,
    /// The one session it may join.
    pub session: Option<String>,
    /// The role it grants.
    pub role: Role,
}

/// A caller.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Identity {
    /// User name.
    pub user: String,
    /// Groups (for `group:NAME` in target roles).
    pub groups: Vec<String>,
    /// How they proved it.
    pub method: Method,
    /// Set for embed tokens: all the caller may do.
    pub scope: Option<EmbedScope>,
}

impl Identity {
    /// A plain identity.
    pub fn new(user: impl Into<String>, groups: Vec<String>, method: Method) -> Identity {
        Identity {
            user: user.into(),
            groups,
            method,
            scope: None,
        }
    }
}

struct LocalUser {
    hash: String,
    groups: Vec<String>,
}

struct ApiToken {
    name: String,
    user: String,
    groups: Vec<String>,
}

/// Local users, API tokens and the proxy rule from the configuration.
pub struct Users {
    local: HashMap<String, LocalUser>,
    /// A hash of a random password with the users' parameters, for unknown names.
    dummy: String,
    tokens: HashMap<[u8; 32], ApiToken>,
    proxy: Option<ProxyAuthConfig>,
}

/// Result of a password check.
pub type Checked = Option<Identity>;

impl Users {
    /// From the configuration.
    pub fn from_config(config: &Config) -> Users {
        let local: HashMap<String, LocalUser> = config
            .users
            .iter()
            .map(|u| {
                (
                    u.name.clone(),
                    LocalUser {
                        hash: u.password_hash.clone(),
                        groups: u.groups.clone(),
                    },
                )
            })
            .collect();
        // Same algorithm and cost as the first user's hash, so unknown names take as long.
        let params = config
            .users
            .first()
            .and_then(|u| PasswordHash::new(&u.password_hash).ok())
            .and_then(|h| argon2::Params::try_from(&h).ok())
            .unwrap_or_default();
        let dummy = hash_with(&crate::auth::new_token(), params).unwrap_or_default();
        let tokens = config
            .tokens
            .iter()
            .filter_map(|t| {
                let mut d = [0u8; 32];
                hex::decode_to_slice(t.hash.to_ascii_lowercase(), &mut d).ok()?;
                Some((
                    d,
                    ApiToken {
                        name: t.name.clone(),
                        user: t.user.clone(),
                        groups: t.groups.clone(),
                    },
                ))
            })
            .collect();
        Users {
            local,
            dummy,
            tokens,
            proxy: config.proxy_auth.clone(),
        }
    }

    /// The groups of a local user (for login links naming one).
    pub fn groups_of(&self, user: &str) -> Vec<String> {
        self.local
            .get(user)
            .map(|u| u.groups.clone())
            .unwrap_or_default()
    }

    /// Checks a password (slow on purpose: run it off the async threads).
    pub fn check_password(&self, user: &str, password: &str) -> Checked {
        let (hash, known) = match self.local.get(user) {
            Some(u) => (u.hash.as_str(), true),
            None => (self.dummy.as_str(), false),
        };
        let ok = PasswordHash::new(hash)
            .map(|h| {
                Argon2::default()
                    .verify_password(password.as_bytes(), &h)
                    .is_ok()
            })
            .unwrap_or(false);
        (ok && known)
            .then(|| Identity::new(user, self.local[user].groups.clone(), Method::Password))
    }

    /// The identity of an API token; `None` if the token is not configured.
    pub fn token(&self, token: &str) -> Option<(Identity, String)> {
        let d: [u8; 32] = Sha256::digest(token.as_bytes()).into();
        self.tokens.get(&d).map(|t| {
            (
                Identity::new(t.user.clone(), t.groups.clone(), Method::Token),
                t.name.clone(),
            )
        })
    }

    /// The identity an authenticating proxy vouches for, if the request comes from one.
    pub fn proxy(&self, peer: Option<IpAddr>, headers: &HeaderMap) -> Option<Identity> {
        let p = self.proxy.as_ref()?;
        let user = headers
            .get(p.user_header.as_str())
            .and_then(|v| v.to_str().ok())
            .map(str::trim)
            .filter(|u| !u.is_empty())?;
        let trusted = peer.is_some_and(|ip| {
            let ip = canonical(ip);
            p.trusted_proxies.iter().any(|n: &IpNet| n.contains(&ip))
        });
        if !trusted {
            debug!(
                peer = ?peer,
                header = %p.user_header,
                "ignoring a proxy user header from an address that is not a trusted proxy"
            );
            return None;
        }
        let groups = headers
            .get_all(p.groups_header.as_str())
            .iter()
            .filter_map(|v| v.to_str().ok())
            .flat_map(|v| v.split(','))
            .map(|g| g.trim().to_string())
            .filter(|g| !g.is_empty())
            .collect();
        Some(Identity::new(user, groups, Method::Proxy))
    }
}

/// IPv4-mapped IPv6 addresses as IPv4, so `127.0.0.1/32` matches on a dual-stack socket.
fn canonical(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map(IpAddr::V4).unwrap_or(ip),
        v4 => v4,
    }
}

fn hash_with(password: &str, params: argon2::Params) -> Option<String> {
    let salt = SaltString::generate(&mut OsRng);
    Argon2::new(argon2::Algorithm::Argon2id, argon2::Version::V0x13, params)
        .hash_password(password.as_bytes(), &salt)
        .ok()
        .map(|h| h.to_string())
}

/// An argon2id PHC string for `password` with the crate's default (OWASP) parameters.
pub fn hash_password(password: &str) -> anyhow::Result<String> {
    hash_with(password, argon2::Params::default())
        .ok_or_else(|| anyhow::anyhow!("could not hash the password"))
}

/// Quick failures allowed before the delays start.
const FREE_FAILURES: u32 = 5;
/// Longest delay.
const MAX_DELAY: Duration = Duration::from_secs(15 * 60);
/// A key with no failure for this long starts afresh.
const FORGET_AFTER: Duration = Duration::from_secs(15 * 60);

struct Attempts {
    failures: u32,
    last: Instant,
    blocked_until: Instant,
}

/// Limits sign-in attempts per client address and per user name: five quick failures, then
/// each further attempt must wait 1 s, 2 s, 4 s, ... (at most 15 minutes).
#[derive(Default)]
pub struct Limiter {
    keys: Mutex<HashMap<String, Attempts>>,
}

impl Limiter {
    /// How long the caller must wait before trying again, if blocked.
    pub fn blocked(&self, keys: &[String], now: Instant) -> Option<Duration> {
        let map = self.keys.lock().unwrap_or_else(|p| p.into_inner());
        keys.iter()
            .filter_map(|k| map.get(k))
            .filter(|a| a.blocked_until > now)
            .map(|a| a.blocked_until - now)
            .max()
    }

    /// Counts a failure against every key.
    pub fn failed(&self, keys: &[String], now: Instant) {
        let mut map = self.keys.lock().unwrap_or_else(|p| p.into_inner());
        for k in keys {
            let a = map.entry(k.clone()).or_insert(Attempts {
                failures: 0,
                last: now,
                blocked_until: now,
            });
            if now.duration_since(a.last) > FORGET_AFTER {
                a.failures = 0;
            }
            a.failures += 1;
            a.last = now;
            if a.failures >= FREE_FAILURES {
                let exp = (a.failures - FREE_FAILURES).min(20);
                a.blocked_until = now + Duration::from_secs(1 << exp).min(MAX_DELAY);
            }
        }
    }

    /// A success clears the keys.
    pub fn succeeded(&self, keys: &[String]) {
        let mut map = self.keys.lock().unwrap_or_else(|p| p.into_inner());
        for k in keys {
            map.remove(k);
        }
    }

    /// Forgets old entries.
    pub fn purge(&self, now: Instant) {
        self.keys
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .retain(|_, a| now.duration_since(a.last) <= FORGET_AFTER || a.blocked_until > now);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::HeaderValue;

    fn cheap_hash(pw: &str) -> String {
        hash_with(pw, argon2::Params::new(8, 1, 1, None).unwrap()).unwrap()
    }

    fn config() -> Config {
        Config::parse(&format!(
            "[[user]]\nname='alice'\npassword_hash='{}'\ngroups=['ops']\n\
             [[token]]\nname='ci'\nhash='{}'\nuser='bot'\n\
             [proxy_auth]\ntrusted_proxies=['127.0.0.1/32']\n",
            cheap_hash("right"),
            hex::encode(Sha256::digest(b"tok-123"))
        ))
        .unwrap()
    }

    #[test]
    fn passwords_tokens_and_proxy_headers() {
        let users = Users::from_config(&config());
        let alice = users.check_password("alice", "right").unwrap();
        assert_eq!(
            (alice.user.as_str(), alice.groups.as_slice()),
            ("alice", &["ops".to_string()][..])
        );
        assert!(users.check_password("alice", "wrong").is_none());
        assert!(users.check_password("mallory", "right").is_none());
        assert!(
            users.dummy.starts_with("$argon2id$v=19$m=8,t=1,p=1$"),
            "the dummy costs as much"
        );
        assert_eq!(users.token("tok-123").unwrap().0.user, "bot");
        assert!(users.token("tok-124").is_none());
        let mut h = HeaderMap::new();
        h.insert("x-forwarded-user", HeaderValue::from_static("carol"));
        h.insert("x-forwarded-groups", HeaderValue::from_static("ops, dev"));
        let lo: IpAddr = "127.0.0.1".parse().unwrap();
        let who = users.proxy(Some(lo), &h).unwrap();
        assert_eq!(who.groups, ["ops", "dev"]);
        assert!(users
            .proxy(Some("127.0.0.2".parse().unwrap()), &h)
            .is_none());
        assert!(users
            .proxy(Some("::ffff:127.0.0.1".parse().unwrap()), &h)
            .is_some());
        assert!(users.proxy(None, &h).is_none());
    }

    #[test]
    fn the_sixth_quick_failure_waits_and_delays_grow() {
        let l = Limiter::default();
        let keys = vec!["ip:1".to_string(), "user:a".to_string()];
        let t0 = Instant::now();
        for _ in 0..4 {
            assert_eq!(l.blocked(&keys, t0), None);
            l.failed(&keys, t0);
        }
        assert_eq!(l.blocked(&keys, t0), None);
        l.failed(&keys, t0); // the fifth
        assert_eq!(l.blocked(&keys, t0), Some(Duration::from_secs(1)));
        // Another name from the same address is blocked too; another address for this name too.
        assert!(l.blocked(&["ip:1".into()], t0).is_some());
        assert!(l.blocked(&["user:a".into()], t0).is_some());
        assert!(l.blocked(&["ip:2".into(), "user:b".into()], t0).is_none());
        let t1 = t0 + Duration::from_secs(2);
        l.failed(&keys, t1);
        assert_eq!(l.blocked(&keys, t1), Some(Duration::from_secs(2)));
        l.succeeded(&keys);
        assert_eq!(l.blocked(&keys, t1), None);
    }
}
