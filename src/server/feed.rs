//! The change feed: how an instance hears of key changes made through other instances
//! sharing its database, and when it may trust its cache (API.md §7, README "Running many
//! instances").
//!
//! Every key change appends a numbered row to `key_changes` in its own transaction (database
//! triggers). [`run`] polls for rows above the last one applied every [`POLL_EVERY`] and
//! evicts each changed key from the cache, and at once when the database hints that a change
//! committed (PostgreSQL `LISTEN`/`NOTIFY`, `KeyStore::listen_changes`; hints are lost while
//! the listener reconnects, which the polls cover). A poll that succeeded *confirms* the
//! cache as of the instant it started: every change acknowledged before then has been
//! applied.
//!
//! **No stale allow.** A cached entry is trusted while the last confirmation is younger than
//! [`TRUST_WINDOW`] (under the 1 s bound, with room for the request itself); otherwise only
//! entries whose database read started within that window are, and the rest are read again.
//! So when the feed stalls for any reason the instance reads the database instead, and an
//! allow never rests on knowledge older than the bound while the database can be reached.
//!
//! **Offline.** When the database cannot be reached, entries are served for at most
//! `--offline-grace` past what the instance last knew (the later of the entry's read and the
//! last confirmation); keys not cached get 503 and `/readyz` says so.
//!
//! Each instance writes a heartbeat row (`instances`) with the last change it applied, at
//! once after applying changes and every [`HEARTBEAT_EVERY`]: `GET /v1/instances`.
//!
//! A state built without [`run`] (in-process tests driving the router directly) is one
//! instance alone: its own changes evict at once, so it trusts its cache.

use std::convert::Infallible;
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, AtomicI64, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use axum::http::{HeaderMap, HeaderValue};
use axum::response::{IntoResponseParts, ResponseParts};
use chrono::{DateTime, Utc};
use tokio::sync::Notify;

use super::AppState;
use super::cache::KeyCache;
use crate::api::CHANGE_HEADER;
use crate::domain::key::random_base62;
use crate::storage::{InstanceRecord, Outage, StoreError};

/// The contract's bound (API.md §7): a change holds everywhere for requests that start this
/// long after its acknowledgement.
pub const BOUND: Duration = Duration::from_secs(1);
/// How old the last confirmation may be for cached entries to be trusted.
pub const TRUST_WINDOW: Duration = Duration::from_millis(700);
/// How often the feed polls `key_changes`.
pub const POLL_EVERY: Duration = Duration::from_millis(100);
/// How often an instance writes its heartbeat when nothing changed.
pub const HEARTBEAT_EVERY: Duration = Duration::from_secs(1);
/// Instances seen this recently are live (`GET /v1/instances`).
pub const LIVE_WITHIN: Duration = Duration::from_secs(30);
/// `--offline-grace` default.
pub const DEFAULT_OFFLINE_GRACE: Duration = Duration::from_secs(300);
fn trust_nanos() -> u64 {
    u64::try_from(TRUST_WINDOW.as_nanos()).unwrap_or(u64::MAX)
}

/// Changes read per poll query.
const BATCH: u32 = 1000;

/// What `/readyz` reports of the feed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FeedHealth {
    /// Caught up within the trust window.
    Ok,
    /// Not confirmed within the window: the instance reads the database instead.
    Reconnecting,
}

impl FeedHealth {
    /// Wire form.
    pub fn as_str(self) -> &'static str {
        match self {
            FeedHealth::Ok => "ok",
            FeedHealth::Reconnecting => "reconnecting",
        }
    }
}

#[derive(Debug, Default)]
struct Progress {
    /// Start of the last poll that succeeded (and whose changes were applied).
    confirmed: Option<Instant>,
    /// The outage the last poll hit, until one succeeds.
    outage: Option<Outage>,
    /// The last poll failed (for any reason), until one succeeds.
    failing: bool,
}

/// Nanoseconds since `base` of a confirmation, plus one (0: never), so the hot path reads it
/// with one atomic load.
fn stamp(base: Instant, at: Instant) -> u64 {
    u64::try_from(at.saturating_duration_since(base).as_nanos())
        .unwrap_or(u64::MAX - 1)
        .saturating_add(1)
}

