//! Access review (API.md §10): `GET /v1/keys/{id}/scope-usage` and `GET /v1/review`. The
//! counting happens on the hot path (`server::usage`); the rules are pure
//! (`domain::least_privilege`, `domain::review`); this module only gathers and answers.

use std::collections::HashMap;

use axum::Json;
use axum::extract::{Path, State};
use chrono::{DateTime, Duration, Utc};

use super::keys::own_key;
use super::responses::{AuthErrors, KeyNotFound, Rejections};
use crate::api::{
    BucketSize, KeyObject, MAX_REVIEW_FINDINGS, Review, ReviewFinding, ReviewQuery, ScopeUsage,
    ScopeUsageQuery, ScopeUse,
};
use crate::domain::least_privilege::{Exercised, LeastPrivilege, least_privilege};
use crate::domain::record::KeyRecord;
use crate::domain::review::{
    DEFAULT_ROTATION_DAYS, DEFAULT_STALE_DAYS, FindingKind, OVER_PRIVILEGED_DAYS, ReviewPolicy,
    check,
};
use crate::domain::scope::Scope;
use crate::server::AppState;
use crate::server::auth::{Caller, ReviewRead, UsageRead};
use crate::server::error::ApiError;
use crate::server::extract::StrictQuery;
use crate::storage::{REVIEW_SCAN_LIMIT, ScopeCount};

/// Default `days` of scope usage.
const DEFAULT_DAYS: u32 = 30;
/// Longest scope-usage window, in days.
const MAX_DAYS: u32 = 90;
/// Most keys `over_privileged` examines per review: the most recently used ones.
pub const OVER_PRIVILEGED_SCAN: u32 = 1_000;
/// Longest `stale_days` and `rotation_days` (ten years).
const MAX_POLICY_DAYS: u32 = 3650;

/// The first UTC day of a window of `days` days ending today.
fn window_start(now: DateTime<Utc>, days: u32) -> DateTime<Utc> {
    BucketSize::Day.floor(now) - Duration::days(i64::from(days) - 1)
}

fn exercised(counts: &[ScopeCount]) -> Vec<Exercised> {
    counts
        .iter()
        .filter_map(|c| {
            Scope::parse(&c.scope).ok().map(|scope| Exercised {
                scope,
                requests: c.requests,
                last_used_at: Some(c.last_used_at),
            })
        })
        .collect()
}

fn names(scopes: &[Scope]) -> Vec<String> {
    scopes.iter().map(ToString::to_string).collect()
}

/// Which of the key's scopes its allowed requests needed in the last `days` days, which it
/// holds for nothing, and the smallest set of catalog scopes that covers what it did.
#[utoipa::path(get, path = "/v1/keys/{id}/scope-usage", tag = "usage",
    params(("id" = String, Path, description = "The public key"), ScopeUsageQuery),
    responses((status = 200, description = "Requests per held scope in the window, the unused scopes and the suggested least-privilege set.", body = ScopeUsage), Rejections, AuthErrors, KeyNotFound),
    security(("bearer" = []), ("api_key" = [])))]
pub async fn scope_usage(
    State(state): State<AppState>,
    caller: Caller<UsageRead>,
    Path(id): Path<String>,
    StrictQuery(q): StrictQuery<ScopeUsageQuery>,
) -> Result<Json<ScopeUsage>, ApiError> {
    let days = q.days.unwrap_or(DEFAULT_DAYS);
    if !(1..=MAX_DAYS).contains(&days) {
        return Err(ApiError::invalid(format!(
            "invalid value for `days`: must be 1-{MAX_DAYS}, got {days}"
        )));
    }
    let key = own_key(&state, caller.org_id(), &id).await?;
    let from = window_start(state.clock.now(), days);
    let counts = state
        .store
        .scope_counts(std::slice::from_ref(&key.id), from)
        .await?;
    let lp = least_privilege(&key.scopes, &exercised(&counts), &state.config.catalog);
    Ok(Json(ScopeUsage {
        days,
        scopes: lp
            .held
            .iter()
            .map(|h| ScopeUse {
                scope: h.scope.to_string(),
                requests: h.requests,
                last_used_at: h.last_used_at,
            })
            .collect(),
        unused: names(&lp.unused),
        suggested: names(&lp.suggested),
    }))
}

