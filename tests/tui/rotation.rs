//! The rotation wizard, bulk rotation and support lookups: update tests and snapshots of
//! every wizard step.

use chrono::Duration;
use keyconsole::api::{BucketSize, KeyObject, KeyUsage, RotateResponse, UsageBucket};
use keyconsole::domain::key::Secret;
use keyconsole::domain::record::KeyStatus;
use keyconsole::tui::app::bulk::BulkStep;
use keyconsole::tui::app::modal::{Modal, Pending};
use keyconsole::tui::app::support::Lookup;
use keyconsole::tui::app::wizard::{GraceChoice, Step};
use keyconsole::tui::app::{Action, App, Command, EditOrigin, TimerKind};

use crate::fixtures::{SECRET, app, app_with, key, now, render};

pub(crate) fn usage(id: &str, per_minute: &[u64]) -> KeyUsage {
    let n = per_minute.len();
    KeyUsage {
        key_id: id.into(),
        bucket: BucketSize::Minute,
        buckets: per_minute
            .iter()
            .enumerate()
            .map(|(i, &ok)| UsageBucket {
                start: BucketSize::Minute.floor(now()) - Duration::minutes((n - 1 - i) as i64),
                ok,
                ..UsageBucket::default()
            })
            .collect(),
    }
}

fn wizard(a: &App) -> &keyconsole::tui::app::wizard::Wizard {
    a.modals
        .iter()
        .rev()
        .find_map(|m| match m {
            Modal::Wizard(w) => Some(w.as_ref()),
            _ => None,
        })
        .expect("wizard open")
}

fn rotated(old: &KeyObject, grace: i64) -> RotateResponse {
    let mut new = old.clone();
    new.id = "pk_live_000000000000000000000new".into();
    new.rotated_from = Some(old.id.clone());
    let mut previous = old.clone();
    previous.rotated_to = Some(new.id.clone());
    previous.expires_at = Some(now() + Duration::seconds(grace));
    previous.status = KeyStatus::Expiring;
    previous.version += 1;
    RotateResponse {
        key: new,
        secret: Secret::new(SECRET.into()),
        credential: Secret::new(SECRET.into()),
        previous,
    }
}

/// Open the wizard on the first key (used 13 minutes ago… key 0 is used "now").
pub(crate) fn open(size: (u16, u16)) -> (App, KeyObject) {
    let mut a = app(5, size);
    let k = a.keys.selected_key().cloned().expect("key");
    let cmds = a.update(Action::RotateKey);
    assert_eq!(cmds, vec![Command::LoadRotationUsage(k.id.clone())]);
    let _ = a.update(Action::RotationUsage {
        key_id: k.id.clone(),
        result: Ok(usage(&k.id, &[4, 5, 6, 5, 4, 3, 5, 6, 7, 5])),
    });
    (a, k)
}

/// Review → grace (1 day) → rotated → reveal closed: the monitor.
pub(crate) fn to_cutover(a: &mut App, k: &KeyObject) {
    let _ = a.update(Action::Enter);
    let _ = a.update(Action::Enter);
    let _ = a.update(Action::KeyRotated {
        id: k.id.clone(),
        bulk: false,
        result: Ok(Box::new(rotated(k, 86_400))),
    });
    let _ = a.update(Action::Enter);
}

