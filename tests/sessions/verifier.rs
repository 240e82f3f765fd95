//! Every way a token is accepted or refused by `SessionVerifier`, with a JWKS file.

use std::sync::Arc;

use chrono::Duration;
use keyconsole::domain::decision::{ErrorCode, Step};
use keyconsole::domain::session::{MAX_TOKEN_LEN, SessionFailure};
use keyconsole::server::session::{SessionConfigError, SessionFlags, SessionSettings};
use serde_json::{Value, json};

use crate::common::{JwksFile, clock, decide, flags, settings, start, verifier};
use crate::keys::{ORG, TestKey, claims, hmac_token, jwks};

fn assert_refused(r: Result<impl std::fmt::Debug, SessionFailure>, step: Step) -> SessionFailure {
    let f = r.expect_err("refused");
    assert_eq!(f.step, step, "{:?}", f.trace);
    let last = f.trace.last().expect("trace");
    assert_eq!((last.step, last.ok), (step, false));
    assert_eq!(
        f.trace.len(),
        Step::SESSION.iter().position(|s| *s == step).expect("step") + 1
    );
    f
}

fn detail(f: &SessionFailure) -> &str {
    &f.trace.last().expect("trace").detail
}

struct Keys {
    rsa: TestKey,
    ec: TestKey,
    ed: TestKey,
}

fn three() -> Keys {
    Keys {
        rsa: TestKey::rsa("rsa-1"),
        ec: TestKey::p256("ec-1"),
        ed: TestKey::ed25519("ed-1"),
    }
}

#[tokio::test]
async fn tokens_of_each_key_type_verify_and_map_to_the_caller() {
    let k = three();
    let file = JwksFile::new(&jwks(&[&k.rsa, &k.ec, &k.ed]));
    let clock = clock();
    let v = verifier(&flags(&file.arg()), &clock).await;
    for key in [&k.rsa, &k.ec, &k.ed] {
        let t = v
            .verify(&key.token(&claims(start())), start())
            .await
            .expect(key.alg);
        assert_eq!(t.kid, key.kid);
        assert_eq!(t.alg.as_str(), key.alg);
        let d = decide(&t, &["runs:read"], start());
        assert!(d.allowed(), "{key:?}: {d:?}", key = key.alg);
        assert_eq!(d.trace.len(), 8);
        let p = t.principal().expect("principal");
        assert_eq!(p.org_id, ORG);
        assert_eq!(p.user.sub, "user_ana");
        assert_eq!(p.user.email.as_deref(), Some("ana@acme.test"));
        assert_eq!(p.scopes.to_strings(), ["runs:read", "keys:read"]);
        assert_eq!(
            decide(&t, &["keys:write"], start()).code(),
            Some(ErrorCode::InsufficientScope)
        );
    }
    assert_eq!(v.cache().len(), 3);
}

#[tokio::test]
async fn alg_none_is_refused() {
    let k = three();
    let file = JwksFile::new(&jwks(&[&k.rsa]));
    let clock = clock();
    let v = verifier(&flags(&file.arg()), &clock).await;
    let real = k.rsa.token(&claims(start()));
    let sig = real.rsplit('.').next().expect("sig");
    for alg in ["none", "None", "NONE"] {
        let h = URL.encode(json!({"alg": alg, "kid": "rsa-1"}).to_string());
        let c = URL.encode(claims(start()).to_string());
        for token in [format!("{h}.{c}."), format!("{h}.{c}.{sig}")] {
            let f = assert_refused(v.verify(&token, start()).await, Step::Signature);
            assert!(detail(&f).contains("unsigned"), "{}", detail(&f));
            assert_eq!(f.denial.code, ErrorCode::InvalidToken);
        }
    }
}

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD as URL;

