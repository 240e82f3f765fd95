//! The console against a real server: the embedded service with its demo organization on a
//! real port, the console's `App` driven by keystroke actions and its real `Executor` making
//! the HTTP calls. The request tester's JWT form gets the server's own answer for a session
//! token (sessions are off here) and its diagnosis agrees with it; the Audit tab's actor
//! filter is the server's (`GET /v1/audit?actor=`), page after page.

use keyconsole::client::Client;
use keyconsole::console::start_embedded;
use keyconsole::tui::app::Loadable;
use keyconsole::tui::app::modal::Modal;
use keyconsole::tui::app::tester::{CredForm, Tester};
use keyconsole::tui::app::{Action, App};

#[path = "support/mod.rs"]
mod support;
use support::console::Console;

fn tester(a: &App) -> Option<&Tester> {
    a.modals.iter().rev().find_map(|m| match m {
        Modal::Tester(t) => Some(t.as_ref()),
        _ => None,
    })
}

/// A well-formed session token (RS256, a kid, every claim a session needs); unsigned, which
/// does not matter on a service with sessions off.
fn session_token() -> String {
    use base64::Engine as _;
    let b64 = |v: serde_json::Value| {
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(v.to_string())
    };
    let exp = (chrono::Utc::now() + chrono::Duration::hours(1)).timestamp();
    format!(
        "{}.{}.c2lnbmF0dXJl",
        b64(serde_json::json!({"alg": "RS256", "kid": "k1", "typ": "JWT"})),
        b64(
            serde_json::json!({"iss": "https://id.acme.test/", "sub": "user_ana",
                               "org_id": "org_0000000000000001", "scope": "keys:read",
                               "exp": exp})
        )
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_jwt_sent_from_the_tester_gets_the_servers_verdict_and_a_sessions_fix() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (mut c, e) = Console::start(dir.path()).await;
    c.press(Action::TestKey);
    assert!(tester(&c.app).is_some(), "the tester opens");
    let token = session_token();
    c.press(Action::Paste(token.clone()));
    assert_eq!(tester(&c.app).map(|t| t.form), Some(CredForm::BearerJwt));
    c.press(Action::Send);
    c.until("the answer and the server's trace", |a| {
        tester(a).is_some_and(|t| {
            t.response.is_some() && !matches!(t.diagnosis, Loadable::Loading | Loadable::Idle)
        })
    })
    .await;
    let t = tester(&c.app).expect("tester");
    let Some(Ok(r)) = &t.response else {
        panic!("{:?}", t.response)
    };
    // API.md §8: with sessions off a JWT is malformed_credentials, and /v1/verify agrees.
    assert_eq!(
        (r.status, r.code.as_deref()),
        (401, Some("malformed_credentials"))
    );
    let Loadable::Ready(v) = &t.diagnosis else {
        panic!("{:?}", t.diagnosis)
    };
    assert_eq!(v.code.as_deref(), Some("malformed_credentials"));
    let screen = c.screen();
    for want in [
        "401 malformed_credentials",
        "✗ parse",
        "does not accept session tokens",
        "needs --jwks and --jwt-issuer",
    ] {
        assert!(screen.contains(want), "missing {want:?}\n{screen}");
    }
    assert!(!screen.contains("Bearer <key>"), "a key's fix\n{screen}");
    for piece in token.split(['.', '_', '-']).filter(|p| p.len() >= 6) {
        assert!(!screen.contains(piece), "the token shows\n{screen}");
    }
    e.stop().await;
}

/// `A` on a row shows only that actor's entries, asked of the server: every row loaded, over
/// two pages (the console asks 100 at a time), is by that actor, and there are exactly as
/// many as the server holds for it; `A` again shows everyone's.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_audit_actor_filter_is_the_servers_and_pages() {
    use keyconsole::api::{AuditQuery, CreateKeyRequest, UpdateKeyRequest};
    let dir = tempfile::tempdir().expect("tempdir");
    let e = start_embedded(dir.path(), false).await.expect("embedded");
    let owner = Client::new(&e.url, Some(e.token.clone())).expect("client");
    // A second actor: a worker key that edits a key 110 times, each edit followed by one of
    // the console's own key, so the log mixes the two.
    let worker = owner
        .create_key(&CreateKeyRequest {
            name: "Audit worker".into(),
            scopes: Some(vec!["keys:read".into(), "keys:write".into()]),
            ..Default::default()
        })
        .await
        .expect("worker key");
    let target = owner
        .create_key(&CreateKeyRequest {
            name: "Edited by the worker".into(),
            scopes: Some(vec!["keys:read".into()]),
            ..Default::default()
        })
        .await
        .expect("target key");
    let w = Client::new(&e.url, Some(worker.secret.clone())).expect("client");
    for i in 0..110 {
        for (who, c) in [("worker", &w), ("owner", &owner)] {
            c.update_key(
                &target.key.id,
                &UpdateKeyRequest {
                    name: Some(format!("Edited by the {who} {i}")),
                    ..Default::default()
                },
                None,
            )
            .await
            .expect("edit");
        }
    }
    let by_worker = format!("key:{}", worker.key.id);
    let on_server = owner
        .audit(&AuditQuery {
            limit: Some(500),
            actor: Some(by_worker.clone()),
            ..Default::default()
        })
        .await
        .expect("audit by the worker");
    assert_eq!(on_server.data.len(), 110);

    let (mut c, _) = Console::on(&e).await;
    c.press(Action::GoTab(keyconsole::tui::app::Tab::Audit));
    c.until("the audit log", |a| a.audit.loaded && !a.audit.loading)
        .await;
    let everyone = c.app.audit.rows.len();
    assert_eq!(everyone, 100, "a full first page");
    let theirs = |a: &App| {
        a.audit
            .rows
            .iter()
            .filter(|r| r.actor.id == worker.key.id)
            .count()
    };
    assert_eq!(theirs(&c.app), 50, "half the page is the worker's");
    // The newest is the console's own edit; the worker's is the row below.
    assert_ne!(c.app.audit.rows[0].actor.id, worker.key.id);
    c.press(Action::Down);
    assert_eq!(c.app.audit.rows[1].actor.id, worker.key.id);
    c.press(Action::FilterAuditActor);
    c.until("the worker's entries", |a| {
        a.audit.loaded && !a.audit.loading
    })
    .await;
    assert_eq!(c.app.audit.rows.len(), 100);
    assert!(c.app.audit.next_cursor.is_some(), "a second page");
    let screen = c.screen();
    // Named as the Actor column names it (the console has the worker in its keys).
    assert!(
        screen.contains("Audit › actor: key Audit worker"),
        "{screen}"
    );
    // The next page keeps the filter.
    c.press(Action::Bottom);
    c.until("the second page", |a| !a.audit.loading).await;
    let rows = &c.app.audit.rows;
    assert_eq!(rows.len(), 110, "exactly the worker's entries");
    assert!(rows.iter().all(|r| r.actor.id == worker.key.id
        && r.actor.kind == keyconsole::api::ActorKind::Key));
    assert!(c.app.audit.next_cursor.is_none());
    let ids: Vec<&str> = rows.iter().map(|r| r.id.as_str()).collect();
    let want: Vec<&str> = on_server.data.iter().map(|r| r.id.as_str()).collect();
    assert_eq!(ids, want, "the server's entries, in the server's order");
    // Again: everyone's.
    c.press(Action::FilterAuditActor);
    c.until("everyone's entries", |a| a.audit.loaded && !a.audit.loading)
        .await;
    assert!(c.app.audit.rows.iter().any(|r| r.actor.id != worker.key.id));
    assert!(!c.screen().contains("actor:"));

    // Enter on a row shows its whole change, which the table cuts off.
    let wide: Vec<String> = [
        "work-orders:write",
        "work-orders:read",
        "runs:read",
        "runs:write",
        "credits:read",
        "webhooks:read",
        "webhooks:write",
        "templates:read",
        "templates:write",
        "usage:read",
        "audit:read",
    ]
    .map(str::to_owned)
    .to_vec();
    owner
        .update_key(
            &target.key.id,
            &UpdateKeyRequest {
                scopes: Some(wide.clone()),
                ..Default::default()
            },
            None,
        )
        .await
        .expect("widen");
    c.press(Action::Refresh);
    c.until("the new entry", |a| {
        !a.audit.loading
            && a.audit
                .rows
                .first()
                .is_some_and(|r| r.changes.get("scopes").is_some())
    })
    .await;
    assert!(!c.screen().contains("audit:read"), "cut off in the table");
    // The refresh kept the entry that was selected; the new one is at the top.
    c.press(Action::Top);
    c.press(Action::Enter);
    let flat = c
        .screen()
        .lines()
        .map(str::trim)
        .collect::<Vec<_>>()
        .join(" ");
    for s in wide.iter().filter(|s| *s != "keys:read") {
        assert!(flat.contains(&format!("+ {s}")), "{s}: {flat}");
    }
    assert!(flat.contains("− keys:read"), "{flat}");
    e.stop().await;
}

