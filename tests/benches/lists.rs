//! `GET /v1/keys` at scale, over real HTTP: `cargo bench --bench lists`.
//!
//! Seeds one organization with `LISTS_KEYS` keys (default 1,000,000) straight through the
//! store (`KeyStore::import_keys`, not HTTP), starts a real `keyconsole serve` process on the
//! database, and times pages, filters, sorts and searches from one keep-alive client, one
//! request at a time. Each case runs `LISTS_ROUNDS` times (default 200) after a warm-up;
//! the table gives p50 and p99, and p99 as a multiple of `GET /healthz`'s p99 measured in the
//! same run (the cost of any HTTP answer on this machine).
//!
//! The seeded keys: names of two words from a small vocabulary and a number (so `billing` is
//! in about one name in eight), 2% disabled, 5% test keys, 10% expiring, 60% used at some time
//! in the last 90 days, one of 100 owners; 30% bound to one of 20 apps (about 15,000 keys
//! each at 1,000,000), the rest org-scoped.
//!
//! With `KEYCONSOLE_TEST_POSTGRES_URL` set it does the same again on a fresh PostgreSQL
//! database (after `VACUUM ANALYZE keys`, as autovacuum would do after such a load) on that server (`kc_bench_<random>`, dropped after unless `LISTS_KEEP_DATABASE`
//! is set); it says so when it is not. `LISTS_KEEP_DATABASE` also keeps the SQLite file (its
//! path is printed).

/// Fresh PostgreSQL databases, as the tests make them (only `TestDb::create` is used here).
#[allow(dead_code)]
#[path = "../support/pg.rs"]
mod pg;

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use chrono::Utc;
use keyconsole::api::{Actor, App, KeyObject, Page};
use keyconsole::domain::key::{Env, PublicKeyId, SecretHash, SecretPrefix};
use keyconsole::domain::record::KeyRecord;
use keyconsole::domain::scope::ScopeSet;
use keyconsole::server::bootstrap;
use keyconsole::storage::{self, IfMissing, NewAudit, Retention};

const WORDS: [&str; 16] = [
    "billing",
    "payments",
    "search",
    "ingest",
    "worker",
    "cron",
    "mobile",
    "web",
    "staging",
    "analytics",
    "export",
    "reports",
    "gateway",
    "mailer",
    "backup",
    "partner",
];

fn env_num(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|v| v.replace('_', "").parse().ok())
        .unwrap_or(default)
}

/// A cheap deterministic mix (splitmix64) for the seeded fields.
fn mix(i: u64) -> u64 {
    let mut z = i.wrapping_add(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// Apps of the seeded organization; 30% of the keys are bound to one of them.
const APPS: u64 = 20;

fn seeded_key(org_id: &str, apps: &[String], i: u64, start: chrono::DateTime<Utc>) -> KeyRecord {
    let r = mix(i);
    let pick = |shift: u32| WORDS[((r >> shift) % WORDS.len() as u64) as usize];
    let mut fill = keyconsole::server::os_random;
    let env = if r.is_multiple_of(20) {
        Env::Test
    } else {
        Env::Live
    };
    let created_at = start + chrono::Duration::milliseconds(i64::try_from(i).unwrap_or(0) * 10);
    let mut hash = [0u8; 32];
    hash[..8].copy_from_slice(&i.to_be_bytes());
    hash[8..16].copy_from_slice(&r.to_be_bytes());
    KeyRecord {
        id: PublicKeyId::generate(env, &mut fill).as_str().to_owned(),
        org_id: org_id.to_owned(),
        name: format!("{}-{} {i}", pick(8), pick(16)),
        env,
        app_id: ((r >> 40) % 10 < 3)
            .then(|| apps.get(((r >> 44) % APPS) as usize).cloned())
            .flatten(),
        scopes: ScopeSet::parse(&["runs:read"]).unwrap_or_default(),
        allowed_domains: Vec::new(),
        enabled: r % 50 != 7,
        secret_hash: SecretHash(hash),
        secret_hint: format!("{:04}", r % 10_000),
        created_at,
        updated_at: created_at,
        expires_at: (r % 10 == 3).then(|| Utc::now() + chrono::Duration::days(30)),
        last_used_at: (r % 10 < 6).then(|| {
            Utc::now()
                - chrono::Duration::seconds(i64::try_from((r >> 24) % 7_776_000).unwrap_or(0))
        }),
        rotated_from: None,
        rotated_to: None,
        version: 1,
        owner: Some(format!("team-{:02}", (r >> 32) % 100)),
        description: None,
        leaked_at: None,
    }
}

struct Server {
    child: Child,
    addr: String,
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn serve(db: &str) -> Server {
    let mut child = Command::new(env!("CARGO_BIN_EXE_keyconsole"))
        .args(["serve", "--listen", "127.0.0.1:0", "--database", db])
        .env_remove("KEYCONSOLE_DATABASE_URL")
        .env("NO_COLOR", "1")
        .env("RUST_LOG", "warn,keyconsole=info")
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn serve");
    let stderr = child.stderr.take().expect("stderr");
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stderr).lines().map_while(Result::ok) {
            if let Some(i) = line.find("listening on http://") {
                let _ = tx.send(line[i + "listening on http://".len()..].trim().to_owned());
            }
        }
    });
    let addr = rx
        .recv_timeout(Duration::from_secs(60))
        .expect("serve printed no ready line");
    Server { child, addr }
}

