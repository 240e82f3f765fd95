//! A fresh store per test, on either backend, and builders of records.

use std::sync::Arc;

use chrono::{DateTime, Duration, TimeZone, Utc};
use keyconsole::api::{Actor, Org};
use keyconsole::domain::key::{Env, SecretPrefix};
use keyconsole::domain::record::KeyRecord;
use keyconsole::domain::scope::ScopeSet;
use keyconsole::server::bootstrap;
use keyconsole::storage::{self, IfMissing, KeyStore, NewAudit, Retention};

use crate::support::pg::TestDb;

pub struct Harness {
    pub store: Arc<dyn KeyStore>,
    pub url: String,
    _dir: Option<tempfile::TempDir>,
    _db: Option<TestDb>,
}

impl Harness {
    pub async fn sqlite() -> Harness {
        let dir = tempfile::tempdir().expect("tempdir");
        let url = format!("sqlite://{}", dir.path().join("keys.db").display());
        Harness {
            store: open(&url, retention()).await,
            url,
            _dir: Some(dir),
            _db: None,
        }
    }

    pub async fn postgres(test: &str) -> Option<Harness> {
        let db = TestDb::fresh(test).await?;
        let url = db.url.clone();
        Some(Harness {
            store: open(&url, retention()).await,
            url,
            _dir: None,
            _db: Some(db),
        })
    }

    /// A harness over an open store (tests that need the store's own type).
    pub fn on(store: Arc<dyn KeyStore>, url: String) -> Harness {
        Harness {
            store,
            url,
            _dir: None,
            _db: None,
        }
    }

    /// A second instance on the same database (its own pool and connections).
    pub async fn another(&self) -> Arc<dyn KeyStore> {
        open(&self.url, retention()).await
    }

    /// A new org with its owner key.
    pub async fn org(&self, name: &str) -> (Org, KeyRecord) {
        let (org, owner, audit) = org_records(name);
        self.store
            .create_org_with_owner(&org, &owner, &audit)
            .await
            .expect("create org");
        (org, owner)
    }

    /// A new key of `org` with these scopes, created at `at`.
    pub async fn key(
        &self,
        org: &str,
        name: &str,
        scopes: &[&str],
        at: DateTime<Utc>,
    ) -> KeyRecord {
        let k = key_record(org, name, scopes, at);
        self.store
            .insert_key(&k, &audit(org, "key.created", Some(&k.id), at))
            .await
            .expect("insert key");
        k
    }
}

/// Small retention so trimming is observable.
pub fn retention() -> Retention {
    Retention {
        auth_events_per_org: 5,
        minute_hours: 48,
        hour_days: 90,
    }
}

pub async fn open(url: &str, retention: Retention) -> Arc<dyn KeyStore> {
    storage::open(url, retention, IfMissing::Create)
        .await
        .expect("open store")
}

/// A fixed instant (millisecond precision, as both stores keep).
pub fn t0() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 11, 20, 10, 30, 0)
        .single()
        .expect("time")
        + Duration::milliseconds(123)
}

pub fn org_records(name: &str) -> (Org, KeyRecord, NewAudit) {
    let mut fill = keyconsole::server::os_random;
    let org = Org {
        id: keyconsole::domain::key::new_org_id(&mut fill),
        name: name.to_owned(),
        created_at: t0(),
    };
    let (owner, _, audit) =
        bootstrap::owner_key(&org.id, "Owner", Env::Live, &SecretPrefix::default(), t0());
    (org, owner, audit)
}

pub fn key_record(org: &str, name: &str, scopes: &[&str], at: DateTime<Utc>) -> KeyRecord {
    let (mut k, _, _) = bootstrap::owner_key(org, name, Env::Live, &SecretPrefix::default(), at);
    k.scopes = ScopeSet::parse(scopes).expect("scopes");
    k
}

pub fn audit(org: &str, action: &str, key: Option<&str>, at: DateTime<Utc>) -> NewAudit {
    let mut id = [0u8; 10];
    keyconsole::server::os_random(&mut id);
    NewAudit {
        id: format!(
            "aud_{}",
            id.iter().map(|b| format!("{b:02x}")).collect::<String>()
        ),
        org_id: org.to_owned(),
        at,
        actor: Actor::key("pk_live_actor"),
        action: action.to_owned(),
        key_id: key.map(str::to_owned),
        changes: serde_json::json!({"z": 1, "a": [1, 2], "m": {"y": null, "b": "x"}}),
    }
}
