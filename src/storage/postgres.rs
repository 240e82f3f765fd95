//! PostgreSQL implementation of [`KeyStore`]: many `serve` instances over one database.
//!
//! Migrations from `assets/migrations/postgres` are compiled in and run at open on one
//! connection that holds a session advisory lock ([`MIGRATION_LOCK`]) for the whole run, so
//! any number of instances may start at once: one migrates, the others wait and then find
//! nothing left to do.
//!
//! **Same answers as SQLite.** The schema keeps SQLite's representation of everything that
//! reaches the wire (times as Unix milliseconds, scopes and domains as JSON text, byte-order
//! `COLLATE "C"` text, ASCII-only case folding), so every list, filter and cursor orders and
//! matches exactly as on SQLite.
//!
//! **Concurrency between instances.**
//! - `If-Match`: the version check and the write are one `UPDATE … WHERE version = $n`; the
//!   row count says who won. A concurrent writer of the same row waits for the row lock and
//!   then re-checks the condition, so exactly one of two same-version writes changes the row.
//! - Lock-out guard: a write that may take away an owner key first locks the org's row
//!   (`SELECT … FOR UPDATE`), so guarded writes of one org are serialized across instances
//!   and each sees the others' committed result.
//! - Usage: additive upserts (`ON CONFLICT … DO UPDATE SET ok = usage.ok + excluded.ok`),
//!   `last_used_at = GREATEST(…)`, rows written in one sorted order so two instances'
//!   flushes never deadlock.
//! - Retention (`prune`) and the per-org auth-event trim run under transaction advisory
//!   locks taken with `pg_try_advisory_xact_lock`: one instance at a time does them, the
//!   others skip that round.
//!
//! **Errors.** SQLSTATEs and connection failures map to [`Outage`]s ([`map_err`]); a failed
//! write is remembered so `ping` (`/readyz`) answers 503 until a probe write works again.
//!
//! **Pool.** `max_connections` in the URL's query (`postgres://…/db?max_connections=20`,
//! default [`DEFAULT_MAX_CONNECTIONS`]) sizes this instance's pool; the parameter is
//! keyconsole's own and is not passed to PostgreSQL.

use std::collections::BTreeMap;
use std::str::FromStr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use sqlx::migrate::{Migration, MigrationType, Migrator};
use sqlx::postgres::{PgConnectOptions, PgConnection, PgListener, PgPool, PgPoolOptions, PgRow};
use sqlx::{Connection, Postgres, QueryBuilder, Row, Transaction};

use super::{
    AuditFilter, AuthEventFilter, AuthEventRecord, FEED_RETENTION_HOURS, IfMissing, InstanceRecord,
    KeyChange, KeyFilter, KeyPage, KeyPageReq, KeyStore, LeakOutcome, LeakRecord, NewAudit, Outage,
    PageReq, Paged, Retention, ScopeCount, SightingRecord, StoreError, StoreResult, TopKeyRow,
    UsageBatch, redact_url,
};
use crate::api::{Actor, ActorKind, App, BucketSize, Org, UsageBucket};
use crate::domain::decision::is_owner_key;
use crate::domain::host_pattern::HostPattern;
use crate::domain::key::{Env, SecretHash};
use crate::domain::record::KeyRecord;
use crate::domain::review::{FindingKind, OVER_PRIVILEGED_DAYS, ReviewPolicy};
use crate::domain::scope::ScopeSet;

mod lists;

const MIGRATIONS: &[(i64, &str, &str)] = &[
    (
        1,
        "init",
        include_str!("../../assets/migrations/postgres/0001_init.sql"),
    ),
    (
        2,
        "session auth events",
        include_str!("../../assets/migrations/postgres/0002_session_events.sql"),
    ),
    (
        10,
        "lists",
        include_str!("../../assets/migrations/postgres/0010_lists.sql"),
    ),
    (
        11,
        "change feed, instances",
        include_str!("../../assets/migrations/postgres/0011_feed.sql"),
    ),
    (
        12,
        "change feed notifications",
        include_str!("../../assets/migrations/postgres/0012_notify.sql"),
    ),
    (
        13,
        "auth event required scopes",
        include_str!("../../assets/migrations/postgres/0013_event_required_scopes.sql"),
    ),
    (
        14,
        "audit in time order",
        include_str!("../../assets/migrations/postgres/0014_audit_time_order.sql"),
    ),
    (
        15,
        "bounded lists, trigram search by index, bulk import",
        include_str!("../../assets/migrations/postgres/0015_lists_bounded.sql"),
    ),
    (
        16,
        "list indexes cover their residual filters",
        include_str!("../../assets/migrations/postgres/0016_covering_lists.sql"),
    ),
];

/// The channel each key change is announced on (`0012_notify.sql`).
pub const CHANGE_CHANNEL: &str = "keyconsole_key_changes";
/// `application_name` of the listener's connection, so it can be told apart (and, in tests,
/// terminated on its own).
pub const LISTENER_APPLICATION: &str = "keyconsole change listener";

/// Session advisory lock held while migrating (`'kc' << 32 | 1`).
pub const MIGRATION_LOCK: i64 = 0x6b63_0000_0001;
/// Transaction advisory lock of `prune`: one instance prunes at a time.
pub const PRUNE_LOCK: i64 = 0x6b63_0000_0002;
/// Transaction advisory lock of the per-org auth-event trim after a usage flush.
pub const TRIM_LOCK: i64 = 0x6b63_0000_0003;

/// Pool size when the URL does not say.
pub const DEFAULT_MAX_CONNECTIONS: u32 = 10;

/// After a failed write, `ping` tries a small write at most this often.
const PROBE_EVERY: Duration = Duration::from_secs(1);

/// How long a request waits for a connection (and so how long `/readyz` takes to say the
/// database is unreachable).
const ACQUIRE_TIMEOUT: Duration = Duration::from_secs(3);

/// The PostgreSQL store.
#[derive(Debug, Clone)]
pub struct PgStore {
    pool: PgPool,
    retention: Retention,
    health: Arc<Health>,
    /// This instance's row in `write_probe`.
    instance: String,
    /// Rows one list page examines at most ([`super::SCAN_BUDGET`]; tests lower it).
    scan_budget: u32,
}

/// The last write failure, until a write works again.
#[derive(Debug, Default)]
struct Health {
    failing: Mutex<Option<(Outage, String, Instant)>>,
}

impl Health {
    fn state(&self) -> std::sync::MutexGuard<'_, Option<(Outage, String, Instant)>> {
        self.failing
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Remember an outage of a write (logging when writes start failing, or fail for
    /// another reason) and hand the error back.
    fn record(&self, e: StoreError) -> StoreError {
        if let StoreError::Unavailable { cause, detail } = &e {
            let mut state = self.state();
            if state.as_ref().is_none_or(|(c, _, _)| c != cause) {
                tracing::error!(
                    cause = cause.as_str(),
                    "database writes refused: {detail}; writes answer 503 and /readyz 503 until \
                     a write succeeds (no restart needed); batched usage waits in memory"
                );
            }
            *state = Some((*cause, detail.clone(), Instant::now()));
        }
        e
    }

    fn worked(&self) {
        if let Some((cause, _, _)) = self.state().take() {
            tracing::warn!(
                was = cause.as_str(),
                "database writes work again; /readyz answers 200"
            );
        }
    }

    /// The last failure, and whether a probe write may be tried now (marked tried).
    fn failure(&self) -> Option<(StoreError, bool)> {
        let mut state = self.state();
        let (cause, detail, tried) = state.as_mut()?;
        let due = tried.elapsed() >= PROBE_EVERY;
        if due {
            *tried = Instant::now();
        }
        Some((StoreError::unavailable(*cause, detail.clone()), due))
    }
}

/// Map a PostgreSQL or connection error (SQLSTATE classes per the PostgreSQL manual,
/// appendix A).
pub(crate) fn map_err(e: sqlx::Error) -> StoreError {
    match e {
        sqlx::Error::Database(db) => {
            let code = db.code().map(|c| c.into_owned()).unwrap_or_default();
            if code == "23505" {
                return StoreError::Conflict(db.message().to_owned());
            }
            let cause = match code.as_str() {
                // connection exceptions; admin/crash shutdown, cannot connect now; the
                // database was dropped; too many connections.
                c if c.starts_with("08") => Outage::Unreachable,
                "57P01" | "57P02" | "57P03" | "57P04" | "3D000" | "53300" => Outage::Unreachable,
                "53100" => Outage::DiskFull,
                "25006" => Outage::ReadOnly,
                // lock_not_available (lock_timeout), serialization failure, deadlock,
                // statement timeout: another writer is in the way; retrying works.
                "55P03" | "40001" | "40P01" | "57014" => Outage::Busy,
                "58030" => Outage::Io,
                _ => return StoreError::Other(format!("{} (SQLSTATE {code})", db.message())),
            };
            StoreError::unavailable(cause, format!("{} (SQLSTATE {code})", db.message()))
        }
        sqlx::Error::PoolTimedOut
        | sqlx::Error::PoolClosed
        | sqlx::Error::WorkerCrashed
        | sqlx::Error::Io(_)
        | sqlx::Error::Tls(_)
        | sqlx::Error::Protocol(_) => StoreError::unavailable(Outage::Unreachable, e.to_string()),
        other => StoreError::Other(other.to_string()),
    }
}

fn ms(t: DateTime<Utc>) -> i64 {
    t.timestamp_millis()
}

fn from_ms(v: i64) -> StoreResult<DateTime<Utc>> {
    DateTime::from_timestamp_millis(v).ok_or_else(|| StoreError::Corrupt(format!("time {v}")))
}

fn opt_ms(v: Option<i64>) -> StoreResult<Option<DateTime<Utc>>> {
    v.map(from_ms).transpose()
}

fn count(v: u64) -> i64 {
    i64::try_from(v).unwrap_or(i64::MAX)
}

fn get<'r, T>(row: &'r PgRow, col: &str) -> StoreResult<T>
where
    T: sqlx::Decode<'r, Postgres> + sqlx::Type<Postgres>,
{
    row.try_get(col).map_err(map_err)
}

