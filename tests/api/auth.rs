//! Credential forms, every error code, WWW-Authenticate, origins, apps, rate limiting.

use keyconsole::api::{CreateAppRequest, CreateKeyRequest, UpdateKeyRequest, VerifyRequest};
use keyconsole::domain::decision::ErrorCode;
use keyconsole::domain::key::Secret;
use keyconsole::server::ServerConfig;
use keyconsole::storage::Retention;
use reqwest::Method;

use crate::common::{TestServer, code, raw, test_config};

const ME: &str = "/v1/me";

#[tokio::test]
async fn every_credential_form_authenticates() {
    let s = TestServer::start().await;
    let k = s
        .client
        .create_key(&CreateKeyRequest {
            name: "Web".into(),
            scopes: Some(vec!["runs:read".into()]),
            allowed_domains: Some(vec!["*.example.com".into()]),
            ..CreateKeyRequest::default()
        })
        .await
        .expect("create");
    let secret = k.secret.expose();
    let pair = k.credential.expose();
    let pk = &k.key.id;
    let bearer_secret = format!("Bearer {secret}");
    let bearer_pair = format!("Bearer {pair}");
    let lower = format!("bearer {secret}");
    let bearer_pk = format!("Bearer {pk}");
    let cases: Vec<(Vec<(&str, &str)>, &str)> = vec![
        (vec![("authorization", &bearer_secret)], "secret"),
        (vec![("authorization", &lower)], "secret"),
        (vec![("authorization", &bearer_pair)], "pair"),
        (vec![("x-api-key", secret)], "secret"),
        (vec![("x-api-key", pair)], "pair"),
        (
            vec![
                ("authorization", &bearer_pk),
                ("origin", "https://app.example.com"),
            ],
            "public_key",
        ),
        (
            vec![
                ("x-api-key", pk),
                ("origin", "https://a.b.example.com:8443"),
            ],
            "public_key",
        ),
    ];
    for (headers, method) in cases {
        let (status, h, body) = raw(&s.url, Method::GET, ME, &headers, None).await;
        assert_eq!(status, 200, "{headers:?} {body}");
        assert_eq!(body["auth_method"], method);
        assert_eq!(body["key"]["id"], pk.as_str());
        assert!(h.get("x-request-id").is_some());
    }
}

