//! ASCII mode (`[ui] ascii = true`, or a locale that is not UTF-8): the main screens at
//! 80x24 draw with ASCII only, every cell, borders and charts included, and still say what
//! the Unicode screens say.

use keyconsole::tui::app::{Action, App, Tab};
use keyconsole::tui::theme::Theme;

use crate::fixtures::{self, SECRET, app, render, render_with};

const SIZE: (u16, u16) = (80, 24);

/// The screen in ASCII mode, checked cell by cell, and snapshotted.
fn ascii_screen(name: &str, a: &App) -> String {
    let screen = render_with(a, SIZE, Theme::mono_ascii());
    for (y, line) in screen.lines().enumerate() {
        if let Some(c) = line.chars().find(|c| !c.is_ascii()) {
            panic!("{name}: {c:?} on row {y}\n{screen}");
        }
    }
    assert!(
        !render(a, SIZE).is_ascii(),
        "{name}: the Unicode screen has glyphs to replace"
    );
    insta::assert_snapshot!(format!("ascii_{name}_80x24"), screen);
    screen
}

#[test]
fn the_keys_list_and_a_key_detail() {
    let mut a = app(12, SIZE);
    let screen = ascii_screen("keys", &a);
    assert!(screen.contains("+-") || screen.contains("--"), "{screen}");
    assert!(screen.contains("Service 000"), "{screen}");
    let _ = a.update(Action::Enter);
    let screen = ascii_screen("key_detail", &a);
    assert!(screen.contains("| "), "an ASCII border: {screen}");
}

#[test]
fn the_usage_charts() {
    let mut a = app(5, SIZE);
    let _ = a.update(Action::GoTab(Tab::Usage));
    let _ = a.update(Action::OrgUsageLoaded(Ok(fixtures::org_usage())));
    let _ = a.update(Action::KeyUsageLoaded(Ok(fixtures::key_usage())));
    let screen = ascii_screen("usage", &a);
    // The series keep their own marks, named in the legend.
    for mark in ["*ok", "x401", "o403", "#429"] {
        assert!(screen.contains(mark), "{mark}\n{screen}");
    }
}

#[test]
fn the_rotation_monitor() {
    let (mut a, k) = crate::rotation::open(SIZE);
    crate::rotation::to_cutover(&mut a, &k);
    let mut new = vec![0; 50];
    new.extend([3, 9, 20, 40, 80, 115, 115, 115, 115, 115]);
    let _ = a.update(Action::RotationUsage {
        key_id: "pk_live_000000000000000000000new".into(),
        result: Ok(crate::rotation::usage("n", &new)),
    });
    let screen = ascii_screen("monitor", &a);
    assert!(screen.contains('#'), "the sparkline's full bars: {screen}");
}

#[test]
fn the_request_tester() {
    let mut a = crate::tester::open(SIZE);
    crate::tester::paste_secret(&mut a, SECRET);
    let _ = a.update(Action::Send);
    let _ = a.update(Action::TesterAnswered(Box::new(
        Ok(crate::tester::denied()),
    )));
    let _ = a.update(Action::Diagnosed(Ok(crate::tester::trace())));
    let screen = ascii_screen("tester", &a);
    assert!(screen.contains("x expiry"), "the failing step: {screen}");
    assert!(!screen.contains(&SECRET[8..30]), "still masked");
}
