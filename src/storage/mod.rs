//! Persistence behind one trait, [`KeyStore`], so the server does not care which database
//! it runs on. SQLite ([`sqlite::SqliteStore`]) is the embedded default; PostgreSQL
//! ([`postgres::PgStore`]) lets many instances share one database.
//!
//! The trait speaks in domain records and plain values: no SQL types leak out, times are
//! `DateTime<Utc>`, lists page by an opaque sequence number. Every mutation that the audit log
//! must record takes its audit entry and writes it in the same transaction.

pub mod copy;
pub mod postgres;
pub mod sqlite;
mod terms;

use async_trait::async_trait;
use chrono::{DateTime, Utc};

use crate::api::{Actor, App, BucketSize, Org, UsageBucket};
use crate::domain::key::{Env, SecretHash};
use crate::domain::record::{KeyRecord, KeyStatus};
use crate::domain::review::{FindingKind, ReviewPolicy};

/// Storage failures, typed so the server can answer 409/503 instead of 500.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The database cannot take the request now; retrying later may work. `cause` says why
    /// (every backend maps its own errors to an [`Outage`]), `detail` is the backend's own
    /// words, for logs only.
    #[error("database unavailable ({}): {detail}", cause.as_str())]
    Unavailable {
        /// Why.
        cause: Outage,
        /// The backend's message.
        detail: String,
    },
    /// A uniqueness or state conflict.
    #[error("conflict: {0}")]
    Conflict(String),
    /// The database URL or file cannot be used.
    #[error("cannot open database: {0}")]
    Open(String),
    /// The database does not exist and was not to be created (`serve` without `--create`).
    #[error("the database does not exist: {0}")]
    Missing(String),
    /// Stored data that does not parse (corruption or a manual edit).
    #[error("stored data is invalid: {0}")]
    Corrupt(String),
    /// The write would leave the organization without an owner key (enabled, unexpired,
    /// org-scoped, holding `*`; `domain::decision::is_owner_key`): refused, nothing written.
    #[error("the organization's last owner key cannot be disabled, deleted, expired or narrowed")]
    LastOwner,
    /// Any other database error.
    #[error("database error: {0}")]
    Other(String),
}

impl StoreError {
    /// A [`StoreError::Unavailable`].
    pub fn unavailable(cause: Outage, detail: impl Into<String>) -> StoreError {
        StoreError::Unavailable {
            cause,
            detail: detail.into(),
        }
    }

    /// The outage, when this is one.
    pub fn outage(&self) -> Option<Outage> {
        match self {
            StoreError::Unavailable { cause, .. } => Some(*cause),
            _ => None,
        }
    }
}

/// Why the database cannot take a request. Storage-agnostic: SQLite maps its result codes
/// here, PostgreSQL its SQLSTATEs and connection errors. Each cause has a caller-facing
/// [`message`](Outage::message) that says what is wrong without internals.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Outage {
    /// No connection to the database: it is down, the network is, the file cannot be opened,
    /// or the service is shutting down (SQLite `CANTOPEN`, a closed or timed-out pool;
    /// PostgreSQL connection errors, class 08, 57P0x).
    Unreachable,
    /// No space left where the database writes (SQLite `FULL`; PostgreSQL 53100 `disk_full`).
    DiskFull,
    /// The database refuses writes: a read-only file or filesystem (SQLite `READONLY`;
    /// PostgreSQL 25006 on a standby).
    ReadOnly,
    /// Another writer holds the lock longer than the busy timeout (SQLite `BUSY`/`LOCKED`;
    /// PostgreSQL 55P03 `lock_not_available`).
    Busy,
    /// The storage reported an I/O error (SQLite `IOERR`; PostgreSQL 58030 `io_error`).
    Io,
    /// The database file was deleted or replaced while the service had it open, so a write
    /// would land in a file nobody will read again (SQLite only).
    FileReplaced,
}

