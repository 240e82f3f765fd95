//! Leaks and access review in the console: the Review tab's grouping and actions (with the
//! usual confirm rules), the leak response on a key, the LEAKED badge, sightings and scope
//! usage in the detail, and owner/description in the form. Pure `update` tests and
//! `TestBackend` snapshots.

use chrono::Duration;
use keyconsole::api::{
    Actor, ActorKind, KeyObject, LeakSighting, Review, ReviewFinding, ScopeUsage, ScopeUse,
};
use keyconsole::domain::record::KeyStatus;
use keyconsole::tui::app::form::Field;
use keyconsole::tui::app::modal::{Modal, Pending};
use keyconsole::tui::app::wizard::GraceChoice;
use keyconsole::tui::app::{Action, App, Command, EditOrigin, Tab};
use tui_input::InputRequest;

use crate::fixtures::{app_with, key, load_rows, now, render};

const SIZES: [(u16, u16); 2] = [(80, 24), (120, 40)];

fn typed(a: &mut App, text: &str) {
    for c in text.chars() {
        let _ = a.update(Action::Edit(InputRequest::InsertChar(c)));
    }
}

fn leaked_key() -> KeyObject {
    let mut k = key(0, "Mobile app (Android)", KeyStatus::Active);
    k.leaked_at = Some(now() - Duration::hours(5));
    k.owner = Some("mobile-team".into());
    k.description = Some("shipped in the Android app".into());
    k.scopes = vec!["runs:read".into(), "webhooks:write".into()];
    k
}

fn finding(kind: &str, k: KeyObject, detail: &str) -> ReviewFinding {
    ReviewFinding {
        kind: kind.into(),
        key: k,
        detail: detail.into(),
        unused: None,
        suggested: None,
    }
}

fn over_privileged() -> ReviewFinding {
    let mut k = key(6, "Partner: Globex", KeyStatus::Active);
    k.scopes = vec![
        "credits:read".into(),
        "runs:read".into(),
        "templates:read".into(),
        "work-orders:read".into(),
    ];
    k.version = 4;
    ReviewFinding {
        unused: Some(vec!["credits:read".into(), "templates:read".into()]),
        suggested: Some(vec!["runs:read".into(), "work-orders:read".into()]),
        ..finding(
            "over_privileged",
            k,
            "2 of 4 scopes unused in 30 days: credits:read templates:read",
        )
    }
}

fn review() -> Review {
    let mut stale = key(9, "Legacy cron", KeyStatus::Active);
    stale.last_used_at = Some(now() - Duration::days(260));
    let mut checkout = key(5, "Checkout service", KeyStatus::Active);
    checkout.scopes = vec!["runs:*".into(), "work-orders:*".into()];
    Review {
        stale_days: 30,
        rotation_days: 90,
        findings: vec![
            finding(
                "leaked",
                leaked_key(),
                "reported leaked 5h ago and still enabled",
            ),
            finding(
                "no_owner",
                key(2, "Load test", KeyStatus::Active),
                "no owner",
            ),
            finding("no_owner", stale.clone(), "no owner"),
            finding("stale", stale, "last used 260 days ago"),
            over_privileged(),
            finding("wildcard", checkout, "holds runs:* work-orders:*"),
        ],
        truncated: vec![],
    }
}

/// A console on the Review tab with `review()` loaded.
fn on_review(size: (u16, u16), danger: bool) -> App {
    let mut a = app_with(8, size, danger);
    let cmds = a.update(Action::GoTab(Tab::Review));
    assert!(cmds.contains(&Command::LoadReview), "{cmds:?}");
    let _ = a.update(Action::ReviewLoaded(Ok(review())));
    a
}

