//! `/v1/keys`: list, create, get, update, delete, rotate.

use std::sync::Arc;

use axum::Json;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use chrono::{DateTime, Utc};
use serde_json::json;

use super::cursor::key_page_req;
use super::responses::{
    AuthErrors, BodyErrors, KeyConflict, KeyNotFound, Rejections, VersionMismatch,
};
use super::{audit, free_text, valid_name};
use crate::api::{
    CreateKeyRequest, CreateKeyResponse, KEY_SORTS, KeyObject, ListKeysQuery,
    MAX_DESCRIPTION_CHARS, MAX_DOMAINS, MAX_GRACE_SECONDS, MAX_OWNER_CHARS, Page, RotateRequest,
    RotateResponse, UpdateKeyRequest,
};
use crate::domain::decision::{ErrorCode, Manager, can_manage};
use crate::domain::host_pattern::HostPattern;
use crate::domain::key::{Env, PublicKeyId, Secret, is_app_id, is_base62};
use crate::domain::record::{KeyRecord, KeyStatus};
use crate::domain::scope::{Scope, ScopeSet};
use crate::server::AppState;
use crate::server::auth::{Caller, KeysRead, KeysWrite};
use crate::server::error::ApiError;
use crate::server::extract::{NoQuery, StrictJson, StrictQuery};
use crate::server::feed::{Change, change_of};
use crate::storage::{KeyFilter, KeySort};

fn parse_scopes(state: &AppState, scopes: &[String]) -> Result<ScopeSet, ApiError> {
    let set = ScopeSet::parse(scopes)
        .map_err(|e| ApiError::invalid(format!("invalid value for `scopes`: {e}")))?;
    state
        .config
        .catalog
        .validate(&set)
        .map_err(|e| ApiError::invalid(format!("invalid value for `scopes`: {e}")))?;
    Ok(set)
}

fn parse_domains(domains: &[String]) -> Result<Vec<HostPattern>, ApiError> {
    if domains.len() > MAX_DOMAINS {
        return Err(ApiError::invalid(format!(
            "invalid value for `allowed_domains`: at most {MAX_DOMAINS} domains"
        )));
    }
    let mut out: Vec<HostPattern> = Vec::with_capacity(domains.len());
    for d in domains {
        let p = HostPattern::parse(d)
            .map_err(|e| ApiError::invalid(format!("invalid value for `allowed_domains`: {e}")))?;
        if !out.contains(&p) {
            out.push(p);
        }
    }
    Ok(out)
}

/// A key of the caller's org (404 otherwise, never revealing other orgs).
async fn load_own(state: &AppState, org_id: &str, id: &str) -> Result<KeyRecord, ApiError> {
    if PublicKeyId::parse(id).is_err() {
        return Err(ApiError::not_found("key"));
    }
    match state.store.key_by_id(id).await? {
        Some(k) if k.org_id == org_id => Ok(k),
        _ => Err(ApiError::not_found("key")),
    }
}

/// May `caller` change `target` as it stands (its environment, scopes and app)?
fn can_manage_existing(caller: Manager<'_>, target: &KeyRecord) -> Result<(), ApiError> {
    can_manage(caller, target.env, &target.scopes, target.app_id.as_deref()).map_err(ApiError::from)
}

fn etag(version: i64) -> HeaderValue {
    HeaderValue::from_str(&format!("\"{version}\"")).unwrap_or(HeaderValue::from_static("\"0\""))
}

fn with_etag(obj: KeyObject, status: StatusCode) -> Response {
    let tag = etag(obj.version);
    let mut resp = (status, Json(obj)).into_response();
    resp.headers_mut().insert(header::ETAG, tag);
    resp
}

fn new_material(state: &AppState, env: Env) -> (PublicKeyId, Secret) {
    let mut fill = |b: &mut [u8]| state.random(b);
    let pk = PublicKeyId::generate(env, &mut fill);
    let secret = Secret::generate(&state.config.secret_prefix, env, &mut fill);
    (pk, secret)
}

fn credential_of(pk: &PublicKeyId, secret: &Secret) -> Secret {
    Secret::new(format!("{}:{}", pk.as_str(), secret.expose()))
}

