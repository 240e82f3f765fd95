//! The JWKS over HTTP: a tiny server on 127.0.0.1:0 that counts fetches and can be made to
//! fail (500, garbage, a set without usable keys, a dropped connection, a hung response),
//! driven on a manual clock.

use std::io::Write as _;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use axum::Router;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use chrono::Duration;
use keyconsole::domain::decision::Step;
use keyconsole::server::jwks::Refresh;
use keyconsole::server::session::{SessionConfigError, SessionSettings, SessionVerifier};
use serde_json::{Value, json};

use crate::common::{clock, flags, start, verifier};
use crate::keys::{TestKey, claims, jwks};

#[derive(Clone)]
enum Mode {
    Serve(Value),
    Status(u16),
    Garbage,
    Hang,
}

struct Shared {
    mode: Mutex<Mode>,
    fetches: AtomicUsize,
}

/// The in-test identity provider's JWKS endpoint.
pub struct Idp {
    pub url: String,
    shared: Arc<Shared>,
    server: tokio::task::JoinHandle<()>,
}

async fn jwks_route(State(s): State<Arc<Shared>>) -> Response {
    s.fetches.fetch_add(1, Ordering::SeqCst);
    let mode = s.mode.lock().expect("lock").clone();
    match mode {
        Mode::Serve(doc) => axum::Json(doc).into_response(),
        Mode::Status(code) => StatusCode::from_u16(code)
            .unwrap_or(StatusCode::INTERNAL_SERVER_ERROR)
            .into_response(),
        Mode::Garbage => "<html>maintenance</html>".into_response(),
        Mode::Hang => std::future::pending::<Response>().await,
    }
}

impl Idp {
    pub async fn start(doc: Value) -> Idp {
        let shared = Arc::new(Shared {
            mode: Mutex::new(Mode::Serve(doc)),
            fetches: AtomicUsize::new(0),
        });
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let addr = listener.local_addr().expect("addr");
        let app = Router::new()
            .route("/.well-known/jwks.json", get(jwks_route))
            .with_state(Arc::clone(&shared));
        let server = tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        Idp {
            url: format!("http://{addr}/.well-known/jwks.json"),
            shared,
            server,
        }
    }

    fn set(&self, mode: Mode) {
        *self.shared.mode.lock().expect("lock") = mode;
    }

    /// Serve this set from now on.
    pub fn set_keys(&self, doc: Value) {
        self.set(Mode::Serve(doc));
    }

    pub fn fetches(&self) -> usize {
        self.shared.fetches.load(Ordering::SeqCst)
    }
}

impl Drop for Idp {
    fn drop(&mut self) {
        self.server.abort();
    }
}

#[tokio::test]
async fn an_unknown_kid_fetches_the_set_again() {
    let (k1, k2) = (TestKey::p256("k1"), TestKey::ed25519("k2"));
    let idp = Idp::start(jwks(&[&k1])).await;
    let clock = clock();
    let v = verifier(&flags(&idp.url), &clock).await;
    assert_eq!(idp.fetches(), 1, "loaded once at start");
    // The provider rotates in a new key; 30 s later a token signed by it arrives.
    idp.set(Mode::Serve(jwks(&[&k1, &k2])));
    clock.advance(Duration::seconds(30));
    let now = start() + Duration::seconds(30);
    let t = v
        .verify(&k2.token(&claims(now)), now)
        .await
        .expect("new key found");
    assert_eq!(t.kid, "k2");
    assert_eq!(idp.fetches(), 2);
    // Known kids never fetch.
    for _ in 0..20 {
        let c = claims(now);
        v.verify(&k1.token(&c), now).await.expect("k1");
        v.verify(&k2.token(&c), now).await.expect("k2");
    }
    assert_eq!(idp.fetches(), 2);
}

