//! The auth extractor: the verify hot path. Parse the credential headers, hash the secret,
//! look the key up in the cache (the database only on a miss), and let
//! [`crate::domain::decision::authorize`] decide. Usage and auth events are attributed on the
//! request's [`ReqCtx`] and written later in batches by the middleware's recorder.

use std::collections::HashMap;
use std::marker::PhantomData;
use std::net::IpAddr;
use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::{Arc, Mutex};

use axum::extract::FromRequestParts;
use axum::http::HeaderMap;
use axum::http::header::AUTHORIZATION;
use axum::http::request::Parts;
use chrono::{DateTime, Utc};

use super::AppState;
use super::error::ApiError;
use crate::api::{API_KEY_HEADER, APP_ID_HEADER, Actor, Org};
use crate::domain::decision::{
    AuthInput, AuthMethod, Credential, Decision, ErrorCode, Manager, authorize, extract_token,
    parse_token,
};
use crate::domain::jwt::looks_like_jwt;
use crate::domain::key::is_app_id;
use crate::domain::record::KeyRecord;
use crate::domain::scope::{Scope, ScopeSet};
use crate::domain::session::SessionPrincipal;
use crate::storage::{Outage, StoreError};

/// Per-request context, shared by the middleware and the handlers.
#[derive(Debug)]
pub struct ReqCtx {
    /// `req_…`
    pub request_id: String,
    /// Client address.
    pub ip: Option<IpAddr>,
    inner: Mutex<Attribution>,
}

/// Who a request's usage and auth events belong to. A key is held as its cached record
/// (a reference count, nothing copied per request).
#[derive(Debug, Default, Clone)]
pub struct Attribution {
    /// The key counted in usage (and its org).
    pub usage: Option<Arc<KeyRecord>>,
    /// Status to count instead of the response's (for `/v1/verify`).
    pub usage_status: Option<u16>,
    /// The org an auth event belongs to, and the key it names.
    pub event: Option<EventOwner>,
    /// The session user an auth event names (API.md §8).
    pub event_user: Option<String>,
    /// Code to record instead of the response's (for `/v1/verify`).
    pub event_code: Option<ErrorCode>,
    /// For `/v1/verify`: the scopes a refused verification lacked (recorded with its
    /// `insufficient_scope` event).
    pub event_required: Vec<String>,
    /// The endpoint's required scopes, set once the caller is allowed (scope usage).
    pub required: &'static [&'static str],
    /// For `/v1/verify`: the verify call's `required_scopes` when the verified key was
    /// allowed, and the caller, who exercised `required` (scope usage).
    pub verified: Option<VerifiedScopes>,
}

/// For `/v1/verify`: the scopes the verified key exercised, and the caller.
#[derive(Debug, Default, Clone)]
pub struct VerifiedScopes {
    /// The call's `required_scopes` when the verified key was allowed, else empty.
    pub required: Vec<String>,
    /// The caller, whose request exercised the endpoint's own scopes.
    pub caller: Option<Arc<KeyRecord>>,
}

/// Whom an auth event belongs to.
#[derive(Debug, Clone)]
pub enum EventOwner {
    /// A key that was found: its org, naming it.
    Key(Arc<KeyRecord>),
    /// An org, and the key named if any (a key that was not authenticated, a session).
    Named {
        /// The org.
        org_id: String,
        /// The key named.
        key_id: Option<String>,
    },
}

impl EventOwner {
    /// The org and the key named.
    pub fn parts(&self) -> (&str, Option<&str>) {
        match self {
            EventOwner::Key(k) => (&k.org_id, Some(&k.id)),
            EventOwner::Named { org_id, key_id } => (org_id, key_id.as_deref()),
        }
    }
}

impl ReqCtx {
    /// A new context.
    pub fn new(request_id: String, ip: Option<IpAddr>) -> ReqCtx {
        ReqCtx {
            request_id,
            ip,
            inner: Mutex::new(Attribution::default()),
        }
    }

    fn with<R>(&self, f: impl FnOnce(&mut Attribution) -> R) -> R {
        let mut g = self
            .inner
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        f(&mut g)
    }

    /// Attribute this request to a key whose lookup succeeded.
    pub fn attribute_key(&self, key: &Arc<KeyRecord>) {
        self.with(|a| {
            a.usage = Some(Arc::clone(key));
            a.event = Some(EventOwner::Key(Arc::clone(key)));
        });
    }

