//! The request tester: building, linting, sending, diagnosing a 401/403 with the server's
//! trace, cURL export, history; snapshots of its panels.

use keyconsole::api::{TraceItem, VerifyResponse};
use keyconsole::domain::record::KeyStatus;
use keyconsole::tui::app::modal::Modal;
use keyconsole::tui::app::tester::{CredForm, TField, TesterResponse};
use keyconsole::tui::app::{Action, App, Command, CopyWhat};
use tui_input::InputRequest;

use crate::fixtures::{SECRET, app, key, render};

fn tester(a: &App) -> &keyconsole::tui::app::tester::Tester {
    match a.modals.last() {
        Some(Modal::Tester(t)) => t,
        other => panic!("tester expected, got {other:?}"),
    }
}

pub(crate) fn open(size: (u16, u16)) -> App {
    let mut a = app(3, size);
    let _ = a.update(Action::TestKey);
    a
}

pub(crate) fn paste_secret(a: &mut App, s: &str) {
    // Focus starts on the secret.
    let _ = a.update(Action::Paste(s.to_owned()));
}

pub(crate) fn denied() -> TesterResponse {
    TesterResponse::from_raw(
        401,
        12,
        vec![
            ("x-request-id".into(), "req_00000000000000000042".into()),
            (
                "www-authenticate".into(),
                "Bearer realm=\"keyconsole\", error=\"invalid_token\"".into(),
            ),
        ],
        r#"{"error":{"type":"unauthorized","code":"key_expired","message":"This API key has expired.","request_id":"req_00000000000000000042"}}"#,
    )
}

pub(crate) fn trace() -> VerifyResponse {
    let mut k = key(0, "Service 000", KeyStatus::Expired);
    k.rotated_to = Some("pk_live_000000000000000000000099".into());
    k.expires_at = Some(crate::fixtures::now() - chrono::Duration::hours(3));
    let steps = [
        ("parse", true, "public key and secret pair is well formed"),
        ("checksum", true, "checksum matches"),
        ("lookup", true, "the key exists in this organization"),
        ("enabled", true, "the key is enabled"),
        (
            "expiry",
            false,
            "the key expired: it was rotated to pk_live_000000000000000000000099",
        ),
    ];
    VerifyResponse {
        valid: false,
        code: Some("key_expired".into()),
        status: 401,
        message: Some("This API key has expired.".into()),
        scopes: k.scopes.clone(),
        key: Some(k),
        trace: steps
            .iter()
            .map(|(s, ok, d)| TraceItem {
                step: (*s).into(),
                ok: *ok,
                detail: (*d).into(),
            })
            .collect(),
        session: None,
    }
}

#[test]
fn opens_on_the_selected_key_and_lints_before_sending() {
    let mut a = open((120, 40));
    let t = tester(&a);
    assert_eq!(t.form, CredForm::BearerPair);
    assert_eq!(t.pk.value(), "pk_live_000000000000000000000000");
    assert_eq!(t.url.value(), "http://127.0.0.1:7878/v1/me");
    assert_eq!(t.focus, TField::Credential);
    // A truncated secret is caught offline.
    paste_secret(&mut a, &SECRET[..SECRET.len() - 3]);
    let text = render(&a, (120, 40));
    assert!(text.contains("Offline check before sending"), "{text}");
    assert!(!text.contains(&SECRET[8..30]), "the secret stays masked");
}

#[test]
fn send_then_diagnose_a_401_with_the_trace_and_the_fix() {
    let mut a = open((120, 40));
    paste_secret(&mut a, SECRET);
    let cmds = a.update(Action::Send);
    let Some(Command::SendRequest {
        method,
        url,
        headers,
        body,
    }) = cmds.first()
    else {
        panic!("{cmds:?}")
    };
    assert_eq!(
        (method.as_str(), url.as_str(), body),
        ("GET", "http://127.0.0.1:7878/v1/me", &None)
    );
    assert_eq!(headers[0].0, "authorization");
    assert!(headers[0].1.expose().ends_with(SECRET));
    assert!(
        !format!("{cmds:?}").contains(&SECRET[8..30]),
        "Debug of a command never shows the secret"
    );
    let cmds = a.update(Action::TesterAnswered(Box::new(Ok(denied()))));
    let Some(Command::Diagnose(req)) = cmds.first() else {
        panic!("{cmds:?}")
    };
    assert_eq!(
        req.credential.expose(),
        format!("pk_live_000000000000000000000000:{SECRET}")
    );
    let _ = a.update(Action::Diagnosed(Ok(trace())));
    let text = render(&a, (120, 40));
    assert!(text.contains("✗ expiry"), "{text}");
    assert!(text.contains("switch the client"), "{text}");
    assert_eq!(tester(&a).history.len(), 1);
    insta::assert_snapshot!("tester_diagnosed_120x40", text);
    insta::assert_snapshot!("tester_diagnosed_80x24", render(&a, (80, 24)));
}

