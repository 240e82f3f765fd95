//! Undo from the audit log: `u` on an entry reads the key as it is now, shows the diff that
//! undo would send and asks once (the name typed on a danger profile); yes sends the PATCH
//! with If-Match on the version read; a conflict is said plainly; what cannot be undone says
//! why and sends nothing.

use keyconsole::api::{KeyObject, UpdateKeyRequest};
use keyconsole::domain::record::KeyStatus;
use keyconsole::tui::app::modal::{Modal, Pending};
use keyconsole::tui::app::{Action, App, Command, EditOrigin, UiError};

use crate::fixtures::{self, app_with, render};

/// The Audit tab on the fixture log, entry `i` selected.
fn on_entry(danger: bool, i: usize) -> App {
    let mut a = app_with(3, (80, 24), danger);
    fixtures::on_audit(&mut a);
    for _ in 0..i {
        let _ = a.update(Action::Down);
    }
    a
}

/// Key 1 as the server has it now: renamed to "New" (entry 1's change), at version 7.
fn renamed() -> KeyObject {
    let mut k = fixtures::key(1, "New", KeyStatus::Active);
    k.version = 7;
    k
}

fn prepared(a: &mut App, key: KeyObject) {
    let cmds = a.update(Action::Undo);
    let [Command::PrepareUndo { key_id, entry }] = cmds.as_slice() else {
        panic!("u reads the key first: {cmds:?}");
    };
    assert_eq!(key_id, &key.id);
    let entry = entry.clone().map(|e| *e);
    assert_eq!(
        entry.as_ref().map(|e| e.action.as_str()),
        Some("key.updated")
    );
    assert!(
        a.update(Action::UndoReady(Box::new(Ok((entry, key)))))
            .is_empty()
    );
}

#[test]
fn u_shows_the_diff_and_yes_sends_it_with_if_match() {
    let mut a = on_entry(false, 1);
    prepared(&mut a, renamed());
    let Some(Modal::Confirm(c)) = a.modals.last() else {
        panic!("a confirmation: {:?}", a.modals);
    };
    assert!(c.type_to_confirm.is_none(), "one plain confirmation");
    let body = c.body.join("\n");
    assert!(body.contains("name: New → Old"), "{body}");
    assert!(body.contains("version 7"), "{body}");
    let screen = render(&a, (80, 24));
    assert!(screen.contains("Undo key.updated of New?"), "{screen}");
    let cmds = a.update(Action::Yes);
    assert_eq!(
        cmds,
        vec![Command::UpdateKey {
            id: renamed().id,
            req: UpdateKeyRequest {
                name: Some("Old".into()),
                ..UpdateKeyRequest::default()
            },
            version: Some(7),
            origin: EditOrigin::Undo,
        }]
    );
    // Done: the key is replaced, the log reloads (the undo is an entry of its own).
    let mut back = renamed();
    back.name = "Old".into();
    back.version = 8;
    let cmds = a.update(Action::KeyUpdated {
        origin: EditOrigin::Undo,
        result: Ok(back),
    });
    assert!(
        cmds.iter().any(|c| matches!(c, Command::LoadAudit { .. })),
        "{cmds:?}"
    );
    assert_eq!(
        a.keys.get(&renamed().id).map(|k| k.name.as_str()),
        Some("Old")
    );
    assert!(
        a.toast
            .as_ref()
            .is_some_and(|t| t.text.starts_with("Undone"))
    );
}

#[test]
fn a_conflict_is_said_and_nothing_is_overwritten() {
    let mut a = on_entry(false, 1);
    prepared(&mut a, renamed());
    let _ = a.update(Action::Yes);
    let cmds = a.update(Action::KeyUpdated {
        origin: EditOrigin::Undo,
        result: Err(UiError {
            message: "The key has changed: its version is 8, If-Match said 7.".into(),
            code: Some("version_mismatch".into()),
            status: Some(412),
            request_id: None,
            unreachable: false,
        }),
    });
    assert!(cmds.is_empty(), "no retry that could overwrite: {cmds:?}");
    let toast = a.toast.as_ref().map(|t| t.text.clone()).unwrap_or_default();
    assert!(
        toast.contains("Not undone") && toast.contains("nothing was overwritten"),
        "{toast}"
    );
    assert_eq!(
        a.keys.get(&renamed().id).map(|k| k.name.as_str()),
        Some("Service 001")
    );
}

