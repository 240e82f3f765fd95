//! Session tokens on the server (API.md §8): the settings `serve` checks at start, the
//! [`SessionVerifier`] that turns a raw JWT into a [`VerifiedToken`] or a
//! [`SessionFailure`] naming the failed step, and the cache of verified tokens.
//!
//! The rules are in `domain::session`; this module adds the signature (with the JWKS of
//! `server::jwks`) and the cache:
//!
//! - **Verified-token cache**: keyed by the SHA-256 of the token, an entry lives until the
//!   token's `exp` and never longer, and is dropped as soon as its key leaves the JWKS. At
//!   most [`SESSION_CACHE_CAPACITY`] tokens are held; when full, the tokens closest to
//!   expiry (expired ones first) make room. Only tokens that passed `parse` to `expiry`
//!   are cached, so no forged or expired token takes a place.
//! - A cached token costs a SHA-256 and a map read, like a cached key; the signature is
//!   checked once per token.

use std::collections::{BTreeSet, HashMap};
use std::fmt;
use std::sync::{Arc, RwLock};
use std::time::Duration;

use chrono::{DateTime, Utc};

use super::AppState;
use super::clock::Clock;
use super::error::ApiError;
use super::jwks::{self, Jwks, JwksSource, KeySet, Resolved};
use crate::api::{SessionUserObject, VerifySession};
use crate::domain::decision::{Decision, Step};
use crate::domain::key::SecretHash;
use crate::domain::scope::{Catalog, Scope};
use crate::domain::session::{
    DEFAULT_ORG_CLAIM, MAX_TOKEN_LEN, REGISTERED_CLAIMS, SessionFailure, SessionInput,
    SessionPolicy, SessionPrincipal, SessionUser, SignatureCheck, VerifiedToken, authorize_session,
    check_token, identity_from_claims, parse_jwt,
};

/// The most verified tokens cached.
pub const SESSION_CACHE_CAPACITY: usize = 100_000;

/// How often the background task looks whether the scheduled JWKS refresh is due.
pub const REFRESH_TICK: Duration = Duration::from_secs(15);

/// Session settings from `serve --jwks … --jwt-issuer … [--jwt-audience …]
/// [--jwt-org-claim …]`, with the key set already loaded and checked.
#[derive(Debug, Clone)]
pub struct SessionSettings {
    /// Where the JWKS comes from.
    pub source: JwksSource,
    /// What tokens must say.
    pub policy: SessionPolicy,
    /// The key set as loaded at start.
    pub keys: Arc<KeySet>,
    /// When it was loaded.
    pub loaded_at: DateTime<Utc>,
    /// How long one JWKS fetch may take.
    pub fetch_timeout: Duration,
    /// The client that fetched the set, kept for its refreshes.
    pub http: reqwest::Client,
}

/// Why the session flags cannot be used.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SessionConfigError {
    /// A flag or the JWKS it names is wrong (exit 2).
    #[error("{0}")]
    Usage(String),
    /// The JWKS URL could not be reached (exit 1).
    #[error("{0}")]
    Unreachable(String),
}

/// The session flags as given.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SessionFlags {
    /// `--jwks`.
    pub jwks: Option<String>,
    /// `--jwt-issuer`.
    pub issuer: Option<String>,
    /// `--jwt-audience`.
    pub audience: Option<String>,
    /// `--jwt-org-claim`.
    pub org_claim: Option<String>,
}

