//! JSON Web Tokens as data (RFC 7519, RFC 7515): the shape test, decoding the header and
//! claims segments, the signature algorithms and which of them this service accepts, and
//! NumericDate claims. Nothing here verifies anything: `session` does that with the server's
//! signature check, and `jwt_lint` reports on a token for people.
//!
//! Pure: no I/O, no clock.

use std::fmt;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use chrono::{DateTime, Utc};
use serde_json::{Map, Value};

fn is_b64url_segment(s: &str) -> bool {
    s.bytes()
        .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

/// The three segments of a JWT (`header.claims.signature`), when the token has that shape:
/// three base64url segments joined by dots, the header and claims not empty. The signature
/// may be empty: an unsigned token is still a JWT, and is refused at `signature`.
pub fn split_jwt(token: &str) -> Option<[&str; 3]> {
    let mut it = token.split('.');
    let (h, p, s) = (it.next()?, it.next()?, it.next()?);
    if it.next().is_some() || h.is_empty() || p.is_empty() {
        return None;
    }
    [h, p, s]
        .iter()
        .all(|x| is_b64url_segment(x))
        .then_some([h, p, s])
}

/// Whether a credential is a JWT (API.md §8): three base64url segments joined by dots. No
/// key form contains a dot, so this never mistakes a key for a token.
pub fn looks_like_jwt(token: &str) -> bool {
    split_jwt(token).is_some()
}

/// Why a header or claims segment did not decode.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SegmentError {
    /// Not unpadded base64url.
    Base64,
    /// Not JSON.
    Json,
    /// JSON, but not an object.
    NotObject,
}

impl SegmentError {
    /// Plain words, for a segment named `what` (`header`, `claims`).
    pub fn explain(self, what: &str) -> String {
        match self {
            SegmentError::Base64 => format!("the {what} is not base64url (without padding)"),
            SegmentError::Json => format!("the {what} is not JSON"),
            SegmentError::NotObject => format!("the {what} is JSON but not an object"),
        }
    }
}

/// Decode one base64url segment holding a JSON object (the header or the claims).
pub fn decode_segment(segment: &str) -> Result<Map<String, Value>, SegmentError> {
    let bytes = URL_SAFE_NO_PAD
        .decode(segment)
        .map_err(|_| SegmentError::Base64)?;
    match serde_json::from_slice::<Value>(&bytes) {
        Ok(Value::Object(m)) => Ok(m),
        Ok(_) => Err(SegmentError::NotObject),
        Err(_) => Err(SegmentError::Json),
    }
}

/// A claim or header field as found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Field<'a> {
    /// Not there (or `null`).
    Missing,
    /// There, but not a string.
    NotString,
    /// A string.
    Str(&'a str),
}

/// Read a string field of a JSON object.
pub fn str_field<'a>(m: &'a Map<String, Value>, name: &str) -> Field<'a> {
    match m.get(name) {
        None | Some(Value::Null) => Field::Missing,
        Some(Value::String(s)) => Field::Str(s),
        Some(_) => Field::NotString,
    }
}

/// A value from a token, safe to put in a trace or a lint line: printable ASCII only (other
/// characters become `?`), at most `max` characters, in backticks.
pub fn quoted(s: &str, max: usize) -> String {
    let mut out = String::with_capacity(s.len().min(max) + 3);
    out.push('`');
    for (i, c) in s.chars().enumerate() {
        if i == max {
            out.push('…');
            break;
        }
        out.push(if c.is_ascii_graphic() || c == ' ' {
            c
        } else {
            '?'
        });
    }
    out.push('`');
    out
}

// ---------------------------------------------------------------------------------------
// Algorithms

