//! Sessions (API.md §8): a signed-in user's JWT in place of an org API key.
//!
//! Pure rules only: the JWT shape test, decoding the header and claims, which algorithms are
//! accepted, the claim checks (`iss`, `aud`, `exp`/`nbf` with 60 s leeway, the org claim,
//! `sub`, scopes, `app_id`), the claims → caller mapping ([`SessionPrincipal`]) and the verify
//! trace `parse, signature, issuer, audience, expiry, org, app, scopes`.
//!
//! The cryptography and the JWKS live in `server::session` and `server::jwks`: the server
//! parses with [`parse_jwt`], asks [`ParsedJwt::signing_request`] which key and algorithm to
//! use, verifies the signature, and hands what it found back as a [`SignatureCheck`] to
//! [`check_token`]. The result, a [`VerifiedToken`], depends only on the token, so it can be
//! cached until `exp`; [`authorize_session`] then decides each request (org existence, app,
//! required scopes) like `decision::authorize` does for keys.
//!
//! Every refusal is `invalid_token` except a token past `exp` (`token_expired`); the caller
//! is told only that, and the trace names the step that failed.

use std::borrow::Cow;

use chrono::{DateTime, Utc};
use serde_json::{Map, Value};

use super::decision::{AuthMethod, Decision, Denial, ErrorCode, Step, TraceStep};
use super::jwt::{
    Field, SigningAlg, TimeClaim, decode_segment, quoted, refused_alg, relative, split_jwt,
    str_field, time_claim, utc_time,
};
use super::key::{is_app_id, is_org_id};
use super::scope::{Catalog, Scope, ScopeSet};

/// The longest token accepted, in bytes. Identity providers' tokens are 1–2 KiB; 8 KiB is
/// what common proxies allow for one header line.
pub const MAX_TOKEN_LEN: usize = 8 * 1024;
/// Clock skew allowed on `exp` and `nbf`, in seconds.
pub const LEEWAY_SECONDS: i64 = 60;
/// The longest `kid` looked up.
pub const MAX_KID_LEN: usize = 256;
/// The longest `sub` accepted.
pub const MAX_SUB_LEN: usize = 255;
/// The longest `name` accepted.
pub const MAX_NAME_LEN: usize = 200;
/// The longest `email` accepted (RFC 5321's path limit).
pub const MAX_EMAIL_LEN: usize = 320;
/// The most entries in `scope` plus `scopes`.
pub const MAX_SCOPES: usize = 100;
/// The most entries in an `aud` array.
pub const MAX_AUDIENCES: usize = 32;
/// The org claim when `--jwt-org-claim` is not given.
pub const DEFAULT_ORG_CLAIM: &str = "org_id";

/// The claims the JWT and OIDC specifications define; none of them can be the org claim.
pub const REGISTERED_CLAIMS: [&str; 10] = [
    "iss", "sub", "aud", "exp", "nbf", "iat", "jti", "scope", "scopes", "app_id",
];

// ---------------------------------------------------------------------------------------
// Steps, trace, failures

/// A token that failed before it could be cached: at `parse`, `signature`, `issuer`,
/// `audience` or `expiry`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SessionFailure {
    /// The step that failed.
    pub step: Step,
    /// What the caller is told: `invalid_token`, or `token_expired` at `expiry`.
    pub denial: Denial,
    /// The steps taken, ending with the failed one.
    pub trace: Vec<TraceStep>,
    /// The token's `sub`, when the signature was valid (auth events name the user then).
    pub user: Option<String>,
}

impl SessionFailure {
    /// The decision for a token that failed verification.
    pub fn into_decision(self) -> Decision {
        Decision {
            result: Err(self.denial),
            trace: self.trace,
            method: Some(AuthMethod::Session),
            user: self.user,
        }
    }
}

struct Tracer {
    trace: Vec<TraceStep>,
}

impl Tracer {
    fn new() -> Tracer {
        Tracer {
            trace: Vec::with_capacity(Step::SESSION.len()),
        }
    }

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
        code: ErrorCode,
        user: Option<String>,
    ) -> SessionFailure {
        self.trace.push(TraceStep {
            step,
            ok: false,
            detail: detail.into(),
        });
        SessionFailure {
            step,
            denial: Denial::of(code),
            trace: self.trace,
            user,
        }
    }
}

// ---------------------------------------------------------------------------------------
// Parse and signature request

/// The decoded JOSE header fields this service looks at.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JwtHeader {
    /// `alg`, as written.
    pub alg: String,
    /// `kid`, when present.
    pub kid: Option<String>,
    /// `typ`, when present.
    pub typ: Option<String>,
}

/// A token that has the shape of a JWT and whose header and claims decode. Nothing in it is
/// trusted yet.
#[derive(Debug, Clone, PartialEq)]
pub struct ParsedJwt<'a> {
    /// The header.
    pub header: JwtHeader,
    /// The claims, unverified.
    pub claims: Map<String, Value>,
    /// `header.claims`: what the signature covers.
    pub signing_input: &'a str,
    /// The signature segment (base64url).
    pub signature: &'a str,
}

const PARSE_OK: &str = "the token is a well-formed JWT";

/// The `parse` step: size, shape, base64url, JSON header with `alg`, JSON claims object, and
/// no `crit` header (no extension is understood here, so RFC 7515 says refuse).
pub fn parse_jwt(token: &str) -> Result<ParsedJwt<'_>, SessionFailure> {
    let fail =
        |detail: String| Tracer::new().fail(Step::Parse, detail, ErrorCode::InvalidToken, None);
    if token.len() > MAX_TOKEN_LEN {
        return Err(fail(format!(
            "the token is {} bytes; at most {MAX_TOKEN_LEN} are accepted",
            token.len()
        )));
    }
    let Some([h, p, s]) = split_jwt(token) else {
        return Err(fail(
            "a JWT is three base64url segments joined by dots".to_owned(),
        ));
    };
    let header = decode_segment(h).map_err(|e| fail(e.explain("header")))?;
    let alg = match str_field(&header, "alg") {
        Field::Str(a) => a.to_owned(),
        Field::Missing => return Err(fail("the header has no `alg`".to_owned())),
        Field::NotString => return Err(fail("the header's `alg` is not a string".to_owned())),
    };
    let kid = match str_field(&header, "kid") {
        Field::Str(k) => Some(k.to_owned()),
        Field::Missing => None,
        Field::NotString => return Err(fail("the header's `kid` is not a string".to_owned())),
    };
    if header.contains_key("crit") {
        return Err(fail(
            "the header lists critical extensions (`crit`), which this service does not support"
                .to_owned(),
        ));
    }
    let typ = match str_field(&header, "typ") {
        Field::Str(t) => Some(t.to_owned()),
        _ => None,
    };
    let claims = decode_segment(p).map_err(|e| fail(e.explain("claims segment")))?;
    Ok(ParsedJwt {
        header: JwtHeader { alg, kid, typ },
        claims,
        signing_input: &token[..h.len() + 1 + p.len()],
        signature: s,
    })
}

