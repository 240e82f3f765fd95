//! `/readyz` on PostgreSQL: 503 with a reason when the database cannot be reached (dropped,
//! its connections terminated) or written (read-only), 200 again once it can, no restart.

use reqwest::Method;

use crate::http::call;
use crate::support::pg::TestDb;
use crate::support::serve::{Served, org_create};

/// `/readyz` until it answers `want` (a state change the server learns of on its next
/// database round trip; bounded by tries, never by time).
async fn readyz_until(url: &str, want: u16) -> crate::http::Resp {
    let http = reqwest::Client::new();
    let mut last = None;
    for _ in 0..20 {
        let r = call(&http, url, "", Method::GET, "/readyz", None, &[]).await;
        if r.status == want {
            return r;
        }
        last = Some(r.text);
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    panic!("/readyz never answered {want}; last: {last:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn readyz_is_503_with_a_reason_while_the_database_is_read_only_and_recovers() {
    let Some(db) = TestDb::fresh("readyz_read_only").await else {
        return;
    };
    org_create(&db.url);
    let s = Served::start(&["--database", &db.url]);
    readyz_until(&s.url, 200).await;
    db.admin(&format!(
        "ALTER DATABASE {} SET default_transaction_read_only = on",
        db.name
    ))
    .await;
    db.terminate_connections().await;
    let r = readyz_until(&s.url, 503).await;
    assert_eq!(r.body["error"]["code"], "unavailable", "{}", r.text);
    assert!(
        r.body["error"]["message"]
            .as_str()
            .unwrap_or("")
            .contains("read-only"),
        "{}",
        r.text
    );
    db.admin(&format!(
        "ALTER DATABASE {} SET default_transaction_read_only = off",
        db.name
    ))
    .await;
    db.terminate_connections().await;
    readyz_until(&s.url, 200).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn readyz_is_503_with_a_reason_when_the_database_is_gone() {
    let Some(db) = TestDb::fresh("readyz_gone").await else {
        return;
    };
    let owner = org_create(&db.url);
    let s = Served::start(&["--database", &db.url]);
    readyz_until(&s.url, 200).await;
    // Every connection terminated and the database dropped: nothing to reconnect to.
    db.admin(&format!("DROP DATABASE {} WITH (FORCE)", db.name))
        .await;
    let r = readyz_until(&s.url, 503).await;
    assert_eq!(r.body["error"]["code"], "unavailable", "{}", r.text);
    assert!(
        r.body["error"]["message"]
            .as_str()
            .unwrap_or("")
            .contains("cannot reach its database"),
        "{}",
        r.text
    );
    assert!(
        r.headers.iter().any(|(k, _)| k == "retry-after"),
        "{:?}",
        r.headers
    );
    // A write answers the same 503, never a 500.
    let http = reqwest::Client::new();
    let w = call(
        &http,
        &s.url,
        owner.secret.expose(),
        Method::POST,
        "/v1/keys",
        Some(serde_json::json!({"name": "x", "scopes": ["runs:read"]})),
        &[],
    )
    .await;
    assert_eq!(w.status, 503, "{}", w.text);
    assert!(
        !s.log().contains(owner.secret.expose()),
        "no secret in the log"
    );
}
