//! Limits on guessing passwords (issue 17, items 2 and 5).
//!
//! Three budgets, each counted per key:
//!
//! * **user and address** (`pair`): five quick failures, then each attempt waits 1 s, 2 s,
//!   4 s, ... (at most 15 minutes): brute force from one place is slow;
//! * **address** (`addr`): five quick failures for any names, then the same delays: one
//!   place spraying many names is slow (behind a reverse proxy, the client's address it
//!   reports, not the proxy's);
//! * **user, from anywhere** (`user`): 10 quick failures, then delays of at most 5 minutes:
//!   many places guessing one name are slow. This budget is **not** applied to addresses
//!   the user signed in from before (their usual addresses), so a stranger failing on
//!   purpose cannot keep a colleague out.
//!
//! **Invariant:** an attempt is *reserved* (counted as a failure) before the password is
//! checked, under one lock with the check of the budgets; a success gives it back. So any
//! number of simultaneous guesses gets exactly the free attempts, never more.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// A key with no failure for this long starts afresh.
pub const FORGET_AFTER: Duration = Duration::from_secs(15 * 60);
/// How long an address stays "usual" for a user after a successful sign-in.
const KNOWN_FOR: Duration = Duration::from_secs(30 * 24 * 3600);
/// Usual addresses remembered per user.
const KNOWN_PER_USER: usize = 8;
/// Most keys tracked at once (a hard bound on memory; entries are a few hundred bytes).
pub const MAX_KEYS: usize = 100_000;

/// One budget: free failures, then doubling delays up to a longest one.
#[derive(Debug, Clone, Copy)]
struct Budget {
    free: u32,
    max_delay: Duration,
}

const PAIR: Budget = Budget {
    free: 5,
    max_delay: Duration::from_secs(15 * 60),
};
const ADDR: Budget = Budget {
    free: 5,
    max_delay: Duration::from_secs(15 * 60),
};
const USER: Budget = Budget {
    free: 10,
    max_delay: Duration::from_secs(5 * 60),
};

#[derive(Debug, Clone, PartialEq, Eq, Hash)]
enum Key {
    Pair(String, IpAddr),
    Addr(IpAddr),
    User(String),
}

impl Key {
    fn budget(&self) -> Budget {
        match self {
            Key::Pair(..) => PAIR,
            Key::Addr(_) => ADDR,
            Key::User(_) => USER,
        }
    }
}

struct Attempts {
    failures: u32,
    last: Instant,
    blocked_until: Instant,
}

#[derive(Default)]
struct Inner {
    keys: HashMap<Key, Attempts>,
    /// Addresses each user signed in from, with when.
    known: HashMap<String, Vec<(IpAddr, Instant)>>,
}

/// A reserved attempt: counted as a failure until [`Limiter::succeeded`] or
/// [`Limiter::release`] gives it back.
#[derive(Debug)]
#[must_use = "a reservation is a counted failure unless given back"]
pub struct Attempt {
    keys: Vec<Key>,
    user: String,
    addr: IpAddr,
}

impl Attempt {
    /// The same budgets as counters a cluster shares (`access::shared`): names are
    /// SHA-256 of the user name and address, so Redis holds neither.
    pub fn budgets(&self) -> Vec<winrelay_cluster::tokens::Budget> {
        use sha2::{Digest, Sha256};
        let h = |s: String| hex::encode(Sha256::digest(s.as_bytes()));
        self.keys
            .iter()
            .map(|k| {
                let b = k.budget();
                let key = match k {
                    Key::Pair(user, addr) => format!("pair:{}", h(format!("{user}\n{addr}"))),
                    Key::Addr(addr) => format!("addr:{}", h(addr.to_string())),
                    Key::User(user) => format!("user:{}", h(user.clone())),
                };
                winrelay_cluster::tokens::Budget {
                    key,
                    free: b.free,
                    max_delay: b.max_delay,
                }
            })
            .collect()
    }

    /// The name of the user-and-address budget (forgotten after a success).
    pub fn pair_budget(&self) -> Option<String> {
        self.budgets()
            .into_iter()
            .find(|b| b.key.starts_with("pair:"))
            .map(|b| b.key)
    }
}

