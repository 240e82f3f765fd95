//! Mouse clicks (`--mouse`): what a click does follows the layout the frame was drawn with
//! (`views::click`), so a click lands on what the user sees.

use keyconsole::tui::app::modal::Modal;
use keyconsole::tui::app::{Action, Tab};
use keyconsole::tui::views::click;

use crate::fixtures::{app, at, render};

#[test]
fn a_click_opens_the_tab_under_it_at_every_width() {
    let a = app(3, (80, 24));
    let header = render(&a, (80, 24))
        .lines()
        .next()
        .unwrap_or_default()
        .to_owned();
    // Where " 4 Usage " is drawn.
    let x = u16::try_from(header.find("4 Usage").expect("drawn")).expect("x");
    assert_eq!(click(&a, (80, 24), x, 0), Some(Action::GoTab(Tab::Usage)));
    assert_eq!(click(&a, (80, 24), 0, 0), Some(Action::GoTab(Tab::Keys)));
    assert_eq!(click(&a, (80, 24), 79, 0), None, "the profile is not a tab");
    // Narrow: numbers only; the click still finds the tab drawn there.
    let a = app(3, (44, 12));
    let header = render(&a, (44, 12))
        .lines()
        .next()
        .unwrap_or_default()
        .to_owned();
    let x = u16::try_from(header.find(" 3").expect("drawn") + 1).expect("x");
    assert_eq!(click(&a, (44, 12), x, 0), Some(Action::GoTab(Tab::Domains)));
}

#[test]
fn a_click_selects_a_row_and_a_second_click_opens_it() {
    let mut a = app(12, (80, 24));
    let screen = render(&a, (80, 24));
    let y = screen
        .lines()
        .position(|l| l.contains("Service 002"))
        .expect("row drawn");
    let y = u16::try_from(y).expect("y");
    let act = click(&a, (80, 24), 3, y).expect("a row");
    let _ = a.update(act);
    assert_eq!(
        a.selected_key().map(|k| k.name.clone()).as_deref(),
        Some("Service 002")
    );
    assert!(a.modals.is_empty());
    let act = click(&a, (80, 24), 3, y).expect("the same row");
    let _ = a.update(act);
    assert!(
        matches!(a.modals.last(), Some(Modal::Detail(id)) if id.ends_with("02")),
        "opened"
    );
    // Nothing under a modal, and nothing below the last row.
    assert_eq!(click(&a, (80, 24), 3, y), None);
    let mut b = app(2, (80, 24));
    assert_eq!(click(&b, (80, 24), 3, 10), None, "below the rows");
    let _ = b.update(Action::StartCommand);
    assert_eq!(click(&b, (80, 24), 0, 0), None, "while typing a command");
}

