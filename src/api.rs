//! Wire types shared by the server and the client (API.md §4-5): request and response
//! bodies, the error body, query parameters and route paths. Serde only; no I/O.
//!
//! Request types reject unknown fields. Types that carry a secret hold it as
//! [`Secret`], whose `Debug` is redacted.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Deserializer, Serialize};
use utoipa::openapi::schema::{Object, ObjectBuilder, Type};
use utoipa::{IntoParams, ToSchema};

use crate::domain::decision::{AuthMethod, Decision, ErrorCode};
use crate::domain::key::{Env, Secret};
use crate::domain::record::{KeyRecord, KeyStatus};
use crate::domain::scope::PRESETS;

/// Response header carrying the request id.
pub const REQUEST_ID_HEADER: &str = "x-request-id";
/// Response header of every key mutation: the change's sequence number (API.md §7).
pub const CHANGE_HEADER: &str = "x-keyconsole-change";
/// Request header naming the app a request acts for.
pub const APP_ID_HEADER: &str = "x-app-id";
/// Request header carrying a key instead of `Authorization`.
pub const API_KEY_HEADER: &str = "x-api-key";
/// Largest accepted request body.
pub const MAX_BODY_BYTES: usize = 64 * 1024;
/// Default page size of list endpoints.
pub const DEFAULT_LIMIT: u32 = 50;
/// Largest page size of list endpoints.
pub const MAX_LIMIT: u32 = 500;
/// Longest rotation grace period (30 days).
pub const MAX_GRACE_SECONDS: u32 = 2_592_000;
/// Most allowed domains on one key.
pub const MAX_DOMAINS: usize = 50;
/// Longest display name (keys, apps), in characters after trimming.
pub const MAX_NAME_CHARS: usize = 100;
/// Longest key `owner`, in characters after trimming (API.md §5).
pub const MAX_OWNER_CHARS: usize = 200;
/// Longest key `description`, in characters after trimming (API.md §5).
pub const MAX_DESCRIPTION_CHARS: usize = 500;
/// Most hashes in one `POST /v1/leaks`, and most tokens in one GitHub delivery (API.md §9).
pub const MAX_LEAK_ITEMS: usize = 1000;
/// Longest `source` of a leak report (API.md §9).
pub const MAX_LEAK_SOURCE_CHARS: usize = 512;
/// Most findings of one kind in `GET /v1/review` (API.md §10).
pub const MAX_REVIEW_FINDINGS: usize = 1000;

/// Every audit action (API.md §5); `GET /v1/audit?action=` takes only these.
pub const AUDIT_ACTIONS: [&str; 8] = [
    "key.created",
    "key.updated",
    "key.enabled",
    "key.disabled",
    "key.rotated",
    "key.deleted",
    "key.leaked",
    "app.created",
];

/// Every `sort` of `GET /v1/keys` (API.md §5); `-created` is the default.
pub const KEY_SORTS: [&str; 8] = [
    "created",
    "-created",
    "name",
    "-name",
    "last_used",
    "-last_used",
    "expires",
    "-expires",
];

pub mod fast_json;

/// Route paths, shared so the client and the server cannot drift.
pub mod paths {
    /// `GET /v1/me`
    pub const ME: &str = "/v1/me";
    /// `GET /v1/instances`
    pub const INSTANCES: &str = "/v1/instances";
    /// `GET, POST /v1/keys`
    pub const KEYS: &str = "/v1/keys";
    /// `GET, PATCH, DELETE /v1/keys/{id}`
    pub const KEY: &str = "/v1/keys/{id}";
    /// `POST /v1/keys/{id}/rotate`
    pub const KEY_ROTATE: &str = "/v1/keys/{id}/rotate";
    /// `GET /v1/keys/{id}/usage`
    pub const KEY_USAGE: &str = "/v1/keys/{id}/usage";
    /// `GET /v1/usage`
    pub const USAGE: &str = "/v1/usage";
    /// `GET /v1/auth-events`
    pub const AUTH_EVENTS: &str = "/v1/auth-events";
    /// `GET /v1/audit`
    pub const AUDIT: &str = "/v1/audit";
    /// `GET /v1/scopes`
    pub const SCOPES: &str = "/v1/scopes";
    /// `GET, POST /v1/apps`
    pub const APPS: &str = "/v1/apps";
    /// `POST /v1/verify`
    pub const VERIFY: &str = "/v1/verify";
    /// `POST`: report leaked secrets by hash.
    pub const LEAKS: &str = "/v1/leaks";
    /// `POST`: GitHub secret scanning deliveries.
    pub const GITHUB_SCANNING: &str = "/v1/secret-scanning/github";
    /// `GET`: where and when a key was seen leaking.
    pub const KEY_LEAKS: &str = "/v1/keys/{id}/leaks";
    /// `GET`: which held scopes a key's requests needed.
    pub const KEY_SCOPE_USAGE: &str = "/v1/keys/{id}/scope-usage";
    /// `GET`: the organization's access review.
    pub const REVIEW: &str = "/v1/review";
    /// `GET /openapi.json`
    pub const OPENAPI: &str = "/openapi.json";
    /// `GET /healthz`
    pub const HEALTHZ: &str = "/healthz";
    /// `GET /readyz`
    pub const READYZ: &str = "/readyz";

    /// Fill `{id}` in a path template.
    pub fn with_id(template: &str, id: &str) -> String {
        template.replace("{id}", id)
    }
}

/// The body of every non-2xx response.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct ErrorBody {
    /// The error.
    pub error: ErrorDetail,
}

/// Error details.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct ErrorDetail {
    /// `invalid_request`, `unauthorized`, `forbidden`, …
    #[serde(rename = "type")]
    #[schema(schema_with = doc::error_type)]
    pub kind: String,
    /// Machine-readable code, e.g. `key_disabled`.
    #[schema(schema_with = doc::error_code)]
    pub code: String,
    /// Human-readable message; never contains a secret or internals.
    pub message: String,
    /// The request id, also in `x-request-id`.
    pub request_id: String,
    /// For `insufficient_scope`: the scopes that were required.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub required_scopes: Option<Vec<String>>,
}

impl ErrorDetail {
    /// The parsed code, if it is one this version knows.
    pub fn error_code(&self) -> Option<ErrorCode> {
        ErrorCode::parse(&self.code)
    }
}

/// An organization.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Org {
    /// `org_…`
    pub id: String,
    /// Display name.
    pub name: String,
    /// Creation time.
    #[serde(serialize_with = "rfc3339::serialize")]
    pub created_at: DateTime<Utc>,
}

/// An app: an optional policy context inside an org.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct App {
    /// `app_…`
    pub id: String,
    /// Display name.
    pub name: String,
    /// Creation time.
    pub created_at: DateTime<Utc>,
}