impl Outage {
    /// Short name for logs.
    pub fn as_str(self) -> &'static str {
        match self {
            Outage::Unreachable => "unreachable",
            Outage::DiskFull => "disk full",
            Outage::ReadOnly => "read-only",
            Outage::Busy => "busy",
            Outage::Io => "I/O error",
            Outage::FileReplaced => "file deleted or replaced",
        }
    }

    /// What a caller is told (a 503 `unavailable` message, and the `/readyz` reason).
    pub fn message(self) -> &'static str {
        match self {
            Outage::Unreachable => "The service cannot reach its database. Retry shortly.",
            Outage::DiskFull => {
                "The database's disk is full: changes cannot be saved until space is freed. \
                 Retry later."
            }
            Outage::ReadOnly => "The database is read-only: changes cannot be saved. Retry later.",
            Outage::Busy => "The database is locked by another writer. Retry shortly.",
            Outage::Io => {
                "The database's storage reported an I/O error: changes cannot be saved. \
                 Retry later."
            }
            Outage::FileReplaced => {
                "The database file was deleted or replaced while the service was running: \
                 changes are refused until the service is restarted on the right file."
            }
        }
    }
}

/// Whether [`open`] may create a missing database.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum IfMissing {
    /// Create it (SQLite: the file, mode 0600, in an existing directory): `org create`, the
    /// embedded console, `serve --create`.
    Create,
    /// Refuse with [`StoreError::Missing`]: `serve`, so a lost data directory is an error,
    /// not a fresh empty deployment.
    Refuse,
}

/// Result alias.
pub type StoreResult<T> = Result<T, StoreError>;

/// A page request: at most `limit` items with sequence below `before`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PageReq {
    /// 1-500.
    pub limit: u32,
    /// Exclusive upper bound on the sequence (from a cursor).
    pub before: Option<i64>,
}

/// A page of results and the sequence to continue from.
#[derive(Debug, Clone, PartialEq)]
pub struct Paged<T> {
    /// The items, newest first.
    pub items: Vec<T>,
    /// `Some(seq)` when more items exist below it.
    pub next: Option<i64>,
    /// Items matching the filter in all pages, when the store counted them.
    pub total: Option<u64>,
}

/// Filters of `GET /v1/keys`. Every filter is exact: the store may bound how many keys one
/// page examines ([`SCAN_BUDGET`]), never what matches.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct KeyFilter {
    /// Keys whose name or id contains this, ASCII letters compared without case (other
    /// characters exactly): SQL `instr(lower(name), lower(q)) > 0 OR instr(lower(id),
    /// lower(q)) > 0` with SQLite's ASCII-only `lower`.
    pub q: Option<String>,
    /// Derived status.
    pub status: Option<KeyStatus>,
    /// App binding.
    pub app_id: Option<String>,
    /// Environment.
    pub env: Option<Env>,
    /// Owner, exact, ASCII letters compared without case (SQLite `COLLATE NOCASE`).
    pub owner: Option<String>,
    /// Keys whose scopes grant this exact `resource:action` (or `resource:*`, `*`).
    pub scope: Option<String>,
    /// Secret hint suffix.
    pub hint: Option<String>,
    /// Never used, or last used before this time.
    pub last_used_before: Option<DateTime<Utc>>,
    /// Created before this time.
    pub created_before: Option<DateTime<Utc>>,
}

/// Most keys `GET /v1/keys` counts: a larger `total` is reported as this cap with
/// [`KeyTotal::lower_bound`] set.
pub const TOTAL_CAP: u64 = 10_000;

/// Most keys one page (and one count) of `GET /v1/keys` examines when a filter has no index
/// that yields only matching keys in the requested order (a second filter, `scope`, `hint`,
/// `last_used_before`, `created_before`, a `q` shorter than 3 characters, or a filter with a
/// `sort` other than by creation). Such a page may hold fewer than `limit` keys while its
/// `next` is set; its total counts matches among the keys examined.
pub const SCAN_BUDGET: u32 = 10_000;

/// What `GET /v1/keys` orders by (API.md §5 `sort=`). Ties are broken by `seq` in the same
/// direction, so every order is total and a position is a (value, seq) pair.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum KeySortField {
    /// Creation order: `seq` alone (assigned at insert, so it is the creation order).
    #[default]
    Created,
    /// The name, ASCII letters compared without case, bytewise otherwise (SQLite
    /// `COLLATE NOCASE`; PostgreSQL `translate(name, 'A..Z', 'a..z') COLLATE "C"`).
    Name,
    /// `last_used_at`; never-used keys count as the oldest (first ascending).
    LastUsed,
    /// `expires_at`; keys that never expire count as the latest (last ascending).
    Expires,
}

/// A sort: the field and its direction.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct KeySort {
    /// What.
    pub field: KeySortField,
    /// Largest first.
    pub descending: bool,
}

