//! Access review (API.md §10): scope usage counted on real requests, the review's findings,
//! key owners and descriptions, and the audit actor.

use keyconsole::api::{
    AuditQuery, CreateKeyRequest, ReviewQuery, ScopeUsageQuery, UpdateKeyRequest, VerifyRequest,
};
use reqwest::Method;
use serde_json::json;

use crate::common::{TestServer, raw};

#[tokio::test]
async fn scope_usage_counts_what_allowed_requests_needed_and_suggests_the_least() {
    let s = TestServer::start().await;
    let k = s
        .create(
            "Dashboard",
            &["keys:read", "usage:read", "audit:read", "keys:verify"],
        )
        .await;
    let c = s.client_with(&k.secret);
    for _ in 0..3 {
        c.list_keys(&Default::default()).await.expect("keys:read");
    }
    // Denied requests exercise nothing.
    let denied = keyconsole::api::LeakReport {
        hashes: vec!["00".repeat(32)],
        source: "x".into(),
        action: keyconsole::api::LeakAction::Report,
    };
    let e = c.report_leaks(&denied).await.expect_err("no keys:write");
    assert_eq!(e.status(), Some(403));
    // A verify call: the caller exercised keys:verify, the verified key its required scopes.
    let target = s
        .create("Gateway target", &["runs:*", "credits:read"])
        .await;
    let v = c
        .verify(&VerifyRequest {
            credential: target.secret.clone(),
            origin: None,
            app_id: None,
            required_scopes: Some(vec!["runs:read".into()]),
        })
        .await
        .expect("verify");
    assert!(v.valid);
    s.flush().await;

    let u = s
        .client
        .scope_usage(&k.key.id, &ScopeUsageQuery::default())
        .await
        .expect("scope usage");
    assert_eq!(u.days, 30);
    let counts: Vec<(String, u64)> = u
        .scopes
        .iter()
        .map(|x| (x.scope.clone(), x.requests))
        .collect();
    assert_eq!(
        counts,
        [
            ("keys:read".to_owned(), 3),
            ("usage:read".to_owned(), 0),
            ("audit:read".to_owned(), 0),
            ("keys:verify".to_owned(), 1)
        ]
    );
    assert!(u.scopes[0].last_used_at.is_some());
    assert_eq!(u.unused, ["usage:read", "audit:read"]);
    assert_eq!(u.suggested, ["keys:read", "keys:verify"]);

    let t = s
        .client
        .scope_usage(&target.key.id, &ScopeUsageQuery { days: Some(1) })
        .await
        .expect("target");
    assert_eq!(t.scopes[0].scope, "runs:*");
    assert_eq!(t.scopes[0].requests, 1);
    assert_eq!(t.unused, ["credits:read"]);
    assert_eq!(
        t.suggested,
        ["runs:read"],
        "the wildcard narrows to what was needed"
    );

    // The window bound and another org's key.
    let owner = format!("Bearer {}", s.owner.secret.expose());
    let path = format!("/v1/keys/{}/scope-usage?days=91", k.key.id);
    let (st, _, _) = raw(
        &s.url,
        Method::GET,
        &path,
        &[("authorization", owner.as_str())],
        None,
    )
    .await;
    assert_eq!(st, 400);
    let other = s.new_org("Other").await;
    let e = s
        .client_with(&other.secret)
        .scope_usage(&k.key.id, &ScopeUsageQuery::default())
        .await
        .expect_err("another org");
    assert_eq!(e.status(), Some(404));
}

#[tokio::test]
async fn the_review_finds_each_kind_and_nothing_on_a_tidy_key() {
    let s = TestServer::start().await;
    let tidy = s
        .client
        .create_key(&CreateKeyRequest {
            name: "Tidy".into(),
            scopes: Some(vec!["runs:read".into()]),
            owner: Some("payments@acme.example".into()),
            description: Some("charges worker".into()),
            ..Default::default()
        })
        .await
        .expect("tidy");
    let wide = s.create("Wide", &["keys:*", "runs:*"]).await;
    let test = s
        .client
        .create_key(&CreateKeyRequest {
            name: "Test forever".into(),
            scopes: Some(vec!["runs:read".into()]),
            env: Some(keyconsole::domain::key::Env::Test),
            owner: Some("qa".into()),
            ..Default::default()
        })
        .await
        .expect("test key");
    // Wide is used for keys:read only: over-privileged.
    s.client_with(&wide.secret)
        .list_keys(&Default::default())
        .await
        .expect("use");
    s.client_with(&tidy.secret).me().await.expect("use tidy");
    s.flush().await;
    let r = s
        .client
        .review(&ReviewQuery::default())
        .await
        .expect("review");
    let of = |id: &str| -> Vec<String> {
        r.findings
            .iter()
            .filter(|f| f.key.id == id)
            .map(|f| f.kind.clone())
            .collect()
    };
    assert!(of(&tidy.key.id).is_empty(), "{:?}", of(&tidy.key.id));
    assert_eq!(
        of(&wide.key.id),
        ["no_owner", "over_privileged", "wildcard"]
    );
    assert_eq!(of(&test.key.id), ["no_expiry_test"]);
    let op = r
        .findings
        .iter()
        .find(|f| f.kind == "over_privileged")
        .expect("over_privileged");
    assert_eq!(op.suggested.as_deref(), Some(&["keys:read".to_owned()][..]));

    // Stale and rotation-due move with the clock and the thresholds.
    s.clock.advance(chrono::Duration::days(40));
    let r = s
        .client
        .review(&ReviewQuery::default())
        .await
        .expect("review");
    let kinds: Vec<&str> = r
        .findings
        .iter()
        .filter(|f| f.key.id == tidy.key.id)
        .map(|f| f.kind.as_str())
        .collect();
    assert_eq!(kinds, ["stale"]);
    let r = s
        .client
        .review(&ReviewQuery {
            stale_days: Some(60),
            rotation_days: Some(30),
        })
        .await
        .expect("review");
    let kinds: Vec<&str> = r
        .findings
        .iter()
        .filter(|f| f.key.id == tidy.key.id)
        .map(|f| f.kind.as_str())
        .collect();
    assert_eq!(kinds, ["rotation_due"]);

    // A leaked, enabled key is at the top.
    s.client
        .report_leaks(&keyconsole::api::LeakReport {
            hashes: vec![keyconsole::domain::scan::hash_hex(&tidy.secret.hash())],
            source: "pastebin".into(),
            action: keyconsole::api::LeakAction::Report,
        })
        .await
        .expect("leak");
    let r = s
        .client
        .review(&ReviewQuery::default())
        .await
        .expect("review");
    assert_eq!(r.findings[0].kind, "leaked");
    assert_eq!(r.findings[0].key.id, tidy.key.id);
    // keys:read alone is not enough.
    let reader = s.create("Reader", &["keys:read"]).await;
    let e = s
        .client_with(&reader.secret)
        .review(&ReviewQuery::default())
        .await
        .expect_err("needs usage:read");
    assert_eq!(e.status(), Some(403));
}