/// A console whose first key is leaked, with its detail's answers loaded.
fn with_leaked_key(size: (u16, u16)) -> App {
    let mut a = app_with(0, size, false);
    let mut rows = crate::fixtures::keys(6);
    rows[0] = leaked_key();
    let cmds = load_rows(&mut a, rows);
    let id = leaked_key().id;
    if a.wide() {
        assert!(
            cmds.contains(&Command::LoadScopeUsage(id.clone())),
            "{cmds:?}"
        );
        assert!(
            cmds.contains(&Command::LoadSightings(id.clone())),
            "{cmds:?}"
        );
    } else {
        assert!(cmds.is_empty(), "no detail shown, nothing loaded: {cmds:?}");
        let cmds = a.update(Action::Enter);
        assert!(
            cmds.contains(&Command::LoadSightings(id.clone())),
            "{cmds:?}"
        );
    }
    let _ = a.update(Action::ScopeUsageLoaded {
        key_id: id.clone(),
        result: Ok(ScopeUsage {
            days: 30,
            scopes: vec![
                ScopeUse {
                    scope: "runs:read".into(),
                    requests: 48_213,
                    last_used_at: Some(now() - Duration::minutes(3)),
                },
                ScopeUse {
                    scope: "webhooks:write".into(),
                    requests: 0,
                    last_used_at: None,
                },
            ],
            unused: vec!["webhooks:write".into()],
            suggested: vec!["runs:read".into()],
        }),
    });
    let _ = a.update(Action::SightingsLoaded {
        key_id: id,
        result: Ok(vec![
            LeakSighting {
                at: now() - Duration::hours(2),
                source: "https://github.com/acme/android/blob/main/keys.xml".into(),
                reported_by: Actor {
                    kind: ActorKind::System,
                    id: "github-secret-scanning".into(),
                    name: None,
                },
            },
            LeakSighting {
                at: now() - Duration::hours(5),
                source: "keyconsole scan: build/app-release.apk".into(),
                reported_by: Actor::key("pk_live_000000000000000000000001"),
            },
        ]),
    });
    a
}

#[test]
fn review_tab_snapshots() {
    for size in SIZES {
        let a = on_review(size, false);
        insta::assert_snapshot!(
            format!("review_tab_{}x{}", size.0, size.1),
            render(&a, size)
        );
    }
    // The selected over-privileged finding shows its scope diff in the panel.
    let size = (120, 40);
    let mut a = on_review(size, false);
    for _ in 0..4 {
        let _ = a.update(Action::Down);
    }
    let text = render(&a, size);
    assert!(text.contains("-credits:read"), "{text}");
    assert!(text.contains("=runs:read"), "{text}");
    insta::assert_snapshot!("review_over_privileged_120x40", text);
}

/// Defect 10: the crumb row at 80 columns lost its last count mid-word.
#[test]
fn the_crumb_fits_and_keeps_the_facts_that_matter() {
    let crumb = |a: &App, size: (u16, u16)| {
        render(a, size)
            .lines()
            .nth(1)
            .unwrap_or_default()
            .to_owned()
    };
    for size in [(80, 24), (200, 50)] {
        let a = on_review(size, false);
        let c = crumb(&a, size);
        assert!(c.contains("6 findings") && c.contains("leaked 1"), "{c}");
        // Whole counts only: a count is either there with its number or left out, and a
        // `…` says some were.
        assert!(
            c.ends_with(" 1") || c.ends_with(" 2") || c.ends_with('…'),
            "{c}"
        );
        if size.0 >= 200 {
            assert!(c.ends_with("wildcard 1"), "{c}");
        }
        // A cut-off list and keys changed since: those stay, the least important counts go.
        let mut r = review();
        r.truncated = vec!["stale".into()];
        let mut a = on_review(size, false);
        let _ = a.update(Action::ReviewLoaded(Ok(r)));
        a.review.stale = true;
        let c = crumb(&a, size);
        assert!(c.contains("6 findings") && c.contains("leaked 1"), "{c}");
        assert!(c.contains("(first 1,000 of stale)"), "{c}");
        assert!(c.contains("Ctrl-r"), "{c}");
        if size.0 == 80 {
            assert!(c.ends_with('…') && !c.contains("wildcard"), "{c}");
        }
        insta::assert_snapshot!(
            format!("review_crumb_{}x{}", size.0, size.1),
            render(&a, size)
        );
    }
}

#[test]
fn leaked_badge_sightings_and_scope_usage_snapshots() {
    for size in SIZES {
        let a = with_leaked_key(size);
        let text = render(&a, size);
        assert!(text.contains("LEAKED"), "{text}");
        assert!(text.contains("runs:read (48,213 req)"), "{text}");
        assert!(text.contains("webhooks:write (unused 30d)"), "{text}");
        assert!(text.contains("(by github-secret-scanning)"), "{text}");
        insta::assert_snapshot!(format!("keys_leaked_{}x{}", size.0, size.1), text);
    }
}