#[test]
fn rows_of_the_audit_scopes_and_usage_lists_take_clicks() {
    use keyconsole::tui::app::usage::UsagePanel;
    for size in [(80, 24), (120, 40), (200, 50)] {
        // Audit: the fourth entry (key.rotated), then again: it opens in full.
        let mut a = app(3, size);
        crate::fixtures::on_audit(&mut a);
        let (x, y) = at(&render(&a, size), "key.rotated");
        let _ = a.update(click(&a, size, x, y).expect("an audit row"));
        assert_eq!(a.audit.selected, 3, "{size:?}");
        let _ = a.update(click(&a, size, x, y).expect("again"));
        assert!(a.audit.detail, "{size:?}: opened");
        assert_eq!(
            click(&a, size, x, y),
            None,
            "nothing to pick in the open entry"
        );

        // Scopes: a catalog row.
        let mut a = app(3, size);
        let _ = a.update(Action::GoTab(Tab::Scopes));
        let (x, y) = at(&render(&a, size), "webhooks:write");
        let _ = a.update(click(&a, size, x, y).expect("a scope row"));
        let screen = render(&a, size);
        let line = screen.lines().nth(usize::from(y)).unwrap_or_default();
        assert!(line.contains("webhooks:write"), "{size:?}: {line}");
        assert_eq!(a.scopes.cursor, {
            let rows = keyconsole::tui::app::modal::checklist_rows(
                &a.catalog.as_ref().expect("catalog").scopes,
            );
            rows.iter()
                .position(|(n, _)| n == "webhooks:write")
                .expect("row")
        });
        let cmds = a.update(click(&a, size, x, y).expect("again"));
        assert_eq!(a.tab, Tab::Keys, "{size:?}: the keys holding it");
        assert!(!cmds.is_empty());

        // Usage: a row of the failures list opens its request lookup on the second click.
        let mut a = app(3, size);
        let _ = a.update(Action::GoTab(Tab::Usage));
        let _ = a.update(Action::OrgUsageLoaded(Ok(crate::fixtures::org_usage())));
        let _ = a.update(Action::FailuresLoaded(Ok(crate::fixtures::events())));
        let _ = a.update(Action::Right);
        let _ = a.update(Action::Right);
        let _ = a.update(Action::Right);
        assert_eq!(a.usage.panel, UsagePanel::Failures);
        let (x, y) = at(&render(&a, size), "origin_not_allowed");
        let _ = a.update(click(&a, size, x, y).expect("a failure row"));
        assert_eq!(a.usage.cursor, 2, "{size:?}");
        let _ = a.update(click(&a, size, x, y).expect("again"));
        assert!(
            matches!(a.modals.last(), Some(Modal::Lookup(_))),
            "{size:?}"
        );
        // Top keys has a header line: its first row is the first key.
        let mut a = app(3, size);
        let _ = a.update(Action::GoTab(Tab::Usage));
        let _ = a.update(Action::OrgUsageLoaded(Ok(crate::fixtures::org_usage())));
        let (x, y) = at(&render(&a, size), "Service 003");
        let _ = a.update(click(&a, size, x, y).expect("a key row"));
        assert_eq!(a.usage.cursor, 3, "{size:?}");
        let (x, y) = at(&render(&a, size), &format!("{:<24}", "key"));
        assert_eq!(click(&a, size, x, y), None, "{size:?}: the header line");
    }
}

#[test]
fn the_keys_rows_follow_the_layout_at_every_size() {
    // Tall terminals put the detail below, very wide ones beside the table: the rows are
    // where they are drawn, and a click in the detail pane picks nothing.
    for size in [(80, 24), (120, 40), (200, 50), (100, 60)] {
        let mut a = app(12, size);
        let (x, y) = at(&render(&a, size), "Service 005");
        let _ = a.update(click(&a, size, x, y).expect("a key row"));
        assert_eq!(
            a.selected_key().map(|k| k.name.as_str()),
            Some("Service 005"),
            "{size:?}"
        );
        if a.wide() {
            let (x, y) = at(&render(&a, size), "Details");
            assert_eq!(
                click(&a, size, x + 2, y + 2),
                None,
                "{size:?}: the detail pane"
            );
        }
    }
}

#[test]
fn a_confirmations_buttons_answer_it() {
    use keyconsole::tui::app::Command;
    for size in [(80, 24), (120, 40)] {
        // y yes: the disable is sent.
        let mut a = app(3, size);
        let _ = a.update(Action::ToggleEnabled);
        assert!(matches!(a.modals.last(), Some(Modal::Confirm(_))));
        let screen = render(&a, size);
        let (x, y) = at(&screen, "y yes");
        assert_eq!(
            click(&a, size, x + 2, y),
            Some(Action::Yes),
            "{size:?}\n{screen}"
        );
        assert_eq!(
            click(&a, size, x, y.saturating_sub(1)),
            None,
            "above the buttons"
        );
        let cmds = a.update(Action::Yes);
        assert!(matches!(cmds.as_slice(), [Command::UpdateKey { .. }]));
        // Esc no: nothing is sent.
        let mut a = app(3, size);
        let _ = a.update(Action::ToggleEnabled);
        let (x, y) = at(&render(&a, size), "Esc no");
        assert_eq!(click(&a, size, x, y), Some(Action::No));
        // A typed confirmation: Enter only confirms once the name is typed; Esc cancels.
        let mut a = crate::fixtures::app_with(3, size, true);
        let _ = a.update(Action::DeleteKey);
        let screen = render(&a, size);
        let (x, y) = at(&screen, "Esc cancel");
        assert_eq!(click(&a, size, x + 1, y), Some(Action::No), "{screen}");
        let (x, y) = at(&screen, "Enter (type");
        let act = click(&a, size, x, y).expect("the confirm button");
        assert!(a.update(act).is_empty(), "not typed yet: nothing sent");
        assert!(matches!(a.modals.last(), Some(Modal::Confirm(_))));
    }
}