/// `POST /v1/apps`
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateAppRequest {
    /// Display name (1-100 characters after trimming; no control characters).
    #[schema(schema_with = doc::name)]
    pub name: String,
}

/// An API key as the API shows it. Never contains the secret.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct KeyObject {
    /// The public key, `pk_{env}_…`.
    pub id: String,
    /// Display name.
    pub name: String,
    /// Owning organization.
    pub org_id: String,
    /// `live` or `test`.
    #[schema(schema_with = doc::key_env)]
    pub env: Env,
    /// `null` for an org-scoped key.
    pub app_id: Option<String>,
    /// Granted scopes.
    pub scopes: Vec<String>,
    /// Allowed Origin hosts for public-key-only use.
    pub allowed_domains: Vec<String>,
    /// Whether the key works.
    pub enabled: bool,
    /// `active`, `disabled`, `expiring` or `expired` (derived).
    #[schema(schema_with = doc::key_status)]
    pub status: KeyStatus,
    /// `…` and the secret's last four characters.
    pub secret_hint: String,
    /// Creation time.
    #[serde(serialize_with = "rfc3339::serialize")]
    pub created_at: DateTime<Utc>,
    /// Last change.
    #[serde(serialize_with = "rfc3339::serialize")]
    pub updated_at: DateTime<Utc>,
    /// When the key stops working.
    #[serde(serialize_with = "rfc3339::option")]
    pub expires_at: Option<DateTime<Utc>>,
    /// Last authenticated request.
    #[serde(serialize_with = "rfc3339::option")]
    pub last_used_at: Option<DateTime<Utc>>,
    /// The key this one replaced.
    pub rotated_from: Option<String>,
    /// The key that replaced this one.
    pub rotated_to: Option<String>,
    /// Version for `If-Match`.
    pub version: i64,
    /// Who owns the key (free text, at most 200 characters), `null` when nobody is named.
    pub owner: Option<String>,
    /// What the key is for (free text, at most 500 characters).
    pub description: Option<String>,
    /// When a leak of the key's secret was first reported (`POST /v1/leaks`, GitHub secret
    /// scanning); where and when it was seen: `GET /v1/keys/{id}/leaks`.
    #[serde(serialize_with = "rfc3339::option")]
    pub leaked_at: Option<DateTime<Utc>>,
}

impl KeyObject {
    /// The API view of a stored key at `now`.
    pub fn from_record(r: &KeyRecord, now: DateTime<Utc>) -> KeyObject {
        KeyObject {
            id: r.id.clone(),
            name: r.name.clone(),
            org_id: r.org_id.clone(),
            env: r.env,
            app_id: r.app_id.clone(),
            scopes: r.scopes.to_strings(),
            allowed_domains: r.allowed_domains.iter().map(ToString::to_string).collect(),
            enabled: r.enabled,
            status: r.status(now),
            secret_hint: format!("…{}", r.secret_hint),
            created_at: r.created_at,
            updated_at: r.updated_at,
            expires_at: r.expires_at,
            last_used_at: r.last_used_at,
            rotated_from: r.rotated_from.clone(),
            rotated_to: r.rotated_to.clone(),
            version: r.version,
            owner: r.owner.clone(),
            description: r.description.clone(),
            leaked_at: r.leaked_at,
        }
    }
}

/// `POST /v1/keys`
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateKeyRequest {
    /// Display name (1-100 characters after trimming; no control characters).
    #[schema(schema_with = doc::name)]
    pub name: String,
    /// Scopes to grant; or give `preset`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub scopes: Option<Vec<String>>,
    /// `full` or `read-only`; or give `scopes`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(schema_with = doc::preset)]
    pub preset: Option<String>,
    /// Allowed Origin hosts (`example.com`, `*.example.com`), at most 50.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(max_items = 50)]
    pub allowed_domains: Option<Vec<String>>,
    /// Bind the key to an app of the org.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(schema_with = doc::new_key_app)]
    pub app_id: Option<String>,
    /// `live` or `test`; defaults to the caller's environment.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(schema_with = doc::new_key_env)]
    pub env: Option<Env>,
    /// Optional expiry.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expires_at: Option<DateTime<Utc>>,
    /// Who owns the key: a team, a person, an address (at most 200 characters after
    /// trimming; empty means nobody).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(schema_with = doc::owner)]
    pub owner: Option<String>,
    /// What the key is for (at most 500 characters after trimming).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(schema_with = doc::description)]
    pub description: Option<String>,
}

/// `201` of `POST /v1/keys`: the only time the secret is returned.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateKeyResponse {
    /// The new key.
    pub key: KeyObject,
    /// The secret, shown once.
    #[schema(value_type = String)]
    pub secret: Secret,
    /// `pk_…:sk_…`, shown once.
    #[schema(value_type = String)]
    pub credential: Secret,
}

fn double_option<'de, T: Deserialize<'de>, D: Deserializer<'de>>(
    d: D,
) -> Result<Option<Option<T>>, D::Error> {
    Option::<T>::deserialize(d).map(Some)
}

/// `PATCH /v1/keys/{id}`: every field optional; `expires_at: null` clears the expiry.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UpdateKeyRequest {
    /// New name (1-100 characters after trimming; no control characters).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(schema_with = doc::new_name)]
    pub name: Option<String>,
    /// New scopes (replaces the list).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub scopes: Option<Vec<String>>,
    /// New allowed domains (replaces the list), at most 50.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(max_items = 50)]
    pub allowed_domains: Option<Vec<String>>,
    /// Enable or disable.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub enabled: Option<bool>,
    /// New expiry, or `null` to clear it.
    #[serde(
        default,
        deserialize_with = "double_option",
        skip_serializing_if = "Option::is_none"
    )]
    #[schema(value_type = Option<DateTime<Utc>>)]
    pub expires_at: Option<Option<DateTime<Utc>>>,
    /// New owner (at most 200 characters after trimming); `null` or empty clears it.
    #[serde(
        default,
        deserialize_with = "double_option",
        skip_serializing_if = "Option::is_none"
    )]
    #[schema(schema_with = doc::new_owner)]
    pub owner: Option<Option<String>>,
    /// New description (at most 500 characters after trimming); `null` or empty clears it.
    #[serde(
        default,
        deserialize_with = "double_option",
        skip_serializing_if = "Option::is_none"
    )]
    #[schema(schema_with = doc::new_description)]
    pub description: Option<Option<String>>,
}

/// `POST /v1/keys/{id}/rotate`
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RotateRequest {
    /// Seconds the old key keeps working (0-2592000, default 0).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(minimum = 0, maximum = 2_592_000)]
    pub grace_period_seconds: Option<u32>,
}