/// Undo from the audit log against the real server: `u` on an edit's entry sets the key
/// back (the undo is audited itself); when the key changes between the question and the
/// answer, the PATCH's If-Match is refused, said, and the other change stays.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn undo_sets_a_key_back_and_a_conflict_overwrites_nothing() {
    use keyconsole::api::{CreateKeyRequest, UpdateKeyRequest};
    use keyconsole::tui::app::Tab;
    let dir = tempfile::tempdir().expect("tempdir");
    let e = start_embedded(dir.path(), false).await.expect("embedded");
    let owner = Client::new(&e.url, Some(e.token.clone())).expect("client");
    let target = owner
        .create_key(&CreateKeyRequest {
            name: "Undo me".into(),
            scopes: Some(vec!["runs:read".into()]),
            ..Default::default()
        })
        .await
        .expect("key")
        .key;
    let rename = |name: &str| UpdateKeyRequest {
        name: Some(name.into()),
        scopes: Some(vec!["runs:read".into(), "runs:write".into()]),
        ..Default::default()
    };
    owner
        .update_key(&target.id, &rename("Undo me (renamed)"), None)
        .await
        .expect("edit");
    let (mut c, _) = Console::on(&e).await;
    c.press(Action::GoTab(Tab::Audit));
    c.until("the audit log", |a| a.audit.loaded && !a.audit.loading)
        .await;
    let edit = |a: &App| {
        a.audit
            .rows
            .iter()
            .position(|r| r.key_id.as_deref() == Some(&target.id) && r.action == "key.updated")
            .expect("the edit's entry")
    };
    c.app.audit.selected = edit(&c.app);
    c.press(Action::Undo);
    c.until("the undo's question", |a| {
        matches!(a.modals.last(), Some(Modal::Confirm(_)))
    })
    .await;
    let Some(Modal::Confirm(q)) = c.app.modals.last() else {
        unreachable!()
    };
    let body = q.body.join("\n");
    assert!(body.contains("name: Undo me (renamed) → Undo me"), "{body}");
    assert!(body.contains("− runs:write"), "{body}");
    c.press(Action::Yes);
    c.until("the undo", |a| {
        a.toast
            .as_ref()
            .is_some_and(|t| t.text.starts_with("Undone"))
    })
    .await;
    let now = owner.get_key(&target.id).await.expect("key");
    assert_eq!(now.name, "Undo me");
    assert_eq!(now.scopes, vec!["runs:read".to_owned()]);
    c.until("the log again", |a| a.audit.loaded && !a.audit.loading)
        .await;
    assert_eq!(
        c.app.audit.rows[0].actor.id,
        c.app
            .me
            .as_ref()
            .and_then(|m| m.key.as_ref())
            .expect("me")
            .id,
        "the undo is an entry of its own, by the console's key"
    );

    // Again, but someone edits the key while the question is open.
    owner
        .update_key(&target.id, &rename("Renamed twice"), None)
        .await
        .expect("edit");
    c.press(Action::Refresh);
    c.until("the log", |a| {
        a.audit.loaded && !a.audit.loading && a.audit.rows.len() > 1
    })
    .await;
    c.app.audit.selected = edit(&c.app);
    c.press(Action::Undo);
    c.until("the undo's question", |a| {
        matches!(a.modals.last(), Some(Modal::Confirm(_)))
    })
    .await;
    owner
        .update_key(
            &target.id,
            &UpdateKeyRequest {
                description: Some(Some("edited meanwhile".into())),
                ..Default::default()
            },
            None,
        )
        .await
        .expect("the other edit");
    c.press(Action::Yes);
    c.until("the refusal", |a| {
        a.toast
            .as_ref()
            .is_some_and(|t| t.text.starts_with("Not undone"))
    })
    .await;
    let now = owner.get_key(&target.id).await.expect("key");
    assert_eq!(now.name, "Renamed twice", "nothing overwritten");
    assert_eq!(now.description.as_deref(), Some("edited meanwhile"));
}
