//! Usage counters, last-used, auth events, audit, and persistence across a clean restart.

use keyconsole::api::{
    AuditQuery, AuthEventsQuery, BucketSize, ListKeysQuery, RotateRequest, UpdateKeyRequest,
    UsageQuery, VerifyRequest,
};
use keyconsole::client::ClientError;
use keyconsole::domain::decision::ErrorCode;
use keyconsole::server::clock::Clock;
use keyconsole::storage::Retention;
use reqwest::Method;

use crate::common::{TestServer, raw, request_id, test_config};

fn minute_total(u: &keyconsole::api::KeyUsage) -> (u64, u64, u64, u64) {
    u.buckets.iter().fold((0, 0, 0, 0), |a, b| {
        (
            a.0 + b.ok,
            a.1 + b.unauthorized,
            a.2 + b.forbidden,
            a.3 + b.rate_limited,
        )
    })
}

#[tokio::test]
async fn usage_counts_every_authenticated_request_and_last_used() {
    let s = TestServer::start().await;
    let k = s.create("Counted", &["runs:read"]).await;
    assert!(k.key.last_used_at.is_none());
    let kc = s.client_with(&k.secret);
    for _ in 0..3 {
        kc.me().await.expect("ok");
    }
    kc.list_keys(&ListKeysQuery::default())
        .await
        .expect_err("403");
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
    kc.me().await.expect_err("401");
    s.flush().await;
    let u = s
        .client
        .key_usage(&k.key.id, &UsageQuery::default())
        .await
        .expect("usage");
    assert_eq!(u.buckets.len(), 60);
    assert_eq!(minute_total(&u), (3, 1, 1, 0));
    for bucket in [BucketSize::Hour, BucketSize::Day] {
        let u = s
            .client
            .key_usage(
                &k.key.id,
                &UsageQuery {
                    bucket: Some(bucket),
                    ..Default::default()
                },
            )
            .await
            .expect("usage");
        assert_eq!(minute_total(&u), (3, 1, 1, 0), "{bucket:?} rollup");
    }
    let got = s.client.get_key(&k.key.id).await.expect("get");
    assert_eq!(got.last_used_at, Some(s.clock.now()));
    let org = s
        .client
        .org_usage(&UsageQuery::default())
        .await
        .expect("org usage");
    let top = org
        .top_keys
        .iter()
        .find(|t| t.key_id == k.key.id)
        .expect("in top keys");
    assert_eq!(
        (top.ok, top.unauthorized, top.forbidden, top.total),
        (3, 1, 1, 5)
    );
    assert_eq!(top.name, "Counted");
}

async fn usage_of(s: &TestServer, key_id: &str) -> (u64, u64, u64, u64) {
    let u = s
        .client
        .key_usage(key_id, &UsageQuery::default())
        .await
        .expect("usage");
    minute_total(&u)
}

#[tokio::test]
async fn verify_counts_for_the_verified_key_not_the_caller() {
    let s = TestServer::start().await;
    let k = s.create("Target", &["runs:read"]).await;
    // Each reading of the owner's usage comes right after an explicit flush, so nothing of
    // the owner's is pending and the 1 s background flush cannot change what it sees.
    s.flush().await;
    let owner0 = usage_of(&s, &s.owner.key.id).await;
    let target0 = usage_of(&s, &k.key.id).await;
    for _ in 0..2 {
        s.client
            .verify(&VerifyRequest {
                credential: k.secret.clone(),
                origin: None,
                app_id: None,
                required_scopes: None,
            })
            .await
            .expect("verify");
    }
    s.flush().await;
    let owner1 = usage_of(&s, &s.owner.key.id).await;
    let target1 = usage_of(&s, &k.key.id).await;
    assert_eq!(
        target1.0 - target0.0,
        2,
        "the verified key counts each verify"
    );
    // Between the two readings the owner made two usage reads (owner0, target0) and two
    // verifies. A request is counted after it answers, so a reading never sees itself, and
    // the verifies count for the verified key only: the owner's delta is exactly 2.
    assert_eq!(
        owner1.0 - owner0.0,
        2,
        "the caller is not counted for verifies"
    );
}

