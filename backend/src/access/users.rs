//! Local users (argon2), API tokens and an authenticating proxy's headers: the credentials
//! that become an [`Identity`].
//!
//! **Invariant:** a wrong password and an unknown user look the same from outside: same
//! answer, same work (an unknown user is checked against a dummy hash with the same cost),
//! and both count against the limits. Passwords and tokens are never logged.

use std::collections::HashMap;
use std::net::IpAddr;

use super::identity::{Identity, Method};
use crate::config::{Config, ProxyAuthConfig};
use argon2::password_hash::rand_core::OsRng;
use argon2::password_hash::{PasswordHash, PasswordHasher, SaltString};
use argon2::Argon2;
use http::HeaderMap;
use ipnet::IpNet;
use sha2::{Digest, Sha256};
use tracing::debug;

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
        let dummy = hash_with(&super::new_token(), params).unwrap_or_default();
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

    /// What a sign-in of `user` by `method` depends on, as a digest: a local user's password
    /// hash and groups; for a login link, the groups it got. `None`: no such account any
    /// more. A sign-in whose stamp is not the current one ends (issue 17, item 6).
    pub fn stamp(&self, user: &str, method: Method) -> Option<String> {
        let material = match method {
            Method::Password => {
                let u = self.local.get(user)?;
                format!("password\n{}\n{}", u.hash, u.groups.join("\n"))
            }
            Method::Link => format!("link\n{}", self.groups_of(user).join("\n")),
            // Tokens, proxy headers and embed tokens are checked on every request.
            _ => return None,
        };
        Some(hex::encode(Sha256::digest(material.as_bytes())))
    }

    /// The groups of a local user (for login links naming one).
    pub fn groups_of(&self, user: &str) -> Vec<String> {
        self.local
            .get(user)
            .map(|u| u.groups.clone())
            .unwrap_or_default()
    }

    /// Checks a password (slow on purpose: run it on the [`Hasher`](super::hasher::Hasher)
    /// threads). The argon2 memory is the calling thread's own, allocated once and reused
    /// by every later check on that thread: a bounded set of threads holds a bounded amount
    /// of hash memory, however many sign-ins come (issue 17, item 1).
    pub fn check_password(&self, user: &str, password: &str) -> Checked {
        let (hash, known) = match self.local.get(user) {
            Some(u) => (u.hash.as_str(), true),
            None => (self.dummy.as_str(), false),
        };
        let ok = PasswordHash::new(hash)
            .map(|h| verify_reusing_memory(&h, password.as_bytes()))
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
    /// Headers from a trusted proxy that are doubled (a client's own copy passed on next
    /// to the proxy's: which one is the proxy's?) or not a usable name are an error, never
    /// a guess (issue 17, item 14).
    pub fn proxy(
        &self,
        peer: Option<IpAddr>,
        headers: &HeaderMap,
    ) -> Result<Option<Identity>, String> {
        let Some(p) = self.proxy.as_ref() else {
            return Ok(None);
        };
        let users: Vec<_> = headers.get_all(p.user_header.as_str()).iter().collect();
        if users.is_empty() {
            return Ok(None);
        }
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
            return Ok(None);
        }
        let group_headers: Vec<_> = headers.get_all(p.groups_header.as_str()).iter().collect();
        if users.len() > 1 || group_headers.len() > 1 {
            return Err(format!(
                "the request carries more than one {} or {} header: refused",
                p.user_header, p.groups_header
            ));
        }
        let Some(user) = users[0]
            .to_str()
            .ok()
            .map(str::trim)
            .filter(|u| !u.is_empty())
        else {
            return Ok(None);
        };
        if !super::identity::valid_name(user) || user.starts_with("embed:") {
            return Err(format!(
                "the {} header is not a usable user name (1 to {} bytes, no control characters)",
                p.user_header,
                super::identity::MAX_NAME
            ));
        }
        let mut groups = Vec::new();
        for g in group_headers
            .iter()
            .filter_map(|v| v.to_str().ok())
            .flat_map(|v| v.split(','))
            .map(str::trim)
            .filter(|g| !g.is_empty())
        {
            if !super::identity::valid_name(g) || groups.len() >= 256 {
                return Err(format!("the {} header is not usable", p.groups_header));
            }
            groups.push(g.to_string());
        }
        Ok(Some(Identity::new(user, groups, Method::Proxy)))
    }
}