#[tokio::test]
async fn a_flood_of_random_kids_fetches_at_most_once_per_thirty_seconds() {
    let k1 = TestKey::p256("k1");
    let idp = Idp::start(jwks(&[&k1])).await;
    let clock = clock();
    let v = Arc::new(verifier(&flags(&idp.url), &clock).await);
    let c = claims(start());
    // Within 30 s of the load: no fetch at all.
    let forged = |i: usize| {
        let signer = TestKey::ed25519(&format!("random-{i}"));
        signer.token(&c)
    };
    let tokens: Vec<String> = (0..200).map(forged).collect();
    for t in &tokens[..20] {
        let f = v.verify(t, start()).await.expect_err("unknown kid");
        assert_eq!(f.step, Step::Signature);
    }
    assert_eq!(idp.fetches(), 1);
    // After the cooldown, 200 concurrent requests with random kids: one fetch between them.
    clock.advance(Duration::seconds(31));
    let now = start() + Duration::seconds(31);
    let mut tasks = Vec::new();
    for t in tokens.clone() {
        let v = Arc::clone(&v);
        tasks.push(tokio::spawn(
            async move { v.verify(&t, now).await.is_err() },
        ));
    }
    for task in tasks {
        assert!(task.await.expect("task"), "every random kid is refused");
    }
    assert_eq!(idp.fetches(), 2);
    // And none again until 30 s after that fetch.
    clock.advance(Duration::seconds(29));
    for t in &tokens {
        assert!(v.verify(t, now + Duration::seconds(29)).await.is_err());
    }
    assert_eq!(idp.fetches(), 2);
    clock.advance(Duration::seconds(1));
    assert!(
        v.verify(&tokens[0], now + Duration::seconds(30))
            .await
            .is_err()
    );
    assert_eq!(idp.fetches(), 3);
    // The real key kept working throughout.
    assert!(v.verify(&k1.token(&c), now).await.is_ok());
}

#[tokio::test]
async fn the_set_is_refreshed_every_ten_minutes() {
    let (k1, k3) = (TestKey::rsa("k1"), TestKey::ed25519("k3"));
    let idp = Idp::start(jwks(&[&k1])).await;
    let clock = clock();
    let v = verifier(&flags(&idp.url), &clock).await;
    let old = k1.token(&claims(start()));
    v.verify(&old, start()).await.expect("k1");
    idp.set(Mode::Serve(jwks(&[&k3])));
    clock.advance(Duration::seconds(599));
    assert_eq!(v.jwks().refresh_if_due().await, Refresh::NotDue);
    assert_eq!(idp.fetches(), 1);
    clock.advance(Duration::seconds(1));
    assert_eq!(
        v.jwks().refresh_if_due().await,
        Refresh::Done { changed: true }
    );
    assert_eq!(idp.fetches(), 2);
    assert_eq!(v.jwks().current().kids(), ["k3"]);
    let now = start() + Duration::seconds(600);
    // The new key works without another fetch; the retired key's token, cached or not, no
    // longer does (and, within 30 s of the refresh, costs no fetch either).
    v.verify(&k3.token(&claims(now)), now).await.expect("k3");
    let f = v.verify(&old, now).await.expect_err("k1 retired");
    assert_eq!(f.step, Step::Signature);
    assert_eq!(idp.fetches(), 2);
    // Unchanged sets are fetched on schedule too.
    clock.advance(Duration::minutes(10));
    assert_eq!(
        v.jwks().refresh_if_due().await,
        Refresh::Done { changed: false }
    );
    assert_eq!(idp.fetches(), 3);
}

