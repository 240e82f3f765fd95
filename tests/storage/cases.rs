//! The cases of the contract, each run on both backends (see `main.rs`).

use std::collections::HashSet;

use chrono::Duration;
use keyconsole::api::{Actor, App, BucketSize, UsageBucket};
use keyconsole::domain::host_pattern::HostPattern;
use keyconsole::domain::key::{Env, SecretHash};
use keyconsole::domain::record::KeyStatus;
use keyconsole::domain::review::{FindingKind, ReviewPolicy};
use keyconsole::domain::scope::ScopeSet;
use keyconsole::storage::{
    AuditFilter, AuthEventFilter, AuthEventRecord, InstanceRecord, KeyFilter, KeyPageReq, KeyPos,
    KeySort, KeyTotal, LeakRecord, PageReq, ScopeDelta, StoreError, UsageBatch, UsageDelta,
};

use crate::harness::{Harness, audit, key_record, org_records, t0};

fn kpage(limit: u32, after: Option<KeyPos>) -> KeyPageReq {
    KeyPageReq {
        limit,
        sort: KeySort::default(),
        after,
    }
}

fn page(limit: u32, before: Option<i64>) -> PageReq {
    PageReq { limit, before }
}

pub async fn orgs_are_created_once_and_read_back(h: &Harness) {
    let (org, _, _) = org_records("Acme");
    h.store.create_org(&org).await.expect("create");
    assert_eq!(
        h.store.get_org(&org.id).await.expect("get"),
        Some(org.clone())
    );
    let again = h.store.create_org(&org).await.expect_err("duplicate");
    assert!(matches!(again, StoreError::Conflict(_)), "{again:?}");
    assert_eq!(
        h.store.get_org("org_0000000000000000").await.expect("get"),
        None
    );
}

pub async fn an_org_with_its_owner_is_one_transaction(h: &Harness) {
    let (org, owner) = h.org("Acme").await;
    assert_eq!(
        h.store.get_org(&org.id).await.expect("get").map(|o| o.name),
        Some("Acme".into())
    );
    assert_eq!(
        h.store.key_by_id(&owner.id).await.expect("key"),
        Some(owner.clone())
    );
    // Same org id again, new key: the org insert fails, so the key is not written either.
    let (_, other, audit) = org_records("Acme again");
    let mut other = other;
    other.org_id = org.id.clone();
    let e = h
        .store
        .create_org_with_owner(&org, &other, &audit)
        .await
        .expect_err("duplicate org");
    assert!(matches!(e, StoreError::Conflict(_)), "{e:?}");
    assert_eq!(h.store.key_by_id(&other.id).await.expect("key"), None);
}

pub async fn apps_belong_to_one_org_and_list_newest_first(h: &Harness) {
    let (org, _) = h.org("Acme").await;
    let (other, _) = h.org("Globex").await;
    let mut fill = keyconsole::server::os_random;
    let mut ids = Vec::new();
    for i in 0..5 {
        let app = App {
            id: keyconsole::domain::key::new_app_id(&mut fill),
            name: format!("app {i}"),
            created_at: t0() + Duration::seconds(i),
        };
        h.store
            .create_app(&org.id, &app, &audit(&org.id, "app.created", None, t0()))
            .await
            .expect("create app");
        ids.push(app.id);
    }
    assert_eq!(
        h.store.app_org(&ids[0]).await.expect("org"),
        Some(org.id.clone())
    );
    assert_eq!(
        h.store.app_org("app_0000000000000000").await.expect("org"),
        None
    );
    assert!(
        h.store
            .get_app(&org.id, &ids[1])
            .await
            .expect("get")
            .is_some()
    );
    assert_eq!(
        h.store.get_app(&other.id, &ids[1]).await.expect("get"),
        None
    );
    let first = h
        .store
        .list_apps(&org.id, page(2, None))
        .await
        .expect("list");
    assert_eq!(
        first.items.iter().map(|a| a.id.clone()).collect::<Vec<_>>(),
        vec![ids[4].clone(), ids[3].clone()]
    );
    let mut seen: Vec<String> = first.items.iter().map(|a| a.id.clone()).collect();
    let mut next = first.next;
    while let Some(before) = next {
        let p = h
            .store
            .list_apps(&org.id, page(2, Some(before)))
            .await
            .expect("page");
        seen.extend(p.items.iter().map(|a| a.id.clone()));
        next = p.next;
    }
    let mut want = ids.clone();
    want.reverse();
    assert_eq!(seen, want);
    let none = h
        .store
        .list_apps(&other.id, page(10, None))
        .await
        .expect("list");
    assert!(none.items.is_empty() && none.next.is_none());
}

pub async fn keys_round_trip_every_field(h: &Harness) {
    let (org, _) = h.org("Acme").await;
    let mut fill = keyconsole::server::os_random;
    let app = App {
        id: keyconsole::domain::key::new_app_id(&mut fill),
        name: "App".into(),
        created_at: t0(),
    };
    h.store
        .create_app(&org.id, &app, &audit(&org.id, "app.created", None, t0()))
        .await
        .expect("app");
    let mut k = key_record(
        &org.id,
        "Ünïcode näme ✓",
        &["runs:read", "webhooks:*"],
        t0(),
    );
    k.env = Env::Test;
    k.app_id = Some(app.id.clone());
    k.allowed_domains = vec![
        HostPattern::parse("*.example.com").expect("pattern"),
        HostPattern::parse("app.test").expect("pattern"),
    ];
    k.enabled = false;
    k.expires_at = Some(t0() + Duration::days(3));
    k.last_used_at = Some(t0() + Duration::milliseconds(7));
    k.rotated_from = Some("pk_test_previous".into());
    k.version = 7;
    k.owner = Some("payments-team@acme.com".into());
    k.description = Some("charges worker".into());
    k.leaked_at = Some(t0() + Duration::seconds(1));
    h.store
        .insert_key(&k, &audit(&org.id, "key.created", Some(&k.id), t0()))
        .await
        .expect("insert");
    assert_eq!(
        h.store.key_by_id(&k.id).await.expect("by id"),
        Some(k.clone())
    );
    assert_eq!(
        h.store.key_by_hash(&k.secret_hash).await.expect("by hash"),
        Some(k.clone())
    );
    assert_eq!(
        h.store
            .key_by_hash(&SecretHash([7; 32]))
            .await
            .expect("none"),
        None
    );
    assert_eq!(h.store.key_by_id("pk_live_nope").await.expect("none"), None);
}

pub async fn key_ids_and_secret_hashes_are_unique(h: &Harness) {
    let (org, owner) = h.org("Acme").await;
    let mut same_id = key_record(&org.id, "x", &["runs:read"], t0());
    same_id.id = owner.id.clone();
    let e = h
        .store
        .insert_key(&same_id, &audit(&org.id, "key.created", None, t0()))
        .await
        .expect_err("same id");
    assert!(matches!(e, StoreError::Conflict(_)), "{e:?}");
    let mut same_hash = key_record(&org.id, "y", &["runs:read"], t0());
    same_hash.secret_hash = owner.secret_hash;
    let e = h
        .store
        .insert_key(&same_hash, &audit(&org.id, "key.created", None, t0()))
        .await
        .expect_err("same hash");
    assert!(matches!(e, StoreError::Conflict(_)), "{e:?}");
    // Neither failed insert left its audit entry.
    let a = h
        .store
        .list_audit(&org.id, &AuditFilter::default(), page(50, None))
        .await
        .expect("audit");
    assert_eq!(a.items.len(), 1, "{:?}", a.items);
}

pub async fn list_keys_pages_newest_first_with_totals(h: &Harness) {
    let (org, owner) = h.org("Acme").await;
    let (other, _) = h.org("Globex").await;
    let mut ids = vec![owner.id.clone()];
    for i in 0..6 {
        ids.push(
            h.key(
                &org.id,
                &format!("k{i}"),
                &["runs:read"],
                t0() + Duration::seconds(i),
            )
            .await
            .id,
        );
    }
    h.key(&other.id, "theirs", &["runs:read"], t0()).await;
    ids.reverse();
    let mut seen = Vec::new();
    let mut before = None;
    loop {
        let p = h
            .store
            .list_keys(
                &org.id,
                &KeyFilter::default(),
                t0(),
                &kpage(4, before.clone()),
            )
            .await
            .expect("list");
        assert_eq!(
            p.total,
            KeyTotal {
                count: 7,
                lower_bound: false
            }
        );
        seen.extend(p.items.iter().map(|k| k.id.clone()));
        match p.next {
            Some(n) => before = Some(n),
            None => break,
        }
    }
    assert_eq!(seen, ids);
    let exact = h
        .store
        .list_keys(&org.id, &KeyFilter::default(), t0(), &kpage(7, None))
        .await
        .expect("list");
    assert_eq!(exact.items.len(), 7);
    assert_eq!(
        exact.next, None,
        "no next cursor when the page holds the rest exactly"
    );
}