/// Why an attempt may not be made now.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refusal {
    /// Wait this long.
    Wait(Duration),
    /// The limiter tracks as many keys as it may: try again later.
    Full,
}

/// Limits sign-in attempts (see the module's documentation).
#[derive(Default)]
pub struct Limiter {
    inner: Mutex<Inner>,
    /// Only the name budgets (pair and user), no per-address one.
    names_only: bool,
}

fn canonical(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map(IpAddr::V4).unwrap_or(ip),
        v4 => v4,
    }
}

impl Limiter {
    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// A limiter with only the per-name budgets (for target passwords, item 11: colleagues
    /// behind one address do not slow each other down).
    pub fn names_only() -> Limiter {
        Limiter {
            names_only: true,
            ..Limiter::default()
        }
    }

    fn keys(&self, inner: &Inner, user: &str, addr: IpAddr, now: Instant) -> Vec<Key> {
        let mut keys = vec![Key::Pair(user.to_string(), addr)];
        if !self.names_only {
            keys.push(Key::Addr(addr));
        }
        let usual = inner.known.get(user).is_some_and(|list| {
            list.iter()
                .any(|(a, at)| *a == addr && now.duration_since(*at) < KNOWN_FOR)
        });
        if !usual {
            keys.push(Key::User(user.to_string()));
        }
        keys
    }

    /// Reserves an attempt of `user` from `addr`: refused while any of its budgets asks to
    /// wait; otherwise counted as a failure at once (before the password is checked).
    pub fn attempt(&self, user: &str, addr: IpAddr, now: Instant) -> Result<Attempt, Refusal> {
        let addr = canonical(addr);
        let mut inner = self.lock();
        let keys = self.keys(&inner, user, addr, now);
        let wait = keys
            .iter()
            .filter_map(|k| inner.keys.get(k))
            .filter(|a| a.blocked_until > now)
            .map(|a| a.blocked_until - now)
            .max();
        if let Some(wait) = wait {
            return Err(Refusal::Wait(wait));
        }
        let new_keys = keys.iter().filter(|k| !inner.keys.contains_key(k)).count();
        if inner.keys.len() + new_keys > MAX_KEYS {
            Self::purge_locked(&mut inner, now);
            if inner.keys.len() + new_keys > MAX_KEYS {
                return Err(Refusal::Full);
            }
        }
        for k in &keys {
            let budget = k.budget();
            let a = inner.keys.entry(k.clone()).or_insert(Attempts {
                failures: 0,
                last: now,
                blocked_until: now,
            });
            if now.duration_since(a.last) > FORGET_AFTER {
                a.failures = 0;
            }
            a.failures += 1;
            a.last = now;
            if a.failures >= budget.free {
                let exp = (a.failures - budget.free).min(20);
                a.blocked_until = now + Duration::from_secs(1 << exp).min(budget.max_delay);
            }
        }
        Ok(Attempt {
            keys,
            user: user.to_string(),
            addr,
        })
    }

    fn give_back(inner: &mut Inner, keys: &[Key], now: Instant) {
        for k in keys {
            if let Some(a) = inner.keys.get_mut(k) {
                a.failures = a.failures.saturating_sub(1);
                if a.failures < k.budget().free {
                    a.blocked_until = now;
                }
                if a.failures == 0 {
                    inner.keys.remove(k);
                }
            }
        }
    }

    /// The attempt could not be made after all (the relay was busy): it does not count.
    pub fn release(&self, attempt: Attempt, now: Instant) {
        Self::give_back(&mut self.lock(), &attempt.keys, now);
    }

    /// The password was right: the attempt does not count, this user's failures from this
    /// address are forgotten, and the address becomes one of the user's usual ones.
    pub fn succeeded(&self, attempt: Attempt, now: Instant) {
        let mut inner = self.lock();
        Self::give_back(&mut inner, &attempt.keys, now);
        inner
            .keys
            .remove(&Key::Pair(attempt.user.clone(), attempt.addr));
        let list = inner.known.entry(attempt.user).or_default();
        list.retain(|(a, _)| *a != attempt.addr);
        list.push((attempt.addr, now));
        if list.len() > KNOWN_PER_USER {
            list.remove(0);
        }
    }

