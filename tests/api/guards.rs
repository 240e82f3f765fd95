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

type Outcomes = Vec<(&'static str, Result<(), ClientError>)>;

/// Each `PATCH` in turn on key `id`.
async fn patch_each(
    c: &Client,
    id: &str,
    patches: Vec<(&'static str, UpdateKeyRequest)>,
) -> Outcomes {
    let mut out = Vec::new();
    for (what, req) in patches {
        out.push((what, c.update_key(id, &req, None).await.map(|_| ())));
    }
    out
}

fn patch(f: impl FnOnce(&mut UpdateKeyRequest)) -> UpdateKeyRequest {
    let mut req = UpdateKeyRequest::default();
    f(&mut req);
    req
}

/// Every mutation path on key `id`: two rotations, a `PATCH` of each field, disable,
/// enable, delete.
async fn every_mutation(c: &Client, id: &str, now: chrono::DateTime<chrono::Utc>) -> Outcomes {
    let mut out = vec![
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
    ];
    let patches = vec![
        (
            "patch name",
            patch(|r| r.name = Some("renamed by a test key".into())),
        ),
        (
            "patch scopes",
            patch(|r| r.scopes = Some(vec!["runs:read".into()])),
        ),
        (
            "patch allowed_domains",
            patch(|r| r.allowed_domains = Some(vec!["evil.example".into()])),
        ),
        (
            "patch expires_at",
            patch(|r| r.expires_at = Some(Some(now + Duration::days(1)))),
        ),
        (
            "patch expires_at null",
            patch(|r| r.expires_at = Some(None)),
        ),
        ("disable", patch(|r| r.enabled = Some(false))),
        ("enable", patch(|r| r.enabled = Some(true))),
    ];
    out.extend(patch_each(c, id, patches).await);
    out.push(("delete", c.delete_key(id).await));
    out
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

fn disable() -> UpdateKeyRequest {
    patch(|r| r.enabled = Some(false))
}

/// Every way of taking an owner key away, as the key itself would try it.
async fn lock_out_attempts(c: &Client, id: &str, now: chrono::DateTime<chrono::Utc>) -> Outcomes {
    let patches = vec![
        ("disable", disable()),
        ("expire now", patch(|r| r.expires_at = Some(Some(now)))),
        (
            "expire in the past",
            patch(|r| r.expires_at = Some(Some(now - Duration::days(1)))),
        ),
        (
            "drop `*`",
            patch(|r| r.scopes = Some(vec!["keys:*".into(), "runs:read".into()])),
        ),
        (
            "disable and rename at once",
            patch(|r| {
                r.enabled = Some(false);
                r.name = Some("gone".into());
            }),
        ),
    ];
    let mut out = patch_each(c, id, patches).await;
    out.push(("delete", c.delete_key(id).await));
    out
}

#[tokio::test]
async fn the_last_owner_key_cannot_be_disabled_deleted_expired_or_narrowed() {
    let s = TestServer::start().await;
    let now = s.clock.now();
    let owner = s.owner.key.id.clone();
    // The owner's `last_used_at` is set by the first flush (the manual clock keeps it there
    // after): flush once first, so a flush during the test changes nothing.
    s.client.get_key(&owner).await.expect("get");
    s.flush().await;
    let before = s.client.get_key(&owner).await.expect("get");
    // Keys that do not count as owners: app-scoped `*`, `keys:*`, a disabled `*`.
    let app = s
        .client
        .create_app(&keyconsole::api::CreateAppRequest { name: "A".into() })
        .await
        .expect("app");
    s.client
        .create_key(&CreateKeyRequest {
            name: "App owner".into(),
            scopes: Some(vec!["*".into()]),
            app_id: Some(app.id.clone()),
            ..Default::default()
        })
        .await
        .expect("app-scoped `*`");
    s.create("Key admin", &["keys:*"]).await;
    let off = s.create("Disabled owner", &["*"]).await;
    s.set_enabled(&off.key.id, false).await;
    for (what, res) in lock_out_attempts(&s.client, &owner, now).await {
        let e = res.expect_err(what);
        assert_eq!(
            (e.status(), e.code()),
            (Some(409), Some(ErrorCode::Conflict)),
            "{what}"
        );
        let msg = message(&e);
        assert!(
            msg.contains("last owner key") && msg.contains("org recover"),
            "{what}: {msg}"
        );
    }
    // Nothing changed, nothing was audited, and the key still works.
    assert_eq!(s.client.get_key(&owner).await.expect("get"), before);
    let audit = s
        .client
        .audit(&keyconsole::api::AuditQuery {
            key_id: Some(owner.clone()),
            ..Default::default()
        })
        .await
        .expect("audit");
    assert_eq!(audit.data.len(), 1, "only its creation: {:?}", audit.data);
    s.client.me().await.expect("the owner still works");
    // What keeps it an owner is allowed: a rename, a future expiry, a rotation (the new key
    // is an owner key too), even with no grace.
    s.client
        .update_key(
            &owner,
            &UpdateKeyRequest {
                name: Some("Still the owner".into()),
                expires_at: Some(Some(now + Duration::days(30))),
                ..Default::default()
            },
            None,
        )
        .await
        .expect("rename and a future expiry");
    let rotated = s
        .client
        .rotate_key(&owner, &RotateRequest::default())
        .await
        .expect("rotating the last owner key with no grace");
    let new_owner = s.client_with(&rotated.secret);
    new_owner.me().await.expect("the new owner key works");
    // Now the new key is the last owner; a second owner frees the first.
    for (what, res) in lock_out_attempts(&new_owner, &rotated.key.id, now).await {
        assert_eq!(
            res.expect_err(what).code(),
            Some(ErrorCode::Conflict),
            "{what}"
        );
    }
    new_owner
        .update_key(&off.key.id, &patch(|r| r.enabled = Some(true)), None)
        .await
        .expect("enable the other owner key");
    new_owner
        .update_key(&rotated.key.id, &disable(), None)
        .await
        .expect("another owner key exists");
    // The re-enabled key is the last one now.
    let oc = s.client_with(&off.secret);
    let e = oc
        .delete_key(&off.key.id)
        .await
        .expect_err("the last owner deleting itself");
    assert_eq!(e.code(), Some(ErrorCode::Conflict));
    // Other organizations do not count.
    let other = s.new_org("Other").await;
    let e = s
        .client_with(&other.secret)
        .delete_key(&other.key.id)
        .await
        .expect_err("another org's only owner");
    assert_eq!(e.code(), Some(ErrorCode::Conflict));
}

#[tokio::test]
async fn two_concurrent_requests_cannot_take_away_the_last_two_owner_keys() {
    let s = TestServer::start().await;
    let mut guarded = 0;
    for round in 0..20 {
        // A fresh org whose owner makes A and B (`*`) and then steps aside: A and B are the
        // last two owner keys.
        let org = s.new_org(&format!("Race {round}")).await;
        let oc = s.client_with(&org.secret);
        let make = |name: &'static str| {
            let oc = oc.clone();
            async move {
                oc.create_key(&CreateKeyRequest {
                    name: name.into(),
                    scopes: Some(vec!["*".into()]),
                    ..Default::default()
                })
                .await
                .expect("create owner")
            }
        };
        let (a, b) = (make("Owner A").await, make("Owner B").await);
        oc.update_key(&org.key.id, &disable(), None)
            .await
            .expect("A and B remain");
        let (ca, cb) = (s.client_with(&a.secret), s.client_with(&b.secret));
        // Each takes the other away at the same moment: disable, delete, or one of each.
        let (ra, rb) = match round % 3 {
            0 => tokio::join!(
                async { ca.update_key(&b.key.id, &disable(), None).await.map(|_| ()) },
                async { cb.update_key(&a.key.id, &disable(), None).await.map(|_| ()) }
            ),
            1 => tokio::join!(ca.delete_key(&b.key.id), cb.delete_key(&a.key.id)),
            _ => tokio::join!(
                async { ca.update_key(&b.key.id, &disable(), None).await.map(|_| ()) },
                cb.delete_key(&a.key.id)
            ),
        };
        let codes = [&ra, &rb].map(|r| r.as_ref().err().map(ClientError::code));
        assert_eq!(
            codes.iter().filter(|c| c.is_none()).count(),
            1,
            "round {round}: exactly one succeeds: {codes:?}"
        );
        // The other was refused by the guard (409), or, when the winner finished first,
        // could no longer authenticate with the key just taken away (401).
        let loser = codes.into_iter().flatten().flatten().next();
        assert!(
            matches!(
                loser,
                Some(ErrorCode::Conflict | ErrorCode::KeyDisabled | ErrorCode::InvalidKey)
            ),
            "round {round}: {loser:?}"
        );
        if loser == Some(ErrorCode::Conflict) {
            guarded += 1;
        }
        // The survivor is an owner key that still works.
        let survivor = if ra.is_ok() { &ca } else { &cb };
        let me = survivor.me().await.expect("the survivor works");
        assert_eq!(me.scopes, vec!["*"]);
    }
    eprintln!("{guarded} of 20 rounds reached the store's guard at the same time");
}

#[tokio::test]
async fn the_store_guard_is_atomic_under_concurrent_writes() {
    let s = TestServer::start().await;
    let store = s.state.store.clone();
    for round in 0..20 {
        let org = s.new_org(&format!("Store race {round}")).await;
        let oc = s.client_with(&org.secret);
        let a = oc
            .create_key(&CreateKeyRequest {
                name: "A".into(),
                scopes: Some(vec!["*".into()]),
                ..Default::default()
            })
            .await
            .expect("create");
        // The org's two owner keys, as records, each about to be disabled or deleted.
        let now = s.clock.now();
        let rec = |id: String| {
            let store = store.clone();
            async move { store.key_by_id(&id).await.expect("read").expect("exists") }
        };
        let (ka, ko) = (rec(a.key.id.clone()).await, rec(org.key.id.clone()).await);
        let off = |k: &keyconsole::domain::record::KeyRecord| {
            let mut next = k.clone();
            next.enabled = false;
            next.version += 1;
            next.updated_at = now;
            next
        };
        let entry = |id: &str, n: u32| keyconsole::storage::NewAudit {
            id: format!("aud_race{round}x{n}"),
            org_id: org.org.id.clone(),
            at: now,
            actor: keyconsole::api::Actor::system("org create"),
            action: "key.deleted".into(),
            key_id: Some(id.to_owned()),
            changes: serde_json::json!({}),
        };
        let (na, no) = (off(&ka), off(&ko));
        let del = entry(&ka.id, 1);
        let (ra, ro) = if round % 2 == 0 {
            tokio::join!(
                store.update_key(&na, ka.version, &[]),
                store.update_key(&no, ko.version, &[])
            )
        } else {
            tokio::join!(
                store.delete_key(&org.org.id, &ka.id, &del),
                store.update_key(&no, ko.version, &[])
            )
        };
        let refused = [&ra, &ro]
            .iter()
            .filter(|r| matches!(r, Err(keyconsole::storage::StoreError::LastOwner)))
            .count();
        let done = [&ra, &ro].iter().filter(|r| matches!(r, Ok(true))).count();
        assert_eq!((done, refused), (1, 1), "round {round}: {ra:?} {ro:?}");
        // A refused delete wrote no audit entry: the transaction was rolled back.
        let audit = store
            .list_audit(
                &org.org.id,
                &keyconsole::storage::AuditFilter::default(),
                keyconsole::storage::PageReq {
                    limit: 50,
                    before: None,
                },
            )
            .await
            .expect("audit");
        let deletes = audit
            .items
            .iter()
            .filter(|e| e.action == "key.deleted")
            .count();
        assert_eq!(
            deletes,
            usize::from(round % 2 == 1 && matches!(ra, Ok(true)))
        );
    }
}
