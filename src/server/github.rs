//! GitHub secret scanning (API.md §9): the public keys GitHub signs its deliveries with
//! (`serve --github-scanning-keys <path | https URL>`, the JSON GitHub publishes:
//! `{"public_keys": [{"key_identifier", "key" (PEM), "is_current"}]}`) and the signature
//! check of a delivery: headers `Github-Public-Key-Identifier` and
//! `Github-Public-Key-Signature` (base64 DER ECDSA P-256 SHA-256 over the raw body).
//!
//! The keys are kept fresh by the same cache as the sessions' JWKS
//! ([`super::jwks::KeyCache`]): refreshed every 10 minutes, and on an unknown identifier at
//! most once per 30 s; a failed refresh keeps the last good set. Every listed key is
//! accepted, current or not: GitHub lists the keys it may sign with.
//!
//! A delivery's tokens are secrets: nothing here logs or echoes them.

use std::collections::HashMap;
use std::sync::Arc;

use axum::http::HeaderMap;
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use chrono::{DateTime, Utc};
use p256::ecdsa::signature::Verifier as _;
use p256::ecdsa::{Signature, VerifyingKey};
use p256::pkcs8::DecodePublicKey as _;
use serde_json::Value;

use super::clock::Clock;
use super::jwks::{self, JwksError, JwksSource, KeyCache, KeyDocument, Resolved};
use crate::domain::jwt::quoted;

/// The header naming the key a delivery was signed with.
pub const KEY_ID_HEADER: &str = "github-public-key-identifier";
/// The header carrying the base64 DER signature.
pub const SIGNATURE_HEADER: &str = "github-public-key-signature";
/// The most keys a document may list.
const MAX_KEYS: usize = 100;
/// The longest key identifier kept (GitHub's are 64 hex characters).
const MAX_ID_LEN: usize = 256;
/// The longest signature header read (a DER P-256 signature is at most 72 bytes).
const MAX_SIGNATURE_LEN: usize = 256;

/// GitHub's secret scanning public keys, by identifier.
#[derive(Debug, Default)]
pub struct ScanningKeys {
    keys: HashMap<String, Arc<VerifyingKey>>,
    skipped: Vec<String>,
}

impl KeyDocument for ScanningKeys {
    const WHAT: &'static str = "GitHub secret scanning keys";
    type Key = Arc<VerifyingKey>;

    fn parse(bytes: &[u8]) -> Result<ScanningKeys, String> {
        let doc: Value = serde_json::from_slice(bytes).map_err(|e| format!("is not JSON ({e})"))?;
        let entries = doc
            .get("public_keys")
            .and_then(Value::as_array)
            .ok_or_else(|| {
                "is not GitHub's key list: expected {\"public_keys\": [{\"key_identifier\", \"key\"}]}"
                    .to_owned()
            })?;
        if entries.len() > MAX_KEYS {
            return Err(format!(
                "has {} keys; at most {MAX_KEYS} are accepted",
                entries.len()
            ));
        }
        let mut keys = HashMap::new();
        let mut skipped = Vec::new();
        for (i, e) in entries.iter().enumerate() {
            let id = e.get("key_identifier").and_then(Value::as_str);
            let pem = e.get("key").and_then(Value::as_str);
            match (id, pem) {
                (Some(id), Some(pem)) if !id.is_empty() && id.len() <= MAX_ID_LEN => {
                    match VerifyingKey::from_public_key_pem(pem.trim()) {
                        Ok(k) => {
                            keys.insert(id.to_owned(), Arc::new(k));
                        }
                        Err(_) => skipped.push(format!(
                            "key {i} ({}): not a PEM P-256 public key",
                            quoted(id, 64)
                        )),
                    }
                }
                _ => skipped.push(format!(
                    "key {i}: needs a `key_identifier` (1-{MAX_ID_LEN} characters) and a `key`"
                )),
            }
        }
        if keys.is_empty() {
            let mut m = "has no usable P-256 key".to_owned();
            if !skipped.is_empty() {
                m.push_str(": ");
                m.push_str(&skipped.join("; "));
            }
            return Err(m);
        }
        Ok(ScanningKeys { keys, skipped })
    }

