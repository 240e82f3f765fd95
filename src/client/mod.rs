//! Typed HTTP client for every endpoint of the key API. [`ClientError`] keeps the status
//! and the parsed error body, so callers branch on `code` rather than on strings.
//!
//! The token is held as a [`Secret`]: it goes only into the `Authorization` header, never
//! into a URL, an error or `Debug` output.

use std::time::Duration;

use reqwest::{Method, StatusCode};
use serde::Serialize;
use serde::de::DeserializeOwned;

pub mod ack;
pub mod renew;

use std::sync::Arc;

use crate::api::{
    App, AuditEntry, AuditQuery, AuthEvent, AuthEventsQuery, CreateAppRequest, CreateKeyRequest,
    CreateKeyResponse, ErrorBody, InstancesResponse, KeyObject, KeyUsage, LeakReport, LeakResults,
    LeakSighting, ListKeysQuery, MeResponse, OrgUsage, Page, PageQuery, Review, ReviewQuery,
    RotateRequest, RotateResponse, ScopeUsage, ScopeUsageQuery, ScopesResponse, UpdateKeyRequest,
    UsageQuery, VerifyRequest, VerifyResponse, paths,
};
use crate::domain::decision::ErrorCode;
use crate::domain::key::Secret;

/// Why a call failed.
#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    /// The server answered with an error body.
    #[error("{} ({}): {}", body.error.code, status, body.error.message)]
    Api {
        /// HTTP status.
        status: u16,
        /// The parsed error body.
        body: Box<ErrorBody>,
    },
    /// The server answered non-2xx without an error body (a proxy, another service).
    #[error("unexpected HTTP {status} from the server: {snippet}")]
    Unexpected {
        /// HTTP status.
        status: u16,
        /// The start of the body.
        snippet: String,
    },
    /// Nothing answered at the URL.
    #[error("cannot reach {url}: {reason}")]
    Connect {
        /// The base URL.
        url: String,
        /// Why.
        reason: String,
    },
    /// The server did not answer in time.
    #[error("{url} did not answer within {secs} s")]
    Timeout {
        /// The base URL.
        url: String,
        /// The timeout.
        secs: u64,
    },
    /// A 2xx body that did not parse.
    #[error("the server's answer did not parse: {0}")]
    Decode(String),
    /// The base URL is unusable.
    #[error("invalid server URL `{0}`: use http://host:port or https://host")]
    BadUrl(String),
    /// No token configured.
    #[error("no API token: set KEYCONSOLE_TOKEN or configure a profile")]
    NoToken,
    /// The server refused the session's JWT (401) and renewing it did not help: the token
    /// source failed, or the server refused the new token too ([`renew`]).
    #[error("the session expired ({code}) and renewing it failed: {reason}")]
    SessionExpired {
        /// The server's code for the last refusal (`token_expired`, `invalid_token`).
        code: String,
        /// Why renewing failed (the token source's error, or the second refusal).
        reason: String,
    },
}

impl ClientError {
    /// The error code, when the server sent one.
    pub fn code(&self) -> Option<ErrorCode> {
        match self {
            ClientError::Api { body, .. } => body.error.error_code(),
            _ => None,
        }
    }

    /// The HTTP status, when there was an answer.
    pub fn status(&self) -> Option<u16> {
        match self {
            ClientError::Api { status, .. } | ClientError::Unexpected { status, .. } => {
                Some(*status)
            }
            ClientError::SessionExpired { .. } => Some(401),
            _ => None,
        }
    }

    /// The server's code as sent (`unauthorized` when there was none).
    fn code_str(&self) -> String {
        match self {
            ClientError::Api { body, .. } => body.error.code.clone(),
            _ => "unauthorized".to_owned(),
        }
    }

    /// The request id, when the server sent an error body.
    pub fn request_id(&self) -> Option<&str> {
        match self {
            ClientError::Api { body, .. } => Some(&body.error.request_id),
            _ => None,
        }
    }