/// List keys of the caller's org, newest first.
///
/// Pages, totals and search read index ranges, never the whole organization. `total` is
/// exact up to 10,000; above that it is 10,000 with `total_is_lower_bound: true`. `owner`,
/// `app_id`, one `status` or `env` each have an index in creation order, so their pages are
/// full. A `q` of 3 or more characters (a case-insensitive substring of the name or id,
/// exact) uses a trigram index, but may still give a short page with `next_cursor` set, and
/// its `total` may be a lower bound of the matches among the keys examined (on SQLite the
/// index holds every organization's keys; on PostgreSQL a common word is answered from the
/// newest 10,000 keys). Other filters (`scope`, `hint`, `last_used_before`,
/// `created_before`, a second filter, a 1-2 character `q`, any filter with another `sort`)
/// examine at most 10,000 keys per page: such a page may hold fewer than `limit` keys, even
/// none, while `next_cursor` is set, and its `total` counts matches among the keys examined
/// (a lower bound when 10,000 were). Follow `next_cursor` until it is `null`. Cursors are
/// opaque, sealed for this organization and this `sort`; another's is a 400.
#[utoipa::path(get, path = "/v1/keys", tag = "keys",
    params(ListKeysQuery),
    responses((status = 200, description = "A page of the organization's keys.", body = Page<KeyObject>), Rejections, AuthErrors),
    security(("bearer" = []), ("api_key" = [])))]
pub async fn list_keys(
    State(state): State<AppState>,
    caller: Caller<KeysRead>,
    StrictQuery(q): StrictQuery<ListKeysQuery>,
) -> Result<Json<Page<KeyObject>>, ApiError> {
    let sort = q
        .sort
        .as_deref()
        .map(|s| {
            KeySort::parse(s).ok_or_else(|| {
                ApiError::invalid(format!(
                    "invalid value for `sort`: use one of {}",
                    KEY_SORTS.join(", ")
                ))
            })
        })
        .transpose()?
        .unwrap_or_default();
    let (page, cursors) =
        key_page_req(&state, caller.org_id(), sort, q.limit, q.cursor.as_deref()).await?;
    let status = q
        .status
        .as_deref()
        .map(|s| {
            KeyStatus::parse(s).ok_or_else(|| {
                ApiError::invalid(
                    "invalid value for `status`: use active, disabled, expiring or expired",
                )
            })
        })
        .transpose()?;
    let env = q
        .env
        .as_deref()
        .map(|s| {
            Env::parse(s)
                .ok_or_else(|| ApiError::invalid("invalid value for `env`: use live or test"))
        })
        .transpose()?;
    if let Some(a) = &q.app_id
        && !is_app_id(a)
    {
        return Err(ApiError::invalid(
            "invalid value for `app_id`: not an app id",
        ));
    }
    let scope = q
        .scope
        .as_deref()
        .map(|s| {
            Scope::parse(s)
                .map(|sc| sc.to_string())
                .map_err(|e| ApiError::invalid(format!("invalid value for `scope`: {e}")))
        })
        .transpose()?;
    if let Some(h) = &q.hint
        && (h.is_empty() || h.len() > 4 || !is_base62(h))
    {
        return Err(ApiError::invalid(
            "invalid value for `hint`: 1-4 letters or digits (the secret's last characters)",
        ));
    }
    let search = q.q.as_deref().map(str::trim).filter(|s| !s.is_empty());
    if search.is_some_and(|s| s.chars().count() > 200) {
        return Err(ApiError::invalid(
            "invalid value for `q`: at most 200 characters",
        ));
    }
    // No name or id holds a control character (names refuse them), so such a search could
    // only find nothing; it is refused like a name with one, and never reaches an index.
    if search.is_some_and(|s| s.chars().any(char::is_control)) {
        return Err(ApiError::invalid(
            "invalid value for `q`: control characters are not allowed",
        ));
    }
    let owner = match q.owner.as_deref() {
        Some(o) => Some(free_text("owner", o, MAX_OWNER_CHARS)?.ok_or_else(|| {
            ApiError::invalid(
                "invalid value for `owner`: give the owner to match (1-200 characters)",
            )
        })?),
        None => None,
    };
    let filter = KeyFilter {
        q: search.map(str::to_owned),
        status,
        app_id: q.app_id.clone(),
        env,
        owner,
        scope,
        hint: q.hint.clone(),
        last_used_before: q.last_used_before,
        created_before: q.created_before,
    };
    let now = state.clock.now();
    let found = state
        .store
        .list_keys(caller.org_id(), &filter, now, &page)
        .await?;
    Ok(Json(Page {
        data: found
            .items
            .iter()
            .map(|r| KeyObject::from_record(r, now))
            .collect(),
        next_cursor: cursors.next_key(found.next.as_ref()),
        total: Some(found.total.count),
        total_is_lower_bound: found.total.lower_bound,
    }))
}

