//! A full disk under a running server, for real: the database on a small tmpfs, the tmpfs
//! filled, writes refused with a message that names the cause, cached keys still verified,
//! usage kept in memory, `/readyz` 503; then space freed and everything back without a
//! restart, nothing counted lost.

use std::sync::Arc;
use std::time::Duration;

use keyconsole::api::UsageQuery;
use keyconsole::client::Client;
use keyconsole::domain::decision::ErrorCode;
use keyconsole::server::usage::FlushError;
use keyconsole::storage::{self, IfMissing, Outage, Retention};
use reqwest::Method;

use crate::builders::new_key;
use crate::common::{TestServer, code, raw, test_config};
use crate::tmpfs::Tmpfs;

/// `/readyz` until it answers `want` (the database recovers on its own: no timing asserted,
/// only a generous bound on the wait).
async fn readyz_until(url: &str, want: u16) -> serde_json::Value {
    for _ in 0..300 {
        let (st, _, body) = raw(url, Method::GET, "/readyz", &[], None).await;
        if st == want {
            return body;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("/readyz never answered {want}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_full_disk_refuses_writes_with_its_cause_and_everything_recovers_when_space_returns() {
    let Some(fs) = Tmpfs::mount("disk-full", "4m") else {
        return;
    };
    let dir = Arc::new(tempfile::tempdir_in(fs.path()).expect("dir on the tmpfs"));
    let url = format!("sqlite://{}", dir.path().join("keys.db").display());
    let store = storage::open(&url, Retention::default(), IfMissing::Create)
        .await
        .expect("open");
    let s = TestServer::start_on(store, dir, None, test_config()).await;
    let before = s.create("Before", &["runs:read"]).await;
    let user = s.client_with(&before.secret);
    user.me().await.expect("cached now");

    let fill = fs.fill();

    // Every write is refused with 503 naming the cause, never a 500, again and again.
    for i in 0..5 {
        let e = s
            .client
            .create_key(&new_key(&format!("during {i}")))
            .await
            .expect_err("no space for a new key");
        assert_eq!(
            (e.code(), e.status()),
            (Some(ErrorCode::Unavailable), Some(503)),
            "write {i}: {e}"
        );
        let msg = e.to_string();
        assert!(msg.contains("disk is full"), "write {i}: {msg}");
        assert!(!msg.contains("reach"), "write {i}: {msg}");
    }
    let body = readyz_until(&s.url, 503).await;
    assert_eq!(code(&body), "unavailable");
    let reason = body["error"]["message"].as_str().unwrap_or_default();
    assert!(reason.contains("disk is full"), "{body}");

    // Cached keys keep being verified; their usage waits in memory.
    let counted = 25;
    for _ in 0..counted {
        user.me()
            .await
            .expect("a cached key still works on a full disk");
    }
    match s.state.flush_usage().await {
        Err(FlushError::Refused { cause, pending, .. }) => {
            assert_eq!(cause, Some(Outage::DiskFull));
            assert!(pending.requests > counted, "{pending:?}");
        }
        other => panic!("a flush onto a full disk: {other:?}"),
    }

    std::fs::remove_file(&fill).expect("free the space");

    // No restart: readiness and writes come back on their own.
    readyz_until(&s.url, 200).await;
    let after = s
        .client
        .create_key(&new_key("after"))
        .await
        .expect("a write after space returned");
    let c = Client::new(&s.url, Some(after.secret.clone())).expect("client");
    assert_eq!(
        c.me()
            .await
            .expect("the new key works")
            .key
            .expect("a key")
            .id,
        after.key.id
    );
    s.flush().await;
    let usage = s
        .client
        .key_usage(&before.key.id, &UsageQuery::default())
        .await
        .expect("usage");
    let ok: u64 = usage.buckets.iter().map(|b| b.ok).sum();
    // The warm-up, the requests on the full disk: none lost.
    assert_eq!(ok, counted + 1, "{:?}", usage.buckets);
}