    /// Whether the server could not be reached at all.
    pub fn is_unreachable(&self) -> bool {
        matches!(
            self,
            ClientError::Connect { .. } | ClientError::Timeout { .. }
        )
    }
}

/// Result alias.
pub type ClientResult<T> = Result<T, ClientError>;

/// A raw response, for the request tester.
#[derive(Debug, Clone)]
pub struct RawResponse {
    /// HTTP status.
    pub status: u16,
    /// Headers, in order.
    pub headers: Vec<(String, String)>,
    /// Body text.
    pub body: String,
    /// Time to the full body.
    pub elapsed: Duration,
}

/// The client.
#[derive(Clone)]
pub struct Client {
    base: String,
    http: reqwest::Client,
    token: Option<Secret>,
    /// Set for a session whose token can be renewed (`token_command`): then the token sent
    /// is the renewal's, not `token`.
    renewal: Option<Arc<renew::Renewal>>,
    timeout: Duration,
}

impl std::fmt::Debug for Client {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Client")
            .field("base", &self.base)
            .field("token", &self.token.as_ref().map(|_| "[redacted]"))
            .field("renewable", &self.renewal.is_some())
            .finish()
    }
}

impl Client {
    /// A client for `base` (e.g. `http://127.0.0.1:7878`), authenticating with `token`.
    pub fn new(base: &str, token: Option<Secret>) -> ClientResult<Client> {
        let base = base.trim().trim_end_matches('/').to_owned();
        let parsed = reqwest::Url::parse(&base).map_err(|_| ClientError::BadUrl(base.clone()))?;
        if !matches!(parsed.scheme(), "http" | "https") || parsed.host_str().is_none() {
            return Err(ClientError::BadUrl(base));
        }
        let timeout = Duration::from_secs(15);
        let http = reqwest::Client::builder()
            .connect_timeout(Duration::from_secs(5))
            .timeout(timeout)
            .user_agent(concat!("keyconsole/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|e| ClientError::Connect {
                url: base.clone(),
                reason: e.to_string(),
            })?;
        Ok(Client {
            base,
            http,
            token,
            renewal: None,
            timeout,
        })
    }

    /// The base URL.
    pub fn base_url(&self) -> &str {
        &self.base
    }

    /// A copy using another token (never renewed).
    pub fn with_token(&self, token: Option<Secret>) -> Client {
        Client {
            token,
            renewal: None,
            ..self.clone()
        }
    }

    /// This client, renewing its token from `source` when the server refuses it as a
    /// session JWT ([`renew`]). Without a token it is unchanged.
    pub fn with_renewal(self, source: renew::TokenSource) -> Client {
        let renewal = self
            .token
            .clone()
            .map(|t| Arc::new(renew::Renewal::new(t, source)));
        Client { renewal, ..self }
    }

    /// The token to send now, with its renewal generation.
    fn current_token(&self) -> ClientResult<(u64, Secret)> {
        match &self.renewal {
            Some(r) => Ok(r.current()),
            None => self
                .token
                .clone()
                .map(|t| (0, t))
                .ok_or(ClientError::NoToken),
        }
    }

    fn transport(&self, e: &reqwest::Error) -> ClientError {
        if e.is_timeout() {
            ClientError::Timeout {
                url: self.base.clone(),
                secs: self.timeout.as_secs(),
            }
        } else {
            let mut reason = e.to_string();
            let mut src = std::error::Error::source(e);
            while let Some(s) = src {
                reason = s.to_string();
                src = s.source();
            }
            ClientError::Connect {
                url: self.base.clone(),
                reason,
            }
        }
    }