#[tokio::test]
async fn hmac_is_refused_even_with_the_rsa_public_key_as_its_secret() {
    let k = three();
    let file = JwksFile::new(&jwks(&[&k.rsa]));
    let clock = clock();
    let v = verifier(&flags(&file.arg()), &clock).await;
    let c = claims(start());
    // A plain HS256 token and the algorithm-confusion attack: HMAC keyed with the RSA public
    // key (its PEM, its DER, its modulus), the header naming the RSA key.
    let mut secrets: Vec<Vec<u8>> = vec![b"correct horse battery staple".to_vec()];
    secrets.extend(k.rsa.rsa_public_material());
    for alg in ["HS256", "HS384", "HS512"] {
        for secret in &secrets {
            let header = json!({"alg": alg, "kid": "rsa-1", "typ": "JWT"});
            let token = hmac_token(&header, &c, secret);
            // It is a genuine HMAC token: a verifier that trusted the header would accept it.
            let mut naive = jsonwebtoken::Validation::new(
                header["alg"]
                    .as_str()
                    .and_then(|a| a.parse().ok())
                    .expect("alg"),
            );
            naive.validate_exp = false;
            naive.validate_aud = false;
            assert!(
                jsonwebtoken::decode::<Value>(
                    &token,
                    &jsonwebtoken::DecodingKey::from_secret(secret).expect("key"),
                    &naive
                )
                .is_ok(),
                "the attack token is well made"
            );
            let f = assert_refused(v.verify(&token, start()).await, Step::Signature);
            assert!(detail(&f).contains("HMAC"), "{}", detail(&f));
            assert!(f.user.is_none());
        }
    }
    assert!(v.cache().is_empty());
}

#[tokio::test]
async fn the_algorithm_comes_from_the_key() {
    let k = three();
    let pinned = TestKey::p256("ec-pinned");
    let mut doc = jwks(&[&k.rsa, &k.ec]);
    doc["keys"].as_array_mut().expect("keys").push(
        k.rsa
            .jwk_with_alg("RS512")
            .as_object()
            .map(|o| {
                let mut o = o.clone();
                o.insert("kid".into(), json!("rsa-512"));
                Value::Object(o)
            })
            .expect("jwk"),
    );
    doc["keys"]
        .as_array_mut()
        .expect("keys")
        .push(pinned.jwk_with_alg("ES256"));
    let file = JwksFile::new(&doc);
    let clock = clock();
    let v = verifier(&flags(&file.arg()), &clock).await;
    let c = claims(start());
    // An EC signature presented as coming from the RSA key.
    let t = k.ec.sign(&json!({"alg": "ES256", "kid": "rsa-1"}), &c);
    let f = assert_refused(v.verify(&t, start()).await, Step::Signature);
    assert!(
        detail(&f).contains("never from the token"),
        "{}",
        detail(&f)
    );
    // The RSA key without `alg` is RS256 only; a PS256 or RS384 header is refused.
    for alg in ["RS384", "PS256"] {
        let t = k.rsa.sign(&json!({"alg": alg, "kid": "rsa-1"}), &c);
        assert_refused(v.verify(&t, start()).await, Step::Signature);
    }
    // A key whose JWK says RS512 refuses an RS256 token, even one its private key signed.
    let t = k.rsa.sign(&json!({"alg": "RS256", "kid": "rsa-512"}), &c);
    let f = assert_refused(v.verify(&t, start()).await, Step::Signature);
    assert!(detail(&f).contains("RS512"));
    // ES256 header on an EC key with `alg: ES256`: fine.
    assert!(v.verify(&pinned.token(&c), start()).await.is_ok());
}

