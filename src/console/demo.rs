//! Demo data for the embedded service's first start: about 40 keys (active, disabled,
//! expiring, expired, app-scoped, with domains, test and live), two apps, 30 days of usage
//! history, an audit trail, a rotation in progress, and real denied requests so the
//! support views have something to explain. Everything is clearly named as sample data.
//!
//! Keys are written straight to the store so their creation dates can lie in the past;
//! apps, a rotation and the denied requests go through the API like any client.

use std::sync::Arc;

use chrono::{DateTime, Duration, Utc};
use serde_json::json;

use crate::api::{Actor, BucketSize, CreateAppRequest, RotateRequest, UsageBucket};
use crate::client::Client;
use crate::domain::host_pattern::HostPattern;
use crate::domain::key::{Env, PublicKeyId, Secret, SecretPrefix, random_base62};
use crate::domain::record::KeyRecord;
use crate::domain::scope::ScopeSet;
use crate::server::os_random;
use crate::storage::{KeyStore, NewAudit, UsageBatch};

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
    let actor = me
        .key
        .map(|k| k.id)
        .ok_or("the demo needs an owner key, not a session")?;
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
            owner: None,
            description: None,
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
        secrets.push((rec.id.clone(), secret, spec.state));
    }
    store
        .record_usage(&UsageBatch {
            deltas: Vec::new(),
            last_used,
            events: Vec::new(),
            scopes: Vec::new(),
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