fn policy_days(v: Option<u32>, default: u32, field: &str) -> Result<u32, ApiError> {
    let d = v.unwrap_or(default);
    if (1..=MAX_POLICY_DAYS).contains(&d) {
        Ok(d)
    } else {
        Err(ApiError::invalid(format!(
            "invalid value for `{field}`: must be 1-{MAX_POLICY_DAYS}, got {d}"
        )))
    }
}

/// Least privilege over the last 30 days for each of `keys`.
async fn least_privileges(
    state: &AppState,
    keys: &[KeyRecord],
    now: DateTime<Utc>,
) -> Result<HashMap<String, LeastPrivilege>, ApiError> {
    let ids: Vec<String> = keys.iter().map(|k| k.id.clone()).collect();
    let counts = state
        .store
        .scope_counts(&ids, window_start(now, OVER_PRIVILEGED_DAYS))
        .await?;
    let mut by_key: HashMap<&str, Vec<ScopeCount>> = HashMap::new();
    for c in &counts {
        by_key.entry(c.key_id.as_str()).or_default().push(c.clone());
    }
    Ok(keys
        .iter()
        .map(|k| {
            let seen = by_key.get(k.id.as_str()).map_or(&[][..], Vec::as_slice);
            (
                k.id.clone(),
                least_privilege(&k.scopes, &exercised(seen), &state.config.catalog),
            )
        })
        .collect())
}

/// The organization's access review: keys that need attention, grouped by kind (leaked
/// first), at most 1,000 per kind.
#[utoipa::path(get, path = "/v1/review", tag = "review",
    params(ReviewQuery),
    responses((status = 200, description = "The findings, grouped by kind; `truncated` names kinds with more than 1,000.", body = Review), Rejections, AuthErrors),
    security(("bearer" = []), ("api_key" = [])))]
pub async fn review(
    State(state): State<AppState>,
    caller: Caller<ReviewRead>,
    StrictQuery(q): StrictQuery<ReviewQuery>,
) -> Result<Json<Review>, ApiError> {
    let policy = ReviewPolicy {
        stale_days: policy_days(q.stale_days, DEFAULT_STALE_DAYS, "stale_days")?,
        rotation_days: policy_days(q.rotation_days, DEFAULT_ROTATION_DAYS, "rotation_days")?,
    };
    let now = state.clock.now();
    let org = caller.org_id();
    let mut findings = Vec::new();
    let mut truncated = Vec::new();
    for kind in FindingKind::ALL {
        let limit = if kind == FindingKind::OverPrivileged {
            OVER_PRIVILEGED_SCAN
        } else {
            REVIEW_SCAN_LIMIT
        };
        let keys = state
            .store
            .review_candidates(org, kind, &policy, now, limit)
            .await?;
        let lps = if kind == FindingKind::OverPrivileged {
            least_privileges(&state, &keys, now).await?
        } else {
            HashMap::new()
        };
        let mut n = 0;
        for k in &keys {
            let lp = lps.get(&k.id);
            let Some(f) = check(kind, k, lp, &policy, now) else {
                continue;
            };
            if n == MAX_REVIEW_FINDINGS {
                truncated.push(kind.as_str().to_owned());
                break;
            }
            n += 1;
            findings.push(ReviewFinding {
                kind: kind.as_str().to_owned(),
                key: KeyObject::from_record(k, now),
                detail: f.detail,
                unused: lp
                    .filter(|_| kind == FindingKind::OverPrivileged)
                    .map(|l| names(&l.unused)),
                suggested: lp
                    .filter(|_| kind == FindingKind::OverPrivileged)
                    .map(|l| names(&l.suggested)),
            });
        }
    }
    Ok(Json(Review {
        stale_days: policy.stale_days,
        rotation_days: policy.rotation_days,
        findings,
        truncated,
    }))
}
