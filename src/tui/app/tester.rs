//! The request tester: build a request with any credential form, lint it offline, send it,
//! see the answer, and for a 401/403 from the key service the server's decision trace with
//! the failing step and the fix. Copy as cURL puts `$API_KEY` where the secret was.
//!
//! A session token (API.md §8) goes as `Authorization: Bearer <jwt>`, the only form the
//! service takes one in: its offline check is the JWT lint (header, claims, what the service
//! would refuse; the signature is never verified here), and the fix after a refusal follows
//! the session's codes and trace steps.
//!
//! The credential is held as a [`Secret`] (zeroized, redacted `Debug`) and shown masked.

use chrono::{DateTime, Utc};
use tui_input::{Input, InputRequest};

use crate::api::VerifyResponse;
use crate::domain::jwt::looks_like_jwt;
use crate::domain::jwt_lint::{JwtLintContext, JwtReport, lint_jwt};
use crate::domain::key::{Env, Secret};
use crate::domain::lint::{Finding, LintContext, Severity, lint_headers, rule};

use super::Loadable;

/// How the credential is sent.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CredForm {
    /// `Authorization: Bearer <secret>`.
    BearerSecret,
    /// `Authorization: Bearer <pk>:<secret>`.
    BearerPair,
    /// `x-api-key: <secret>`.
    ApiKey,
    /// `Authorization: Bearer <pk>` with an `Origin`.
    PublicKey,
    /// `Authorization: Bearer <jwt>`: a signed-in user's session token (API.md §8).
    BearerJwt,
    /// No credential header.
    None,
}

impl CredForm {
    /// All, in cycle order.
    pub const ALL: [CredForm; 6] = [
        CredForm::BearerSecret,
        CredForm::BearerPair,
        CredForm::ApiKey,
        CredForm::PublicKey,
        CredForm::BearerJwt,
        CredForm::None,
    ];

    /// Label.
    pub fn label(self) -> &'static str {
        match self {
            CredForm::BearerSecret => "Authorization: Bearer <secret>",
            CredForm::BearerPair => "Authorization: Bearer <pk>:<secret>",
            CredForm::ApiKey => "x-api-key: <secret>",
            CredForm::PublicKey => "Authorization: Bearer <pk> + Origin",
            CredForm::BearerJwt => "Authorization: Bearer <jwt>",
            CredForm::None => "no credential",
        }
    }
}

/// Tester fields, in focus order.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TField {
    /// HTTP method.
    Method,
    /// Full URL.
    Url,
    /// Credential form.
    Form,
    /// Public key (pair and public-key forms).
    PublicKey,
    /// The secret (masked).
    Credential,
    /// `Origin`.
    Origin,
    /// `x-app-id`.
    AppId,
    /// Extra headers, `Name: value; Name: value`.
    Headers,
    /// Body.
    Body,
    /// Send.
    Send,
    /// Look up a request id.
    RequestId,
}

impl TField {
    /// Focus order.
    pub const ORDER: [TField; 11] = [
        TField::Method,
        TField::Url,
        TField::Form,
        TField::PublicKey,
        TField::Credential,
        TField::Origin,
        TField::AppId,
        TField::Headers,
        TField::Body,
        TField::Send,
        TField::RequestId,
    ];

    /// Label.
    pub fn label(self) -> &'static str {
        match self {
            TField::Method => "Method",
            TField::Url => "URL",
            TField::Form => "Credential form",
            TField::PublicKey => "Public key",
            TField::Credential => "Secret",
            TField::Origin => "Origin",
            TField::AppId => "x-app-id",
            TField::Headers => "Extra headers",
            TField::Body => "Body",
            TField::Send => "",
            TField::RequestId => "Look up req id",
        }
    }

    /// Whether typing edits this field.
    pub fn is_text(self) -> bool {
        !matches!(self, TField::Form | TField::Send)
    }
}

/// A response as the tester shows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TesterResponse {
    /// Status.
    pub status: u16,
    /// Milliseconds to the full body.
    pub elapsed_ms: u128,
    /// Headers.
    pub headers: Vec<(String, String)>,
    /// Body, pretty-printed when JSON.
    pub body: String,
    /// The key service's error code, if the body is its error shape.
    pub code: Option<String>,
    /// `required_scopes` of an `insufficient_scope` body.
    pub required_scopes: Vec<String>,
    /// `x-request-id`.
    pub request_id: Option<String>,
}

impl TesterResponse {
    /// From a raw response.
    pub fn from_raw(
        status: u16,
        elapsed_ms: u128,
        headers: Vec<(String, String)>,
        body: &str,
    ) -> TesterResponse {
        let parsed: Option<serde_json::Value> = serde_json::from_str(body).ok();
        let pretty = parsed
            .as_ref()
            .and_then(|v| serde_json::to_string_pretty(v).ok())
            .unwrap_or_else(|| body.to_owned());
        let err = parsed.as_ref().and_then(|v| v.get("error"));
        let code = err
            .and_then(|e| e.get("code"))
            .and_then(|c| c.as_str())
            .map(str::to_owned);
        let required_scopes = err
            .and_then(|e| e.get("required_scopes"))
            .and_then(|r| r.as_array())
            .map(|a| {
                a.iter()
                    .filter_map(|s| s.as_str().map(str::to_owned))
                    .collect()
            })
            .unwrap_or_default();
        let request_id = headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case("x-request-id"))
            .map(|(_, v)| v.clone());
        TesterResponse {
            status,
            elapsed_ms,
            headers,
            body: pretty,
            code,
            required_scopes,
            request_id,
        }
    }
}