/// The rotation wizard's buttons, drawn on the dialog's last row, act as
/// their keys do; a hint that is not a button (`↑↓ choose`) takes no click.
#[test]
fn the_rotation_wizards_buttons_take_clicks() {
    for size in [(80, 24), (120, 40)] {
        let (mut a, k) = crate::rotation::open(size);
        let screen = render(&a, size);
        let (x, y) = at(&screen, "Enter choose the grace period");
        assert_eq!(click(&a, size, x, y), Some(Action::Enter), "{screen}");
        let (x, y) = at(&screen, "Esc cancel");
        assert_eq!(click(&a, size, x + 4, y), Some(Action::Back));
        assert_eq!(click(&a, size, x, y.saturating_sub(1)), None, "above");
        // What a click gives is what the key does: on to the grace step.
        let _ = a.update(click(&a, size, 1, y).expect("Enter"));
        let screen = render(&a, size);
        let (x, y) = at(&screen, "↑↓ choose");
        assert_eq!(click(&a, size, x, y), None, "a hint, not a button");
        let (x, y) = at(&screen, "Enter rotate");
        assert_eq!(click(&a, size, x + 6, y), Some(Action::Enter), "{screen}");
        crate::rotation::to_cutover(&mut a, &k);
        let screen = render(&a, size);
        let (x, y) = at(&screen, "Space quiet period");
        assert_eq!(click(&a, size, x, y), Some(Action::Toggle), "{screen}");
        let (x, y) = at(&screen, "q leave");
        assert_eq!(click(&a, size, x, y), Some(Action::Quit));
    }
}

/// Bulk rotation's plan: `Enter rotate all` and `Esc cancel` are buttons.
#[test]
fn bulk_rotations_buttons_take_clicks() {
    let size = (120, 40);
    let mut a = crate::fixtures::app_with(6, size, false);
    for _ in 0..3 {
        let _ = a.update(Action::Mark);
    }
    let _ = a.update(Action::BulkRotate);
    assert!(matches!(a.modals.last(), Some(Modal::Bulk(_))));
    let screen = render(&a, size);
    let (x, y) = at(&screen, "Enter rotate all");
    assert_eq!(click(&a, size, x + 7, y), Some(Action::Enter), "{screen}");
    let (x, y) = at(&screen, "Esc cancel");
    assert_eq!(click(&a, size, x, y), Some(Action::Back), "{screen}");
    let (x, y) = at(&screen, "↑↓ grace");
    assert_eq!(click(&a, size, x, y), None, "a hint, not a button");
}

/// A click on a row of the holders pane picks that key, even when the pane has scrolled; a
/// second click opens it in the Keys tab. The count line and the border take no click.
#[test]
fn a_holder_row_takes_clicks() {
    for size in [(120, 40), (200, 50)] {
        let mut a = app(3, size);
        crate::fixtures::on_holders(&mut a, crate::fixtures::keys(80));
        let screen = render(&a, size);
        let (x, y) = at(&screen, "key(s)");
        assert_eq!(click(&a, size, x, y), None, "{size:?}: the count line");
        let name = a.scopes.holder_keys()[2].name.clone();
        let (x, y) = at(&screen, &name);
        let act = click(&a, size, x, y).expect("a holder row");
        assert_eq!(act, Action::SelectHolder(2), "{size:?}\n{screen}");
        let _ = a.update(act);
        assert_eq!(a.scopes.holder, Some(2));
        // Scrolled: the last key picked, then a click on a row drawn now.
        let _ = a.update(Action::Bottom);
        let screen = render(&a, size);
        let name = a.scopes.holder_keys()[70].name.clone();
        let (x, y) = at(&screen, &name);
        let act = click(&a, size, x, y).expect("a holder row");
        assert_eq!(act, Action::SelectHolder(70), "{size:?}\n{screen}");
        let _ = a.update(act);
        let id = a.scopes.holder_keys()[70].id.clone();
        let cmds = a.update(click(&a, size, x, y).expect("again"));
        assert_eq!(a.tab, Tab::Keys, "{size:?}: the second click opens the key");
        // Not among the loaded rows: the Keys tab asks the server for it by id.
        assert!(a.keys.filter.contains(&id), "{size:?}: {}", a.keys.filter);
        assert!(
            cmds.iter()
                .any(|c| matches!(c, keyconsole::tui::app::Command::LoadKeys { .. })),
            "{cmds:?}"
        );
    }
}
