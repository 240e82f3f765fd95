//! Usage, auth events and the audit log.

use axum::Json;
use axum::extract::{Path, State};
use chrono::{DateTime, Utc};

use super::cursor::{List, page_req};
use super::keys::own_key;
use super::responses::{AuthErrors, KeyNotFound, Rejections};
use crate::api::{
    Actor, AuditEntry, AuditQuery, AuthEvent, AuthEventsQuery, BucketSize, KeyUsage, OrgUsage,
    Page, TopKey, UsageBucket, UsageQuery,
};
use crate::domain::decision::ErrorCode;
use crate::server::AppState;
use crate::server::auth::{AuditRead, Caller, UsageRead};
use crate::server::error::ApiError;
use crate::server::extract::StrictQuery;
use crate::storage::{AuditFilter, AuthEventFilter};

/// Most buckets one usage request may span.
const MAX_BUCKETS: i64 = 1500;
/// Buckets returned by default.
const DEFAULT_BUCKETS: i64 = 60;

struct Range {
    bucket: BucketSize,
    from: DateTime<Utc>,
    to: DateTime<Utc>,
}

fn range(q: &UsageQuery, now: DateTime<Utc>) -> Result<Range, ApiError> {
    let bucket = q.bucket.unwrap_or(BucketSize::Minute);
    let size = chrono::Duration::seconds(bucket.seconds());
    let to = q.to.unwrap_or(now);
    let from = match q.from {
        Some(f) => bucket.floor(f),
        None => bucket.floor(to - size * (DEFAULT_BUCKETS as i32 - 1)),
    };
    if from >= to {
        return Err(ApiError::invalid(
            "invalid value for `from`: must be before `to`",
        ));
    }
    if (to - from).num_seconds() / bucket.seconds() > MAX_BUCKETS {
        return Err(ApiError::invalid(format!(
            "invalid range: at most {MAX_BUCKETS} {} buckets; use a larger bucket",
            bucket.as_str()
        )));
    }
    Ok(Range { bucket, from, to })
}

/// Every bucket in the range, zeros included, oldest first.
fn fill(r: &Range, rows: Vec<UsageBucket>) -> Vec<UsageBucket> {
    let mut out = Vec::new();
    let mut rows = rows.into_iter().peekable();
    let mut t = r.from;
    let step = chrono::Duration::seconds(r.bucket.seconds());
    while t < r.to {
        match rows.peek() {
            Some(row) if row.start == t => {
                out.push(*row);
                rows.next();
            }
            _ => out.push(UsageBucket {
                start: t,
                ..UsageBucket::default()
            }),
        }
        t += step;
    }
    out
}

/// Usage of one key per bucket.
#[utoipa::path(get, path = "/v1/keys/{id}/usage", tag = "usage",
    params(("id" = String, Path, description = "The public key"), UsageQuery),
    responses((status = 200, description = "The key's counters per bucket, oldest first, zeros included.", body = KeyUsage), Rejections, AuthErrors, KeyNotFound),
    security(("bearer" = []), ("api_key" = [])))]
pub async fn key_usage(
    State(state): State<AppState>,
    caller: Caller<UsageRead>,
    Path(id): Path<String>,
    StrictQuery(q): StrictQuery<UsageQuery>,
) -> Result<Json<KeyUsage>, ApiError> {
    let key = own_key(&state, caller.org_id(), &id).await?;
    let r = range(&q, state.clock.now())?;
    let rows = state
        .store
        .key_usage(&key.id, r.bucket, r.from, r.to)
        .await?;
    Ok(Json(KeyUsage {
        key_id: key.id.clone(),
        bucket: r.bucket,
        buckets: fill(&r, rows),
    }))
}

/// Org totals per bucket and the busiest keys.
#[utoipa::path(get, path = "/v1/usage", tag = "usage",
    params(UsageQuery),
    responses((status = 200, description = "The organization's counters per bucket and its busiest keys.", body = OrgUsage), Rejections, AuthErrors),
    security(("bearer" = []), ("api_key" = [])))]
pub async fn org_usage(
    State(state): State<AppState>,
    caller: Caller<UsageRead>,
    StrictQuery(q): StrictQuery<UsageQuery>,
) -> Result<Json<OrgUsage>, ApiError> {
    let r = range(&q, state.clock.now())?;
    let org = caller.org_id();
    let rows = state.store.org_usage(org, r.bucket, r.from, r.to).await?;
    let top = state
        .store
        .top_keys(org, r.bucket, r.from, r.to, 10)
        .await?;
    Ok(Json(OrgUsage {
        bucket: r.bucket,
        buckets: fill(&r, rows),
        top_keys: top
            .into_iter()
            .map(|t| TopKey {
                total: t.counts.total(),
                key_id: t.key_id,
                name: t.name,
                ok: t.counts.ok,
                unauthorized: t.counts.unauthorized,
                forbidden: t.counts.forbidden,
                rate_limited: t.counts.rate_limited,
            })
            .collect(),
    }))
}