    /// Attribute only the auth event to a key found but not authenticated.
    pub fn attribute_event_key(&self, key: &Arc<KeyRecord>) {
        self.with(|a| a.event = Some(EventOwner::Key(Arc::clone(key))));
    }

    /// Attribute only the auth event (the key named but not authenticated).
    pub fn attribute_event(&self, org_id: &str, key_id: Option<&str>) {
        self.with(|a| {
            a.event = Some(EventOwner::Named {
                org_id: org_id.to_owned(),
                key_id: key_id.map(str::to_owned),
            });
        });
    }

    /// Attribute the auth event of a session to its org, naming the user (`sub`) when the
    /// token's signature was valid.
    pub fn attribute_session_event(&self, org_id: &str, user: Option<&str>) {
        self.with(|a| {
            a.event = Some(EventOwner::Named {
                org_id: org_id.to_owned(),
                key_id: None,
            });
            a.event_user = user.map(str::to_owned);
        });
    }

    /// For `/v1/verify`: count the verified key with the decision's outcome, not the caller.
    pub fn attribute_verification(
        &self,
        key: Option<&Arc<KeyRecord>>,
        event: Option<EventOwner>,
        d: &Decision,
    ) {
        self.with(|a| {
            a.usage = key.cloned();
            a.usage_status = Some(d.status());
            a.event = event;
            a.event_code = d.code();
            a.event_required = d
                .result
                .as_ref()
                .err()
                .map(|x| x.required_scopes.clone())
                .unwrap_or_default();
        });
    }

    /// The caller passed the endpoint's scope check: its required scopes count in its scope
    /// usage (a field write; nothing is copied).
    pub fn attribute_required(&self, scopes: &'static [&'static str]) {
        self.with(|a| a.required = scopes);
    }

    /// For `/v1/verify`, before [`ReqCtx::attribute_verification`]: the verified key
    /// exercised `required` when it was allowed (`None` otherwise), and the caller exercised
    /// the endpoint's own scopes.
    pub fn attribute_verified_scopes(&self, required: Option<Vec<String>>) {
        self.with(|a| {
            a.verified = Some(VerifiedScopes {
                required: required.unwrap_or_default(),
                caller: a.usage.clone(),
            });
        });
    }

    /// A copy of the attribution.
    pub fn attribution(&self) -> Attribution {
        self.with(|a| a.clone())
    }

    /// The attribution, leaving an empty one (the middleware, once the handler is done).
    pub fn take_attribution(&self) -> Attribution {
        self.with(std::mem::take)
    }
}

/// Scopes an endpoint requires, as a type so handlers declare them in their signature.
pub trait Requirement: Send + Sync + 'static {
    /// The scopes.
    const SCOPES: &'static [&'static str];
    /// Whether a public key alone (with an allowed Origin) may call the endpoint. The key
    /// API's own management endpoints refuse it: a public key is not a secret.
    const PUBLIC_KEY_OK: bool = false;
    /// `SCOPES` parsed, once per type (not on every request).
    fn parsed() -> &'static [Scope];
}

macro_rules! requirement {
    ($name:ident, [$($s:literal),*], $doc:literal) => {
        #[doc = $doc]
        #[derive(Debug)]
        pub struct $name;
        impl Requirement for $name {
            const SCOPES: &'static [&'static str] = &[$($s),*];
            fn parsed() -> &'static [Scope] {
                static PARSED: std::sync::OnceLock<Vec<Scope>> = std::sync::OnceLock::new();
                PARSED.get_or_init(|| Self::SCOPES.iter().filter_map(|s| Scope::parse(s).ok()).collect())
            }
        }
    };
}

/// Any valid key, a public key alone included (`GET /v1/me`).
#[derive(Debug)]
pub struct AnyKey;
impl Requirement for AnyKey {
    const SCOPES: &'static [&'static str] = &[];
    const PUBLIC_KEY_OK: bool = true;
    fn parsed() -> &'static [Scope] {
        &[]
    }
}

requirement!(KeysRead, ["keys:read"], "`keys:read`.");
requirement!(KeysWrite, ["keys:write"], "`keys:write`.");
requirement!(KeysVerify, ["keys:verify"], "`keys:verify`.");
requirement!(UsageRead, ["usage:read"], "`usage:read`.");
requirement!(AuditRead, ["audit:read"], "`audit:read`.");
requirement!(
    ReviewRead,
    ["keys:read", "usage:read"],
    "`keys:read` and `usage:read` (the access review)."
);

