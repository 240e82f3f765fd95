//! The store under the server: what the verification path reads, what one transaction
//! covers, and what happens when the database is gone. `Probe` wraps SQLite, counts key
//! lookups and can fail `ping`.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use keyconsole::api::{App, BucketSize, Org, UpdateKeyRequest, UsageBucket};
use keyconsole::domain::key::{Env, SecretHash, SecretPrefix};
use keyconsole::domain::record::KeyRecord;
use keyconsole::server::bootstrap;
use keyconsole::storage::sqlite::SqliteStore;
use keyconsole::storage::{
    AuditFilter, AuthEventFilter, AuthEventRecord, IfMissing, InstanceRecord, KeyChange, KeyFilter,
    KeyPage, KeyPageReq, KeyStore, NewAudit, Outage, PageReq, Paged, Retention, StoreError,
    StoreResult, TopKeyRow, UsageBatch,
};
use reqwest::Method;

use crate::common::{TestServer, code, raw, test_config, unknown_secret};

/// SQLite with counted key lookups and a switch that makes `ping` fail.
struct Probe {
    inner: SqliteStore,
    lookups: AtomicUsize,
    ping_fails: AtomicBool,
    /// Every read the verification path and the change feed make fails as if the database
    /// could not be reached.
    unreachable: AtomicBool,
    /// Only the change feed's reads fail, with an error that is not an outage (a row that
    /// does not decode): the database itself can still be read.
    feed_fails: AtomicBool,
}

impl Probe {
    fn lookups(&self) -> usize {
        self.lookups.load(Ordering::SeqCst)
    }

    fn reach(&self) -> StoreResult<()> {
        if self.unreachable.load(Ordering::SeqCst) {
            return Err(StoreError::unavailable(
                Outage::Unreachable,
                "probe: connection refused",
            ));
        }
        Ok(())
    }
}