pub async fn list_keys_filters(h: &Harness) {
    let now = t0() + Duration::days(10);
    let (org, owner) = h.org("Acme").await;
    let mut fill = keyconsole::server::os_random;
    let app = App {
        id: keyconsole::domain::key::new_app_id(&mut fill),
        name: "App".into(),
        created_at: t0(),
    };
    h.store
        .create_app(&org.id, &app, &audit(&org.id, "app.created", None, t0()))
        .await
        .expect("app");
    let insert = async |name: &str,
                        scopes: &[&str],
                        f: &dyn Fn(&mut keyconsole::domain::record::KeyRecord)| {
        let mut k = key_record(&org.id, name, scopes, t0());
        f(&mut k);
        h.store
            .insert_key(&k, &audit(&org.id, "key.created", Some(&k.id), t0()))
            .await
            .expect("insert");
        k
    };
    let billing = insert("Billing Worker", &["runs:read"], &|_| {}).await;
    let disabled = insert("BILLING old", &["webhooks:*"], &|k| k.enabled = false).await;
    let expiring = insert("Ärger", &["runs:write"], &|k| {
        k.expires_at = Some(now + Duration::days(1))
    })
    .await;
    let expired = insert("gone", &["runs:read"], &|k| {
        k.expires_at = Some(now - Duration::seconds(1));
        k.created_at = t0() + Duration::days(5);
    })
    .await;
    let test = insert("test key", &["credits:read"], &|k| {
        k.env = Env::Test;
        k.app_id = Some(app.id.clone());
        k.last_used_at = Some(now - Duration::hours(1));
    })
    .await;
    let list = async |f: KeyFilter| -> Vec<String> {
        let p = h
            .store
            .list_keys(&org.id, &f, now, &kpage(100, None))
            .await
            .expect("list");
        assert_eq!(
            p.total.count,
            p.items.len() as u64,
            "total follows the filter"
        );
        let mut v: Vec<String> = p.items.iter().map(|k| k.id.clone()).collect();
        v.sort();
        v
    };
    let ids = |ks: &[&keyconsole::domain::record::KeyRecord]| {
        let mut v: Vec<String> = ks.iter().map(|k| k.id.clone()).collect();
        v.sort();
        v
    };
    // q: name ignoring ASCII case (only ASCII: `ä` does not match `Ä`), or id substring.
    assert_eq!(
        list(KeyFilter {
            q: Some("billing".into()),
            ..Default::default()
        })
        .await,
        ids(&[&billing, &disabled])
    );
    assert_eq!(
        list(KeyFilter {
            q: Some("ärger".into()),
            ..Default::default()
        })
        .await,
        ids(&[])
    );
    assert_eq!(
        list(KeyFilter {
            q: Some("Ärg".into()),
            ..Default::default()
        })
        .await,
        ids(&[&expiring])
    );
    assert_eq!(
        list(KeyFilter {
            q: Some(test.id[8..20].to_owned()),
            ..Default::default()
        })
        .await,
        ids(&[&test])
    );
    assert_eq!(
        list(KeyFilter {
            q: Some("%".into()),
            ..Default::default()
        })
        .await,
        ids(&[])
    );
    assert_eq!(
        list(KeyFilter {
            q: Some("_".into()),
            ..Default::default()
        })
        .await,
        // A literal `_`, which every id has (`pk_live_…`), not a wildcard.
        ids(&[&owner, &billing, &disabled, &expiring, &expired, &test])
    );
    // status
    assert_eq!(
        list(KeyFilter {
            status: Some(KeyStatus::Disabled),
            ..Default::default()
        })
        .await,
        ids(&[&disabled])
    );
    assert_eq!(
        list(KeyFilter {
            status: Some(KeyStatus::Expiring),
            ..Default::default()
        })
        .await,
        ids(&[&expiring])
    );
    assert_eq!(
        list(KeyFilter {
            status: Some(KeyStatus::Expired),
            ..Default::default()
        })
        .await,
        ids(&[&expired])
    );
    assert_eq!(
        list(KeyFilter {
            status: Some(KeyStatus::Active),
            ..Default::default()
        })
        .await,
        ids(&[&owner, &billing, &test])
    );
    // app, env
    assert_eq!(
        list(KeyFilter {
            app_id: Some(app.id.clone()),
            ..Default::default()
        })
        .await,
        ids(&[&test])
    );
    assert_eq!(
        list(KeyFilter {
            env: Some(Env::Test),
            ..Default::default()
        })
        .await,
        ids(&[&test])
    );
    // scope: exact, resource wildcard, `*`
    assert_eq!(
        list(KeyFilter {
            scope: Some("webhooks:read".into()),
            ..Default::default()
        })
        .await,
        ids(&[&owner, &disabled])
    );
    assert_eq!(
        list(KeyFilter {
            scope: Some("runs:read".into()),
            ..Default::default()
        })
        .await,
        ids(&[&owner, &billing, &expired])
    );
    // hint
    let hint = billing.secret_hint.clone();
    assert!(
        list(KeyFilter {
            hint: Some(hint[2..].to_owned()),
            ..Default::default()
        })
        .await
        .contains(&billing.id)
    );
    assert_eq!(
        list(KeyFilter {
            hint: Some(hint.clone()),
            ..Default::default()
        })
        .await,
        {
            let all = [&owner, &billing, &disabled, &expiring, &expired, &test];
            ids(&all
                .into_iter()
                .filter(|k| k.secret_hint == hint)
                .collect::<Vec<_>>())
        }
    );
    // last used before, created before
    assert_eq!(
        list(KeyFilter {
            last_used_before: Some(now - Duration::hours(2)),
            ..Default::default()
        })
        .await,
        ids(&[&owner, &billing, &disabled, &expiring, &expired])
    );
    assert_eq!(
        list(KeyFilter {
            created_before: Some(t0() + Duration::days(1)),
            ..Default::default()
        })
        .await,
        ids(&[&owner, &billing, &disabled, &expiring, &test])
    );
    // Filters combine.
    assert_eq!(
        list(KeyFilter {
            q: Some("BILL".into()),
            status: Some(KeyStatus::Active),
            ..Default::default()
        })
        .await,
        ids(&[&billing])
    );
}

pub async fn update_key_is_a_compare_and_write(h: &Harness) {
    let (org, _) = h.org("Acme").await;
    let k = h.key(&org.id, "k", &["runs:read"], t0()).await;
    let mut next = k.clone();
    next.name = "renamed".into();
    next.scopes = ScopeSet::parse(&["runs:write"]).expect("scopes");
    next.allowed_domains = vec![HostPattern::parse("a.example.com").expect("p")];
    next.expires_at = Some(t0() + Duration::days(1));
    next.owner = Some("me".into());
    next.description = Some("d".into());
    next.updated_at = t0() + Duration::seconds(5);
    next.version = k.version + 1;
    let a = audit(&org.id, "key.updated", Some(&k.id), next.updated_at);
    assert!(
        h.store
            .update_key(&next, k.version, std::slice::from_ref(&a))
            .await
            .expect("update")
    );
    assert_eq!(
        h.store.key_by_id(&k.id).await.expect("get"),
        Some(next.clone())
    );
    // The same expected version again: the version moved on, nothing is written.
    let mut stale = next.clone();
    stale.name = "lost".into();
    stale.version = k.version + 1;
    let b = audit(&org.id, "key.updated", Some(&k.id), next.updated_at);
    assert!(
        !h.store
            .update_key(&stale, k.version, std::slice::from_ref(&b))
            .await
            .expect("stale")
    );
    assert_eq!(
        h.store.key_by_id(&k.id).await.expect("get").map(|k| k.name),
        Some("renamed".into())
    );
    let audits = h
        .store
        .list_audit(
            &org.id,
            &AuditFilter {
                key_id: Some(k.id.clone()),
                ..Default::default()
            },
            page(50, None),
        )
        .await
        .expect("audit");
    assert_eq!(
        audits
            .items
            .iter()
            .map(|a| a.id.clone())
            .collect::<Vec<_>>(),
        vec![a.id, audits.items[1].id.clone()]
    );
    assert_eq!(
        audits.items.len(),
        2,
        "created and one update; the stale write left none"
    );
}

