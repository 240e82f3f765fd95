//! Demo data for the embedded service's first start: about 40 keys (active, disabled,
//! expiring, expired, app-scoped, with domains, test and live), two apps, 30 days of usage
//! history, an audit trail, a rotation in progress, and real denied requests so the
//! support views have something to explain. Everything is clearly named as sample data.
//!
//! For the access review (Review tab): most keys have an owner and some do not, the traffic
//! of each used key is attributed to the scopes it needed (a few keys hold far more than
//! they use, so the suggested set differs), and one enabled key is reported leaked from two
//! places.
//!
//! Keys are written straight to the store so their creation dates can lie in the past;
//! apps, a rotation and the denied requests go through the API like any client.

use std::sync::Arc;

use chrono::{DateTime, Duration, Utc};
use serde_json::json;

use crate::api::{
    Actor, BucketSize, CreateAppRequest, LeakAction, LeakReport, RotateRequest, UsageBucket,
};
use crate::client::Client;
use crate::domain::host_pattern::HostPattern;
use crate::domain::key::{Env, PublicKeyId, Secret, SecretPrefix, random_base62};
use crate::domain::record::KeyRecord;
use crate::domain::scope::ScopeSet;
use crate::server::os_random;
use crate::storage::{KeyStore, NewAudit, ScopeDelta, UsageBatch};

#[derive(Clone, Copy, PartialEq, Eq)]
enum State {
    Active,
    Disabled,
    /// Expired this many days ago.
    Expired(i64),
    /// Expires in this many days.
    Expiring(i64),
}

struct Spec {
    name: &'static str,
    scopes: &'static [&'static str],
    domains: &'static [&'static str],
    app: Option<usize>,
    env: Env,
    age_days: i64,
    state: State,
    /// Requests per hour at peak; 0 = never used.
    traffic: u64,
}

#[allow(clippy::too_many_arguments)]
const fn s(
    name: &'static str,
    scopes: &'static [&'static str],
    domains: &'static [&'static str],
    app: Option<usize>,
    env: Env,
    age_days: i64,
    state: State,
    traffic: u64,
) -> Spec {
    Spec {
        name,
        scopes,
        domains,
        app,
        env,
        age_days,
        state,
        traffic,
    }
}

use Env::{Live as L, Test as T};
use State::{Active as A, Disabled as D, Expired as X, Expiring as E};