#[async_trait]
impl KeyStore for Probe {
    async fn ping(&self) -> StoreResult<()> {
        self.reach()?;
        if self.ping_fails.load(Ordering::SeqCst) {
            return Err(StoreError::unavailable(
                Outage::Unreachable,
                "probe: database gone",
            ));
        }
        self.inner.ping().await
    }
    async fn create_org(&self, org: &Org) -> StoreResult<()> {
        self.inner.create_org(org).await
    }
    async fn create_org_with_owner(
        &self,
        org: &Org,
        key: &KeyRecord,
        audit: &NewAudit,
    ) -> StoreResult<()> {
        self.inner.create_org_with_owner(org, key, audit).await
    }
    async fn get_org(&self, id: &str) -> StoreResult<Option<Org>> {
        self.inner.get_org(id).await
    }
    async fn create_app(&self, org_id: &str, app: &App, audit: &NewAudit) -> StoreResult<()> {
        self.inner.create_app(org_id, app, audit).await
    }
    async fn app_org(&self, app_id: &str) -> StoreResult<Option<String>> {
        self.inner.app_org(app_id).await
    }
    async fn get_app(&self, org_id: &str, id: &str) -> StoreResult<Option<App>> {
        self.inner.get_app(org_id, id).await
    }
    async fn list_apps(&self, org_id: &str, page: PageReq) -> StoreResult<Paged<App>> {
        self.inner.list_apps(org_id, page).await
    }
    async fn insert_key(&self, key: &KeyRecord, audit: &NewAudit) -> StoreResult<()> {
        self.inner.insert_key(key, audit).await
    }
    async fn key_by_hash(&self, hash: &SecretHash) -> StoreResult<Option<KeyRecord>> {
        self.lookups.fetch_add(1, Ordering::SeqCst);
        self.reach()?;
        self.inner.key_by_hash(hash).await
    }
    async fn key_by_id(&self, id: &str) -> StoreResult<Option<KeyRecord>> {
        self.lookups.fetch_add(1, Ordering::SeqCst);
        self.inner.key_by_id(id).await
    }
    async fn list_keys(
        &self,
        org_id: &str,
        filter: &KeyFilter,
        now: DateTime<Utc>,
        page: &KeyPageReq,
    ) -> StoreResult<KeyPage> {
        self.inner.list_keys(org_id, filter, now, page).await
    }
    async fn import_keys(&self, keys: &[KeyRecord]) -> StoreResult<()> {
        self.inner.import_keys(keys).await
    }
    async fn cursor_secret(&self) -> StoreResult<[u8; 32]> {
        self.inner.cursor_secret().await
    }
    async fn update_key(
        &self,
        key: &KeyRecord,
        expected_version: i64,
        audits: &[NewAudit],
    ) -> StoreResult<bool> {
        self.inner.update_key(key, expected_version, audits).await
    }
    async fn delete_key(&self, org_id: &str, id: &str, audit: &NewAudit) -> StoreResult<bool> {
        self.inner.delete_key(org_id, id, audit).await
    }
    async fn rotate_key(
        &self,
        old: &KeyRecord,
        expected_version: i64,
        new: &KeyRecord,
        audits: &[NewAudit],
    ) -> StoreResult<bool> {
        self.inner
            .rotate_key(old, expected_version, new, audits)
            .await
    }
    async fn set_secret(
        &self,
        key_id: &str,
        hash: &SecretHash,
        hint: &str,
        now: DateTime<Utc>,
    ) -> StoreResult<bool> {
        self.inner.set_secret(key_id, hash, hint, now).await
    }
    async fn record_usage(&self, batch: &UsageBatch) -> StoreResult<()> {
        self.inner.record_usage(batch).await
    }
    async fn record_leak(
        &self,
        leak: &keyconsole::storage::LeakRecord,
    ) -> StoreResult<keyconsole::storage::LeakOutcome> {
        self.inner.record_leak(leak).await
    }
    async fn list_sightings(
        &self,
        key_id: &str,
        page: PageReq,
    ) -> StoreResult<Paged<keyconsole::storage::SightingRecord>> {
        self.inner.list_sightings(key_id, page).await
    }
    async fn scope_counts(
        &self,
        keys: &[String],
        from: DateTime<Utc>,
    ) -> StoreResult<Vec<keyconsole::storage::ScopeCount>> {
        self.inner.scope_counts(keys, from).await
    }
    async fn review_candidates(
        &self,
        org_id: &str,
        kind: keyconsole::domain::review::FindingKind,
        policy: &keyconsole::domain::review::ReviewPolicy,
        now: DateTime<Utc>,
        limit: u32,
    ) -> StoreResult<Vec<KeyRecord>> {
        self.inner
            .review_candidates(org_id, kind, policy, now, limit)
            .await
    }
    async fn add_buckets(
        &self,
        key_id: &str,
        org_id: &str,
        bucket: BucketSize,
        rows: &[UsageBucket],
    ) -> StoreResult<()> {
        self.inner.add_buckets(key_id, org_id, bucket, rows).await
    }
    async fn prune(&self, now: DateTime<Utc>) -> StoreResult<()> {
        self.inner.prune(now).await
    }
    async fn key_usage(
        &self,
        key_id: &str,
        bucket: BucketSize,
        from: DateTime<Utc>,
        to: DateTime<Utc>,
    ) -> StoreResult<Vec<UsageBucket>> {
        self.inner.key_usage(key_id, bucket, from, to).await
    }
    async fn org_usage(
        &self,
        org_id: &str,
        bucket: BucketSize,
        from: DateTime<Utc>,
        to: DateTime<Utc>,
    ) -> StoreResult<Vec<UsageBucket>> {
        self.inner.org_usage(org_id, bucket, from, to).await
    }
    async fn top_keys(
        &self,
        org_id: &str,
        bucket: BucketSize,
        from: DateTime<Utc>,
        to: DateTime<Utc>,
        limit: u32,
    ) -> StoreResult<Vec<TopKeyRow>> {
        self.inner.top_keys(org_id, bucket, from, to, limit).await
    }
    async fn list_auth_events(
        &self,
        org_id: &str,
        filter: &AuthEventFilter,
        page: PageReq,
    ) -> StoreResult<Paged<AuthEventRecord>> {
        self.inner.list_auth_events(org_id, filter, page).await
    }
    async fn list_audit(
        &self,
        org_id: &str,
        filter: &AuditFilter,
        page: PageReq,
    ) -> StoreResult<Paged<NewAudit>> {
        self.inner.list_audit(org_id, filter, page).await
    }
    async fn changes_after(&self, after: i64, limit: u32) -> StoreResult<Vec<KeyChange>> {
        self.reach()?;
        if self.feed_fails.load(Ordering::SeqCst) {
            return Err(StoreError::Corrupt(
                "probe: a change row that does not decode".into(),
            ));
        }
        self.inner.changes_after(after, limit).await
    }
    async fn latest_change(&self, org_id: Option<&str>) -> StoreResult<i64> {
        self.inner.latest_change(org_id).await
    }
    async fn latest_key_change(&self, key_ids: &[&str]) -> StoreResult<i64> {
        self.inner.latest_key_change(key_ids).await
    }
    async fn heartbeat(&self, instance: &InstanceRecord) -> StoreResult<()> {
        self.inner.heartbeat(instance).await
    }
    async fn forget_instance(&self, id: &str) -> StoreResult<()> {
        self.inner.forget_instance(id).await
    }
    async fn list_instances(&self, since: DateTime<Utc>) -> StoreResult<Vec<InstanceRecord>> {
        self.inner.list_instances(since).await
    }
}