pub async fn the_last_owner_key_cannot_be_taken_away(h: &Harness) {
    let (org, owner) = h.org("Acme").await;
    let now = t0() + Duration::seconds(1);
    let mut off = owner.clone();
    off.enabled = false;
    off.updated_at = now;
    off.version += 1;
    let e = h
        .store
        .update_key(
            &off,
            owner.version,
            &[audit(&org.id, "key.disabled", Some(&owner.id), now)],
        )
        .await
        .expect_err("last owner");
    assert!(matches!(e, StoreError::LastOwner), "{e:?}");
    let e = h
        .store
        .delete_key(
            &org.id,
            &owner.id,
            &audit(&org.id, "key.deleted", Some(&owner.id), now),
        )
        .await
        .expect_err("last owner");
    assert!(matches!(e, StoreError::LastOwner), "{e:?}");
    assert_eq!(
        h.store.key_by_id(&owner.id).await.expect("get"),
        Some(owner.clone())
    );
    let a = h
        .store
        .list_audit(&org.id, &AuditFilter::default(), page(50, None))
        .await
        .expect("audit");
    assert_eq!(a.items.len(), 1, "refused writes leave no audit entry");
    // With a second owner key, the first may go.
    let second = h.key(&org.id, "Second owner", &["*"], t0()).await;
    assert!(
        h.store
            .update_key(&off, owner.version, &[])
            .await
            .expect("now allowed")
    );
    let e = h
        .store
        .delete_key(
            &org.id,
            &second.id,
            &audit(&org.id, "key.deleted", Some(&second.id), now),
        )
        .await
        .expect_err("the second is now the last");
    assert!(matches!(e, StoreError::LastOwner), "{e:?}");
    // Narrowing the last owner's scopes is refused too; an app-scoped `*` is no owner.
    let mut narrow = second.clone();
    narrow.scopes = ScopeSet::parse(&["runs:read"]).expect("s");
    narrow.version += 1;
    narrow.updated_at = now;
    let e = h
        .store
        .update_key(&narrow, second.version, &[])
        .await
        .expect_err("narrow");
    assert!(matches!(e, StoreError::LastOwner), "{e:?}");
}

pub async fn two_instances_cannot_each_take_one_of_the_last_two_owners(h: &Harness) {
    let other = h.another().await;
    for round in 0..5 {
        let (org, a) = h.org(&format!("Acme {round}")).await;
        let b = h.key(&org.id, "Second owner", &["*"], t0()).await;
        let now = t0() + Duration::seconds(1);
        let disable = |k: &keyconsole::domain::record::KeyRecord| {
            let mut off = k.clone();
            off.enabled = false;
            off.updated_at = now;
            off.version += 1;
            off
        };
        let (da, db) = (disable(&a), disable(&b));
        let (ra, rb) = tokio::join!(
            h.store.update_key(&da, a.version, &[]),
            other.update_key(&db, b.version, &[])
        );
        let oks = [&ra, &rb].iter().filter(|r| matches!(r, Ok(true))).count();
        let refused = [&ra, &rb]
            .iter()
            .filter(|r| matches!(r, Err(StoreError::LastOwner)))
            .count();
        assert_eq!((oks, refused), (1, 1), "round {round}: {ra:?} {rb:?}");
        let live = h
            .store
            .list_keys(
                &org.id,
                &KeyFilter {
                    status: Some(KeyStatus::Active),
                    ..Default::default()
                },
                now,
                &kpage(10, None),
            )
            .await
            .expect("list");
        assert_eq!(
            live.items.len(),
            1,
            "round {round}: exactly one owner key is left"
        );
    }
}

pub async fn same_version_updates_from_two_instances_one_wins(h: &Harness) {
    let other = h.another().await;
    let (org, _) = h.org("Acme").await;
    for round in 0..5 {
        let k = h
            .key(&org.id, &format!("k{round}"), &["runs:read"], t0())
            .await;
        let edit = |name: &str| {
            let mut n = k.clone();
            n.name = name.to_owned();
            n.version += 1;
            n.updated_at = t0() + Duration::seconds(1);
            n
        };
        let (x, y) = (edit("from A"), edit("from B"));
        let (aa, ab) = (
            [audit(&org.id, "key.updated", Some(&k.id), t0())],
            [audit(&org.id, "key.updated", Some(&k.id), t0())],
        );
        let (ra, rb) = tokio::join!(
            h.store.update_key(&x, k.version, &aa),
            other.update_key(&y, k.version, &ab)
        );
        let (ra, rb) = (ra.expect("a"), rb.expect("b"));
        assert!(ra ^ rb, "round {round}: exactly one wins ({ra} {rb})");
        let stored = h.store.key_by_id(&k.id).await.expect("get").expect("key");
        assert_eq!(stored.name, if ra { "from A" } else { "from B" });
        let audits = h
            .store
            .list_audit(
                &org.id,
                &AuditFilter {
                    key_id: Some(k.id.clone()),
                    action: Some("key.updated".into()),
                    ..Default::default()
                },
                page(10, None),
            )
            .await
            .expect("audit");
        assert_eq!(audits.items.len(), 1, "only the winner is audited");
    }
}

pub async fn delete_key_hides_the_key_everywhere(h: &Harness) {
    let (org, _) = h.org("Acme").await;
    let (other, _) = h.org("Globex").await;
    let k = h.key(&org.id, "k", &["runs:read"], t0()).await;
    assert!(
        !h.store
            .delete_key(
                &other.id,
                &k.id,
                &audit(&other.id, "key.deleted", Some(&k.id), t0())
            )
            .await
            .expect("other org")
    );
    assert!(
        h.store
            .delete_key(
                &org.id,
                &k.id,
                &audit(&org.id, "key.deleted", Some(&k.id), t0())
            )
            .await
            .expect("delete")
    );
    assert!(
        !h.store
            .delete_key(
                &org.id,
                &k.id,
                &audit(&org.id, "key.deleted", Some(&k.id), t0())
            )
            .await
            .expect("again")
    );
    assert_eq!(h.store.key_by_id(&k.id).await.expect("id"), None);
    assert_eq!(
        h.store.key_by_hash(&k.secret_hash).await.expect("hash"),
        None
    );
    let l = h
        .store
        .list_keys(&org.id, &KeyFilter::default(), t0(), &kpage(10, None))
        .await
        .expect("list");
    assert!(l.items.iter().all(|x| x.id != k.id) && l.total.count == 1);
    // An update of a deleted key changes nothing.
    let mut n = k.clone();
    n.version += 1;
    assert!(
        !h.store
            .update_key(&n, k.version, &[])
            .await
            .expect("update")
    );
    let deleted = h
        .store
        .list_audit(
            &org.id,
            &AuditFilter {
                action: Some("key.deleted".into()),
                ..Default::default()
            },
            page(10, None),
        )
        .await
        .expect("audit");
    assert_eq!(deleted.items.len(), 1);
}

fn rotation(
    k: &keyconsole::domain::record::KeyRecord,
) -> (
    keyconsole::domain::record::KeyRecord,
    keyconsole::domain::record::KeyRecord,
) {
    let now = t0() + Duration::seconds(10);
    let mut new = key_record(&k.org_id, &k.name, &["runs:read"], now);
    new.rotated_from = Some(k.id.clone());
    let mut old = k.clone();
    old.rotated_to = Some(new.id.clone());
    old.expires_at = Some(now + Duration::hours(1));
    old.updated_at = now;
    old.version += 1;
    (old, new)
}

pub async fn rotate_key_once_per_version(h: &Harness) {
    let (org, _) = h.org("Acme").await;
    let k = h.key(&org.id, "k", &["runs:read"], t0()).await;
    let (old, new) = rotation(&k);
    let a = audit(&org.id, "key.rotated", Some(&k.id), old.updated_at);
    assert!(
        h.store
            .rotate_key(&old, k.version, &new, std::slice::from_ref(&a))
            .await
            .expect("rotate")
    );
    assert_eq!(
        h.store.key_by_id(&k.id).await.expect("old"),
        Some(old.clone())
    );
    assert_eq!(
        h.store.key_by_id(&new.id).await.expect("new"),
        Some(new.clone())
    );
    let (old2, new2) = rotation(&old);
    assert!(
        !h.store
            .rotate_key(&old2, old.version, &new2, &[])
            .await
            .expect("already rotated")
    );
    assert_eq!(h.store.key_by_id(&new2.id).await.expect("none"), None);
    let (old3, new3) = rotation(&k);
    assert!(
        !h.store
            .rotate_key(&old3, k.version, &new3, &[])
            .await
            .expect("stale version")
    );
    assert_eq!(h.store.key_by_id(&new3.id).await.expect("none"), None);
}