impl SessionSettings {
    /// Check the flags and load the JWKS once. `Ok(None)` when sessions are off (no
    /// `--jwks`); the other flags are then refused, since they would do nothing.
    pub async fn load(
        flags: &SessionFlags,
        clock: &dyn Clock,
        fetch_timeout: Duration,
    ) -> Result<Option<SessionSettings>, SessionConfigError> {
        let usage = |m: String| SessionConfigError::Usage(m);
        let Some(jwks_arg) = flags.jwks.as_deref() else {
            for (flag, set) in [
                ("--jwt-issuer", flags.issuer.is_some()),
                ("--jwt-audience", flags.audience.is_some()),
                ("--jwt-org-claim", flags.org_claim.is_some()),
            ] {
                if set {
                    return Err(usage(format!(
                        "{flag} needs --jwks <path | https URL>: sessions are off without a key set"
                    )));
                }
            }
            return Ok(None);
        };
        let issuer = match flags.issuer.as_deref().map(str::trim) {
            Some(i) if !i.is_empty() => i.to_owned(),
            _ => {
                return Err(usage(
                    "--jwks needs --jwt-issuer <iss>: the exact `iss` your identity provider puts in its tokens".to_owned(),
                ));
            }
        };
        let audience = match flags.audience.as_deref().map(str::trim) {
            None => None,
            Some("") => {
                return Err(usage(
                    "--jwt-audience is empty: pass the audience your tokens carry, or leave the flag out".to_owned(),
                ));
            }
            Some(a) => Some(a.to_owned()),
        };
        let org_claim = flags
            .org_claim
            .as_deref()
            .map(str::trim)
            .unwrap_or(DEFAULT_ORG_CLAIM);
        if org_claim.is_empty() || REGISTERED_CLAIMS.contains(&org_claim) {
            return Err(usage(format!(
                "--jwt-org-claim {org_claim:?}: name the claim that holds the organization id (default {DEFAULT_ORG_CLAIM})"
            )));
        }
        let source = JwksSource::parse(jwks_arg).map_err(|e| usage(e.to_string()))?;
        let http = jwks::http_client(fetch_timeout).map_err(|e| usage(e.to_string()))?;
        let keys = jwks::load(&source, &http).await.map_err(|e| {
            let hint = match &source {
                JwksSource::File(_) => "pass the path of a JWKS file or its https URL",
                JwksSource::Url(_) => "check the URL (your identity provider's `jwks_uri`)",
            };
            if e.is_configuration() {
                usage(format!("--jwks: {e}; {hint}"))
            } else {
                SessionConfigError::Unreachable(format!(
                    "--jwks: {e}; check the network and the URL, then start again"
                ))
            }
        })?;
        Ok(Some(SessionSettings {
            source,
            policy: SessionPolicy {
                issuer,
                audience,
                org_claim: org_claim.to_owned(),
            },
            keys: Arc::new(keys),
            loaded_at: clock.now(),
            fetch_timeout,
            http,
        }))
    }
}

#[derive(Debug, Default)]
struct CacheMaps {
    by_hash: HashMap<SecretHash, Arc<VerifiedToken>>,
    by_expiry: BTreeSet<(DateTime<Utc>, [u8; 32])>,
}

/// Verified tokens by the SHA-256 of the token, each until its `exp`.
#[derive(Debug)]
pub struct SessionCache {
    maps: RwLock<CacheMaps>,
    capacity: usize,
}

impl SessionCache {
    /// A cache of at most `capacity` tokens.
    pub fn new(capacity: usize) -> SessionCache {
        SessionCache {
            maps: RwLock::new(CacheMaps::default()),
            capacity: capacity.max(1),
        }
    }

    /// The verified token for this hash, if cached and not past `exp` at `now`.
    pub fn get(&self, hash: &SecretHash, now: DateTime<Utc>) -> Option<Arc<VerifiedToken>> {
        self.maps
            .read()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .by_hash
            .get(hash)
            .filter(|t| t.expires_at > now)
            .cloned()
    }

    /// Cache a verified token until its `exp`; expired tokens first, then those closest to
    /// expiry, make room when full.
    pub fn insert(&self, hash: SecretHash, token: Arc<VerifiedToken>, now: DateTime<Utc>) {
        if token.expires_at <= now {
            return;
        }
        let mut maps = self
            .maps
            .write()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if maps.by_hash.contains_key(&hash) {
            return;
        }
        while let Some(&(exp, h)) = maps.by_expiry.first() {
            if exp > now && maps.by_hash.len() < self.capacity {
                break;
            }
            maps.by_expiry.pop_first();
            maps.by_hash.remove(&SecretHash(h));
        }
        maps.by_expiry.insert((token.expires_at, hash.0));
        maps.by_hash.insert(hash, token);
    }

    /// Forget one token.
    pub fn remove(&self, hash: &SecretHash) {
        let mut maps = self
            .maps
            .write()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if let Some(t) = maps.by_hash.remove(hash) {
            maps.by_expiry.remove(&(t.expires_at, hash.0));
        }
    }

    /// Number of cached tokens.
    pub fn len(&self) -> usize {
        self.maps
            .read()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .by_hash
            .len()
    }