#[test]
fn the_wizard_walks_five_steps() {
    let (mut a, k) = open((120, 40));
    assert_eq!(wizard(&a).step, Step::Review);
    let _ = a.update(Action::Enter);
    assert_eq!(wizard(&a).step, Step::Grace);
    // Esc goes back one step.
    let _ = a.update(Action::Back);
    assert_eq!(wizard(&a).step, Step::Review);
    let _ = a.update(Action::Enter);
    // 24 h is the default; choose 1 h.
    let _ = a.update(Action::Up);
    assert_eq!(wizard(&a).grace, GraceChoice::Hour);
    let cmds = a.update(Action::Enter);
    assert_eq!(
        cmds,
        vec![Command::RotateKey {
            id: k.id.clone(),
            grace: 3600,
            bulk: false
        }]
    );
    assert_eq!(wizard(&a).step, Step::Rotate);
    let _ = a.update(Action::KeyRotated {
        id: k.id.clone(),
        bulk: false,
        result: Ok(Box::new(rotated(&k, 3600))),
    });
    // The one-time reveal sits on top of the wizard.
    assert!(matches!(a.modals.last(), Some(Modal::Reveal(_))));
    let cmds = a.update(Action::Enter);
    assert_eq!(wizard(&a).step, Step::CutOver);
    assert!(
        cmds.iter()
            .any(|c| matches!(c, Command::Timer(TimerKind::Monitor(_), _)))
    );
    assert!(cmds.contains(&Command::LoadRotationUsage(
        "pk_live_000000000000000000000new".into()
    )));
    // The monitor marks the new key's first use.
    let _ = a.update(Action::RotationUsage {
        key_id: "pk_live_000000000000000000000new".into(),
        result: Ok(usage("new", &[0, 0, 0, 2, 9])),
    });
    assert!(wizard(&a).new_first_used.is_some());
    // Esc cannot undo a rotation.
    let _ = a.update(Action::Back);
    assert_eq!(wizard(&a).step, Step::CutOver);
    let _ = a.update(Action::Enter);
    assert_eq!(wizard(&a).step, Step::Finish);
    // Expire now while the old key still has traffic: the name must be typed.
    let _ = a.update(Action::Down);
    let _ = a.update(Action::Enter);
    let Some(Modal::Confirm(c)) = a.modals.last() else {
        panic!("typed confirmation")
    };
    assert_eq!(c.pending, Pending::ExpireOld);
    assert_eq!(c.type_to_confirm.as_deref(), Some(k.name.as_str()));
    for ch in k.name.chars() {
        let _ = a.update(Action::Edit(tui_input::InputRequest::InsertChar(ch)));
    }
    let cmds = a.update(Action::Enter);
    match cmds.as_slice() {
        [
            Command::UpdateKey {
                id,
                req,
                version,
                origin: EditOrigin::Wizard,
            },
        ] => {
            assert_eq!(id, &k.id);
            assert_eq!(*version, Some(k.version + 1));
            assert!(matches!(req.expires_at, Some(Some(_))));
        }
        other => panic!("{other:?}"),
    }
    let mut expired = rotated(&k, 0).previous;
    expired.status = KeyStatus::Expired;
    let _ = a.update(Action::KeyUpdated {
        origin: EditOrigin::Wizard,
        result: Ok(expired),
    });
    assert!(!a.modals.iter().any(|m| matches!(m, Modal::Wizard(_))));
}

#[test]
fn rotating_a_busy_key_with_no_grace_names_the_traffic() {
    let (mut a, k) = open((80, 24));
    let _ = a.update(Action::Enter);
    let _ = a.update(Action::Up);
    let _ = a.update(Action::Up);
    assert_eq!(wizard(&a).grace, GraceChoice::Now);
    assert!(a.update(Action::Enter).is_empty());
    let Some(Modal::Confirm(c)) = a.modals.last() else {
        panic!("confirmation")
    };
    assert_eq!(c.pending, Pending::RotateNow);
    let body = c.body.join(" ");
    assert!(
        body.contains("50 requests in the last hour") && body.contains(&k.id),
        "{body}"
    );
    let cmds = a.update(Action::Yes);
    assert_eq!(
        cmds,
        vec![Command::RotateKey {
            id: k.id,
            grace: 0,
            bulk: false
        }]
    );
}

#[test]
fn custom_grace_is_validated() {
    let (mut a, _) = open((80, 24));
    let _ = a.update(Action::Enter);
    for _ in 0..3 {
        let _ = a.update(Action::Down);
    }
    assert_eq!(wizard(&a).grace, GraceChoice::Custom);
    for ch in "45d".chars() {
        let _ = a.update(Action::Edit(tui_input::InputRequest::InsertChar(ch)));
    }
    assert!(a.update(Action::Enter).is_empty());
    assert!(
        wizard(&a)
            .grace_error
            .as_deref()
            .is_some_and(|e| e.contains("30 days"))
    );
}

#[test]
fn leaving_mid_way_warns_that_the_old_key_is_live_and_r_reopens_the_monitor() {
    let (mut a, k) = open((80, 24));
    to_cutover(&mut a, &k);
    let _ = a.update(Action::Quit);
    let Some(Modal::Confirm(c)) = a.modals.last() else {
        panic!("warning")
    };
    assert_eq!(c.pending, Pending::LeaveWizard);
    assert!(c.body.join(" ").contains("still live"));
    let _ = a.update(Action::Yes);
    assert!(a.modals.is_empty());
    // The old key shows the rotation in progress; r reopens the monitor.
    let old = a.keys.get(&k.id).cloned().expect("old key");
    assert_eq!(keyconsole::tui::views::status_label(&old), "rotating");
    let idx = a.keys.position_of(&k.id).expect("shown");
    a.keys.selected = idx;
    let cmds = a.update(Action::RotateKey);
    assert_eq!(wizard(&a).step, Step::CutOver);
    assert!(
        cmds.iter()
            .any(|c| matches!(c, Command::Timer(TimerKind::Monitor(_), _)))
    );
}