struct Case {
    name: String,
    path: String,
}

fn percentile(sorted: &[Duration], p: usize) -> Duration {
    sorted[(sorted.len() * p / 100).min(sorted.len() - 1)]
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

#[tokio::main]
async fn main() {
    let n = env_num("LISTS_KEYS", 1_000_000);
    let rounds = env_num("LISTS_ROUNDS", 200).max(1);
    let dir = tempfile::tempdir().expect("tempdir");
    let db = format!("sqlite://{}", dir.path().join("keys.db").display());
    println!("## SQLite\n");
    run(&db, n, rounds).await;
    if std::env::var_os("LISTS_KEEP_DATABASE").is_some() {
        println!("\nkept {db} (LISTS_KEEP_DATABASE)");
        let _ = dir.keep();
    }
    match std::env::var(pg::VAR) {
        Ok(server) if !server.trim().is_empty() => {
            let db = pg::TestDb::create(&server).await;
            println!("\n## PostgreSQL\n");
            run(&db.url, n, rounds).await;
            if std::env::var_os("LISTS_KEEP_DATABASE").is_some() {
                println!("\nkept the database {} (LISTS_KEEP_DATABASE)", db.name);
                // Its guard would drop it.
                std::mem::forget(db);
            }
        }
        _ => println!("\nPostgreSQL: not run ({} is not set)", pg::VAR),
    }
}

/// One statement on the database `url` names.
async fn exec_on(url: &str, sql: &str) {
    use sqlx::Connection;
    let mut conn = sqlx::postgres::PgConnection::connect(url)
        .await
        .expect("connect to PostgreSQL");
    sqlx::raw_sql(sqlx::AssertSqlSafe(sql.to_owned()))
        .execute(&mut conn)
        .await
        .expect(sql);
    let _ = conn.close().await;
}

/// Seed `db` with `n` keys, serve it and time every case.
async fn run(db: &str, n: usize, rounds: usize) {
    let db = db.to_owned();

    // Seed through the store.
    let store = storage::open(&db, Retention::default(), IfMissing::Create)
        .await
        .expect("open");
    let owner = bootstrap::create_org_with_owner(
        &store,
        "Bench",
        "Owner",
        Env::Live,
        &SecretPrefix::default(),
        Utc::now(),
    )
    .await
    .expect("org");
    let org_id = owner.org.id.clone();
    let mut fill = keyconsole::server::os_random;
    let mut apps = Vec::new();
    for a in 0..APPS {
        let app = App {
            id: keyconsole::domain::key::new_app_id(&mut fill),
            name: format!("app-{a}"),
            created_at: Utc::now(),
        };
        let audit = NewAudit {
            id: format!("aud_bench_app_{a}"),
            org_id: org_id.clone(),
            at: app.created_at,
            actor: Actor::system("bench"),
            action: "app.created".to_owned(),
            key_id: None,
            changes: serde_json::json!({"app_id": app.id}),
        };
        store.create_app(&org_id, &app, &audit).await.expect("app");
        apps.push(app.id);
    }
    let start = Utc::now() - chrono::Duration::days(365);
    let seeding = Instant::now();
    let mut probe_id = None;
    let chunk = 50_000;
    let mut i = 0u64;
    while (i as usize) < n {
        let end = (i + chunk).min(n as u64);
        let keys: Vec<KeyRecord> = (i..end)
            .map(|j| seeded_key(&org_id, &apps, j, start))
            .collect();
        if probe_id.is_none() && end >= n as u64 / 2 {
            probe_id = keys.last().map(|k| k.id.clone());
        }
        store.import_keys(&keys).await.expect("import");
        i = end;
    }
    let seeded = seeding.elapsed();
    drop(store);
    if db.starts_with("postgres") {
        // What autovacuum does after a load like this one, before timing: statistics and
        // the visibility map (index-only scans).
        exec_on(&db, "VACUUM ANALYZE keys").await;
    }
    println!(
        "seeded {n} keys in {:.1} s ({:.0} keys/s) through KeyStore::import_keys",
        seeded.as_secs_f64(),
        n as f64 / seeded.as_secs_f64()
    );

    let server = serve(&db);
    let base = format!("http://{}", server.addr);
    let client = reqwest::Client::new();
    let secret = owner.secret.expose().to_owned();
    let get = |path: String| {
        let client = client.clone();
        let url = format!("{base}{path}");
        let secret = secret.clone();
        async move {
            let resp = client
                .get(&url)
                .header("x-api-key", secret)
                .send()
                .await
                .expect("request");
            let status = resp.status();
            let body = resp.bytes().await.expect("body").to_vec();
            assert!(
                status.is_success(),
                "{url}: {status} {}",
                String::from_utf8_lossy(&body)
            );
            body
        }
    };

    // The cursor of the page 10,000 keys in.
    let mut cursor = String::new();
    for _ in 0..(10_000 / 500).min(n / 500) {
        let body = get(format!("/v1/keys?limit=500{cursor}")).await;
        let page: Page<KeyObject> = serde_json::from_slice(&body).expect("page");
        cursor = format!("&cursor={}", page.next_cursor.expect("more pages"));
    }
    let disabled_cursor = {
        let body = get("/v1/keys?status=disabled".to_owned()).await;
        let page: Page<KeyObject> = serde_json::from_slice(&body).expect("page");
        page.next_cursor
            .map(|c| format!("&cursor={c}"))
            .unwrap_or_default()
    };
    let app = apps.first().cloned().unwrap_or_default();
    let app_cursor = {
        let body = get(format!("/v1/keys?app_id={app}")).await;
        let page: Page<KeyObject> = serde_json::from_slice(&body).expect("page");
        page.next_cursor
            .map(|c| format!("&cursor={c}"))
            .unwrap_or_default()
    };
    let probe = probe_id.unwrap_or_default();
    let id8 = &probe[probe.len().saturating_sub(8)..];
    let day = |days: i64| {
        (Utc::now() - chrono::Duration::days(days))
            .format("%Y-%m-%dT%H:%M:%SZ")
            .to_string()
    };
    let (used_before, created_before) = (day(30), day(200));
    let cases = [
        ("GET /healthz (baseline)", "/healthz".to_owned()),
        ("first page (limit=50)", "/v1/keys?limit=50".to_owned()),
        (
            "page 10,000 rows in (cursor)",
            format!("/v1/keys?limit=50{cursor}"),
        ),
        ("status=disabled", "/v1/keys?status=disabled".to_owned()),
        ("env=test", "/v1/keys?env=test".to_owned()),
        ("status=expiring", "/v1/keys?status=expiring".to_owned()),
        (
            "status=disabled, page 2 (cursor)",
            format!("/v1/keys?status=disabled{disabled_cursor}"),
        ),
        ("app_id=<an app>", format!("/v1/keys?app_id={app}")),
        (
            "app_id=<an app>, page 2 (cursor)",
            format!("/v1/keys?app_id={app}{app_cursor}"),
        ),
        (
            "app_id=<an app>&status=disabled",
            format!("/v1/keys?app_id={app}&status=disabled"),
        ),
        (
            "app_id=<an app>&env=test",
            format!("/v1/keys?app_id={app}&env=test"),
        ),
        ("q=billing", "/v1/keys?q=billing".to_owned()),
        ("q=zqxj (rare: a few ids)", "/v1/keys?q=zqxj".to_owned()),
        (
            "q=nosuchkey-zq (no match)",
            "/v1/keys?q=nosuchkey-zq".to_owned(),
        ),
        ("q=<8 chars of a key id>", format!("/v1/keys?q={id8}")),
        ("sort=name", "/v1/keys?sort=name".to_owned()),
        ("sort=-last_used", "/v1/keys?sort=-last_used".to_owned()),
        ("sort=expires", "/v1/keys?sort=expires".to_owned()),
        ("owner=team-42", "/v1/keys?owner=team-42".to_owned()),
        (
            "status=disabled&env=test (budgeted)",
            "/v1/keys?status=disabled&env=test".to_owned(),
        ),
        ("q=bi (short: budgeted)", "/v1/keys?q=bi".to_owned()),
        (
            "q=billing&sort=name",
            "/v1/keys?q=billing&sort=name".to_owned(),
        ),
        (
            "q=billing&sort=-last_used",
            "/v1/keys?q=billing&sort=-last_used".to_owned(),
        ),
        (
            "q=billing&status=disabled",
            "/v1/keys?q=billing&status=disabled".to_owned(),
        ),
        (
            "q=billing&app_id=<an app>",
            format!("/v1/keys?q=billing&app_id={app}"),
        ),
        ("hint=1234 (budgeted)", "/v1/keys?hint=1234".to_owned()),
        (
            "scope=keys:write (budgeted, no match)",
            "/v1/keys?scope=keys:write".to_owned(),
        ),
        (
            "last_used_before=30 days ago (budgeted)",
            format!("/v1/keys?last_used_before={used_before}"),
        ),
        (
            "created_before=200 days ago (budgeted)",
            format!("/v1/keys?created_before={created_before}"),
        ),
    ]
    .map(|(name, path)| Case {
        name: name.to_owned(),
        path,
    });

    println!(
        "\n{n} keys in one organization; {rounds} sequential requests per case over one \
         keep-alive connection\n"
    );
    println!("| case | p50 ms | p99 ms | p99 ÷ /healthz p99 | total | keys |");
    println!("|---|---|---|---|---|---|");
    let mut baseline = None;
    for case in &cases {
        for _ in 0..5 {
            get(case.path.clone()).await;
        }
        let mut times = Vec::with_capacity(rounds);
        let mut last = Vec::new();
        for _ in 0..rounds {
            let t = Instant::now();
            last = get(case.path.clone()).await;
            times.push(t.elapsed());
        }
        times.sort();
        let (p50, p99) = (percentile(&times, 50), percentile(&times, 99));
        let base_p99 = *baseline.get_or_insert(p99);
        let (total, count) = match serde_json::from_slice::<Page<KeyObject>>(&last) {
            Ok(p) => (
                match (p.total, p.total_is_lower_bound) {
                    (Some(t), true) => format!("{t}+"),
                    (Some(t), false) => t.to_string(),
                    (None, _) => "-".to_owned(),
                },
                p.data.len().to_string(),
            ),
            Err(_) => ("-".to_owned(), "-".to_owned()),
        };
        println!(
            "| {} | {:.2} | {:.2} | {:.1}x | {total} | {count} |",
            case.name,
            ms(p50),
            ms(p99),
            p99.as_secs_f64() / base_p99.as_secs_f64()
        );
    }
    drop(server);
}
