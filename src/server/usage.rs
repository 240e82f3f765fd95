//! Batched usage writes. Requests hand counters, last-used times and auth events to a
//! channel (never a lock a writer holds, never a database write inline; a hit carries its
//! ids inline, allocating nothing); one task folds them into per-key rows as they arrive and
//! starts a write of what it has folded every `interval` (at least once a second). Folding
//! goes on while a write runs (at most one at a time), so the channel drains at folding
//! speed whatever the database's: a slow write makes the next batch bigger, not the queue
//! longer. At most [`MAX_QUEUED`] messages may wait all the same (past that a hit is not
//! counted and an event is dropped, and a warning says how many). A failed write
//! (a full disk, a deleted database file, a lock held elsewhere) folds its batch back in
//! and retries it with the next one, so nothing is lost while the database refuses writes.
//! The batch is bounded: at most [`MAX_PENDING_COUNTERS`] (key, minute) counter rows and
//! [`MAX_PENDING_EVENTS`] auth events wait; past that, requests that would need a new
//! counter row are not counted and the oldest events are dropped, and both are logged.
//! `serve` flushes before it returns; a final flush that fails says what is lost
//! ([`FlushError`]).
//!
//! **Scope usage** (API.md §10) rides the same messages: an allowed request's [`ScopeHit`]
//! (the endpoint's required scopes, a `&'static` slice, or a verify call's
//! `required_scopes`) is folded into per (key, UTC day, scope) counters and written in the
//! same batch, capped like the counter rows.

use std::collections::{HashMap, VecDeque};
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::time::Duration;

use chrono::{DateTime, Utc};
use tokio::sync::{mpsc, oneshot};

use super::clock::Clock;
use super::events::EventBound;
use crate::api::BucketSize;
use crate::domain::record::KeyRecord;
use crate::storage::{
    AuthEventRecord, KeyStore, Outage, ScopeDelta, StoreError, StoreResult, UsageBatch, UsageDelta,
};

/// Which counter a request lands in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// Anything but 401/403/429.
    Ok,
    /// 401.
    Unauthorized,
    /// 403.
    Forbidden,
    /// 429.
    RateLimited,
}

impl Outcome {
    /// Classify an HTTP status.
    pub fn of_status(status: u16) -> Outcome {
        match status {
            401 => Outcome::Unauthorized,
            403 => Outcome::Forbidden,
            429 => Outcome::RateLimited,
            _ => Outcome::Ok,
        }
    }
}

/// The required scopes an allowed request exercised.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub enum ScopeHit {
    /// None (an endpoint any key may call, or a denied request).
    #[default]
    None,
    /// An endpoint's required scopes.
    Endpoint(&'static [&'static str]),
    /// A `POST /v1/verify` call's `required_scopes`, for the verified key.
    Listed(Vec<String>),
}

impl ScopeHit {
    fn each(&self, mut f: impl FnMut(&str)) {
        match self {
            ScopeHit::None => {}
            ScopeHit::Endpoint(s) => s.iter().for_each(|x| f(x)),
            ScopeHit::Listed(s) => s.iter().for_each(|x| f(x)),
        }
    }

    fn is_none(&self) -> bool {
        match self {
            ScopeHit::None => true,
            ScopeHit::Endpoint(s) => s.is_empty(),
            ScopeHit::Listed(s) => s.is_empty(),
        }
    }
}

enum Msg {
    // Ids inline (no allocation, and no cached record kept alive while queued).
    Hit {
        key_id: InlineId,
        org_id: InlineId,
        at: DateTime<Utc>,
        outcome: Outcome,
        scopes: ScopeHit,
    },
    Scopes {
        key_id: InlineId,
        org_id: InlineId,
        at: DateTime<Utc>,
        scopes: ScopeHit,
    },
    // Boxed: an event is much larger than a hit, and only refusals send one.
    Event(Box<AuthEventRecord>),
    Flush(oneshot::Sender<Result<(), FlushError>>),
}

/// What is waiting in memory for the database.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct PendingCounts {
    /// Requests counted in the waiting counter rows.
    pub requests: u64,
    /// (key, minute) counter rows.
    pub counters: usize,
    /// Keys whose `last_used_at` waits to move.
    pub last_used: usize,
    /// Auth events.
    pub events: usize,
}

impl std::fmt::Display for PendingCounts {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let n = |count: u64, one: &str| {
            if count == 1 {
                format!("1 {one}")
            } else {
                format!("{count} {one}s")
            }
        };
        let len = |count: usize| u64::try_from(count).unwrap_or(u64::MAX);
        write!(
            f,
            "{} counted in {}, {}, {}",
            n(self.requests, "request"),
            n(len(self.counters), "usage row"),
            n(len(self.last_used), "last-used time"),
            n(len(self.events), "auth event"),
        )
    }
}