#[tokio::test]
async fn a_429_is_counted_for_a_cached_key_and_is_an_auth_event() {
    let config = keyconsole::server::ServerConfig {
        failed_auth_limit: 2,
        ..test_config()
    };
    let s = TestServer::start_with(config, None, Retention::default()).await;
    let k = s.create("Blocked", &["runs:read"]).await;
    let auth = format!("Bearer {}", k.secret.expose());
    // A valid key gets through a block (API.md §4), so take one that does not: disabled,
    // and in the cache after one request (a failure, the first of two).
    s.set_enabled(&k.key.id, false).await;
    let (st, _, _) = raw(
        &s.url,
        Method::GET,
        "/v1/me",
        &[("authorization", &auth)],
        None,
    )
    .await;
    assert_eq!(st, 401);
    for _ in 0..1 {
        let (st, _, _) = raw(
            &s.url,
            Method::GET,
            "/v1/me",
            &[("authorization", "Bearer sk_live_nope")],
            None,
        )
        .await;
        assert_eq!(st, 401);
    }
    let (st, h, body) = raw(
        &s.url,
        Method::GET,
        "/v1/me",
        &[("authorization", &auth)],
        None,
    )
    .await;
    assert_eq!(
        (st, body["error"]["code"].as_str()),
        (429, Some("rate_limited"))
    );
    let rid = request_id(&h);
    // Let the owner (same address) read again.
    s.clock.advance(chrono::Duration::seconds(61));
    s.flush().await;
    assert_eq!(usage_of(&s, &k.key.id).await, (0, 1, 0, 1));
    let ev = s.events_of(&rid).await;
    assert_eq!(ev.len(), 1, "the 429 is an auth event");
    assert_eq!(ev[0].code, "rate_limited");
    assert_eq!(ev[0].status, 429);
    assert_eq!(ev[0].key_id.as_deref(), Some(k.key.id.as_str()));
}

#[tokio::test]
async fn a_public_key_alone_counts_only_from_an_allowed_origin() {
    let s = TestServer::start().await;
    let k = s
        .client
        .create_key(&keyconsole::api::CreateKeyRequest {
            name: "Widget".into(),
            scopes: Some(vec!["runs:read".into()]),
            allowed_domains: Some(vec!["shop.example.com".into()]),
            ..Default::default()
        })
        .await
        .expect("create");
    let pk = format!("Bearer {}", k.key.id);
    // Anyone can read a public key: from elsewhere it is an auth event, not usage.
    let (st, _, _) = raw(
        &s.url,
        Method::GET,
        "/v1/me",
        &[("authorization", &pk), ("origin", "https://evil.io")],
        None,
    )
    .await;
    assert_eq!(st, 403);
    let (st, _, _) = raw(
        &s.url,
        Method::GET,
        "/v1/me",
        &[("authorization", &pk)],
        None,
    )
    .await;
    assert_eq!(st, 403);
    s.flush().await;
    assert_eq!(usage_of(&s, &k.key.id).await, (0, 0, 0, 0));
    let got = s.client.get_key(&k.key.id).await.expect("get");
    assert!(got.last_used_at.is_none(), "{:?}", got.last_used_at);
    let ev = s
        .client
        .auth_events(&AuthEventsQuery {
            key_id: Some(k.key.id.clone()),
            ..Default::default()
        })
        .await
        .expect("events");
    assert_eq!(ev.data.len(), 2);
    assert!(ev.data.iter().all(|e| e.code == "origin_not_allowed"));
    // From an allowed origin it counts.
    let (st, _, _) = raw(
        &s.url,
        Method::GET,
        "/v1/me",
        &[
            ("authorization", &pk),
            ("origin", "https://shop.example.com"),
        ],
        None,
    )
    .await;
    assert_eq!(st, 200);
    s.flush().await;
    assert_eq!(usage_of(&s, &k.key.id).await, (1, 0, 0, 0));
    let got = s.client.get_key(&k.key.id).await.expect("get");
    assert!(got.last_used_at.is_some());
}