fn db_url(dir: &tempfile::TempDir) -> String {
    format!("sqlite://{}", dir.path().join("keys.db").display())
}

async fn probe_server() -> (TestServer, Arc<Probe>) {
    probe_server_with(test_config()).await
}

async fn probe_server_with(config: keyconsole::server::ServerConfig) -> (TestServer, Arc<Probe>) {
    let dir = Arc::new(tempfile::tempdir().expect("tempdir"));
    let inner = SqliteStore::open(&db_url(&dir), Retention::default(), IfMissing::Create)
        .await
        .expect("open");
    let probe = Arc::new(Probe {
        inner,
        lookups: AtomicUsize::new(0),
        ping_fails: AtomicBool::new(false),
        unreachable: AtomicBool::new(false),
        feed_fails: AtomicBool::new(false),
    });
    let store: Arc<dyn KeyStore> = probe.clone();
    let s = TestServer::start_on(store, dir, None, config).await;
    (s, probe)
}

#[tokio::test]
async fn a_rate_limited_client_never_makes_the_service_read_keys() {
    let (s, probe) = probe_server_with(keyconsole::server::ServerConfig {
        failed_auth_limit: 3,
        ..test_config()
    })
    .await;
    let k = s.create("Hot", &["runs:read"]).await;
    let kc = s.client_with(&k.secret);
    kc.me().await.expect("warm the cache");
    let unknown: Vec<String> = (0..50)
        .map(|_| format!("Bearer {}", unknown_secret().expose()))
        .collect();
    let me = |auth: String| {
        let url = s.url.clone();
        async move {
            raw(
                &url,
                Method::GET,
                "/v1/me",
                &[("authorization", &auth)],
                None,
            )
            .await
            .0
        }
    };
    for auth in &unknown[..3] {
        assert_eq!(me(auth.clone()).await, 401);
    }
    let before = probe.lookups();
    // Unknown secrets, a pair naming an unknown key: 429, and not one key read.
    for auth in &unknown[3..] {
        assert_eq!(me(auth.clone()).await, 429);
    }
    let (st, _, _) = raw(
        &s.url,
        Method::GET,
        "/v1/me",
        &[(
            "x-api-key",
            &format!("pk_live_{}:{}", "0".repeat(24), &unknown[0][7..]),
        )],
        None,
    )
    .await;
    assert_eq!(st, 429);
    // The valid, cached key gets through, from the cache alone too.
    for _ in 0..5 {
        kc.me().await.expect("valid key through the block");
    }
    assert_eq!(probe.lookups() - before, 0, "a limited client read keys");
}

