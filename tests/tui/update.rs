//! Pure `update` tests: one action in, state and commands out.

use keyconsole::api::{CreateKeyResponse, Page, UpdateKeyRequest};
use keyconsole::domain::key::Secret;
use keyconsole::tui::app::domains::DomainsFocus;
use keyconsole::tui::app::modal::{Modal, Pending};
use keyconsole::tui::app::{
    Action, App, Command, Conn, CopyWhat, EditOrigin, Tab, TimerKind, UiError,
};
use keyconsole::tui::app::{Session, Settings};
use tui_input::InputRequest;

use crate::fixtures::{self, SECRET, app, app_with, keys, now};

fn typed(a: &mut App, text: &str) -> Vec<Command> {
    let mut out = Vec::new();
    for c in text.chars() {
        out = a.update(Action::Edit(InputRequest::InsertChar(c)));
    }
    out
}

fn refused(code: &str, message: &str) -> UiError {
    UiError {
        message: message.into(),
        code: Some(code.into()),
        status: Some(403),
        request_id: Some("req_x".into()),
        unreachable: false,
    }
}

#[test]
fn connecting_then_loading_everything() {
    let mut a = App::new(
        fixtures::session(false),
        Settings::default(),
        now(),
        tokio::time::Instant::now(),
    );
    assert_eq!(a.start(), vec![Command::LoadMe]);
    let cmds = a.update(Action::MeLoaded(Ok(fixtures::me())));
    assert_eq!(a.conn, Conn::Ready);
    assert!(cmds.contains(&Command::LoadCatalog) && cmds.contains(&Command::LoadApps));
    assert!(
        cmds.iter()
            .any(|c| matches!(c, Command::LoadKeys { append: false, .. }))
    );
}

#[test]
fn a_failed_connection_retries_on_ctrl_r() {
    let mut a = App::new(
        fixtures::session(false),
        Settings::default(),
        now(),
        tokio::time::Instant::now(),
    );
    let _ = a.update(Action::MeLoaded(Err(UiError {
        message: "cannot reach".into(),
        code: None,
        status: None,
        request_id: None,
        unreachable: true,
    })));
    assert!(matches!(a.conn, Conn::Failed(_)));
    assert!(
        a.update(Action::NewKey).is_empty(),
        "nothing but retry and quit works"
    );
    assert_eq!(a.update(Action::Refresh), vec![Command::LoadMe]);
    assert_eq!(a.conn, Conn::Connecting);
}

#[test]
fn navigation_keeps_the_selection_in_the_visible_window() {
    let mut a = app(100, (80, 24));
    let h = a.table_height();
    for _ in 0..(h + 3) {
        let _ = a.update(Action::Down);
    }
    assert_eq!(a.keys.selected, h + 3);
    assert_eq!(a.keys.offset, 4);
    let _ = a.update(Action::Bottom);
    assert_eq!(a.keys.selected, 99);
    assert_eq!(a.keys.offset, 100 - h);
    let _ = a.update(Action::Top);
    assert_eq!((a.keys.selected, a.keys.offset), (0, 0));
    let _ = a.update(Action::PageDown);
    assert_eq!(a.keys.selected, h);
}

#[test]
fn stale_pages_are_dropped() {
    let mut a = app(10, (80, 24));
    let old = a.keys.generation;
    let _ = a.update(Action::Refresh);
    let _ = a.update(Action::KeysLoaded {
        generation: old,
        append: false,
        query: String::new(),
        result: Ok(Page {
            data: keys(3),
            next_cursor: None,
            total: Some(3),
            total_is_lower_bound: false,
        }),
    });
    assert_eq!(
        a.keys.rows.len(),
        10,
        "an answer to an older request is ignored"
    );
}

