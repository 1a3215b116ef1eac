//! Access state shared by the relays of a cluster (issue 15): sign-ins, one-time login
//! links, share links and sign-in attempt limits live in Redis (`winrelay_cluster::tokens`),
//! so any relay serves any browser.
//!
//! [`Shared`] is an async layer in front of the relay's in-process [`Signins`] and
//! [`Limiter`]; without `[cluster]` (no store) every call is exactly the in-process one.
//! With it:
//!
//! * **Redis is the truth, not cached.** Every request with a sign-in cookie looks its
//!   digest up in Redis (one round trip; a share link's token likewise, beside it), so a
//!   sign-out, a revoked share link or a used login link ends on every relay at once. What
//!   Redis answered is mirrored into `Signins` (sign-ins and share links this relay saw),
//!   which the synchronous checks (`http::caller::grant`, `refused`) and the fall-back read.
//! * **Redis trouble never stops a relay.** Each call to Redis waits at most
//!   [`REDIS_WAIT`]; after a failure Redis is not asked for [`REDIS_REST`] (a request is
//!   never held up by Redis for more than [`REDIS_WAIT`] per call, and not at all while it
//!   rests). Meanwhile the relay works on what it knows: sign-ins and share links it made or
//!   saw keep working here; new ones work here only and are logged as not shared (they stay
//!   this relay's own until they end, even when Redis is back); sign-outs and revocations
//!   end them here only (logged); a login link made by another relay cannot be checked and
//!   is refused (one use cluster-wide matters more); attempts count on this relay only.
//! * **Revalidation.** The account's stamp is kept with the sign-in; every relay compares it
//!   with its own configuration on every request, and a sign-in a reload ended here is
//!   deleted from Redis on this relay's next request.
//! * Tokens reach Redis only as hex SHA-256 digests; nothing here logs a token or a digest.

use std::future::Future;
use std::net::IpAddr;
use std::time::{Duration, Instant};

use http::HeaderMap;
use tracing::{debug, info, warn};
use winrelay_cluster::tokens::{Budget, Lookup};
use winrelay_cluster::Store;
use winrelay_shared::protocol::Role;

use super::limiter::{Attempt, Limiter, Refusal, FORGET_AFTER};
use super::signins::{cookie_value, Share, SignInRecord, Signins, COOKIE, SIGN_IN_TTL};
use super::{digest, Identity, Method};

/// The longest a call waits for Redis.
pub const REDIS_WAIT: Duration = Duration::from_millis(500);
/// How long Redis is not asked after it failed.
pub const REDIS_REST: Duration = Duration::from_secs(1);
/// How long a revoked or expired share link is remembered as ended.
const ENDED_KEEP: Duration = Duration::from_secs(24 * 3600);

const SIGNIN: &str = "signin";
const LINK: &str = "link";
const SHARE: &str = "share";

/// Redis could not be asked (no answer in time, an error, or resting after one).
struct Down;

/// A login link as Redis keeps it.
#[derive(serde::Serialize, serde::Deserialize)]
struct LinkRecord {
    user: String,
}

/// A share link as Redis keeps it (under its token's digest, and in its session's set).
#[derive(serde::Serialize, serde::Deserialize)]
struct ShareRecord {
    id: String,
    session: String,
    role: Role,
    /// Milliseconds since the Unix epoch.
    expires_ms: u64,
    /// Hex SHA-256 of the token.
    digest: String,
}

fn unix_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0)
}

impl ShareRecord {
    fn share(&self) -> Share {
        Share {
            id: self.id.clone(),
            session: self.session.clone(),
            role: self.role,
            expires: Instant::now()
                + Duration::from_millis(self.expires_ms.saturating_sub(unix_ms())),
        }
    }
}

fn share_set(session: &str) -> String {
    format!("shares:{session}")
}

/// A reserved sign-in attempt: on this relay, and in Redis when it answered.
#[must_use = "a reservation is a counted failure unless given back"]
pub struct SharedAttempt {
    local: Attempt,
    budgets: Option<Vec<Budget>>,
}