#[test]
fn before_sending_snapshots() {
    for size in [(80, 24), (120, 40)] {
        let mut a = open(size);
        paste_secret(&mut a, " \"sk_live_short\"");
        insta::assert_snapshot!(
            format!("tester_lint_{}x{}", size.0, size.1),
            render(&a, size)
        );
    }
}

#[test]
fn copy_as_curl_uses_api_key_and_history_recalls() {
    let mut a = open((80, 24));
    paste_secret(&mut a, SECRET);
    let cmds = a.update(Action::CopyCurl);
    match cmds.as_slice() {
        [Command::Copy(CopyWhat::Text(c))] => {
            assert!(c.contains("$API_KEY") && !c.contains(&SECRET[8..]), "{c}");
        }
        other => panic!("{other:?}"),
    }
    let _ = a.update(Action::Send);
    let _ = a.update(Action::TesterAnswered(Box::new(Ok(
        TesterResponse::from_raw(200, 3, vec![], "{}"),
    ))));
    // Change the URL, then recall the sent one.
    for _ in 0..3 {
        let _ = a.update(Action::PrevField);
    }
    assert_eq!(tester(&a).focus, TField::Url);
    let _ = a.update(Action::Edit(InputRequest::InsertChar('x')));
    let _ = a.update(Action::RecallOlder);
    assert_eq!(tester(&a).url.value(), "http://127.0.0.1:7878/v1/me");
}

#[test]
fn forms_cycle_and_a_request_id_can_be_looked_up_from_the_tester() {
    let mut a = open((80, 24));
    while tester(&a).focus != TField::Form {
        let _ = a.update(Action::PrevField);
    }
    let _ = a.update(Action::Right);
    assert_eq!(tester(&a).form, CredForm::ApiKey);
    while tester(&a).focus != TField::RequestId {
        let _ = a.update(Action::NextField);
    }
    for c in "req_00000000000000000042".chars() {
        let _ = a.update(Action::Edit(InputRequest::InsertChar(c)));
    }
    let cmds = a.update(Action::Enter);
    assert_eq!(
        cmds,
        vec![Command::LookupRequest("req_00000000000000000042".into())]
    );
    assert!(matches!(a.modals.last(), Some(Modal::Lookup(_))));
    let _ = a.update(Action::Back);
    assert!(matches!(a.modals.last(), Some(Modal::Tester(_))));
    let _ = a.update(Action::Back);
    assert!(
        a.modals.is_empty(),
        "Esc closes the tester and drops the secret"
    );
}

