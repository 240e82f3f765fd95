//! CORS (API.md §2): `GET /v1/me` answers a preflight from any Origin, and its real answer
//! may be read cross-origin only when a public key alone was allowed from that Origin. No
//! other endpoint speaks CORS.

use reqwest::Method;
use reqwest::header::HeaderMap;

use crate::common::{TestServer, code, raw};

const SHOP: &str = "https://shop.example.com";

fn header<'a>(h: &'a HeaderMap, name: &str) -> Option<&'a str> {
    h.get(name).and_then(|v| v.to_str().ok())
}

/// Comma-separated header list, lowercased (for names) and trimmed.
fn list(h: &HeaderMap, name: &str) -> Vec<String> {
    header(h, name)
        .unwrap_or("")
        .split(',')
        .map(|s| s.trim().to_ascii_lowercase())
        .filter(|s| !s.is_empty())
        .collect()
}

/// The Fetch standard's CORS check of a response, for a request without credentials mode
/// `include` (an `Authorization` header set by script is not credentials mode).
fn cors_check(h: &HeaderMap, origin: &str) -> Result<(), String> {
    match header(h, "access-control-allow-origin") {
        Some("*") => Ok(()),
        Some(o) if o == origin => Ok(()),
        other => Err(format!("Access-Control-Allow-Origin is {other:?}")),
    }
}

/// The Fetch standard's checks of a CORS-preflight response for `method` with the
/// non-safelisted `headers`.
fn preflight_check(
    status: u16,
    h: &HeaderMap,
    origin: &str,
    method: &str,
    headers: &[&str],
) -> Result<(), String> {
    if !(200..300).contains(&status) {
        return Err(format!("preflight status {status}"));
    }
    cors_check(h, origin)?;
    let methods = list(h, "access-control-allow-methods");
    let safelisted = ["GET", "HEAD", "POST"].contains(&method);
    if !safelisted && !methods.iter().any(|m| m.eq_ignore_ascii_case(method)) {
        return Err(format!("method {method} not in {methods:?}"));
    }
    let allowed = list(h, "access-control-allow-headers");
    for name in headers {
        // `*` would not cover `authorization` anyway.
        if !allowed.iter().any(|a| a == name) {
            return Err(format!("header {name} not in {allowed:?}"));
        }
    }
    Ok(())
}

/// A preflight as a browser sends it before `fetch(url, {headers: {...}})`.
async fn preflight(
    s: &TestServer,
    origin: &str,
    request_headers: &str,
) -> (u16, HeaderMap, serde_json::Value) {
    raw(
        &s.url,
        Method::OPTIONS,
        "/v1/me",
        &[
            ("origin", origin),
            ("access-control-request-method", "GET"),
            ("access-control-request-headers", request_headers),
            ("sec-fetch-mode", "cors"),
            ("sec-fetch-site", "cross-site"),
            ("sec-fetch-dest", "empty"),
            ("accept", "*/*"),
            ("referer", &format!("{origin}/checkout")),
            ("user-agent", "Mozilla/5.0 (X11; Linux x86_64) Chrome/131.0"),
        ],
        None,
    )
    .await
}

#[tokio::test]
async fn a_preflight_from_any_origin_gets_204_with_the_cors_headers() {
    let s = TestServer::start().await;
    for origin in [SHOP, "https://elsewhere.test", "http://localhost:3000"] {
        let (st, h, _) = preflight(&s, origin, "authorization,x-app-id").await;
        assert_eq!(st, 204, "{origin}");
        assert_eq!(header(&h, "access-control-allow-methods"), Some("GET"));
        assert_eq!(
            header(&h, "access-control-allow-headers"),
            Some("authorization, x-api-key, x-app-id")
        );
        assert_eq!(header(&h, "access-control-max-age"), Some("600"));
        // A preflight must pass the CORS check itself, or the browser stops there.
        assert_eq!(header(&h, "access-control-allow-origin"), Some(origin));
        assert_eq!(header(&h, "vary"), Some("Origin"));
        assert!(h.get("x-request-id").is_some());
    }
    // A plain OPTIONS (no Origin, or no Access-Control-Request-Method) is not a preflight.
    for headers in [
        vec![],
        vec![("origin", SHOP)],
        vec![("access-control-request-method", "GET")],
    ] {
        let (st, h, _) = raw(&s.url, Method::OPTIONS, "/v1/me", &headers, None).await;
        assert_eq!(st, 204, "{headers:?}");
        assert!(
            h.get("access-control-allow-origin").is_none(),
            "{headers:?}"
        );
        assert!(
            h.get("access-control-allow-methods").is_none(),
            "{headers:?}"
        );
        assert!(header(&h, "allow").is_some_and(|a| a.contains("GET")));
    }
}