/// `201` of a rotation.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RotateResponse {
    /// The new key.
    pub key: KeyObject,
    /// The new secret, shown once.
    #[schema(value_type = String)]
    pub secret: Secret,
    /// `pk_…:sk_…` of the new key, shown once.
    #[schema(value_type = String)]
    pub credential: Secret,
    /// The old key, now with `expires_at` and `rotated_to`.
    pub previous: KeyObject,
}

/// A page of a list endpoint, newest first.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Page<T> {
    /// The items.
    pub data: Vec<T>,
    /// Pass as `cursor` for the next page; `null` on the last page.
    pub next_cursor: Option<String>,
    /// Items matching the filter across all pages (`GET /v1/keys` only), counted without
    /// scanning: exact up to 10,000.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub total: Option<u64>,
    /// `true` when `total` is a lower bound, not an exact count: at least that many match
    /// (the 10,000 cap was reached, or a filter without its own index examined its
    /// 10,000-key budget). Absent when `total` is exact.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub total_is_lower_bound: bool,
}

/// `GET /v1/keys` query.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct ListKeysQuery {
    /// 1-500, default 50.
    #[param(minimum = 1, maximum = 500)]
    pub limit: Option<u32>,
    /// From the previous page's `next_cursor`.
    pub cursor: Option<String>,
    /// Substring of the name or id (case-insensitive; at most 200 characters after trimming).
    #[param(schema_with = doc::search)]
    pub q: Option<String>,
    /// `active`, `disabled`, `expiring` or `expired`.
    #[param(schema_with = doc::status_filter)]
    pub status: Option<String>,
    /// Only keys bound to this app.
    #[param(schema_with = doc::app_filter)]
    pub app_id: Option<String>,
    /// `live` or `test`.
    #[param(schema_with = doc::env_filter)]
    pub env: Option<String>,
    /// Only keys of this owner: exact after trimming, ASCII letters compared without case.
    #[param(schema_with = doc::owner_filter)]
    pub owner: Option<String>,
    /// Only keys whose scopes grant this scope (wildcards count): access reviews.
    pub scope: Option<String>,
    /// Only keys whose secret ends with these characters (`secret_hint`, 1-4 characters).
    #[param(schema_with = doc::hint_filter)]
    pub hint: Option<String>,
    /// Only keys never used, or last used before this time (stale-key reviews).
    pub last_used_before: Option<DateTime<Utc>>,
    /// Only keys created before this time (rotation-due reviews).
    pub created_before: Option<DateTime<Utc>>,
    /// `created`, `-created` (default), `name`, `-name`, `last_used`, `-last_used`, `expires`
    /// or `-expires`; cursors follow the sort.
    #[param(schema_with = doc::sort)]
    #[serde(default, deserialize_with = "key_sort")]
    pub sort: Option<String>,
}

/// A query value that must be one of `allowed`.
fn one_of<'de, D: Deserializer<'de>>(d: D, allowed: &[&str]) -> Result<Option<String>, D::Error> {
    let value = String::deserialize(d)?;
    if allowed.contains(&value.as_str()) {
        Ok(Some(value))
    } else {
        Err(serde::de::Error::custom(format!(
            "use one of {}",
            allowed.join(", ")
        )))
    }
}

fn key_sort<'de, D: Deserializer<'de>>(d: D) -> Result<Option<String>, D::Error> {
    one_of(d, &KEY_SORTS)
}

fn audit_action<'de, D: Deserializer<'de>>(d: D) -> Result<Option<String>, D::Error> {
    one_of(d, &AUDIT_ACTIONS)
}

/// `GET /v1/apps`, `/v1/auth-events`, `/v1/audit` paging.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct PageQuery {
    /// 1-500, default 50.
    #[param(minimum = 1, maximum = 500)]
    pub limit: Option<u32>,
    /// From the previous page's `next_cursor`.
    pub cursor: Option<String>,
}

/// Bucket sizes of usage endpoints.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum BucketSize {
    /// One minute.
    Minute,
    /// One hour.
    Hour,
    /// One day (UTC).
    Day,
}

impl BucketSize {
    /// Length in seconds.
    pub fn seconds(self) -> i64 {
        match self {
            BucketSize::Minute => 60,
            BucketSize::Hour => 3600,
            BucketSize::Day => 86_400,
        }
    }

    /// The wire form.
    pub fn as_str(self) -> &'static str {
        match self {
            BucketSize::Minute => "minute",
            BucketSize::Hour => "hour",
            BucketSize::Day => "day",
        }
    }

    /// Start of the bucket holding `t`.
    pub fn floor(self, t: DateTime<Utc>) -> DateTime<Utc> {
        let s = self.seconds();
        let secs = t.timestamp().div_euclid(s) * s;
        DateTime::from_timestamp(secs, 0).unwrap_or(t)
    }
}

/// Usage query (`/v1/keys/{id}/usage`, `/v1/usage`).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct UsageQuery {
    /// `minute` (default), `hour` or `day`.
    #[param(inline)]
    pub bucket: Option<BucketSize>,
    /// Start (inclusive); defaults to 60 buckets before `to`.
    pub from: Option<DateTime<Utc>>,
    /// End (exclusive); defaults to now.
    pub to: Option<DateTime<Utc>>,
}

/// Counters of one bucket.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UsageBucket {
    /// Bucket start.
    pub start: DateTime<Utc>,
    /// Allowed requests.
    pub ok: u64,
    /// 401s.
    pub unauthorized: u64,
    /// 403s.
    pub forbidden: u64,
    /// 429s.
    pub rate_limited: u64,
}

impl UsageBucket {
    /// All requests in the bucket.
    pub fn total(&self) -> u64 {
        self.ok + self.unauthorized + self.forbidden + self.rate_limited
    }
}

/// `GET /v1/keys/{id}/usage`
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct KeyUsage {
    /// The key.
    pub key_id: String,
    /// Bucket size.
    pub bucket: BucketSize,
    /// Every bucket in the range, oldest first, zeros included.
    pub buckets: Vec<UsageBucket>,
}

/// One of the busiest keys in a range.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct TopKey {
    /// The key.
    pub key_id: String,
    /// Its name.
    pub name: String,
    /// Allowed requests.
    pub ok: u64,
    /// 401s.
    pub unauthorized: u64,
    /// 403s.
    pub forbidden: u64,
    /// 429s.
    pub rate_limited: u64,
    /// All requests.
    pub total: u64,
}

/// `GET /v1/usage`
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct OrgUsage {
    /// Bucket size.
    pub bucket: BucketSize,
    /// Org totals, oldest first, zeros included.
    pub buckets: Vec<UsageBucket>,
    /// Up to 10 keys with the most requests in the range.
    pub top_keys: Vec<TopKey>,
}