pub async fn concurrent_rotations_one_wins(h: &Harness) {
    let other = h.another().await;
    let (org, _) = h.org("Acme").await;
    for round in 0..5 {
        let k = h
            .key(&org.id, &format!("k{round}"), &["runs:read"], t0())
            .await;
        let (o1, n1) = rotation(&k);
        let (o2, n2) = rotation(&k);
        let (r1, r2) = tokio::join!(
            h.store.rotate_key(&o1, k.version, &n1, &[]),
            other.rotate_key(&o2, k.version, &n2, &[])
        );
        let (r1, r2) = (r1.expect("1"), r2.expect("2"));
        assert!(r1 ^ r2, "round {round}: {r1} {r2}");
        let (won, lost) = if r1 { (&n1, &n2) } else { (&n2, &n1) };
        assert!(h.store.key_by_id(&won.id).await.expect("won").is_some());
        assert_eq!(h.store.key_by_id(&lost.id).await.expect("lost"), None);
        assert_eq!(
            h.store
                .key_by_id(&k.id)
                .await
                .expect("old")
                .and_then(|k| k.rotated_to),
            Some(won.id.clone())
        );
    }
}

pub async fn set_secret_replaces_the_hash(h: &Harness) {
    let (org, _) = h.org("Acme").await;
    let k = h.key(&org.id, "k", &["runs:read"], t0()).await;
    let hash = SecretHash([9; 32]);
    assert!(
        h.store
            .set_secret(&k.id, &hash, "ZZZZ", t0() + Duration::seconds(1))
            .await
            .expect("set")
    );
    assert_eq!(
        h.store.key_by_hash(&k.secret_hash).await.expect("old"),
        None
    );
    let got = h
        .store
        .key_by_hash(&hash)
        .await
        .expect("new")
        .expect("found");
    assert_eq!(
        (got.secret_hint.as_str(), got.version),
        ("ZZZZ", k.version + 1)
    );
    assert!(
        !h.store
            .set_secret("pk_live_nope", &hash, "ZZZZ", t0())
            .await
            .expect("none")
    );
}

fn delta(
    key: &str,
    org: &str,
    minute: chrono::DateTime<chrono::Utc>,
    ok: u64,
    unauthorized: u64,
) -> UsageDelta {
    UsageDelta {
        key_id: key.into(),
        org_id: org.into(),
        minute,
        ok,
        unauthorized,
        forbidden: 1,
        rate_limited: 0,
    }
}

pub async fn usage_rolls_up_and_last_used_moves_forward(h: &Harness) {
    let (org, owner) = h.org("Acme").await;
    let k = h.key(&org.id, "busy", &["runs:read"], t0()).await;
    let m0 = BucketSize::Minute.floor(t0());
    let later = t0() + Duration::minutes(61);
    let batch = UsageBatch {
        deltas: vec![
            delta(&k.id, &org.id, m0, 3, 1),
            delta(&k.id, &org.id, m0 + Duration::minutes(1), 2, 0),
            delta(&k.id, &org.id, BucketSize::Minute.floor(later), 5, 0),
            delta(&owner.id, &org.id, m0, 1, 0),
        ],
        last_used: vec![(k.id.clone(), later), (owner.id.clone(), t0())],
        events: vec![],
        scopes: vec![],
    };
    h.store.record_usage(&batch).await.expect("record");
    // An older time never moves last_used_at back.
    h.store
        .record_usage(&UsageBatch {
            last_used: vec![(k.id.clone(), t0())],
            ..Default::default()
        })
        .await
        .expect("older");
    assert_eq!(
        h.store
            .key_by_id(&k.id)
            .await
            .expect("k")
            .and_then(|k| k.last_used_at),
        Some(later)
    );
    let from = t0() - Duration::days(2);
    let to = t0() + Duration::days(2);
    let minutes = h
        .store
        .key_usage(&k.id, BucketSize::Minute, from, to)
        .await
        .expect("minutes");
    assert_eq!(
        minutes.iter().map(|b| (b.start, b.ok)).collect::<Vec<_>>(),
        vec![
            (m0, 3),
            (m0 + Duration::minutes(1), 2),
            (BucketSize::Minute.floor(later), 5)
        ]
    );
    let hours = h
        .store
        .key_usage(&k.id, BucketSize::Hour, from, to)
        .await
        .expect("hours");
    assert_eq!(hours.iter().map(|b| b.ok).collect::<Vec<_>>(), vec![5, 5]);
    assert_eq!(hours[0].unauthorized, 1);
    assert_eq!(hours[0].forbidden, 2);
    let days = h
        .store
        .key_usage(&k.id, BucketSize::Day, from, to)
        .await
        .expect("days");
    assert_eq!(
        days,
        vec![UsageBucket {
            start: BucketSize::Day.floor(t0()),
            ok: 10,
            unauthorized: 1,
            forbidden: 3,
            rate_limited: 0
        }]
    );
    // `[from, to)`: the end is exclusive.
    let cut = h
        .store
        .key_usage(&k.id, BucketSize::Minute, m0, m0 + Duration::minutes(1))
        .await
        .expect("cut");
    assert_eq!(cut.len(), 1);
    let org_days = h
        .store
        .org_usage(&org.id, BucketSize::Day, from, to)
        .await
        .expect("org");
    assert_eq!(
        org_days
            .iter()
            .map(|b| (b.ok, b.forbidden))
            .collect::<Vec<_>>(),
        vec![(11, 4)]
    );
    let top = h
        .store
        .top_keys(&org.id, BucketSize::Day, from, to, 10)
        .await
        .expect("top");
    assert_eq!(
        top.iter()
            .map(|t| (t.key_id.clone(), t.name.clone(), t.counts.ok))
            .collect::<Vec<_>>(),
        vec![
            (k.id.clone(), "busy".to_owned(), 10),
            (owner.id.clone(), "Owner".to_owned(), 1)
        ]
    );
    assert_eq!(
        h.store
            .top_keys(&org.id, BucketSize::Day, from, to, 1)
            .await
            .expect("top 1")
            .len(),
        1
    );
}

/// A batch of more keys than one statement takes (SQLite writes 500 rows per statement):
/// every key's minute, hour and day rows are right, and a key named twice in `last_used`
/// ends at the later time.
pub async fn usage_of_many_keys_in_one_batch(h: &Harness) {
    let (org, _) = h.org("Acme").await;
    let mut keys = Vec::new();
    for i in 0..400 {
        keys.push(h.key(&org.id, &format!("k{i}"), &["runs:read"], t0()).await);
    }
    let m0 = BucketSize::Minute.floor(t0());
    let later = t0() + Duration::minutes(5);
    let mut deltas = Vec::new();
    let mut last_used = Vec::new();
    for (i, k) in keys.iter().enumerate() {
        let ok = u64::try_from(i).expect("i") + 1;
        deltas.push(delta(&k.id, &org.id, m0, ok, 0));
        deltas.push(delta(&k.id, &org.id, m0 + Duration::minutes(1), 1, 0));
        last_used.push((k.id.clone(), later));
        last_used.push((k.id.clone(), t0()));
    }
    h.store
        .record_usage(&UsageBatch {
            deltas,
            last_used,
            events: vec![],
            scopes: vec![],
        })
        .await
        .expect("record");
    for i in [0usize, 166, 167, 250, 399] {
        let k = &keys[i];
        let ok = u64::try_from(i).expect("i") + 1;
        let minutes = usage_rows(h, &k.id, BucketSize::Minute).await;
        assert_eq!(
            minutes.iter().map(|b| b.ok).collect::<Vec<_>>(),
            vec![ok, 1],
            "key {i}"
        );
        let days = usage_rows(h, &k.id, BucketSize::Day).await;
        assert_eq!(days.iter().map(|b| b.ok).collect::<Vec<_>>(), vec![ok + 1]);
        assert_eq!(days[0].forbidden, 2, "key {i}");
        let last = h
            .store
            .key_by_id(&k.id)
            .await
            .expect("k")
            .and_then(|k| k.last_used_at);
        assert_eq!(last, Some(later), "key {i}: the later of its two times");
    }
}

/// A key's usage rows of `bucket` within a day of `t0()`.
async fn usage_rows(h: &Harness, key: &str, bucket: BucketSize) -> Vec<UsageBucket> {
    let (from, to) = (t0() - Duration::days(1), t0() + Duration::days(1));
    h.store
        .key_usage(key, bucket, from, to)
        .await
        .expect("usage")
}

