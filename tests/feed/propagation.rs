//! Two `serve` processes on one database: 100 disable/enable changes made through A, each
//! timed from A's 2xx until B answers accordingly, then a scope edit, a rotation and a
//! delete. The contract's bound is 1 s (API.md §7): the test fails if any change took
//! longer, and prints p50, p99 and max (the benchmark `instances` reports them too).

use std::time::{Duration, Instant};

use keyconsole::api::{CreateKeyRequest, OrgCreated, RotateRequest, UpdateKeyRequest};
use keyconsole::client::Client;
use keyconsole::client::ack::{ACK_TIMEOUT, wait_applied};
use keyconsole::domain::key::Secret;
use serde_json::{Value, json};

use crate::process::{Served, org_create};

/// The contract's bound.
const BOUND: Duration = Duration::from_secs(1);
/// Changes timed per run.
const CHANGES: usize = 100;

/// A's and B's view of one database.
pub struct Pair {
    pub a: Served,
    pub b: Served,
    pub owner: OrgCreated,
    http: reqwest::Client,
}

impl Pair {
    pub fn start(url: &str, owner: OrgCreated) -> Pair {
        let args = ["--database", url, "--failed-auth-limit", "0"];
        Pair {
            a: Served::start(&args),
            b: Served::start(&args),
            owner,
            http: reqwest::Client::new(),
        }
    }

    pub fn client_a(&self) -> Client {
        Client::new(&self.a.url, Some(self.owner.secret.clone())).expect("client")
    }

    /// `GET /v1/me` on B with `key`: (status, error code or "ok").
    async fn me_on_b(&self, key: &Secret) -> (u16, String) {
        let r = self
            .http
            .get(format!("{}/v1/me", self.b.url))
            .bearer_auth(key.expose())
            .send()
            .await
            .expect("B answers");
        let status = r.status().as_u16();
        let body: Value = r.json().await.unwrap_or(Value::Null);
        let code = body["error"]["code"].as_str().unwrap_or("ok").to_owned();
        (status, code)
    }

    /// `POST /v1/verify` on B: the code B gives `key` for `runs:read`.
    async fn verify_on_b(&self, key: &Secret) -> String {
        let r = self
            .http
            .post(format!("{}/v1/verify", self.b.url))
            .bearer_auth(self.owner.secret.expose())
            .json(&json!({"credential": key.expose(), "required_scopes": ["runs:read"]}))
            .send()
            .await
            .expect("B answers");
        let body: Value = r.json().await.unwrap_or(Value::Null);
        if body["valid"] == json!(true) {
            return "ok".to_owned();
        }
        body["code"].as_str().unwrap_or("<none>").to_owned()
    }

    /// Time from `since` until `check` holds on B; fails past twice the bound (the
    /// caller asserts the bound itself, with the figures).
    async fn until_b<F, Fut>(&self, since: Instant, what: &str, check: F) -> Duration
    where
        F: Fn() -> Fut,
        Fut: std::future::Future<Output = bool>,
    {
        loop {
            if check().await {
                return since.elapsed();
            }
            assert!(
                since.elapsed() < 2 * BOUND,
                "B never agreed ({what}) within {:?}; B's log:\n{}",
                2 * BOUND,
                self.b.log()
            );
            tokio::time::sleep(Duration::from_millis(2)).await;
        }
    }
}

/// p50, p99, max of some durations, in ms.
pub fn figures(mut d: Vec<Duration>) -> (f64, f64, f64) {
    d.sort();
    let at = |q: f64| {
        let i = ((d.len() as f64 * q).ceil() as usize).clamp(1, d.len()) - 1;
        d[i].as_secs_f64() * 1000.0
    };
    (at(0.50), at(0.99), at(1.0))
}

fn enabled(on: bool) -> UpdateKeyRequest {
    UpdateKeyRequest {
        enabled: Some(on),
        ..UpdateKeyRequest::default()
    }
}

/// 100 disable/enable changes through A, timed until B agrees; `before_each` runs before
/// each change (a fault to inject). Returns the figures after asserting the bound.
pub async fn disable_enable_run<F, Fut>(p: &Pair, label: &str, before_each: F) -> (f64, f64, f64)
where
    F: Fn() -> Fut,
    Fut: std::future::Future<Output = ()>,
{
    let a = p.client_a();
    let key = a
        .create_key(&CreateKeyRequest {
            name: format!("propagation {label}"),
            scopes: Some(vec!["runs:read".to_owned()]),
            ..CreateKeyRequest::default()
        })
        .await
        .expect("create on A");
    // B caches the key.
    let (s, _) = p.me_on_b(&key.secret).await;
    assert_eq!(s, 200);
    let mut took = Vec::with_capacity(CHANGES);
    for i in 0..CHANGES {
        let on = i % 2 == 1;
        // Out of step with B's polls, so the figures are not all one phase of them.
        tokio::time::sleep(Duration::from_millis((i as u64 * 37) % 100)).await;
        before_each().await;
        let (_, change) = a
            .update_key_change(&key.key.id, &enabled(on), None)
            .await
            .expect("PATCH on A");
        let acked = Instant::now();
        assert!(
            change.is_some(),
            "every key mutation carries x-keyconsole-change"
        );
        let want = if on { "ok" } else { "key_disabled" };
        took.push(
            p.until_b(acked, want, || async {
                let (_, code) = p.me_on_b(&key.secret).await;
                code == want
            })
            .await,
        );
    }
    let (p50, p99, max) = figures(took);
    println!(
        "propagation ({label}): {CHANGES} disable/enable changes, A's 2xx until B agrees: \
         p50 {p50:.1} ms, p99 {p99:.1} ms, max {max:.1} ms (bound {} ms)",
        BOUND.as_millis()
    );
    assert!(
        max <= BOUND.as_secs_f64() * 1000.0,
        "a change took {max:.1} ms to reach B: over the contract's 1 s bound"
    );
    (p50, p99, max)
}