/// The feed's state, shared by the poller, the lookups and `/readyz`.
#[derive(Debug)]
pub struct Feed {
    id: String,
    started_at: DateTime<Utc>,
    started: Instant,
    running: AtomicBool,
    applied: AtomicI64,
    progress: Mutex<Progress>,
    /// [`stamp`] of `progress.confirmed`.
    confirmed_stamp: AtomicU64,
    offline_grace: Duration,
    applied_more: Notify,
    /// Notified when the database hints that a change committed (`KeyStore::listen_changes`):
    /// the next poll runs at once.
    hint: Notify,
}

impl Feed {
    /// A feed for a new instance (`ins_` + 16 base62), not yet running.
    pub fn new(started_at: DateTime<Utc>, offline_grace: Duration) -> Feed {
        let mut fill = |b: &mut [u8]| super::os_random(b);
        Feed {
            id: format!("ins_{}", random_base62(16, &mut fill)),
            started_at,
            started: Instant::now(),
            running: AtomicBool::new(false),
            applied: AtomicI64::new(0),
            progress: Mutex::new(Progress::default()),
            confirmed_stamp: AtomicU64::new(0),
            offline_grace,
            applied_more: Notify::new(),
            hint: Notify::new(),
        }
    }

    fn progress(&self) -> std::sync::MutexGuard<'_, Progress> {
        self.progress
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// This instance's id.
    pub fn id(&self) -> &str {
        &self.id
    }

    /// When it started.
    pub fn started_at(&self) -> DateTime<Utc> {
        self.started_at
    }

    /// Whether [`run`] drives this feed (otherwise the instance is alone).
    pub fn is_running(&self) -> bool {
        self.running.load(Ordering::Acquire)
    }

    /// The last change applied.
    pub fn applied(&self) -> i64 {
        self.applied.load(Ordering::Acquire)
    }

    /// How old the last confirmation is (never confirmed: the time since start).
    pub fn lag(&self) -> Duration {
        self.progress().confirmed.unwrap_or(self.started).elapsed()
    }

    /// State for `/readyz`.
    pub fn health(&self) -> FeedHealth {
        let confirmed = self.progress().confirmed;
        if !self.is_running() || confirmed.is_some_and(|c| c.elapsed() <= TRUST_WINDOW) {
            FeedHealth::Ok
        } else {
            FeedHealth::Reconnecting
        }
    }

    /// Whether the feed has confirmed the cache within [`TRUST_WINDOW`] (an instance alone
    /// always has).
    pub fn caught_up(&self) -> bool {
        if !self.is_running() {
            return true;
        }
        let at = self.confirmed_stamp.load(Ordering::Acquire);
        at != 0 && stamp(self.started, Instant::now()).saturating_sub(at) <= trust_nanos()
    }

    /// Before a cache lookup: when the feed has not confirmed the cache within the window,
    /// raise the cache's trust floor to the window's start, so only entries read since then
    /// answer and everything older is read again (no stale allow).
    pub fn guard(&self, cache: &KeyCache) {
        if !self.caught_up() {
            let now = Instant::now();
            cache.set_trust_floor(now.checked_sub(TRUST_WINDOW).unwrap_or(now));
        }
    }

    /// Whether the database is known to be unreachable (the last poll could not reach it).
    /// Any other failure (a busy or full database, a row that does not decode) is not
    /// offline: the database can still be read, so cached entries are re-read, never served
    /// on the strength of the grace.
    pub fn offline(&self) -> bool {
        self.progress().outage == Some(Outage::Unreachable)
    }

    /// Whether a cached entry read at `loaded` may still answer while the database cannot
    /// be reached: what the instance last knew of it is within `--offline-grace`.
    pub fn within_grace(&self, loaded: Instant) -> bool {
        self.grace_left(loaded).is_some()
    }

