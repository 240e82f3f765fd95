//! The authorization decision: from credential headers to `Allow` or `Deny(code)`, with the
//! step trace `parse, checksum, lookup, enabled, expiry, origin, app, scopes` that
//! `POST /v1/verify` returns and the console explains.
//!
//! The lookup itself happens outside (storage or cache); [`authorize`] receives its result.

use std::borrow::Cow;

use chrono::{DateTime, Utc};

use super::host_pattern::{OriginVerdict, check_origin};
use super::key::{
    Env, ParsedSecret, PublicKeyId, SECRET_RANDOM_LEN, Secret, SecretPrefix, checksum_matches,
};
use super::record::KeyRecord;
use super::scope::{Scope, ScopeSet};

/// Every error code of API.md §4.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ErrorCode {
    /// 400: bad JSON, unknown field, bad value.
    InvalidRequest,
    /// 401: no credential header.
    MissingCredentials,
    /// 401: bad scheme, spaces, duplicate headers, bad prefix or checksum.
    MalformedCredentials,
    /// 401: well formed but unknown, deleted, or pk/secret mismatch.
    InvalidKey,
    /// 401: the key is disabled.
    KeyDisabled,
    /// 401: past `expires_at`.
    KeyExpired,
    /// 401: a session JWT that fails validation (API.md §8).
    InvalidToken,
    /// 401: a session JWT past `exp` (API.md §8).
    TokenExpired,
    /// 403: the key lacks a required scope.
    InsufficientScope,
    /// 403: public-key-only request from an origin that is not allowed.
    OriginNotAllowed,
    /// 403: app-scoped key used with another app.
    AppMismatch,
    /// 404: no such resource in the caller's org.
    NotFound,
    /// 405: the path exists but not with this method.
    MethodNotAllowed,
    /// 409: e.g. rotating a key that was already rotated.
    Conflict,
    /// 412: `If-Match` did not match.
    VersionMismatch,
    /// 413: body over the limit.
    PayloadTooLarge,
    /// 414: the request line is longer than the server reads.
    UriTooLong,
    /// 431: too many header fields, or a header section too large.
    HeadersTooLarge,
    /// 429: too many failed attempts.
    RateLimited,
    /// 500: never includes internals.
    Internal,
    /// 503: the database is unreachable or full.
    Unavailable,
}

impl ErrorCode {
    /// Every code, for tables and tests.
    pub const ALL: [ErrorCode; 21] = [
        ErrorCode::InvalidRequest,
        ErrorCode::MissingCredentials,
        ErrorCode::MalformedCredentials,
        ErrorCode::InvalidKey,
        ErrorCode::KeyDisabled,
        ErrorCode::KeyExpired,
        ErrorCode::InvalidToken,
        ErrorCode::TokenExpired,
        ErrorCode::InsufficientScope,
        ErrorCode::OriginNotAllowed,
        ErrorCode::AppMismatch,
        ErrorCode::NotFound,
        ErrorCode::MethodNotAllowed,
        ErrorCode::Conflict,
        ErrorCode::VersionMismatch,
        ErrorCode::PayloadTooLarge,
        ErrorCode::UriTooLong,
        ErrorCode::HeadersTooLarge,
        ErrorCode::RateLimited,
        ErrorCode::Internal,
        ErrorCode::Unavailable,
    ];

    /// HTTP status.
    pub fn status(self) -> u16 {
        match self {
            ErrorCode::InvalidRequest => 400,
            ErrorCode::MissingCredentials
            | ErrorCode::MalformedCredentials
            | ErrorCode::InvalidKey
            | ErrorCode::KeyDisabled
            | ErrorCode::KeyExpired
            | ErrorCode::InvalidToken
            | ErrorCode::TokenExpired => 401,
            ErrorCode::InsufficientScope | ErrorCode::OriginNotAllowed | ErrorCode::AppMismatch => {
                403
            }
            ErrorCode::NotFound => 404,
            ErrorCode::MethodNotAllowed => 405,
            ErrorCode::Conflict => 409,
            ErrorCode::VersionMismatch => 412,
            ErrorCode::PayloadTooLarge => 413,
            ErrorCode::UriTooLong => 414,
            ErrorCode::HeadersTooLarge => 431,
            ErrorCode::RateLimited => 429,
            ErrorCode::Internal => 500,
            ErrorCode::Unavailable => 503,
        }
    }