#[tokio::test]
async fn owner_and_description_are_validated_audited_and_copied_on_rotation() {
    let s = TestServer::start().await;
    let k = s
        .client
        .create_key(&CreateKeyRequest {
            name: "Worker".into(),
            scopes: Some(vec!["runs:read".into()]),
            owner: Some("  team-a  ".into()),
            description: Some("eu-west".into()),
            ..Default::default()
        })
        .await
        .expect("create");
    assert_eq!(k.key.owner.as_deref(), Some("team-a"));
    let owner = format!("Bearer {}", s.owner.secret.expose());
    let auth = [("authorization", owner.as_str())];
    for body in [
        json!({"name": "x", "scopes": ["runs:read"], "owner": "a".repeat(201)}),
        json!({"name": "x", "scopes": ["runs:read"], "description": "a".repeat(501)}),
        json!({"name": "x", "scopes": ["runs:read"], "owner": "a\u{7}b"}),
    ] {
        let (st, _, _) = raw(
            &s.url,
            Method::POST,
            "/v1/keys",
            &auth,
            Some(&body.to_string()),
        )
        .await;
        assert_eq!(st, 400, "{body}");
    }
    let up = s
        .client
        .update_key(
            &k.key.id,
            &UpdateKeyRequest {
                owner: Some(Some("team-b".into())),
                description: Some(None),
                ..Default::default()
            },
            None,
        )
        .await
        .expect("update");
    assert_eq!(up.owner.as_deref(), Some("team-b"));
    assert_eq!(up.description, None);
    let audit = s
        .client
        .audit(&AuditQuery {
            key_id: Some(k.key.id.clone()),
            action: Some("key.updated".into()),
            ..Default::default()
        })
        .await
        .expect("audit");
    assert_eq!(
        audit.data[0].changes,
        json!({"owner": {"from": "team-a", "to": "team-b"}, "description": {"from": "eu-west", "to": null}})
    );
    let rotated = s
        .client
        .rotate_key(&k.key.id, &Default::default())
        .await
        .expect("rotate");
    assert_eq!(rotated.key.owner.as_deref(), Some("team-b"));
}

#[tokio::test]
async fn audit_entries_carry_an_actor_and_filter_by_it() {
    let s = TestServer::start().await;
    let k = s.create("Made by the owner key", &["runs:read"]).await;
    let all = s.client.audit(&AuditQuery::default()).await.expect("audit");
    let created_by_cli = all.data.last().expect("org create's entry");
    assert_eq!(
        serde_json::to_value(&created_by_cli.actor).expect("json"),
        json!({"type": "system", "id": "org create"})
    );
    assert_eq!(created_by_cli.actor_key_id, None);
    let by_owner = s
        .client
        .audit(&AuditQuery {
            actor: Some(format!("key:{}", s.owner.key.id)),
            ..Default::default()
        })
        .await
        .expect("filter");
    assert_eq!(by_owner.data.len(), 1);
    assert_eq!(by_owner.data[0].key_id.as_deref(), Some(k.key.id.as_str()));
    assert_eq!(
        by_owner.data[0].actor_key_id.as_deref(),
        Some(s.owner.key.id.as_str())
    );
    let by_system = s
        .client
        .audit(&AuditQuery {
            actor: Some("system:org create".into()),
            ..Default::default()
        })
        .await
        .expect("filter");
    assert_eq!(by_system.data.len(), 1);
    let owner = format!("Bearer {}", s.owner.secret.expose());
    for bad in ["robot:x", "key:", "nothing"] {
        let path = format!("/v1/audit?actor={bad}");
        let (st, _, _) = raw(
            &s.url,
            Method::GET,
            &path,
            &[("authorization", owner.as_str())],
            None,
        )
        .await;
        assert_eq!(st, 400, "{bad}");
    }
}