#[tokio::test]
async fn the_real_answer_is_readable_only_for_an_allowed_public_key() {
    let s = TestServer::start().await;
    let pk = s.widget().await.key.id;
    let pk_auth = format!("Bearer {pk}");
    // A public key alone from an allowed Origin: readable by that page.
    let (st, h, body) = raw(
        &s.url,
        Method::GET,
        "/v1/me",
        &[("authorization", &pk_auth), ("origin", SHOP)],
        None,
    )
    .await;
    assert_eq!(
        (st, body["auth_method"].as_str()),
        (200, Some("public_key"))
    );
    assert_eq!(header(&h, "access-control-allow-origin"), Some(SHOP));
    assert_eq!(header(&h, "vary"), Some("Origin"));
    // From another Origin: 403 and nothing a page could read.
    let (st, h, body) = raw(
        &s.url,
        Method::GET,
        "/v1/me",
        &[("authorization", &pk_auth), ("origin", "https://evil.test")],
        None,
    )
    .await;
    assert_eq!((st, code(&body)), (403, "origin_not_allowed"));
    assert!(h.get("access-control-allow-origin").is_none());
    assert!(h.get("vary").is_none());
    // A secret never belongs in a browser: even from an allowed Origin, no CORS.
    let secret = format!("Bearer {}", s.owner.secret.expose());
    let (st, h, _) = raw(
        &s.url,
        Method::GET,
        "/v1/me",
        &[("authorization", &secret), ("origin", SHOP)],
        None,
    )
    .await;
    assert_eq!(st, 200);
    assert!(h.get("access-control-allow-origin").is_none());
    // Without an Origin (a server calling), nothing either.
    let (st, h, _) = raw(
        &s.url,
        Method::GET,
        "/v1/me",
        &[("authorization", &secret)],
        None,
    )
    .await;
    assert_eq!(st, 200);
    assert!(h.get("access-control-allow-origin").is_none());
}

#[tokio::test]
async fn no_other_endpoint_speaks_cors() {
    let s = TestServer::start().await;
    let pk = s.widget().await.key.id;
    for path in [
        "/v1/keys".to_owned(),
        format!("/v1/keys/{pk}"),
        format!("/v1/keys/{pk}/rotate"),
        format!("/v1/keys/{pk}/usage"),
        "/v1/usage".to_owned(),
        "/v1/auth-events".to_owned(),
        "/v1/audit".to_owned(),
        "/v1/scopes".to_owned(),
        "/v1/apps".to_owned(),
        "/v1/verify".to_owned(),
        "/healthz".to_owned(),
        "/readyz".to_owned(),
    ] {
        let (st, h, body) = raw(
            &s.url,
            Method::OPTIONS,
            &path,
            &[
                ("origin", SHOP),
                ("access-control-request-method", "POST"),
                (
                    "access-control-request-headers",
                    "authorization,content-type",
                ),
            ],
            None,
        )
        .await;
        assert_eq!((st, code(&body)), (405, "method_not_allowed"), "{path}");
        assert!(body["error"]["request_id"].as_str().is_some(), "{path}");
        assert!(h.get("access-control-allow-origin").is_none(), "{path}");
        assert!(h.get("access-control-allow-headers").is_none(), "{path}");
        // Management answers carry no CORS headers either, whatever the credential.
        let (_, h, _) = raw(
            &s.url,
            Method::GET,
            &path,
            &[("authorization", &format!("Bearer {pk}")), ("origin", SHOP)],
            None,
        )
        .await;
        assert!(h.get("access-control-allow-origin").is_none(), "GET {path}");
    }
}

#[tokio::test]
async fn a_browser_shaped_preflight_then_request_works_cross_origin() {
    let s = TestServer::start().await;
    let pk = s.widget().await.key.id;
    let app = s
        .client
        .create_app(&keyconsole::api::CreateAppRequest {
            name: "Shop".into(),
        })
        .await
        .expect("app");
    // fetch("/v1/me", {headers: {Authorization: "Bearer pk_…", "X-App-Id": "app_…"}}) from
    // https://shop.example.com: the browser preflights (the headers are not safelisted) ...
    let (st, h, _) = preflight(&s, SHOP, "authorization,x-app-id").await;
    preflight_check(st, &h, SHOP, "GET", &["authorization", "x-app-id"]).expect("preflight passes");
    // ... and the same for the x-api-key form.
    let (st, h, _) = preflight(&s, SHOP, "x-api-key").await;
    preflight_check(st, &h, SHOP, "GET", &["x-api-key"]).expect("preflight passes");
    // A header outside the list fails the preflight in the browser.
    let (st, h, _) = preflight(&s, SHOP, "authorization,x-debug").await;
    assert!(preflight_check(st, &h, SHOP, "GET", &["authorization", "x-debug"]).is_err());
    // ... then sends the request itself, and may read it.
    let auth = format!("Bearer {pk}");
    for headers in [
        vec![
            ("authorization", auth.as_str()),
            ("x-app-id", app.id.as_str()),
        ],
        vec![("x-api-key", pk.as_str())],
    ] {
        let mut all = headers.clone();
        all.extend([
            ("origin", SHOP),
            ("sec-fetch-mode", "cors"),
            ("sec-fetch-site", "cross-site"),
            ("referer", "https://shop.example.com/checkout"),
        ]);
        let (st, h, body) = raw(&s.url, Method::GET, "/v1/me", &all, None).await;
        assert_eq!(st, 200, "{body}");
        cors_check(&h, SHOP).expect("the page can read the answer");
        assert_eq!(body["key"]["id"], pk.as_str());
    }
    // The same sequence from a page on another site: the preflight passes (it reveals
    // nothing), the request is refused, and the page cannot even read the refusal.
    let evil = "https://evil.test";
    let (st, h, _) = preflight(&s, evil, "authorization").await;
    preflight_check(st, &h, evil, "GET", &["authorization"]).expect("preflight passes");
    let (st, h, _) = raw(
        &s.url,
        Method::GET,
        "/v1/me",
        &[
            ("authorization", &auth),
            ("origin", evil),
            ("sec-fetch-mode", "cors"),
        ],
        None,
    )
    .await;
    assert_eq!(st, 403);
    assert!(cors_check(&h, evil).is_err());
}
