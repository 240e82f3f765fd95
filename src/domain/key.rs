//! Key and secret formats (API.md §1): base62, the CRC32 checksum, environments, the
//! configurable secret prefix, parsing, hashing, and the [`Secret`] type whose `Debug`
//! never shows the secret.
//!
//! Pure: randomness comes in as bytes from the caller, so this module never touches the OS.

use std::fmt;

use sha2::{Digest, Sha256};
use zeroize::Zeroizing;

/// The base62 alphabet, in value order: `0`=0, `A`=10, `a`=36.
pub const BASE62: &[u8; 62] = b"0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";

/// Random characters in a secret.
pub const SECRET_RANDOM_LEN: usize = 32;
/// Checksum characters at the end of a secret.
pub const CHECKSUM_LEN: usize = 6;
/// Random characters in a public key id.
pub const PUBLIC_KEY_RANDOM_LEN: usize = 24;
/// Random characters in org and app ids.
pub const ID_RANDOM_LEN: usize = 16;
/// Random characters in a request id.
pub const REQUEST_ID_RANDOM_LEN: usize = 20;
/// Characters of a secret kept in clear as `secret_hint`.
pub const HINT_LEN: usize = 4;

/// Value of one base62 character, or `None` if it is not in the alphabet.
pub fn base62_value(c: u8) -> Option<u32> {
    match c {
        b'0'..=b'9' => Some(u32::from(c - b'0')),
        b'A'..=b'Z' => Some(u32::from(c - b'A') + 10),
        b'a'..=b'z' => Some(u32::from(c - b'a') + 36),
        _ => None,
    }
}

/// Whether every character of `s` is base62.
pub fn is_base62(s: &str) -> bool {
    s.bytes().all(|c| base62_value(c).is_some())
}

/// Encode `n` in base62, most significant digit first, left-padded with `0` to `width`.
pub fn encode_base62(mut n: u64, width: usize) -> String {
    let mut digits = Vec::with_capacity(width.max(11));
    while n > 0 {
        digits.push(BASE62[(n % 62) as usize]);
        n /= 62;
    }
    while digits.len() < width {
        digits.push(b'0');
    }
    digits.reverse();
    digits.into_iter().map(char::from).collect()
}

/// Decode a base62 number; `None` on a bad character or overflow.
pub fn decode_base62(s: &str) -> Option<u64> {
    if s.is_empty() {
        return None;
    }
    s.bytes().try_fold(0u64, |acc, c| {
        acc.checked_mul(62)?
            .checked_add(u64::from(base62_value(c)?))
    })
}

const fn crc32_table() -> [u32; 256] {
    let mut table = [0u32; 256];
    let mut i = 0;
    while i < 256 {
        let mut c = i as u32;
        let mut k = 0;
        while k < 8 {
            c = if c & 1 != 0 {
                0xEDB8_8320 ^ (c >> 1)
            } else {
                c >> 1
            };
            k += 1;
        }
        table[i] = c;
        i += 1;
    }
    table
}

static CRC32_TABLE: [u32; 256] = crc32_table();

/// CRC32 (IEEE 802.3, reflected, as zlib computes it).
pub fn crc32(bytes: &[u8]) -> u32 {
    let mut crc = 0xFFFF_FFFFu32;
    for &b in bytes {
        crc = CRC32_TABLE[((crc ^ u32::from(b)) & 0xFF) as usize] ^ (crc >> 8);
    }
    crc ^ 0xFFFF_FFFF
}

/// The 6-character checksum of a secret's random part.
pub fn checksum(random: &str) -> String {
    encode_base62(u64::from(crc32(random.as_bytes())), CHECKSUM_LEN)
}

/// Whether `sum` is the checksum of `random`, without allocating.
pub fn checksum_matches(random: &str, sum: &str) -> bool {
    let mut n = u64::from(crc32(random.as_bytes()));
    let sum = sum.as_bytes();
    if sum.len() != CHECKSUM_LEN {
        return false;
    }
    for &c in sum.iter().rev() {
        if c != BASE62[(n % 62) as usize] {
            return false;
        }
        n /= 62;
    }
    n == 0
}