fn corrupt(e: impl std::fmt::Display) -> StoreError {
    StoreError::Corrupt(e.to_string())
}

fn key_from_row(row: &PgRow) -> StoreResult<KeyRecord> {
    let scopes: Vec<String> =
        serde_json::from_str(&get::<String>(row, "scopes")?).map_err(corrupt)?;
    let scopes = ScopeSet::parse(&scopes).map_err(corrupt)?;
    let domains: Vec<String> =
        serde_json::from_str(&get::<String>(row, "allowed_domains")?).map_err(corrupt)?;
    let allowed_domains = domains
        .iter()
        .map(|d| HostPattern::parse(d).map_err(corrupt))
        .collect::<StoreResult<Vec<_>>>()?;
    let env: String = get(row, "env")?;
    let hash: [u8; 32] = get::<Vec<u8>>(row, "secret_hash")?
        .try_into()
        .map_err(|_| StoreError::Corrupt("secret hash length".to_owned()))?;
    Ok(KeyRecord {
        id: get(row, "id")?,
        org_id: get(row, "org_id")?,
        name: get(row, "name")?,
        env: Env::parse(&env).ok_or_else(|| StoreError::Corrupt(format!("env {env}")))?,
        app_id: get(row, "app_id")?,
        scopes,
        allowed_domains,
        enabled: get(row, "enabled")?,
        secret_hash: SecretHash(hash),
        secret_hint: get(row, "secret_hint")?,
        created_at: from_ms(get(row, "created_at")?)?,
        updated_at: from_ms(get(row, "updated_at")?)?,
        expires_at: opt_ms(get(row, "expires_at")?)?,
        last_used_at: opt_ms(get(row, "last_used_at")?)?,
        rotated_from: get(row, "rotated_from")?,
        rotated_to: get(row, "rotated_to")?,
        version: get(row, "version")?,
        owner: get(row, "owner")?,
        description: get(row, "description")?,
        leaked_at: opt_ms(get(row, "leaked_at")?)?,
    })
}

/// The key columns, as a macro so queries stay static strings.
macro_rules! key_columns {
    () => {
        "seq, id, org_id, name, env, app_id, scopes, allowed_domains, enabled, secret_hash, \
         secret_hint, created_at, updated_at, expires_at, last_used_at, rotated_from, \
         rotated_to, version, owner, description, leaked_at"
    };
}
const KEY_COLUMNS: &str = key_columns!();

fn actor_from_row(row: &PgRow, with_name: bool) -> StoreResult<Actor> {
    let kind: String = get(row, "actor_type")?;
    let name: Option<String> = if with_name {
        get(row, "actor_name")?
    } else {
        None
    };
    Ok(Actor {
        kind: ActorKind::parse(&kind)
            .ok_or_else(|| StoreError::Corrupt(format!("actor type {kind:?}")))?,
        id: get(row, "actor_id")?,
        name,
    })
}

fn json_list<T: ToString>(items: impl IntoIterator<Item = T>) -> String {
    let v: Vec<String> = items.into_iter().map(|x| x.to_string()).collect();
    serde_json::Value::from(v).to_string()
}

fn paged<T>(mut items: Vec<(i64, T)>, limit: u32, total: Option<u64>) -> Paged<T> {
    let more = items.len() > limit as usize;
    items.truncate(limit as usize);
    let next = if more {
        items.last().map(|(s, _)| *s)
    } else {
        None
    };
    Paged {
        items: items.into_iter().map(|(_, t)| t).collect(),
        next,
        total,
    }
}

fn bucket_from_row(row: &PgRow) -> StoreResult<UsageBucket> {
    let n = |c: &str| get::<i64>(row, c).map(|v| u64::try_from(v).unwrap_or(0));
    Ok(UsageBucket {
        start: from_ms(get(row, "start")?)?,
        ok: n("ok")?,
        unauthorized: n("unauthorized")?,
        forbidden: n("forbidden")?,
        rate_limited: n("rate_limited")?,
    })
}

fn app_from_row(row: &PgRow) -> StoreResult<App> {
    Ok(App {
        id: get(row, "id")?,
        name: get(row, "name")?,
        created_at: from_ms(get(row, "created_at")?)?,
    })
}

async fn insert_audit(conn: &mut PgConnection, a: &NewAudit) -> StoreResult<()> {
    sqlx::query(
        "INSERT INTO audit (id, org_id, at, actor_key_id, actor_type, actor_id, actor_name, \
         action, key_id, changes) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)",
    )
    .bind(&a.id)
    .bind(&a.org_id)
    .bind(ms(a.at))
    .bind(a.actor.key_id())
    .bind(a.actor.kind.as_str())
    .bind(&a.actor.id)
    .bind(&a.actor.name)
    .bind(&a.action)
    .bind(&a.key_id)
    .bind(a.changes.to_string())
    .execute(conn)
    .await
    .map_err(map_err)?;
    Ok(())
}

async fn insert_audits(conn: &mut PgConnection, audits: &[NewAudit]) -> StoreResult<()> {
    for a in audits {
        insert_audit(conn, a).await?;
    }
    Ok(())
}

type PgQuery<'q> = sqlx::query::Query<'q, Postgres, sqlx::postgres::PgArguments>;

/// Run a statement meant to change one row; whether it did.
async fn changed_one(conn: &mut PgConnection, q: PgQuery<'_>) -> StoreResult<bool> {
    Ok(q.execute(conn).await.map_err(map_err)?.rows_affected() == 1)
}

/// [`changed_one`], then, when it did, the audit entries.
async fn change_audited(
    conn: &mut PgConnection,
    q: PgQuery<'_>,
    audits: &[NewAudit],
) -> StoreResult<bool> {
    let done = changed_one(conn, q).await?;
    if done {
        insert_audits(conn, audits).await?;
    }
    Ok(done)
}

async fn insert_key_row(conn: &mut PgConnection, k: &KeyRecord) -> StoreResult<()> {
    sqlx::query(
        "INSERT INTO keys (id, org_id, name, env, app_id, scopes, allowed_domains, enabled, \
         secret_hash, secret_hint, created_at, updated_at, expires_at, last_used_at, \
         rotated_from, rotated_to, version, owner, description, leaked_at) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, \
         $18, $19, $20)",
    )
    .bind(&k.id)
    .bind(&k.org_id)
    .bind(&k.name)
    .bind(k.env.as_str())
    .bind(&k.app_id)
    .bind(json_list(k.scopes.iter()))
    .bind(json_list(k.allowed_domains.iter()))
    .bind(k.enabled)
    .bind(k.secret_hash.0.to_vec())
    .bind(&k.secret_hint)
    .bind(ms(k.created_at))
    .bind(ms(k.updated_at))
    .bind(k.expires_at.map(ms))
    .bind(k.last_used_at.map(ms))
    .bind(&k.rotated_from)
    .bind(&k.rotated_to)
    .bind(k.version)
    .bind(&k.owner)
    .bind(&k.description)
    .bind(k.leaked_at.map(ms))
    .execute(conn)
    .await
    .map_err(map_err)?;
    Ok(())
}

