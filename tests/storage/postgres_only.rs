//! What only PostgreSQL has: many instances opening one database at once, connections that
//! die, a database that goes away or turns read-only, and the advisory lock of retention.

use std::sync::Arc;

use chrono::Duration;
use keyconsole::api::BucketSize;
use keyconsole::storage::postgres::{PRUNE_LOCK, PgStore};
use keyconsole::storage::{self, IfMissing, KeyStore, Outage, StoreError, UsageBatch, UsageDelta};
use sqlx::Connection;

use crate::harness::{Harness, retention, t0};
use crate::support::pg::{TestDb, with_database};

async fn fresh(test: &str) -> Option<TestDb> {
    TestDb::fresh(test).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ten_instances_starting_at_once_migrate_once() {
    let Some(db) = fresh("ten_instances_starting_at_once_migrate_once").await else {
        return;
    };
    // Ten threads, each with its own runtime, as ten processes would be: all wait at one
    // barrier, then open the fresh database at once.
    let barrier = Arc::new(std::sync::Barrier::new(10));
    let opens: Vec<_> = (0..10)
        .map(|_| {
            let url = db.url.clone();
            let barrier = barrier.clone();
            std::thread::spawn(move || {
                let rt = tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()
                    .expect("runtime");
                barrier.wait();
                rt.block_on(async {
                    storage::open(&url, retention(), IfMissing::Refuse)
                        .await
                        .map(|_| ())
                })
            })
        })
        .collect();
    for o in opens {
        o.join().expect("thread").expect("every instance opens");
    }
    let mut stores = Vec::new();
    for _ in 0..2 {
        stores.push(
            storage::open(&db.url, retention(), IfMissing::Refuse)
                .await
                .expect("open"),
        );
    }
    let mut conn = sqlx::PgConnection::connect(&db.url).await.expect("connect");
    let applied: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM _sqlx_migrations WHERE success")
        .fetch_one(&mut conn)
        .await
        .expect("migrations");
    // One row per migration file, each applied (`version` is the table's key, so a second
    // apply would have failed, not added a row; what can go wrong is one missing or failed).
    let files = std::fs::read_dir(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/assets/migrations/postgres"
    ))
    .expect("migrations dir")
    .filter(|e| {
        e.as_ref()
            .is_ok_and(|e| e.path().extension().is_some_and(|x| x == "sql"))
    })
    .count();
    let rows: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM _sqlx_migrations")
        .fetch_one(&mut conn)
        .await
        .expect("rows");
    assert_eq!(
        (applied, rows),
        (files as i64, files as i64),
        "every migration applied, once"
    );
    // Every instance works on the one schema.
    for s in &stores {
        s.ping().await.expect("ping");
    }
    let h = harness_on(&db, stores[0].clone());
    let (org, _) = h.org("Acme").await;
    assert!(stores[1].get_org(&org.id).await.expect("read").is_some());
}

