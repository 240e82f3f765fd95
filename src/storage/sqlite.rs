//! SQLite implementation of [`KeyStore`]: the embedded default.
//!
//! WAL journal, `synchronous=NORMAL`, a busy timeout, foreign keys on. Migrations from
//! `assets/migrations/sqlite` are compiled in and run on connect.
//!
//! Two pools on the same file: a writer pool of exactly one connection that every write goes
//! through (SQLite allows one writer at a time anyway, so writers queue here, in memory,
//! instead of holding connections while they wait on the file lock), and a reader pool for
//! everything else. Under WAL readers never wait for the writer, so a key lookup on the
//! verification path never queues behind a usage flush or an admin change.
//!
//! **Every write transaction ends.** A [`WriteTx`] commits or rolls back explicitly; when
//! that fails, or when it is dropped unfinished (an error path, a cancelled request), its
//! connection is closed instead of going back to the pool, so the next write starts on a
//! fresh connection outside any transaction. A full disk therefore fails the writes it hits
//! and nothing after the space returns.
//!
//! **File identity.** The database file's device and inode are taken at open and checked
//! before every write and by `ping` (`/readyz`): a deleted or replaced file refuses writes,
//! which would otherwise land in a file nobody reads again. Connections are never recycled
//! by age, so reads keep using the file that was opened.
//!
//! **Modes.** A database this store creates is created 0600 before SQLite opens it (SQLite
//! gives its `-wal` and `-shm` files the database file's mode). Its directory must exist.

use std::path::{Path, PathBuf};
use std::str::FromStr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use sqlx::migrate::{Migration, MigrationType, Migrator};
use sqlx::pool::PoolConnection;
use sqlx::sqlite::{
    SqliteConnectOptions, SqliteConnection, SqliteJournalMode, SqlitePool, SqlitePoolOptions,
    SqliteRow, SqliteSynchronous,
};
use sqlx::{QueryBuilder, Row, Sqlite};

mod lists;

use super::{
    AuditFilter, AuthEventFilter, AuthEventRecord, FEED_RETENTION_HOURS, IfMissing, InstanceRecord,
    KeyChange, KeyFilter, KeyPage, KeyPageReq, KeyStore, LeakOutcome, LeakRecord, NewAudit, Outage,
    PageReq, Paged, Retention, ScopeCount, SightingRecord, StoreError, StoreResult, TopKeyRow,
    UsageBatch, UsageDelta,
};
use crate::api::{Actor, ActorKind, App, BucketSize, Org, UsageBucket};
use crate::domain::decision::is_owner_key;
use crate::domain::host_pattern::HostPattern;
use crate::domain::key::{Env, SecretHash};
use crate::domain::record::KeyRecord;
use crate::domain::review::{FindingKind, OVER_PRIVILEGED_DAYS, ReviewPolicy};
use crate::domain::scope::ScopeSet;

const MIGRATIONS: &[(i64, &str, &str)] = &[
    (
        1,
        "init",
        include_str!("../../assets/migrations/sqlite/0001_init.sql"),
    ),
    (
        2,
        "event count, owner keys",
        include_str!("../../assets/migrations/sqlite/0002_event_count_owner_keys.sql"),
    ),
    (
        4,
        "write probe",
        include_str!("../../assets/migrations/sqlite/0004_write_probe.sql"),
    ),
    (
        5,
        "leaks, access review, audit actor",
        include_str!("../../assets/migrations/sqlite/0005_leaks_review.sql"),
    ),
    (
        6,
        "lists at scale: trigram search, list and sort indexes, cursor secret",
        include_str!("../../assets/migrations/sqlite/0006_lists.sql"),
    ),
    (
        7,
        "change feed, instances",
        include_str!("../../assets/migrations/sqlite/0007_feed.sql"),
    ),
    (
        8,
        "session auth events",
        include_str!("../../assets/migrations/sqlite/0008_session_events.sql"),
    ),
    (
        9,
        "auth event required scopes",
        include_str!("../../assets/migrations/sqlite/0009_event_required_scopes.sql"),
    ),
    (
        10,
        "audit in time order",
        include_str!("../../assets/migrations/sqlite/0010_audit_time_order.sql"),
    ),
    (
        11,
        "exact trigram search, bulk import",
        include_str!("../../assets/migrations/sqlite/0011_search_exact.sql"),
    ),
    (
        12,
        "covering list indexes",
        include_str!("../../assets/migrations/sqlite/0012_covering_lists.sql"),
    ),
    (
        13,
        "covering sort indexes",
        include_str!("../../assets/migrations/sqlite/0013_covering_sorts.sql"),
    ),
];

/// After a failed write, `ping` tries a small write at most this often.
const PROBE_EVERY: Duration = Duration::from_secs(1);

/// The SQLite store.
#[derive(Debug, Clone)]
pub struct SqliteStore {
    /// One connection: every write.
    writer: SqlitePool,
    /// Reads only (`query_only`): lookups, lists, usage.
    reader: SqlitePool,
    retention: Retention,
    health: Arc<WriteHealth>,
    /// Rows one list page examines at most ([`super::SCAN_BUDGET`]; tests lower it).
    scan_budget: u32,
}

/// Whether writes work: the database file's identity, and the last write failure.
#[derive(Debug)]
struct WriteHealth {
    /// The database file and its (device, inode) at open; `None` in memory.
    file: Option<(PathBuf, (u64, u64))>,
    failing: Mutex<Option<Failure>>,
}

#[derive(Debug, Clone)]
struct Failure {
    cause: Outage,
    detail: String,
    /// When a write last failed or was last tried.
    tried: Instant,
}