fn ok_response(status: u16) -> TesterResponse {
    TesterResponse::from_raw(status, 5, vec![], r#"{"ok":true}"#)
}

fn answered(a: &mut App, r: TesterResponse) {
    let _ = a.update(Action::TesterAnswered(Box::new(Ok(r))));
}

fn tester_mut(a: &mut App) -> &mut keyconsole::tui::app::tester::Tester {
    match a.modals.last_mut() {
        Some(Modal::Tester(t)) => t,
        _ => panic!("tester expected"),
    }
}

/// Issue 12, defect 4: every diagnosis agrees with the server's answer. One row per case:
/// (what happened, what the panel must show, what it must not).
#[test]
fn the_diagnosis_agrees_with_the_servers_answer() {
    type Setup = fn(&mut App);
    let cases: Vec<(&str, Setup, Vec<&str>, Vec<&str>)> = vec![
        (
            "a refusal the trace explains: the failing step and the fix",
            |a| {
                paste_secret(a, SECRET);
                answered(a, denied());
                let _ = a.update(Action::Diagnosed(Ok(trace())));
            },
            vec!["401 key_expired", "✓ parse", "✗ expiry", "Fix:"],
            vec![],
        ),
        (
            "a 401 the credential alone would pass (both headers set): no all-✓ trace",
            |a| {
                paste_secret(a, SECRET);
                tester_mut(a).headers = tui_input::Input::new(format!("x-api-key: {SECRET}"));
                answered(a, denied());
                let mut v = trace();
                v.valid = true;
                v.code = None;
                v.status = 200;
                for s in &mut v.trace {
                    s.ok = true;
                }
                let _ = a.update(Action::Diagnosed(Ok(v)));
            },
            vec![
                "401 key_expired",
                "credential alone verifies",
                "both Authorization",
            ],
            vec!["✓ parse"],
        ),
        (
            "the secret was edited after the answer: the old verdict is gone",
            |a| {
                paste_secret(a, SECRET);
                answered(a, denied());
                let _ = a.update(Action::Diagnosed(Ok(trace())));
                let _ = a.update(Action::Edit(InputRequest::DeletePrevChar));
            },
            vec!["Edited since the last answer"],
            vec!["401 key_expired", "✗ expiry"],
        ),
        (
            "a public key alone that the server allowed: ⚠, never ✗",
            |a| {
                tester_mut(a).form = CredForm::PublicKey;
                answered(a, ok_response(200));
            },
            vec!["✓ The server allowed this request (HTTP 200)"],
            vec!["✗"],
        ),
        (
            "Ctrl-y says what happened inside the tester",
            |a| {
                let cmds = a.update(Action::CopyCurl);
                assert!(matches!(
                    cmds.as_slice(),
                    [Command::Copy(CopyWhat::Text(_))]
                ));
                let _ = a.update(Action::Copied {
                    secret: false,
                    result: Ok(crate::fixtures::osc52_done("cURL command")),
                });
            },
            vec!["cURL command sent by OSC 52"],
            vec![],
        ),
    ];
    for (case, setup, shows, hides) in cases {
        let mut a = open((120, 40));
        setup(&mut a);
        let screen = render(&a, (120, 40));
        for want in shows {
            assert!(screen.contains(want), "{case}: missing {want:?}\n{screen}");
        }
        for not in hides {
            assert!(!screen.contains(not), "{case}: shows {not:?}\n{screen}");
        }
    }
}

/// Issue 12, defect 4: secrets typed into "Extra headers" are masked on screen.
#[test]
fn credential_headers_are_masked_while_typed() {
    let mut a = open((120, 40));
    tester_mut(&mut a).focus = TField::Headers;
    for c in format!("X-Trace: 1; Authorization: Bearer {SECRET}").chars() {
        let _ = a.update(Action::Edit(InputRequest::InsertChar(c)));
    }
    let screen = render(&a, (120, 40));
    assert!(screen.contains("X-Trace: 1; Authorization:"), "{screen}");
    assert!(!screen.contains(&SECRET[8..20]), "{screen}");
}
/// A JWT pasted in the tester is linted offline: header, claims with `exp` relative to now,
/// HS256 flagged, and the note that the signature is not verified. The token itself is never
/// on screen.
#[test]
fn a_pasted_jwt_is_linted_offline() {
    use base64::Engine as _;
    let b64 = |v: serde_json::Value| {
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(v.to_string())
    };
    for size in [(80, 24), (120, 40)] {
        let mut a = open(size);
        let exp = (crate::fixtures::now() - chrono::Duration::hours(3)).timestamp();
        let token = format!(
            "{}.{}.c2lnbmF0dXJl",
            b64(serde_json::json!({"alg": "HS256", "kid": "k1", "typ": "JWT"})),
            b64(
                serde_json::json!({"iss": "https://id.example.test/", "sub": "user_ana",
                                   "email": "ana@acme.test", "exp": exp})
            )
        );
        paste_secret(&mut a, &token);
        let text = render(&a, size);
        assert!(!text.contains(&token[..40]), "the token is not shown");
        insta::assert_snapshot!(format!("tester_jwt_lint_{}x{}", size.0, size.1), text);
    }
}

/// A session token for the lint, built by hand (base64url of JSON; the lint never checks a
/// signature, so none is made).
fn jwt(header: serde_json::Value, claims: serde_json::Value, signature: &str) -> String {
    use base64::Engine as _;
    let b64 = |v: serde_json::Value| {
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(v.to_string())
    };
    format!("{}.{}.{signature}", b64(header), b64(claims))
}

/// Times from the fixed clock, so snapshots are stable.
fn at(hours: i64) -> i64 {
    (crate::fixtures::now() + chrono::Duration::hours(hours)).timestamp()
}

/// (a) RS256 with a kid and every claim a session needs, expired 3 h ago.
fn expired_rs256() -> String {
    jwt(
        serde_json::json!({"alg": "RS256", "kid": "idp-2026-11", "typ": "JWT"}),
        serde_json::json!({"iss": "https://id.acme.test/", "sub": "user_ana",
                           "aud": "keyconsole", "org_id": "org_0000000000000001",
                           "scope": "keys:read audit:read", "email": "ana@acme.test",
                           "iat": at(-4), "exp": at(-3)}),
        "c2lnbmF0dXJl",
    )
}

/// (b) Unsigned: `alg: none`, no kid, an empty signature.
fn alg_none() -> String {
    jwt(
        serde_json::json!({"alg": "none", "typ": "JWT"}),
        serde_json::json!({"iss": "https://id.acme.test/", "sub": "user_ana",
                           "org_id": "org_0000000000000001", "exp": at(1)}),
        "",
    )
}

/// (c) HS256 (a shared secret), without the org claim or any scope.
fn hs256() -> String {
    jwt(
        serde_json::json!({"alg": "HS256", "kid": "k1", "typ": "JWT"}),
        serde_json::json!({"iss": "https://id.acme.test/", "sub": "user_ana", "exp": at(1)}),
        "c2lnbmF0dXJl",
    )
}

/// Open the tester on the JWT form with `token` pasted.
fn open_jwt(size: (u16, u16), token: &str) -> App {
    let mut a = open(size);
    while tester(&a).focus != TField::Form {
        let _ = a.update(Action::PrevField);
    }
    while tester(&a).form != CredForm::BearerJwt {
        let _ = a.update(Action::Right);
    }
    while tester(&a).focus != TField::Credential {
        let _ = a.update(Action::NextField);
    }
    paste_secret(&mut a, token);
    a
}

/// The JWT form: `Authorization: Bearer <jwt>`, the token masked as "JWT", no public key,
/// and its offline check is the JWT lint, problems first.
#[test]
fn the_jwt_form_lints_the_token_offline() {
    let cases = [
        (
            "jwt_form_expired_rs256",
            expired_rs256(),
            vec!["RS256", "idp-2026-11", "expired 3 h ago", "✗ expired"],
        ),
        (
            "jwt_form_alg_none",
            alg_none(),
            vec!["`none`", "✗ alg_none", "✗ no_kid"],
        ),
        (
            "jwt_form_hs256",
            hs256(),
            vec!["HS256", "✗ alg_hmac", "org_id"],
        ),
    ];
    for (name, token, shows) in cases {
        let mut a = open_jwt((120, 40), &token);
        let t = tester(&a);
        assert_eq!(t.form, CredForm::BearerJwt);
        let headers: Vec<(String, String)> = t
            .request_headers()
            .into_iter()
            .map(|(k, v)| (k, v.expose().to_owned()))
            .collect();
        assert_eq!(
            headers,
            vec![("authorization".to_owned(), format!("Bearer {token}"))]
        );
        let screen = render(&a, (120, 40));
        for want in shows.iter().chain(&[
            "Authorization: Bearer <jwt>",
            "›JWT",
            "Offline JWT check",
            "The signature was not verified",
        ]) {
            assert!(screen.contains(want), "{name}: missing {want:?}\n{screen}");
        }
        assert!(!screen.contains("Public key"), "{name}\n{screen}");
        for piece in token.split(['.', '_', '-']).filter(|p| p.len() >= 6) {
            assert!(!screen.contains(piece), "{name}: the token shows\n{screen}");
        }
        insta::assert_snapshot!(format!("{name}_120x40"), screen);
        // Nothing else shows it either.
        assert!(!format!("{:?}", a.modals).contains(&token[..24]), "{name}");
        let _ = a.update(Action::CopyCurl);
        assert!(
            a.toast
                .as_ref()
                .is_none_or(|t| !t.text.contains(&token[..24]))
        );
    }
    insta::assert_snapshot!(
        "jwt_form_expired_rs256_80x24",
        render(&open_jwt((80, 24), &expired_rs256()), (80, 24))
    );
    for size in [(1, 1), (20, 5), (80, 9), (81, 25)] {
        let mut a = open_jwt((80, 24), &expired_rs256());
        let _ = a.update(Action::Resize(size.0, size.1));
        let _ = render(&a, size);
    }
}

fn session_trace(code: &str, steps: &[(&str, bool, &str)]) -> VerifyResponse {
    VerifyResponse {
        valid: false,
        code: Some(code.into()),
        status: 401,
        message: None,
        key: None,
        scopes: vec![],
        trace: steps
            .iter()
            .map(|(s, ok, d)| TraceItem {
                step: (*s).into(),
                ok: *ok,
                detail: (*d).into(),
            })
            .collect(),
        session: None,
    }
}

fn refused(code: &str) -> TesterResponse {
    TesterResponse::from_raw(
        401,
        4,
        vec![("x-request-id".into(), "req_00000000000000000043".into())],
        &format!(
            r#"{{"error":{{"type":"unauthorized","code":"{code}","message":"m","request_id":"req_00000000000000000043"}}}}"#
        ),
    )
}

/// After sending a JWT the diagnosis agrees with the server: the trace it asked for is the
/// token's (POST /v1/verify with exactly the token), and the fix is a session's, not a key's.
#[test]
fn a_refused_jwt_is_diagnosed_as_a_session() {
    let no_verify = || keyconsole::tui::app::UiError {
        message: "Refused".into(),
        code: Some("insufficient_scope".into()),
        status: Some(403),
        request_id: None,
        unreachable: false,
    };
    let expiry = [
        ("parse", true, "the token is a JWT"),
        ("signature", true, "the signature is valid"),
        ("issuer", true, "issuer matches"),
        ("audience", true, "audience matches"),
        ("expiry", false, "the token expired"),
    ];
    let cases = vec![
        (
            "sessions off: every JWT is malformed_credentials",
            "malformed_credentials",
            Ok(session_trace(
                "malformed_credentials",
                &[(
                    "parse",
                    false,
                    "This service does not accept session tokens (JWT); send an API key.",
                )],
            )),
            vec![
                "401 malformed_credentials",
                "✗ parse",
                "needs --jwks and --jwt-issuer",
            ],
            vec!["Bearer <key>", "Offline JWT check"],
        ),
        (
            "expired: token_expired at the expiry step",
            "token_expired",
            Ok(session_trace("token_expired", &expiry)),
            vec![
                "401 token_expired",
                "✓ signature",
                "✗ expiry",
                "sign in again",
            ],
            vec!["Code token_expired"],
        ),
        (
            "a bad signature: invalid_token at the signature step",
            "invalid_token",
            Ok(session_trace(
                "invalid_token",
                &[
                    ("parse", true, "the token is a JWT"),
                    ("signature", false, "no key with kid `idp-2026-11`"),
                ],
            )),
            vec!["401 invalid_token", "✗ signature", "--jwks"],
            vec!["Code invalid_token"],
        ),
        (
            "no trace (the console's key lacks keys:verify): the JWT lint, never the key lint",
            "token_expired",
            Err(no_verify()),
            vec![
                "401 token_expired",
                "No trace",
                "the token expired 3 h ago",
                "sign in again",
            ],
            vec!["prefix", "Code token_expired"],
        ),
    ];
    let token = expired_rs256();
    for (case, code, diagnosed, shows, hides) in cases {
        let mut a = open_jwt((120, 40), &token);
        let cmds = a.update(Action::Send);
        assert!(
            matches!(cmds.as_slice(), [Command::SendRequest { headers, .. }]
                if headers.len() == 1 && headers[0].1.expose() == format!("Bearer {token}")),
            "{case}: {cmds:?}"
        );
        let cmds = a.update(Action::TesterAnswered(Box::new(Ok(refused(code)))));
        let Some(Command::Diagnose(req)) = cmds.first() else {
            panic!("{case}: {cmds:?}")
        };
        assert_eq!(req.credential.expose(), token, "{case}: the token alone");
        let _ = a.update(Action::Diagnosed(diagnosed));
        let screen = render(&a, (120, 40));
        for want in shows {
            assert!(screen.contains(want), "{case}: missing {want:?}\n{screen}");
        }
        for not in hides {
            assert!(!screen.contains(not), "{case}: shows {not:?}\n{screen}");
        }
    }
}

/// With `--mouse`, the buttons in the tester's title act as their keys: `Ctrl-s sends` sends
/// the request, `Esc closes` closes the tester.
#[test]
fn the_testers_title_buttons_take_clicks() {
    use keyconsole::tui::views::click;
    for size in [(80, 24), (120, 40)] {
        let mut a = app(3, size);
        let _ = a.update(Action::TestKey);
        assert!(matches!(a.modals.last(), Some(Modal::Tester(_))));
        let screen = render(&a, size);
        let (x, y) = crate::fixtures::at(&screen, "Ctrl-s sends");
        assert_eq!(click(&a, size, x + 2, y), Some(Action::Send), "{screen}");
        let (x, y) = crate::fixtures::at(&screen, "Esc closes");
        assert_eq!(click(&a, size, x, y), Some(Action::Back), "{screen}");
        assert_eq!(click(&a, size, x, y + 1), None, "below the title");
        let _ = a.update(click(&a, size, x, y).expect("Esc"));
        assert!(a.modals.is_empty(), "{size:?}: closed");
    }
}