/// A flush that did not write, with what stays in memory (and is lost if the process
/// exits now).
#[derive(Debug, Clone, thiserror::Error)]
pub enum FlushError {
    /// The database refused the batch.
    #[error("{reason}; not written: {pending}")]
    Refused {
        /// Why, in words (the outage's message when the store named one).
        reason: String,
        /// The outage, when the store named one.
        cause: Option<Outage>,
        /// What was not written.
        pending: PendingCounts,
    },
    /// The recorder task is gone.
    #[error("the usage recorder stopped")]
    Stopped,
}

/// An id carried in a message: inline when it fits (key and org ids do), so queuing a hit
/// allocates nothing.
#[derive(Debug, Clone)]
enum InlineId {
    Short { len: u8, bytes: [u8; INLINE_ID] },
    Long(Box<str>),
}

const INLINE_ID: usize = 40;

impl InlineId {
    fn new(s: &str) -> InlineId {
        match u8::try_from(s.len()) {
            Ok(len) if s.len() <= INLINE_ID => {
                let mut bytes = [0u8; INLINE_ID];
                bytes[..s.len()].copy_from_slice(s.as_bytes());
                InlineId::Short { len, bytes }
            }
            _ => InlineId::Long(s.into()),
        }
    }

    fn as_str(&self) -> &str {
        match self {
            // A whole `str` was copied in, so this is always valid UTF-8.
            InlineId::Short { len, bytes } => {
                std::str::from_utf8(&bytes[..usize::from(*len)]).unwrap_or_default()
            }
            InlineId::Long(s) => s,
        }
    }
}

/// Most messages (hits, scope hits, auth events) waiting for the recorder task. It stops
/// reading while a batch is being written, so a slow database must not let the queue grow
/// without limit: past this a hit is not counted and an event is dropped (both logged).
/// A message is about 150 bytes: some 15 MB at the cap.
pub const MAX_QUEUED: usize = 100_000;

/// Handle for recording usage. Cheap to clone.
#[derive(Clone)]
pub struct UsageRecorder {
    tx: mpsc::UnboundedSender<Msg>,
    queue: Arc<QueueCount>,
}

/// Messages sent and not yet taken by the recorder task, and those refused for room.
#[derive(Debug, Default)]
struct QueueCount {
    queued: AtomicUsize,
    refused_hits: AtomicU64,
    refused_events: AtomicU64,
}

impl QueueCount {
    /// Take a place in the queue, if there is one.
    fn enter(&self) -> bool {
        if self.queued.fetch_add(1, Ordering::Relaxed) >= MAX_QUEUED {
            self.queued.fetch_sub(1, Ordering::Relaxed);
            return false;
        }
        true
    }

    fn left(&self) {
        self.queued.fetch_sub(1, Ordering::Relaxed);
    }
}

impl std::fmt::Debug for UsageRecorder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("UsageRecorder")
    }
}

/// Most auth events held while the database does not take them; past it the oldest are
/// dropped (and the number logged), so an outage under attack cannot exhaust memory.
pub const MAX_PENDING_EVENTS: usize = 100_000;

/// Most (key, minute) counter rows held while the database does not take them (each holds
/// two ids and four counters, about 200 bytes: some 20 MB at the cap). A key already
/// counted in the current minute keeps counting; a request that would need a new row past
/// the cap is not counted, and the number not counted is logged.
pub const MAX_PENDING_COUNTERS: usize = 100_000;

/// While flushes keep failing, the warning is repeated at most this often.
const WARN_EVERY: chrono::TimeDelta = chrono::TimeDelta::seconds(60);

/// What waits for the database, per key: folding a request into a row the key already has
/// copies nothing (the maps are searched by `&str`; a key id is copied only for a new row).
struct Pending {
    /// foldhash, not SipHash: every hit looks its key up here, and the ids are the
    /// server's own (only found keys are counted), bounded by the caps.
    keys: HashMap<String, KeyPending, foldhash::fast::RandomState>,
    /// (key, minute) counter rows across `keys`.
    rows: usize,
    /// (key, UTC day, scope) rows across `keys`.
    scope_rows: usize,
    /// Counter and scope rows of the batch being written: they count against the caps,
    /// so a failed write can be folded back in without passing them.
    held_rows: usize,
    held_scope_rows: usize,
    events: VecDeque<AuthEventRecord>,
    max_events: usize,
    max_counters: usize,
    /// Events dropped since the last warning.
    dropped: u64,
    /// Requests not counted (no room for their counter row) since the last warning.
    uncounted: u64,
}

/// One key's waiting rows.
struct KeyPending {
    /// Latest counted request (`None`: only scope usage waits).
    last_used: Option<DateTime<Utc>>,
    /// Counter rows, oldest minute first (the current minute is the last).
    minutes: Vec<UsageDelta>,
    /// Scope usage rows, per (UTC day, scope).
    scopes: Vec<ScopeDelta>,
}

