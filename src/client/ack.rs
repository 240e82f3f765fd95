//! The acknowledgement after a disable, delete or rotate: poll `GET /v1/instances` until
//! every live instance has applied the change (API.md §7), for a bounded time, and say
//! exactly what is known: "applied on 3 of 3 instances (41 ms)", or "applied on 2 of 3
//! instances; 1 has not confirmed after 2 s".

use std::fmt;
use std::time::{Duration, Instant};

use super::{Client, ClientResult};

/// How long [`wait_applied`] waits for every instance.
pub const ACK_TIMEOUT: Duration = Duration::from_secs(2);
/// How often it asks.
const ACK_POLL: Duration = Duration::from_millis(25);

/// What the instances said about one change.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Ack {
    /// Live instances that have applied it.
    pub applied: usize,
    /// Live instances.
    pub total: usize,
    /// From the change's answer until all had applied it, or until the wait ended.
    pub elapsed: Duration,
    /// How long it waited when not all confirmed.
    pub waited: Duration,
}

impl Ack {
    /// Every live instance has applied the change.
    pub fn complete(&self) -> bool {
        self.applied == self.total
    }
}

fn plural(n: usize) -> &'static str {
    if n == 1 { "instance" } else { "instances" }
}

impl fmt::Display for Ack {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.complete() {
            write!(
                f,
                "applied on {} of {} {} ({} ms)",
                self.applied,
                self.total,
                plural(self.total),
                self.elapsed.as_millis()
            )
        } else {
            let missing = self.total - self.applied;
            let secs = self.waited.as_secs_f64();
            write!(
                f,
                "applied on {} of {} {}; {} {} not confirmed after {} s",
                self.applied,
                self.total,
                plural(self.total),
                missing,
                if missing == 1 { "has" } else { "have" },
                if secs.fract() == 0.0 {
                    format!("{secs:.0}")
                } else {
                    format!("{secs:.1}")
                }
            )
        }
    }
}

/// The words for what asking the instances gave: "applied on 3 of 3 instances (41 ms)", or
/// that they could not be asked.
pub fn describe(result: &Result<Ack, String>) -> String {
    match result {
        Ok(ack) => ack.to_string(),
        Err(e) => format!("could not ask the instances ({e})"),
    }
}

/// Ask `GET /v1/instances` until every live instance has applied `change` or `timeout`
/// passes; `started` is when the change's answer arrived.
pub async fn wait_applied(
    client: &Client,
    change: i64,
    started: Instant,
    timeout: Duration,
) -> ClientResult<Ack> {
    loop {
        let list = client.instances().await?;
        let total = list.data.len();
        let applied = list
            .data
            .iter()
            .filter(|i| i.applied_change >= change)
            .count();
        let elapsed = started.elapsed();
        if applied == total || elapsed >= timeout {
            return Ok(Ack {
                applied,
                total,
                elapsed,
                waited: timeout,
            });
        }
        tokio::time::sleep(ACK_POLL).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_message_says_exactly_what_is_known() {
        let all = Ack {
            applied: 3,
            total: 3,
            elapsed: Duration::from_millis(41),
            waited: ACK_TIMEOUT,
        };
        assert_eq!(all.to_string(), "applied on 3 of 3 instances (41 ms)");
        let some = Ack { applied: 2, ..all };
        assert_eq!(
            some.to_string(),
            "applied on 2 of 3 instances; 1 has not confirmed after 2 s"
        );
        let one = Ack {
            applied: 1,
            total: 1,
            ..all
        };
        assert_eq!(one.to_string(), "applied on 1 of 1 instance (41 ms)");
    }
}
