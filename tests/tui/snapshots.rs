//! `TestBackend` + insta snapshots of every tab and modal at 80x24 and 120x40, in the empty,
//! loading, error, masked and revealed states. Monochrome, so the text carries the meaning.

use keyconsole::api::CreateKeyResponse;
use keyconsole::domain::key::Secret;
use keyconsole::tui::app::Loadable;
use keyconsole::tui::app::{Action, App, Conn, Settings, Tab, UiError};
use tui_input::InputRequest;

use crate::fixtures::{self, SECRET, app, app_with, now, render};

const SIZES: [(u16, u16); 2] = [(80, 24), (120, 40)];

fn snap(name: &str, build: impl Fn((u16, u16)) -> App) {
    for size in SIZES {
        let a = build(size);
        let text = render(&a, size);
        insta::assert_snapshot!(format!("{name}_{}x{}", size.0, size.1), text);
    }
}

fn typed(a: &mut App, text: &str) {
    for c in text.chars() {
        let _ = a.update(Action::Edit(InputRequest::InsertChar(c)));
    }
}

fn err(unreachable: bool, status: Option<u16>, code: Option<&str>) -> UiError {
    UiError {
        message: if unreachable {
            "cannot reach http://127.0.0.1:7878: Connection refused (os error 111)".into()
        } else {
            "The API key is not valid.".into()
        },
        code: code.map(str::to_owned),
        status,
        request_id: (!unreachable).then(|| "req_00000000000000000001".into()),
        unreachable,
    }
}

fn with_reveal(size: (u16, u16), show: bool) -> App {
    let mut a = app(12, size);
    let mut k = fixtures::key(
        77,
        "Production Backend",
        keyconsole::domain::record::KeyStatus::Active,
    );
    k.id = "pk_live_000000000000000000000077".into();
    let _ = a.update(Action::KeyCreated(Ok(CreateKeyResponse {
        key: k,
        secret: Secret::new(SECRET.into()),
        credential: Secret::new(SECRET.into()),
    })));
    if show {
        let _ = a.update(Action::Reveal);
    }
    a
}

#[test]
fn connection_states() {
    snap("connecting", |size| {
        let mut a = App::new(
            fixtures::session(false),
            Settings::default(),
            now(),
            tokio::time::Instant::now(),
        );
        let _ = a.update(Action::Resize(size.0, size.1));
        a
    });
    snap("failed_unreachable", |size| {
        let mut a = App::new(
            fixtures::session(false),
            Settings::default(),
            now(),
            tokio::time::Instant::now(),
        );
        let _ = a.update(Action::Resize(size.0, size.1));
        let _ = a.update(Action::MeLoaded(Err(err(true, None, None))));
        a
    });
    snap("failed_token", |size| {
        let mut a = App::new(
            fixtures::session(true),
            Settings::default(),
            now(),
            tokio::time::Instant::now(),
        );
        let _ = a.update(Action::Resize(size.0, size.1));
        let _ = a.update(Action::MeLoaded(Err(err(
            false,
            Some(401),
            Some("invalid_key"),
        ))));
        a
    });
}

#[test]
fn keys_tab() {
    snap("keys_empty", |size| app(0, size));
    snap("keys_loading", |size| {
        let mut a = app(0, size);
        let _ = a.update(Action::Refresh);
        a
    });
    snap("keys_error", |size| {
        let mut a = app(0, size);
        let _ = a.update(Action::Refresh);
        let generation = a.keys.generation;
        let _ = a.update(Action::KeysLoaded {
            generation,
            append: false,
            query: String::new(),
            result: Err(err(true, None, None)),
        });
        a.toast = None;
        a
    });
    snap("keys_loaded", |size| {
        let mut a = app(40, size);
        for _ in 0..3 {
            let _ = a.update(Action::Down);
        }
        a
    });
    snap("keys_filter", |size| {
        let mut a = app(40, size);
        let _ = a.update(Action::StartFilter);
        typed(&mut a, "service 02");
        a
    });
    snap("keys_prod_badge", |size| app_with(5, size, true));
}

