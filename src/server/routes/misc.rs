//! `/v1/me`, `/v1/scopes`, `/v1/apps`, `/v1/verify`, health and the OpenAPI document.

use std::collections::BTreeMap;

use axum::Json;
use axum::Router;
use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use serde_json::json;

use super::responses::{AuthErrors, BodyErrors, Rejections, StoreErrors};
use super::{audit, cursor, page_req, valid_name};
use crate::api::{
    Actor, App, CreateAppRequest, Health, KeyObject, MeResponse, Org, Page, PageQuery, ScopeInfo,
    ScopesResponse, VerifyRequest, VerifyResponse,
};
use crate::domain::decision::{AuthMethod, Credential, ErrorCode, Step, extract_token};
use crate::domain::key::{is_app_id, new_app_id};
use crate::domain::scope::{PRESETS, Scope};
use crate::server::AppState;
use crate::server::auth::{AnyKey, Caller, KeysRead, KeysVerify, KeysWrite};
use crate::server::error::ApiError;
use crate::server::extract::{NoQuery, StrictJson, StrictQuery};

/// The caller's org, key and scopes: a safe first call for any integration.
///
/// A web page may call it cross-origin with a public key alone: the answer then carries
/// `Access-Control-Allow-Origin` for that page's Origin, and only when the key allows it.
#[utoipa::path(get, path = "/v1/me", tag = "keys",
    responses((status = 200, description = "The caller's organization, key and scopes.", body = MeResponse), Rejections, AuthErrors),
    security(("bearer" = []), ("api_key" = [])))]
pub async fn me(
    State(state): State<AppState>,
    caller: Caller<AnyKey>,
    headers: HeaderMap,
    _: StrictQuery<NoQuery>,
) -> Result<Response, ApiError> {
    let org = state
        .org(&caller.key.org_id)
        .await?
        .ok_or_else(|| ApiError::internal("key without an organization"))?;
    let mut resp = Json(MeResponse {
        org: Org::clone(&org),
        key: KeyObject::from_record(&caller.key, state.clock.now()),
        scopes: caller.key.scopes.to_strings(),
        auth_method: caller.method.as_str().to_owned(),
    })
    .into_response();
    // A public key alone gets this far only from one of the key's allowed Origins.
    if caller.method == AuthMethod::PublicKey
        && let Some(origin) = headers.get(header::ORIGIN)
    {
        allow_origin(resp.headers_mut(), origin);
    }
    Ok(resp)
}

/// Let the page at `origin` read this response (and tell caches it depends on Origin).
fn allow_origin(h: &mut HeaderMap, origin: &HeaderValue) {
    h.insert(header::ACCESS_CONTROL_ALLOW_ORIGIN, origin.clone());
    h.insert(header::VARY, HeaderValue::from_static("Origin"));
}

/// CORS preflight of `GET /v1/me`, from any Origin.
///
/// The browser may send the credential headers (API.md §2). The preflight reveals nothing:
/// whether the page may read the real answer is decided on that answer. Without `Origin`
/// and `Access-Control-Request-Method` this is a plain `OPTIONS`, answered with `Allow`.
#[utoipa::path(options, path = "/v1/me", tag = "keys",
    params(
        ("Origin" = Option<String>, Header, description = "The calling page's origin"),
        ("Access-Control-Request-Method" = Option<String>, Header, description = "The method of the request to come (GET)"),
        ("Access-Control-Request-Headers" = Option<String>, Header, description = "Its non-simple headers (authorization, x-api-key, x-app-id)")),
    responses((status = 204, description = "Preflight accepted: `Access-Control-Allow-Origin` (that Origin), `Access-Control-Allow-Methods: GET`, `Access-Control-Allow-Headers: authorization, x-api-key, x-app-id`, `Access-Control-Max-Age: 600`"), Rejections))]
