//! Sessions over HTTP: a real key service on 127.0.0.1:0 (temporary SQLite, manual clock)
//! started with a JWKS file or the in-test identity provider's JWKS URL, sent JWTs signed in
//! the tests as `Authorization: Bearer <jwt>`.

use std::sync::Arc;

use chrono::{Duration, Utc};
use keyconsole::api::OrgCreated;
use keyconsole::domain::key::Env;
use keyconsole::server::clock::{Clock, ManualClock};
use keyconsole::server::{AppState, ServerConfig, bootstrap, serve};
use keyconsole::storage::{self, IfMissing, KeyStore, Retention};
use reqwest::Method;
use serde_json::{Value, json};

use crate::common::{JwksFile, flags, settings};
use crate::jwks_http::Idp;
use crate::keys::{AUDIENCE, ISSUER, TestKey, claims, hmac_token, jwks};

struct Service {
    url: String,
    clock: Arc<ManualClock>,
    store: Arc<dyn KeyStore>,
    state: AppState,
    acme: OrgCreated,
    _dir: tempfile::TempDir,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
}

impl Drop for Service {
    fn drop(&mut self) {
        if let Some(tx) = self.stop.take() {
            let _ = tx.send(());
        }
    }
}

impl Service {
    /// Sessions on with this JWKS (`None`: sessions off).
    async fn start(jwks_arg: Option<String>) -> Service {
        let clock = Arc::new(ManualClock::new(Utc::now()));
        let sessions = match jwks_arg {
            Some(a) => Some(settings(&flags(&a), &clock).await),
            None => None,
        };
        let dir = tempfile::tempdir().expect("tempdir");
        let db = format!("sqlite://{}", dir.path().join("k.db").display());
        let store = storage::open(&db, Retention::default(), IfMissing::Create)
            .await
            .expect("store");
        let config = ServerConfig {
            failed_auth_limit: 0,
            sessions,
            ..ServerConfig::default()
        };
        let acme = bootstrap::create_org_with_owner(
            &store,
            "Acme",
            "Owner",
            Env::Live,
            &config.secret_prefix,
            clock.now(),
        )
        .await
        .expect("org");
        let state = AppState::with_clock(Arc::clone(&store), config, clock.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let url = format!("http://{}", listener.local_addr().expect("addr"));
        let (tx, rx) = tokio::sync::oneshot::channel::<()>();
        tokio::spawn(serve(listener, state.clone(), async move {
            let _ = rx.await;
        }));
        Service {
            url,
            clock,
            store,
            state,
            acme,
            _dir: dir,
            stop: Some(tx),
        }
    }

    async fn other_org(&self, name: &str) -> OrgCreated {
        bootstrap::create_org_with_owner(
            &self.store,
            name,
            "Owner",
            Env::Live,
            &Default::default(),
            self.clock.now(),
        )
        .await
        .expect("org")
    }

    /// Claims of a user of Acme with these scopes.
    fn claims(&self, scope: &str) -> Value {
        let mut c = claims(self.clock.now());
        c["org_id"] = json!(self.acme.org.id);
        c["scope"] = json!(scope);
        c
    }

    async fn call(
        &self,
        method: Method,
        path: &str,
        headers: &[(&str, &str)],
        body: Option<Value>,
    ) -> (u16, reqwest::header::HeaderMap, Value) {
        let mut req = reqwest::Client::new().request(method, format!("{}{path}", self.url));
        for (k, v) in headers {
            req = req.header(*k, *v);
        }
        if let Some(b) = body {
            req = req.json(&b);
        }
        let resp = req.send().await.expect("send");
        let status = resp.status().as_u16();
        let h = resp.headers().clone();
        let text = resp.text().await.expect("body");
        (
            status,
            h,
            serde_json::from_str(&text).unwrap_or(Value::Null),
        )
    }

    async fn bearer(
        &self,
        method: Method,
        path: &str,
        jwt: &str,
        body: Option<Value>,
    ) -> (u16, Value) {
        let auth = format!("Bearer {jwt}");
        let (s, _, b) = self
            .call(method, path, &[("authorization", &auth)], body)
            .await;
        (s, b)
    }

    /// As the owner key.
    async fn owner(&self, method: Method, path: &str, body: Option<Value>) -> (u16, Value) {
        let auth = format!("Bearer {}", self.acme.secret.expose());
        let (s, _, b) = self
            .call(method, path, &[("authorization", &auth)], body)
            .await;
        (s, b)
    }
}

fn code(b: &Value) -> &str {
    b["error"]["code"].as_str().unwrap_or("<none>")
}

#[tokio::test]
async fn a_session_acts_in_its_org_with_its_scopes() {
    let key = TestKey::p256("k1");
    let file = JwksFile::new(&jwks(&[&key]));
    let s = Service::start(Some(file.arg())).await;
    let jwt = key.token(&s.claims("openid keys:read"));

    let (st, me) = s.bearer(Method::GET, "/v1/me", &jwt, None).await;
    assert_eq!(st, 200, "{me}");
    assert_eq!(me["auth_method"], "session");
    assert_eq!(me["key"], Value::Null);
    assert_eq!(me["user"]["sub"], "user_ana");
    assert_eq!(me["user"]["email"], "ana@acme.test");
    assert_eq!(me["org"]["id"], json!(s.acme.org.id));
    assert_eq!(me["scopes"], json!(["keys:read"]));

    // keys:read lists the org's keys; a management endpoint a public key alone may not use
    // accepts the session, since it holds the scope.
    let (st, keys) = s.bearer(Method::GET, "/v1/keys", &jwt, None).await;
    assert_eq!(st, 200, "{keys}");
    assert_eq!(keys["data"][0]["id"], json!(s.acme.key.id));
    // Without keys:write: the same 403 a key gets.
    let (st, e) = s
        .bearer(
            Method::POST,
            "/v1/keys",
            &jwt,
            Some(json!({"name": "x", "scopes": ["runs:read"]})),
        )
        .await;
    assert_eq!((st, code(&e)), (403, "insufficient_scope"), "{e}");
    assert_eq!(e["error"]["required_scopes"], json!(["keys:write"]));
    let (st, e) = s.bearer(Method::GET, "/v1/audit", &jwt, None).await;
    assert_eq!((st, code(&e)), (403, "insufficient_scope"));
}

#[tokio::test]
async fn a_session_never_escalates_and_its_changes_are_audited_as_the_user() {
    let key = TestKey::ed25519("k1");
    let file = JwksFile::new(&jwks(&[&key]));
    let s = Service::start(Some(file.arg())).await;
    let jwt = key.token(&s.claims("keys:write keys:read runs:read audit:read usage:read"));

    let (st, made) = s
        .bearer(
            Method::POST,
            "/v1/keys",
            &jwt,
            Some(json!({"name": "Billing worker", "scopes": ["runs:read"]})),
        )
        .await;
    assert_eq!(st, 201, "{made}");
    assert_eq!(made["key"]["env"], "live");
    // No escalation: it cannot grant what it does not hold.
    let (st, e) = s
        .bearer(
            Method::POST,
            "/v1/keys",
            &jwt,
            Some(json!({"name": "too much", "scopes": ["runs:write"]})),
        )
        .await;
    assert_eq!((st, code(&e)), (403, "insufficient_scope"), "{e}");
    assert!(
        e["error"]["message"]
            .as_str()
            .is_some_and(|m| m.contains("A session can grant only scopes it holds")),
        "{e}"
    );
    assert_eq!(e["error"]["required_scopes"], json!(["runs:write"]));

    let (st, audit) = s.owner(Method::GET, "/v1/audit", None).await;
    assert_eq!(st, 200);
    let entry = &audit["data"][0];
    assert_eq!(entry["action"], "key.created");
    assert_eq!(entry["actor_key_id"], Value::Null);
    assert_eq!(
        entry["actor"],
        json!({"type": "user", "id": "user_ana", "name": "ana@acme.test"})
    );
    let (st, mine) = s
        .owner(Method::GET, "/v1/audit?actor=user:user_ana", None)
        .await;
    assert_eq!(st, 200, "{mine}");
    assert_eq!(mine["data"].as_array().map(Vec::len), Some(1));

    // The denied create is an auth event of Acme naming the user, and no key.
    s.state.flush_usage().await.expect("flush");
    let (_, events) = s.owner(Method::GET, "/v1/auth-events", None).await;
    let ev = events["data"]
        .as_array()
        .and_then(|a| a.iter().find(|e| e["code"] == "insufficient_scope"))
        .cloned()
        .unwrap_or(Value::Null);
    assert_eq!(ev["user"], "user_ana", "{events}");
    assert_eq!(ev["key_id"], Value::Null);
}

#[tokio::test]
async fn every_refusal_is_invalid_token_or_token_expired_and_says_nothing_more() {
    let key = TestKey::rsa("rsa1");
    let file = JwksFile::new(&jwks(&[&key]));
    let s = Service::start(Some(file.arg())).await;
    let now = s.clock.now();
    let good = s.claims("keys:read");
    let with = |k: &str, v: Value| {
        let mut c = good.clone();
        c[k] = v;
        c
    };
    let without = |k: &str| {
        let mut c = good.clone();
        c.as_object_mut().expect("object").remove(k);
        c
    };
    let pem = key.rsa_public_material().remove(0);
    let unsigned = {
        let t = key.token(&good);
        let mut parts: Vec<&str> = t.split('.').collect();
        let none_header = base64_url(&json!({"alg": "none", "kid": "rsa1"}).to_string());
        parts[0] = &none_header;
        format!("{}.{}.", parts[0], parts[1])
    };
    let cases: Vec<(&str, String, &str)> = vec![
        ("alg none", unsigned, "invalid_token"),
        (
            "HS256 with a guessed secret",
            hmac_token(&json!({"alg": "HS256", "kid": "rsa1"}), &good, b"secret"),
            "invalid_token",
        ),
        (
            "HS256 with the RSA public key as its secret",
            hmac_token(&json!({"alg": "HS256", "kid": "rsa1"}), &good, &pem),
            "invalid_token",
        ),
        (
            "signed by another key",
            TestKey::rsa_other("rsa1").token(&good),
            "invalid_token",
        ),
        (
            "expired",
            key.token(&with(
                "exp",
                json!((now - Duration::seconds(61)).timestamp()),
            )),
            "token_expired",
        ),
        (
            "not yet valid",
            key.token(&with(
                "nbf",
                json!((now + Duration::seconds(120)).timestamp()),
            )),
            "invalid_token",
        ),
        ("no exp", key.token(&without("exp")), "invalid_token"),
        (
            "another issuer",
            key.token(&with("iss", json!("https://evil.example/"))),
            "invalid_token",
        ),
        (
            "another audience",
            key.token(&with("aud", json!("someone-else"))),
            "invalid_token",
        ),
        (
            "no org claim",
            key.token(&without("org_id")),
            "invalid_token",
        ),
        (
            "an org that does not exist",
            key.token(&with("org_id", json!("org_0000000000000000"))),
            "invalid_token",
        ),
        (
            "an unknown kid",
            key.sign(&json!({"alg": "RS256", "kid": "nope"}), &good),
            "invalid_token",
        ),
    ];
    let mut messages = std::collections::BTreeSet::new();
    for (what, jwt, want) in &cases {
        let auth = format!("Bearer {jwt}");
        let (st, h, b) = s
            .call(Method::GET, "/v1/me", &[("authorization", &auth)], None)
            .await;
        assert_eq!((st, code(&b)), (401, *want), "{what}: {b}");
        assert_eq!(
            h.get("www-authenticate").and_then(|v| v.to_str().ok()),
            Some(r#"Bearer realm="keyconsole", error="invalid_token""#),
            "{what}"
        );
        if *want == "invalid_token" {
            messages.insert(b["error"]["message"].as_str().unwrap_or("").to_owned());
        }
        assert!(!b.to_string().contains(jwt.as_str()), "{what}");
    }
    assert_eq!(
        messages.len(),
        1,
        "one message for every check: {messages:?}"
    );
    // The good token works, so the refusals above are about what was changed.
    assert_eq!(
        s.bearer(Method::GET, "/v1/me", &key.token(&good), None)
            .await
            .0,
        200
    );
}

fn base64_url(s: &str) -> String {
    use base64::Engine as _;
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(s.as_bytes())
}

#[tokio::test]
async fn a_jwt_only_as_bearer_and_only_with_sessions_on() {
    let key = TestKey::p256("k1");
    let file = JwksFile::new(&jwks(&[&key]));
    let on = Service::start(Some(file.arg())).await;
    let jwt = key.token(&on.claims("keys:read"));
    let (st, _, b) = on
        .call(Method::GET, "/v1/me", &[("x-api-key", &jwt)], None)
        .await;
    assert_eq!((st, code(&b)), (401, "malformed_credentials"), "{b}");
    assert!(
        b["error"]["message"]
            .as_str()
            .unwrap_or("")
            .contains("Authorization: Bearer")
    );

    let off = Service::start(None).await;
    let jwt = key.token(&off.claims("keys:read"));
    let (st, b) = off.bearer(Method::GET, "/v1/me", &jwt, None).await;
    assert_eq!((st, code(&b)), (401, "malformed_credentials"), "{b}");
    // verify says the same, in its trace.
    let (st, v) = off
        .owner(Method::POST, "/v1/verify", Some(json!({"credential": jwt})))
        .await;
    assert_eq!(st, 200);
    assert_eq!(v["code"], "malformed_credentials");
}

#[tokio::test]
async fn a_session_of_another_org_never_reaches_this_one() {
    let key = TestKey::ed25519("k1");
    let file = JwksFile::new(&jwks(&[&key]));
    let s = Service::start(Some(file.arg())).await;
    let globex = s.other_org("Globex").await;
    let mut c = s.claims("* keys:read");
    c["org_id"] = json!(globex.org.id);
    c["sub"] = json!("user_bob");
    c["email"] = json!("bob@globex.test");
    let jwt = key.token(&c);

    // It acts in Globex only.
    let (st, keys) = s.bearer(Method::GET, "/v1/keys", &jwt, None).await;
    assert_eq!(st, 200);
    let ids: Vec<&str> = keys["data"]
        .as_array()
        .map(|a| a.iter().filter_map(|k| k["id"].as_str()).collect())
        .unwrap_or_default();
    assert_eq!(ids, vec![globex.key.id.as_str()]);
    let path = format!("/v1/keys/{}", s.acme.key.id);
    let (st, b) = s.bearer(Method::GET, &path, &jwt, None).await;
    assert_eq!((st, code(&b)), (404, "not_found"));
    let (st, b) = s.bearer(Method::DELETE, &path, &jwt, None).await;
    assert_eq!((st, code(&b)), (404, "not_found"));

    // Acme's verify does not find it and names nobody.
    let (st, v) = s
        .owner(Method::POST, "/v1/verify", Some(json!({"credential": jwt})))
        .await;
    assert_eq!(st, 200);
    assert_eq!(v["valid"], false);
    assert_eq!(v["code"], "invalid_token");
    let last = v["trace"]
        .as_array()
        .and_then(|t| t.last())
        .cloned()
        .unwrap_or(Value::Null);
    assert_eq!(last["step"], "org");
    assert!(!v.to_string().contains("bob@globex"), "{v}");
    assert_eq!(v["session"]["user"], Value::Null);
    assert_eq!(v["scopes"], json!([]));
    // And Acme's events hold nothing of Globex's user.
    s.state.flush_usage().await.expect("flush");
    let (_, events) = s.owner(Method::GET, "/v1/auth-events", None).await;
    assert!(!events.to_string().contains("user_bob"), "{events}");
}

#[tokio::test]
async fn verify_explains_a_session_step_by_step() {
    let key = TestKey::p256("k1");
    let file = JwksFile::new(&jwks(&[&key]));
    let s = Service::start(Some(file.arg())).await;
    let jwt = key.token(&s.claims("runs:read"));
    let (st, v) = s
        .owner(
            Method::POST,
            "/v1/verify",
            Some(json!({"credential": jwt, "required_scopes": ["runs:read"]})),
        )
        .await;
    assert_eq!(st, 200, "{v}");
    assert_eq!(v["valid"], true);
    let steps: Vec<&str> = v["trace"]
        .as_array()
        .map(|t| t.iter().filter_map(|x| x["step"].as_str()).collect())
        .unwrap_or_default();
    assert_eq!(
        steps,
        [
            "parse",
            "signature",
            "issuer",
            "audience",
            "expiry",
            "org",
            "app",
            "scopes"
        ]
    );
    assert_eq!(v["key"], Value::Null);
    assert_eq!(v["scopes"], json!(["runs:read"]));
    assert_eq!(v["session"]["issuer"], ISSUER);
    assert_eq!(v["session"]["audience"], AUDIENCE);
    assert_eq!(v["session"]["user"]["sub"], "user_ana");

    // A missing scope fails at `scopes`, and the trace says which.
    let (_, v) = s
        .owner(
            Method::POST,
            "/v1/verify",
            Some(json!({"credential": jwt, "required_scopes": ["keys:write"]})),
        )
        .await;
    assert_eq!(v["code"], "insufficient_scope");
    let last = v["trace"]
        .as_array()
        .and_then(|t| t.last())
        .cloned()
        .unwrap_or(Value::Null);
    assert_eq!(last["step"], "scopes");
    assert!(last["detail"].as_str().unwrap_or("").contains("keys:write"));

    // A wrong issuer: the trace names it; a request is told only invalid_token.
    let mut c = s.claims("runs:read");
    c["iss"] = json!("https://other.example/");
    let (_, v) = s
        .owner(
            Method::POST,
            "/v1/verify",
            Some(json!({"credential": key.token(&c)})),
        )
        .await;
    let last = v["trace"]
        .as_array()
        .and_then(|t| t.last())
        .cloned()
        .unwrap_or(Value::Null);
    assert_eq!(last["step"], "issuer");
    assert!(
        last["detail"]
            .as_str()
            .unwrap_or("")
            .contains("other.example")
    );
}

#[tokio::test]
async fn a_new_signing_key_is_picked_up_over_http_and_a_wrong_kid_stays_refused() {
    let k1 = TestKey::p256("k1");
    let k2 = TestKey::ed25519("k2");
    let idp = Idp::start(jwks(&[&k1])).await;
    let s = Service::start(Some(idp.url.clone())).await;
    let c = s.claims("keys:read");
    assert_eq!(
        s.bearer(Method::GET, "/v1/me", &k1.token(&c), None).await.0,
        200
    );

    // The provider rotates in k2. A token of k2 right after the start-up fetch is refused
    // (the 30 s cooldown), then accepted once the set is fetched again.
    idp.set_keys(jwks(&[&k1, &k2]));
    let (st, b) = s.bearer(Method::GET, "/v1/me", &k2.token(&c), None).await;
    assert_eq!((st, code(&b)), (401, "invalid_token"));
    s.clock.advance(Duration::seconds(31));
    assert_eq!(
        s.bearer(Method::GET, "/v1/me", &k2.token(&c), None).await.0,
        200
    );

    // A kid the provider never published stays refused after its refresh.
    let fetches = idp.fetches();
    s.clock.advance(Duration::seconds(31));
    let wrong = k2.sign(&json!({"alg": "EdDSA", "kid": "k3"}), &c);
    let (st, b) = s.bearer(Method::GET, "/v1/me", &wrong, None).await;
    assert_eq!((st, code(&b)), (401, "invalid_token"));
    assert_eq!(
        idp.fetches(),
        fetches + 1,
        "one refresh for the unknown kid"
    );
}

/// The console's client with a renewable session (`client::renew`): an expired JWT is
/// renewed from the token source once and the request sent again; a failed renewal, or a
/// renewed token the server refuses too, is `SessionExpired` with the reason.
#[tokio::test]
async fn an_expired_session_is_renewed_once_and_the_request_sent_again() {
    use keyconsole::client::renew::TokenSource;
    use keyconsole::client::{Client, ClientError};
    use keyconsole::domain::key::Secret;
    use std::sync::Mutex;
    use std::sync::atomic::{AtomicUsize, Ordering};

    let key = Arc::new(TestKey::ed25519("k1"));
    let file = JwksFile::new(&jwks(&[&key]));
    let s = Arc::new(Service::start(Some(file.arg())).await);
    // What the token source does next: print a token for now, fail, or print `stale`.
    #[derive(Clone, Copy, PartialEq)]
    enum Next {
        Fresh,
        Fail,
        Stale,
    }
    let next = Arc::new(Mutex::new(Next::Fresh));
    let runs = Arc::new(AtomicUsize::new(0));
    let first = key.token(&s.claims("openid keys:read"));
    let stale = first.clone();
    let source: TokenSource = {
        let (key, s, next, runs) = (key.clone(), s.clone(), next.clone(), runs.clone());
        Arc::new(move || {
            runs.fetch_add(1, Ordering::SeqCst);
            match *next.lock().expect("lock") {
                Next::Fresh => Ok(Secret::new(key.token(&s.claims("openid keys:read")))),
                Next::Fail => Err("profile `prod`: token_command failed (exit status: 1): \
                                   not signed in; run the command in a shell to see why"
                    .to_owned()),
                Next::Stale => Ok(Secret::new(stale.clone())),
            }
        })
    };
    let c = Client::new(&s.url, Some(Secret::new(first)))
        .expect("client")
        .with_renewal(source);
    let me = c.me().await.expect("a valid session");
    assert_eq!(me.user.expect("user").sub, "user_ana");
    assert_eq!(runs.load(Ordering::SeqCst), 0, "nothing to renew yet");

    // Expired (past the 60 s leeway): renewed once, and the request answered.
    s.clock.advance(Duration::hours(2));
    let me = c.me().await.expect("renewed and sent again");
    assert_eq!(me.user.expect("user").sub, "user_ana");
    assert_eq!(runs.load(Ordering::SeqCst), 1);
    c.me().await.expect("the renewed token is kept");
    assert_eq!(runs.load(Ordering::SeqCst), 1);

    // Expired again and the source fails: eight requests refused at once run it once and
    // all say why, with the server's code.
    s.clock.advance(Duration::hours(2));
    *next.lock().expect("lock") = Next::Fail;
    let calls: Vec<_> = (0..8)
        .map(|_| {
            let c = c.clone();
            tokio::spawn(async move { c.me().await })
        })
        .collect();
    for call in calls {
        match call.await.expect("join") {
            Err(ClientError::SessionExpired { code, reason }) => {
                assert_eq!(code, "token_expired");
                assert!(reason.contains("not signed in"), "{reason}");
            }
            other => panic!("expected SessionExpired, got {other:?}"),
        }
    }
    assert_eq!(runs.load(Ordering::SeqCst), 2, "one renewal for the burst");

    // The source prints a token the server refuses too: said so, not retried again.
    tokio::time::sleep(keyconsole::client::renew::FAILURE_REUSE).await;
    *next.lock().expect("lock") = Next::Stale;
    let e = c.me().await.expect_err("still expired");
    assert!(
        matches!(&e, ClientError::SessionExpired { reason, .. }
            if reason.contains("refused the renewed token too (token_expired)")),
        "{e}"
    );
    assert_eq!(runs.load(Ordering::SeqCst), 3);

    // Signed in again: the next request renews and works.
    *next.lock().expect("lock") = Next::Fresh;
    c.me().await.expect("signed in again");
    assert_eq!(runs.load(Ordering::SeqCst), 4);

    // A key is never renewed: its 401 is the server's answer as is.
    let keyed = Client::new(&s.url, Some(Secret::new("sk_live_nope".into())))
        .expect("client")
        .with_renewal(Arc::new(|| panic!("a key is not renewed")));
    let e = keyed.me().await.expect_err("unknown key");
    assert!(matches!(e, ClientError::Api { status: 401, .. }), "{e}");
}