#[test]
fn other_tabs() {
    snap("scopes", |size| {
        let mut a = app(5, size);
        let _ = a.update(Action::GoTab(Tab::Scopes));
        a
    });
    snap("scopes_loading", |size| {
        let mut a = app(5, size);
        a.catalog = None;
        let _ = a.update(Action::GoTab(Tab::Scopes));
        a
    });
    snap("domains_no_key", |size| {
        let mut a = app(0, size);
        let _ = a.update(Action::GoTab(Tab::Domains));
        a
    });
    snap("audit_error", |size| {
        let mut a = app(5, size);
        let _ = a.update(Action::GoTab(Tab::Audit));
        let generation = a.audit.generation;
        let _ = a.update(Action::AuditLoaded {
            generation,
            append: false,
            result: Err(err(false, Some(403), Some("insufficient_scope"))),
        });
        a
    });
    snap("scopes_editing_refused", |size| {
        let mut a = app(5, size);
        let _ = a.update(Action::GoTab(Tab::Scopes));
        let _ = a.update(Action::EditScopes);
        let _ = a.update(Action::Toggle);
        let _ = a.update(Action::Save);
        let _ = a.update(Action::KeyUpdated {
            origin: keyconsole::tui::app::EditOrigin::Scopes,
            result: Err(UiError {
                message: "A key can grant only scopes it holds itself; yours does not hold *."
                    .into(),
                code: Some("insufficient_scope".into()),
                status: Some(403),
                request_id: None,
                unreachable: false,
            }),
        });
        a
    });
    snap("scopes_holders", |size| {
        let mut a = app(5, size);
        let _ = a.update(Action::GoTab(Tab::Scopes));
        let _ = a.update(Action::WhoHolds);
        let _ = a.update(Action::HoldersLoaded {
            scope: "*".into(),
            result: Ok((fixtures::keys(3), Some(3))),
        });
        a
    });
    snap("domains_check", |size| {
        let mut a = app(5, size);
        let _ = a.update(Action::GoTab(Tab::Domains));
        let _ = a.update(Action::CheckOrigin);
        typed(&mut a, "https://example.com");
        a
    });
    snap("usage_loading", |size| {
        let mut a = app(5, size);
        let _ = a.update(Action::GoTab(Tab::Usage));
        a
    });
    snap("usage_ready", |size| {
        let mut a = app(5, size);
        let _ = a.update(Action::GoTab(Tab::Usage));
        let _ = a.update(Action::OrgUsageLoaded(Ok(fixtures::org_usage())));
        let _ = a.update(Action::KeyUsageLoaded(Ok(fixtures::key_usage())));
        let _ = a.update(Action::StaleLoaded(Ok(fixtures::keys(3))));
        let _ = a.update(Action::OldLoaded(Ok(vec![])));
        let _ = a.update(Action::FailuresLoaded(Ok(fixtures::events())));
        a
    });
    snap("usage_failures", |size| {
        let mut a = app(5, size);
        let _ = a.update(Action::GoTab(Tab::Usage));
        let _ = a.update(Action::FailuresLoaded(Ok(fixtures::events())));
        a.usage.org = Loadable::Failed(err(true, None, None));
        let _ = a.update(Action::Left);
        a
    });
    snap("audit_loading", |size| {
        let mut a = app(5, size);
        let _ = a.update(Action::GoTab(Tab::Audit));
        a
    });
    snap("audit_ready", |size| {
        let mut a = app(5, size);
        fixtures::on_audit(&mut a);
        a
    });
}

#[test]
fn modals() {
    snap("help", |size| {
        let mut a = app(5, size);
        let _ = a.update(Action::Help);
        a
    });
    snap("help_filtered", |size| {
        let mut a = app(5, size);
        let _ = a.update(Action::Help);
        typed(&mut a, "copy");
        a
    });
    snap("form_create_invalid", |size| {
        let mut a = app(5, size);
        let _ = a.update(Action::NewKey);
        let _ = a.update(Action::Save);
        // Name → Owner → Description → Scopes → Allowed domains.
        for _ in 0..4 {
            let _ = a.update(Action::NextField);
        }
        typed(&mut a, "https://bad");
        a
    });
    snap("form_edit", |size| {
        let mut a = app(5, size);
        let _ = a.update(Action::EditKey);
        a
    });
    snap("confirm_delete_prod", |size| {
        let mut a = app_with(5, size, true);
        let _ = a.update(Action::DeleteKey);
        typed(&mut a, "Serv");
        a
    });
    snap("confirm_disable", |size| {
        let mut a = app(5, size);
        let _ = a.update(Action::ToggleEnabled);
        a
    });
    // Issue 12, defect 2: the console's own key (row 1), and a wrong name typed.
    snap("confirm_disable_own_key", |size| {
        let mut a = app(5, size);
        let _ = a.update(Action::Down);
        let _ = a.update(Action::ToggleEnabled);
        typed(&mut a, "Service 00");
        let _ = a.update(Action::Enter);
        a
    });
    snap("reveal_masked", |size| with_reveal(size, false));
    snap("reveal_revealed", |size| with_reveal(size, true));
    snap("detail", |size| {
        let mut a = app(5, size);
        if a.wide() {
            // Wide terminals show details in a pane, not a modal.
            return a;
        }
        let _ = a.update(Action::Enter);
        a
    });
}

#[test]
fn tiny_terminals_never_panic() {
    for size in [(1, 1), (10, 3), (39, 24), (80, 9), (0, 0)] {
        let mut a = with_reveal((80, 24), true);
        let _ = a.update(Action::Resize(size.0, size.1));
        let text = if size.0 == 0 || size.1 == 0 {
            String::new()
        } else {
            render(&a, size)
        };
        if size.0 >= 20 && size.1 >= 3 {
            assert!(text.contains("too small"), "{size:?}:\n{text}");
        }
    }
    let a = app(3, (30, 8));
    insta::assert_snapshot!("too_small_30x8", render(&a, (30, 8)));
    assert_eq!(a.conn, Conn::Ready);
}

/// A profile whose token_command prints a session JWT: the header says who the console acts
/// as (`ana@acme.test · <profile>`), and the audit tab names actors by type and name.
#[test]
fn session_profile_header_and_audit_actors() {
    snap("session_profile", |size| {
        let mut a = fixtures::app_with(3, size, true);
        let mut me = fixtures::me();
        me.key = None;
        me.auth_method = "session".into();
        me.user = Some(keyconsole::api::SessionUserObject {
            sub: "user_ana".into(),
            name: Some("Ana".into()),
            email: Some("ana@acme.test".into()),
        });
        let _ = a.update(Action::MeLoaded(Ok(me)));
        a
    });
}
