//! Wire types shared by the server and the client (API.md §4-5): request and response
//! bodies, the error body, query parameters and route paths. Serde only; no I/O.
//!
//! Request types reject unknown fields. Types that carry a secret hold it as
//! [`Secret`], whose `Debug` is redacted.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Deserializer, Serialize};
use utoipa::{IntoParams, ToSchema};

use crate::domain::decision::{Decision, ErrorCode};
use crate::domain::key::{Env, Secret};
use crate::domain::record::{KeyRecord, KeyStatus};

/// Response header carrying the request id.
pub const REQUEST_ID_HEADER: &str = "x-request-id";
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

/// Route paths, shared so the client and the server cannot drift.
pub mod paths {
    /// `GET /v1/me`
    pub const ME: &str = "/v1/me";
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
    pub kind: String,
    /// Machine-readable code, e.g. `key_disabled`.
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
    /// Display name (1-100 characters).
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
    #[schema(value_type = String)]
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
    #[schema(value_type = String)]
    pub status: KeyStatus,
    /// `…` and the secret's last four characters.
    pub secret_hint: String,
    /// Creation time.
    pub created_at: DateTime<Utc>,
    /// Last change.
    pub updated_at: DateTime<Utc>,
    /// When the key stops working.
    pub expires_at: Option<DateTime<Utc>>,
    /// Last authenticated request.
    pub last_used_at: Option<DateTime<Utc>>,
    /// The key this one replaced.
    pub rotated_from: Option<String>,
    /// The key that replaced this one.
    pub rotated_to: Option<String>,
    /// Version for `If-Match`.
    pub version: i64,
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
        }
    }
}

/// `POST /v1/keys`
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateKeyRequest {
    /// Display name (1-100 characters).
    pub name: String,
    /// Scopes to grant; or give `preset`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub scopes: Option<Vec<String>>,
    /// `full` or `read-only`; or give `scopes`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub preset: Option<String>,
    /// Allowed Origin hosts (`example.com`, `*.example.com`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub allowed_domains: Option<Vec<String>>,
    /// Bind the key to an app of the org.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub app_id: Option<String>,
    /// `live` or `test`; defaults to the caller's environment.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<String>)]
    pub env: Option<Env>,
    /// Optional expiry.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expires_at: Option<DateTime<Utc>>,
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
    /// New name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// New scopes (replaces the list).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub scopes: Option<Vec<String>>,
    /// New allowed domains (replaces the list).
    #[serde(default, skip_serializing_if = "Option::is_none")]
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
}

/// `POST /v1/keys/{id}/rotate`
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RotateRequest {
    /// Seconds the old key keeps working (0-2592000, default 0).
    #[serde(default, skip_serializing_if = "Option::is_none")]
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
    /// Items matching the filter across all pages (`GET /v1/keys` only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub total: Option<u64>,
    /// `true` when `total` is a cap, not an exact count: at least that many match.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub total_is_lower_bound: bool,
}

/// `GET /v1/keys` query.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct ListKeysQuery {
    /// 1-500, default 50.
    pub limit: Option<u32>,
    /// From the previous page's `next_cursor`.
    pub cursor: Option<String>,
    /// Substring of the name or id (case-insensitive).
    pub q: Option<String>,
    /// `active`, `disabled`, `expiring` or `expired`.
    pub status: Option<String>,
    /// Only keys bound to this app.
    pub app_id: Option<String>,
    /// `live` or `test`.
    pub env: Option<String>,
    /// Only keys whose scopes grant this scope (wildcards count): access reviews.
    pub scope: Option<String>,
    /// Only keys whose secret ends with these characters (`secret_hint`, 1-4 characters).
    pub hint: Option<String>,
    /// Only keys never used, or last used before this time (stale-key reviews).
    pub last_used_before: Option<DateTime<Utc>>,
    /// Only keys created before this time (rotation-due reviews).
    pub created_before: Option<DateTime<Utc>>,
    /// `created`, `-created` (default), `name`, `-name`, `last_used`, `-last_used`, `expires`
    /// or `-expires`; cursors follow the sort.
    pub sort: Option<String>,
}

/// `GET /v1/apps`, `/v1/auth-events`, `/v1/audit` paging.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct PageQuery {
    /// 1-500, default 50.
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
    #[param(value_type = Option<String>)]
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
    pub limit: Option<u32>,
    /// From the previous page's `next_cursor`.
    pub cursor: Option<String>,
    /// Exact request id.
    pub request_id: Option<String>,
    /// Only events of this key.
    pub key_id: Option<String>,
    /// Only this code.
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
    pub limit: Option<u32>,
    /// From the previous page's `next_cursor`.
    pub cursor: Option<String>,
    /// Only entries about this key.
    pub key_id: Option<String>,
    /// Only this action, e.g. `key.rotated`.
    pub action: Option<String>,
}

/// One audit entry. Append-only.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AuditEntry {
    /// `aud_…`
    pub id: String,
    /// When.
    pub at: DateTime<Utc>,
    /// The key that made the change (`null` for the command line).
    pub actor_key_id: Option<String>,
    /// `key.created`, `key.updated`, `key.enabled`, `key.disabled`, `key.rotated`,
    /// `key.deleted`, `app.created`.
    pub action: String,
    /// The key changed (for `app.created`, `null`).
    pub key_id: Option<String>,
    /// What changed: `{"field": {"from": …, "to": …}}` or the created object.
    #[schema(value_type = Object)]
    pub changes: serde_json::Value,
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
    /// The caller's key.
    pub key: KeyObject,
    /// The caller's scopes.
    pub scopes: Vec<String>,
    /// `secret`, `pair` or `public_key`.
    pub auth_method: String,
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

/// `GET /healthz`, `/readyz`
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct Health {
    /// `ok`.
    pub status: String,
}
