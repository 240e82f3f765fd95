//! Many instances over one database: `POST /v1/verify` throughput on 1, 2 and 4 real
//! `keyconsole serve` processes sharing one SQLite file, and then one PostgreSQL database when
//! `KEYCONSOLE_TEST_POSTGRES_URL` names a server (a fresh database, dropped after), as a
//! ratio to one instance measured in the same run, and the change feed's propagation
//! (disable/enable through one instance, timed until another agrees). Run with
//! `cargo bench --bench instances` (`KEYCONSOLE_BENCH_SECS`, default 3, sets each throughput
//! run's length).
//!
//! Every instance runs on the same machine, so the ratio shows what the shared database and
//! the feed cost, not what more machines add: on a machine with few cores the instances
//! compete for them.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use keyconsole::api::{CreateKeyRequest, UpdateKeyRequest};
use keyconsole::client::Client;
use serde_json::{Value, json};

#[allow(dead_code)]
#[path = "../support/serve.rs"]
mod process;
use process::{Served, org_create};

#[allow(dead_code)]
#[path = "../support/pg.rs"]
mod pg;

/// Requests in flight at once, spread over the instances.
const CONCURRENCY: usize = 16;
/// Changes timed for propagation.
const CHANGES: usize = 50;

async fn throughput(urls: &[String], owner: &str, credential: &str, secs: u64) -> f64 {
    let http = reqwest::Client::new();
    let stop = Arc::new(AtomicBool::new(false));
    let done = Arc::new(AtomicU64::new(0));
    let body = json!({"credential": credential, "required_scopes": ["runs:read"]}).to_string();
    let mut tasks = Vec::new();
    for i in 0..CONCURRENCY {
        let url = format!("{}/v1/verify", urls[i % urls.len()]);
        let (http, stop, done, body, owner) = (
            http.clone(),
            Arc::clone(&stop),
            Arc::clone(&done),
            body.clone(),
            owner.to_owned(),
        );
        tasks.push(tokio::spawn(async move {
            while !stop.load(Ordering::Relaxed) {
                let r = http
                    .post(&url)
                    .bearer_auth(&owner)
                    .header("content-type", "application/json")
                    .body(body.clone())
                    .send()
                    .await;
                if let Ok(r) = r
                    && r.status().is_success()
                {
                    done.fetch_add(1, Ordering::Relaxed);
                }
            }
        }));
    }
    let started = Instant::now();
    tokio::time::sleep(Duration::from_secs(secs)).await;
    stop.store(true, Ordering::Relaxed);
    for t in tasks {
        let _ = t.await;
    }
    done.load(Ordering::Relaxed) as f64 / started.elapsed().as_secs_f64()
}

fn percentiles(mut d: Vec<Duration>) -> (f64, f64, f64) {
    d.sort();
    let at = |q: f64| {
        let i = ((d.len() as f64 * q).ceil() as usize).clamp(1, d.len()) - 1;
        d[i].as_secs_f64() * 1000.0
    };
    (at(0.5), at(0.99), at(1.0))
}

async fn propagation(a: &Client, b_url: &str, key_id: &str, secret: &str) -> Option<Vec<Duration>> {
    let http = reqwest::Client::new();
    let mut took = Vec::with_capacity(CHANGES);
    for i in 0..CHANGES {
        let on = i % 2 == 1;
        tokio::time::sleep(Duration::from_millis((i as u64 * 37) % 100)).await;
        a.update_key(
            key_id,
            &UpdateKeyRequest {
                enabled: Some(on),
                ..UpdateKeyRequest::default()
            },
            None,
        )
        .await
        .ok()?;
        let acked = Instant::now();
        let want = if on { "ok" } else { "key_disabled" };
        loop {
            let r = http
                .get(format!("{b_url}/v1/me"))
                .bearer_auth(secret)
                .send()
                .await
                .ok()?;
            let body: Value = r.json().await.unwrap_or(Value::Null);
            if body["error"]["code"].as_str().unwrap_or("ok") == want {
                break;
            }
            if acked.elapsed() > Duration::from_secs(5) {
                return None;
            }
            tokio::time::sleep(Duration::from_millis(2)).await;
        }
        took.push(acked.elapsed());
    }
    Some(took)
}

fn main() {
    let secs = std::env::var("KEYCONSOLE_BENCH_SECS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(3);
    let Ok(rt) = tokio::runtime::Runtime::new() else {
        eprintln!("instances: no tokio runtime");
        return;
    };
    let Ok(dir) = tempfile::tempdir() else {
        eprintln!("instances: no temporary directory");
        return;
    };
    let url = format!("sqlite://{}", dir.path().join("bench.db").display());
    run_on(
        &rt,
        &url,
        "one SQLite database (the feed polls every 100 ms)",
        secs,
    );
    // PostgreSQL too, on a fresh database, when the tests' server is set.
    match std::env::var(pg::VAR) {
        Ok(server) if !server.trim().is_empty() => {
            let db = rt.block_on(pg::TestDb::create(&server));
            run_on(
                &rt,
                &db.url,
                "one PostgreSQL database (LISTEN/NOTIFY and the 100 ms poll)",
                secs,
            );
            drop(db);
        }
        _ => println!(
            "instances: {} is not set, so PostgreSQL is not measured",
            pg::VAR
        ),
    }
}

fn run_on(rt: &tokio::runtime::Runtime, url: &str, label: &str, secs: u64) {
    let owner = org_create(url);
    let args = ["--database", url, "--failed-auth-limit", "0"];
    let served: Vec<Served> = (0..4).map(|_| Served::start(&args)).collect();
    let urls: Vec<String> = served.iter().map(|s| s.url.clone()).collect();
    rt.block_on(async {
        let Ok(a) = Client::new(&urls[0], Some(owner.secret.clone())) else {
            return;
        };
        let Ok(key) = a
            .create_key(&CreateKeyRequest {
                name: "bench".into(),
                scopes: Some(vec!["runs:read".into()]),
                ..CreateKeyRequest::default()
            })
            .await
        else {
            eprintln!("instances: cannot create the key");
            return;
        };
        let owner_secret = owner.secret.expose().to_owned();
        let mut base = 0.0;
        println!(
            "instances: POST /v1/verify, {CONCURRENCY} requests in flight, {secs} s per run, {label}"
        );
        for n in [1usize, 2, 4] {
            // Warm every instance's cache first.
            let _ = throughput(&urls[..n], &owner_secret, key.secret.expose(), 1).await;
            let rps = throughput(&urls[..n], &owner_secret, key.secret.expose(), secs).await;
            if n == 1 {
                base = rps;
            }
            println!(
                "instances/{n}: {rps:.0} verifications/s, ratio {:.2} to 1 instance",
                if base > 0.0 { rps / base } else { 0.0 }
            );
        }
        match propagation(&a, &urls[1], &key.key.id, key.secret.expose()).await {
            Some(took) => {
                let (p50, p99, max) = percentiles(took);
                println!(
                    "propagation: {CHANGES} disable/enable changes on instance 1, until instance 2 \
                     agrees: p50 {p50:.1} ms, p99 {p99:.1} ms, max {max:.1} ms (bound 1000 ms)"
                );
            }
            None => println!("propagation: a change did not reach instance 2 within 5 s"),
        }
    });
    drop(served);
}