/// Map random bytes onto base62 characters without bias (rejection sampling).
/// `fill` is called as often as needed to supply fresh random bytes.
pub fn random_base62(len: usize, fill: &mut dyn FnMut(&mut [u8])) -> String {
    let mut out = String::with_capacity(len);
    let mut buf = [0u8; 64];
    while out.len() < len {
        fill(&mut buf);
        for &b in &buf {
            // 248 = 62 * 4: values at or above it would bias the low digits.
            if b < 248 && out.len() < len {
                out.push(char::from(BASE62[usize::from(b % 62)]));
            }
        }
    }
    out
}

/// A key's environment. Part of both prefixes so live and test keys are told apart at a glance.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Env {
    /// Production traffic.
    Live,
    /// Test traffic.
    Test,
}

impl Env {
    /// The wire and prefix form.
    pub fn as_str(self) -> &'static str {
        match self {
            Env::Live => "live",
            Env::Test => "test",
        }
    }

    /// Parse `live` or `test`.
    pub fn parse(s: &str) -> Option<Env> {
        match s {
            "live" => Some(Env::Live),
            "test" => Some(Env::Test),
            _ => None,
        }
    }
}

impl fmt::Display for Env {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Why a key id or secret did not parse. Messages never repeat the input.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FormatError {
    /// The prefix is not the one this deployment uses.
    #[error("unknown prefix: expected `{expected}_live_…` or `{expected}_test_…`")]
    WrongPrefix {
        /// The expected prefix.
        expected: String,
    },
    /// The environment part is neither `live` nor `test`.
    #[error("unknown environment: expected `live` or `test`")]
    BadEnv,
    /// Wrong number of characters after the prefix.
    #[error("wrong length: expected {expected} characters after the prefix, got {got}")]
    BadLength {
        /// Expected length.
        expected: usize,
        /// Actual length.
        got: usize,
    },
    /// A character outside base62.
    #[error("invalid character at position {position}: only 0-9, A-Z and a-z are allowed")]
    BadChar {
        /// Zero-based position in the whole token.
        position: usize,
    },
    /// The checksum does not match: the secret is truncated or mistyped.
    #[error("checksum mismatch: the secret is truncated or mistyped")]
    BadChecksum,
    /// A prefix that cannot be used.
    #[error(
        "invalid secret prefix: use 1-16 lowercase letters or digits, starting with a letter, other than `pk`"
    )]
    BadPrefix,
}

/// The longest secret prefix [`SecretPrefix::new`] accepts.
pub const MAX_SECRET_PREFIX_LEN: usize = 16;

/// A deployment's secret prefix (`sk` by default; `org` gives `org_live_…`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SecretPrefix(String);

impl SecretPrefix {
    /// Validate a prefix: 1-16 of `a-z0-9`, starting with a letter, not `pk`.
    pub fn new(s: &str) -> Result<SecretPrefix, FormatError> {
        let ok = !s.is_empty()
            && s.len() <= MAX_SECRET_PREFIX_LEN
            && s.as_bytes()[0].is_ascii_lowercase()
            && s.bytes()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit())
            && s != "pk";
        if ok {
            Ok(SecretPrefix(s.to_owned()))
        } else {
            Err(FormatError::BadPrefix)
        }
    }

    /// The prefix text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl Default for SecretPrefix {
    fn default() -> Self {
        SecretPrefix("sk".to_owned())
    }
}

/// Split `prefix_env_rest`, checking the prefix and environment.
fn split_prefixed<'a>(s: &'a str, prefix: &str) -> Result<(Env, &'a str), FormatError> {
    let wrong = || FormatError::WrongPrefix {
        expected: prefix.to_owned(),
    };
    let rest = s
        .strip_prefix(prefix)
        .and_then(|r| r.strip_prefix('_'))
        .ok_or_else(wrong)?;
    let (env, body) = rest.split_once('_').ok_or(FormatError::BadEnv)?;
    let env = Env::parse(env).ok_or(FormatError::BadEnv)?;
    Ok((env, body))
}

fn check_body(body: &str, offset: usize, expected: usize) -> Result<(), FormatError> {
    if let Some(position) = body.bytes().position(|c| base62_value(c).is_none()) {
        return Err(FormatError::BadChar {
            position: offset + position,
        });
    }
    if body.len() != expected {
        return Err(FormatError::BadLength {
            expected,
            got: body.chars().count(),
        });
    }
    Ok(())
}

/// A public key id: `pk_{env}_` + 24 base62. Safe to display, log and search.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct PublicKeyId(String);