impl Pending {
    fn new(max_events: usize, max_counters: usize) -> Pending {
        Pending {
            keys: HashMap::default(),
            rows: 0,
            scope_rows: 0,
            held_rows: 0,
            held_scope_rows: 0,
            events: VecDeque::new(),
            max_events,
            max_counters,
            dropped: 0,
            uncounted: 0,
        }
    }

    fn counts(&self) -> PendingCounts {
        PendingCounts {
            requests: self
                .keys
                .values()
                .flat_map(|k| &k.minutes)
                .map(|d| d.ok + d.unauthorized + d.forbidden + d.rate_limited)
                .sum(),
            counters: self.rows,
            last_used: self.keys.values().filter(|k| k.last_used.is_some()).count(),
            events: self.events.len(),
        }
    }

    fn is_empty(&self) -> bool {
        self.keys.is_empty() && self.events.is_empty()
    }

    fn event(&mut self, e: AuthEventRecord) {
        while self.events.len() >= self.max_events.max(1) {
            self.events.pop_front();
            self.dropped += 1;
        }
        self.events.push_back(e);
    }

    /// The key's rows, created when missing (the only place a key id is copied).
    fn key(&mut self, key_id: &str) -> &mut KeyPending {
        if !self.keys.contains_key(key_id) {
            self.keys.insert(
                key_id.to_owned(),
                KeyPending {
                    last_used: None,
                    minutes: Vec::new(),
                    scopes: Vec::new(),
                },
            );
        }
        #[allow(clippy::expect_used)]
        self.keys.get_mut(key_id).expect("inserted above")
    }

    fn add(&mut self, key_id: &str, org_id: &str, at: DateTime<Utc>, outcome: Outcome) {
        let minute = BucketSize::Minute.floor(at);
        let row = self
            .keys
            .get(key_id)
            .and_then(|k| k.minutes.iter().rposition(|d| d.minute == minute));
        if row.is_none() && self.rows + self.held_rows >= self.max_counters {
            self.uncounted += 1;
            return;
        }
        let full = row.is_none();
        let k = self.key(key_id);
        if k.last_used.is_none_or(|last| last < at) {
            k.last_used = Some(at);
        }
        let i = match row {
            Some(i) => i,
            None => {
                k.minutes.push(UsageDelta {
                    key_id: key_id.to_owned(),
                    org_id: org_id.to_owned(),
                    minute,
                    ok: 0,
                    unauthorized: 0,
                    forbidden: 0,
                    rate_limited: 0,
                });
                k.minutes.len() - 1
            }
        };
        let d = &mut k.minutes[i];
        match outcome {
            Outcome::Ok => d.ok += 1,
            Outcome::Unauthorized => d.unauthorized += 1,
            Outcome::Forbidden => d.forbidden += 1,
            Outcome::RateLimited => d.rate_limited += 1,
        }
        if full {
            self.rows += 1;
        }
    }

    /// Count the required scopes an allowed request exercised. Rows are capped like the
    /// counter rows: past [`MAX_PENDING_COUNTERS`] a new (key, day, scope) is not counted.
    fn add_scopes(&mut self, key_id: &str, org_id: &str, at: DateTime<Utc>, scopes: &ScopeHit) {
        let day = BucketSize::Day.floor(at);
        scopes.each(|scope| {
            let found = self.keys.get_mut(key_id).and_then(|k| {
                k.scopes
                    .iter_mut()
                    .rev()
                    .find(|d| d.day == day && d.scope == scope)
            });
            if let Some(d) = found {
                d.requests += 1;
                d.last_used_at = d.last_used_at.max(at);
            } else if self.scope_rows + self.held_scope_rows >= self.max_counters {
                self.uncounted += 1;
            } else {
                self.scope_rows += 1;
                self.key(key_id).scopes.push(ScopeDelta {
                    key_id: key_id.to_owned(),
                    org_id: org_id.to_owned(),
                    day,
                    scope: scope.to_owned(),
                    requests: 1,
                    last_used_at: at,
                });
            }
        });
    }