#[test]
fn findings_are_grouped_with_the_leaked_key_first_and_enter_opens_the_key() {
    let mut a = on_review((120, 40), false);
    assert_eq!(
        a.review.selected_finding().map(|f| f.kind.as_str()),
        Some("leaked")
    );
    let counts: Vec<(&str, usize)> = a
        .review
        .counts()
        .into_iter()
        .map(|(k, n)| (k.as_str(), n))
        .collect();
    assert_eq!(
        counts,
        vec![
            ("leaked", 1),
            ("no_owner", 2),
            ("stale", 1),
            ("over_privileged", 1),
            ("wildcard", 1)
        ]
    );
    // A loaded key is selected in the Keys tab.
    let _ = a.update(Action::Down);
    let cmds = a.update(Action::Enter);
    assert_eq!(a.tab, Tab::Keys);
    assert_eq!(
        a.selected_key().map(|k| k.name.as_str()),
        Some("Service 002")
    );
    assert!(!cmds.iter().any(|c| matches!(c, Command::LoadKeys { .. })));
    // A key that is not loaded is looked up by its id.
    let mut a = on_review((80, 24), false);
    for _ in 0..3 {
        let _ = a.update(Action::Down);
    }
    let cmds = a.update(Action::Enter);
    assert_eq!(a.keys.filter, "pk_live_000000000000000000000009");
    assert!(
        cmds.iter()
            .any(|c| matches!(c, Command::LoadKeys { query, .. } if query.q.as_deref() == Some("pk_live_000000000000000000000009")))
    );
    assert!(
        matches!(a.modals.last(), Some(Modal::Detail(_))),
        "narrow: details in a modal"
    );
}

#[test]
fn narrowing_shows_the_diff_and_a_danger_profile_types_the_name() {
    let mut a = on_review((120, 40), true);
    // Only an over-privileged finding can be narrowed.
    let _ = a.update(Action::NarrowScopes);
    assert!(a.modals.is_empty());
    assert!(a.toast.as_ref().is_some_and(|t| t.error));
    for _ in 0..4 {
        let _ = a.update(Action::Down);
    }
    let _ = a.update(Action::NarrowScopes);
    let Some(Modal::Confirm(c)) = a.modals.last() else {
        panic!("{:?}", a.modals);
    };
    assert_eq!(c.type_to_confirm.as_deref(), Some("Partner: Globex"));
    let body = c.body.join("\n");
    for line in [
        "Now:   credits:read runs:read templates:read work-orders:read",
        "After: runs:read work-orders:read",
        "- credits:read",
        "- templates:read",
        "= runs:read",
    ] {
        assert!(body.contains(line), "{line} in {body}");
    }
    // Yes does nothing until the name is typed.
    assert!(a.update(Action::Yes).is_empty());
    assert!(matches!(a.modals.last(), Some(Modal::Confirm(_))));
    typed(&mut a, "Partner: Globex");
    let cmds = a.update(Action::Enter);
    assert_eq!(
        cmds,
        vec![Command::UpdateKey {
            id: "pk_live_000000000000000000000006".into(),
            req: keyconsole::api::UpdateKeyRequest {
                scopes: Some(vec!["runs:read".into(), "work-orders:read".into()]),
                ..Default::default()
            },
            version: Some(4),
            origin: EditOrigin::Review,
        }]
    );
    // The answer: a toast, and the review reloads (the key changed).
    let mut narrowed = over_privileged().key;
    narrowed.scopes = vec!["runs:read".into(), "work-orders:read".into()];
    let cmds = a.update(Action::KeyUpdated {
        origin: EditOrigin::Review,
        result: Ok(narrowed),
    });
    assert!(cmds.contains(&Command::LoadReview), "{cmds:?}");
    assert!(
        a.toast
            .as_ref()
            .is_some_and(|t| !t.error && t.text.contains("narrowed"))
    );
    // A refusal is said in words and changes nothing.
    let _ = a.update(Action::KeyUpdated {
        origin: EditOrigin::Review,
        result: Err(keyconsole::tui::app::UiError {
            message: "changed".into(),
            code: Some("version_mismatch".into()),
            status: Some(412),
            request_id: None,
            unreachable: false,
        }),
    });
    assert!(
        a.toast
            .as_ref()
            .is_some_and(|t| t.error && t.text.contains("Ctrl-r"))
    );
}