#[test]
fn bulk_rotation_summarises_then_reveals_every_secret() {
    let mut a = app_with(6, (120, 40), false);
    for _ in 0..3 {
        let _ = a.update(Action::Mark);
    }
    assert_eq!(a.keys.marked.len(), 3);
    let cmds = a.update(Action::BulkRotate);
    assert_eq!(
        cmds.len(),
        3,
        "usage of each marked key for the blast radius"
    );
    let ids: Vec<String> = a.keys.marked.iter().cloned().collect();
    for id in &ids {
        let _ = a.update(Action::RotationUsage {
            key_id: id.clone(),
            result: Ok(usage(id, &[10, 10])),
        });
    }
    let _ = a.update(Action::Enter);
    let Some(Modal::Confirm(c)) = a.modals.last() else {
        panic!("summary")
    };
    assert!(
        c.body[0].contains("3 keys") && c.body[0].contains("60 requests"),
        "{:?}",
        c.body
    );
    let cmds = a.update(Action::Yes);
    assert_eq!(cmds.len(), 3);
    assert!(cmds.iter().all(|c| matches!(
        c,
        Command::RotateKey {
            grace: 86_400,
            bulk: true,
            ..
        }
    )));
    for id in &ids {
        let old = a.keys.get(id).cloned().expect("key");
        let mut r = rotated(&old, 86_400);
        r.key.id = format!("{id}N");
        let _ = a.update(Action::KeyRotated {
            id: id.clone(),
            bulk: true,
            result: Ok(Box::new(r)),
        });
    }
    let Some(Modal::Bulk(b)) = a.modals.last() else {
        panic!("bulk")
    };
    assert_eq!(b.step, BulkStep::Done);
    assert!(a.keys.marked.is_empty());
    let text = render(&a, (120, 40));
    assert!(!text.contains(&SECRET[8..30]), "masked");
    let _ = a.update(Action::Reveal);
    assert!(
        render(&a, (120, 40)).contains(&SECRET[8..30]),
        "v shows the selected one"
    );
    let cmds = a.update(Action::CopySecret);
    assert!(matches!(cmds.as_slice(), [Command::Copy(_)]));
    let _ = a.update(Action::WriteFile);
    let cmds = a.update(Action::Enter);
    match cmds.as_slice() {
        [Command::WriteSecrets { path, entries }] => {
            assert!(path.starts_with("rotated-keys-") && path.ends_with(".env"));
            assert_eq!(entries.len(), 3);
        }
        other => panic!("{other:?}"),
    }
    insta::assert_snapshot!("bulk_done_120x40", render(&a, (120, 40)));
}

#[test]
fn bulk_plan_offers_only_what_it_can_do_and_names_a_custom_grace() {
    let mut a = app_with(6, (80, 24), true);
    for _ in 0..3 {
        let _ = a.update(Action::Mark);
    }
    let _ = a.update(Action::BulkRotate);
    // Nothing rotated yet: no show, copy or write file on offer.
    let hints = render(&a, (80, 24));
    let last = hints.lines().last().unwrap_or_default().to_owned();
    assert!(last.contains("rotate all"), "{last}");
    for not in ["show", "copy", "write file"] {
        assert!(
            !last.contains(not),
            "{not} offered before anything was rotated: {last}"
        );
    }
    // Custom, left empty: Enter stops at the plan and says why.
    for _ in 0..4 {
        let _ = a.update(Action::Down);
    }
    let bulk = |a: &App| match a.modals.last() {
        Some(Modal::Bulk(b)) => b.as_ref().clone(),
        other => panic!("bulk on top: {other:?}"),
    };
    assert_eq!(bulk(&a).grace, GraceChoice::Custom);
    assert!(a.update(Action::Enter).is_empty());
    assert!(
        bulk(&a)
            .error
            .as_deref()
            .is_some_and(|e| e.contains("type a grace period")),
        "{:?}",
        bulk(&a).error
    );
    assert!(render(&a, (80, 24)).contains("type a grace period"));
    // 2h, pasted: the confirmation names it and asks for the words it wants.
    let _ = a.update(Action::Paste("2h".into()));
    assert_eq!(bulk(&a).error, None);
    let _ = a.update(Action::Enter);
    let Some(Modal::Confirm(c)) = a.modals.last() else {
        panic!("confirmation")
    };
    assert!(
        c.body.iter().any(|l| l == "Grace period: 2h."),
        "{:?}",
        c.body
    );
    let screen = render(&a, (80, 24));
    assert!(
        screen.contains("Type the words to confirm: rotate 3 keys"),
        "{screen}"
    );
    assert!(!screen.contains("key name"), "{screen}");
    for ch in "Rotate 3 Keys".chars() {
        let _ = a.update(Action::Edit(tui_input::InputRequest::InsertChar(ch)));
    }
    let cmds = a.update(Action::Enter);
    assert_eq!(cmds.len(), 3);
    assert!(
        cmds.iter().all(|c| matches!(
            c,
            Command::RotateKey {
                grace: 7_200,
                bulk: true,
                ..
            }
        )),
        "{cmds:?}"
    );
}

