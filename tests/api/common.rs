//! A real key service on 127.0.0.1:0 with a temporary database and a manual clock, driven
//! through our own `client::Client`.
//!
//! The database is a temporary SQLite file, or, with `KEYCONSOLE_TEST_API_BACKEND=postgres`,
//! a fresh PostgreSQL database per server on `KEYCONSOLE_TEST_POSTGRES_URL` (dropped after):
//! `.ci/run` runs this suite both ways, so every endpoint is checked on both backends.

use std::sync::Arc;

use chrono::Utc;
use keyconsole::api::{CreateKeyRequest, CreateKeyResponse, OrgCreated};
use keyconsole::client::Client;
use keyconsole::domain::key::{Env, Secret};
use keyconsole::server::clock::{Clock, ManualClock};
use keyconsole::server::{AppState, ServeError, ServerConfig, bootstrap, serve};
use keyconsole::storage::{self, IfMissing, KeyStore, Retention};
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

use crate::support::pg::{self, TestDb};

/// The variable that switches the servers of this suite to PostgreSQL.
pub const BACKEND_VAR: &str = "KEYCONSOLE_TEST_API_BACKEND";

/// Whether the servers of this run use PostgreSQL (`KEYCONSOLE_TEST_API_BACKEND=postgres`).
/// Any other value than `sqlite`, `postgres` or nothing fails, so a typo cannot quietly
/// run the suite on SQLite.
pub fn on_postgres() -> bool {
    match std::env::var(BACKEND_VAR).as_deref() {
        Ok("postgres") => true,
        Ok("sqlite") | Ok("") | Err(_) => false,
        Ok(other) => panic!("{BACKEND_VAR}={other}: use sqlite or postgres"),
    }
}

/// What a restart on the same database needs (from [`TestServer::stop`]).
pub struct Reuse {
    pub dir: Arc<tempfile::TempDir>,
    pub owner: OrgCreated,
    db: Option<Arc<TestDb>>,
}

/// A new database for a server of this suite: its URL, and the PostgreSQL database to keep
/// alive (dropped with the last server using it).
async fn new_database(dir: &tempfile::TempDir) -> (String, Option<Arc<TestDb>>) {
    if on_postgres() {
        let server = std::env::var(pg::VAR)
            .unwrap_or_else(|_| panic!("{BACKEND_VAR}=postgres needs {}", pg::VAR));
        let db = TestDb::create(&server).await;
        (db.url.clone(), Some(Arc::new(db)))
    } else {
        (
            format!("sqlite://{}", dir.path().join("keys.db").display()),
            None,
        )
    }
}

pub struct TestServer {
    pub url: String,
    pub state: AppState,
    pub clock: Arc<ManualClock>,
    pub owner: OrgCreated,
    pub client: Client,
    pub dir: Arc<tempfile::TempDir>,
    /// The PostgreSQL database, on that backend.
    pub db: Option<Arc<TestDb>>,
    shutdown: Option<oneshot::Sender<()>>,
    handle: Option<JoinHandle<Result<(), ServeError>>>,
}

/// Everything a test's database holds, as text: SQLite's files in `dir`, or a data dump of
/// the PostgreSQL database `db` (`pg_dump`), so "nothing stored holds X" holds on both.
pub fn database_text(dir: &tempfile::TempDir, db: Option<&TestDb>) -> String {
    match db {
        Some(db) => {
            let out = std::process::Command::new("pg_dump")
                .args(["--data-only", &db.url])
                .output()
                .expect("run pg_dump");
            assert!(
                out.status.success(),
                "pg_dump: {}",
                String::from_utf8_lossy(&out.stderr)
            );
            String::from_utf8_lossy(&out.stdout).into_owned()
        }
        None => {
            let mut all = Vec::new();
            for e in std::fs::read_dir(dir.path()).expect("dir") {
                all.extend(std::fs::read(e.expect("entry").path()).expect("read"));
            }
            String::from_utf8_lossy(&all).into_owned()
        }
    }
}