impl ParsedJwt<'_> {
    /// The first half of the `signature` step: the algorithm the header asks for (never
    /// `none` or HMAC) and the `kid` that picks the key. The key's own algorithm must then
    /// be the same ([`SignatureCheck::AlgMismatch`] otherwise).
    pub fn signing_request(&self) -> Result<(SigningAlg, &str), SessionFailure> {
        let fail = |detail: String| {
            let mut t = Tracer::new();
            t.pass(Step::Parse, PARSE_OK);
            t.fail(Step::Signature, detail, ErrorCode::InvalidToken, None)
        };
        if let Some(why) = refused_alg(&self.header.alg) {
            return Err(fail(why));
        }
        let alg = SigningAlg::parse(&self.header.alg).ok_or_else(|| {
            fail("the token's algorithm is not supported; use RS256, ES256 or EdDSA".to_owned())
        })?;
        if self.signature.is_empty() {
            return Err(fail("the token has no signature".to_owned()));
        }
        match self.header.kid.as_deref() {
            Some(kid) if !kid.is_empty() && kid.len() <= MAX_KID_LEN => Ok((alg, kid)),
            Some(_) => Err(fail(format!(
                "the header's `kid` must be 1-{MAX_KID_LEN} characters"
            ))),
            None => Err(fail(
                "the header has no `kid`, so no key of the JWKS can be chosen".to_owned(),
            )),
        }
    }
}

/// What the server found when it checked the signature.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SignatureCheck {
    /// The signature verifies with key `kid`, whose algorithm is `alg`.
    Valid {
        /// The key id.
        kid: String,
        /// The key's (and so the token's) algorithm.
        alg: SigningAlg,
    },
    /// No key of the JWKS has this `kid`.
    UnknownKid {
        /// The `kid` asked for.
        kid: String,
        /// Whether the set was refreshed for it (false: refreshed less than 30 s ago).
        refreshed: bool,
    },
    /// The key exists but its algorithm is not the one the token names.
    AlgMismatch {
        /// The key id.
        kid: String,
        /// The token header's algorithm.
        token: SigningAlg,
        /// The key's algorithm.
        key: SigningAlg,
    },
    /// The signature does not verify with the key.
    Invalid {
        /// The key id.
        kid: String,
        /// The key's algorithm.
        alg: SigningAlg,
    },
}

// ---------------------------------------------------------------------------------------
// Claims

/// What `--jwks`, `--jwt-issuer`, `--jwt-audience` and `--jwt-org-claim` ask of a token.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SessionPolicy {
    /// `iss` must equal this.
    pub issuer: String,
    /// When set, `aud` (a string or an array) must contain this.
    pub audience: Option<String>,
    /// The claim holding the organization id (`org_id` by default).
    pub org_claim: String,
}

/// The signed-in user.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct SessionUser {
    /// `sub`.
    pub sub: String,
    /// `name`, when the token has one.
    pub name: Option<String>,
    /// `email`, when the token has one.
    pub email: Option<String>,
}

impl SessionUser {
    /// How to name the user to people: the email, else the name, else `sub`.
    pub fn display(&self) -> &str {
        self.email
            .as_deref()
            .or(self.name.as_deref())
            .unwrap_or(&self.sub)
    }
}

/// Who a session is: its user and organization (the `org` step).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SessionIdentity {
    /// The organization (the org claim).
    pub org_id: String,
    /// Who.
    pub user: SessionUser,
}

/// The caller a valid session stands for: a user acting in an organization with scopes,
/// optionally bound to an app. Acts like a key with those scopes, and is never a key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SessionPrincipal {
    /// The organization (the org claim).
    pub org_id: String,
    /// Who.
    pub user: SessionUser,
    /// `scope` and `scopes`, catalog scopes only.
    pub scopes: ScopeSet,
    /// `app_id`: the session may act only for this app.
    pub app_id: Option<String>,
    /// `exp`.
    pub expires_at: DateTime<Utc>,
}

/// A claim problem found at the `org`, `app` or `scopes` step. Such a token has a valid
/// signature and is still refused; the trace reaches the step first.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClaimFault {
    /// `org`, `app` or `scopes`.
    pub step: Step,
    /// Plain words.
    pub detail: String,
}

impl ClaimFault {
    fn new(step: Step, detail: impl Into<String>) -> ClaimFault {
        ClaimFault {
            step,
            detail: detail.into(),
        }
    }
}

fn bounded_string(
    claims: &Map<String, Value>,
    name: &str,
    max: usize,
) -> Result<Option<String>, String> {
    match str_field(claims, name) {
        Field::Missing => Ok(None),
        Field::NotString => Err(format!("the token's `{name}` is not a string")),
        Field::Str(s) if s.chars().count() > max => Err(format!(
            "the token's `{name}` is longer than {max} characters"
        )),
        Field::Str(s) => Ok(Some(s.to_owned())),
    }
}

/// `sub` as a usable user id: a non-empty string of at most [`MAX_SUB_LEN`] characters.
fn sub_claim(claims: &Map<String, Value>) -> Result<&str, String> {
    match str_field(claims, "sub") {
        Field::Str("") | Field::Missing => {
            Err("the token has no `sub` claim: a session must name its user".to_owned())
        }
        Field::Str(s) if s.chars().count() > MAX_SUB_LEN => Err(format!(
            "the token's `sub` is longer than {MAX_SUB_LEN} characters"
        )),
        Field::Str(s) => Ok(s),
        Field::NotString => Err("the token's `sub` is not a string".to_owned()),
    }
}

/// The `org` step's claims: `sub`, optional `name` and `email`, and the org claim, which must
/// be an `org_…` id (whether that org exists is the caller's question).
pub fn identity_from_claims(
    claims: &Map<String, Value>,
    policy: &SessionPolicy,
) -> Result<SessionIdentity, ClaimFault> {
    let fault = |d: String| ClaimFault::new(Step::Org, d);
    let sub = sub_claim(claims).map_err(fault)?.to_owned();
    let name = bounded_string(claims, "name", MAX_NAME_LEN).map_err(fault)?;
    let email = bounded_string(claims, "email", MAX_EMAIL_LEN).map_err(fault)?;
    let claim = &policy.org_claim;
    let org_id = match str_field(claims, claim) {
        Field::Str(s) if is_org_id(s) => s.to_owned(),
        Field::Str(s) => {
            return Err(fault(format!(
                "the token's `{claim}` is {}, which is not an organization id (`org_` and 16 letters or digits)",
                quoted(s, 40)
            )));
        }
        Field::Missing => {
            return Err(fault(format!(
                "the token has no `{claim}` claim (--jwt-org-claim): a session must name its organization"
            )));
        }
        Field::NotString => {
            return Err(fault(format!("the token's `{claim}` is not a string")));
        }
    };
    Ok(SessionIdentity {
        org_id,
        user: SessionUser { sub, name, email },
    })
}