    /// Fold back a batch whose write failed (it is older than what waits here). Its rows
    /// were held against the caps while it was written, so they fit; its events go first,
    /// and past the cap the oldest are dropped.
    fn absorb(&mut self, older: UsageBatch) {
        self.held_rows = 0;
        self.held_scope_rows = 0;
        let UsageBatch {
            deltas,
            last_used,
            events,
            scopes,
        } = older;
        for (key_id, t) in last_used {
            let mine = self.key(&key_id);
            if mine.last_used.is_none_or(|last| last < t) {
                mine.last_used = Some(t);
            }
        }
        for d in deltas {
            let mine = self.key(&d.key_id);
            match mine.minutes.iter_mut().find(|m| m.minute == d.minute) {
                Some(m) => {
                    m.ok += d.ok;
                    m.unauthorized += d.unauthorized;
                    m.forbidden += d.forbidden;
                    m.rate_limited += d.rate_limited;
                }
                None => {
                    // Older minutes go before the ones counted since.
                    let at = mine.minutes.partition_point(|m| m.minute < d.minute);
                    mine.minutes.insert(at, d);
                    self.rows += 1;
                }
            }
        }
        for d in scopes {
            let mine = self.key(&d.key_id);
            match mine
                .scopes
                .iter_mut()
                .find(|m| m.day == d.day && m.scope == d.scope)
            {
                Some(m) => {
                    m.requests += d.requests;
                    m.last_used_at = m.last_used_at.max(d.last_used_at);
                }
                None => {
                    mine.scopes.push(d);
                    self.scope_rows += 1;
                }
            }
        }
        for e in events.into_iter().rev() {
            self.events.push_front(e);
        }
        while self.events.len() > self.max_events.max(1) {
            self.events.pop_front();
            self.dropped += 1;
        }
    }

    /// What waits, as the rows a store writes: moved, not copied, so a batch being
    /// written takes no more memory than it did waiting (a failed one is folded back with
    /// [`Pending::absorb`]).
    fn into_batch(self) -> UsageBatch {
        let mut batch = UsageBatch {
            deltas: Vec::with_capacity(self.rows),
            last_used: Vec::with_capacity(self.keys.len()),
            events: self.events.into(),
            scopes: Vec::with_capacity(self.scope_rows),
        };
        for (id, k) in self.keys {
            batch.deltas.extend(k.minutes);
            batch.scopes.extend(k.scopes);
            if let Some(t) = k.last_used {
                batch.last_used.push((id, t));
            }
        }
        batch
    }
}

/// Most rows of each kind (counters, last-used times, scope rows, events) written in one
/// transaction.
pub const ROWS_PER_WRITE: usize = 5_000;

/// Up to `max` rows of each kind, taken off the end of `batch`.
fn take_part(batch: &mut UsageBatch, max: usize) -> UsageBatch {
    fn tail<T>(v: &mut Vec<T>, max: usize) -> Vec<T> {
        v.split_off(v.len().saturating_sub(max))
    }
    UsageBatch {
        deltas: tail(&mut batch.deltas, max),
        last_used: tail(&mut batch.last_used, max),
        events: tail(&mut batch.events, max),
        scopes: tail(&mut batch.scopes, max),
    }
}

/// A part that was not written, back with the rest.
fn put_back(batch: &mut UsageBatch, part: UsageBatch) {
    batch.deltas.extend(part.deltas);
    batch.last_used.extend(part.last_used);
    batch.events.extend(part.events);
    batch.scopes.extend(part.scopes);
}

/// Write `batch` in parts of at most `max` rows of each kind, each its own call of `write`
/// (its own transaction): the one SQLite writer is never held for a whole batch of 100,000
/// rows, and other writes (the heartbeat among them) wait for one part at most. What was
/// not written (the failed part and those after it) is handed back with the error; parts
/// written before it stay written, so folding the rest back counts nothing twice.
async fn write_in_parts<F, Fut>(
    mut batch: UsageBatch,
    max: usize,
    mut write: F,
) -> (UsageBatch, StoreResult<()>)
where
    F: FnMut(UsageBatch) -> Fut,
    Fut: Future<Output = (UsageBatch, StoreResult<()>)>,
{
    while !batch.is_empty() {
        let (part, result) = write(take_part(&mut batch, max)).await;
        if let Err(e) = result {
            put_back(&mut batch, part);
            return (batch, Err(e));
        }
    }
    (batch, Ok(()))
}

/// A batch being written, handing it back with the outcome (a failed one is folded back).
type Writing = Pin<Box<dyn Future<Output = (UsageBatch, StoreResult<()>)> + Send>>;

/// The write in flight, if any (never resolves when there is none).
async fn in_flight(writing: &mut Option<Writing>) -> (UsageBatch, StoreResult<()>) {
    match writing {
        Some(w) => w.await,
        None => std::future::pending().await,
    }
}

struct Flusher {
    store: Arc<dyn KeyStore>,
    clock: Arc<dyn Clock>,
    pending: Pending,
    /// Auth events pass through it: per (org, code, client) and minute the excess is one.
    bound: EventBound,
    last_prune: Option<DateTime<Utc>>,
    /// Since when flushes fail, and when that was last logged.
    failing: Option<(DateTime<Utc>, DateTime<Utc>)>,
    failed_attempts: u64,
}