async fn insert_org(conn: &mut PgConnection, org: &Org) -> StoreResult<()> {
    sqlx::query("INSERT INTO orgs (id, name, created_at) VALUES ($1, $2, $3)")
        .bind(&org.id)
        .bind(&org.name)
        .bind(ms(org.created_at))
        .execute(conn)
        .await
        .map_err(map_err)?;
    Ok(())
}

/// An owner key at a time bound as `$2` (`domain::decision::is_owner_key` in SQL; the first
/// terms are those of the partial index `keys_org_owner`).
macro_rules! owner_key {
    () => {
        "deleted_at IS NULL AND enabled AND app_id IS NULL \
         AND strpos(scopes, '\"*\"') > 0 AND (expires_at IS NULL OR expires_at > $2)"
    };
}

/// Lock the org's row until the transaction ends: every write that may take away an owner
/// key takes it first, so the lock-out guard's check and write are serialized per org across
/// all instances.
async fn lock_org(conn: &mut PgConnection, org_id: &str) -> StoreResult<()> {
    sqlx::query("SELECT 1 FROM orgs WHERE id = $1 FOR UPDATE")
        .bind(org_id)
        .execute(conn)
        .await
        .map_err(map_err)?;
    Ok(())
}

/// Was key `id` an owner key at `now` (under the org lock, before the write that follows)?
async fn was_owner(conn: &mut PgConnection, id: &str, now: DateTime<Utc>) -> StoreResult<bool> {
    let row = sqlx::query(concat!(
        "SELECT 1 FROM keys WHERE id = $1 AND ",
        owner_key!()
    ))
    .bind(id)
    .bind(ms(now))
    .fetch_optional(conn)
    .await
    .map_err(map_err)?;
    Ok(row.is_some())
}

/// After the write: `Err(StoreError::LastOwner)` (so the transaction rolls back) when
/// `org_id` has no owner key left at `now`.
async fn keep_an_owner(
    conn: &mut PgConnection,
    org_id: &str,
    now: DateTime<Utc>,
) -> StoreResult<()> {
    let left = sqlx::query(concat!(
        "SELECT 1 FROM keys WHERE org_id = $1 AND ",
        owner_key!(),
        " LIMIT 1"
    ))
    .bind(org_id)
    .bind(ms(now))
    .fetch_optional(conn)
    .await
    .map_err(map_err)?;
    if left.is_some() {
        Ok(())
    } else {
        Err(StoreError::LastOwner)
    }
}

/// Usage rows to add, keyed (key, bucket, start) so they are written in one global order.
type UsageRows<'a> = BTreeMap<(&'a str, &'static str, i64), (&'a str, [i64; 4])>;

/// Add usage rows (additive upserts, one statement, in key order).
async fn upsert_usage(conn: &mut PgConnection, rows: &UsageRows<'_>) -> StoreResult<()> {
    if rows.is_empty() {
        return Ok(());
    }
    let mut cols: (Vec<&str>, Vec<&str>, Vec<&str>, Vec<i64>) = Default::default();
    let mut n: [Vec<i64>; 4] = Default::default();
    for ((key, bucket, start), (org, c)) in rows {
        cols.0.push(key);
        cols.1.push(org);
        cols.2.push(bucket);
        cols.3.push(*start);
        for (v, x) in n.iter_mut().zip(c) {
            v.push(*x);
        }
    }
    let [ok, unauthorized, forbidden, rate_limited] = n;
    sqlx::query(
        "INSERT INTO usage (key_id, org_id, bucket, start, ok, unauthorized, forbidden, rate_limited) \
         SELECT * FROM UNNEST($1::text[], $2::text[], $3::text[], $4::bigint[], $5::bigint[], \
         $6::bigint[], $7::bigint[], $8::bigint[]) \
         ON CONFLICT (key_id, bucket, start) DO UPDATE SET \
         ok = usage.ok + EXCLUDED.ok, unauthorized = usage.unauthorized + EXCLUDED.unauthorized, \
         forbidden = usage.forbidden + EXCLUDED.forbidden, \
         rate_limited = usage.rate_limited + EXCLUDED.rate_limited",
    )
    .bind(cols.0)
    .bind(cols.1)
    .bind(cols.2)
    .bind(cols.3)
    .bind(ok)
    .bind(unauthorized)
    .bind(forbidden)
    .bind(rate_limited)
    .execute(conn)
    .await
    .map_err(map_err)?;
    Ok(())
}

/// `url` without keyconsole's own query parameters, and the pool size they set.
fn split_pool_options(url: &str) -> StoreResult<(String, u32)> {
    let Some((base, query)) = url.split_once('?') else {
        return Ok((url.to_owned(), DEFAULT_MAX_CONNECTIONS));
    };
    let mut max = DEFAULT_MAX_CONNECTIONS;
    let mut rest = Vec::new();
    for pair in query.split('&').filter(|p| !p.is_empty()) {
        match pair.split_once('=') {
            Some(("max_connections", v)) => {
                max = v
                    .parse()
                    .ok()
                    .filter(|n| (1..=1000).contains(n))
                    .ok_or_else(|| {
                        StoreError::Open(format!(
                            "invalid max_connections `{v}` in the database URL: use 1-1000"
                        ))
                    })?;
            }
            _ => rest.push(pair),
        }
    }
    let url = if rest.is_empty() {
        base.to_owned()
    } else {
        format!("{base}?{}", rest.join("&"))
    };
    Ok((url, max))
}

/// Create the database `opts` names, connecting to the server's `postgres` database.
async fn create_database(opts: &PgConnectOptions) -> StoreResult<()> {
    let name = opts.get_database().unwrap_or("postgres").to_owned();
    let mut conn = PgConnection::connect_with(&opts.clone().database("postgres"))
        .await
        .map_err(|e| StoreError::Open(format!("cannot connect to create database {name}: {e}")))?;
    let sql = format!("CREATE DATABASE \"{}\"", name.replace('"', "\"\""));
    match sqlx::raw_sql(sqlx::AssertSqlSafe(sql))
        .execute(&mut conn)
        .await
    {
        Ok(_) => Ok(()),
        // Another instance created it meanwhile.
        Err(sqlx::Error::Database(db)) if db.code().as_deref() == Some("42P04") => Ok(()),
        Err(e) => Err(StoreError::Open(format!(
            "cannot create database {name}: {e}"
        ))),
    }
}

impl PgStore {
    /// Connect, create the database if it is missing and `if_missing` allows it, and
    /// migrate under [`MIGRATION_LOCK`].
    pub async fn open(
        url: &str,
        retention: Retention,
        if_missing: IfMissing,
    ) -> StoreResult<PgStore> {
        let (pg_url, max) = split_pool_options(url)?;
        let opts = PgConnectOptions::from_str(&pg_url)
            .map_err(|e| StoreError::Open(format!("{}: {e}", redact_url(url))))?
            // A write waits this long for a row another instance holds, then answers 503
            // busy (SQLite's busy timeout).
            .options([("lock_timeout", "5s")]);
        let mut conn = match PgConnection::connect_with(&opts).await {
            Ok(c) => c,
            Err(sqlx::Error::Database(db)) if db.code().as_deref() == Some("3D000") => {
                match if_missing {
                    IfMissing::Refuse => {
                        return Err(StoreError::Missing(redact_url(url)));
                    }
                    IfMissing::Create => {
                        create_database(&opts).await?;
                        PgConnection::connect_with(&opts)
                            .await
                            .map_err(|e| StoreError::Open(e.to_string()))?
                    }
                }
            }
            Err(e) => {
                return Err(StoreError::Open(format!(
                    "cannot connect to {}: {e}",
                    redact_url(url)
                )));
            }
        };
        migrate(&mut conn).await?;
        let _ = conn.close().await;
        let pool = PgPoolOptions::new()
            .max_connections(max)
            .acquire_timeout(ACQUIRE_TIMEOUT)
            .connect_with(opts)
            .await
            .map_err(|e| StoreError::Open(e.to_string()))?;
        let mut id = [0u8; 8];
        getrandom::fill(&mut id)
            .map_err(|e| StoreError::Open(format!("random instance id: {e}")))?;
        Ok(PgStore {
            pool,
            retention,
            health: Arc::new(Health::default()),
            instance: id.iter().map(|b| format!("{b:02x}")).collect(),
            scan_budget: super::SCAN_BUDGET,
        })
    }

