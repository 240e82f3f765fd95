//! Finding keys by scope, status, owner, app or environment in one filter line, and every
//! list row that names a key or a request opens it (issue 12, defect 9).

use keyconsole::tui::app::modal::Modal;
use keyconsole::tui::app::{Action, App, Command, Tab, TimerKind};
use keyconsole::tui::app::{Loadable, usage::UsagePanel};
use tui_input::InputRequest;

use crate::fixtures::{self, app, render};

fn filter(a: &mut App, text: &str) -> Vec<Command> {
    let _ = a.update(Action::StartFilter);
    let mut last = Vec::new();
    for c in text.chars() {
        last = a.update(Action::Edit(InputRequest::InsertChar(c)));
    }
    let Some(Command::Timer(TimerKind::FilterDebounce(id), _)) = last.first().cloned() else {
        panic!("debounce expected: {last:?}");
    };
    let cmds = a.update(Action::TimerFired(TimerKind::FilterDebounce(id)));
    assert!(a.update(Action::Enter).is_empty(), "Enter keeps the filter");
    cmds
}

fn asked(cmds: &[Command]) -> keyconsole::api::ListKeysQuery {
    match cmds {
        [Command::LoadKeys { query, .. }] => query.clone(),
        other => panic!("one LoadKeys expected: {other:?}"),
    }
}

#[test]
fn a_scope_typed_in_the_filter_is_the_servers_scope_filter() {
    let mut a = app(12, (80, 24));
    let cmds = filter(&mut a, "webhooks:write");
    let q = asked(&cmds);
    assert_eq!(q.scope.as_deref(), Some("webhooks:write"));
    assert_eq!(q.q, None, "not sent as a name search, which found nothing");
    // While the answer is on its way, the loaded rows narrow the same way (wildcards count).
    assert_eq!(a.keys.shown(), 8);
    let screen = render(&a, (80, 24));
    assert!(screen.contains("filter scope webhooks:write"), "{screen}");

    let mut a = app(12, (80, 24));
    let q = asked(&filter(&mut a, "status:disabled env:live service"));
    assert_eq!(q.status.as_deref(), Some("disabled"));
    assert_eq!(q.env.as_deref(), Some("live"));
    assert_eq!(q.q.as_deref(), Some("service"));

    // A value the server would refuse is not sent, and the crumb row says why.
    let mut a = app(12, (80, 24));
    let q = asked(&filter(&mut a, "status:gone"));
    assert_eq!(q.status, None);
    let screen = render(&a, (80, 24));
    assert!(screen.contains("✗ status: use active"), "{screen}");
}

#[test]
fn enter_on_the_scope_catalog_lists_its_holders_and_e_still_edits() {
    let mut a = app(12, (80, 24));
    let _ = a.update(Action::GoTab(Tab::Scopes));
    let cmds = a.update(Action::Enter);
    assert!(a.scopes.edit.is_none(), "Enter does not start editing");
    assert_eq!(a.tab, Tab::Keys);
    let q = asked(&cmds);
    assert!(q.scope.is_some(), "{q:?}");
    assert!(a.keys.filter.starts_with("scope:"), "{}", a.keys.filter);
    let _ = a.update(Action::GoTab(Tab::Scopes));
    let _ = a.update(Action::EditScopes);
    assert!(a.scopes.edit.is_some(), "e edits");
}

#[test]
fn usage_rows_open_their_key_or_their_request() {
    let mut a = app(12, (80, 24));
    let _ = a.update(Action::GoTab(Tab::Usage));
    a.usage.failures = Loadable::Ready(fixtures::events());
    a.usage.panel = UsagePanel::Failures;
    let _ = a.update(Action::Down);
    let screen = render(&a, (80, 24));
    assert!(screen.contains("req_00000000000000000001"), "{screen}");
    let cmds = a.update(Action::Enter);
    assert_eq!(
        cmds,
        vec![Command::LookupRequest("req_00000000000000000001".into())]
    );
    assert!(matches!(a.modals.last(), Some(Modal::Lookup(_))));
    let _ = a.update(Action::Back);
    assert!(a.modals.is_empty());

    // Down past the end stays on the last row.
    for _ in 0..10 {
        let _ = a.update(Action::Down);
    }
    assert_eq!(a.usage.cursor, 3);

    // The stale list: Enter selects the key in the Keys tab.
    let rows = fixtures::keys(12);
    a.usage.stale = Loadable::Ready(vec![rows[7].clone()]);
    a.usage.panel = UsagePanel::Stale;
    a.usage.cursor = 0;
    let _ = a.update(Action::Enter);
    assert_eq!(a.tab, Tab::Keys);
    assert_eq!(
        a.selected_key().map(|k| k.id.clone()),
        Some(rows[7].id.clone())
    );
}

