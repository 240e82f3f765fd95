//! Offline lint of a session JWT, for the console's request tester and `doctor`: "jwt.io in
//! the terminal" for support staff whose customer says "my token is refused".
//!
//! It decodes the header and the claims **without verifying the signature** (the report
//! says so, always), shows `alg`, `kid` and every claim (`exp`, `nbf` and `iat` also as
//! times relative to `now`: "expired 3 h ago"), compares `iss` and `aud` with what the
//! service expects when that is known, and reports what the service would refuse: `alg:
//! none` and HMAC (`HS*`), a missing `kid`, `exp`, `sub` or org claim, an expired or
//! not-yet-valid token, scopes that are not scopes (or, given the catalog, not in it).
//!
//! Pure: `now` comes in as an argument. The report never contains the token or any of its
//! segments: only decoded header fields and claim values, shortened and made printable.

use chrono::{DateTime, Utc};
use serde_json::{Map, Value};

use super::jwt::{
    Field, HeaderAlg, TimeClaim, classify_alg, decode_segment, quoted, relative, split_jwt,
    str_field, time_claim, utc_time,
};
use super::lint::{Finding, Severity};
use super::scope::Catalog;
use super::session::{
    DEFAULT_ORG_CLAIM, LEEWAY_SECONDS, MAX_TOKEN_LEN, SessionPolicy, app_from_claims,
    claimed_scopes, identity_from_claims, session_scopes,
};

/// What the lint knows about the service the token is for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JwtLintContext {
    /// The service's `--jwt-issuer`, when known.
    pub issuer: Option<String>,
    /// The service's `--jwt-audience`, when known.
    pub audience: Option<String>,
    /// The service's `--jwt-org-claim` (`org_id` unless known otherwise).
    pub org_claim: String,
    /// The service's scope catalog, when known: scopes outside it are reported.
    pub catalog: Option<Catalog>,
    /// The time to judge `exp`, `nbf` and `iat` against.
    pub now: DateTime<Utc>,
}

impl JwtLintContext {
    /// Nothing known about the service but the time.
    pub fn at(now: DateTime<Utc>) -> JwtLintContext {
        JwtLintContext {
            issuer: None,
            audience: None,
            org_claim: DEFAULT_ORG_CLAIM.to_owned(),
            catalog: None,
            now,
        }
    }
}

/// The rule ids.
pub mod rule {
    /// Not three base64url segments, or a segment that does not decode to a JSON object.
    pub const JWT_MALFORMED: &str = "jwt_malformed";
    /// Longer than the service accepts.
    pub const JWT_TOO_LONG: &str = "jwt_too_long";
    /// `alg: none`: an unsigned token.
    pub const ALG_NONE: &str = "alg_none";
    /// `HS256`/`HS384`/`HS512`: a shared-secret signature.
    pub const ALG_HMAC: &str = "alg_hmac";
    /// Any other algorithm the service does not verify, or no `alg`.
    pub const ALG_UNSUPPORTED: &str = "alg_unsupported";
    /// No `kid`, so the service cannot pick a key.
    pub const NO_KID: &str = "no_kid";
    /// A `crit` header.
    pub const CRIT_HEADER: &str = "crit_header";
    /// No signature segment.
    pub const NO_SIGNATURE: &str = "no_signature";
    /// No `exp`, or not a time.
    pub const NO_EXPIRY: &str = "no_expiry";
    /// Past `exp` (an error beyond the 60 s leeway, a warning within it).
    pub const EXPIRED: &str = "expired";
    /// `nbf` in the future (an error beyond the leeway).
    pub const NOT_YET_VALID: &str = "not_yet_valid";
    /// `iat` in the future: the issuer's clock is ahead.
    pub const ISSUED_IN_FUTURE: &str = "issued_in_future";
    /// No `iss`.
    pub const NO_ISSUER: &str = "no_issuer";
    /// `iss` is not the service's issuer.
    pub const ISSUER_MISMATCH: &str = "issuer_mismatch";
    /// The service needs an audience and the token has none.
    pub const NO_AUDIENCE: &str = "no_audience";
    /// `aud` does not contain the service's audience.
    pub const AUDIENCE_MISMATCH: &str = "audience_mismatch";
    /// `sub`, `name`, `email` or the org claim missing or not usable.
    pub const BAD_IDENTITY: &str = "bad_identity";
    /// `app_id` is not an app id.
    pub const BAD_APP_ID: &str = "bad_app_id";
    /// The scope claims do not hold usable scopes.
    pub const BAD_SCOPES: &str = "bad_scopes";
    /// No scopes at all: the session can only ask who it is.
    pub const NO_SCOPES: &str = "no_scopes";
}