thread_local! {
    /// This thread's argon2 memory, kept for the next check.
    static BLOCKS: std::cell::RefCell<Vec<argon2::Block>> = const { std::cell::RefCell::new(Vec::new()) };
}

/// `argon2`'s `verify_password`, but in this thread's reused memory instead of a fresh
/// allocation per check (which the allocator kept: about 19 MiB per thread that ever
/// checked a password).
fn verify_reusing_memory(hash: &PasswordHash<'_>, password: &[u8]) -> bool {
    let Ok(algorithm) = argon2::Algorithm::try_from(hash.algorithm) else {
        return false;
    };
    let version = match hash.version.map(argon2::Version::try_from) {
        None => argon2::Version::default(),
        Some(Ok(v)) => v,
        Some(Err(_)) => return false,
    };
    let Ok(params) = argon2::Params::try_from(hash) else {
        return false;
    };
    let (Some(salt), Some(expected)) = (hash.salt, hash.hash) else {
        return false;
    };
    let mut salt_buf = [0u8; 64];
    let Ok(salt) = salt.decode_b64(&mut salt_buf) else {
        return false;
    };
    let blocks = params.block_count();
    let mut out = vec![0u8; expected.len()];
    let hashed = BLOCKS.with_borrow_mut(|memory| {
        if memory.len() < blocks {
            memory.resize(blocks, argon2::Block::default());
        }
        Argon2::new(algorithm, version, params)
            .hash_password_into_with_memory(password, salt, &mut out, &mut memory[..blocks])
            .is_ok()
    });
    // `Output`'s equality is constant-time.
    hashed && argon2::password_hash::Output::new(&out).is_ok_and(|o| o == expected)
}

/// IPv4-mapped IPv6 addresses as IPv4, so `127.0.0.1/32` matches on a dual-stack socket.
fn canonical(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map(IpAddr::V4).unwrap_or(ip),
        v4 => v4,
    }
}

pub(crate) fn hash_with(password: &str, params: argon2::Params) -> Option<String> {
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

#[cfg(test)]
mod tests {
    use super::*;
    use http::HeaderValue;

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
        let who = users.proxy(Some(lo), &h).unwrap().unwrap();
        assert_eq!(who.groups, ["ops", "dev"]);
        assert!(users
            .proxy(Some("127.0.0.2".parse().unwrap()), &h)
            .unwrap()
            .is_none());
        assert!(users
            .proxy(Some("::ffff:127.0.0.1".parse().unwrap()), &h)
            .unwrap()
            .is_some());
        assert!(users.proxy(None, &h).unwrap().is_none());
        // Issue 17, item 14: doubled headers from the proxy are refused, not merged.
        let mut two = h.clone();
        two.append("x-forwarded-user", HeaderValue::from_static("mallory"));
        assert!(users.proxy(Some(lo), &two).is_err());
        let mut groups = h.clone();
        groups.append("x-forwarded-groups", HeaderValue::from_static("admins"));
        assert!(users.proxy(Some(lo), &groups).is_err());
        let mut bad = HeaderMap::new();
        bad.insert(
            "x-forwarded-user",
            HeaderValue::from_str(&"e".repeat(300)).unwrap(),
        );
        assert!(users.proxy(Some(lo), &bad).is_err(), "an unbounded name");
        // From an untrusted address doubled headers are ignored like single ones.
        assert!(users
            .proxy(Some("10.9.9.9".parse().unwrap()), &two)
            .unwrap()
            .is_none());
    }

    #[test]
    fn reused_hash_memory_checks_any_parameters() {
        for m in [64, 8, 256, 8] {
            let h = hash_with("pw", argon2::Params::new(m, 1, 1, None).unwrap()).unwrap();
            let h = PasswordHash::new(&h).unwrap();
            assert!(verify_reusing_memory(&h, b"pw"), "m={m}");
            assert!(!verify_reusing_memory(&h, b"pv"), "m={m}");
        }
        BLOCKS.with_borrow(|b| assert_eq!(b.len(), 256, "allocated once, at the largest"));
    }
}