#[tokio::test]
async fn auth_events_are_found_by_request_id() {
    let s = TestServer::start().await;
    let k = s.create("Support case", &["runs:read"]).await;
    let (status, h, _) = raw(
        &s.url,
        Method::GET,
        "/v1/keys",
        &[
            ("authorization", &format!("Bearer {}", k.secret.expose())),
            ("origin", "https://shop.example.com"),
        ],
        None,
    )
    .await;
    assert_eq!(status, 403);
    let rid = request_id(&h);
    // A wrong secret sent with a real public key is still attributed to that key's org.
    let mut fill = |b: &mut [u8]| keyconsole::server::os_random(b);
    let wrong = keyconsole::domain::key::Secret::generate(
        &Default::default(),
        keyconsole::domain::key::Env::Live,
        &mut fill,
    );
    let (status, h2, _) = raw(
        &s.url,
        Method::GET,
        "/v1/me",
        &[("x-api-key", &format!("{}:{}", k.key.id, wrong.expose()))],
        None,
    )
    .await;
    assert_eq!(status, 401);
    let rid2 = request_id(&h2);
    let ev = s.events_of(&rid).await;
    assert_eq!(ev.len(), 1);
    let e = &ev[0];
    assert_eq!(e.code, "insufficient_scope");
    assert_eq!(e.status, 403);
    assert_eq!(e.key_id.as_deref(), Some(k.key.id.as_str()));
    assert_eq!((e.method.as_str(), e.path.as_str()), ("GET", "/v1/keys"));
    assert_eq!(
        e.required_scopes,
        ["keys:read"],
        "the event names what to grant, for a support lookup"
    );
    assert_eq!(e.origin.as_deref(), Some("https://shop.example.com"));
    assert_eq!(e.ip, "127.0.0.1");
    let ev2 = s.events_of(&rid2).await;
    assert_eq!(ev2.len(), 1);
    assert_eq!(ev2[0].code, "invalid_key");
    assert!(ev2[0].required_scopes.is_empty());
    assert_eq!(ev2[0].key_id.as_deref(), Some(k.key.id.as_str()));
    // Filters by key and code; allowed requests are not events.
    let by_key = s
        .client
        .auth_events(&AuthEventsQuery {
            key_id: Some(k.key.id.clone()),
            ..Default::default()
        })
        .await
        .expect("events");
    assert_eq!(by_key.data.len(), 2);
    let by_code = s
        .client
        .auth_events(&AuthEventsQuery {
            code: Some("key_disabled".into()),
            ..Default::default()
        })
        .await
        .expect("events");
    assert!(by_code.data.is_empty());
    // Another org never sees them.
    let other = s.new_org("Globex").await;
    let theirs = s
        .client_with(&other.secret)
        .auth_events(&AuthEventsQuery {
            request_id: Some(rid),
            ..Default::default()
        })
        .await
        .expect("events");
    assert!(theirs.data.is_empty());
}

#[tokio::test]
async fn stored_origin_and_app_id_are_capped() {
    let s = TestServer::start().await;
    let k = s.create("Long headers", &["runs:read"]).await;
    let origin = format!("https://{}.example.com", "a".repeat(1000));
    let (status, h, _) = raw(
        &s.url,
        Method::GET,
        "/v1/keys",
        &[
            ("authorization", &format!("Bearer {}", k.secret.expose())),
            ("origin", &origin),
        ],
        None,
    )
    .await;
    assert_eq!(status, 403);
    let rid = request_id(&h);
    let ev = s.events_of(&rid).await;
    let stored = ev[0].origin.as_deref().expect("origin");
    assert_eq!(stored.chars().count(), 256);
    assert!(origin.starts_with(stored));
}

