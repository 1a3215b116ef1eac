//! Access state every relay of a cluster shares (issue 15): sign-ins, one-time login links
//! and share links as **digests with a time to live**, "ended" markers for links that were
//! revoked or ran out, named sets (the share links of a session), and attempt counters for
//! sign-in limits.
//!
//! The crate only stores: the relay chooses the kinds (`signin`, `link`, `share`), computes
//! the digests (hex SHA-256 of a token: a token itself never comes here) and encodes the
//! values (JSON). Expiry is Redis' (`PX`), so a relay never has to sweep anything.
//!
//! Keys: a token of kind `K` and digest `D` is `PREFIX:t:{D}:K`, its ended marker
//! `PREFIX:t:{D}:K:ended` (one hash slot, so a script may touch both); a set `NAME` is
//! `PREFIX:set:NAME`; counters are `PREFIX:{lim}:NAME` (one slot for the attempt script).

use std::time::Duration;

use redis::{AsyncCommands, Script};

use crate::{Error, Store};

/// What Redis knows of a token.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Lookup {
    /// Live, with its value.
    Live(String),
    /// Revoked or ran out; the value its ender left (e.g. the session a share link was
    /// for).
    Ended(String),
    /// Never known, or forgotten (its time to live passed).
    Unknown,
}

/// One budget of an attempt: a counter's name, how many failures are free, and the
/// longest wait it imposes. Failures beyond `free` wait 1 s, 2 s, 4 s, ... (at most
/// `max_delay`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Budget {
    /// The counter's name (the relay hashes user names and addresses into it).
    pub key: String,
    /// Failures without a wait.
    pub free: u32,
    /// The longest wait.
    pub max_delay: Duration,
}

/// KEYS: live, ended. ARGV: ended value, keep ms. Ends a token: the live key goes, the
/// marker stays for `keep`. Returns 1 when the token was live.
const END: &str = r"
local was = redis.call('DEL', KEYS[1])
redis.call('SET', KEYS[2], ARGV[1], 'PX', ARGV[2])
return was
";

/// KEYS: set. ARGV: member, value, ttl ms. Adds a member; the set lives at least `ttl`.
const SET_ADD: &str = r"
redis.call('HSET', KEYS[1], ARGV[1], ARGV[2])
local left = redis.call('PTTL', KEYS[1])
if left < tonumber(ARGV[3]) then redis.call('PEXPIRE', KEYS[1], ARGV[3]) end
return 1
";

/// KEYS: set. ARGV: member. Removes a member and returns its value (atomically: of two
/// relays taking one member, one gets it).
const SET_TAKE: &str = r"
local v = redis.call('HGET', KEYS[1], ARGV[1])
if v then redis.call('HDEL', KEYS[1], ARGV[1]) end
return v
";

/// KEYS: counter. ARGV: window ms. One more in the window that began at the first count.
const COUNT: &str = r"
local n = redis.call('INCR', KEYS[1])
if n == 1 then redis.call('PEXPIRE', KEYS[1], ARGV[1]) end
return n
";

/// KEYS: the budgets' counters. ARGV: forget ms, then free and max delay ms per counter.
/// Refused (the wait in ms is returned) while any counter asks to wait; otherwise every
/// counter counts one more failure at once (0 is returned). A counter idle for `forget`
/// starts afresh. Times are Redis' clock, one for every relay.
const ATTEMPT: &str = r"
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local forget = tonumber(ARGV[1])
local wait = 0
for i, k in ipairs(KEYS) do
  local b = tonumber(redis.call('HGET', k, 'until') or '0')
  if b - now > wait then wait = b - now end
end
if wait > 0 then return wait end
for i, k in ipairs(KEYS) do
  local free = tonumber(ARGV[2 * i])
  local maxd = tonumber(ARGV[2 * i + 1])
  local m = redis.call('HMGET', k, 'n', 'last')
  local n = tonumber(m[1] or '0')
  if now - tonumber(m[2] or '0') > forget then n = 0 end
  n = n + 1
  redis.call('HSET', k, 'n', n, 'last', now)
  if n >= free then
    local e = math.min(n - free, 20)
    redis.call('HSET', k, 'until', now + math.min(1000 * math.pow(2, e), maxd))
  end
  redis.call('PEXPIRE', k, forget + maxd)