    async fn call<B: Serialize, Q: Serialize, T: DeserializeOwned>(
        &self,
        method: Method,
        path: &str,
        query: Option<&Q>,
        body: Option<&B>,
        headers: &[(&str, String)],
    ) -> ClientResult<(T, reqwest::header::HeaderMap)> {
        let (generation, token) = self.current_token()?;
        let first = self
            .call_with(&token, method.clone(), path, query, body, headers)
            .await;
        let Some(renewal) = &self.renewal else {
            return first;
        };
        let refused = match &first {
            Err(e @ ClientError::Api { status: 401, .. })
                if crate::domain::jwt::looks_like_jwt(token.expose()) =>
            {
                e.code_str()
            }
            _ => return first,
        };
        let (_, fresh) =
            renewal
                .renew(generation)
                .await
                .map_err(|reason| ClientError::SessionExpired {
                    code: refused.clone(),
                    reason,
                })?;
        match self
            .call_with(&fresh, method, path, query, body, headers)
            .await
        {
            Err(e @ ClientError::Api { status: 401, .. }) => Err(ClientError::SessionExpired {
                reason: format!(
                    "the server refused the renewed token too ({})",
                    e.code_str()
                ),
                code: refused,
            }),
            other => other,
        }
    }

    /// One attempt of [`Client::call`] with `token`.
    async fn call_with<B: Serialize, Q: Serialize, T: DeserializeOwned>(
        &self,
        token: &Secret,
        method: Method,
        path: &str,
        query: Option<&Q>,
        body: Option<&B>,
        headers: &[(&str, String)],
    ) -> ClientResult<(T, reqwest::header::HeaderMap)> {
        let mut req = self
            .http
            .request(method, format!("{}{}", self.base, path))
            .bearer_auth(token.expose());
        if let Some(q) = query {
            req = req.query(q);
        }
        if let Some(b) = body {
            req = req.json(b);
        }
        for (k, v) in headers {
            req = req.header(*k, v);
        }
        let resp = req.send().await.map_err(|e| self.transport(&e))?;
        let status = resp.status();
        let headers = resp.headers().clone();
        let bytes = resp.bytes().await.map_err(|e| self.transport(&e))?;
        if status.is_success() {
            let text: &[u8] = if status == StatusCode::NO_CONTENT || bytes.is_empty() {
                b"null"
            } else {
                &bytes
            };
            let v = serde_json::from_slice(text).map_err(|e| ClientError::Decode(e.to_string()))?;
            return Ok((v, headers));
        }
        match serde_json::from_slice::<ErrorBody>(&bytes) {
            Ok(body) => Err(ClientError::Api {
                status: status.as_u16(),
                body: Box::new(body),
            }),
            Err(_) => Err(ClientError::Unexpected {
                status: status.as_u16(),
                snippet: String::from_utf8_lossy(&bytes[..bytes.len().min(200)]).into_owned(),
            }),
        }
    }

    async fn get<Q: Serialize, T: DeserializeOwned>(
        &self,
        path: &str,
        q: Option<&Q>,
    ) -> ClientResult<T> {
        self.call::<(), Q, T>(Method::GET, path, q, None, &[])
            .await
            .map(|(v, _)| v)
    }

    async fn send<B: Serialize, T: DeserializeOwned>(
        &self,
        method: Method,
        path: &str,
        body: &B,
    ) -> ClientResult<T> {
        self.call::<B, (), T>(method, path, None, Some(body), &[])
            .await
            .map(|(v, _)| v)
    }

    /// `GET /v1/me`
    pub async fn me(&self) -> ClientResult<MeResponse> {
        self.get::<(), _>(paths::ME, None).await
    }

    /// `GET /v1/keys`
    pub async fn list_keys(&self, q: &ListKeysQuery) -> ClientResult<Page<KeyObject>> {
        self.get(paths::KEYS, Some(q)).await
    }

    /// `POST /v1/keys`
    pub async fn create_key(&self, req: &CreateKeyRequest) -> ClientResult<CreateKeyResponse> {
        self.send(Method::POST, paths::KEYS, req).await
    }

    /// `GET /v1/keys/{id}`
    pub async fn get_key(&self, id: &str) -> ClientResult<KeyObject> {
        self.get::<(), _>(&paths::with_id(paths::KEY, &encode_segment(id)), None)
            .await
    }