/// The `app` step's claim: `app_id`, optional, an `app_…` id when present.
pub fn app_from_claims(claims: &Map<String, Value>) -> Result<Option<String>, ClaimFault> {
    match str_field(claims, "app_id") {
        Field::Missing => Ok(None),
        Field::Str(s) if is_app_id(s) => Ok(Some(s.to_owned())),
        Field::Str(s) => Err(ClaimFault::new(
            Step::App,
            format!(
                "the token's `app_id` is {}, which is not an app id (`app_` and 16 letters or digits)",
                quoted(s, 40)
            ),
        )),
        Field::NotString => Err(ClaimFault::new(
            Step::App,
            "the token's `app_id` is not a string",
        )),
    }
}

fn scope_words(claims: &Map<String, Value>) -> Result<Vec<&str>, ClaimFault> {
    let fault = |d: &str| ClaimFault::new(Step::Scopes, d);
    let mut words = Vec::new();
    match claims.get("scope") {
        None | Some(Value::Null) => {}
        Some(Value::String(s)) => words.extend(s.split(' ').filter(|w| !w.is_empty())),
        Some(_) => {
            return Err(fault(
                "the token's `scope` is not a string (it is space-separated)",
            ));
        }
    }
    match claims.get("scopes") {
        None | Some(Value::Null) => {}
        Some(Value::Array(items)) => {
            for v in items {
                match v {
                    Value::String(s) => words.push(s),
                    _ => {
                        return Err(fault(
                            "the token's `scopes` holds something that is not a string",
                        ));
                    }
                }
            }
        }
        Some(_) => return Err(fault("the token's `scopes` is not an array of strings")),
    }
    if words.len() > MAX_SCOPES {
        return Err(ClaimFault::new(
            Step::Scopes,
            format!(
                "the token has {} scopes; at most {MAX_SCOPES} are accepted",
                words.len()
            ),
        ));
    }
    Ok(words)
}

/// The scopes a token claims: `scope` (space-separated) and `scopes` (an array), together.
/// Words without a `:` other than `*` (OpenID scopes such as `openid`, `profile`, `email`,
/// `offline_access`) grant nothing here and are skipped; every other word must be a scope
/// (`resource:action`, `resource:*`, `*`). The catalog is not consulted.
pub fn claimed_scopes(claims: &Map<String, Value>) -> Result<ScopeSet, ClaimFault> {
    let words = scope_words(claims)?;
    let mut scopes: Vec<Scope> = Vec::with_capacity(words.len());
    for w in words {
        if w != "*" && !w.contains(':') {
            continue;
        }
        let s = Scope::parse(w).map_err(|_| {
            ClaimFault::new(
                Step::Scopes,
                format!("{} is not a scope (`resource:action`)", quoted(w, 64)),
            )
        })?;
        if !scopes.contains(&s) {
            scopes.push(s);
        }
    }
    Ok(ScopeSet::from_scopes(scopes))
}

/// The `scopes` step's claims: [`claimed_scopes`], each of which must be in the
/// deployment's catalog.
pub fn session_scopes(
    claims: &Map<String, Value>,
    catalog: &Catalog,
) -> Result<ScopeSet, ClaimFault> {
    let set = claimed_scopes(claims)?;
    catalog
        .validate(&set)
        .map_err(|e| ClaimFault::new(Step::Scopes, format!("the token's scopes: {e}")))?;
    Ok(set)
}

/// The `expiry` step on its own: `exp` required, `nbf` honoured, both with
/// [`LEEWAY_SECONDS`]. `Err` holds the code (`token_expired` only for a past `exp`) and the
/// detail.
pub fn check_times(
    exp: TimeClaim,
    nbf: TimeClaim,
    now: DateTime<Utc>,
) -> Result<DateTime<Utc>, (ErrorCode, String)> {
    let leeway = chrono::Duration::seconds(LEEWAY_SECONDS);
    let exp = match exp {
        TimeClaim::At(t) => t,
        TimeClaim::Missing => {
            return Err((
                ErrorCode::InvalidToken,
                "the token has no `exp` claim: sessions must expire".to_owned(),
            ));
        }
        TimeClaim::Invalid => {
            return Err((
                ErrorCode::InvalidToken,
                "the token's `exp` is not a time in seconds".to_owned(),
            ));
        }
    };
    if exp + leeway <= now {
        return Err((
            ErrorCode::TokenExpired,
            format!(
                "the token expired {} (at {}; {LEEWAY_SECONDS} s of clock skew allowed)",
                relative(exp, now),
                utc_time(exp)
            ),
        ));
    }
    match nbf {
        TimeClaim::At(t) if t > now + leeway => Err((
            ErrorCode::InvalidToken,
            format!(
                "the token is not valid yet: `nbf` is {} ({}; {LEEWAY_SECONDS} s of clock skew allowed)",
                relative(t, now),
                utc_time(t)
            ),
        )),
        TimeClaim::Invalid => Err((
            ErrorCode::InvalidToken,
            "the token's `nbf` is not a time in seconds".to_owned(),
        )),
        _ => Ok(exp),
    }
}

/// The token's audiences: `aud` as a string or an array of strings.
fn audiences(claims: &Map<String, Value>) -> Result<Vec<&str>, &'static str> {
    match claims.get("aud") {
        None | Some(Value::Null) => Ok(Vec::new()),
        Some(Value::String(s)) => Ok(vec![s]),
        Some(Value::Array(items)) if items.len() <= MAX_AUDIENCES => items
            .iter()
            .map(|v| {
                v.as_str()
                    .ok_or("the token's `aud` holds something that is not a string")
            })
            .collect(),
        Some(Value::Array(_)) => Err("the token's `aud` has too many entries"),
        Some(_) => Err("the token's `aud` is neither a string nor an array of strings"),
    }
}

/// Whether `got` and `want` differ only by a trailing slash (a frequent issuer mix-up).
fn slash_mismatch(got: &str, want: &str) -> bool {
    got != want && got.trim_end_matches('/') == want.trim_end_matches('/')
}

const SIGNATURE_OK: &str = "the signature is valid: key chosen by `kid`, algorithm from the key";
const ISSUER_OK: &str = "`iss` is the configured issuer (--jwt-issuer)";
const AUDIENCE_OK: &str = "`aud` contains the configured audience (--jwt-audience)";
const AUDIENCE_NONE: &str = "no audience is required (--jwt-audience is not set)";
const EXPIRY_OK: &str = "the token is within its validity (`exp`, `nbf`, 60 s skew allowed)";