    /// The `type` of the error body.
    pub fn kind(self) -> &'static str {
        match self {
            ErrorCode::InvalidRequest
            | ErrorCode::PayloadTooLarge
            | ErrorCode::UriTooLong
            | ErrorCode::HeadersTooLarge
            | ErrorCode::MethodNotAllowed => "invalid_request",
            ErrorCode::MissingCredentials
            | ErrorCode::MalformedCredentials
            | ErrorCode::InvalidKey
            | ErrorCode::KeyDisabled
            | ErrorCode::KeyExpired
            | ErrorCode::InvalidToken
            | ErrorCode::TokenExpired => "unauthorized",
            ErrorCode::InsufficientScope | ErrorCode::OriginNotAllowed | ErrorCode::AppMismatch => {
                "forbidden"
            }
            ErrorCode::NotFound => "not_found",
            ErrorCode::Conflict => "conflict",
            ErrorCode::VersionMismatch => "precondition_failed",
            ErrorCode::RateLimited => "rate_limited",
            ErrorCode::Internal => "internal",
            ErrorCode::Unavailable => "unavailable",
        }
    }

    /// The `code` of the error body.
    pub fn as_str(self) -> &'static str {
        match self {
            ErrorCode::InvalidRequest => "invalid_request",
            ErrorCode::MissingCredentials => "missing_credentials",
            ErrorCode::MalformedCredentials => "malformed_credentials",
            ErrorCode::InvalidKey => "invalid_key",
            ErrorCode::KeyDisabled => "key_disabled",
            ErrorCode::KeyExpired => "key_expired",
            ErrorCode::InvalidToken => "invalid_token",
            ErrorCode::TokenExpired => "token_expired",
            ErrorCode::InsufficientScope => "insufficient_scope",
            ErrorCode::OriginNotAllowed => "origin_not_allowed",
            ErrorCode::AppMismatch => "app_mismatch",
            ErrorCode::NotFound => "not_found",
            ErrorCode::MethodNotAllowed => "method_not_allowed",
            ErrorCode::Conflict => "conflict",
            ErrorCode::VersionMismatch => "version_mismatch",
            ErrorCode::PayloadTooLarge => "payload_too_large",
            ErrorCode::UriTooLong => "uri_too_long",
            ErrorCode::HeadersTooLarge => "headers_too_large",
            ErrorCode::RateLimited => "rate_limited",
            ErrorCode::Internal => "internal",
            ErrorCode::Unavailable => "unavailable",
        }
    }

    /// Parse the wire `code`.
    pub fn parse(s: &str) -> Option<ErrorCode> {
        ErrorCode::ALL.into_iter().find(|c| c.as_str() == s)
    }

    /// The public message when nothing more specific is said.
    pub fn default_message(self) -> &'static str {
        match self {
            ErrorCode::InvalidRequest => "The request is not valid.",
            ErrorCode::MissingCredentials => {
                "No API key was sent. Send `Authorization: Bearer <secret>` or `x-api-key: <secret>`."
            }
            ErrorCode::MalformedCredentials => "The credential header is malformed.",
            ErrorCode::InvalidKey => "The API key is not valid.",
            ErrorCode::KeyDisabled => "This API key is disabled.",
            ErrorCode::KeyExpired => "This API key has expired.",
            ErrorCode::InvalidToken => "The session token is not valid.",
            ErrorCode::TokenExpired => "The session token has expired. Sign in again.",
            ErrorCode::InsufficientScope => "This API key lacks a required scope.",
            ErrorCode::OriginNotAllowed => "The request's Origin is not allowed for this key.",
            ErrorCode::AppMismatch => "This API key is bound to another app.",
            ErrorCode::NotFound => "No such resource.",
            ErrorCode::MethodNotAllowed => "This method is not allowed on this path.",
            ErrorCode::Conflict => "The request conflicts with the resource's current state.",
            ErrorCode::VersionMismatch => {
                "The resource has changed: its version does not match If-Match."
            }
            ErrorCode::PayloadTooLarge => "The request body is larger than 64 KiB.",
            ErrorCode::UriTooLong => "The request line is too long.",
            ErrorCode::HeadersTooLarge => "The request's header section is too large.",
            ErrorCode::RateLimited => "Too many failed attempts. Retry later.",
            ErrorCode::Internal => "Internal error. Quote the request id to support.",
            ErrorCode::Unavailable => "The service cannot reach its database. Retry shortly.",
        }
    }
}

/// A refusal: the code, a message safe to show the caller, and for `insufficient_scope`
/// the scopes that were required.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Denial {
    /// The error code.
    pub code: ErrorCode,
    /// The caller-facing message.
    pub message: String,
    /// For `insufficient_scope`: the required scopes.
    pub required_scopes: Vec<String>,
}

impl Denial {
    /// A denial with a specific message.
    pub fn new(code: ErrorCode, message: impl Into<String>) -> Denial {
        Denial {
            code,
            message: message.into(),
            required_scopes: Vec::new(),
        }
    }

    /// A denial with the code's default message.
    pub fn of(code: ErrorCode) -> Denial {
        Denial::new(code, code.default_message())
    }
}

/// How the caller authenticated.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AuthMethod {
    /// `sk_…` alone.
    Secret,
    /// `pk_…:sk_…`.
    Pair,
    /// `pk_…` alone with an allowed Origin.
    PublicKey,
    /// A signed-in user's session JWT (API.md §8). Never a key: it may use the management
    /// endpoints a public key alone may not, when its scopes allow.
    Session,
}

impl AuthMethod {
    /// The wire form.
    pub fn as_str(self) -> &'static str {
        match self {
            AuthMethod::Secret => "secret",
            AuthMethod::Pair => "pair",
            AuthMethod::PublicKey => "public_key",
            AuthMethod::Session => "session",
        }
    }
}

/// A credential that parsed, checksum included.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Credential {
    /// A secret alone.
    Secret(Secret, Env),
    /// A public key and its secret.
    Pair(PublicKeyId, Secret, Env),
    /// A public key alone.
    PublicKey(PublicKeyId),
}

impl Credential {
    /// How this credential authenticates.
    pub fn method(&self) -> AuthMethod {
        match self {
            Credential::Secret(..) => AuthMethod::Secret,
            Credential::Pair(..) => AuthMethod::Pair,
            Credential::PublicKey(_) => AuthMethod::PublicKey,
        }
    }

    /// The secret, if one was presented.
    pub fn secret(&self) -> Option<&Secret> {
        match self {
            Credential::Secret(s, _) | Credential::Pair(_, s, _) => Some(s),
            Credential::PublicKey(_) => None,
        }
    }

    /// The environment of the credential.
    pub fn env(&self) -> Env {
        match self {
            Credential::Secret(_, e) | Credential::Pair(_, _, e) => *e,
            Credential::PublicKey(pk) => pk.env(),
        }
    }

    /// The public key named in the credential, if any.
    pub fn public_key(&self) -> Option<&PublicKeyId> {
        match self {
            Credential::Pair(pk, ..) | Credential::PublicKey(pk) => Some(pk),
            Credential::Secret(..) => None,
        }
    }
}

/// The trace steps of both pipelines: a key's ([`Step::KEY`]) and a session's
/// ([`Step::SESSION`], `domain::session`). `parse`, `expiry`, `app` and `scopes` are shared.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Step {
    /// Header and token structure.
    Parse,
    /// The secret's CRC32.
    Checksum,
    /// Finding the key.
    Lookup,
    /// Enabled flag.
    Enabled,
    /// Session: algorithm, key (`kid`) and signature.
    Signature,
    /// Session: `iss`.
    Issuer,
    /// Session: `aud`.
    Audience,
    /// A key's `expires_at`; a session's `exp` and `nbf`.
    Expiry,
    /// Origin check (public key alone).
    Origin,
    /// Session: `sub` and the org claim, and that the org exists.
    Org,
    /// App binding.
    App,
    /// Required scopes.
    Scopes,
}

impl Step {
    /// A session's steps, in order.
    pub const SESSION: [Step; 8] = [
        Step::Parse,
        Step::Signature,
        Step::Issuer,
        Step::Audience,
        Step::Expiry,
        Step::Org,
        Step::App,
        Step::Scopes,
    ];

