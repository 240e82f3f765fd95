//! The Review tab and the leak response through a real server: the embedded service with its
//! demo organization on a real port, the console's `App` driven by keystroke actions and its
//! real `Executor` making the HTTP calls. Checks that the demo shows the review at work (a
//! leaked key first, keys without owners, over-privileged keys whose suggestion differs) and
//! that each action changes the key on the server: narrow to the suggested scopes, set an
//! owner, disable the leaked key; and that the key detail shows where the leak was seen and
//! how each held scope was used.

use keyconsole::api::KeyObject;
use keyconsole::console::start_embedded;
use keyconsole::tui::app::Loadable;
use keyconsole::tui::app::form::Field;
use keyconsole::tui::app::modal::{Modal, Pending};
use keyconsole::tui::app::{Action, App, Tab};
use tui_input::InputRequest;

#[path = "support/mod.rs"]
mod support;
use support::console::Console;

fn select(c: &mut Console, kind: &str, name_starts: &str) -> KeyObject {
    let i = c
        .app
        .review
        .findings()
        .iter()
        .position(|f| f.kind == kind && f.key.name.starts_with(name_starts))
        .unwrap_or_else(|| panic!("a {kind} finding for {name_starts}"));
    c.app.review.selected = i;
    c.app.review.findings()[i].key.clone()
}

fn review_ready(a: &App) -> bool {
    matches!(a.review.data, Loadable::Ready(_)) && !a.review.stale && !a.review.loading
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn review_actions_change_the_keys_on_a_real_server() {
    let dir = tempfile::tempdir().expect("tempdir");
    let e = start_embedded(dir.path(), false).await.expect("embedded");
    assert!(e.demo);
    let (mut c, client) = Console::on(&e).await;

    // The demo shows the review at work: the leaked key first, then the other kinds.
    c.press(Action::GoTab(Tab::Review));
    c.until("the review", review_ready).await;
    let findings = c.app.review.findings().to_vec();
    assert_eq!(findings[0].kind, "leaked", "{:?}", findings[0]);
    assert!(findings[0].key.name.starts_with("Mobile app (Android)"));
    for kind in ["no_owner", "over_privileged", "stale", "wildcard"] {
        assert!(findings.iter().any(|f| f.kind == kind), "a {kind} finding");
    }
    let screen = c.screen();
    assert!(screen.contains("Leaked and still enabled (1)"), "{screen}");
    assert!(screen.contains("No owner ("), "{screen}");

    // Narrow an over-privileged key: the diff first, then the PATCH.
    let globex = select(&mut c, "over_privileged", "Partner: Globex");
    c.press(Action::NarrowScopes);
    let Some(Modal::Confirm(confirm)) = c.app.modals.last() else {
        panic!("a confirmation: {:?}", c.app.modals);
    };
    let body = confirm.body.join("\n");
    assert!(body.contains("- credits:read"), "{body}");
    assert!(body.contains("= runs:read"), "{body}");
    let Pending::Narrow { scopes, .. } = confirm.pending.clone() else {
        panic!("narrow");
    };
    c.press(Action::Yes);
    c.until("the narrowed key", |a| {
        a.toast
            .as_ref()
            .is_some_and(|t| t.text.contains("narrowed"))
    })
    .await;
    let now = client.get_key(&globex.id).await.expect("key");
    let mut want = scopes.clone();
    want.sort();
    let mut got = now.scopes.clone();
    got.sort();
    assert_eq!(got, want);
    assert_eq!(
        got,
        vec!["runs:read".to_owned(), "work-orders:read".to_owned()]
    );
    c.until("the review reloaded", review_ready).await;
    assert!(
        !c.app
            .review
            .findings()
            .iter()
            .any(|f| f.kind == "over_privileged" && f.key.id == globex.id),
        "no longer over-privileged"
    );

    // Set an owner from a no_owner finding: the edit form, focused on the owner.
    let nobody = select(&mut c, "no_owner", "");
    c.press(Action::SetOwner);
    assert!(matches!(c.app.modals.last(), Some(Modal::Form(f)) if f.focus == Field::Owner));
    for ch in "ops-team".chars() {
        c.press(Action::Edit(InputRequest::InsertChar(ch)));
    }
    c.press(Action::Save);
    c.until("the owner saved", |a| a.modals.is_empty()).await;
    assert_eq!(
        client
            .get_key(&nobody.id)
            .await
            .expect("key")
            .owner
            .as_deref(),
        Some("ops-team")
    );

    // The leaked key's detail: where it was seen, and the use of each scope.
    c.until("the review reloaded", review_ready).await;
    let leaked = select(&mut c, "leaked", "Mobile app (Android)");
    c.press(Action::Enter);
    assert_eq!(c.app.tab, Tab::Keys);
    c.until("the leaked key's detail", |a| {
        let i = &a.review.insights;
        a.selected_key().is_some_and(|k| k.id == leaked.id)
            && i.key_id.as_deref() == Some(leaked.id.as_str())
            && matches!(i.scope_usage, Loadable::Ready(_))
            && matches!(i.sightings, Loadable::Ready(_))
    })
    .await;
    let screen = c.screen();
    assert!(screen.contains("LEAKED"), "{screen}");
    assert!(screen.contains("github.com/acme-demo"), "{screen}");
    assert!(
        screen.contains(" req)"),
        "a used scope with its count: {screen}"
    );

    // From the key: L, choose Disable, confirm; the server disables it.
    c.press(Action::RespondLeak);
    assert!(matches!(c.app.modals.last(), Some(Modal::Leak(_))));
    c.press(Action::Down);
    c.press(Action::Enter);
    assert!(matches!(
        c.app.modals.last(),
        Some(Modal::Confirm(cf)) if matches!(cf.pending, Pending::Disable { .. })
    ));
    c.press(Action::Yes);
    c.until("the leaked key disabled", |a| {
        a.selected_key().is_some_and(|k| !k.enabled)
    })
    .await;
    assert!(!client.get_key(&leaked.id).await.expect("key").enabled);
    c.press(Action::GoTab(Tab::Review));
    c.until("the review reloaded", review_ready).await;
    assert!(
        !c.app.review.findings().iter().any(|f| f.kind == "leaked"),
        "a disabled leaked key is no longer a finding"
    );
    e.stop().await;
}