/// `GET /v1/auth-events` query.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct AuthEventsQuery {
    /// 1-500, default 50.
    #[param(minimum = 1, maximum = 500)]
    pub limit: Option<u32>,
    /// From the previous page's `next_cursor`.
    pub cursor: Option<String>,
    /// Exact request id.
    pub request_id: Option<String>,
    /// Only events of this key.
    pub key_id: Option<String>,
    /// Only this code.
    #[param(schema_with = doc::code_filter)]
    pub code: Option<String>,
}

/// One denied decision.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AuthEvent {
    /// The denied request's id.
    pub request_id: String,
    /// When.
    pub at: DateTime<Utc>,
    /// The key, when the credential named one.
    pub key_id: Option<String>,
    /// The error code.
    pub code: String,
    /// The HTTP status.
    pub status: u16,
    /// Method of the denied request.
    pub method: String,
    /// Path of the denied request (anything secret-shaped redacted).
    pub path: String,
    /// Client address.
    pub ip: String,
    /// `Origin` header.
    pub origin: Option<String>,
    /// `x-app-id` header.
    pub app_id: Option<String>,
    /// A denied session's user (`sub`), when its signature was valid (API.md §8).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user: Option<String>,
    /// For `insufficient_scope`: the scopes the request needed (what to grant); absent for
    /// every other code.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub required_scopes: Vec<String>,
    /// How many denied requests this event stands for. 1, except for the one event per
    /// (code, client address) and minute that aggregates the requests past the first 20 of
    /// that minute: it is the first such request, and `count` says how many there were.
    #[serde(default = "one")]
    #[schema(minimum = 1)]
    pub count: u64,
}

fn one() -> u64 {
    1
}

/// `GET /v1/audit` query.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct AuditQuery {
    /// 1-500, default 50.
    #[param(minimum = 1, maximum = 500)]
    pub limit: Option<u32>,
    /// From the previous page's `next_cursor`.
    pub cursor: Option<String>,
    /// Only entries about this key.
    pub key_id: Option<String>,
    /// Only this action, e.g. `key.rotated` (one of API.md §5's actions).
    #[param(schema_with = doc::action_filter)]
    #[serde(default, deserialize_with = "audit_action")]
    pub action: Option<String>,
    /// Only entries by this actor: `key:<public key>`, `user:<sub>` or `system:<what>`
    /// (`system:org create`, `system:org recover`, `system:github-secret-scanning`,
    /// `system:retention`).
    #[param(schema_with = doc::actor_filter)]
    pub actor: Option<String>,
}

/// One audit entry. Append-only.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AuditEntry {
    /// `aud_…`
    pub id: String,
    /// When.
    pub at: DateTime<Utc>,
    /// The key that made the change; `null` when the actor is not a key.
    pub actor_key_id: Option<String>,
    /// Who or what made the change.
    pub actor: Actor,
    /// `key.created`, `key.updated`, `key.enabled`, `key.disabled`, `key.rotated`,
    /// `key.deleted`, `key.leaked`, `app.created`.
    #[schema(schema_with = doc::audit_action)]
    pub action: String,
    /// The key changed (for `app.created`, `null`).
    pub key_id: Option<String>,
    /// What changed: `{"field": {"from": …, "to": …}}` or the created object.
    #[schema(value_type = Object)]
    pub changes: serde_json::Value,
}

/// What an audit actor is (API.md §5).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum ActorKind {
    /// An API key; `id` is its public key.
    Key,
    /// A signed-in user's session; `id` is the token's `sub`.
    User,
    /// The service itself or its command line; `id` says what (`org create`, `org recover`,
    /// `github-secret-scanning`, `retention`).
    System,
}

impl ActorKind {
    /// The wire form.
    pub fn as_str(self) -> &'static str {
        match self {
            ActorKind::Key => "key",
            ActorKind::User => "user",
            ActorKind::System => "system",
        }
    }

    /// Parse the wire form.
    pub fn parse(s: &str) -> Option<ActorKind> {
        match s {
            "key" => Some(ActorKind::Key),
            "user" => Some(ActorKind::User),
            "system" => Some(ActorKind::System),
            _ => None,
        }
    }
}

/// Who or what wrote an audit entry (API.md §5).
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Actor {
    /// `key`, `user` or `system`.
    #[serde(rename = "type")]
    pub kind: ActorKind,
    /// A key's public key, a session's `sub`, or what acted.
    pub id: String,
    /// A display name, when one is known (a user's name).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
}

/// `system` actor ids (API.md §5).
pub mod system_actor {
    /// `keyconsole org create` (and the console's embedded first start).
    pub const ORG_CREATE: &str = "org create";
    /// `keyconsole org recover`.
    pub const ORG_RECOVER: &str = "org recover";
    /// GitHub secret scanning deliveries (`POST /v1/secret-scanning/github`).
    pub const GITHUB_SCANNING: &str = "github-secret-scanning";
    /// Retention jobs.
    pub const RETENTION: &str = "retention";
    /// The embedded console at start, re-enabling its own key after it was disabled or
    /// expired by hand.
    pub const CONSOLE_START: &str = "console start";
}

impl Actor {
    /// A key.
    pub fn key(id: &str) -> Actor {
        Actor {
            kind: ActorKind::Key,
            id: id.to_owned(),
            name: None,
        }
    }

    /// A signed-in user: `id` is the session's `sub`, `name` what the token calls them
    /// (email, else name), when it says.
    pub fn user(user: &crate::domain::session::SessionUser) -> Actor {
        let shown = user.display();
        Actor {
            kind: ActorKind::User,
            id: user.sub.clone(),
            name: (shown != user.sub).then(|| shown.to_owned()),
        }
    }

    /// The service or its command line.
    pub fn system(id: &str) -> Actor {
        Actor {
            kind: ActorKind::System,
            id: id.to_owned(),
            name: None,
        }
    }

    /// The key id when the actor is a key (`actor_key_id`).
    pub fn key_id(&self) -> Option<&str> {
        (self.kind == ActorKind::Key).then_some(self.id.as_str())
    }

    /// Parse the `actor` filter of `GET /v1/audit`: `key:<id>`, `user:<sub>`, `system:<id>`.
    pub fn parse_filter(s: &str) -> Option<Actor> {
        let (kind, id) = s.split_once(':')?;
        let kind = ActorKind::parse(kind)?;
        if id.is_empty() || id.chars().count() > 300 || id.chars().any(char::is_control) {
            return None;
        }
        Some(Actor {
            kind,
            id: id.to_owned(),
            name: None,
        })
    }
}

/// A catalog entry.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ScopeInfo {
    /// `resource:action`.
    pub name: String,
    /// What it allows.
    pub description: String,
}

