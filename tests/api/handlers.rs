//! Handler-level tests through `router().oneshot()`: no port needed. Requests carry `Host`,
//! as every HTTP/1.1 request must (RFC 9112 §3.2).

use std::collections::BTreeSet;

use axum::body::{Body, to_bytes};
use axum::http::{Request, StatusCode};
use keyconsole::server::router;
use tower::ServiceExt;

use crate::common::TestServer;

async fn get(app: axum::Router, path: &str) -> (StatusCode, serde_json::Value) {
    let resp = app
        .oneshot(
            Request::get(path)
                .header("host", "localhost")
                .body(Body::empty())
                .expect("request"),
        )
        .await
        .expect("response");
    let status = resp.status();
    let body = to_bytes(resp.into_body(), 1 << 22).await.expect("body");
    (
        status,
        serde_json::from_slice(&body).unwrap_or(serde_json::Value::Null),
    )
}

#[tokio::test]
async fn openapi_is_3_1_and_covers_every_route() {
    let s = TestServer::start().await;
    let (status, doc) = get(router(s.state.clone()), "/openapi.json").await;
    assert_eq!(status, StatusCode::OK);
    assert!(
        doc["openapi"]
            .as_str()
            .is_some_and(|v| v.starts_with("3.1")),
        "{}",
        doc["openapi"]
    );
    let documented: BTreeSet<(String, String)> = doc["paths"]
        .as_object()
        .expect("paths")
        .iter()
        .flat_map(|(p, item)| {
            item.as_object()
                .expect("item")
                .keys()
                .map(move |m| (m.to_uppercase(), p.clone()))
        })
        .collect();
    let expected: BTreeSet<(String, String)> = [
        ("GET", "/v1/me"),
        ("GET", "/v1/keys"),
        ("POST", "/v1/keys"),
        ("GET", "/v1/keys/{id}"),
        ("PATCH", "/v1/keys/{id}"),
        ("DELETE", "/v1/keys/{id}"),
        ("POST", "/v1/keys/{id}/rotate"),
        ("GET", "/v1/keys/{id}/usage"),
        ("GET", "/v1/usage"),
        ("GET", "/v1/auth-events"),
        ("GET", "/v1/audit"),
        ("GET", "/v1/scopes"),
        ("GET", "/v1/apps"),
        ("POST", "/v1/apps"),
        ("POST", "/v1/verify"),
        ("POST", "/v1/leaks"),
        ("POST", "/v1/secret-scanning/github"),
        ("GET", "/v1/keys/{id}/leaks"),
        ("GET", "/v1/keys/{id}/scope-usage"),
        ("GET", "/v1/review"),
        ("GET", "/v1/instances"),
        ("GET", "/healthz"),
        ("GET", "/readyz"),
        ("OPTIONS", "/v1/me"),
    ]
    .iter()
    .map(|(m, p)| ((*m).to_owned(), (*p).to_owned()))
    .collect();
    assert_eq!(documented, expected);
    // Every documented route is really served (not 404/405 from the router).
    for (method, path) in &expected {
        let path = path.replace("{id}", "pk_live_000000000000000000000000");
        let resp = router(s.state.clone())
            .oneshot(
                Request::builder()
                    .method(method.as_str())
                    .uri(&path)
                    .header("host", "localhost")
                    .body(Body::empty())
                    .expect("request"),
            )
            .await
            .expect("response");
        // The GitHub receiver answers 404 by design on a server without
        // --github-scanning-keys (tests/api/leaks.rs serves it configured).
        let off_by_design = path == "/v1/secret-scanning/github" && resp.status().as_u16() == 404;
        assert!(
            off_by_design || !matches!(resp.status().as_u16(), 404 | 405),
            "{method} {path} is documented but not routed"
        );
    }
    assert!(doc["components"]["schemas"]["ErrorBody"].is_object());
    assert!(doc["components"]["securitySchemes"]["bearer"].is_object());
}

#[tokio::test]
async fn openapi_documents_x_api_key_on_every_secured_operation() {
    let s = TestServer::start().await;
    let (_, doc) = get(router(s.state.clone()), "/openapi.json").await;
    let scheme = &doc["components"]["securitySchemes"]["api_key"];
    assert_eq!(scheme["type"], "apiKey", "{scheme}");
    assert_eq!(scheme["in"], "header");
    assert_eq!(scheme["name"], "x-api-key");
    let mut secured = 0;
    for (path, item) in doc["paths"].as_object().expect("paths") {
        for (method, op) in item.as_object().expect("item") {
            let Some(reqs) = op["security"].as_array() else {
                // Health, the CORS preflight (browsers send it without credentials) and
                // GitHub's deliveries (signed, not authenticated by a key).
                assert!(
                    path == "/healthz"
                        || path == "/readyz"
                        || path == "/v1/secret-scanning/github"
                        || method == "options",
                    "{method} {path} has no security"
                );
                continue;
            };
            let names: Vec<&str> = reqs
                .iter()
                .filter_map(|r| r.as_object())
                .flat_map(|r| r.keys().map(String::as_str))
                .collect();
            // Alternatives: either scheme alone satisfies the operation.
            assert!(
                names.contains(&"bearer") && names.contains(&"api_key"),
                "{method} {path}: {names:?}"
            );
            assert!(
                reqs.iter()
                    .all(|r| r.as_object().is_some_and(|o| o.len() == 1)),
                "{method} {path}: schemes must be alternatives, not both required"
            );
            secured += 1;
        }
    }
    assert_eq!(secured, 20);
}

#[tokio::test]
async fn health_and_readiness() {
    let s = TestServer::start().await;
    assert_eq!(
        get(router(s.state.clone()), "/healthz").await.0,
        StatusCode::OK
    );
    assert_eq!(
        get(router(s.state.clone()), "/readyz").await.0,
        StatusCode::OK
    );
}

#[tokio::test]
async fn unknown_routes_and_methods_get_the_error_body() {
    let s = TestServer::start().await;
    let (status, body) = get(router(s.state.clone()), "/v2/nothing").await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert_eq!(body["error"]["code"], "not_found");
    assert!(
        body["error"]["request_id"]
            .as_str()
            .is_some_and(|r| r.starts_with("req_"))
    );
    let resp = router(s.state.clone())
        .oneshot(
            Request::put("/v1/me")
                .header("host", "localhost")
                .body(Body::empty())
                .expect("request"),
        )
        .await
        .expect("response");
    assert_eq!(resp.status(), StatusCode::METHOD_NOT_ALLOWED);
    assert!(resp.headers().get("allow").is_some());
    assert!(resp.headers().get("x-request-id").is_some());
}

#[tokio::test]
async fn success_bodies_say_utf8_json() {
    let s = TestServer::start().await;
    let resp = router(s.state.clone())
        .oneshot(
            Request::get("/healthz")
                .header("host", "localhost")
                .body(Body::empty())
                .expect("request"),
        )
        .await
        .expect("response");
    assert_eq!(
        resp.headers()
            .get("content-type")
            .and_then(|v| v.to_str().ok()),
        Some("application/json; charset=utf-8")
    );
}