#[tokio::test]
async fn every_401_code_with_its_www_authenticate() {
    let s = TestServer::start().await;
    let k = s.create("Backend", &["runs:read"]).await;
    let secret = k.secret.expose().to_owned();
    let other = s.create("Other", &["runs:read"]).await;
    let mut bad_sum = secret.clone();
    let last = bad_sum.pop().expect("char");
    bad_sum.push(if last == 'a' { 'b' } else { 'a' });
    let unknown = {
        // A well-formed secret nobody holds: take a real one and rebuild its checksum part.
        let mut fill = |b: &mut [u8]| keyconsole::server::os_random(b);
        Secret::generate(
            &Default::default(),
            keyconsole::domain::key::Env::Live,
            &mut fill,
        )
    };
    let mismatch = format!("{}:{}", other.key.id, secret);

    type Case<'a> = (Vec<(String, String)>, &'a str, Option<&'a str>);
    let cases: Vec<Case> = vec![
        (
            vec![],
            "missing_credentials",
            Some("Bearer realm=\"keyconsole\""),
        ),
        (
            vec![("authorization".into(), format!("Basic {secret}"))],
            "malformed_credentials",
            Some("error=\"invalid_request\""),
        ),
        (
            vec![("authorization".into(), format!("Bearer  {secret}"))],
            "malformed_credentials",
            None,
        ),
        (
            vec![("authorization".into(), format!("Bearer Bearer {secret}"))],
            "malformed_credentials",
            None,
        ),
        (
            vec![("authorization".into(), format!("Bearer \"{secret}\""))],
            "malformed_credentials",
            None,
        ),
        (
            vec![(
                "authorization".into(),
                format!("Bearer {}", &secret[..secret.len() - 3]),
            )],
            "malformed_credentials",
            None,
        ),
        (
            vec![("authorization".into(), format!("Bearer {bad_sum}"))],
            "malformed_credentials",
            None,
        ),
        (
            vec![("authorization".into(), "Bearer zz_live_abc".into())],
            "malformed_credentials",
            None,
        ),
        (
            vec![
                ("authorization".into(), format!("Bearer {secret}")),
                ("x-api-key".into(), secret.clone()),
            ],
            "malformed_credentials",
            None,
        ),
        (
            vec![
                ("x-api-key".into(), secret.clone()),
                ("x-api-key".into(), secret.clone()),
            ],
            "malformed_credentials",
            None,
        ),
        (
            vec![(
                "authorization".into(),
                format!("Bearer {}", unknown.expose()),
            )],
            "invalid_key",
            Some("error=\"invalid_token\""),
        ),
        (
            vec![("authorization".into(), format!("Bearer {mismatch}"))],
            "invalid_key",
            Some("error=\"invalid_token\""),
        ),
    ];
    for (headers, want, www) in cases {
        let h: Vec<(&str, &str)> = headers
            .iter()
            .map(|(a, b)| (a.as_str(), b.as_str()))
            .collect();
        let (status, hdrs, body) = raw(&s.url, Method::GET, ME, &h, None).await;
        assert_eq!(status, 401, "{want}: {body}");
        assert_eq!(code(&body), want, "{body}");
        assert_eq!(body["error"]["type"], "unauthorized");
        let rid = hdrs
            .get("x-request-id")
            .and_then(|v| v.to_str().ok())
            .expect("request id");
        assert_eq!(body["error"]["request_id"], rid);
        assert!(rid.starts_with("req_") && rid.len() == 24, "{rid}");
        let w = hdrs
            .get("www-authenticate")
            .and_then(|v| v.to_str().ok())
            .expect("www-authenticate");
        assert!(w.starts_with("Bearer realm=\"keyconsole\""), "{w}");
        if let Some(part) = www {
            assert!(w.contains(part), "{want}: {w}");
        }
        if want == "missing_credentials" {
            // RFC 6750 §3.1: no error code when the request had no credential at all.
            assert_eq!(w, "Bearer realm=\"keyconsole\"");
        }
        assert!(
            !body.to_string().contains(&secret[8..]),
            "error body echoes the secret: {body}"
        );
    }

    // Disabled, then expired.
    let kc = s.client_with(&k.secret);
    s.client
        .update_key(
            &k.key.id,
            &UpdateKeyRequest {
                enabled: Some(false),
                ..Default::default()
            },
            None,
        )
        .await
        .expect("disable");
    let e = kc.me().await.expect_err("disabled");
    assert_eq!(e.code(), Some(ErrorCode::KeyDisabled));
    s.client
        .update_key(
            &k.key.id,
            &UpdateKeyRequest {
                enabled: Some(true),
                expires_at: Some(Some(s.clock_now() + chrono::Duration::seconds(60))),
                ..Default::default()
            },
            None,
        )
        .await
        .expect("enable with expiry");
    kc.me().await.expect("works until expiry");
    s.clock.advance(chrono::Duration::seconds(61));
    let e = kc.me().await.expect_err("expired");
    assert_eq!(e.code(), Some(ErrorCode::KeyExpired));
    assert_eq!(e.status(), Some(401));
}

trait ClockNow {
    fn clock_now(&self) -> chrono::DateTime<chrono::Utc>;
}

impl ClockNow for TestServer {
    fn clock_now(&self) -> chrono::DateTime<chrono::Utc> {
        use keyconsole::server::clock::Clock;
        self.clock.now()
    }
}

#[tokio::test]
async fn insufficient_scope_names_the_required_scope() {
    let s = TestServer::start().await;
    let k = s.create("Reader", &["runs:read"]).await;
    let (status, h, body) = raw(
        &s.url,
        Method::GET,
        "/v1/keys",
        &[("authorization", &format!("Bearer {}", k.secret.expose()))],
        None,
    )
    .await;
    assert_eq!(status, 403);
    assert_eq!(code(&body), "insufficient_scope");
    assert_eq!(body["error"]["type"], "forbidden");
    assert_eq!(
        body["error"]["required_scopes"],
        serde_json::json!(["keys:read"])
    );
    let w = h
        .get("www-authenticate")
        .and_then(|v| v.to_str().ok())
        .expect("header");
    assert_eq!(
        w,
        "Bearer realm=\"keyconsole\", error=\"insufficient_scope\", scope=\"keys:read\""
    );
    // Any valid key may call /v1/me.
    s.client_with(&k.secret)
        .me()
        .await
        .expect("me needs no scope");
}

