//! The key set that session tokens are checked against (API.md §8): where it comes from
//! (`serve --jwks <path | https URL>`), which of its keys are usable, and the cache that keeps
//! it fresh. The cache ([`KeyCache`]) and the loading are generic over a [`KeyDocument`]:
//! GitHub's secret scanning keys (`serve --github-scanning-keys`, `server::github`) are kept
//! fresh by the same rules.
//!
//! - **Loaded at start**: a source that cannot be read, or holds no usable signing key, stops
//!   `serve` (see `server::session::SessionSettings::load`).
//! - **Refreshed** every [`REFRESH_SECONDS`] (10 minutes), and when a token names an unknown
//!   `kid`, at most once per [`COOLDOWN_SECONDS`] (30 s) counted from the last fetch of any
//!   kind. A file is re-read on the same schedule, so replacing it takes effect within
//!   10 minutes (or at once for a token signed by a new key).
//! - **A failed refresh** (unreachable, not 200, over 1 MiB, not a JWKS, no usable key) keeps
//!   the last good set and is logged once per attempt. Nothing from a token is ever logged.
//! - **Hot path**: [`Jwks::key`] takes a read lock only to clone an `Arc`. No lock is held
//!   across I/O; one refresh runs at a time, and a request for an unknown `kid` that arrives
//!   during a refresh waits for it instead of starting another, so a flood of random `kid`s
//!   causes at most one fetch per 30 s.
//!
//! Keys are taken only for signing (`use` absent or `sig`), never symmetric (`kty: oct`),
//! with the algorithm fixed by the key: its `alg`, else RS256 for RSA, ES256 for P-256,
//! ES384 for P-384, EdDSA for Ed25519. RSA keys must be 2048–4096 bits.

use std::collections::{HashMap, HashSet};
use std::fmt;
use std::net::IpAddr;
use std::path::PathBuf;
use std::sync::{Arc, Mutex, RwLock};
use std::time::Duration;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use chrono::{DateTime, Utc};
use jsonwebtoken::crypto::CryptoProvider;
use jsonwebtoken::{Algorithm, DecodingKey};
use serde_json::{Map, Value};
use tokio::io::AsyncReadExt;

use super::clock::Clock;
use crate::domain::jwt::{KeyFamily, SigningAlg, quoted};

/// Seconds between scheduled refreshes.
pub const REFRESH_SECONDS: i64 = 600;
/// Seconds after any fetch before an unknown `kid` may cause another.
pub const COOLDOWN_SECONDS: i64 = 30;
/// The largest JWKS document read.
pub const MAX_JWKS_BYTES: usize = 1024 * 1024;
/// The most entries a JWKS may have.
pub const MAX_JWKS_KEYS: usize = 100;
/// How long one fetch may take (connect and body), unless configured otherwise.
pub const FETCH_TIMEOUT: Duration = Duration::from_secs(5);
/// The longest `kid` kept.
const MAX_KID_LEN: usize = crate::domain::session::MAX_KID_LEN;

/// Why a key set could not be had.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum JwksError {
    /// `--jwks` is neither a path nor an acceptable URL.
    #[error("{0}")]
    Source(String),
    /// The file could not be read.
    #[error("cannot read the {what} file {path}: {reason}")]
    Read {
        /// What the document is (`JWKS`).
        what: &'static str,
        /// The file.
        path: String,
        /// Why.
        reason: String,
    },
    /// The URL could not be fetched (network, TLS, timeout).
    #[error("cannot fetch the {what} from {url}: {reason}")]
    Fetch {
        /// What the document is (`JWKS`).
        what: &'static str,
        /// The URL.
        url: String,
        /// Why.
        reason: String,
    },
    /// The URL answered something other than 200.
    #[error("the {what} URL {url} answered HTTP {status}")]
    Status {
        /// What the document is (`JWKS`).
        what: &'static str,
        /// The URL.
        url: String,
        /// The status code.
        status: u16,
    },
    /// Over [`MAX_JWKS_BYTES`].
    #[error("the {what} at {origin} is larger than 1 MiB")]
    TooLarge {
        /// What the document is (`JWKS`).
        what: &'static str,
        /// The file or URL.
        origin: String,
    },
    /// Not a JWKS, or no usable signing key in it.
    #[error("{origin} {reason}")]
    Invalid {
        /// The file or URL.
        origin: String,
        /// What is wrong.
        reason: String,
    },
    /// The HTTP client could not be built.
    #[error("cannot set up HTTPS for fetching keys: {0}")]
    Client(String),
}