#[tokio::test]
async fn a_cached_verification_never_touches_the_database() {
    let (s, probe) = probe_server().await;
    let k = s.create("Hot", &["runs:read"]).await;
    let auth = format!("Bearer {}", k.secret.expose());
    // Warm the cache: this one request may read the database.
    let (st, _, _) = raw(
        &s.url,
        Method::GET,
        "/v1/me",
        &[("authorization", &auth)],
        None,
    )
    .await;
    assert_eq!(st, 200);
    let before = probe.lookups();
    for _ in 0..50 {
        let (st, _, body) = raw(
            &s.url,
            Method::GET,
            "/v1/me",
            &[("authorization", &auth)],
            None,
        )
        .await;
        assert_eq!(st, 200, "{body}");
    }
    assert_eq!(
        probe.lookups() - before,
        0,
        "cached verifications read keys"
    );
    // A change is seen by the very next request.
    s.client
        .update_key(
            &k.key.id,
            &UpdateKeyRequest {
                enabled: Some(false),
                ..Default::default()
            },
            None,
        )
        .await
        .expect("disable");
    let (st, _, body) = raw(
        &s.url,
        Method::GET,
        "/v1/me",
        &[("authorization", &auth)],
        None,
    )
    .await;
    assert_eq!((st, code(&body)), (401, "key_disabled"));
}

#[tokio::test]
async fn readyz_is_503_when_the_database_is_gone() {
    let (s, probe) = probe_server().await;
    let (st, _, _) = raw(&s.url, Method::GET, "/readyz", &[], None).await;
    assert_eq!(st, 200);
    probe.ping_fails.store(true, Ordering::SeqCst);
    let (st, h, body) = raw(&s.url, Method::GET, "/readyz", &[], None).await;
    assert_eq!((st, code(&body)), (503, "unavailable"));
    assert_eq!(body["error"]["type"], "unavailable");
    assert!(h.get("retry-after").is_some());
    assert!(
        !body.to_string().contains("probe"),
        "internals leaked: {body}"
    );
    // A closed SQLite pool is the same answer.
    let dir = tempfile::tempdir().expect("tempdir");
    let store = SqliteStore::open(&db_url(&dir), Retention::default(), IfMissing::Create)
        .await
        .expect("open");
    store.close().await;
    let e = store.ping().await.expect_err("closed pool");
    assert_eq!(e.outage(), Some(Outage::Unreachable), "{e:?}");
}

