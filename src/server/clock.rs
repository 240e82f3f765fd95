//! Time source of the server. Production uses the system clock; tests drive a
//! [`ManualClock`] to cross expiry and grace periods without sleeping.

use std::sync::Mutex;

use chrono::{DateTime, Utc};

/// Where `now` comes from.
pub trait Clock: Send + Sync + 'static {
    /// The current time, at millisecond precision (what the database stores).
    fn now(&self) -> DateTime<Utc>;
}

fn millis(t: DateTime<Utc>) -> DateTime<Utc> {
    DateTime::from_timestamp_millis(t.timestamp_millis()).unwrap_or(t)
}

/// The system clock.
#[derive(Debug, Default, Clone, Copy)]
pub struct SystemClock;

impl Clock for SystemClock {
    /// `millis(Utc::now())`, without chrono's two day-number-to-date conversions: a request
    /// asks for the time several times, and the date changes once a day.
    fn now(&self) -> DateTime<Utc> {
        let ms = match std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH) {
            Ok(d) => i64::try_from(d.as_millis()).unwrap_or(i64::MAX),
            Err(e) => i64::try_from(e.duration().as_millis()).map_or(i64::MIN, |m| -m),
        };
        from_unix_millis(ms)
    }
}

/// The time `ms` milliseconds from the Unix epoch; the date of the day last asked for is
/// kept per thread.
fn from_unix_millis(ms: i64) -> DateTime<Utc> {
    use std::cell::Cell;

    use chrono::{NaiveDate, NaiveDateTime, NaiveTime};
    const DAY_MS: i64 = 86_400_000;
    /// Days from 0001-01-01 (chrono's day 1) to 1970-01-01.
    const EPOCH_FROM_CE: i64 = 719_163;
    thread_local! {
        static DAY: Cell<Option<(i64, NaiveDate)>> = const { Cell::new(None) };
    }
    let (day, in_day) = (ms.div_euclid(DAY_MS), ms.rem_euclid(DAY_MS));
    let date = DAY.with(|cell| match cell.get() {
        Some((d, date)) if d == day => Some(date),
        _ => {
            let date = i32::try_from(day + EPOCH_FROM_CE)
                .ok()
                .and_then(NaiveDate::from_num_days_from_ce_opt)?;
            cell.set(Some((day, date)));
            Some(date)
        }
    });
    // `in_day` is below a day's milliseconds, so both fit.
    let secs = u32::try_from(in_day / 1000).unwrap_or(0);
    let nanos = u32::try_from(in_day % 1000).unwrap_or(0) * 1_000_000;
    match (
        date,
        NaiveTime::from_num_seconds_from_midnight_opt(secs, nanos),
    ) {
        (Some(date), Some(time)) => NaiveDateTime::new(date, time).and_utc(),
        _ => DateTime::from_timestamp_millis(ms).unwrap_or_default(),
    }
}

/// A clock that moves only when told to.
#[derive(Debug)]
pub struct ManualClock(Mutex<DateTime<Utc>>);

impl ManualClock {
    /// Start at `t`.
    pub fn new(t: DateTime<Utc>) -> ManualClock {
        ManualClock(Mutex::new(millis(t)))
    }

    /// Move forward.
    pub fn advance(&self, d: chrono::Duration) {
        let mut t = self
            .0
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        *t += d;
    }
}

impl Clock for ManualClock {
    fn now(&self) -> DateTime<Utc> {
        *self
            .0
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn milliseconds_become_the_times_chrono_makes_of_them() {
        let mut x: u64 = 0x853C_49E6_748F_EA9B;
        let mut next = || {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x
        };
        // Around now (the same day again and again, then the next), far away, and negative.
        let now = Utc::now().timestamp_millis();
        for i in 0..20_000i64 {
            let ms = match i % 4 {
                0 => now + (next() % 1_000) as i64,
                1 => now + (next() % (3 * 86_400_000)) as i64,
                2 => (next() % 400_000_000_000_000) as i64 - 200_000_000_000_000,
                _ => -((next() % 100_000_000_000) as i64),
            };
            let want = DateTime::from_timestamp_millis(ms).unwrap_or_default();
            assert_eq!(from_unix_millis(ms), want, "{ms}");
        }
        let t = SystemClock.now();
        assert_eq!(t, millis(t));
        assert!((Utc::now() - t).num_seconds().abs() < 5);
    }
}