    fn grace_left(&self, loaded: Instant) -> Option<Duration> {
        if self.offline_grace.is_zero() {
            return None;
        }
        let known = match self.progress().confirmed {
            Some(c) if c > loaded => c,
            _ => loaded,
        };
        self.offline_grace.checked_sub(known.elapsed())
    }

    /// For `/readyz` while the database is unreachable: how much longer cached keys keep
    /// verifying (`None`: they no longer do, or grace is 0).
    pub fn offline_grace_left(&self) -> Option<Duration> {
        if self.offline_grace.is_zero() {
            return None;
        }
        let confirmed = self.progress().confirmed?;
        self.offline_grace.checked_sub(confirmed.elapsed())
    }

    /// The `--offline-grace` setting.
    pub fn offline_grace(&self) -> Duration {
        self.offline_grace
    }

    fn confirm(&self, at: Instant) {
        let mut p = self.progress();
        if std::mem::take(&mut p.failing) {
            let was = p.outage.take().map_or("error", Outage::as_str);
            tracing::warn!(was, "change feed: caught up again");
        }
        p.confirmed = Some(at);
        self.confirmed_stamp
            .fetch_max(stamp(self.started, at), Ordering::AcqRel);
    }

    fn failed(&self, e: &StoreError) {
        let mut p = self.progress();
        if !p.failing {
            tracing::error!(
                error = %e,
                "change feed: cannot read key changes; cached keys are re-read from the \
                 database (or, while it is unreachable, served for at most --offline-grace)"
            );
        }
        p.failing = true;
        p.outage = e.outage();
    }

    fn record(&self, now: DateTime<Utc>) -> InstanceRecord {
        InstanceRecord {
            id: self.id.clone(),
            started_at: self.started_at,
            last_seen_at: now,
            applied_change: self.applied(),
        }
    }
}

/// One poll: apply every change above the last applied one. `Ok(true)` when any was.
async fn poll(state: &AppState) -> Result<bool, StoreError> {
    let feed = &state.feed;
    let mut any = false;
    loop {
        let after = feed.applied();
        let changes = state.store.changes_after(after, BATCH).await?;
        let Some(last) = changes.last().map(|c| c.seq) else {
            return Ok(any);
        };
        if changes.first().is_some_and(|c| c.seq != after + 1) {
            // Numbers are dense; a hole means rows this instance never saw were pruned.
            tracing::warn!(
                after,
                next = changes.first().map_or(0, |c| c.seq),
                "change feed: changes were missed; forgetting the whole cache"
            );
            state.cache.set_trust_floor(Instant::now());
        }
        for c in &changes {
            state.cache.evict_older(&c.key_id, &c.hashes, c.version);
        }
        feed.applied.store(last, Ordering::Release);
        any = true;
        if changes.len() < BATCH as usize {
            return Ok(true);
        }
    }
}

/// Run the feed until the process ends: start from the newest change (the cache is empty),
/// then poll, and write heartbeats from a task of their own so a slow write never delays
/// a poll.
pub async fn run(state: AppState) {
    let feed = &state.feed;
    feed.running.store(true, Ordering::Release);
    let mut tick = tokio::time::interval(POLL_EVERY);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tick.tick().await;
        let started = Instant::now();
        match state.store.latest_change(None).await {
            Ok(n) => {
                feed.applied.store(n, Ordering::Release);
                // A change committed between an entry's read and this one is at or below
                // `n`, so it will never be applied: nothing read before now is vouched for.
                state.cache.set_trust_floor(started);
                feed.confirm(started);
                break;
            }
            Err(e) => feed.failed(&e),
        }
    }
    // Ends with this task: aborting the feed (when `serve` stops) stops the heartbeats too,
    // and with them their hold on the store.
    let _heartbeats = AbortOnDrop(tokio::spawn(heartbeats(state.clone())));
    let _listener = AbortOnDrop(tokio::spawn(listen(state.clone())));
    loop {
        // Every POLL_EVERY, and at once when the database hints at a change.
        tokio::select! {
            _ = tick.tick() => {}
            () = feed.hint.notified() => {}
        }
        let started = Instant::now();
        match poll(&state).await {
            Ok(applied) => {
                feed.confirm(started);
                if applied {
                    feed.applied_more.notify_one();
                }
            }
            Err(e) => feed.failed(&e),
        }
    }
}

