//! The Audit tab's entry detail: `Enter` shows the selected entry in full, every field of its
//! change uncut (the table's Changes column is cut to the width left), `j`/`k` step through
//! entries, `PgUp`/`PgDn` scroll, `Esc` goes back to the table.

use keyconsole::tui::app::{Action, App, Tab};

use crate::fixtures::{self, app, render};

/// Every catalog scope but one, as a key might hold them before a narrowing.
const WIDE: [&str; 12] = [
    "work-orders:write",
    "work-orders:read",
    "runs:read",
    "runs:write",
    "credits:read",
    "webhooks:read",
    "webhooks:write",
    "templates:read",
    "templates:write",
    "keys:read",
    "usage:read",
    "audit:read",
];

/// The audit fixture, with entry 1 a long change: twelve scopes narrowed to two, a renamed
/// key and a new description.
fn loaded(size: (u16, u16)) -> App {
    let mut a = app(3, size);
    let _ = a.update(Action::GoTab(Tab::Audit));
    let mut rows = fixtures::audit();
    rows[1].changes = serde_json::json!({
        "scopes": {"from": WIDE, "to": ["runs:read", "audit:read"]},
        "name": {"from": "Payments backend (eu-west-1, primary)", "to": "Payments backend (eu-west-1, read-only replica)"},
        "description": {"from": null, "to": "narrowed after the access review of November: only reads runs and the audit log"},
    });
    crate::fixtures::audit_answered(&mut a, rows, None);
    a
}

#[test]
fn enter_shows_the_whole_change_and_esc_goes_back() {
    for size in [(80, 24), (120, 40)] {
        let mut a = loaded(size);
        let _ = a.update(Action::Down);
        let table = render(&a, size);
        assert!(
            !table.contains("audit:read"),
            "the table cuts the change off\n{table}"
        );
        assert!(a.update(Action::Enter).is_empty(), "nothing to load");
        assert!(a.audit.detail);
        let screen = render(&a, size);
        // Every scope that was removed is named, and what was kept; the long values are whole.
        let flat = screen.lines().map(str::trim).collect::<Vec<_>>().join(" ");
        for s in WIDE
            .iter()
            .filter(|s| !["runs:read", "audit:read"].contains(s))
        {
            assert!(flat.contains(&format!("− {s}")), "{size:?}: {s}\n{screen}");
        }
        for want in [
            "Entry 2 of 6",
            "key.updated",
            "aud_00000000000000000001",
            "key Service 001  (key:pk_live_000000000000000000000001)",
            "read-only replica)",
            "only reads runs and the audit log",
        ] {
            assert!(flat.contains(want), "{size:?}: missing {want:?}\n{screen}");
        }
        insta::assert_snapshot!(format!("audit_entry_{}x{}", size.0, size.1), screen);
        // j goes to the next entry, still in full.
        let _ = a.update(Action::Down);
        let screen = render(&a, size);
        assert!(
            screen.contains("Entry 3 of 6") && screen.contains("key.disabled"),
            "{screen}"
        );
        // Esc: the table again, on the entry reached.
        let _ = a.update(Action::Back);
        assert!(!a.audit.detail);
        assert_eq!(a.audit.selected, 2);
        assert!(render(&a, size).contains("When"), "the table");
        // Enter toggles too.
        let _ = a.update(Action::Enter);
        let _ = a.update(Action::Enter);
        assert!(!a.audit.detail);
    }
}

#[test]
fn a_long_entry_scrolls_and_an_empty_log_opens_nothing() {
    let mut a = loaded((80, 12));
    let _ = a.update(Action::Down);
    let _ = a.update(Action::Enter);
    let top = render(&a, (80, 12));
    assert!(top.contains("When"), "{top}");
    let _ = a.update(Action::PageDown);
    assert_eq!(a.audit.detail_scroll, 10);
    assert_eq!(a.audit.selected, 1, "PgDn scrolls the entry, not the list");
    let scrolled = render(&a, (80, 12));
    assert!(!scrolled.contains("When    "), "{scrolled}");
    let _ = a.update(Action::PageUp);
    assert_eq!(a.audit.detail_scroll, 0);
    for size in [(1, 1), (20, 5), (80, 9)] {
        let _ = a.update(Action::Resize(size.0, size.1));
        let _ = render(&a, size);
    }
    let mut empty = app(3, (80, 24));
    let _ = empty.update(Action::GoTab(Tab::Audit));
    let _ = empty.update(Action::Enter);
    assert!(!empty.audit.detail);
}

/// The Audit table pages by its own height: at 120x40 the Keys tab gives room to its
/// detail pane below, the Audit tab does not, so its rows scroll only past its own 34.
/// `n` entries like the fixture's second, each with its own id.
fn entries(n: usize) -> Vec<keyconsole::api::AuditEntry> {
    (0..n)
        .map(|i| {
            let mut e = fixtures::audit()[1].clone();
            e.id = format!("aud_{i:020}");
            e
        })
        .collect()
}

#[test]
fn audit_paging_uses_the_audit_tables_height() {
    let mut a = app(3, (120, 40));
    let _ = a.update(Action::GoTab(Tab::Audit));
    let rows = entries(60);
    crate::fixtures::audit_answered(&mut a, rows, None);
    assert_eq!(a.audit_height(), 34);
    for _ in 0..30 {
        let _ = a.update(Action::Down);
    }
    assert_eq!(a.audit.offset, 0, "row 31 of 34 needs no scrolling");
    let _ = a.update(Action::Top);
    let _ = a.update(Action::PageDown);
    assert_eq!(a.audit.selected, 34, "a page is the table's height");
}

/// A fresh first page (a refresh, an undo's reload) keeps the selected entry selected, at its
/// new place when newer entries came in above it, and on screen; when it is gone, the
/// selection starts at the top.
#[test]
fn a_reloaded_page_keeps_the_selected_entry() {
    let mut a = app(3, (80, 24));
    let _ = a.update(Action::GoTab(Tab::Audit));
    let rows = entries(60);
    fixtures::audit_answered(&mut a, rows.clone(), None);
    for _ in 0..40 {
        let _ = a.update(Action::Down);
    }
    let picked = a.audit.rows[a.audit.selected].id.clone();
    // Two newer entries on top: the picked one is now two rows further down.
    let mut newer = rows.clone();
    for i in 0..2 {
        let mut e = fixtures::audit()[2].clone();
        e.id = format!("aud_new_{i}");
        newer.insert(0, e);
    }
    fixtures::audit_answered(&mut a, newer.clone(), None);
    assert_eq!(a.audit.selected, 42);
    assert_eq!(a.audit.rows[a.audit.selected].id, picked);
    let h = a.audit_height();
    assert!(
        (a.audit.offset..a.audit.offset + h).contains(&a.audit.selected),
        "on screen: offset {} height {h}",
        a.audit.offset
    );
    // The picked entry gone (another filter): back to the top.
    let without: Vec<_> = newer.into_iter().filter(|e| e.id != picked).collect();
    fixtures::audit_answered(&mut a, without, None);
    assert_eq!((a.audit.selected, a.audit.offset), (0, 0));
}