impl JwksError {
    /// Whether the error is about the configuration (a wrong path, URL or document) rather
    /// than a passing failure (network, a server error).
    pub fn is_configuration(&self) -> bool {
        match self {
            JwksError::Fetch { .. } | JwksError::Client(_) => false,
            JwksError::Status { status, .. } => *status < 500 && *status != 429,
            _ => true,
        }
    }
}

/// Where the JWKS comes from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum JwksSource {
    /// A file, re-read on the refresh schedule.
    File(PathBuf),
    /// An `https` URL (`http` only to this machine).
    Url(reqwest::Url),
}

fn is_loopback(url: &reqwest::Url) -> bool {
    let Some(host) = url.host_str() else {
        return false;
    };
    let host = host.trim_start_matches('[').trim_end_matches(']');
    host.eq_ignore_ascii_case("localhost")
        || host.parse::<IpAddr>().is_ok_and(|ip| ip.is_loopback())
}

fn acceptable_url(url: &reqwest::Url) -> bool {
    url.scheme() == "https" || (url.scheme() == "http" && is_loopback(url))
}

impl JwksSource {
    /// Parse `--jwks`: a URL when it starts with `https://` (or `http://` to 127.0.0.1,
    /// `[::1]` or `localhost`), otherwise a file path.
    pub fn parse(arg: &str) -> Result<JwksSource, JwksError> {
        JwksSource::parse_flag("--jwks", "a JWKS file", arg)
    }

    /// Parse the value of `flag` (`--jwks`, `--github-scanning-keys`), naming `what` a file
    /// would be in its messages.
    pub fn parse_flag(flag: &str, what: &str, arg: &str) -> Result<JwksSource, JwksError> {
        let arg = arg.trim();
        if arg.is_empty() {
            return Err(JwksError::Source(format!(
                "{flag} is empty: pass the path of {what} or its https URL"
            )));
        }
        let lower = arg.to_ascii_lowercase();
        if !lower.starts_with("https://") && !lower.starts_with("http://") {
            if arg.contains("://") {
                return Err(JwksError::Source(format!(
                    "{flag} {arg}: only https URLs and file paths are accepted"
                )));
            }
            return Ok(JwksSource::File(PathBuf::from(arg)));
        }
        let url = reqwest::Url::parse(arg)
            .map_err(|e| JwksError::Source(format!("{flag} {arg} is not a valid URL: {e}")))?;
        if !url.username().is_empty() || url.password().is_some() {
            return Err(JwksError::Source(format!(
                "{flag}: the URL must not carry a user name or password"
            )));
        }
        if !acceptable_url(&url) {
            return Err(JwksError::Source(format!(
                "{flag} {url}: use https (plain http is accepted only to this machine)"
            )));
        }
        Ok(JwksSource::Url(url))
    }
}

impl fmt::Display for JwksSource {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            JwksSource::File(p) => write!(f, "{}", p.display()),
            JwksSource::Url(u) => write!(f, "{u}"),
        }
    }
}

fn jwt_algorithm(alg: SigningAlg) -> Algorithm {
    match alg {
        SigningAlg::RS256 => Algorithm::RS256,
        SigningAlg::RS384 => Algorithm::RS384,
        SigningAlg::RS512 => Algorithm::RS512,
        SigningAlg::PS256 => Algorithm::PS256,
        SigningAlg::PS384 => Algorithm::PS384,
        SigningAlg::PS512 => Algorithm::PS512,
        SigningAlg::ES256 => Algorithm::ES256,
        SigningAlg::ES384 => Algorithm::ES384,
        SigningAlg::EdDSA => Algorithm::EdDSA,
    }
}

/// One usable public key of the set.
#[derive(Debug)]
pub struct JwkKey {
    kid: String,
    alg: SigningAlg,
    key: DecodingKey,
}