    /// The pool (for `db copy` and tests).
    pub fn pool(&self) -> &PgPool {
        &self.pool
    }

    /// Close the pool.
    pub async fn close(&self) {
        self.pool.close().await;
    }

    async fn begin(&self) -> StoreResult<Transaction<'static, Postgres>> {
        self.pool
            .begin()
            .await
            .map_err(|e| self.health.record(map_err(e)))
    }

    /// Commit when `r` is `Ok` and `keep` says so; otherwise roll back. Returns `r`, or the
    /// commit's error; outages are remembered for `ping`.
    async fn end<T>(
        &self,
        tx: Transaction<'static, Postgres>,
        r: StoreResult<T>,
        keep: impl FnOnce(&T) -> bool,
    ) -> StoreResult<T> {
        match r {
            Ok(v) if keep(&v) => match tx.commit().await {
                Ok(()) => {
                    self.health.worked();
                    Ok(v)
                }
                Err(e) => Err(self.health.record(map_err(e))),
            },
            Ok(v) => {
                let _ = tx.rollback().await;
                Ok(v)
            }
            Err(e) => {
                let _ = tx.rollback().await;
                Err(self.health.record(e))
            }
        }
    }

    async fn fetch_page(
        &self,
        mut qb: QueryBuilder<Postgres>,
        page: PageReq,
    ) -> StoreResult<Vec<PgRow>> {
        if let Some(before) = page.before {
            qb.push(" AND seq < ").push_bind(before);
        }
        qb.push(" ORDER BY seq DESC LIMIT ")
            .push_bind(i64::from(page.limit) + 1);
        qb.build().fetch_all(&self.pool).await.map_err(map_err)
    }

    async fn probe_write(&self) -> StoreResult<()> {
        let mut tx = self.begin().await?;
        let r = sqlx::query(
            "INSERT INTO write_probe (id, at) VALUES ($1, $2) \
             ON CONFLICT (id) DO UPDATE SET at = EXCLUDED.at",
        )
        .bind(&self.instance)
        .bind(Utc::now().timestamp_millis())
        .execute(&mut *tx)
        .await
        .map(|_| ())
        .map_err(map_err);
        self.end(tx, r, |_| true).await
    }
}

/// Apply the migrations on `conn` while it holds [`MIGRATION_LOCK`].
async fn migrate(conn: &mut PgConnection) -> StoreResult<()> {
    let failed = |e: &dyn std::fmt::Display| StoreError::Open(format!("migration failed: {e}"));
    sqlx::query("SELECT pg_advisory_lock($1)")
        .bind(MIGRATION_LOCK)
        .execute(&mut *conn)
        .await
        .map_err(|e| failed(&e))?;
    let migrations = MIGRATIONS
        .iter()
        .map(|(v, d, sql)| {
            Migration::new(
                *v,
                (*d).into(),
                MigrationType::Simple,
                sqlx::SqlSafeStr::into_sql_str(*sql),
                false,
            )
        })
        .collect();
    let mut migrator = Migrator::with_migrations(migrations);
    // The lock above is the one that counts (it is held across the whole run).
    migrator.set_locking(false);
    let mut r = migrator
        .run_direct(None, &mut *conn, false)
        .await
        .map_err(|e| failed(&e));
    if r.is_ok() {
        // The cursor secret (0010), made once, still under the lock.
        let mut secret = [0u8; 32];
        r = match getrandom::fill(&mut secret) {
            Ok(()) => sqlx::query(
                "INSERT INTO cursor_secret (id, secret) VALUES (1, $1) ON CONFLICT (id) DO NOTHING",
            )
            .bind(secret.to_vec())
            .execute(&mut *conn)
            .await
            .map(|_| ())
            .map_err(|e| failed(&e)),
            Err(e) => Err(failed(&e)),
        };
    }
    let _ = sqlx::query("SELECT pg_advisory_unlock($1)")
        .bind(MIGRATION_LOCK)
        .execute(&mut *conn)
        .await;
    r
}

#[async_trait]
impl KeyStore for PgStore {
    async fn ping(&self) -> StoreResult<()> {
        let row = sqlx::query(
            "SELECT pg_is_in_recovery() OR current_setting('transaction_read_only') = 'on' AS ro",
        )
        .fetch_one(&self.pool)
        .await
        .map_err(map_err)?;
        if get::<bool>(&row, "ro")? {
            return Err(StoreError::unavailable(
                Outage::ReadOnly,
                "the database accepts no writes (a standby, or default_transaction_read_only)",
            ));
        }
        match self.health.failure() {
            None => Ok(()),
            Some((_, true)) => self.probe_write().await,
            Some((failure, false)) => Err(failure),
        }
    }

    async fn create_org(&self, org: &Org) -> StoreResult<()> {
        let mut tx = self.begin().await?;
        let r = insert_org(&mut tx, org).await;
        self.end(tx, r, |_| true).await
    }

    async fn create_org_with_owner(
        &self,
        org: &Org,
        key: &KeyRecord,
        audit: &NewAudit,
    ) -> StoreResult<()> {
        let mut tx = self.begin().await?;
        let r = async {
            insert_org(&mut tx, org).await?;
            insert_key_row(&mut tx, key).await?;
            insert_audit(&mut tx, audit).await
        }
        .await;
        self.end(tx, r, |_| true).await
    }

    async fn get_org(&self, id: &str) -> StoreResult<Option<Org>> {
        let row = sqlx::query("SELECT id, name, created_at FROM orgs WHERE id = $1")
            .bind(id)
            .fetch_optional(&self.pool)
            .await
            .map_err(map_err)?;
        row.map(|r| {
            Ok(Org {
                id: get(&r, "id")?,
                name: get(&r, "name")?,
                created_at: from_ms(get(&r, "created_at")?)?,
            })
        })
        .transpose()
    }

    async fn create_app(&self, org_id: &str, app: &App, audit: &NewAudit) -> StoreResult<()> {
        let mut tx = self.begin().await?;
        let r = async {
            sqlx::query("INSERT INTO apps (id, org_id, name, created_at) VALUES ($1, $2, $3, $4)")
                .bind(&app.id)
                .bind(org_id)
                .bind(&app.name)
                .bind(ms(app.created_at))
                .execute(&mut *tx)
                .await
                .map_err(map_err)?;
            insert_audit(&mut tx, audit).await
        }
        .await;
        self.end(tx, r, |_| true).await
    }

    async fn app_org(&self, app_id: &str) -> StoreResult<Option<String>> {
        let row = sqlx::query("SELECT org_id FROM apps WHERE id = $1")
            .bind(app_id)
            .fetch_optional(&self.pool)
            .await
            .map_err(map_err)?;
        row.as_ref().map(|r| get(r, "org_id")).transpose()
    }

    async fn get_app(&self, org_id: &str, id: &str) -> StoreResult<Option<App>> {
        let row =
            sqlx::query("SELECT id, name, created_at FROM apps WHERE org_id = $1 AND id = $2")
                .bind(org_id)
                .bind(id)
                .fetch_optional(&self.pool)
                .await
                .map_err(map_err)?;
        row.as_ref().map(app_from_row).transpose()
    }

    async fn list_apps(&self, org_id: &str, page: PageReq) -> StoreResult<Paged<App>> {
        let rows = sqlx::query(
            "SELECT seq, id, name, created_at FROM apps WHERE org_id = $1 AND seq < $2 \
             ORDER BY seq DESC LIMIT $3",
        )
        .bind(org_id)
        .bind(page.before.unwrap_or(i64::MAX))
        .bind(i64::from(page.limit) + 1)
        .fetch_all(&self.pool)
        .await
        .map_err(map_err)?;
        let items = rows
            .iter()
            .map(|r| Ok((get(r, "seq")?, app_from_row(r)?)))
            .collect::<StoreResult<Vec<_>>>()?;
        Ok(paged(items, page.limit, None))
    }

    async fn insert_key(&self, key: &KeyRecord, audit: &NewAudit) -> StoreResult<()> {
        let mut tx = self.begin().await?;
        let r = async {
            insert_key_row(&mut tx, key).await?;
            insert_audit(&mut tx, audit).await
        }
        .await;
        self.end(tx, r, |_| true).await
    }

    async fn key_by_hash(&self, hash: &SecretHash) -> StoreResult<Option<KeyRecord>> {
        let row = sqlx::query(concat!(
            "SELECT ",
            key_columns!(),
            " FROM keys WHERE secret_hash = $1 AND deleted_at IS NULL"
        ))
        .bind(hash.0.to_vec())
        .fetch_optional(&self.pool)
        .await
        .map_err(map_err)?;
        row.as_ref().map(key_from_row).transpose()
    }