/// One claim as shown.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClaimLine {
    /// The claim name (made printable).
    pub name: String,
    /// Its value, compact and shortened.
    pub value: String,
    /// For times, when that is relative to `now` ("expired 3 h ago"); for `iss`/`aud`,
    /// whether it matches the service.
    pub note: Option<String>,
}

/// What the lint found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JwtReport {
    /// Header fields (`alg`, `kid`, `typ` first), as shown.
    pub header: Vec<ClaimLine>,
    /// Claims (registered ones first, then the rest in name order), as shown.
    pub claims: Vec<ClaimLine>,
    /// Problems, errors first.
    pub findings: Vec<Finding>,
}

/// What every report says about the signature.
pub const SIGNATURE_NOTE: &str = "The signature was not verified: this check is offline and only decodes the token. Only the service can say whether the signature is valid.";

impl JwtReport {
    /// Whether the service would refuse the token for a reason seen offline.
    pub fn has_errors(&self) -> bool {
        self.findings.iter().any(|f| f.severity == Severity::Error)
    }

    /// The report as plain lines: the signature note, the header, the claims, then
    /// `✗ rule: message — fix` (`⚠` for warnings) per finding.
    pub fn lines(&self) -> Vec<String> {
        let mut out = vec![SIGNATURE_NOTE.to_owned()];
        let width = self
            .header
            .iter()
            .chain(&self.claims)
            .map(|c| c.name.chars().count())
            .max()
            .unwrap_or(0);
        for (title, rows) in [("header", &self.header), ("claims", &self.claims)] {
            out.push(format!("{title}:"));
            for c in rows {
                let mut l = format!("  {:<width$}  {}", c.name, c.value);
                if let Some(n) = &c.note {
                    l.push_str("  (");
                    l.push_str(n);
                    l.push(')');
                }
                out.push(l);
            }
        }
        if self.findings.is_empty() {
            out.push("no problems found offline".to_owned());
        }
        for f in &self.findings {
            let mark = match f.severity {
                Severity::Error => '✗',
                Severity::Warning => '⚠',
            };
            out.push(format!("{mark} {}: {} — {}", f.rule, f.message, f.fix));
        }
        out
    }
}

#[derive(Default)]
struct Findings(Vec<Finding>);

impl Findings {
    fn error(&mut self, rule: &'static str, message: impl Into<String>, fix: impl Into<String>) {
        self.push(rule, Severity::Error, message.into(), fix.into());
    }

    fn warn(&mut self, rule: &'static str, message: impl Into<String>, fix: impl Into<String>) {
        self.push(rule, Severity::Warning, message.into(), fix.into());
    }

    fn push(&mut self, rule: &'static str, severity: Severity, message: String, fix: String) {
        let f = Finding {
            rule,
            severity,
            message,
            fix,
        };
        if !self.0.contains(&f) {
            self.0.push(f);
        }
    }

    fn done(mut self) -> Vec<Finding> {
        self.0.sort_by_key(|f| f.severity == Severity::Warning);
        self.0
    }
}

const VALUE_MAX: usize = 120;

/// A JSON value shown compactly: strings quoted and printable, everything shortened.
fn show(v: &Value) -> String {
    match v {
        Value::String(s) => quoted(s, VALUE_MAX),
        other => {
            let text = other.to_string();
            if text.chars().count() > VALUE_MAX {
                let mut t: String = text.chars().take(VALUE_MAX).collect();
                t.push('…');
                t
            } else {
                text
            }
        }
    }
}

