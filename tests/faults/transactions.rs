//! Every write transaction ends before the store call returns, whatever path it takes: a
//! version that moved on, an error, a caller that gave up. Another process must find the
//! write lock free right after, and the next write must start clean.

use std::str::FromStr;
use std::sync::Arc;
use std::time::Duration;

use chrono::Utc;
use keyconsole::api::App;
use keyconsole::storage::{IfMissing, KeyStore, NewAudit, Retention, sqlite::SqliteStore};
use sqlx::Connection;
use sqlx::sqlite::{SqliteConnectOptions, SqliteConnection};

use crate::builders::{lock_is_free, org_in};

async fn setup() -> (tempfile::TempDir, String, Arc<dyn KeyStore>) {
    let dir = tempfile::tempdir().expect("tempdir");
    let url = format!("sqlite://{}", dir.path().join("k.db").display());
    let store: Arc<dyn KeyStore> = Arc::new(
        SqliteStore::open(&url, Retention::default(), IfMissing::Create)
            .await
            .expect("open"),
    );
    (dir, url, store)
}

/// A second connection, as another process would have, that never waits for a lock.
async fn other_process(url: &str) -> SqliteConnection {
    let opts = SqliteConnectOptions::from_str(url)
        .expect("url")
        .busy_timeout(Duration::ZERO);
    SqliteConnection::connect_with(&opts)
        .await
        .expect("connect")
}

fn app(i: usize, org: &str) -> (App, NewAudit) {
    let now = Utc::now();
    (
        App {
            id: format!("app_{i:016}"),
            name: format!("app {i}"),
            created_at: now,
        },
        NewAudit {
            id: format!("aud_{i:020}"),
            org_id: org.to_owned(),
            at: now,
            actor: keyconsole::api::Actor::system("org create"),
            action: "app.created".into(),
            key_id: None,
            changes: serde_json::json!({}),
        },
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_write_that_changes_nothing_releases_the_lock_before_it_returns() {
    let (_dir, url, store) = setup().await;
    let owner = org_in(&store).await.expect("org");
    let key = store
        .key_by_id(&owner.key.id)
        .await
        .expect("read")
        .expect("key");
    let mut other = other_process(&url).await;
    for round in 0..50 {
        // A stale version and a deleted id: both paths that write nothing.
        let mut next = key.clone();
        next.version = key.version + 100;
        assert!(
            !store
                .update_key(&next, key.version + 99, &[])
                .await
                .expect("update")
        );
        let (_, audit) = app(round, &owner.org.id);
        assert!(
            !store
                .delete_key(&owner.org.id, "pk_live_000000000000000000000000", &audit)
                .await
                .expect("delete")
        );
        lock_is_free(&mut other)
            .await
            .unwrap_or_else(|e| panic!("round {round}: the write lock is still held: {e}"));
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_write_abandoned_while_it_waits_for_the_lock_leaves_nothing_behind() {
    let (_dir, url, store) = setup().await;
    let owner = org_in(&store).await.expect("org");
    let org = owner.org.id.clone();
    let mut other = other_process(&url).await;
    for round in 0..3 {
        sqlx::raw_sql("BEGIN IMMEDIATE")
            .execute(&mut other)
            .await
            .expect("take the write lock");
        // The caller gives up (a client that went away) while the store waits on the lock.
        let (a, audit) = app(round * 2, &org);
        let gave_up = tokio::time::timeout(
            Duration::from_millis(300),
            store.create_app(&org, &a, &audit),
        )
        .await;
        assert!(gave_up.is_err(), "round {round}: the write did not wait");
        sqlx::raw_sql("ROLLBACK")
            .execute(&mut other)
            .await
            .expect("release");
        // The next write starts clean and commits.
        let (b, audit) = app(round * 2 + 1, &org);
        store
            .create_app(&org, &b, &audit)
            .await
            .unwrap_or_else(|e| panic!("round {round}: the next write failed: {e}"));
        assert!(store.get_app(&org, &b.id).await.expect("read").is_some());
        assert!(
            store.get_app(&org, &a.id).await.expect("read").is_none(),
            "round {round}: the abandoned write happened"
        );
        // And nothing holds the lock afterwards.
        lock_is_free(&mut other)
            .await
            .unwrap_or_else(|e| panic!("round {round}: the write lock is still held: {e}"));
    }
}