impl WriteHealth {
    fn state(&self) -> std::sync::MutexGuard<'_, Option<Failure>> {
        self.failing
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// The file this store opened is still the one at its path.
    fn check_file(&self) -> StoreResult<()> {
        let Some((path, (dev, ino))) = &self.file else {
            return Ok(());
        };
        let detail = match std::fs::metadata(path) {
            Ok(m) if identity(&m) == Some((*dev, *ino)) => return Ok(()),
            Ok(m) => {
                let (now_dev, now_ino) = identity(&m).unwrap_or_default();
                format!(
                    "the database file {} was replaced while the service was running \
                     (device {dev} inode {ino} when opened, now device {now_dev} inode {now_ino})",
                    path.display()
                )
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => format!(
                "the database file {} was deleted while the service was running",
                path.display()
            ),
            Err(e) => format!("cannot check the database file {}: {e}", path.display()),
        };
        Err(self.record(StoreError::unavailable(Outage::FileReplaced, detail)))
    }

    /// Remember an outage (logging when writes start failing, or fail for another reason)
    /// and hand the error back.
    fn record(&self, e: StoreError) -> StoreError {
        if let StoreError::Unavailable { cause, detail } = &e {
            let mut state = self.state();
            if state.as_ref().is_none_or(|f| f.cause != *cause) {
                let until = match cause {
                    Outage::FileReplaced => {
                        "until `keyconsole serve` is restarted on the right file; keys are \
                         still verified from the open database"
                    }
                    Outage::DiskFull => "until space is freed (no restart needed)",
                    _ => "until a write succeeds (no restart needed)",
                };
                tracing::error!(
                    cause = cause.as_str(),
                    "database writes refused: {detail}; writes answer 503 and /readyz 503 \
                     {until}; batched usage waits in memory"
                );
            }
            *state = Some(Failure {
                cause: *cause,
                detail: detail.clone(),
                tried: Instant::now(),
            });
        }
        e
    }

    /// A write committed.
    fn worked(&self) {
        if let Some(f) = self.state().take() {
            tracing::warn!(
                was = f.cause.as_str(),
                "database writes work again; /readyz answers 200"
            );
        }
    }

    /// The last failure, if writes have not worked since; `due` says whether a probe write
    /// may be tried now (and marks it tried).
    fn failure(&self) -> Option<(StoreError, bool)> {
        let mut state = self.state();
        let f = state.as_mut()?;
        let due = f.tried.elapsed() >= PROBE_EVERY;
        if due {
            f.tried = Instant::now();
        }
        Some((StoreError::unavailable(f.cause, f.detail.clone()), due))
    }
}

/// One write transaction on the writer connection (see the module docs): `end` or `commit`
/// finishes it; dropped unfinished, it closes its connection.
struct WriteTx<'s> {
    conn: PoolConnection<Sqlite>,
    open: bool,
    health: &'s WriteHealth,
}

impl WriteTx<'_> {
    fn conn(&mut self) -> &mut SqliteConnection {
        &mut self.conn
    }

    /// Commit when `r` is `Ok` and `keep` says so; otherwise roll back. Returns `r`, or the
    /// commit's error.
    async fn end<T>(mut self, r: StoreResult<T>, keep: impl FnOnce(&T) -> bool) -> StoreResult<T> {
        match r {
            Ok(v) if keep(&v) => self.commit().await.map(|()| v),
            Ok(v) => {
                self.rollback().await;
                Ok(v)
            }
            Err(e) => {
                self.rollback().await;
                Err(self.health.record(e))
            }
        }
    }

    async fn commit(&mut self) -> StoreResult<()> {
        // The file may have gone while this transaction waited for the lock.
        if let Err(e) = self.health.check_file() {
            self.rollback().await;
            return Err(e);
        }
        match sqlx::raw_sql("COMMIT").execute(self.conn()).await {
            Ok(_) => {
                self.open = false;
                self.health.worked();
                Ok(())
            }
            Err(e) => {
                // SQLite may or may not have rolled back already (a full disk does).
                self.rollback().await;
                Err(self.health.record(map_err(e)))
            }
        }
    }

    async fn rollback(&mut self) {
        if let Err(e) = sqlx::raw_sql("ROLLBACK").execute(self.conn()).await {
            tracing::debug!(error = %e, "rollback failed; closing the writer connection");
            self.conn.close_on_drop();
        }
        self.open = false;
    }
}

impl Drop for WriteTx<'_> {
    fn drop(&mut self) {
        if self.open {
            // Cancelled mid-transaction: closing the connection rolls it back, and the pool
            // opens a fresh one for the next write.
            self.conn.close_on_drop();
        }
    }
}