#[tokio::test]
async fn a_bad_signature_is_refused() {
    let k = three();
    let file = JwksFile::new(&jwks(&[&k.rsa, &k.ec, &k.ed]));
    let clock = clock();
    let v = verifier(&flags(&file.arg()), &clock).await;
    let c = claims(start());
    // Signed by another key under a known kid.
    let other = TestKey::rsa_other("rsa-1");
    let f = assert_refused(v.verify(&other.token(&c), start()).await, Step::Signature);
    assert!(detail(&f).contains("does not verify"));
    let other_ec = TestKey::p256("ec-1");
    assert_refused(
        v.verify(&other_ec.token(&c), start()).await,
        Step::Signature,
    );
    let other_ed = TestKey::ed25519("ed-1");
    assert_refused(
        v.verify(&other_ed.token(&c), start()).await,
        Step::Signature,
    );
    // Claims changed after signing (more scopes).
    for key in [&k.rsa, &k.ec, &k.ed] {
        let t = key.token(&c);
        let parts: Vec<&str> = t.split('.').collect();
        let mut forged = c.clone();
        forged["scope"] = json!("*");
        let t = format!(
            "{}.{}.{}",
            parts[0],
            URL.encode(forged.to_string()),
            parts[2]
        );
        let f = assert_refused(v.verify(&t, start()).await, Step::Signature);
        assert!(f.user.is_none(), "a forged token names no user");
    }
    // A signature that is not even base64url-decodable to the right length.
    let t = k.ed.token(&c);
    let cut = &t[..t.len() - 4];
    assert_refused(v.verify(cut, start()).await, Step::Signature);
    assert!(v.cache().is_empty());
}

#[tokio::test]
async fn expiry_has_sixty_seconds_of_leeway_and_nbf_is_honoured() {
    let k = three();
    let file = JwksFile::new(&jwks(&[&k.ec]));
    let clock = clock();
    let v = verifier(&flags(&file.arg()), &clock).await;
    let n = start().timestamp();
    let with = |f: &dyn Fn(&mut Value)| {
        let mut c = claims(start());
        f(&mut c);
        k.ec.token(&c)
    };
    let t = with(&|c| c["exp"] = json!(n - 61));
    let f = assert_refused(v.verify(&t, start()).await, Step::Expiry);
    assert_eq!(f.denial.code, ErrorCode::TokenExpired);
    assert_eq!(
        f.user.as_deref(),
        Some("user_ana"),
        "the signature was valid"
    );
    let t = with(&|c| c["exp"] = json!(n - 30));
    let ok = v.verify(&t, start()).await.expect("within leeway");
    assert!(decide(&ok, &[], start()).allowed());
    // Not cached: its `exp` is already past, and the cache never outlives `exp`.
    assert!(v.cache().is_empty());
    let t = with(&|c| c["nbf"] = json!(n + 120));
    let f = assert_refused(v.verify(&t, start()).await, Step::Expiry);
    assert_eq!(f.denial.code, ErrorCode::InvalidToken);
    assert!(detail(&f).contains("not valid yet"));
    let t = with(&|c| {
        c.as_object_mut().expect("obj").remove("exp");
    });
    let f = assert_refused(v.verify(&t, start()).await, Step::Expiry);
    assert_eq!(f.denial.code, ErrorCode::InvalidToken);
    // The same valid token, later: past exp + leeway it is refused, cached or not.
    let t = with(&|_| {});
    assert!(v.verify(&t, start()).await.is_ok());
    assert_eq!(v.cache().len(), 1);
    let late = start() + Duration::seconds(900 + 61);
    clock.advance(Duration::seconds(900 + 61));
    let f = assert_refused(v.verify(&t, late).await, Step::Expiry);
    assert_eq!(f.denial.code, ErrorCode::TokenExpired);
}

