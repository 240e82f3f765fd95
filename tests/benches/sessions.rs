//! What a session costs on the hot path, against a cached key in the same run. Run with
//! `cargo bench --bench sessions`.
//!
//! - `key/cached_hot_path`: the baseline, the key hot path of `benches/verify.rs` (header,
//!   checksum, SHA-256, cache of 100,000 keys, `authorize`).
//! - `session/cached_hot_path`: header, JWT shape test, SHA-256 of the token, cache of
//!   100,000 verified tokens, key still in the JWKS, `authorize_session`.
//! - `baseline/sha256_of_token`: the one cost a session pays that a key does not (its token
//!   is longer than a secret).
//! - `session/verify_{es256,eddsa,rs256}`: a token checked from scratch (parse, key,
//!   signature, claims): what the cache saves.
//!
//! Tokens are signed by keys generated here; a JWKS file is written to a temp dir.

use std::sync::Arc;
use std::time::Duration;

use chrono::Utc;
use criterion::{Criterion, criterion_group};
use keyconsole::domain::decision::extract_token;
use keyconsole::domain::jwt::looks_like_jwt;
use keyconsole::domain::key::{SecretHash, SecretPrefix};
use keyconsole::domain::scope::{Catalog, Scope};
use keyconsole::domain::session::{SessionInput, authorize_session};
use keyconsole::server::clock::{Clock, ManualClock};
use keyconsole::server::session::{SessionFlags, SessionSettings, SessionVerifier};

mod common;
#[path = "../sessions/keys.rs"]
#[allow(dead_code)]
mod keys;

use common::{cached_keys, key_hot_path, mean_ns};
use keys::{AUDIENCE, ISSUER, TestKey, claims, jwks};

static TOKEN_BYTES: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);

fn bench(c: &mut Criterion) {
    let Ok(rt) = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    else {
        return;
    };
    let prefix = SecretPrefix::default();
    let required = [Scope::parse("runs:read").unwrap_or(Scope::All)];

    // Baseline: a cached key among 100k.
    let (cache, secret) = cached_keys(&prefix);
    let key_header = format!("Bearer {}", secret.expose());
    c.bench_function("key/cached_hot_path", |b| {
        b.iter(|| {
            key_hot_path(
                &cache,
                std::hint::black_box(&key_header),
                &prefix,
                &required,
            )
        })
    });

    // Sessions: three keys in a JWKS file, 100k verified tokens in the cache.
    let (rsa, ec, ed) = (
        TestKey::rsa("rsa"),
        TestKey::p256("ec"),
        TestKey::ed25519("ed"),
    );
    let dir = std::env::temp_dir().join(format!("jwt-bench-{}", std::process::id()));
    let _ = std::fs::create_dir_all(&dir);
    let path = dir.join("jwks.json");
    if std::fs::write(&path, jwks(&[&rsa, &ec, &ed]).to_string()).is_err() {
        return;
    }
    let now = Utc::now();
    let clock = Arc::new(ManualClock::new(now));
    let flags = SessionFlags {
        jwks: Some(path.display().to_string()),
        issuer: Some(ISSUER.to_owned()),
        audience: Some(AUDIENCE.to_owned()),
        org_claim: None,
    };
    let Ok(Some(settings)) = rt.block_on(SessionSettings::load(
        &flags,
        clock.as_ref(),
        Duration::from_secs(5),
    )) else {
        return;
    };
    let verifier = SessionVerifier::new(
        &settings,
        Catalog::default_catalog(),
        Arc::clone(&clock) as Arc<dyn Clock>,
    );
    let now = clock.now();
    let token = ec.token(&claims(now));
    TOKEN_BYTES.store(token.len(), std::sync::atomic::Ordering::Relaxed);
    let Ok(verified) = rt.block_on(verifier.verify(&token, now)) else {
        return;
    };
    for i in 0..100_000 {
        verifier.cache().insert(
            SecretHash::of(&format!("filler-{i}")),
            Arc::clone(&verified),
            now,
        );
    }
    let session_header = format!("Bearer {token}");
    c.bench_function("baseline/sha256_of_token", |b| {
        b.iter(|| SecretHash::of(std::hint::black_box(&token)))
    });
    c.bench_function("session/cached_hot_path", |b| {
        b.iter(|| {
            let h = [session_header.as_bytes()];
            let token = extract_token(std::hint::black_box(&h), &[]).ok()?;
            if !looks_like_jwt(token) {
                return None;
            }
            let t = verifier.cached(token, now)?;
            let d = authorize_session(
                &t,
                &SessionInput {
                    org_exists: true,
                    bound_app_org: None,
                    app_id: None,
                    app_org: None,
                    required: &required,
                },
                now,
            );
            Some(d.allowed())
        })
    });
    for (name, key) in [("es256", &ec), ("eddsa", &ed), ("rs256", &rsa)] {
        let token = key.token(&claims(now));
        c.bench_function(&format!("session/verify_{name}"), |b| {
            b.iter(|| rt.block_on(verifier.verify_uncached(std::hint::black_box(&token), now)))
        });
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
    let (Some(key), Some(session)) = (
        mean_ns("key/cached_hot_path"),
        mean_ns("session/cached_hot_path"),
    ) else {
        return;
    };
    println!(
        "\ncached session hot path = {:.2}x the cached key hot path",
        session / key
    );
    if let Some(sha) = mean_ns("baseline/sha256_of_token") {
        println!(
            "one SHA-256 of the {}-byte token = {:.0}% of the cached session hot path",
            TOKEN_BYTES.load(std::sync::atomic::Ordering::Relaxed),
            100.0 * sha / session
        );
    }
    for name in ["es256", "eddsa", "rs256"] {
        if let Some(v) = mean_ns(&format!("session/verify_{name}")) {
            println!(
                "checking a {} token from scratch = {:.0}x the cached session hot path",
                name.to_uppercase(),
                v / session
            );
        }
    }
}