impl Default for KeySort {
    /// `-created`: newest first.
    fn default() -> Self {
        KeySort {
            field: KeySortField::Created,
            descending: true,
        }
    }
}

impl KeySort {
    /// From the wire: `created`, `-created`, `name`, `-name`, `last_used`, `-last_used`,
    /// `expires`, `-expires` (`crate::api::KEY_SORTS`).
    pub fn parse(s: &str) -> Option<KeySort> {
        let (descending, name) = match s.strip_prefix('-') {
            Some(rest) => (true, rest),
            None => (false, s),
        };
        let field = match name {
            "created" => KeySortField::Created,
            "name" => KeySortField::Name,
            "last_used" => KeySortField::LastUsed,
            "expires" => KeySortField::Expires,
            _ => return None,
        };
        Some(KeySort { field, descending })
    }

    /// The wire form.
    pub fn as_str(self) -> &'static str {
        match (self.field, self.descending) {
            (KeySortField::Created, false) => "created",
            (KeySortField::Created, true) => "-created",
            (KeySortField::Name, false) => "name",
            (KeySortField::Name, true) => "-name",
            (KeySortField::LastUsed, false) => "last_used",
            (KeySortField::LastUsed, true) => "-last_used",
            (KeySortField::Expires, false) => "expires",
            (KeySortField::Expires, true) => "-expires",
        }
    }
}

/// A position in a key list under some sort: the sort value of the last key examined and
/// its `seq`. The next page starts strictly after it in the sort's direction.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum SortValue {
    /// [`KeySortField::Created`]: the position is the `seq` alone.
    Created,
    /// [`KeySortField::Name`]: the name.
    Name(String),
    /// [`KeySortField::LastUsed`] and [`KeySortField::Expires`]: the time in Unix
    /// milliseconds, `None` for never (used / expiring).
    Time(Option<i64>),
}

/// Where a page of keys continues: after (`value`, `seq`) in the order of `sort`.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct KeyPos {
    /// The sort the position belongs to (a cursor of another sort is refused).
    pub sort: KeySort,
    /// The sort value.
    pub value: SortValue,
    /// The tie-breaker.
    pub seq: i64,
}

/// A page request of `GET /v1/keys`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeyPageReq {
    /// 1-500.
    pub limit: u32,
    /// The order.
    pub sort: KeySort,
    /// Continue after this position (from a cursor); its `sort` equals `sort`.
    pub after: Option<KeyPos>,
}

/// How many keys match a filter, counted without scanning.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct KeyTotal {
    /// Exact when `lower_bound` is false; otherwise at least this many match
    /// ([`TOTAL_CAP`] reached, or [`SCAN_BUDGET`] keys examined).
    pub count: u64,
    /// `count` is a lower bound.
    pub lower_bound: bool,
}

/// A page of keys.
#[derive(Debug, Clone, PartialEq)]
pub struct KeyPage {
    /// The keys, in the requested order.
    pub items: Vec<KeyRecord>,
    /// `Some` when more keys may follow (a page cut by [`SCAN_BUDGET`] may be short, or
    /// even empty, and still have a next position).
    pub next: Option<KeyPos>,
    /// Matching keys across all pages.
    pub total: KeyTotal,
}

/// An audit entry to append.
#[derive(Debug, Clone, PartialEq)]
pub struct NewAudit {
    /// `aud_…`
    pub id: String,
    /// The org.
    pub org_id: String,
    /// When.
    pub at: DateTime<Utc>,
    /// Who or what: a key, a user, or the system (`org create`, `github-secret-scanning`, …).
    pub actor: Actor,
    /// e.g. `key.created`.
    pub action: String,
    /// The key concerned.
    pub key_id: Option<String>,
    /// What changed.
    pub changes: serde_json::Value,
}

/// Filters of `GET /v1/audit`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AuditFilter {
    /// Only this key.
    pub key_id: Option<String>,
    /// Only this action.
    pub action: Option<String>,
    /// Only this actor (type and id; the name is not compared).
    pub actor: Option<Actor>,
}