fn signature_failure(check: &SignatureCheck) -> Option<String> {
    match check {
        SignatureCheck::Valid { .. } => None,
        SignatureCheck::UnknownKid { kid, refreshed } => Some(format!(
            "no key {} in the JWKS{}",
            quoted(kid, 64),
            if *refreshed {
                ", even after fetching it again"
            } else {
                " (it was fetched less than 30 s ago)"
            }
        )),
        SignatureCheck::AlgMismatch { kid, token, key } => Some(format!(
            "the token says {token}, but key {} is a {key} key; the algorithm comes from the key, never from the token",
            quoted(kid, 64)
        )),
        SignatureCheck::Invalid { kid, alg } => Some(format!(
            "the signature does not verify with key {} ({alg}): the token was altered or signed by another key",
            quoted(kid, 64)
        )),
    }
}

/// Everything about a token that does not depend on the request: what passed `parse`,
/// `signature`, `issuer`, `audience` and `expiry`, and the claims the later steps judge.
/// Safe to cache until `expires_at`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VerifiedToken {
    /// The key that verified it.
    pub kid: String,
    /// Its algorithm.
    pub alg: SigningAlg,
    /// `exp`.
    pub expires_at: DateTime<Utc>,
    /// `nbf`, when present.
    pub not_before: Option<DateTime<Utc>>,
    /// Whether `aud` was checked (`--jwt-audience` is set).
    pub audience_checked: bool,
    /// `sub` when usable (auth events name the user once the signature is valid).
    pub user: Option<String>,
    /// The `org` step's claims.
    pub identity: Result<SessionIdentity, ClaimFault>,
    /// The `app` step's claim.
    pub app_id: Result<Option<String>, ClaimFault>,
    /// The `scopes` step's claims.
    pub scopes: Result<ScopeSet, ClaimFault>,
}

impl VerifiedToken {
    /// The org the token names, when well formed: check that it exists before
    /// [`authorize_session`].
    pub fn org_id(&self) -> Option<&str> {
        self.identity.as_ref().ok().map(|i| i.org_id.as_str())
    }

    /// The app the token is bound to, when any: look up its org before
    /// [`authorize_session`].
    pub fn bound_app(&self) -> Option<&str> {
        self.app_id.as_ref().ok().and_then(Option::as_deref)
    }

    /// The caller, when every claim maps (an allowed [`Decision`] implies it).
    pub fn principal(&self) -> Option<SessionPrincipal> {
        let (Ok(id), Ok(app), Ok(scopes)) = (&self.identity, &self.app_id, &self.scopes) else {
            return None;
        };
        Some(SessionPrincipal {
            org_id: id.org_id.clone(),
            user: id.user.clone(),
            scopes: scopes.clone(),
            app_id: app.clone(),
            expires_at: self.expires_at,
        })
    }
}

/// `signature` (from what the server found), `issuer`, `audience` and `expiry`, then the
/// claims mapping. `Ok` is the cacheable result; `Err` a token refused whatever the request.
pub fn check_token(
    parsed: &ParsedJwt<'_>,
    signature: SignatureCheck,
    policy: &SessionPolicy,
    catalog: &Catalog,
    now: DateTime<Utc>,
) -> Result<VerifiedToken, SessionFailure> {
    let mut t = Tracer::new();
    t.pass(Step::Parse, PARSE_OK);
    if let Some(why) = signature_failure(&signature) {
        return Err(t.fail(Step::Signature, why, ErrorCode::InvalidToken, None));
    }
    let SignatureCheck::Valid { kid, alg } = signature else {
        return Err(t.fail(
            Step::Signature,
            "the signature was not checked",
            ErrorCode::InvalidToken,
            None,
        ));
    };
    t.pass(Step::Signature, SIGNATURE_OK);
    let claims = &parsed.claims;
    let user = sub_claim(claims).ok().map(str::to_owned);

    let want = policy.issuer.as_str();
    match str_field(claims, "iss") {
        Field::Str(got) if got == want => t.pass(Step::Issuer, ISSUER_OK),
        Field::Str(got) => {
            let mut d = format!(
                "the token was issued by {}, but this service accepts only {} (--jwt-issuer)",
                quoted(got, 120),
                quoted(want, 120)
            );
            if slash_mismatch(got, want) {
                d.push_str("; they differ only by a trailing slash, and must match exactly");
            }
            return Err(t.fail(Step::Issuer, d, ErrorCode::InvalidToken, user));
        }
        Field::Missing => {
            return Err(t.fail(
                Step::Issuer,
                "the token has no `iss` claim",
                ErrorCode::InvalidToken,
                user,
            ));
        }
        Field::NotString => {
            return Err(t.fail(
                Step::Issuer,
                "the token's `iss` is not a string",
                ErrorCode::InvalidToken,
                user,
            ));
        }
    }

    match (&policy.audience, audiences(claims)) {
        (_, Err(why)) => {
            return Err(t.fail(Step::Audience, why, ErrorCode::InvalidToken, user));
        }
        (None, Ok(_)) => t.pass(Step::Audience, AUDIENCE_NONE),
        (Some(want), Ok(got)) if got.iter().any(|a| a == want) => {
            t.pass(Step::Audience, AUDIENCE_OK);
        }
        (Some(want), Ok(got)) if got.is_empty() => {
            return Err(t.fail(
                Step::Audience,
                format!(
                    "the token has no `aud` claim; this service requires {} (--jwt-audience)",
                    quoted(want, 120)
                ),
                ErrorCode::InvalidToken,
                user,
            ));
        }
        (Some(want), Ok(got)) => {
            let list: Vec<String> = got.iter().take(5).map(|a| quoted(a, 80)).collect();
            return Err(t.fail(
                Step::Audience,
                format!(
                    "the token is for {}{}, not for {} (--jwt-audience)",
                    list.join(", "),
                    if got.len() > 5 { ", …" } else { "" },
                    quoted(want, 120)
                ),
                ErrorCode::InvalidToken,
                user,
            ));
        }
    }

    let nbf = time_claim(claims, "nbf");
    let expires_at = match check_times(time_claim(claims, "exp"), nbf, now) {
        Ok(exp) => exp,
        Err((code, detail)) => return Err(t.fail(Step::Expiry, detail, code, user)),
    };
    Ok(VerifiedToken {
        kid,
        alg,
        expires_at,
        not_before: match nbf {
            TimeClaim::At(n) => Some(n),
            _ => None,
        },
        audience_checked: policy.audience.is_some(),
        user,
        identity: identity_from_claims(claims, policy),
        app_id: app_from_claims(claims),
        scopes: session_scopes(claims, catalog),
    })
}

// ---------------------------------------------------------------------------------------
// The per-request decision