#[tokio::test]
async fn a_failed_fetch_keeps_the_last_good_set() {
    let k1 = TestKey::ed25519("k1");
    let idp = Idp::start(jwks(&[&k1])).await;
    let clock = clock();
    let v = verifier(&flags(&idp.url), &clock).await;
    let mut now = start();
    let failures = [
        Mode::Status(500),
        Mode::Status(404),
        Mode::Garbage,
        Mode::Serve(json!({"keys": [{"kty": "oct", "kid": "k1", "k": "c2VjcmV0"}]})),
        Mode::Serve(json!({"keys": []})),
        Mode::Hang,
    ];
    for (i, mode) in failures.into_iter().enumerate() {
        idp.set(mode);
        clock.advance(Duration::minutes(10));
        now += Duration::minutes(10);
        let r = v.jwks().refresh_if_due().await;
        assert!(matches!(r, Refresh::Failed(_)), "attempt {i}: {r:?}");
        assert_eq!(idp.fetches(), i + 2);
        assert_eq!(v.jwks().current().kids(), ["k1"]);
        // A fresh token (not cached) still verifies with the old set.
        let mut c = claims(now);
        c["jti"] = json!(format!("t{i}"));
        v.verify(&k1.token(&c), now)
            .await
            .expect("old set still in use");
        assert_eq!(v.jwks().last_success(), start());
    }
    // The server goes away entirely (connection refused).
    let url = idp.url.clone();
    drop(idp);
    tokio::task::yield_now().await;
    clock.advance(Duration::minutes(10));
    now += Duration::minutes(10);
    let r = v.jwks().refresh_if_due().await;
    assert!(matches!(r, Refresh::Failed(_)), "{r:?} ({url})");
    let mut c = claims(now);
    c["jti"] = json!("after-the-server-died");
    v.verify(&k1.token(&c), now)
        .await
        .expect("old set still in use");
}

#[tokio::test]
async fn a_connection_dropped_mid_response_keeps_the_last_good_set() {
    // A raw listener that answers a truncated body and closes: a killed connection.
    let k1 = TestKey::p256("k1");
    let body = jwks(&[&k1]).to_string();
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let addr = listener.local_addr().expect("addr");
    let served = Arc::new(AtomicUsize::new(0));
    let count = Arc::clone(&served);
    std::thread::spawn(move || {
        for (i, stream) in listener.incoming().enumerate() {
            let Ok(mut s) = stream else { break };
            let mut buf = [0u8; 4096];
            let _ = std::io::Read::read(&mut s, &mut buf);
            count.fetch_add(1, Ordering::SeqCst);
            let head = format!(
                "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: {}\r\n\r\n",
                body.len()
            );
            let _ = s.write_all(head.as_bytes());
            // First the whole set (the start-up load), then half of it, then hang up.
            let part = if i == 0 {
                &body[..]
            } else {
                &body[..body.len() / 2]
            };
            let _ = s.write_all(part.as_bytes());
            let _ = s.flush();
            drop(s);
        }
    });
    let url = format!("http://{addr}/jwks");
    let clock = clock();
    let v = verifier(&flags(&url), &clock).await;
    clock.advance(Duration::minutes(10));
    let r = v.jwks().refresh_if_due().await;
    assert!(matches!(r, Refresh::Failed(_)), "{r:?}");
    assert_eq!(served.load(Ordering::SeqCst), 2);
    let now = start() + Duration::minutes(10);
    v.verify(&k1.token(&claims(now)), now)
        .await
        .expect("old set");
}

#[tokio::test]
async fn failures_are_logged_once_per_attempt_and_never_with_the_token() {
    let k1 = TestKey::p256("k1");
    let idp = Idp::start(jwks(&[&k1])).await;
    let clock = clock();
    let v = verifier(&flags(&idp.url), &clock).await;
    let log = global_log();
    idp.set(Mode::Status(503));
    clock.advance(Duration::seconds(31));
    let now = start() + Duration::seconds(31);
    let stranger = TestKey::ed25519("kid-from-a-stranger");
    let t = stranger.token(&claims(now));
    for _ in 0..5 {
        assert!(v.verify(&t, now).await.is_err());
    }
    assert_eq!(idp.fetches(), 2, "one attempt for five requests");
    let text = String::from_utf8(log.lock().expect("lock").clone()).expect("utf8");
    // Other tests log too: this test's lines are the ones naming its server.
    let warnings: Vec<&str> = text
        .lines()
        .filter(|l| l.contains("WARN") && l.contains(&idp.url))
        .collect();
    assert_eq!(warnings.len(), 1, "{text}");
    assert!(
        warnings[0].contains("503") && warnings[0].contains(&idp.url),
        "{text}"
    );
    let sig = t.rsplit('.').next().expect("sig");
    assert!(!text.contains(&t) && !text.contains(sig), "{text}");
    assert!(
        !text.contains("kid-from-a-stranger"),
        "a token's kid is not logged"
    );
}