impl JwkKey {
    /// The key id.
    pub fn kid(&self) -> &str {
        &self.kid
    }

    /// The one algorithm this key verifies.
    pub fn alg(&self) -> SigningAlg {
        self.alg
    }

    /// Whether `signature` (base64url) is this key's signature of `signing_input` with the
    /// key's algorithm.
    pub fn verify(&self, signing_input: &str, signature: &str) -> bool {
        jsonwebtoken::crypto::verify(
            signature,
            signing_input.as_bytes(),
            &self.key,
            jwt_algorithm(self.alg),
        )
        .unwrap_or(false)
    }
}

fn b64(obj: &Map<String, Value>, name: &str) -> Result<Vec<u8>, String> {
    let s = obj
        .get(name)
        .and_then(Value::as_str)
        .ok_or_else(|| format!("no `{name}`"))?;
    URL_SAFE_NO_PAD
        .decode(s)
        .map_err(|_| format!("`{name}` is not base64url"))
}

fn strip_zeros(b: &[u8]) -> &[u8] {
    let start = b.iter().position(|x| *x != 0).unwrap_or(b.len());
    &b[start..]
}

fn parse_jwk(v: &Value) -> Result<JwkKey, String> {
    let obj = v.as_object().ok_or("not a JSON object")?;
    let kid = match obj.get("kid") {
        Some(Value::String(k)) if !k.is_empty() && k.len() <= MAX_KID_LEN => k.clone(),
        Some(Value::String(_)) => return Err(format!("`kid` must be 1-{MAX_KID_LEN} characters")),
        _ => return Err("no `kid`, so no token can name it".to_owned()),
    };
    match obj.get("use") {
        None => {}
        Some(Value::String(u)) if u == "sig" => {}
        Some(_) => return Err("not a signing key (`use` is not `sig`)".to_owned()),
    }
    if let Some(ops) = obj.get("key_ops") {
        let verifies = ops
            .as_array()
            .is_some_and(|a| a.iter().any(|o| o.as_str() == Some("verify")));
        if !verifies {
            return Err("`key_ops` does not allow `verify`".to_owned());
        }
    }
    let alg = match obj.get("alg") {
        None => None,
        Some(Value::String(a)) => Some(a.as_str()),
        Some(_) => return Err("`alg` is not a string".to_owned()),
    };
    let kty = obj.get("kty").and_then(Value::as_str).unwrap_or("");
    let crv = obj.get("crv").and_then(Value::as_str);
    let (alg, key) = match kty {
        "RSA" => {
            let alg = match alg {
                None => SigningAlg::RS256,
                Some(a) => SigningAlg::parse(a)
                    .filter(|a| a.family() == KeyFamily::Rsa)
                    .ok_or_else(|| format!("`alg` {a} is not an RSA signature algorithm"))?,
            };
            let n = b64(obj, "n")?;
            let e = b64(obj, "e")?;
            let bits = strip_zeros(&n).len() * 8;
            if !(2048..=4096).contains(&bits) {
                return Err(format!(
                    "an RSA key of about {bits} bits; 2048 to 4096 are accepted"
                ));
            }
            let e = strip_zeros(&e);
            if e.is_empty() || e.len() > 8 || e[e.len() - 1] & 1 == 0 {
                return Err("the RSA exponent `e` is not valid".to_owned());
            }
            (
                alg,
                DecodingKey::from_rsa_raw_components(strip_zeros(&n), e),
            )
        }
        "EC" => {
            let (implied, len) = match crv {
                Some("P-256") => (SigningAlg::ES256, 32),
                Some("P-384") => (SigningAlg::ES384, 48),
                _ => return Err("an EC key on a curve other than P-256 or P-384".to_owned()),
            };
            if alg.is_some_and(|a| a != implied.as_str()) {
                return Err(format!("`alg` does not fit a key on {}", crv.unwrap_or("")));
            }
            if b64(obj, "x")?.len() != len || b64(obj, "y")?.len() != len {
                return Err("the EC point `x`/`y` has the wrong length".to_owned());
            }
            let x = obj.get("x").and_then(Value::as_str).unwrap_or("");
            let y = obj.get("y").and_then(Value::as_str).unwrap_or("");
            let key = DecodingKey::from_ec_components(x, y)
                .map_err(|_| "the EC point is not valid".to_owned())?;
            (implied, key)
        }
        "OKP" => {
            if crv != Some("Ed25519") {
                return Err("an OKP key other than Ed25519".to_owned());
            }
            if alg.is_some_and(|a| a != "EdDSA" && a != "Ed25519") {
                return Err("`alg` does not fit an Ed25519 key".to_owned());
            }
            if b64(obj, "x")?.len() != 32 {
                return Err("the Ed25519 key `x` is not 32 bytes".to_owned());
            }
            let x = obj.get("x").and_then(Value::as_str).unwrap_or("");
            let key = DecodingKey::from_ed_components(x)
                .map_err(|_| "the Ed25519 key is not valid".to_owned())?;
            (SigningAlg::EdDSA, key)
        }
        "oct" => {
            return Err("a symmetric (`oct`) key; shared secrets are never accepted".to_owned());
        }
        other => {
            return Err(format!("key type {} is not supported", quoted(other, 16)));
        }
    };
    // Build the verifier once now, so a key the crypto backend rejects (a point not on the
    // curve, say) is skipped here rather than failing every token later.
    let provider = CryptoProvider::try_get_default()
        .ok_or("no signature backend is available in this build")?;
    (provider.verifier_factory)(&jwt_algorithm(alg), &key)
        .map_err(|_| "the key material is not valid".to_owned())?;
    Ok(JwkKey { kid, alg, key })
}