fn printable_name(name: &str) -> String {
    let q = quoted(name, 60);
    q[1..q.len() - 1].to_owned()
}

const FRESH_TOKEN: &str = "sign in again (or run the profile's token_command) to get a fresh token";

/// Lint a token (what follows `Bearer `). The report never contains the token.
pub fn lint_jwt(token: &str, ctx: &JwtLintContext) -> JwtReport {
    let mut out = Findings::default();
    let token = token.trim();
    if token.len() > MAX_TOKEN_LEN {
        out.error(
            rule::JWT_TOO_LONG,
            format!(
                "the token is {} bytes; the service accepts at most {MAX_TOKEN_LEN}",
                token.len()
            ),
            "ask the identity provider for a smaller token (fewer custom claims)",
        );
    }
    let Some([h, p, s]) = split_jwt(token) else {
        out.error(
            rule::JWT_MALFORMED,
            "this is not a JWT: a JWT is three base64url segments joined by dots",
            "paste the whole token, without quotes, spaces or line breaks",
        );
        return JwtReport {
            header: Vec::new(),
            claims: Vec::new(),
            findings: out.done(),
        };
    };
    let header = match decode_segment(h) {
        Ok(m) => Some(m),
        Err(e) => {
            out.error(
                rule::JWT_MALFORMED,
                e.explain("header"),
                "paste the whole token; it may have been cut or changed",
            );
            None
        }
    };
    let claims = match decode_segment(p) {
        Ok(m) => Some(m),
        Err(e) => {
            out.error(
                rule::JWT_MALFORMED,
                e.explain("claims segment"),
                "paste the whole token; it may have been cut or changed",
            );
            None
        }
    };
    let header_lines = header
        .as_ref()
        .map(|m| lint_header(m, s.is_empty(), &mut out))
        .unwrap_or_default();
    let claim_lines = claims
        .as_ref()
        .map(|m| lint_claims(m, ctx, &mut out))
        .unwrap_or_default();
    JwtReport {
        header: header_lines,
        claims: claim_lines,
        findings: out.done(),
    }
}

fn ordered<'a>(m: &'a Map<String, Value>, first: &[&str]) -> Vec<(&'a String, &'a Value)> {
    let mut rows: Vec<(&String, &Value)> = Vec::with_capacity(m.len());
    for name in first {
        if let Some((k, v)) = m.get_key_value(*name) {
            rows.push((k, v));
        }
    }
    let mut rest: Vec<(&String, &Value)> = m
        .iter()
        .filter(|(k, _)| !first.contains(&k.as_str()))
        .collect();
    rest.sort_by(|a, b| a.0.cmp(b.0));
    rows.extend(rest);
    rows
}

fn lint_header(m: &Map<String, Value>, unsigned: bool, out: &mut Findings) -> Vec<ClaimLine> {
    let rows = ordered(m, &["alg", "kid", "typ"])
        .into_iter()
        .map(|(k, v)| ClaimLine {
            name: printable_name(k),
            value: show(v),
            note: None,
        })
        .collect();
    match str_field(m, "alg") {
        Field::Str(alg) => match classify_alg(alg) {
            HeaderAlg::Supported(_) => {}
            HeaderAlg::None => out.error(
                rule::ALG_NONE,
                "the token is unsigned (`alg: none`); the service never accepts it",
                "use a token signed by the identity provider (RS256, ES256 or EdDSA)",
            ),
            HeaderAlg::Hmac(h) => out.error(
                rule::ALG_HMAC,
                format!(
                    "the token is signed with {h}, a shared secret (HMAC); the service accepts only the identity provider's public-key signatures"
                ),
                "configure the identity provider to sign with RS256, ES256 or EdDSA and publish its keys as a JWKS",
            ),
            HeaderAlg::Unsupported => out.error(
                rule::ALG_UNSUPPORTED,
                format!("the algorithm {} is not one the service verifies", quoted(alg, 20)),
                "use RS256, RS384, RS512, PS256, PS384, PS512, ES256, ES384 or EdDSA",
            ),
        },
        _ => out.error(
            rule::ALG_UNSUPPORTED,
            "the header has no `alg` string",
            "use a token made by the identity provider",
        ),
    }
    if !matches!(str_field(m, "kid"), Field::Str(k) if !k.is_empty()) {
        out.error(
            rule::NO_KID,
            "the header has no `kid`, so the service cannot tell which key of its JWKS signed it",
            "configure the identity provider to put the key id in the token header",
        );
    }
    if m.contains_key("crit") {
        out.error(
            rule::CRIT_HEADER,
            "the header lists critical extensions (`crit`), which the service does not support",
            "use a token without `crit`",
        );
    }
    if unsigned && !matches!(str_field(m, "alg"), Field::Str(a) if a.eq_ignore_ascii_case("none")) {
        out.error(
            rule::NO_SIGNATURE,
            "the token has no signature segment",
            "paste the whole token, up to its last character",
        );
    }
    rows
}