/// Create a key. The response is the only time the secret is returned.
#[utoipa::path(post, path = "/v1/keys", tag = "keys",
    request_body = CreateKeyRequest,
    responses((status = 201, description = "The new key, with its secret: the only time the secret is returned.", body = CreateKeyResponse), Rejections, AuthErrors, BodyErrors),
    security(("bearer" = []), ("api_key" = [])))]
pub async fn create_key(
    State(state): State<AppState>,
    caller: Caller<KeysWrite>,
    _: StrictQuery<NoQuery>,
    StrictJson(req): StrictJson<CreateKeyRequest>,
) -> Result<(StatusCode, Change, Json<CreateKeyResponse>), ApiError> {
    let name = valid_name(&req.name)?;
    let scope_list = match (&req.scopes, &req.preset) {
        (Some(_), Some(_)) => {
            return Err(ApiError::invalid(
                "give either `scopes` or `preset`, not both",
            ));
        }
        (Some(s), None) => s.clone(),
        (None, Some(p)) => state
            .config
            .catalog
            .preset(p)
            .map_err(|e| ApiError::invalid(format!("invalid value for `preset`: {e}")))?,
        (None, None) => {
            return Err(ApiError::invalid(
                "missing field `scopes`: give `scopes` or a `preset` (full, read-only)",
            ));
        }
    };
    let scopes = parse_scopes(&state, &scope_list)?;
    let domains = parse_domains(req.allowed_domains.as_deref().unwrap_or(&[]))?;
    let (owner, description) = (
        owner_of(req.owner.as_deref())?,
        description_of(req.description.as_deref())?,
    );
    let org_id = caller.org_id().to_owned();
    if let Some(app) = &req.app_id
        && (!is_app_id(app) || state.store.get_app(&org_id, app).await?.is_none())
    {
        return Err(ApiError::invalid(
            "invalid value for `app_id`: no such app in this organization",
        ));
    }
    // A key's own environment by default; a session has none, so the deployment's.
    let env = req.env.unwrap_or_else(|| match caller.principal.key() {
        Some(k) => k.env,
        None => state.config.accept_env.unwrap_or(Env::Live),
    });
    // One rule for every mutation: environments never cross without `*`, no escalation.
    can_manage(
        caller.principal.manager(),
        env,
        &scopes,
        req.app_id.as_deref(),
    )?;
    if let Some(accept) = state.config.accept_env
        && env != accept
    {
        return Err(ApiError::invalid(format!(
            "invalid value for `env`: this deployment accepts only {accept} keys"
        )));
    }
    let now = state.clock.now();
    if let Some(exp) = req.expires_at
        && exp <= now
    {
        return Err(ApiError::invalid(
            "invalid value for `expires_at`: must be in the future",
        ));
    }
    let (pk, secret) = new_material(&state, env);
    let record = KeyRecord {
        id: pk.as_str().to_owned(),
        org_id: org_id.clone(),
        name,
        env,
        app_id: req.app_id.clone(),
        scopes,
        allowed_domains: domains,
        enabled: true,
        secret_hash: secret.hash(),
        secret_hint: secret.hint(),
        created_at: now,
        updated_at: now,
        expires_at: req.expires_at,
        last_used_at: None,
        rotated_from: None,
        rotated_to: None,
        version: 1,
        owner,
        description,
        leaked_at: None,
    };
    let entry = audit(
        &state,
        &org_id,
        &caller.actor(),
        "key.created",
        Some(&record.id),
        created_changes(&record),
        now,
    );
    state.store.insert_key(&record, &entry).await?;
    Ok((
        StatusCode::CREATED,
        change_of(&state, &[&record.id]).await,
        Json(CreateKeyResponse {
            key: KeyObject::from_record(&record, now),
            credential: credential_of(&pk, &secret),
            secret,
        }),
    ))
}

fn owner_of(v: Option<&str>) -> Result<Option<String>, ApiError> {
    Ok(v.map(|o| free_text("owner", o, MAX_OWNER_CHARS))
        .transpose()?
        .flatten())
}