/// Who a request acts as: an org API key, or a signed-in user's session (API.md §8).
#[derive(Debug, Clone)]
pub enum Principal {
    /// An API key.
    Key(Arc<KeyRecord>),
    /// A session, with the claims as its scopes.
    Session(Arc<SessionPrincipal>),
}

impl Principal {
    /// The organization it acts in.
    pub fn org_id(&self) -> &str {
        match self {
            Principal::Key(k) => &k.org_id,
            Principal::Session(s) => &s.org_id,
        }
    }

    /// Its scopes.
    pub fn scopes(&self) -> &ScopeSet {
        match self {
            Principal::Key(k) => &k.scopes,
            Principal::Session(s) => &s.scopes,
        }
    }

    /// The app it is bound to, if any.
    pub fn app_id(&self) -> Option<&str> {
        match self {
            Principal::Key(k) => k.app_id.as_deref(),
            Principal::Session(s) => s.app_id.as_deref(),
        }
    }

    /// The key, when it is one.
    pub fn key(&self) -> Option<&Arc<KeyRecord>> {
        match self {
            Principal::Key(k) => Some(k),
            Principal::Session(_) => None,
        }
    }

    /// What audit entries name as the actor.
    pub fn actor(&self) -> Actor {
        match self {
            Principal::Key(k) => Actor::key(&k.id),
            Principal::Session(s) => Actor::user(&s.user),
        }
    }

    /// Who manages keys, for the no-escalation rule.
    pub fn manager(&self) -> Manager<'_> {
        match self {
            Principal::Key(k) => Manager::key(k),
            Principal::Session(s) => Manager::session(&s.scopes, s.app_id.as_deref()),
        }
    }
}

/// An authenticated caller holding the scopes of `R`.
#[derive(Debug)]
pub struct Caller<R> {
    /// Who it is.
    pub principal: Principal,
    /// How it authenticated.
    pub method: AuthMethod,
    /// The request context.
    pub ctx: Arc<ReqCtx>,
    _r: PhantomData<R>,
}

impl<R> Caller<R> {
    /// The organization the caller acts in.
    pub fn org_id(&self) -> &str {
        self.principal.org_id()
    }

    /// What audit entries name as the actor.
    pub fn actor(&self) -> Actor {
        self.principal.actor()
    }
}

fn header_str<'a>(headers: &'a HeaderMap, name: &str) -> Result<Option<&'a str>, ApiError> {
    let mut values = headers.get_all(name).iter();
    let Some(v) = values.next() else {
        return Ok(None);
    };
    if values.next().is_some() {
        return Err(ApiError::invalid(format!(
            "the {name} header was sent more than once"
        )));
    }
    v.to_str()
        .map(Some)
        .map_err(|_| ApiError::invalid(format!("the {name} header is not valid text")))
}

/// The request's `x-app-id`, validated.
pub fn app_header(headers: &HeaderMap) -> Result<Option<&str>, ApiError> {
    let app = header_str(headers, APP_ID_HEADER)?;
    if let Some(a) = app
        && !is_app_id(a)
    {
        return Err(ApiError::invalid(
            "the x-app-id header must be an app id (`app_` and 16 letters or digits)",
        ));
    }
    Ok(app)
}

/// The request's `Origin`.
pub fn origin_header(headers: &HeaderMap) -> Result<Option<&str>, ApiError> {
    header_str(headers, "origin")
}

impl AppState {
    /// Find the key a credential names: cache first, the database on a miss.
    pub async fn lookup(&self, cred: &Credential) -> Result<Option<Arc<KeyRecord>>, ApiError> {
        match cred.secret() {
            Some(secret) => {
                let hash = secret.hash();
                self.feed.guard(&self.cache);
                if let Some(hit) = self.cache.by_hash(&hash) {
                    return Ok(Some(hit));
                }
                if self.cache.is_known_unknown_hash(&hash) {
                    return Ok(None);
                }
                if let Some(hit) = self.offline_hit(self.cache.entry_any_age(&hash)) {
                    return Ok(Some(hit));
                }
                let seen = self.cache.generation();
                let found = match self.store.key_by_hash(&hash).await {
                    Ok(found) => found.map(Arc::new),
                    Err(e) => return self.offline_answer(e, self.cache.entry_any_age(&hash)),
                };
                match &found {
                    Some(r) => self.cache.insert(seen, Arc::clone(r)),
                    None => self.cache.insert_unknown_hash(seen, hash),
                }
                Ok(found)
            }
            None => {
                self.lookup_id(cred.public_key().map_or("", |p| p.as_str()))
                    .await
            }
        }
    }