impl PublicKeyId {
    /// Parse and validate a public key id.
    pub fn parse(s: &str) -> Result<PublicKeyId, FormatError> {
        let (_, body) = split_prefixed(s, "pk")?;
        check_body(body, s.len() - body.len(), PUBLIC_KEY_RANDOM_LEN)?;
        Ok(PublicKeyId(s.to_owned()))
    }

    /// Build from an environment and 24 random base62 characters.
    pub fn format(env: Env, random: &str) -> String {
        format!("pk_{}_{}", env.as_str(), random)
    }

    /// A fresh id from random bytes.
    pub fn generate(env: Env, fill: &mut dyn FnMut(&mut [u8])) -> PublicKeyId {
        PublicKeyId(Self::format(
            env,
            &random_base62(PUBLIC_KEY_RANDOM_LEN, fill),
        ))
    }

    /// The environment in the id.
    pub fn env(&self) -> Env {
        if self.0.starts_with("pk_test_") {
            Env::Test
        } else {
            Env::Live
        }
    }

    /// The id text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for PublicKeyId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// The SHA-256 of a secret: the only form in which a secret is stored.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct SecretHash(pub [u8; 32]);

impl SecretHash {
    /// Hash a secret's full text.
    pub fn of(secret: &str) -> SecretHash {
        SecretHash(Sha256::digest(secret.as_bytes()).into())
    }
}

impl fmt::Debug for SecretHash {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "SecretHash(")?;
        for b in &self.0[..4] {
            write!(f, "{b:02x}")?;
        }
        write!(f, "…)")
    }
}

/// A secret in clear. Held in zeroizing memory; `Debug` shows only the prefix and hint.
/// There is deliberately no `Display`: use [`Secret::expose`] where the clear text is needed.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(Zeroizing<String>);

impl Secret {
    /// Wrap a secret's text (not validated; see [`ParsedSecret::parse`]).
    pub fn new(s: String) -> Secret {
        Secret(Zeroizing::new(s))
    }

    /// A fresh secret: 32 random base62 characters and their checksum.
    pub fn generate(prefix: &SecretPrefix, env: Env, fill: &mut dyn FnMut(&mut [u8])) -> Secret {
        let random = Zeroizing::new(random_base62(SECRET_RANDOM_LEN, fill));
        Secret(Zeroizing::new(format_secret(prefix.as_str(), env, &random)))
    }

    /// The clear text. Call only where the secret must leave: a create response, a clipboard.
    pub fn expose(&self) -> &str {
        &self.0
    }

    /// The last four characters, kept in clear as `secret_hint`.
    pub fn hint(&self) -> String {
        secret_hint(&self.0)
    }

    /// The stored hash.
    pub fn hash(&self) -> SecretHash {
        SecretHash::of(&self.0)
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Only a recognisable `<prefix>_<env>_` and the 4-character hint of a full-length
        // secret are shown; anything else (a foreign token, a fragment) is fully redacted.
        let mut parts = self.0.splitn(3, '_');
        let (p, e, rest) = (parts.next(), parts.next(), parts.next());
        match (p, e.and_then(Env::parse), rest) {
            (Some(p), Some(env), Some(rest))
                if SecretPrefix::new(p).is_ok() && rest.len() >= SECRET_RANDOM_LEN =>
            {
                write!(f, "Secret({p}_{env}_[redacted]…{})", self.hint())
            }
            _ => f.write_str("Secret([redacted])"),
        }
    }
}

impl serde::Serialize for Secret {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.0)
    }
}

impl<'de> serde::Deserialize<'de> for Secret {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Secret, D::Error> {
        String::deserialize(d).map(Secret::new)
    }
}

/// The last four characters of a secret (or fewer for a shorter string).
pub fn secret_hint(secret: &str) -> String {
    let chars: Vec<char> = secret.chars().collect();
    chars[chars.len().saturating_sub(HINT_LEN)..]
        .iter()
        .collect()
}

/// Build a secret's text from its parts (the checksum is computed).
pub fn format_secret(prefix: &str, env: Env, random: &str) -> String {
    format!("{prefix}_{}_{random}{}", env.as_str(), checksum(random))
}

/// A secret whose structure and checksum are valid.
#[derive(Clone, PartialEq, Eq)]
pub struct ParsedSecret {
    /// The environment in the secret's prefix.
    pub env: Env,
    /// The 32 random characters.
    pub random: Zeroizing<String>,
}

impl fmt::Debug for ParsedSecret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "ParsedSecret({}, [redacted])", self.env)
    }
}

