//! Leaked keys (API.md §9): `POST /v1/leaks` (hashes from `keyconsole scan --check`, or any
//! scanner), `POST /v1/secret-scanning/github` (GitHub's partner program), and
//! `GET /v1/keys/{id}/leaks` (where and when a key was seen). One path records a leak:
//! [`record`], so both reporters audit, disable and keep sightings alike.

use axum::Json;
use axum::body::Body;
use axum::extract::{Path, State};
use axum::http::HeaderMap;
use axum::response::{IntoResponse, Response};
use serde_json::json;

use super::audit;
use super::cursor::{List, page_req};
use super::keys::own_key;
use super::responses::{AuthErrors, KeyNotFound, Rejections, StoreErrors};
use crate::api::{
    ActionTaken, Actor, GithubLabel, GithubToken, GithubTokenResult, KeyObject, LeakAction,
    LeakReport, LeakResult, LeakResults, LeakSighting, MAX_LEAK_ITEMS, MAX_LEAK_SOURCE_CHARS, Page,
    PageQuery, system_actor,
};
use crate::domain::decision::ErrorCode;
use crate::domain::record::KeyRecord;
use crate::domain::scan::{hash_from_hex, hash_hex};
use crate::server::AppState;
use crate::server::auth::{Caller, KeysRead, KeysWrite};
use crate::server::error::ApiError;
use crate::server::extract::{NoQuery, StrictJson, StrictQuery};
use crate::server::feed::{Change, change_of};
use crate::server::github;
use crate::storage::LeakRecord;

/// The largest `POST /v1/leaks` body: 1,000 hashes need some 67 KB.
pub const MAX_LEAKS_BODY_BYTES: usize = 128 * 1024;

/// The largest GitHub delivery read (1,000 tokens with their URLs fit well within it).
pub const MAX_GITHUB_BODY_BYTES: usize = 1024 * 1024;

/// Record a leak of `key` seen at `source`, reported by `actor`, disabling the key when
/// `action` says so; what was done, and the key as it is now.
async fn record(
    state: &AppState,
    key: &KeyRecord,
    source: &str,
    actor: &Actor,
    action: LeakAction,
) -> Result<(ActionTaken, Option<KeyRecord>), ApiError> {
    let now = state.clock.now();
    let leak = LeakRecord {
        key_id: key.id.clone(),
        org_id: key.org_id.clone(),
        at: now,
        source: source.to_owned(),
        actor: actor.clone(),
        disable: action == LeakAction::Disable,
        leaked: audit(
            state,
            &key.org_id,
            actor,
            "key.leaked",
            Some(&key.id),
            json!({"source": source, "action": action.as_str()}),
            now,
        ),
        disabled: audit(
            state,
            &key.org_id,
            actor,
            "key.disabled",
            Some(&key.id),
            json!({"enabled": {"from": true, "to": false}, "reason": "leaked", "source": source}),
            now,
        ),
    };
    let done = state.store.record_leak(&leak).await?;
    state.cache.invalidate(key);
    let taken = match action {
        LeakAction::Report => ActionTaken::None,
        LeakAction::Disable if done.disabled_now => ActionTaken::Disabled,
        LeakAction::Disable => ActionTaken::AlreadyDisabled,
    };
    Ok((taken, done.key))
}

/// Report leaked secrets by their SHA-256 (never the secret). Only the caller's
/// organization's keys match: any other hash answers `key: null`.
#[utoipa::path(post, path = "/v1/leaks", tag = "leaks",
    request_body = LeakReport,
    responses((status = 200, description = "One result per hash, in order: the caller's organization's key with that secret (as it is now) or `null`, and what was done.", body = LeakResults),
        (status = 413, description = "`payload_too_large`: the body is over 128 KiB.", body = crate::api::ErrorBody),
        Rejections, AuthErrors),
    security(("bearer" = []), ("api_key" = [])))]
