//! Mouse clicks (`--mouse`): what a click does follows the layout the frame was drawn with
//! (`views::click`), so a click lands on what the user sees.

use keyconsole::tui::app::modal::Modal;
use keyconsole::tui::app::{Action, Tab};
use keyconsole::tui::views::click;

use crate::fixtures::{app, render};

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
