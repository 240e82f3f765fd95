//! The database file deleted (or replaced) under a running server: writes are refused with
//! 503 and one clear log line, `/readyz` is 503, cached keys keep working, and a restart
//! refuses to create a fresh empty database in its place.

use keyconsole::api::OrgCreated;
use keyconsole::client::Client;
use keyconsole::domain::decision::ErrorCode;
use keyconsole::storage::{self, IfMissing, Outage, Retention};
use reqwest::Method;

use crate::builders::{new_key, org_in};
use crate::common::{code, raw};
use crate::support::serve::{Served, kc, org_create};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_deleted_database_file_refuses_writes_and_is_never_recreated() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("k.db");
    let url = format!("sqlite://{}", path.display());
    let owner: OrgCreated = org_create(&url);
    let mut s = Served::start(&["--database", &url]);
    let c = Client::new(&s.url, Some(owner.secret.clone())).expect("client");
    c.create_key(&new_key("before")).await.expect("a write");
    c.me().await.expect("the owner key is cached");

    std::fs::remove_file(&path).expect("delete the database file");

    for i in 0..3 {
        let e = c
            .create_key(&new_key(&format!("after {i}")))
            .await
            .expect_err("a write into a deleted file");
        assert_eq!(
            (e.code(), e.status()),
            (Some(ErrorCode::Unavailable), Some(503)),
            "{e}"
        );
        assert!(e.to_string().contains("deleted or replaced"), "{e}");
    }
    let (st, _, body) = raw(&s.url, Method::GET, "/readyz", &[], None).await;
    assert_eq!((st, code(&body)), (503, "unavailable"), "{body}");
    assert!(
        body["error"]["message"]
            .as_str()
            .is_some_and(|m| m.contains("deleted or replaced")),
        "{body}"
    );
    // Verification goes on from the open database.
    c.me().await.expect("a cached key still works");
    assert!(!path.exists(), "nothing recreated the file");

    let code = s.term();
    let log = s.log();
    let refused: Vec<&str> = log
        .lines()
        .filter(|l| l.contains("database writes refused"))
        .collect();
    assert_eq!(refused.len(), 1, "one clear log line:\n{log}");
    assert!(
        refused[0].contains("was deleted while the service was running"),
        "{}",
        refused[0]
    );
    // The usage of the requests after the delete cannot be written anywhere: said so.
    assert_eq!(code, 1, "{log}");
    let last = log.lines().last().unwrap_or_default();
    assert!(
        last.starts_with("keyconsole: could not write batched usage")
            && last.contains("deleted or replaced"),
        "{log}"
    );

    // A restart does not make a fresh, empty database where one is expected.
    let out = kc(&["serve", "--listen", "127.0.0.1:0", "--database", &url]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert_eq!(err.trim_end().lines().count(), 1, "{err}");
    assert!(
        err.contains("does not exist") && err.contains("--create"),
        "{err}"
    );
    assert!(!path.exists(), "serve created a database");
    // Unless asked to.
    let mut fresh = Served::start(&["--database", &url, "--create"]);
    assert!(path.exists());
    assert_eq!(fresh.term(), 0, "{}", fresh.log());
}

#[tokio::test]
async fn a_replaced_database_file_refuses_writes() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("k.db");
    let url = format!("sqlite://{}", path.display());
    let store = storage::open(&url, Retention::default(), IfMissing::Create)
        .await
        .expect("open");
    org_in(&store).await.expect("a write");
    store.ping().await.expect("ready");
    // Another database is moved into its place (a restore gone wrong, a second deployment).
    let other_path = dir.path().join("other.db");
    let other = storage::open(
        &format!("sqlite://{}", other_path.display()),
        Retention::default(),
        IfMissing::Create,
    )
    .await
    .expect("other");
    drop(other);
    std::fs::rename(&other_path, &path).expect("replace");
    let e = org_in(&store)
        .await
        .expect_err("a write into a replaced file");
    assert_eq!(e.outage(), Some(Outage::FileReplaced), "{e}");
    assert!(e.to_string().contains("was replaced"), "{e}");
    let e = store.ping().await.expect_err("not ready");
    assert_eq!(e.outage(), Some(Outage::FileReplaced), "{e}");
}
