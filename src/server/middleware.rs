//! The one request middleware: assigns the request id, renders error bodies (every non-2xx
//! answer gets the API.md §4 body), counts usage, records denied decisions, feeds the
//! failed-auth limiter and writes one log line. The client address (the peer, or behind a
//! trusted proxy the one it reports: [`super::client_addr`]) is resolved here once, for the
//! limiter, auth events and the log line. The log line and stored paths never hold a
//! secret or a credential header: the log line has the client address, method, route
//! template (`/v1/keys/{id}`, `<unmatched>` for no route), status and key id; auth events
//! store the redacted raw path (at most 512 characters), Origin (256) and `x-app-id` (64).

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Instant;

use axum::body::Body;
use axum::extract::{ConnectInfo, MatchedPath, Request, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::middleware::Next;
use axum::response::Response;

use super::AppState;
use super::auth::{ReqCtx, origin_header};
use super::error::{ApiError, ErrorMarker, www_authenticate};
use super::usage::{Outcome, ScopeHit};
use crate::api::{APP_ID_HEADER, REQUEST_ID_HEADER};
use crate::domain::decision::ErrorCode;
use crate::domain::key::new_request_id;
use crate::storage::AuthEventRecord;

/// Replace path segments that look like a secret (anything `x_live_…`/`x_test_…` that is
/// not a public key) with `[redacted]`.
pub fn redact_path(path: &str) -> String {
    path.split('/')
        .map(|seg| {
            let public_key = seg.starts_with("pk_") && !seg.contains(':');
            let secretish = (seg.contains("_live_") || seg.contains("_test_")) && !public_key;
            let long_opaque = seg.len() > 48;
            if secretish || long_opaque {
                "[redacted]"
            } else {
                seg
            }
        })
        .collect::<Vec<_>>()
        .join("/")
}

/// Longest `Origin` stored with an auth event.
pub const MAX_ORIGIN_CHARS: usize = 256;
/// Longest `x-app-id` stored with an auth event.
pub const MAX_APP_ID_CHARS: usize = 64;
/// Longest path stored with an auth event.
pub const MAX_PATH_CHARS: usize = 512;

/// At most `max` characters of `s`.
pub fn cap(s: &str, max: usize) -> String {
    s.chars().take(max).collect()
}

fn error_for_status(status: StatusCode) -> ApiError {
    match status.as_u16() {
        404 => ApiError::new(ErrorCode::NotFound, "No such route. See GET /openapi.json."),
        405 => ApiError::of(ErrorCode::MethodNotAllowed),
        413 => ApiError::of(ErrorCode::PayloadTooLarge),
        400 | 415 | 422 => ApiError::invalid("The request is not valid."),
        _ => ApiError::internal(format!("unrendered error status {status}")),
    }
}

fn render_error(err: &ApiError, request_id: &str) -> Response {
    let bytes = serde_json::to_vec(&err.body(request_id)).unwrap_or_default();
    let mut resp = Response::new(Body::from(bytes));
    *resp.status_mut() =
        StatusCode::from_u16(err.code.status()).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    let h = resp.headers_mut();
    h.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json; charset=utf-8"),
    );
    if let Some(v) = www_authenticate(err).and_then(|v| HeaderValue::from_str(&v).ok()) {
        h.insert(header::WWW_AUTHENTICATE, v);
    }
    if let Some(secs) = err.retry_after {
        h.insert(header::RETRY_AFTER, HeaderValue::from(secs));
    }
    resp
}

/// Carry headers such as `Allow` (405) over from the unrendered response.
fn keep_headers(original: &Response, mut rendered: Response) -> Response {
    for (name, value) in original.headers() {
        if name != header::CONTENT_TYPE && name != header::CONTENT_LENGTH {
            rendered
                .headers_mut()
                .entry(name)
                .or_insert_with(|| value.clone());
        }
    }
    rendered
}

/// Checks of the request head that hyper leaves to us, run first in [`request_layer`] so the
/// answer has the error body and a request id: RFC 9112 §3.2 (an HTTP/1.1 request has exactly
/// one `Host`, any request at most one, and its value is `host[:port]`), and the header-field
/// cap for a head the connection layer did not guard (a pipelined one; see `conn`).
pub fn check_head(req: &Request) -> Result<(), ApiError> {
    if req.headers().len() > super::conn::MAX_HEADERS {
        return Err(super::conn::HeadProblem::TooManyHeaders.error());
    }
    let mut hosts = req.headers().get_all(header::HOST).iter();
    match (hosts.next(), hosts.next()) {
        (None, _) if req.version() == axum::http::Version::HTTP_11 => Err(ApiError::invalid(
            "The request has no Host header; HTTP/1.1 requires one (RFC 9112 §3.2).",
        )),
        (None, _) => Ok(()),
        (Some(_), Some(_)) => Err(ApiError::invalid(
            "The request has more than one Host header (RFC 9112 §3.2).",
        )),
        (Some(v), None) if valid_host(v.as_bytes()) => Ok(()),
        (Some(_), None) => Err(ApiError::invalid(
            "The Host header is not a valid host[:port] (RFC 9112 §3.2).",
        )),
    }
}