struct AbortOnDrop(tokio::task::JoinHandle<()>);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        self.0.abort();
    }
}

/// Keep listening for change hints (PostgreSQL `NOTIFY`); the polls go on regardless, so a
/// listener that is down only costs latency (up to [`POLL_EVERY`]), never a missed change.
async fn listen(state: AppState) {
    // Retried every second; said at most once a minute, so an outage is one line, not
    // sixty, and a later one is said again.
    let mut said: Option<Instant> = None;
    loop {
        if let Err(e) = state.store.listen_changes(&state.feed.hint).await {
            if said.is_none_or(|at| at.elapsed() >= Duration::from_secs(60)) {
                tracing::warn!(
                    error = %e,
                    "change listener failed; changes are still read every {} ms",
                    POLL_EVERY.as_millis()
                );
                said = Some(Instant::now());
            }
            tokio::time::sleep(Duration::from_secs(1)).await;
        }
    }
}

async fn heartbeats(state: AppState) {
    let feed = &state.feed;
    let mut failing = false;
    loop {
        match state.store.heartbeat(&feed.record(state.clock.now())).await {
            Ok(()) if failing => {
                failing = false;
                tracing::info!("instance heartbeat written again");
            }
            Ok(()) => {}
            Err(e) if !failing => {
                failing = true;
                tracing::warn!(error = %e, "cannot write this instance's heartbeat");
            }
            Err(_) => {}
        }
        let _ = tokio::time::timeout(HEARTBEAT_EVERY, feed.applied_more.notified()).await;
    }
}

/// A key mutation's `x-keyconsole-change` header (none when its number is unknown).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Change(pub Option<i64>);

impl Change {
    /// Set the header on an answer.
    pub fn insert_into(self, headers: &mut HeaderMap) {
        if let Some(n) = self.0 {
            headers.insert(CHANGE_HEADER, HeaderValue::from(n));
        }
    }
}

impl IntoResponseParts for Change {
    type Error = Infallible;
    fn into_response_parts(self, mut res: ResponseParts) -> Result<ResponseParts, Infallible> {
        self.insert_into(res.headers_mut());
        Ok(res)
    }
}

/// The `x-keyconsole-change` value for a mutation of these keys that has committed: the
/// newest change of them, which is this mutation's unless another change of the same key
/// committed since (an instance that applied that one applied this one too). `None`, logged,
/// when it cannot be read: the change is made; only its number is unknown.
pub async fn change_of(state: &AppState, key_ids: &[&str]) -> Change {
    match state.store.latest_key_change(key_ids).await {
        Ok(0) => Change(None),
        Ok(n) => Change(Some(n)),
        Err(e) => {
            tracing::warn!(error = %e, "cannot read the change number of a key mutation");
            Change(None)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_feed_that_is_not_running_trusts_its_cache() {
        let f = Feed::new(Utc::now(), DEFAULT_OFFLINE_GRACE);
        assert!(f.caught_up());
        assert_eq!(f.health(), FeedHealth::Ok);
        assert!(f.id().starts_with("ins_") && f.id().len() == 20);
    }

    #[test]
    fn a_running_feed_is_caught_up_only_while_confirmed_recently() {
        let f = Feed::new(Utc::now(), Duration::from_secs(5));
        f.running.store(true, Ordering::Release);
        let now = Instant::now();
        let Some(old) = now.checked_sub(Duration::from_secs(3)) else {
            return;
        };
        // Never confirmed: not caught up.
        assert!(!f.caught_up());
        assert_eq!(f.health(), FeedHealth::Reconnecting);
        f.confirm(now);
        assert!(f.caught_up());
        assert_eq!(f.health(), FeedHealth::Ok);
        // Grace counts from the later of the read and the confirmation.
        assert!(f.within_grace(old));
        let zero = Feed::new(Utc::now(), Duration::ZERO);
        assert!(!zero.within_grace(now));
    }
}
