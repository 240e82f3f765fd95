//! The error responses operations document, as reusable sets for `#[utoipa::path]`
//! (`responses((status = 200, …), Rejections, AuthErrors)`). Each response's body is the
//! `ErrorBody` restricted to the codes of its status (from [`ErrorCode::ALL`], so a new code
//! is documented where it belongs), with the headers the server always sends with it.

use std::collections::BTreeMap;

use utoipa::IntoResponses;
use utoipa::openapi::schema::{AllOfBuilder, ObjectBuilder, Type};
use utoipa::openapi::{ContentBuilder, HeaderBuilder, Ref, RefOr, Response, ResponseBuilder};

use crate::domain::decision::ErrorCode;

/// An error response for `status`: `ErrorBody` whose `error.code` is one of that status's
/// codes, plus the named headers.
fn error(status: u16, description: &str, headers: &[(&str, &str)]) -> (String, RefOr<Response>) {
    let codes: Vec<&'static str> = ErrorCode::ALL
        .iter()
        .filter(|c| c.status() == status)
        .map(|c| c.as_str())
        .collect();
    let narrowed = ObjectBuilder::new().property(
        "error",
        ObjectBuilder::new().property(
            "code",
            ObjectBuilder::new()
                .schema_type(Type::String)
                .enum_values(Some(codes)),
        ),
    );
    let schema = AllOfBuilder::new()
        .item(Ref::from_schema_name("ErrorBody"))
        .item(narrowed);
    let mut response = ResponseBuilder::new().description(description).content(
        "application/json",
        ContentBuilder::new().schema(Some(schema)).build(),
    );
    for (name, what) in headers {
        response = response.header(
            *name,
            HeaderBuilder::new()
                .schema(Some(ObjectBuilder::new().schema_type(Type::String)))
                .description(Some(*what))
                .build(),
        );
    }
    (status.to_string(), RefOr::T(response.build()))
}

fn set(
    items: impl IntoIterator<Item = (String, RefOr<Response>)>,
) -> BTreeMap<String, RefOr<Response>> {
    items.into_iter().collect()
}

/// What every operation can answer: 400 (an unknown query parameter, a bad value or body)
/// and 405 (the path with another method).
pub struct Rejections;

impl IntoResponses for Rejections {
    fn responses() -> BTreeMap<String, RefOr<Response>> {
        set([
            error(
                400,
                "`invalid_request`: an unknown query parameter, a bad parameter value or a bad \
                 body; the message names it.",
                &[],
            ),
            error(
                405,
                "`method_not_allowed`: the path exists, but not with this method.",
                &[("allow", "The methods this path takes.")],
            ),
        ])
    }
}

/// What the database behind an operation can cause: 500 and 503.
pub struct StoreErrors;

impl IntoResponses for StoreErrors {
    fn responses() -> BTreeMap<String, RefOr<Response>> {
        set([
            error(
                500,
                "`internal`: an unexpected failure, logged with the request id; the body never \
                 holds internals.",
                &[],
            ),
            error(
                503,
                "`unavailable`: the database cannot be reached or written. Retry after the \
                 `Retry-After` seconds.",
                &[("retry-after", "Seconds to wait before retrying.")],
            ),
        ])
    }
}

/// What the credential check of an authenticated operation can answer: 401, 403, 429, and
/// through the key lookup, 500 and 503.
pub struct AuthErrors;

impl IntoResponses for AuthErrors {
    fn responses() -> BTreeMap<String, RefOr<Response>> {
        let mut out = set([
            error(
                401,
                "No usable credential: missing, malformed, unknown, disabled or expired.",
                &[(
                    "www-authenticate",
                    "`Bearer realm=\"keyconsole\"`, with `error=\"invalid_request\"` (malformed) \
                     or `error=\"invalid_token\"` (unknown, disabled, expired) per RFC 6750.",
                )],
            ),
            error(
                403,
                "The key may not do this: `insufficient_scope` (the body names \
                 `required_scopes`, and `WWW-Authenticate` says `error=\"insufficient_scope\"`), \
                 `origin_not_allowed` or `app_mismatch`.",
                &[],
            ),
            error(
                429,
                "`rate_limited`: too many failed authentications from this client.",
                &[("retry-after", "Seconds until the client may try again.")],
            ),
        ]);
        out.append(&mut StoreErrors::responses());
        out
    }
}

/// What reading a JSON body can add to [`Rejections`]: 413.
pub struct BodyErrors;

impl IntoResponses for BodyErrors {
    fn responses() -> BTreeMap<String, RefOr<Response>> {
        set([error(
            413,
            "`payload_too_large`: the body is over 64 KiB.",
            &[],
        )])
    }
}

/// 404 for an operation on one key.
pub struct KeyNotFound;

impl IntoResponses for KeyNotFound {
    fn responses() -> BTreeMap<String, RefOr<Response>> {
        set([error(
            404,
            "`not_found`: no such key in the caller's organization (other organizations' keys \
             are never revealed).",
            &[],
        )])
    }
}

/// 409 for an operation that changes a key.
pub struct KeyConflict;

impl IntoResponses for KeyConflict {
    fn responses() -> BTreeMap<String, RefOr<Response>> {
        set([error(
            409,
            "`conflict`: the request conflicts with the key's current state (for example it was \
             already rotated, or changed concurrently); reload the key and retry.",
            &[],
        )])
    }
}

/// 412 for an operation that honours `If-Match`.
pub struct VersionMismatch;

impl IntoResponses for VersionMismatch {
    fn responses() -> BTreeMap<String, RefOr<Response>> {
        set([error(
            412,
            "`version_mismatch`: `If-Match` names another version than the key's current one.",
            &[],
        )])
    }
}