/// What a request adds to a verified token.
#[derive(Debug, Clone, Copy)]
pub struct SessionInput<'a> {
    /// Whether the token's org ([`VerifiedToken::org_id`]) exists on this service (and,
    /// for `/v1/verify`, is the caller's: another org's session is never found there).
    pub org_exists: bool,
    /// The org of the token's `app_id` ([`VerifiedToken::bound_app`]); `None` for an
    /// unknown app or when the token names none.
    pub bound_app_org: Option<&'a str>,
    /// The `x-app-id` header, if any.
    pub app_id: Option<&'a str>,
    /// The organization `app_id` belongs to (`None` for an unknown app, or no `app_id`).
    pub app_org: Option<&'a str>,
    /// Scopes the operation requires.
    pub required: &'a [Scope],
}

/// Decide a request made with a verified token: the five token steps again (`expiry`
/// against `now`, so a cached token is judged at the time of the request), then `org`,
/// `app` and `scopes`, with the same app and scope rules as a key.
pub fn authorize_session(
    token: &VerifiedToken,
    input: &SessionInput<'_>,
    now: DateTime<Utc>,
) -> Decision {
    let mut t = Tracer::new();
    // Called once, on whichever path ends the decision.
    let done = |t: Tracer, f: Option<(Step, Cow<'static, str>, Denial)>| {
        let mut trace = t.trace;
        let result = match f {
            None => Ok(()),
            Some((step, detail, denial)) => {
                trace.push(TraceStep {
                    step,
                    ok: false,
                    detail,
                });
                Err(denial)
            }
        };
        Decision {
            result,
            trace,
            method: Some(AuthMethod::Session),
            user: token.user.clone(),
        }
    };
    t.pass(Step::Parse, PARSE_OK);
    t.pass(Step::Signature, SIGNATURE_OK);
    t.pass(Step::Issuer, ISSUER_OK);
    t.pass(
        Step::Audience,
        if token.audience_checked {
            AUDIENCE_OK
        } else {
            AUDIENCE_NONE
        },
    );
    let nbf = token.not_before.map_or(TimeClaim::Missing, TimeClaim::At);
    if let Err((code, detail)) = check_times(TimeClaim::At(token.expires_at), nbf, now) {
        return done(t, Some((Step::Expiry, detail.into(), Denial::of(code))));
    }
    t.pass(Step::Expiry, EXPIRY_OK);

    let invalid = |step: Step, detail: &str| {
        Some((
            step,
            Cow::Owned(detail.to_owned()),
            Denial::of(ErrorCode::InvalidToken),
        ))
    };
    let id = match &token.identity {
        Ok(id) => id,
        Err(f) => return done(t, invalid(Step::Org, &f.detail)),
    };
    let org = id.org_id.as_str();
    if !input.org_exists {
        return done(
            t,
            invalid(
                Step::Org,
                &format!(
                    "organization {org} is unknown here: it does not exist on this service, \
                     or (for a verify call) it is not the caller's organization"
                ),
            ),
        );
    }
    t.pass(Step::Org, ORG_OK);

    let bound = match &token.app_id {
        Ok(a) => a.as_deref(),
        Err(f) => return done(t, invalid(Step::App, &f.detail)),
    };
    if let Some(bound) = bound
        && input.bound_app_org != Some(org)
    {
        return done(
            t,
            invalid(
                Step::App,
                &format!("the token is bound to app {bound}, which is not an app of {org}"),
            ),
        );
    }
    match (bound, input.app_id) {
        (Some(bound), Some(asked)) if bound != asked => {
            return done(
                t,
                Some((
                    Step::App,
                    Cow::Owned(format!(
                        "this session is bound to app {bound} and cannot act for app {asked}"
                    )),
                    Denial::new(
                        ErrorCode::AppMismatch,
                        format!(
                            "This session is bound to app {bound} and cannot act for app {asked}."
                        ),
                    ),
                )),
            );
        }
        (_, Some(asked)) if input.app_org != Some(org) => {
            return done(
                t,
                Some((
                    Step::App,
                    Cow::Owned(format!(
                        "app {asked} is not an app of this session's organization"
                    )),
                    Denial::new(
                        ErrorCode::AppMismatch,
                        format!(
                            "The requested app {asked} is not an app of this session's organization; check x-app-id."
                        ),
                    ),
                )),
            );
        }
        (Some(_), _) => t.pass(Step::App, "the request acts for the session's own app"),
        (None, Some(_)) => t.pass(
            Step::App,
            "the session is not bound to an app: it may act for any app of its org",
        ),
        (None, None) => t.pass(Step::App, "no app binding, no app requested"),
    }

    let scopes = match &token.scopes {
        Ok(s) => s,
        Err(f) => return done(t, invalid(Step::Scopes, &f.detail)),
    };
    let missing = scopes.missing(input.required);
    if !missing.is_empty() {
        let missing: Vec<String> = missing.iter().map(ToString::to_string).collect();
        let mut denial = Denial::new(
            ErrorCode::InsufficientScope,
            format!(
                "This session lacks the required scope: {}.",
                missing.join(", ")
            ),
        );
        denial.required_scopes = input.required.iter().map(ToString::to_string).collect();
        let has = if scopes.is_empty() {
            "no scopes".to_owned()
        } else {
            scopes.to_strings().join(" ")
        };
        return done(
            t,
            Some((
                Step::Scopes,
                Cow::Owned(format!(
                    "missing {}; the session has {has}",
                    missing.join(", ")
                )),
                denial,
            )),
        );
    }
    t.pass(
        Step::Scopes,
        if input.required.is_empty() {
            Cow::Borrowed("no scope required")
        } else {
            Cow::Owned(format!(
                "{} granted",
                input
                    .required
                    .iter()
                    .map(ToString::to_string)
                    .collect::<Vec<_>>()
                    .join(", ")
            ))
        },
    );
    done(t, None)
}

const ORG_OK: &str = "the token names its user (`sub`) and an organization of this service";

#[cfg(test)]
mod tests {
    use super::*;
    use base64::Engine as _;
    use base64::engine::general_purpose::URL_SAFE_NO_PAD;
    use chrono::TimeZone;
    use serde_json::json;

    const ORG: &str = "org_0000000000000001";
    const APP: &str = "app_0000000000000001";