pub(crate) fn map_err(e: sqlx::Error) -> StoreError {
    match e {
        sqlx::Error::Database(db) => {
            if db.is_unique_violation() {
                return StoreError::Conflict(db.message().to_owned());
            }
            // The extended result code; its low byte is the primary code.
            let code = db.code().and_then(|c| c.parse::<i64>().ok()).unwrap_or(0);
            const SQLITE_READONLY_DBMOVED: i64 = 1032;
            let cause = match code & 0xff {
                13 => Outage::DiskFull,
                5 | 6 => Outage::Busy,
                8 if code == SQLITE_READONLY_DBMOVED => Outage::FileReplaced,
                8 => Outage::ReadOnly,
                10 => Outage::Io,
                14 => Outage::Unreachable,
                _ => return StoreError::Other(db.message().to_owned()),
            };
            StoreError::unavailable(cause, format!("{} (SQLite code {code})", db.message()))
        }
        sqlx::Error::PoolTimedOut
        | sqlx::Error::PoolClosed
        | sqlx::Error::WorkerCrashed
        | sqlx::Error::Io(_) => StoreError::unavailable(Outage::Unreachable, e.to_string()),
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

fn get<'r, T>(row: &'r SqliteRow, col: &str) -> StoreResult<T>
where
    T: sqlx::Decode<'r, Sqlite> + sqlx::Type<Sqlite>,
{
    row.try_get(col).map_err(map_err)
}

fn hash_from_blob(b: &[u8]) -> StoreResult<SecretHash> {
    b.try_into()
        .map(SecretHash)
        .map_err(|_| StoreError::Corrupt("secret hash length".to_owned()))
}

fn key_from_row(row: &SqliteRow) -> StoreResult<KeyRecord> {
    let scopes: String = get(row, "scopes")?;
    let scopes: Vec<String> =
        serde_json::from_str(&scopes).map_err(|e| StoreError::Corrupt(e.to_string()))?;
    let scopes = ScopeSet::parse(&scopes).map_err(|e| StoreError::Corrupt(e.to_string()))?;
    let domains: String = get(row, "allowed_domains")?;
    let domains: Vec<String> =
        serde_json::from_str(&domains).map_err(|e| StoreError::Corrupt(e.to_string()))?;
    let allowed_domains = domains
        .iter()
        .map(|d| HostPattern::parse(d).map_err(|e| StoreError::Corrupt(e.to_string())))
        .collect::<StoreResult<Vec<_>>>()?;
    let env: String = get(row, "env")?;
    let hash = hash_from_blob(&get::<Vec<u8>>(row, "secret_hash")?)?;
    Ok(KeyRecord {
        id: get(row, "id")?,
        org_id: get(row, "org_id")?,
        name: get(row, "name")?,
        env: Env::parse(&env).ok_or_else(|| StoreError::Corrupt(format!("env {env}")))?,
        app_id: get(row, "app_id")?,
        scopes,
        allowed_domains,
        enabled: get::<i64>(row, "enabled")? != 0,
        secret_hash: hash,
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

const KEY_COLUMNS: &str = "seq, id, org_id, name, env, app_id, scopes, allowed_domains, enabled, \
    secret_hash, secret_hint, created_at, updated_at, expires_at, last_used_at, rotated_from, \
    rotated_to, version, owner, description, leaked_at";

/// An actor from its stored columns; entries from before the actor columns were migrated
/// (0005) have them.
fn actor_from_row(row: &SqliteRow, with_name: bool) -> StoreResult<Actor> {
    let kind: Option<String> = get(row, "actor_type")?;
    let id: Option<String> = get(row, "actor_id")?;
    let name: Option<String> = if with_name {
        get(row, "actor_name")?
    } else {
        None
    };
    let kind = kind
        .as_deref()
        .and_then(ActorKind::parse)
        .ok_or_else(|| StoreError::Corrupt(format!("actor type {kind:?}")))?;
    Ok(Actor {
        kind,
        id: id.ok_or_else(|| StoreError::Corrupt("actor id missing".to_owned()))?,
        name,
    })
}

fn json_list<T: ToString>(items: impl IntoIterator<Item = T>) -> String {
    let v: Vec<String> = items.into_iter().map(|x| x.to_string()).collect();
    serde_json::Value::from(v).to_string()
}

async fn insert_audit(conn: &mut SqliteConnection, a: &NewAudit) -> StoreResult<()> {
    sqlx::query(
        "INSERT INTO audit (id, org_id, at, actor_key_id, actor_type, actor_id, actor_name, \
         action, key_id, changes) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
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

/// Run a statement meant to change one row; whether it did (a version that moved on, a key
/// already deleted or rotated, changes none).
async fn changed_one(
    conn: &mut SqliteConnection,
    q: sqlx::query::Query<'_, Sqlite, sqlx::sqlite::SqliteArguments>,
) -> StoreResult<bool> {
    Ok(q.execute(conn).await.map_err(map_err)?.rows_affected() == 1)
}

/// [`changed_one`], then, when it did, the audit entries.
async fn change_audited(
    conn: &mut SqliteConnection,
    q: sqlx::query::Query<'_, Sqlite, sqlx::sqlite::SqliteArguments>,
    audits: &[NewAudit],
) -> StoreResult<bool> {
    let done = changed_one(conn, q).await?;
    if done {
        insert_audits(conn, audits).await?;
    }
    Ok(done)
}

async fn insert_audits(conn: &mut SqliteConnection, audits: &[NewAudit]) -> StoreResult<()> {
    for a in audits {
        insert_audit(conn, a).await?;
    }
    Ok(())
}

async fn insert_key_row(conn: &mut SqliteConnection, k: &KeyRecord) -> StoreResult<()> {
    sqlx::query(
        "INSERT INTO keys (id, org_id, name, env, app_id, scopes, allowed_domains, enabled, \
         secret_hash, secret_hint, created_at, updated_at, expires_at, last_used_at, \
         rotated_from, rotated_to, version, owner, description, leaked_at) \
         VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
    )
    .bind(&k.id)
    .bind(&k.org_id)
    .bind(&k.name)
    .bind(k.env.as_str())
    .bind(&k.app_id)
    .bind(json_list(k.scopes.iter()))
    .bind(json_list(k.allowed_domains.iter()))
    .bind(i64::from(k.enabled))
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

/// An owner key at a time bound as the one parameter (`domain::decision::is_owner_key` in
/// SQL; the first terms are those of the partial index `keys_org_owner`). A macro so that
/// queries stay static strings.
macro_rules! owner_key {
    () => {
        "deleted_at IS NULL AND enabled = 1 AND app_id IS NULL \
         AND instr(scopes, '\"*\"') > 0 AND (expires_at IS NULL OR expires_at > ?)"
    };
}

/// The lock-out guard, inside the write transaction (the single writer connection and
/// `BEGIN IMMEDIATE` serialize it against every other write, in this process and others):
/// was key `id` an owner key at `now` before the write that follows?
async fn was_owner(conn: &mut SqliteConnection, id: &str, now: DateTime<Utc>) -> StoreResult<bool> {
    let row = sqlx::query(concat!(
        "SELECT 1 FROM keys WHERE id = ? AND ",
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
    conn: &mut SqliteConnection,
    org_id: &str,
    now: DateTime<Utc>,
) -> StoreResult<()> {
    let left = sqlx::query(concat!(
        "SELECT 1 FROM keys WHERE org_id = ? AND ",
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

async fn insert_org(conn: &mut SqliteConnection, org: &Org) -> StoreResult<()> {
    sqlx::query("INSERT INTO orgs (id, name, created_at) VALUES (?, ?, ?)")
        .bind(&org.id)
        .bind(&org.name)
        .bind(ms(org.created_at))
        .execute(conn)
        .await
        .map_err(map_err)?;
    Ok(())
}

/// Add counters to one usage row (minute, hour or day), creating it if needed.
/// Counter rows (`usage`) one `INSERT` adds at most (8 parameters each, far below SQLite's
/// limit of 32,766).
const USAGE_ROWS_PER_STATEMENT: usize = 500;

/// Add each delta's counts to its row of `bucket` (created at zero when missing). Rows for
/// the same key and bucket start in one statement are added one after the other.
async fn add_usage_rows(
    conn: &mut SqliteConnection,
    rows: &[(&UsageDelta, BucketSize)],
) -> StoreResult<()> {
    if rows.is_empty() {
        return Ok(());
    }
    let n = |v: u64| i64::try_from(v).unwrap_or(i64::MAX);
    let mut qb = QueryBuilder::<Sqlite>::new(
        "INSERT INTO usage (key_id, org_id, bucket, start, ok, unauthorized, forbidden, rate_limited) ",
    );
    qb.push_values(rows, |mut row, (d, bucket)| {
        row.push_bind(&d.key_id)
            .push_bind(&d.org_id)
            .push_bind(bucket.as_str())
            .push_bind(ms(bucket.floor(d.minute)))
            .push_bind(n(d.ok))
            .push_bind(n(d.unauthorized))
            .push_bind(n(d.forbidden))
            .push_bind(n(d.rate_limited));
    });
    qb.push(
        " ON CONFLICT (key_id, bucket, start) DO UPDATE SET \
         ok = ok + excluded.ok, unauthorized = unauthorized + excluded.unauthorized, \
         forbidden = forbidden + excluded.forbidden, rate_limited = rate_limited + excluded.rate_limited",
    );
    qb.build().execute(conn).await.map_err(map_err)?;
    Ok(())
}

/// A file's (device, inode).
#[cfg(unix)]
fn identity(m: &std::fs::Metadata) -> Option<(u64, u64)> {
    use std::os::unix::fs::MetadataExt;
    Some((m.dev(), m.ino()))
}

#[cfg(not(unix))]
fn identity(_m: &std::fs::Metadata) -> Option<(u64, u64)> {
    None
}

/// The database file of `opts`, `None` in memory.
fn db_file(url: &str, opts: &SqliteConnectOptions) -> Option<PathBuf> {
    let f = opts.get_filename();
    let name = f.to_string_lossy();
    if name.is_empty() || name == ":memory:" || url.contains("mode=memory") {
        None
    } else {
        Some(f.to_path_buf())
    }
}

/// Create a missing database file 0600. Its directory must exist: a mistyped path is an
/// error, not a new directory tree.
fn create_file(path: &Path) -> StoreResult<()> {
    #[cfg(unix)]
    use std::os::unix::fs::OpenOptionsExt;
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    options.mode(0o600);
    match options.open(path) {
        Ok(_) => Ok(()),
        // Someone else created it meanwhile: open theirs.
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => Ok(()),
        Err(e) => Err(StoreError::Open(format!(
            "cannot create {}: {e}",
            path.display()
        ))),
    }
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

fn bucket_from_row(row: &SqliteRow) -> StoreResult<UsageBucket> {
    let n = |c: &str| get::<i64>(row, c).map(|v| u64::try_from(v).unwrap_or(0));
    Ok(UsageBucket {
        start: from_ms(get(row, "start")?)?,
        ok: n("ok")?,
        unauthorized: n("unauthorized")?,
        forbidden: n("forbidden")?,
        rate_limited: n("rate_limited")?,
    })
}

fn app_from_row(row: &SqliteRow) -> StoreResult<App> {
    Ok(App {
        id: get(row, "id")?,
        name: get(row, "name")?,
        created_at: from_ms(get(row, "created_at")?)?,
    })
}

impl SqliteStore {
    /// Open and migrate. A missing database file is created (0600) only with
    /// [`IfMissing::Create`]; otherwise it is [`StoreError::Missing`].
    pub async fn open(
        url: &str,
        retention: Retention,
        if_missing: IfMissing,
    ) -> StoreResult<SqliteStore> {
        let opts = SqliteConnectOptions::from_str(url)
            .map_err(|e| StoreError::Open(e.to_string()))?
            .journal_mode(SqliteJournalMode::Wal)
            .synchronous(SqliteSynchronous::Normal)
            .busy_timeout(Duration::from_secs(5))
            .foreign_keys(true)
            .pragma("temp_store", "memory");
        let path = db_file(url, &opts);
        let opts = match &path {
            // SQLite never creates the file itself: we do, with our mode, or refuse.
            Some(p) => {
                if !p.exists() {
                    match if_missing {
                        IfMissing::Create => create_file(p)?,
                        IfMissing::Refuse => {
                            return Err(StoreError::Missing(p.display().to_string()));
                        }
                    }
                }
                opts.create_if_missing(false)
            }
            None => opts.create_if_missing(true),
        };
        let file = match &path {
            Some(p) => {
                let m = std::fs::metadata(p)
                    .map_err(|e| StoreError::Open(format!("cannot read {}: {e}", p.display())))?;
                warn_if_readable(p, &m);
                identity(&m).map(|id| (p.clone(), id))
            }
            None => None,
        };
        // Migrations and every write go through this single connection. Connections are
        // never recycled by age or idleness: a new one would open whatever file is at the
        // path now, and the file identity check must stay meaningful.
        let writer = SqlitePoolOptions::new()
            .max_connections(1)
            .min_connections(1)
            .max_lifetime(None)
            .idle_timeout(None)
            .acquire_timeout(Duration::from_secs(10))
            .connect_with(opts.clone())
            .await
            .map_err(|e| StoreError::Open(e.to_string()))?;
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
        Migrator::with_migrations(migrations)
            .run(&writer)
            .await
            .map_err(|e| StoreError::Open(format!("migration failed: {e}")))?;
        // Opened after the migrations, so readers see the schema; `query_only` makes a write
        // slipping onto this pool an error instead of a second writer. Every reader is opened
        // up front and kept: one opened lazily after the file was deleted would fail, and
        // cached-key requests that read the org would get 503 for no reason of their own.
        let reader = SqlitePoolOptions::new()
            .max_connections(8)
            .min_connections(8)
            .max_lifetime(None)
            .idle_timeout(None)
            .acquire_timeout(Duration::from_secs(10))
            .connect_with(opts.pragma("query_only", "ON"))
            .await
            .map_err(|e| StoreError::Open(e.to_string()))?;
        let store = SqliteStore {
            writer,
            reader,
            retention,
            scan_budget: super::SCAN_BUDGET,
            health: Arc::new(WriteHealth {
                file,
                failing: Mutex::new(None),
            }),
        };
        // The file may have been swapped while we opened it.
        store.health.check_file()?;
        Ok(store)
    }

    /// The writer pool (one connection; `db copy` writes through it).
    pub(crate) fn writer_pool(&self) -> &SqlitePool {
        &self.writer
    }

    /// The reader pool (`db copy` reads its snapshot here).
    pub(crate) fn reader_pool(&self) -> &SqlitePool {
        &self.reader
    }

    /// Close both pools (waits for connections to return).
    pub async fn close(&self) {
        self.reader.close().await;
        self.writer.close().await;
    }

    /// Finish a list query with the cursor bound, newest-first order and one extra row (to
    /// know whether a next page exists), and run it on the reader pool.
    async fn fetch_page(
        &self,
        mut qb: QueryBuilder<Sqlite>,
        page: PageReq,
    ) -> StoreResult<Vec<SqliteRow>> {
        if let Some(before) = page.before {
            qb.push(" AND seq < ").push_bind(before);
        }
        qb.push(" ORDER BY seq DESC LIMIT ")
            .push_bind(i64::from(page.limit) + 1);
        qb.build().fetch_all(&self.reader).await.map_err(map_err)
    }

    /// Start a write transaction, waiting for the writer connection.
    async fn begin(&self) -> StoreResult<WriteTx<'_>> {
        self.health.check_file()?;
        let conn = self
            .writer
            .acquire()
            .await
            .map_err(|e| self.health.record(map_err(e)))?;
        self.begin_on(conn).await
    }

    async fn begin_on(&self, conn: PoolConnection<Sqlite>) -> StoreResult<WriteTx<'_>> {
        // Open from before BEGIN: if this future is dropped while BEGIN waits for the lock,
        // the connection is closed rather than left to start a transaction nobody ends.
        let mut tx = WriteTx {
            conn,
            open: true,
            health: &self.health,
        };
        // The writer pool has one connection, so writes of this process are already serial;
        // IMMEDIATE still takes the file's write lock up front, so another process writing the
        // same file (`org create` next to `serve`) makes us wait on the busy timeout instead of
        // failing when a read lock cannot be upgraded. Plain SQL, not sqlx's transaction
        // object: this store alone decides how a transaction ends (see `WriteTx`).
        if let Err(e) = sqlx::raw_sql("BEGIN IMMEDIATE").execute(tx.conn()).await {
            let e = map_err(e);
            // A BEGIN refused for the lock started nothing: the connection is fine. After
            // any other failure it is closed (dropped still open).
            if e.outage() == Some(Outage::Busy) {
                tx.open = false;
            }
            return Err(self.health.record(e));
        }
        Ok(tx)
    }

    /// A one-row write that tells whether writes work again; it never waits behind a real
    /// write (that write finds out just as well).
    async fn probe_write(&self, failure: StoreError) -> StoreResult<()> {
        let Some(conn) = self.writer.try_acquire() else {
            return Err(failure);
        };
        let mut tx = self.begin_on(conn).await?;
        let now = chrono::Utc::now().timestamp_millis();
        let r = sqlx::query(
            "INSERT INTO write_probe (id, at) VALUES (1, ?) \
             ON CONFLICT (id) DO UPDATE SET at = excluded.at",
        )
        .bind(now)
        .execute(tx.conn())
        .await
        .map(|_| ())
        .map_err(map_err);
        tx.end(r, |_| true).await
    }
}

/// Database files hold org data, client addresses and secret hashes: say so when an existing
/// one is readable by others (files this store creates are 0600).
#[cfg(unix)]
fn warn_if_readable(path: &Path, m: &std::fs::Metadata) {
    use std::os::unix::fs::PermissionsExt;
    let mode = m.permissions().mode() & 0o777;
    if mode & 0o077 != 0 {
        tracing::warn!(
            file = %path.display(),
            mode = format!("{mode:o}"),
            "the database file is readable by other users; `chmod 600` it (and its -wal and -shm files)"
        );
    }
}

#[cfg(not(unix))]
fn warn_if_readable(_path: &Path, _m: &std::fs::Metadata) {}

#[async_trait]
impl KeyStore for SqliteStore {
    async fn ping(&self) -> StoreResult<()> {
        sqlx::query("SELECT 1")
            .execute(&self.reader)
            .await
            .map_err(map_err)?;
        self.health.check_file()?;
        match self.health.failure() {
            None => Ok(()),
            Some((failure, true)) => self.probe_write(failure).await,
            Some((failure, false)) => Err(failure),
        }
    }

    async fn create_org(&self, org: &Org) -> StoreResult<()> {
        let mut tx = self.begin().await?;
        let r = insert_org(tx.conn(), org).await;
        tx.end(r, |_| true).await
    }

    async fn create_org_with_owner(
        &self,
        org: &Org,
        key: &KeyRecord,
        audit: &NewAudit,
    ) -> StoreResult<()> {
        let mut tx = self.begin().await?;
        let r = async {
            insert_org(tx.conn(), org).await?;
            insert_key_row(tx.conn(), key).await?;
            insert_audit(tx.conn(), audit).await
        }
        .await;
        tx.end(r, |_| true).await
    }

    async fn get_org(&self, id: &str) -> StoreResult<Option<Org>> {
        let row = sqlx::query("SELECT id, name, created_at FROM orgs WHERE id = ?")
            .bind(id)
            .fetch_optional(&self.reader)
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
            sqlx::query("INSERT INTO apps (id, org_id, name, created_at) VALUES (?, ?, ?, ?)")
                .bind(&app.id)
                .bind(org_id)
                .bind(&app.name)
                .bind(ms(app.created_at))
                .execute(tx.conn())
                .await
                .map_err(map_err)?;
            insert_audit(tx.conn(), audit).await
        }
        .await;
        tx.end(r, |_| true).await
    }

    async fn app_org(&self, app_id: &str) -> StoreResult<Option<String>> {
        let row = sqlx::query("SELECT org_id FROM apps WHERE id = ?")
            .bind(app_id)
            .fetch_optional(&self.reader)
            .await
            .map_err(map_err)?;
        row.as_ref().map(|r| get(r, "org_id")).transpose()
    }

    async fn get_app(&self, org_id: &str, id: &str) -> StoreResult<Option<App>> {
        let row = sqlx::query("SELECT id, name, created_at FROM apps WHERE org_id = ? AND id = ?")
            .bind(org_id)
            .bind(id)
            .fetch_optional(&self.reader)
            .await
            .map_err(map_err)?;
        row.as_ref().map(app_from_row).transpose()
    }

    async fn list_apps(&self, org_id: &str, page: PageReq) -> StoreResult<Paged<App>> {
        let rows = sqlx::query(
            "SELECT seq, id, name, created_at FROM apps WHERE org_id = ? AND seq < ? \
             ORDER BY seq DESC LIMIT ?",
        )
        .bind(org_id)
        .bind(page.before.unwrap_or(i64::MAX))
        .bind(i64::from(page.limit) + 1)
        .fetch_all(&self.reader)
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
            insert_key_row(tx.conn(), key).await?;
            insert_audit(tx.conn(), audit).await
        }
        .await;
        tx.end(r, |_| true).await
    }

    async fn key_by_hash(&self, hash: &SecretHash) -> StoreResult<Option<KeyRecord>> {
        let row = sqlx::query("SELECT * FROM keys WHERE secret_hash = ? AND deleted_at IS NULL")
            .bind(hash.0.to_vec())
            .fetch_optional(&self.reader)
            .await
            .map_err(map_err)?;
        row.as_ref().map(key_from_row).transpose()
    }

    async fn key_by_id(&self, id: &str) -> StoreResult<Option<KeyRecord>> {
        let row = sqlx::query("SELECT * FROM keys WHERE id = ? AND deleted_at IS NULL")
            .bind(id)
            .fetch_optional(&self.reader)
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
        // The version check and the write are this one statement.
        let q = sqlx::query(
            "UPDATE keys SET name = ?, scopes = ?, allowed_domains = ?, enabled = ?, \
             expires_at = ?, rotated_to = ?, updated_at = ?, version = ?, owner = ?, \
             description = ? \
             WHERE id = ? AND org_id = ? AND version = ? AND deleted_at IS NULL",
        )
        .bind(&key.name)
        .bind(json_list(key.scopes.iter()))
        .bind(json_list(key.allowed_domains.iter()))
        .bind(i64::from(key.enabled))
        .bind(key.expires_at.map(ms))
        .bind(&key.rotated_to)
        .bind(ms(key.updated_at))
        .bind(key.version)
        .bind(&key.owner)
        .bind(&key.description)
        .bind(&key.id)
        .bind(&key.org_id)
        .bind(expected_version);
        let r = async {
            // Only a write that turns an owner key into something else can lock the org out.
            let guard = !is_owner_key(key, now) && was_owner(tx.conn(), &key.id, now).await?;
            let done = change_audited(tx.conn(), q, audits).await?;
            if done && guard {
                keep_an_owner(tx.conn(), &key.org_id, now).await?;
            }
            Ok(done)
        }
        .await;
        tx.end(r, |done| *done).await
    }

    async fn delete_key(&self, org_id: &str, id: &str, audit: &NewAudit) -> StoreResult<bool> {
        let now = audit.at;
        let mut tx = self.begin().await?;
        let q = sqlx::query(
            "UPDATE keys SET deleted_at = ?, version = version + 1 \
             WHERE org_id = ? AND id = ? AND deleted_at IS NULL",
        )
        .bind(ms(now))
        .bind(org_id)
        .bind(id);
        let r = async {
            let guard = was_owner(tx.conn(), id, now).await?;
            let done = change_audited(tx.conn(), q, std::slice::from_ref(audit)).await?;
            if done && guard {
                keep_an_owner(tx.conn(), org_id, now).await?;
            }
            Ok(done)
        }
        .await;
        tx.end(r, |done| *done).await
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
                "UPDATE keys SET rotated_to = ?, expires_at = ?, updated_at = ?, version = ? \
                 WHERE id = ? AND org_id = ? AND version = ? AND rotated_to IS NULL \
                 AND deleted_at IS NULL",
            )
            .bind(&old.rotated_to)
            .bind(old.expires_at.map(ms))
            .bind(ms(old.updated_at))
            .bind(old.version)
            .bind(&old.id)
            .bind(&old.org_id)
            .bind(expected_version);
            let done = changed_one(tx.conn(), q).await?;
            if done {
                insert_key_row(tx.conn(), new).await?;
                insert_audits(tx.conn(), audits).await?;
            }
            Ok(done)
        }
        .await;
        tx.end(r, |done| *done).await
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
            "UPDATE keys SET secret_hash = ?, secret_hint = ?, updated_at = ?, version = version + 1 \
             WHERE id = ? AND deleted_at IS NULL",
        )
        .bind(hash.0.to_vec())
        .bind(hint)
        .bind(ms(now))
        .bind(key_id);
        let r = changed_one(tx.conn(), q).await;
        tx.end(r, |done| *done).await
    }

    async fn record_usage(&self, batch: &UsageBatch) -> StoreResult<()> {
        if batch.is_empty() {
            return Ok(());
        }
        let mut tx = self.begin().await?;
        let r = async {
            // Many rows per statement: a batch of thousands of distinct keys is a few
            // statements, not five per key, so the one writer is free again quickly.
            let rows: Vec<(&UsageDelta, BucketSize)> = batch
                .deltas
                .iter()
                .flat_map(|d| {
                    [BucketSize::Minute, BucketSize::Hour, BucketSize::Day].map(|b| (d, b))
                })
                .collect();
            for chunk in rows.chunks(USAGE_ROWS_PER_STATEMENT) {
                add_usage_rows(tx.conn(), chunk).await?;
            }
            for chunk in batch.last_used.chunks(USAGE_ROWS_PER_STATEMENT) {
                let mut qb = QueryBuilder::<Sqlite>::new(
                    "UPDATE keys SET last_used_at = MAX(COALESCE(keys.last_used_at, 0), v.at) \
                     FROM (SELECT column1 AS id, MAX(column2) AS at FROM (",
                );
                qb.push_values(chunk, |mut row, (key_id, at)| {
                    row.push_bind(key_id).push_bind(ms(*at));
                });
                qb.push(") GROUP BY column1) AS v WHERE keys.id = v.id");
                qb.build()
                    .execute(tx.conn())
                    .await
                    .map_err(map_err)?;
            }
            for chunk in batch.scopes.chunks(USAGE_ROWS_PER_STATEMENT) {
                let mut qb = QueryBuilder::<Sqlite>::new(
                    "INSERT INTO scope_usage (key_id, org_id, day, scope, requests, last_used_at) ",
                );
                qb.push_values(chunk, |mut row, d| {
                    row.push_bind(&d.key_id)
                        .push_bind(&d.org_id)
                        .push_bind(ms(d.day))
                        .push_bind(&d.scope)
                        .push_bind(i64::try_from(d.requests).unwrap_or(i64::MAX))
                        .push_bind(ms(d.last_used_at));
                });
                // A (key, day, scope) twice in one statement is added to itself: SQLite
                // takes the rows of a VALUES list one at a time.
                qb.push(
                    " ON CONFLICT (key_id, day, scope) DO UPDATE SET \
                     requests = requests + excluded.requests, \
                     last_used_at = MAX(last_used_at, excluded.last_used_at)",
                );
                qb.build()
                    .execute(tx.conn())
                    .await
                    .map_err(map_err)?;
            }
            let mut orgs: Vec<&str> = Vec::new();
            for e in &batch.events {
                sqlx::query(
                    "INSERT INTO auth_events (request_id, org_id, at, key_id, code, status, method, path, ip, origin, app_id, count, user_sub, required_scopes) \
                     VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                )
                .bind(&e.request_id)
                .bind(&e.org_id)
                .bind(ms(e.at))
                .bind(&e.key_id)
                .bind(&e.code)
                .bind(i64::from(e.status))
                .bind(&e.method)
                .bind(&e.path)
                .bind(&e.ip)
                .bind(&e.origin)
                .bind(&e.app_id)
                .bind(i64::try_from(e.count).unwrap_or(i64::MAX))
                .bind(&e.user)
                .bind(super::scopes_text(&e.required_scopes))
                .execute(tx.conn())
                .await
                .map_err(map_err)?;
                if !orgs.contains(&e.org_id.as_str()) {
                    orgs.push(&e.org_id);
                }
            }
            for org in orgs {
                sqlx::query(
                    "DELETE FROM auth_events WHERE org_id = ?1 AND seq <= \
                     (SELECT seq FROM auth_events WHERE org_id = ?1 ORDER BY seq DESC LIMIT 1 OFFSET ?2)",
                )
                .bind(org)
                .bind(i64::from(self.retention.auth_events_per_org))
                .execute(tx.conn())
                .await
                .map_err(map_err)?;
            }
            Ok(())
        }
        .await;
        tx.end(r, |_| true).await
    }

    async fn add_buckets(
        &self,
        key_id: &str,
        org_id: &str,
        bucket: BucketSize,
        rows: &[UsageBucket],
    ) -> StoreResult<()> {
        let deltas: Vec<UsageDelta> = rows
            .iter()
            .map(|r| UsageDelta {
                key_id: key_id.to_owned(),
                org_id: org_id.to_owned(),
                minute: r.start,
                ok: r.ok,
                unauthorized: r.unauthorized,
                forbidden: r.forbidden,
                rate_limited: r.rate_limited,
            })
            .collect();
        let rows: Vec<(&UsageDelta, BucketSize)> = deltas.iter().map(|d| (d, bucket)).collect();
        let mut tx = self.begin().await?;
        let r = async {
            for chunk in rows.chunks(USAGE_ROWS_PER_STATEMENT) {
                add_usage_rows(tx.conn(), chunk).await?;
            }
            Ok(())
        }
        .await;
        tx.end(r, |_| true).await
    }

    async fn prune(&self, now: DateTime<Utc>) -> StoreResult<()> {
        let minute_cut = now - chrono::Duration::hours(i64::from(self.retention.minute_hours));
        let hour_cut = now - chrono::Duration::days(i64::from(self.retention.hour_days));
        let mut tx = self.begin().await?;
        let r = async {
            for (bucket, cut) in [("minute", minute_cut), ("hour", hour_cut)] {
                sqlx::query("DELETE FROM usage WHERE bucket = ? AND start < ?")
                    .bind(bucket)
                    .bind(ms(cut))
                    .execute(tx.conn())
                    .await
                    .map_err(map_err)?;
            }
            let feed_cut = ms(now - chrono::Duration::hours(FEED_RETENTION_HOURS));
            for sql in [
                "DELETE FROM key_changes WHERE at < ?",
                "DELETE FROM instances WHERE last_seen_at < ?",
            ] {
                sqlx::query(sql)
                    .bind(feed_cut)
                    .execute(tx.conn())
                    .await
                    .map_err(map_err)?;
            }
            Ok(())
        }
        .await;
        tx.end(r, |_| true).await
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
             WHERE key_id = ? AND bucket = ? AND start >= ? AND start < ? ORDER BY start",
        )
        .bind(key_id)
        .bind(bucket.as_str())
        .bind(ms(from))
        .bind(ms(to))
        .fetch_all(&self.reader)
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
            "SELECT start, SUM(ok) AS ok, SUM(unauthorized) AS unauthorized, \
             SUM(forbidden) AS forbidden, SUM(rate_limited) AS rate_limited FROM usage \
             WHERE org_id = ? AND bucket = ? AND start >= ? AND start < ? \
             GROUP BY start ORDER BY start",
        )
        .bind(org_id)
        .bind(bucket.as_str())
        .bind(ms(from))
        .bind(ms(to))
        .fetch_all(&self.reader)
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
            "SELECT u.key_id AS key_id, COALESCE(k.name, '') AS name, MIN(u.start) AS start, \
             SUM(u.ok) AS ok, SUM(u.unauthorized) AS unauthorized, SUM(u.forbidden) AS forbidden, \
             SUM(u.rate_limited) AS rate_limited, \
             SUM(u.ok + u.unauthorized + u.forbidden + u.rate_limited) AS total \
             FROM usage u LEFT JOIN keys k ON k.id = u.key_id \
             WHERE u.org_id = ? AND u.bucket = ? AND u.start >= ? AND u.start < ? \
             GROUP BY u.key_id ORDER BY total DESC, u.key_id LIMIT ?",
        )
        .bind(org_id)
        .bind(bucket.as_str())
        .bind(ms(from))
        .bind(ms(to))
        .bind(i64::from(limit))
        .fetch_all(&self.reader)
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
        let mut qb = QueryBuilder::<Sqlite>::new(
            "SELECT seq, request_id, org_id, at, key_id, code, status, method, path, ip, origin, app_id, \
             count, user_sub, required_scopes FROM auth_events WHERE org_id = ",
        );
        qb.push_bind(org_id);
        if let Some(r) = &filter.request_id {
            qb.push(" AND request_id = ").push_bind(r.as_str());
        }
        if let Some(k) = &filter.key_id {
            qb.push(" AND key_id = ").push_bind(k.as_str());
        }
        if let Some(c) = &filter.code {
            qb.push(" AND code = ").push_bind(c.as_str());
        }
        let rows = self.fetch_page(qb, page).await?;
        let items = rows
            .iter()
            .map(|r| {
                let status: i64 = get(r, "status")?;
                Ok((
                    get(r, "seq")?,
                    AuthEventRecord {
                        request_id: get(r, "request_id")?,
                        org_id: get(r, "org_id")?,
                        at: from_ms(get(r, "at")?)?,
                        key_id: get(r, "key_id")?,
                        code: get(r, "code")?,
                        status: u16::try_from(status).unwrap_or(0),
                        method: get(r, "method")?,
                        path: get(r, "path")?,
                        ip: get(r, "ip")?,
                        origin: get(r, "origin")?,
                        app_id: get(r, "app_id")?,
                        user: get(r, "user_sub")?,
                        required_scopes: super::scopes_from_text(get(r, "required_scopes")?),
                        count: u64::try_from(get::<i64>(r, "count")?).unwrap_or(1),
                    },
                ))
            })
            .collect::<StoreResult<Vec<_>>>()?;
        Ok(paged(items, page.limit, None))
    }

    async fn changes_after(&self, after: i64, limit: u32) -> StoreResult<Vec<KeyChange>> {
        let rows = sqlx::query(
            "SELECT seq, org_id, key_id, old_hash, new_hash, version FROM key_changes \
             WHERE seq > ? ORDER BY seq LIMIT ?",
        )
        .bind(after)
        .bind(i64::from(limit))
        .fetch_all(&self.reader)
        .await
        .map_err(map_err)?;
        rows.iter()
            .map(|r| {
                let old: Option<Vec<u8>> = get(r, "old_hash")?;
                let mut hashes = Vec::with_capacity(2);
                for h in old.into_iter().chain([get::<Vec<u8>>(r, "new_hash")?]) {
                    hashes.push(hash_from_blob(&h)?);
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
            Some(org) => {
                sqlx::query("SELECT COALESCE(MAX(seq), 0) AS n FROM key_changes WHERE org_id = ?")
                    .bind(org.to_owned())
            }
            None => sqlx::query("SELECT COALESCE(MAX(seq), 0) AS n FROM key_changes"),
        };
        let row = q.fetch_one(&self.reader).await.map_err(map_err)?;
        get(&row, "n")
    }

    async fn latest_key_change(&self, key_ids: &[&str]) -> StoreResult<i64> {
        if key_ids.is_empty() {
            return Ok(0);
        }
        let mut qb = QueryBuilder::<Sqlite>::new(
            "SELECT COALESCE(MAX(seq), 0) AS n FROM key_changes WHERE key_id IN (",
        );
        let mut ids = qb.separated(", ");
        for id in key_ids {
            ids.push_bind(*id);
        }
        qb.push(")");
        let row = qb.build().fetch_one(&self.reader).await.map_err(map_err)?;
        get(&row, "n")
    }

    async fn heartbeat(&self, instance: &InstanceRecord) -> StoreResult<()> {
        let mut tx = self.begin().await?;
        let r = sqlx::query(
            "INSERT INTO instances (id, started_at, last_seen_at, applied_change) \
             VALUES (?, ?, ?, ?) ON CONFLICT (id) DO UPDATE SET \
             last_seen_at = MAX(last_seen_at, excluded.last_seen_at), \
             applied_change = MAX(applied_change, excluded.applied_change)",
        )
        .bind(&instance.id)
        .bind(ms(instance.started_at))
        .bind(ms(instance.last_seen_at))
        .bind(instance.applied_change)
        .execute(tx.conn())
        .await
        .map(|_| ())
        .map_err(map_err);
        tx.end(r, |_| true).await
    }

    async fn forget_instance(&self, id: &str) -> StoreResult<()> {
        let mut tx = self.begin().await?;
        let r = sqlx::query("DELETE FROM instances WHERE id = ?")
            .bind(id)
            .execute(tx.conn())
            .await
            .map(|_| ())
            .map_err(map_err);
        tx.end(r, |_| true).await
    }

    async fn list_instances(&self, since: DateTime<Utc>) -> StoreResult<Vec<InstanceRecord>> {
        let rows = sqlx::query(
            "SELECT id, started_at, last_seen_at, applied_change FROM instances \
             WHERE last_seen_at >= ? ORDER BY started_at, id",
        )
        .bind(ms(since))
        .fetch_all(&self.reader)
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
        let mut qb = QueryBuilder::<Sqlite>::new(
            "SELECT seq, id, org_id, at, actor_type, actor_id, actor_name, action, key_id, changes \
             FROM audit WHERE org_id = ",
        );
        qb.push_bind(org_id);
        if let Some(k) = &filter.key_id {
            qb.push(" AND key_id = ").push_bind(k.as_str());
        }
        if let Some(a) = &filter.action {
            qb.push(" AND action = ").push_bind(a.as_str());
        }
        if let Some(a) = &filter.actor {
            qb.push(" AND actor_type = ")
                .push_bind(a.kind.as_str())
                .push(" AND actor_id = ")
                .push_bind(a.id.as_str());
        }
        // Newest first by time, then by insertion; a cursor is the last entry's seq, and
        // the page goes on below that entry's (at, seq) (entries are never deleted).
        if let Some(before) = page.before {
            qb.push(" AND (at, seq) < (SELECT at, seq FROM audit WHERE org_id = ")
                .push_bind(org_id)
                .push(" AND seq = ")
                .push_bind(before)
                .push(")");
        }
        qb.push(" ORDER BY at DESC, seq DESC LIMIT ")
            .push_bind(i64::from(page.limit) + 1);
        let rows = qb.build().fetch_all(&self.reader).await.map_err(map_err)?;
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
                        changes: serde_json::from_str(&changes)
                            .map_err(|e| StoreError::Corrupt(e.to_string()))?,
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
                 SELECT id, org_id, ?, ?, ?, ? FROM keys \
                 WHERE id = ? AND org_id = ? AND deleted_at IS NULL \
                 ON CONFLICT (key_id, source) DO NOTHING",
            )
            .bind(at)
            .bind(&leak.source)
            .bind(leak.actor.kind.as_str())
            .bind(&leak.actor.id)
            .bind(&leak.key_id)
            .bind(&leak.org_id)
            .execute(tx.conn())
            .await
            .map_err(map_err)?
            .rows_affected()
                == 1;
            // The first report sets `leaked_at`; a change of the key, so a new version.
            sqlx::query(
                "UPDATE keys SET leaked_at = ?1, updated_at = ?1, version = version + 1 \
                 WHERE id = ?2 AND org_id = ?3 AND deleted_at IS NULL AND leaked_at IS NULL",
            )
            .bind(at)
            .bind(&leak.key_id)
            .bind(&leak.org_id)
            .execute(tx.conn())
            .await
            .map_err(map_err)?;
            if new_sighting {
                insert_audit(tx.conn(), &leak.leaked).await?;
            }
            let disabled_now = leak.disable
                && change_audited(
                    tx.conn(),
                    sqlx::query(
                        "UPDATE keys SET enabled = 0, updated_at = ?1, version = version + 1 \
                         WHERE id = ?2 AND org_id = ?3 AND deleted_at IS NULL AND enabled = 1",
                    )
                    .bind(at)
                    .bind(&leak.key_id)
                    .bind(&leak.org_id),
                    std::slice::from_ref(&leak.disabled),
                )
                .await?;
            let row = sqlx::query("SELECT * FROM keys WHERE id = ? AND deleted_at IS NULL")
                .bind(&leak.key_id)
                .fetch_optional(tx.conn())
                .await
                .map_err(map_err)?;
            Ok(LeakOutcome {
                key: row.as_ref().map(key_from_row).transpose()?,
                new_sighting,
                disabled_now,
            })
        }
        .await;
        tx.end(r, |_| true).await
    }

    async fn list_sightings(
        &self,
        key_id: &str,
        page: PageReq,
    ) -> StoreResult<Paged<SightingRecord>> {
        let mut qb = QueryBuilder::<Sqlite>::new(
            "SELECT seq, at, source, actor_type, actor_id FROM leak_sightings WHERE key_id = ",
        );
        qb.push_bind(key_id);
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
        let mut out = Vec::new();
        for chunk in keys.chunks(500) {
            let mut qb = QueryBuilder::<Sqlite>::new(
                "SELECT key_id, scope, SUM(requests) AS requests, MAX(last_used_at) AS last_used_at \
                 FROM scope_usage WHERE day >= ",
            );
            qb.push_bind(ms(from)).push(" AND key_id IN (");
            let mut ids = qb.separated(", ");
            for k in chunk {
                ids.push_bind(k.as_str());
            }
            qb.push(") GROUP BY key_id, scope ORDER BY key_id, scope");
            let rows = qb.build().fetch_all(&self.reader).await.map_err(map_err)?;
            for r in &rows {
                out.push(ScopeCount {
                    key_id: get(r, "key_id")?,
                    scope: get(r, "scope")?,
                    requests: u64::try_from(get::<i64>(r, "requests")?).unwrap_or(0),
                    last_used_at: from_ms(get(r, "last_used_at")?)?,
                });
            }
        }
        Ok(out)
    }

    async fn review_candidates(
        &self,
        org_id: &str,
        kind: FindingKind,
        policy: &ReviewPolicy,
        now: DateTime<Utc>,
        limit: u32,
    ) -> StoreResult<Vec<KeyRecord>> {
        // Each kind walks its own partial index (0005) for at most `limit` rows; the usable
        // condition (enabled, unexpired) and the review rules are applied to what it found.
        let mut qb =
            QueryBuilder::<Sqlite>::new(format!("SELECT {KEY_COLUMNS} FROM keys WHERE org_id = "));
        qb.push_bind(org_id).push(" AND deleted_at IS NULL");
        match kind {
            FindingKind::Leaked => {
                qb.push(" AND leaked_at IS NOT NULL AND enabled = 1 ORDER BY seq DESC");
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
                    .push(" ORDER BY last_used_at, seq");
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
                    " AND (instr(scopes, '\"*\"') > 0 OR instr(scopes, ':*\"') > 0) \
                     ORDER BY seq DESC",
                );
            }
            FindingKind::NoExpiryTest => {
                qb.push(" AND env = 'test' AND expires_at IS NULL ORDER BY seq DESC");
            }
        }
        qb.push(" LIMIT ").push_bind(i64::from(limit));
        let rows = qb.build().fetch_all(&self.reader).await.map_err(map_err)?;
        rows.iter().map(key_from_row).collect()
    }
}