#[test]
fn disable_a_stale_key_and_set_an_owner() {
    let mut a = on_review((120, 40), false);
    for _ in 0..3 {
        let _ = a.update(Action::Down);
    }
    assert_eq!(
        a.review.selected_finding().map(|f| f.kind.as_str()),
        Some("stale")
    );
    let _ = a.update(Action::ToggleEnabled);
    let Some(Modal::Confirm(c)) = a.modals.last() else {
        panic!("{:?}", a.modals);
    };
    assert!(c.type_to_confirm.is_none(), "not a danger profile");
    assert!(matches!(c.pending, Pending::Disable { .. }));
    let cmds = a.update(Action::Yes);
    assert!(matches!(
        cmds.as_slice(),
        [Command::UpdateKey { req, origin: EditOrigin::Toggle, .. }] if req.enabled == Some(false)
    ));
    // Set an owner: the edit form opens on the owner field; only the owner is sent.
    let _ = a.update(Action::Up);
    let _ = a.update(Action::SetOwner);
    assert!(matches!(a.modals.last(), Some(Modal::Form(f)) if f.focus == Field::Owner));
    typed(&mut a, "ops-team");
    let cmds = a.update(Action::Save);
    assert!(
        matches!(
            cmds.as_slice(),
            [Command::UpdateKey { id, req, .. }]
                if id == "pk_live_000000000000000000000009"
                && req.owner == Some(Some("ops-team".into()))
                && req.name.is_none() && req.scopes.is_none()
        ),
        "{cmds:?}"
    );
}

#[test]
fn a_leaked_key_rotates_with_no_grace_preselected_or_is_disabled() {
    // From the Review tab: r opens the wizard with "now" chosen.
    let mut a = on_review((120, 40), false);
    let cmds = a.update(Action::RotateKey);
    assert!(
        cmds.iter()
            .any(|c| matches!(c, Command::LoadRotationUsage(_)))
    );
    assert!(matches!(a.modals.last(), Some(Modal::Wizard(w)) if w.grace == GraceChoice::Now));
    // From the key: L offers rotate (the wizard) or disable.
    let mut a = with_leaked_key((120, 40));
    let _ = a.update(Action::RespondLeak);
    let text = render(&a, (120, 40));
    assert!(
        text.contains("Rotate") && text.contains("Disable"),
        "{text}"
    );
    insta::assert_snapshot!("leak_choice_120x40", text);
    let _ = a.update(Action::Enter);
    assert!(matches!(a.modals.last(), Some(Modal::Wizard(w)) if w.old.id == leaked_key().id));
    a.modals.clear();
    let _ = a.update(Action::RespondLeak);
    let _ = a.update(Action::Down);
    let _ = a.update(Action::Enter);
    assert!(matches!(
        a.modals.last(),
        Some(Modal::Confirm(c)) if matches!(&c.pending, Pending::Disable { id, .. } if *id == leaked_key().id)
    ));
    // Esc on the choice changes nothing.
    a.modals.clear();
    let _ = a.update(Action::RespondLeak);
    assert!(a.update(Action::Back).is_empty());
    assert!(a.modals.is_empty());
}

#[test]
fn detail_answers_for_another_key_are_dropped() {
    let mut a = with_leaked_key((120, 40));
    let _ = a.update(Action::ScopeUsageLoaded {
        key_id: "pk_live_other".into(),
        result: Ok(ScopeUsage {
            days: 30,
            scopes: vec![],
            unused: vec![],
            suggested: vec![],
        }),
    });
    assert!(
        a.review
            .insights
            .scope_usage
            .ready()
            .is_some_and(|u| !u.scopes.is_empty())
    );
    // Moving to another key asks for its scope usage (not sightings: it is not leaked).
    let cmds = a.update(Action::Down);
    assert_eq!(
        cmds,
        vec![Command::LoadScopeUsage(
            "pk_live_000000000000000000000001".into()
        )]
    );
}