    /// A key by public key, cache first.
    pub async fn lookup_id(&self, id: &str) -> Result<Option<Arc<KeyRecord>>, ApiError> {
        self.feed.guard(&self.cache);
        if let Some(hit) = self.cache.by_id(id) {
            return Ok(Some(hit));
        }
        if self.cache.is_known_unknown_id(id) {
            return Ok(None);
        }
        if let Some(hit) = self.offline_hit(self.cache.entry_any_age_by_id(id)) {
            return Ok(Some(hit));
        }
        let seen = self.cache.generation();
        let found = match self.store.key_by_id(id).await {
            Ok(found) => found.map(Arc::new),
            Err(e) => return self.offline_answer(e, self.cache.entry_any_age_by_id(id)),
        };
        match &found {
            Some(r) => self.cache.insert(seen, Arc::clone(r)),
            None => self.cache.insert_unknown_id(seen, id),
        }
        Ok(found)
    }

    /// While the change feed finds the database unreachable, a cached entry within
    /// `--offline-grace` answers without trying the database (`server::feed`).
    fn offline_hit(
        &self,
        cached: Option<(Arc<KeyRecord>, std::time::Instant)>,
    ) -> Option<Arc<KeyRecord>> {
        let (hit, loaded) = cached?;
        (self.feed.offline() && self.feed.within_grace(loaded)).then_some(hit)
    }

    /// A lookup's read failed: an outage is answered from a cached entry within
    /// `--offline-grace`, else it is the answer (503).
    fn offline_answer(
        &self,
        e: StoreError,
        cached: Option<(Arc<KeyRecord>, std::time::Instant)>,
    ) -> Result<Option<Arc<KeyRecord>>, ApiError> {
        match cached {
            Some((hit, loaded))
                if e.outage() == Some(Outage::Unreachable) && self.feed.within_grace(loaded) =>
            {
                Ok(Some(hit))
            }
            _ => Err(e.into()),
        }
    }

    /// An organization, cache first (`GET /v1/me`).
    pub async fn org(&self, id: &str) -> Result<Option<Arc<Org>>, ApiError> {
        if let Some(hit) = self.cache.org(id) {
            return Ok(Some(hit));
        }
        let seen = self.cache.generation();
        let found = self.store.get_org(id).await?.map(Arc::new);
        if let Some(o) = &found {
            self.cache.insert_org(seen, Arc::clone(o));
        }
        Ok(found)
    }

    /// The org an app belongs to: the key's own app needs no lookup, then the in-memory
    /// cache, then the database (a found app is cached for good: apps are never deleted).
    pub async fn app_org(&self, app_id: &str, key: &KeyRecord) -> Result<Option<String>, ApiError> {
        if key.app_id.as_deref() == Some(app_id) {
            return Ok(Some(key.org_id.clone()));
        }
        self.app_org_id(app_id).await
    }

    /// The org an app belongs to: the in-memory cache, then the database.
    pub async fn app_org_id(&self, app_id: &str) -> Result<Option<String>, ApiError> {
        if let Some(org) = self.apps.get(app_id) {
            return Ok(Some(org));
        }
        let found = self.store.app_org(app_id).await?;
        if let Some(org) = &found {
            self.apps.insert(app_id, org);
        }
        Ok(found)
    }

    /// The credential of a rate-limited request, if it parses and is of an accepted
    /// environment (nothing is looked up).
    fn limited_credential(&self, headers: &HeaderMap) -> Option<Credential> {
        let auth: Vec<&[u8]> = headers
            .get_all(AUTHORIZATION)
            .iter()
            .map(|v| v.as_bytes())
            .collect();
        let keys: Vec<&[u8]> = headers
            .get_all(API_KEY_HEADER)
            .iter()
            .map(|v| v.as_bytes())
            .collect();
        let token = extract_token(&auth, &keys).ok()?;
        let cred = parse_token(token, &self.config.secret_prefix).ok()?;
        self.config
            .accept_env
            .is_none_or(|e| e == cred.env())
            .then_some(cred)
    }