#[tokio::test]
async fn auth_event_retention_keeps_the_newest() {
    let retention = Retention {
        auth_events_per_org: 3,
        ..Retention::default()
    };
    let s = TestServer::start_with(test_config(), None, retention).await;
    let k = s.create("Noisy", &["runs:read"]).await;
    let kc = s.client_with(&k.secret);
    for _ in 0..5 {
        kc.list_keys(&ListKeysQuery::default())
            .await
            .expect_err("403");
        s.flush().await;
    }
    let ev = s
        .client
        .auth_events(&AuthEventsQuery::default())
        .await
        .expect("events");
    assert_eq!(ev.data.len(), 3);
}

#[tokio::test]
async fn audit_records_every_action_with_its_actor() {
    let s = TestServer::start().await;
    let admin = s
        .create("Admin", &["keys:*", "runs:read", "audit:read"])
        .await;
    let ac = s.client_with(&admin.secret);
    let app = s
        .client
        .create_app(&keyconsole::api::CreateAppRequest { name: "App".into() })
        .await
        .expect("app");
    let k = ac
        .create_key(&keyconsole::api::CreateKeyRequest {
            name: "Audited".into(),
            scopes: Some(vec!["runs:read".into()]),
            ..Default::default()
        })
        .await
        .expect("create");
    let id = k.key.id.clone();
    ac.update_key(
        &id,
        &UpdateKeyRequest {
            name: Some("Renamed".into()),
            ..Default::default()
        },
        None,
    )
    .await
    .expect("rename");
    ac.update_key(
        &id,
        &UpdateKeyRequest {
            enabled: Some(false),
            ..Default::default()
        },
        None,
    )
    .await
    .expect("disable");
    ac.update_key(
        &id,
        &UpdateKeyRequest {
            enabled: Some(true),
            ..Default::default()
        },
        None,
    )
    .await
    .expect("enable");
    let r = ac
        .rotate_key(
            &id,
            &RotateRequest {
                grace_period_seconds: Some(60),
            },
        )
        .await
        .expect("rotate");
    ac.delete_key(&r.key.id).await.expect("delete");
    let log = ac
        .audit(&AuditQuery {
            key_id: Some(id.clone()),
            ..Default::default()
        })
        .await
        .expect("audit");
    let actions: Vec<&str> = log.data.iter().map(|e| e.action.as_str()).collect();
    assert_eq!(
        actions,
        [
            "key.rotated",
            "key.enabled",
            "key.disabled",
            "key.updated",
            "key.created"
        ]
    );
    assert!(
        log.data
            .iter()
            .all(|e| e.actor_key_id.as_deref() == Some(admin.key.id.as_str()))
    );
    let renamed = &log.data[3];
    assert_eq!(renamed.changes["name"]["from"], "Audited");
    assert_eq!(renamed.changes["name"]["to"], "Renamed");
    let new_key = ac
        .audit(&AuditQuery {
            key_id: Some(r.key.id.clone()),
            ..Default::default()
        })
        .await
        .expect("audit");
    let actions: Vec<&str> = new_key.data.iter().map(|e| e.action.as_str()).collect();
    assert_eq!(actions, ["key.deleted", "key.created"]);
    let apps = s
        .client
        .audit(&AuditQuery {
            action: Some("app.created".into()),
            ..Default::default()
        })
        .await
        .expect("audit");
    assert_eq!(apps.data.len(), 1);
    assert_eq!(apps.data[0].changes["app_id"], app.id.as_str());
    let e = s
        .client_with(&k.secret)
        .audit(&AuditQuery::default())
        .await
        .expect_err("needs audit:read");
    assert_eq!(e.code(), Some(ErrorCode::InsufficientScope));
}