#[tokio::test]
async fn an_org_and_its_owner_key_are_one_transaction() {
    let dir = tempfile::tempdir().expect("tempdir");
    let store: Arc<dyn KeyStore> = Arc::new(
        SqliteStore::open(&db_url(&dir), Retention::default(), IfMissing::Create)
            .await
            .expect("open"),
    );
    let now = Utc::now();
    let first = bootstrap::create_org_with_owner(
        &store,
        "First",
        "Owner",
        Env::Live,
        &SecretPrefix::default(),
        now,
    )
    .await
    .expect("first org");
    let owner = store
        .key_by_id(&first.key.id)
        .await
        .expect("read")
        .expect("owner key exists");
    // A second org whose owner key cannot be inserted (its id is taken) must not remain.
    let org = Org {
        id: "org_0000000000000042".into(),
        name: "Orphan".into(),
        created_at: now,
    };
    let mut key = owner.clone();
    key.org_id = org.id.clone();
    let audit = NewAudit {
        id: "aud_00000000000000000042".into(),
        org_id: org.id.clone(),
        at: now,
        actor: keyconsole::api::Actor::system("org create"),
        action: "key.created".into(),
        key_id: Some(key.id.clone()),
        changes: serde_json::json!({}),
    };
    let e = store
        .create_org_with_owner(&org, &key, &audit)
        .await
        .expect_err("duplicate key id");
    assert!(matches!(e, StoreError::Conflict(_)), "{e:?}");
    assert!(
        store.get_org(&org.id).await.expect("read").is_none(),
        "an organization without its owner key was left behind"
    );
    let kept = store.get_org(&first.org.id).await.expect("read");
    assert_eq!(kept.map(|o| o.name).as_deref(), Some("First"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn key_lookups_never_wait_behind_writers() {
    let dir = tempfile::tempdir().expect("tempdir");
    let url = db_url(&dir);
    let store: Arc<dyn KeyStore> = Arc::new(
        SqliteStore::open(&url, Retention::default(), IfMissing::Create)
            .await
            .expect("open"),
    );
    let owner = bootstrap::create_org_with_owner(
        &store,
        "Busy",
        "Owner",
        Env::Live,
        &SecretPrefix::default(),
        Utc::now(),
    )
    .await
    .expect("org");
    // Another process holds the write lock (a long `org create`, a backup, a migration).
    use sqlx::Connection;
    let mut other = sqlx::SqliteConnection::connect(&url)
        .await
        .expect("second connection");
    sqlx::query("BEGIN IMMEDIATE")
        .execute(&mut other)
        .await
        .expect("take the write lock");
    // More writers than any pool has connections, all waiting on that lock.
    let mut writers = Vec::new();
    for i in 0..12 {
        let st = Arc::clone(&store);
        let org = owner.org.id.clone();
        writers.push(tokio::spawn(async move {
            let app = App {
                id: format!("app_{i:016}"),
                name: format!("w{i}"),
                created_at: Utc::now(),
            };
            let audit = NewAudit {
                id: format!("aud_{i:020}"),
                org_id: org.clone(),
                at: Utc::now(),
                actor: keyconsole::api::Actor::system("org create"),
                action: "app.created".into(),
                key_id: None,
                changes: serde_json::json!({}),
            };
            st.create_app(&org, &app, &audit).await
        }));
    }
    tokio::time::sleep(Duration::from_millis(300)).await;
    // Ordering, not a clock: every lookup answers while the lock is still held and every
    // writer is still waiting. A lookup queued behind them could answer only after the
    // writers finished (the lock released below, or their 5 s busy timeout).
    let hash = owner.secret.hash();
    for _ in 0..50 {
        let found = store.key_by_hash(&hash).await.expect("lookup");
        assert!(found.is_some());
    }
    assert!(
        writers.iter().all(|w| !w.is_finished()),
        "a writer finished before the lookups: they may have waited behind it"
    );
    sqlx::query("ROLLBACK")
        .execute(&mut other)
        .await
        .expect("release");
    for w in writers {
        // Each either wrote after the lock was released or gave up on the busy timeout.
        let _ = w.await.expect("join");
    }
}

/// `POST /v1/verify` as the owner: (status, `valid`, error code of a non-2xx).
async fn verify_as_owner(s: &TestServer, credential: &str) -> (u16, bool, String) {
    let owner = format!("Bearer {}", s.owner.secret.expose());
    let body = serde_json::json!({ "credential": credential }).to_string();
    let (st, _, b) = raw(
        &s.url,
        Method::POST,
        "/v1/verify",
        &[("authorization", &owner)],
        Some(&body),
    )
    .await;
    (
        st,
        b["valid"] == serde_json::json!(true),
        code(&b).to_owned(),
    )
}

/// Wait (at most 5 s) until `/readyz` answers `status`; its body then.
async fn readyz_until(s: &TestServer, status: u16) -> serde_json::Value {
    let started = Instant::now();
    loop {
        let (st, _, b) = raw(&s.url, Method::GET, "/readyz", &[], None).await;
        if st == status {
            return b;
        }
        assert!(
            started.elapsed() < Duration::from_secs(5),
            "readyz stays {st}: {b}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unreachable_database_serves_cached_keys_for_the_offline_grace_only() {
    let grace = Duration::from_secs(3);
    let (s, probe) = probe_server_with(keyconsole::server::ServerConfig {
        offline_grace: grace,
        ..test_config()
    })
    .await;
    let cached = s.create("Cached", &["runs:read"]).await;
    let uncached = s.create("Uncached", &["runs:read"]).await;
    assert_eq!(
        verify_as_owner(&s, cached.secret.expose()).await,
        (200, true, "<none>".into())
    );
    let ready = readyz_until(&s, 200).await;
    assert_eq!(ready["change_feed"], "ok", "{ready}");

    probe.unreachable.store(true, Ordering::SeqCst);
    let down_at = Instant::now();
    let b = readyz_until(&s, 503).await;
    assert_eq!(code(&b), "unavailable");
    let msg = b["error"]["message"].as_str().unwrap_or("");
    assert!(msg.contains("cannot reach its database"), "{msg}");
    assert!(msg.contains("cached keep verifying"), "{msg}");
    // Past the trust window, the feed no longer vouches for the cache: only the grace does.
    tokio::time::sleep(keyconsole::server::feed::TRUST_WINDOW).await;
    assert_eq!(
        verify_as_owner(&s, cached.secret.expose()).await,
        (200, true, "<none>".into())
    );
    let (st, _, c) = verify_as_owner(&s, uncached.secret.expose()).await;
    assert_eq!((st, c.as_str()), (503, "unavailable"), "a key not cached");

    // Grace over: cached keys are refused too, and readyz says so.
    tokio::time::sleep((grace + Duration::from_millis(300)).saturating_sub(down_at.elapsed()))
        .await;
    let (st, _, c) = verify_as_owner(&s, cached.secret.expose()).await;
    assert_eq!((st, c.as_str()), (503, "unavailable"), "grace over");
    let (_, _, b) = raw(&s.url, Method::GET, "/readyz", &[], None).await;
    let msg = b["error"]["message"].as_str().unwrap_or("");
    assert!(msg.contains("Every key gets 503"), "{msg}");

    // Back: everything verifies again and the feed is caught up.
    probe.unreachable.store(false, Ordering::SeqCst);
    let back = Instant::now();
    loop {
        let ready = readyz_until(&s, 200).await;
        if ready["change_feed"] == "ok" {
            break;
        }
        assert_eq!(ready["change_feed"], "reconnecting", "{ready}");
        assert!(
            back.elapsed() < Duration::from_secs(5),
            "the feed never caught up: {ready}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert_eq!(
        verify_as_owner(&s, uncached.secret.expose()).await,
        (200, true, "<none>".into())
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn offline_grace_zero_refuses_cached_keys_once_the_feed_is_behind() {
    let (s, probe) = probe_server_with(keyconsole::server::ServerConfig {
        offline_grace: Duration::ZERO,
        ..test_config()
    })
    .await;
    let cached = s.create("Cached", &["runs:read"]).await;
    assert_eq!(
        verify_as_owner(&s, cached.secret.expose()).await,
        (200, true, "<none>".into())
    );
    probe.unreachable.store(true, Ordering::SeqCst);
    let b = readyz_until(&s, 503).await;
    let msg = b["error"]["message"].as_str().unwrap_or("");
    assert!(msg.contains("Every key gets 503"), "{msg}");
    tokio::time::sleep(keyconsole::server::feed::TRUST_WINDOW).await;
    let (st, _, c) = verify_as_owner(&s, cached.secret.expose()).await;
    assert_eq!((st, c.as_str()), (503, "unavailable"));
}

/// No stale allow while the database can still be read: the change feed fails (not an
/// outage), another writer disables a cached key behind this instance's back, and within the
/// contract's 1 s the instance refuses it, by reading the database again; the offline grace
/// (5 min) never vouches for the stale entry.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failing_feed_with_a_reachable_database_never_allows_a_stale_key() {
    let (s, probe) = probe_server_with(test_config()).await;
    let k = s.create("Behind", &["runs:read"]).await;
    assert_eq!(
        verify_as_owner(&s, k.secret.expose()).await,
        (200, true, "<none>".into())
    );
    readyz_until(&s, 200).await;
    probe.feed_fails.store(true, Ordering::SeqCst);
    // Disabled by another instance: this one's cache is not told, and its feed cannot say.
    let mut rec = probe
        .inner
        .key_by_id(&k.key.id)
        .await
        .expect("read")
        .expect("the key");
    let was = rec.version;
    rec.enabled = false;
    rec.version += 1;
    assert!(
        probe
            .inner
            .update_key(&rec, was, &[])
            .await
            .expect("disable")
    );
    let changed = Instant::now();
    let before = probe.lookups();
    let owner = format!("Bearer {}", s.owner.secret.expose());
    let body = serde_json::json!({ "credential": k.secret.expose() }).to_string();
    loop {
        let (st, _, b) = raw(
            &s.url,
            Method::POST,
            "/v1/verify",
            &[("authorization", &owner)],
            Some(&body),
        )
        .await;
        if st == 200 && b["valid"] == serde_json::json!(false) {
            assert_eq!(b["code"], "key_disabled", "{b}");
            break;
        }
        assert_eq!((st, &b["valid"]), (200, &serde_json::json!(true)), "{b}");
        assert!(
            changed.elapsed() <= Duration::from_secs(1),
            "a stale allow past the contract's 1 s bound"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert!(probe.lookups() > before, "the key was read again");
    assert_eq!(
        readyz_until(&s, 200).await["change_feed"],
        "reconnecting",
        "readyz says the feed is behind"
    );
}

/// A secret refused before its key existed is not refused for long once another instance
/// creates the key: the change feed also forgets that the secret was unknown (the negative
/// cache), within the contract's 1 s.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_key_created_elsewhere_stops_being_unknown_within_a_second() {
    let (s, probe) = probe_server_with(test_config()).await;
    let template = s.create("Template", &["runs:read"]).await;
    let secret = unknown_secret();
    let owner = format!("Bearer {}", s.owner.secret.expose());
    let body = serde_json::json!({ "credential": secret.expose() }).to_string();
    let verify = || async {
        raw(
            &s.url,
            Method::POST,
            "/v1/verify",
            &[("authorization", &owner)],
            Some(&body),
        )
        .await
        .2
    };
    assert_eq!(verify().await["code"], "invalid_key");
    readyz_until(&s, 200).await;
    // Another instance creates a key with exactly that secret (straight into the database:
    // this instance's cache is not told).
    let mut rec = probe
        .inner
        .key_by_id(&template.key.id)
        .await
        .expect("read")
        .expect("the template");
    rec.id = format!("{}x", &rec.id[..rec.id.len() - 1]);
    rec.secret_hash = secret.hash();
    rec.secret_hint = secret.hint();
    rec.version = 1;
    let audit = NewAudit {
        id: "aud_elsewhere".into(),
        org_id: rec.org_id.clone(),
        at: Utc::now(),
        actor: keyconsole::api::Actor {
            kind: keyconsole::api::ActorKind::System,
            id: "another instance".into(),
            name: None,
        },
        action: "key.created".into(),
        key_id: Some(rec.id.clone()),
        changes: serde_json::json!({}),
    };
    probe.inner.insert_key(&rec, &audit).await.expect("insert");
    let created = Instant::now();
    loop {
        let b = verify().await;
        if b["valid"] == serde_json::json!(true) {
            break;
        }
        assert_eq!(b["code"], "invalid_key", "{b}");
        assert!(
            created.elapsed() <= Duration::from_secs(1),
            "still refused as unknown past the contract's 1 s bound"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}