/// `s` orders the list through the server (`sort=`, so every page and cursor follows it)
/// and `S` reverses it; the loaded rows re-sort at once, the header's column carries the
/// direction, and the server's answer then stands as it came.
#[test]
fn sorting_is_asked_of_the_server_and_shown_in_the_header() {
    let mut a = app(12, (80, 24));
    let sort_of = |cmds: &[Command]| match cmds {
        [
            Command::LoadKeys {
                query,
                append: false,
                ..
            },
        ] => query.sort.clone(),
        other => panic!("one first-page load expected: {other:?}"),
    };
    let q = sort_of(&a.update(Action::CycleSort));
    assert_eq!(q.as_deref(), Some("name"));
    // At once, before the answer: the loaded rows by name.
    let names: Vec<String> = (0..3)
        .filter_map(|p| a.keys.row_at(p).map(|i| a.keys.rows[i].name.clone()))
        .collect();
    assert_eq!(names, ["Service 000", "Service 001", "Service 002"]);
    let screen = render(&a, (80, 24));
    assert!(screen.contains("Name▲"), "{screen}");
    assert!(screen.contains("sort: name A-Z"), "{screen}");
    // Reversed.
    assert_eq!(
        sort_of(&a.update(Action::ReverseSort)).as_deref(),
        Some("-name")
    );
    let first = a.keys.row_at(0).map(|i| a.keys.rows[i].name.clone());
    assert_eq!(first.as_deref(), Some("Service 011"));
    assert!(render(&a, (80, 24)).contains("Name▼"));
    // The server's answer stands in the order it came (no second local sort).
    let mut rows = fixtures::keys(3);
    rows.reverse();
    let _ = crate::fixtures::load_rows(&mut a, rows.clone());
    let shown: Vec<String> = (0..3)
        .filter_map(|p| a.keys.row_at(p).map(|i| a.keys.rows[i].id.clone()))
        .collect();
    assert_eq!(shown, rows.iter().map(|k| k.id.clone()).collect::<Vec<_>>());
    // The next page follows the same order.
    a.keys.next_cursor = Some("cur_next".into());
    let cmds = a.load_keys(true);
    match cmds.as_slice() {
        [
            Command::LoadKeys {
                query,
                append: true,
                ..
            },
        ] => {
            assert_eq!(query.sort.as_deref(), Some("-name"));
            assert_eq!(query.cursor.as_deref(), Some("cur_next"));
        }
        other => panic!("{other:?}"),
    }
    // Cycling on starts each order in its natural direction: most recently used first.
    assert_eq!(
        sort_of(&a.update(Action::CycleSort)).as_deref(),
        Some("-last_used")
    );
    assert!(render(&a, (80, 24)).contains("Used▼"));
    assert_eq!(
        sort_of(&a.update(Action::CycleSort)).as_deref(),
        Some("expires")
    );
    assert!(render(&a, (80, 24)).contains("Expires▲"));
    assert_eq!(
        sort_of(&a.update(Action::CycleSort)).as_deref(),
        Some("-created")
    );
}

/// The holders pane (`w`): `→` picks a row, `j`/`k` move, Enter opens that key in the Keys
/// tab (filtering for it when it is not loaded), `←` goes back to the catalog.
#[test]
fn enter_on_a_holder_opens_that_key() {
    let mut a = app(3, (120, 40));
    let _ = a.update(Action::GoTab(Tab::Scopes));
    let _ = a.update(Action::Right);
    assert_eq!(a.scopes.holder, None, "no pane yet");
    let mut holders = fixtures::keys(3);
    holders.push(fixtures::key(
        40,
        "Not loaded",
        keyconsole::domain::record::KeyStatus::Active,
    ));
    fixtures::on_holders(&mut a, holders);
    let _ = a.update(Action::Right);
    assert_eq!(a.scopes.holder, Some(0));
    let _ = a.update(Action::Down);
    let _ = a.update(Action::Down);
    assert_eq!(a.scopes.cursor, 0, "j moves in the pane, not the catalog");
    let screen = render(&a, (120, 40));
    assert!(screen.contains("Enter opens"), "{screen}");
    let _ = a.update(Action::Down);
    assert_eq!(a.scopes.holder, Some(3));
    let cmds = a.update(Action::Enter);
    assert_eq!(a.tab, Tab::Keys);
    assert_eq!(
        a.keys.filter,
        fixtures::key(40, "x", keyconsole::domain::record::KeyStatus::Active).id
    );
    assert!(
        matches!(cmds.as_slice(), [Command::LoadKeys { .. }]),
        "{cmds:?}"
    );

    // A loaded holder is selected in place; ← and Esc leave the pane.
    let mut a = app(3, (120, 40));
    fixtures::on_holders(&mut a, fixtures::keys(3));
    let _ = a.update(Action::Right);
    let _ = a.update(Action::Left);
    assert_eq!(a.scopes.holder, None);
    let _ = a.update(Action::Right);
    let _ = a.update(Action::Down);
    let cmds = a.update(Action::Enter);
    assert!(
        !cmds.iter().any(|c| matches!(c, Command::LoadKeys { .. })),
        "a loaded key is not asked for again: {cmds:?}"
    );
    assert_eq!(a.tab, Tab::Keys);
    assert_eq!(
        a.keys.selected_key().map(|k| k.name.as_str()),
        Some("Service 001")
    );
    // At 80x24 the key opens in its detail.
    let mut a = app(3, (80, 24));
    fixtures::on_holders(&mut a, fixtures::keys(3));
    let _ = a.update(Action::Right);
    let _ = a.update(Action::Enter);
    assert!(matches!(a.modals.last(), Some(Modal::Detail(_))));
}

/// The holders pane pages by its own height: at 120x40 the Keys table is shorter (its
/// detail pane sits below it), the holders pane is the whole body less its border and count.
#[test]
fn the_holders_pane_pages_by_its_own_height() {
    let mut a = app(3, (120, 40));
    fixtures::on_holders(&mut a, fixtures::keys(80));
    let _ = a.update(Action::Right);
    assert_eq!(a.scopes.holder, Some(0));
    let page = a.holders_height();
    assert_ne!(
        page,
        a.table_height(),
        "the two heights differ at this size"
    );
    let _ = a.update(Action::PageDown);
    assert_eq!(a.scopes.holder, Some(page), "a page is the pane's height");
    // And the picked row is on screen.
    let name = a.scopes.holder_keys()[page].name.clone();
    let screen = render(&a, (120, 40));
    assert!(screen.contains(&name), "{name}\n{screen}");
}