#[tokio::test]
async fn a_clean_restart_loses_nothing() {
    let s = TestServer::start().await;
    let k = s.create("Durable", &["runs:read"]).await;
    let kc = s.client_with(&k.secret);
    for _ in 0..7 {
        kc.me().await.expect("ok");
    }
    kc.list_keys(&ListKeysQuery::default())
        .await
        .expect_err("denied");
    let used_at = s.clock.now();
    // No explicit flush: shutdown must write the batch.
    let reuse = s.stop().await;
    let s2 = TestServer::start_with(test_config(), Some(reuse), Retention::default()).await;
    let u = s2
        .client
        .key_usage(&k.key.id, &UsageQuery::default())
        .await
        .expect("usage");
    assert_eq!(minute_total(&u), (7, 0, 1, 0));
    let got = s2.client.get_key(&k.key.id).await.expect("key survived");
    assert!(
        got.last_used_at
            .is_some_and(|t| (t - used_at).num_seconds().abs() < 5)
    );
    s2.client_with(&k.secret)
        .me()
        .await
        .expect("secret still valid after restart");
    let ev = s2
        .client
        .auth_events(&AuthEventsQuery::default())
        .await
        .expect("events");
    assert_eq!(ev.data.len(), 1);
}

#[tokio::test]
async fn shutdown_waits_for_a_stuck_request_only_for_the_grace_period() {
    use tokio::io::AsyncWriteExt;
    let config = keyconsole::server::ServerConfig {
        shutdown_grace: std::time::Duration::from_millis(500),
        ..test_config()
    };
    let s = TestServer::start_with(config, None, Retention::default()).await;
    let k = s.create("Before shutdown", &["runs:read"]).await;
    s.client_with(&k.secret).me().await.expect("me");
    // A request whose body never finishes arriving: in flight until the server gives up.
    let addr = s.url.trim_start_matches("http://").to_owned();
    let mut stuck = tokio::net::TcpStream::connect(&addr)
        .await
        .expect("connect");
    let head = format!(
        "POST /v1/keys HTTP/1.1\r\nhost: {addr}\r\nauthorization: Bearer {}\r\n\
         content-type: application/json\r\ncontent-length: 100\r\n\r\n{{\"name\"",
        s.owner.secret.expose()
    );
    stuck.write_all(head.as_bytes()).await.expect("write");
    tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    let dir = s.dir.clone();
    let stopped = tokio::time::timeout(std::time::Duration::from_secs(5), s.stop())
        .await
        .expect("shutdown gave up on the stuck request after the grace period");
    drop(stuck);
    // Usage was still written after the grace period.
    let s2 = TestServer::start_with(test_config(), Some(stopped), Retention::default()).await;
    assert_eq!(usage_of(&s2, &k.key.id).await, (1, 0, 0, 0));
    drop(dir);
}

#[tokio::test]
async fn a_dead_server_is_a_connect_error() {
    let s = TestServer::start().await;
    let url = s.url.clone();
    let c = s.client.clone();
    s.stop().await;
    let e = c.me().await.expect_err("dead");
    assert!(matches!(e, ClientError::Connect { .. }), "{e:?}");
    assert!(e.is_unreachable());
    assert!(e.to_string().contains(&url));
}

/// A verification refused for a missing scope is an auth event of the verified key naming
/// the scopes the call required, so a support lookup of its request id can say what to
/// grant.
#[tokio::test]
async fn a_verify_refused_for_scopes_records_what_it_needed() {
    let s = TestServer::start().await;
    let k = s.create("Gateway client", &["runs:read"]).await;
    let req = serde_json::json!({
        "credential": k.secret.expose(),
        "required_scopes": ["runs:read", "webhooks:write"]
    })
    .to_string();
    let (status, h, body) = raw(
        &s.url,
        Method::POST,
        "/v1/verify",
        &[(
            "authorization",
            &format!("Bearer {}", s.owner.secret.expose()),
        )],
        Some(&req),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["code"], "insufficient_scope", "{body}");
    let rid = request_id(&h);
    let ev = s.events_of(&rid).await;
    assert_eq!(ev.len(), 1, "{:?}", ev);
    assert_eq!(ev[0].key_id.as_deref(), Some(k.key.id.as_str()));
    // What the call required, as a 403's body says it (the console names the missing one).
    assert_eq!(ev[0].required_scopes, ["runs:read", "webhooks:write"]);
}