/// A signature algorithm this service verifies. HMAC and `none` are not among them.
#[allow(clippy::upper_case_acronyms)]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum SigningAlg {
    /// RSASSA-PKCS1-v1_5 with SHA-256.
    RS256,
    /// RSASSA-PKCS1-v1_5 with SHA-384.
    RS384,
    /// RSASSA-PKCS1-v1_5 with SHA-512.
    RS512,
    /// RSASSA-PSS with SHA-256.
    PS256,
    /// RSASSA-PSS with SHA-384.
    PS384,
    /// RSASSA-PSS with SHA-512.
    PS512,
    /// ECDSA on P-256 with SHA-256.
    ES256,
    /// ECDSA on P-384 with SHA-384.
    ES384,
    /// Ed25519.
    EdDSA,
}

/// The kind of public key an algorithm needs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeyFamily {
    /// `kty: RSA`.
    Rsa,
    /// `kty: EC`.
    Ec,
    /// `kty: OKP`.
    Okp,
}

impl SigningAlg {
    /// Every accepted algorithm.
    pub const ALL: [SigningAlg; 9] = [
        SigningAlg::RS256,
        SigningAlg::RS384,
        SigningAlg::RS512,
        SigningAlg::PS256,
        SigningAlg::PS384,
        SigningAlg::PS512,
        SigningAlg::ES256,
        SigningAlg::ES384,
        SigningAlg::EdDSA,
    ];

    /// The JOSE name.
    pub fn as_str(self) -> &'static str {
        match self {
            SigningAlg::RS256 => "RS256",
            SigningAlg::RS384 => "RS384",
            SigningAlg::RS512 => "RS512",
            SigningAlg::PS256 => "PS256",
            SigningAlg::PS384 => "PS384",
            SigningAlg::PS512 => "PS512",
            SigningAlg::ES256 => "ES256",
            SigningAlg::ES384 => "ES384",
            SigningAlg::EdDSA => "EdDSA",
        }
    }

    /// Parse a JOSE name (exact case, as RFC 7518 spells them).
    pub fn parse(s: &str) -> Option<SigningAlg> {
        SigningAlg::ALL.into_iter().find(|a| a.as_str() == s)
    }

    /// The key type it needs.
    pub fn family(self) -> KeyFamily {
        match self {
            SigningAlg::RS256
            | SigningAlg::RS384
            | SigningAlg::RS512
            | SigningAlg::PS256
            | SigningAlg::PS384
            | SigningAlg::PS512 => KeyFamily::Rsa,
            SigningAlg::ES256 | SigningAlg::ES384 => KeyFamily::Ec,
            SigningAlg::EdDSA => KeyFamily::Okp,
        }
    }
}

impl fmt::Display for SigningAlg {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// What a token header's `alg` says, before any key is looked at.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum HeaderAlg {
    /// An algorithm this service verifies (it must still be the key's).
    Supported(SigningAlg),
    /// `none`: an unsigned token.
    None,
    /// `HS256`, `HS384`, `HS512`: a shared secret, never accepted.
    Hmac(&'static str),
    /// Anything else.
    Unsupported,
}

/// Classify a header's `alg`.
pub fn classify_alg(alg: &str) -> HeaderAlg {
    if alg.eq_ignore_ascii_case("none") {
        return HeaderAlg::None;
    }
    for h in ["HS256", "HS384", "HS512"] {
        if alg.eq_ignore_ascii_case(h) {
            return HeaderAlg::Hmac(h);
        }
    }
    SigningAlg::parse(alg).map_or(HeaderAlg::Unsupported, HeaderAlg::Supported)
}

/// Why a header `alg` is refused, or `None` when it is one this service verifies.
pub fn refused_alg(alg: &str) -> Option<String> {
    match classify_alg(alg) {
        HeaderAlg::Supported(_) => None,
        HeaderAlg::None => Some(
            "the token is unsigned (`alg: none`); unsigned tokens are never accepted".to_owned(),
        ),
        HeaderAlg::Hmac(h) => Some(format!(
            "the token is signed with {h}, a shared-secret (HMAC) algorithm; only the identity provider's public-key signatures (RS*, PS*, ES256, ES384, EdDSA) are accepted"
        )),
        HeaderAlg::Unsupported => Some(format!(
            "the token's algorithm {} is not supported; use RS256, ES256 or EdDSA",
            quoted(alg, 20)
        )),
    }
}

// ---------------------------------------------------------------------------------------
// Times

/// A NumericDate claim (`exp`, `nbf`, `iat`): seconds since the epoch, possibly fractional.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TimeClaim {
    /// Absent.
    Missing,
    /// Present but not a number of seconds in range.
    Invalid,
    /// A time.
    At(DateTime<Utc>),
}