    async fn key_by_id(&self, id: &str) -> StoreResult<Option<KeyRecord>> {
        let row = sqlx::query(concat!(
            "SELECT ",
            key_columns!(),
            " FROM keys WHERE id = $1 AND deleted_at IS NULL"
        ))
        .bind(id)
        .fetch_optional(&self.pool)
        .await
        .map_err(map_err)?;
        row.as_ref().map(key_from_row).transpose()
    }

    async fn list_keys(
        &self,
        org_id: &str,
        filter: &KeyFilter,
        now: DateTime<Utc>,
        page: &KeyPageReq,
    ) -> StoreResult<KeyPage> {
        self.list_keys_page(org_id, filter, now, page).await
    }

    async fn import_keys(&self, keys: &[KeyRecord]) -> StoreResult<()> {
        self.import_key_rows(keys).await
    }

    async fn cursor_secret(&self) -> StoreResult<[u8; 32]> {
        self.stored_cursor_secret().await
    }

    async fn update_key(
        &self,
        key: &KeyRecord,
        expected_version: i64,
        audits: &[NewAudit],
    ) -> StoreResult<bool> {
        let now = key.updated_at;
        let mut tx = self.begin().await?;
        let r = async {
            // Only a write that turns an owner key into something else can lock the org out;
            // such a write holds the org's row lock from the check to the commit.
            let guard = !is_owner_key(key, now) && {
                lock_org(&mut tx, &key.org_id).await?;
                was_owner(&mut tx, &key.id, now).await?
            };
            // The version check and the write are this one statement.
            let q = sqlx::query(
                "UPDATE keys SET name = $1, scopes = $2, allowed_domains = $3, enabled = $4, \
                 expires_at = $5, rotated_to = $6, updated_at = $7, version = $8, owner = $9, \
                 description = $10 \
                 WHERE id = $11 AND org_id = $12 AND version = $13 AND deleted_at IS NULL",
            )
            .bind(&key.name)
            .bind(json_list(key.scopes.iter()))
            .bind(json_list(key.allowed_domains.iter()))
            .bind(key.enabled)
            .bind(key.expires_at.map(ms))
            .bind(&key.rotated_to)
            .bind(ms(key.updated_at))
            .bind(key.version)
            .bind(&key.owner)
            .bind(&key.description)
            .bind(&key.id)
            .bind(&key.org_id)
            .bind(expected_version);
            let done = change_audited(&mut tx, q, audits).await?;
            if done && guard {
                keep_an_owner(&mut tx, &key.org_id, now).await?;
            }
            Ok(done)
        }
        .await;
        self.end(tx, r, |done| *done).await
    }

    async fn delete_key(&self, org_id: &str, id: &str, audit: &NewAudit) -> StoreResult<bool> {
        let now = audit.at;
        let mut tx = self.begin().await?;
        let r = async {
            lock_org(&mut tx, org_id).await?;
            let guard = was_owner(&mut tx, id, now).await?;
            let q = sqlx::query(
                "UPDATE keys SET deleted_at = $1, version = version + 1 \
                 WHERE org_id = $2 AND id = $3 AND deleted_at IS NULL",
            )
            .bind(ms(now))
            .bind(org_id)
            .bind(id);
            let done = change_audited(&mut tx, q, std::slice::from_ref(audit)).await?;
            if done && guard {
                keep_an_owner(&mut tx, org_id, now).await?;
            }
            Ok(done)
        }
        .await;
        self.end(tx, r, |done| *done).await
    }

    async fn rotate_key(
        &self,
        old: &KeyRecord,
        expected_version: i64,
        new: &KeyRecord,
        audits: &[NewAudit],
    ) -> StoreResult<bool> {
        let mut tx = self.begin().await?;
        let r = async {
            let q = sqlx::query(
                "UPDATE keys SET rotated_to = $1, expires_at = $2, updated_at = $3, version = $4 \
                 WHERE id = $5 AND org_id = $6 AND version = $7 AND rotated_to IS NULL \
                 AND deleted_at IS NULL",
            )
            .bind(&old.rotated_to)
            .bind(old.expires_at.map(ms))
            .bind(ms(old.updated_at))
            .bind(old.version)
            .bind(&old.id)
            .bind(&old.org_id)
            .bind(expected_version);
            let done = changed_one(&mut tx, q).await?;
            if done {
                insert_key_row(&mut tx, new).await?;
                insert_audits(&mut tx, audits).await?;
            }
            Ok(done)
        }
        .await;
        self.end(tx, r, |done| *done).await
    }

    async fn set_secret(
        &self,
        key_id: &str,
        hash: &SecretHash,
        hint: &str,
        now: DateTime<Utc>,
    ) -> StoreResult<bool> {
        let mut tx = self.begin().await?;
        let q = sqlx::query(
            "UPDATE keys SET secret_hash = $1, secret_hint = $2, updated_at = $3, \
             version = version + 1 WHERE id = $4 AND deleted_at IS NULL",
        )
        .bind(hash.0.to_vec())
        .bind(hint)
        .bind(ms(now))
        .bind(key_id);
        let r = changed_one(&mut tx, q).await;
        self.end(tx, r, |done| *done).await
    }

    async fn record_usage(&self, batch: &UsageBatch) -> StoreResult<()> {
        if batch.is_empty() {
            return Ok(());
        }
        // Every row this flush touches is written in one global order (usage by key,
        // bucket, start; keys by id; scope usage by key, day, scope), so two instances'
        // flushes wait for each other instead of deadlocking.
        let mut usage: UsageRows = BTreeMap::new();
        for d in &batch.deltas {
            let add = [d.ok, d.unauthorized, d.forbidden, d.rate_limited].map(count);
            for bucket in [BucketSize::Minute, BucketSize::Hour, BucketSize::Day] {
                let slot = usage
                    .entry((
                        d.key_id.as_str(),
                        bucket.as_str(),
                        ms(bucket.floor(d.minute)),
                    ))
                    .or_insert((d.org_id.as_str(), [0; 4]));
                for (s, a) in slot.1.iter_mut().zip(add) {
                    *s = s.saturating_add(a);
                }
            }
        }
        let mut last_used: BTreeMap<&str, i64> = BTreeMap::new();
        for (id, at) in &batch.last_used {
            let v = last_used.entry(id.as_str()).or_insert(i64::MIN);
            *v = (*v).max(ms(*at));
        }
        let mut scopes: BTreeMap<(&str, i64, &str), (&str, i64, i64)> = BTreeMap::new();
        for d in &batch.scopes {
            let slot = scopes
                .entry((d.key_id.as_str(), ms(d.day), d.scope.as_str()))
                .or_insert((d.org_id.as_str(), 0, i64::MIN));
            slot.1 = slot.1.saturating_add(count(d.requests));
            slot.2 = slot.2.max(ms(d.last_used_at));
        }
        let mut tx = self.begin().await?;
        let r = async {
            upsert_usage(&mut tx, &usage).await?;
            if !last_used.is_empty() {
                let ids: Vec<&str> = last_used.keys().copied().collect();
                let ats: Vec<i64> = last_used.values().copied().collect();
                sqlx::query("SELECT 1 FROM keys WHERE id = ANY($1) ORDER BY id FOR UPDATE")
                    .bind(&ids)
                    .execute(&mut *tx)
                    .await
                    .map_err(map_err)?;
                // `last_used_at` only moves forward, whichever instance writes last.
                sqlx::query(
                    "UPDATE keys SET last_used_at = GREATEST(keys.last_used_at, u.at) \
                     FROM UNNEST($1::text[], $2::bigint[]) AS u(id, at) WHERE keys.id = u.id",
                )
                .bind(&ids)
                .bind(&ats)
                .execute(&mut *tx)
                .await
                .map_err(map_err)?;
            }
            if !scopes.is_empty() {
                let mut c: (
                    Vec<&str>,
                    Vec<&str>,
                    Vec<i64>,
                    Vec<&str>,
                    Vec<i64>,
                    Vec<i64>,
                ) = Default::default();
                for ((key, day, scope), (org, requests, last)) in &scopes {
                    c.0.push(key);
                    c.1.push(org);
                    c.2.push(*day);
                    c.3.push(scope);
                    c.4.push(*requests);
                    c.5.push(*last);
                }
                sqlx::query(
                    "INSERT INTO scope_usage (key_id, org_id, day, scope, requests, last_used_at) \
                     SELECT * FROM UNNEST($1::text[], $2::text[], $3::bigint[], $4::text[], \
                     $5::bigint[], $6::bigint[]) \
                     ON CONFLICT (key_id, day, scope) DO UPDATE SET \
                     requests = scope_usage.requests + EXCLUDED.requests, \
                     last_used_at = GREATEST(scope_usage.last_used_at, EXCLUDED.last_used_at)",
                )
                .bind(c.0)
                .bind(c.1)
                .bind(c.2)
                .bind(c.3)
                .bind(c.4)
                .bind(c.5)
                .execute(&mut *tx)
                .await
                .map_err(map_err)?;
            }
            if !batch.events.is_empty() {
                self.insert_events(&mut tx, &batch.events).await?;
            }
            Ok(())
        }
        .await;
        self.end(tx, r, |_| true).await
    }