#[tokio::test]
async fn issuer_and_audience() {
    let k = three();
    let file = JwksFile::new(&jwks(&[&k.ed]));
    let clock = clock();
    let v = verifier(&flags(&file.arg()), &clock).await;
    let with = |f: &dyn Fn(&mut Value)| {
        let mut c = claims(start());
        f(&mut c);
        k.ed.token(&c)
    };
    for iss in [
        json!("https://id.example.test"),
        json!("https://evil.test/"),
        json!(null),
    ] {
        let t = with(&|c| c["iss"] = iss.clone());
        assert_refused(v.verify(&t, start()).await, Step::Issuer);
    }
    let t = with(&|c| c["iss"] = json!("https://id.example.test"));
    let f = assert_refused(v.verify(&t, start()).await, Step::Issuer);
    assert!(detail(&f).contains("trailing slash"));
    for aud in [json!("other"), json!(["a", "b"]), json!(null), json!([])] {
        let t = with(&|c| c["aud"] = aud.clone());
        assert_refused(v.verify(&t, start()).await, Step::Audience);
    }
    let t = with(&|c| c["aud"] = json!(["dashboard", "keyconsole"]));
    assert!(v.verify(&t, start()).await.is_ok());
    // Without --jwt-audience, `aud` is not looked at.
    let mut open = flags(&file.arg());
    open.audience = None;
    let v = verifier(&open, &clock).await;
    let t = with(&|c| c["aud"] = json!("anything"));
    assert!(v.verify(&t, start()).await.is_ok());
}

#[tokio::test]
async fn claim_problems_are_refused_at_their_step() {
    let k = three();
    let file = JwksFile::new(&jwks(&[&k.rsa]));
    let clock = clock();
    let v = verifier(&flags(&file.arg()), &clock).await;
    for (name, value, step) in [
        ("sub", json!(null), Step::Org),
        ("sub", json!(7), Step::Org),
        ("org_id", json!(null), Step::Org),
        ("org_id", json!("acme"), Step::Org),
        ("org_id", json!("org_!!!!!!!!!!!!!!!!"), Step::Org),
        ("org_id", json!({"id": ORG}), Step::Org),
        ("app_id", json!("app_nope"), Step::App),
        ("scope", json!("runs:read runs:delete"), Step::Scopes),
        ("scopes", json!(["billing:*"]), Step::Scopes),
    ] {
        let mut c = claims(start());
        c[name] = value.clone();
        let t = v
            .verify(&k.rsa.token(&c), start())
            .await
            .expect("signature, issuer, audience and expiry pass");
        let d = decide(&t, &[], start());
        assert_eq!(d.code(), Some(ErrorCode::InvalidToken), "{name}={value}");
        let last = d.trace.last().expect("trace");
        assert_eq!((last.step, last.ok), (step, false), "{name}={value}");
        assert_eq!(
            d.result.expect_err("denied").message,
            ErrorCode::InvalidToken.default_message(),
            "the caller is not told which check failed"
        );
    }
    // An org that does not exist on this service.
    let mut c = claims(start());
    c["org_id"] = json!("org_0000000000000002");
    let t = v.verify(&k.rsa.token(&c), start()).await.expect("verified");
    let d = decide(&t, &[], start());
    assert_eq!(d.code(), Some(ErrorCode::InvalidToken));
    assert!(
        d.trace
            .last()
            .expect("trace")
            .detail
            .contains("does not exist")
    );
    // Another org claim.
    let mut other = flags(&file.arg());
    other.org_claim = Some("https://keys.example.test/org".into());
    let v = verifier(&other, &clock).await;
    let mut c = claims(start());
    c.as_object_mut().expect("obj").remove("org_id");
    c["https://keys.example.test/org"] = json!(ORG);
    let t = v.verify(&k.rsa.token(&c), start()).await.expect("verified");
    assert!(decide(&t, &[], start()).allowed());
}

#[tokio::test]
async fn an_oversize_token_is_refused_before_its_signature_is_checked() {
    let k = three();
    let file = JwksFile::new(&jwks(&[&k.ec]));
    let clock = clock();
    let v = verifier(&flags(&file.arg()), &clock).await;
    let mut c = claims(start());
    c["padding"] = json!("x".repeat(MAX_TOKEN_LEN));
    let t = k.ec.token(&c);
    assert!(t.len() > MAX_TOKEN_LEN);
    let f = assert_refused(v.verify(&t, start()).await, Step::Parse);
    assert!(detail(&f).contains("at most 8192"));
    // Just under the limit is fine.
    let mut c = claims(start());
    let base = k.ec.token(&c).len();
    c["padding"] = json!("x".repeat((MAX_TOKEN_LEN - base - 40) * 3 / 4));
    let t = k.ec.token(&c);
    assert!(t.len() <= MAX_TOKEN_LEN, "{}", t.len());
    assert!(v.verify(&t, start()).await.is_ok());
    for junk in ["a.b.c", "eyJ.eyJ.", "not-a-jwt"] {
        assert_refused(v.verify(junk, start()).await, Step::Parse);
    }
}