pub async fn usage_from_many_instances_adds_up(h: &Harness) {
    let (org, _) = h.org("Acme").await;
    let keys: Vec<_> = four_keys(h, &org.id).await;
    let other = h.another().await;
    let m0 = BucketSize::Minute.floor(t0());
    let mut tasks = Vec::new();
    for i in 0..12u32 {
        let store = if i.is_multiple_of(2) {
            h.store.clone()
        } else {
            other.clone()
        };
        // Each flush touches every key, in a different order, with a different last use.
        let mut order = keys.clone();
        order.rotate_left(i as usize % keys.len());
        let org = org.id.clone();
        tasks.push(tokio::spawn(async move {
            let batch = UsageBatch {
                deltas: order.iter().map(|k| delta(k, &org, m0, 1, 0)).collect(),
                last_used: order
                    .iter()
                    .map(|k| (k.clone(), t0() + Duration::seconds(i64::from(i))))
                    .collect(),
                events: vec![],
                scopes: order
                    .iter()
                    .map(|k| ScopeDelta {
                        key_id: k.clone(),
                        org_id: org.clone(),
                        day: BucketSize::Day.floor(t0()),
                        scope: "runs:read".into(),
                        requests: 2,
                        last_used_at: t0() + Duration::seconds(i64::from(i)),
                    })
                    .collect(),
            };
            // A busy database answers "retry"; the usage writer keeps the batch and retries.
            loop {
                match store.record_usage(&batch).await {
                    Ok(()) => break,
                    Err(StoreError::Unavailable { .. }) => {
                        tokio::time::sleep(std::time::Duration::from_millis(20)).await
                    }
                    Err(e) => panic!("record usage: {e}"),
                }
            }
        }));
    }
    for t in tasks {
        t.await.expect("task");
    }
    for k in &keys {
        let b = h
            .store
            .key_usage(k, BucketSize::Minute, m0, m0 + Duration::minutes(1))
            .await
            .expect("usage");
        assert_eq!(
            b.iter().map(|b| b.ok).sum::<u64>(),
            12,
            "no instance overwrote another's counts"
        );
        let rec = h.store.key_by_id(k).await.expect("k").expect("k");
        assert_eq!(
            rec.last_used_at,
            Some(t0() + Duration::seconds(11)),
            "the latest use wins"
        );
    }
    let counts = h
        .store
        .scope_counts(&keys, BucketSize::Day.floor(t0()))
        .await
        .expect("scopes");
    assert!(
        counts
            .iter()
            .all(|c| c.requests == 24 && c.last_used_at == t0() + Duration::seconds(11)),
        "{counts:?}"
    );
}

async fn four_keys(h: &Harness, org: &str) -> Vec<String> {
    let mut v = Vec::new();
    for i in 0..4 {
        v.push(h.key(org, &format!("k{i}"), &["runs:read"], t0()).await.id);
    }
    v
}

pub async fn add_buckets_adds_to_existing_counters(h: &Harness) {
    let (org, _) = h.org("Acme").await;
    let k = h.key(&org.id, "k", &["runs:read"], t0()).await;
    let day = BucketSize::Day.floor(t0());
    let row = UsageBucket {
        start: day,
        ok: 4,
        unauthorized: 3,
        forbidden: 2,
        rate_limited: 1,
    };
    h.store
        .add_buckets(&k.id, &org.id, BucketSize::Day, &[row, row])
        .await
        .expect("add");
    h.store
        .add_buckets(&k.id, &org.id, BucketSize::Day, &[row])
        .await
        .expect("add again");
    let got = h
        .store
        .key_usage(&k.id, BucketSize::Day, day, day + Duration::days(1))
        .await
        .expect("usage");
    assert_eq!(
        got,
        vec![UsageBucket {
            start: day,
            ok: 12,
            unauthorized: 9,
            forbidden: 6,
            rate_limited: 3
        }]
    );
}

pub async fn prune_drops_minute_and_hour_buckets_past_retention(h: &Harness) {
    let (org, _) = h.org("Acme").await;
    let k = h.key(&org.id, "k", &["runs:read"], t0()).await;
    let old = BucketSize::Minute.floor(t0());
    h.store
        .record_usage(&UsageBatch {
            deltas: vec![delta(&k.id, &org.id, old, 1, 0)],
            ..Default::default()
        })
        .await
        .expect("record");
    let from = old - Duration::days(1);
    let to = old + Duration::days(1);
    h.store
        .prune(t0() + Duration::hours(47))
        .await
        .expect("prune early");
    assert_eq!(
        h.store
            .key_usage(&k.id, BucketSize::Minute, from, to)
            .await
            .expect("m")
            .len(),
        1
    );
    h.store
        .prune(t0() + Duration::hours(49))
        .await
        .expect("prune");
    assert!(
        h.store
            .key_usage(&k.id, BucketSize::Minute, from, to)
            .await
            .expect("m")
            .is_empty()
    );
    assert_eq!(
        h.store
            .key_usage(&k.id, BucketSize::Hour, from, to)
            .await
            .expect("h")
            .len(),
        1
    );
    h.store
        .prune(t0() + Duration::days(91))
        .await
        .expect("prune");
    assert!(
        h.store
            .key_usage(&k.id, BucketSize::Hour, from, to)
            .await
            .expect("h")
            .is_empty()
    );
    assert_eq!(
        h.store
            .key_usage(&k.id, BucketSize::Day, from, to)
            .await
            .expect("d")
            .len(),
        1,
        "days are kept"
    );
}

fn event(org: &str, i: u32, key: Option<&str>, code: &str) -> AuthEventRecord {
    AuthEventRecord {
        request_id: format!("req_{i:020}"),
        org_id: org.into(),
        at: t0() + Duration::seconds(i64::from(i)),
        key_id: key.map(str::to_owned),
        code: code.into(),
        status: 401,
        method: "GET".into(),
        path: "/v1/keys".into(),
        ip: "203.0.113.7".into(),
        origin: i
            .is_multiple_of(2)
            .then(|| "https://a.example.com".to_owned()),
        app_id: None,
        count: u64::from(i % 3 + 1),
        // A denied session names its user; a key's event does not.
        user: key.is_none().then(|| format!("user_{i}")),
        // What a refusal for a missing scope needed, kept for support lookups.
        required_scopes: if i % 4 == 3 {
            vec!["keys:write".to_owned(), "runs:read".to_owned()]
        } else {
            Vec::new()
        },
    }
}

pub async fn auth_events_list_filter_page_and_trim(h: &Harness) {
    let (org, k) = h.org("Acme").await;
    let (other, _) = h.org("Globex").await;
    let events: Vec<_> = (0..4)
        .map(|i| {
            event(
                &org.id,
                i,
                (i % 2 == 1).then_some(k.id.as_str()),
                if i < 2 { "invalid_key" } else { "key_disabled" },
            )
        })
        .collect();
    h.store
        .record_usage(&UsageBatch {
            events: events.clone(),
            ..Default::default()
        })
        .await
        .expect("record");
    h.store
        .record_usage(&UsageBatch {
            events: vec![event(&other.id, 99, None, "invalid_key")],
            ..Default::default()
        })
        .await
        .expect("other");
    let all = h
        .store
        .list_auth_events(&org.id, &AuthEventFilter::default(), page(10, None))
        .await
        .expect("list");
    let mut want = events.clone();
    want.reverse();
    assert_eq!(all.items, want, "newest first, every field kept");
    let p1 = h
        .store
        .list_auth_events(&org.id, &AuthEventFilter::default(), page(3, None))
        .await
        .expect("p1");
    let p2 = h
        .store
        .list_auth_events(&org.id, &AuthEventFilter::default(), page(3, p1.next))
        .await
        .expect("p2");
    assert_eq!((p1.items.len(), p2.items.len(), p2.next), (3, 1, None));
    assert_eq!(p2.items[0], events[0]);
    let by_key = h
        .store
        .list_auth_events(
            &org.id,
            &AuthEventFilter {
                key_id: Some(k.id.clone()),
                ..Default::default()
            },
            page(10, None),
        )
        .await
        .expect("key");
    assert_eq!(by_key.items.len(), 2);
    let by_code = h
        .store
        .list_auth_events(
            &org.id,
            &AuthEventFilter {
                code: Some("key_disabled".into()),
                ..Default::default()
            },
            page(10, None),
        )
        .await
        .expect("code");
    assert_eq!(by_code.items.len(), 2);
    let by_req = h
        .store
        .list_auth_events(
            &org.id,
            &AuthEventFilter {
                request_id: Some(events[2].request_id.clone()),
                ..Default::default()
            },
            page(10, None),
        )
        .await
        .expect("req");
    assert_eq!(by_req.items, vec![events[2].clone()]);
    // Retention keeps the newest 5 per org (the harness's setting).
    let more: Vec<_> = (10..14)
        .map(|i| event(&org.id, i, None, "invalid_key"))
        .collect();
    h.store
        .record_usage(&UsageBatch {
            events: more,
            ..Default::default()
        })
        .await
        .expect("more");
    let kept = h
        .store
        .list_auth_events(&org.id, &AuthEventFilter::default(), page(50, None))
        .await
        .expect("kept");
    assert_eq!(
        kept.items
            .iter()
            .map(|e| e.request_id.clone())
            .collect::<Vec<_>>(),
        [13, 12, 11, 10, 3]
            .iter()
            .map(|i| format!("req_{i:020}"))
            .collect::<Vec<_>>()
    );
    let theirs = h
        .store
        .list_auth_events(&other.id, &AuthEventFilter::default(), page(50, None))
        .await
        .expect("theirs");
    assert_eq!(theirs.items.len(), 1, "another org's events are untouched");
}