fn harness_on(db: &TestDb, store: Arc<dyn KeyStore>) -> Harness {
    Harness::on(store, db.url.clone())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_missing_database_is_created_only_when_asked() {
    let Some(server) =
        crate::support::pg::server_url("a_missing_database_is_created_only_when_asked")
    else {
        return;
    };
    let mut id = [0u8; 6];
    getrandom::fill(&mut id).expect("random");
    let name = format!(
        "kc_test_{}",
        id.iter().map(|b| format!("{b:02x}")).collect::<String>()
    );
    let url = with_database(&server, &name);
    let e = storage::open(&url, retention(), IfMissing::Refuse)
        .await
        .err()
        .expect("refused");
    assert!(matches!(e, StoreError::Missing(_)), "{e:?}");
    let store = storage::open(&url, retention(), IfMissing::Create)
        .await
        .expect("created");
    store.ping().await.expect("ping");
    drop(store);
    let mut conn = sqlx::PgConnection::connect(&server).await.expect("connect");
    sqlx::raw_sql(sqlx::AssertSqlSafe(format!(
        "DROP DATABASE {name} WITH (FORCE)"
    )))
    .execute(&mut conn)
    .await
    .expect("drop");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stopped_server_is_a_clear_open_error() {
    if crate::support::pg::server_url("a_stopped_server_is_a_clear_open_error").is_none() {
        return;
    }
    // Port 1 on loopback: nothing listens there.
    let e = storage::open(
        "postgres://postgres:secretpw@127.0.0.1:1/x",
        retention(),
        IfMissing::Refuse,
    )
    .await
    .err()
    .expect("refused");
    let msg = e.to_string();
    assert!(matches!(e, StoreError::Open(_)), "{e:?}");
    assert!(
        msg.contains("127.0.0.1:1") && !msg.contains("secretpw"),
        "{msg}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn terminated_connections_are_replaced_and_a_dropped_database_is_unreachable() {
    let Some(db) = fresh("terminated_connections_are_replaced").await else {
        return;
    };
    let store = storage::open(&db.url, retention(), IfMissing::Refuse)
        .await
        .expect("open");
    let h = harness_on(&db, store.clone());
    let (org, _) = h.org("Acme").await;
    db.terminate_connections().await;
    // The pool notices dead connections and opens new ones.
    let mut ok = false;
    for _ in 0..3 {
        if store.get_org(&org.id).await.is_ok() {
            ok = true;
            break;
        }
    }
    assert!(ok, "reads work again after pg_terminate_backend");
    store.ping().await.expect("ping after reconnect");
    db.admin(&format!("DROP DATABASE {} WITH (FORCE)", db.name))
        .await;
    let e = store.ping().await.expect_err("gone");
    assert_eq!(e.outage(), Some(Outage::Unreachable), "{e:?}");
    let e = h
        .store
        .create_org(&crate::harness::org_records("x").0)
        .await
        .expect_err("write");
    assert_eq!(e.outage(), Some(Outage::Unreachable), "{e:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_read_only_database_answers_read_only() {
    let Some(db) = fresh("a_read_only_database_answers_read_only").await else {
        return;
    };
    let store = storage::open(&db.url, retention(), IfMissing::Refuse)
        .await
        .expect("open");
    let h = harness_on(&db, store.clone());
    let (org, _) = h.org("Acme").await;
    db.admin(&format!(
        "ALTER DATABASE {} SET default_transaction_read_only = on",
        db.name
    ))
    .await;
    db.terminate_connections().await;
    let mut seen = None;
    for _ in 0..3 {
        match store.ping().await {
            Err(e) if e.outage() == Some(Outage::ReadOnly) => {
                seen = Some(e);
                break;
            }
            _ => continue,
        }
    }
    assert!(seen.is_some(), "ping says read-only");
    let e = h
        .store
        .create_org(&crate::harness::org_records("x").0)
        .await
        .expect_err("write");
    assert_eq!(e.outage(), Some(Outage::ReadOnly), "{e:?}");
    assert!(
        store
            .get_org(&org.id)
            .await
            .expect("reads still work")
            .is_some()
    );
    db.admin(&format!(
        "ALTER DATABASE {} SET default_transaction_read_only = off",
        db.name
    ))
    .await;
    db.terminate_connections().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn retention_runs_on_one_instance_at_a_time() {
    let Some(db) = fresh("retention_runs_on_one_instance_at_a_time").await else {
        return;
    };
    let store = Arc::new(
        PgStore::open(&db.url, retention(), IfMissing::Refuse)
            .await
            .expect("open"),
    );
    let h = harness_on(&db, store.clone());
    let (org, owner) = h.org("Acme").await;
    let m = BucketSize::Minute.floor(t0());
    let batch = UsageBatch {
        deltas: vec![UsageDelta {
            key_id: owner.id.clone(),
            org_id: org.id.clone(),
            minute: m,
            ok: 1,
            unauthorized: 0,
            forbidden: 0,
            rate_limited: 0,
        }],
        ..Default::default()
    };
    store.record_usage(&batch).await.expect("usage");
    let minutes = async || {
        store
            .key_usage(&owner.id, BucketSize::Minute, m, m + Duration::minutes(1))
            .await
            .expect("usage")
            .len()
    };
    // Another instance is pruning (holds the lock): this one skips its round.
    let mut other = sqlx::PgConnection::connect(&db.url).await.expect("connect");
    sqlx::query("SELECT pg_advisory_lock($1)")
        .bind(PRUNE_LOCK)
        .execute(&mut other)
        .await
        .expect("lock");
    store
        .prune(t0() + Duration::days(3))
        .await
        .expect("prune skipped");
    assert_eq!(
        minutes().await,
        1,
        "pruned while another instance held the retention lock"
    );
    sqlx::query("SELECT pg_advisory_unlock($1)")
        .bind(PRUNE_LOCK)
        .execute(&mut other)
        .await
        .expect("unlock");
    store.prune(t0() + Duration::days(3)).await.expect("prune");
    assert_eq!(minutes().await, 0);
}

/// Change hints (`LISTEN`/`NOTIFY`): a key change committed through one instance wakes the
/// listener of another; after its connection is terminated the listener wakes once (to read
/// what it missed), reconnects, listens again, and the next change wakes it too.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_change_wakes_another_instances_listener_even_after_its_connection_is_killed() {
    use tokio::sync::Notify;
    use tokio::time::timeout;
    let Some(db) = fresh("listener_wakes").await else {
        return;
    };
    let h = Harness::on(
        crate::harness::open(&db.url, retention()).await,
        db.url.clone(),
    );
    let listening = h.another().await;
    let wake = Arc::new(Notify::new());
    let task = {
        let (s, w) = (listening.clone(), wake.clone());
        tokio::spawn(async move { s.listen_changes(&w).await })
    };
    let within = std::time::Duration::from_secs(10);
    timeout(within, wake.notified())
        .await
        .expect("a first wake once listening");
    let first = db.listener_pids().await;
    assert_eq!(first.len(), 1, "one listener connection: {first:?}");

    // A change through the other instance wakes it.
    let _ = h.org("Hinted").await;
    timeout(within, wake.notified())
        .await
        .expect("the committed change woke the listener");

    // Its backend terminated: a wake to read what was missed, then a new connection.
    assert_eq!(db.terminate_listeners().await, 1);
    timeout(within, wake.notified())
        .await
        .expect("a wake after the connection was lost");
    // Changes keep coming until one wakes it: the listener is back and listening again.
    let again = timeout(within, async {
        let mut n = 0;
        loop {
            n += 1;
            let _ = h.org(&format!("After {n}")).await;
            if timeout(std::time::Duration::from_millis(200), wake.notified())
                .await
                .is_ok()
            {
                return n;
            }
        }
    })
    .await
    .expect("a change after the reconnect woke the listener");
    let now = db.listener_pids().await;
    assert_eq!(now.len(), 1, "{now:?}");
    assert_ne!(now, first, "a new connection (after {again} change(s))");
    assert!(!task.is_finished(), "the listener goes on");
    task.abort();
}
