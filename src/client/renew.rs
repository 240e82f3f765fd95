//! Renewing a session mid-session (API.md §8, README "Sessions"): when the server refuses the
//! client's JWT with 401 (it expired, say), the client asks its token source for a new one
//! (for a profile, its `token_command` runs again) **once**, and sends the request again
//! with it. Requests refused at the same time share that one renewal; a renewal that failed
//! answers every request refused within [`FAILURE_REUSE`] with the same reason, so a burst
//! of refusals runs the command once, while a retry the user asks for later runs it again.
//!
//! A request refused with 401 did nothing on the server (authentication comes first), so
//! sending it again is safe for every method.

use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use crate::domain::key::Secret;

/// Where a new token comes from (for a profile, `token_command`). It may block: it runs on
/// a blocking thread. Its error is shown to the user, so it must never hold the token.
pub type TokenSource = Arc<dyn Fn() -> Result<Secret, String> + Send + Sync>;

/// How long a failed renewal answers later refusals without running the source again.
pub const FAILURE_REUSE: Duration = Duration::from_secs(2);

struct State {
    /// Bumped on every new token.
    generation: u64,
    token: Secret,
    /// The last renewal that failed: for which generation, when, and why.
    failed: Option<(u64, Instant, String)>,
}

/// The renewable token of one client (shared by its clones).
pub struct Renewal {
    source: TokenSource,
    state: Mutex<State>,
    /// Held while the source runs, so concurrent refusals wait for one renewal.
    running: tokio::sync::Mutex<()>,
}

impl std::fmt::Debug for Renewal {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Renewal")
            .field("generation", &self.lock().generation)
            .field("token", &"[redacted]")
            .finish_non_exhaustive()
    }
}

impl Renewal {
    /// Start with `first` (the token read at start) and renew from `source`.
    pub fn new(first: Secret, source: TokenSource) -> Renewal {
        Renewal {
            source,
            state: Mutex::new(State {
                generation: 0,
                token: first,
                failed: None,
            }),
            running: tokio::sync::Mutex::new(()),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// The token to send now, with its generation.
    pub fn current(&self) -> (u64, Secret) {
        let s = self.lock();
        (s.generation, s.token.clone())
    }

    /// The token of generation `refused` was refused: a newer token, from another request's
    /// renewal when there was one since, else from running the source once.
    pub async fn renew(&self, refused: u64) -> Result<(u64, Secret), String> {
        let _one_at_a_time = self.running.lock().await;
        {
            let s = self.lock();
            if s.generation != refused {
                return Ok((s.generation, s.token.clone()));
            }
            if let Some((g, at, why)) = &s.failed
                && *g == refused
                && at.elapsed() < FAILURE_REUSE
            {
                return Err(why.clone());
            }
        }
        let source = Arc::clone(&self.source);
        let got = tokio::task::spawn_blocking(move || source())
            .await
            .unwrap_or_else(|e| Err(format!("the token source did not finish: {e}")));
        let mut s = self.lock();
        match got {
            Ok(token) => {
                s.generation += 1;
                s.token = token;
                s.failed = None;
                Ok((s.generation, s.token.clone()))
            }
            Err(why) => {
                s.failed = Some((refused, Instant::now(), why.clone()));
                Err(why)
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicUsize, Ordering};

    fn counting(
        results: Vec<Result<&'static str, &'static str>>,
    ) -> (TokenSource, Arc<AtomicUsize>) {
        let runs = Arc::new(AtomicUsize::new(0));
        let r = Arc::clone(&runs);
        let source: TokenSource = Arc::new(move || {
            let n = r.fetch_add(1, Ordering::SeqCst);
            results[n.min(results.len() - 1)]
                .map(|t| Secret::new(t.to_owned()))
                .map_err(str::to_owned)
        });
        (source, runs)
    }

    #[tokio::test]
    async fn concurrent_refusals_share_one_renewal() {
        let (source, runs) = counting(vec![Ok("second")]);
        let r = Arc::new(Renewal::new(Secret::new("first".into()), source));
        let (g, t) = r.current();
        assert_eq!((g, t.expose()), (0, "first"));
        let tasks: Vec<_> = (0..8)
            .map(|_| {
                let r = Arc::clone(&r);
                tokio::spawn(async move { r.renew(0).await })
            })
            .collect();
        for t in tasks {
            let (g, tok) = t.await.expect("join").expect("renewed");
            assert_eq!((g, tok.expose()), (1, "second"));
        }
        assert_eq!(runs.load(Ordering::SeqCst), 1);
        assert_eq!(r.current().1.expose(), "second");
    }

    #[tokio::test]
    async fn a_failure_is_reused_briefly_then_the_source_runs_again() {
        let (source, runs) = counting(vec![Err("sso: not signed in"), Ok("fresh")]);
        let r = Renewal::new(Secret::new("first".into()), source);
        assert_eq!(r.renew(0).await.expect_err("fails"), "sso: not signed in");
        assert_eq!(r.renew(0).await.expect_err("reused"), "sso: not signed in");
        assert_eq!(runs.load(Ordering::SeqCst), 1);
        // Later (the user signed in again and retried): the source runs again.
        r.lock().failed.as_mut().expect("failed").1 = Instant::now() - FAILURE_REUSE;
        let (g, t) = r.renew(0).await.expect("renewed");
        assert_eq!((g, t.expose()), (1, "fresh"));
        assert_eq!(runs.load(Ordering::SeqCst), 2);
    }

    #[test]
    fn debug_never_shows_the_token() {
        let (source, _) = counting(vec![Ok("x")]);
        let r = Renewal::new(Secret::new("tok_very_secret".into()), source);
        assert!(!format!("{r:?}").contains("tok_very_secret"));
    }
}