/// `uri-host [":" port]` (RFC 3986 §3.2.2-3): an IP literal in brackets, or a non-empty
/// reg-name / IPv4 address; no user info; a port of at most 5 digits.
fn valid_host(v: &[u8]) -> bool {
    let Ok(text) = std::str::from_utf8(v) else {
        return false;
    };
    let (host_ok, port) = match text.strip_prefix('[') {
        Some(rest) => match rest.split_once(']') {
            Some((ip, after)) => (
                ip.parse::<std::net::Ipv6Addr>().is_ok(),
                match after {
                    "" => None,
                    a => match a.strip_prefix(':') {
                        Some(p) => Some(p),
                        None => return false,
                    },
                },
            ),
            None => return false,
        },
        None => {
            let (host, port) = match text.rsplit_once(':') {
                Some((h, p)) => (h, Some(p)),
                None => (text, None),
            };
            let reg_name = |b: u8| b.is_ascii_alphanumeric() || b"-._~%!$&'()*+,;=".contains(&b);
            (!host.is_empty() && host.bytes().all(reg_name), port)
        }
    };
    host_ok && port.is_none_or(|p| p.len() <= 5 && p.bytes().all(|b| b.is_ascii_digit()))
}

/// Request ids come from a per-thread generator (xoshiro256++ seeded from the OS once per
/// thread), not a system call per request: they identify a request, they protect nothing.
fn request_id() -> String {
    use std::cell::Cell;
    thread_local! {
        static STATE: Cell<[u64; 4]> = Cell::new({
            let mut seed = [0u8; 32];
            super::os_random(&mut seed);
            let mut s = [0u64; 4];
            for (w, c) in s.iter_mut().zip(seed.chunks_exact(8)) {
                let mut b = [0u8; 8];
                b.copy_from_slice(c);
                *w = u64::from_le_bytes(b) | 1;
            }
            s
        });
    }
    let mut fill = |buf: &mut [u8]| {
        STATE.with(|cell| {
            let mut s = cell.get();
            for chunk in buf.chunks_mut(8) {
                let out = s[0].wrapping_add(s[3]).rotate_left(23).wrapping_add(s[0]);
                let t = s[1] << 17;
                s[2] ^= s[0];
                s[3] ^= s[1];
                s[1] ^= s[2];
                s[0] ^= s[3];
                s[2] ^= t;
                s[3] = s[3].rotate_left(45);
                chunk.copy_from_slice(&out.to_le_bytes()[..chunk.len()]);
            }
            cell.set(s);
        });
    };
    new_request_id(&mut fill)
}

/// The client address as the log line shows it.
struct Client(Option<std::net::IpAddr>);

impl std::fmt::Display for Client {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self.0 {
            Some(ip) => ip.fmt(f),
            None => f.write_str("unknown"),
        }
    }
}