fn time_note(name: &str, t: TimeClaim, now: DateTime<Utc>) -> Option<String> {
    match t {
        TimeClaim::At(at) => {
            let rel = relative(at, now);
            Some(match (name, at <= now) {
                ("exp", true) => format!("{}, expired {rel}", utc_time(at)),
                ("exp", false) => format!("{}, expires {rel}", utc_time(at)),
                ("nbf", true) => format!("{}, valid since {rel}", utc_time(at)),
                ("nbf", false) => format!("{}, not valid until {rel}", utc_time(at)),
                (_, true) => format!("{}, issued {rel}", utc_time(at)),
                (_, false) => format!("{}, issued {rel} (in the future)", utc_time(at)),
            })
        }
        TimeClaim::Invalid => Some("not a time in seconds".to_owned()),
        TimeClaim::Missing => None,
    }
}

fn lint_claims(m: &Map<String, Value>, ctx: &JwtLintContext, out: &mut Findings) -> Vec<ClaimLine> {
    let now = ctx.now;
    let org = ctx.org_claim.as_str();
    let first = [
        "iss", "sub", "aud", "exp", "nbf", "iat", org, "app_id", "scope", "scopes", "name", "email",
    ];
    let mut rows = Vec::with_capacity(m.len());
    for (k, v) in ordered(m, &first) {
        let note = match k.as_str() {
            "exp" | "nbf" | "iat" => time_note(k, time_claim(m, k), now),
            "iss" => ctx.issuer.as_ref().map(|want| {
                if v.as_str() == Some(want.as_str()) {
                    "the service's issuer".to_owned()
                } else {
                    format!("the service expects {}", quoted(want, VALUE_MAX))
                }
            }),
            "aud" => ctx.audience.as_ref().map(|want| {
                if audiences_of(v).contains(&want.as_str()) {
                    "contains the service's audience".to_owned()
                } else {
                    format!("the service expects {}", quoted(want, VALUE_MAX))
                }
            }),
            _ => None,
        };
        rows.push(ClaimLine {
            name: printable_name(k),
            value: show(v),
            note,
        });
    }

    let leeway = chrono::Duration::seconds(LEEWAY_SECONDS);
    match time_claim(m, "exp") {
        TimeClaim::At(exp) if exp + leeway <= now => out.error(
            rule::EXPIRED,
            format!("the token expired {} ({})", relative(exp, now), utc_time(exp)),
            FRESH_TOKEN,
        ),
        TimeClaim::At(exp) if exp <= now => out.warn(
            rule::EXPIRED,
            format!(
                "the token expired {}; the service still accepts it for {} s ({LEEWAY_SECONDS} s of clock skew allowed)",
                relative(exp, now),
                (exp + leeway - now).num_seconds()
            ),
            FRESH_TOKEN,
        ),
        TimeClaim::At(_) => {}
        TimeClaim::Missing => out.error(
            rule::NO_EXPIRY,
            "the token has no `exp` claim; the service accepts only tokens that expire",
            "configure the identity provider to set an expiry",
        ),
        TimeClaim::Invalid => out.error(
            rule::NO_EXPIRY,
            "the token's `exp` is not a time in seconds",
            "use a token made by the identity provider",
        ),
    }
    match time_claim(m, "nbf") {
        TimeClaim::At(nbf) if nbf > now + leeway => out.error(
            rule::NOT_YET_VALID,
            format!("the token is not valid until {} ({})", relative(nbf, now), utc_time(nbf)),
            "check the clocks of the identity provider and of this machine, or wait",
        ),
        TimeClaim::At(nbf) if nbf > now => out.warn(
            rule::NOT_YET_VALID,
            format!(
                "the token is not valid until {}; the service accepts it thanks to {LEEWAY_SECONDS} s of clock skew allowance",
                relative(nbf, now)
            ),
            "check the clocks of the identity provider and of this machine",
        ),
        TimeClaim::Invalid => out.error(
            rule::NOT_YET_VALID,
            "the token's `nbf` is not a time in seconds",
            "use a token made by the identity provider",
        ),
        _ => {}
    }
    if let TimeClaim::At(iat) = time_claim(m, "iat")
        && iat > now + leeway
    {
        out.warn(
            rule::ISSUED_IN_FUTURE,
            format!("the token says it was issued {}", relative(iat, now)),
            "a clock is wrong: check the identity provider's and this machine's time",
        );
    }

    match (str_field(m, "iss"), &ctx.issuer) {
        (Field::Str(got), Some(want)) if got != want => {
            let mut msg = format!(
                "the token was issued by {}, but the service accepts only {}",
                quoted(got, VALUE_MAX),
                quoted(want, VALUE_MAX)
            );
            if got.trim_end_matches('/') == want.trim_end_matches('/') {
                msg.push_str(" (they differ only by a trailing slash; it must match exactly)");
            }
            out.error(
                rule::ISSUER_MISMATCH,
                msg,
                "use a token from the service's identity provider, or correct the service's --jwt-issuer",
            );
        }
        (Field::Str(_), _) => {}
        (Field::Missing, _) => out.error(
            rule::NO_ISSUER,
            "the token has no `iss` claim",
            "use a token made by the identity provider the service trusts",
        ),
        (Field::NotString, _) => out.error(
            rule::NO_ISSUER,
            "the token's `iss` is not a string",
            "use a token made by the identity provider the service trusts",
        ),
    }

    if let Some(want) = &ctx.audience {
        match m.get("aud") {
            None | Some(Value::Null) => out.error(
                rule::NO_AUDIENCE,
                format!(
                    "the token has no `aud`; the service requires {}",
                    quoted(want, VALUE_MAX)
                ),
                "request the token for the service's audience (the API identifier at the identity provider)",
            ),
            Some(v) if !audiences_of(v).contains(&want.as_str()) => out.error(
                rule::AUDIENCE_MISMATCH,
                format!(
                    "the token is for {}, not for the service's audience {}",
                    show(v),
                    quoted(want, VALUE_MAX)
                ),
                "request the token for the service's audience (the API identifier at the identity provider)",
            ),
            Some(_) => {}
        }
    }

    let policy = SessionPolicy {
        issuer: String::new(),
        audience: None,
        org_claim: ctx.org_claim.clone(),
    };
    if let Err(f) = identity_from_claims(m, &policy) {
        out.error(
            rule::BAD_IDENTITY,
            f.detail,
            format!(
                "the identity provider must put the user in `sub` and the organization id (`org_…`) in `{org}`"
            ),
        );
    }
    if let Err(f) = app_from_claims(m) {
        out.error(
            rule::BAD_APP_ID,
            f.detail,
            "leave `app_id` out, or set it to an app id of the organization",
        );
    }
    let scopes = match &ctx.catalog {
        Some(c) => session_scopes(m, c),
        None => claimed_scopes(m),
    };
    match scopes {
        Err(f) => out.error(
            rule::BAD_SCOPES,
            f.detail,
            "put catalog scopes (`runs:read`, `keys:*`) in `scope` (space-separated) or `scopes` (an array)",
        ),
        Ok(set) if set.is_empty() => out.warn(
            rule::NO_SCOPES,
            "the token grants no scopes, so the session can only ask who it is (GET /v1/me)",
            "put catalog scopes (`runs:read`, `keys:*`) in `scope` (space-separated) or `scopes` (an array)",
        ),
        Ok(_) => {}
    }
    rows
}