/// Bytes the database takes where auth events land: SQLite's file and WAL, or PostgreSQL's
/// `auth_events` table with its indexes.
pub async fn database_bytes(s: &TestServer) -> u64 {
    match &s.db {
        Some(db) => {
            use sqlx::Connection;
            let mut c = sqlx::PgConnection::connect(&db.url).await.expect("connect");
            let n: i64 = sqlx::query_scalar("SELECT pg_total_relation_size('auth_events')")
                .fetch_one(&mut c)
                .await
                .expect("size");
            let _ = c.close().await;
            u64::try_from(n).unwrap_or(0)
        }
        None => ["keys.db", "keys.db-wal"]
            .iter()
            .map(|f| std::fs::metadata(s.dir.path().join(f)).map_or(0, |m| m.len()))
            .sum(),
    }
}

pub fn test_config() -> ServerConfig {
    ServerConfig {
        failed_auth_limit: 0,
        ..ServerConfig::default()
    }
}

impl TestServer {
    pub async fn start() -> TestServer {
        TestServer::start_with(test_config(), None, Retention::default()).await
    }

    /// Start on `dir`'s database (a new one when `None`). A new org is created only for a
    /// new database; on an existing one pass the owner through `reuse_owner`.
    pub async fn start_with(
        config: ServerConfig,
        reuse: Option<Reuse>,
        retention: Retention,
    ) -> TestServer {
        let (dir, owner, db_url, db) = match reuse {
            Some(r) => {
                let url = match &r.db {
                    Some(db) => db.url.clone(),
                    None => format!("sqlite://{}", r.dir.path().join("keys.db").display()),
                };
                (r.dir, Some(r.owner), url, r.db)
            }
            None => {
                let dir = Arc::new(tempfile::tempdir().expect("tempdir"));
                let (url, db) = new_database(&dir).await;
                (dir, None, url, db)
            }
        };
        let store = storage::open(&db_url, retention, IfMissing::Create)
            .await
            .expect("open store");
        let mut s = TestServer::start_on(store, dir, owner, config).await;
        s.db = db;
        s
    }