fn leak(
    k: &keyconsole::domain::record::KeyRecord,
    source: &str,
    disable: bool,
    i: i64,
) -> LeakRecord {
    let at = t0() + Duration::seconds(i);
    LeakRecord {
        key_id: k.id.clone(),
        org_id: k.org_id.clone(),
        at,
        source: source.into(),
        actor: Actor::system("github-secret-scanning"),
        disable,
        leaked: audit(&k.org_id, "key.leaked", Some(&k.id), at),
        disabled: audit(&k.org_id, "key.disabled", Some(&k.id), at),
    }
}

pub async fn leaks_are_recorded_once_and_disable(h: &Harness) {
    let (org, _) = h.org("Acme").await;
    let (other, _) = h.org("Globex").await;
    let k = h.key(&org.id, "k", &["runs:read"], t0()).await;
    let first = h
        .store
        .record_leak(&leak(&k, "https://github.com/a", false, 1))
        .await
        .expect("report");
    assert!(first.new_sighting && !first.disabled_now);
    let key = first.key.expect("key");
    assert_eq!(
        (key.leaked_at, key.enabled, key.version),
        (Some(t0() + Duration::seconds(1)), true, k.version + 1)
    );
    let again = h
        .store
        .record_leak(&leak(&k, "https://github.com/a", false, 2))
        .await
        .expect("repeat");
    assert!(!again.new_sighting && !again.disabled_now);
    assert_eq!(
        again.key.as_ref().and_then(|k| k.leaked_at),
        Some(t0() + Duration::seconds(1)),
        "leaked_at is set once"
    );
    let off = h
        .store
        .record_leak(&leak(&k, "https://github.com/b", true, 3))
        .await
        .expect("disable");
    assert!(off.new_sighting && off.disabled_now);
    assert!(!off.key.expect("key").enabled);
    let off_again = h
        .store
        .record_leak(&leak(&k, "https://github.com/b", true, 4))
        .await
        .expect("again");
    assert!(!off_again.new_sighting && !off_again.disabled_now);
    let s = h
        .store
        .list_sightings(&k.id, page(1, None))
        .await
        .expect("sightings");
    assert_eq!(
        s.items
            .iter()
            .map(|s| s.source.as_str())
            .collect::<Vec<_>>(),
        vec!["https://github.com/b"]
    );
    let s2 = h
        .store
        .list_sightings(&k.id, page(1, s.next))
        .await
        .expect("page 2");
    assert_eq!(s2.items[0].source, "https://github.com/a");
    assert_eq!(s2.items[0].actor, Actor::system("github-secret-scanning"));
    assert_eq!(s2.next, None);
    let audits = h
        .store
        .list_audit(
            &org.id,
            &AuditFilter {
                key_id: Some(k.id.clone()),
                ..Default::default()
            },
            page(50, None),
        )
        .await
        .expect("audit");
    assert_eq!(
        audits
            .items
            .iter()
            .map(|a| a.action.as_str())
            .collect::<Vec<_>>(),
        vec!["key.disabled", "key.leaked", "key.leaked", "key.created"]
    );
    // Another org's key is never touched; a deleted key answers no key.
    let mut wrong = leak(&k, "x", true, 5);
    wrong.org_id = other.id.clone();
    let w = h.store.record_leak(&wrong).await.expect("wrong org");
    assert!(!w.new_sighting && !w.disabled_now);
    let gone = h.key(&org.id, "gone", &["runs:read"], t0()).await;
    h.store
        .delete_key(
            &org.id,
            &gone.id,
            &audit(&org.id, "key.deleted", Some(&gone.id), t0()),
        )
        .await
        .expect("delete");
    let g = h
        .store
        .record_leak(&leak(&gone, "y", true, 6))
        .await
        .expect("deleted");
    assert_eq!(
        (g.key, g.new_sighting, g.disabled_now),
        (None, false, false)
    );
    // A leaked owner key is disabled too (no lock-out guard).
    let (org3, owner3) = h.org("Initech").await;
    let o = h
        .store
        .record_leak(&leak(&owner3, "z", true, 7))
        .await
        .expect("owner");
    assert!(o.disabled_now, "{org3:?}");
}

pub async fn scope_counts_sum_per_key_and_scope(h: &Harness) {
    let (org, _) = h.org("Acme").await;
    let a = h.key(&org.id, "a", &["runs:read"], t0()).await;
    let b = h.key(&org.id, "b", &["runs:read"], t0()).await;
    let d0 = BucketSize::Day.floor(t0());
    let sd =
        |k: &str, day: chrono::DateTime<chrono::Utc>, scope: &str, n: u64, last: i64| ScopeDelta {
            key_id: k.into(),
            org_id: org.id.clone(),
            day,
            scope: scope.into(),
            requests: n,
            last_used_at: day + Duration::seconds(last),
        };
    let batch = UsageBatch {
        scopes: vec![
            sd(&a.id, d0, "runs:read", 2, 5),
            sd(&a.id, d0, "runs:read", 3, 1),
            sd(&a.id, d0 - Duration::days(1), "runs:read", 7, 9),
            sd(&a.id, d0, "credits:read", 1, 2),
            sd(&b.id, d0 - Duration::days(40), "runs:read", 1, 1),
        ],
        ..Default::default()
    };
    h.store.record_usage(&batch).await.expect("record");
    let got = h
        .store
        .scope_counts(&[a.id.clone(), b.id.clone()], d0 - Duration::days(30))
        .await
        .expect("counts");
    let got: Vec<_> = got
        .iter()
        .map(|c| {
            (
                c.key_id.clone(),
                c.scope.clone(),
                c.requests,
                c.last_used_at,
            )
        })
        .collect();
    assert_eq!(
        got,
        vec![
            (
                a.id.clone(),
                "credits:read".to_owned(),
                1,
                d0 + Duration::seconds(2)
            ),
            (
                a.id.clone(),
                "runs:read".to_owned(),
                12,
                d0 + Duration::seconds(5)
            ),
        ]
    );
    assert!(
        h.store
            .scope_counts(&[], d0)
            .await
            .expect("none")
            .is_empty()
    );
}

pub async fn review_candidates_per_kind(h: &Harness) {
    let now = t0() + Duration::days(200);
    let (org, owner) = h.org("Acme").await;
    let put = async |name: &str,
                     scopes: &[&str],
                     f: &dyn Fn(&mut keyconsole::domain::record::KeyRecord)| {
        let mut k = key_record(&org.id, name, scopes, t0());
        f(&mut k);
        h.store
            .insert_key(&k, &audit(&org.id, "key.created", Some(&k.id), t0()))
            .await
            .expect("insert");
        k.id
    };
    let owned = put("owned", &["runs:read"], &|k| {
        k.owner = Some("team".into());
        k.created_at = now - Duration::days(1);
        k.last_used_at = Some(now - Duration::days(1));
    })
    .await;
    let leaked = put("leaked", &["runs:read"], &|k| k.leaked_at = Some(t0())).await;
    let test = put("test", &["webhooks:*"], &|k| k.env = Env::Test).await;
    let used = put("used", &["runs:read", "runs:write"], &|k| {
        k.last_used_at = Some(now - Duration::days(2))
    })
    .await;
    let policy = ReviewPolicy {
        stale_days: 30,
        rotation_days: 90,
    };
    let ids = async |kind: FindingKind| -> HashSet<String> {
        h.store
            .review_candidates(&org.id, kind, &policy, now, 1000)
            .await
            .expect("candidates")
            .into_iter()
            .map(|k| k.id)
            .collect()
    };
    let set = |v: &[&String]| v.iter().map(|s| (*s).clone()).collect::<HashSet<_>>();
    assert_eq!(ids(FindingKind::Leaked).await, set(&[&leaked]));
    assert_eq!(
        ids(FindingKind::NoOwner).await,
        set(&[&owner.id, &leaked, &test, &used])
    );
    assert_eq!(ids(FindingKind::Wildcard).await, set(&[&owner.id, &test]));
    assert_eq!(ids(FindingKind::NoExpiryTest).await, set(&[&test]));
    assert_eq!(
        ids(FindingKind::Stale).await,
        set(&[&owner.id, &leaked, &test])
    );
    assert_eq!(
        ids(FindingKind::RotationDue).await,
        set(&[&owner.id, &leaked, &test, &used])
    );
    assert_eq!(
        ids(FindingKind::OverPrivileged).await,
        set(&[&owned, &used])
    );
    // Ordered: the most recently used first.
    let op = h
        .store
        .review_candidates(&org.id, FindingKind::OverPrivileged, &policy, now, 1)
        .await
        .expect("limit");
    assert_eq!(
        op.iter().map(|k| k.id.clone()).collect::<Vec<_>>(),
        vec![owned]
    );
}

