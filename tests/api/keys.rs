//! Key lifecycle: create/edit/delete, validation, tenant isolation, no escalation,
//! rotation, pagination, concurrency, and cache invalidation on every change.

use std::collections::HashSet;

use keyconsole::api::{
    CreateAppRequest, CreateKeyRequest, ListKeysQuery, RotateRequest, UpdateKeyRequest,
};
use keyconsole::domain::decision::ErrorCode;
use keyconsole::server::clock::Clock;
use reqwest::Method;

use crate::common::{TestServer, code, raw};

#[tokio::test]
async fn create_validates_every_field_and_names_it() {
    let s = TestServer::start().await;
    let auth = format!("Bearer {}", s.owner.secret.expose());
    let h = [("authorization", auth.as_str())];
    let cases = [
        (r#"{"name":"x","scopes":["runs:read"],"extra":1}"#, "extra"),
        (r#"{"name":"","scopes":["runs:read"]}"#, "name"),
        (r#"{"name":"x","scopes":["runs:delete"]}"#, "scopes"),
        (r#"{"name":"x","scopes":["Runs"]}"#, "scopes"),
        (
            r#"{"name":"x","scopes":["runs:read"],"preset":"full"}"#,
            "preset",
        ),
        (r#"{"name":"x","preset":"admin"}"#, "preset"),
        (r#"{"name":"x"}"#, "scopes"),
        (
            r#"{"name":"x","scopes":["runs:read"],"allowed_domains":["https://a.com"]}"#,
            "allowed_domains",
        ),
        (
            r#"{"name":"x","scopes":["runs:read"],"allowed_domains":["*.com"]}"#,
            "allowed_domains",
        ),
        (r#"{"name":"x","scopes":["runs:read"],"env":"prod"}"#, "env"),
        (
            r#"{"name":"x","scopes":["runs:read"],"app_id":"app_0000000000000000"}"#,
            "app_id",
        ),
        (
            r#"{"name":"x","scopes":["runs:read"],"expires_at":"2000-01-01T00:00:00Z"}"#,
            "expires_at",
        ),
        (r#"{"name":"x","scopes":"runs:read"}"#, "scopes"),
        (r#"{"name":"x","#, "JSON"),
        (r#"[1,2]"#, "body"),
    ];
    for (body, field) in cases {
        let (st, _, b) = raw(&s.url, Method::POST, "/v1/keys", &h, Some(body)).await;
        assert_eq!(st, 400, "{body}: {b}");
        assert_eq!(code(&b), "invalid_request");
        let msg = b["error"]["message"].as_str().unwrap_or("");
        assert!(
            msg.contains(field),
            "{body}: message `{msg}` should name `{field}`"
        );
    }
    // A body over 64 KiB is refused before parsing.
    let big = format!(
        r#"{{"name":"{}","scopes":["runs:read"]}}"#,
        "a".repeat(70 * 1024)
    );
    let (st, _, b) = raw(&s.url, Method::POST, "/v1/keys", &h, Some(&big)).await;
    assert_eq!((st, code(&b)), (413, "payload_too_large"));
    assert_eq!(b["error"]["type"], "invalid_request");
    // Presets work.
    let (st, _, b) = raw(
        &s.url,
        Method::POST,
        "/v1/keys",
        &h,
        Some(r#"{"name":"RO","preset":"read-only"}"#),
    )
    .await;
    assert_eq!(st, 201, "{b}");
    let scopes: Vec<&str> = b["key"]["scopes"]
        .as_array()
        .expect("array")
        .iter()
        .filter_map(|v| v.as_str())
        .collect();
    assert!(scopes.iter().all(|s| s.ends_with(":read")) && scopes.contains(&"keys:read"));
}

#[tokio::test]
async fn secrets_are_shown_once_and_stored_as_hashes() {
    let s = TestServer::start().await;
    let k = s.create("Once", &["runs:read"]).await;
    let secret = k.secret.expose().to_owned();
    assert_eq!(k.credential.expose(), format!("{}:{}", k.key.id, secret));
    assert_eq!(
        k.key.secret_hint,
        format!("…{}", &secret[secret.len() - 4..])
    );
    // Nothing that reads a key ever returns the secret again.
    let got =
        serde_json::to_string(&s.client.get_key(&k.key.id).await.expect("get")).expect("json");
    let listed = serde_json::to_string(
        &s.client
            .list_keys(&ListKeysQuery::default())
            .await
            .expect("list"),
    )
    .expect("json");
    assert!(!got.contains(&secret) && !listed.contains(&secret));
    // The database (its files, or PostgreSQL's rows) holds neither the secret nor its
    // random part.
    s.flush().await;
    let (dir, db) = (s.dir.clone(), s.db.clone());
    let _ = s.stop().await;
    let text = crate::common::database_text(&dir, db.as_deref());
    assert!(text.contains(&k.key.id), "the dump holds the key's rows");
    assert!(
        !text.contains(&secret[8..40]),
        "secret found in the database files"
    );
}

#[tokio::test]
async fn tenant_isolation_never_hints_at_other_orgs() {
    let s = TestServer::start().await;
    let mine = s.create("Mine", &["runs:read"]).await;
    let other = s.new_org("Globex").await;
    let them = s.client_with(&other.secret);
    let e = them.get_key(&mine.key.id).await.expect_err("other org");
    assert_eq!(e.code(), Some(ErrorCode::NotFound));
    let missing = them
        .get_key("pk_live_000000000000000000000000")
        .await
        .expect_err("missing");
    // Same answer shape for "exists elsewhere" and "does not exist".
    assert_eq!(e.code(), missing.code());
    let (a, b) = match (&e, &missing) {
        (
            keyconsole::client::ClientError::Api { body: a, .. },
            keyconsole::client::ClientError::Api { body: b, .. },
        ) => (a.error.message.clone(), b.error.message.clone()),
        _ => panic!("api errors expected"),
    };
    assert_eq!(a, b);
    for res in [
        them.update_key(
            &mine.key.id,
            &UpdateKeyRequest {
                enabled: Some(false),
                ..Default::default()
            },
            None,
        )
        .await
        .map(|_| ()),
        them.delete_key(&mine.key.id).await,
        them.rotate_key(&mine.key.id, &RotateRequest::default())
            .await
            .map(|_| ()),
        them.key_usage(&mine.key.id, &Default::default())
            .await
            .map(|_| ()),
    ] {
        assert_eq!(res.expect_err("isolated").code(), Some(ErrorCode::NotFound));
    }
    let listed = them
        .list_keys(&ListKeysQuery::default())
        .await
        .expect("list");
    assert!(listed.data.iter().all(|k| k.org_id == other.org.id));
    assert_eq!(listed.total, Some(1));
    // And the key still works for its owner.
    s.client_with(&mine.secret).me().await.expect("still fine");
}

#[tokio::test]
async fn no_escalation() {
    let s = TestServer::start().await;
    let admin = s.create("Limited admin", &["keys:*", "runs:read"]).await;
    let c = s.client_with(&admin.secret);
    let ok = c
        .create_key(&CreateKeyRequest {
            name: "sub".into(),
            scopes: Some(vec!["runs:read".into()]),
            ..Default::default()
        })
        .await
        .expect("covered scopes");
    for scopes in [
        vec!["runs:write"],
        vec!["*"],
        vec!["runs:*"],
        vec!["webhooks:read"],
    ] {
        let e = c
            .create_key(&CreateKeyRequest {
                name: "up".into(),
                scopes: Some(scopes.iter().map(|s| (*s).to_owned()).collect()),
                ..Default::default()
            })
            .await
            .expect_err("escalation");
        assert_eq!(e.code(), Some(ErrorCode::InsufficientScope), "{scopes:?}");
        assert_eq!(e.status(), Some(403));
    }
    let e = c
        .update_key(
            &ok.key.id,
            &UpdateKeyRequest {
                scopes: Some(vec!["*".into()]),
                ..Default::default()
            },
            None,
        )
        .await
        .expect_err("edit up");
    assert_eq!(e.code(), Some(ErrorCode::InsufficientScope));
    // Cannot touch a key holding more than the caller.
    let owner_id = s.owner.key.id.clone();
    for res in [
        c.update_key(
            &owner_id,
            &UpdateKeyRequest {
                enabled: Some(false),
                ..Default::default()
            },
            None,
        )
        .await
        .map(|_| ()),
        c.delete_key(&owner_id).await,
        c.rotate_key(&owner_id, &RotateRequest::default())
            .await
            .map(|_| ()),
    ] {
        assert_eq!(
            res.expect_err("covers more").code(),
            Some(ErrorCode::InsufficientScope)
        );
    }
    // An app-scoped caller manages only keys of its own app.
    let app = s
        .client
        .create_app(&CreateAppRequest { name: "A".into() })
        .await
        .expect("app");
    let app_admin = s
        .client
        .create_key(&CreateKeyRequest {
            name: "app admin".into(),
            scopes: Some(vec!["keys:*".into(), "runs:read".into()]),
            app_id: Some(app.id.clone()),
            ..Default::default()
        })
        .await
        .expect("create");
    let ac = s.client_with(&app_admin.secret);
    let e = ac
        .create_key(&CreateKeyRequest {
            name: "org-wide".into(),
            scopes: Some(vec!["runs:read".into()]),
            ..Default::default()
        })
        .await
        .expect_err("org-scoped from app key");
    assert_eq!(e.code(), Some(ErrorCode::InsufficientScope));
    ac.create_key(&CreateKeyRequest {
        name: "same app".into(),
        scopes: Some(vec!["runs:read".into()]),
        app_id: Some(app.id.clone()),
        ..Default::default()
    })
    .await
    .expect("own app");
}

#[tokio::test]
async fn every_change_applies_to_the_very_next_request() {
    let s = TestServer::start().await;
    let k = s
        .client
        .create_key(&CreateKeyRequest {
            name: "Hot".into(),
            scopes: Some(vec!["keys:read".into()]),
            allowed_domains: Some(vec!["a.example.com".into()]),
            ..Default::default()
        })
        .await
        .expect("create");
    let kc = s.client_with(&k.secret);
    let id = k.key.id.clone();
    let upd = |u: UpdateKeyRequest| {
        let c = s.client.clone();
        let id = id.clone();
        async move { c.update_key(&id, &u, None).await.expect("update") }
    };
    kc.list_keys(&ListKeysQuery::default())
        .await
        .expect("warm the cache");
    // Scope edit.
    upd(UpdateKeyRequest {
        scopes: Some(vec!["runs:read".into()]),
        ..Default::default()
    })
    .await;
    assert_eq!(
        kc.list_keys(&ListKeysQuery::default())
            .await
            .expect_err("scope removed")
            .code(),
        Some(ErrorCode::InsufficientScope)
    );
    upd(UpdateKeyRequest {
        scopes: Some(vec!["keys:read".into()]),
        ..Default::default()
    })
    .await;
    kc.list_keys(&ListKeysQuery::default())
        .await
        .expect("scope back");
    // Domain edit, seen by the public-key path.
    let pk = format!("Bearer {id}");
    let (st, _, _) = raw(
        &s.url,
        Method::GET,
        "/v1/me",
        &[("authorization", &pk), ("origin", "https://a.example.com")],
        None,
    )
    .await;
    assert_eq!(st, 200);
    upd(UpdateKeyRequest {
        allowed_domains: Some(vec!["b.example.com".into()]),
        ..Default::default()
    })
    .await;
    let (st, _, _) = raw(
        &s.url,
        Method::GET,
        "/v1/me",
        &[("authorization", &pk), ("origin", "https://a.example.com")],
        None,
    )
    .await;
    assert_eq!(st, 403);
    // Expiry edit.
    upd(UpdateKeyRequest {
        expires_at: Some(Some(s.clock.now())),
        ..Default::default()
    })
    .await;
    assert_eq!(
        kc.me().await.expect_err("expired").code(),
        Some(ErrorCode::KeyExpired)
    );
    upd(UpdateKeyRequest {
        expires_at: Some(None),
        ..Default::default()
    })
    .await;
    kc.me().await.expect("expiry cleared");
    // Disable and enable.
    upd(UpdateKeyRequest {
        enabled: Some(false),
        ..Default::default()
    })
    .await;
    assert_eq!(
        kc.me().await.expect_err("disabled").code(),
        Some(ErrorCode::KeyDisabled)
    );
    upd(UpdateKeyRequest {
        enabled: Some(true),
        ..Default::default()
    })
    .await;
    kc.me().await.expect("enabled");
    // Rotation with no grace.
    let r = s
        .client
        .rotate_key(
            &id,
            &RotateRequest {
                grace_period_seconds: Some(0),
            },
        )
        .await
        .expect("rotate");
    assert_eq!(
        kc.me().await.expect_err("rotated").code(),
        Some(ErrorCode::KeyExpired)
    );
    let nc = s.client_with(&r.secret);
    nc.me().await.expect("new key works");
    // Delete.
    s.client.delete_key(&r.key.id).await.expect("delete");
    assert_eq!(
        nc.me().await.expect_err("deleted").code(),
        Some(ErrorCode::InvalidKey)
    );
    assert_eq!(
        s.client.get_key(&r.key.id).await.expect_err("gone").code(),
        Some(ErrorCode::NotFound)
    );
    assert_eq!(
        s.client
            .delete_key(&r.key.id)
            .await
            .expect_err("twice")
            .code(),
        Some(ErrorCode::NotFound)
    );
}

#[tokio::test]
async fn rotation_grace_then_expired_then_conflict() {
    let s = TestServer::start().await;
    let old = s
        .client
        .create_key(&CreateKeyRequest {
            name: "Production Backend".into(),
            scopes: Some(vec!["runs:read".into(), "webhooks:write".into()]),
            allowed_domains: Some(vec!["*.example.com".into()]),
            ..Default::default()
        })
        .await
        .expect("create");
    let r = s
        .client
        .rotate_key(
            &old.key.id,
            &RotateRequest {
                grace_period_seconds: Some(3600),
            },
        )
        .await
        .expect("rotate");
    assert_ne!(r.key.id, old.key.id);
    assert_eq!(r.key.name, old.key.name);
    assert_eq!(r.key.scopes, old.key.scopes);
    assert_eq!(r.key.allowed_domains, old.key.allowed_domains);
    assert_eq!(r.key.env, old.key.env);
    assert_eq!(r.key.rotated_from.as_deref(), Some(old.key.id.as_str()));
    assert_eq!(r.previous.rotated_to.as_deref(), Some(r.key.id.as_str()));
    assert_eq!(r.previous.status.as_str(), "expiring");
    assert_eq!(
        r.previous.expires_at,
        Some(s.clock.now() + chrono::Duration::seconds(3600))
    );
    let oc = s.client_with(&old.secret);
    oc.me().await.expect("old key works in the grace period");
    s.client_with(&r.secret).me().await.expect("new key works");
    s.clock.advance(chrono::Duration::seconds(3601));
    let e = oc.me().await.expect_err("grace over");
    assert_eq!(e.code(), Some(ErrorCode::KeyExpired));
    assert!(e.to_string().contains(&r.key.id), "{e}");
    let e = s
        .client
        .rotate_key(&old.key.id, &RotateRequest::default())
        .await
        .expect_err("second rotate");
    assert_eq!(e.code(), Some(ErrorCode::Conflict));
    assert_eq!(e.status(), Some(409));
    let e = s
        .client
        .rotate_key(
            &r.key.id,
            &RotateRequest {
                grace_period_seconds: Some(2_592_001),
            },
        )
        .await
        .expect_err("grace too long");
    assert_eq!(e.code(), Some(ErrorCode::InvalidRequest));
    // Rotate with an empty body means no grace.
    let (st, _, b) = raw(
        &s.url,
        Method::POST,
        &format!("/v1/keys/{}/rotate", r.key.id),
        &[(
            "authorization",
            &format!("Bearer {}", s.owner.secret.expose()),
        )],
        None,
    )
    .await;
    assert_eq!(st, 201, "{b}");
}

#[tokio::test]
async fn if_match_guards_concurrent_edits() {
    let s = TestServer::start().await;
    let k = s.create("Versioned", &["runs:read"]).await;
    assert_eq!(k.key.version, 1);
    let v2 = s
        .client
        .update_key(
            &k.key.id,
            &UpdateKeyRequest {
                name: Some("v2".into()),
                ..Default::default()
            },
            Some(1),
        )
        .await
        .expect("matching version");
    assert_eq!(v2.version, 2);
    let e = s
        .client
        .update_key(
            &k.key.id,
            &UpdateKeyRequest {
                name: Some("stale".into()),
                ..Default::default()
            },
            Some(1),
        )
        .await
        .expect_err("stale version");
    assert_eq!(
        (e.code(), e.status()),
        (Some(ErrorCode::VersionMismatch), Some(412))
    );
    let (st, h, _) = raw(
        &s.url,
        Method::GET,
        &format!("/v1/keys/{}", k.key.id),
        &[(
            "authorization",
            &format!("Bearer {}", s.owner.secret.expose()),
        )],
        None,
    )
    .await;
    assert_eq!(st, 200);
    assert_eq!(h.get("etag").and_then(|v| v.to_str().ok()), Some("\"2\""));
    let (st, _, b) = raw(
        &s.url,
        Method::PATCH,
        &format!("/v1/keys/{}", k.key.id),
        &[
            (
                "authorization",
                &format!("Bearer {}", s.owner.secret.expose()),
            ),
            ("if-match", "banana"),
        ],
        Some(r#"{"name":"x"}"#),
    )
    .await;
    assert_eq!((st, code(&b)), (400, "invalid_request"));
    // `*` matches any version (RFC 9110).
    let (st, h, b) = raw(
        &s.url,
        Method::PATCH,
        &format!("/v1/keys/{}", k.key.id),
        &[
            (
                "authorization",
                &format!("Bearer {}", s.owner.secret.expose()),
            ),
            ("if-match", "*"),
        ],
        Some(r#"{"name":"any version"}"#),
    )
    .await;
    assert_eq!(st, 200, "{b}");
    assert_eq!(b["name"], "any version");
    assert_eq!(h.get("etag").and_then(|v| v.to_str().ok()), Some("\"3\""));
}

#[tokio::test]
async fn a_key_creates_keys_only_in_its_own_environment_unless_it_holds_star() {
    let s = TestServer::start().await;
    // The owner (`*`, live) may create a test key.
    let test_admin = s
        .client
        .create_key(&CreateKeyRequest {
            name: "Test admin".into(),
            scopes: Some(vec!["keys:*".into(), "runs:read".into()]),
            env: Some(keyconsole::domain::key::Env::Test),
            ..CreateKeyRequest::default()
        })
        .await
        .expect("owner creates a test key");
    assert!(test_admin.secret.expose().starts_with("sk_test_"));
    let tc = s.client_with(&test_admin.secret);
    // A leaked test key cannot mint live keys.
    let e = tc
        .create_key(&CreateKeyRequest {
            name: "Live from test".into(),
            scopes: Some(vec!["runs:read".into()]),
            env: Some(keyconsole::domain::key::Env::Live),
            ..CreateKeyRequest::default()
        })
        .await
        .expect_err("test key creating a live key");
    assert_eq!(
        (e.code(), e.status()),
        (Some(ErrorCode::InsufficientScope), Some(403))
    );
    let msg = match &e {
        keyconsole::client::ClientError::Api { body, .. } => body.error.message.clone(),
        other => panic!("api error expected: {other:?}"),
    };
    assert!(msg.contains("test keys") && msg.contains('*'), "{msg}");
    // Its own environment is fine, by default or named.
    for env in [None, Some(keyconsole::domain::key::Env::Test)] {
        let k = tc
            .create_key(&CreateKeyRequest {
                name: "Test child".into(),
                scopes: Some(vec!["runs:read".into()]),
                env,
                ..CreateKeyRequest::default()
            })
            .await
            .expect("own environment");
        assert_eq!(k.key.env, keyconsole::domain::key::Env::Test);
    }
    // Nor can a live key without `*` create test keys.
    let live_admin = s.create("Live admin", &["keys:*", "runs:read"]).await;
    let e = s
        .client_with(&live_admin.secret)
        .create_key(&CreateKeyRequest {
            name: "Test from live".into(),
            scopes: Some(vec!["runs:read".into()]),
            env: Some(keyconsole::domain::key::Env::Test),
            ..CreateKeyRequest::default()
        })
        .await
        .expect_err("live key creating a test key");
    assert_eq!(e.code(), Some(ErrorCode::InsufficientScope));
}

#[tokio::test]
async fn cursor_pagination_has_no_duplicates_and_filters_work() {
    let s = TestServer::start().await;
    for i in 0..23 {
        let scopes: &[&str] = if i % 2 == 0 {
            &["webhooks:write"]
        } else {
            &["runs:read"]
        };
        s.create(&format!("key-{i:02}"), scopes).await;
    }
    let mut seen = HashSet::new();
    let mut cursor = None;
    let mut pages = 0;
    let mut last_created = None;
    loop {
        let page = s
            .client
            .list_keys(&ListKeysQuery {
                limit: Some(5),
                cursor: cursor.clone(),
                ..Default::default()
            })
            .await
            .expect("page");
        assert_eq!(page.total, Some(24));
        for k in &page.data {
            assert!(seen.insert(k.id.clone()), "duplicate {}", k.id);
            if let Some(prev) = last_created {
                assert!(k.created_at <= prev, "newest first");
            }
            last_created = Some(k.created_at);
        }
        pages += 1;
        match page.next_cursor {
            Some(c) => cursor = Some(c),
            None => break,
        }
    }
    assert_eq!((seen.len(), pages), (24, 5));
    // Search, scope reverse lookup, status, bad limit and cursor.
    let q = s
        .client
        .list_keys(&ListKeysQuery {
            q: Some("KEY-1".into()),
            ..Default::default()
        })
        .await
        .expect("q");
    assert_eq!(q.data.len(), 10, "key-10..key-19");
    let w = s
        .client
        .list_keys(&ListKeysQuery {
            scope: Some("webhooks:write".into()),
            ..Default::default()
        })
        .await
        .expect("scope");
    assert_eq!(
        w.total,
        Some(13),
        "12 with webhooks:write plus the owner's *"
    );
    let d = s
        .client
        .list_keys(&ListKeysQuery {
            status: Some("disabled".into()),
            ..Default::default()
        })
        .await
        .expect("status");
    assert_eq!(d.total, Some(0));
    for bad in [
        ListKeysQuery {
            limit: Some(0),
            ..Default::default()
        },
        ListKeysQuery {
            limit: Some(501),
            ..Default::default()
        },
        ListKeysQuery {
            cursor: Some("garbage".into()),
            ..Default::default()
        },
        ListKeysQuery {
            status: Some("sleeping".into()),
            ..Default::default()
        },
    ] {
        assert_eq!(
            s.client.list_keys(&bad).await.expect_err("bad").code(),
            Some(ErrorCode::InvalidRequest)
        );
    }
    let old = s
        .client
        .list_keys(&ListKeysQuery {
            created_before: Some(s.clock.now() + chrono::Duration::seconds(1)),
            limit: Some(500),
            ..Default::default()
        })
        .await
        .expect("created_before");
    assert_eq!(old.total, Some(24));
    let none = s
        .client
        .list_keys(&ListKeysQuery {
            created_before: Some(s.clock.now() - chrono::Duration::days(1)),
            ..Default::default()
        })
        .await
        .expect("created_before");
    assert_eq!(none.total, Some(0));
    s.client.me().await.expect("use the owner key");
    s.flush().await;
    let stale = s
        .client
        .list_keys(&ListKeysQuery {
            last_used_before: Some(s.clock.now()),
            limit: Some(500),
            ..Default::default()
        })
        .await
        .expect("last_used_before");
    assert_eq!(
        stale.total,
        Some(23),
        "all but the owner key were never used"
    );
    let hint = s.owner.secret.expose();
    let h = s
        .client
        .list_keys(&ListKeysQuery {
            hint: Some(hint[hint.len() - 4..].to_owned()),
            ..Default::default()
        })
        .await
        .expect("hint");
    assert!(h.data.iter().any(|k| k.id == s.owner.key.id));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_hundred_concurrent_creates() {
    let s = TestServer::start().await;
    let mut tasks = Vec::new();
    for i in 0..200 {
        let c = s.client.clone();
        tasks.push(tokio::spawn(async move {
            c.create_key(&CreateKeyRequest {
                name: format!("c{i}"),
                scopes: Some(vec!["runs:read".into()]),
                ..Default::default()
            })
            .await
        }));
    }
    let mut ids = HashSet::new();
    for t in tasks {
        let r = t.await.expect("join").expect("create");
        assert!(ids.insert(r.key.id));
    }
    assert_eq!(ids.len(), 200);
    let all = s
        .client
        .list_keys(&ListKeysQuery {
            limit: Some(500),
            ..Default::default()
        })
        .await
        .expect("list");
    assert_eq!(all.total, Some(201));
    assert_eq!(all.data.len(), 201);
}

/// Every key mutation's answer carries `x-keyconsole-change` (API.md §7): a decimal change
/// number that grows with each change, a no-op PATCH and a leak report included; and
/// `GET /v1/instances` lists this instance with its org's newest change.
#[tokio::test]
async fn every_key_mutation_answers_its_change_number() {
    let s = TestServer::start().await;
    let auth = format!("Bearer {}", s.owner.secret.expose());
    let h = [("authorization", auth.as_str())];
    let number = |st: u16, hd: &reqwest::header::HeaderMap, what: &str| -> i64 {
        assert!(st < 300, "{what}: {st}");
        hd.get("x-keyconsole-change")
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.parse().ok())
            .unwrap_or_else(|| panic!("{what}: no decimal x-keyconsole-change in {hd:?}"))
    };
    let mut seen = Vec::new();
    let (st, hd, k) = raw(
        &s.url,
        Method::POST,
        "/v1/keys",
        &h,
        Some(r#"{"name":"changes","scopes":["runs:read"]}"#),
    )
    .await;
    seen.push(number(st, &hd, "create"));
    let id = k["key"]["id"].as_str().expect("id").to_owned();
    let secret = k["secret"].as_str().expect("secret").to_owned();
    let path = format!("/v1/keys/{id}");
    for (what, body) in [
        ("PATCH", r#"{"name":"renamed"}"#),
        ("no-op PATCH", r#"{"name":"renamed"}"#),
    ] {
        let (st, hd, _) = raw(&s.url, Method::PATCH, &path, &h, Some(body)).await;
        seen.push(number(st, &hd, what));
    }
    let hash =
        keyconsole::domain::scan::hash_hex(&keyconsole::domain::key::SecretHash::of(&secret));
    let leak = format!(r#"{{"hashes":["{hash}"],"source":"test","action":"disable"}}"#);
    let (st, hd, _) = raw(&s.url, Method::POST, "/v1/leaks", &h, Some(&leak)).await;
    seen.push(number(st, &hd, "leak report"));
    let (st, hd, r) = raw(
        &s.url,
        Method::POST,
        &format!("{path}/rotate"),
        &h,
        Some(r#"{"grace_period_seconds":0}"#),
    )
    .await;
    seen.push(number(st, &hd, "rotate"));
    let new_id = r["key"]["id"].as_str().expect("new id").to_owned();
    let (st, hd, _) = raw(
        &s.url,
        Method::DELETE,
        &format!("/v1/keys/{new_id}"),
        &h,
        None,
    )
    .await;
    seen.push(number(st, &hd, "delete"));
    // A no-op PATCH (no If-Match) changes nothing: it answers the key's newest change,
    // the one before it; every real change has a larger number.
    assert_eq!(seen[2], seen[1], "no-op PATCH: {seen:?}");
    seen.remove(2);
    assert!(seen.windows(2).all(|w| w[1] > w[0]), "growing: {seen:?}");

    let (st, _, list) = raw(&s.url, Method::GET, "/v1/instances", &h, None).await;
    assert_eq!(st, 200, "{list}");
    assert_eq!(list["latest_change"], *seen.last().expect("some"), "{list}");
    assert_eq!(list["data"].as_array().map(Vec::len), Some(1), "{list}");
}