/// A denied decision to store.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuthEventRecord {
    /// Request id.
    pub request_id: String,
    /// The org the key belongs to.
    pub org_id: String,
    /// When.
    pub at: DateTime<Utc>,
    /// The key, when known.
    pub key_id: Option<String>,
    /// Error code.
    pub code: String,
    /// HTTP status.
    pub status: u16,
    /// Method.
    pub method: String,
    /// Path (secret-shaped segments redacted).
    pub path: String,
    /// Client address.
    pub ip: String,
    /// Origin header.
    pub origin: Option<String>,
    /// x-app-id header.
    pub app_id: Option<String>,
    /// A session's user (`sub`), when the token's signature was valid (API.md §8).
    pub user: Option<String>,
    /// For `insufficient_scope`: the scopes the request needed (empty otherwise).
    pub required_scopes: Vec<String>,
    /// How many denied requests this event stands for: 1, or more for the aggregate of one
    /// (org, code, client address) minute's excess (`server::events`).
    pub count: u64,
}

/// An auth event's required scopes as stored: space-separated, `NULL` when there are none.
pub(crate) fn scopes_text(scopes: &[String]) -> Option<String> {
    (!scopes.is_empty()).then(|| scopes.join(" "))
}

/// [`scopes_text`] read back.
pub(crate) fn scopes_from_text(text: Option<String>) -> Vec<String> {
    text.map(|t| t.split_whitespace().map(str::to_owned).collect())
        .unwrap_or_default()
}

/// Filters of `GET /v1/auth-events`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AuthEventFilter {
    /// Exact request id.
    pub request_id: Option<String>,
    /// Only this key.
    pub key_id: Option<String>,
    /// Only this code.
    pub code: Option<String>,
}

/// Counters for one key in one minute, to add.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UsageDelta {
    /// The key.
    pub key_id: String,
    /// Its org.
    pub org_id: String,
    /// Start of the minute.
    pub minute: DateTime<Utc>,
    /// Allowed.
    pub ok: u64,
    /// 401.
    pub unauthorized: u64,
    /// 403.
    pub forbidden: u64,
    /// 429.
    pub rate_limited: u64,
}

/// Requests of one key that needed one scope on one UTC day, to add.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ScopeDelta {
    /// The key.
    pub key_id: String,
    /// Its org.
    pub org_id: String,
    /// Start of the UTC day.
    pub day: DateTime<Utc>,
    /// The required scope.
    pub scope: String,
    /// Allowed requests that needed it.
    pub requests: u64,
    /// The latest of them.
    pub last_used_at: DateTime<Utc>,
}

/// One flush of batched writes.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct UsageBatch {
    /// Counter increments (rolled into minute, hour and day rows).
    pub deltas: Vec<UsageDelta>,
    /// Latest use per key.
    pub last_used: Vec<(String, DateTime<Utc>)>,
    /// Denied decisions.
    pub events: Vec<AuthEventRecord>,
    /// Required scopes exercised by allowed requests.
    pub scopes: Vec<ScopeDelta>,
}

impl UsageBatch {
    /// Whether there is nothing to write.
    pub fn is_empty(&self) -> bool {
        self.deltas.is_empty()
            && self.last_used.is_empty()
            && self.events.is_empty()
            && self.scopes.is_empty()
    }
}

/// A scope's requests summed over a window (`GET /v1/keys/{id}/scope-usage`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ScopeCount {
    /// The key.
    pub key_id: String,
    /// The required scope.
    pub scope: String,
    /// Allowed requests that needed it.
    pub requests: u64,
    /// The latest of them.
    pub last_used_at: DateTime<Utc>,
}

/// A leak to record for one key (`POST /v1/leaks`, GitHub secret scanning): a sighting, the
/// first `leaked_at`, and, with `disable`, the key turned off. Audit entries are written only
/// for what changed: `leaked` for a new sighting, `disabled` when the key was enabled.
#[derive(Debug, Clone, PartialEq)]
pub struct LeakRecord {
    /// The key.
    pub key_id: String,
    /// Its org.
    pub org_id: String,
    /// When.
    pub at: DateTime<Utc>,
    /// Where it was seen.
    pub source: String,
    /// Who reported it.
    pub actor: Actor,
    /// Whether to disable the key.
    pub disable: bool,
    /// `key.leaked`, written when this (key, source) sighting is new.
    pub leaked: NewAudit,
    /// `key.disabled`, written when the key is disabled now.
    pub disabled: NewAudit,
}

/// What [`KeyStore::record_leak`] did.
#[derive(Debug, Clone, PartialEq)]
pub struct LeakOutcome {
    /// The key as it is now; `None` when it was deleted meanwhile.
    pub key: Option<KeyRecord>,
    /// Whether this (key, source) sighting is new.
    pub new_sighting: bool,
    /// Whether the key was disabled now.
    pub disabled_now: bool,
}