    /// The session token of a rate-limited request, if it sends one as Bearer.
    fn limited_session_token<'h>(&self, headers: &'h HeaderMap) -> Option<&'h str> {
        let auth: Vec<&[u8]> = headers
            .get_all(AUTHORIZATION)
            .iter()
            .map(|v| v.as_bytes())
            .collect();
        extract_token(&auth, &[]).ok().filter(|t| looks_like_jwt(t))
    }

    /// Whether a client over the failed-auth limit presents a valid key, and so still gets
    /// through (API.md §4). Judged from the cache alone, never the database, so unknown
    /// credentials from a limited client cost no read: a secret (alone or in its pair) of a
    /// key this instance has looked up and not seen change since, that is enabled and
    /// unexpired. A fresh cache entry is then used as is; an entry older than the cache's
    /// TTL is re-read like any other. A public key alone is never enough: it is public.
    fn presents_valid_key(&self, headers: &HeaderMap) -> bool {
        if let Some(v) = &self.sessions
            && let Some(token) = self.limited_session_token(headers)
        {
            // A session verified before, until its `exp`: no signature check, no read.
            return v.cached(token, self.clock.now()).is_some();
        }
        let Some(cred) = self.limited_credential(headers) else {
            return false;
        };
        let Some(secret) = cred.secret() else {
            return false;
        };
        let Some(k) = self.cache.by_hash_any_age(&secret.hash()) else {
            return false;
        };
        authorize(
            Some(&k),
            &AuthInput {
                credential: &cred,
                origin: None,
                app_id: None,
                app_org: None,
                required: &[],
                accept_env: self.config.accept_env,
            },
            self.clock.now(),
        )
        .allowed()
    }

    /// Attribute a request refused with 429 from the cache alone (never the database, so a
    /// blocked client cannot make the service read): a secret whose key is cached counts in
    /// that key's usage and events; a public key alone, or a pair whose secret is not the
    /// cached key's, only names the key in the auth event.
    fn attribute_blocked(&self, headers: &HeaderMap, ctx: &ReqCtx) {
        let Some(cred) = self.limited_credential(headers) else {
            return;
        };
        if let Some(secret) = cred.secret()
            && let Some(k) = self.cache.by_hash(&secret.hash())
            && cred.public_key().is_none_or(|p| p.as_str() == k.id)
        {
            ctx.attribute_key(&k);
            return;
        }
        if let Some(pk) = cred.public_key()
            && let Some(k) = self.cache.by_id(pk.as_str())
        {
            ctx.attribute_event(&k.org_id, Some(&k.id));
        }
    }

    /// The full decision for a credential token, as a gateway would get it.
    /// `org` limits the lookup to one org (for `/v1/verify`).
    pub async fn decide(
        &self,
        token: &str,
        origin: Option<&str>,
        app_id: Option<&str>,
        required: &[Scope],
        org: Option<&str>,
    ) -> Result<(Decision, Option<Arc<KeyRecord>>, Option<Credential>), ApiError> {
        let cred = match parse_token(token, &self.config.secret_prefix) {
            Ok(c) => c,
            Err(f) => return Ok((f.into_decision(), None, None)),
        };
        let found = self
            .lookup(&cred)
            .await?
            .filter(|r| org.is_none_or(|o| r.org_id == o));
        let app_org = match (app_id, found.as_deref()) {
            (Some(a), Some(k)) => self.app_org(a, k).await?,
            _ => None,
        };
        let decision = authorize(
            found.as_deref(),
            &AuthInput {
                credential: &cred,
                origin,
                app_id,
                app_org: app_org.as_deref(),
                required,
                accept_env: self.config.accept_env,
            },
            self.clock.now(),
        );
        Ok((decision, found, Some(cred)))
    }
}

/// Most client addresses the limiter tracks at once.
pub const LIMITER_CAPACITY: usize = 100_000;

/// Failed-authentication counter per client address, in fixed one-minute windows. Holds at
/// most `capacity` addresses: when full, stale windows go first, then an address that is
/// not blocked; if every tracked address is blocked, a new address is not tracked (blocked
/// addresses stay blocked; memory stays bounded).
#[derive(Debug)]
pub struct Limiter {
    max_failures: u32,
    capacity: usize,
    windows: Mutex<HashMap<IpAddr, (i64, u32)>>,
    /// The last window in which some address reached the limit ([`i64::MIN`]: none yet).
    /// While it is not the current window no address is blocked, so [`Limiter::blocked`]
    /// answers with one atomic load and never takes the lock.
    blocking: AtomicI64,
}