impl ParsedSecret {
    /// Check structure (prefix, environment, length, alphabet) but not the checksum.
    pub fn parse_structure(s: &str, prefix: &SecretPrefix) -> Result<(Env, usize), FormatError> {
        let (env, body) = split_prefixed(s, prefix.as_str())?;
        check_body(body, s.len() - body.len(), SECRET_RANDOM_LEN + CHECKSUM_LEN)?;
        Ok((env, s.len() - body.len()))
    }

    /// Full parse: structure, then checksum.
    pub fn parse(s: &str, prefix: &SecretPrefix) -> Result<ParsedSecret, FormatError> {
        let (env, offset) = Self::parse_structure(s, prefix)?;
        let body = &s[offset..];
        let (random, sum) = body.split_at(SECRET_RANDOM_LEN);
        if !checksum_matches(random, sum) {
            return Err(FormatError::BadChecksum);
        }
        Ok(ParsedSecret {
            env,
            random: Zeroizing::new(random.to_owned()),
        })
    }
}

/// A fresh org id: `org_` + 16 base62.
pub fn new_org_id(fill: &mut dyn FnMut(&mut [u8])) -> String {
    format!("org_{}", random_base62(ID_RANDOM_LEN, fill))
}

/// A fresh app id: `app_` + 16 base62.
pub fn new_app_id(fill: &mut dyn FnMut(&mut [u8])) -> String {
    format!("app_{}", random_base62(ID_RANDOM_LEN, fill))
}

/// A fresh request id: `req_` + 20 base62.
pub fn new_request_id(fill: &mut dyn FnMut(&mut [u8])) -> String {
    format!("req_{}", random_base62(REQUEST_ID_RANDOM_LEN, fill))
}

/// Whether `s` is `{prefix}_` + `len` base62 characters.
pub fn is_prefixed_id(s: &str, prefix: &str, len: usize) -> bool {
    s.strip_prefix(prefix)
        .and_then(|r| r.strip_prefix('_'))
        .is_some_and(|r| r.len() == len && is_base62(r))
}

/// Whether `s` is a well-formed org id.
pub fn is_org_id(s: &str) -> bool {
    is_prefixed_id(s, "org", ID_RANDOM_LEN)
}