fn audiences_of(v: &Value) -> Vec<&str> {
    match v {
        Value::String(s) => vec![s.as_str()],
        Value::Array(a) => a.iter().filter_map(Value::as_str).collect(),
        _ => Vec::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use base64::Engine as _;
    use base64::engine::general_purpose::URL_SAFE_NO_PAD;
    use chrono::TimeZone;
    use serde_json::json;

    fn now() -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 11, 23, 12, 0, 0)
            .single()
            .expect("valid time")
    }

    fn b64(v: &Value) -> String {
        URL_SAFE_NO_PAD.encode(v.to_string())
    }

    fn token(header: Value, claims: Value) -> String {
        format!("{}.{}.c2lnbmF0dXJl", b64(&header), b64(&claims))
    }

    fn header() -> Value {
        json!({"alg": "RS256", "kid": "key-2026", "typ": "JWT"})
    }

    fn claims() -> Value {
        let n = now().timestamp();
        json!({
            "iss": "https://acme.eu.auth0.com/",
            "aud": ["https://keys.acme.test", "https://acme.eu.auth0.com/userinfo"],
            "sub": "auth0|ana",
            "org_id": "org_0000000000000001",
            "scope": "openid runs:read keys:read",
            "email": "ana@acme.test",
            "iat": n - 600,
            "exp": n + 900,
        })
    }

    fn ctx() -> JwtLintContext {
        JwtLintContext {
            issuer: Some("https://acme.eu.auth0.com/".into()),
            audience: Some("https://keys.acme.test".into()),
            org_claim: DEFAULT_ORG_CLAIM.into(),
            catalog: Some(Catalog::default_catalog()),
            now: now(),
        }
    }

    fn with(f: impl Fn(&mut Value)) -> String {
        let mut c = claims();
        f(&mut c);
        token(header(), c)
    }

    fn rules(r: &JwtReport) -> Vec<(&'static str, Severity)> {
        r.findings.iter().map(|f| (f.rule, f.severity)).collect()
    }

    #[test]
    fn a_good_token_shows_its_header_and_claims_and_says_the_signature_is_unverified() {
        let r = lint_jwt(&token(header(), claims()), &ctx());
        assert!(r.findings.is_empty(), "{:?}", r.findings);
        assert!(!r.has_errors());
        let names: Vec<&str> = r.header.iter().map(|c| c.name.as_str()).collect();
        assert_eq!(names, ["alg", "kid", "typ"]);
        assert_eq!(r.header[1].value, "`key-2026`");
        let exp = r.claims.iter().find(|c| c.name == "exp").expect("exp");
        assert_eq!(
            exp.note.as_deref(),
            Some("2026-11-23 12:15:00 UTC, expires in 15 min")
        );
        let iat = r.claims.iter().find(|c| c.name == "iat").expect("iat");
        assert!(
            iat.note
                .as_deref()
                .expect("note")
                .contains("issued 10 min ago")
        );
        let iss = r.claims.iter().find(|c| c.name == "iss").expect("iss");
        assert_eq!(iss.note.as_deref(), Some("the service's issuer"));
        let lines = r.lines();
        assert_eq!(lines[0], SIGNATURE_NOTE);
        assert!(
            lines
                .iter()
                .any(|l| l.contains("no problems found offline"))
        );
        assert!(SIGNATURE_NOTE.contains("not verified"));
    }

    #[test]
    fn expiry_relative_to_now() {
        let n = now().timestamp();
        let r = lint_jwt(&with(|c| c["exp"] = json!(n - 3 * 3600 - 20)), &ctx());
        assert_eq!(rules(&r), [(rule::EXPIRED, Severity::Error)]);
        assert!(
            r.findings[0].message.contains("expired 3 h ago"),
            "{:?}",
            r.findings
        );
        let exp = r.claims.iter().find(|c| c.name == "exp").expect("exp");
        assert!(
            exp.note
                .as_deref()
                .expect("note")
                .contains("expired 3 h ago")
        );
        let r = lint_jwt(&with(|c| c["exp"] = json!(n - 20)), &ctx());
        assert_eq!(rules(&r), [(rule::EXPIRED, Severity::Warning)]);
        assert!(
            r.findings[0].message.contains("for 40 s"),
            "{:?}",
            r.findings
        );
        let r = lint_jwt(
            &with(|c| {
                c.as_object_mut().expect("obj").remove("exp");
            }),
            &ctx(),
        );
        assert_eq!(rules(&r), [(rule::NO_EXPIRY, Severity::Error)]);
        let r = lint_jwt(&with(|c| c["nbf"] = json!(n + 3600)), &ctx());
        assert_eq!(rules(&r), [(rule::NOT_YET_VALID, Severity::Error)]);
        let r = lint_jwt(&with(|c| c["nbf"] = json!(n + 30)), &ctx());
        assert_eq!(rules(&r), [(rule::NOT_YET_VALID, Severity::Warning)]);
        let r = lint_jwt(&with(|c| c["iat"] = json!(n + 3600)), &ctx());
        assert_eq!(rules(&r), [(rule::ISSUED_IN_FUTURE, Severity::Warning)]);
    }

    #[test]
    fn unsigned_hmac_and_other_algorithms_are_flagged() {
        for (alg, want) in [
            ("none", rule::ALG_NONE),
            ("HS256", rule::ALG_HMAC),
            ("HS512", rule::ALG_HMAC),
            ("ES512", rule::ALG_UNSUPPORTED),
        ] {
            let r = lint_jwt(&token(json!({"alg": alg, "kid": "k"}), claims()), &ctx());
            assert_eq!(rules(&r), [(want, Severity::Error)], "{alg}");
        }
        let unsigned = format!("{}.{}.", b64(&json!({"alg": "none"})), b64(&claims()));
        let r = lint_jwt(&unsigned, &ctx());
        assert_eq!(
            rules(&r),
            [
                (rule::ALG_NONE, Severity::Error),
                (rule::NO_KID, Severity::Error)
            ]
        );
        let r = lint_jwt(&token(json!({"alg": "ES256"}), claims()), &ctx());
        assert_eq!(rules(&r), [(rule::NO_KID, Severity::Error)]);
        let cut = format!("{}.{}.", b64(&header()), b64(&claims()));
        assert_eq!(
            rules(&lint_jwt(&cut, &ctx())),
            [(rule::NO_SIGNATURE, Severity::Error)]
        );
        let crit = token(json!({"alg": "RS256", "kid": "k", "crit": ["x"]}), claims());
        assert_eq!(
            rules(&lint_jwt(&crit, &ctx())),
            [(rule::CRIT_HEADER, Severity::Error)]
        );
    }

    #[test]
    fn issuer_and_audience_against_the_service() {
        let r = lint_jwt(
            &with(|c| c["iss"] = json!("https://acme.eu.auth0.com")),
            &ctx(),
        );
        assert_eq!(rules(&r), [(rule::ISSUER_MISMATCH, Severity::Error)]);
        assert!(r.findings[0].message.contains("trailing slash"));
        let r = lint_jwt(&with(|c| c["aud"] = json!("https://other.test")), &ctx());
        assert_eq!(rules(&r), [(rule::AUDIENCE_MISMATCH, Severity::Error)]);
        let r = lint_jwt(
            &with(|c| {
                c.as_object_mut().expect("obj").remove("aud");
            }),
            &ctx(),
        );
        assert_eq!(rules(&r), [(rule::NO_AUDIENCE, Severity::Error)]);
        // Unknown expectations: the values are shown, nothing is judged.
        let mut open = ctx();
        open.issuer = None;
        open.audience = None;
        let r = lint_jwt(
            &with(|c| {
                c["iss"] = json!("https://elsewhere.test/");
                c["aud"] = json!("x");
            }),
            &open,
        );
        assert!(r.findings.is_empty(), "{:?}", r.findings);
        let iss = r.claims.iter().find(|c| c.name == "iss").expect("iss");
        assert_eq!(iss.note, None);
        let r = lint_jwt(
            &with(|c| {
                c.as_object_mut().expect("obj").remove("iss");
            }),
            &open,
        );
        assert_eq!(rules(&r), [(rule::NO_ISSUER, Severity::Error)]);
    }

    #[test]
    fn missing_claims_and_bad_scopes() {
        for (name, value, want) in [
            ("sub", json!(null), rule::BAD_IDENTITY),
            ("org_id", json!(null), rule::BAD_IDENTITY),
            ("org_id", json!("acme-corp"), rule::BAD_IDENTITY),
            ("app_id", json!("web"), rule::BAD_APP_ID),
            ("scope", json!("openid runs:delete"), rule::BAD_SCOPES),
            ("scope", json!("openid Runs:Read"), rule::BAD_SCOPES),
        ] {
            let r = lint_jwt(&with(|c| c[name] = value.clone()), &ctx());
            assert_eq!(rules(&r), [(want, Severity::Error)], "{name}={value}");
        }
        // The org claim the service uses.
        let mut other = ctx();
        other.org_claim = "https://keys.acme.test/org".into();
        let r = lint_jwt(&token(header(), claims()), &other);
        assert_eq!(rules(&r), [(rule::BAD_IDENTITY, Severity::Error)]);
        assert!(r.findings[0].message.contains("https://keys.acme.test/org"));
        // Without the catalog an unknown scope cannot be told; its form still can.
        let mut no_catalog = ctx();
        no_catalog.catalog = None;
        let r = lint_jwt(&with(|c| c["scope"] = json!("runs:delete")), &no_catalog);
        assert!(r.findings.is_empty(), "{:?}", r.findings);
        let r = lint_jwt(&with(|c| c["scope"] = json!("openid profile")), &ctx());
        assert_eq!(rules(&r), [(rule::NO_SCOPES, Severity::Warning)]);
    }

    #[test]
    fn what_is_not_a_jwt() {
        for bad in ["", "sk_live_abc", "a.b", "a.b.c.d", "a b.c.d"] {
            let r = lint_jwt(bad, &ctx());
            assert_eq!(rules(&r), [(rule::JWT_MALFORMED, Severity::Error)], "{bad}");
            assert!(r.header.is_empty() && r.claims.is_empty());
        }
        let not_json = format!(
            "{}.{}.c2ln",
            URL_SAFE_NO_PAD.encode("{oops"),
            b64(&claims())
        );
        let r = lint_jwt(&not_json, &ctx());
        assert_eq!(rules(&r), [(rule::JWT_MALFORMED, Severity::Error)]);
        assert!(r.findings[0].message.contains("header"));
        assert!(
            !r.claims.is_empty(),
            "the claims still decode and are shown"
        );
        let huge = with(|c| c["pad"] = json!("x".repeat(MAX_TOKEN_LEN)));
        let r = lint_jwt(&huge, &ctx());
        assert_eq!(rules(&r), [(rule::JWT_TOO_LONG, Severity::Error)]);
        let pad = r.claims.iter().find(|c| c.name == "pad").expect("pad");
        assert!(pad.value.chars().count() <= VALUE_MAX + 3);
    }

    #[test]
    fn the_report_never_holds_the_token() {
        let n = now().timestamp();
        let hostile = json!({
            "iss": "https://evil.test/\u{1b}[2J",
            "sub": "x\u{7}y",
            "exp": n - 3600,
            "\u{1b}]52;c;AAAA\u{7}": "clipboard",
        });
        for t in [
            token(header(), claims()),
            token(json!({"alg": "HS256", "kid": "k"}), hostile.clone()),
            token(json!({"alg": "none"}), hostile),
        ] {
            let r = lint_jwt(&t, &ctx());
            let text = format!("{:?}\n{}", r, r.lines().join("\n"));
            for part in std::iter::once(t.as_str()).chain(t.split('.').filter(|p| p.len() > 3)) {
                assert!(!text.contains(part), "segment leaked: {text}");
            }
            assert!(
                !text.contains('\u{1b}') && !text.contains('\u{7}'),
                "{text}"
            );
        }
    }
}