/// One sent request, for the session history (never the secret).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HistoryEntry {
    /// Method.
    pub method: String,
    /// URL.
    pub url: String,
    /// Form.
    pub form: CredForm,
    /// Origin.
    pub origin: String,
    /// App.
    pub app_id: String,
    /// Extra headers.
    pub headers: String,
    /// Body.
    pub body: String,
    /// Status (or 0 when it failed to send).
    pub status: u16,
    /// When.
    pub at: DateTime<Utc>,
}

/// The tester.
#[derive(Debug, Clone)]
pub struct Tester {
    /// Method.
    pub method: Input,
    /// URL.
    pub url: Input,
    /// Credential form.
    pub form: CredForm,
    /// Public key.
    pub pk: Input,
    /// The secret.
    pub secret: Secret,
    /// Origin.
    pub origin: Input,
    /// x-app-id.
    pub app_id: Input,
    /// Extra headers.
    pub headers: Input,
    /// Body.
    pub body: Input,
    /// Request id to look up.
    pub request_id: Input,
    /// Focus.
    pub focus: TField,
    /// A request is in flight.
    pub sending: bool,
    /// Last response, or why sending failed.
    pub response: Option<Result<TesterResponse, String>>,
    /// The server's decision trace for the last 401/403.
    pub diagnosis: Loadable<VerifyResponse>,
    /// Response scroll.
    pub scroll: u16,
    /// Requests sent this session.
    pub history: Vec<HistoryEntry>,
    /// Position while recalling history.
    pub recall: Option<usize>,
    /// The request was edited after the last answer: that answer (and its diagnosis) no
    /// longer describe what would be sent.
    pub edited: bool,
    /// A one-line note inside the tester (e.g. what `Ctrl-y` did), since the tester covers
    /// the toast row.
    pub note: Option<String>,
}

/// Headers whose values are credentials, masked on screen.
pub fn is_credential_header(name: &str) -> bool {
    [
        "authorization",
        "x-api-key",
        "proxy-authorization",
        "cookie",
    ]
    .iter()
    .any(|h| name.eq_ignore_ascii_case(h))
}

/// Capacity reserved for the secret so typing never reallocates (and leaves copies).
const SECRET_CAPACITY: usize = 512;

impl Tester {
    /// The key contexts the tester reports: typing keys first while a field is edited.
    pub fn contexts(&self) -> Vec<crate::tui::keymap::Context> {
        use crate::tui::keymap::Context;
        if self.focus.is_text() {
            vec![Context::TesterText, Context::Tester]
        } else {
            vec![Context::Tester]
        }
    }

    /// A tester aimed at `base` + `/v1/me`, with a public key filled in.
    pub fn new(base: &str, pk: Option<&str>) -> Tester {
        let mut s = String::with_capacity(SECRET_CAPACITY);
        s.clear();
        Tester {
            method: Input::new("GET".into()),
            url: Input::new(format!("{}/v1/me", base.trim_end_matches('/'))),
            form: if pk.is_some() {
                CredForm::BearerPair
            } else {
                CredForm::BearerSecret
            },
            pk: Input::new(pk.unwrap_or_default().to_owned()),
            secret: Secret::new(s),
            origin: Input::default(),
            app_id: Input::default(),
            headers: Input::default(),
            body: Input::default(),
            request_id: Input::default(),
            focus: TField::Credential,
            sending: false,
            response: None,
            diagnosis: Loadable::Idle,
            scroll: 0,
            history: Vec::new(),
            recall: None,
            edited: false,
            note: None,
        }
    }

