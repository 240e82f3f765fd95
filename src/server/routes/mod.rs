//! Route handlers, registered once through `utoipa_axum` so the router and the OpenAPI
//! document come from the same annotations and cannot drift.

pub mod keys;
pub mod misc;
pub mod reports;

use chrono::{DateTime, Utc};
use utoipa::openapi::security::{ApiKey, ApiKeyValue, HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::{Modify, OpenApi};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::AppState;
use super::error::ApiError;
use crate::api::{API_KEY_HEADER, DEFAULT_LIMIT, ErrorBody, MAX_LIMIT};
use crate::domain::key::{decode_base62, encode_base62, random_base62};
use crate::storage::{NewAudit, PageReq};

struct SecuritySchemes;

impl Modify for SecuritySchemes {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(
                HttpBuilder::new()
                    .scheme(HttpAuthScheme::Bearer)
                    .description(Some(
                        "`Authorization: Bearer <secret | pk:secret | pk>` (or the same value in `x-api-key`)",
                    ))
                    .build(),
            ),
        );
        components.add_security_scheme(
            "api_key",
            SecurityScheme::ApiKey(ApiKey::Header(ApiKeyValue::with_description(
                API_KEY_HEADER,
                "The same credential as Bearer, without the scheme: `<secret | pk:secret | pk>`",
            ))),
        );
    }
}

#[derive(OpenApi)]
#[openapi(
    info(
        title = "keyconsole key API",
        description = "Organization API keys: scopes, allowed domains, enable/disable, rotation, usage and audit. Every non-2xx response has the ErrorBody shape."
    ),
    components(schemas(ErrorBody)),
    modifiers(&SecuritySchemes)
)]
struct ApiDoc;

/// Every documented route.
pub fn api_router() -> OpenApiRouter<AppState> {
    OpenApiRouter::with_openapi(ApiDoc::openapi())
        .routes(routes!(misc::me, misc::me_preflight))
        .routes(routes!(keys::list_keys, keys::create_key))
        .routes(routes!(keys::get_key, keys::update_key, keys::delete_key))
        .routes(routes!(keys::rotate_key))
        .routes(routes!(reports::key_usage))
        .routes(routes!(reports::org_usage))
        .routes(routes!(reports::auth_events))
        .routes(routes!(reports::audit))
        .routes(routes!(misc::scopes))
        .routes(routes!(misc::list_apps, misc::create_app))
        .routes(routes!(misc::verify))
        .routes(routes!(misc::healthz))
        .routes(routes!(misc::readyz))
}

/// Validate `limit` and decode `cursor` (API.md §5: 1-500, default 50; opaque cursors).
pub fn page_req(limit: Option<u32>, cursor: Option<&str>) -> Result<PageReq, ApiError> {
    let limit = limit.unwrap_or(DEFAULT_LIMIT);
    if !(1..=MAX_LIMIT).contains(&limit) {
        return Err(ApiError::invalid(format!(
            "invalid value for `limit`: must be 1-{MAX_LIMIT}, got {limit}"
        )));
    }
    let before = cursor
        .map(|c| {
            c.strip_prefix("cur_")
                .and_then(decode_base62)
                .and_then(|v| i64::try_from(v).ok())
                .ok_or_else(|| {
                    ApiError::invalid(
                        "invalid value for `cursor`: use a next_cursor from a previous page",
                    )
                })
        })
        .transpose()?;
    Ok(PageReq { limit, before })
}

/// The opaque cursor for a sequence number.
pub fn cursor(next: Option<i64>) -> Option<String> {
    next.map(|s| format!("cur_{}", encode_base62(u64::try_from(s).unwrap_or(0), 1)))
}

/// A new audit entry.
pub fn audit(
    state: &AppState,
    org_id: &str,
    actor: Option<&str>,
    action: &str,
    key_id: Option<&str>,
    changes: serde_json::Value,
    at: DateTime<Utc>,
) -> NewAudit {
    let mut fill = |b: &mut [u8]| state.random(b);
    NewAudit {
        id: format!("aud_{}", random_base62(20, &mut fill)),
        org_id: org_id.to_owned(),
        at,
        actor_key_id: actor.map(str::to_owned),
        action: action.to_owned(),
        key_id: key_id.map(str::to_owned),
        changes,
    }
}

/// Validate a display name: 1-100 characters after trimming, no control characters.
pub fn valid_name(name: &str) -> Result<String, ApiError> {
    let n = name.trim();
    if n.is_empty() || n.chars().count() > 100 {
        return Err(ApiError::invalid(
            "invalid value for `name`: must be 1-100 characters",
        ));
    }
    if n.chars().any(char::is_control) {
        return Err(ApiError::invalid(
            "invalid value for `name`: control characters are not allowed",
        ));
    }
    Ok(n.to_owned())
}