pub async fn me_preflight(headers: HeaderMap, _: StrictQuery<NoQuery>) -> Response {
    let mut resp = StatusCode::NO_CONTENT.into_response();
    let h = resp.headers_mut();
    h.insert(
        header::ALLOW,
        HeaderValue::from_static("GET, HEAD, OPTIONS"),
    );
    if let Some(origin) = headers.get(header::ORIGIN)
        && headers.contains_key(header::ACCESS_CONTROL_REQUEST_METHOD)
    {
        allow_origin(h, origin);
        h.insert(
            header::ACCESS_CONTROL_ALLOW_METHODS,
            HeaderValue::from_static("GET"),
        );
        h.insert(
            header::ACCESS_CONTROL_ALLOW_HEADERS,
            HeaderValue::from_static("authorization, x-api-key, x-app-id"),
        );
        h.insert(
            header::ACCESS_CONTROL_MAX_AGE,
            HeaderValue::from_static("600"),
        );
    }
    resp
}

/// The scope catalog and presets.
#[utoipa::path(get, path = "/v1/scopes", tag = "keys",
    responses((status = 200, description = "The scope catalog and the presets.", body = ScopesResponse), Rejections, AuthErrors),
    security(("bearer" = []), ("api_key" = [])))]
pub async fn scopes(
    State(state): State<AppState>,
    _caller: Caller<KeysRead>,
    _: StrictQuery<NoQuery>,
) -> Json<ScopesResponse> {
    let cat = &state.config.catalog;
    let presets: BTreeMap<String, Vec<String>> = PRESETS
        .iter()
        .map(|p| ((*p).to_owned(), cat.preset(p).unwrap_or_default()))
        .collect();
    Json(ScopesResponse {
        scopes: cat
            .entries()
            .iter()
            .map(|e| ScopeInfo {
                name: e.name.clone(),
                description: e.description.clone(),
            })
            .collect(),
        presets,
    })
}

/// Apps of the caller's org.
#[utoipa::path(get, path = "/v1/apps", tag = "apps",
    params(PageQuery),
    responses((status = 200, description = "A page of the organization's apps.", body = Page<App>), Rejections, AuthErrors),
    security(("bearer" = []), ("api_key" = [])))]
pub async fn list_apps(
    State(state): State<AppState>,
    caller: Caller<KeysRead>,
    StrictQuery(q): StrictQuery<PageQuery>,
) -> Result<Json<Page<App>>, ApiError> {
    let page = page_req(q.limit, q.cursor.as_deref())?;
    let found = state.store.list_apps(&caller.key.org_id, page).await?;
    Ok(Json(Page {
        data: found.items,
        next_cursor: cursor(found.next),
        total: None,
        total_is_lower_bound: false,
    }))
}

/// Create an app.
#[utoipa::path(post, path = "/v1/apps", tag = "apps",
    request_body = CreateAppRequest,
    responses((status = 201, description = "The new app.", body = App), Rejections, AuthErrors, BodyErrors),
    security(("bearer" = []), ("api_key" = [])))]
pub async fn create_app(
    State(state): State<AppState>,
    caller: Caller<KeysWrite>,
    _: StrictQuery<NoQuery>,
    StrictJson(req): StrictJson<CreateAppRequest>,
) -> Result<(StatusCode, Json<App>), ApiError> {
    if let Some(own) = &caller.key.app_id {
        let mut e = ApiError::new(
            ErrorCode::InsufficientScope,
            format!("An app-scoped key ({own}) cannot create apps; use an org-scoped key."),
        );
        e.required_scopes = vec!["keys:write".to_owned()];
        return Err(e);
    }
    let name = valid_name(&req.name)?;
    let now = state.clock.now();
    let mut fill = |b: &mut [u8]| state.random(b);
    let app = App {
        id: new_app_id(&mut fill),
        name,
        created_at: now,
    };
    let entry = audit(
        &state,
        &caller.key.org_id,
        &Actor::key(&caller.key.id),
        "app.created",
        None,
        json!({"app_id": app.id, "name": app.name}),
        now,
    );
    state
        .store
        .create_app(&caller.key.org_id, &app, &entry)
        .await?;
    Ok((StatusCode::CREATED, Json(app)))
}