fn description_of(v: Option<&str>) -> Result<Option<String>, ApiError> {
    Ok(
        v.map(|d| free_text("description", d, MAX_DESCRIPTION_CHARS))
            .transpose()?
            .flatten(),
    )
}

fn created_changes(r: &KeyRecord) -> serde_json::Value {
    json!({
        "name": r.name,
        "owner": r.owner,
        "description": r.description,
        "env": r.env.as_str(),
        "app_id": r.app_id,
        "scopes": r.scopes.to_strings(),
        "allowed_domains": r.allowed_domains.iter().map(ToString::to_string).collect::<Vec<_>>(),
        "expires_at": r.expires_at,
        "rotated_from": r.rotated_from,
    })
}

/// One key.
#[utoipa::path(get, path = "/v1/keys/{id}", tag = "keys",
    params(("id" = String, Path, description = "The public key")),
    responses((status = 200, description = "The key.", body = KeyObject, headers(("etag" = String, description = "The key's version, for If-Match"))), Rejections, AuthErrors, KeyNotFound),
    security(("bearer" = []), ("api_key" = [])))]
pub async fn get_key(
    State(state): State<AppState>,
    caller: Caller<KeysRead>,
    Path(id): Path<String>,
    _: StrictQuery<NoQuery>,
) -> Result<Response, ApiError> {
    let k = load_own(&state, caller.org_id(), &id).await?;
    Ok(with_etag(
        KeyObject::from_record(&k, state.clock.now()),
        StatusCode::OK,
    ))
}

/// The version `If-Match` asks for; `None` when absent or `*`.
fn if_match(headers: &HeaderMap) -> Result<Option<i64>, ApiError> {
    let Some(v) = headers.get(header::IF_MATCH) else {
        return Ok(None);
    };
    let s = v.to_str().unwrap_or("").trim();
    // RFC 9110 §13.1.1: `*` matches any current representation.
    if s == "*" {
        return Ok(None);
    }
    let s = s.strip_prefix("W/").unwrap_or(s).trim_matches('"');
    s.parse::<i64>().map(Some).map_err(|_| {
        ApiError::invalid("invalid If-Match header: use the key's `version`, e.g. If-Match: \"3\"")
    })
}

fn change(
    changes: &mut serde_json::Map<String, serde_json::Value>,
    field: &str,
    from: serde_json::Value,
    to: serde_json::Value,
) {
    if from != to {
        changes.insert(field.to_owned(), json!({"from": from, "to": to}));
    }
}

/// Update a key's name, scopes, domains, enabled flag, expiry, owner or description.
/// Honours `If-Match`.
#[utoipa::path(patch, path = "/v1/keys/{id}", tag = "keys",
    params(("id" = String, Path, description = "The public key"), ("If-Match" = Option<String>, Header, description = "Expected version")),
    request_body = Option<UpdateKeyRequest>,
    responses((status = 200, description = "The key as it is now.", body = KeyObject, headers(("etag" = String, description = "The key's version, for If-Match"))), Rejections, AuthErrors, BodyErrors, KeyNotFound, KeyConflict, VersionMismatch),
    security(("bearer" = []), ("api_key" = [])))]