/// The shared layer over this relay's [`Signins`] and [`Limiter`] (see the module's
/// documentation). Cheap: made per request from the relay's state.
pub struct Shared<'a> {
    local: &'a Signins,
    limiter: &'a Limiter,
    store: Option<&'a Store>,
}

impl<'a> Shared<'a> {
    /// The layer; `store` is the cluster's (None without `[cluster]`).
    pub fn new(local: &'a Signins, limiter: &'a Limiter, store: Option<&'a Store>) -> Self {
        Shared {
            local,
            limiter,
            store,
        }
    }

    /// Asks Redis, within [`REDIS_WAIT`], unless it is resting after a failure.
    async fn ask<T>(
        &self,
        what: &str,
        call: impl Future<Output = Result<T, winrelay_cluster::Error>>,
    ) -> Result<T, Down> {
        if self.local.redis_resting(Instant::now()) {
            return Err(Down);
        }
        let error = match tokio::time::timeout(REDIS_WAIT, call).await {
            Ok(Ok(v)) => {
                if self.local.redis_answered() {
                    info!("cluster: Redis answers again");
                }
                return Ok(v);
            }
            Ok(Err(e)) => e.to_string(),
            Err(_) => format!("no answer within {} ms", REDIS_WAIT.as_millis()),
        };
        if self.local.rest_redis(Instant::now() + REDIS_REST) {
            warn!(%error, "cluster: Redis failed to {what}; working on what this relay knows until it answers again");
        } else {
            debug!(%error, "cluster: Redis failed to {what}");
        }
        Err(Down)
    }

    // --- sign-ins ---------------------------------------------------------------------------

    /// The signed-in user of a request, from its cookie. `stamp_of(user, method)`: the
    /// account's stamp in this relay's configuration now.
    pub async fn user(
        &self,
        headers: &HeaderMap,
        stamp_of: impl Fn(&str, Method) -> Option<String>,
    ) -> Option<Identity> {
        let Some(store) = self.store else {
            return self.local.user(headers);
        };
        self.end_revalidated(store).await;
        let token = cookie_value(headers, COOKIE)?;
        let d = digest(&token);
        let hex_d = hex::encode(d);
        match self
            .ask("look up a sign-in", store.lookup_token(SIGNIN, &hex_d))
            .await
        {
            Ok(Lookup::Live(v)) => {
                let Ok(r) = serde_json::from_str::<SignInRecord>(&v) else {
                    warn!("cluster: a sign-in in Redis is not readable; refused");
                    return None;
                };
                if stamp_of(&r.user, r.method).as_deref() != Some(r.stamp.as_str()) {
                    info!(user = %r.user, "a sign-in ended: the account changed or was removed");
                    let _ = self
                        .ask("end a sign-in", store.delete_token(SIGNIN, &hex_d))
                        .await;
                    self.local.drop_sign_in(&d);
                    return None;
                }
                self.local.remember_sign_in(d, &r);
                r.identity()
            }
            Ok(Lookup::Ended(_) | Lookup::Unknown) if !self.local.is_local_only(&d) => {
                self.local.drop_sign_in(&d);
                None
            }
            // Made here while Redis did not answer, or Redis does not answer now.
            Ok(_) | Err(Down) => self.local.user_by_digest(&d),
        }
    }

    /// Sign-ins a reload ended on this relay end in Redis too.
    async fn end_revalidated(&self, store: &Store) {
        let ended = self.local.take_ended_sign_ins();
        if ended.is_empty() {
            return;
        }
        let _ = self
            .ask("end sign-ins a reload ended", async {
                for d in &ended {
                    store.delete_token(SIGNIN, &hex::encode(d)).await?;
                }
                Ok(())
            })
            .await;
    }

    /// Signs someone in: returns the cookie value.
    pub async fn sign_in(&self, who: &Identity, stamp: &str) -> String {
        let token = self.local.sign_in(who, stamp);
        let Some(store) = self.store else {
            return token;
        };
        let d = digest(&token);
        let Some(json) = self
            .local
            .sign_in_record(&d)
            .and_then(|r| serde_json::to_string(&r).ok())
        else {
            return token;
        };
        let shared = self
            .ask(
                "share a sign-in",
                store.put_token(SIGNIN, &hex::encode(d), &json, SIGN_IN_TTL),
            )
            .await;
        if shared.is_err() {
            self.local.mark_local_only(d);
            warn!(user = %who.user, "cluster: a sign-in is not shared (Redis did not answer): it works on this relay only");
        }
        token
    }