    /// Whether nothing is cached.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// Organization ids known to exist, so a cached session's `org` step costs no database
/// read. Bounded: when full, it is cleared and refills from the database (organizations are
/// never deleted, so an entry never goes stale; unknown ids are never cached).
#[derive(Debug)]
pub struct KnownOrgs {
    ids: RwLock<std::collections::HashSet<String>>,
    capacity: usize,
}

impl KnownOrgs {
    /// At most `capacity` ids.
    pub fn new(capacity: usize) -> KnownOrgs {
        KnownOrgs {
            ids: RwLock::new(std::collections::HashSet::new()),
            capacity: capacity.max(1),
        }
    }

    /// Whether `org` was seen to exist.
    pub fn contains(&self, org: &str) -> bool {
        self.ids
            .read()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .contains(org)
    }

    /// Remember that `org` exists.
    pub fn insert(&self, org: &str) {
        let mut ids = self
            .ids
            .write()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if ids.len() >= self.capacity {
            ids.clear();
        }
        ids.insert(org.to_owned());
    }
}

/// Verifies session tokens: parse, signature with the JWKS, issuer, audience, expiry, and
/// the claims mapping; caches what passed.
pub struct SessionVerifier {
    jwks: Arc<Jwks>,
    policy: SessionPolicy,
    catalog: Catalog,
    cache: SessionCache,
    orgs: KnownOrgs,
}

impl fmt::Debug for SessionVerifier {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SessionVerifier")
            .field("jwks", &self.jwks)
            .field("policy", &self.policy)
            .field("cached", &self.cache.len())
            .finish_non_exhaustive()
    }
}

impl SessionVerifier {
    /// A verifier for the loaded settings, scopes checked against `catalog`, the JWKS
    /// schedule on `clock`. Does no I/O; see [`SessionVerifier::spawn_refresher`].
    pub fn new(
        settings: &SessionSettings,
        catalog: Catalog,
        clock: Arc<dyn Clock>,
    ) -> SessionVerifier {
        SessionVerifier::with_capacity(settings, catalog, clock, SESSION_CACHE_CAPACITY)
    }

    /// [`SessionVerifier::new`] with another cache bound.
    pub fn with_capacity(
        settings: &SessionSettings,
        catalog: Catalog,
        clock: Arc<dyn Clock>,
        capacity: usize,
    ) -> SessionVerifier {
        SessionVerifier {
            jwks: Arc::new(Jwks::new(
                settings.source.clone(),
                Arc::clone(&settings.keys),
                settings.loaded_at,
                clock,
                settings.http.clone(),
            )),
            policy: settings.policy.clone(),
            catalog,
            cache: SessionCache::new(capacity),
            orgs: KnownOrgs::new(capacity),
        }
    }

    /// Organizations seen to exist (they are never deleted, so a hit needs no read).
    pub fn orgs(&self) -> &KnownOrgs {
        &self.orgs
    }

    /// The key set and its schedule.
    pub fn jwks(&self) -> &Arc<Jwks> {
        &self.jwks
    }

    /// What tokens must say.
    pub fn policy(&self) -> &SessionPolicy {
        &self.policy
    }

    /// The verified-token cache.
    pub fn cache(&self) -> &SessionCache {
        &self.cache
    }

    /// Start the task that refreshes the JWKS every 10 minutes (it ends when the verifier
    /// is dropped). Call inside a tokio runtime.
    pub fn spawn_refresher(&self) -> tokio::task::JoinHandle<()> {
        self.jwks.spawn_refresher(REFRESH_TICK)
    }

    /// The cached verification of a token, if it is cached, not past `exp` at `now`, and its
    /// key is still in the JWKS: the hot path, with no I/O and no signature check.
    pub fn cached(&self, token: &str, now: DateTime<Utc>) -> Option<Arc<VerifiedToken>> {
        if token.len() > MAX_TOKEN_LEN {
            return None;
        }
        let hash = SecretHash::of(token);
        let t = self.cache.get(&hash, now)?;
        if self.jwks.key(&t.kid).is_some() {
            return Some(t);
        }
        // Its key left the set: the token is checked again from the start.
        self.cache.remove(&hash);
        None
    }