#[tokio::test]
async fn an_unknown_kid_refreshes_the_file_at_most_once_per_thirty_seconds() {
    let k = three();
    let file = JwksFile::new(&jwks(&[&k.rsa]));
    let clock = clock();
    let v = verifier(&flags(&file.arg()), &clock).await;
    let c = claims(start());
    // Just loaded: an unknown kid does not re-read the file.
    file.write(&jwks(&[&k.rsa, &k.ed]));
    let f = assert_refused(v.verify(&k.ed.token(&c), start()).await, Step::Signature);
    assert!(detail(&f).contains("less than 30 s"), "{}", detail(&f));
    clock.advance(Duration::seconds(30));
    let now = start() + Duration::seconds(30);
    let t = v
        .verify(&k.ed.token(&c), now)
        .await
        .expect("re-read on unknown kid");
    assert_eq!(t.kid, "ed-1");
    // A kid that is in no version of the file: refused after a refresh, then in cooldown.
    clock.advance(Duration::seconds(30));
    let now = now + Duration::seconds(30);
    let stranger = TestKey::ed25519("nobody");
    let f = assert_refused(v.verify(&stranger.token(&c), now).await, Step::Signature);
    assert!(detail(&f).contains("even after"), "{}", detail(&f));
    let f = assert_refused(v.verify(&stranger.token(&c), now).await, Step::Signature);
    assert!(detail(&f).contains("less than 30 s"), "{}", detail(&f));
}

#[tokio::test]
async fn a_cached_token_is_checked_once_and_dropped_when_its_key_leaves() {
    let k = three();
    let file = JwksFile::new(&jwks(&[&k.rsa, &k.ec]));
    let clock = clock();
    let v = verifier(&flags(&file.arg()), &clock).await;
    let t = k.rsa.token(&claims(start()));
    let a = v.verify(&t, start()).await.expect("ok");
    let b = v.verify(&t, start()).await.expect("ok");
    assert!(
        Arc::ptr_eq(&a, &b),
        "the second request is served from the cache"
    );
    let hot = v
        .cached(&t, start())
        .expect("the synchronous hot path finds it");
    assert!(Arc::ptr_eq(&a, &hot));
    assert!(v.cached(&k.ec.token(&claims(start())), start()).is_none());
    // The identity provider removes the key: after the next refresh the token is refused.
    file.write(&jwks(&[&k.ec]));
    clock.advance(Duration::minutes(10));
    let now = start() + Duration::minutes(10);
    assert!(matches!(
        v.jwks().refresh_if_due().await,
        keyconsole::server::jwks::Refresh::Done { changed: true }
    ));
    assert!(v.cached(&t, now).is_none(), "its key left the set");
    assert_refused(v.verify(&t, now).await, Step::Signature);
    assert!(v.verify(&k.ec.token(&claims(now)), now).await.is_ok());
}