pub async fn audit_lists_filter_and_keep_the_actor(h: &Harness) {
    let (org, owner) = h.org("Acme").await;
    let (other, _) = h.org("Globex").await;
    let mut written = Vec::new();
    for i in 0..5i64 {
        let mut a = audit(
            &org.id,
            if i % 2 == 0 {
                "key.updated"
            } else {
                "key.disabled"
            },
            Some(&owner.id),
            t0() + Duration::seconds(i),
        );
        a.actor = match i {
            0 => Actor::key(&owner.id),
            1 => Actor {
                kind: keyconsole::api::ActorKind::User,
                id: "user-42".into(),
                name: Some("Ada Lovelace".into()),
            },
            _ => Actor::system("retention"),
        };
        let mut k = owner.clone();
        k.name = format!("n{i}");
        k.version = owner.version + i + 1;
        k.updated_at = a.at;
        assert!(
            h.store
                .update_key(&k, owner.version + i, std::slice::from_ref(&a))
                .await
                .expect("update")
        );
        written.push(a);
    }
    let all = h
        .store
        .list_audit(&org.id, &AuditFilter::default(), page(50, None))
        .await
        .expect("all");
    assert_eq!(all.items.len(), 6);
    assert_eq!(
        all.items[..5].iter().rev().cloned().collect::<Vec<_>>(),
        written,
        "every field, JSON changes as written"
    );
    let p1 = h
        .store
        .list_audit(&org.id, &AuditFilter::default(), page(4, None))
        .await
        .expect("p1");
    let p2 = h
        .store
        .list_audit(&org.id, &AuditFilter::default(), page(4, p1.next))
        .await
        .expect("p2");
    assert_eq!((p1.items.len(), p2.items.len(), p2.next), (4, 2, None));
    let by_action = h
        .store
        .list_audit(
            &org.id,
            &AuditFilter {
                action: Some("key.disabled".into()),
                ..Default::default()
            },
            page(50, None),
        )
        .await
        .expect("action");
    assert_eq!(by_action.items.len(), 2);
    let by_actor = h
        .store
        .list_audit(
            &org.id,
            &AuditFilter {
                actor: Some(Actor {
                    kind: keyconsole::api::ActorKind::User,
                    id: "user-42".into(),
                    name: None,
                }),
                ..Default::default()
            },
            page(50, None),
        )
        .await
        .expect("actor");
    assert_eq!(by_actor.items, vec![written[1].clone()]);
    let by_system = h
        .store
        .list_audit(
            &org.id,
            &AuditFilter {
                actor: Some(Actor::system("retention")),
                ..Default::default()
            },
            page(50, None),
        )
        .await
        .expect("system");
    assert_eq!(by_system.items.len(), 3);
    let none = h
        .store
        .list_audit(
            &org.id,
            &AuditFilter {
                key_id: Some("pk_live_other".into()),
                ..Default::default()
            },
            page(50, None),
        )
        .await
        .expect("none");
    assert!(none.items.is_empty());
    let theirs = h
        .store
        .list_audit(&other.id, &AuditFilter::default(), page(50, None))
        .await
        .expect("theirs");
    assert_eq!(theirs.items.len(), 1);
}

pub async fn ping_answers_while_the_database_works(h: &Harness) {
    h.store.ping().await.expect("ping");
    let (org, _) = h.org("Acme").await;
    h.store.ping().await.expect("ping after a write");
    assert!(h.store.get_org(&org.id).await.expect("org").is_some());
}

pub async fn list_keys_sorts_page_with_positions(h: &Harness) {
    let now = t0() + Duration::days(10);
    let (org, owner) = h.org("Acme").await;
    let mut all = vec![owner];
    // Names that differ in ASCII case and beyond ASCII, ties in every sort value, never-used
    // and never-expiring keys.
    for (i, name) in ["beta", "Alpha", "alpha", "Zed", "ébène", "_under", "beta"]
        .iter()
        .enumerate()
    {
        let mut k = key_record(
            &org.id,
            name,
            &["runs:read"],
            t0() + Duration::seconds(i as i64),
        );
        if !i.is_multiple_of(3) {
            k.last_used_at = Some(t0() + Duration::hours((i % 2) as i64));
        }
        if i.is_multiple_of(2) {
            k.expires_at = Some(now + Duration::days((i % 4) as i64));
        }
        h.store
            .insert_key(&k, &audit(&org.id, "key.created", Some(&k.id), t0()))
            .await
            .expect("insert");
        all.push(k);
    }
    // Insertion order is creation (`seq`) order.
    let seq: std::collections::HashMap<String, usize> = all
        .iter()
        .enumerate()
        .map(|(i, k)| (k.id.clone(), i))
        .collect();
    for wire in [
        "created",
        "-created",
        "name",
        "-name",
        "last_used",
        "-last_used",
        "expires",
        "-expires",
    ] {
        let sort = KeySort::parse(wire).expect("sort");
        let mut want = all.clone();
        want.sort_by(|a, b| {
            let o = match sort.field {
                keyconsole::storage::KeySortField::Created => std::cmp::Ordering::Equal,
                keyconsole::storage::KeySortField::Name => a
                    .name
                    .to_ascii_lowercase()
                    .as_bytes()
                    .cmp(b.name.to_ascii_lowercase().as_bytes()),
                keyconsole::storage::KeySortField::LastUsed => a
                    .last_used_at
                    .map_or(-1, |t| t.timestamp_millis())
                    .cmp(&b.last_used_at.map_or(-1, |t| t.timestamp_millis())),
                keyconsole::storage::KeySortField::Expires => a
                    .expires_at
                    .map_or(i64::MAX, |t| t.timestamp_millis())
                    .cmp(&b.expires_at.map_or(i64::MAX, |t| t.timestamp_millis())),
            }
            .then(seq[&a.id].cmp(&seq[&b.id]));
            if sort.descending { o.reverse() } else { o }
        });
        let want: Vec<String> = want.iter().map(|k| k.id.clone()).collect();
        let mut got = Vec::new();
        let mut after = None;
        loop {
            let p = h
                .store
                .list_keys(
                    &org.id,
                    &KeyFilter::default(),
                    now,
                    &KeyPageReq {
                        limit: 3,
                        sort,
                        after: after.clone(),
                    },
                )
                .await
                .expect("page");
            assert_eq!(
                p.total,
                KeyTotal {
                    count: 8,
                    lower_bound: false
                }
            );
            got.extend(p.items.iter().map(|k| k.id.clone()));
            match p.next {
                Some(n) => after = Some(n),
                None => break,
            }
        }
        assert_eq!(got, want, "sort {wire}");
    }
    // A filter with a sort: exact matches, in order.
    let p = h
        .store
        .list_keys(
            &org.id,
            &KeyFilter {
                q: Some("ALPHA".into()),
                ..Default::default()
            },
            now,
            &KeyPageReq {
                limit: 10,
                sort: KeySort::parse("-name").expect("sort"),
                after: None,
            },
        )
        .await
        .expect("q");
    assert_eq!(
        p.items.iter().map(|k| k.name.as_str()).collect::<Vec<_>>(),
        vec!["alpha", "Alpha"]
    );
    assert_eq!(p.total.count, 2);
    // Owner: exact, ASCII case ignored.
    let mut k = key_record(&org.id, "owned", &["runs:read"], t0());
    k.owner = Some("Pay@Acme.com".into());
    h.store
        .insert_key(&k, &audit(&org.id, "key.created", Some(&k.id), t0()))
        .await
        .expect("insert");
    for (owner, n) in [("pay@acme.COM", 1), ("pay@acme", 0)] {
        let p = h
            .store
            .list_keys(
                &org.id,
                &KeyFilter {
                    owner: Some(owner.into()),
                    ..Default::default()
                },
                now,
                &kpage(10, None),
            )
            .await
            .expect("owner");
        assert_eq!(p.items.len(), n, "{owner}");
    }
}