#[test]
fn filter_narrows_at_once_then_asks_the_server_after_the_debounce() {
    let mut a = app(50, (80, 24));
    let _ = a.update(Action::StartFilter);
    let cmds = typed(&mut a, "service 01");
    assert_eq!(a.keys.shown(), 10, "Service 010..019 shown immediately");
    let Some(Command::Timer(TimerKind::FilterDebounce(id), _)) = cmds.first().cloned() else {
        panic!("debounce timer expected, got {cmds:?}");
    };
    // An older debounce does nothing.
    assert!(
        a.update(Action::TimerFired(TimerKind::FilterDebounce(id - 1)))
            .is_empty()
    );
    let cmds = a.update(Action::TimerFired(TimerKind::FilterDebounce(id)));
    match cmds.as_slice() {
        [
            Command::LoadKeys {
                query,
                append: false,
                ..
            },
        ] => assert_eq!(query.q.as_deref(), Some("service 01")),
        other => panic!("{other:?}"),
    }
    // Esc clears and reloads everything.
    let cmds = a.update(Action::Back);
    assert!(a.keys.filter.is_empty());
    assert!(a.line.is_none());
    assert_eq!(a.keys.shown(), 50);
    assert!(cmds.is_empty() || matches!(cmds[0], Command::LoadKeys { .. }));
}

#[test]
fn scrolling_near_the_end_pages_from_the_server() {
    let mut a = app(0, (80, 24));
    let generation = a.keys.generation;
    let _ = a.update(Action::KeysLoaded {
        generation,
        append: false,
        query: String::new(),
        result: Ok(Page {
            data: keys(200),
            next_cursor: Some("cur_1".into()),
            total: Some(100_000),
            total_is_lower_bound: false,
        }),
    });
    let mut asked = None;
    for _ in 0..200 {
        let cmds = a.update(Action::Down);
        if let Some(Command::LoadKeys {
            append: true,
            query,
            ..
        }) = cmds.first()
        {
            asked = Some(query.cursor.clone());
            break;
        }
    }
    assert_eq!(asked, Some(Some("cur_1".into())));
}

#[test]
fn create_key_validates_then_reveals_the_secret_once() {
    let mut a = app(3, (80, 24));
    let _ = a.update(Action::NewKey);
    assert!(matches!(a.modals.last(), Some(Modal::Form(_))));
    // Submitting with no name refuses inline, no request.
    assert!(a.update(Action::Save).is_empty());
    let Some(Modal::Form(f)) = a.modals.last() else {
        panic!("form")
    };
    assert!(f.errors.iter().any(|(_, e)| e.contains("name")));
    typed(&mut a, "Backend");
    let cmds = a.update(Action::Save);
    let Some(Command::CreateKey(req)) = cmds.first() else {
        panic!("{cmds:?}")
    };
    assert_eq!(req.name, "Backend");
    assert_eq!(req.preset.as_deref(), Some("read-only"));
    let mut k = fixtures::key(99, "Backend", keyconsole::domain::record::KeyStatus::Active);
    k.id = "pk_live_000000000000000000000099".into();
    let _ = a.update(Action::KeyCreated(Ok(CreateKeyResponse {
        key: k.clone(),
        secret: Secret::new(SECRET.into()),
        credential: Secret::new(format!("{}:{SECRET}", k.id)),
    })));
    assert!(
        matches!(a.modals.last(), Some(Modal::Reveal(_))),
        "the form is replaced by the reveal"
    );
    assert_eq!(a.modals.len(), 1);
    assert_eq!(a.keys.rows[0].id, k.id);
    // Copy asks the executor to copy the secret itself.
    let cmds = a.update(Action::CopySecret);
    assert!(
        matches!(cmds.as_slice(), [Command::Copy(CopyWhat::Secret(s))] if s.expose() == SECRET)
    );
    // Esc asks first; n keeps it; Enter closes.
    let _ = a.update(Action::Back);
    assert!(
        matches!(a.modals.last(), Some(Modal::Confirm(c)) if c.pending == Pending::DiscardSecret)
    );
    let _ = a.update(Action::No);
    assert!(matches!(a.modals.last(), Some(Modal::Reveal(_))));
    let _ = a.update(Action::Enter);
    assert!(a.modals.is_empty());
}