    /// Verify a raw token (what follows `Bearer `) at `now`: everything that does not
    /// depend on the request, from the cache when it can. A token signed by an unknown
    /// `kid` makes the JWKS be fetched again (at most once per 30 s).
    pub async fn verify(
        &self,
        token: &str,
        now: DateTime<Utc>,
    ) -> Result<Arc<VerifiedToken>, SessionFailure> {
        if let Some(t) = self.cached(token, now) {
            return Ok(t);
        }
        let verified = Arc::new(self.verify_uncached(token, now).await?);
        if token.len() <= MAX_TOKEN_LEN {
            self.cache
                .insert(SecretHash::of(token), Arc::clone(&verified), now);
        }
        Ok(verified)
    }

    /// [`SessionVerifier::verify`] without the cache: parse, key, signature, claims.
    pub async fn verify_uncached(
        &self,
        token: &str,
        now: DateTime<Utc>,
    ) -> Result<VerifiedToken, SessionFailure> {
        let parsed = parse_jwt(token)?;
        let (alg, kid) = parsed.signing_request()?;
        let check = match self.jwks.resolve(kid).await {
            Resolved::Unknown { refreshed } => SignatureCheck::UnknownKid {
                kid: kid.to_owned(),
                refreshed,
            },
            Resolved::Found(key) if key.alg() != alg => SignatureCheck::AlgMismatch {
                kid: kid.to_owned(),
                token: alg,
                key: key.alg(),
            },
            Resolved::Found(key) => {
                if key.verify(parsed.signing_input, parsed.signature) {
                    SignatureCheck::Valid {
                        kid: kid.to_owned(),
                        alg,
                    }
                } else {
                    SignatureCheck::Invalid {
                        kid: kid.to_owned(),
                        alg,
                    }
                }
            }
        };
        check_token(&parsed, check, &self.policy, &self.catalog, now)
    }
}

/// A session request decided, with what its records need.
#[derive(Debug)]
pub struct SessionOutcome {
    /// The decision and its trace (`parse` … `scopes`).
    pub decision: Decision,
    /// The caller, when allowed.
    pub principal: Option<Arc<SessionPrincipal>>,
    /// The org its auth event belongs to (the token's, once it verified and the org exists
    /// here) and the user it names.
    pub event: Option<(String, Option<String>)>,
    /// The user and the token's scopes, once `org` passed (nothing of another org's
    /// session is ever shown).
    pub seen: Option<(SessionUser, Vec<String>)>,
    /// `exp`, once the signature verified.
    pub expires_at: Option<DateTime<Utc>>,
}

impl SessionOutcome {
    /// The session part of a `/v1/verify` answer.
    pub fn verify_info(&self, policy: &SessionPolicy) -> VerifySession {
        VerifySession {
            issuer: policy.issuer.clone(),
            audience: policy.audience.clone(),
            org_claim: policy.org_claim.clone(),
            user: self.seen.as_ref().map(|(u, _)| SessionUserObject::of(u)),
            expires_at: self.expires_at,
        }
    }
}

impl AppState {
    /// Whether an organization exists: known ones without a read, then the database.
    async fn org_exists(&self, verifier: &SessionVerifier, org: &str) -> Result<bool, ApiError> {
        if verifier.orgs().contains(org) {
            return Ok(true);
        }
        let found = self.store.get_org(org).await?.is_some();
        if found {
            verifier.orgs().insert(org);
        }
        Ok(found)
    }