pub async fn imported_keys_and_the_cursor_secret(h: &Harness) {
    let (org, _) = h.org("Acme").await;
    let keys: Vec<_> = (0..3)
        .map(|i| key_record(&org.id, &format!("Imported {i}"), &["runs:read"], t0()))
        .collect();
    let base = h.store.latest_change(None).await.expect("latest");
    h.store.import_keys(&keys).await.expect("import");
    // The search index and the change feed know every imported key (a bulk import fills
    // both itself instead of row by row): one dense change each, in order.
    let search = |q: &str| KeyFilter {
        q: Some(q.to_owned()),
        ..KeyFilter::default()
    };
    let found = h
        .store
        .list_keys(&org.id, &search("PORTED"), t0(), &kpage(10, None))
        .await
        .expect("search");
    let mut ids: Vec<_> = found.items.iter().map(|k| k.id.clone()).collect();
    ids.sort();
    let mut want: Vec<_> = keys.iter().map(|k| k.id.clone()).collect();
    want.sort();
    assert_eq!(ids, want);
    let by_id = h
        .store
        .list_keys(&org.id, &search(&keys[1].id[5..]), t0(), &kpage(10, None))
        .await
        .expect("search by id");
    assert_eq!(by_id.items.len(), 1);
    assert_eq!(by_id.items[0].id, keys[1].id);
    let changes = h.store.changes_after(base, 100).await.expect("changes");
    assert_eq!(
        changes.iter().map(|c| c.seq).collect::<Vec<_>>(),
        (base + 1..=base + 3).collect::<Vec<_>>()
    );
    for (c, k) in changes.iter().zip(&keys) {
        assert_eq!((&c.key_id, &c.org_id), (&k.id, &k.org_id));
        assert_eq!(c.hashes, vec![k.secret_hash]);
    }
    // After the import, keys inserted one by one are indexed and fed again.
    let one = h.key(&org.id, "Imported later", &["runs:read"], t0()).await;
    let later = h
        .store
        .list_keys(&org.id, &search("ported later"), t0(), &kpage(10, None))
        .await
        .expect("search");
    assert_eq!(later.items.len(), 1);
    assert_eq!(later.items[0].id, one.id);
    assert_eq!(h.store.latest_change(None).await.expect("latest"), base + 4);
    for k in &keys {
        assert_eq!(
            h.store.key_by_id(&k.id).await.expect("get"),
            Some(k.clone())
        );
        // Found the way verification finds it, by the secret's hash.
        assert_eq!(
            h.store
                .key_by_hash(&k.secret_hash)
                .await
                .expect("by hash")
                .map(|f| f.id),
            Some(k.id.clone())
        );
    }
    // All or nothing: a duplicate inside the batch leaves none of it.
    let mut dup: Vec<_> = (0..2)
        .map(|i| key_record(&org.id, &format!("dup {i}"), &["runs:read"], t0()))
        .collect();
    dup.push(keys[0].clone());
    assert!(h.store.import_keys(&dup).await.is_err());
    assert_eq!(h.store.key_by_id(&dup[0].id).await.expect("get"), None);
    let after_failed = h
        .store
        .list_keys(&org.id, &search(&dup[0].name), t0(), &kpage(10, None))
        .await
        .expect("search");
    assert!(after_failed.items.is_empty());
    assert_eq!(
        h.store.latest_change(None).await.expect("latest"),
        base + 4,
        "a failed import leaves no change"
    );
    // The cursor secret is one per database, the same for every instance, not all zeros.
    let a = h.store.cursor_secret().await.expect("secret");
    let b = h.another().await.cursor_secret().await.expect("secret");
    assert_eq!(a, b);
    assert_ne!(a, [0u8; 32]);
}

/// The change feed's rows (API.md §7): one per key mutation, numbered densely in commit
/// order, none for a usage flush; the newest per org and per key; heartbeats.
pub async fn key_changes_are_dense_one_per_mutation_and_none_for_usage(h: &Harness) {
    let base = h.store.latest_change(None).await.expect("latest");
    let (org, _) = h.org("Acme").await;
    let (other, _) = h.org("Globex").await;
    let k = h.key(&org.id, "k", &["runs:read"], t0()).await;
    let mut next = k.clone();
    next.enabled = false;
    next.version = k.version + 1;
    let a = audit(&org.id, "key.updated", Some(&k.id), t0());
    assert!(
        h.store
            .update_key(&next, k.version, std::slice::from_ref(&a))
            .await
            .expect("disable")
    );
    // Only `last_used_at` moves: no change row.
    h.store
        .record_usage(&UsageBatch {
            last_used: vec![(k.id.clone(), t0() + Duration::minutes(1))],
            ..Default::default()
        })
        .await
        .expect("usage");
    let d = audit(&org.id, "key.deleted", Some(&k.id), t0());
    assert!(
        h.store
            .delete_key(&org.id, &k.id, &d)
            .await
            .expect("delete")
    );
    let changes = h.store.changes_after(base, 100).await.expect("changes");
    let of_k: Vec<_> = changes.iter().filter(|c| c.key_id == k.id).collect();
    assert_eq!(of_k.len(), 3, "create, disable, delete: {changes:?}");
    let seqs: Vec<i64> = changes.iter().map(|c| c.seq).collect();
    let dense: Vec<i64> = (base + 1..=base + seqs.len() as i64).collect();
    assert_eq!(seqs, dense, "dense, in order");
    assert!(of_k.iter().all(|c| c.hashes.contains(&k.secret_hash)));
    assert_eq!(of_k[1].version, next.version);
    let last = *seqs.last().expect("some");
    assert_eq!(h.store.latest_change(None).await.expect("all"), last);
    assert_eq!(
        h.store.latest_change(Some(&org.id)).await.expect("org"),
        last
    );
    assert!(h.store.latest_change(Some(&other.id)).await.expect("other") < last);
    assert_eq!(
        h.store
            .latest_key_change(&[k.id.as_str(), "pk_live_none"])
            .await
            .expect("key"),
        last
    );
    assert!(
        h.store
            .changes_after(last, 100)
            .await
            .expect("none")
            .is_empty()
    );

    // Heartbeats: one row per instance, moving only forward; listed since a time.
    let beat = |at, applied| InstanceRecord {
        id: "ins_a".into(),
        started_at: t0(),
        last_seen_at: at,
        applied_change: applied,
    };
    h.store
        .heartbeat(&beat(t0() + Duration::seconds(10), 5))
        .await
        .expect("beat");
    h.store
        .heartbeat(&beat(t0() + Duration::seconds(5), 3))
        .await
        .expect("late beat");
    let live = h
        .store
        .list_instances(t0() + Duration::seconds(9))
        .await
        .expect("list");
    assert_eq!(live, vec![beat(t0() + Duration::seconds(10), 5)]);
    assert!(
        h.store
            .list_instances(t0() + Duration::seconds(11))
            .await
            .expect("list")
            .is_empty()
    );
    // A clean stop leaves the list at once.
    h.store.forget_instance("ins_a").await.expect("forget");
    assert!(h.store.list_instances(t0()).await.expect("list").is_empty());
}

/// The audit log lists newest first by time, whatever order the entries were written in
/// (a backdated import, a write that stamped its time before waiting for the lock), ties
/// of one millisecond by insertion, and pages through that order losing and repeating
/// nothing.
pub async fn audit_lists_in_time_order_whatever_the_order_written(h: &Harness) {
    let (org, _) = h.org("Acme").await;
    // Written in this order, with these times (seconds after t0; 3 twice).
    let mut written = Vec::new();
    for (i, secs) in [50, 10, 30, 30, 20, 40].into_iter().enumerate() {
        let k = h
            .key(
                &org.id,
                &format!("k{i}"),
                &["runs:read"],
                t0() + Duration::days(1) + Duration::seconds(secs),
            )
            .await;
        written.push((secs, k.id));
    }
    let all = h
        .store
        .list_audit(&org.id, &AuditFilter::default(), page(50, None))
        .await
        .expect("all");
    let ours: Vec<(i64, String)> = all
        .items
        .iter()
        .filter(|a| {
            written
                .iter()
                .any(|(_, id)| a.key_id.as_deref() == Some(id))
        })
        .map(|a| {
            (
                (a.at - (t0() + Duration::days(1))).num_seconds(),
                a.key_id.clone().unwrap_or_default(),
            )
        })
        .collect();
    let mut want = written.clone();
    // Newest first; of the two at 30 s, the later written first.
    want.sort_by_key(|w| std::cmp::Reverse(w.0));
    let at30: Vec<&String> = written.iter().filter(|w| w.0 == 30).map(|w| &w.1).collect();
    let pos = want.iter().position(|w| w.0 == 30).expect("30");
    want[pos].1 = at30[1].clone();
    want[pos + 1].1 = at30[0].clone();
    assert_eq!(ours, want, "time order, ties by insertion");
    // Every entry (the org's own included) is in non-increasing time order.
    assert!(all.items.windows(2).all(|w| w[0].at >= w[1].at));
    // Pages of two walk the same order.
    let mut walked = Vec::new();
    let mut before = None;
    loop {
        let p = h
            .store
            .list_audit(&org.id, &AuditFilter::default(), page(2, before))
            .await
            .expect("page");
        walked.extend(p.items.iter().map(|a| a.id.clone()));
        match p.next {
            Some(n) => before = Some(n),
            None => break,
        }
    }
    assert_eq!(
        walked,
        all.items.iter().map(|a| a.id.clone()).collect::<Vec<_>>()
    );
}