    /// A key's steps, in order.
    pub const KEY: [Step; 8] = [
        Step::Parse,
        Step::Checksum,
        Step::Lookup,
        Step::Enabled,
        Step::Expiry,
        Step::Origin,
        Step::App,
        Step::Scopes,
    ];

    /// The wire form.
    pub fn as_str(self) -> &'static str {
        match self {
            Step::Parse => "parse",
            Step::Checksum => "checksum",
            Step::Lookup => "lookup",
            Step::Enabled => "enabled",
            Step::Signature => "signature",
            Step::Issuer => "issuer",
            Step::Audience => "audience",
            Step::Expiry => "expiry",
            Step::Origin => "origin",
            Step::Org => "org",
            Step::App => "app",
            Step::Scopes => "scopes",
        }
    }
}

/// One line of the trace.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TraceStep {
    /// Which step.
    pub step: Step,
    /// Whether it passed.
    pub ok: bool,
    /// Plain words. Never contains a secret. Static on the allowed path, so the hot path
    /// does not format strings nobody reads.
    pub detail: Cow<'static, str>,
}

/// The outcome of an authorization, with its trace.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Decision {
    /// `Ok` to allow, the denial otherwise.
    pub result: Result<(), Denial>,
    /// The steps taken, in order; stops at the first failure.
    pub trace: Vec<TraceStep>,
    /// How the credential authenticates, once it parsed.
    pub method: Option<AuthMethod>,
    /// A session's user (`sub`), once its signature was valid; `None` for keys.
    pub user: Option<String>,
}

impl Decision {
    /// Whether the request is allowed.
    pub fn allowed(&self) -> bool {
        self.result.is_ok()
    }

    /// The code (`None` when allowed).
    pub fn code(&self) -> Option<ErrorCode> {
        self.result.as_ref().err().map(|d| d.code)
    }

    /// HTTP status the decision maps to.
    pub fn status(&self) -> u16 {
        self.code().map_or(200, ErrorCode::status)
    }

    /// Whether `step` was reached and passed.
    pub fn passed(&self, step: Step) -> bool {
        self.trace.iter().any(|t| t.step == step && t.ok)
    }

    /// Whether the request counts in the key's usage (and bumps `last_used_at`): the key was
    /// found and, for a public key alone, the origin check passed. Anyone can read a public
    /// key, so a public key alone from anywhere else must not move the key's numbers.
    pub fn counts_usage(&self) -> bool {
        self.passed(Step::Lookup)
            && (self.method != Some(AuthMethod::PublicKey) || self.passed(Step::Origin))
    }
}

/// A parse failure: which step failed and the denial to send.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ParseFailure {
    /// `parse` or `checksum`.
    pub step: Step,
    /// The denial (`missing_credentials` or `malformed_credentials`).
    pub denial: Denial,
}

impl ParseFailure {
    fn malformed(step: Step, message: impl Into<String>) -> ParseFailure {
        ParseFailure {
            step,
            denial: Denial::new(ErrorCode::MalformedCredentials, message),
        }
    }

    /// The decision for a credential that never reached lookup.
    pub fn into_decision(self) -> Decision {
        let mut trace = Vec::new();
        if self.step == Step::Checksum {
            trace.push(TraceStep {
                step: Step::Parse,
                ok: true,
                detail: Cow::Borrowed("credential is well formed"),
            });
        }
        trace.push(TraceStep {
            step: self.step,
            ok: false,
            detail: Cow::Owned(self.denial.message.clone()),
        });
        Decision {
            result: Err(self.denial),
            trace,
            method: None,
            user: None,
        }
    }
}

fn hint_for_token(token: &str) -> Option<&'static str> {
    if token.starts_with('"') || token.ends_with('"') || token.starts_with('\'') {
        Some("remove the quotes around the key")
    } else if token
        .get(..6)
        .is_some_and(|p| p.eq_ignore_ascii_case("bearer"))
    {
        Some("`Bearer` appears twice; send it once")
    } else {
        None
    }
}

/// Pull the one token out of the credential headers (raw values, as received).
///
/// Rules (API.md §2): exactly one credential header, sent once; `Bearer` is
/// case-insensitive, followed by exactly one space; no whitespace inside the token.
pub fn extract_token<'a>(
    authorization: &[&'a [u8]],
    x_api_key: &[&'a [u8]],
) -> Result<&'a str, ParseFailure> {
    let malformed = |m: &str| ParseFailure::malformed(Step::Parse, m);
    match (authorization.len(), x_api_key.len()) {
        (0, 0) => Err(ParseFailure {
            step: Step::Parse,
            denial: Denial::of(ErrorCode::MissingCredentials),
        }),
        (1, 0) => {
            let raw = std::str::from_utf8(authorization[0])
                .map_err(|_| malformed("the Authorization header is not valid text"))?;
            let (scheme, token) = raw
                .split_once(' ')
                .ok_or_else(|| malformed("the Authorization header must be `Bearer <key>`"))?;
            if !scheme.eq_ignore_ascii_case("bearer") {
                return Err(malformed(
                    "only the `Bearer` scheme is accepted: `Authorization: Bearer <key>`",
                ));
            }
            check_token(token, "Authorization")
        }
        (0, 1) => {
            let raw = std::str::from_utf8(x_api_key[0])
                .map_err(|_| malformed("the x-api-key header is not valid text"))?;
            if raw
                .get(..7)
                .is_some_and(|p| p.eq_ignore_ascii_case("bearer "))
            {
                return Err(malformed("x-api-key takes the key alone, without `Bearer`"));
            }
            check_token(raw, "x-api-key")
        }
        (a, k) if a > 0 && k > 0 => Err(malformed(
            "send either Authorization or x-api-key, not both",
        )),
        _ => Err(malformed("the credential header was sent more than once")),
    }
}

fn check_token<'a>(token: &'a str, header: &str) -> Result<&'a str, ParseFailure> {
    if token.is_empty() {
        return Err(ParseFailure::malformed(
            Step::Parse,
            format!("the {header} header has no key after the scheme"),
        ));
    }
    if token.chars().any(char::is_whitespace) {
        let mut m = format!("the {header} header has extra whitespace");
        if let Some(h) = hint_for_token(token.trim_start()) {
            m.push_str(": ");
            m.push_str(h);
        } else {
            m.push_str(": send exactly one space after `Bearer` and none inside the key");
        }
        return Err(ParseFailure::malformed(Step::Parse, m));
    }
    if let Some(h) = hint_for_token(token) {
        return Err(ParseFailure::malformed(
            Step::Parse,
            format!("the {header} header is malformed: {h}"),
        ));
    }
    Ok(token)
}