/// Read a NumericDate claim.
pub fn time_claim(claims: &Map<String, Value>, name: &str) -> TimeClaim {
    match claims.get(name) {
        None | Some(Value::Null) => TimeClaim::Missing,
        Some(Value::Number(n)) => {
            let t = if let Some(i) = n.as_i64() {
                DateTime::from_timestamp(i, 0)
            } else {
                n.as_f64()
                    .filter(|f| f.is_finite() && f.abs() < 1e15)
                    .and_then(|f| DateTime::from_timestamp_millis((f * 1000.0).floor() as i64))
            };
            t.map_or(TimeClaim::Invalid, TimeClaim::At)
        }
        Some(_) => TimeClaim::Invalid,
    }
}

/// A time as shown in traces and lint reports: `2026-11-23 12:15:00 UTC`.
pub fn utc_time(t: DateTime<Utc>) -> String {
    t.format("%Y-%m-%d %H:%M:%S UTC").to_string()
}

/// "in 12 min", "3 h ago": `at` relative to `now`, rounded down to the largest unit.
pub fn relative(at: DateTime<Utc>, now: DateTime<Utc>) -> String {
    let secs = (at - now).num_seconds();
    let n = secs.unsigned_abs();
    let amount = if n < 60 {
        format!("{n} s")
    } else if n < 3600 {
        format!("{} min", n / 60)
    } else if n < 86_400 {
        format!("{} h", n / 3600)
    } else {
        format!("{} d", n / 86_400)
    };
    if secs >= 0 {
        format!("in {amount}")
    } else {
        format!("{amount} ago")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    fn now() -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 11, 23, 12, 0, 0)
            .single()
            .expect("valid time")
    }

    #[test]
    fn the_jwt_shape() {
        assert!(looks_like_jwt("eyJh.eyJz.c2ln"));
        assert!(looks_like_jwt("a-_b.c.")); // unsigned: still a JWT, refused later
        for not in [
            "",
            "sk_live_0123456789ABCDEFGHIJabcdefghijKL000000",
            "pk_live_000000000000000000000001",
            "pk_live_000000000000000000000001:sk_live_x",
            "a.b",
            "a.b.c.d",
            ".b.c",
            "a..c",
            "a.b.c=",
            "a.b+.c",
            "a.b/.c",
            "a .b.c",
        ] {
            assert!(!looks_like_jwt(not), "{not}");
        }
    }

    #[test]
    fn relative_times() {
        let n = now();
        let s = chrono::Duration::seconds;
        assert_eq!(relative(n - s(3 * 3600 + 5), n), "3 h ago");
        assert_eq!(relative(n + s(12 * 60), n), "in 12 min");
        assert_eq!(relative(n - s(45), n), "45 s ago");
        assert_eq!(relative(n + s(2 * 86_400), n), "in 2 d");
    }

    #[test]
    fn algorithms_and_families() {
        for a in SigningAlg::ALL {
            assert_eq!(SigningAlg::parse(a.as_str()), Some(a));
        }
        assert_eq!(SigningAlg::RS256.family(), KeyFamily::Rsa);
        assert_eq!(SigningAlg::PS512.family(), KeyFamily::Rsa);
        assert_eq!(SigningAlg::ES384.family(), KeyFamily::Ec);
        assert_eq!(SigningAlg::EdDSA.family(), KeyFamily::Okp);
        assert_eq!(classify_alg("HS256"), HeaderAlg::Hmac("HS256"));
        assert_eq!(classify_alg("nOnE"), HeaderAlg::None);
        assert_eq!(classify_alg("ES512"), HeaderAlg::Unsupported);
    }
}