/// The usable keys of one JWKS document, by `kid`.
#[derive(Debug, Default)]
pub struct KeySet {
    keys: HashMap<String, Arc<JwkKey>>,
    skipped: Vec<String>,
}

impl KeySet {
    /// Parse a JWKS document (`{"keys": [...]}`). Unusable entries are skipped with a reason
    /// ([`KeySet::skipped`]); a `kid` that appears twice is dropped, since a token naming it
    /// would be ambiguous. `Err` when nothing usable remains: the text says why.
    pub fn parse(bytes: &[u8]) -> Result<KeySet, String> {
        let doc: Value = serde_json::from_slice(bytes).map_err(|e| format!("is not JSON ({e})"))?;
        let Some(obj) = doc.as_object() else {
            return Err("is not a JWKS: expected {\"keys\": [...]}".to_owned());
        };
        let Some(entries) = obj.get("keys").and_then(Value::as_array) else {
            if obj.contains_key("jwks_uri") {
                return Err(
                    "is an OpenID configuration document, not a JWKS: pass its `jwks_uri`"
                        .to_owned(),
                );
            }
            return Err("is not a JWKS: expected {\"keys\": [...]}".to_owned());
        };
        if entries.len() > MAX_JWKS_KEYS {
            return Err(format!(
                "has {} keys; at most {MAX_JWKS_KEYS} are accepted",
                entries.len()
            ));
        }
        let mut keys: HashMap<String, Arc<JwkKey>> = HashMap::new();
        let mut twice: HashSet<String> = HashSet::new();
        let mut skipped = Vec::new();
        for (i, entry) in entries.iter().enumerate() {
            match parse_jwk(entry) {
                Ok(k) => {
                    if keys.contains_key(&k.kid) {
                        twice.insert(k.kid.clone());
                    } else {
                        keys.insert(k.kid.clone(), Arc::new(k));
                    }
                }
                Err(why) => {
                    let kid = entry
                        .get("kid")
                        .and_then(Value::as_str)
                        .map(|k| format!(" ({})", quoted(k, 64)))
                        .unwrap_or_default();
                    skipped.push(format!("key {i}{kid}: {why}"));
                }
            }
        }
        for kid in twice {
            keys.remove(&kid);
            skipped.push(format!("kid {} appears more than once", quoted(&kid, 64)));
        }
        if keys.is_empty() {
            let mut m = "has no usable signing key".to_owned();
            if !skipped.is_empty() {
                m.push_str(": ");
                m.push_str(&skipped.join("; "));
            }
            return Err(m);
        }
        skipped.sort();
        Ok(KeySet { keys, skipped })
    }

