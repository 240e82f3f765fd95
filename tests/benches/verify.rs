//! The verify hot path without HTTP: parse the header, check the checksum, hash, look the
//! key up in the cache, authorize. Run with `cargo bench --bench verify`.
//!
//! Figures are reported as ratios against baselines measured in the same run:
//! `baseline/sha256` (hashing the secret, the one cost that cannot be avoided) and
//! `store/sqlite_lookup` (what every request would pay without the cache).

use std::time::Duration;

use chrono::Utc;
use criterion::{Criterion, criterion_group};
use keyconsole::domain::key::{SecretHash, SecretPrefix};
use keyconsole::domain::scope::Scope;
use keyconsole::storage::{IfMissing, KeyStore, NewAudit, Retention, sqlite::SqliteStore};

mod common;
use common::{cached_keys, key_hot_path, mean_ns, record};

fn bench(c: &mut Criterion) {
    let prefix = SecretPrefix::default();
    let (cache, secret) = cached_keys(&prefix);
    let header = format!("Bearer {}", secret.expose());
    let required = [Scope::parse("runs:read").unwrap_or(Scope::All)];

    c.bench_function("baseline/sha256", |b| {
        b.iter(|| SecretHash::of(std::hint::black_box(secret.expose())))
    });
    c.bench_function("verify/hot_path", |b| {
        b.iter(|| key_hot_path(&cache, std::hint::black_box(&header), &prefix, &required))
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
            actor: keyconsole::api::Actor::system("org create"),
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