    /// The full decision for a session token, as a request would get it: verify (from the
    /// cache when it can), then the org (it must exist; `org` limits it to one, for
    /// `/v1/verify`), the app and the required scopes, by `domain::session`.
    pub async fn decide_session(
        &self,
        verifier: &SessionVerifier,
        token: &str,
        app_id: Option<&str>,
        required: &[Scope],
        org: Option<&str>,
    ) -> Result<SessionOutcome, ApiError> {
        let now = self.clock.now();
        let visible = |o: &str| org.is_none_or(|want| want == o);
        let verified = match verifier.verify(token, now).await {
            Ok(t) => t,
            Err(f) => {
                // A token refused after a valid signature (past `exp`, wrong issuer…) names
                // its user, in its org's events when that org exists here.
                let org = f
                    .user
                    .as_ref()
                    .and_then(|_| parse_jwt(token).ok())
                    .and_then(|p| identity_from_claims(&p.claims, verifier.policy()).ok())
                    .map(|i| i.org_id);
                let event = match org {
                    Some(o) if visible(&o) && self.org_exists(verifier, &o).await? => {
                        Some((o, f.user.clone()))
                    }
                    _ => None,
                };
                return Ok(SessionOutcome {
                    decision: f.into_decision(),
                    principal: None,
                    event,
                    seen: None,
                    expires_at: None,
                });
            }
        };
        let org_exists = match verified.org_id() {
            Some(o) if visible(o) => self.org_exists(verifier, o).await?,
            _ => false,
        };
        let bound_app_org = match verified.bound_app() {
            Some(a) if org_exists => self.app_org_id(a).await?,
            _ => None,
        };
        let app_org = match app_id {
            Some(a) if org_exists => self.app_org_id(a).await?,
            _ => None,
        };
        let decision = authorize_session(
            &verified,
            &SessionInput {
                org_exists,
                bound_app_org: bound_app_org.as_deref(),
                app_id,
                app_org: app_org.as_deref(),
                required,
            },
            now,
        );
        let event = verified
            .org_id()
            .filter(|_| org_exists)
            .map(|o| (o.to_owned(), verified.user.clone()));
        let principal = if decision.allowed() {
            verified.principal().map(Arc::new)
        } else {
            None
        };
        let seen = match (&verified.identity, &verified.scopes) {
            (Ok(id), Ok(scopes)) if decision.passed(Step::Org) => {
                Some((id.user.clone(), scopes.to_strings()))
            }
            (Ok(id), Err(_)) if decision.passed(Step::Org) => Some((id.user.clone(), Vec::new())),
            _ => None,
        };
        Ok(SessionOutcome {
            decision,
            principal,
            event,
            seen,
            expires_at: Some(verified.expires_at),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::jwt::SigningAlg;
    use crate::domain::session::{SessionIdentity, SessionUser};
    use chrono::TimeZone;

    fn at(s: i64) -> DateTime<Utc> {
        Utc.timestamp_opt(1_800_000_000 + s, 0)
            .single()
            .expect("time")
    }

    fn tok(exp: i64) -> Arc<VerifiedToken> {
        Arc::new(VerifiedToken {
            kid: "k".into(),
            alg: SigningAlg::ES256,
            expires_at: at(exp),
            not_before: None,
            audience_checked: false,
            user: Some("u".into()),
            identity: Ok(SessionIdentity {
                org_id: "org_0000000000000001".into(),
                user: SessionUser {
                    sub: "u".into(),
                    name: None,
                    email: None,
                },
            }),
            app_id: Ok(None),
            scopes: Ok(Default::default()),
        })
    }

    #[test]
    fn entries_live_until_exp_and_never_longer() {
        let c = SessionCache::new(10);
        let h = SecretHash::of("t1");
        c.insert(h, tok(100), at(0));
        assert!(c.get(&h, at(99)).is_some());
        assert!(c.get(&h, at(100)).is_none());
        c.insert(SecretHash::of("t2"), tok(5), at(5));
        assert!(
            c.get(&SecretHash::of("t2"), at(0)).is_none(),
            "already expired"
        );
        c.remove(&h);
        assert!(c.is_empty());
    }

    #[test]
    fn the_bound_holds_and_the_soonest_to_expire_go_first() {
        let c = SessionCache::new(3);
        for i in 0..3 {
            c.insert(SecretHash::of(&format!("t{i}")), tok(100 + i), at(0));
        }
        c.insert(SecretHash::of("late"), tok(1000), at(0));
        assert_eq!(c.len(), 3);
        assert!(c.get(&SecretHash::of("t0"), at(0)).is_none());
        assert!(c.get(&SecretHash::of("t1"), at(0)).is_some());
        assert!(c.get(&SecretHash::of("late"), at(0)).is_some());
        // Expired entries are swept on insert even below the bound.
        let c = SessionCache::new(100);
        c.insert(SecretHash::of("a"), tok(10), at(0));
        c.insert(SecretHash::of("b"), tok(50), at(20));
        assert_eq!(c.len(), 1);
        for i in 0..1000 {
            c.insert(SecretHash::of(&format!("x{i}")), tok(60 + i), at(20));
        }
        assert!(c.len() <= 100);
    }
}