    /// The key with this id.
    pub fn get(&self, kid: &str) -> Option<&Arc<JwkKey>> {
        self.keys.get(kid)
    }

    /// The key ids, sorted.
    pub fn kids(&self) -> Vec<&str> {
        let mut k: Vec<&str> = self.keys.keys().map(String::as_str).collect();
        k.sort_unstable();
        k
    }

    /// Number of usable keys.
    pub fn len(&self) -> usize {
        self.keys.len()
    }

    /// Whether there is no usable key (never true for a parsed set).
    pub fn is_empty(&self) -> bool {
        self.keys.is_empty()
    }

    /// The entries that were not taken, with why.
    pub fn skipped(&self) -> &[String] {
        &self.skipped
    }
}

/// The HTTP client for JWKS fetches: `timeout` for connect and for the whole fetch, at most
/// five redirects and never to a plain-http URL (except on this machine).
pub fn http_client(timeout: Duration) -> Result<reqwest::Client, JwksError> {
    reqwest::Client::builder()
        .connect_timeout(timeout)
        .timeout(timeout)
        .redirect(reqwest::redirect::Policy::custom(|attempt| {
            if attempt.previous().len() >= 5 {
                attempt.error("too many redirects")
            } else if acceptable_url(attempt.url()) {
                attempt.follow()
            } else {
                attempt.error("a redirect to a plain-http URL was refused")
            }
        }))
        .user_agent(concat!("keyconsole/", env!("CARGO_PKG_VERSION")))
        .build()
        .map_err(|e| JwksError::Client(e.to_string()))
}

async fn read_file(path: &std::path::Path, what: &'static str) -> Result<Vec<u8>, JwksError> {
    let read_err = |e: std::io::Error| JwksError::Read {
        what,
        path: path.display().to_string(),
        reason: e.to_string(),
    };
    let file = tokio::fs::File::open(path).await.map_err(read_err)?;
    let mut bytes = Vec::new();
    file.take(MAX_JWKS_BYTES as u64 + 1)
        .read_to_end(&mut bytes)
        .await
        .map_err(read_err)?;
    if bytes.len() > MAX_JWKS_BYTES {
        return Err(JwksError::TooLarge {
            what,
            origin: path.display().to_string(),
        });
    }
    Ok(bytes)
}

async fn fetch_url(
    http: &reqwest::Client,
    url: &reqwest::Url,
    what: &'static str,
) -> Result<Vec<u8>, JwksError> {
    let too_large = || JwksError::TooLarge {
        what,
        origin: url.to_string(),
    };
    let fetch_err = |e: reqwest::Error| JwksError::Fetch {
        what,
        url: url.to_string(),
        reason: describe(&e),
    };
    let mut resp = http
        .get(url.clone())
        .header(reqwest::header::ACCEPT, "application/json")
        .send()
        .await
        .map_err(fetch_err)?;
    if resp.status() != reqwest::StatusCode::OK {
        return Err(JwksError::Status {
            what,
            url: url.to_string(),
            status: resp.status().as_u16(),
        });
    }
    if resp
        .content_length()
        .is_some_and(|n| n > MAX_JWKS_BYTES as u64)
    {
        return Err(too_large());
    }
    let mut body = Vec::new();
    while let Some(chunk) = resp.chunk().await.map_err(fetch_err)? {
        if body.len() + chunk.len() > MAX_JWKS_BYTES {
            return Err(too_large());
        }
        body.extend_from_slice(&chunk);
    }
    Ok(body)
}

/// A reqwest error with its causes, on one line.
fn describe(e: &reqwest::Error) -> String {
    let mut out = if e.is_timeout() {
        "timed out".to_owned()
    } else if e.is_connect() {
        "cannot connect".to_owned()
    } else {
        "request failed".to_owned()
    };
    let mut src = std::error::Error::source(e);
    while let Some(s) = src {
        out.push_str(": ");
        out.push_str(&s.to_string());
        src = s.source();
    }
    out
}

/// Read or fetch the set once.
pub async fn load(source: &JwksSource, http: &reqwest::Client) -> Result<KeySet, JwksError> {
    load_document(source, http).await
}

