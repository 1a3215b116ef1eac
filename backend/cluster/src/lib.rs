//! Shared session state for several relays, in Redis (issue 15's foundation).
//!
//! What one relay keeps in memory today, a cluster keeps here, per session:
//!
//! * a **lease** naming the node that owns the session (drives its remote shell), with a
//!   **fencing token** that grows with every new owner: every write an owner makes carries
//!   its token, and Redis refuses the write (atomically, in a Lua script) unless the lease
//!   still names that owner and token. An owner that lost its lease (paused, partitioned,
//!   declared dead) can therefore never write again, even if it comes back believing it
//!   still owns the session;
//! * the **output log**: a Redis stream of chunks addressed by byte offset (see [`chunks`]),
//!   bounded like the relay's `log_bytes` (whole chunks are trimmed from the front, so the
//!   log holds between `cap` and `cap` + one chunk bytes), with the log's start and end
//!   offsets beside it;
//! * the **inbox**: input and control messages from any node to the owner, in order; the
//!   owner records how far it has applied them (fenced), so a new owner continues there;
//! * the **record**: the session's registry fields (target, owner, remote shell ids, state,
//!   roles), written by the owner only (fenced), read by every node.
//!
//! Nodes announce themselves with a heartbeat. Target secrets never come here: every relay
//! reads them from its own configuration. The crate knows nothing of WinRM or of the relay's
//! session type: values are bytes and strings the relay encodes.
//!
//! Keys carry the session id in a hash tag (`wr:{ID}:...`), so every script's keys hash to
//! one slot and the same scripts work on a Redis Cluster.

pub mod chunks;
pub mod tokens;

use std::collections::HashMap;
use std::time::Duration;

use redis::aio::{ConnectionManager, MultiplexedConnection};
use redis::{AsyncCommands, Script, Value};

pub use chunks::{Read, Slice};

/// What went wrong.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// Redis could not be reached or refused a command.
    #[error("redis: {0}")]
    Redis(#[from] redis::RedisError),
    /// The lease no longer names this owner and token: another node owns the session now
    /// (or it ended). The write was not made.
    #[error("session {0}: this node no longer owns it (fenced)")]
    Fenced(String),
    /// An answer of a shape this crate does not write.
    #[error("redis: unexpected answer: {0}")]
    Unexpected(String),
}

/// A node's ownership of one session: the session, the node, and the fencing token that
/// every write carries.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Lease {
    /// The session.
    pub session: String,
    /// The owner's node name.
    pub node: String,
    /// Grows with every new owner of the session.
    pub fence: u64,
}

impl Lease {
    fn value(&self) -> String {
        format!("{}|{}", self.node, self.fence)
    }
}

/// Where to find Redis.
#[derive(Debug, Clone)]
pub struct Connect {
    /// `redis://HOST:PORT/DB` or `rediss://...` (TLS).
    pub url: String,
    /// The password (AUTH), from the relay's `password_env`/`password_file`; never in the URL.
    pub password: Option<String>,
    /// Key prefix (default `wr`), so several clusters can share one Redis.
    pub prefix: String,
}

impl Connect {
    /// A connection description with the default prefix.
    pub fn new(url: impl Into<String>) -> Connect {
        Connect {
            url: url.into(),
            password: None,
            prefix: "wr".into(),
        }
    }
}

/// The cluster's state in Redis. Cheap to clone: clones share one multiplexed connection
/// that reconnects by itself.
#[derive(Clone)]
pub struct Store {
    client: redis::Client,
    conn: ConnectionManager,
    prefix: String,
}

impl std::fmt::Debug for Store {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Store")
            .field("prefix", &self.prefix)
            .finish_non_exhaustive()
    }
}

// --- the scripts -------------------------------------------------------------------------
// Every fenced script starts by comparing the lease with "node|fence" (ARGV[1]).

/// KEYS: lease, fence counter. ARGV: node, ttl ms. A free lease goes to `node` with a new
/// token; a held one stays (0 and the holder are returned).
const ACQUIRE: &str = r"
local cur = redis.call('GET', KEYS[1])
if cur then return {0, cur} end
local fence = redis.call('INCR', KEYS[2])
redis.call('SET', KEYS[1], ARGV[1] .. '|' .. fence, 'PX', ARGV[2])
return {fence, ''}
";