/// Whether `s` is a well-formed app id.
pub fn is_app_id(s: &str) -> bool {
    is_prefixed_id(s, "app", ID_RANDOM_LEN)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn counter_rng() -> impl FnMut(&mut [u8]) {
        let mut n: u8 = 0;
        move |buf: &mut [u8]| {
            for b in buf {
                n = n.wrapping_add(37);
                *b = n;
            }
        }
    }

    #[test]
    fn base62_digit_values_follow_the_contract() {
        assert_eq!(base62_value(b'0'), Some(0));
        assert_eq!(base62_value(b'A'), Some(10));
        assert_eq!(base62_value(b'a'), Some(36));
        assert_eq!(base62_value(b'z'), Some(61));
        assert_eq!(base62_value(b'_'), None);
        assert_eq!(encode_base62(61, 1), "z");
        assert_eq!(encode_base62(62, 1), "10");
        assert_eq!(encode_base62(0, 6), "000000");
    }

    #[test]
    fn crc32_matches_zlib() {
        // zlib.crc32(b"123456789") == 0xCBF43926
        assert_eq!(crc32(b"123456789"), 0xCBF4_3926);
        assert_eq!(crc32(b""), 0);
        // base62 of 0xCBF43926 = 3421780262
        assert_eq!(checksum("123456789"), encode_base62(3_421_780_262, 6));
    }

    #[test]
    fn generated_secret_parses_and_has_the_documented_shape() {
        let mut rng = counter_rng();
        let s = Secret::generate(&SecretPrefix::default(), Env::Live, &mut rng);
        assert!(s.expose().starts_with("sk_live_"));
        assert_eq!(s.expose().len(), "sk_live_".len() + 38);
        let parsed = ParsedSecret::parse(s.expose(), &SecretPrefix::default()).expect("parses");
        assert_eq!(parsed.env, Env::Live);
        let org = SecretPrefix::new("org").expect("valid");
        let t = Secret::generate(&org, Env::Test, &mut rng);
        assert!(t.expose().starts_with("org_test_"));
        assert!(ParsedSecret::parse(t.expose(), &SecretPrefix::default()).is_err());
    }

    #[test]
    fn debug_of_a_secret_never_shows_it() {
        let mut rng = counter_rng();
        let s = Secret::generate(&SecretPrefix::default(), Env::Live, &mut rng);
        let dbg = format!("{s:?}");
        let random = &s.expose()["sk_live_".len().."sk_live_".len() + 32];
        assert!(!dbg.contains(random), "{dbg}");
        assert!(!dbg.contains(s.expose()));
        let p = ParsedSecret::parse(s.expose(), &SecretPrefix::default()).expect("parses");
        assert!(!format!("{p:?}").contains(random));
        for foreign in [
            "ghp_abcdefghijklmnop",
            "plaintoken",
            "a_b_c",
            "sk_live_short",
        ] {
            let d = format!("{:?}", Secret::new(foreign.to_owned()));
            assert_eq!(d, "Secret([redacted])", "{foreign}");
        }
    }

    #[test]
    fn prefix_rules() {
        assert!(SecretPrefix::new("sk").is_ok());
        assert!(SecretPrefix::new("org").is_ok());
        for bad in ["", "pk", "Sk", "1sk", "s-k", "abcdefghijklmnopq"] {
            assert!(SecretPrefix::new(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn public_key_ids() {
        let mut rng = counter_rng();
        let pk = PublicKeyId::generate(Env::Test, &mut rng);
        assert!(pk.as_str().starts_with("pk_test_"));
        assert_eq!(PublicKeyId::parse(pk.as_str()).expect("parses"), pk);
        assert_eq!(pk.env(), Env::Test);
        for bad in [
            "pk_live_",
            "pk_prod_aaaaaaaaaaaaaaaaaaaaaaaa",
            "sk_live_aaaaaaaaaaaaaaaaaaaaaaaa",
            "pk_live_aaaaaaaaaaaaaaaaaaaaaaa!",
            "pk_live_aaaaaaaaaaaaaaaaaaaaaaaaa",
        ] {
            assert!(PublicKeyId::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn random_base62_is_unbiased_by_rejection() {
        // Bytes >= 248 are skipped.
        let mut bytes = vec![255u8, 0, 250, 61];
        let mut fill = |buf: &mut [u8]| {
            for b in buf.iter_mut() {
                *b = if bytes.is_empty() { 1 } else { bytes.remove(0) };
            }
        };
        assert_eq!(random_base62(3, &mut fill), "0z1");
    }

    fn arb_random() -> impl Strategy<Value = String> {
        proptest::collection::vec(0usize..62, SECRET_RANDOM_LEN)
            .prop_map(|v| v.into_iter().map(|i| char::from(BASE62[i])).collect())
    }

    proptest! {
        #[test]
        fn parse_of_format_is_identity(random in arb_random(), live in any::<bool>()) {
            let env = if live { Env::Live } else { Env::Test };
            let text = format_secret("sk", env, &random);
            let parsed = ParsedSecret::parse(&text, &SecretPrefix::default()).expect("parses");
            prop_assert_eq!(parsed.env, env);
            prop_assert_eq!(parsed.random.as_str(), random.as_str());
        }

        #[test]
        fn base62_round_trips(n in any::<u64>()) {
            prop_assert_eq!(decode_base62(&encode_base62(n, 0)), Some(n));
        }

        #[test]
        fn every_single_character_change_is_caught(random in arb_random(), pos in 0usize..38, repl in 0usize..62) {
            let text = format_secret("sk", Env::Live, &random);
            let mut bytes = text.clone().into_bytes();
            let at = "sk_live_".len() + pos;
            prop_assume!(bytes[at] != BASE62[repl]);
            bytes[at] = BASE62[repl];
            let changed = String::from_utf8(bytes).expect("ascii");
            prop_assert!(ParsedSecret::parse(&changed, &SecretPrefix::default()).is_err());
        }

        #[test]
        fn every_truncation_is_caught(random in arb_random(), cut in 0usize..46) {
            let text = format_secret("sk", Env::Live, &random);
            prop_assert!(ParsedSecret::parse(&text[..cut], &SecretPrefix::default()).is_err());
        }

        #[test]
        fn arbitrary_input_never_parses_unless_well_formed(s in "\\PC{0,60}") {
            if let Ok(p) = ParsedSecret::parse(&s, &SecretPrefix::default()) {
                prop_assert_eq!(format_secret("sk", p.env, &p.random), s);
            }
        }
    }
}