    async fn add_buckets(
        &self,
        key_id: &str,
        org_id: &str,
        bucket: BucketSize,
        rows: &[UsageBucket],
    ) -> StoreResult<()> {
        let mut usage: UsageRows = BTreeMap::new();
        for row in rows {
            let add = [row.ok, row.unauthorized, row.forbidden, row.rate_limited].map(count);
            let slot = usage
                .entry((key_id, bucket.as_str(), ms(bucket.floor(row.start))))
                .or_insert((org_id, [0; 4]));
            for (s, a) in slot.1.iter_mut().zip(add) {
                *s = s.saturating_add(a);
            }
        }
        let mut tx = self.begin().await?;
        let r = upsert_usage(&mut tx, &usage).await;
        self.end(tx, r, |_| true).await
    }

    async fn prune(&self, now: DateTime<Utc>) -> StoreResult<()> {
        let minute_cut = now - chrono::Duration::hours(i64::from(self.retention.minute_hours));
        let hour_cut = now - chrono::Duration::days(i64::from(self.retention.hour_days));
        let mut tx = self.begin().await?;
        let r = async {
            // One instance prunes at a time; the others skip this round.
            let row = sqlx::query("SELECT pg_try_advisory_xact_lock($1) AS got")
                .bind(PRUNE_LOCK)
                .fetch_one(&mut *tx)
                .await
                .map_err(map_err)?;
            if !get::<bool>(&row, "got")? {
                return Ok(());
            }
            for (bucket, cut) in [("minute", minute_cut), ("hour", hour_cut)] {
                sqlx::query("DELETE FROM usage WHERE bucket = $1 AND start < $2")
                    .bind(bucket)
                    .bind(ms(cut))
                    .execute(&mut *tx)
                    .await
                    .map_err(map_err)?;
            }
            let feed_cut = ms(now - chrono::Duration::hours(FEED_RETENTION_HOURS));
            for sql in [
                "DELETE FROM key_changes WHERE at < $1",
                "DELETE FROM instances WHERE last_seen_at < $1",
            ] {
                sqlx::query(sql)
                    .bind(feed_cut)
                    .execute(&mut *tx)
                    .await
                    .map_err(map_err)?;
            }
            Ok(())
        }
        .await;
        self.end(tx, r, |_| true).await
    }

    async fn key_usage(
        &self,
        key_id: &str,
        bucket: BucketSize,
        from: DateTime<Utc>,
        to: DateTime<Utc>,
    ) -> StoreResult<Vec<UsageBucket>> {
        let rows = sqlx::query(
            "SELECT start, ok, unauthorized, forbidden, rate_limited FROM usage \
             WHERE key_id = $1 AND bucket = $2 AND start >= $3 AND start < $4 ORDER BY start",
        )
        .bind(key_id)
        .bind(bucket.as_str())
        .bind(ms(from))
        .bind(ms(to))
        .fetch_all(&self.pool)
        .await
        .map_err(map_err)?;
        rows.iter().map(bucket_from_row).collect()
    }

    async fn org_usage(
        &self,
        org_id: &str,
        bucket: BucketSize,
        from: DateTime<Utc>,
        to: DateTime<Utc>,
    ) -> StoreResult<Vec<UsageBucket>> {
        let rows = sqlx::query(
            "SELECT start, SUM(ok)::BIGINT AS ok, SUM(unauthorized)::BIGINT AS unauthorized, \
             SUM(forbidden)::BIGINT AS forbidden, SUM(rate_limited)::BIGINT AS rate_limited \
             FROM usage WHERE org_id = $1 AND bucket = $2 AND start >= $3 AND start < $4 \
             GROUP BY start ORDER BY start",
        )
        .bind(org_id)
        .bind(bucket.as_str())
        .bind(ms(from))
        .bind(ms(to))
        .fetch_all(&self.pool)
        .await
        .map_err(map_err)?;
        rows.iter().map(bucket_from_row).collect()
    }

    async fn top_keys(
        &self,
        org_id: &str,
        bucket: BucketSize,
        from: DateTime<Utc>,
        to: DateTime<Utc>,
        limit: u32,
    ) -> StoreResult<Vec<TopKeyRow>> {
        let rows = sqlx::query(
            "SELECT u.key_id AS key_id, COALESCE(MAX(k.name), '') AS name, MIN(u.start) AS start, \
             SUM(u.ok)::BIGINT AS ok, SUM(u.unauthorized)::BIGINT AS unauthorized, \
             SUM(u.forbidden)::BIGINT AS forbidden, SUM(u.rate_limited)::BIGINT AS rate_limited, \
             SUM(u.ok + u.unauthorized + u.forbidden + u.rate_limited) AS total \
             FROM usage u LEFT JOIN keys k ON k.id = u.key_id \
             WHERE u.org_id = $1 AND u.bucket = $2 AND u.start >= $3 AND u.start < $4 \
             GROUP BY u.key_id ORDER BY total DESC, u.key_id LIMIT $5",
        )
        .bind(org_id)
        .bind(bucket.as_str())
        .bind(ms(from))
        .bind(ms(to))
        .bind(i64::from(limit))
        .fetch_all(&self.pool)
        .await
        .map_err(map_err)?;
        rows.iter()
            .map(|r| {
                Ok(TopKeyRow {
                    key_id: get(r, "key_id")?,
                    name: get(r, "name")?,
                    counts: bucket_from_row(r)?,
                })
            })
            .collect()
    }

    async fn list_auth_events(
        &self,
        org_id: &str,
        filter: &AuthEventFilter,
        page: PageReq,
    ) -> StoreResult<Paged<AuthEventRecord>> {
        let mut qb = QueryBuilder::<Postgres>::new(
            "SELECT seq, request_id, org_id, at, key_id, code, status, method, path, ip, origin, \
             app_id, count, user_sub, required_scopes FROM auth_events WHERE org_id = ",
        );
        qb.push_bind(org_id.to_owned());
        if let Some(r) = &filter.request_id {
            qb.push(" AND request_id = ").push_bind(r.clone());
        }
        if let Some(k) = &filter.key_id {
            qb.push(" AND key_id = ").push_bind(k.clone());
        }
        if let Some(c) = &filter.code {
            qb.push(" AND code = ").push_bind(c.clone());
        }
        let rows = self.fetch_page(qb, page).await?;
        let items = rows
            .iter()
            .map(|r| {
                Ok((
                    get(r, "seq")?,
                    AuthEventRecord {
                        request_id: get(r, "request_id")?,
                        org_id: get(r, "org_id")?,
                        at: from_ms(get(r, "at")?)?,
                        key_id: get(r, "key_id")?,
                        code: get(r, "code")?,
                        status: u16::try_from(get::<i32>(r, "status")?).unwrap_or(0),
                        method: get(r, "method")?,
                        path: get(r, "path")?,
                        ip: get(r, "ip")?,
                        origin: get(r, "origin")?,
                        app_id: get(r, "app_id")?,
                        count: u64::try_from(get::<i64>(r, "count")?).unwrap_or(1),
                        user: get(r, "user_sub")?,
                        required_scopes: super::scopes_from_text(get(r, "required_scopes")?),
                    },
                ))
            })
            .collect::<StoreResult<Vec<_>>>()?;
        Ok(paged(items, page.limit, None))
    }