    /// A field's label under the current form: the credential is a "JWT" in the session form.
    pub fn label(&self, f: TField) -> &'static str {
        match f {
            TField::Credential if self.form == CredForm::BearerJwt => "JWT",
            _ => f.label(),
        }
    }

    /// Whether a field is used by the current form.
    pub fn has(&self, f: TField) -> bool {
        match f {
            TField::PublicKey => matches!(self.form, CredForm::BearerPair | CredForm::PublicKey),
            TField::Credential => !matches!(self.form, CredForm::PublicKey | CredForm::None),
            _ => true,
        }
    }

    /// Move focus.
    pub fn step(&mut self, forward: bool) {
        let fields: Vec<TField> = TField::ORDER
            .iter()
            .copied()
            .filter(|f| self.has(*f))
            .collect();
        self.focus = super::cycle(&fields, self.focus, forward);
    }

    /// Cycle the credential form.
    pub fn cycle_form(&mut self, forward: bool) {
        if self.response.is_some() {
            self.edited = true;
        }
        self.form = super::cycle(&CredForm::ALL, self.form, forward);
    }

    /// Apply an edit to the focused field.
    pub fn edit(&mut self, req: InputRequest) {
        let moves = matches!(
            req,
            InputRequest::GoToPrevChar
                | InputRequest::GoToNextChar
                | InputRequest::GoToStart
                | InputRequest::GoToEnd
                | InputRequest::GoToPrevWord
                | InputRequest::GoToNextWord
        );
        if !moves && self.response.is_some() && self.focus != TField::RequestId {
            self.edited = true;
        }
        let input = match self.focus {
            TField::Method => &mut self.method,
            TField::Url => &mut self.url,
            TField::PublicKey => &mut self.pk,
            TField::Origin => &mut self.origin,
            TField::AppId => &mut self.app_id,
            TField::Headers => &mut self.headers,
            TField::Body => &mut self.body,
            TField::RequestId => &mut self.request_id,
            TField::Credential => {
                self.edit_secret(req);
                return;
            }
            TField::Form | TField::Send => return,
        };
        input.handle(req);
    }

    fn edit_secret(&mut self, req: InputRequest) {
        let mut s = String::with_capacity(SECRET_CAPACITY);
        s.push_str(self.secret.expose());
        match req {
            InputRequest::InsertChar(c) if s.len() < SECRET_CAPACITY - 4 => s.push(c),
            InputRequest::DeletePrevChar => {
                s.pop();
            }
            InputRequest::DeleteLine
            | InputRequest::DeletePrevWord
            | InputRequest::DeleteFromStart => s.clear(),
            _ => {}
        }
        // The old buffer is zeroized when the previous Secret drops.
        self.secret = Secret::new(s);
    }

    /// Paste into the focused field. A JWT pasted as the secret of a form that cannot carry
    /// one (the pair, x-api-key) switches to `Authorization: Bearer <jwt>`: the service takes a
    /// session token only that way (API.md §8) and refuses the others as malformed.
    pub fn paste(&mut self, text: &str) {
        for c in text.chars() {
            // Keep what was pasted, whitespace included, so the lint can point at it; only
            // line breaks are dropped from single-line fields.
            if c != '\n' && c != '\r' {
                self.edit(InputRequest::InsertChar(c));
            }
        }
        if self.focus == TField::Credential
            && matches!(self.form, CredForm::BearerPair | CredForm::ApiKey)
            && looks_like_jwt(self.secret.expose().trim())
        {
            self.form = CredForm::BearerJwt;
            self.note = Some(
                "That is a JWT: the form is now Authorization: Bearer <jwt>, the only one the service takes it in."
                    .to_owned(),
            );
        }
    }

    /// The credential token as the chosen form puts it after `Bearer ` (or in x-api-key).
    pub fn token(&self) -> Option<Secret> {
        let pk = self.pk.value();
        let s = self.secret.expose();
        match self.form {
            CredForm::BearerSecret | CredForm::ApiKey | CredForm::BearerJwt => {
                Some(Secret::new(s.to_owned()))
            }
            CredForm::BearerPair => Some(Secret::new(format!("{pk}:{s}"))),
            CredForm::PublicKey => Some(Secret::new(pk.to_owned())),
            CredForm::None => None,
        }
    }

    /// The extra headers as typed, with the values of credential headers masked.
    pub fn headers_masked(&self) -> String {
        self.headers
            .value()
            .split(';')
            .map(|h| match h.split_once(':') {
                Some((k, v)) if is_credential_header(k.trim()) && !v.trim().is_empty() => {
                    format!("{k}: {}", crate::tui::views::masked(v.trim()))
                }
                _ => h.to_owned(),
            })
            .collect::<Vec<_>>()
            .join(";")
    }

    /// Extra headers parsed from `Name: value; Name: value`.
    pub fn extra_headers(&self) -> Vec<(String, String)> {
        self.headers
            .value()
            .split(';')
            .filter_map(|h| h.split_once(':'))
            .map(|(k, v)| (k.trim().to_owned(), v.trim().to_owned()))
            .filter(|(k, _)| !k.is_empty())
            .collect()
    }

    /// The credential headers exactly as they will be sent: (Authorization, x-api-key).
    pub fn credential_headers(&self) -> (Option<Secret>, Option<Secret>) {
        let token = self.token();
        let (mut auth, mut key) = match self.form {
            CredForm::ApiKey => (None, token),
            CredForm::None => (None, None),
            _ => (
                token.map(|t| Secret::new(format!("Bearer {}", t.expose()))),
                None,
            ),
        };
        for (k, v) in self.extra_headers() {
            if k.eq_ignore_ascii_case("authorization") {
                auth = Some(Secret::new(v));
            } else if k.eq_ignore_ascii_case("x-api-key") {
                key = Some(Secret::new(v));
            }
        }
        (auth, key)
    }

    /// Every header to send; values are secrets because credential headers are.
    pub fn request_headers(&self) -> Vec<(String, Secret)> {
        let (auth, key) = self.credential_headers();
        let mut out = Vec::new();
        if let Some(a) = auth {
            out.push(("authorization".to_owned(), a));
        }
        if let Some(k) = key {
            out.push(("x-api-key".to_owned(), k));
        }
        if !self.origin.value().trim().is_empty() {
            out.push((
                "origin".to_owned(),
                Secret::new(self.origin.value().trim().to_owned()),
            ));
        }
        if !self.app_id.value().trim().is_empty() {
            out.push((
                "x-app-id".to_owned(),
                Secret::new(self.app_id.value().trim().to_owned()),
            ));
        }
        for (k, v) in self.extra_headers() {
            if !k.eq_ignore_ascii_case("authorization") && !k.eq_ignore_ascii_case("x-api-key") {
                out.push((k, Secret::new(v)));
            }
        }
        if !self.body.value().is_empty()
            && !out
                .iter()
                .any(|(k, _)| k.eq_ignore_ascii_case("content-type"))
        {
            out.push((
                "content-type".to_owned(),
                Secret::new("application/json".to_owned()),
            ));
        }
        out
    }

    /// The session token the request carries as `Authorization: Bearer <jwt>`, exactly as
    /// it follows `Bearer ` (surrounding whitespace kept): whatever is in the JWT form, or a
    /// JWT in the secret-alone form.
    pub fn sent_jwt(&self) -> Option<Secret> {
        let (auth, _) = self.credential_headers();
        let auth = auth?;
        let v = auth.expose();
        let token = v
            .get(..7)
            .filter(|p| p.eq_ignore_ascii_case("bearer "))
            .map(|_| &v[7..])?;
        (self.form == CredForm::BearerJwt || looks_like_jwt(token.trim()))
            .then(|| Secret::new(token.to_owned()))
    }

    /// The offline JWT lint of the session token sent, if any. Never holds the token.
    pub fn jwt_report(&self, now: DateTime<Utc>) -> Option<JwtReport> {
        self.sent_jwt()
            .map(|t| lint_jwt(t.expose(), &JwtLintContext::at(now)))
    }

    /// What the request around a session token adds to its lint: both credential headers,
    /// whitespace next to the token (the service wants exactly one space after `Bearer`).
    pub fn jwt_request_findings(&self) -> Vec<Finding> {
        let Some(token) = self.sent_jwt() else {
            return Vec::new();
        };
        let mut out = Vec::new();
        if self.credential_headers().1.is_some() {
            out.push(Finding {
                rule: rule::BOTH_HEADERS,
                severity: Severity::Error,
                message: "both Authorization and x-api-key are set; a request must carry exactly one credential".to_owned(),
                fix: "remove the x-api-key header".to_owned(),
            });
        }
        let t = token.expose();
        if t.trim().len() != t.len() {
            out.push(Finding {
                rule: rule::STRAY_WHITESPACE,
                severity: Severity::Error,
                message: "there is whitespace before or after the token; the service takes exactly one space after `Bearer` and nothing else".to_owned(),
                fix: "paste the token alone, without spaces around it".to_owned(),
            });
        }
        out
    }

    /// A JWT where the chosen form cannot carry one (the pair's secret, x-api-key).
    fn misplaced_jwt(&self) -> Option<Finding> {
        let in_form = matches!(self.form, CredForm::BearerPair | CredForm::ApiKey)
            && looks_like_jwt(self.secret.expose().trim());
        let in_header = self
            .extra_headers()
            .iter()
            .any(|(k, v)| k.eq_ignore_ascii_case("x-api-key") && looks_like_jwt(v));
        (in_form || in_header).then(|| Finding {
            rule: "jwt_not_bearer",
            severity: Severity::Error,
            message: "this is a JWT (a session token); the service takes one only as `Authorization: Bearer <jwt>` and refuses it anywhere else as malformed".to_owned(),
            fix: "choose the credential form `Authorization: Bearer <jwt>`".to_owned(),
        })
    }

    /// Offline findings for the credential as it will be sent: the JWT lint's for a session
    /// token, the key lint's otherwise.
    pub fn lint(&self, server_env: Option<Env>, now: DateTime<Utc>) -> Vec<Finding> {
        if let Some(report) = self.jwt_report(now) {
            let mut out = self.jwt_request_findings();
            out.extend(report.findings);
            return out;
        }
        let (auth, key) = self.credential_headers();
        let origin = self.origin.value().trim();
        let ctx = LintContext {
            server_env,
            needs_secret: self.form != CredForm::PublicKey,
            origin: (!origin.is_empty()).then(|| origin.to_owned()),
            ..LintContext::default()
        };
        let mut out: Vec<Finding> = self.misplaced_jwt().into_iter().collect();
        out.extend(lint_headers(
            auth.as_ref().map(Secret::expose),
            key.as_ref().map(Secret::expose),
            &ctx,
        ));
        out
    }

    /// The request as cURL, with `$API_KEY` in place of the secret.
    pub fn curl(&self) -> String {
        let quote = |s: &str| format!("'{}'", s.replace('\'', "'\\''"));
        let mut parts = vec![
            "curl -i".to_owned(),
            format!("-X {}", self.method.value().trim().to_ascii_uppercase()),
            quote(self.url.value().trim()),
        ];
        let secret = self.secret.expose();
        for (k, v) in self.request_headers() {
            let mut value = v.expose().to_owned();
            if !secret.is_empty() && value.contains(secret) {
                value = value.replace(secret, "$API_KEY");
            }
            // Double quotes so the shell expands $API_KEY.
            let header = format!("{k}: {value}").replace('"', "\\\"");
            parts.push(format!("-H \"{header}\""));
        }
        if !self.body.value().is_empty() {
            parts.push(format!("--data {}", quote(self.body.value())));
        }
        parts.join(" \\\n  ")
    }

    /// Remember a sent request (no secret).
    pub fn remember(&mut self, status: u16, at: DateTime<Utc>) {
        self.history.push(HistoryEntry {
            method: self.method.value().to_owned(),
            url: self.url.value().to_owned(),
            form: self.form,
            origin: self.origin.value().to_owned(),
            app_id: self.app_id.value().to_owned(),
            headers: self.headers.value().to_owned(),
            body: self.body.value().to_owned(),
            status,
            at,
        });
        self.recall = None;
    }

    /// Load an earlier request's fields (the secret stays as it is).
    pub fn recall_step(&mut self, older: bool) {
        if self.history.is_empty() {
            return;
        }
        let last = self.history.len() - 1;
        let i = match (self.recall, older) {
            (None, true) => last,
            (None, false) => return,
            (Some(i), true) => i.saturating_sub(1),
            (Some(i), false) if i >= last => last,
            (Some(i), false) => i + 1,
        };
        self.recall = Some(i);
        let h = self.history[i].clone();
        self.method = Input::new(h.method);
        self.url = Input::new(h.url);
        self.form = h.form;
        self.origin = Input::new(h.origin);
        self.app_id = Input::new(h.app_id);
        self.headers = Input::new(h.headers);
        self.body = Input::new(h.body);
    }
}