fn parse_secret(text: &str, prefix: &SecretPrefix) -> Result<(Secret, Env), ParseFailure> {
    let (env, offset) = ParsedSecret::parse_structure(text, prefix)
        .map_err(|e| ParseFailure::malformed(Step::Parse, format!("secret: {e}")))?;
    let (random, sum) = text[offset..].split_at(SECRET_RANDOM_LEN);
    if !checksum_matches(random, sum) {
        return Err(ParseFailure::malformed(
            Step::Checksum,
            "the secret's checksum does not match: it is truncated or mistyped",
        ));
    }
    Ok((Secret::new(text.to_owned()), env))
}

/// Parse a token into a credential: secret, `pk:secret` pair, or public key alone.
pub fn parse_token(token: &str, prefix: &SecretPrefix) -> Result<Credential, ParseFailure> {
    if let Some((pk, secret)) = token.split_once(':') {
        let pk = PublicKeyId::parse(pk).map_err(|e| {
            ParseFailure::malformed(Step::Parse, format!("public key of the pair: {e}"))
        })?;
        let (secret, env) = parse_secret(secret, prefix)?;
        if pk.env() != env {
            return Err(ParseFailure::malformed(
                Step::Parse,
                "the public key and the secret are from different environments",
            ));
        }
        return Ok(Credential::Pair(pk, secret, env));
    }
    if token.starts_with("pk_") {
        let pk = PublicKeyId::parse(token)
            .map_err(|e| ParseFailure::malformed(Step::Parse, format!("public key: {e}")))?;
        return Ok(Credential::PublicKey(pk));
    }
    let (secret, env) = parse_secret(token, prefix)?;
    Ok(Credential::Secret(secret, env))
}

/// Everything about a request that the decision needs besides the key record.
#[derive(Debug, Clone, Copy)]
pub struct AuthInput<'a> {
    /// The parsed credential.
    pub credential: &'a Credential,
    /// The `Origin` header, if any.
    pub origin: Option<&'a str>,
    /// The `x-app-id` header, if any.
    pub app_id: Option<&'a str>,
    /// The organization `app_id` belongs to (`None` for an unknown app, or no `app_id`).
    pub app_org: Option<&'a str>,
    /// Scopes the operation requires.
    pub required: &'a [Scope],
    /// If the deployment accepts only one environment.
    pub accept_env: Option<Env>,
}

struct Tracer {
    trace: Vec<TraceStep>,
}

impl Tracer {
    fn pass(&mut self, step: Step, detail: impl Into<Cow<'static, str>>) {
        self.trace.push(TraceStep {
            step,
            ok: true,
            detail: detail.into(),
        });
    }

    fn fail(
        mut self,
        step: Step,
        detail: impl Into<Cow<'static, str>>,
        denial: Denial,
        m: AuthMethod,
    ) -> Decision {
        self.trace.push(TraceStep {
            step,
            ok: false,
            detail: detail.into(),
        });
        Decision {
            result: Err(denial),
            trace: self.trace,
            method: Some(m),
            user: None,
        }
    }
}

fn fmt_time(t: DateTime<Utc>) -> String {
    t.format("%Y-%m-%d %H:%M UTC").to_string()
}

