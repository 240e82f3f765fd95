//! `GET /v1/instances`: which instances are live and the last change each applied
//! (API.md §7; the acknowledgement the console shows after a disable, delete or rotate).

use axum::Json;
use axum::extract::State;

use super::responses::{AuthErrors, Rejections};
use crate::api::{Instance, InstancesResponse};
use crate::server::AppState;
use crate::server::auth::{Caller, KeysRead};
use crate::server::error::ApiError;
use crate::server::extract::{NoQuery, StrictQuery};
use crate::server::feed::LIVE_WITHIN;
use crate::storage::InstanceRecord;

fn instance(r: InstanceRecord) -> Instance {
    Instance {
        id: r.id,
        started_at: r.started_at,
        last_seen_at: r.last_seen_at,
        applied_change: r.applied_change,
    }
}

/// The instances seen in the last 30 s and the last change each has applied: an instance
/// whose `applied_change` is at least a mutation's `x-keyconsole-change` has applied it.
#[utoipa::path(get, path = "/v1/instances", tag = "instances",
    responses((status = 200, description = "The live instances, oldest start first, and the organization's newest change.", body = InstancesResponse), Rejections, AuthErrors),
    security(("bearer" = []), ("api_key" = [])))]
pub async fn list_instances(
    State(state): State<AppState>,
    caller: Caller<KeysRead>,
    _: StrictQuery<NoQuery>,
) -> Result<Json<InstancesResponse>, ApiError> {
    let latest_change = state.store.latest_change(Some(caller.org_id())).await?;
    let feed = &state.feed;
    let now = state.clock.now();
    let mut data: Vec<Instance> = if feed.is_running() {
        let since = now - chrono::Duration::from_std(LIVE_WITHIN).unwrap_or_default();
        state
            .store
            .list_instances(since)
            .await?
            .into_iter()
            .map(instance)
            .collect()
    } else {
        Vec::new()
    };
    // This instance is live by answering, even before its first heartbeat is written; alone
    // on its database (no feed running) it has applied every change.
    if !data.iter().any(|i| i.id == feed.id()) {
        data.push(Instance {
            id: feed.id().to_owned(),
            started_at: feed.started_at(),
            last_seen_at: now,
            applied_change: if feed.is_running() {
                feed.applied()
            } else {
                state.store.latest_change(None).await?
            },
        });
    }
    Ok(Json(InstancesResponse {
        latest_change,
        data,
    }))
}
