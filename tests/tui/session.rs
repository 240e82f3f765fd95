//! A session that expires mid-session and cannot be renewed (`app::session`): the screen
//! says so over everything, takes only retry and quit, and an open form keeps its input.

use crossterm::event::{KeyCode, KeyEvent, KeyModifiers};
use keyconsole::api::SessionUserObject;
use keyconsole::tui::app::session::Expired;
use keyconsole::tui::app::{Action, Command, Conn, UiError};
use keyconsole::tui::keymap::{Context, Keymap};
use tui_input::InputRequest;

use crate::fixtures::{self, app, render};

fn expired() -> Expired {
    Expired {
        code: "token_expired".into(),
        reason: "profile `prod`: token_command failed (exit status: 1): not signed in; run the \
                 command in a shell to see why"
            .into(),
    }
}

fn refused() -> UiError {
    UiError {
        message: "the session expired (token_expired) and renewing it failed: …".into(),
        code: Some("token_expired".into()),
        status: Some(401),
        request_id: None,
        unreachable: false,
    }
}

#[test]
fn an_expired_session_keeps_the_open_form_and_takes_only_retry_and_quit() {
    let mut a = app(3, (80, 24));
    let mut me = fixtures::me();
    me.auth_method = "session".into();
    me.key = None;
    me.user = Some(SessionUserObject {
        sub: "user_ana".into(),
        name: Some("Ana".into()),
        email: Some("ana@acme.test".into()),
    });
    let _ = a.update(Action::MeLoaded(Ok(me)));
    let _ = a.update(Action::NewKey);
    for c in "Billing".chars() {
        let _ = a.update(Action::Edit(InputRequest::InsertChar(c)));
    }
    let name = |a: &keyconsole::tui::app::App| match a.modals.last() {
        Some(keyconsole::tui::app::modal::Modal::Form(f)) => f.name.value().to_owned(),
        other => panic!("the form is open: {other:?}"),
    };
    assert_eq!(name(&a), "Billing");

    // The renewal failed: its report comes first, then the result it failed.
    let _ = a.update(Action::SessionExpired(expired()));
    let _ = a.update(Action::MeLoaded(Err(refused())));
    assert_eq!(a.conn, Conn::Ready, "no 'refused the token' screen instead");
    let screen = render(&a, (80, 24));
    insta::assert_snapshot!("session_expired_80x24", screen);
    assert!(screen.contains("Session expired"), "{screen}");
    assert!(screen.contains("not signed in"), "{screen}");
    assert!(screen.contains("C-r retry   q quit"), "{screen}");

    // Keys mean retry and quit only; typing reaches nothing behind the screen.
    assert_eq!(a.contexts(), vec![Context::Disconnected]);
    let km = Keymap::default();
    let key = |c, m| KeyEvent::new(c, m);
    assert_eq!(
        km.action(&a.contexts(), &key(KeyCode::Char('x'), KeyModifiers::NONE)),
        None
    );
    for act in [
        Action::Edit(InputRequest::InsertChar('x')),
        Action::Save,
        Action::Back,
        Action::NextTab,
    ] {
        assert!(a.update(act).is_empty());
    }
    assert_eq!(name(&a), "Billing", "the form kept its input");
    assert!(a.expired.is_some());

    // Ctrl-r: the screen goes and the console asks again (the client renews once more).
    let act = km
        .action(
            &a.contexts(),
            &key(KeyCode::Char('r'), KeyModifiers::CONTROL),
        )
        .expect("bound");
    assert_eq!(a.update(act), vec![Command::LoadMe]);
    assert!(a.expired.is_none());
    assert_eq!(name(&a), "Billing", "still there after the retry");
    let _ = a.update(Action::MeLoaded(Ok(fixtures::me())));
    assert_eq!(name(&a), "Billing");
    assert!(!render(&a, (80, 24)).contains("Session expired"));

    // Expired again, then q quits.
    let _ = a.update(Action::SessionExpired(expired()));
    let act = km
        .action(&a.contexts(), &key(KeyCode::Char('q'), KeyModifiers::NONE))
        .expect("bound");
    let _ = a.update(act);
    assert!(a.quit);
}

#[test]
fn the_expired_screen_fits_small_and_wide_terminals() {
    for size in [(60, 16), (200, 50)] {
        let mut a = app(3, size);
        let _ = a.update(Action::SessionExpired(expired()));
        let screen = render(&a, size);
        insta::assert_snapshot!(format!("session_expired_{}x{}", size.0, size.1), screen);
        assert!(screen.contains("Session expired"), "{screen}");
        assert!(screen.contains("retry"), "{screen}");
    }
}
