//! `/v1/me`, `/v1/scopes`, `/v1/apps`, `/v1/verify`, health and the OpenAPI document.

use std::collections::BTreeMap;
use std::sync::Arc;

use axum::Json;
use axum::Router;
use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use serde_json::json;

use super::cursor::{List, page_req};
use super::responses::{AuthErrors, BodyErrors, Rejections, StoreErrors};
use super::{audit, valid_name};
use crate::api::fast_json;
use crate::api::{
    App, CreateAppRequest, Health, KeyObject, MeResponse, Org, Page, PageQuery, Readiness,
    ScopeInfo, ScopesResponse, SessionUserObject, VerifyRequest, VerifyResponse,
};
use crate::domain::decision::{
    AuthMethod, Credential, Denial, ErrorCode, ParseFailure, Step, extract_token,
};
use crate::domain::jwt::looks_like_jwt;
use crate::domain::key::{is_app_id, new_app_id};
use crate::domain::scope::{PRESETS, Scope};
use crate::server::AppState;
use crate::server::auth::{
    AnyKey, Caller, EventOwner, KeysRead, KeysVerify, KeysWrite, Principal, SESSIONS_OFF,
};
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
        .org(caller.org_id())
        .await?
        .ok_or_else(|| ApiError::internal("caller without an organization"))?;
    let now = state.clock.now();
    // A key's caller: written straight from the org and the record.
    let fast = match &caller.principal {
        Principal::Key(k) => fast_json::me_key(&org, k, caller.method.as_str(), now),
        Principal::Session(_) => None,
    };
    let mut resp = match fast {
        Some(body) => json_body(body),
        None => {
            let (key, user) = match &caller.principal {
                Principal::Key(k) => (Some(KeyObject::from_record(k, now)), None),
                Principal::Session(s) => (None, Some(SessionUserObject::of(&s.user))),
            };
            let answer = MeResponse {
                org: Org::clone(&org),
                key,
                scopes: caller.principal.scopes().to_strings(),
                auth_method: caller.method.as_str().to_owned(),
                user,
            };
            Json(answer).into_response()
        }
    };
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
    let (page, cursors) = page_req(
        &state,
        caller.org_id(),
        List::Apps,
        q.limit,
        q.cursor.as_deref(),
    )
    .await?;
    let found = state.store.list_apps(caller.org_id(), page).await?;
    Ok(Json(Page {
        data: found.items,
        next_cursor: cursors.next(found.next),
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
    if let Some(own) = caller.principal.app_id() {
        let mut e = ApiError::new(
            ErrorCode::InsufficientScope,
            format!(
                "An app-scoped caller ({own}) cannot create apps; use an org-scoped key or session."
            ),
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
        caller.org_id(),
        &caller.actor(),
        "app.created",
        None,
        json!({"app_id": app.id, "name": app.name}),
        now,
    );
    state
        .store
        .create_app(caller.org_id(), &app, &entry)
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
) -> Result<Response, ApiError> {
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
    let org = caller.org_id();
    let raw = req.credential.expose().as_bytes();
    let (decision, found, cred) = match extract_token(&[], &[raw]) {
        Ok(token) if looks_like_jwt(token) => {
            return verify_session(&state, &caller, token, req.app_id.as_deref(), &required)
                .await
                .map(IntoResponse::into_response);
        }
        Ok(token) => {
            state
                .decide(
                    token,
                    req.origin.as_deref(),
                    req.app_id.as_deref(),
                    &required,
                    Some(org),
                )
                .await?
        }
        Err(f) => (f.into_decision(), None, None),
    };
    let lookup_ok = decision.passed(Step::Lookup);
    // A key found is of the caller's org (the lookup is limited to it): the event is that
    // org's, naming the key; else it names the public key sent, if any.
    let event = match &found {
        Some(k) => EventOwner::Key(Arc::clone(k)),
        None => EventOwner::Named {
            org_id: org.to_owned(),
            key_id: cred
                .as_ref()
                .and_then(Credential::public_key)
                .map(|p| p.as_str().to_owned()),
        },
    };
    caller.ctx.attribute_verified_scopes(
        (found.is_some() && decision.allowed())
            .then(|| required.iter().map(ToString::to_string).collect()),
    );
    caller.ctx.attribute_verification(
        found.as_ref().filter(|_| decision.counts_usage()),
        Some(event),
        &decision,
    );
    let now = state.clock.now();
    let key = found.filter(|_| lookup_ok);
    if let Some(body) = fast_json::verify_decision(&decision, key.as_deref(), now) {
        return Ok(json_body(body));
    }
    let key = key.map(|k| KeyObject::from_record(&k, now));
    let answer = VerifyResponse::from_decision(&decision, key);
    Ok(Json(answer).into_response())
}

/// A JSON answer already written.
fn json_body(body: Vec<u8>) -> Response {
    (
        [(header::CONTENT_TYPE, "application/json; charset=utf-8")],
        body,
    )
        .into_response()
}

/// `/v1/verify` of a session token: the trace `parse, signature, issuer, audience, expiry,
/// org, app, scopes`; only sessions of the caller's org get past `org`. The answer also says
/// what this service expects of tokens (issuer, audience), for people debugging a refusal.
async fn verify_session<R>(
    state: &AppState,
    caller: &Caller<R>,
    token: &str,
    app_id: Option<&str>,
    required: &[Scope],
) -> Result<Json<VerifyResponse>, ApiError> {
    let Some(verifier) = &state.sessions else {
        let d = ParseFailure {
            step: Step::Parse,
            denial: Denial::new(ErrorCode::MalformedCredentials, SESSIONS_OFF),
        }
        .into_decision();
        let owner = EventOwner::Named {
            org_id: caller.org_id().to_owned(),
            key_id: None,
        };
        caller.ctx.attribute_verification(None, Some(owner), &d);
        return Ok(Json(VerifyResponse::from_decision(&d, None)));
    };
    let out = state
        .decide_session(verifier, token, app_id, required, Some(caller.org_id()))
        .await?;
    caller.ctx.attribute_verified_scopes(None);
    caller.ctx.attribute_verification(
        None,
        out.event.as_ref().map(|(o, _)| EventOwner::Named {
            org_id: o.clone(),
            key_id: None,
        }),
        &out.decision,
    );
    if let Some((o, user)) = &out.event {
        caller.ctx.attribute_session_event(o, user.as_deref());
    }
    let mut resp = VerifyResponse::from_decision(&out.decision, None);
    resp.session = Some(out.verify_info(verifier.policy()));
    if let Some((_, scopes)) = out.seen {
        resp.scopes = scopes;
    }
    Ok(Json(resp))
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
/// the message (the database cannot be reached, the disk is full, the file was deleted or
/// replaced, …) while it fails, saying how long cached keys keep verifying; 200 again on its
/// own once it works. The body reports the change feed (API.md §7): a feed that is behind
/// does not make it 503, since the instance then reads the database for every key.
#[utoipa::path(get, path = "/readyz", tag = "health",
    responses((status = 200, description = "The database answers; the change feed's state and lag.", body = Readiness), Rejections, StoreErrors))]
pub async fn readyz(
    State(state): State<AppState>,
    _: StrictQuery<NoQuery>,
) -> Result<Json<Readiness>, ApiError> {
    let feed = &state.feed;
    if let Err(e) = state.store.ping().await {
        let mut err = ApiError::from(e);
        if err.code == ErrorCode::Unavailable && feed.is_running() {
            let grace = match feed.offline_grace_left() {
                Some(left) => format!(
                    " Keys this instance has cached keep verifying for at most {} s more \
                     (--offline-grace {} s); others get 503.",
                    left.as_secs(),
                    feed.offline_grace().as_secs()
                ),
                None => " Every key gets 503 until it is back (--offline-grace has run out \
                         or is 0)."
                    .to_owned(),
            };
            err.message.push_str(&grace);
        }
        return Err(err);
    }
    let lag = if feed.is_running() {
        u64::try_from(feed.lag().as_millis()).unwrap_or(u64::MAX)
    } else {
        0
    };
    Ok(Json(Readiness {
        status: "ok".to_owned(),
        change_feed: feed.health().as_str().to_owned(),
        change_feed_lag_ms: lag,
        applied_change: if feed.is_running() {
            feed.applied()
        } else {
            state.store.latest_change(None).await?
        },
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