impl Flusher {
    fn warn_drops(&mut self) {
        if self.pending.dropped > 0 {
            tracing::warn!(
                dropped = self.pending.dropped,
                kept = self.pending.events.len(),
                "auth events dropped (oldest first): too many waiting for the database"
            );
            self.pending.dropped = 0;
        }
        if self.pending.uncounted > 0 {
            tracing::warn!(
                uncounted = self.pending.uncounted,
                rows = self.pending.rows,
                "requests not counted in usage: {MAX_PENDING_COUNTERS} counter rows already wait for the database"
            );
            self.pending.uncounted = 0;
        }
    }

    /// Take what waits and start writing it (with the prune, when one is due): a fresh
    /// batch folds the requests that arrive meanwhile, its caps lowered by the rows being
    /// written. `None` when there is nothing to do.
    fn start_write(&mut self) -> Option<Writing> {
        let now = self.clock.now();
        for e in self.bound.close(now) {
            self.pending.event(e);
        }
        self.warn_drops();
        let prune = self
            .last_prune
            .is_none_or(|t| now - t > chrono::Duration::minutes(5));
        if prune {
            self.last_prune = Some(now);
        }
        if self.pending.is_empty() && !prune {
            return None;
        }
        let fresh = Pending::new(self.pending.max_events, self.pending.max_counters);
        let written = std::mem::replace(&mut self.pending, fresh);
        self.pending.held_rows = written.rows;
        self.pending.held_scope_rows = written.scope_rows;
        // Its drops and uncounted requests were logged by `warn_drops` above.
        let written = written.into_batch();
        let store = Arc::clone(&self.store);
        Some(Box::pin(async move {
            let (written, result) = write_in_parts(written, ROWS_PER_WRITE, |part| {
                let store = Arc::clone(&store);
                async move {
                    let result = store.record_usage(&part).await;
                    (part, result)
                }
            })
            .await;
            if prune && let Err(e) = store.prune(now).await {
                tracing::warn!(error = %e, "usage prune failed");
            }
            (written, result)
        }))
    }

    /// A write ended: on failure its batch is folded back in, to be written with the next.
    fn finish_write(
        &mut self,
        written: UsageBatch,
        result: StoreResult<()>,
    ) -> Result<(), FlushError> {
        match result {
            Ok(()) => {
                self.pending.held_rows = 0;
                self.pending.held_scope_rows = 0;
                if let Some((since, _)) = self.failing.take() {
                    tracing::info!(
                        failed_attempts = self.failed_attempts,
                        since = %since,
                        "batched usage written again"
                    );
                    self.failed_attempts = 0;
                }
                Ok(())
            }
            Err(e) => {
                self.pending.absorb(written);
                Err(self.failed(&e, self.clock.now()))
            }
        }
    }

    /// An explicit flush (or the last one): the write in flight ends first, then everything
    /// else received so far (every auth event held back by the bound too) is written.
    async fn flush_all(&mut self, writing: Option<Writing>) -> Result<(), FlushError> {
        if let Some(w) = writing {
            let (written, result) = w.await;
            let _ = self.finish_write(written, result);
        }
        for e in self.bound.release_all() {
            self.pending.event(e);
        }
        self.flush().await
    }

    /// Write everything waiting, now, and wait for it.
    async fn flush(&mut self) -> Result<(), FlushError> {
        match self.start_write() {
            Some(write) => {
                let (written, result) = write.await;
                self.finish_write(written, result)
            }
            None => Ok(()),
        }
    }

    /// Note a failed write (a warning now and then, not every second) and say what waits.
    fn failed(&mut self, e: &StoreError, now: DateTime<Utc>) -> FlushError {
        self.failed_attempts += 1;
        let pending = self.pending.counts();
        let warn = match &mut self.failing {
            None => {
                self.failing = Some((now, now));
                true
            }
            Some((_, warned)) if now - *warned >= WARN_EVERY => {
                *warned = now;
                true
            }
            Some(_) => false,
        };
        if warn {
            tracing::warn!(
                error = %e,
                requests = pending.requests,
                counters = pending.counters,
                events = pending.events,
                failed_attempts = self.failed_attempts,
                "usage flush failed; keeping the batch in memory and retrying every second"
            );
        }
        let cause = e.outage();
        FlushError::Refused {
            reason: cause.map_or_else(|| e.to_string(), |c| outage_reason(c).to_owned()),
            cause,
            pending,
        }
    }
}

/// The cause in a few words, for the one line `serve` prints when its last flush fails.
fn outage_reason(cause: Outage) -> &'static str {
    match cause {
        Outage::Unreachable => "the database cannot be reached",
        Outage::DiskFull => "the database's disk is full",
        Outage::ReadOnly => "the database is read-only",
        Outage::Busy => "the database is locked by another writer",
        Outage::Io => "the database's storage reports I/O errors",
        Outage::FileReplaced => "the database file was deleted or replaced",
    }
}