/// Denied decisions (401/403/429), newest first.
#[utoipa::path(get, path = "/v1/auth-events", tag = "usage",
    params(AuthEventsQuery),
    responses((status = 200, description = "A page of denied decisions, newest first.", body = Page<AuthEvent>), Rejections, AuthErrors),
    security(("bearer" = []), ("api_key" = [])))]
pub async fn auth_events(
    State(state): State<AppState>,
    caller: Caller<UsageRead>,
    StrictQuery(q): StrictQuery<AuthEventsQuery>,
) -> Result<Json<Page<AuthEvent>>, ApiError> {
    let (page, cursors) = page_req(
        &state,
        caller.org_id(),
        List::AuthEvents,
        q.limit,
        q.cursor.as_deref(),
    )
    .await?;
    if let Some(c) = &q.code
        && ErrorCode::parse(c).is_none()
    {
        return Err(ApiError::invalid(format!(
            "invalid value for `code`: unknown code `{c}`"
        )));
    }
    let filter = AuthEventFilter {
        request_id: q.request_id.clone(),
        key_id: q.key_id.clone(),
        code: q.code.clone(),
    };
    let found = state
        .store
        .list_auth_events(caller.org_id(), &filter, page)
        .await?;
    Ok(Json(Page {
        data: found
            .items
            .into_iter()
            .map(|e| AuthEvent {
                request_id: e.request_id,
                at: e.at,
                key_id: e.key_id,
                code: e.code,
                status: e.status,
                method: e.method,
                path: e.path,
                ip: e.ip,
                origin: e.origin,
                app_id: e.app_id,
                user: e.user,
                required_scopes: e.required_scopes,
                count: e.count,
            })
            .collect(),
        next_cursor: cursors.next(found.next),
        total: None,
        total_is_lower_bound: false,
    }))
}

/// The audit log, newest first.
#[utoipa::path(get, path = "/v1/audit", tag = "audit",
    params(AuditQuery),
    responses((status = 200, description = "A page of audit entries, newest first.", body = Page<AuditEntry>), Rejections, AuthErrors),
    security(("bearer" = []), ("api_key" = [])))]
pub async fn audit(
    State(state): State<AppState>,
    caller: Caller<AuditRead>,
    StrictQuery(q): StrictQuery<AuditQuery>,
) -> Result<Json<Page<AuditEntry>>, ApiError> {
    let (page, cursors) = page_req(
        &state,
        caller.org_id(),
        List::Audit,
        q.limit,
        q.cursor.as_deref(),
    )
    .await?;
    let actor = q
        .actor
        .as_deref()
        .map(|a| {
            Actor::parse_filter(a).ok_or_else(|| {
                ApiError::invalid(
                    "invalid value for `actor`: use key:<public key>, user:<sub> or system:<what>",
                )
            })
        })
        .transpose()?;
    let filter = AuditFilter {
        key_id: q.key_id.clone(),
        action: q.action.clone(),
        actor,
    };
    let found = state
        .store
        .list_audit(caller.org_id(), &filter, page)
        .await?;
    Ok(Json(Page {
        data: found
            .items
            .into_iter()
            .map(|a| AuditEntry {
                id: a.id,
                at: a.at,
                actor_key_id: a.actor.key_id().map(str::to_owned),
                actor: a.actor,
                action: a.action,
                key_id: a.key_id,
                changes: a.changes,
            })
            .collect(),
        next_cursor: cursors.next(found.next),
        total: None,
        total_is_lower_bound: false,
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn default_range_is_sixty_buckets_ending_now() {
        let now = DateTime::from_timestamp(1_800_000_030, 0).expect("time");
        let r = range(&UsageQuery::default(), now).expect("range");
        let filled = fill(&r, vec![]);
        assert_eq!(filled.len(), 60);
        assert_eq!(
            filled.last().map(|b| b.start),
            Some(BucketSize::Minute.floor(now))
        );
    }

    #[test]
    fn bad_ranges_are_refused() {
        let now = DateTime::from_timestamp(1_800_000_030, 0).expect("time");
        let q = UsageQuery {
            bucket: None,
            from: Some(now + chrono::Duration::minutes(2)),
            to: Some(now),
        };
        assert!(range(&q, now).is_err());
        let q = UsageQuery {
            bucket: Some(BucketSize::Minute),
            from: Some(now - chrono::Duration::days(30)),
            to: Some(now),
        };
        assert!(range(&q, now).is_err());
    }
}