    fn now() -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 11, 23, 12, 0, 0)
            .single()
            .expect("valid time")
    }

    fn secs(t: DateTime<Utc>) -> i64 {
        t.timestamp()
    }

    fn b64(v: &Value) -> String {
        URL_SAFE_NO_PAD.encode(v.to_string())
    }

    fn token(header: Value, claims: Value) -> String {
        format!("{}.{}.c2ln", b64(&header), b64(&claims))
    }

    fn claims() -> Value {
        json!({
            "iss": "https://id.example.com",
            "aud": ["keyconsole", "other"],
            "sub": "user_1",
            "exp": secs(now()) + 600,
            "nbf": secs(now()) - 10,
            "org_id": ORG,
            "scope": "openid profile runs:read webhooks:*",
            "email": "ana@acme.test",
            "name": "Ana",
        })
    }

    fn policy() -> SessionPolicy {
        SessionPolicy {
            issuer: "https://id.example.com".to_owned(),
            audience: Some("keyconsole".to_owned()),
            org_claim: DEFAULT_ORG_CLAIM.to_owned(),
        }
    }

    fn valid() -> SignatureCheck {
        SignatureCheck::Valid {
            kid: "k1".to_owned(),
            alg: SigningAlg::RS256,
        }
    }

    fn check(claims: Value) -> Result<VerifiedToken, SessionFailure> {
        check_with(claims, &policy(), now())
    }

    fn check_with(
        claims: Value,
        policy: &SessionPolicy,
        at: DateTime<Utc>,
    ) -> Result<VerifiedToken, SessionFailure> {
        let t = token(json!({"alg": "RS256", "kid": "k1"}), claims);
        let parsed = parse_jwt(&t).expect("parses");
        check_token(&parsed, valid(), policy, &Catalog::default_catalog(), at)
    }

    fn input<'a>(required: &'a [Scope]) -> SessionInput<'a> {
        SessionInput {
            org_exists: true,
            bound_app_org: None,
            app_id: None,
            app_org: None,
            required,
        }
    }

    fn steps(trace: &[TraceStep]) -> Vec<Step> {
        trace.iter().map(|t| t.step).collect()
    }

    fn failed_at(f: &SessionFailure) -> (Step, ErrorCode) {
        let last = f.trace.last().expect("trace");
        assert!(!last.ok);
        assert_eq!(last.step, f.step);
        assert!(f.trace[..f.trace.len() - 1].iter().all(|t| t.ok));
        (f.step, f.denial.code)
    }

    #[test]
    fn parse_failures_name_the_parse_step() {
        let big = format!("{}.{}.x", "a".repeat(MAX_TOKEN_LEN), "b");
        for bad in [
            big,
            "a.b".to_owned(),
            "!!.b.c".to_owned(),
            format!(
                "{}.{}.c",
                URL_SAFE_NO_PAD.encode("not json"),
                b64(&claims())
            ),
            format!("{}.{}.c", b64(&json!(["RS256"])), b64(&claims())),
            format!("{}.{}.c", b64(&json!({"kid": "k1"})), b64(&claims())),
            format!("{}.{}.c", b64(&json!({"alg": 1})), b64(&claims())),
            format!(
                "{}.{}.c",
                b64(&json!({"alg": "RS256", "kid": 7})),
                b64(&claims())
            ),
            format!(
                "{}.{}.c",
                b64(&json!({"alg": "RS256", "kid": "k", "crit": ["exp"]})),
                b64(&claims())
            ),
            format!("{}.{}.c", b64(&json!({"alg": "RS256"})), b64(&json!("sub"))),
            format!("{}.{}=.c", b64(&json!({"alg": "RS256"})), b64(&claims())),
        ] {
            let f = parse_jwt(&bad).expect_err("refused");
            assert_eq!(
                failed_at(&f),
                (Step::Parse, ErrorCode::InvalidToken),
                "{bad}"
            );
            assert_eq!(f.trace.len(), 1);
            assert!(f.user.is_none());
        }
        let t = token(json!({"alg": "RS256", "kid": "k1"}), claims());
        let p = parse_jwt(&t).expect("parses");
        assert_eq!(p.header.kid.as_deref(), Some("k1"));
        assert!(t.starts_with(p.signing_input));
        assert_eq!(p.signature, "c2ln");
        assert_eq!(p.signing_input.matches('.').count(), 1);
    }

    #[test]
    fn the_token_size_limit_is_inclusive() {
        let t = token(json!({"alg": "RS256", "kid": "k1"}), claims());
        let pad = MAX_TOKEN_LEN - t.len();
        let exact = format!("{t}{}", "A".repeat(pad));
        assert_eq!(exact.len(), MAX_TOKEN_LEN);
        assert!(parse_jwt(&exact).is_ok());
        let over = format!("{exact}A");
        let f = parse_jwt(&over).expect_err("too long");
        assert!(f.trace[0].detail.contains("8192"), "{:?}", f.trace);
    }

    #[test]
    fn none_hmac_and_unknown_algorithms_are_refused_before_any_key() {
        for (alg, says) in [
            ("none", "unsigned"),
            ("None", "unsigned"),
            ("NONE", "unsigned"),
            ("HS256", "HMAC"),
            ("hs384", "HMAC"),
            ("HS512", "HMAC"),
            ("RSA-OAEP", "not supported"),
            ("rs256", "not supported"),
        ] {
            let t = token(json!({"alg": alg, "kid": "k1"}), claims());
            let p = parse_jwt(&t).expect("parses");
            let f = p.signing_request().expect_err(alg);
            assert_eq!(
                failed_at(&f),
                (Step::Signature, ErrorCode::InvalidToken),
                "{alg}"
            );
            assert_eq!(steps(&f.trace), [Step::Parse, Step::Signature]);
            assert!(
                f.trace[1].detail.contains(says),
                "{alg}: {}",
                f.trace[1].detail
            );
        }
        let unsigned = format!(
            "{}.{}.",
            b64(&json!({"alg": "RS256", "kid": "k1"})),
            b64(&claims())
        );
        let p = parse_jwt(&unsigned).expect("parses");
        assert!(p.signing_request().is_err());
        let no_kid = token(json!({"alg": "ES256"}), claims());
        let f = parse_jwt(&no_kid)
            .expect("parses")
            .signing_request()
            .expect_err("no kid");
        assert!(f.trace[1].detail.contains("kid"));
        let ok = token(json!({"alg": "EdDSA", "kid": "ed"}), claims());
        let p = parse_jwt(&ok).expect("parses");
        assert_eq!(p.signing_request().expect("ok"), (SigningAlg::EdDSA, "ed"));
    }

    #[test]
    fn signature_outcomes() {
        let t = token(json!({"alg": "RS256", "kid": "k1"}), claims());
        let p = parse_jwt(&t).expect("parses");
        let cat = Catalog::default_catalog();
        for (check, says) in [
            (
                SignatureCheck::UnknownKid {
                    kid: "k9".into(),
                    refreshed: true,
                },
                "even after fetching",
            ),
            (
                SignatureCheck::UnknownKid {
                    kid: "k9".into(),
                    refreshed: false,
                },
                "less than 30 s ago",
            ),
            (
                SignatureCheck::AlgMismatch {
                    kid: "k1".into(),
                    token: SigningAlg::ES256,
                    key: SigningAlg::RS256,
                },
                "never from the token",
            ),
            (
                SignatureCheck::Invalid {
                    kid: "k1".into(),
                    alg: SigningAlg::RS256,
                },
                "does not verify",
            ),
        ] {
            let f = check_token(&p, check, &policy(), &cat, now()).expect_err("refused");
            assert_eq!(failed_at(&f), (Step::Signature, ErrorCode::InvalidToken));
            assert!(f.trace[1].detail.contains(says), "{}", f.trace[1].detail);
            assert!(
                f.user.is_none(),
                "no user is named without a valid signature"
            );
        }
    }

    #[test]
    fn issuer_must_match_exactly() {
        let mut c = claims();
        c["iss"] = json!("https://id.example.com/");
        let f = check(c).expect_err("trailing slash");
        assert_eq!(failed_at(&f), (Step::Issuer, ErrorCode::InvalidToken));
        assert!(f.trace[2].detail.contains("trailing slash"));
        assert_eq!(f.user.as_deref(), Some("user_1"));
        for iss in [json!("https://evil.example.com"), json!(null), json!(5)] {
            let mut c = claims();
            c["iss"] = iss;
            let f = check(c).expect_err("wrong iss");
            assert_eq!(failed_at(&f), (Step::Issuer, ErrorCode::InvalidToken));
        }
    }

    #[test]
    fn audience_string_or_array_must_contain_the_configured_one() {
        for aud in [json!("keyconsole"), json!(["a", "keyconsole"])] {
            let mut c = claims();
            c["aud"] = aud;
            assert!(check(c).is_ok());
        }
        for aud in [
            json!("other"),
            json!(["a", "b"]),
            json!(null),
            json!([]),
            json!([1]),
            json!({"a": 1}),
            json!(vec!["x"; MAX_AUDIENCES + 1]),
        ] {
            let mut c = claims();
            c["aud"] = aud.clone();
            let f = check(c).expect_err("wrong aud");
            assert_eq!(
                failed_at(&f),
                (Step::Audience, ErrorCode::InvalidToken),
                "{aud}"
            );
        }
        let mut c = claims();
        c.as_object_mut().expect("object").remove("aud");
        let f = check(c.clone()).expect_err("missing aud");
        assert!(f.trace[3].detail.contains("no `aud`"));
        let mut open = policy();
        open.audience = None;
        let v = check_with(c, &open, now()).expect("no audience required");
        assert!(!v.audience_checked);
    }

    #[test]
    fn expiry_with_leeway_and_not_before() {
        let at = |exp: i64| {
            let mut c = claims();
            c["exp"] = json!(exp);
            check(c)
        };
        let n = secs(now());
        assert!(at(n + 1).is_ok());
        assert!(at(n - 59).is_ok(), "within the 60 s leeway");
        for past in [n - 60, n - 3 * 3600] {
            let f = at(past).expect_err("expired");
            assert_eq!(failed_at(&f), (Step::Expiry, ErrorCode::TokenExpired));
            assert_eq!(f.denial.message, ErrorCode::TokenExpired.default_message());
        }
        let f = at(n - 3 * 3600).expect_err("expired");
        assert!(
            f.trace[4].detail.contains("expired 3 h ago"),
            "{}",
            f.trace[4].detail
        );
        for exp in [json!(null), json!("tomorrow"), json!(1e300)] {
            let mut c = claims();
            c["exp"] = exp.clone();
            let f = check(c).expect_err("bad exp");
            assert_eq!(
                failed_at(&f),
                (Step::Expiry, ErrorCode::InvalidToken),
                "{exp}"
            );
        }
        let mut c = claims();
        c["exp"] = json!(n as f64 + 600.5);
        assert!(check(c).is_ok(), "fractional NumericDate");
        let mut c = claims();
        c["nbf"] = json!(n + 61);
        let f = check(c).expect_err("not yet valid");
        assert_eq!(failed_at(&f), (Step::Expiry, ErrorCode::InvalidToken));
        assert!(f.trace[4].detail.contains("not valid yet"));
        let mut c = claims();
        c["nbf"] = json!(n + 59);
        assert!(check(c).is_ok(), "nbf within the leeway");
        let mut c = claims();
        c["nbf"] = json!("soon");
        assert!(check(c).is_err());
    }

    #[test]
    fn an_allowed_session_traces_every_step_and_maps_the_caller() {
        let v = check(claims()).expect("valid");
        assert_eq!(v.org_id(), Some(ORG));
        let req = [Scope::parse("runs:read").expect("scope")];
        let d = authorize_session(&v, &input(&req), now());
        assert!(d.allowed(), "{d:?}");
        assert_eq!(steps(&d.trace), Step::SESSION);
        assert!(d.trace.iter().all(|t| t.ok));
        assert_eq!(d.status(), 200);
        assert_eq!(d.user.as_deref(), Some("user_1"));
        let p = v.principal().expect("principal");
        assert_eq!(p.org_id, ORG);
        assert_eq!(p.user.display(), "ana@acme.test");
        assert_eq!(p.user.name.as_deref(), Some("Ana"));
        assert_eq!(p.scopes.to_strings(), ["runs:read", "webhooks:*"]);
        assert_eq!(p.app_id, None);
        assert_eq!(p.expires_at, now() + chrono::Duration::seconds(600));
        // A cached token is judged at the time of the request.
        let later = now() + chrono::Duration::seconds(700);
        let d = authorize_session(&v, &input(&req), later);
        assert_eq!(d.code(), Some(ErrorCode::TokenExpired));
        assert_eq!(d.trace.last().map(|t| t.step), Some(Step::Expiry));
    }

    #[test]
    fn org_step_sub_and_org_claim() {
        let refused_at_org = |c: Value| {
            let v = check(c).expect("signature and times are fine");
            let d = authorize_session(&v, &input(&[]), now());
            assert_eq!(d.code(), Some(ErrorCode::InvalidToken));
            let last = d.trace.last().expect("trace").clone();
            assert_eq!((last.step, last.ok), (Step::Org, false));
            last.detail.into_owned()
        };
        for (field, value, says) in [
            ("sub", json!(null), "no `sub`"),
            ("sub", json!(""), "no `sub`"),
            ("sub", json!(42), "not a string"),
            ("sub", json!("x".repeat(MAX_SUB_LEN + 1)), "longer"),
            ("org_id", json!(null), "no `org_id`"),
            ("org_id", json!("acme"), "not an organization id"),
            ("org_id", json!("org_short"), "not an organization id"),
            ("org_id", json!(["org_0000000000000001"]), "not a string"),
            ("email", json!(["a@b"]), "`email` is not a string"),
            (
                "name",
                json!("n".repeat(MAX_NAME_LEN + 1)),
                "`name` is longer",
            ),
        ] {
            let mut c = claims();
            c[field] = value;
            let detail = refused_at_org(c);
            assert!(detail.contains(says), "{field}: {detail}");
        }
        let v = check(claims()).expect("valid");
        let mut i = input(&[]);
        i.org_exists = false;
        let d = authorize_session(&v, &i, now());
        assert_eq!(d.code(), Some(ErrorCode::InvalidToken));
        assert!(
            d.trace
                .last()
                .expect("trace")
                .detail
                .contains("does not exist")
        );
        assert_eq!(
            d.result.expect_err("denied").message,
            ErrorCode::InvalidToken.default_message()
        );
        // Another org claim name.
        let mut p = policy();
        p.org_claim = "https://keys.example.com/org".to_owned();
        let mut c = claims();
        c["https://keys.example.com/org"] = json!("org_0000000000000002");
        let v = check_with(c, &p, now()).expect("valid");
        assert_eq!(v.org_id(), Some("org_0000000000000002"));
    }

    #[test]
    fn app_binding() {
        let mut c = claims();
        c["app_id"] = json!(APP);
        let v = check(c).expect("valid");
        assert_eq!(v.bound_app(), Some(APP));
        let ok = SessionInput {
            bound_app_org: Some(ORG),
            ..input(&[])
        };
        assert!(authorize_session(&v, &ok, now()).allowed());
        let same = SessionInput {
            app_id: Some(APP),
            app_org: Some(ORG),
            ..ok
        };
        assert!(authorize_session(&v, &same, now()).allowed());
        let other = SessionInput {
            app_id: Some("app_0000000000000002"),
            app_org: Some(ORG),
            ..ok
        };
        let d = authorize_session(&v, &other, now());
        assert_eq!(d.code(), Some(ErrorCode::AppMismatch));
        // The token's app is not an app of its org (or unknown).
        let foreign = SessionInput {
            bound_app_org: Some("org_0000000000000009"),
            ..input(&[])
        };
        let d = authorize_session(&v, &foreign, now());
        assert_eq!(d.code(), Some(ErrorCode::InvalidToken));
        assert_eq!(d.trace.last().map(|t| t.step), Some(Step::App));
        // An unbound session may act for any app of its org, and only of its org.
        let v = check(claims()).expect("valid");
        let any = SessionInput {
            app_id: Some(APP),
            app_org: Some(ORG),
            ..input(&[])
        };
        assert!(authorize_session(&v, &any, now()).allowed());
        let elsewhere = SessionInput {
            app_id: Some(APP),
            app_org: Some("org_0000000000000009"),
            ..input(&[])
        };
        assert_eq!(
            authorize_session(&v, &elsewhere, now()).code(),
            Some(ErrorCode::AppMismatch)
        );
        let mut c = claims();
        c["app_id"] = json!("billing");
        let v = check(c).expect("valid signature");
        let d = authorize_session(&v, &input(&[]), now());
        assert_eq!(d.code(), Some(ErrorCode::InvalidToken));
        assert_eq!(
            steps(&d.trace),
            &Step::SESSION[..7],
            "the org step passed before the app claim was judged"
        );
    }

    #[test]
    fn scopes_from_scope_and_scopes_claims() {
        let scopes_of = |scope: Value, scopes: Value| {
            let mut c = claims();
            c["scope"] = scope;
            c["scopes"] = scopes;
            check(c).expect("valid").scopes
        };
        assert_eq!(
            scopes_of(
                json!("openid email keys:read"),
                json!(["runs:*", "keys:read"])
            )
            .expect("ok")
            .to_strings(),
            ["keys:read", "runs:*"]
        );
        assert_eq!(
            scopes_of(json!(null), json!(["*"]))
                .expect("ok")
                .to_strings(),
            ["*"]
        );
        assert!(scopes_of(json!(null), json!(null)).expect("ok").is_empty());
        for (scope, scopes, says) in [
            (json!("runs:delete"), json!(null), "catalog"),
            (json!(null), json!(["nothing:*"]), "catalog"),
            (json!("Runs:read"), json!(null), "not a scope"),
            (json!(["runs:read"]), json!(null), "`scope` is not a string"),
            (json!(null), json!("runs:read"), "`scopes` is not an array"),
            (json!(null), json!([1]), "not a string"),
            (
                json!(vec!["runs:read"; MAX_SCOPES + 1].join(" ")),
                json!(null),
                "at most",
            ),
        ] {
            let fault = scopes_of(scope.clone(), scopes).expect_err("refused");
            assert_eq!(fault.step, Step::Scopes);
            assert!(fault.detail.contains(says), "{scope}: {}", fault.detail);
        }
        let mut c = claims();
        c["scope"] = json!("runs:delete");
        let v = check(c).expect("valid signature");
        let d = authorize_session(&v, &input(&[]), now());
        assert_eq!(d.code(), Some(ErrorCode::InvalidToken));
        assert_eq!(steps(&d.trace), Step::SESSION);
    }

    #[test]
    fn required_scopes_like_a_key() {
        let v = check(claims()).expect("valid");
        let req = [Scope::parse("keys:write").expect("scope")];
        let d = authorize_session(&v, &input(&req), now());
        assert_eq!(d.code(), Some(ErrorCode::InsufficientScope));
        let denial = d.result.expect_err("denied");
        assert_eq!(denial.required_scopes, ["keys:write"]);
        assert!(denial.message.contains("session"));
        let req = [Scope::parse("webhooks:write").expect("scope")];
        assert!(authorize_session(&v, &input(&req), now()).allowed());
    }

    #[test]
    fn failures_become_decisions_with_the_same_trace() {
        let mut c = claims();
        c["iss"] = json!("https://evil.example.com");
        let f = check(c).expect_err("refused");
        let trace = f.trace.clone();
        let d = f.into_decision();
        assert_eq!(d.trace, trace);
        assert_eq!(d.status(), 401);
        assert!(!d.passed(Step::Org));
        assert_eq!(d.user.as_deref(), Some("user_1"));
    }

    #[test]
    fn traces_never_hold_the_token() {
        let t = token(json!({"alg": "HS256", "kid": "k1"}), claims());
        let sig = t.rsplit('.').next().expect("segment").to_owned();
        let f = parse_jwt(&t)
            .expect("parses")
            .signing_request()
            .expect_err("hmac");
        for step in &f.trace {
            assert!(!step.detail.contains(&t) && !step.detail.contains(&sig));
        }
        // A hostile kid is quoted short and printable.
        let hostile = format!("k\u{1b}[2J{}", "x".repeat(300));
        let f = check_token(
            &parse_jwt(&token(json!({"alg": "RS256", "kid": "k"}), claims())).expect("parses"),
            SignatureCheck::UnknownKid {
                kid: hostile,
                refreshed: true,
            },
            &policy(),
            &Catalog::default_catalog(),
            now(),
        )
        .expect_err("unknown kid");
        let d = &f.trace[1].detail;
        assert!(!d.contains('\u{1b}') && d.len() < 200, "{d}");
    }

    #[test]
    fn session_codes_have_their_table_rows() {
        for (code, status, kind) in [
            ("invalid_token", 401, "unauthorized"),
            ("token_expired", 401, "unauthorized"),
        ] {
            let c = ErrorCode::parse(code).expect(code);
            assert_eq!((c.status(), c.kind(), c.as_str()), (status, kind, code));
            assert!(!c.default_message().is_empty());
        }
        assert_ne!(
            ErrorCode::InvalidToken.default_message(),
            ErrorCode::TokenExpired.default_message()
        );
    }
}