/// Read or fetch a key document once.
pub async fn load_document<D: KeyDocument>(
    source: &JwksSource,
    http: &reqwest::Client,
) -> Result<D, JwksError> {
    let bytes = match source {
        JwksSource::File(p) => read_file(p, D::WHAT).await?,
        JwksSource::Url(u) => fetch_url(http, u, D::WHAT).await?,
    };
    D::parse(&bytes).map_err(|reason| JwksError::Invalid {
        origin: source.to_string(),
        reason,
    })
}

/// A document of public keys by id that a [`KeyCache`] keeps fresh: a JWKS ([`KeySet`]),
/// GitHub's secret scanning keys (`server::github`).
pub trait KeyDocument: Send + Sync + Sized + 'static {
    /// What the document is called in messages and logs.
    const WHAT: &'static str;
    /// One usable key.
    type Key: Clone + Send + Sync;
    /// Parse a document; `Err` says what is wrong (after "<file or URL> ").
    fn parse(bytes: &[u8]) -> Result<Self, String>;
    /// The key with this id.
    fn key(&self, id: &str) -> Option<Self::Key>;
    /// The key ids, sorted.
    fn ids(&self) -> Vec<&str>;
    /// Entries that were not taken, with why.
    fn skipped(&self) -> &[String];
}

impl KeyDocument for KeySet {
    const WHAT: &'static str = "JWKS";
    type Key = Arc<JwkKey>;
    fn parse(bytes: &[u8]) -> Result<Self, String> {
        KeySet::parse(bytes)
    }
    fn key(&self, id: &str) -> Option<Arc<JwkKey>> {
        self.get(id).cloned()
    }
    fn ids(&self) -> Vec<&str> {
        self.kids()
    }
    fn skipped(&self) -> &[String] {
        KeySet::skipped(self)
    }
}

/// What [`KeyCache::resolve`] found.
#[derive(Debug, Clone)]
pub enum Resolved<K = Arc<JwkKey>> {
    /// The key.
    Found(K),
    /// No key has this `kid`.
    Unknown {
        /// Whether the set was fetched again for it (false: within the cooldown).
        refreshed: bool,
    },
}

/// What a refresh did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Refresh {
    /// Not due (or another refresh had just run).
    NotDue,
    /// Fetched; `changed` when the key ids differ from before.
    Done {
        /// Whether the set of key ids changed.
        changed: bool,
    },
    /// The fetch failed; the last good set stays.
    Failed(JwksError),
}

#[derive(Debug, Clone, Copy)]
struct Schedule {
    last_attempt: DateTime<Utc>,
    last_success: DateTime<Utc>,
}

/// The JWKS cache of sessions.
pub type Jwks = KeyCache<KeySet>;

/// A live key document with its refresh schedule (see the module docs: the same schedule,
/// cooldown and failure rules for every [`KeyDocument`]).
pub struct KeyCache<D: KeyDocument> {
    source: JwksSource,
    set: RwLock<Arc<D>>,
    schedule: Mutex<Schedule>,
    refresh: tokio::sync::Mutex<()>,
    attempts: tokio::sync::watch::Sender<u64>,
    clock: Arc<dyn Clock>,
    http: reqwest::Client,
}

impl<D: KeyDocument> fmt::Debug for KeyCache<D> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("KeyCache")
            .field("what", &D::WHAT)
            .field("source", &self.source)
            .field("ids", &self.current().ids())
            .finish_non_exhaustive()
    }
}

/// Why a fetch was started, for the log.
#[derive(Debug, Clone, Copy)]
enum Trigger {
    Scheduled,
    UnknownKid,
}

impl<D: KeyDocument> KeyCache<D> {
    /// A cache starting from `initial`, loaded at `loaded_at`.
    pub fn new(
        source: JwksSource,
        initial: Arc<D>,
        loaded_at: DateTime<Utc>,
        clock: Arc<dyn Clock>,
        http: reqwest::Client,
    ) -> KeyCache<D> {
        KeyCache {
            source,
            set: RwLock::new(initial),
            schedule: Mutex::new(Schedule {
                last_attempt: loaded_at,
                last_success: loaded_at,
            }),
            refresh: tokio::sync::Mutex::new(()),
            attempts: tokio::sync::watch::Sender::new(0),
            clock,
            http,
        }
    }