/// A scope edit, a rotation (old key's new expiry) and a delete, each within the bound on
/// B; and the acknowledgement: both instances report having applied each change.
pub async fn edits_rotation_delete(p: &Pair) {
    let a = p.client_a();
    let key = a
        .create_key(&CreateKeyRequest {
            name: "edits".to_owned(),
            scopes: Some(vec!["runs:read".to_owned()]),
            ..CreateKeyRequest::default()
        })
        .await
        .expect("create on A");
    assert_eq!(p.verify_on_b(&key.secret).await, "ok");

    let ack_of = |change: Option<i64>| {
        let a = a.clone();
        async move {
            let change = change.expect("x-keyconsole-change");
            let ack = wait_applied(&a, change, Instant::now(), ACK_TIMEOUT)
                .await
                .expect("GET /v1/instances");
            assert!(ack.complete(), "{ack}");
            assert_eq!(ack.total, 2, "both instances are live: {ack}");
            println!("acknowledgement: {ack}");
        }
    };

    // Scopes narrowed: B refuses runs:read.
    let (_, change) = a
        .update_key_change(
            &key.key.id,
            &UpdateKeyRequest {
                scopes: Some(vec!["runs:write".to_owned()]),
                ..UpdateKeyRequest::default()
            },
            None,
        )
        .await
        .expect("PATCH scopes");
    let t = p
        .until_b(Instant::now(), "insufficient_scope", || async {
            p.verify_on_b(&key.secret).await == "insufficient_scope"
        })
        .await;
    assert!(t <= BOUND, "scope edit took {t:?}");
    ack_of(change).await;

    // Rotated with no grace: the old key is expired on B at once.
    let (rotated, change) = a
        .rotate_key_change(
            &key.key.id,
            &RotateRequest {
                grace_period_seconds: Some(0),
            },
        )
        .await
        .expect("rotate");
    let t = p
        .until_b(Instant::now(), "key_expired", || async {
            p.me_on_b(&key.secret).await.1 == "key_expired"
        })
        .await;
    assert!(t <= BOUND, "rotation took {t:?}");
    ack_of(change).await;
    assert_eq!(p.me_on_b(&rotated.secret).await.0, 200);

    // Deleted: unknown on B.
    let change = a.delete_key_change(&rotated.key.id).await.expect("delete");
    let t = p
        .until_b(Instant::now(), "invalid_key", || async {
            p.me_on_b(&rotated.secret).await.1 == "invalid_key"
        })
        .await;
    assert!(t <= BOUND, "delete took {t:?}");
    ack_of(change).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_two_processes_agree_within_a_second() {
    let dir = tempfile::tempdir().expect("tempdir");
    let url = format!("sqlite://{}", dir.path().join("k.db").display());
    let owner = org_create(&url);
    let mut p = Pair::start(&url, owner);
    disable_enable_run(&p, "sqlite, two processes", || async {}).await;
    edits_rotation_delete(&p).await;
    // B stops cleanly: A lists it no more at once, so no acknowledgement waits for it.
    assert_eq!(p.b.term(), 0, "{}", p.b.log());
    let list = p.client_a().instances().await.expect("instances");
    assert_eq!(list.data.len(), 1, "{list:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_two_processes_agree_within_a_second() {
    let Some(db) = crate::support::pg::TestDb::fresh("postgres_two_processes_agree").await else {
        return;
    };
    let owner = org_create(&db.url);
    let p = Pair::start(&db.url, owner);
    disable_enable_run(&p, "postgres, two processes", || async {}).await;
    edits_rotation_delete(&p).await;
}

/// The same run with every connection to the database terminated (`pg_terminate_backend`)
/// before each change: B's feed loses its connection each time and must still agree within
/// the bound, through its reconnect and the trust floor.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_propagation_holds_with_connections_terminated_before_each_change() {
    let Some(db) = crate::support::pg::TestDb::fresh("postgres_propagation_terminated").await
    else {
        return;
    };
    let owner = org_create(&db.url);
    let p = Pair::start(&db.url, owner);
    let db = &db;
    disable_enable_run(&p, "postgres, connections terminated", || async move {
        db.terminate_connections().await;
    })
    .await;
}

/// The same run with only B's change listener (its `LISTEN` connection) terminated before
/// each change: the hint for that change is lost, and B must still agree within the bound
/// (its polls read the change; the listener reconnects meanwhile).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_propagation_holds_with_the_listener_killed_before_each_change() {
    let Some(db) = crate::support::pg::TestDb::fresh("postgres_propagation_listener").await else {
        return;
    };
    let owner = org_create(&db.url);
    let p = Pair::start(&db.url, owner);
    let db = &db;
    disable_enable_run(&p, "postgres, listener killed", || async move {
        db.terminate_listeners().await;
    })
    .await;
    // Both instances listen again afterwards.
    let deadline = Instant::now() + Duration::from_secs(10);
    while db.listener_pids().await.len() < 2 {
        assert!(Instant::now() < deadline, "the listeners reconnected");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}