    /// Start on a given store (e.g. a wrapper around SQLite that counts or fails calls).
    /// `dir` is kept alive with the server; a new org is created unless `owner` is given.
    pub async fn start_on(
        store: Arc<dyn KeyStore>,
        dir: Arc<tempfile::TempDir>,
        owner: Option<OrgCreated>,
        config: ServerConfig,
    ) -> TestServer {
        let clock = Arc::new(ManualClock::new(Utc::now()));
        let owner = match owner {
            Some(o) => o,
            None => bootstrap::create_org_with_owner(
                &store,
                "Acme",
                "Owner",
                Env::Live,
                &config.secret_prefix,
                clock.now(),
            )
            .await
            .expect("bootstrap org"),
        };
        let state = AppState::with_clock(store, config, clock.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let url = format!("http://{}", listener.local_addr().expect("addr"));
        let (tx, rx) = oneshot::channel::<()>();
        let handle = tokio::spawn(serve(listener, state.clone(), async move {
            let _ = rx.await;
        }));
        // Ready once the change feed has confirmed the cache: an entry read before its first
        // confirmation is read again after it, which a test that counts reads or relies on
        // what is cached (a blocked request is attributed from the cache alone) must not race.
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
        while !(state.feed.is_running() && state.feed.caught_up()) {
            assert!(
                std::time::Instant::now() < deadline,
                "the change feed did not confirm within 30 s"
            );
            tokio::time::sleep(std::time::Duration::from_millis(5)).await;
        }
        let client = Client::new(&url, Some(owner.secret.clone())).expect("client");
        TestServer {
            url,
            state,
            clock,
            owner,
            client,
            dir,
            db: None,
            shutdown: Some(tx),
            handle: Some(handle),
        }
    }

    pub fn client_with(&self, token: &Secret) -> Client {
        self.client.with_token(Some(token.clone()))
    }

    pub async fn flush(&self) {
        self.state.flush_usage().await.expect("flush usage");
    }

    /// The owner's org's auth events of one request id, after a flush.
    pub async fn events_of(&self, rid: &str) -> Vec<keyconsole::api::AuthEvent> {
        self.flush().await;
        self.client
            .auth_events(&keyconsole::api::AuthEventsQuery {
                request_id: Some(rid.to_owned()),
                ..Default::default()
            })
            .await
            .expect("auth events")
            .data
    }

    /// Another organization with its owner, in the same database.
    pub async fn new_org(&self, name: &str) -> OrgCreated {
        bootstrap::create_org_with_owner(
            &self.state.store,
            name,
            "Owner",
            Env::Live,
            &self.state.config.secret_prefix,
            self.clock.now(),
        )
        .await
        .expect("org")
    }

    pub async fn create(&self, name: &str, scopes: &[&str]) -> CreateKeyResponse {
        let k = self
            .client
            .create_key(&CreateKeyRequest {
                name: name.to_owned(),
                scopes: Some(scopes.iter().map(|s| (*s).to_owned()).collect()),
                ..CreateKeyRequest::default()
            })
            .await
            .expect("create key");
        self.settled().await;
        k
    }

    /// Wait until this instance's change feed has applied every change committed so far. A
    /// database read that races the feed's eviction of the same key is (rightly) not cached,
    /// so a test that relies on what a request leaves in the cache must not race the feed
    /// hearing of the change the test itself just made (at once on PostgreSQL, by NOTIFY).
    pub async fn settled(&self) {
        let Ok(latest) = self.state.store.latest_change(None).await else {
            return;
        };
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
        while self.state.feed.is_running() && self.state.feed.applied() < latest {
            assert!(
                std::time::Instant::now() < deadline,
                "the change feed did not apply change {latest} within 10 s"
            );
            tokio::time::sleep(std::time::Duration::from_millis(2)).await;
        }
    }

    /// A key whose public key alone works from any `https://….example.com` page.
    pub async fn widget(&self) -> CreateKeyResponse {
        let k = self
            .client
            .create_key(&CreateKeyRequest {
                name: "Widget".into(),
                scopes: Some(vec!["runs:read".into()]),
                allowed_domains: Some(vec!["*.example.com".into()]),
                ..CreateKeyRequest::default()
            })
            .await
            .expect("create widget key");
        self.settled().await;
        k
    }

    /// Enable or disable a key as the owner.
    pub async fn set_enabled(&self, id: &str, enabled: bool) -> keyconsole::api::KeyObject {
        let k = self
            .client
            .update_key(
                id,
                &keyconsole::api::UpdateKeyRequest {
                    enabled: Some(enabled),
                    ..Default::default()
                },
                None,
            )
            .await
            .expect("enable or disable");
        self.settled().await;
        k
    }

    /// Clean shutdown, as SIGTERM would do; returns what a restart needs.
    pub async fn stop(mut self) -> Reuse {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
        if let Some(h) = self.handle.take() {
            h.await.expect("join").expect("serve ended cleanly");
        }
        Reuse {
            dir: self.dir.clone(),
            owner: self.owner.clone(),
            db: self.db.clone(),
        }
    }
}

/// The `x-request-id` of an answer.
pub fn request_id(h: &reqwest::header::HeaderMap) -> String {
    h.get("x-request-id")
        .and_then(|v| v.to_str().ok())
        .expect("x-request-id")
        .to_owned()
}

/// A raw request with exactly these headers.
pub async fn raw(
    url: &str,
    method: reqwest::Method,
    path: &str,
    headers: &[(&str, &str)],
    body: Option<&str>,
) -> (u16, reqwest::header::HeaderMap, serde_json::Value) {
    let http = reqwest::Client::new();
    let mut req = http.request(method, format!("{url}{path}"));
    for (k, v) in headers {
        req = req.header(*k, *v);
    }
    if let Some(b) = body {
        req = req
            .header("content-type", "application/json")
            .body(b.to_owned());
    }
    let resp = req.send().await.expect("send");
    let status = resp.status().as_u16();
    let headers = resp.headers().clone();
    let text = resp.text().await.expect("body");
    let json = serde_json::from_str(&text).unwrap_or(serde_json::Value::Null);
    (status, headers, json)
}

/// A well-formed secret of no key (its checksum holds, so it reaches the lookup).
pub fn unknown_secret() -> Secret {
    let mut fill = |b: &mut [u8]| keyconsole::server::os_random(b);
    Secret::generate(&Default::default(), Env::Live, &mut fill)
}

/// The error code of a JSON error body.
pub fn code(body: &serde_json::Value) -> &str {
    body["error"]["code"].as_str().unwrap_or("<none>")
}