    fn key(&self, id: &str) -> Option<Arc<VerifyingKey>> {
        self.keys.get(id).cloned()
    }

    fn ids(&self) -> Vec<&str> {
        let mut ids: Vec<&str> = self.keys.keys().map(String::as_str).collect();
        ids.sort_unstable();
        ids
    }

    fn skipped(&self) -> &[String] {
        &self.skipped
    }
}

/// The live key list.
pub type GithubKeys = KeyCache<ScanningKeys>;

/// Parse the flag and load the keys once (`serve` stops when this fails), then keep them
/// fresh in the background. Call inside a tokio runtime.
pub async fn load(
    arg: &str,
    clock: Arc<dyn Clock>,
    now: DateTime<Utc>,
) -> Result<Arc<GithubKeys>, JwksError> {
    let source = JwksSource::parse_flag(
        "--github-scanning-keys",
        "a file with GitHub's secret scanning keys",
        arg,
    )?;
    let http = jwks::http_client(jwks::FETCH_TIMEOUT)?;
    let set: ScanningKeys = jwks::load_document(&source, &http).await?;
    let cache = Arc::new(KeyCache::new(source, Arc::new(set), now, clock, http));
    cache.spawn_refresher(std::time::Duration::from_secs(60));
    Ok(cache)
}

/// Why a delivery's signature was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum SignatureError {
    /// A header is missing.
    #[error(
        "the delivery is not signed: send Github-Public-Key-Identifier and Github-Public-Key-Signature"
    )]
    Missing,
    /// A header is not readable (not text, too long, not base64 DER).
    #[error("the delivery's signature headers are malformed")]
    Malformed,
    /// No listed key has that identifier (after a refresh, when one was allowed).
    #[error("the delivery is signed with a key GitHub does not list")]
    UnknownKey,
    /// The signature does not match the body.
    #[error("the delivery's signature does not match its body")]
    Invalid,
}

fn header<'h>(headers: &'h HeaderMap, name: &str, max: usize) -> Result<&'h str, SignatureError> {
    let mut all = headers.get_all(name).iter();
    let v = all.next().ok_or(SignatureError::Missing)?;
    if all.next().is_some() || v.len() > max {
        return Err(SignatureError::Malformed);
    }
    v.to_str()
        .map(str::trim)
        .map_err(|_| SignatureError::Malformed)
}

/// Check a delivery: its signature headers against `keys` over the raw `body`.
pub async fn check(
    keys: &GithubKeys,
    headers: &HeaderMap,
    body: &[u8],
) -> Result<(), SignatureError> {
    let id = header(headers, KEY_ID_HEADER, MAX_ID_LEN)?;
    let sig = header(headers, SIGNATURE_HEADER, MAX_SIGNATURE_LEN)?;
    if id.is_empty() {
        return Err(SignatureError::Malformed);
    }
    let der = STANDARD
        .decode(sig.as_bytes())
        .map_err(|_| SignatureError::Malformed)?;
    let sig = Signature::from_der(&der).map_err(|_| SignatureError::Malformed)?;
    let key = match keys.resolve(id).await {
        Resolved::Found(k) => k,
        Resolved::Unknown { .. } => return Err(SignatureError::UnknownKey),
    };
    key.verify(body, &sig).map_err(|_| SignatureError::Invalid)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn documents_that_are_not_a_key_list() {
        for (doc, says) in [
            (&b"nope"[..], "is not JSON"),
            (b"{\"keys\": []}", "is not GitHub's key list"),
            (b"{\"public_keys\": []}", "has no usable P-256 key"),
            (
                b"{\"public_keys\": [{\"key_identifier\": \"a\", \"key\": \"-----BEGIN PUBLIC KEY-----\\nAAAA\\n-----END PUBLIC KEY-----\"}]}",
                "not a PEM P-256 public key",
            ),
            (b"{\"public_keys\": [{\"key\": \"x\"}]}", "needs a `key_identifier`"),
        ] {
            let e = ScanningKeys::parse(doc).expect_err("refused");
            assert!(e.contains(says), "{e}");
        }
    }
}