    async fn record_leak(&self, leak: &LeakRecord) -> StoreResult<LeakOutcome> {
        let at = ms(leak.at);
        let mut tx = self.begin().await?;
        let r = async {
            let new_sighting = sqlx::query(
                "INSERT INTO leak_sightings (key_id, org_id, at, source, actor_type, actor_id) \
                 SELECT id, org_id, $1, $2, $3, $4 FROM keys \
                 WHERE id = $5 AND org_id = $6 AND deleted_at IS NULL \
                 ON CONFLICT (key_id, source) DO NOTHING",
            )
            .bind(at)
            .bind(&leak.source)
            .bind(leak.actor.kind.as_str())
            .bind(&leak.actor.id)
            .bind(&leak.key_id)
            .bind(&leak.org_id)
            .execute(&mut *tx)
            .await
            .map_err(map_err)?
            .rows_affected()
                == 1;
            sqlx::query(
                "UPDATE keys SET leaked_at = $1, updated_at = $1, version = version + 1 \
                 WHERE id = $2 AND org_id = $3 AND deleted_at IS NULL AND leaked_at IS NULL",
            )
            .bind(at)
            .bind(&leak.key_id)
            .bind(&leak.org_id)
            .execute(&mut *tx)
            .await
            .map_err(map_err)?;
            if new_sighting {
                insert_audit(&mut tx, &leak.leaked).await?;
            }
            let disabled_now = leak.disable
                && change_audited(
                    &mut tx,
                    sqlx::query(
                        "UPDATE keys SET enabled = FALSE, updated_at = $1, version = version + 1 \
                         WHERE id = $2 AND org_id = $3 AND deleted_at IS NULL AND enabled",
                    )
                    .bind(at)
                    .bind(&leak.key_id)
                    .bind(&leak.org_id),
                    std::slice::from_ref(&leak.disabled),
                )
                .await?;
            let row = sqlx::query(concat!(
                "SELECT ",
                key_columns!(),
                " FROM keys WHERE id = $1 AND deleted_at IS NULL"
            ))
            .bind(&leak.key_id)
            .fetch_optional(&mut *tx)
            .await
            .map_err(map_err)?;
            Ok(LeakOutcome {
                key: row.as_ref().map(key_from_row).transpose()?,
                new_sighting,
                disabled_now,
            })
        }
        .await;
        self.end(tx, r, |_| true).await
    }

    async fn list_sightings(
        &self,
        key_id: &str,
        page: PageReq,
    ) -> StoreResult<Paged<SightingRecord>> {
        let mut qb = QueryBuilder::<Postgres>::new(
            "SELECT seq, at, source, actor_type, actor_id FROM leak_sightings WHERE key_id = ",
        );
        qb.push_bind(key_id.to_owned());
        let rows = self.fetch_page(qb, page).await?;
        let items = rows
            .iter()
            .map(|r| {
                Ok((
                    get(r, "seq")?,
                    SightingRecord {
                        at: from_ms(get(r, "at")?)?,
                        source: get(r, "source")?,
                        actor: actor_from_row(r, false)?,
                    },
                ))
            })
            .collect::<StoreResult<Vec<_>>>()?;
        Ok(paged(items, page.limit, None))
    }

    async fn scope_counts(
        &self,
        keys: &[String],
        from: DateTime<Utc>,
    ) -> StoreResult<Vec<ScopeCount>> {
        if keys.is_empty() {
            return Ok(Vec::new());
        }
        let rows = sqlx::query(
            "SELECT key_id, scope, SUM(requests)::BIGINT AS requests, \
             MAX(last_used_at) AS last_used_at FROM scope_usage \
             WHERE day >= $1 AND key_id = ANY($2) GROUP BY key_id, scope ORDER BY key_id, scope",
        )
        .bind(ms(from))
        .bind(keys)
        .fetch_all(&self.pool)
        .await
        .map_err(map_err)?;
        rows.iter()
            .map(|r| {
                Ok(ScopeCount {
                    key_id: get(r, "key_id")?,
                    scope: get(r, "scope")?,
                    requests: u64::try_from(get::<i64>(r, "requests")?).unwrap_or(0),
                    last_used_at: from_ms(get(r, "last_used_at")?)?,
                })
            })
            .collect()
    }

    async fn review_candidates(
        &self,
        org_id: &str,
        kind: FindingKind,
        policy: &ReviewPolicy,
        now: DateTime<Utc>,
        limit: u32,
    ) -> StoreResult<Vec<KeyRecord>> {
        // Each kind reads its own partial index (0001); ties are broken by `seq` the way
        // SQLite's index walks break them, NULLs placed as SQLite places them.
        let mut qb = QueryBuilder::<Postgres>::new(format!(
            "SELECT {KEY_COLUMNS} FROM keys WHERE org_id = "
        ));
        qb.push_bind(org_id.to_owned())
            .push(" AND deleted_at IS NULL");
        match kind {
            FindingKind::Leaked => {
                qb.push(" AND leaked_at IS NOT NULL AND enabled ORDER BY seq DESC");
            }
            FindingKind::NoOwner => {
                qb.push(" AND owner IS NULL ORDER BY seq DESC");
            }
            FindingKind::Stale => {
                let cut = ms(policy.stale_cutoff(now));
                qb.push(" AND (last_used_at IS NULL OR last_used_at < ")
                    .push_bind(cut)
                    .push(") AND created_at < ")
                    .push_bind(cut)
                    .push(" ORDER BY last_used_at ASC NULLS FIRST, seq");
            }
            FindingKind::RotationDue => {
                qb.push(" AND rotated_to IS NULL AND created_at < ")
                    .push_bind(ms(policy.rotation_cutoff(now)))
                    .push(" ORDER BY created_at, seq");
            }
            FindingKind::OverPrivileged => {
                let from = now - chrono::Duration::days(i64::from(OVER_PRIVILEGED_DAYS));
                qb.push(" AND last_used_at >= ")
                    .push_bind(ms(from))
                    .push(" ORDER BY last_used_at DESC, seq DESC");
            }
            FindingKind::Wildcard => {
                qb.push(
                    " AND (strpos(scopes, '\"*\"') > 0 OR strpos(scopes, ':*\"') > 0) \
                     ORDER BY seq DESC",
                );
            }
            FindingKind::NoExpiryTest => {
                qb.push(" AND env = 'test' AND expires_at IS NULL ORDER BY seq DESC");
            }
        }
        qb.push(" LIMIT ").push_bind(i64::from(limit));
        let rows = qb.build().fetch_all(&self.pool).await.map_err(map_err)?;
        rows.iter().map(key_from_row).collect()
    }

    async fn listen_changes(&self, wake: &tokio::sync::Notify) -> StoreResult<()> {
        // A connection of its own, outside the pool (it is held for good), named so it can
        // be found in pg_stat_activity.
        let opts = self
            .pool
            .connect_options()
            .as_ref()
            .clone()
            .application_name(LISTENER_APPLICATION);
        let pool = PgPoolOptions::new()
            .max_connections(1)
            .acquire_timeout(ACQUIRE_TIMEOUT)
            .connect_lazy_with(opts);
        let mut listener = PgListener::connect_with(&pool).await.map_err(map_err)?;
        listener.listen(CHANGE_CHANNEL).await.map_err(map_err)?;
        // Listening now: whatever committed before is found by one read.
        wake.notify_one();
        loop {
            match listener.try_recv().await.map_err(map_err)? {
                Some(_) => wake.notify_one(),
                // The connection was lost (the next call reconnects and listens again);
                // hints sent meanwhile are gone, so read what was missed.
                None => {
                    tracing::warn!("change listener: connection lost; reconnecting");
                    wake.notify_one();
                }
            }
        }
    }

    async fn changes_after(&self, after: i64, limit: u32) -> StoreResult<Vec<KeyChange>> {
        let rows = sqlx::query(
            "SELECT seq, org_id, key_id, old_hash, new_hash, version FROM key_changes \
             WHERE seq > $1 ORDER BY seq LIMIT $2",
        )
        .bind(after)
        .bind(i64::from(limit))
        .fetch_all(&self.pool)
        .await
        .map_err(map_err)?;
        let hash = |b: Vec<u8>| {
            <[u8; 32]>::try_from(b)
                .map(SecretHash)
                .map_err(|_| StoreError::Corrupt("secret hash length".to_owned()))
        };
        rows.iter()
            .map(|r| {
                let old: Option<Vec<u8>> = get(r, "old_hash")?;
                let mut hashes = Vec::with_capacity(2);
                for h in old.into_iter().chain([get::<Vec<u8>>(r, "new_hash")?]) {
                    hashes.push(hash(h)?);
                }
                Ok(KeyChange {
                    seq: get(r, "seq")?,
                    org_id: get(r, "org_id")?,
                    key_id: get(r, "key_id")?,
                    hashes,
                    version: get(r, "version")?,
                })
            })
            .collect()
    }