    /// Ends a sign-in, on every relay.
    pub async fn sign_out(&self, cookie: &str) {
        self.local.sign_out(cookie);
        let Some(store) = self.store else { return };
        let d = digest(cookie);
        if self.local.is_local_only(&d) {
            self.local.drop_sign_in(&d);
            return;
        }
        if self
            .ask("end a sign-in", store.delete_token(SIGNIN, &hex::encode(d)))
            .await
            .is_err()
        {
            warn!("cluster: a sign-out is not shared (Redis did not answer): other relays may honour that sign-in until Redis is back");
        }
    }

    // --- login links ------------------------------------------------------------------------

    /// Makes a one-time login link for `user`, valid for `ttl`, usable on any relay.
    pub async fn login_link(&self, user: &str, ttl: Duration) -> String {
        let token = self.local.login_link(user, ttl);
        let Some(store) = self.store else {
            return token;
        };
        let d = digest(&token);
        let json = serde_json::to_string(&LinkRecord { user: user.into() }).unwrap_or_default();
        match self
            .ask(
                "share a login link",
                store.put_token(LINK, &hex::encode(d), &json, ttl),
            )
            .await
        {
            // Redis alone redeems it from now on: once, on any relay.
            Ok(()) => self.local.drop_login_link(&d),
            Err(Down) => {
                self.local.mark_local_only(d);
                warn!(%user, "cluster: a login link is not shared (Redis did not answer): it works on this relay only");
            }
        }
        token
    }

    /// Redeems a login link, once in the whole cluster: returns the user it signs in.
    pub async fn redeem(&self, token: &str) -> Option<String> {
        // Links kept here: made without a cluster, or while Redis did not answer.
        if let Some(user) = self.local.redeem(token) {
            return Some(user);
        }
        let store = self.store?;
        match self
            .ask(
                "redeem a login link",
                store.take_token(LINK, &hex::encode(digest(token))),
            )
            .await
        {
            Ok(Some(v)) => serde_json::from_str::<LinkRecord>(&v).ok().map(|r| r.user),
            Ok(None) => None,
            Err(Down) => {
                warn!("cluster: a login link could not be checked (Redis did not answer); refused");
                None
            }
        }
    }

    // --- share links ------------------------------------------------------------------------

    /// Makes a share link for a session, usable on any relay.
    pub async fn share(&self, session: &str, role: Role, ttl: Duration) -> (String, Share) {
        let (token, share) = self.local.share(session, role, ttl);
        let Some(store) = self.store else {
            return (token, share);
        };
        let d = digest(&token);
        let hex_d = hex::encode(d);
        let record = ShareRecord {
            id: share.id.clone(),
            session: session.into(),
            role,
            expires_ms: unix_ms() + ttl.as_millis() as u64,
            digest: hex_d.clone(),
        };
        let json = serde_json::to_string(&record).unwrap_or_default();
        let shared = self
            .ask("share a share link", async {
                store.put_token(SHARE, &hex_d, &json, ttl).await?;
                store
                    .set_add(&share_set(session), &share.id, &json, ttl)
                    .await?;
                // Once it runs out, it reads as ended (not unknown) on every relay.
                store
                    .mark_ended(SHARE, &hex_d, session, ttl + ENDED_KEEP)
                    .await
            })
            .await;
        if shared.is_err() {
            self.local.mark_local_only(d);
            warn!(%session, share = %share.id, "cluster: a share link is not shared (Redis did not answer): it works on this relay only");
        }
        (token, share)
    }