pub async fn report_leaks(
    State(state): State<AppState>,
    caller: Caller<KeysWrite>,
    _: StrictQuery<NoQuery>,
    StrictJson(req): StrictJson<LeakReport>,
) -> Result<(Change, Json<LeakResults>), ApiError> {
    if req.hashes.is_empty() || req.hashes.len() > MAX_LEAK_ITEMS {
        return Err(ApiError::invalid(format!(
            "invalid value for `hashes`: give 1-{MAX_LEAK_ITEMS} hashes"
        )));
    }
    let source = req.source.trim();
    if source.is_empty()
        || source.chars().count() > MAX_LEAK_SOURCE_CHARS
        || source.chars().any(char::is_control)
    {
        return Err(ApiError::invalid(format!(
            "invalid value for `source`: 1-{MAX_LEAK_SOURCE_CHARS} characters after trimming, \
             no control characters"
        )));
    }
    let hashes = req
        .hashes
        .iter()
        .enumerate()
        .map(|(i, h)| {
            hash_from_hex(h).ok_or_else(|| {
                ApiError::invalid(format!(
                    "invalid value for `hashes[{i}]`: a SHA-256 is 64 hex digits"
                ))
            })
        })
        .collect::<Result<Vec<_>, _>>()?;
    let actor = caller.actor();
    let mut data = Vec::with_capacity(hashes.len());
    let mut touched = Vec::new();
    let now = state.clock.now();
    for hash in hashes {
        let found = state
            .store
            .key_by_hash(&hash)
            .await?
            .filter(|k| k.org_id == caller.org_id());
        let (action_taken, key) = match found {
            Some(k) => {
                touched.push(k.id.clone());
                record(&state, &k, source, &actor, req.action).await?
            }
            None => (ActionTaken::None, None),
        };
        data.push(LeakResult {
            hash: hash_hex(&hash),
            key: key.map(|k| KeyObject::from_record(&k, now)),
            action_taken,
        });
    }
    let ids: Vec<&str> = touched.iter().map(String::as_str).collect();
    Ok((change_of(&state, &ids).await, Json(LeakResults { data })))
}

/// Where and when a key was seen leaking, newest first.
#[utoipa::path(get, path = "/v1/keys/{id}/leaks", tag = "leaks",
    params(("id" = String, Path, description = "The public key"), PageQuery),
    responses((status = 200, description = "The places the key's secret was reported, newest first.", body = Page<LeakSighting>), Rejections, AuthErrors, KeyNotFound),
    security(("bearer" = []), ("api_key" = [])))]
pub async fn key_leaks(
    State(state): State<AppState>,
    caller: Caller<KeysRead>,
    Path(id): Path<String>,
    StrictQuery(q): StrictQuery<PageQuery>,
) -> Result<Json<Page<LeakSighting>>, ApiError> {
    let (page, cursors) = page_req(
        &state,
        caller.org_id(),
        List::Sightings,
        q.limit,
        q.cursor.as_deref(),
    )
    .await?;
    let key = own_key(&state, caller.org_id(), &id).await?;
    let found = state.store.list_sightings(&key.id, page).await?;
    Ok(Json(Page {
        data: found
            .items
            .into_iter()
            .map(|s| LeakSighting {
                at: s.at,
                source: s.source,
                reported_by: s.actor,
            })
            .collect(),
        next_cursor: cursors.next(found.next),
        total: None,
        total_is_lower_bound: false,
    }))
}

/// The GitHub delivery body, with messages that never quote a value (the tokens are
/// secrets).
fn parse_delivery(body: &[u8]) -> Result<Vec<GithubToken>, ApiError> {
    let items: Vec<GithubToken> = serde_json::from_slice(body).map_err(|e| {
        ApiError::invalid(format!(
            "invalid request body: expected a JSON array of {{\"token\", \"type\", \"url\", \
             \"source\"}} (line {}, column {})",
            e.line(),
            e.column()
        ))
    })?;
    if items.len() > MAX_LEAK_ITEMS {
        return Err(ApiError::invalid(format!(
            "invalid request body: at most {MAX_LEAK_ITEMS} tokens per delivery"
        )));
    }
    Ok(items)
}

/// A source of at most 512 characters (a longer URL is cut, marked with `…`).
fn source_of(url: &str) -> String {
    let url: String = url.chars().filter(|c| !c.is_control()).collect();
    let url = url.trim();
    if url.is_empty() {
        return "GitHub (no URL given)".to_owned();
    }
    if url.chars().count() <= MAX_LEAK_SOURCE_CHARS {
        return url.to_owned();
    }
    let mut cut: String = url.chars().take(MAX_LEAK_SOURCE_CHARS - 1).collect();
    cut.push('…');
    cut
}

