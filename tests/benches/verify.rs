//! The verify hot path without HTTP: parse the header, check the checksum, hash, look the
//! key up in the cache, authorize. Run with `cargo bench --bench verify`.
//!
//! Figures are reported as ratios against baselines measured in the same run:
//! `baseline/sha256` (hashing the secret, the one cost that cannot be avoided) and
//! `store/sqlite_lookup` (what every request would pay without the cache).

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use chrono::Utc;
use criterion::{Criterion, criterion_group};
use keyconsole::domain::decision::{AuthInput, authorize, extract_token, parse_token};
use keyconsole::domain::host_pattern::HostPattern;
use keyconsole::domain::key::{Env, PublicKeyId, Secret, SecretHash, SecretPrefix};
use keyconsole::domain::record::KeyRecord;
use keyconsole::domain::scope::{Scope, ScopeSet};
use keyconsole::server::cache::KeyCache;
use keyconsole::storage::{IfMissing, KeyStore, NewAudit, Retention, sqlite::SqliteStore};

fn record(secret: &Secret, id: &str, org: &str) -> KeyRecord {
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
    }
}

fn bench(c: &mut Criterion) {
    let prefix = SecretPrefix::default();
    let mut fill = keyconsole::server::os_random;
    // A cache holding 100k keys, like a large deployment.
    let cache = KeyCache::new(Duration::from_secs(3600), 1_000_000);
    let mut target = None;
    for i in 0..100_000 {
        let s = Secret::generate(&prefix, Env::Live, &mut fill);
        let pk = PublicKeyId::generate(Env::Live, &mut fill);
        cache.insert(
            cache.generation(),
            Arc::new(record(&s, pk.as_str(), "org_bench")),
        );
        if i == 50_000 {
            target = Some(s);
        }
    }
    let Some(secret) = target else { return };
    let header = format!("Bearer {}", secret.expose());
    let required = [Scope::parse("runs:read").unwrap_or(Scope::All)];

    c.bench_function("baseline/sha256", |b| {
        b.iter(|| SecretHash::of(std::hint::black_box(secret.expose())))
    });
    c.bench_function("verify/hot_path", |b| {
        b.iter(|| {
            let h = [header.as_bytes()];
            let token = extract_token(std::hint::black_box(&h), &[]).ok()?;
            let cred = parse_token(token, &prefix).ok()?;
            let rec = cache.by_hash(&cred.secret()?.hash());
            let d = authorize(
                rec.as_deref(),
                &AuthInput {
                    credential: &cred,
                    origin: None,
                    app_id: None,
                    app_org: None,
                    required: &required,
                    accept_env: None,
                },
                Utc::now(),
            );
            Some(d.allowed())
        })
    });

    // The same lookup from SQLite, to show what the cache saves.
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build();
    let Ok(rt) = rt else { return };
    let dir = std::env::temp_dir().join(format!("keyconsole-bench-{}", std::process::id()));
    let _ = std::fs::create_dir_all(&dir);
    let url = format!("sqlite://{}", dir.join("bench.db").display());
    let store = rt.block_on(async {
        let store = SqliteStore::open(&url, Retention::default(), IfMissing::Create)
            .await
            .ok()?;
        let org = keyconsole::api::Org {
            id: "org_bench".into(),
            name: "bench".into(),
            created_at: Utc::now(),
        };
        store.create_org(&org).await.ok()?;
        let rec = record(&secret, "pk_live_000000000000000000000001", "org_bench");
        let audit = NewAudit {
            id: "aud_bench".into(),
            org_id: "org_bench".into(),
            at: Utc::now(),
            actor_key_id: None,
            action: "key.created".into(),
            key_id: Some(rec.id.clone()),
            changes: serde_json::json!({}),
        };
        store.insert_key(&rec, &audit).await.ok()?;
        Some(store)
    });
    if let Some(store) = store {
        let hash = secret.hash();
        c.bench_function("store/sqlite_lookup", |b| {
            b.iter(|| rt.block_on(store.key_by_hash(std::hint::black_box(&hash))))
        });
        rt.block_on(store.close());
    }
    let _ = std::fs::remove_dir_all(&dir);
}

criterion_group! {
    name = benches;
    config = Criterion::default().measurement_time(Duration::from_secs(3)).warm_up_time(Duration::from_secs(1));
    targets = bench
}

fn mean_ns(id: &str) -> Option<f64> {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("target/criterion")
        .join(id.replace('/', "_"))
        .join("new/estimates.json");
    let v: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(path).ok()?).ok()?;
    v["mean"]["point_estimate"].as_f64()
}

fn main() {
    benches();
    Criterion::default().configure_from_args().final_summary();
    let (Some(base), Some(hot)) = (mean_ns("baseline/sha256"), mean_ns("verify/hot_path")) else {
        return;
    };
    println!(
        "\nverify hot path = {:.2}x the cost of one SHA-256 of the secret",
        hot / base
    );
    if let Some(db) = mean_ns("store/sqlite_lookup") {
        println!(
            "a SQLite lookup = {:.1}x the whole cached hot path",
            db / hot
        );
    }
}