/// `GET /v1/scopes`
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ScopesResponse {
    /// The catalog.
    pub scopes: Vec<ScopeInfo>,
    /// `full` and `read-only`.
    pub presets: BTreeMap<String, Vec<String>>,
}

/// `GET /v1/me`
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct MeResponse {
    /// The caller's org.
    pub org: Org,
    /// The caller's key; `null` for a session.
    pub key: Option<KeyObject>,
    /// The caller's scopes.
    pub scopes: Vec<String>,
    /// `secret`, `pair`, `public_key` or `session`.
    #[schema(schema_with = doc::auth_method)]
    pub auth_method: String,
    /// The signed-in user, for a session (API.md §8).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user: Option<SessionUserObject>,
}

/// A session's user, from the token's claims.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SessionUserObject {
    /// `sub`.
    pub sub: String,
    /// `name`, when the token has one.
    pub name: Option<String>,
    /// `email`, when the token has one.
    pub email: Option<String>,
}

impl SessionUserObject {
    /// The wire form of a session's user.
    pub fn of(u: &crate::domain::session::SessionUser) -> SessionUserObject {
        SessionUserObject {
            sub: u.sub.clone(),
            name: u.name.clone(),
            email: u.email.clone(),
        }
    }

    /// What to show: the email, else the name, else `sub`.
    pub fn display(&self) -> &str {
        self.email
            .as_deref()
            .or(self.name.as_deref())
            .unwrap_or(&self.sub)
    }
}

/// `POST /v1/verify`
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct VerifyRequest {
    /// The token as a client would send it after `Bearer `: secret, `pk:sk` or public key.
    #[schema(value_type = String)]
    pub credential: Secret,
    /// The client request's `Origin`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub origin: Option<String>,
    /// The client request's `x-app-id`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(schema_with = doc::verify_app)]
    pub app_id: Option<String>,
    /// Scopes the client request needs.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub required_scopes: Option<Vec<String>>,
}

/// One step of a decision trace.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct TraceItem {
    /// `parse`, `checksum`, `lookup`, `enabled`, `expiry`, `origin`, `app`, `scopes`.
    pub step: String,
    /// Whether it passed.
    pub ok: bool,
    /// Plain words.
    pub detail: String,
}

/// `200` of `POST /v1/verify`: the decision a real request would get.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct VerifyResponse {
    /// Whether the request would be allowed.
    pub valid: bool,
    /// The error code it would get, `null` when valid.
    pub code: Option<String>,
    /// The status it would get (200 when valid).
    pub status: u16,
    /// The message it would get, `null` when valid.
    #[serde(default)]
    pub message: Option<String>,
    /// The key, when found in the caller's org.
    pub key: Option<KeyObject>,
    /// The key's scopes (empty when not found).
    pub scopes: Vec<String>,
    /// The steps, in order, up to the first failure.
    pub trace: Vec<TraceItem>,
    /// For a session token (API.md §8): what this service expects of tokens and, once the
    /// `org` step passed, who the user is. Absent for keys.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub session: Option<VerifySession>,
}

/// The session part of a `/v1/verify` answer.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct VerifySession {
    /// The `iss` tokens must carry (`serve --jwt-issuer`).
    pub issuer: String,
    /// The audience `aud` must contain (`serve --jwt-audience`), if any.
    pub audience: Option<String>,
    /// The claim that names the organization (`serve --jwt-org-claim`).
    pub org_claim: String,
    /// The user, once the token is known to be of the caller's organization.
    pub user: Option<SessionUserObject>,
    /// The token's `exp`, once its signature verified.
    pub expires_at: Option<DateTime<Utc>>,
}

impl VerifyResponse {
    /// The wire form of a decision.
    pub fn from_decision(d: &Decision, key: Option<KeyObject>) -> VerifyResponse {
        VerifyResponse {
            valid: d.allowed(),
            code: d.code().map(|c| c.as_str().to_owned()),
            status: d.status(),
            message: d.result.as_ref().err().map(|e| e.message.clone()),
            scopes: key.as_ref().map(|k| k.scopes.clone()).unwrap_or_default(),
            key,
            trace: d
                .trace
                .iter()
                .map(|t| TraceItem {
                    step: t.step.as_str().to_owned(),
                    ok: t.ok,
                    detail: t.detail.to_string(),
                })
                .collect(),
            session: None,
        }
    }
}

/// `org create --json` output: a key-create response plus the org.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OrgCreated {
    /// The organization.
    pub org: Org,
    /// Its owner key (scopes `["*"]`).
    pub key: KeyObject,
    /// The secret, shown once.
    pub secret: Secret,
    /// `pk_…:sk_…`, shown once.
    pub credential: Secret,
}

/// `GET /healthz`
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct Health {
    /// `ok`.
    pub status: String,
}

/// `GET /readyz`: the database answers and takes writes; and the change feed's state
/// (API.md §7).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Readiness {
    /// `ok`.
    pub status: String,
    /// `ok`: this instance has heard every change within the bound; `reconnecting`: it has
    /// not, so it reads the database for every key instead of trusting its cache.
    #[schema(pattern = "^(ok|reconnecting)$")]
    pub change_feed: String,
    /// Milliseconds since the feed last confirmed this instance is caught up (0 for an
    /// instance alone on its database).
    pub change_feed_lag_ms: u64,
    /// The last change this instance applied.
    pub applied_change: i64,
}

/// One instance in `GET /v1/instances`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Instance {
    /// `ins_` + 16 base62, new at every start.
    pub id: String,
    /// When it started.
    pub started_at: DateTime<Utc>,
    /// Its last heartbeat (at most 30 s ago).
    pub last_seen_at: DateTime<Utc>,
    /// The last change it has applied: it has applied change n when this is ≥ n.
    pub applied_change: i64,
}

/// `GET /v1/instances`
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct InstancesResponse {
    /// The newest change of a key of the caller's organization (0 when none).
    pub latest_change: i64,
    /// The instances seen in the last 30 s, oldest start first.
    pub data: Vec<Instance>,
}

/// What `POST /v1/leaks` does to each matched key.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum LeakAction {
    /// Record the leak (`leaked_at`, a sighting, `key.leaked`); the key keeps working.
    Report,
    /// Record it and disable the key.
    Disable,
}

impl LeakAction {
    /// The wire form.
    pub fn as_str(self) -> &'static str {
        match self {
            LeakAction::Report => "report",
            LeakAction::Disable => "disable",
        }
    }
}

