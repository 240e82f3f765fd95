//! Pieces shared by the benchmarks: cached keys, the key hot path, and criterion's means.

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use chrono::Utc;
use keyconsole::domain::decision::{AuthInput, authorize, extract_token, parse_token};
use keyconsole::domain::host_pattern::HostPattern;
use keyconsole::domain::key::{Env, PublicKeyId, Secret, SecretPrefix};
use keyconsole::domain::record::KeyRecord;
use keyconsole::domain::scope::{Scope, ScopeSet};
use keyconsole::server::cache::KeyCache;

/// A key as the cache holds it.
pub fn record(secret: &Secret, id: &str, org: &str) -> KeyRecord {
    KeyRecord {
        id: id.to_owned(),
        org_id: org.to_owned(),
        name: "bench".to_owned(),
        env: Env::Live,
        app_id: None,
        scopes: ScopeSet::parse(&["runs:read", "webhooks:*"]).unwrap_or_default(),
        allowed_domains: vec![HostPattern::Wildcard("example.com".to_owned())],
        enabled: true,
        secret_hash: secret.hash(),
        secret_hint: secret.hint(),
        created_at: Utc::now(),
        updated_at: Utc::now(),
        expires_at: None,
        last_used_at: None,
        rotated_from: None,
        rotated_to: None,
        version: 1,
        owner: None,
        description: None,
        leaked_at: None,
    }
}

/// The mean of a finished criterion benchmark, in nanoseconds.
pub fn mean_ns(id: &str) -> Option<f64> {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("target/criterion")
        .join(id.replace('/', "_"))
        .join("new/estimates.json");
    let v: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(path).ok()?).ok()?;
    v["mean"]["point_estimate"].as_f64()
}

/// A cache holding 100,000 keys, like a large deployment, and the secret of one of them.
pub fn cached_keys(prefix: &SecretPrefix) -> (KeyCache, Secret) {
    let mut fill = keyconsole::server::os_random;
    let cache = KeyCache::new(Duration::from_secs(3600), 1_000_000);
    let mut target = None;
    for i in 0..100_000 {
        let s = Secret::generate(prefix, Env::Live, &mut fill);
        let pk = PublicKeyId::generate(Env::Live, &mut fill);
        cache.insert(
            cache.generation(),
            Arc::new(record(&s, pk.as_str(), "org_bench")),
        );
        if i == 50_000 {
            target = Some(s.clone());
        }
    }
    let secret = target.unwrap_or_else(|| Secret::generate(prefix, Env::Live, &mut fill));
    (cache, secret)
}

/// The verify hot path for a cached key: header, checksum, SHA-256, cache, `authorize`.
pub fn key_hot_path(
    cache: &KeyCache,
    header: &str,
    prefix: &SecretPrefix,
    required: &[Scope],
) -> Option<bool> {
    let h = [header.as_bytes()];
    let token = extract_token(&h, &[]).ok()?;
    let cred = parse_token(token, prefix).ok()?;
    let rec = cache.by_hash(&cred.secret()?.hash());
    let d = authorize(
        rec.as_deref(),
        &AuthInput {
            credential: &cred,
            origin: None,
            app_id: None,
            app_org: None,
            required,
            accept_env: None,
        },
        Utc::now(),
    );
    Some(d.allowed())
}
