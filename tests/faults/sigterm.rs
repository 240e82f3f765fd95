//! SIGTERM of a real `keyconsole serve` with usage batched: every counted request is in the
//! database afterwards and the exit code is 0, also after a full-disk episode once space is
//! back. With the disk still full, one line says what is lost and the exit code is 1.

use std::time::Duration;

use keyconsole::api::UsageQuery;
use keyconsole::client::Client;
use keyconsole::domain::decision::ErrorCode;
use tokio::task::JoinSet;

use crate::builders::new_key;
use crate::support::serve::{Served, org_create};
use crate::tmpfs::Tmpfs;

/// `n` authenticated requests at once, so they land in one batch.
async fn burst(c: &Client, n: u64) {
    let mut set = JoinSet::new();
    for _ in 0..n {
        let c = c.clone();
        set.spawn(async move { c.me().await.map(|_| ()) });
    }
    while let Some(r) = set.join_next().await {
        r.expect("join").expect("a cached key is verified");
    }
}

/// Wait (bounded, nothing timed) until the server logged `needle`.
async fn logged(s: &Served, needle: &str) {
    for _ in 0..200 {
        if s.log().contains(needle) {
            return;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("never logged {needle:?}:\n{}", s.log());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_after_a_full_disk_episode_writes_every_counted_request_and_exits_0() {
    let Some(fs) = Tmpfs::mount("sigterm-recovered", "4m") else {
        return;
    };
    let url = format!("sqlite://{}", fs.path().join("k.db").display());
    let owner = org_create(&url);
    let mut s = Served::start(&["--database", &url]);
    let c = Client::new(&s.url, Some(owner.secret.clone())).expect("client");
    let mut counted = 20;
    burst(&c, 20).await;

    let fill = fs.fill();
    let e = c
        .create_key(&new_key("no room"))
        .await
        .expect_err("the disk is full");
    assert_eq!(e.code(), Some(ErrorCode::Unavailable), "{e}");
    counted += 1;
    burst(&c, 100).await;
    counted += 100;
    logged(&s, "usage flush failed").await;

    std::fs::remove_file(&fill).expect("free the space");
    // A full batch when the signal comes.
    burst(&c, 200).await;
    counted += 200;
    let code = s.term();
    assert_eq!(code, 0, "{}", s.log());

    let mut again = Served::start(&["--database", &url]);
    let c = Client::new(&again.url, Some(owner.secret.clone())).expect("client");
    let usage = c
        .key_usage(&owner.key.id, &UsageQuery::default())
        .await
        .expect("usage");
    let ok: u64 = usage.buckets.iter().map(|b| b.ok).sum();
    assert_eq!(ok, counted, "every counted request is in usage");
    assert_eq!(again.term(), 0, "{}", again.log());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_on_a_still_full_disk_says_in_one_line_what_is_lost() {
    let Some(fs) = Tmpfs::mount("sigterm-full", "4m") else {
        return;
    };
    let url = format!("sqlite://{}", fs.path().join("k.db").display());
    let owner = org_create(&url);
    let mut s = Served::start(&["--database", &url]);
    let c = Client::new(&s.url, Some(owner.secret.clone())).expect("client");
    burst(&c, 10).await;
    let _fill = fs.fill();
    burst(&c, 30).await;
    logged(&s, "usage flush failed").await;
    let code = s.term();
    let log = s.log();
    assert_eq!(code, 1, "{log}");
    let ours: Vec<&str> = log
        .lines()
        .filter(|l| l.starts_with("keyconsole:"))
        .collect();
    assert_eq!(ours.len(), 1, "{log}");
    let line = ours[0];
    assert!(
        line.contains("could not write batched usage at shutdown, so it is lost")
            && line.contains("the database's disk is full")
            && line.contains("requests counted in"),
        "{line}"
    );
}
