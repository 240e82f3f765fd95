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

use std::str::FromStr;
use std::time::Duration;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use sqlx::migrate::{Migration, MigrationType, Migrator};
use sqlx::sqlite::{
    SqliteConnectOptions, SqliteJournalMode, SqlitePool, SqlitePoolOptions, SqliteRow,
    SqliteSynchronous,
};
use sqlx::{QueryBuilder, Row, Sqlite};

use super::{
    AuditFilter, AuthEventFilter, AuthEventRecord, KeyFilter, KeyStore, NewAudit, PageReq, Paged,
    Retention, StoreError, StoreResult, TopKeyRow, UsageBatch,
};
use crate::api::{App, BucketSize, Org, UsageBucket};
use crate::domain::decision::is_owner_key;
use crate::domain::host_pattern::HostPattern;
use crate::domain::key::{Env, SecretHash};
use crate::domain::record::{KeyRecord, KeyStatus};
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
];

/// The SQLite store.
#[derive(Debug, Clone)]
pub struct SqliteStore {
    /// One connection: every write.
    writer: SqlitePool,
    /// Reads only (`query_only`): lookups, lists, usage.
    reader: SqlitePool,
    retention: Retention,
}

pub(crate) fn map_err(e: sqlx::Error) -> StoreError {
    match e {
        sqlx::Error::Database(db) => {
            if db.is_unique_violation() {
                return StoreError::Conflict(db.message().to_owned());
            }
            let code = db
                .code()
                .and_then(|c| c.parse::<i64>().ok())
                .map_or(0, |c| c & 0xff);
            match code {
                // SQLITE_BUSY, SQLITE_LOCKED, SQLITE_READONLY, SQLITE_IOERR, SQLITE_FULL, SQLITE_CANTOPEN
                5 | 6 | 8 | 10 | 13 | 14 => StoreError::Unavailable(db.message().to_owned()),
                _ => StoreError::Other(db.message().to_owned()),
            }
        }
        sqlx::Error::PoolTimedOut | sqlx::Error::PoolClosed | sqlx::Error::Io(_) => {
            StoreError::Unavailable(e.to_string())
        }
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
    let hash: Vec<u8> = get(row, "secret_hash")?;
    let hash: [u8; 32] = hash
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
        enabled: get::<i64>(row, "enabled")? != 0,
        secret_hash: SecretHash(hash),
        secret_hint: get(row, "secret_hint")?,
        created_at: from_ms(get(row, "created_at")?)?,
        updated_at: from_ms(get(row, "updated_at")?)?,
        expires_at: opt_ms(get(row, "expires_at")?)?,
        last_used_at: opt_ms(get(row, "last_used_at")?)?,
        rotated_from: get(row, "rotated_from")?,
        rotated_to: get(row, "rotated_to")?,
        version: get(row, "version")?,
    })
}

const KEY_COLUMNS: &str = "seq, id, org_id, name, env, app_id, scopes, allowed_domains, enabled, \
    secret_hash, secret_hint, created_at, updated_at, expires_at, last_used_at, rotated_from, \
    rotated_to, version";

fn json_list<T: ToString>(items: impl IntoIterator<Item = T>) -> String {
    let v: Vec<String> = items.into_iter().map(|x| x.to_string()).collect();
    serde_json::Value::from(v).to_string()
}

async fn insert_audit<'c>(tx: &mut sqlx::Transaction<'c, Sqlite>, a: &NewAudit) -> StoreResult<()> {
    sqlx::query(
        "INSERT INTO audit (id, org_id, at, actor_key_id, action, key_id, changes) \
         VALUES (?, ?, ?, ?, ?, ?, ?)",
    )
    .bind(&a.id)
    .bind(&a.org_id)
    .bind(ms(a.at))
    .bind(&a.actor_key_id)
    .bind(&a.action)
    .bind(&a.key_id)
    .bind(a.changes.to_string())
    .execute(&mut **tx)
    .await
    .map_err(map_err)?;
    Ok(())
}