/// The fix for a refused session token (API.md §8): from the code and, when the server's
/// trace is known, the step that failed. `None` for codes a token gets just as a key does
/// (scopes, app, rate limits): the key's fix applies.
pub fn session_fix(code: &str, verify: Option<&VerifyResponse>) -> Option<String> {
    let failed = verify
        .and_then(|v| v.trace.iter().find(|s| !s.ok))
        .map(|s| s.step.as_str());
    let session = verify.and_then(|v| v.session.as_ref());
    let fix = match (code, failed) {
        ("malformed_credentials", _) => "This service does not take session tokens (sessions are off: `serve` needs --jwks and --jwt-issuer), so it refuses every JWT as malformed: send an API key, or use a service with sessions on.".to_owned(),
        ("token_expired", _) => {
            let when = session
                .and_then(|s| s.expires_at)
                .map(|t| format!(" (exp {})", t.format("%Y-%m-%d %H:%M UTC")))
                .unwrap_or_default();
            format!("The token has expired{when}: sign in again (or run the profile's token_command) to get a fresh token.")
        }
        ("invalid_token", Some("parse")) => "The token does not decode: paste the whole token as the identity provider issued it.".to_owned(),
        ("invalid_token", Some("signature")) => "The signature did not verify: the token must be signed by the identity provider this service trusts (`serve --jwks`), with a kid in its JWKS and an RS256, ES256 or EdDSA key (never none or HMAC).".to_owned(),
        ("invalid_token", Some("issuer")) => match session {
            Some(s) => format!("iss must be `{}`: sign in with the identity provider this service trusts.", s.issuer),
            None => "iss must be the service's --jwt-issuer: sign in with the identity provider this service trusts.".to_owned(),
        },
        ("invalid_token", Some("audience")) => match session.and_then(|s| s.audience.as_deref()) {
            Some(aud) => format!("aud must contain `{aud}`: ask the identity provider for a token meant for this service."),
            None => "aud must contain the service's --jwt-audience: ask the identity provider for a token meant for this service.".to_owned(),
        },
        ("invalid_token", Some("expiry")) => "The token is not valid yet (nbf) or has no usable exp: check the identity provider's clock and that it sets exp.".to_owned(),
        ("invalid_token", Some("org")) => {
            let claim = session.map_or("org_id", |s| s.org_claim.as_str());
            format!("The `{claim}` claim must name an organization of this service (for this check, the console's own): sign in to the right organization, and check the token has sub and {claim}.")
        }
        ("invalid_token", _) => "The service refused the session token (signature, kid, issuer, audience, claims or organization); the offline check shows what can be seen without its keys, and POST /v1/verify (keys:verify) says which step failed.".to_owned(),
        _ => return None,
    };
    Some(fix)
}