/// The decision a real request with this credential would get, step by step. Only keys of
/// the caller's org are ever found. Usage counts for the verified key, not the caller.
#[utoipa::path(post, path = "/v1/verify", tag = "verify",
    request_body = VerifyRequest,
    responses((status = 200, description = "The decision and its trace (a denied credential is a 200 with `valid: false`).", body = VerifyResponse), Rejections, AuthErrors, BodyErrors),
    security(("bearer" = []), ("api_key" = [])))]
pub async fn verify(
    State(state): State<AppState>,
    caller: Caller<KeysVerify>,
    _: StrictQuery<NoQuery>,
    StrictJson(req): StrictJson<VerifyRequest>,
) -> Result<Json<VerifyResponse>, ApiError> {
    if let Some(a) = &req.app_id
        && !is_app_id(a)
    {
        return Err(ApiError::invalid(
            "invalid value for `app_id`: not an app id",
        ));
    }
    let required = req
        .required_scopes
        .as_deref()
        .unwrap_or(&[])
        .iter()
        .map(|s| {
            Scope::parse(s)
                .map_err(|e| ApiError::invalid(format!("invalid value for `required_scopes`: {e}")))
        })
        .collect::<Result<Vec<_>, _>>()?;
    let org = caller.key.org_id.clone();
    let raw = req.credential.expose().as_bytes();
    let (decision, found, cred) = match extract_token(&[], &[raw]) {
        Ok(token) => {
            state
                .decide(
                    token,
                    req.origin.as_deref(),
                    req.app_id.as_deref(),
                    &required,
                    Some(&org),
                )
                .await?
        }
        Err(f) => (f.into_decision(), None, None),
    };
    let lookup_ok = decision.passed(Step::Lookup);
    let named = cred
        .as_ref()
        .and_then(Credential::public_key)
        .map(|p| p.as_str().to_owned());
    let event_key = found.as_ref().map(|k| k.id.clone()).or(named);
    caller.ctx.attribute_verified_scopes(
        (found.is_some() && decision.allowed())
            .then(|| required.iter().map(ToString::to_string).collect()),
    );
    caller.ctx.attribute_verification(
        found.as_deref().filter(|_| decision.counts_usage()),
        Some((&org, event_key.as_deref())),
        &decision,
    );
    let now = state.clock.now();
    let key = found
        .filter(|_| lookup_ok)
        .map(|k| KeyObject::from_record(&k, now));
    Ok(Json(VerifyResponse::from_decision(&decision, key)))
}

/// Liveness.
#[utoipa::path(get, path = "/healthz", tag = "health",
    responses((status = 200, description = "The process is up.", body = Health), Rejections))]
pub async fn healthz(_: StrictQuery<NoQuery>) -> impl IntoResponse {
    // The body `Health { status: "ok" }` serializes to, written once.
    (
        [(header::CONTENT_TYPE, "application/json; charset=utf-8")],
        r#"{"status":"ok"}"#,
    )
}

/// Readiness: the database answers and takes writes. 503 `unavailable` with the cause in
/// the message (the disk is full, the file was deleted or replaced, …) while writes fail;
/// 200 again on its own once a write succeeds.
#[utoipa::path(get, path = "/readyz", tag = "health",
    responses((status = 200, description = "The database answers.", body = Health), Rejections, StoreErrors))]
pub async fn readyz(
    State(state): State<AppState>,
    _: StrictQuery<NoQuery>,
) -> Result<Json<Health>, ApiError> {
    state.store.ping().await?;
    Ok(Json(Health {
        status: "ok".to_owned(),
    }))
}

/// `GET /openapi.json`, serving the document generated from the route annotations.
pub fn doc_router(doc: String) -> Router<AppState> {
    Router::new().route(
        "/openapi.json",
        get(move |_: StrictQuery<NoQuery>| {
            let doc = doc.clone();
            async move {
                (
                    [(header::CONTENT_TYPE, "application/json; charset=utf-8")],
                    doc,
                )
            }
        }),
    )
}

/// Fallback for unknown routes.
pub async fn no_route() -> impl IntoResponse {
    ApiError::new(ErrorCode::NotFound, "No such route. See GET /openapi.json.")
}
