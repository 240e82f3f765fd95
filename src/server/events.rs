//! The auth-event bound: a flood of denied requests cannot push an organization's genuine
//! auth events out of retention, nor grow the database without end.
//!
//! Per (org, code, client address) and minute, the first [`EVENTS_PER_MINUTE`] events are
//! stored as they are. The rest of that minute is folded into ONE event: the first excess
//! request's, with `count` set to how many requests it stands for. The aggregate is released
//! when its minute is over (before any event of a later minute, so the log stays in time
//! order) or when everything is written at once (an explicit flush, shutdown).
//!
//! Memory is bounded: only the current minutes are tracked, at most [`MAX_TRACKED`] triples;
//! past that, events of new triples pass through unbounded (the pending-event cap and
//! retention still hold) and a warning says how many.
//!
//! No clock (times come from the events and the caller) and no I/O; only that warning is
//! logged. The usage flusher (`server::usage`) passes every event through it.

use std::collections::HashMap;

use chrono::{DateTime, Utc};

use crate::api::BucketSize;
use crate::storage::AuthEventRecord;

/// Events stored one by one per (org, code, client address) and minute.
pub const EVENTS_PER_MINUTE: u32 = 20;

/// Most (org, code, client address) triples tracked at once.
pub const MAX_TRACKED: usize = 100_000;

#[derive(Debug, Clone, PartialEq, Eq, Hash)]
struct Triple {
    minute: DateTime<Utc>,
    org_id: String,
    code: String,
    ip: String,
}

#[derive(Debug, Default)]
struct Slot {
    /// Events of this minute passed through one by one.
    stored: u32,
    /// The aggregate of the rest, not yet released.
    excess: Option<AuthEventRecord>,
}

/// The bound (see the module docs).
#[derive(Debug)]
pub struct EventBound {
    per_minute: u32,
    capacity: usize,
    slots: HashMap<Triple, Slot>,
    /// The newest minute seen; older minutes are closed when it moves on.
    latest: Option<DateTime<Utc>>,
    /// Events that passed through untracked since the last warning.
    untracked: u64,
}

impl Default for EventBound {
    fn default() -> Self {
        EventBound::new(EVENTS_PER_MINUTE, MAX_TRACKED)
    }
}

impl EventBound {
    /// Store `per_minute` events per triple and minute one by one; track at most `capacity`
    /// triples.
    pub fn new(per_minute: u32, capacity: usize) -> EventBound {
        EventBound {
            per_minute,
            capacity,
            slots: HashMap::new(),
            latest: None,
            untracked: 0,
        }
    }

    /// Pass one event through; returns what to store now, in order: aggregates of minutes
    /// this event closed, then the event itself unless it was folded into its minute's
    /// aggregate.
    pub fn admit(&mut self, e: AuthEventRecord) -> Vec<AuthEventRecord> {
        let minute = BucketSize::Minute.floor(e.at);
        let mut out = Vec::new();
        if self.latest.is_none_or(|l| minute > l) {
            self.close_before(minute, &mut out);
            self.latest = Some(minute);
        }
        let key = Triple {
            minute,
            org_id: e.org_id.clone(),
            code: e.code.clone(),
            ip: e.ip.clone(),
        };
        if !self.slots.contains_key(&key) && self.slots.len() >= self.capacity {
            self.untracked += 1;
            out.push(e);
            return out;
        }
        let slot = self.slots.entry(key).or_default();
        if slot.stored < self.per_minute {
            slot.stored += 1;
            out.push(e);
        } else {
            match &mut slot.excess {
                Some(agg) => agg.count = agg.count.saturating_add(e.count),
                None => slot.excess = Some(e),
            }
        }
        out
    }

    /// The aggregates of minutes before `now`'s, oldest first; those minutes are forgotten.
    /// The periodic flush calls this, so a quiet minute's aggregate is not held back.
    pub fn close(&mut self, now: DateTime<Utc>) -> Vec<AuthEventRecord> {
        if self.untracked > 0 {
            tracing::warn!(
                untracked = self.untracked,
                "auth events stored one by one: too many (org, code, client) in one minute to bound"
            );
            self.untracked = 0;
        }
        let mut out = Vec::new();
        self.close_before(BucketSize::Minute.floor(now), &mut out);
        out
    }

    /// Every aggregate, the current minutes' too, oldest first (to write everything: an
    /// explicit flush or shutdown). Their counters stay, so more excess in the same minute
    /// starts a new aggregate.
    pub fn release_all(&mut self) -> Vec<AuthEventRecord> {
        let mut open: Vec<AuthEventRecord> = self
            .slots
            .values_mut()
            .filter_map(|s| s.excess.take())
            .collect();
        open.sort_by_key(|e| e.at);
        open
    }

