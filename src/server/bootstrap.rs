//! Creating an organization and its owner key directly in the store: `keyconsole org create`
//! and the console's embedded first start; and `keyconsole org recover`, the break-glass that
//! gives an existing organization a new owner key. Owner keys have scopes `["*"]`.

use std::sync::Arc;

use chrono::{DateTime, Utc};
use serde_json::json;

use super::os_random;
use crate::api::{Actor, KeyObject, Org, OrgCreated, system_actor};
use crate::domain::key::{Env, PublicKeyId, Secret, SecretPrefix, new_org_id, random_base62};
use crate::domain::record::KeyRecord;
use crate::domain::scope::ScopeSet;
use crate::storage::{KeyStore, NewAudit, StoreResult};

/// Create `name` with an owner key, recording `key.created` by the system actor `org create`. The org, the key
/// and the audit entry are written in one transaction.
pub async fn create_org_with_owner(
    store: &Arc<dyn KeyStore>,
    name: &str,
    key_name: &str,
    env: Env,
    prefix: &SecretPrefix,
    now: DateTime<Utc>,
) -> StoreResult<OrgCreated> {
    let mut fill = os_random;
    let org = Org {
        id: new_org_id(&mut fill),
        name: name.to_owned(),
        created_at: now,
    };
    let (record, secret, audit) = owner_key(&org.id, key_name, env, prefix, now);
    // One transaction: a failure cannot leave an organization without its owner key.
    store.create_org_with_owner(&org, &record, &audit).await?;
    Ok(created(org, &record, secret, now))
}

/// What `org recover` records in the audit entry's `changes` (`"via"`), beside its actor
/// `{"type": "system", "id": "org recover"}` (entries written before the actor existed are
/// told by this field).
pub const RECOVER_ACTOR: &str = system_actor::ORG_RECOVER;

/// The break-glass (`keyconsole org recover`): a new owner key (`["*"]`, named
/// `Recovered owner`) for an existing organization, whatever state its keys are in, audited
/// as `key.created` by the system actor `org recover` (and `"via": "org recover"`). `Ok(None)` when there is
/// no such organization.
pub async fn recover_owner(
    store: &Arc<dyn KeyStore>,
    org_id: &str,
    env: Env,
    prefix: &SecretPrefix,
    now: DateTime<Utc>,
) -> StoreResult<Option<OrgCreated>> {
    let Some(org) = store.get_org(org_id).await? else {
        return Ok(None);
    };
    let (record, secret, mut audit) = owner_key(&org.id, "Recovered owner", env, prefix, now);
    if let Some(changes) = audit.changes.as_object_mut() {
        changes.insert("via".to_owned(), json!(RECOVER_ACTOR));
    }
    audit.actor = Actor::system(system_actor::ORG_RECOVER);
    store.insert_key(&record, &audit).await?;
    Ok(Some(created(org, &record, secret, now)))
}

fn created(org: Org, record: &KeyRecord, secret: Secret, now: DateTime<Utc>) -> OrgCreated {
    OrgCreated {
        key: KeyObject::from_record(record, now),
        credential: Secret::new(format!("{}:{}", record.id, secret.expose())),
        secret,
        org,
    }
}

/// A new key with scopes `["*"]` for `org_id`, its secret, and its `key.created` audit entry
/// (by `org create`). Nothing is written.
pub fn owner_key(
    org_id: &str,
    key_name: &str,
    env: Env,
    prefix: &SecretPrefix,
    now: DateTime<Utc>,
) -> (KeyRecord, Secret, NewAudit) {
    let mut fill = os_random;
    let pk = PublicKeyId::generate(env, &mut fill);
    let secret = Secret::generate(prefix, env, &mut fill);
    let record = KeyRecord {
        id: pk.as_str().to_owned(),
        org_id: org_id.to_owned(),
        name: key_name.to_owned(),
        env,
        app_id: None,
        scopes: ScopeSet::parse(&["*"]).unwrap_or_default(),
        allowed_domains: Vec::new(),
        enabled: true,
        secret_hash: secret.hash(),
        secret_hint: secret.hint(),
        created_at: now,
        updated_at: now,
        expires_at: None,
        last_used_at: None,
        rotated_from: None,
        rotated_to: None,
        version: 1,
        owner: None,
        description: None,
        leaked_at: None,
    };
    let audit = NewAudit {
        id: format!("aud_{}", random_base62(20, &mut fill)),
        org_id: org_id.to_owned(),
        at: now,
        actor: Actor::system(system_actor::ORG_CREATE),
        action: "key.created".to_owned(),
        key_id: Some(record.id.clone()),
        changes: json!({"name": record.name, "env": env.as_str(), "scopes": ["*"], "owner": true}),
    };
    (record, secret, audit)
}