impl super::App {
    /// The tester, if open.
    pub(super) fn tester_mut(&mut self) -> Option<&mut Tester> {
        self.modals.iter_mut().rev().find_map(|m| match m {
            super::modal::Modal::Tester(t) => Some(t.as_mut()),
            _ => None,
        })
    }

    fn send_request(&mut self) -> Vec<super::Command> {
        let Some(t) = self.tester_mut() else {
            return Vec::new();
        };
        if t.sending {
            return Vec::new();
        }
        t.sending = true;
        t.edited = false;
        t.note = None;
        t.diagnosis = Loadable::Idle;
        t.scroll = 0;
        vec![super::Command::SendRequest {
            method: t.method.value().trim().to_owned(),
            url: t.url.value().trim().to_owned(),
            headers: t.request_headers(),
            body: (!t.body.value().is_empty()).then(|| t.body.value().to_owned()),
        }]
    }

    /// The tester's request answered.
    pub(super) fn tester_answered(
        &mut self,
        r: Result<TesterResponse, String>,
    ) -> Vec<super::Command> {
        let now = self.now;
        let Some(t) = self.tester_mut() else {
            return Vec::new();
        };
        t.sending = false;
        t.edited = false;
        let status = r.as_ref().map_or(0, |x| x.status);
        t.remember(status, now);
        let mut cmds = Vec::new();
        if let Ok(resp) = &r
            && matches!(resp.status, 401 | 403)
            && resp.code.is_some()
        {
            let (auth, key) = t.credential_headers();
            let token = auth
                .map(|a| {
                    let v = a.expose();
                    let stripped = v
                        .get(..7)
                        .filter(|p| p.eq_ignore_ascii_case("bearer "))
                        .map_or(v, |_| &v[7..]);
                    Secret::new(stripped.to_owned())
                })
                .or(key);
            if let Some(credential) = token {
                t.diagnosis = Loadable::Loading;
                let origin = t.origin.value().trim();
                let app = t.app_id.value().trim();
                cmds.push(super::Command::Diagnose(crate::api::VerifyRequest {
                    credential,
                    origin: (!origin.is_empty()).then(|| origin.to_owned()),
                    app_id: (!app.is_empty() && crate::domain::key::is_app_id(app))
                        .then(|| app.to_owned()),
                    required_scopes: (!resp.required_scopes.is_empty())
                        .then(|| resp.required_scopes.clone()),
                }));
            }
        }
        t.response = Some(r);
        cmds
    }