    /// `PATCH /v1/keys/{id}`, with `If-Match` when `version` is given.
    pub async fn update_key(
        &self,
        id: &str,
        req: &UpdateKeyRequest,
        version: Option<i64>,
    ) -> ClientResult<KeyObject> {
        self.update_key_change(id, req, version)
            .await
            .map(|(v, _)| v)
    }

    /// [`Client::update_key`], with the change's number (`x-keyconsole-change`) for
    /// [`ack::wait_applied`].
    pub async fn update_key_change(
        &self,
        id: &str,
        req: &UpdateKeyRequest,
        version: Option<i64>,
    ) -> ClientResult<(KeyObject, Option<i64>)> {
        let headers: Vec<(&str, String)> = version
            .map(|v| vec![("if-match", format!("\"{v}\""))])
            .unwrap_or_default();
        self.call::<_, (), _>(
            Method::PATCH,
            &paths::with_id(paths::KEY, &encode_segment(id)),
            None,
            Some(req),
            &headers,
        )
        .await
        .map(|(v, h)| (v, change_of(&h)))
    }

    /// `DELETE /v1/keys/{id}`
    pub async fn delete_key(&self, id: &str) -> ClientResult<()> {
        self.delete_key_change(id).await.map(|_| ())
    }

    /// [`Client::delete_key`], with the change's number.
    pub async fn delete_key_change(&self, id: &str) -> ClientResult<Option<i64>> {
        self.call::<(), (), ()>(
            Method::DELETE,
            &paths::with_id(paths::KEY, &encode_segment(id)),
            None,
            None,
            &[],
        )
        .await
        .map(|(_, h)| change_of(&h))
    }

    /// `POST /v1/keys/{id}/rotate`
    pub async fn rotate_key(&self, id: &str, req: &RotateRequest) -> ClientResult<RotateResponse> {
        self.rotate_key_change(id, req).await.map(|(v, _)| v)
    }

    /// [`Client::rotate_key`], with the change's number.
    pub async fn rotate_key_change(
        &self,
        id: &str,
        req: &RotateRequest,
    ) -> ClientResult<(RotateResponse, Option<i64>)> {
        self.call::<_, (), _>(
            Method::POST,
            &paths::with_id(paths::KEY_ROTATE, &encode_segment(id)),
            None,
            Some(req),
            &[],
        )
        .await
        .map(|(v, h)| (v, change_of(&h)))
    }

    /// `GET /v1/instances`
    pub async fn instances(&self) -> ClientResult<InstancesResponse> {
        self.get::<(), _>(paths::INSTANCES, None).await
    }

    /// `GET /v1/keys/{id}/usage`
    pub async fn key_usage(&self, id: &str, q: &UsageQuery) -> ClientResult<KeyUsage> {
        self.get(
            &paths::with_id(paths::KEY_USAGE, &encode_segment(id)),
            Some(q),
        )
        .await
    }

    /// `GET /v1/usage`
    pub async fn org_usage(&self, q: &UsageQuery) -> ClientResult<OrgUsage> {
        self.get(paths::USAGE, Some(q)).await
    }

    /// `GET /v1/auth-events`
    pub async fn auth_events(&self, q: &AuthEventsQuery) -> ClientResult<Page<AuthEvent>> {
        self.get(paths::AUTH_EVENTS, Some(q)).await
    }

    /// `GET /v1/audit`
    pub async fn audit(&self, q: &AuditQuery) -> ClientResult<Page<AuditEntry>> {
        self.get(paths::AUDIT, Some(q)).await
    }

    /// `GET /v1/scopes`
    pub async fn scopes(&self) -> ClientResult<ScopesResponse> {
        self.get::<(), _>(paths::SCOPES, None).await
    }