#[tokio::test]
async fn origin_table_for_public_key_alone() {
    let s = TestServer::start().await;
    let k = s
        .client
        .create_key(&CreateKeyRequest {
            name: "Widget".into(),
            scopes: Some(vec!["runs:read".into()]),
            allowed_domains: Some(vec!["*.example.com".into(), "shop.io".into()]),
            ..CreateKeyRequest::default()
        })
        .await
        .expect("create");
    let pk = format!("Bearer {}", k.key.id);
    let table = [
        (Some("https://a.example.com"), 200),
        (Some("https://a.b.example.com"), 200),
        (Some("HTTPS://A.EXAMPLE.COM:444"), 200),
        (Some("http://shop.io:8080"), 200),
        (Some("https://example.com"), 403),
        (Some("https://badexample.com"), 403),
        (Some("https://www.shop.io"), 403),
        (Some("null"), 403),
        (None, 403),
    ];
    for (origin, want) in table {
        let mut h = vec![("authorization", pk.as_str())];
        if let Some(o) = origin {
            h.push(("origin", o));
        }
        let (status, _, body) = raw(&s.url, Method::GET, ME, &h, None).await;
        assert_eq!(status, want, "{origin:?}: {body}");
        if want == 403 {
            assert_eq!(code(&body), "origin_not_allowed");
        }
    }
    // A secret skips the origin check.
    let (status, _, _) = raw(
        &s.url,
        Method::GET,
        ME,
        &[
            ("authorization", &format!("Bearer {}", k.secret.expose())),
            ("origin", "https://evil.io"),
        ],
        None,
    )
    .await;
    assert_eq!(status, 200);
    // A key with no allowed domains cannot be used by public key alone.
    let plain = s.create("Plain", &["runs:read"]).await;
    let (status, _, body) = raw(
        &s.url,
        Method::GET,
        ME,
        &[
            ("authorization", &format!("Bearer {}", plain.key.id)),
            ("origin", "https://a.example.com"),
        ],
        None,
    )
    .await;
    assert_eq!((status, code(&body)), (403, "origin_not_allowed"));
}

