//! Guards on key mutations: environments never cross without `*` (a leaked test key cannot
//! touch live keys), and an organization cannot lock itself out by taking away its last
//! owner key.

use chrono::Duration;
use keyconsole::api::{CreateKeyRequest, RotateRequest, UpdateKeyRequest};
use keyconsole::client::{Client, ClientError};
use keyconsole::domain::decision::ErrorCode;
use keyconsole::domain::key::Env;
use keyconsole::server::clock::Clock;

use crate::common::TestServer;

fn message(e: &ClientError) -> String {
    match e {
        ClientError::Api { body, .. } => body.error.message.clone(),
        other => panic!("api error expected: {other:?}"),
    }
}

fn required(e: &ClientError) -> Vec<String> {
    match e {
        ClientError::Api { body, .. } => body.error.required_scopes.clone().unwrap_or_default(),
        other => panic!("api error expected: {other:?}"),
    }
}

/// Every mutation path, each as a closure over a client and a key id.
async fn every_mutation(
    c: &Client,
    id: &str,
    now: chrono::DateTime<chrono::Utc>,
) -> Vec<(&'static str, Result<(), ClientError>)> {
    let patch =
        |req: UpdateKeyRequest| async move { c.update_key(id, &req, None).await.map(|_| ()) };
    vec![
        (
            "rotate",
            c.rotate_key(id, &RotateRequest::default())
                .await
                .map(|_| ()),
        ),
        (
            "rotate with grace",
            c.rotate_key(
                id,
                &RotateRequest {
                    grace_period_seconds: Some(3600),
                },
            )
            .await
            .map(|_| ()),
        ),
        (
            "patch name",
            patch(UpdateKeyRequest {
                name: Some("renamed by a test key".into()),
                ..Default::default()
            })
            .await,
        ),
        (
            "patch scopes",
            patch(UpdateKeyRequest {
                scopes: Some(vec!["runs:read".into()]),
                ..Default::default()
            })
            .await,
        ),
        (
            "patch allowed_domains",
            patch(UpdateKeyRequest {
                allowed_domains: Some(vec!["evil.example".into()]),
                ..Default::default()
            })
            .await,
        ),
        (
            "patch expires_at",
            patch(UpdateKeyRequest {
                expires_at: Some(Some(now + Duration::days(1))),
                ..Default::default()
            })
            .await,
        ),
        (
            "patch expires_at null",
            patch(UpdateKeyRequest {
                expires_at: Some(None),
                ..Default::default()
            })
            .await,
        ),
        (
            "disable",
            patch(UpdateKeyRequest {
                enabled: Some(false),
                ..Default::default()
            })
            .await,
        ),
        (
            "enable",
            patch(UpdateKeyRequest {
                enabled: Some(true),
                ..Default::default()
            })
            .await,
        ),
        ("delete", c.delete_key(id).await),
    ]
}

#[tokio::test]
async fn a_test_key_cannot_touch_live_keys_on_any_mutation_path() {
    let s = TestServer::start().await;
    let now = s.clock.now();
    // The owner (`*`, live) makes a test admin and two live targets its scopes cover.
    let test_admin = s
        .client
        .create_key(&CreateKeyRequest {
            name: "Test admin".into(),
            scopes: Some(vec!["keys:*".into(), "runs:*".into()]),
            env: Some(Env::Test),
            ..Default::default()
        })
        .await
        .expect("owner creates a test key");
    let live = s.create("Live worker", &["runs:read"]).await;
    let live_off = s.create("Live, disabled", &["runs:read"]).await;
    s.set_enabled(&live_off.key.id, false).await;
    let before = [
        s.client.get_key(&live.key.id).await.expect("get"),
        s.client.get_key(&live_off.key.id).await.expect("get"),
    ];
    let tc = s.client_with(&test_admin.secret);
    for target in [&live.key.id, &live_off.key.id] {
        for (what, res) in every_mutation(&tc, target, now).await {
            let e = res.expect_err(what);
            assert_eq!(
                (e.status(), e.code()),
                (Some(403), Some(ErrorCode::InsufficientScope)),
                "{what} on a live key"
            );
            assert_eq!(required(&e), vec!["*"], "{what}");
            let msg = message(&e);
            assert!(
                msg.contains("test key") && msg.contains("live key") && msg.contains('*'),
                "{what}: {msg}"
            );
        }
    }
    // Nothing changed and no live key was minted.
    let after = [
        s.client.get_key(&live.key.id).await.expect("still there"),
        s.client
            .get_key(&live_off.key.id)
            .await
            .expect("still there"),
    ];
    assert_eq!(before, after);
    let listed = s
        .client
        .list_keys(&keyconsole::api::ListKeysQuery {
            env: Some("live".into()),
            ..Default::default()
        })
        .await
        .expect("list");
    assert_eq!(listed.data.len(), 3, "owner and the two targets only");
    // Its own environment is still fine on every path.
    let mine = tc
        .create_key(&CreateKeyRequest {
            name: "Test worker".into(),
            scopes: Some(vec!["runs:read".into()]),
            ..Default::default()
        })
        .await
        .expect("own env");
    let rotated = tc
        .rotate_key(&mine.key.id, &RotateRequest::default())
        .await
        .expect("rotate own env");
    assert!(rotated.secret.expose().starts_with("sk_test_"));
    for (what, res) in every_mutation(&tc, &rotated.key.id, now).await {
        if what == "rotate with grace" {
            // Rotated by the line before.
            assert_eq!(res.expect_err(what).code(), Some(ErrorCode::Conflict));
        } else {
            res.unwrap_or_else(|e| panic!("{what} on a test key: {e:?}"));
        }
    }
    // A live key without `*` cannot touch test keys either.
    let live_admin = s.create("Live admin", &["keys:*", "runs:*"]).await;
    let other = tc
        .create_key(&CreateKeyRequest {
            name: "Another test key".into(),
            scopes: Some(vec!["runs:read".into()]),
            ..Default::default()
        })
        .await
        .expect("create");
    let lc = s.client_with(&live_admin.secret);
    for (what, res) in every_mutation(&lc, &other.key.id, now).await {
        assert_eq!(
            res.expect_err(what).code(),
            Some(ErrorCode::InsufficientScope),
            "{what} on a test key from a live key"
        );
    }
    // The owner (`*`) crosses.
    s.client
        .update_key(
            &other.key.id,
            &UpdateKeyRequest {
                name: Some("renamed by the owner".into()),
                ..Default::default()
            },
            None,
        )
        .await
        .expect("`*` crosses environments");
}
