//! A secret never shows unless revealed: not masked, not after focus loss or the reveal
//! timer, not in toasts, help, errors or `Debug` output.

use keyconsole::api::CreateKeyResponse;
use keyconsole::domain::key::Secret;
use keyconsole::tui::app::modal::Modal;
use keyconsole::tui::app::{Action, App, TimerKind};

use crate::fixtures::{self, SECRET, app, render};

const RANDOM: &str = "Kn2wPGeHIhYJuCm5HmDtruvAvr97JmBT";

fn created(a: &mut App) {
    let _ = a.update(Action::KeyCreated(Ok(CreateKeyResponse {
        key: fixtures::key(9, "Fresh", keyconsole::domain::record::KeyStatus::Active),
        secret: Secret::new(SECRET.into()),
        credential: Secret::new(format!("pk_live_000000000000000000000009:{SECRET}")),
    })));
}

fn shows_secret(text: &str) -> bool {
    text.contains(RANDOM) || text.contains(&RANDOM[..12]) || text.contains(&RANDOM[20..])
}

#[test]
fn masked_until_revealed_and_masked_again_after() {
    for size in [(80, 24), (120, 40)] {
        let mut a = app(3, size);
        created(&mut a);
        assert!(!shows_secret(&render(&a, size)), "masked by default");
        let cmds = a.update(Action::Reveal);
        assert!(
            shows_secret(&render(&a, size)),
            "v reveals (the test can see a leak)"
        );
        // Focus lost: masked.
        let _ = a.update(Action::FocusLost);
        assert!(!shows_secret(&render(&a, size)));
        // Revealed again, then the timer fires: masked.
        let _ = a.update(Action::Reveal);
        let id = match cmds.first() {
            Some(keyconsole::tui::app::Command::Timer(TimerKind::RevealHide(_), _)) => a.seq,
            other => panic!("{other:?}"),
        };
        let _ = a.update(Action::TimerFired(TimerKind::RevealHide(id)));
        assert!(!shows_secret(&render(&a, size)));
        // Anything opened over a revealed secret masks it.
        let _ = a.update(Action::Reveal);
        assert!(shows_secret(&render(&a, size)));
        let _ = a.update(Action::Help);
        let text = render(&a, size);
        assert!(text.contains("Help") && !shows_secret(&text), "{text}");
    }
}

#[test]
fn toasts_help_and_debug_never_hold_the_secret() {
    let mut a = app(3, (120, 40));
    created(&mut a);
    let _ = a.update(Action::Reveal);
    let _ = a.update(Action::CopySecret);
    let _ = a.update(Action::Copied {
        secret: true,
        result: Ok(crate::fixtures::osc52_done("Secret")),
    });
    let toast = a.toast.as_ref().map(|t| t.text.clone()).unwrap_or_default();
    assert!(toast.contains("OSC 52") && !shows_secret(&toast), "{toast}");
    let dbg = format!("{a:?}");
    assert!(
        !shows_secret(&dbg),
        "Debug of the whole app leaks the secret"
    );
    let _ = a.update(Action::Enter);
    assert!(a.modals.is_empty());
    let after = render(&a, (120, 40));
    assert!(!shows_secret(&after));
    assert!(!a.modals.iter().any(|m| matches!(m, Modal::Reveal(_))));
}

#[test]
fn a_failed_copy_says_why_without_the_secret() {
    let mut a = app(3, (80, 24));
    created(&mut a);
    let _ = a.update(Action::Copied {
        secret: true,
        result: Err("clipboard is off".into()),
    });
    let t = a.toast.as_ref().expect("toast");
    assert!(t.error && t.text.contains("clipboard is off") && !shows_secret(&t.text));
}

/// The message log keeps every toast: a create, reveal, copy, clear and close, a copied
/// id, a failed copy and a rotation's reveal and copy leave no secret in it, nor on its
/// screen.
#[test]
fn the_message_log_never_holds_a_secret() {
    let size = (80, 24);
    let mut a = app(3, size);
    created(&mut a);
    let _ = a.update(Action::Reveal);
    let _ = a.update(Action::CopySecret);
    let _ = a.update(Action::Copied {
        secret: true,
        result: Ok(crate::fixtures::osc52_done("Secret")),
    });
    let _ = a.update(Action::ClipboardCleared(Ok(
        "Clipboard cleared (cannot be confirmed)".into(),
    )));
    let _ = a.update(Action::Copied {
        secret: true,
        result: Err("clipboard is off".into()),
    });
    let _ = a.update(Action::Enter);
    let _ = a.update(Action::CopyId);
    let _ = a.update(Action::Copied {
        secret: false,
        result: Ok(crate::fixtures::osc52_done(
            "Key id pk_live_000000000000000000000009",
        )),
    });
    // A rotation answered after its wizard closed: the secret is shown once, copied.
    let old = a.selected_key().cloned().expect("a key");
    let mut new = old.clone();
    new.id = "pk_live_0000000000000000000N1a2b".into();
    let _ = a.update(Action::KeyRotated {
        id: old.id.clone(),
        bulk: false,
        result: Ok(Box::new(keyconsole::api::RotateResponse {
            key: new,
            secret: Secret::new(SECRET.into()),
            credential: Secret::new(SECRET.into()),
            previous: old,
        })),
    });
    let _ = a.update(Action::Reveal);
    let _ = a.update(Action::CopySecret);
    let _ = a.update(Action::Copied {
        secret: true,
        result: Ok(crate::fixtures::osc52_done("Secret")),
    });
    let _ = a.update(Action::Enter);
    let texts: Vec<&str> = a.messages.iter().map(|m| m.text.as_str()).collect();
    assert!(texts.len() >= 6, "every toast is kept: {texts:?}");
    assert!(texts.iter().any(|t| t.contains("OSC 52")), "{texts:?}");
    assert!(
        texts.iter().any(|t| t.contains("clipboard is off")),
        "{texts:?}"
    );
    for t in &texts {
        assert!(!shows_secret(t), "a secret in the log: {t}");
    }
    assert!(!shows_secret(&format!("{:?}", a.messages)));
    let _ = a.run_command("messages");
    let screen = render(&a, size);
    assert!(screen.contains("Messages, newest first"), "{screen}");
    assert!(!shows_secret(&screen), "{screen}");
}