end
return 0
";

/// KEYS: the budgets' counters. ARGV: free per counter. One failure fewer on each.
const GIVE_BACK: &str = r"
for i, k in ipairs(KEYS) do
  local n = tonumber(redis.call('HGET', k, 'n') or '0')
  if n > 0 then n = n - 1 end
  if n == 0 then
    redis.call('DEL', k)
  else
    redis.call('HSET', k, 'n', n)
    if n < tonumber(ARGV[i]) then redis.call('HSET', k, 'until', 0) end
  end
end
return 1
";

fn ms(d: Duration) -> u64 {
    (d.as_millis() as u64).max(1)
}

impl Store {
    fn token_key(&self, kind: &str, digest: &str) -> String {
        format!("{}:t:{{{digest}}}:{kind}", self.prefix)
    }

    fn ended_key(&self, kind: &str, digest: &str) -> String {
        format!("{}:t:{{{digest}}}:{kind}:ended", self.prefix)
    }

    fn set_key(&self, set: &str) -> String {
        format!("{}:set:{set}", self.prefix)
    }

    fn counter_key(&self, name: &str) -> String {
        format!("{}:{{lim}}:{name}", self.prefix)
    }

    // --- tokens ---------------------------------------------------------------------------

    /// Stores a token's value for `ttl` (replacing any).
    pub async fn put_token(
        &self,
        kind: &str,
        digest: &str,
        value: &str,
        ttl: Duration,
    ) -> Result<(), Error> {
        let mut c = self.conn.clone();
        let _: () = c
            .pset_ex(self.token_key(kind, digest), value, ms(ttl))
            .await?;
        Ok(())
    }

    /// A live token's value.
    pub async fn get_token(&self, kind: &str, digest: &str) -> Result<Option<String>, Error> {
        let mut c = self.conn.clone();
        Ok(c.get(self.token_key(kind, digest)).await?)
    }

    /// Whether a token is live, ended, or unknown (one round trip).
    pub async fn lookup_token(&self, kind: &str, digest: &str) -> Result<Lookup, Error> {
        let mut c = self.conn.clone();
        let (live, ended): (Option<String>, Option<String>) = redis::pipe()
            .get(self.token_key(kind, digest))
            .get(self.ended_key(kind, digest))
            .query_async(&mut c)
            .await?;
        Ok(match (live, ended) {
            (Some(v), _) => Lookup::Live(v),
            (None, Some(v)) => Lookup::Ended(v),
            (None, None) => Lookup::Unknown,
        })
    }

    /// Deletes a token; `true` when it was live.
    pub async fn delete_token(&self, kind: &str, digest: &str) -> Result<bool, Error> {
        let mut c = self.conn.clone();
        let n: i64 = c.del(self.token_key(kind, digest)).await?;
        Ok(n > 0)
    }

    /// Takes a token once (`GETDEL`, atomic): of any number of relays taking it, exactly one
    /// gets its value. For one-time login links.
    pub async fn take_token(&self, kind: &str, digest: &str) -> Result<Option<String>, Error> {
        let mut c = self.conn.clone();
        Ok(c.get_del(self.token_key(kind, digest)).await?)
    }

    /// Ends a token (atomically): it is no longer live, and [`Store::lookup_token`] answers
    /// [`Lookup::Ended`] with `value` for `keep`. `true` when it was live.
    pub async fn end_token(
        &self,
        kind: &str,
        digest: &str,
        value: &str,
        keep: Duration,
    ) -> Result<bool, Error> {
        let mut c = self.conn.clone();
        let was: i64 = Script::new(END)
            .key(self.token_key(kind, digest))
            .key(self.ended_key(kind, digest))
            .arg(value)
            .arg(ms(keep))
            .invoke_async(&mut c)
            .await?;
        Ok(was > 0)
    }