    async fn latest_change(&self, org_id: Option<&str>) -> StoreResult<i64> {
        let q = match org_id {
            Some(org) => sqlx::query(
                "SELECT COALESCE(MAX(seq), 0)::BIGINT AS n FROM key_changes WHERE org_id = $1",
            )
            .bind(org.to_owned()),
            None => sqlx::query("SELECT COALESCE(MAX(seq), 0)::BIGINT AS n FROM key_changes"),
        };
        let row = q.fetch_one(&self.pool).await.map_err(map_err)?;
        get(&row, "n")
    }

    async fn latest_key_change(&self, key_ids: &[&str]) -> StoreResult<i64> {
        let ids: Vec<String> = key_ids.iter().map(|s| (*s).to_owned()).collect();
        let row = sqlx::query(
            "SELECT COALESCE(MAX(seq), 0)::BIGINT AS n FROM key_changes WHERE key_id = ANY($1)",
        )
        .bind(ids)
        .fetch_one(&self.pool)
        .await
        .map_err(map_err)?;
        get(&row, "n")
    }

    async fn heartbeat(&self, instance: &InstanceRecord) -> StoreResult<()> {
        sqlx::query(
            "INSERT INTO instances (id, started_at, last_seen_at, applied_change) \
             VALUES ($1, $2, $3, $4) ON CONFLICT (id) DO UPDATE SET \
             last_seen_at = GREATEST(instances.last_seen_at, excluded.last_seen_at), \
             applied_change = GREATEST(instances.applied_change, excluded.applied_change)",
        )
        .bind(&instance.id)
        .bind(ms(instance.started_at))
        .bind(ms(instance.last_seen_at))
        .bind(instance.applied_change)
        .execute(&self.pool)
        .await
        .map(|_| ())
        .map_err(map_err)
    }

    async fn forget_instance(&self, id: &str) -> StoreResult<()> {
        sqlx::query("DELETE FROM instances WHERE id = $1")
            .bind(id)
            .execute(&self.pool)
            .await
            .map(|_| ())
            .map_err(map_err)
    }

    async fn list_instances(&self, since: DateTime<Utc>) -> StoreResult<Vec<InstanceRecord>> {
        let rows = sqlx::query(
            "SELECT id, started_at, last_seen_at, applied_change FROM instances \
             WHERE last_seen_at >= $1 ORDER BY started_at, id",
        )
        .bind(ms(since))
        .fetch_all(&self.pool)
        .await
        .map_err(map_err)?;
        rows.iter()
            .map(|r| {
                Ok(InstanceRecord {
                    id: get(r, "id")?,
                    started_at: from_ms(get(r, "started_at")?)?,
                    last_seen_at: from_ms(get(r, "last_seen_at")?)?,
                    applied_change: get(r, "applied_change")?,
                })
            })
            .collect()
    }

    async fn list_audit(
        &self,
        org_id: &str,
        filter: &AuditFilter,
        page: PageReq,
    ) -> StoreResult<Paged<NewAudit>> {
        let mut qb = QueryBuilder::<Postgres>::new(
            "SELECT seq, id, org_id, at, actor_type, actor_id, actor_name, action, key_id, changes \
             FROM audit WHERE org_id = ",
        );
        qb.push_bind(org_id.to_owned());
        if let Some(k) = &filter.key_id {
            qb.push(" AND key_id = ").push_bind(k.clone());
        }
        if let Some(a) = &filter.action {
            qb.push(" AND action = ").push_bind(a.clone());
        }
        if let Some(a) = &filter.actor {
            qb.push(" AND actor_type = ")
                .push_bind(a.kind.as_str())
                .push(" AND actor_id = ")
                .push_bind(a.id.clone());
        }
        // Newest first by time, then by insertion; a cursor is the last entry's seq, and
        // the page goes on below that entry's (at, seq) (entries are never deleted).
        if let Some(before) = page.before {
            qb.push(" AND (at, seq) < (SELECT at, seq FROM audit WHERE org_id = ")
                .push_bind(org_id.to_owned())
                .push(" AND seq = ")
                .push_bind(before)
                .push(")");
        }
        qb.push(" ORDER BY at DESC, seq DESC LIMIT ")
            .push_bind(i64::from(page.limit) + 1);
        let rows = qb.build().fetch_all(&self.pool).await.map_err(map_err)?;
        let items = rows
            .iter()
            .map(|r| {
                let changes: String = get(r, "changes")?;
                Ok((
                    get(r, "seq")?,
                    NewAudit {
                        id: get(r, "id")?,
                        org_id: get(r, "org_id")?,
                        at: from_ms(get(r, "at")?)?,
                        actor: actor_from_row(r, true)?,
                        action: get(r, "action")?,
                        key_id: get(r, "key_id")?,
                        changes: serde_json::from_str(&changes).map_err(corrupt)?,
                    },
                ))
            })
            .collect::<StoreResult<Vec<_>>>()?;
        Ok(paged(items, page.limit, None))
    }
}

impl PgStore {
    /// Insert denied decisions in order, then trim each org's events past retention (one
    /// instance at a time: a flush that cannot take [`TRIM_LOCK`] leaves it to the holder).
    async fn insert_events(
        &self,
        conn: &mut PgConnection,
        events: &[AuthEventRecord],
    ) -> StoreResult<()> {
        let mut orgs: Vec<&str> = Vec::new();
        for e in events {
            if !orgs.contains(&e.org_id.as_str()) {
                orgs.push(&e.org_id);
            }
        }
        let texts = |f: fn(&AuthEventRecord) -> &str| events.iter().map(f).collect::<Vec<_>>();
        let opts =
            |f: fn(&AuthEventRecord) -> Option<&str>| events.iter().map(f).collect::<Vec<_>>();
        sqlx::query(
            "INSERT INTO auth_events (request_id, org_id, at, key_id, code, status, method, path, \
             ip, origin, app_id, count, user_sub, required_scopes) \
             SELECT r, o, a, k, c, s, m, p, i, og, ap, n, u, rs FROM UNNEST($1::text[], \
             $2::text[], $3::bigint[], $4::text[], $5::text[], $6::int[], $7::text[], $8::text[], \
             $9::text[], $10::text[], $11::text[], $12::bigint[], $13::text[], $14::text[]) \
             WITH ORDINALITY AS e(r, o, a, k, c, s, m, p, i, og, ap, n, u, rs, ord) ORDER BY ord",
        )
        .bind(texts(|e| &e.request_id))
        .bind(texts(|e| &e.org_id))
        .bind(events.iter().map(|e| ms(e.at)).collect::<Vec<_>>())
        .bind(opts(|e| e.key_id.as_deref()))
        .bind(texts(|e| &e.code))
        .bind(
            events
                .iter()
                .map(|e| i32::from(e.status))
                .collect::<Vec<_>>(),
        )
        .bind(texts(|e| &e.method))
        .bind(texts(|e| &e.path))
        .bind(texts(|e| &e.ip))
        .bind(opts(|e| e.origin.as_deref()))
        .bind(opts(|e| e.app_id.as_deref()))
        .bind(events.iter().map(|e| count(e.count)).collect::<Vec<_>>())
        .bind(opts(|e| e.user.as_deref()))
        .bind(
            events
                .iter()
                .map(|e| super::scopes_text(&e.required_scopes))
                .collect::<Vec<_>>(),
        )
        .execute(&mut *conn)
        .await
        .map_err(map_err)?;
        let row = sqlx::query("SELECT pg_try_advisory_xact_lock($1) AS got")
            .bind(TRIM_LOCK)
            .fetch_one(&mut *conn)
            .await
            .map_err(map_err)?;
        if !get::<bool>(&row, "got")? {
            return Ok(());
        }
        for org in orgs {
            sqlx::query(
                "DELETE FROM auth_events WHERE org_id = $1 AND seq <= \
                 (SELECT seq FROM auth_events WHERE org_id = $1 ORDER BY seq DESC LIMIT 1 OFFSET $2)",
            )
            .bind(org)
            .bind(i64::from(self.retention.auth_events_per_org))
            .execute(&mut *conn)
            .await
            .map_err(map_err)?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pool_size_comes_from_the_url_and_is_not_passed_on() {
        assert_eq!(
            split_pool_options("postgres://u@h/db").expect("plain"),
            ("postgres://u@h/db".to_owned(), DEFAULT_MAX_CONNECTIONS)
        );
        assert_eq!(
            split_pool_options("postgres://u@h/db?max_connections=20&sslmode=disable")
                .expect("both"),
            ("postgres://u@h/db?sslmode=disable".to_owned(), 20)
        );
        assert!(split_pool_options("postgres://u@h/db?max_connections=0").is_err());
    }
}