/// `POST /v1/leaks`
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct LeakReport {
    /// Lowercase or uppercase hex SHA-256 of each leaked secret (1-1000). The secret itself
    /// is never sent.
    #[schema(schema_with = doc::hashes)]
    pub hashes: Vec<String>,
    /// Where the secrets were seen (a file, a URL), at most 512 characters after trimming.
    #[schema(schema_with = doc::leak_source)]
    pub source: String,
    /// `report` or `disable`.
    pub action: LeakAction,
}

/// What was done to a matched key.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum ActionTaken {
    /// Nothing (an unknown hash, or `report`).
    None,
    /// The key was enabled and is now disabled.
    Disabled,
    /// The key was already disabled.
    AlreadyDisabled,
}

/// One hash of a leak report and what it matched.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct LeakResult {
    /// The hash as sent, lowercased.
    pub hash: String,
    /// The caller's organization's key with this secret, as it is now; `null` for a hash of
    /// no key of the caller's organization.
    pub key: Option<KeyObject>,
    /// What was done.
    pub action_taken: ActionTaken,
}

/// `200` of `POST /v1/leaks`: one result per hash, in order.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct LeakResults {
    /// The results.
    pub data: Vec<LeakResult>,
}

/// One token of a GitHub secret scanning delivery.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct GithubToken {
    /// The secret GitHub found.
    #[schema(value_type = String)]
    pub token: Secret,
    /// The token type GitHub matched (our registered type).
    #[serde(rename = "type")]
    pub kind: String,
    /// Where it was found.
    pub url: String,
    /// GitHub's name for the kind of place (`content`, `commit`, `issue_comment`, …).
    #[serde(default)]
    pub source: Option<String>,
}

impl std::fmt::Debug for GithubToken {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("GithubToken")
            .field("token", &self.token)
            .field("type", &self.kind)
            .field("url", &self.url)
            .field("source", &self.source)
            .finish()
    }
}

/// GitHub's label for a reported token.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum GithubLabel {
    /// The token is one of this deployment's keys.
    TruePositive,
    /// It is not.
    FalsePositive,
}

/// One answer to a GitHub delivery: a hash and a label, never the token.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct GithubTokenResult {
    /// Hex SHA-256 of the token.
    pub token_hash: String,
    /// The `type` GitHub sent.
    pub token_type: String,
    /// `true_positive` for one of our keys, else `false_positive`.
    pub label: GithubLabel,
}

/// One place a leaked key was seen.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct LeakSighting {
    /// When it was first reported there.
    pub at: DateTime<Utc>,
    /// Where (a file, a URL).
    pub source: String,
    /// Who reported it: the reporting key, or `github-secret-scanning`.
    pub reported_by: Actor,
}

/// `GET /v1/keys/{id}/scope-usage` query.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct ScopeUsageQuery {
    /// The window in days, ending now (1-90, default 30).
    #[param(minimum = 1, maximum = 90)]
    pub days: Option<u32>,
}

/// One held scope and the requests that needed it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ScopeUse {
    /// A scope the key holds (`*` and `resource:*` count every request they cover).
    pub scope: String,
    /// Allowed requests in the window that needed it.
    pub requests: u64,
    /// The latest of them.
    pub last_used_at: Option<DateTime<Utc>>,
}

/// `GET /v1/keys/{id}/scope-usage`
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ScopeUsage {
    /// The window in days, ending now.
    pub days: u32,
    /// Each held scope.
    pub scopes: Vec<ScopeUse>,
    /// Held scopes no request needed in the window.
    pub unused: Vec<String>,
    /// The smallest set of catalog scopes (no wildcards) that covers every request seen.
    pub suggested: Vec<String>,
}

/// `GET /v1/review` query.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct ReviewQuery {
    /// A key unused this many days is stale (1-3650, default 30).
    #[param(minimum = 1, maximum = 3650)]
    pub stale_days: Option<u32>,
    /// A secret older than this many days is due for rotation (1-3650, default 90).
    #[param(minimum = 1, maximum = 3650)]
    pub rotation_days: Option<u32>,
}

/// One finding of an access review.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ReviewFinding {
    /// `leaked`, `no_owner`, `stale`, `rotation_due`, `over_privileged`, `wildcard` or
    /// `no_expiry_test`.
    #[schema(schema_with = doc::finding_kind)]
    pub kind: String,
    /// The key.
    pub key: KeyObject,
    /// What is wrong, in words.
    pub detail: String,
    /// For `over_privileged`: the held scopes no request needed in 30 days.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub unused: Option<Vec<String>>,
    /// For `over_privileged`: the smallest set of catalog scopes that covers its requests.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub suggested: Option<Vec<String>>,
}

/// `GET /v1/review`
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Review {
    /// Days without use that make a key stale.
    pub stale_days: u32,
    /// Secret age that makes a rotation due.
    pub rotation_days: u32,
    /// The findings, grouped by kind in the order of `kind`'s list, at most 1,000 per kind.
    pub findings: Vec<ReviewFinding>,
    /// Kinds that had more than 1,000 findings (only the first 1,000 are listed).
    pub truncated: Vec<String>,
}

/// Schemas the derives cannot express: the enums and limits the server really enforces, built
/// from the same values its parsers use, so the document cannot drift from them. A
/// `schema_with` schema replaces the field's, description included, so each use gets its own.
mod doc {
    use super::*;
    use serde_json::Value;
    use utoipa::openapi::schema::SchemaType;

    fn string() -> ObjectBuilder {
        ObjectBuilder::new().schema_type(Type::String)
    }

    fn one_of(values: impl IntoIterator<Item = &'static str>) -> Object {
        string().enum_values(Some(values)).build()
    }

    /// Also allow JSON `null`, as serde does for an optional body field (`null` in the enum
    /// too, when there is one).
    fn or_null(mut o: Object) -> Object {
        o.schema_type = SchemaType::from_iter([Type::String, Type::Null]);
        if let Some(values) = &mut o.enum_values {
            values.push(Value::Null);
        }
        o
    }

    fn described(mut o: Object, what: &str) -> Object {
        o.description = Some(what.to_owned());
        o
    }

    const STATUSES: [KeyStatus; 4] = [
        KeyStatus::Active,
        KeyStatus::Disabled,
        KeyStatus::Expiring,
        KeyStatus::Expired,
    ];
    const ENVS: [Env; 2] = [Env::Live, Env::Test];
    const AUTH_METHODS: [AuthMethod; 4] = [
        AuthMethod::Secret,
        AuthMethod::Pair,
        AuthMethod::PublicKey,
        AuthMethod::Session,
    ];

    fn statuses() -> Object {
        one_of(STATUSES.map(KeyStatus::as_str))
    }

    fn envs() -> Object {
        one_of(ENVS.map(Env::as_str))
    }

    /// `app_` and 16 base62 characters.
    fn app() -> Object {
        string().pattern(Some("^app_[0-9A-Za-z]{16}$")).build()
    }