    /// Leaves an ended marker for `keep` without touching the live token: written beside a
    /// new token with its life plus a while, a token that simply runs out reads as ended
    /// rather than unknown, with nobody writing at its expiry.
    pub async fn mark_ended(
        &self,
        kind: &str,
        digest: &str,
        value: &str,
        keep: Duration,
    ) -> Result<(), Error> {
        let mut c = self.conn.clone();
        let _: () = c
            .pset_ex(self.ended_key(kind, digest), value, ms(keep))
            .await?;
        Ok(())
    }

    // --- sets -----------------------------------------------------------------------------

    /// Adds `member` with `value` to the named set (e.g. a session's share links); the set
    /// lives at least `ttl` more (its members' values carry their own expiry).
    pub async fn set_add(
        &self,
        set: &str,
        member: &str,
        value: &str,
        ttl: Duration,
    ) -> Result<(), Error> {
        let mut c = self.conn.clone();
        let _: i64 = Script::new(SET_ADD)
            .key(self.set_key(set))
            .arg(member)
            .arg(value)
            .arg(ms(ttl))
            .invoke_async(&mut c)
            .await?;
        Ok(())
    }

    /// Every member of the set with its value, sorted by member.
    pub async fn set_list(&self, set: &str) -> Result<Vec<(String, String)>, Error> {
        let mut c = self.conn.clone();
        let mut v: Vec<(String, String)> = c.hgetall(self.set_key(set)).await?;
        v.sort();
        Ok(v)
    }

    /// Removes a member and returns its value (`None`: not a member). Atomic.
    pub async fn set_take(&self, set: &str, member: &str) -> Result<Option<String>, Error> {
        let mut c = self.conn.clone();
        Ok(Script::new(SET_TAKE)
            .key(self.set_key(set))
            .arg(member)
            .invoke_async(&mut c)
            .await?)
    }

    // --- counters -------------------------------------------------------------------------

    /// Counts one more on a counter whose window of `window` began at its first count
    /// (`INCR`, then `PEXPIRE` on the first); returns the count in the window.
    pub async fn count(&self, name: &str, window: Duration) -> Result<u64, Error> {
        let mut c = self.conn.clone();
        Ok(Script::new(COUNT)
            .key(self.counter_key(name))
            .arg(ms(window))
            .invoke_async(&mut c)
            .await?)
    }

    /// Reserves an attempt against every budget at once, atomically for the whole cluster:
    /// `Ok(Some(wait))` while any budget asks to wait (nothing counted); otherwise
    /// `Ok(None)` and the attempt counts as a failure on each budget until
    /// [`Store::give_back`]. A counter idle for `forget` starts afresh.
    pub async fn attempt(
        &self,
        budgets: &[Budget],
        forget: Duration,
    ) -> Result<Option<Duration>, Error> {
        let mut c = self.conn.clone();
        let script = Script::new(ATTEMPT);
        let mut inv = script.prepare_invoke();
        inv.arg(ms(forget));
        for b in budgets {
            inv.key(self.counter_key(&b.key))
                .arg(b.free)
                .arg(ms(b.max_delay));
        }
        let wait: i64 = inv.invoke_async(&mut c).await?;
        Ok((wait > 0).then(|| Duration::from_millis(wait as u64)))
    }

    /// Gives a reserved attempt back on every budget (it did not fail).
    pub async fn give_back(&self, budgets: &[Budget]) -> Result<(), Error> {
        let mut c = self.conn.clone();
        let script = Script::new(GIVE_BACK);
        let mut inv = script.prepare_invoke();
        for b in budgets {
            inv.key(self.counter_key(&b.key)).arg(b.free);
        }
        let _: i64 = inv.invoke_async(&mut c).await?;
        Ok(())
    }

    /// Forgets a counter (e.g. a user's failures from one address after a success).
    pub async fn forget_counter(&self, name: &str) -> Result<(), Error> {
        let mut c = self.conn.clone();
        let _: i64 = c.del(self.counter_key(name)).await?;
        Ok(())
    }
}