impl UsageRecorder {
    /// Start the flusher task.
    pub fn start(
        store: Arc<dyn KeyStore>,
        clock: Arc<dyn Clock>,
        interval: Duration,
    ) -> UsageRecorder {
        let (tx, mut rx) = mpsc::unbounded_channel::<Msg>();
        let queue = Arc::new(QueueCount::default());
        let for_task = Arc::clone(&queue);
        let mut flusher = Flusher {
            store,
            clock,
            pending: Pending::new(MAX_PENDING_EVENTS, MAX_PENDING_COUNTERS),
            bound: EventBound::default(),
            last_prune: None,
            failing: None,
            failed_attempts: 0,
        };
        tokio::spawn(async move {
            let queue = for_task;
            let mut tick = tokio::time::interval(interval);
            tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            // At most one write at a time; messages keep being folded while it runs, so the
            // queue drains at folding speed whatever the database's.
            let mut writing: Option<Writing> = None;
            loop {
                tokio::select! {
                    msg = rx.recv() => match msg {
                        Some(Msg::Hit { key_id, org_id, at, outcome, scopes }) => {
                            queue.left();
                            let (key_id, org_id) = (key_id.as_str(), org_id.as_str());
                            if outcome == Outcome::Ok && !scopes.is_none() {
                                flusher.pending.add_scopes(key_id, org_id, at, &scopes);
                            }
                            flusher.pending.add(key_id, org_id, at, outcome);
                        }
                        Some(Msg::Scopes { key_id, org_id, at, scopes }) => {
                            queue.left();
                            flusher.pending.add_scopes(key_id.as_str(), org_id.as_str(), at, &scopes);
                        }
                        Some(Msg::Event(e)) => {
                            queue.left();
                            for e in flusher.bound.admit(*e) {
                                flusher.pending.event(e);
                            }
                        }
                        Some(Msg::Flush(done)) => {
                            let r = flusher.flush_all(writing.take()).await;
                            let _ = done.send(r);
                        }
                        None => {
                            let _ = flusher.flush_all(writing.take()).await;
                            break;
                        }
                    },
                    (written, result) = in_flight(&mut writing) => {
                        writing = None;
                        let _ = flusher.finish_write(written, result);
                    }
                    _ = tick.tick() => {
                        let hits = queue.refused_hits.swap(0, Ordering::Relaxed);
                        let events = queue.refused_events.swap(0, Ordering::Relaxed);
                        if hits > 0 || events > 0 {
                            tracing::warn!(
                                uncounted = hits,
                                events_dropped = events,
                                "usage not recorded: {MAX_QUEUED} messages were already waiting \
                                 for the usage writer"
                            );
                        }
                        if writing.is_none() {
                            writing = flusher.start_write();
                        }
                    }
                }
            }
        });
        UsageRecorder { tx, queue }
    }

    /// Count one request for a key, and, when it was allowed ([`Outcome::Ok`]), the
    /// required scopes it exercised.
    pub fn hit(&self, key: &KeyRecord, at: DateTime<Utc>, outcome: Outcome, scopes: ScopeHit) {
        if !self.queue.enter() {
            self.queue.refused_hits.fetch_add(1, Ordering::Relaxed);
            return;
        }
        let _ = self.tx.send(Msg::Hit {
            key_id: InlineId::new(&key.id),
            org_id: InlineId::new(&key.org_id),
            at,
            outcome,
            scopes,
        });
    }

    /// Count only the required scopes an allowed request exercised (the caller of
    /// `POST /v1/verify`, whose request counts in the verified key's usage).
    pub fn scopes(&self, key: &KeyRecord, at: DateTime<Utc>, scopes: ScopeHit) {
        if scopes.is_none() {
            return;
        }
        if !self.queue.enter() {
            self.queue.refused_hits.fetch_add(1, Ordering::Relaxed);
            return;
        }
        let _ = self.tx.send(Msg::Scopes {
            key_id: InlineId::new(&key.id),
            org_id: InlineId::new(&key.org_id),
            at,
            scopes,
        });
    }

    /// Record a denied decision.
    pub fn event(&self, e: AuthEventRecord) {
        if !self.queue.enter() {
            self.queue.refused_events.fetch_add(1, Ordering::Relaxed);
            return;
        }
        let _ = self.tx.send(Msg::Event(Box::new(e)));
    }