    /// Input while the tester is on top.
    pub(super) fn update_tester(&mut self, action: super::Action) -> Vec<super::Command> {
        use super::Action as A;
        let Some(t) = self.tester_mut() else {
            return Vec::new();
        };
        match action {
            A::ForceQuit => self.quit = true,
            A::Back => {
                self.modals.pop();
            }
            A::NextField | A::Down => t.step(true),
            A::PrevField | A::Up => t.step(false),
            A::Left | A::Right => {
                let fwd = action == A::Right;
                if t.focus == TField::Form {
                    t.cycle_form(fwd);
                } else {
                    t.edit(if fwd {
                        InputRequest::GoToNextChar
                    } else {
                        InputRequest::GoToPrevChar
                    });
                }
            }
            A::Toggle if t.focus == TField::Form => t.cycle_form(true),
            A::Edit(req) => t.edit(req),
            A::Paste(s) => t.paste(&s),
            A::PageDown => t.scroll = t.scroll.saturating_add(10),
            A::PageUp => t.scroll = t.scroll.saturating_sub(10),
            A::RecallOlder => t.recall_step(true),
            A::RecallNewer => t.recall_step(false),
            A::CopyCurl => {
                let curl = t.curl();
                return vec![super::Command::Copy(super::CopyWhat::Text(curl))];
            }
            A::Save | A::Send => return self.send_request(),
            A::Enter => match t.focus {
                TField::Send => return self.send_request(),
                TField::Form => t.cycle_form(true),
                TField::RequestId => {
                    let id = t.request_id.value().trim().to_owned();
                    return self.run_command(&format!("request {id}"));
                }
                _ => t.step(true),
            },
            _ => {}
        }
        Vec::new()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const S: &str = "sk_live_Kn2wPGeHIhYJuCm5HmDtruvAvr97JmBT4AbCRK";

    fn with_secret(t: &mut Tester, s: &str) {
        t.focus = TField::Credential;
        t.paste(s);
    }

    #[test]
    fn forms_build_the_right_headers() {
        let mut t = Tester::new("http://h:1/", Some("pk_live_000000000000000000000001"));
        assert_eq!(t.url.value(), "http://h:1/v1/me");
        with_secret(&mut t, S);
        let h = |t: &Tester| -> Vec<(String, String)> {
            t.request_headers()
                .into_iter()
                .map(|(k, v)| (k, v.expose().to_owned()))
                .collect()
        };
        assert_eq!(
            h(&t),
            vec![(
                "authorization".into(),
                format!("Bearer pk_live_000000000000000000000001:{S}")
            )]
        );
        t.form = CredForm::ApiKey;
        assert_eq!(h(&t), vec![("x-api-key".into(), S.into())]);
        t.form = CredForm::PublicKey;
        t.origin = Input::new("https://a.example.com".into());
        assert_eq!(
            h(&t),
            vec![
                (
                    "authorization".into(),
                    "Bearer pk_live_000000000000000000000001".into()
                ),
                ("origin".into(), "https://a.example.com".into())
            ]
        );
        t.form = CredForm::None;
        t.origin = Input::default();
        assert!(h(&t).is_empty());
    }

    #[test]
    fn lint_runs_on_what_will_be_sent() {
        let mut t = Tester::new("http://h:1", None);
        assert!(
            t.lint(None, Utc::now())
                .iter()
                .any(|f| f.rule == "no_credential")
        );
        with_secret(&mut t, &S[..S.len() - 2]);
        let findings = t.lint(None, Utc::now());
        assert!(!findings.is_empty());
        assert!(
            findings
                .iter()
                .all(|f| !f.message.contains(&S[8..30]) && !f.fix.contains(&S[8..30]))
        );
        let mut t = Tester::new("http://h:1", None);
        with_secret(&mut t, S);
        assert!(
            t.lint(Some(Env::Live), Utc::now()).is_empty(),
            "{:?}",
            t.lint(Some(Env::Live), Utc::now())
        );
        t.headers = Input::new(format!("x-api-key: {S}"));
        assert!(
            t.lint(None, Utc::now())
                .iter()
                .any(|f| f.rule == "both_headers")
        );
    }

    /// A session token, unsigned for the lint: `header.claims.c2lnbmF0dXJl`.
    fn jwt(header: serde_json::Value, claims: serde_json::Value) -> String {
        use base64::Engine as _;
        let b64 = |v: serde_json::Value| {
            base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(v.to_string())
        };
        format!("{}.{}.c2lnbmF0dXJl", b64(header), b64(claims))
    }

    fn now() -> DateTime<Utc> {
        DateTime::from_timestamp(1_795_000_000, 0).unwrap_or_default()
    }

    fn rs256() -> String {
        jwt(
            serde_json::json!({"alg": "RS256", "kid": "k1"}),
            serde_json::json!({"iss": "https://id.example.test/", "sub": "user_ana",
                               "org_id": "org_0000000000000001", "scope": "keys:read",
                               "exp": now().timestamp() + 3600}),
        )
    }

    #[test]
    fn the_jwt_form_sends_exactly_bearer_and_the_token() {
        let token = rs256();
        let mut t = Tester::new("http://h:1", Some("pk_live_000000000000000000000001"));
        t.form = CredForm::BearerJwt;
        assert!(!t.has(TField::PublicKey), "no public key in the JWT form");
        assert!(t.has(TField::Credential));
        assert_eq!(t.label(TField::Credential), "JWT");
        with_secret(&mut t, &token);
        let headers: Vec<(String, String)> = t
            .request_headers()
            .into_iter()
            .map(|(k, v)| (k, v.expose().to_owned()))
            .collect();
        assert_eq!(
            headers,
            vec![("authorization".to_owned(), format!("Bearer {token}"))],
            "exactly Authorization: Bearer <jwt>, no pk"
        );
        assert_eq!(
            t.sent_jwt().map(|s| s.expose().to_owned()),
            Some(token.clone())
        );
        // Its lint is the JWT lint, not the key lint (no "wrong prefix" for a token).
        let findings = t.lint(None, now());
        assert!(findings.is_empty(), "{findings:?}");
        // Nothing shows the token: Debug, the history, cURL.
        assert!(!format!("{t:?}").contains(&token[..20]));
        t.remember(401, now());
        assert!(!format!("{:?}", t.history).contains(&token[..20]));
        let curl = t.curl();
        assert!(
            curl.contains("authorization: Bearer $API_KEY") && !curl.contains(&token[..20]),
            "{curl}"
        );
        // The other labels stay.
        t.form = CredForm::BearerSecret;
        assert_eq!(t.label(TField::Credential), "Secret");
    }

    #[test]
    fn the_jwt_form_lints_what_the_service_would_refuse() {
        let mut t = Tester::new("http://h:1", None);
        t.form = CredForm::BearerJwt;
        let expired = jwt(
            serde_json::json!({"alg": "HS256"}),
            serde_json::json!({"sub": "u", "exp": now().timestamp() - 3 * 3600}),
        );
        with_secret(&mut t, &expired);
        let rules: Vec<&str> = t.lint(None, now()).iter().map(|f| f.rule).collect();
        for r in ["alg_hmac", "no_kid", "expired", "bad_identity"] {
            assert!(rules.contains(&r), "{r} in {rules:?}");
        }
        assert!(!rules.contains(&"wrong_prefix"), "{rules:?}");
        // Not a token at all: the JWT lint says so (the form is for tokens).
        let mut t = Tester::new("http://h:1", None);
        t.form = CredForm::BearerJwt;
        with_secret(&mut t, S);
        assert_eq!(
            t.lint(None, now()).first().map(|f| f.rule),
            Some("jwt_malformed")
        );
        // The request around the token: a space before it, and x-api-key as well.
        let mut t = Tester::new("http://h:1", None);
        t.form = CredForm::BearerJwt;
        with_secret(&mut t, &format!(" {}", rs256()));
        t.headers = Input::new(format!("x-api-key: {S}"));
        let rules: Vec<&str> = t.lint(None, now()).iter().map(|f| f.rule).collect();
        assert_eq!(rules, vec!["both_headers", "stray_whitespace"]);
    }

    #[test]
    fn a_jwt_in_the_secret_alone_form_is_still_linted_as_a_jwt() {
        let mut t = Tester::new("http://h:1", None);
        assert_eq!(t.form, CredForm::BearerSecret);
        with_secret(&mut t, &rs256());
        assert_eq!(
            t.form,
            CredForm::BearerSecret,
            "the same request: no switch"
        );
        assert!(t.jwt_report(now()).is_some());
        assert!(t.lint(None, now()).is_empty());
        // A key in that form is a key.
        let mut t = Tester::new("http://h:1", None);
        with_secret(&mut t, S);
        assert!(t.sent_jwt().is_none() && t.jwt_report(now()).is_none());
    }

    #[test]
    fn a_jwt_pasted_where_no_jwt_goes_switches_to_the_jwt_form() {
        for form in [CredForm::BearerPair, CredForm::ApiKey] {
            let mut t = Tester::new("http://h:1", Some("pk_live_000000000000000000000001"));
            t.form = form;
            with_secret(&mut t, &rs256());
            assert_eq!(t.form, CredForm::BearerJwt, "from {form:?}");
            assert!(
                t.note
                    .as_deref()
                    .is_some_and(|n| n.contains("Bearer <jwt>"))
            );
            assert!(
                !t.note
                    .as_deref()
                    .unwrap_or_default()
                    .contains(&rs256()[..20])
            );
        }
        // Typed (not pasted) into the pair: the key lint says where a JWT goes.
        let mut t = Tester::new("http://h:1", Some("pk_live_000000000000000000000001"));
        for c in rs256().chars() {
            t.edit(InputRequest::InsertChar(c));
        }
        assert_eq!(t.form, CredForm::BearerPair);
        assert!(t.sent_jwt().is_none(), "pk:<jwt> is not a session token");
        assert_eq!(
            t.lint(None, now()).first().map(|f| f.rule),
            Some("jwt_not_bearer")
        );
    }

    #[test]
    fn session_refusals_get_the_sessions_fix() {
        let trace = |step: &str| VerifyResponse {
            valid: false,
            code: Some("invalid_token".into()),
            status: 401,
            message: None,
            key: None,
            scopes: vec![],
            trace: vec![
                crate::api::TraceItem {
                    step: "parse".into(),
                    ok: true,
                    detail: String::new(),
                },
                crate::api::TraceItem {
                    step: step.into(),
                    ok: false,
                    detail: String::new(),
                },
            ],
            session: Some(crate::api::VerifySession {
                issuer: "https://id.example.test/".into(),
                audience: Some("keyconsole".into()),
                org_claim: "org_id".into(),
                user: None,
                expires_at: None,
            }),
        };
        let fix = |code: &str, v: Option<&VerifyResponse>| session_fix(code, v).unwrap_or_default();
        assert!(fix("malformed_credentials", None).contains("sessions are off"));
        assert!(fix("token_expired", None).contains("sign in again"));
        assert!(fix("invalid_token", Some(&trace("signature"))).contains("--jwks"));
        assert!(
            fix("invalid_token", Some(&trace("issuer"))).contains("`https://id.example.test/`")
        );
        assert!(fix("invalid_token", Some(&trace("audience"))).contains("`keyconsole`"));
        assert!(fix("invalid_token", Some(&trace("org"))).contains("org_id"));
        assert!(fix("invalid_token", None).contains("POST /v1/verify"));
        assert_eq!(
            session_fix("insufficient_scope", None),
            None,
            "the key's fix applies"
        );
    }

    #[test]
    fn curl_never_holds_the_secret() {
        let mut t = Tester::new("http://h:1", Some("pk_live_000000000000000000000001"));
        with_secret(&mut t, S);
        t.body = Input::new("{\"a\": 1}".into());
        let c = t.curl();
        assert!(!c.contains(&S[8..]), "{c}");
        assert!(
            c.contains("Bearer pk_live_000000000000000000000001:$API_KEY"),
            "{c}"
        );
        assert!(c.contains("--data '{\"a\": 1}'"), "{c}");
    }

    #[test]
    fn history_recalls_everything_but_the_secret() {
        let mut t = Tester::new("http://h:1", None);
        t.url = Input::new("http://h:1/v1/keys".into());
        t.remember(403, Utc::now());
        t.url = Input::new("http://h:1/v1/other".into());
        t.recall_step(true);
        assert_eq!(t.url.value(), "http://h:1/v1/keys");
        assert!(!format!("{:?}", t.history).contains("sk_live"));
    }

    #[test]
    fn debug_never_shows_the_secret() {
        let mut t = Tester::new("http://h:1", None);
        with_secret(&mut t, S);
        assert!(!format!("{t:?}").contains(&S[8..30]));
    }

    #[test]
    fn error_bodies_are_understood() {
        let body = r#"{"error":{"type":"forbidden","code":"insufficient_scope","message":"m","request_id":"req_1","required_scopes":["keys:read"]}}"#;
        let r =
            TesterResponse::from_raw(403, 5, vec![("x-request-id".into(), "req_1".into())], body);
        assert_eq!(r.code.as_deref(), Some("insufficient_scope"));
        assert_eq!(r.required_scopes, vec!["keys:read"]);
        assert_eq!(r.request_id.as_deref(), Some("req_1"));
        assert!(r.body.contains("\n"), "pretty-printed");
    }
}