    /// Brings what this relay knows of a share link's token up to date with Redis, so the
    /// synchronous checks (`Signins::share_for`, `Signins::share_ended`) answer for the
    /// whole cluster.
    pub async fn refresh_share(&self, token: &str) {
        let Some(store) = self.store else { return };
        let d = digest(token);
        match self
            .ask(
                "look up a share link",
                store.lookup_token(SHARE, &hex::encode(d)),
            )
            .await
        {
            Ok(Lookup::Live(v)) => match serde_json::from_str::<ShareRecord>(&v) {
                Ok(r) => self.local.remember_share(d, r.share()),
                Err(_) => warn!("cluster: a share link in Redis is not readable; ignored"),
            },
            Ok(Lookup::Ended(session)) => self.local.end_share(d, &session),
            Ok(Lookup::Unknown) => self.local.drop_share(&d),
            Err(Down) => {}
        }
    }

    /// Revokes a share link by its public id, on every relay; true if it existed.
    pub async fn revoke(&self, session: &str, id: &str) -> bool {
        let here = self.local.revoke(session, id);
        let Some(store) = self.store else {
            return here;
        };
        let there = self
            .ask("revoke a share link", async {
                let Some(v) = store.set_take(&share_set(session), id).await? else {
                    return Ok(false);
                };
                let r: ShareRecord = serde_json::from_str(&v)
                    .map_err(|e| winrelay_cluster::Error::Unexpected(e.to_string()))?;
                store
                    .end_token(SHARE, &r.digest, session, ENDED_KEEP)
                    .await?;
                Ok(true)
            })
            .await;
        match there {
            Ok(there) => here || there,
            Err(Down) => {
                if here {
                    warn!(%session, share = %id, "cluster: a revocation is not shared (Redis did not answer): other relays may honour the link until Redis is back");
                }
                here
            }
        }
    }

    /// The live share links of a session, wherever they were made.
    pub async fn shares_of(&self, session: &str) -> Vec<Share> {
        let Some(store) = self.store else {
            return self.local.shares_of(session);
        };
        match self
            .ask("list share links", store.set_list(&share_set(session)))
            .await
        {
            Ok(list) => {
                let now = unix_ms();
                let mut shares: Vec<Share> = list
                    .iter()
                    .filter_map(|(_, v)| serde_json::from_str::<ShareRecord>(v).ok())
                    .filter(|r| r.expires_ms > now)
                    .map(|r| r.share())
                    .collect();
                shares.extend(self.local.local_only_shares(session));
                shares
            }
            Err(Down) => self.local.shares_of(session),
        }
    }

    // --- sign-in attempts -------------------------------------------------------------------

    /// Reserves a sign-in attempt of `user` from `addr` on this relay and in the cluster:
    /// attempts on every relay count together.
    pub async fn attempt(&self, user: &str, addr: IpAddr) -> Result<SharedAttempt, Refusal> {
        let local = self.limiter.attempt(user, addr, Instant::now())?;
        let Some(store) = self.store else {
            return Ok(SharedAttempt {
                local,
                budgets: None,
            });
        };
        let budgets = local.budgets();
        match self
            .ask(
                "count a sign-in attempt",
                store.attempt(&budgets, FORGET_AFTER),
            )
            .await
        {
            Ok(None) => Ok(SharedAttempt {
                local,
                budgets: Some(budgets),
            }),
            Ok(Some(wait)) => {
                self.limiter.release(local, Instant::now());
                Err(Refusal::Wait(wait))
            }
            // Counted on this relay only.
            Err(Down) => Ok(SharedAttempt {
                local,
                budgets: None,
            }),
        }
    }

    /// The password was right (see `Limiter::succeeded`), everywhere.
    pub async fn succeeded(&self, a: SharedAttempt) {
        let pair = a.local.pair_budget();
        self.limiter.succeeded(a.local, Instant::now());
        if let (Some(store), Some(budgets)) = (self.store, a.budgets) {
            let _ = self
                .ask("give a sign-in attempt back", async {
                    store.give_back(&budgets).await?;
                    if let Some(pair) = pair {
                        store.forget_counter(&pair).await?;
                    }
                    Ok(())
                })
                .await;
        }
    }

    /// The attempt was not made after all (see `Limiter::release`), everywhere.
    pub async fn release(&self, a: SharedAttempt) {
        self.limiter.release(a.local, Instant::now());
        if let (Some(store), Some(budgets)) = (self.store, a.budgets) {
            let _ = self
                .ask("give a sign-in attempt back", store.give_back(&budgets))
                .await;
        }
    }
}