const SPECS: &[Spec] = &[
    s(
        "Production Backend",
        &["work-orders:write", "runs:read", "webhooks:write"],
        &[],
        None,
        L,
        210,
        A,
        900,
    ),
    s(
        "CI/CD Pipeline",
        &["work-orders:write", "runs:read"],
        &[],
        None,
        L,
        160,
        A,
        120,
    ),
    s(
        "Monitoring Dashboard",
        &["runs:read", "credits:read"],
        &[],
        None,
        L,
        95,
        A,
        300,
    ),
    s(
        "Checkout web widget",
        &["runs:read"],
        &["*.shop.example.com", "shop.example.com"],
        Some(0),
        L,
        70,
        A,
        650,
    ),
    s(
        "Search web widget",
        &["templates:read"],
        &["search.example.com"],
        Some(1),
        L,
        40,
        A,
        420,
    ),
    s(
        "Checkout service",
        &["work-orders:*", "runs:*"],
        &[],
        Some(0),
        L,
        120,
        A,
        500,
    ),
    s(
        "Search indexer",
        &["templates:read", "runs:read"],
        &[],
        Some(1),
        L,
        30,
        A,
        260,
    ),
    s(
        "Webhook relay",
        &["webhooks:read", "webhooks:write"],
        &[],
        None,
        L,
        300,
        A,
        80,
    ),
    s("Billing sync", &["credits:read"], &[], None, L, 400, A, 40),
    s(
        "Partner: Acme Logistics",
        &["work-orders:read", "runs:read"],
        &[],
        None,
        L,
        180,
        A,
        150,
    ),
    s(
        "Partner: Globex (read-only)",
        &[
            "work-orders:read",
            "runs:read",
            "templates:read",
            "webhooks:read",
            "credits:read",
        ],
        &[],
        None,
        L,
        100,
        A,
        25,
    ),
    s(
        "Data export job",
        &["work-orders:read", "runs:read"],
        &[],
        None,
        L,
        75,
        A,
        10,
    ),
    s(
        "Mobile app (iOS)",
        &["work-orders:write", "runs:read"],
        &["app.example.com"],
        None,
        L,
        55,
        A,
        380,
    ),
    s(
        "Mobile app (Android)",
        &["work-orders:write", "runs:read"],
        &["app.example.com"],
        None,
        L,
        55,
        A,
        340,
    ),
    s(
        "Support tooling",
        &["keys:read", "keys:verify", "usage:read", "audit:read"],
        &[],
        None,
        L,
        20,
        A,
        35,
    ),
    s(
        "Gateway verifier",
        &["keys:verify"],
        &[],
        None,
        L,
        12,
        A,
        700,
    ),
    s(
        "Template editor",
        &["templates:*"],
        &[],
        None,
        L,
        140,
        A,
        18,
    ),
    s(
        "Staging backend",
        &["work-orders:write", "runs:read", "webhooks:write"],
        &[],
        None,
        T,
        90,
        A,
        200,
    ),
    s("Local development (Ana)", &["*"], &[], None, T, 25, A, 30),
    s("Local development (Raj)", &["*"], &[], None, T, 60, A, 0),
    s("Load test", &["work-orders:write"], &[], None, T, 15, A, 0),
    s("Legacy cron", &["runs:read"], &[], None, L, 520, A, 0),
    s(
        "Old analytics export",
        &["work-orders:read"],
        &[],
        None,
        L,
        365,
        A,
        0,
    ),
    s(
        "Q3 migration script",
        &["work-orders:write"],
        &[],
        None,
        L,
        130,
        A,
        0,
    ),
    s(
        "Contractor access (Dana)",
        &["runs:read", "templates:read"],
        &[],
        None,
        L,
        45,
        D,
        0,
    ),
    s(
        "Suspected leak (Jun)",
        &["work-orders:write", "runs:read"],
        &[],
        None,
        L,
        250,
        D,
        0,
    ),
    s(
        "Retired partner: Initech",
        &["work-orders:read"],
        &[],
        None,
        L,
        600,
        D,
        0,
    ),
    s(
        "Paused webhook tester",
        &["webhooks:*"],
        &[],
        None,
        T,
        35,
        D,
        0,
    ),
    s("Hackathon demo", &["runs:read"], &[], None, T, 80, X(20), 0),
    s(
        "Trial partner: Umbrella",
        &["work-orders:read"],
        &[],
        None,
        L,
        50,
        X(3),
        0,
    ),
    s(
        "Conference booth kiosk",
        &["runs:read"],
        &["kiosk.example.com"],
        None,
        L,
        100,
        X(45),
        0,
    ),
    s(
        "Temporary audit access",
        &["audit:read", "usage:read"],
        &[],
        None,
        L,
        6,
        E(1),
        5,
    ),
    s(
        "Partner pilot: Hooli",
        &["work-orders:read", "runs:read"],
        &[],
        None,
        L,
        25,
        E(12),
        60,
    ),
    s(
        "Seasonal campaign widget",
        &["runs:read"],
        &["*.campaign.example.com"],
        Some(0),
        L,
        20,
        E(40),
        90,
    ),
    s(
        "Checkout batch reconciler",
        &["work-orders:read", "credits:read"],
        &[],
        Some(0),
        L,
        110,
        A,
        45,
    ),
    s(
        "Search relevance tuner",
        &["templates:write"],
        &[],
        Some(1),
        T,
        14,
        A,
        12,
    ),
    s(
        "Credits dashboard",
        &["credits:read"],
        &["billing.example.com"],
        None,
        L,
        200,
        A,
        55,
    ),
    s(
        "Runs canceller bot",
        &["runs:write", "runs:read"],
        &[],
        None,
        L,
        85,
        A,
        8,
    ),
];