impl Limiter {
    /// Allow `max_failures` failed authentications per address per minute (0 = unlimited).
    pub fn new(max_failures: u32) -> Limiter {
        Limiter::with_capacity(max_failures, LIMITER_CAPACITY)
    }

    /// Like [`Limiter::new`], tracking at most `capacity` addresses.
    pub fn with_capacity(max_failures: u32, capacity: usize) -> Limiter {
        Limiter {
            max_failures,
            capacity: capacity.max(1),
            windows: Mutex::new(HashMap::new()),
            blocking: AtomicI64::new(i64::MIN),
        }
    }

    /// Number of tracked addresses.
    pub fn tracked(&self) -> usize {
        self.windows
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .len()
    }

    fn window(now: DateTime<Utc>) -> i64 {
        now.timestamp().div_euclid(60)
    }

    /// Seconds until the address may try again, if it is blocked.
    pub fn blocked(&self, ip: IpAddr, now: DateTime<Utc>) -> Option<u64> {
        if self.max_failures == 0 || self.blocking.load(Ordering::Acquire) != Self::window(now) {
            return None;
        }
        let w = self
            .windows
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        match w.get(&ip) {
            Some((win, n)) if *win == Self::window(now) && *n >= self.max_failures => {
                Some(u64::try_from(60 - now.timestamp().rem_euclid(60)).unwrap_or(60))
            }
            _ => None,
        }
    }

    /// Count a failed authentication.
    pub fn failed(&self, ip: IpAddr, now: DateTime<Utc>) {
        if self.max_failures == 0 {
            return;
        }
        let win = Self::window(now);
        let mut w = self
            .windows
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if !w.contains_key(&ip) && w.len() >= self.capacity {
            w.retain(|_, (x, _)| *x == win);
            if w.len() >= self.capacity {
                let max = self.max_failures;
                let evict = w.iter().find(|(_, (_, n))| *n < max).map(|(a, _)| *a);
                match evict {
                    Some(a) => {
                        w.remove(&a);
                    }
                    None => return,
                }
            }
        }
        let e = w.entry(ip).or_insert((win, 0));
        if e.0 != win {
            *e = (win, 0);
        }
        e.1 = e.1.saturating_add(1);
        if e.1 >= self.max_failures {
            // Set under the lock, before `blocked` can see this address's count.
            self.blocking.store(win, Ordering::Release);
        }
    }
}

impl<R: Requirement> FromRequestParts<AppState> for Caller<R> {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        let ctx = parts
            .extensions
            .get::<Arc<ReqCtx>>()
            .cloned()
            .ok_or_else(|| ApiError::internal("request context missing"))?;
        let now = state.clock.now();
        if let Some(ip) = ctx.ip
            && let Some(retry) = state.limiter.blocked(ip, now)
            && !state.presents_valid_key(&parts.headers)
        {
            state.attribute_blocked(&parts.headers, &ctx);
            let mut e = ApiError::of(ErrorCode::RateLimited);
            e.retry_after = Some(retry);
            return Err(e);
        }
        let auth: Vec<&[u8]> = parts
            .headers
            .get_all(AUTHORIZATION)
            .iter()
            .map(|v| v.as_bytes())
            .collect();
        let keys: Vec<&[u8]> = parts
            .headers
            .get_all(API_KEY_HEADER)
            .iter()
            .map(|v| v.as_bytes())
            .collect();
        let token = extract_token(&auth, &keys).map_err(|f| ApiError::from(f.denial))?;
        let app = app_header(&parts.headers)?;
        if looks_like_jwt(token) {
            return session_caller(state, token, !keys.is_empty(), app, ctx).await;
        }
        let origin = origin_header(&parts.headers)?;
        let (decision, found, cred) = state.decide(token, origin, app, R::parsed(), None).await?;
        match (&found, decision.counts_usage()) {
            (Some(k), true) => ctx.attribute_key(k),
            (Some(k), false) => ctx.attribute_event_key(k),
            (None, _) => {
                // A pair whose secret is unknown still names its public key: attribute the
                // event to that key's org so support can find it.
                if let Some(pk) = cred.as_ref().and_then(Credential::public_key)
                    && let Some(k) = state.lookup_id(pk.as_str()).await?
                {
                    ctx.attribute_event(&k.org_id, Some(&k.id));
                }
            }
        }
        let scope_or_ok = match &decision.result {
            Ok(()) => true,
            Err(d) => d.code == ErrorCode::InsufficientScope,
        };
        if decision.method == Some(AuthMethod::PublicKey) && !R::PUBLIC_KEY_OK && scope_or_ok {
            let mut e = ApiError::new(
                ErrorCode::InsufficientScope,
                "A public key alone cannot use the key management API; send the secret \
                 (`Authorization: Bearer <secret>` or `<public key>:<secret>`).",
            );
            e.required_scopes = R::SCOPES.iter().map(|s| (*s).to_owned()).collect();
            return Err(e);
        }
        match (decision.result, found) {
            (Ok(()), Some(key)) => {
                ctx.attribute_required(R::SCOPES);
                Ok(Caller {
                    principal: Principal::Key(key),
                    method: decision.method.unwrap_or(AuthMethod::Secret),
                    ctx,
                    _r: PhantomData,
                })
            }
            (Err(denial), _) => Err(ApiError::from(denial)),
            (Ok(()), None) => Err(ApiError::of(ErrorCode::InvalidKey)),
        }
    }
}