/// Where and when a key was seen leaking.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SightingRecord {
    /// When first reported there.
    pub at: DateTime<Utc>,
    /// Where.
    pub source: String,
    /// Who reported it.
    pub actor: Actor,
}

/// Most keys one kind of review finding examines (`KeyStore::review_candidates`).
pub const REVIEW_SCAN_LIMIT: u32 = 10_000;

/// A busy key in a range.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TopKeyRow {
    /// The key.
    pub key_id: String,
    /// Its name.
    pub name: String,
    /// Counters summed over the range (`start` is the range start).
    pub counts: UsageBucket,
}

/// Retention settings.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Retention {
    /// Newest auth events kept per org.
    pub auth_events_per_org: u32,
    /// Minute buckets kept this many hours.
    pub minute_hours: u32,
    /// Hour buckets kept this many days.
    pub hour_days: u32,
}

impl Default for Retention {
    fn default() -> Self {
        Retention {
            auth_events_per_org: 100_000,
            minute_hours: 48,
            hour_days: 90,
        }
    }
}

/// One row of the change feed: a change of a key that can alter a decision (API.md §7).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeyChange {
    /// The change's number, increasing in commit order.
    pub seq: i64,
    /// The key's org.
    pub org_id: String,
    /// The key.
    pub key_id: String,
    /// The secret hashes whose cached entries it makes stale.
    pub hashes: Vec<SecretHash>,
    /// The key's version after the change: a cached copy at this version or later holds
    /// it already (`i64::MAX` when the change took no new version, e.g. a row removed by
    /// hand: every copy is stale).
    pub version: i64,
}

/// A running `serve` process, as its heartbeat recorded it (`GET /v1/instances`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InstanceRecord {
    /// `ins_…`
    pub id: String,
    /// When it started.
    pub started_at: DateTime<Utc>,
    /// Its last heartbeat.
    pub last_seen_at: DateTime<Utc>,
    /// The last change it has applied.
    pub applied_change: i64,
}

/// How long change rows and silent instances are kept (`KeyStore::prune`). An instance
/// further behind than this cannot tell what it missed, so it forgets its whole cache.
pub const FEED_RETENTION_HOURS: i64 = 24;