pub async fn update_key(
    State(state): State<AppState>,
    caller: Caller<KeysWrite>,
    Path(id): Path<String>,
    _: StrictQuery<NoQuery>,
    headers: HeaderMap,
    StrictJson(req): StrictJson<UpdateKeyRequest>,
) -> Result<Response, ApiError> {
    let expected = if_match(&headers)?;
    let name = req.name.as_deref().map(valid_name).transpose()?;
    let scopes = req
        .scopes
        .as_deref()
        .map(|s| parse_scopes(&state, s))
        .transpose()?;
    let domains = req
        .allowed_domains
        .as_deref()
        .map(parse_domains)
        .transpose()?;
    let owner = req
        .owner
        .as_ref()
        .map(|o| owner_of(o.as_deref()))
        .transpose()?;
    let description = req
        .description
        .as_ref()
        .map(|d| description_of(d.as_deref()))
        .transpose()?;

    for _attempt in 0..5 {
        let current = load_own(&state, caller.org_id(), &id).await?;
        if let Some(v) = expected
            && v != current.version
        {
            return Err(ApiError::new(
                ErrorCode::VersionMismatch,
                format!(
                    "The key has changed: its version is {}, If-Match said {v}. Reload and retry.",
                    current.version
                ),
            ));
        }
        can_manage_existing(caller.principal.manager(), &current)?;
        if let Some(s) = &scopes {
            can_manage(
                caller.principal.manager(),
                current.env,
                s,
                current.app_id.as_deref(),
            )?;
        }
        let now = state.clock.now();
        let mut next = current.clone();
        if let Some(n) = &name {
            next.name.clone_from(n);
        }
        if let Some(s) = &scopes {
            next.scopes = s.clone();
        }
        if let Some(d) = &domains {
            next.allowed_domains = d.clone();
        }
        if let Some(e) = req.enabled {
            next.enabled = e;
        }
        if let Some(exp) = req.expires_at {
            next.expires_at = exp;
        }
        if let Some(o) = &owner {
            next.owner.clone_from(o);
        }
        if let Some(d) = &description {
            next.description.clone_from(d);
        }
        let mut changes = serde_json::Map::new();
        change(&mut changes, "name", json!(current.name), json!(next.name));
        change(
            &mut changes,
            "scopes",
            json!(current.scopes.to_strings()),
            json!(next.scopes.to_strings()),
        );
        let doms = |r: &KeyRecord| {
            json!(
                r.allowed_domains
                    .iter()
                    .map(ToString::to_string)
                    .collect::<Vec<_>>()
            )
        };
        change(&mut changes, "allowed_domains", doms(&current), doms(&next));
        change(
            &mut changes,
            "expires_at",
            json!(current.expires_at),
            json!(next.expires_at),
        );
        change(
            &mut changes,
            "owner",
            json!(current.owner),
            json!(next.owner),
        );
        change(
            &mut changes,
            "description",
            json!(current.description),
            json!(next.description),
        );
        let toggled = current.enabled != next.enabled;
        // A conditional PATCH that changes nothing still takes a new version, through the
        // same compare-and-write as any edit: of concurrent PATCHes with one If-Match
        // version exactly one succeeds (API.md §7), never also a no-op answered from a read.
        if changes.is_empty() && !toggled && expected.is_none() {
            let mut resp = with_etag(KeyObject::from_record(&current, now), StatusCode::OK);
            change_of(&state, &[&current.id])
                .await
                .insert_into(resp.headers_mut());
            return Ok(resp);
        }
        next.version = current.version + 1;
        next.updated_at = now;
        let mut audits = Vec::new();
        if toggled {
            audits.push(audit(
                &state,
                &current.org_id,
                &caller.actor(),
                if next.enabled {
                    "key.enabled"
                } else {
                    "key.disabled"
                },
                Some(&current.id),
                json!({"enabled": {"from": current.enabled, "to": next.enabled}}),
                now,
            ));
        }
        if !changes.is_empty() {
            audits.push(audit(
                &state,
                &current.org_id,
                &caller.actor(),
                "key.updated",
                Some(&current.id),
                serde_json::Value::Object(changes),
                now,
            ));
        }
        if state
            .store
            .update_key(&next, current.version, &audits)
            .await?
        {
            state.cache.invalidate(&current);
            let mut resp = with_etag(KeyObject::from_record(&next, now), StatusCode::OK);
            change_of(&state, &[&current.id])
                .await
                .insert_into(resp.headers_mut());
            return Ok(resp);
        }
        if expected.is_some() {
            return Err(ApiError::new(
                ErrorCode::VersionMismatch,
                "The key changed while this update was applied. Reload and retry.",
            ));
        }
    }
    Err(ApiError::new(
        ErrorCode::Conflict,
        "The key is being changed concurrently. Retry.",
    ))
}

/// Delete a key. It stops working at once.
#[utoipa::path(delete, path = "/v1/keys/{id}", tag = "keys",
    params(("id" = String, Path, description = "The public key")),
    responses((status = 204, description = "Deleted: the key stops working at once."), Rejections, AuthErrors, KeyNotFound, KeyConflict),
    security(("bearer" = []), ("api_key" = [])))]
pub async fn delete_key(
    State(state): State<AppState>,
    caller: Caller<KeysWrite>,
    Path(id): Path<String>,
    _: StrictQuery<NoQuery>,
) -> Result<(Change, StatusCode), ApiError> {
    let current = load_own(&state, caller.org_id(), &id).await?;
    can_manage_existing(caller.principal.manager(), &current)?;
    let now = state.clock.now();
    let entry = audit(
        &state,
        &current.org_id,
        &caller.actor(),
        "key.deleted",
        Some(&current.id),
        json!({"name": current.name}),
        now,
    );
    let deleted = state
        .store
        .delete_key(&current.org_id, &current.id, &entry)
        .await?;
    state.cache.invalidate(&current);
    if deleted {
        Ok((
            change_of(&state, &[&current.id]).await,
            StatusCode::NO_CONTENT,
        ))
    } else {
        Err(ApiError::not_found("key"))
    }
}