/// A request made with a session token: `Authorization: Bearer <jwt>` only, and only when
/// sessions are on; then the same decision `/v1/verify` explains ([`AppState::decide_session`]).
/// The caller is told `invalid_token` or `token_expired`, never which check failed.
async fn session_caller<R: Requirement>(
    state: &AppState,
    token: &str,
    in_api_key: bool,
    app: Option<&str>,
    ctx: Arc<ReqCtx>,
) -> Result<Caller<R>, ApiError> {
    if in_api_key {
        return Err(ApiError::new(
            ErrorCode::MalformedCredentials,
            "A session token (JWT) is accepted only as `Authorization: Bearer <token>`, not in x-api-key.",
        ));
    }
    let Some(verifier) = &state.sessions else {
        return Err(ApiError::new(ErrorCode::MalformedCredentials, SESSIONS_OFF));
    };
    let d = state
        .decide_session(verifier, token, app, R::parsed(), None)
        .await?;
    if let Some((org, user)) = &d.event {
        ctx.attribute_session_event(org, user.as_deref());
    }
    match (d.decision.result, d.principal) {
        (Ok(()), Some(p)) => {
            ctx.attribute_required(R::SCOPES);
            Ok(Caller {
                principal: Principal::Session(p),
                method: AuthMethod::Session,
                ctx,
                _r: PhantomData,
            })
        }
        (Err(denial), _) => Err(ApiError::from(denial)),
        (Ok(()), None) => Err(ApiError::of(ErrorCode::InvalidToken)),
    }
}

/// What a JWT gets from a service without `--jwks`.
pub const SESSIONS_OFF: &str =
    "This service does not accept session tokens (JWT); send an API key.";

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::Ipv4Addr;

    fn ip(i: u32) -> IpAddr {
        IpAddr::V4(Ipv4Addr::from(i))
    }

    #[test]
    fn the_limiter_never_tracks_more_than_its_capacity() {
        let now = Utc::now();
        let l = Limiter::with_capacity(2, 4);
        // Two blocked addresses.
        for a in [1, 2] {
            l.failed(ip(a), now);
            l.failed(ip(a), now);
            assert!(l.blocked(ip(a), now).is_some());
        }
        // Many more addresses in the same window, each failing once.
        for a in 10..1000 {
            l.failed(ip(a), now);
            assert!(l.tracked() <= 4);
        }
        // Blocked addresses were not the ones evicted.
        assert!(l.blocked(ip(1), now).is_some());
        assert!(l.blocked(ip(2), now).is_some());
        // When every tracked address is blocked, a new one is not tracked.
        let full = Limiter::with_capacity(1, 2);
        full.failed(ip(1), now);
        full.failed(ip(2), now);
        full.failed(ip(3), now);
        assert_eq!(full.tracked(), 2);
        assert!(full.blocked(ip(3), now).is_none());
        // A new window frees the stale entries.
        let later = now + chrono::Duration::seconds(120);
        full.failed(ip(3), later);
        assert!(full.blocked(ip(3), later).is_some());
        assert!(full.tracked() <= 2);
    }
}