    /// Write everything received so far. Messages sent before this call are included.
    pub async fn flush(&self) -> Result<(), FlushError> {
        let (done, wait) = oneshot::channel();
        self.tx
            .send(Msg::Flush(done))
            .map_err(|_| FlushError::Stopped)?;
        wait.await.map_err(|_| FlushError::Stopped)?
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ev(i: usize) -> AuthEventRecord {
        AuthEventRecord {
            request_id: format!("req_{i}"),
            org_id: "org_1".to_owned(),
            at: Utc::now(),
            key_id: None,
            code: "invalid_key".to_owned(),
            status: 401,
            method: "GET".to_owned(),
            path: "/v1/me".to_owned(),
            ip: "127.0.0.1".to_owned(),
            origin: None,
            app_id: None,
            user: None,
            required_scopes: Vec::new(),
            count: 1,
        }
    }

    #[test]
    fn pending_events_are_capped_dropping_the_oldest() {
        let mut p = Pending::new(3, 10);
        for i in 0..10 {
            p.event(ev(i));
        }
        assert_eq!(p.dropped, 7);
        let kept: Vec<String> = p
            .into_batch()
            .events
            .into_iter()
            .map(|e| e.request_id)
            .collect();
        assert_eq!(kept, ["req_7", "req_8", "req_9"]);
    }

    #[test]
    fn a_batch_is_written_in_parts_and_an_unwritten_part_goes_back() {
        let t = DateTime::from_timestamp(1_700_000_000, 0).unwrap_or_default();
        let mut p = Pending::new(20_000, 20_000);
        for i in 0..12_000 {
            p.add(&format!("pk_{i}"), "org_1", t, Outcome::Ok);
        }
        for i in 0..7_000 {
            p.add_scopes(
                &format!("pk_{i}"),
                "org_1",
                t,
                &ScopeHit::Endpoint(&["keys:read"]),
            );
            p.event(ev(i));
        }
        let mut batch = p.into_batch();
        let ids = |b: &UsageBatch| {
            let mut v: Vec<String> = b.deltas.iter().map(|d| d.key_id.clone()).collect();
            v.sort();
            v
        };
        let all = ids(&batch);
        let first = take_part(&mut batch, 5_000);
        assert_eq!(
            (
                first.deltas.len(),
                first.last_used.len(),
                first.scopes.len(),
                first.events.len()
            ),
            (5_000, 5_000, 5_000, 5_000)
        );
        assert_eq!(
            (batch.deltas.len(), batch.scopes.len(), batch.events.len()),
            (7_000, 2_000, 2_000)
        );
        // Not written: back with the rest, nothing lost or doubled.
        put_back(&mut batch, first);
        assert_eq!(ids(&batch), all);
        let mut parts = 0;
        let mut seen = Vec::new();
        while !batch.is_empty() {
            let part = take_part(&mut batch, 5_000);
            assert!(part.deltas.len() <= 5_000 && part.events.len() <= 5_000);
            seen.extend(part.deltas.into_iter().map(|d| d.key_id));
            parts += 1;
        }
        seen.sort();
        assert_eq!((parts, seen), (3, all));
    }

    /// A write that fails at its third part: the two parts before it stay written, and
    /// the failed part and the rest come back, so nothing is lost or counted twice.
    #[tokio::test]
    async fn a_failed_part_and_the_parts_after_it_come_back_and_earlier_parts_stay_written() {
        let t = DateTime::from_timestamp(1_700_000_000, 0).unwrap_or_default();
        let mut p = Pending::new(20_000, 20_000);
        for i in 0..12_000 {
            p.add(&format!("pk_{i}"), "org_1", t, Outcome::Ok);
        }
        let batch = p.into_batch();
        let mut all: Vec<String> = batch.deltas.iter().map(|d| d.key_id.clone()).collect();
        all.sort();
        let mut written: Vec<String> = Vec::new();
        let mut calls = 0;
        let (rest, result) = write_in_parts(batch, 5_000, |part| {
            calls += 1;
            let ok = calls < 3;
            if ok {
                written.extend(part.deltas.iter().map(|d| d.key_id.clone()));
            }
            async move {
                let r = if ok {
                    Ok(())
                } else {
                    Err(StoreError::unavailable(Outage::DiskFull, "test: disk full"))
                };
                (part, r)
            }
        })
        .await;
        assert!(result.is_err());
        assert_eq!(calls, 3);
        assert_eq!(written.len(), 10_000);
        assert_eq!(rest.deltas.len(), 2_000);
        written.extend(rest.deltas.into_iter().map(|d| d.key_id));
        written.sort();
        assert_eq!(written, all);
        // Everything written: nothing comes back.
        let mut p = Pending::new(20_000, 20_000);
        p.add("pk_a", "org_1", t, Outcome::Ok);
        let (rest, result) =
            write_in_parts(p.into_batch(), 5_000, |part| async move { (part, Ok(())) }).await;
        assert!(result.is_ok() && rest.is_empty());
    }

    #[test]
    fn pending_counters_are_capped_and_existing_rows_keep_counting() {
        let mut p = Pending::new(10, 2);
        let t = DateTime::from_timestamp(1_700_000_000, 0).unwrap_or_default();
        let next_minute = t + chrono::Duration::minutes(1);
        p.add("pk_a", "org_1", t, Outcome::Ok);
        p.add("pk_b", "org_1", t, Outcome::Unauthorized);
        // No room for a third row: not counted, and said so.
        p.add("pk_c", "org_1", t, Outcome::Ok);
        p.add("pk_a", "org_1", next_minute, Outcome::Ok);
        assert_eq!(p.uncounted, 2);
        // Rows already waiting keep counting.
        p.add("pk_a", "org_1", t, Outcome::Forbidden);
        let counts = p.counts();
        assert_eq!(
            counts,
            PendingCounts {
                requests: 3,
                counters: 2,
                last_used: 2,
                events: 0
            }
        );
        assert!(!p.keys.contains_key("pk_c"));
    }

    #[test]
    fn scope_hits_fold_per_key_day_and_scope_and_are_capped() {
        let mut p = Pending::new(10, 3);
        let t = DateTime::from_timestamp(1_700_000_000, 0).unwrap_or_default();
        let later = t + chrono::Duration::hours(1);
        let both: &'static [&'static str] = &["keys:read", "usage:read"];
        p.add_scopes("pk_a", "org_1", t, &ScopeHit::Endpoint(both));
        p.add_scopes("pk_a", "org_1", later, &ScopeHit::Endpoint(&["keys:read"]));
        p.add_scopes(
            "pk_b",
            "org_1",
            t,
            &ScopeHit::Listed(vec!["runs:read".into()]),
        );
        // A fourth (key, day, scope) has no room; existing ones keep counting.
        p.add_scopes(
            "pk_c",
            "org_1",
            t,
            &ScopeHit::Listed(vec!["runs:read".into()]),
        );
        assert_eq!(p.uncounted, 1);
        let mut rows: Vec<(String, String, u64, DateTime<Utc>)> = p
            .into_batch()
            .scopes
            .into_iter()
            .map(|d| (d.key_id, d.scope, d.requests, d.last_used_at))
            .collect();
        rows.sort();
        assert_eq!(
            rows,
            [
                ("pk_a".into(), "keys:read".into(), 2, later),
                ("pk_a".into(), "usage:read".into(), 1, t),
                ("pk_b".into(), "runs:read".into(), 1, t),
            ]
        );
    }