#[test]
fn the_secrets_file_is_new_and_private() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("out.env");
    let p = path.to_string_lossy().to_string();
    let entries = vec![keyconsole::tui::app::bulk::SecretLine {
        comment: "Backend: new key pk_live_new, rotated from pk_live_old".to_owned(),
        name: "BACKEND_ab12CD".to_owned(),
        secret: Secret::new(SECRET.into()),
    }];
    keyconsole::tui::tasks::write_secrets(&p, &entries).expect("written");
    let text = std::fs::read_to_string(&path).expect("read");
    assert_eq!(
        text,
        format!(
            "# Backend: new key pk_live_new, rotated from pk_live_old\nBACKEND_ab12CD={SECRET}\n"
        )
    );
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&path).expect("meta").permissions().mode() & 0o777;
        assert_eq!(mode, 0o600);
    }
    let again = keyconsole::tui::tasks::write_secrets(&p, &entries).expect_err("never overwrites");
    assert!(!again.contains(SECRET));
}

#[test]
fn request_id_lookup_shows_the_event_the_key_and_the_fix() {
    let mut a = app(3, (120, 40));
    let _ = a.update(Action::StartCommand);
    for ch in "request req_00000000000000000003".chars() {
        let _ = a.update(Action::Edit(tui_input::InputRequest::InsertChar(ch)));
    }
    let cmds = a.update(Action::Enter);
    assert_eq!(
        cmds,
        vec![Command::LookupRequest("req_00000000000000000003".into())]
    );
    let mut k = key(3, "Checkout service", KeyStatus::Expired);
    k.rotated_to = Some("pk_live_000000000000000000000009".into());
    let ev = crate::fixtures::events().remove(3);
    let _ = a.update(Action::LookedUp(Box::new(Lookup::Request {
        request_id: "req_00000000000000000003".into(),
        event: Some(ev),
        key: Some(k),
    })));
    let text = render(&a, (120, 40));
    assert!(
        text.contains("key_expired") && text.contains("switch the client to"),
        "{text}"
    );
    insta::assert_snapshot!("lookup_request_120x40", text);
    // With `--mouse` the lookup's buttons act as their keys do.
    let button = |a: &App, label: &str| {
        let (x, y) = crate::fixtures::at(&render(a, (120, 40)), label);
        keyconsole::tui::views::click(a, (120, 40), x, y)
            .unwrap_or_else(|| panic!("{label} takes a click"))
    };
    // `c`: a reply for the customer in their terms, without a secret or console keys.
    assert_eq!(button(&a, "c copy a reply"), Action::CopyReply);
    match a.update(Action::CopyReply).as_slice() {
        [Command::Copy(keyconsole::tui::app::CopyWhat::Reply(r))] => {
            assert!(
                r.starts_with("About your request req_00000000000000000003"),
                "{r}"
            );
            assert!(r.contains("pk_live_000000000000000000000009"), "{r}");
            assert!(!r.contains(SECRET) && !r.contains("(e in Keys)"), "{r}");
        }
        other => panic!("{other:?}"),
    }
    assert!(
        matches!(a.modals.last(), Some(Modal::Lookup(_))),
        "the lookup stays"
    );
    // Issue 12, defect 5: Enter opens the key rather than only closing the popup.
    let cmds = a.update(button(&a, "Enter open key"));
    assert!(
        matches!(cmds.as_slice(), [Command::LoadKeys { query, .. }] if query.q.as_deref() == Some("pk_live_000000000000000000000003")),
        "{cmds:?}"
    );
    assert_eq!(a.tab, keyconsole::tui::app::Tab::Keys);
    assert_eq!(a.keys.filter, "pk_live_000000000000000000000003");
}