    /// What `char::is_whitespace` matches (Unicode White_Space), as a regex class body.
    const WHITESPACE: &str = "\\u0009-\\u000D\\u0020\\u0085\\u00A0\\u1680\\u2000-\\u200A\\u2028\\u2029\\u202F\\u205F\\u3000";
    /// Longest `q` after trimming (the handler's limit).
    const SEARCH_CHARS: usize = 200;
    /// What `char::is_control` matches (Unicode Cc).
    const CONTROL: &str = "\\u0000-\\u001F\\u007F-\\u009F";

    /// A display name as the server takes it: surrounding whitespace is trimmed; what is left
    /// is 1-100 characters with no control character. The pattern says exactly that (a length
    /// keyword would count the trimmed whitespace too).
    fn display_name() -> Object {
        let (ws, cc) = (WHITESPACE, CONTROL);
        let inner = MAX_NAME_CHARS - 2;
        string()
            .pattern(Some(format!(
                "^[{ws}]*[^{cc}{ws}](?:[^{cc}]{{0,{inner}}}[^{cc}{ws}])?[{ws}]*$"
            )))
            .build()
    }

    /// `q` of `GET /v1/keys`: trimmed, at most 200 characters remain (only whitespace is no
    /// filter at all).
    pub fn search() -> Object {
        let ws = WHITESPACE;
        let inner = SEARCH_CHARS - 2;
        described(
            string()
                .pattern(Some(format!(
                    "^[{ws}]*(?:[^{ws}](?:[\\s\\S]{{0,{inner}}}[^{ws}])?)?[{ws}]*$"
                )))
                .build(),
            "Only keys whose name or id contains this, ASCII letters compared without case; \
             at most 200 characters after trimming. 3 characters or more are looked up in a \
             trigram index; 1 or 2 characters examine at most 10,000 keys per page, so such a \
             page may hold fewer than `limit` keys while `next_cursor` is set.",
        )
    }

    pub fn error_type() -> Object {
        let mut kinds: Vec<&'static str> = ErrorCode::ALL.map(ErrorCode::kind).to_vec();
        kinds.sort_unstable();
        kinds.dedup();
        described(
            one_of(kinds),
            "The error's type: `invalid_request`, `unauthorized`, …",
        )
    }

    pub fn error_code() -> Object {
        described(
            one_of(ErrorCode::ALL.map(ErrorCode::as_str)),
            "Machine-readable code, e.g. `key_disabled`.",
        )
    }

    pub fn code_filter() -> Object {
        described(
            one_of(ErrorCode::ALL.map(ErrorCode::as_str)),
            "Only events with this code.",
        )
    }

    pub fn name() -> Object {
        described(
            display_name(),
            "Display name: 1-100 characters after trimming, no control characters.",
        )
    }

    pub fn new_name() -> Object {
        described(
            or_null(display_name()),
            "New name: 1-100 characters after trimming, no control characters.",
        )
    }

    pub fn key_env() -> Object {
        described(envs(), "`live` or `test`.")
    }

    pub fn new_key_env() -> Object {
        described(
            or_null(envs()),
            "`live` or `test`; defaults to the caller's environment.",
        )
    }

    pub fn env_filter() -> Object {
        described(envs(), "Only keys of this environment.")
    }

    pub fn key_status() -> Object {
        described(
            statuses(),
            "Derived: `disabled` when turned off, else `expired` past `expires_at`, \
             `expiring` before a set `expires_at`, else `active`.",
        )
    }

    pub fn status_filter() -> Object {
        described(statuses(), "Only keys with this status.")
    }

    pub fn preset() -> Object {
        described(
            or_null(one_of(PRESETS)),
            "`full` or `read-only`; or give `scopes`.",
        )
    }

    pub fn new_key_app() -> Object {
        described(
            or_null(app()),
            "Bind the key to this app of the organization.",
        )
    }

    pub fn verify_app() -> Object {
        described(or_null(app()), "The client request's `x-app-id`.")
    }

    pub fn app_filter() -> Object {
        described(app(), "Only keys bound to this app.")
    }

    pub fn hint_filter() -> Object {
        described(
            string()
                .min_length(Some(1))
                .max_length(Some(4))
                .pattern(Some("^[0-9A-Za-z]{1,4}$"))
                .build(),
            "Only keys whose secret ends with these 1-4 letters or digits (`secret_hint`).",
        )
    }

    pub fn sort() -> Object {
        described(
            one_of(KEY_SORTS),
            "Order: by creation (`-created`, the default, is newest first), name, last use \
             or expiry; `-` descends. Cursors follow the sort.",
        )
    }

    /// Free text as the server takes it: trimmed, at most `max` characters left, no control
    /// character inside; only whitespace (or nothing) means none.
    fn free_text(max: usize) -> Object {
        let (ws, cc) = (WHITESPACE, CONTROL);
        let inner = max - 2;
        string()
            .pattern(Some(format!(
                "^[{ws}]*(?:[^{cc}{ws}](?:[^{cc}]{{0,{inner}}}[^{cc}{ws}])?)?[{ws}]*$"
            )))
            .build()
    }

    pub fn owner() -> Object {
        described(
            or_null(free_text(MAX_OWNER_CHARS)),
            "Who owns the key (a team, a person, an address): at most 200 characters after \
             trimming, no control characters; empty means nobody.",
        )
    }

    /// `owner=` of `GET /v1/keys`: like [`owner`] but not empty.
    pub fn owner_filter() -> Object {
        let (ws, cc) = (WHITESPACE, CONTROL);
        let inner = MAX_OWNER_CHARS - 2;
        described(
            string()
                .pattern(Some(format!(
                    "^[{ws}]*[^{cc}{ws}](?:[^{cc}]{{0,{inner}}}[^{cc}{ws}])?[{ws}]*$"
                )))
                .build(),
            "Only keys of this owner: the same text after trimming, ASCII letters compared \
             without case (1-200 characters, no control characters).",
        )
    }

    pub fn new_owner() -> Object {
        described(
            or_null(free_text(MAX_OWNER_CHARS)),
            "New owner: at most 200 characters after trimming, no control characters; `null` \
             or empty clears it.",
        )
    }

    pub fn description() -> Object {
        described(
            or_null(free_text(MAX_DESCRIPTION_CHARS)),
            "What the key is for: at most 500 characters after trimming, no control \
             characters.",
        )
    }

    pub fn new_description() -> Object {
        described(
            or_null(free_text(MAX_DESCRIPTION_CHARS)),
            "New description: at most 500 characters after trimming, no control characters; \
             `null` or empty clears it.",
        )
    }