/// GitHub secret scanning deliveries (partner program). Not authenticated by a key: by
/// GitHub's ECDSA signature of the raw body. 404 unless `serve --github-scanning-keys`.
#[utoipa::path(post, path = "/v1/secret-scanning/github", tag = "leaks",
    request_body(content = Vec<GithubToken>, description = "GitHub's delivery: at most 1,000 tokens."),
    params(
        ("Github-Public-Key-Identifier" = String, Header, description = "The key GitHub signed with (from its published list)."),
        ("Github-Public-Key-Signature" = String, Header, description = "Base64 DER ECDSA P-256 SHA-256 signature of the raw body."),
    ),
    responses(
        (status = 200, description = "One label per token, in order: hashes and labels, never tokens.", body = Vec<GithubTokenResult>),
        (status = 401, description = "Unsigned, or the signature does not verify; nothing was changed.", body = crate::api::ErrorBody),
        (status = 404, description = "GitHub secret scanning is not configured on this deployment.", body = crate::api::ErrorBody),
        (status = 413, description = "`payload_too_large`: the body is over 1 MiB.", body = crate::api::ErrorBody),
        Rejections, StoreErrors))]
pub async fn github_scanning(
    State(state): State<AppState>,
    _: StrictQuery<NoQuery>,
    headers: HeaderMap,
    body: Body,
) -> Result<Response, ApiError> {
    let Some(keys) = state.config.github_scanning.clone() else {
        return Err(ApiError::new(
            ErrorCode::NotFound,
            "GitHub secret scanning is not configured on this deployment \
             (serve --github-scanning-keys).",
        ));
    };
    let body = axum::body::to_bytes(body, MAX_GITHUB_BODY_BYTES)
        .await
        .map_err(|_| ApiError::of(ErrorCode::PayloadTooLarge))?;
    if let Err(e) = github::check(&keys, &headers, &body).await {
        let code = match e {
            github::SignatureError::Missing => ErrorCode::MissingCredentials,
            github::SignatureError::Malformed => ErrorCode::MalformedCredentials,
            github::SignatureError::UnknownKey | github::SignatureError::Invalid => {
                ErrorCode::InvalidKey
            }
        };
        return Err(ApiError::new(code, e.to_string()));
    }
    let items = parse_delivery(&body)?;
    let actor = Actor::system(system_actor::GITHUB_SCANNING);
    let mut out = Vec::with_capacity(items.len());
    for item in &items {
        let hash = item.token.hash();
        let found = state.store.key_by_hash(&hash).await?;
        let label = match found {
            Some(k) => {
                record(
                    &state,
                    &k,
                    &source_of(&item.url),
                    &actor,
                    state.config.leak_policy,
                )
                .await?;
                GithubLabel::TruePositive
            }
            None => GithubLabel::FalsePositive,
        };
        out.push(GithubTokenResult {
            token_hash: hash_hex(&hash),
            token_type: item.kind.clone(),
            label,
        });
    }
    Ok(Json(out).into_response())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hashes_are_64_hex_digits() {
        let h = "ab".repeat(32);
        assert_eq!(hash_from_hex(&h).map(|x| x.0[0]), Some(0xab));
        assert_eq!(hash_from_hex(&h).map(|x| hash_hex(&x)), Some(h.clone()));
        assert_eq!(
            hash_from_hex(&h.to_uppercase()).map(|x| x.0[31]),
            Some(0xab)
        );
        assert!(hash_from_hex(&h[..62]).is_none());
        assert!(hash_from_hex(&format!("{}zz", &h[..62])).is_none());
        assert!(hash_from_hex(&format!("{}é", &h[..62])).is_none());
    }

    #[test]
    fn a_bad_delivery_is_refused_without_quoting_it() {
        let token = "sk_live_0123456789abcdefghijABCDEFGHIJKL000000";
        for body in [
            format!("[{{\"token\": \"{token}\", \"type\": 5}}]"),
            format!("{{\"token\": \"{token}\"}}"),
            format!("[\"{token}\"]"),
            format!("[{{\"token\": \"{token}\""),
        ] {
            let e = parse_delivery(body.as_bytes()).expect_err("refused");
            assert!(!e.message.contains(token), "{}", e.message);
            assert!(!e.message.contains("0123456789"), "{}", e.message);
        }
    }

    #[test]
    fn long_urls_are_cut_to_a_source() {
        assert_eq!(source_of(" https://x/y "), "https://x/y");
        assert_eq!(source_of(""), "GitHub (no URL given)");
        let long = format!("https://x/{}", "a".repeat(600));
        let s = source_of(&long);
        assert_eq!(s.chars().count(), MAX_LEAK_SOURCE_CHARS);
        assert!(s.ends_with('…'));
    }
}