/// KEYS: lease. ARGV: node|fence, ttl ms.
const RENEW: &str = r"
if redis.call('GET', KEYS[1]) ~= ARGV[1] then return 0 end
redis.call('PEXPIRE', KEYS[1], ARGV[2])
return 1
";

/// KEYS: lease. ARGV: node|fence.
const RELEASE: &str = r"
if redis.call('GET', KEYS[1]) ~= ARGV[1] then return 0 end
redis.call('DEL', KEYS[1])
return 1
";

/// KEYS: log stream, meta hash. ARGV: from, max chunks. Returns start, end, then id and
/// bytes of each chunk from the one holding `from` on.
const READ: &str = r"
local m = redis.call('HMGET', KEYS[2], 'start', 'end')
local start = tonumber(m[1] or '0')
local stop = tonumber(m[2] or '0')
local from = tonumber(ARGV[1])
local out = {start, stop}
if from < start or from >= stop then return out end
local first = redis.call('XREVRANGE', KEYS[1], from .. '-1', '-', 'COUNT', 1)
if #first == 0 then return out end
local chunks = redis.call('XRANGE', KEYS[1], first[1][1], '+', 'COUNT', ARGV[2])
for _, e in ipairs(chunks) do
  out[#out + 1] = e[1]
  out[#out + 1] = e[2][2]
end
return out
";

/// KEYS: lease, inbox, meta. ARGV: node|fence, id. Records that the owner applied the inbox
/// up to `id` and drops those entries.
const APPLIED: &str = r"
if redis.call('GET', KEYS[1]) ~= ARGV[1] then return redis.error_reply('FENCED') end
redis.call('HSET', KEYS[3], 'applied', ARGV[2])
local ms, seq = string.match(ARGV[2], '^(%d+)-(%d+)$')
redis.call('XTRIM', KEYS[2], 'MINID', ms .. '-' .. (tonumber(seq) + 1))
return 1
";

/// KEYS: lease, record. ARGV: node|fence, then field, value pairs.
const PUT: &str = r"
if redis.call('GET', KEYS[1]) ~= ARGV[1] then return redis.error_reply('FENCED') end
for i = 2, #ARGV, 2 do redis.call('HSET', KEYS[2], ARGV[i], ARGV[i + 1]) end
return 1
";

/// KEYS: lease, log, meta, inbox, record, session set, events. ARGV: node|fence, session
/// id, keep seconds. The session ended: it leaves the set; its keys expire after `keep`
/// seconds (a late reader still finds the end of the output).
const END: &str = r"
if redis.call('GET', KEYS[1]) ~= ARGV[1] then return redis.error_reply('FENCED') end
redis.call('SREM', KEYS[6], ARGV[2])
redis.call('HSET', KEYS[5], 'ended', '1')
for i = 1, 5 do redis.call('EXPIRE', KEYS[i], ARGV[3]) end
redis.call('EXPIRE', KEYS[7], ARGV[3])
return 1
";

/// KEYS: lease, log stream, meta hash, record. ARGV: node|fence, bytes, cap, then field,
/// value pairs (none for a plain append). Appends one chunk at the end, trims whole chunks
/// from the front while the rest still holds `cap` bytes, writes the record fields in the same
/// step (a response and its checkpoint), and returns the new end.
const APPEND_WITH: &str = r"
if redis.call('GET', KEYS[1]) ~= ARGV[1] then return redis.error_reply('FENCED') end
local m = redis.call('HMGET', KEYS[3], 'start', 'end')
local start = tonumber(m[1] or '0')
local stop = tonumber(m[2] or '0')
local len = string.len(ARGV[2])
if len > 0 then
  redis.call('XADD', KEYS[2], stop .. '-1', 'd', ARGV[2])
  stop = stop + len
  local cap = tonumber(ARGV[3])
  while true do
    local two = redis.call('XRANGE', KEYS[2], '-', '+', 'COUNT', 2)
    if #two < 2 then break end
    local nxt = tonumber(string.match(two[2][1], '^(%d+)-'))
    if stop - nxt < cap then break end
    redis.call('XDEL', KEYS[2], two[1][1])
    start = nxt
  end
  redis.call('HSET', KEYS[3], 'start', start, 'end', stop)
end
for i = 4, #ARGV, 2 do redis.call('HSET', KEYS[4], ARGV[i], ARGV[i + 1]) end
return stop
";

/// KEYS: lease, log stream, meta hash. ARGV: node|fence, start, bytes. When Redis no longer
/// has the session's log (it restarted without its data), the owner writes back what it
/// holds: one chunk at `start`. A log that is there is left alone.
const RESTORE: &str = r"
if redis.call('GET', KEYS[1]) ~= ARGV[1] then return redis.error_reply('FENCED') end
if redis.call('EXISTS', KEYS[3]) == 1 then return 0 end
local start = tonumber(ARGV[2])
local len = string.len(ARGV[3])
if len > 0 then redis.call('XADD', KEYS[2], start .. '-1', 'd', ARGV[3]) end
redis.call('HSET', KEYS[3], 'start', start, 'end', start + len)
return 1
";

/// KEYS: lease, events. ARGV: node|fence, message, max length. An owner's event for the
/// session's followers (state, presence, kicks), fenced; the stream keeps the last ones.
const PUBLISH: &str = r"
if redis.call('GET', KEYS[1]) ~= ARGV[1] then return redis.error_reply('FENCED') end
return redis.call('XADD', KEYS[2], 'MAXLEN', '~', ARGV[3], '*', 'm', ARGV[2])
";

fn fenced(e: &redis::RedisError) -> bool {
    e.code() == Some("FENCED") || e.to_string().contains("FENCED")
}

/// A fenced script's error: [`Error::Fenced`] when the lease was not this owner's.
fn fenced_error(e: redis::RedisError, lease: &Lease) -> Error {
    if fenced(&e) {
        Error::Fenced(lease.session.clone())
    } else {
        Error::Redis(e)
    }
}

impl Store {
    /// Connects (the first command waits for the connection; later ones reconnect by
    /// themselves after Redis comes back).
    pub async fn connect(c: &Connect) -> Result<Store, Error> {
        let mut info: redis::ConnectionInfo = c.url.as_str().parse()?;
        if let Some(p) = &c.password {
            let settings = info.redis_settings().clone().set_password(p.clone());
            info = info.set_redis_settings(settings);
        }
        let client = redis::Client::open(info)?;
        let config = redis::aio::ConnectionManagerConfig::new()
            .set_connection_timeout(Some(Duration::from_secs(5)))
            .set_response_timeout(Some(Duration::from_secs(5)))
            .set_number_of_retries(2);
        let conn = ConnectionManager::new_with_config(client.clone(), config).await?;
        Ok(Store {
            client,
            conn,
            prefix: c.prefix.clone(),
        })
    }

    /// A connection of its own for blocking reads ([`Store::wait_output`],
    /// [`Store::take_inbox`] with a wait): a blocked command would hold up every other
    /// command on the shared one.
    pub async fn blocking_connection(&self) -> Result<MultiplexedConnection, Error> {
        Ok(self
            .client
            .get_multiplexed_async_connection_with_config(
                &redis::AsyncConnectionConfig::new()
                    .set_connection_timeout(Some(Duration::from_secs(5)))
                    .set_response_timeout(None),
            )
            .await?)
    }

    fn key(&self, session: &str, what: &str) -> String {
        format!("{}:{{{session}}}:{what}", self.prefix)
    }

    fn sessions_key(&self) -> String {
        format!("{}:sessions", self.prefix)
    }

    fn nodes_key(&self) -> String {
        format!("{}:nodes", self.prefix)
    }

    /// Round trip time of a PING.
    pub async fn ping(&self) -> Result<Duration, Error> {
        let t0 = std::time::Instant::now();
        let mut c = self.conn.clone();
        let _: String = redis::cmd("PING").query_async(&mut c).await?;
        Ok(t0.elapsed())
    }

    // --- leases ---------------------------------------------------------------------------

    /// Takes the session's lease for `node` if nobody holds it. `Ok(None)`: held by another
    /// node (or by this node under an older token: a node never re-enters its own lapsed
    /// lease, it takes a new one once the old one expired).
    pub async fn acquire(
        &self,
        session: &str,
        node: &str,
        ttl: Duration,
    ) -> Result<Option<Lease>, Error> {
        let mut c = self.conn.clone();
        let (fence, _holder): (u64, String) = Script::new(ACQUIRE)
            .key(self.key(session, "lease"))
            .key(self.key(session, "fence"))
            .arg(node)
            .arg(ttl.as_millis() as u64)
            .invoke_async(&mut c)
            .await?;
        Ok((fence > 0).then(|| Lease {
            session: session.to_string(),
            node: node.to_string(),
            fence,
        }))
    }

    /// Extends the lease; `false` when it is no longer this owner's (lapsed or taken).
    pub async fn renew(&self, lease: &Lease, ttl: Duration) -> Result<bool, Error> {
        let mut c = self.conn.clone();
        let ok: i64 = Script::new(RENEW)
            .key(self.key(&lease.session, "lease"))
            .arg(lease.value())
            .arg(ttl.as_millis() as u64)
            .invoke_async(&mut c)
            .await?;
        Ok(ok == 1)
    }

    /// Gives the lease up (a hand-over: another node may take it at once).
    pub async fn release(&self, lease: &Lease) -> Result<bool, Error> {
        let mut c = self.conn.clone();
        let ok: i64 = Script::new(RELEASE)
            .key(self.key(&lease.session, "lease"))
            .arg(lease.value())
            .invoke_async(&mut c)
            .await?;
        Ok(ok == 1)
    }

    /// Who holds the session's lease now, with its token.
    pub async fn holder(&self, session: &str) -> Result<Option<(String, u64)>, Error> {
        let mut c = self.conn.clone();
        let v: Option<String> = c.get(self.key(session, "lease")).await?;
        Ok(v.and_then(|v| {
            let (node, fence) = v.rsplit_once('|')?;
            Some((node.to_string(), fence.parse().ok()?))
        }))
    }

    /// Who holds each session's lease (one round trip for all).
    pub async fn holders(&self, sessions: &[String]) -> Result<Vec<Option<String>>, Error> {
        if sessions.is_empty() {
            return Ok(Vec::new());
        }
        let mut c = self.conn.clone();
        let mut pipe = redis::pipe();
        for s in sessions {
            pipe.get(self.key(s, "lease"));
        }
        Ok(pipe.query_async(&mut c).await?)
    }

    // --- the output log -------------------------------------------------------------------

    /// Appends output at the end of the session's log (fenced); returns the new end offset.
    /// The log keeps at least the last `cap` bytes.
    pub async fn append(&self, lease: &Lease, bytes: &[u8], cap: u64) -> Result<u64, Error> {
        self.append_with(lease, bytes, cap, &[]).await
    }

    /// Writes back a log Redis lost (fenced): `tail` starting at offset `start`. Returns
    /// whether it was missing. Cap: as [`Store::append`] (a longer tail keeps its end).
    pub async fn restore_log(
        &self,
        lease: &Lease,
        start: u64,
        tail: &[u8],
        cap: u64,
    ) -> Result<bool, Error> {
        let skip = tail.len().saturating_sub(cap as usize);
        let mut c = self.conn.clone();
        let r: Result<i64, _> = Script::new(RESTORE)
            .key(self.key(&lease.session, "lease"))
            .key(self.key(&lease.session, "log"))
            .key(self.key(&lease.session, "meta"))
            .arg(lease.value())
            .arg(start + skip as u64)
            .arg(&tail[skip..])
            .invoke_async(&mut c)
            .await;
        r.map(|n| n == 1).map_err(|e| fenced_error(e, lease))
    }

    /// [`Store::append`] and record fields in one fenced step (a response of the target and
    /// its checkpoint): both or neither. Returns the new end offset.
    pub async fn append_with(
        &self,
        lease: &Lease,
        bytes: &[u8],
        cap: u64,
        fields: &[(&str, &str)],
    ) -> Result<u64, Error> {
        let mut c = self.conn.clone();
        let script = Script::new(APPEND_WITH);
        let mut inv = script.key(self.key(&lease.session, "lease"));
        inv.key(self.key(&lease.session, "log"))
            .key(self.key(&lease.session, "meta"))
            .key(self.key(&lease.session, "record"))
            .arg(lease.value())
            .arg(bytes)
            .arg(cap);
        for (k, v) in fields {
            inv.arg(*k).arg(*v);
        }
        let r: Result<u64, _> = inv.invoke_async(&mut c).await;
        r.map_err(|e| fenced_error(e, lease))
    }

    /// The session's output from `from` on, at most `max` bytes (from at most 64 chunks).
    pub async fn read(&self, session: &str, from: u64, max: usize) -> Result<Read, Error> {
        let mut c = self.conn.clone();
        let v: Vec<Value> = Script::new(READ)
            .key(self.key(session, "log"))
            .key(self.key(session, "meta"))
            .arg(from)
            .arg(64)
            .invoke_async(&mut c)
            .await?;
        let int = |v: Option<&Value>| match v {
            Some(Value::Int(n)) => Ok(*n as u64),
            other => Err(Error::Unexpected(format!("{other:?}"))),
        };
        let start = int(v.first())?;
        let end = int(v.get(1))?;
        if from < start {
            return Ok(Read::Gone { start, end });
        }
        if from > end {
            return Ok(Read::Ahead { end });
        }
        let mut chunks = Vec::with_capacity((v.len() - 2) / 2);
        for pair in v[2..].chunks(2) {
            let (Some(Value::BulkString(id)), Some(Value::BulkString(data))) =
                (pair.first(), pair.get(1))
            else {
                return Err(Error::Unexpected("a chunk without id or bytes".into()));
            };
            let id = String::from_utf8_lossy(id);
            let offset = chunks::chunk_offset(&id)
                .ok_or_else(|| Error::Unexpected(format!("chunk id {id}")))?;
            chunks.push((offset, data.clone()));
        }
        let data = chunks::join(&chunks, from, max);
        Ok(Read::Bytes(Slice {
            offset: from,
            data,
            start,
            end,
        }))
    }

    /// Waits (on a connection of its own) until the log holds output at `from` or later, at
    /// most `timeout`; `true` when there is.
    pub async fn wait_output(
        &self,
        conn: &mut MultiplexedConnection,
        session: &str,
        from: u64,
        timeout: Duration,
    ) -> Result<bool, Error> {
        let opts = redis::streams::StreamReadOptions::default()
            .count(1)
            .block(timeout.as_millis().max(1) as usize);
        let key = self.key(session, "log");
        let r: Option<redis::streams::StreamReadReply> = conn
            .xread_options(&[&key], &[chunks::after_id(from)], &opts)
            .await?;
        Ok(r.is_some_and(|r| r.keys.iter().any(|k| !k.ids.is_empty())))
    }

    // --- the inbox ------------------------------------------------------------------------

    /// Posts a message for the session's owner (any node may); returns its id.
    pub async fn post(&self, session: &str, message: &[u8]) -> Result<String, Error> {
        let mut c = self.conn.clone();
        let id: String = c
            .xadd(self.key(session, "in"), "*", &[("m", message)])
            .await?;
        Ok(id)
    }

    /// How far the owners of the session applied its inbox (`0-0`: nothing yet).
    pub async fn applied(&self, session: &str) -> Result<String, Error> {
        let mut c = self.conn.clone();
        let v: Option<String> = c.hget(self.key(session, "meta"), "applied").await?;
        Ok(v.unwrap_or_else(|| "0-0".into()))
    }

    /// Messages after id `after`, at most `max`, waiting up to `block` for the first one
    /// (give a connection of its own when waiting).
    pub async fn take_inbox(
        &self,
        conn: &mut MultiplexedConnection,
        session: &str,
        after: &str,
        max: usize,
        block: Option<Duration>,
    ) -> Result<Vec<(String, Vec<u8>)>, Error> {
        let mut opts = redis::streams::StreamReadOptions::default().count(max);
        if let Some(b) = block {
            opts = opts.block(b.as_millis().max(1) as usize);
        }
        let key = self.key(session, "in");
        let r: Option<redis::streams::StreamReadReply> =
            conn.xread_options(&[&key], &[after], &opts).await?;
        let mut out = Vec::new();
        for k in r.map(|r| r.keys).unwrap_or_default() {
            for id in k.ids {
                let m = match id.map.get("m") {
                    Some(Value::BulkString(b)) => b.clone(),
                    _ => return Err(Error::Unexpected(format!("inbox entry {}", id.id))),
                };
                out.push((id.id, m));
            }
        }
        Ok(out)
    }

    /// Records (fenced) that the owner applied the inbox up to `id`; drops those entries.
    pub async fn mark_applied(&self, lease: &Lease, id: &str) -> Result<(), Error> {
        let mut c = self.conn.clone();
        let r: Result<i64, _> = Script::new(APPLIED)
            .key(self.key(&lease.session, "lease"))
            .key(self.key(&lease.session, "in"))
            .key(self.key(&lease.session, "meta"))
            .arg(lease.value())
            .arg(id)
            .invoke_async(&mut c)
            .await;
        r.map(|_| ()).map_err(|e| fenced_error(e, lease))
    }

    // --- the registry ---------------------------------------------------------------------

    /// Writes the session's record fields (fenced) and lists the session.
    pub async fn put_record(&self, lease: &Lease, fields: &[(&str, &str)]) -> Result<(), Error> {
        let mut c = self.conn.clone();
        let script = Script::new(PUT);
        let mut inv = script.key(self.key(&lease.session, "lease"));
        inv.key(self.key(&lease.session, "record"))
            .arg(lease.value());
        for (k, v) in fields {
            inv.arg(*k).arg(*v);
        }
        let r: Result<i64, _> = inv.invoke_async(&mut c).await;
        r.map_err(|e| fenced_error(e, lease))?;
        let _: i64 = c.sadd(self.sessions_key(), &lease.session).await?;
        Ok(())
    }

    /// The session's record (empty when unknown).
    pub async fn record(&self, session: &str) -> Result<HashMap<String, String>, Error> {
        let mut c = self.conn.clone();
        Ok(c.hgetall(self.key(session, "record")).await?)
    }

    /// Every listed (not ended) session.
    pub async fn sessions(&self) -> Result<Vec<String>, Error> {
        let mut c = self.conn.clone();
        let mut v: Vec<String> = c.smembers(self.sessions_key()).await?;
        v.sort();
        Ok(v)
    }

    /// The session ended (fenced): unlisted; its keys expire after `keep`.
    pub async fn end(&self, lease: &Lease, keep: Duration) -> Result<(), Error> {
        let mut c = self.conn.clone();
        let r: Result<i64, _> = Script::new(END)
            .key(self.key(&lease.session, "lease"))
            .key(self.key(&lease.session, "log"))
            .key(self.key(&lease.session, "meta"))
            .key(self.key(&lease.session, "in"))
            .key(self.key(&lease.session, "record"))
            .key(self.sessions_key())
            .key(self.key(&lease.session, "ev"))
            .arg(lease.value())
            .arg(&lease.session)
            .arg(keep.as_secs().max(1))
            .invoke_async(&mut c)
            .await;
        r.map(|_| ()).map_err(|e| fenced_error(e, lease))
    }

    // --- events ---------------------------------------------------------------------------

    /// Publishes an owner's event for the session's followers (fenced); returns its id.
    pub async fn publish(&self, lease: &Lease, message: &[u8]) -> Result<String, Error> {
        let mut c = self.conn.clone();
        let r: Result<String, _> = Script::new(PUBLISH)
            .key(self.key(&lease.session, "lease"))
            .key(self.key(&lease.session, "ev"))
            .arg(lease.value())
            .arg(message)
            .arg(256)
            .invoke_async(&mut c)
            .await;
        r.map_err(|e| fenced_error(e, lease))
    }

    /// The id of the session's newest event (`0-0` when none): a follower reads events
    /// after it, and the record for what came before.
    pub async fn last_event(&self, session: &str) -> Result<String, Error> {
        let mut c = self.conn.clone();
        let v: Vec<Value> = redis::cmd("XREVRANGE")
            .arg(self.key(session, "ev"))
            .arg("+")
            .arg("-")
            .arg("COUNT")
            .arg(1)
            .query_async(&mut c)
            .await?;
        Ok(match v.first() {
            Some(Value::Array(e)) => match e.first() {
                Some(Value::BulkString(id)) => String::from_utf8_lossy(id).into_owned(),
                _ => "0-0".into(),
            },
            _ => "0-0".into(),
        })
    }

    /// Waits (on a connection of its own) up to `timeout` until the session's log holds
    /// output at `from` or later or an event after `events_after` exists; returns the log's
    /// chunks from the one starting at `from` or later (offset, bytes; at most 64) and the new
    /// events (id, message).
    #[allow(clippy::type_complexity)]
    pub async fn wait_session(
        &self,
        conn: &mut MultiplexedConnection,
        session: &str,
        from: u64,
        events_after: &str,
        timeout: Duration,
    ) -> Result<(Vec<(u64, Vec<u8>)>, Vec<(String, Vec<u8>)>), Error> {
        let opts = redis::streams::StreamReadOptions::default()
            .count(64)
            .block(timeout.as_millis().max(1) as usize);
        let log = self.key(session, "log");
        let ev = self.key(session, "ev");
        let r: Option<redis::streams::StreamReadReply> = conn
            .xread_options(
                &[&log, &ev],
                &[chunks::after_id(from).as_str(), events_after],
                &opts,
            )
            .await?;
        let mut output = Vec::new();
        let mut events = Vec::new();
        for k in r.map(|r| r.keys).unwrap_or_default() {
            let field = if k.key == log { "d" } else { "m" };
            for id in k.ids {
                let m = match id.map.get(field) {
                    Some(Value::BulkString(b)) => b.clone(),
                    _ => return Err(Error::Unexpected(format!("entry {}", id.id))),
                };
                if k.key == log {
                    let offset = chunks::chunk_offset(&id.id)
                        .ok_or_else(|| Error::Unexpected(format!("chunk id {}", id.id)))?;
                    output.push((offset, m));
                } else {
                    events.push((id.id, m));
                }
            }
        }
        Ok((output, events))
    }

    // --- nodes ----------------------------------------------------------------------------

    /// The node is alive (call more often than `ttl`).
    pub async fn heartbeat(&self, node: &str) -> Result<(), Error> {
        let mut c = self.conn.clone();
        let now = server_millis(&mut c).await?;
        let _: i64 = c.zadd(self.nodes_key(), node, now).await?;
        Ok(())
    }

    /// Nodes that sent a heartbeat within `ttl` (by Redis' clock), sorted.
    pub async fn nodes(&self, ttl: Duration) -> Result<Vec<String>, Error> {
        let mut c = self.conn.clone();
        let now = server_millis(&mut c).await?;
        let since = now.saturating_sub(ttl.as_millis() as u64);
        let mut v: Vec<String> = c.zrangebyscore(self.nodes_key(), since, "+inf").await?;
        v.sort();
        Ok(v)
    }

    /// The node left on purpose.
    pub async fn leave(&self, node: &str) -> Result<(), Error> {
        let mut c = self.conn.clone();
        let _: i64 = c.zrem(self.nodes_key(), node).await?;
        Ok(())
    }
}

/// Redis' clock in milliseconds: every node compares heartbeats on one clock.
async fn server_millis(c: &mut ConnectionManager) -> Result<u64, Error> {
    let (secs, micros): (u64, u64) = redis::cmd("TIME").query_async(c).await?;
    Ok(secs * 1000 + micros / 1000)
}