#[test]
fn a_field_changed_since_is_left_alone_and_named() {
    let mut a = on_entry(false, 1);
    let mut k = renamed();
    k.name = "Renamed again".into();
    prepared(&mut a, k);
    assert!(a.modals.is_empty(), "nothing left to undo");
    let toast = a.toast.as_ref().map(|t| t.text.clone()).unwrap_or_default();
    assert!(
        toast.contains("name") && toast.contains("changed again"),
        "{toast}"
    );
}

#[test]
fn a_danger_profile_asks_for_the_name() {
    let mut a = on_entry(true, 1);
    prepared(&mut a, renamed());
    let Some(Modal::Confirm(c)) = a.modals.last() else {
        panic!("a confirmation");
    };
    assert_eq!(c.type_to_confirm.as_deref(), Some("New"));
    assert!(matches!(c.pending, Pending::Apply { .. }));
    assert!(a.update(Action::Enter).is_empty(), "not typed yet");
    let _ = a.update(Action::Paste("new".into()));
    assert!(matches!(
        a.update(Action::Enter).as_slice(),
        [Command::UpdateKey {
            version: Some(7),
            ..
        }]
    ));
}

#[test]
fn what_cannot_be_undone_says_why_and_sends_nothing() {
    // Fixture entries: 0 created, 2 disabled, 3 rotated, 4 deleted, 5 app.created.
    for (i, word) in [(0, "creation"), (3, "rotation"), (4, "deleted"), (5, "app")] {
        let mut a = on_entry(false, i);
        assert!(a.update(Action::Undo).is_empty(), "entry {i}");
        let toast = a.toast.as_ref().map(|t| t.text.clone()).unwrap_or_default();
        assert!(
            toast.starts_with("Cannot undo") && toast.contains(word),
            "{i}: {toast}"
        );
        // The open entry says it too, and offers u where it works.
        let _ = a.update(Action::Enter);
        let screen = render(&a, (80, 24));
        assert!(screen.contains("Cannot be undone"), "{i}\n{screen}");
    }
    let mut a = on_entry(false, 1);
    let _ = a.update(Action::Enter);
    assert!(render(&a, (80, 24)).contains("u undo: sets back"));
}

#[test]
fn u_on_a_key_undoes_its_latest_entry() {
    let mut a = app_with(3, (80, 24), false);
    let cmds = a.update(Action::Undo);
    let [
        Command::PrepareUndo {
            key_id,
            entry: None,
        },
    ] = cmds.as_slice()
    else {
        panic!("{cmds:?}");
    };
    assert_eq!(key_id, &a.keys.rows[0].id);
    // A key whose newest entry is its creation: nothing to undo, and why.
    let mut created = fixtures::audit()[0].clone();
    created.key_id = Some(a.keys.rows[0].id.clone());
    let key = a.keys.rows[0].clone();
    let _ = a.update(Action::UndoReady(Box::new(Ok((Some(created), key)))));
    assert!(a.modals.is_empty());
    let toast = a.toast.as_ref().map(|t| t.text.clone()).unwrap_or_default();
    assert!(toast.contains("delete the key"), "{toast}");
}

/// The key arrives after another dialog took the screen: nothing is asked over it, and the
/// status says the undo was not asked instead of still "reading…".
#[test]
fn an_answer_behind_another_dialog_says_it_asked_nothing() {
    let mut a = on_entry(false, 1);
    let cmds = a.update(Action::Undo);
    let [Command::PrepareUndo { entry, .. }] = cmds.as_slice() else {
        panic!("{cmds:?}");
    };
    let entry = entry.clone().map(|e| *e);
    let _ = a.update(Action::Help);
    let before = a.modals.len();
    let _ = a.update(Action::UndoReady(Box::new(Ok((entry, renamed())))));
    assert_eq!(a.modals.len(), before, "no question over the open dialog");
    let toast = a.toast.as_ref().map(|t| t.text.clone()).unwrap_or_default();
    assert!(toast.starts_with("Undo not asked"), "{toast}");
}