#[test]
fn the_form_sets_and_clears_owner_and_description() {
    let mut a = app_with(3, (120, 40), false);
    let _ = a.update(Action::NewKey);
    typed(&mut a, "Billing");
    let _ = a.update(Action::NextField);
    typed(&mut a, "  payments@acme.example ");
    let _ = a.update(Action::NextField);
    typed(&mut a, "charges worker");
    let cmds = a.update(Action::Save);
    let [Command::CreateKey(req)] = cmds.as_slice() else {
        panic!("{cmds:?}");
    };
    assert_eq!(req.owner.as_deref(), Some("payments@acme.example"));
    assert_eq!(req.description.as_deref(), Some("charges worker"));
    // Editing: clearing the owner sends null; an unchanged description is not sent.
    let mut k = key(0, "Service 000", KeyStatus::Active);
    k.owner = Some("old-team".into());
    k.description = Some("kept".into());
    let mut a = app_with(0, (120, 40), false);
    let _ = load_rows(&mut a, vec![k]);
    let _ = a.update(Action::EditKey);
    let _ = a.update(Action::NextField);
    let _ = a.update(Action::Edit(InputRequest::DeleteLine));
    let cmds = a.update(Action::Save);
    let [Command::UpdateKey { req, .. }] = cmds.as_slice() else {
        panic!("{cmds:?}");
    };
    assert_eq!(req.owner, Some(None));
    assert_eq!(req.description, None);
    // Too long an owner is refused in the form.
    let _ = a.update(Action::KeyUpdated {
        origin: EditOrigin::Form,
        result: Err(keyconsole::tui::app::UiError::local("x")),
    });
    typed(&mut a, &"x".repeat(201));
    assert!(a.update(Action::Save).is_empty());
}

/// The list pages and scrolls by the rows the view draws, at every height (with and without
/// the finding's panel): the selected finding is always on screen.
#[test]
fn the_selected_finding_stays_on_screen_at_every_height() {
    for size in [(80, 24), (80, 19), (120, 40), (100, 12)] {
        let mut a = app_with(8, size, false);
        let _ = a.update(Action::GoTab(Tab::Review));
        let findings = (0..60)
            .map(|i| {
                finding(
                    "no_owner",
                    key(i, &format!("Finding key {i:02}"), KeyStatus::Active),
                    "no owner",
                )
            })
            .collect();
        let _ = a.update(Action::ReviewLoaded(Ok(Review {
            stale_days: 30,
            rotation_days: 90,
            findings,
            truncated: vec![],
        })));
        for step in 0..70 {
            let action = if step % 10 == 9 {
                Action::PageDown
            } else {
                Action::Down
            };
            let _ = a.update(action);
            let name = a
                .review
                .selected_finding()
                .map(|f| f.key.name.clone())
                .expect("a finding is selected");
            let screen = render(&a, size);
            assert!(
                screen.contains(&name),
                "{size:?} step {step}: {name} not drawn\n{screen}"
            );
        }
    }
}

/// With `--mouse`, the leak dialog's buttons act as their keys: `Enter go on`, `Esc cancel`.
#[test]
fn the_leak_dialogs_buttons_take_clicks() {
    use keyconsole::tui::views::click;
    // Sizes where the fixture leaves the Keys table itself focused (no detail modal on top).
    for size in [(120, 40), (200, 50)] {
        let mut a = with_leaked_key(size);
        let _ = a.update(Action::RespondLeak);
        assert!(matches!(a.modals.last(), Some(Modal::Leak(_))));
        let screen = render(&a, size);
        let (y, line) = screen
            .lines()
            .enumerate()
            .find(|(_, l)| l.contains("Enter go on"))
            .expect("the buttons are drawn");
        let x = line[..line.find("Esc cancel").expect("Esc")]
            .chars()
            .count();
        let (x, y) = (u16::try_from(x).expect("x"), u16::try_from(y).expect("y"));
        assert_eq!(click(&a, size, x, y), Some(Action::Back), "{screen}");
        assert_eq!(click(&a, size, x, y - 1), None, "above the buttons");
        let _ = a.update(click(&a, size, x, y).expect("Esc"));
        assert!(a.modals.is_empty(), "cancelled");
    }
}