#[test]
fn a_server_refusal_stays_in_the_form() {
    let mut a = app(3, (80, 24));
    let _ = a.update(Action::NewKey);
    typed(&mut a, "Too strong");
    let _ = a.update(Action::Save);
    let _ = a.update(Action::KeyCreated(Err(refused(
        "insufficient_scope",
        "A key can grant only scopes it holds itself; yours does not hold keys:write.",
    ))));
    let Some(Modal::Form(f)) = a.modals.last() else {
        panic!("form stays open")
    };
    assert!(!f.submitting);
    let msg = f.server_error.as_deref().unwrap_or("");
    assert!(
        msg.contains("insufficient_scope") && msg.contains("keys:write"),
        "{msg}"
    );
}

#[test]
fn disable_confirms_and_freezes_the_target() {
    let mut a = app(5, (80, 24));
    let target = a
        .keys
        .selected_key()
        .map(|k| (k.id.clone(), k.version))
        .expect("selected");
    let _ = a.update(Action::ToggleEnabled);
    // Moving the selection while the dialog is open cannot change the target.
    let _ = a.update(Action::Down);
    let cmds = a.update(Action::Yes);
    match cmds.as_slice() {
        [
            Command::UpdateKey {
                id,
                req,
                version,
                origin: EditOrigin::Toggle,
            },
        ] => {
            assert_eq!((id.clone(), *version), (target.0, Some(target.1)));
            assert_eq!(
                req,
                &UpdateKeyRequest {
                    enabled: Some(false),
                    ..Default::default()
                }
            );
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn danger_profiles_make_you_type_the_name_to_delete() {
    let mut a = app_with(5, (80, 24), true);
    let name = a
        .keys
        .selected_key()
        .map(|k| k.name.clone())
        .expect("selected");
    let _ = a.update(Action::DeleteKey);
    assert!(a.update(Action::Enter).is_empty(), "nothing typed yet");
    typed(&mut a, "wrong");
    assert!(a.update(Action::Enter).is_empty());
    for _ in 0..5 {
        let _ = a.update(Action::Edit(InputRequest::DeletePrevChar));
    }
    typed(&mut a, &name);
    let cmds = a.update(Action::Enter);
    assert!(
        matches!(cmds.as_slice(), [Command::DeleteKey(_)]),
        "{cmds:?}"
    );
    let id = match &cmds[0] {
        Command::DeleteKey(id) => id.clone(),
        _ => unreachable!(),
    };
    let _ = a.update(Action::KeyDeleted {
        id: id.clone(),
        result: Ok(()),
    });
    assert!(a.keys.get(&id).is_none());
    assert!(a.toast.as_ref().is_some_and(|t| t.text.contains("Deleted")));
}

#[test]
fn copy_id_copies_the_public_id_only() {
    let mut a = app(2, (80, 24));
    let id = a
        .keys
        .selected_key()
        .map(|k| k.id.clone())
        .expect("selected");
    assert_eq!(
        a.update(Action::CopyId),
        vec![Command::Copy(CopyWhat::KeyId(id))]
    );
}

#[test]
fn scope_checklist_edit_and_a_plain_refusal() {
    let mut a = app(3, (80, 24));
    let _ = a.update(Action::GoTab(Tab::Scopes));
    let _ = a.update(Action::EditScopes);
    assert!(a.scopes.edit.is_some());
    let _ = a.update(Action::Toggle); // row 0 is `*`
    let cmds = a.update(Action::Save);
    let Some(Command::UpdateKey {
        req,
        origin: EditOrigin::Scopes,
        ..
    }) = cmds.first()
    else {
        panic!("{cmds:?}")
    };
    assert!(
        req.scopes
            .as_ref()
            .is_some_and(|s| s.contains(&"*".to_owned()))
    );
    let _ = a.update(Action::KeyUpdated {
        origin: EditOrigin::Scopes,
        result: Err(refused(
            "insufficient_scope",
            "A key can grant only scopes it holds itself; yours does not hold *.",
        )),
    });
    let refusal = a
        .scopes
        .edit
        .as_ref()
        .and_then(|e| e.refused.clone())
        .unwrap_or_default();
    assert!(
        refusal.contains("Refused") && refusal.contains("does not hold *"),
        "{refusal}"
    );
    // Who holds the scope under the cursor?
    let _ = a.update(Action::Back);
    let cmds = a.update(Action::WhoHolds);
    assert_eq!(cmds, vec![Command::LoadHolders("*".into())]);
}

#[test]
fn domains_validate_before_saving() {
    let mut a = app(3, (80, 24));
    let _ = a.update(Action::GoTab(Tab::Domains));
    let _ = a.update(Action::AddDomain);
    assert_eq!(a.domains.focus, DomainsFocus::Add);
    typed(&mut a, "https://x.com");
    assert!(
        a.domains
            .add_error
            .as_deref()
            .is_some_and(|e| e.contains("without scheme"))
    );
    assert!(a.update(Action::Enter).is_empty());
    for _ in 0..20 {
        let _ = a.update(Action::Edit(InputRequest::DeletePrevChar));
    }
    typed(&mut a, "*.shop.io");
    let cmds = a.update(Action::Enter);
    let Some(Command::UpdateKey {
        req,
        origin: EditOrigin::Domains,
        ..
    }) = cmds.first()
    else {
        panic!("{cmds:?}")
    };
    assert!(
        req.allowed_domains
            .as_ref()
            .is_some_and(|d| d.contains(&"*.shop.io".to_owned()))
    );
}

#[test]
fn usage_and_audit_load_when_opened() {
    let mut a = app(3, (80, 24));
    let cmds = a.update(Action::GoTab(Tab::Usage));
    assert!(cmds.iter().any(|c| matches!(c, Command::LoadOrgUsage(_))));
    assert!(cmds.iter().any(|c| matches!(c, Command::LoadKeyUsage(..))));
    assert!(
        cmds.contains(&Command::LoadStale)
            && cmds.contains(&Command::LoadOld)
            && cmds.contains(&Command::LoadFailures)
    );
    let cmds = a.update(Action::CycleBucket);
    assert!(cmds.contains(&Command::LoadOrgUsage(keyconsole::api::BucketSize::Hour)));
    let cmds = a.update(Action::GoTab(Tab::Audit));
    assert!(matches!(
        cmds.as_slice(),
        [Command::LoadAudit { action: None, .. }]
    ));
    let cmds = a.update(Action::CycleAuditAction);
    assert!(
        matches!(cmds.as_slice(), [Command::LoadAudit { action: Some(a), .. }] if a == "key.created")
    );
}

/// `A` on an audit row asks the server for that actor's entries only (`actor=type:id`, not a
/// filter over the loaded page), names it in the crumb, keeps it while paging, and `A` again
/// clears it.
#[test]
fn audit_actor_filter_is_sent_to_the_server_and_toggles() {
    let mut a = app(3, (80, 24));
    let _ = a.update(Action::GoTab(Tab::Audit));
    let mut rows = fixtures::audit();
    rows[2].actor = keyconsole::api::Actor {
        kind: keyconsole::api::ActorKind::User,
        id: "user_ana".into(),
        name: Some("ana@acme.test".into()),
    };
    rows[2].actor_key_id = None;
    // No row, no actor: nothing is asked.
    assert!(a.update(Action::FilterAuditActor).is_empty());
    assert!(a.audit.actor_filter.is_none());
    crate::fixtures::audit_answered(&mut a, rows.clone(), None);
    let _ = a.update(Action::Down);
    let _ = a.update(Action::Down);
    assert_eq!(a.audit.selected, 2);
    let cmds = a.update(Action::FilterAuditActor);
    assert!(
        matches!(cmds.as_slice(), [Command::LoadAudit { actor: Some(x), cursor: None, key_id: None, action: None, .. }] if x == "user:user_ana"),
        "{cmds:?}"
    );
    let screen = crate::fixtures::render(&a, (80, 24));
    assert!(
        screen.contains("Audit › actor: user ana@acme.test"),
        "{screen}"
    );
    // Its answer, with more to come: paging keeps the actor.
    let only_ana: Vec<_> = rows
        .iter()
        .filter(|e| e.actor.id == "user_ana")
        .cloned()
        .collect();
    crate::fixtures::audit_answered(&mut a, only_ana, Some("c1"));
    let cmds = a.update(Action::Bottom);
    assert!(
        matches!(cmds.as_slice(), [Command::LoadAudit { actor: Some(x), cursor: Some(c), .. }] if x == "user:user_ana" && c == "c1"),
        "{cmds:?}"
    );
    // A key actor: its id on the wire, its name in the crumb. The unfiltered answer keeps
    // ana's entry selected (it is still there), so go to the top, a key's entry.
    let _ = a.update(Action::FilterAuditActor);
    crate::fixtures::audit_answered(&mut a, rows.clone(), None);
    assert_eq!(
        a.audit.rows[a.audit.selected].id, rows[2].id,
        "the same entry"
    );
    let _ = a.update(Action::Top);
    let cmds = a.update(Action::FilterAuditActor);
    assert!(
        matches!(cmds.as_slice(), [Command::LoadAudit { actor: Some(x), .. }] if x == "key:pk_live_000000000000000000000001"),
        "{cmds:?}"
    );
    assert!(
        crate::fixtures::render(&a, (120, 40)).contains("actor: key Service 001"),
        "{}",
        crate::fixtures::render(&a, (120, 40))
    );
    // Again: cleared, and the crumb says so.
    let cmds = a.update(Action::FilterAuditActor);
    assert!(
        matches!(cmds.as_slice(), [Command::LoadAudit { actor: None, .. }]),
        "{cmds:?}"
    );
    assert!(a.audit.actor_filter.is_none());
    assert!(!crate::fixtures::render(&a, (80, 24)).contains("actor:"));
}

/// `A` is the Audit tab's, taken by nothing else there (nor by the lists or everywhere), and
/// remapping it onto another of those keys is refused.
#[test]
fn audit_actor_key_is_free_and_remap_checked() {
    use crossterm::event::{KeyCode, KeyEvent, KeyModifiers};
    use keyconsole::tui::keymap::{Context, Keymap};
    let km = Keymap::default();
    let shift_a = KeyEvent::new(KeyCode::Char('A'), KeyModifiers::SHIFT);
    assert_eq!(
        km.action(&[Context::Audit, Context::Nav, Context::Global], &shift_a),
        Some(Action::FilterAuditActor)
    );
    let mut o = std::collections::BTreeMap::new();
    o.insert("audit_actor".to_owned(), "K".to_owned());
    assert!(Keymap::with_overrides(&o).is_err(), "K is the key filter's");
    o.insert("audit_actor".to_owned(), "F".to_owned());
    assert!(Keymap::with_overrides(&o).is_ok());
}

#[test]
fn command_line() {
    let mut a = app(3, (80, 24));
    let _ = a.update(Action::StartCommand);
    typed(&mut a, "usage");
    let _ = a.update(Action::Enter);
    assert_eq!(a.tab, Tab::Usage);
    let _ = a.update(Action::StartCommand);
    typed(&mut a, "profile prod");
    assert_eq!(
        a.update(Action::Enter),
        vec![Command::SwitchProfile("prod".into())]
    );
    let _ = a.update(Action::StartCommand);
    typed(&mut a, "frobnicate");
    let _ = a.update(Action::Enter);
    assert!(
        a.toast
            .as_ref()
            .is_some_and(|t| t.error && t.text.contains("frobnicate"))
    );
    let _ = a.update(Action::StartCommand);
    typed(&mut a, "q");
    let _ = a.update(Action::Enter);
    assert!(a.quit);
}

#[test]
fn quitting_with_an_unstored_secret_asks_first() {
    let mut a = app(1, (80, 24));
    let _ = a.update(Action::KeyCreated(Ok(CreateKeyResponse {
        key: fixtures::key(7, "New", keyconsole::domain::record::KeyStatus::Active),
        secret: Secret::new(SECRET.into()),
        credential: Secret::new(SECRET.into()),
    })));
    let _ = a.update(Action::Quit);
    assert!(!a.quit);
    assert!(
        matches!(a.modals.last(), Some(Modal::Confirm(c)) if c.pending == Pending::QuitWithSecret)
    );
    let _ = a.update(Action::Yes);
    assert!(a.quit);
    assert!(
        a.modals.is_empty(),
        "the secret is dropped (and zeroized) before exit"
    );
}

#[test]
fn a_copied_secret_is_cleared_when_its_timer_fires() {
    let mut a = app(1, (80, 24));
    let cmds = a.update(Action::Copied {
        secret: true,
        result: Ok(crate::fixtures::osc52_done("Secret")),
    });
    let Some(Command::Timer(TimerKind::ClipboardClear(id), after)) = cmds.first().cloned() else {
        panic!("{cmds:?}")
    };
    assert_eq!(after, Settings::default().clipboard_clear);
    assert!(a.clipboard_until.is_some());
    assert_eq!(
        a.update(Action::TimerFired(TimerKind::ClipboardClear(id))),
        vec![Command::ClearClipboard]
    );
    assert!(a.clipboard_until.is_none());
    // Copying a key id starts no countdown.
    assert!(
        a.update(Action::Copied {
            secret: false,
            result: Ok(crate::fixtures::osc52_done("Secret"))
        })
        .is_empty()
    );
}

#[test]
fn session_fields_drive_the_badge() {
    let s = Session {
        profile: "prod".into(),
        url: "https://k".into(),
        danger: true,
        demo: false,
    };
    let a = App::new(s, Settings::default(), now(), tokio::time::Instant::now());
    assert!(a.session.danger);
    // The badge reads without colour: the text is there, reversed in a real terminal.
    assert!(
        fixtures::render(&a, (80, 24))
            .lines()
            .next()
            .is_some_and(|l| l.contains("[PROD]"))
    );
    let local = app(1, (80, 24));
    let header = fixtures::render(&local, (80, 24));
    let first = header.lines().next().unwrap_or_default();
    assert!(
        !first.contains("[PROD]") && first.contains("[DEMO]"),
        "{first}"
    );
}

#[test]
fn the_monochrome_theme_marks_meaning_without_colour() {
    use keyconsole::tui::theme::Theme;
    use ratatui::style::Modifier;
    let t = Theme::mono();
    assert_eq!(t.danger_badge().fg, None);
    assert!(t.danger_badge().add_modifier.contains(Modifier::REVERSED));
    assert!(t.selected().add_modifier.contains(Modifier::REVERSED));
    assert_eq!(t.error().fg, None);
    let colour = Theme {
        color: true,
        ..Theme::mono()
    };
    assert!(colour.error().fg.is_some());
    // A theme's selection colour goes behind the row; without colour it stays reversed.
    let mut themed = colour;
    themed.palette.selection = Some(ratatui::style::Color::Blue);
    assert_eq!(themed.selected().bg, Some(ratatui::style::Color::Blue));
    themed.color = false;
    assert!(themed.selected().add_modifier.contains(Modifier::REVERSED));
}

#[test]
fn forms_validate_against_the_servers_catalog() {
    let mut a = app(1, (80, 24));
    let mut cat = fixtures::catalog();
    cat.scopes.push(keyconsole::api::ScopeInfo {
        name: "reports:read".into(),
        description: "Read reports".into(),
    });
    let _ = a.update(Action::CatalogLoaded(Ok(cat)));
    let _ = a.update(Action::NewKey);
    typed(&mut a, "Reporter");
    let Some(Modal::Form(f)) = a.modals.last_mut() else {
        panic!("form")
    };
    f.set_custom_scopes(["reports:read".to_owned()].into());
    assert!(
        f.validate(&a.catalog_rules, now()),
        "a scope only the server's catalog has: {:?}",
        f.errors
    );
}

/// Issue 12, defect 2: disabling or deleting the key the console is signed in with says so in
/// words, never promises "enable it again with Space", and needs the name typed (any case).
#[test]
fn the_consoles_own_key_cannot_be_disabled_or_deleted_without_the_name() {
    let mut a = app(5, (80, 24));
    let _ = a.update(Action::Down);
    let own = a.selected_key().expect("row").id.clone();
    assert_eq!(
        own,
        fixtures::me().key.expect("a key").id,
        "row 1 is the console's own key"
    );
    for action in [Action::ToggleEnabled, Action::DeleteKey] {
        let _ = a.update(action.clone());
        let Some(Modal::Confirm(c)) = a.modals.last() else {
            panic!("{action:?}: no confirmation")
        };
        let body = c.body.join(" ");
        assert!(body.contains("this console uses"), "{body}");
        assert!(!body.contains("enable it again"), "{body}");
        assert_eq!(c.type_to_confirm.as_deref(), Some("Service 001"));
        assert!(a.update(Action::Yes).is_empty(), "y alone does nothing");
        let Some(Modal::Confirm(c)) = a.modals.last() else {
            panic!("closed")
        };
        assert!(
            c.mismatch
                .as_deref()
                .is_some_and(|m| m.contains("Nothing done")),
            "says why nothing happened"
        );
        typed(&mut a, "SERVICE 001");
        let cmds = a.update(Action::Enter);
        assert!(
            matches!(
                cmds.as_slice(),
                [Command::UpdateKey { .. }] | [Command::DeleteKey(_)]
            ),
            "{cmds:?}"
        );
    }
    // Another (enabled) key on a non-danger profile: a plain y/n.
    let _ = a.update(Action::Down);
    let _ = a.update(Action::Down);
    let _ = a.update(Action::ToggleEnabled);
    let Some(Modal::Confirm(c)) = a.modals.last() else {
        panic!("no confirmation")
    };
    assert!(c.type_to_confirm.is_none());
}

/// Issue 12, defect 7: on a danger profile a scope edit shows the diff and asks for the name,
/// like disable and delete; Esc sends nothing and lets the editor go on.
#[test]
fn danger_profiles_show_a_diff_and_ask_before_any_change() {
    let mut a = app_with(5, (120, 40), true);
    let _ = a.update(Action::GoTab(Tab::Scopes));
    let _ = a.update(Action::EditScopes);
    let _ = a.update(Action::Toggle);
    assert!(a.update(Action::Save).is_empty(), "nothing is sent yet");
    let Some(Modal::Confirm(c)) = a.modals.last() else {
        panic!("no confirmation")
    };
    let body = c.body.join("\n");
    assert!(body.contains("scopes: + *"), "{body}");
    assert_eq!(c.type_to_confirm.as_deref(), Some("Service 000"));
    let _ = a.update(Action::Back);
    assert!(a.modals.is_empty());
    assert!(
        a.scopes.edit.as_ref().is_some_and(|e| !e.saving),
        "the editor takes input again"
    );
    let _ = a.update(Action::Save);
    typed(&mut a, "service 000");
    let cmds = a.update(Action::Enter);
    assert!(
        matches!(
            cmds.as_slice(),
            [Command::UpdateKey {
                origin: EditOrigin::Scopes,
                ..
            }]
        ),
        "{cmds:?}"
    );
    // Enabling a disabled key asks too (key 2 is disabled).
    let _ = a.update(Action::GoTab(Tab::Keys));
    let _ = a.update(Action::Down);
    let _ = a.update(Action::Down);
    assert!(a.update(Action::ToggleEnabled).is_empty());
    assert!(matches!(a.modals.last(), Some(Modal::Confirm(_))));
}

/// Issue 12, defect 11: `:hint` alone explains itself; a second `/` starts a new filter.
#[test]
fn hint_without_an_argument_and_a_second_filter() {
    let mut a = app(5, (80, 24));
    let _ = a.run_command("hint");
    let t = a.toast.as_ref().expect("toast");
    assert!(t.text.starts_with("Usage: :hint"), "{}", t.text);
    let _ = a.update(Action::StartFilter);
    typed(&mut a, "001");
    let _ = a.update(Action::Enter);
    assert_eq!(a.keys.filter, "001");
    let _ = a.update(Action::StartFilter);
    typed(&mut a, "002");
    assert_eq!(a.keys.filter, "002", "replaced, not 001002");
}

/// Issue 11 item 8 (409 lock-out): the last owner key's refusal is explained in words.
#[test]
fn the_last_owner_refusal_is_explained() {
    let e = UiError {
        message: keyconsole::domain::decision::LAST_OWNER_MESSAGE.into(),
        code: Some("conflict".into()),
        status: Some(409),
        request_id: None,
        unreachable: false,
    };
    let text = keyconsole::tui::app::explain(&e);
    assert!(text.contains("last enabled owner key"), "{text}");
}

/// The instances' answer after a change names the key it is about, in its own toast: it may
/// arrive after another change's toast, which it must not be attached to.
#[test]
fn the_acknowledgement_names_its_own_key() {
    use keyconsole::client::ack::Ack;
    let mut a = app(5, (120, 40));
    let ks = keys(5);
    let (first, second) = (&ks[1], &ks[3]);
    let _ = a.update(Action::KeyDeleted {
        id: second.id.clone(),
        result: Ok(()),
    });
    assert!(a.toast.as_ref().is_some_and(|t| t.text.contains("Deleted")));
    // The answer about the first key, disabled earlier, arrives now.
    let _ = a.update(Action::ChangeApplied {
        key_id: first.id.clone(),
        done: "Disabled",
        result: Ok(Ack {
            applied: 2,
            total: 2,
            elapsed: std::time::Duration::from_millis(41),
            waited: keyconsole::client::ack::ACK_TIMEOUT,
        }),
    });
    let t = a.toast.as_ref().expect("toast");
    assert_eq!(
        t.text,
        format!(
            "Disabled {} ({}): applied on 2 of 2 instances (41 ms)",
            first.name, first.id
        )
    );
    assert!(!t.text.contains(&second.id), "{}", t.text);
    // A deleted key is no longer loaded but still named; a failure to ask is an error.
    let _ = a.update(Action::ChangeApplied {
        key_id: second.id.clone(),
        done: "Deleted",
        result: Err("connection refused".into()),
    });
    let t = a.toast.as_ref().expect("toast");
    assert_eq!(
        t.text,
        format!(
            "Deleted {} ({}): could not ask the instances (connection refused)",
            second.name, second.id
        )
    );
    assert!(t.error);
}

/// On a danger profile a scope edit of a key that is no longer loaded (deleted meanwhile, or
/// reloaded away) is not sent without its diff: the editor says why.
#[test]
fn a_danger_profile_never_sends_a_scope_edit_it_cannot_show() {
    let mut a = app_with(5, (120, 40), true);
    let _ = a.update(Action::GoTab(Tab::Scopes));
    let _ = a.update(Action::EditScopes);
    let _ = a.update(Action::Toggle);
    let id = a.scopes.edit.as_ref().expect("editing").key_id.clone();
    a.keys.remove(&id);
    assert!(a.update(Action::Save).is_empty(), "nothing is sent");
    let ed = a.scopes.edit.as_ref().expect("still editing");
    assert!(!ed.saving);
    assert!(
        ed.refused
            .as_deref()
            .is_some_and(|r| r.contains("no longer loaded")),
        "{:?}",
        ed.refused
    );
}