async fn insert_key_row<'c>(
    tx: &mut sqlx::Transaction<'c, Sqlite>,
    k: &KeyRecord,
) -> StoreResult<()> {
    sqlx::query(
        "INSERT INTO keys (id, org_id, name, env, app_id, scopes, allowed_domains, enabled, \
         secret_hash, secret_hint, created_at, updated_at, expires_at, last_used_at, \
         rotated_from, rotated_to, version) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
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
    .execute(&mut **tx)
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
async fn was_owner<'c>(
    tx: &mut sqlx::Transaction<'c, Sqlite>,
    id: &str,
    now: DateTime<Utc>,
) -> StoreResult<bool> {
    let row = sqlx::query(concat!(
        "SELECT 1 FROM keys WHERE id = ? AND ",
        owner_key!()
    ))
    .bind(id)
    .bind(ms(now))
    .fetch_optional(&mut **tx)
    .await
    .map_err(map_err)?;
    Ok(row.is_some())
}

/// After the write: does `org_id` still have an owner key at `now`? If not, roll back and
/// refuse with [`StoreError::LastOwner`].
async fn keep_an_owner(
    mut tx: sqlx::Transaction<'static, Sqlite>,
    org_id: &str,
    now: DateTime<Utc>,
) -> StoreResult<sqlx::Transaction<'static, Sqlite>> {
    let left = sqlx::query(concat!(
        "SELECT 1 FROM keys WHERE org_id = ? AND ",
        owner_key!(),
        " LIMIT 1"
    ))
    .bind(org_id)
    .bind(ms(now))
    .fetch_optional(&mut *tx)
    .await
    .map_err(map_err)?;
    if left.is_some() {
        Ok(tx)
    } else {
        tx.rollback().await.map_err(map_err)?;
        Err(StoreError::LastOwner)
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

fn push_key_filter(qb: &mut QueryBuilder<Sqlite>, org_id: &str, f: &KeyFilter, now: DateTime<Utc>) {
    qb.push(" WHERE org_id = ")
        .push_bind(org_id)
        .push(" AND deleted_at IS NULL");
    if let Some(q) = &f.q {
        qb.push(" AND (instr(lower(name), lower(")
            .push_bind(q.as_str())
            .push(")) > 0 OR instr(id, ")
            .push_bind(q.as_str())
            .push(") > 0)");
    }
    if let Some(app) = &f.app_id {
        qb.push(" AND app_id = ").push_bind(app.as_str());
    }
    if let Some(env) = f.env {
        qb.push(" AND env = ").push_bind(env.as_str());
    }
    if let Some(status) = f.status {
        let now = ms(now);
        match status {
            KeyStatus::Disabled => {
                qb.push(" AND enabled = 0");
            }
            KeyStatus::Active => {
                qb.push(" AND enabled = 1 AND expires_at IS NULL");
            }
            KeyStatus::Expiring => {
                qb.push(" AND enabled = 1 AND expires_at > ").push_bind(now);
            }
            KeyStatus::Expired => {
                qb.push(" AND enabled = 1 AND expires_at <= ")
                    .push_bind(now);
            }
        }
    }
    if let Some(scope) = &f.scope {
        // Scopes are stored as a JSON array of strings: match the quoted forms that grant it.
        let resource = scope.split(':').next().unwrap_or(scope);
        qb.push(" AND (instr(scopes, '\"*\"') > 0 OR instr(scopes, ")
            .push_bind(format!("\"{resource}:*\""))
            .push(") > 0 OR instr(scopes, ")
            .push_bind(format!("\"{scope}\""))
            .push(") > 0)");
    }
    if let Some(t) = f.last_used_before {
        qb.push(" AND (last_used_at IS NULL OR last_used_at < ")
            .push_bind(ms(t))
            .push(")");
    }
    if let Some(t) = f.created_before {
        qb.push(" AND created_at < ").push_bind(ms(t));
    }
    if let Some(hint) = &f.hint {
        qb.push(" AND substr(secret_hint, -")
            .push_bind(i64::try_from(hint.len()).unwrap_or(4))
            .push(") = ")
            .push_bind(hint.as_str());
    }
}

impl SqliteStore {
    /// Open (creating if missing) and migrate.
    pub async fn open(url: &str, retention: Retention) -> StoreResult<SqliteStore> {
        let opts = SqliteConnectOptions::from_str(url)
            .map_err(|e| StoreError::Open(e.to_string()))?
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal)
            .synchronous(SqliteSynchronous::Normal)
            .busy_timeout(Duration::from_secs(5))
            .foreign_keys(true)
            .pragma("temp_store", "memory");
        // Migrations and every write go through this single connection.
        let writer = SqlitePoolOptions::new()
            .max_connections(1)
            .min_connections(1)
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
        // slipping onto this pool an error instead of a second writer.
        let reader = SqlitePoolOptions::new()
            .max_connections(8)
            .min_connections(1)
            .acquire_timeout(Duration::from_secs(10))
            .connect_with(opts.create_if_missing(false).pragma("query_only", "ON"))
            .await
            .map_err(|e| StoreError::Open(e.to_string()))?;
        Ok(SqliteStore {
            writer,
            reader,
            retention,
        })
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

    async fn begin(&self) -> StoreResult<sqlx::Transaction<'static, Sqlite>> {
        // The writer pool has one connection, so writes of this process are already serial;
        // IMMEDIATE still takes the file's write lock up front, so another process writing the
        // same file (`org create` next to `serve`) makes us wait on the busy timeout instead of
        // failing when a read lock cannot be upgraded.
        self.writer
            .begin_with("BEGIN IMMEDIATE")
            .await
            .map_err(map_err)
    }
}

#[async_trait]
impl KeyStore for SqliteStore {
    async fn ping(&self) -> StoreResult<()> {
        sqlx::query("SELECT 1")
            .execute(&self.reader)
            .await
            .map_err(map_err)?;
        Ok(())
    }

    async fn create_org(&self, org: &Org) -> StoreResult<()> {
        sqlx::query("INSERT INTO orgs (id, name, created_at) VALUES (?, ?, ?)")
            .bind(&org.id)
            .bind(&org.name)
            .bind(ms(org.created_at))
            .execute(&self.writer)
            .await
            .map_err(map_err)?;
        Ok(())
    }

    async fn create_org_with_owner(
        &self,
        org: &Org,
        key: &KeyRecord,
        audit: &NewAudit,
    ) -> StoreResult<()> {
        let mut tx = self.begin().await?;
        sqlx::query("INSERT INTO orgs (id, name, created_at) VALUES (?, ?, ?)")
            .bind(&org.id)
            .bind(&org.name)
            .bind(ms(org.created_at))
            .execute(&mut *tx)
            .await
            .map_err(map_err)?;
        insert_key_row(&mut tx, key).await?;
        insert_audit(&mut tx, audit).await?;
        tx.commit().await.map_err(map_err)
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
        sqlx::query("INSERT INTO apps (id, org_id, name, created_at) VALUES (?, ?, ?, ?)")
            .bind(&app.id)
            .bind(org_id)
            .bind(&app.name)
            .bind(ms(app.created_at))
            .execute(&mut *tx)
            .await
            .map_err(map_err)?;
        insert_audit(&mut tx, audit).await?;
        tx.commit().await.map_err(map_err)
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
        insert_key_row(&mut tx, key).await?;
        insert_audit(&mut tx, audit).await?;
        tx.commit().await.map_err(map_err)
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
        page: PageReq,
    ) -> StoreResult<Paged<KeyRecord>> {
        let mut qb = QueryBuilder::<Sqlite>::new(format!("SELECT {KEY_COLUMNS} FROM keys"));
        push_key_filter(&mut qb, org_id, filter, now);
        let rows = self.fetch_page(qb, page).await?;
        let items = rows
            .iter()
            .map(|r| Ok((get(r, "seq")?, key_from_row(r)?)))
            .collect::<StoreResult<Vec<_>>>()?;

        let mut count = QueryBuilder::<Sqlite>::new("SELECT COUNT(*) AS n FROM keys");
        push_key_filter(&mut count, org_id, filter, now);
        let total: i64 = count
            .build()
            .fetch_one(&self.reader)
            .await
            .map_err(map_err)?
            .try_get("n")
            .map_err(map_err)?;
        Ok(paged(
            items,
            page.limit,
            Some(u64::try_from(total).unwrap_or(0)),
        ))
    }

    async fn update_key(
        &self,
        key: &KeyRecord,
        expected_version: i64,
        audits: &[NewAudit],
    ) -> StoreResult<bool> {
        let now = key.updated_at;
        let mut tx = self.begin().await?;
        // Only a write that turns an owner key into something else can lock the org out.
        let guard = !is_owner_key(key, now) && was_owner(&mut tx, &key.id, now).await?;
        let done = sqlx::query(
            "UPDATE keys SET name = ?, scopes = ?, allowed_domains = ?, enabled = ?, \
             expires_at = ?, rotated_to = ?, updated_at = ?, version = ? \
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
        .bind(&key.id)
        .bind(&key.org_id)
        .bind(expected_version)
        .execute(&mut *tx)
        .await
        .map_err(map_err)?
        .rows_affected()
            == 1;
        if !done {
            return Ok(false);
        }
        if guard {
            tx = keep_an_owner(tx, &key.org_id, now).await?;
        }
        for a in audits {
            insert_audit(&mut tx, a).await?;
        }
        tx.commit().await.map_err(map_err)?;
        Ok(true)
    }

    async fn delete_key(&self, org_id: &str, id: &str, audit: &NewAudit) -> StoreResult<bool> {
        let now = audit.at;
        let mut tx = self.begin().await?;
        let guard = was_owner(&mut tx, id, now).await?;
        let done = sqlx::query(
            "UPDATE keys SET deleted_at = ?, version = version + 1 \
             WHERE org_id = ? AND id = ? AND deleted_at IS NULL",
        )
        .bind(ms(now))
        .bind(org_id)
        .bind(id)
        .execute(&mut *tx)
        .await
        .map_err(map_err)?
        .rows_affected()
            == 1;
        if !done {
            return Ok(false);
        }
        if guard {
            tx = keep_an_owner(tx, org_id, now).await?;
        }
        insert_audit(&mut tx, audit).await?;
        tx.commit().await.map_err(map_err)?;
        Ok(true)
    }

    async fn rotate_key(
        &self,
        old: &KeyRecord,
        expected_version: i64,
        new: &KeyRecord,
        audits: &[NewAudit],
    ) -> StoreResult<bool> {
        let mut tx = self.begin().await?;
        let done = sqlx::query(
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
        .bind(expected_version)
        .execute(&mut *tx)
        .await
        .map_err(map_err)?
        .rows_affected()
            == 1;
        if !done {
            return Ok(false);
        }
        insert_key_row(&mut tx, new).await?;
        for a in audits {
            insert_audit(&mut tx, a).await?;
        }
        tx.commit().await.map_err(map_err)?;
        Ok(true)
    }

    async fn set_secret(
        &self,
        key_id: &str,
        hash: &SecretHash,
        hint: &str,
        now: DateTime<Utc>,
    ) -> StoreResult<bool> {
        let mut tx = self.begin().await?;
        let done = sqlx::query(
            "UPDATE keys SET secret_hash = ?, secret_hint = ?, updated_at = ?, version = version + 1 \
             WHERE id = ? AND deleted_at IS NULL",
        )
        .bind(hash.0.to_vec())
        .bind(hint)
        .bind(ms(now))
        .bind(key_id)
        .execute(&mut *tx)
        .await
        .map_err(map_err)?
        .rows_affected()
            == 1;
        tx.commit().await.map_err(map_err)?;
        Ok(done)
    }

    async fn record_usage(&self, batch: &UsageBatch) -> StoreResult<()> {
        if batch.is_empty() {
            return Ok(());
        }
        let mut tx = self.begin().await?;
        for d in &batch.deltas {
            for bucket in [BucketSize::Minute, BucketSize::Hour, BucketSize::Day] {
                sqlx::query(
                    "INSERT INTO usage (key_id, org_id, bucket, start, ok, unauthorized, forbidden, rate_limited) \
                     VALUES (?, ?, ?, ?, ?, ?, ?, ?) \
                     ON CONFLICT (key_id, bucket, start) DO UPDATE SET \
                     ok = ok + excluded.ok, unauthorized = unauthorized + excluded.unauthorized, \
                     forbidden = forbidden + excluded.forbidden, rate_limited = rate_limited + excluded.rate_limited",
                )
                .bind(&d.key_id)
                .bind(&d.org_id)
                .bind(bucket.as_str())
                .bind(ms(bucket.floor(d.minute)))
                .bind(i64::try_from(d.ok).unwrap_or(i64::MAX))
                .bind(i64::try_from(d.unauthorized).unwrap_or(i64::MAX))
                .bind(i64::try_from(d.forbidden).unwrap_or(i64::MAX))
                .bind(i64::try_from(d.rate_limited).unwrap_or(i64::MAX))
                .execute(&mut *tx)
                .await
                .map_err(map_err)?;
            }
        }
        for (key_id, at) in &batch.last_used {
            sqlx::query(
                "UPDATE keys SET last_used_at = MAX(COALESCE(last_used_at, 0), ?) WHERE id = ?",
            )
            .bind(ms(*at))
            .bind(key_id)
            .execute(&mut *tx)
            .await
            .map_err(map_err)?;
        }
        let mut orgs: Vec<&str> = Vec::new();
        for e in &batch.events {
            sqlx::query(
                "INSERT INTO auth_events (request_id, org_id, at, key_id, code, status, method, path, ip, origin, app_id, count) \
                 VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
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
            .execute(&mut *tx)
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
            .execute(&mut *tx)
            .await
            .map_err(map_err)?;
        }
        tx.commit().await.map_err(map_err)
    }

    async fn add_buckets(
        &self,
        key_id: &str,
        org_id: &str,
        bucket: BucketSize,
        rows: &[UsageBucket],
    ) -> StoreResult<()> {
        let mut tx = self.begin().await?;
        for r in rows {
            sqlx::query(
                "INSERT INTO usage (key_id, org_id, bucket, start, ok, unauthorized, forbidden, rate_limited) \
                 VALUES (?, ?, ?, ?, ?, ?, ?, ?) \
                 ON CONFLICT (key_id, bucket, start) DO UPDATE SET \
                 ok = ok + excluded.ok, unauthorized = unauthorized + excluded.unauthorized, \
                 forbidden = forbidden + excluded.forbidden, rate_limited = rate_limited + excluded.rate_limited",
            )
            .bind(key_id)
            .bind(org_id)
            .bind(bucket.as_str())
            .bind(ms(bucket.floor(r.start)))
            .bind(i64::try_from(r.ok).unwrap_or(i64::MAX))
            .bind(i64::try_from(r.unauthorized).unwrap_or(i64::MAX))
            .bind(i64::try_from(r.forbidden).unwrap_or(i64::MAX))
            .bind(i64::try_from(r.rate_limited).unwrap_or(i64::MAX))
            .execute(&mut *tx)
            .await
            .map_err(map_err)?;
        }
        tx.commit().await.map_err(map_err)
    }

    async fn prune(&self, now: DateTime<Utc>) -> StoreResult<()> {
        let minute_cut = now - chrono::Duration::hours(i64::from(self.retention.minute_hours));
        let hour_cut = now - chrono::Duration::days(i64::from(self.retention.hour_days));
        sqlx::query("DELETE FROM usage WHERE bucket = 'minute' AND start < ?")
            .bind(ms(minute_cut))
            .execute(&self.writer)
            .await
            .map_err(map_err)?;
        sqlx::query("DELETE FROM usage WHERE bucket = 'hour' AND start < ?")
            .bind(ms(hour_cut))
            .execute(&self.writer)
            .await
            .map_err(map_err)?;
        Ok(())
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
             count FROM auth_events WHERE org_id = ",
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
                        count: u64::try_from(get::<i64>(r, "count")?).unwrap_or(1),
                    },
                ))
            })
            .collect::<StoreResult<Vec<_>>>()?;
        Ok(paged(items, page.limit, None))
    }

    async fn list_audit(
        &self,
        org_id: &str,
        filter: &AuditFilter,
        page: PageReq,
    ) -> StoreResult<Paged<NewAudit>> {
        let mut qb = QueryBuilder::<Sqlite>::new(
            "SELECT seq, id, org_id, at, actor_key_id, action, key_id, changes FROM audit WHERE org_id = ",
        );
        qb.push_bind(org_id);
        if let Some(k) = &filter.key_id {
            qb.push(" AND key_id = ").push_bind(k.as_str());
        }
        if let Some(a) = &filter.action {
            qb.push(" AND action = ").push_bind(a.as_str());
        }
        let rows = self.fetch_page(qb, page).await?;
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
                        actor_key_id: get(r, "actor_key_id")?,
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
}
