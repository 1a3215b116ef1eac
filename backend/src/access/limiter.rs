//! Limits on guessing passwords: per client address and per user name.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

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