    fn close_before(&mut self, minute: DateTime<Utc>, out: &mut Vec<AuthEventRecord>) {
        let mut closed: Vec<AuthEventRecord> = Vec::new();
        self.slots.retain(|k, s| {
            if k.minute < minute {
                closed.extend(s.excess.take());
                false
            } else {
                true
            }
        });
        closed.sort_by_key(|e| e.at);
        out.append(&mut closed);
    }
}
#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    fn t0() -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 11, 23, 12, 0, 0)
            .single()
            .expect("time")
    }

    fn ev(i: u32, secs: i64, code: &str, ip: &str) -> AuthEventRecord {
        AuthEventRecord {
            request_id: format!("req_{i}"),
            org_id: "org_1".to_owned(),
            at: t0() + chrono::Duration::seconds(secs),
            key_id: None,
            code: code.to_owned(),
            status: 403,
            method: "GET".to_owned(),
            path: "/v1/me".to_owned(),
            ip: ip.to_owned(),
            origin: None,
            app_id: None,
            user: None,
            required_scopes: Vec::new(),
            count: 1,
        }
    }

    /// Feed events as the flusher does; return what would be stored, in order.
    fn feed(
        b: &mut EventBound,
        events: impl IntoIterator<Item = AuthEventRecord>,
    ) -> Vec<AuthEventRecord> {
        events.into_iter().flat_map(|e| b.admit(e)).collect()
    }

    #[test]
    fn the_excess_of_a_minute_is_one_event_with_its_count() {
        let mut b = EventBound::new(3, 100);
        let flood =
            (0..1000).map(|i| ev(i, i64::from(i % 50), "origin_not_allowed", "198.51.100.7"));
        let stored = feed(&mut b, flood);
        assert_eq!(stored.len(), 3);
        assert!(stored.iter().all(|e| e.count == 1));
        // The minute ends: its aggregate is released, once.
        let agg = b.close(t0() + chrono::Duration::seconds(60));
        assert_eq!(agg.len(), 1);
        assert_eq!(agg[0].count, 997);
        assert_eq!(agg[0].request_id, "req_3", "the first excess request");
        assert!(b.close(t0() + chrono::Duration::seconds(120)).is_empty());
        assert_eq!(b.slots.len(), 0, "closed minutes are forgotten");
    }

    #[test]
    fn codes_addresses_and_minutes_are_bounded_apart() {
        let mut b = EventBound::new(2, 100);
        let mut events = Vec::new();
        for i in 0..5 {
            events.push(ev(i, 1, "invalid_key", "198.51.100.7"));
            events.push(ev(100 + i, 1, "rate_limited", "198.51.100.7"));
            events.push(ev(200 + i, 1, "invalid_key", "203.0.113.1"));
        }
        let stored = feed(&mut b, events);
        assert_eq!(stored.len(), 6, "2 per triple");
        // A new minute: the old minute's 3 aggregates come first, then the new event.
        let next = feed(&mut b, [ev(999, 61, "invalid_key", "198.51.100.7")]);
        assert_eq!(next.len(), 4);
        assert!(next[..3].iter().all(|e| e.count == 3));
        assert_eq!(next[3].request_id, "req_999");
        assert_eq!(next[3].count, 1);
    }

    #[test]
    fn release_all_writes_open_aggregates_and_keeps_counting() {
        let mut b = EventBound::new(1, 100);
        feed(&mut b, (0..4).map(|i| ev(i, 5, "invalid_key", "a")));
        let open = b.release_all();
        assert_eq!(open.len(), 1);
        assert_eq!(open[0].count, 3);
        // Still the same minute: the first-N allowance is used up, so more excess is a new
        // aggregate, not new single events.
        let stored = feed(&mut b, (10..12).map(|i| ev(i, 6, "invalid_key", "a")));
        assert!(stored.is_empty());
        assert_eq!(b.close(t0() + chrono::Duration::seconds(60))[0].count, 2);
    }

    #[test]
    fn memory_is_bounded_and_overflow_passes_through() {
        let mut b = EventBound::new(1, 10);
        let stored = feed(
            &mut b,
            (0..50).map(|i| ev(i, 1, "invalid_key", &format!("ip{i}"))),
        );
        assert_eq!(stored.len(), 50);
        assert_eq!(b.slots.len(), 10);
        assert_eq!(b.untracked, 40);
        b.close(t0());
        assert_eq!(b.untracked, 0, "reported once");
    }
}
