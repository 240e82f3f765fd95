//! The command palette: every command and action by name, matched as typed, `Tab` to
//! complete (key ids for `:rotate`), `↑`/`↓` for earlier commands (`app::palette`).

use keyconsole::tui::app::modal::Modal;
use keyconsole::tui::app::{Action, App, Command};
use tui_input::InputRequest;

use crate::fixtures::{app, render};

fn line(a: &App) -> String {
    a.line
        .as_ref()
        .map(|(_, i)| i.value().to_owned())
        .unwrap_or_default()
}

fn typed(a: &mut App, text: &str) {
    for c in text.chars() {
        let _ = a.update(Action::Edit(InputRequest::InsertChar(c)));
    }
}

#[test]
fn commands_and_actions_complete_by_name_and_run() {
    let mut a = app(12, (80, 24));
    let _ = a.update(Action::StartCommand);
    typed(&mut a, "rot");
    let found = a.palette_candidates(&line(&a));
    assert_eq!(found[0].text, "rotate", "{found:?}");
    let screen = render(&a, (80, 24));
    assert!(screen.contains("Tab completes"), "{screen}");
    assert!(screen.contains("<key id>"), "{screen}");
    insta::assert_snapshot!("palette_80x24", screen);

    // Tab: the command, then its argument from the loaded keys (by id or name).
    let _ = a.update(Action::NextField);
    assert_eq!(line(&a), "rotate ");
    typed(&mut a, "Service 007");
    let found = a.palette_candidates(&line(&a));
    assert_eq!(found[0].text, "rotate pk_live_000000000000000000000007");
    assert_eq!(found[0].hint, "Service 007");
    let _ = a.update(Action::NextField);
    assert_eq!(line(&a), "rotate pk_live_000000000000000000000007");
    let _ = a.update(Action::Enter);
    assert!(
        a.modals.iter().any(|m| matches!(m, Modal::Wizard(_))),
        "the rotation wizard opened"
    );
    let _ = a.update(Action::ForceQuit);
}

#[test]
fn any_action_of_the_screen_runs_by_its_name() {
    let mut a = app(12, (80, 24));
    let _ = a.update(Action::StartCommand);
    typed(&mut a, "srev");
    let found = a.palette_candidates(&line(&a));
    assert_eq!(found[0].text, "sort_reverse", "{found:?}");
    assert!(
        render(&a, (80, 24)).contains("(S)"),
        "the action's key is shown"
    );
    let _ = a.update(Action::NextField);
    let cmds = a.update(Action::Enter);
    match cmds.as_slice() {
        [Command::LoadKeys { query, .. }] => assert_eq!(query.sort.as_deref(), Some("created")),
        other => panic!("{other:?}"),
    }
    assert!(a.keys.reversed);
    // An action of another tab is not this screen's: unknown here, and said so.
    let _ = a.update(Action::StartCommand);
    typed(&mut a, "cycle_bucket");
    assert!(a.update(Action::Enter).is_empty());
    assert!(
        a.toast
            .as_ref()
            .is_some_and(|t| t.text.contains("Unknown command")),
        "{:?}",
        a.toast
    );
}

#[test]
fn up_and_down_recall_earlier_commands() {
    let mut a = app(3, (80, 24));
    for cmd in ["usage", "keys", "keys"] {
        let _ = a.update(Action::StartCommand);
        typed(&mut a, cmd);
        let _ = a.update(Action::Enter);
    }
    assert_eq!(a.palette.history, ["usage", "keys"], "no repeats in a row");
    let _ = a.update(Action::StartCommand);
    let _ = a.update(Action::Up);
    assert_eq!(line(&a), "keys");
    let _ = a.update(Action::Up);
    assert_eq!(line(&a), "usage");
    let _ = a.update(Action::Up);
    assert_eq!(line(&a), "usage", "the oldest stays");
    let _ = a.update(Action::Down);
    assert_eq!(line(&a), "keys");
    let _ = a.update(Action::Down);
    assert_eq!(line(&a), "");
}

/// `:profile` completes the configured profiles' names, `:scope` the catalog's scopes (and
/// runs as the Keys tab's `scope:` filter).
#[test]
fn profile_and_scope_arguments_complete() {
    let mut a = app(3, (80, 24));
    a.profiles = vec!["local".into(), "prod".into(), "staging".into()];
    let _ = a.update(Action::StartCommand);
    typed(&mut a, "prof");
    let _ = a.update(Action::NextField);
    assert_eq!(line(&a), "profile ");
    typed(&mut a, "stg");
    let found = a.palette_candidates(&line(&a));
    assert_eq!(found[0].text, "profile staging", "{found:?}");
    let _ = a.update(Action::NextField);
    assert_eq!(line(&a), "profile staging");
    let screen = render(&a, (80, 24));
    assert!(screen.contains("switch to it"), "{screen}");
    assert_eq!(
        a.update(Action::Enter),
        vec![Command::SwitchProfile("staging".into())]
    );
    // The profile on screen says so.
    let _ = a.update(Action::StartCommand);
    typed(&mut a, "profile lo");
    let found = a.palette_candidates(&line(&a));
    assert_eq!(
        (found[0].text.as_str(), found[0].hint.as_str()),
        ("profile local", "this profile")
    );
    let _ = a.update(Action::Back);

    let _ = a.update(Action::StartCommand);
    typed(&mut a, "scope webw");
    let found = a.palette_candidates(&line(&a));
    assert_eq!(found[0].text, "scope webhooks:write", "{found:?}");
    let _ = a.update(Action::NextField);
    let cmds = a.update(Action::Enter);
    assert_eq!(a.keys.filter, "scope:webhooks:write");
    let [Command::LoadKeys { query, .. }] = cmds.as_slice() else {
        panic!("{cmds:?}");
    };
    assert_eq!(query.scope.as_deref(), Some("webhooks:write"));
}

/// The matches are worked out when the line (or what it completes from) changes, in
/// `update`, and the frame draws them: drawing, or a clock tick, does not redo them.
#[test]
fn matches_are_worked_out_in_update_not_every_frame() {
    let mut a = app(3, (80, 24));
    let _ = a.update(Action::StartCommand);
    typed(&mut a, "rot");
    assert_eq!(a.palette.found, a.palette_candidates("rot"));
    a.palette.found[0].hint = "planted by the test".into();
    let _ = a.update(Action::Tick(
        crate::fixtures::now(),
        tokio::time::Instant::now(),
    ));
    let screen = render(&a, (80, 24));
    assert!(screen.contains("planted by the test"), "{screen}");
    // Keys that arrive while typing are offered at once.
    typed(&mut a, "ate Later");
    assert!(a.palette.found.is_empty(), "{:?}", a.palette.found);
    let mut rows = crate::fixtures::keys(3);
    rows.push(crate::fixtures::key(
        9,
        "Later arrival",
        keyconsole::domain::record::KeyStatus::Active,
    ));
    let _ = crate::fixtures::load_rows(&mut a, rows);
    assert_eq!(
        a.palette.found.first().map(|c| c.hint.as_str()),
        Some("Later arrival")
    );
    let _ = a.update(Action::Back);
    assert!(a.palette.found.is_empty(), "closed: nothing kept");
}