    fn purge_locked(inner: &mut Inner, now: Instant) {
        inner
            .keys
            .retain(|_, a| now.duration_since(a.last) <= FORGET_AFTER || a.blocked_until > now);
        inner.known.retain(|_, list| {
            list.retain(|(_, at)| now.duration_since(*at) < KNOWN_FOR);
            !list.is_empty()
        });
    }

    /// Forgets old entries.
    pub fn purge(&self, now: Instant) {
        Self::purge_locked(&mut self.lock(), now);
    }

    /// Keys tracked (for tests and metrics).
    pub fn tracked(&self) -> usize {
        self.lock().keys.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    #[test]
    fn the_sixth_quick_failure_waits_and_delays_grow() {
        let l = Limiter::default();
        let t0 = Instant::now();
        for _ in 0..5 {
            let _ = l.attempt("a", ip("10.0.0.1"), t0).unwrap();
        }
        assert_eq!(
            l.attempt("a", ip("10.0.0.1"), t0).unwrap_err(),
            Refusal::Wait(Duration::from_secs(1))
        );
        // The address is slowed down for other names too; this name from another address
        // is not (yet).
        assert!(l.attempt("b", ip("10.0.0.1"), t0).is_err());
        let _ = l.attempt("a", ip("10.0.0.2"), t0).unwrap();
        let t1 = t0 + Duration::from_secs(2);
        let _ = l.attempt("a", ip("10.0.0.1"), t1).unwrap();
        assert_eq!(
            l.attempt("a", ip("10.0.0.1"), t1).unwrap_err(),
            Refusal::Wait(Duration::from_secs(2))
        );
    }

    /// Item 2: the attempt is reserved under the same lock as the check, so a burst of
    /// simultaneous guesses gets exactly the free attempts.
    #[test]
    fn a_burst_of_simultaneous_guesses_gets_five() {
        let l = std::sync::Arc::new(Limiter::default());
        let t0 = Instant::now();
        let barrier = std::sync::Arc::new(std::sync::Barrier::new(100));
        let handles: Vec<_> = (0..100)
            .map(|_| {
                let (l, b) = (l.clone(), barrier.clone());
                std::thread::spawn(move || {
                    b.wait();
                    // Not given back: every guess in the burst is wrong.
                    l.attempt("alice", ip("10.0.0.9"), t0)
                        .map(std::mem::forget)
                        .is_ok()
                })
            })
            .collect();
        let tried = handles
            .into_iter()
            .map(|h| h.join().unwrap())
            .filter(|ok| *ok)
            .count();
        assert_eq!(tried, 5);
    }

    /// Item 5: strangers failing for alice from many addresses slow down guessing of her
    /// name everywhere except where she usually signs in.
    #[test]
    fn strangers_cannot_lock_a_user_out_of_her_usual_address() {
        let l = Limiter::default();
        let t0 = Instant::now();
        let home = ip("192.0.2.10");
        let a = l.attempt("alice", home, t0).unwrap();
        l.succeeded(a, t0);
        // 200 failures from 40 other addresses.
        for i in 0..40 {
            for _ in 0..5 {
                let _ = l.attempt("alice", ip(&format!("198.51.100.{i}")), t0);
            }
        }
        assert!(
            matches!(
                l.attempt("alice", ip("203.0.113.1"), t0),
                Err(Refusal::Wait(_))
            ),
            "alice's name is slowed down for new addresses"
        );
        let a = l
            .attempt("alice", home, t0)
            .expect("alice's usual address is not locked");
        l.succeeded(a, t0);
        // Her own typing mistakes at home still get the pair's budget.
        for _ in 0..5 {
            let _ = l.attempt("alice", home, t0).unwrap();
        }
        assert!(l.attempt("alice", home, t0).is_err());
    }

    #[test]
    fn a_success_gives_the_attempt_back_and_busy_ones_do_not_count() {
        let l = Limiter::default();
        let t0 = Instant::now();
        for _ in 0..30 {
            let a = l.attempt("bob", ip("10.0.0.3"), t0).unwrap();
            l.succeeded(a, t0);
        }
        for _ in 0..30 {
            let a = l.attempt("carol", ip("10.0.0.4"), t0).unwrap();
            l.release(a, t0);
        }
        assert_eq!(
            l.tracked(),
            0,
            "nothing is kept for attempts that did not fail"
        );
    }
}