    /// The number of fetches finished since start (good or failed), changing after each.
    pub fn attempts(&self) -> tokio::sync::watch::Receiver<u64> {
        self.attempts.subscribe()
    }

    /// Where the set comes from.
    pub fn source(&self) -> &JwksSource {
        &self.source
    }

    /// The set in use now.
    pub fn current(&self) -> Arc<D> {
        Arc::clone(
            &self
                .set
                .read()
                .unwrap_or_else(std::sync::PoisonError::into_inner),
        )
    }

    /// The key with this id in the current set (no I/O).
    pub fn key(&self, kid: &str) -> Option<D::Key> {
        self.set
            .read()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .key(kid)
    }

    /// When the last good set was loaded.
    pub fn last_success(&self) -> DateTime<Utc> {
        self.schedule().last_success
    }

    fn schedule(&self) -> Schedule {
        *self
            .schedule
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    fn since_last_attempt(&self, now: DateTime<Utc>) -> i64 {
        (now - self.schedule().last_attempt).num_seconds()
    }

    /// The key for `kid`, fetching the set again when it is unknown and the last fetch is at
    /// least 30 s old. A request that arrives while a refresh runs waits for it.
    pub async fn resolve(&self, kid: &str) -> Resolved<D::Key> {
        if let Some(k) = self.key(kid) {
            return Resolved::Found(k);
        }
        let refreshed = match self.refresh.try_lock() {
            Ok(guard) => {
                if self.since_last_attempt(self.clock.now()) < COOLDOWN_SECONDS {
                    return Resolved::Unknown { refreshed: false };
                }
                let r = self.fetch_locked(Trigger::UnknownKid).await;
                drop(guard);
                !matches!(r, Refresh::NotDue)
            }
            Err(_) => {
                // A refresh is running: its result is what a fetch now would give.
                let _wait = self.refresh.lock().await;
                true
            }
        };
        match self.key(kid) {
            Some(k) => Resolved::Found(k),
            None => Resolved::Unknown { refreshed },
        }
    }

    /// Fetch the set again if the scheduled refresh is due (10 minutes since the last fetch).
    pub async fn refresh_if_due(&self) -> Refresh {
        if self.since_last_attempt(self.clock.now()) < REFRESH_SECONDS {
            return Refresh::NotDue;
        }
        let _guard = self.refresh.lock().await;
        if self.since_last_attempt(self.clock.now()) < REFRESH_SECONDS {
            return Refresh::NotDue;
        }
        self.fetch_locked(Trigger::Scheduled).await
    }

    /// Fetch now; call with the refresh lock held.
    async fn fetch_locked(&self, trigger: Trigger) -> Refresh {
        let started = self.clock.now();
        self.schedule
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .last_attempt = started;
        let result = load_document::<D>(&self.source, &self.http).await;
        let outcome = self.apply(result, trigger, started);
        self.attempts.send_modify(|n| *n += 1);
        outcome
    }

    fn apply(
        &self,
        result: Result<D, JwksError>,
        trigger: Trigger,
        started: DateTime<Utc>,
    ) -> Refresh {
        match result {
            Ok(set) => {
                let old = self.current();
                let changed = old.ids() != set.ids();
                if changed {
                    tracing::info!(
                        what = D::WHAT,
                        source = %self.source,
                        ?trigger,
                        ids = ?set.ids(),
                        skipped = ?set.skipped(),
                        "key document refreshed: the key set changed"
                    );
                } else {
                    tracing::debug!(what = D::WHAT, source = %self.source, ?trigger, "key document refreshed: unchanged");
                }
                *self
                    .set
                    .write()
                    .unwrap_or_else(std::sync::PoisonError::into_inner) = Arc::new(set);
                self.schedule
                    .lock()
                    .unwrap_or_else(std::sync::PoisonError::into_inner)
                    .last_success = started;
                Refresh::Done { changed }
            }
            Err(e) => {
                tracing::warn!(
                    what = D::WHAT,
                    source = %self.source,
                    ?trigger,
                    error = %e,
                    "key document refresh failed; the last good key set stays in use"
                );
                Refresh::Failed(e)
            }
        }
    }

    /// Run [`Jwks::refresh_if_due`] every `tick` until the cache is dropped. Call inside a
    /// tokio runtime.
    pub fn spawn_refresher(self: &Arc<Self>, tick: Duration) -> tokio::task::JoinHandle<()> {
        let weak = Arc::downgrade(self);
        tokio::spawn(async move {
            let mut every = tokio::time::interval(tick);
            every.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            every.tick().await;
            loop {
                every.tick().await;
                let Some(jwks) = weak.upgrade() else { break };
                jwks.refresh_if_due().await;
            }
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sources() {
        assert!(matches!(
            JwksSource::parse("https://id.example.com/.well-known/jwks.json"),
            Ok(JwksSource::Url(_))
        ));
        assert!(matches!(
            JwksSource::parse("HTTPS://ID.example.com/jwks"),
            Ok(JwksSource::Url(_))
        ));
        for local in [
            "http://127.0.0.1:8080/jwks.json",
            "http://localhost/jwks",
            "http://[::1]:9/x",
        ] {
            assert!(
                matches!(JwksSource::parse(local), Ok(JwksSource::Url(_))),
                "{local}"
            );
        }
        assert_eq!(
            JwksSource::parse("/etc/keyconsole/jwks.json"),
            Ok(JwksSource::File(PathBuf::from("/etc/keyconsole/jwks.json")))
        );
        assert_eq!(
            JwksSource::parse("jwks.json"),
            Ok(JwksSource::File(PathBuf::from("jwks.json")))
        );
        for bad in [
            "http://id.example.com/jwks",
            "http://10.0.0.1/jwks",
            "ftp://id.example.com/jwks",
            "https://user:pw@id.example.com/jwks",
            "https://",
            "",
        ] {
            assert!(
                matches!(JwksSource::parse(bad), Err(JwksError::Source(_))),
                "{bad}"
            );
        }
    }

    #[test]
    fn documents_that_are_not_a_usable_set() {
        for (doc, says) in [
            (&b"not json"[..], "not JSON"),
            (br#"[1]"#, "expected"),
            (br#"{"jwks_uri": "https://x/jwks"}"#, "jwks_uri"),
            (br#"{"keys": []}"#, "no usable"),
            (
                br#"{"keys": [{"kty": "oct", "kid": "h", "k": "c2VjcmV0"}]}"#,
                "symmetric",
            ),
            (
                br#"{"keys": [{"kty": "OKP", "crv": "Ed25519", "kid": "e", "x": "AAAA"}]}"#,
                "32 bytes",
            ),
            (
                br#"{"keys": [{"kty": "RSA", "kid": "r", "n": "AQAB", "e": "AQAB"}]}"#,
                "bits",
            ),
            (
                br#"{"keys": [{"kty": "EC", "crv": "P-521", "kid": "p", "x": "AA", "y": "AA"}]}"#,
                "P-256",
            ),
        ] {
            let e = KeySet::parse(doc).expect_err("refused");
            assert!(e.contains(says), "{e}");
        }
        let many = format!(
            "{{\"keys\": [{}]}}",
            vec!["{}"; MAX_JWKS_KEYS + 1].join(",")
        );
        assert!(
            KeySet::parse(many.as_bytes())
                .expect_err("too many")
                .contains("at most")
        );
    }

    #[test]
    fn configuration_errors_are_told_from_passing_ones() {
        let status = |s| JwksError::Status {
            what: "JWKS",
            url: "https://x".into(),
            status: s,
        };
        assert!(status(404).is_configuration());
        assert!(!status(503).is_configuration());
        assert!(!status(429).is_configuration());
        assert!(
            !JwksError::Fetch {
                what: "JWKS",
                url: "https://x".into(),
                reason: "timed out".into()
            }
            .is_configuration()
        );
        assert!(
            JwksError::Read {
                what: "JWKS",
                path: "/x".into(),
                reason: "not found".into()
            }
            .is_configuration()
        );
    }
}