/// Decide a request. `record` is the lookup result: by secret hash when a secret was sent,
/// by public key otherwise (already limited to the right org by the caller, if any).
pub fn authorize(
    record: Option<&KeyRecord>,
    input: &AuthInput<'_>,
    now: DateTime<Utc>,
) -> Decision {
    let cred = input.credential;
    let method = cred.method();
    let mut t = Tracer { trace: Vec::new() };
    t.pass(
        Step::Parse,
        match method {
            AuthMethod::Secret => "secret is well formed",
            AuthMethod::Pair => "public key and secret pair is well formed",
            AuthMethod::PublicKey => "public key is well formed",
            // A key credential never parses as a session (see `domain::session`).
            AuthMethod::Session => "session token is well formed",
        },
    );
    t.pass(
        Step::Checksum,
        if cred.secret().is_some() {
            "checksum matches"
        } else {
            "no secret sent, nothing to check"
        },
    );

    // lookup
    if let Some(accept) = input.accept_env
        && cred.env() != accept
    {
        return t.fail(
            Step::Lookup,
            format!(
                "this deployment accepts only {accept} keys; this is a {} key",
                cred.env()
            ),
            Denial::of(ErrorCode::InvalidKey),
            method,
        );
    }
    let Some(rec) = record else {
        return t.fail(
            Step::Lookup,
            "no key with this credential exists (unknown, deleted, or another organization)",
            Denial::of(ErrorCode::InvalidKey),
            method,
        );
    };
    if let Some(pk) = cred.public_key()
        && pk.as_str() != rec.id
    {
        return t.fail(
            Step::Lookup,
            "the public key does not belong to this secret",
            Denial::of(ErrorCode::InvalidKey),
            method,
        );
    }
    t.pass(Step::Lookup, "the key exists in this organization");

    // A public key alone is not proof of holding the key, so it never learns the key's state.
    let state_denial = |code: ErrorCode, msg: String| {
        if method == AuthMethod::PublicKey {
            Denial::of(ErrorCode::InvalidKey)
        } else {
            Denial::new(code, msg)
        }
    };

    if !rec.enabled {
        return t.fail(
            Step::Enabled,
            "the key is disabled; enable it or use another key",
            state_denial(
                ErrorCode::KeyDisabled,
                ErrorCode::KeyDisabled.default_message().to_owned(),
            ),
            method,
        );
    }
    t.pass(Step::Enabled, "the key is enabled");

    match rec.expires_at {
        Some(at) if at <= now => {
            let (detail, msg) = match &rec.rotated_to {
                Some(new) => (
                    format!(
                        "the key expired {}: it was rotated to {new}; switch to the new key",
                        fmt_time(at)
                    ),
                    format!("This API key has expired: it was rotated to {new}. Use the new key."),
                ),
                None => (
                    format!("the key expired {}", fmt_time(at)),
                    ErrorCode::KeyExpired.default_message().to_owned(),
                ),
            };
            return t.fail(
                Step::Expiry,
                detail,
                state_denial(ErrorCode::KeyExpired, msg),
                method,
            );
        }
        Some(at) => t.pass(
            Step::Expiry,
            format!("the key works until {} (expiring)", fmt_time(at)),
        ),
        None => t.pass(Step::Expiry, "the key does not expire"),
    }

    if method == AuthMethod::PublicKey {
        let verdict = check_origin(&rec.allowed_domains, input.origin);
        if !verdict.allowed() {
            let detail = match verdict {
                OriginVerdict::NoPatterns => "a public key alone works only for a key with allowed domains; this key has none, so send the secret".to_owned(),
                OriginVerdict::NoOrigin => "a public key alone needs an Origin header from an allowed domain".to_owned(),
                other => other.explain(),
            };
            return t.fail(
                Step::Origin,
                detail.clone(),
                Denial::new(
                    ErrorCode::OriginNotAllowed,
                    format!("The request's Origin is not allowed for this key: {detail}."),
                ),
                method,
            );
        }
        t.pass(Step::Origin, verdict.explain());
    } else {
        t.pass(Step::Origin, "skipped: a secret was presented");
    }

    match (&rec.app_id, input.app_id) {
        (Some(bound), Some(asked)) if bound != asked => {
            let msg = format!("this key is bound to app {bound} and cannot act for app {asked}");
            return t.fail(
                Step::App,
                msg.clone(),
                Denial::new(
                    ErrorCode::AppMismatch,
                    format!("This API key is bound to app {bound} and cannot act for app {asked}."),
                ),
                method,
            );
        }
        (_, Some(asked)) if input.app_org != Some(rec.org_id.as_str()) => {
            return t.fail(
                Step::App,
                format!("app {asked} is not an app of this key's organization"),
                Denial::new(
                    ErrorCode::AppMismatch,
                    format!(
                        "The requested app {asked} is not an app of this key's organization; check x-app-id."
                    ),
                ),
                method,
            );
        }
        (Some(_), _) => t.pass(Step::App, "the request acts for the key's own app"),
        (None, Some(_)) => t.pass(Step::App, "org-scoped key: may act for any app of its org"),
        (None, None) => t.pass(Step::App, "org-scoped key, no app requested"),
    }

    let missing = rec.scopes.missing(input.required);
    if !missing.is_empty() {
        let missing: Vec<String> = missing.iter().map(ToString::to_string).collect();
        let required: Vec<String> = input.required.iter().map(ToString::to_string).collect();
        let mut denial = Denial::new(
            ErrorCode::InsufficientScope,
            format!(
                "This API key lacks the required scope: {}.",
                missing.join(", ")
            ),
        );
        denial.required_scopes = required;
        return t.fail(
            Step::Scopes,
            format!(
                "missing {}; the key has {}",
                missing.join(", "),
                describe_scopes(&rec.scopes)
            ),
            denial,
            method,
        );
    }
    t.pass(
        Step::Scopes,
        if input.required.is_empty() {
            "no scope required".to_owned()
        } else {
            format!(
                "{} granted",
                input
                    .required
                    .iter()
                    .map(ToString::to_string)
                    .collect::<Vec<_>>()
                    .join(", ")
            )
        },
    );
    Decision {
        result: Ok(()),
        trace: t.trace,
        method: Some(method),
        user: None,
    }
}

fn describe_scopes(set: &ScopeSet) -> String {
    if set.is_empty() {
        "no scopes".to_owned()
    } else {
        set.to_strings().join(" ")
    }
}

/// Who manages keys, as the no-escalation rule sees it: a key or a session.
#[derive(Debug, Clone, Copy)]
pub struct Manager<'a> {
    /// A key's environment; `None` for a session, which belongs to a person, not to an
    /// environment.
    pub env: Option<Env>,
    /// The scopes it holds.
    pub scopes: &'a ScopeSet,
    /// The app it is bound to.
    pub app_id: Option<&'a str>,
    /// `key` or `session`, for the messages.
    pub noun: &'static str,
}

impl<'a> Manager<'a> {
    /// A key.
    pub fn key(k: &'a KeyRecord) -> Manager<'a> {
        Manager {
            env: Some(k.env),
            scopes: &k.scopes,
            app_id: k.app_id.as_deref(),
            noun: "key",
        }
    }

    /// A session with these scopes, bound to `app_id` when the token names one.
    pub fn session(scopes: &'a ScopeSet, app_id: Option<&'a str>) -> Manager<'a> {
        Manager {
            env: None,
            scopes,
            app_id,
            noun: "session",
        }
    }
}

/// No escalation (API.md §3): may `caller` create, edit, enable or disable, delete or rotate
/// a key of environment `env` with these scopes and app? This one rule guards every key
/// mutation, by a key or a session alike. In order:
/// - environments never cross: a key without `*` manages only keys of its own environment,
///   so a leaked test key can neither mint nor touch live keys (a session has no
///   environment; this rule is for keys only);
/// - a caller grants only scopes it holds itself;
/// - an app-scoped caller manages only keys of its own app.
pub fn can_manage(
    caller: Manager<'_>,
    env: Env,
    scopes: &ScopeSet,
    app_id: Option<&str>,
) -> Result<(), Denial> {
    if let Some(own) = caller.env
        && env != own
        && !caller.scopes.covers(&Scope::All)
    {
        let mut d = Denial::new(
            ErrorCode::InsufficientScope,
            format!(
                "A {own} key can create and manage only {own} keys; this is a {env} key, which \
                 needs a key with scope `*`."
            ),
        );
        d.required_scopes = vec!["*".to_owned()];
        return Err(d);
    }
    let uncovered: Vec<String> = scopes
        .iter()
        .filter(|s| !caller.scopes.covers(s))
        .map(ToString::to_string)
        .collect();
    if !uncovered.is_empty() {
        let mut d = Denial::new(
            ErrorCode::InsufficientScope,
            format!(
                "A {noun} can grant only scopes it holds itself; yours does not hold {}.",
                uncovered.join(", "),
                noun = caller.noun
            ),
        );
        d.required_scopes = uncovered;
        return Err(d);
    }
    if let Some(own) = caller.app_id
        && app_id != Some(own)
    {
        let mut d = Denial::new(
            ErrorCode::InsufficientScope,
            format!(
                "An app-scoped {} can manage only keys of its own app ({own}).",
                caller.noun
            ),
        );
        d.required_scopes = vec!["*".to_owned()];
        return Err(d);
    }
    Ok(())
}