    pub fn actor_filter() -> Object {
        described(
            string()
                .pattern(Some(format!("^(key|user|system):[^{CONTROL}]{{1,300}}$")))
                .build(),
            "Only entries by this actor: `key:<public key>`, `user:<sub>` or \
             `system:<what>` (e.g. `system:github-secret-scanning`).",
        )
    }

    pub fn hashes() -> utoipa::openapi::schema::Array {
        utoipa::openapi::schema::ArrayBuilder::new()
            .items(string().pattern(Some("^[0-9a-fA-F]{64}$")).build())
            .min_items(Some(1))
            .max_items(Some(MAX_LEAK_ITEMS))
            .description(Some(
                "Hex SHA-256 of each leaked secret (1-1000); the secret itself is never sent.",
            ))
            .build()
    }

    pub fn leak_source() -> Object {
        let (ws, cc) = (WHITESPACE, CONTROL);
        let inner = MAX_LEAK_SOURCE_CHARS - 2;
        described(
            string()
                .pattern(Some(format!(
                    "^[{ws}]*[^{cc}{ws}](?:[^{cc}]{{0,{inner}}}[^{cc}{ws}])?[{ws}]*$"
                )))
                .build(),
            "Where the secrets were seen: 1-512 characters after trimming, no control \
             characters.",
        )
    }

    pub fn finding_kind() -> Object {
        described(
            one_of(crate::domain::review::FindingKind::ALL.map(|k| k.as_str())),
            "The kind of finding.",
        )
    }

    pub fn audit_action() -> Object {
        described(one_of(AUDIT_ACTIONS), "What happened.")
    }

    pub fn action_filter() -> Object {
        described(one_of(AUDIT_ACTIONS), "Only entries with this action.")
    }

    pub fn auth_method() -> Object {
        described(
            one_of(AUTH_METHODS.map(AuthMethod::as_str)),
            "How the caller authenticated: `secret`, `pair`, `public_key` or `session`.",
        )
    }
}

/// RFC 3339 times written straight into a stack buffer, in exactly the form chrono's own
/// `Serialize` gives (`2024-05-01T12:00:00.123Z`: `Z`, and 0, 3, 6 or 9 fraction digits,
/// the fewest that hold the value), for the fields of the verify hot path (`KeyObject`,
/// `Org`). chrono's goes through `collect_str`, which escapes each formatted piece as it is
/// written: a profile of `POST /v1/verify` showed it as a tenth of the request. Years
/// outside 0000-9999 and leap seconds are left to chrono.
pub(crate) mod rfc3339 {
    use chrono::{DateTime, Datelike, Timelike, Utc};
    use serde::{Serialize, Serializer};

    fn digits(out: &mut [u8], mut v: u32) {
        for b in out.iter_mut().rev() {
            *b = b'0' + (v % 10) as u8;
            v /= 10;
        }
    }

    /// The text, when the fast form applies.
    pub(crate) fn format(t: &DateTime<Utc>, buf: &mut [u8; 30]) -> Option<usize> {
        let year = u32::try_from(t.year()).ok().filter(|y| *y <= 9999)?;
        let nanos = t.nanosecond();
        if nanos >= 1_000_000_000 {
            return None;
        }
        digits(&mut buf[0..4], year);
        buf[4] = b'-';
        digits(&mut buf[5..7], t.month());
        buf[7] = b'-';
        digits(&mut buf[8..10], t.day());
        buf[10] = b'T';
        digits(&mut buf[11..13], t.hour());
        buf[13] = b':';
        digits(&mut buf[14..16], t.minute());
        buf[16] = b':';
        digits(&mut buf[17..19], t.second());
        let mut n = 19;
        let (frac, width) = if nanos == 0 {
            (0, 0)
        } else if nanos.is_multiple_of(1_000_000) {
            (nanos / 1_000_000, 3)
        } else if nanos.is_multiple_of(1_000) {
            (nanos / 1_000, 6)
        } else {
            (nanos, 9)
        };
        if width > 0 {
            buf[n] = b'.';
            digits(&mut buf[n + 1..n + 1 + width], frac);
            n += 1 + width;
        }
        buf[n] = b'Z';
        Some(n + 1)
    }

    /// `serialize_with` for a `DateTime<Utc>`.
    pub fn serialize<S: Serializer>(t: &DateTime<Utc>, s: S) -> Result<S::Ok, S::Error> {
        let mut buf = [0u8; 30];
        match format(t, &mut buf).and_then(|n| std::str::from_utf8(&buf[..n]).ok()) {
            Some(text) => s.serialize_str(text),
            None => t.serialize(s),
        }
    }

    /// `serialize_with` for an `Option<DateTime<Utc>>`.
    pub fn option<S: Serializer>(t: &Option<DateTime<Utc>>, s: S) -> Result<S::Ok, S::Error> {
        match t {
            Some(t) => serialize(t, s),
            None => s.serialize_none(),
        }
    }

    #[cfg(test)]
    mod tests {
        use super::*;

        #[test]
        fn the_same_text_as_chrono() {
            let mut seed: u64 = 0x9E37_79B9_7F4A_7C15;
            let mut next = || {
                seed ^= seed << 13;
                seed ^= seed >> 7;
                seed ^= seed << 17;
                seed
            };
            let mut cases = vec![
                DateTime::<Utc>::UNIX_EPOCH,
                DateTime::from_timestamp(253_402_300_799, 999_999_999).unwrap_or_default(),
                DateTime::from_timestamp(-62_167_219_200, 0).unwrap_or_default(),
                DateTime::from_timestamp(253_402_300_800, 0).unwrap_or_default(),
                DateTime::from_timestamp(-62_167_219_201, 5).unwrap_or_default(),
                // A leap second.
                DateTime::from_timestamp(1_483_228_799, 1_500_000_000).unwrap_or_default(),
            ];
            for _ in 0..20_000 {
                let secs = (next() % 400_000_000_000) as i64 - 100_000_000_000;
                let nanos = match next() % 4 {
                    0 => 0,
                    1 => (next() % 1000) as u32 * 1_000_000,
                    2 => (next() % 1_000_000) as u32 * 1_000,
                    _ => (next() % 1_000_000_000) as u32,
                };
                if let Some(t) = DateTime::from_timestamp(secs, nanos) {
                    cases.push(t);
                }
            }
            for t in cases {
                let ours = serialize(&t, serde_json::value::Serializer).ok();
                let theirs = serde_json::to_value(t).ok();
                assert_eq!(ours, theirs, "{t:?}");
                let some = option(&Some(t), serde_json::value::Serializer).ok();
                assert_eq!(some, theirs, "{t:?}");
            }
            let none = option(&None, serde_json::value::Serializer).ok();
            assert_eq!(none, Some(serde_json::Value::Null));
        }
    }
}