#[tokio::test]
async fn traces_and_errors_never_hold_the_token() {
    let k = three();
    let file = JwksFile::new(&jwks(&[&k.rsa]));
    let clock = clock();
    let v = verifier(&flags(&file.arg()), &clock).await;
    let c = claims(start());
    let mut tokens = vec![
        k.rsa.token(&c),
        TestKey::rsa_other("rsa-1").token(&c),
        hmac_token(&json!({"alg": "HS256", "kid": "rsa-1"}), &c, b"s3cret"),
    ];
    let mut late = c.clone();
    late["exp"] = json!(0);
    tokens.push(k.rsa.token(&late));
    for t in &tokens {
        let sig = t.rsplit('.').next().expect("sig").to_owned();
        let text = match v.verify(t, start()).await {
            Ok(ok) => format!("{ok:?} {:?}", decide(&ok, &["keys:write"], start())),
            Err(f) => format!("{f:?} {:?}", f.clone().into_decision()),
        };
        assert!(!text.contains(t.as_str()) && !text.contains(&sig), "{text}");
    }
    assert!(!format!("{v:?}").contains(&tokens[0]));
}

#[tokio::test]
async fn settings_refuse_what_cannot_work() {
    let k = three();
    let clock = clock();
    let usage = |r: Result<Option<SessionSettings>, SessionConfigError>| match r {
        Err(SessionConfigError::Usage(m)) => m,
        other => panic!("expected a usage error, got {other:?}"),
    };
    let load = |f: SessionFlags| {
        let clock = Arc::clone(&clock);
        async move {
            SessionSettings::load(&f, clock.as_ref(), std::time::Duration::from_millis(300)).await
        }
    };
    // Sessions off.
    assert!(load(SessionFlags::default()).await.expect("off").is_none());
    let good = JwksFile::new(&jwks(&[&k.rsa]));
    let mut f = flags(&good.arg());
    f.issuer = None;
    assert!(usage(load(f).await).contains("--jwt-issuer"));
    let f = SessionFlags {
        issuer: Some("x".into()),
        ..SessionFlags::default()
    };
    assert!(usage(load(f).await).contains("needs --jwks"));
    let m = usage(load(flags("/nonexistent/jwt-test/jwks.json")).await);
    assert!(
        m.contains("cannot read") && m.contains("/nonexistent/jwt-test/jwks.json"),
        "{m}"
    );
    let garbage = JwksFile::new(&json!({"hello": "world"}));
    assert!(usage(load(flags(&garbage.arg())).await).contains("not a JWKS"));
    let discovery = JwksFile::new(&json!({"issuer": "x", "jwks_uri": "https://x/certs"}));
    assert!(usage(load(flags(&discovery.arg())).await).contains("jwks_uri"));
    let secret_only = JwksFile::new(&json!({"keys": [
        {"kty": "oct", "kid": "h1", "k": "c2VjcmV0"},
        {"kty": "RSA", "kid": "enc", "use": "enc", "n": "AQAB", "e": "AQAB"},
    ]}));
    let m = usage(load(flags(&secret_only.arg())).await);
    assert!(
        m.contains("no usable signing key") && m.contains("symmetric"),
        "{m}"
    );
    let mut f = flags(&good.arg());
    f.org_claim = Some("sub".into());
    assert!(usage(load(f).await).contains("--jwt-org-claim"));
    let mut f = flags(&good.arg());
    f.audience = Some(" ".into());
    assert!(usage(load(f).await).contains("--jwt-audience"));
    assert!(usage(load(flags("http://example.com/jwks")).await).contains("https"));
    // Mixed sets keep what is usable and say what was skipped.
    let mut doc = jwks(&[&k.rsa]);
    let keys = doc["keys"].as_array_mut().expect("keys");
    keys.push(json!({"kty": "oct", "kid": "h1", "k": "c2VjcmV0"}));
    keys.push(json!({"kty": "RSA", "kid": "enc-1", "use": "enc", "alg": "RSA-OAEP", "n": "AQAB", "e": "AQAB"}));
    let ec = TestKey::p256("dup");
    let ed = TestKey::ed25519("dup");
    keys.push(ec.jwk());
    keys.push(ed.jwk());
    let mixed = JwksFile::new(&doc);
    let s = settings(&flags(&mixed.arg()), &clock).await;
    assert_eq!(s.keys.kids(), ["rsa-1"]);
    assert_eq!(s.keys.skipped().len(), 3, "{:?}", s.keys.skipped());
}