/// One process-wide subscriber writing to memory. A scoped (`set_default`) subscriber can
/// miss events when other test threads hit the same call sites first.
fn global_log() -> Arc<Mutex<Vec<u8>>> {
    static LOG: std::sync::OnceLock<Arc<Mutex<Vec<u8>>>> = std::sync::OnceLock::new();
    Arc::clone(LOG.get_or_init(|| {
        let log = Arc::new(Mutex::new(Vec::new()));
        let sink = Arc::clone(&log);
        let subscriber = tracing_subscriber::fmt()
            .with_writer(move || LogWriter(Arc::clone(&sink)))
            .with_ansi(false)
            .with_max_level(tracing::Level::DEBUG)
            .finish();
        tracing::subscriber::set_global_default(subscriber).expect("one global subscriber");
        log
    }))
}

struct LogWriter(Arc<Mutex<Vec<u8>>>);

impl std::io::Write for LogWriter {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().expect("lock").extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

#[tokio::test]
async fn start_up_fails_clearly_when_the_url_is_wrong_or_down() {
    let k1 = TestKey::p256("k1");
    let idp = Idp::start(jwks(&[&k1])).await;
    let clock = clock();
    let load = |url: String| {
        let clock = Arc::clone(&clock);
        async move {
            SessionSettings::load(
                &flags(&url),
                clock.as_ref(),
                std::time::Duration::from_millis(300),
            )
            .await
        }
    };
    idp.set(Mode::Status(404));
    let r = load(idp.url.clone()).await;
    assert!(
        matches!(&r, Err(SessionConfigError::Usage(m)) if m.contains("404")),
        "{r:?}"
    );
    idp.set(Mode::Status(502));
    let r = load(idp.url.clone()).await;
    assert!(
        matches!(&r, Err(SessionConfigError::Unreachable(m)) if m.contains("502")),
        "{r:?}"
    );
    idp.set(Mode::Hang);
    let r = load(idp.url.clone()).await;
    assert!(
        matches!(&r, Err(SessionConfigError::Unreachable(m)) if m.contains("timed out")),
        "{r:?}"
    );
    idp.set(Mode::Garbage);
    let r = load(idp.url.clone()).await;
    assert!(
        matches!(&r, Err(SessionConfigError::Usage(m)) if m.contains("not JSON")),
        "{r:?}"
    );
    let dead = idp.url.clone();
    drop(idp);
    tokio::task::yield_now().await;
    let r = load(dead).await;
    assert!(
        matches!(&r, Err(SessionConfigError::Unreachable(m)) if m.contains("cannot connect")),
        "{r:?}"
    );
}

#[tokio::test]
async fn the_background_task_refreshes_on_schedule() {
    let (k1, k2) = (TestKey::p256("k1"), TestKey::p256("k2"));
    let idp = Idp::start(jwks(&[&k1])).await;
    let clock = clock();
    let v: SessionVerifier = verifier(&flags(&idp.url), &clock).await;
    let mut attempts = v.jwks().attempts();
    // Ticks every 10 ms of real time; the manual clock decides when a refresh is due.
    let task = v
        .jwks()
        .spawn_refresher(std::time::Duration::from_millis(10));
    idp.set(Mode::Serve(jwks(&[&k2])));
    clock.advance(Duration::minutes(10));
    tokio::time::timeout(std::time::Duration::from_secs(20), attempts.changed())
        .await
        .expect("a refresh ran")
        .expect("open");
    assert_eq!(v.jwks().current().kids(), ["k2"]);
    assert_eq!(idp.fetches(), 2);
    // Not due again for ten minutes: further ticks fetch nothing.
    let before = *attempts.borrow_and_update();
    drop(v);
    tokio::time::timeout(std::time::Duration::from_secs(20), task)
        .await
        .expect("the task ends with the verifier")
        .expect("task");
    assert_eq!(*attempts.borrow(), before);
    assert_eq!(idp.fetches(), 2);
}