/// Whether `key` keeps its organization manageable at `now`: an owner key is enabled, not
/// expired, org-scoped (an app-scoped key cannot manage org-scoped keys or create apps) and
/// holds `*`. An organization must keep at least one: the store refuses a disable, delete,
/// expiry or scope change that would take away the last one (API.md §4, 409 `conflict`).
pub fn is_owner_key(key: &KeyRecord, now: DateTime<Utc>) -> bool {
    key.enabled && !key.is_expired(now) && key.app_id.is_none() && key.scopes.covers(&Scope::All)
}

/// What a refused lock-out says.
pub const LAST_OWNER_MESSAGE: &str = "This is the organization's last owner key (enabled, not \
    expired, not bound to an app, scope `*`): disabling, deleting, expiring or narrowing it would \
    lock the organization out. Create another key with scope `*` first; whoever holds the \
    database can run `keyconsole org recover` as a last resort.";

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::host_pattern::HostPattern;
    use crate::domain::key::{SecretHash, format_secret};
    use chrono::TimeZone;

    const RANDOM: &str = "0123456789ABCDEFGHIJabcdefghijKL";
    const PK: &str = "pk_live_000000000000000000000001";
    const ORG: &str = "org_0000000000000001";

    fn now() -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 11, 23, 12, 0, 0)
            .single()
            .expect("valid time")
    }

    fn secret() -> String {
        format_secret("sk", Env::Live, RANDOM)
    }

    fn record() -> KeyRecord {
        KeyRecord {
            id: PK.to_owned(),
            org_id: ORG.to_owned(),
            name: "Production Backend".to_owned(),
            env: Env::Live,
            app_id: None,
            scopes: ScopeSet::parse(&["runs:read", "webhooks:*"]).expect("scopes"),
            allowed_domains: vec![HostPattern::parse("*.example.com").expect("pattern")],
            enabled: true,
            secret_hash: SecretHash::of(&secret()),
            secret_hint: "abcd".to_owned(),
            created_at: now(),
            updated_at: now(),
            expires_at: None,
            last_used_at: None,
            rotated_from: None,
            rotated_to: None,
            version: 1,
            owner: None,
            description: None,
            leaked_at: None,
        }
    }

    fn parse(token: &str) -> Credential {
        parse_token(token, &SecretPrefix::default()).expect("parses")
    }

    fn decide(
        rec: Option<&KeyRecord>,
        token: &str,
        origin: Option<&str>,
        app: Option<&str>,
        req: &[&str],
    ) -> Decision {
        let cred = parse(token);
        let required: Vec<Scope> = req
            .iter()
            .map(|s| Scope::parse(s).expect("scope"))
            .collect();
        authorize(
            rec,
            &AuthInput {
                credential: &cred,
                origin,
                app_id: app,
                app_org: app.map(|_| ORG),
                required: &required,
                accept_env: None,
            },
            now(),
        )
    }

    fn hdr(auth: &[&str], key: &[&str]) -> Result<String, ParseFailure> {
        let a: Vec<&[u8]> = auth.iter().map(|s| s.as_bytes()).collect();
        let k: Vec<&[u8]> = key.iter().map(|s| s.as_bytes()).collect();
        extract_token(&a, &k).map(str::to_owned)
    }

    fn code_of(r: Result<String, ParseFailure>) -> ErrorCode {
        r.expect_err("should fail").denial.code
    }

    #[test]
    fn header_forms() {
        let s = secret();
        assert_eq!(hdr(&[&format!("Bearer {s}")], &[]).expect("ok"), s);
        assert_eq!(hdr(&[&format!("bearer {s}")], &[]).expect("ok"), s);
        assert_eq!(hdr(&[&format!("BEARER {s}")], &[]).expect("ok"), s);
        assert_eq!(hdr(&[], &[&s]).expect("ok"), s);
        assert_eq!(code_of(hdr(&[], &[])), ErrorCode::MissingCredentials);
        for bad in [
            format!("Bearer  {s}"),
            format!("Bearer {s} "),
            format!("Basic {s}"),
            format!("Bearer{s}"),
            "Bearer ".to_owned(),
            format!("Bearer Bearer {s}"),
            format!("Bearer \"{s}\""),
            format!("Token {s}"),
        ] {
            assert_eq!(
                code_of(hdr(&[&bad], &[])),
                ErrorCode::MalformedCredentials,
                "{bad}"
            );
        }
        assert_eq!(
            code_of(hdr(&[&format!("Bearer {s}")], &[&s])),
            ErrorCode::MalformedCredentials
        );
        assert_eq!(
            code_of(hdr(&[&format!("Bearer {s}"), &format!("Bearer {s}")], &[])),
            ErrorCode::MalformedCredentials
        );
        assert_eq!(
            code_of(hdr(&[], &[&s, &s])),
            ErrorCode::MalformedCredentials
        );
        assert_eq!(
            code_of(hdr(&[], &[&format!("Bearer {s}")])),
            ErrorCode::MalformedCredentials
        );
        let bytes: &[u8] = b"Bearer \xff\xfe";
        assert!(extract_token(&[bytes], &[]).is_err());
    }

    #[test]
    fn malformed_messages_never_echo_the_token() {
        let s = secret();
        let truncated = &s[..s.len() - 1];
        for token in [
            truncated.to_owned(),
            format!("{s}x"),
            format!("zz_live_{RANDOM}"),
        ] {
            let f = parse_token(&token, &SecretPrefix::default()).expect_err("bad");
            assert!(!f.denial.message.contains(RANDOM), "{}", f.denial.message);
            assert_eq!(f.denial.code, ErrorCode::MalformedCredentials);
        }
    }

    #[test]
    fn token_forms_parse() {
        let s = secret();
        assert_eq!(parse(&s).method(), AuthMethod::Secret);
        assert_eq!(parse(&format!("{PK}:{s}")).method(), AuthMethod::Pair);
        assert_eq!(parse(PK).method(), AuthMethod::PublicKey);
        let mut bad_sum = s.clone();
        bad_sum.pop();
        bad_sum.push(if s.ends_with('0') { '1' } else { '0' });
        let f = parse_token(&bad_sum, &SecretPrefix::default()).expect_err("checksum");
        assert_eq!(f.step, Step::Checksum);
        let d = f.into_decision();
        assert_eq!(
            d.trace.iter().map(|t| t.step).collect::<Vec<_>>(),
            vec![Step::Parse, Step::Checksum]
        );
        let f = parse_token(
            "pk_test_000000000000000000000001:".to_owned().as_str(),
            &SecretPrefix::default(),
        )
        .expect_err("bad");
        assert_eq!(f.step, Step::Parse);
        let test_secret = format_secret("sk", Env::Test, RANDOM);
        assert!(parse_token(&format!("{PK}:{test_secret}"), &SecretPrefix::default()).is_err());
    }

    #[test]
    fn allowed_secret_traces_every_step() {
        let rec = record();
        let d = decide(Some(&rec), &secret(), None, None, &["runs:read"]);
        assert!(d.allowed(), "{d:?}");
        assert_eq!(
            d.trace.iter().map(|t| t.step).collect::<Vec<_>>(),
            Step::KEY.to_vec()
        );
        assert!(d.trace.iter().all(|t| t.ok));
        assert_eq!(d.status(), 200);
    }

    #[test]
    fn unknown_key_is_invalid_key() {
        let d = decide(None, &secret(), None, None, &[]);
        assert_eq!(d.code(), Some(ErrorCode::InvalidKey));
        assert_eq!(d.trace.last().map(|t| t.step), Some(Step::Lookup));
    }

    #[test]
    fn pair_mismatch_is_invalid_key() {
        let rec = record();
        let other = "pk_live_000000000000000000000002";
        let d = decide(
            Some(&rec),
            &format!("{other}:{}", secret()),
            None,
            None,
            &[],
        );
        assert_eq!(d.code(), Some(ErrorCode::InvalidKey));
        let d = decide(Some(&rec), &format!("{PK}:{}", secret()), None, None, &[]);
        assert!(d.allowed());
        assert_eq!(d.method, Some(AuthMethod::Pair));
    }

    #[test]
    fn disabled_and_expired() {
        let mut rec = record();
        rec.enabled = false;
        assert_eq!(
            decide(Some(&rec), &secret(), None, None, &[]).code(),
            Some(ErrorCode::KeyDisabled)
        );
        let mut rec = record();
        rec.expires_at = Some(now());
        rec.rotated_to = Some("pk_live_000000000000000000000009".into());
        let d = decide(Some(&rec), &secret(), None, None, &[]);
        assert_eq!(d.code(), Some(ErrorCode::KeyExpired));
        let msg = &d.result.as_ref().expect_err("denied").message;
        assert!(msg.contains("pk_live_000000000000000000000009"), "{msg}");
        rec.expires_at = Some(now() + chrono::Duration::seconds(1));
        assert!(decide(Some(&rec), &secret(), None, None, &[]).allowed());
    }

    #[test]
    fn public_key_alone_needs_an_allowed_origin() {
        let rec = record();
        assert!(decide(Some(&rec), PK, Some("https://app.example.com"), None, &[]).allowed());
        for origin in [
            None,
            Some("https://example.com"),
            Some("https://badexample.com"),
            Some("null"),
        ] {
            assert_eq!(
                decide(Some(&rec), PK, origin, None, &[]).code(),
                Some(ErrorCode::OriginNotAllowed),
                "{origin:?}"
            );
        }
        let mut no_domains = record();
        no_domains.allowed_domains.clear();
        assert_eq!(
            decide(
                Some(&no_domains),
                PK,
                Some("https://app.example.com"),
                None,
                &[]
            )
            .code(),
            Some(ErrorCode::OriginNotAllowed)
        );
        // A secret skips the origin check.
        assert!(decide(Some(&rec), &secret(), Some("https://evil.io"), None, &[]).allowed());
        // A public key alone never learns whether the key is disabled.
        let mut disabled = record();
        disabled.enabled = false;
        assert_eq!(
            decide(
                Some(&disabled),
                PK,
                Some("https://a.example.com"),
                None,
                &[]
            )
            .code(),
            Some(ErrorCode::InvalidKey)
        );
    }

    #[test]
    fn app_binding() {
        let mut rec = record();
        rec.app_id = Some("app_0000000000000001".into());
        assert!(decide(Some(&rec), &secret(), None, None, &[]).allowed());
        assert!(
            decide(
                Some(&rec),
                &secret(),
                None,
                Some("app_0000000000000001"),
                &[]
            )
            .allowed()
        );
        assert_eq!(
            decide(
                Some(&rec),
                &secret(),
                None,
                Some("app_0000000000000002"),
                &[]
            )
            .code(),
            Some(ErrorCode::AppMismatch)
        );
        assert!(
            decide(
                Some(&record()),
                &secret(),
                None,
                Some("app_0000000000000002"),
                &[]
            )
            .allowed()
        );
    }

    #[test]
    fn an_app_of_another_org_is_app_mismatch() {
        let cred = parse(&secret());
        for (bound, app_org) in [
            (None, Some("org_0000000000000002")),
            (None, None),
            (Some("app_0000000000000001"), None),
        ] {
            let mut rec = record();
            rec.app_id = bound.map(str::to_owned);
            let d = authorize(
                Some(&rec),
                &AuthInput {
                    credential: &cred,
                    origin: None,
                    app_id: Some("app_0000000000000001"),
                    app_org,
                    required: &[],
                    accept_env: None,
                },
                now(),
            );
            assert_eq!(
                d.code(),
                Some(ErrorCode::AppMismatch),
                "{bound:?} {app_org:?}"
            );
            let last = d.trace.last().expect("trace");
            assert_eq!((last.step, last.ok), (Step::App, false));
            assert!(
                d.result
                    .expect_err("denied")
                    .message
                    .contains("organization")
            );
        }
    }

    #[test]
    fn public_key_alone_counts_only_past_the_origin_check() {
        let rec = record();
        let ok = decide(Some(&rec), PK, Some("https://a.example.com"), None, &[]);
        assert!(ok.counts_usage());
        let elsewhere = decide(Some(&rec), PK, Some("https://evil.io"), None, &[]);
        assert_eq!(elsewhere.code(), Some(ErrorCode::OriginNotAllowed));
        assert!(!elsewhere.counts_usage());
        let mut off = record();
        off.enabled = false;
        assert!(!decide(Some(&off), PK, Some("https://a.example.com"), None, &[]).counts_usage());
        // A secret counts whatever the outcome once the key is found.
        assert!(decide(Some(&off), &secret(), None, None, &[]).counts_usage());
        assert!(!decide(None, &secret(), None, None, &[]).counts_usage());
    }

    #[test]
    fn scopes_and_required_list() {
        let rec = record();
        assert!(decide(Some(&rec), &secret(), None, None, &["webhooks:write"]).allowed());
        let d = decide(Some(&rec), &secret(), None, None, &["keys:write"]);
        assert_eq!(d.code(), Some(ErrorCode::InsufficientScope));
        assert_eq!(
            d.result.expect_err("denied").required_scopes,
            vec!["keys:write"]
        );
    }

    #[test]
    fn accept_env_turns_other_env_into_invalid_key() {
        let rec = record();
        let cred = parse(&secret());
        let d = authorize(
            Some(&rec),
            &AuthInput {
                credential: &cred,
                origin: None,
                app_id: None,
                app_org: None,
                required: &[],
                accept_env: Some(Env::Test),
            },
            now(),
        );
        assert_eq!(d.code(), Some(ErrorCode::InvalidKey));
    }

    #[test]
    fn no_escalation() {
        let caller = record();
        let set = |s: &[&str]| ScopeSet::parse(s).expect("ok");
        let live = Env::Live;
        assert!(can_manage(Manager::key(&caller), live, &set(&["runs:read"]), None).is_ok());
        assert!(can_manage(Manager::key(&caller), live, &set(&["webhooks:write"]), None).is_ok());
        let e = can_manage(
            Manager::key(&caller),
            live,
            &set(&["keys:write", "runs:read"]),
            None,
        )
        .expect_err("escalation");
        assert_eq!(e.code, ErrorCode::InsufficientScope);
        assert_eq!(e.required_scopes, vec!["keys:write"]);
        assert!(can_manage(Manager::key(&caller), live, &set(&["*"]), None).is_err());
        let mut app_caller = record();
        app_caller.app_id = Some("app_0000000000000001".into());
        let none = ScopeSet::default();
        assert!(
            can_manage(
                Manager::key(&app_caller),
                live,
                &none,
                Some("app_0000000000000001")
            )
            .is_ok()
        );
        assert!(can_manage(Manager::key(&app_caller), live, &none, None).is_err());
        assert!(
            can_manage(
                Manager::key(&app_caller),
                live,
                &none,
                Some("app_0000000000000002")
            )
            .is_err()
        );
    }

    #[test]
    fn environments_never_cross_without_star() {
        let set = |s: &[&str]| ScopeSet::parse(s).expect("ok");
        let mut test_admin = record();
        test_admin.env = Env::Test;
        test_admin.scopes = set(&["keys:*", "runs:*"]);
        let target = set(&["runs:read"]);
        assert!(can_manage(Manager::key(&test_admin), Env::Test, &target, None).is_ok());
        let e =
            can_manage(Manager::key(&test_admin), Env::Live, &target, None).expect_err("crosses");
        assert_eq!(e.code, ErrorCode::InsufficientScope);
        assert_eq!(e.required_scopes, vec!["*"]);
        assert!(
            e.message.contains("test key") && e.message.contains("live key"),
            "{}",
            e.message
        );
        // Even an empty scope set on the target does not cross.
        assert!(
            can_manage(
                Manager::key(&test_admin),
                Env::Live,
                &ScopeSet::default(),
                None
            )
            .is_err()
        );
        // The other way round too.
        let mut live_admin = test_admin.clone();
        live_admin.env = Env::Live;
        assert!(can_manage(Manager::key(&live_admin), Env::Test, &target, None).is_err());
        // `*` crosses.
        let mut owner = test_admin;
        owner.scopes = set(&["*"]);
        assert!(can_manage(Manager::key(&owner), Env::Live, &target, None).is_ok());
    }

    #[test]
    fn owner_keys_are_enabled_unexpired_org_scoped_and_hold_star() {
        let mut k = record();
        k.scopes = ScopeSet::parse(&["*"]).expect("ok");
        assert!(is_owner_key(&k, now()));
        k.expires_at = Some(now() + chrono::Duration::seconds(1));
        assert!(is_owner_key(&k, now()), "a future expiry still counts");
        k.expires_at = Some(now());
        assert!(!is_owner_key(&k, now()), "expiring at now is expired");
        k.expires_at = None;
        k.enabled = false;
        assert!(!is_owner_key(&k, now()));
        k.enabled = true;
        k.app_id = Some("app_0000000000000001".into());
        assert!(!is_owner_key(&k, now()), "app-scoped");
        k.app_id = None;
        k.scopes = ScopeSet::parse(&["keys:*", "runs:*"]).expect("ok");
        assert!(!is_owner_key(&k, now()), "resource wildcards are not `*`");
    }

    #[test]
    fn every_code_has_its_table_row() {
        let table = [
            ("invalid_request", 400, "invalid_request"),
            ("missing_credentials", 401, "unauthorized"),
            ("malformed_credentials", 401, "unauthorized"),
            ("invalid_key", 401, "unauthorized"),
            ("key_disabled", 401, "unauthorized"),
            ("key_expired", 401, "unauthorized"),
            ("insufficient_scope", 403, "forbidden"),
            ("origin_not_allowed", 403, "forbidden"),
            ("app_mismatch", 403, "forbidden"),
            ("not_found", 404, "not_found"),
            ("conflict", 409, "conflict"),
            ("version_mismatch", 412, "precondition_failed"),
            ("payload_too_large", 413, "invalid_request"),
            ("uri_too_long", 414, "invalid_request"),
            ("headers_too_large", 431, "invalid_request"),
            ("rate_limited", 429, "rate_limited"),
            ("internal", 500, "internal"),
        ];
        for (code, status, kind) in table {
            let c = ErrorCode::parse(code).expect(code);
            assert_eq!(c.status(), status, "{code}");
            assert_eq!(c.kind(), kind, "{code}");
        }
    }
}
