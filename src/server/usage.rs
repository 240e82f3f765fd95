//! Batched usage writes. Requests hand counters, last-used times and auth events to an
//! unbounded channel (never a lock a writer holds, never a database write inline); one task
//! folds them and writes a batch every `interval` (at least once a second). A failed write
//! keeps the batch and retries it with the next one, so nothing is lost while the database
//! is down. [`UsageRecorder::shutdown`] drains and writes everything before `serve` returns.

use std::collections::{HashMap, VecDeque};
use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use tokio::sync::{mpsc, oneshot};

use super::clock::Clock;
use super::events::EventBound;
use crate::api::BucketSize;
use crate::storage::{AuthEventRecord, KeyStore, UsageBatch, UsageDelta};

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

enum Msg {
    Hit {
        key_id: String,
        org_id: String,
        at: DateTime<Utc>,
        outcome: Outcome,
    },
    Event(AuthEventRecord),
    Flush(oneshot::Sender<Result<(), String>>),
}

/// Handle for recording usage. Cheap to clone.
#[derive(Clone)]
pub struct UsageRecorder {
    tx: mpsc::UnboundedSender<Msg>,
}

impl std::fmt::Debug for UsageRecorder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("UsageRecorder")
    }
}

/// Most auth events held while the database does not take them; past it the oldest are
/// dropped (and the number logged), so an outage under attack cannot exhaust memory.
pub const MAX_PENDING_EVENTS: usize = 100_000;

struct Pending {
    counts: HashMap<(String, DateTime<Utc>), UsageDelta>,
    last_used: HashMap<String, DateTime<Utc>>,
    events: VecDeque<AuthEventRecord>,
    max_events: usize,
    /// Events dropped since the last warning.
    dropped: u64,
}

impl Pending {
    fn new(max_events: usize) -> Pending {
        Pending {
            counts: HashMap::new(),
            last_used: HashMap::new(),
            events: VecDeque::new(),
            max_events,
            dropped: 0,
        }
    }

    fn is_empty(&self) -> bool {
        self.counts.is_empty() && self.last_used.is_empty() && self.events.is_empty()
    }

    fn event(&mut self, e: AuthEventRecord) {
        while self.events.len() >= self.max_events.max(1) {
            self.events.pop_front();
            self.dropped += 1;
        }
        self.events.push_back(e);
    }

    /// Forget what was written, keeping the cap and the dropped count.
    fn clear(&mut self) {
        self.counts.clear();
        self.last_used.clear();
        self.events.clear();
    }

    fn add(&mut self, key_id: String, org_id: String, at: DateTime<Utc>, outcome: Outcome) {
        let minute = BucketSize::Minute.floor(at);
        let last = self.last_used.entry(key_id.clone()).or_insert(at);
        if *last < at {
            *last = at;
        }
        let d = self
            .counts
            .entry((key_id.clone(), minute))
            .or_insert_with(|| UsageDelta {
                key_id,
                org_id,
                minute,
                ok: 0,
                unauthorized: 0,
                forbidden: 0,
                rate_limited: 0,
            });
        match outcome {
            Outcome::Ok => d.ok += 1,
            Outcome::Unauthorized => d.unauthorized += 1,
            Outcome::Forbidden => d.forbidden += 1,
            Outcome::RateLimited => d.rate_limited += 1,
        }
    }

    fn batch(&self) -> UsageBatch {
        UsageBatch {
            deltas: self.counts.values().cloned().collect(),
            last_used: self
                .last_used
                .iter()
                .map(|(k, t)| (k.clone(), *t))
                .collect(),
            events: self.events.iter().cloned().collect(),
        }
    }
}

struct Flusher {
    store: Arc<dyn KeyStore>,
    clock: Arc<dyn Clock>,
    pending: Pending,
    /// Auth events pass through it: per (org, code, client) and minute the excess is one.
    bound: EventBound,
    last_prune: Option<DateTime<Utc>>,
}

impl Flusher {
    async fn flush(&mut self) -> Result<(), String> {
        for e in self.bound.close(self.clock.now()) {
            self.pending.event(e);
        }
        if self.pending.dropped > 0 {
            tracing::warn!(
                dropped = self.pending.dropped,
                kept = self.pending.events.len(),
                "auth events dropped (oldest first): too many waiting for the database"
            );
            self.pending.dropped = 0;
        }
        if !self.pending.is_empty() {
            let batch = self.pending.batch();
            match self.store.record_usage(&batch).await {
                Ok(()) => self.pending.clear(),
                Err(e) => {
                    tracing::warn!(error = %e, counters = batch.deltas.len(), events = batch.events.len(), "usage flush failed; keeping the batch to retry");
                    return Err(e.to_string());
                }
            }
        }
        let now = self.clock.now();
        if self
            .last_prune
            .is_none_or(|t| now - t > chrono::Duration::minutes(5))
        {
            self.last_prune = Some(now);
            if let Err(e) = self.store.prune(now).await {
                tracing::warn!(error = %e, "usage prune failed");
            }
        }
        Ok(())
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
        let mut flusher = Flusher {
            store,
            clock,
            pending: Pending::new(MAX_PENDING_EVENTS),
            bound: EventBound::default(),
            last_prune: None,
        };
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(interval);
            tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                tokio::select! {
                    msg = rx.recv() => match msg {
                        Some(Msg::Hit { key_id, org_id, at, outcome }) => {
                            flusher.pending.add(key_id, org_id, at, outcome);
                        }
                        Some(Msg::Event(e)) => {
                            for e in flusher.bound.admit(e) {
                                flusher.pending.event(e);
                            }
                        }
                        Some(Msg::Flush(done)) => {
                            for e in flusher.bound.release_all() {
                                flusher.pending.event(e);
                            }
                            let r = flusher.flush().await;
                            let _ = done.send(r);
                        }
                        None => {
                            for e in flusher.bound.release_all() {
                                flusher.pending.event(e);
                            }
                            let _ = flusher.flush().await;
                            break;
                        }
                    },
                    _ = tick.tick() => {
                        let _ = flusher.flush().await;
                    }
                }
            }
        });
        UsageRecorder { tx }
    }

    /// Count one request for a key.
    pub fn hit(&self, key_id: &str, org_id: &str, at: DateTime<Utc>, outcome: Outcome) {
        let _ = self.tx.send(Msg::Hit {
            key_id: key_id.to_owned(),
            org_id: org_id.to_owned(),
            at,
            outcome,
        });
    }

    /// Record a denied decision.
    pub fn event(&self, e: AuthEventRecord) {
        let _ = self.tx.send(Msg::Event(e));
    }

    /// Write everything received so far. Messages sent before this call are included.
    pub async fn flush(&self) -> Result<(), String> {
        let (done, wait) = oneshot::channel();
        self.tx
            .send(Msg::Flush(done))
            .map_err(|_| "usage recorder stopped".to_owned())?;
        wait.await
            .map_err(|_| "usage recorder stopped".to_owned())?
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
            count: 1,
        }
    }

    #[test]
    fn pending_events_are_capped_dropping_the_oldest() {
        let mut p = Pending::new(3);
        for i in 0..10 {
            p.event(ev(i));
        }
        let kept: Vec<String> = p.batch().events.into_iter().map(|e| e.request_id).collect();
        assert_eq!(kept, ["req_7", "req_8", "req_9"]);
        assert_eq!(p.dropped, 7);
        p.clear();
        assert!(p.is_empty());
        assert_eq!(p.max_events, 3);
    }
}