#[tokio::test]
async fn a_public_key_alone_is_refused_by_the_management_endpoints() {
    let s = TestServer::start().await;
    let k = s
        .client
        .create_key(&CreateKeyRequest {
            name: "Browser admin".into(),
            scopes: Some(vec!["keys:*".into(), "usage:read".into()]),
            allowed_domains: Some(vec!["app.example.com".into()]),
            ..CreateKeyRequest::default()
        })
        .await
        .expect("create");
    let pk = format!("Bearer {}", k.key.id);
    let h = [
        ("authorization", pk.as_str()),
        ("origin", "https://app.example.com"),
    ];
    let (st, _, body) = raw(&s.url, Method::GET, ME, &h, None).await;
    assert_eq!(st, 200, "{body}");
    let cases = [
        (Method::GET, "/v1/keys".to_owned(), None, "keys:read"),
        (
            Method::POST,
            "/v1/keys".to_owned(),
            Some(r#"{"name":"x","scopes":["runs:read"]}"#),
            "keys:write",
        ),
        (
            Method::GET,
            format!("/v1/keys/{}", k.key.id),
            None,
            "keys:read",
        ),
        (Method::GET, "/v1/usage".to_owned(), None, "usage:read"),
        (
            Method::POST,
            "/v1/verify".to_owned(),
            Some(r#"{"credential":"sk_live_x"}"#),
            "keys:verify",
        ),
    ];
    for (method, path, body, scope) in cases {
        let (st, hdrs, b) = raw(&s.url, method.clone(), &path, &h, body).await;
        assert_eq!(
            (st, code(&b)),
            (403, "insufficient_scope"),
            "{method} {path}: {b}"
        );
        let msg = b["error"]["message"].as_str().unwrap_or("");
        assert!(
            msg.contains("public key alone") && msg.contains("secret"),
            "{msg}"
        );
        assert_eq!(b["error"]["required_scopes"], serde_json::json!([scope]));
        let w = hdrs
            .get("www-authenticate")
            .and_then(|v| v.to_str().ok())
            .unwrap_or("");
        assert!(w.contains("error=\"insufficient_scope\""), "{w}");
    }
    // The same key with its secret is let in.
    let (st, _, _) = raw(
        &s.url,
        Method::GET,
        "/v1/keys",
        &[(
            "authorization",
            &format!("Bearer {}", k.credential.expose()),
        )],
        None,
    )
    .await;
    assert_eq!(st, 200);
}

#[tokio::test]
async fn app_scoped_key_with_another_app_is_app_mismatch() {
    let s = TestServer::start().await;
    let a1 = s
        .client
        .create_app(&CreateAppRequest {
            name: "Checkout".into(),
        })
        .await
        .expect("app");
    let a2 = s
        .client
        .create_app(&CreateAppRequest {
            name: "Search".into(),
        })
        .await
        .expect("app");
    let k = s
        .client
        .create_key(&CreateKeyRequest {
            name: "Checkout svc".into(),
            scopes: Some(vec!["runs:read".into()]),
            app_id: Some(a1.id.clone()),
            ..CreateKeyRequest::default()
        })
        .await
        .expect("create");
    let auth = format!("Bearer {}", k.secret.expose());
    let (st, _, _) = raw(&s.url, Method::GET, ME, &[("authorization", &auth)], None).await;
    assert_eq!(st, 200);
    let (st, _, _) = raw(
        &s.url,
        Method::GET,
        ME,
        &[("authorization", &auth), ("x-app-id", &a1.id)],
        None,
    )
    .await;
    assert_eq!(st, 200);
    let (st, _, body) = raw(
        &s.url,
        Method::GET,
        ME,
        &[("authorization", &auth), ("x-app-id", &a2.id)],
        None,
    )
    .await;
    assert_eq!((st, code(&body)), (403, "app_mismatch"));
    // An org-scoped key may act for any app.
    let owner = format!("Bearer {}", s.owner.secret.expose());
    let (st, _, _) = raw(
        &s.url,
        Method::GET,
        ME,
        &[("authorization", &owner), ("x-app-id", &a2.id)],
        None,
    )
    .await;
    assert_eq!(st, 200);
    // x-app-id must name an app of the key's own organization: an app of another org and
    // an app that does not exist get the same answer.
    let other = s.new_org("Globex").await;
    let theirs = s
        .client_with(&other.secret)
        .create_app(&CreateAppRequest {
            name: "Their app".into(),
        })
        .await
        .expect("their app");
    for foreign in [theirs.id.as_str(), "app_0000000000000000"] {
        for auth in [&owner, &auth] {
            let (st, _, body) = raw(
                &s.url,
                Method::GET,
                ME,
                &[("authorization", auth), ("x-app-id", foreign)],
                None,
            )
            .await;
            assert_eq!(
                (st, code(&body)),
                (403, "app_mismatch"),
                "{foreign}: {body}"
            );
            if auth == &owner {
                let msg = body["error"]["message"].as_str().unwrap_or("");
                assert!(msg.contains("organization"), "{msg}");
            }
        }
        let v = s
            .client
            .verify(&VerifyRequest {
                credential: s.owner.secret.clone(),
                origin: None,
                app_id: Some(foreign.to_owned()),
                required_scopes: None,
            })
            .await
            .expect("verify");
        assert_eq!(v.code.as_deref(), Some("app_mismatch"));
        assert!(v.trace.last().is_some_and(|t| t.step == "app" && !t.ok));
    }
    // Their own key may act for it.
    let (st, _, _) = raw(
        &s.url,
        Method::GET,
        ME,
        &[
            (
                "authorization",
                &format!("Bearer {}", other.secret.expose()),
            ),
            ("x-app-id", &theirs.id),
        ],
        None,
    )
    .await;
    assert_eq!(st, 200);
    // A malformed x-app-id is a bad request, not a credential problem.
    let (st, _, body) = raw(
        &s.url,
        Method::GET,
        ME,
        &[("authorization", &owner), ("x-app-id", "nope")],
        None,
    )
    .await;
    assert_eq!((st, code(&body)), (400, "invalid_request"));
}

#[tokio::test]
async fn repeated_failures_get_429_with_retry_after() {
    let config = ServerConfig {
        failed_auth_limit: 3,
        ..test_config()
    };
    let s = TestServer::start_with(config, None, Retention::default()).await;
    let fresh = s.create("Never used", &["runs:read"]).await;
    s.client
        .me()
        .await
        .expect("the owner's key, now in the cache");
    let bogus = "Bearer sk_live_nope";
    for _ in 0..3 {
        let (st, _, _) = raw(&s.url, Method::GET, ME, &[("authorization", bogus)], None).await;
        assert_eq!(st, 401);
    }
    let (st, h, body) = raw(&s.url, Method::GET, ME, &[("authorization", bogus)], None).await;
    assert_eq!((st, code(&body)), (429, "rate_limited"));
    assert_eq!(body["error"]["type"], "rate_limited");
    let retry: u64 = h
        .get("retry-after")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse().ok())
        .expect("Retry-After");
    assert!((1..=60).contains(&retry));
    // A valid key this instance has verified still gets through; one it has never seen
    // waits out the window (the check never reads the database).
    s.client.me().await.expect("a known valid key gets through");
    let e = s
        .client_with(&fresh.secret)
        .me()
        .await
        .expect_err("blocked");
    assert_eq!(e.code(), Some(ErrorCode::RateLimited));
    s.clock.advance(chrono::Duration::seconds(61));
    s.client_with(&fresh.secret)
        .me()
        .await
        .expect("window over");
}

#[tokio::test]
async fn accept_env_turns_the_other_environment_away() {
    let config = ServerConfig {
        accept_env: Some(keyconsole::domain::key::Env::Test),
        ..test_config()
    };
    let s = TestServer::start_with(config, None, Retention::default()).await;
    // The owner key is live; this deployment accepts only test keys.
    let e = s.client.me().await.expect_err("live refused");
    assert_eq!(e.code(), Some(ErrorCode::InvalidKey));
}

#[tokio::test]
async fn custom_secret_prefix() {
    let config = ServerConfig {
        secret_prefix: keyconsole::domain::key::SecretPrefix::new("org").expect("prefix"),
        ..test_config()
    };
    let s = TestServer::start_with(config, None, Retention::default()).await;
    assert!(s.owner.secret.expose().starts_with("org_live_"));
    let k = s.create("Org style", &["runs:read"]).await;
    assert!(k.secret.expose().starts_with("org_live_"));
    s.client_with(&k.secret).me().await.expect("authenticates");
    let (st, _, body) = raw(
        &s.url,
        Method::GET,
        ME,
        &[("authorization", "Bearer sk_live_000")],
        None,
    )
    .await;
    assert_eq!((st, code(&body)), (401, "malformed_credentials"));
}

#[tokio::test]
async fn verify_returns_the_trace_and_stays_in_the_org() {
    let s = TestServer::start().await;
    let k = s.create("Gateway target", &["runs:read"]).await;
    let v = s
        .client
        .verify(&VerifyRequest {
            credential: k.secret.clone(),
            origin: None,
            app_id: None,
            required_scopes: Some(vec!["runs:read".into()]),
        })
        .await
        .expect("verify");
    assert!(v.valid);
    assert_eq!(v.status, 200);
    let steps: Vec<&str> = v.trace.iter().map(|t| t.step.as_str()).collect();
    assert_eq!(
        steps,
        [
            "parse", "checksum", "lookup", "enabled", "expiry", "origin", "app", "scopes"
        ]
    );
    let v = s
        .client
        .verify(&VerifyRequest {
            credential: k.secret.clone(),
            origin: None,
            app_id: None,
            required_scopes: Some(vec!["runs:write".into()]),
        })
        .await
        .expect("verify");
    assert!(!v.valid);
    assert_eq!(
        (v.code.as_deref(), v.status),
        (Some("insufficient_scope"), 403)
    );
    assert!(v.trace.last().is_some_and(|t| t.step == "scopes" && !t.ok));
    // A key of another org is never found.
    let other = s.new_org("Globex").await;
    let v = s
        .client
        .verify(&VerifyRequest {
            credential: other.secret.clone(),
            origin: None,
            app_id: None,
            required_scopes: None,
        })
        .await
        .expect("verify");
    assert_eq!(v.code.as_deref(), Some("invalid_key"));
    assert!(v.key.is_none());
    // A caller without keys:verify is refused.
    let e = s
        .client_with(&k.secret)
        .verify(&VerifyRequest {
            credential: k.secret.clone(),
            origin: None,
            app_id: None,
            required_scopes: None,
        })
        .await
        .expect_err("needs keys:verify");
    assert_eq!(e.code(), Some(ErrorCode::InsufficientScope));
    // A malformed credential is explained, not refused.
    let v = s
        .client
        .verify(&VerifyRequest {
            credential: Secret::new(format!("Bearer {}", k.secret.expose())),
            origin: None,
            app_id: None,
            required_scopes: None,
        })
        .await
        .expect("verify");
    assert_eq!(v.code.as_deref(), Some("malformed_credentials"));
    assert_eq!(v.trace[0].step, "parse");
}
