//! The embedded default: first start creates a demo organization, the console's token is
//! never written anywhere, a restart re-keys it, and `--fresh` starts empty.

use keyconsole::api::{AuditQuery, BucketSize, ListKeysQuery, PageQuery, UsageQuery};
use keyconsole::client::Client;
use keyconsole::console::{DEMO_ORG_NAME, LOCAL_ORG_NAME, start_embedded};
use keyconsole::domain::decision::ErrorCode;

fn files_contain(dir: &std::path::Path, needle: &str) -> bool {
    std::fs::read_dir(dir).expect("dir").flatten().any(|e| {
        let p = e.path();
        if p.is_dir() {
            return files_contain(&p, needle);
        }
        std::fs::read(&p).is_ok_and(|b| String::from_utf8_lossy(&b).contains(needle))
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn first_start_has_demo_data_and_never_writes_the_token() {
    let dir = tempfile::tempdir().expect("tempdir");
    let e = start_embedded(dir.path(), false)
        .await
        .expect("embedded service");
    assert!(e.demo);
    let c = Client::new(&e.url, Some(e.token.clone())).expect("client");
    let me = c.me().await.expect("the console's token works");
    assert_eq!(me.org.name, DEMO_ORG_NAME);
    let keys = c
        .list_keys(&ListKeysQuery {
            limit: Some(500),
            ..Default::default()
        })
        .await
        .expect("keys");
    let total = keys.total.unwrap_or(0);
    assert!((38..=45).contains(&total), "about 40 keys, got {total}");
    let statuses: Vec<&str> = keys.data.iter().map(|k| k.status.as_str()).collect();
    for s in ["active", "disabled", "expiring", "expired"] {
        assert!(statuses.contains(&s), "a {s} key");
    }
    assert!(
        keys.data.iter().any(|k| k.app_id.is_some()),
        "app-scoped keys"
    );
    assert!(
        keys.data.iter().any(|k| !k.allowed_domains.is_empty()),
        "keys with domains"
    );
    assert!(
        keys.data.iter().any(|k| k.rotated_to.is_some()),
        "a rotation in progress"
    );
    assert!(
        keys.data
            .iter()
            .filter(|k| k.id != me.key.as_ref().expect("a key").id)
            .all(|k| k.name.ends_with("[demo]")),
        "marked as demo"
    );
    let apps = c.list_apps(&PageQuery::default()).await.expect("apps");
    assert_eq!(apps.data.len(), 2);
    let days = c
        .org_usage(&UsageQuery {
            bucket: Some(BucketSize::Day),
            ..Default::default()
        })
        .await
        .expect("usage");
    let busy_days = days.buckets.iter().filter(|b| b.total() > 0).count();
    assert!(busy_days >= 30, "30 days of history, got {busy_days}");
    let audit = c
        .audit(&AuditQuery {
            limit: Some(500),
            ..Default::default()
        })
        .await
        .expect("audit");
    assert!(audit.data.len() >= 40);
    // The token is nowhere on disk: not in the database, the WAL, or the state file.
    let random = e.token.expose()["sk_live_".len()..].to_owned();
    e.stop().await;
    assert!(
        !files_contain(dir.path(), &random),
        "the console's secret was written to disk"
    );
    assert!(
        files_contain(dir.path(), &me.key.as_ref().expect("a key").id),
        "the scan does read the files"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_token_lives_only_in_memory_and_is_replaced_at_each_start() {
    let dir = tempfile::tempdir().expect("tempdir");
    let first = start_embedded(dir.path(), true).await.expect("first start");
    let token1 = first.token.clone();
    let url1 = first.url.clone();
    let c1 = Client::new(&url1, Some(token1.clone())).expect("client");
    let me = c1.me().await.expect("works");
    assert_eq!(
        me.org.name, LOCAL_ORG_NAME,
        "--fresh starts without demo data"
    );
    assert_eq!(
        c1.list_keys(&ListKeysQuery::default())
            .await
            .expect("keys")
            .total,
        Some(1)
    );
    first.stop().await;
    assert!(
        !files_contain(dir.path(), &token1.expose()["sk_live_".len()..]),
        "the console's secret was written to disk"
    );
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let state = std::fs::metadata(dir.path().join("embedded.json")).expect("state file");
        assert_eq!(state.permissions().mode() & 0o777, 0o600);
    }
    // A restart re-keys the same key: the old token stops working, the new one works.
    let second = start_embedded(dir.path(), false)
        .await
        .expect("second start");
    assert!(!second.demo);
    let c2 = Client::new(&second.url, Some(second.token.clone())).expect("client");
    assert_eq!(
        c2.me().await.expect("new token").key.expect("a key").id,
        me.key.as_ref().expect("a key").id
    );
    let old = Client::new(&second.url, Some(token1)).expect("client");
    assert_eq!(
        old.me().await.expect_err("old token").code(),
        Some(ErrorCode::InvalidKey)
    );
    second.stop().await;
    // --fresh moves the database aside rather than deleting it.
    let third = start_embedded(dir.path(), true).await.expect("fresh start");
    let backups = std::fs::read_dir(dir.path())
        .expect("dir")
        .flatten()
        .filter(|e| e.file_name().to_string_lossy().ends_with(".bak"))
        .count();
    assert_eq!(backups, 1);
    third.stop().await;
}

/// Issue 12, defect 2: the console's own key was disabled (after a warning); the next start
/// enables it again and re-keys it, leaving no second "this console" key behind.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_disabled_console_key_is_enabled_again_at_the_next_start() {
    use keyconsole::api::{CreateKeyRequest, UpdateKeyRequest};
    use keyconsole::console::CONSOLE_KEY_NAME;
    let dir = tempfile::tempdir().expect("tempdir");
    let first = start_embedded(dir.path(), true).await.expect("first start");
    let c = Client::new(&first.url, Some(first.token.clone())).expect("client");
    let me = c.me().await.expect("me");
    // A second owner key, so the server's last-owner guard lets the console's key go.
    c.create_key(&CreateKeyRequest {
        name: "spare owner".into(),
        scopes: Some(vec!["*".into()]),
        ..CreateKeyRequest::default()
    })
    .await
    .expect("spare owner");
    c.update_key(
        &me.key.as_ref().expect("a key").id,
        &UpdateKeyRequest {
            enabled: Some(false),
            ..UpdateKeyRequest::default()
        },
        None,
    )
    .await
    .expect("disable the console's key");
    assert_eq!(
        c.me().await.expect_err("locked out").code(),
        Some(ErrorCode::KeyDisabled)
    );
    first.stop().await;

    let second = start_embedded(dir.path(), false)
        .await
        .expect("second start");
    let c2 = Client::new(&second.url, Some(second.token.clone())).expect("client");
    let me2 = c2.me().await.expect("the console works again");
    assert_eq!(
        me2.key.as_ref().expect("a key").id,
        me.key.as_ref().expect("a key").id,
        "the same key, enabled again"
    );
    assert!(me2.key.as_ref().expect("a key").enabled);
    let keys = c2
        .list_keys(&ListKeysQuery::default())
        .await
        .expect("keys")
        .data;
    let consoles: Vec<_> = keys.iter().filter(|k| k.name == CONSOLE_KEY_NAME).collect();
    assert_eq!(consoles.len(), 1, "no second console key: {consoles:?}");
    second.stop().await;
}

/// The Usage tab's stale list follows the Review tab's rule on a real server: a key made a
/// minute ago and never used is not stale (it was, when the list asked only for "not used
/// since"), while the demo's old unused keys are.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_stale_list_holds_no_key_younger_than_its_cutoff() {
    use keyconsole::api::CreateKeyRequest;
    use keyconsole::tui::app::hygiene;
    let dir = tempfile::tempdir().expect("tempdir");
    let e = start_embedded(dir.path(), false)
        .await
        .expect("embedded service");
    let c = Client::new(&e.url, Some(e.token.clone())).expect("client");
    let fresh = c
        .create_key(&CreateKeyRequest {
            name: "Made just now".into(),
            scopes: Some(vec!["runs:read".into()]),
            ..Default::default()
        })
        .await
        .expect("created")
        .key;
    let now = chrono::Utc::now();
    let stale = hygiene::stale(
        c.list_keys(&hygiene::stale_query(now))
            .await
            .expect("list")
            .data,
        now,
    );
    assert!(
        stale.iter().all(|k| k.id != fresh.id),
        "a key made just now is not stale"
    );
    assert!(!stale.is_empty(), "the demo has stale keys");
    assert!(
        stale
            .iter()
            .all(|k| k.created_at < now - chrono::Duration::days(30)
                && k.last_used_at
                    .is_none_or(|t| t < now - chrono::Duration::days(30))
                && k.status.can_authenticate()),
        "every one is older than the cutoff, unused since, and can still authenticate"
    );
    // What the list asked before: "not used since" alone holds the new key.
    let before = c
        .list_keys(&ListKeysQuery {
            last_used_before: Some(now - chrono::Duration::days(30)),
            limit: Some(200),
            ..Default::default()
        })
        .await
        .expect("list");
    assert!(before.data.iter().any(|k| k.id == fresh.id));
    e.stop().await;
}