/// The middleware function (see the module docs). What only an auth event needs (the
/// redacted path, the method's text, the client's) is built only when one is recorded.
pub async fn request_layer(
    State(state): State<AppState>,
    mut req: Request,
    next: Next,
) -> Response {
    let started = Instant::now();
    // The client: the peer, or behind a trusted proxy the address it reports.
    let ip = req
        .extensions()
        .get::<ConnectInfo<SocketAddr>>()
        .map(|c| state.config.trusted_proxies.client(c.0.ip(), req.headers()));
    let ctx = Arc::new(ReqCtx::new(request_id(), ip));
    let request_id = ctx.request_id.as_str();
    req.extensions_mut().insert(Arc::clone(&ctx));
    let method = req.method().clone();
    let uri = req.uri().clone();
    let route = req.extensions().get::<MatchedPath>().cloned();
    let origin = origin_header(req.headers())
        .ok()
        .flatten()
        .map(|o| cap(o, MAX_ORIGIN_CHARS));
    let app_id = req
        .headers()
        .get(APP_ID_HEADER)
        .and_then(|v| v.to_str().ok())
        .map(|s| cap(s, MAX_APP_ID_CHARS));

    let resp = match check_head(&req) {
        Ok(()) => next.run(req).await,
        Err(e) => axum::response::IntoResponse::into_response(e),
    };

    let status = resp.status();
    let marker = resp.extensions().get::<ErrorMarker>().cloned();
    let is_error = status.is_client_error() || status.is_server_error();
    let mut resp = match (&marker, is_error) {
        (Some(m), _) => keep_headers(&resp, render_error(&m.0, request_id)),
        (None, true) => keep_headers(&resp, render_error(&error_for_status(status), request_id)),
        (None, false) => resp,
    };
    if resp
        .headers()
        .get(header::CONTENT_TYPE)
        .is_some_and(|v| v == "application/json")
    {
        resp.headers_mut().insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/json; charset=utf-8"),
        );
    }
    if let Ok(v) = HeaderValue::from_str(request_id) {
        resp.headers_mut().insert(REQUEST_ID_HEADER, v);
    }
    let code = marker.as_ref().map(|m| m.0.code).or_else(|| {
        (status.is_client_error() || status.is_server_error())
            .then(|| error_for_status(status).code)
    });
    if let Some(m) = &marker
        && let Some(internal) = &m.0.internal
    {
        tracing::error!(request_id = %request_id, code = m.0.code.as_str(), detail = %internal, "request failed");
    }

    let now = state.clock.now();
    let attr = ctx.take_attribution();
    let counted_status = attr.usage_status.unwrap_or(status.as_u16());
    // Scope usage: the endpoint's required scopes, or for `/v1/verify` the call's
    // `required_scopes` for the verified key and the endpoint's for the caller.
    let (scopes, verify_caller) = match attr.verified {
        Some(v) => (ScopeHit::Listed(v.required), v.caller),
        None => (ScopeHit::Endpoint(attr.required), None),
    };
    if let Some(key) = &attr.usage {
        state
            .usage
            .hit(key, now, Outcome::of_status(counted_status), scopes);
    }
    if let Some(key) = &verify_caller
        && Outcome::of_status(status.as_u16()) == Outcome::Ok
    {
        state
            .usage
            .scopes(key, now, ScopeHit::Endpoint(attr.required));
    }
    let event_code = if attr.usage_status.is_some() {
        attr.event_code
    } else {
        code
    };
    if let (Some(owner), Some(code)) = (&attr.event, event_code)
        && matches!(code.status(), 401 | 403 | 429)
    {
        let (org_id, key_id) = owner.parts();
        // What to grant, for a support lookup of this request id.
        let required_scopes = match code {
            ErrorCode::InsufficientScope if attr.usage_status.is_some() => {
                attr.event_required.clone()
            }
            ErrorCode::InsufficientScope => marker
                .as_ref()
                .map(|m| m.0.required_scopes.clone())
                .unwrap_or_default(),
            _ => Vec::new(),
        };
        state.usage.event(AuthEventRecord {
            request_id: request_id.to_owned(),
            org_id: org_id.to_owned(),
            at: now,
            key_id: key_id.map(str::to_owned),
            code: code.as_str().to_owned(),
            status: code.status(),
            method: method.as_str().to_owned(),
            // Stored with auth events (redacted, capped); the log line names the route.
            path: cap(&redact_path(uri.path()), MAX_PATH_CHARS),
            ip: Client(ip).to_string(),
            origin,
            app_id,
            user: attr.event_user.clone(),
            required_scopes,
            count: 1,
        });
    }
    // Failed authentications count toward the limit, and so does a public key alone from
    // an Origin it is not allowed from: anyone can read a public key and send it.
    if (status == StatusCode::UNAUTHORIZED || code == Some(ErrorCode::OriginNotAllowed))
        && let Some(ip) = ip
    {
        state.limiter.failed(ip, now);
    }
    let key_id = attr.usage.as_ref().map_or("-", |k| k.id.as_str());
    tracing::info!(
        request_id = %request_id,
        client = %Client(ip),
        method = %method,
        path = %route.as_ref().map_or("<unmatched>", MatchedPath::as_str),
        status = status.as_u16(),
        key_id = %key_id,
        ms = started.elapsed().as_millis() as u64,
        "request"
    );
    resp
}

#[cfg(test)]
mod tests {
    use super::{MAX_PATH_CHARS, cap, redact_path, valid_host};

    #[test]
    fn host_values() {
        for ok in [
            "example.com",
            "example.com:8080",
            "127.0.0.1:7878",
            "[::1]",
            "[::1]:7878",
            "localhost",
        ] {
            assert!(valid_host(ok.as_bytes()), "{ok}");
        }
        for bad in [
            "",
            "user@example.com",
            "example.com:port",
            "example.com:123456",
            "a b",
            "example.com/path",
            "::1",
            "[::1]x",
            "[nope]",
            "a, b",
            ":80",
        ] {
            assert!(!valid_host(bad.as_bytes()), "{bad:?}");
        }
    }

    #[test]
    fn stored_values_are_capped_by_characters() {
        let long = format!("/v1/{}", "é/".repeat(600));
        let capped = cap(&long, MAX_PATH_CHARS);
        assert_eq!(capped.chars().count(), 512);
        assert!(long.starts_with(&capped));
        assert_eq!(cap("short", 512), "short");
    }

    #[test]
    fn secret_shaped_segments_are_redacted() {
        assert_eq!(redact_path("/v1/keys/pk_live_abc"), "/v1/keys/pk_live_abc");
        assert_eq!(
            redact_path("/v1/keys/sk_live_abcdef"),
            "/v1/keys/[redacted]"
        );
        assert_eq!(
            redact_path("/v1/keys/org_test_abcdef/usage"),
            "/v1/keys/[redacted]/usage"
        );
        assert_eq!(
            redact_path("/v1/keys/pk_live_a:sk_live_b"),
            "/v1/keys/[redacted]"
        );
        assert_eq!(redact_path("/healthz"), "/healthz");
    }
}