/// Rotate a key: a new key with the same name, owner, description, scopes, domains, app and
/// environment; the
/// old key keeps working for the grace period, then answers `key_expired`.
#[utoipa::path(post, path = "/v1/keys/{id}/rotate", tag = "keys",
    params(("id" = String, Path, description = "The public key")),
    request_body = Option<RotateRequest>,
    responses((status = 201, description = "The new key with its secret (shown this once), and the old key with its new expiry.", body = RotateResponse), Rejections, AuthErrors, BodyErrors, KeyNotFound, KeyConflict),
    security(("bearer" = []), ("api_key" = [])))]
pub async fn rotate_key(
    State(state): State<AppState>,
    caller: Caller<KeysWrite>,
    Path(id): Path<String>,
    _: StrictQuery<NoQuery>,
    StrictJson(req): StrictJson<RotateRequest>,
) -> Result<(StatusCode, Change, Json<RotateResponse>), ApiError> {
    let grace = req.grace_period_seconds.unwrap_or(0);
    if grace > MAX_GRACE_SECONDS {
        return Err(ApiError::invalid(format!(
            "invalid value for `grace_period_seconds`: must be 0-{MAX_GRACE_SECONDS}"
        )));
    }
    let old = load_own(&state, caller.org_id(), &id).await?;
    can_manage_existing(caller.principal.manager(), &old)?;
    if let Some(to) = &old.rotated_to {
        return Err(ApiError::new(
            ErrorCode::Conflict,
            format!("This key was already rotated to {to}. Rotate the new key instead."),
        ));
    }
    let now = state.clock.now();
    let grace_end = now + chrono::Duration::seconds(i64::from(grace));
    let (pk, secret) = new_material(&state, old.env);
    let new = KeyRecord {
        id: pk.as_str().to_owned(),
        created_at: now,
        updated_at: now,
        expires_at: None,
        last_used_at: None,
        rotated_from: Some(old.id.clone()),
        rotated_to: None,
        version: 1,
        enabled: true,
        secret_hash: secret.hash(),
        secret_hint: secret.hint(),
        // A new secret has not leaked; name, owner, description, scopes, domains, app and
        // environment carry over.
        leaked_at: None,
        ..old.clone()
    };
    let mut previous = old.clone();
    previous.rotated_to = Some(new.id.clone());
    previous.expires_at = Some(earliest(old.expires_at, grace_end));
    previous.version = old.version + 1;
    previous.updated_at = now;
    let audits = [
        audit(
            &state,
            &old.org_id,
            &caller.actor(),
            "key.rotated",
            Some(&old.id),
            json!({"rotated_to": new.id, "grace_period_seconds": grace, "expires_at": previous.expires_at}),
            now,
        ),
        audit(
            &state,
            &old.org_id,
            &caller.actor(),
            "key.created",
            Some(&new.id),
            created_changes(&new),
            now,
        ),
    ];
    if !state
        .store
        .rotate_key(&previous, old.version, &new, &audits)
        .await?
    {
        return Err(ApiError::new(
            ErrorCode::Conflict,
            "This key was rotated or changed concurrently. Reload it and retry.",
        ));
    }
    state.cache.invalidate(&old);
    Ok((
        StatusCode::CREATED,
        change_of(&state, &[&old.id, &new.id]).await,
        Json(RotateResponse {
            key: KeyObject::from_record(&new, now),
            credential: credential_of(&pk, &secret),
            secret,
            previous: KeyObject::from_record(&previous, now),
        }),
    ))
}

fn earliest(existing: Option<DateTime<Utc>>, grace_end: DateTime<Utc>) -> DateTime<Utc> {
    existing.map_or(grace_end, |e| e.min(grace_end))
}

/// Shared for other route modules: a key of the caller's org.
pub async fn own_key(state: &AppState, org_id: &str, id: &str) -> Result<Arc<KeyRecord>, ApiError> {
    load_own(state, org_id, id).await.map(Arc::new)
}
