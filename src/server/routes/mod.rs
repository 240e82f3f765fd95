//! Route handlers, registered once through `utoipa_axum` so the router and the OpenAPI
//! document come from the same annotations and cannot drift.

pub mod cursor;
pub mod instances;
pub mod keys;
pub mod leaks;
pub mod misc;
pub mod reports;
pub mod responses;
pub mod review;

use chrono::{DateTime, Utc};
use utoipa::openapi::security::{ApiKey, ApiKeyValue, HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::{Modify, OpenApi};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::AppState;
use super::error::ApiError;
use crate::api::{API_KEY_HEADER, Actor, ErrorBody, MAX_NAME_CHARS, REQUEST_ID_HEADER};
use crate::domain::key::random_base62;
use crate::domain::scope::{Catalog, Scope};
use crate::storage::NewAudit;

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
        .merge(
            OpenApiRouter::new()
                .routes(routes!(leaks::report_leaks))
                // 1,000 hashes do not fit in 64 KiB.
                .layer(axum::extract::DefaultBodyLimit::max(
                    leaks::MAX_LEAKS_BODY_BYTES,
                )),
        )
        .routes(routes!(leaks::github_scanning))
        .routes(routes!(leaks::key_leaks))
        .routes(routes!(review::scope_usage))
        .routes(routes!(review::review))
        .routes(routes!(instances::list_instances))
        .routes(routes!(misc::healthz))
        .routes(routes!(misc::readyz))
}

/// Request bodies whose `scopes` must name scopes of the deployment's catalog.
const GRANTING_BODIES: [&str; 2] = ["CreateKeyRequest", "UpdateKeyRequest"];

/// What a key may be granted: the catalog's scopes, `*` and `resource:*` for each of its
/// resources (what `Catalog::validate` accepts).
fn grantable(catalog: &Catalog) -> Vec<String> {
    let mut out = vec![Scope::All.to_string()];
    for e in catalog.entries() {
        if let Some((resource, _)) = e.name.split_once(':') {
            let all = Scope::Resource(resource.to_owned()).to_string();
            if !out.contains(&all) {
                out.push(all);
            }
        }
        out.push(e.name.clone());
    }
    out
}

/// The served document: the generated one, with what the derives cannot say. Every response
/// carries `x-request-id`, every response header the document names is always sent
/// (`required`, which utoipa's header model lacks), and scopes to grant are this
/// deployment's.
pub fn document(openapi: &utoipa::openapi::OpenApi, catalog: &Catalog) -> String {
    let mut doc = serde_json::to_value(openapi).unwrap_or_default();
    let scopes = grantable(catalog);
    for body in GRANTING_BODIES {
        if let Some(items) = doc.pointer_mut(&format!(
            "/components/schemas/{body}/properties/scopes/items"
        )) {
            *items = serde_json::json!({"type": "string", "enum": scopes});
        }
    }
    if let Some(info) = doc
        .get_mut("info")
        .and_then(serde_json::Value::as_object_mut)
    {
        // The crate declares no license; utoipa would print an empty one.
        info.remove("license");
    }
    let responses = doc
        .get_mut("paths")
        .and_then(serde_json::Value::as_object_mut)
        .into_iter()
        .flat_map(|paths| paths.values_mut())
        .filter_map(serde_json::Value::as_object_mut)
        .flat_map(|item| item.values_mut())
        .filter_map(|op| op.get_mut("responses"))
        .filter_map(serde_json::Value::as_object_mut)
        .flat_map(|r| r.values_mut())
        .filter_map(serde_json::Value::as_object_mut);
    for response in responses {
        let headers = response
            .entry("headers")
            .or_insert_with(|| serde_json::json!({}));
        if let Some(headers) = headers.as_object_mut() {
            headers.insert(
                REQUEST_ID_HEADER.to_owned(),
                serde_json::json!({
                    "description": "The request id (`req_` and 20 letters or digits); quote it to support.",
                    "schema": {"type": "string", "pattern": "^req_[0-9A-Za-z]{20}$"},
                }),
            );
            for header in headers
                .values_mut()
                .filter_map(serde_json::Value::as_object_mut)
            {
                header.insert("required".to_owned(), serde_json::Value::Bool(true));
            }
        }
    }
    doc.to_string()
}

/// A new audit entry.
pub fn audit(
    state: &AppState,
    org_id: &str,
    actor: &Actor,
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
        actor: actor.clone(),
        action: action.to_owned(),
        key_id: key_id.map(str::to_owned),
        changes,
    }
}

/// Validate optional free text (a key's `owner`, `description`): at most `max` characters
/// after trimming, no control characters; only whitespace (or nothing) is `None`.
pub fn free_text(field: &str, value: &str, max: usize) -> Result<Option<String>, ApiError> {
    let v = value.trim();
    if v.chars().count() > max {
        return Err(ApiError::invalid(format!(
            "invalid value for `{field}`: at most {max} characters"
        )));
    }
    if v.chars().any(char::is_control) {
        return Err(ApiError::invalid(format!(
            "invalid value for `{field}`: control characters are not allowed"
        )));
    }
    Ok((!v.is_empty()).then(|| v.to_owned()))
}

/// Validate a display name: 1-100 characters after trimming, no control characters.
pub fn valid_name(name: &str) -> Result<String, ApiError> {
    let n = name.trim();
    if n.is_empty() || n.chars().count() > MAX_NAME_CHARS {
        return Err(ApiError::invalid(format!(
            "invalid value for `name`: must be 1-{MAX_NAME_CHARS} characters"
        )));
    }
    if n.chars().any(char::is_control) {
        return Err(ApiError::invalid(
            "invalid value for `name`: control characters are not allowed",
        ));
    }
    Ok(n.to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use utoipa::PartialSchema;

    /// The documented `name` of `POST /v1/apps` (and of keys: the same schema).
    fn name_validator() -> jsonschema::Validator {
        let schema = serde_json::to_value(crate::api::CreateAppRequest::schema()).expect("json");
        jsonschema::draft202012::new(&schema["properties"]["name"]).expect("schema")
    }

    /// Letters, spaces, whitespace that is a control character, and controls that are not
    /// whitespace, so trimming and the control check both matter.
    fn names() -> impl Strategy<Value = String> {
        let alphabet = prop::sample::select(vec![
            'a', 'Z', 'é', ' ', '\t', '\n', '\r', '\u{85}', '\u{a0}', '\u{3000}', '\u{2028}',
            '\u{feff}', '\u{1f}', '\u{7f}', '\u{0}',
        ]);
        prop_oneof![
            prop::collection::vec(alphabet.clone(), 0..8),
            // Around the 100-character limit, padded or not.
            (
                prop::collection::vec(alphabet.clone(), 0..3),
                98usize..103,
                prop::collection::vec(alphabet, 0..3)
            )
                .prop_map(|(pre, n, post)| {
                    let mut v = pre;
                    v.extend(std::iter::repeat_n('a', n));
                    v.extend(post);
                    v
                }),
        ]
        .prop_map(|v| v.into_iter().collect())
    }

    proptest! {
        #[test]
        fn the_documented_name_is_what_valid_name_accepts(name in names()) {
            let documented = name_validator().is_valid(&serde_json::json!(name));
            prop_assert_eq!(documented, valid_name(&name).is_ok(), "{:?}", name);
        }
    }
}