/// Everything the service persists.
#[async_trait]
pub trait KeyStore: Send + Sync + 'static {
    /// Check the database answers and takes writes (for `/readyz`): the reason when it
    /// does not. Cheap while writes work; after a failed write it may try a small write to
    /// find out whether they work again.
    async fn ping(&self) -> StoreResult<()>;

    /// Create an org.
    async fn create_org(&self, org: &Org) -> StoreResult<()>;
    /// Create an org and its owner key (with the key's audit entry) in one transaction:
    /// either both exist afterwards or neither does.
    async fn create_org_with_owner(
        &self,
        org: &Org,
        key: &KeyRecord,
        audit: &NewAudit,
    ) -> StoreResult<()>;
    /// An org by id.
    async fn get_org(&self, id: &str) -> StoreResult<Option<Org>>;

    /// Create an app, with its audit entry.
    async fn create_app(&self, org_id: &str, app: &App, audit: &NewAudit) -> StoreResult<()>;
    /// The org an app belongs to, `None` for an unknown app. Apps are never deleted, so a
    /// found answer may be cached forever.
    async fn app_org(&self, app_id: &str) -> StoreResult<Option<String>>;
    /// An app of an org.
    async fn get_app(&self, org_id: &str, id: &str) -> StoreResult<Option<App>>;
    /// Apps of an org, newest first.
    async fn list_apps(&self, org_id: &str, page: PageReq) -> StoreResult<Paged<App>>;

    /// Insert a new key, with its audit entry.
    async fn insert_key(&self, key: &KeyRecord, audit: &NewAudit) -> StoreResult<()>;
    /// A live (not deleted) key by secret hash, in any org.
    async fn key_by_hash(&self, hash: &SecretHash) -> StoreResult<Option<KeyRecord>>;
    /// A live key by id, in any org (callers check the org).
    async fn key_by_id(&self, id: &str) -> StoreResult<Option<KeyRecord>>;
    /// Live keys of an org matching `filter`, in the order of `page.sort`, from
    /// `page.after`, with the total (see [`KeyTotal`], [`SCAN_BUDGET`]). Neither the page nor
    /// the total scans the org: each is bounded by an index range or [`SCAN_BUDGET`].
    async fn list_keys(
        &self,
        org_id: &str,
        filter: &KeyFilter,
        now: DateTime<Utc>,
        page: &KeyPageReq,
    ) -> StoreResult<KeyPage>;
    /// Insert many keys in one transaction, with no audit entries (seeding benchmarks and
    /// imports; not on the HTTP API). Either all are inserted or none.
    async fn import_keys(&self, keys: &[KeyRecord]) -> StoreResult<()>;
    /// The secret that seals this database's list cursors (`server::routes::cursor`):
    /// 32 random bytes created once with the database, the same for every instance on it.
    async fn cursor_secret(&self) -> StoreResult<[u8; 32]>;
    /// Write `key`'s mutable fields if the stored version is still `expected_version`;
    /// the stored version becomes `key.version`. `Ok(false)` when the version moved on.
    ///
    /// **Lock-out guard**: when the stored key is an owner key at `key.updated_at` and `key`
    /// is not, the write is refused with [`StoreError::LastOwner`] if no other owner key of
    /// the org is left. The check and the write are one atomic step, serialized against
    /// every other write of the org (SQLite: the one writer in `BEGIN IMMEDIATE`; a
    /// PostgreSQL store must lock, e.g. the org's row `FOR UPDATE`, before checking), so two
    /// concurrent requests cannot each take away one of the last two owner keys.
    async fn update_key(
        &self,
        key: &KeyRecord,
        expected_version: i64,
        audits: &[NewAudit],
    ) -> StoreResult<bool>;
    /// Soft-delete a key. `Ok(false)` when there was no live key. The lock-out guard of
    /// [`KeyStore::update_key`] applies, at `audit.at`.
    async fn delete_key(&self, org_id: &str, id: &str, audit: &NewAudit) -> StoreResult<bool>;
    /// Mark `old` rotated (its `rotated_to`, `expires_at` and version as given) and insert
    /// `new`, atomically. `Ok(false)` when `old` was already rotated, deleted or changed.
    /// Needs no lock-out guard: `new` is enabled, unexpired and has `old`'s scopes and app,
    /// so rotating an owner key yields an owner key.
    async fn rotate_key(
        &self,
        old: &KeyRecord,
        expected_version: i64,
        new: &KeyRecord,
        audits: &[NewAudit],
    ) -> StoreResult<bool>;

    /// Replace a live key's secret hash and hint (the embedded console re-keys its own key
    /// at every start so its secret is never persisted). `Ok(false)` if there is no such key.
    async fn set_secret(
        &self,
        key_id: &str,
        hash: &SecretHash,
        hint: &str,
        now: DateTime<Utc>,
    ) -> StoreResult<bool>;

    /// Apply one batch of usage counters, last-used times and auth events.
    async fn record_usage(&self, batch: &UsageBatch) -> StoreResult<()>;
    /// Write whole buckets directly (demo data and imports), adding to existing counters.
    async fn add_buckets(
        &self,
        key_id: &str,
        org_id: &str,
        bucket: BucketSize,
        rows: &[UsageBucket],
    ) -> StoreResult<()>;
    /// Drop old minute and hour buckets and auth events past retention.
    async fn prune(&self, now: DateTime<Utc>) -> StoreResult<()>;
    /// Non-zero buckets of one key in `[from, to)`, oldest first.
    async fn key_usage(
        &self,
        key_id: &str,
        bucket: BucketSize,
        from: DateTime<Utc>,
        to: DateTime<Utc>,
    ) -> StoreResult<Vec<UsageBucket>>;
    /// Non-zero org totals in `[from, to)`, oldest first.
    async fn org_usage(
        &self,
        org_id: &str,
        bucket: BucketSize,
        from: DateTime<Utc>,
        to: DateTime<Utc>,
    ) -> StoreResult<Vec<UsageBucket>>;
    /// The busiest keys of an org in `[from, to)`.
    async fn top_keys(
        &self,
        org_id: &str,
        bucket: BucketSize,
        from: DateTime<Utc>,
        to: DateTime<Utc>,
        limit: u32,
    ) -> StoreResult<Vec<TopKeyRow>>;

    /// Auth events of an org, newest first.
    async fn list_auth_events(
        &self,
        org_id: &str,
        filter: &AuthEventFilter,
        page: PageReq,
    ) -> StoreResult<Paged<AuthEventRecord>>;
    /// Record a leak (see [`LeakRecord`]) atomically. Disabling a leaked key is not subject
    /// to the lock-out guard: a leaked owner key is turned off too (`org recover` is the
    /// way back in).
    async fn record_leak(&self, leak: &LeakRecord) -> StoreResult<LeakOutcome>;
    /// Where and when a key was seen leaking, newest first.
    async fn list_sightings(
        &self,
        key_id: &str,
        page: PageReq,
    ) -> StoreResult<Paged<SightingRecord>>;
    /// Required scopes exercised by `keys` (at most a few hundred ids per call) since `from`
    /// (a UTC day start), summed per key and scope.
    async fn scope_counts(
        &self,
        keys: &[String],
        from: DateTime<Utc>,
    ) -> StoreResult<Vec<ScopeCount>>;
    /// Keys of an org that may have a finding of `kind` at `now` under `policy` (a superset
    /// the review rules then decide on), each kind read from its own index, examining at most
    /// `limit` keys. For [`FindingKind::OverPrivileged`]: the most recently used keys, used
    /// in the 30-day window.
    async fn review_candidates(
        &self,
        org_id: &str,
        kind: FindingKind,
        policy: &ReviewPolicy,
        now: DateTime<Utc>,
        limit: u32,
    ) -> StoreResult<Vec<KeyRecord>>;

    /// Changes with a sequence number above `after`, oldest first, at most `limit`.
    async fn changes_after(&self, after: i64, limit: u32) -> StoreResult<Vec<KeyChange>>;
    /// Hints that a change committed: `wake` is notified whenever another instance may
    /// have committed one (PostgreSQL `LISTEN`/`NOTIFY`), and once after every reconnect
    /// (hints sent meanwhile are lost, so the feed reads what it missed). Returns only when
    /// it cannot go on. A backend without hints never returns: the feed's polls alone
    /// find the changes, as they always do when a hint is lost.
    async fn listen_changes(&self, wake: &tokio::sync::Notify) -> StoreResult<()> {
        let _ = wake;
        std::future::pending().await
    }
    /// The newest change's number (0 when there is none), of one org or of all.
    async fn latest_change(&self, org_id: Option<&str>) -> StoreResult<i64>;
    /// The newest change's number of any of these keys (0 when there is none): after a
    /// mutation commits, the number its answer carries.
    async fn latest_key_change(&self, key_ids: &[&str]) -> StoreResult<i64>;
    /// Record an instance's heartbeat (insert or update its row).
    async fn heartbeat(&self, instance: &InstanceRecord) -> StoreResult<()>;
    /// An instance that stops cleanly leaves the list at once (not 30 s later), so no
    /// acknowledgement waits for it.
    async fn forget_instance(&self, id: &str) -> StoreResult<()>;
    /// Instances whose last heartbeat is at or after `since`, oldest first.
    async fn list_instances(&self, since: DateTime<Utc>) -> StoreResult<Vec<InstanceRecord>>;

    /// Audit entries of an org, newest first.
    async fn list_audit(
        &self,
        org_id: &str,
        filter: &AuditFilter,
        page: PageReq,
    ) -> StoreResult<Paged<NewAudit>>;
}