/// Owners (and a few descriptions) by spec name; keys not listed have no owner, so the
/// review has `no_owner` findings.
const OWNERS: &[(&str, &str, Option<&str>)] = &[
    (
        "Production Backend",
        "platform-team@acme.example",
        Some("API backend in eu-west"),
    ),
    (
        "CI/CD Pipeline",
        "devops@acme.example",
        Some("deploys from the main branch"),
    ),
    ("Monitoring Dashboard", "sre@acme.example", None),
    (
        "Checkout web widget",
        "checkout-team",
        Some("browser widget on the shop"),
    ),
    ("Search web widget", "search-team", None),
    (
        "Checkout service",
        "checkout-team",
        Some("order intake and runs"),
    ),
    ("Search indexer", "search-team", None),
    ("Webhook relay", "platform-team@acme.example", None),
    (
        "Billing sync",
        "finance-eng@acme.example",
        Some("nightly credits sync"),
    ),
    ("Partner: Acme Logistics", "partnerships@acme.example", None),
    (
        "Partner: Globex (read-only)",
        "partnerships@acme.example",
        Some("reporting integration"),
    ),
    ("Data export job", "data-team", None),
    ("Mobile app (iOS)", "mobile-team", None),
    (
        "Mobile app (Android)",
        "mobile-team",
        Some("shipped in the Android app"),
    ),
    (
        "Support tooling",
        "support@acme.example",
        Some("support engineers' lookups"),
    ),
    ("Gateway verifier", "platform-team@acme.example", None),
    ("Template editor", "content-team", None),
    ("Staging backend", "platform-team@acme.example", None),
    ("Local development (Ana)", "ana@acme.example", None),
    ("Contractor access (Dana)", "ana@acme.example", None),
    ("Suspected leak (Jun)", "security@acme.example", None),
    (
        "Temporary audit access",
        "security@acme.example",
        Some("external auditor, Q4"),
    ),
    ("Partner pilot: Hooli", "partnerships@acme.example", None),
    ("Seasonal campaign widget", "marketing-eng", None),
    ("Checkout batch reconciler", "checkout-team", None),
    ("Search relevance tuner", "search-team", None),
    ("Credits dashboard", "finance-eng@acme.example", None),
];

/// The scopes a used key's requests needed, by spec name, where that is not simply every
/// scope it holds: over-privileged keys (the review suggests narrowing them) and wildcard
/// holders (whose requests need exact scopes).
const USED: &[(&str, &[&str])] = &[
    ("Production Backend", &["work-orders:write", "runs:read"]),
    (
        "Checkout service",
        &["work-orders:write", "work-orders:read", "runs:read"],
    ),
    (
        "Partner: Globex (read-only)",
        &["runs:read", "work-orders:read"],
    ),
    ("Support tooling", &["keys:read", "usage:read"]),
    ("Template editor", &["templates:read", "templates:write"]),
    (
        "Local development (Ana)",
        &["runs:read", "work-orders:write"],
    ),
    ("Mobile app (iOS)", &["runs:read"]),
];

/// The key reported leaked (still enabled), and where it was seen.
const LEAKED: (&str, &[&str]) = (
    "Mobile app (Android)",
    &[
        "https://github.com/acme-demo/android-app/blob/main/app/src/main/res/values/keys.xml",
        "keyconsole scan: android-app/build/outputs/apk/release/app-release.apk",
    ],
);

/// The requests of each day, split over the scopes they needed (the first needed most).
fn scope_deltas(
    key_id: &str,
    org: &str,
    used: &[String],
    days: &[UsageBucket],
    now: DateTime<Utc>,
) -> Vec<ScopeDelta> {
    let m = used.len() as u64;
    let total_weight = m * (m + 1) / 2;
    let mut out = Vec::new();
    for d in days {
        for (j, scope) in used.iter().enumerate() {
            let requests = d.ok * (m - j as u64) / total_weight.max(1);
            if requests == 0 {
                continue;
            }
            out.push(ScopeDelta {
                key_id: key_id.to_owned(),
                org_id: org.to_owned(),
                day: d.start,
                scope: scope.clone(),
                requests,
                last_used_at: (d.start + Duration::hours(23)).min(now),
            });
        }
    }
    out
}

/// A small deterministic generator so the demo looks the same on every machine.
struct Lcg(u64);

impl Lcg {
    fn next(&mut self) -> u64 {
        self.0 = self
            .0
            .wrapping_mul(6_364_136_223_846_793_005)
            .wrapping_add(1_442_695_040_888_963_407);
        self.0 >> 33
    }

    fn frac(&mut self) -> f64 {
        (self.next() % 10_000) as f64 / 10_000.0
    }
}

fn hourly(rng: &mut Lcg, peak: u64, t: DateTime<Utc>) -> UsageBucket {
    use chrono::Timelike;
    let h = f64::from(t.hour());
    // Busy in the (UTC) working day, quiet at night, a little noise.
    let shape = 0.25 + 0.75 * (((h - 14.0) / 24.0 * std::f64::consts::TAU).cos() * 0.5 + 0.5);
    let ok = (peak as f64 * shape * (0.8 + 0.4 * rng.frac())) as u64;
    let unauthorized = if rng.frac() < 0.04 {
        1 + rng.next() % 4
    } else {
        0
    };
    let forbidden = if rng.frac() < 0.03 {
        1 + rng.next() % 3
    } else {
        0
    };
    let rate_limited = if rng.frac() < 0.01 {
        1 + rng.next() % 10
    } else {
        0
    };
    UsageBucket {
        start: t,
        ok,
        unauthorized,
        forbidden,
        rate_limited,
    }
}

