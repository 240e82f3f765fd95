//! The key list refreshes itself on a timer, in place, paused while the user works, and the
//! crumb row says how old the rows are (`app::refresh`).

use std::time::Duration;

use keyconsole::tui::app::{Action, App, Command, Settings, TimerKind, UiError};

use crate::fixtures::{self, keys, load_rows, now, render};

fn connected(settings: Settings) -> (App, Vec<Command>) {
    let mut a = App::new(
        fixtures::session(false),
        settings,
        now(),
        tokio::time::Instant::now(),
    );
    let _ = a.update(Action::Resize(80, 24));
    let cmds = a.update(Action::MeLoaded(Ok(fixtures::me())));
    (a, cmds)
}

fn timer(cmds: &[Command]) -> Option<(u64, Duration)> {
    cmds.iter().find_map(|c| match c {
        Command::Timer(TimerKind::AutoRefresh(id), after) => Some((*id, *after)),
        _ => None,
    })
}

fn reloads(cmds: &[Command]) -> bool {
    cmds.iter()
        .any(|c| matches!(c, Command::LoadKeys { append: false, .. }))
}

#[test]
fn the_key_list_reloads_in_place_on_its_timer_and_says_how_old_it_is() {
    let (mut a, cmds) = connected(Settings::default());
    let (id, after) = timer(&cmds).expect("the first round is scheduled at connect");
    assert_eq!(after, Duration::from_secs(30));
    let _ = load_rows(&mut a, keys(30));
    for _ in 0..25 {
        let _ = a.update(Action::Down);
    }
    let (selected, offset) = (a.keys.selected, a.keys.offset);
    assert!(offset > 0, "scrolled");
    let crumb = |a: &App| {
        render(a, (80, 24))
            .lines()
            .nth(1)
            .unwrap_or_default()
            .to_owned()
    };
    assert!(crumb(&a).contains("updated just now"), "{}", crumb(&a));

    // Two minutes on: the crumb says so; the timer reloads and schedules the next round.
    let later = now() + chrono::Duration::minutes(2);
    let _ = a.update(Action::Tick(later, tokio::time::Instant::now()));
    assert!(crumb(&a).contains("updated 2m ago"), "{}", crumb(&a));
    let cmds = a.update(Action::TimerFired(TimerKind::AutoRefresh(id)));
    assert!(reloads(&cmds), "{cmds:?}");
    let (next, _) = timer(&cmds).expect("next round");
    assert_ne!(next, id);
    // The answer: a key used meanwhile shows it; selection and scroll stay.
    let mut rows = keys(30);
    let used = rows[selected].id.clone();
    rows[selected].last_used_at = Some(later);
    let _ = load_rows(&mut a, rows);
    assert_eq!((a.keys.selected, a.keys.offset), (selected, offset));
    assert_eq!(
        a.selected_key().map(|k| (k.id.clone(), k.last_used_at)),
        Some((used, Some(later)))
    );
    assert!(crumb(&a).contains("updated just now"), "{}", crumb(&a));

    // An old timer does nothing.
    assert!(
        a.update(Action::TimerFired(TimerKind::AutoRefresh(id)))
            .is_empty()
    );

    // A form open: no reload, but the next round is scheduled; the form keeps its input.
    let _ = a.update(Action::NewKey);
    let _ = a.update(Action::Edit(tui_input::InputRequest::InsertChar('B')));
    let cmds = a.update(Action::TimerFired(TimerKind::AutoRefresh(next)));
    assert!(!reloads(&cmds), "paused while a form is open: {cmds:?}");
    let (third, _) = timer(&cmds).expect("next round");
    assert_eq!(a.refresh_paused(), Some("paused while you work"));
    let _ = a.update(Action::Back);
    let _ = a.update(Action::Yes);
    assert!(a.modals.is_empty(), "{:?}", a.modals.len());

    // A failed refresh keeps the rows and says so in the crumb, not in a toast.
    let cmds = a.update(Action::TimerFired(TimerKind::AutoRefresh(third)));
    assert!(reloads(&cmds));
    let generation = a.keys.generation;
    let _ = a.update(Action::KeysLoaded {
        generation,
        append: false,
        query: String::new(),
        result: Err(UiError::local("cannot reach http://127.0.0.1:7878")),
    });
    assert_eq!(a.keys.rows.len(), 30);
    assert!(
        a.toast.is_none(),
        "no toast every 30 s while the server is away"
    );
    assert!(crumb(&a).contains("refresh failed"), "{}", crumb(&a));
}

#[test]
fn no_timer_when_refresh_is_off() {
    let (_, cmds) = connected(Settings {
        refresh: Duration::ZERO,
        ..Settings::default()
    });
    assert_eq!(timer(&cmds), None);
}