    /// `GET /v1/apps`
    pub async fn list_apps(&self, q: &PageQuery) -> ClientResult<Page<App>> {
        self.get(paths::APPS, Some(q)).await
    }

    /// `POST /v1/apps`
    pub async fn create_app(&self, req: &CreateAppRequest) -> ClientResult<App> {
        self.send(Method::POST, paths::APPS, req).await
    }

    /// `POST /v1/verify`
    pub async fn verify(&self, req: &VerifyRequest) -> ClientResult<VerifyResponse> {
        self.send(Method::POST, paths::VERIFY, req).await
    }

    /// `POST /v1/leaks`
    pub async fn report_leaks(&self, req: &LeakReport) -> ClientResult<LeakResults> {
        self.send(Method::POST, paths::LEAKS, req).await
    }

    /// `GET /v1/keys/{id}/leaks`
    pub async fn key_leaks(&self, id: &str, q: &PageQuery) -> ClientResult<Page<LeakSighting>> {
        self.get(
            &paths::with_id(paths::KEY_LEAKS, &encode_segment(id)),
            Some(q),
        )
        .await
    }

    /// `GET /v1/keys/{id}/scope-usage`
    pub async fn scope_usage(&self, id: &str, q: &ScopeUsageQuery) -> ClientResult<ScopeUsage> {
        self.get(
            &paths::with_id(paths::KEY_SCOPE_USAGE, &encode_segment(id)),
            Some(q),
        )
        .await
    }

    /// `GET /v1/review`
    pub async fn review(&self, q: &ReviewQuery) -> ClientResult<Review> {
        self.get(paths::REVIEW, Some(q)).await
    }

    /// `GET /healthz` (no token needed).
    pub async fn healthz(&self) -> ClientResult<()> {
        let resp = self
            .http
            .get(format!("{}{}", self.base, paths::HEALTHZ))
            .send()
            .await
            .map_err(|e| self.transport(&e))?;
        if resp.status().is_success() {
            Ok(())
        } else {
            Err(ClientError::Unexpected {
                status: resp.status().as_u16(),
                snippet: String::new(),
            })
        }
    }

    /// Send an arbitrary request exactly as given (the request tester). The headers are sent
    /// as written, so the caller decides which credential header, if any, goes out.
    pub async fn raw(
        &self,
        method: &str,
        url: &str,
        headers: &[(String, String)],
        body: Option<String>,
    ) -> ClientResult<RawResponse> {
        let method = Method::from_bytes(method.trim().to_ascii_uppercase().as_bytes())
            .map_err(|_| ClientError::BadUrl(format!("method {method}")))?;
        let url =
            reqwest::Url::parse(url.trim()).map_err(|_| ClientError::BadUrl(url.to_owned()))?;
        let mut req = self.http.request(method, url);
        for (k, v) in headers {
            req = req.header(k.as_str(), v.as_str());
        }
        if let Some(b) = body {
            req = req.body(b);
        }
        let started = std::time::Instant::now();
        let resp = req.send().await.map_err(|e| self.transport(&e))?;
        let status = resp.status().as_u16();
        let headers = resp
            .headers()
            .iter()
            .map(|(k, v)| {
                (
                    k.to_string(),
                    String::from_utf8_lossy(v.as_bytes()).into_owned(),
                )
            })
            .collect();
        let body = resp.text().await.map_err(|e| self.transport(&e))?;
        Ok(RawResponse {
            status,
            headers,
            body,
            elapsed: started.elapsed(),
        })
    }
}

/// The `x-keyconsole-change` of an answer.
fn change_of(h: &reqwest::header::HeaderMap) -> Option<i64> {
    h.get(crate::api::CHANGE_HEADER)?
        .to_str()
        .ok()?
        .parse()
        .ok()
}

/// Percent-encode a path segment (ids are base62, but user input may be anything).
fn encode_segment(s: &str) -> String {
    form_urlencoded::byte_serialize(s.as_bytes())
        .collect::<String>()
        .replace('+', "%20")
}