/// Fill the org behind `client` (whose key has scopes `*`) with demo data.
pub async fn seed(store: &Arc<dyn KeyStore>, client: &Client) -> Result<(), String> {
    let me = client.me().await.map_err(|e| e.to_string())?;
    let org = me.org.id.clone();
    let actor = me.key.id.clone();
    let apps = [
        client
            .create_app(&CreateAppRequest {
                name: "Checkout".into(),
            })
            .await
            .map_err(|e| e.to_string())?,
        client
            .create_app(&CreateAppRequest {
                name: "Search".into(),
            })
            .await
            .map_err(|e| e.to_string())?,
    ];
    let now = Utc::now();
    let mut fill = os_random;
    let mut rng = Lcg(0x6b65_7963_6f6e_736f);
    let mut secrets: Vec<(String, Secret, State)> = Vec::new();
    let mut busiest: Option<(u64, String)> = None;
    let mut last_used = Vec::new();
    let mut scope_rows = Vec::new();
    let mut leaked: Option<Secret> = None;
    let hour = BucketSize::Hour;
    // Oldest first, so the audit log and the key list (both newest first by insertion) read
    // in time order.
    let mut specs: Vec<&Spec> = SPECS.iter().collect();
    specs.sort_by_key(|s| std::cmp::Reverse(s.age_days));
    for spec in specs {
        let pk = PublicKeyId::generate(spec.env, &mut fill);
        let secret = Secret::generate(&SecretPrefix::default(), spec.env, &mut fill);
        let created = now
            - Duration::days(spec.age_days)
            - Duration::minutes(i64::try_from(rng.next() % 600).unwrap_or(0));
        let expires_at = match spec.state {
            State::Expired(d) => Some(now - Duration::days(d)),
            State::Expiring(d) => Some(now + Duration::days(d)),
            _ => None,
        };
        let rec = KeyRecord {
            id: pk.as_str().to_owned(),
            org_id: org.clone(),
            name: format!("{} [demo]", spec.name),
            env: spec.env,
            app_id: spec.app.map(|i| apps[i].id.clone()),
            scopes: ScopeSet::parse(spec.scopes).map_err(|e| e.to_string())?,
            allowed_domains: spec
                .domains
                .iter()
                .map(|d| HostPattern::parse(d).map_err(|e| e.to_string()))
                .collect::<Result<_, _>>()?,
            enabled: spec.state != State::Disabled,
            secret_hash: secret.hash(),
            secret_hint: secret.hint(),
            created_at: created,
            updated_at: created,
            expires_at,
            last_used_at: None,
            rotated_from: None,
            rotated_to: None,
            version: 1,
            owner: OWNERS
                .iter()
                .find(|o| o.0 == spec.name)
                .map(|o| o.1.to_owned()),
            description: OWNERS
                .iter()
                .find(|o| o.0 == spec.name)
                .and_then(|o| o.2.map(str::to_owned)),
            leaked_at: None,
        };
        let audit = NewAudit {
            id: format!("aud_{}", random_base62(20, &mut fill)),
            org_id: org.clone(),
            at: created,
            actor: Actor::key(&actor),
            action: "key.created".to_owned(),
            key_id: Some(rec.id.clone()),
            changes: json!({"name": rec.name, "scopes": rec.scopes.to_strings(), "env": spec.env.as_str(), "demo": true}),
        };
        store
            .insert_key(&rec, &audit)
            .await
            .map_err(|e| e.to_string())?;
        if spec.state == State::Disabled {
            let a = NewAudit {
                id: format!("aud_{}", random_base62(20, &mut fill)),
                org_id: org.clone(),
                at: created + Duration::days(spec.age_days / 2),
                actor: Actor::key(&actor),
                action: "key.disabled".to_owned(),
                key_id: Some(rec.id.clone()),
                changes: json!({"enabled": {"from": true, "to": false}}),
            };
            let mut disabled = rec.clone();
            disabled.version = 2;
            disabled.updated_at = a.at;
            store
                .update_key(&disabled, 1, &[a])
                .await
                .map_err(|e| e.to_string())?;
        }
        if spec.traffic > 0 {
            let days = spec.age_days.min(30);
            let start = hour.floor(now) - Duration::hours(days * 24);
            let mut hours = Vec::new();
            let mut t = start;
            while t <= now {
                hours.push(hourly(&mut rng, spec.traffic, t));
                t += Duration::hours(1);
            }
            let mut days_rows: Vec<UsageBucket> = Vec::new();
            for h in &hours {
                let d = BucketSize::Day.floor(h.start);
                match days_rows.last_mut() {
                    Some(last) if last.start == d => {
                        last.ok += h.ok;
                        last.unauthorized += h.unauthorized;
                        last.forbidden += h.forbidden;
                        last.rate_limited += h.rate_limited;
                    }
                    _ => days_rows.push(UsageBucket { start: d, ..*h }),
                }
            }
            let minutes: Vec<UsageBucket> = (0..90)
                .map(|m| {
                    let mut b = hourly(&mut rng, spec.traffic, now - Duration::minutes(m));
                    b.start = BucketSize::Minute.floor(now - Duration::minutes(m));
                    b.ok = b.ok / 60 + u64::from(rng.frac() < (b.ok % 60) as f64 / 60.0);
                    b.unauthorized = u64::from(b.unauthorized > 0 && rng.frac() < 0.3);
                    b.forbidden = u64::from(b.forbidden > 0 && rng.frac() < 0.3);
                    b.rate_limited = 0;
                    b
                })
                .collect();
            let used: Vec<String> = match USED.iter().find(|u| u.0 == spec.name) {
                Some((_, u)) => u.iter().map(|s| (*s).to_owned()).collect(),
                None => spec.scopes.iter().map(|s| (*s).to_owned()).collect(),
            };
            scope_rows.extend(scope_deltas(&rec.id, &org, &used, &days_rows, now));
            store
                .add_buckets(&rec.id, &org, BucketSize::Hour, &hours)
                .await
                .map_err(|e| e.to_string())?;
            store
                .add_buckets(&rec.id, &org, BucketSize::Day, &days_rows)
                .await
                .map_err(|e| e.to_string())?;
            store
                .add_buckets(&rec.id, &org, BucketSize::Minute, &minutes)
                .await
                .map_err(|e| e.to_string())?;
            last_used.push((
                rec.id.clone(),
                now - Duration::seconds(i64::try_from(rng.next() % 300).unwrap_or(0)),
            ));
        } else if spec.age_days > 100 && spec.state == State::Active {
            // Used long ago, then abandoned: stale.
            last_used.push((rec.id.clone(), now - Duration::days(spec.age_days / 2)));
        }
        if spec.state == State::Active && busiest.as_ref().is_none_or(|(t, _)| spec.traffic > *t) {
            busiest = Some((spec.traffic, rec.id.clone()));
        }
        if spec.name == LEAKED.0 {
            leaked = Some(secret.clone());
        }
        secrets.push((rec.id.clone(), secret, spec.state));
    }
    store
        .record_usage(&UsageBatch {
            deltas: Vec::new(),
            last_used,
            events: Vec::new(),
            scopes: scope_rows,
        })
        .await
        .map_err(|e| e.to_string())?;

    // A rotation in progress on the busiest key (so the cut-over monitor has traffic): the
    // new key is live, the old one has three days of grace.
    if let Some((_, id)) = &busiest {
        client
            .rotate_key(
                id,
                &RotateRequest {
                    grace_period_seconds: Some(3 * 86_400),
                },
            )
            .await
            .map_err(|e| e.to_string())?;
    }

    // A leak, reported like `keyconsole scan --check` does: only the secret's SHA-256 goes out.
    if let Some(secret) = leaked {
        let hash: String = secret.hash().0.iter().map(|b| format!("{b:02x}")).collect();
        for source in LEAKED.1 {
            client
                .report_leaks(&LeakReport {
                    hashes: vec![hash.clone()],
                    source: (*source).to_owned(),
                    action: LeakAction::Report,
                })
                .await
                .map_err(|e| e.to_string())?;
        }
    }

    // Real denied requests, so the support views have something to explain.
    let base = client.base_url().to_owned();
    let mut denied: Vec<Vec<(String, String)>> = Vec::new();
    for (id, secret, st) in &secrets {
        match st {
            State::Disabled | State::Expired(_) => {
                denied.push(vec![(
                    "authorization".into(),
                    format!("Bearer {}", secret.expose()),
                )]);
            }
            State::Active if denied.len() < 6 => {
                // A scope the key does not hold.
                denied.push(vec![(
                    "x-api-key".into(),
                    format!("{id}:{}", secret.expose()),
                )]);
            }
            _ => {}
        }
    }
    for headers in denied.iter().take(12) {
        let _ = client
            .raw("GET", &format!("{base}/v1/audit"), headers, None)
            .await;
    }
    Ok(())
}