#[test]
fn hint_lookup_lists_keys() {
    let mut a = app(3, (80, 24));
    let _ = a.update(Action::StartCommand);
    for ch in "hint ab12 pk_live_0".chars() {
        let _ = a.update(Action::Edit(tui_input::InputRequest::InsertChar(ch)));
    }
    let cmds = a.update(Action::Enter);
    assert_eq!(
        cmds,
        vec![Command::LookupHint {
            hint: "ab12".into(),
            prefix: Some("pk_live_0".into())
        }]
    );
    let _ = a.update(Action::LookedUp(Box::new(Lookup::Hint {
        query: "…ab12".into(),
        keys: crate::fixtures::keys(2),
        cursor: 0,
    })));
    let cmds = a.update(Action::Enter);
    assert!(matches!(cmds.as_slice(), [Command::LoadKeys { query, .. }] if query.q.is_some()));
}

#[test]
fn wizard_step_snapshots() {
    for size in [(80, 24), (120, 40)] {
        let (mut a, k) = open(size);
        insta::assert_snapshot!(
            format!("wizard_1_review_{}x{}", size.0, size.1),
            render(&a, size)
        );
        let _ = a.update(Action::Enter);
        insta::assert_snapshot!(
            format!("wizard_2_grace_{}x{}", size.0, size.1),
            render(&a, size)
        );
        let _ = a.update(Action::Enter);
        insta::assert_snapshot!(
            format!("wizard_3_rotating_{}x{}", size.0, size.1),
            render(&a, size)
        );
        let _ = a.update(Action::KeyRotated {
            id: k.id.clone(),
            bulk: false,
            result: Ok(Box::new(rotated(&k, 86_400))),
        });
        insta::assert_snapshot!(
            format!("wizard_3_reveal_{}x{}", size.0, size.1),
            render(&a, size)
        );
        let _ = a.update(Action::Enter);
        let _ = a.update(Action::RotationUsage {
            key_id: "pk_live_000000000000000000000new".into(),
            result: Ok(usage("n", &[0, 1, 3, 8, 9])),
        });
        let _ = a.update(Action::RotationUsage {
            key_id: k.id.clone(),
            result: Ok(usage(&k.id, &[9, 8, 3, 0, 0, 0, 0, 0, 0])),
        });
        insta::assert_snapshot!(
            format!("wizard_4_cutover_{}x{}", size.0, size.1),
            render(&a, size)
        );
        let _ = a.update(Action::Enter);
        let _ = a.update(Action::Down);
        insta::assert_snapshot!(
            format!("wizard_5_finish_{}x{}", size.0, size.1),
            render(&a, size)
        );
    }
}

/// Issue 12, defect 1: the monitor's charts end at "now" on the right edge at every width:
/// the new key's last three busy minutes show, and the old key's busy minutes of an hour ago
/// scroll off the left, not the right.
#[test]
fn monitor_charts_end_at_now_at_every_width() {
    for size in [(80, 24), (120, 36), (200, 50)] {
        let (mut a, k) = open(size);
        to_cutover(&mut a, &k);
        let mut new = vec![0; 57];
        new.extend([115, 115, 115]);
        let mut old = vec![50; 10];
        old.extend(vec![0; 50]);
        let _ = a.update(Action::RotationUsage {
            key_id: "pk_live_000000000000000000000new".into(),
            result: Ok(usage("n", &new)),
        });
        let _ = a.update(Action::RotationUsage {
            key_id: k.id.clone(),
            result: Ok(usage(&k.id, &old)),
        });
        let screen = render(&a, size);
        insta::assert_snapshot!(format!("monitor_ends_at_now_{}x{}", size.0, size.1), screen);
        // The last column inside the new key's chart holds a bar; the old key's does not.
        let bars: Vec<&str> = screen
            .lines()
            .filter(|l| l.matches('│').count() >= 4 && l.contains('█'))
            .collect();
        assert!(!bars.is_empty(), "{screen}");
        for line in &bars {
            let cells: Vec<&str> = line.split('│').collect();
            // │ │old chart│ │new chart│ │ → the new chart's cell is the fourth piece.
            let new_cell = cells.get(4).copied().unwrap_or_default();
            let old_cell = cells.get(2).copied().unwrap_or_default();
            assert!(new_cell.ends_with('█'), "new chart must end at now: {line}");
            assert!(old_cell.ends_with(' '), "the old key is quiet now: {line}");
        }
    }
}