/// Open a store from a URL: `sqlite://<path>` or `postgres://…`. A missing database is created only with
/// [`IfMissing::Create`].
pub async fn open(
    url: &str,
    retention: Retention,
    if_missing: IfMissing,
) -> StoreResult<std::sync::Arc<dyn KeyStore>> {
    if url.starts_with("sqlite:") {
        Ok(std::sync::Arc::new(
            sqlite::SqliteStore::open(url, retention, if_missing).await?,
        ))
    } else if url.starts_with("postgres://") || url.starts_with("postgresql://") {
        Ok(std::sync::Arc::new(
            postgres::PgStore::open(url, retention, if_missing).await?,
        ))
    } else {
        Err(StoreError::Open(format!(
            "unsupported database URL scheme in `{}`: use sqlite://<path> or postgres://…",
            redact_url(url)
        )))
    }
}

/// A database URL with any password removed, for messages and logs.
pub fn redact_url(url: &str) -> String {
    match url.split_once("://") {
        Some((scheme, rest)) => match rest.rsplit_once('@') {
            Some((userinfo, host)) => {
                let user = userinfo.split(':').next().unwrap_or("");
                format!("{scheme}://{user}:***@{host}")
            }
            None => url.to_owned(),
        },
        None => url.to_owned(),
    }
}