    #[test]
    fn a_failed_batch_folds_back_under_the_caps_while_new_hits_wait() {
        let t = DateTime::from_timestamp(1_700_000_000, 0).unwrap_or_default();
        let next_minute = t + chrono::Duration::minutes(1);
        let mut written = Pending::new(3, 4);
        written.add("pk_a", "org_1", t, Outcome::Ok);
        written.add("pk_b", "org_1", t, Outcome::Forbidden);
        written.add_scopes("pk_a", "org_1", t, &ScopeHit::Endpoint(&["keys:read"]));
        written.event(ev(1));
        // A write of `written` is in flight: its rows are held against the caps.
        let mut p = Pending::new(3, 4);
        p.held_rows = written.rows;
        p.held_scope_rows = written.scope_rows;
        p.add("pk_a", "org_1", t, Outcome::Ok);
        p.add("pk_a", "org_1", next_minute, Outcome::Unauthorized);
        // The two held rows and these two fill the cap of 4: no room for a fifth.
        p.add("pk_c", "org_1", t, Outcome::Ok);
        assert_eq!(p.uncounted, 1);
        p.add_scopes("pk_a", "org_1", t, &ScopeHit::Endpoint(&["keys:read"]));
        p.event(ev(2));
        p.event(ev(3));
        p.event(ev(4));
        // The write failed: everything is folded together, older events first, the
        // oldest dropped past the cap.
        p.absorb(written.into_batch());
        assert_eq!(
            p.counts(),
            PendingCounts {
                requests: 4,
                counters: 3,
                last_used: 2,
                events: 3
            }
        );
        assert_eq!(p.dropped, 1);
        assert_eq!((p.held_rows, p.held_scope_rows), (0, 0));
        // Rows of the current minute keep counting after the fold.
        p.add("pk_b", "org_1", t, Outcome::Ok);
        assert_eq!(p.counts().requests, 5);
        let batch = p.into_batch();
        let mut rows: Vec<(String, i64, u64, u64, u64)> = batch
            .deltas
            .iter()
            .map(|d| {
                (
                    d.key_id.clone(),
                    d.minute.timestamp(),
                    d.ok,
                    d.unauthorized,
                    d.forbidden,
                )
            })
            .collect();
        rows.sort();
        let (t0, t1) = (t.timestamp() / 60 * 60, next_minute.timestamp() / 60 * 60);
        assert_eq!(
            rows,
            [
                ("pk_a".into(), t0, 2, 0, 0),
                ("pk_a".into(), t1, 0, 1, 0),
                ("pk_b".into(), t0, 1, 0, 1),
            ]
        );
        assert_eq!(batch.scopes.len(), 1);
        assert_eq!(batch.scopes.first().map(|d| d.requests), Some(2));
        let events: Vec<String> = batch.events.into_iter().map(|e| e.request_id).collect();
        assert_eq!(events, ["req_2", "req_3", "req_4"]);
    }
}
