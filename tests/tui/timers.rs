//! Reveal and clipboard-clear timers, run through the real executor on tokio's paused clock.

use std::io::Write;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use keyconsole::client::Client;
use keyconsole::domain::key::Secret;
use keyconsole::tui::app::modal::Modal;
use keyconsole::tui::app::{Action, Command, CopyWhat, TimerKind};
use keyconsole::tui::clipboard::{Clipboard, ClipboardMode, Environment};
use keyconsole::tui::tasks::Executor;
use tokio::sync::mpsc;

use crate::fixtures::{SECRET, app};

#[derive(Clone, Default)]
struct Sink(Arc<Mutex<Vec<u8>>>);

impl Write for Sink {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().expect("lock").extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

fn executor(sink: &Sink) -> (Executor, mpsc::UnboundedReceiver<Action>) {
    let (tx, rx) = mpsc::unbounded_channel();
    let env = Environment::from_vars(|_| None, false);
    let clip = Clipboard::new(ClipboardMode::Osc52, env, Box::new(sink.clone()));
    let client = Client::new("http://127.0.0.1:9", None).expect("client");
    (Executor::new(client, tx, clip), rx)
}

/// Hand commands to the executor.
async fn drive(exec: &mut Executor, cmds: Vec<Command>) {
    for c in cmds {
        let _ = exec.run(c);
    }
}

#[tokio::test(start_paused = true)]
async fn reveal_hides_after_twenty_seconds() {
    let sink = Sink::default();
    let (mut exec, mut rx) = executor(&sink);
    let mut a = app(1, (80, 24));
    let _ = a.update(Action::KeyCreated(Ok(keyconsole::api::CreateKeyResponse {
        key: crate::fixtures::key(3, "k", keyconsole::domain::record::KeyStatus::Active),
        secret: Secret::new(SECRET.into()),
        credential: Secret::new(SECRET.into()),
    })));
    let cmds = a.update(Action::Reveal);
    drive(&mut exec, cmds).await;
    let shown = |a: &keyconsole::tui::app::App| matches!(a.modals.last(), Some(Modal::Reveal(r)) if r.shown_until.is_some());
    assert!(shown(&a));
    tokio::time::advance(Duration::from_secs(19)).await;
    assert!(rx.try_recv().is_err(), "not yet");
    tokio::time::advance(Duration::from_secs(2)).await;
    let fired = rx.recv().await.expect("timer fired");
    assert!(matches!(
        fired,
        Action::TimerFired(TimerKind::RevealHide(_))
    ));
    let _ = a.update(fired);
    assert!(!shown(&a));
}

#[tokio::test(start_paused = true)]
async fn a_copied_secret_is_cleared_after_thirty_seconds() {
    let sink = Sink::default();
    let (mut exec, mut rx) = executor(&sink);
    let mut a = app(1, (80, 24));
    // Copy through the executor: it writes the OSC 52 sequence and reports back.
    let _ = exec.run(Command::Copy(CopyWhat::Secret(Secret::new(SECRET.into()))));
    let copied = rx.recv().await.expect("copied");
    assert!(
        matches!(
            &copied,
            Action::Copied {
                secret: true,
                result: Ok(_)
            }
        ),
        "{copied:?}"
    );
    let written = String::from_utf8(sink.0.lock().expect("lock").clone()).expect("utf8");
    assert!(
        written.starts_with("\u{1b}]52;c;") && !written.contains(SECRET),
        "base64, not clear text"
    );
    let cmds = a.update(copied);
    drive(&mut exec, cmds).await;
    tokio::time::advance(Duration::from_secs(29)).await;
    assert!(rx.try_recv().is_err());
    tokio::time::advance(Duration::from_secs(2)).await;
    let fired = rx.recv().await.expect("clear timer");
    let cmds = a.update(fired);
    assert_eq!(cmds, vec![Command::ClearClipboard]);
    sink.0.lock().expect("lock").clear();
    drive(&mut exec, cmds).await;
    let cleared = rx.recv().await.expect("cleared");
    assert!(matches!(cleared, Action::ClipboardCleared(Ok(_))));
    let written = String::from_utf8(sink.0.lock().expect("lock").clone()).expect("utf8");
    assert_eq!(
        written, "\u{1b}]52;c;\u{7}",
        "OSC 52 with an empty payload overwrites the clipboard"
    );
    assert!(!exec.clipboard.has_pending());
}

#[tokio::test(start_paused = true)]
async fn filter_debounce_fires_once_typing_stops() {
    let sink = Sink::default();
    let (mut exec, mut rx) = executor(&sink);
    let mut a = app(10, (80, 24));
    let _ = a.update(Action::StartFilter);
    for c in "svc".chars() {
        let cmds = a.update(Action::Edit(tui_input::InputRequest::InsertChar(c)));
        drive(&mut exec, cmds).await;
        tokio::time::advance(Duration::from_millis(100)).await;
    }
    tokio::time::advance(Duration::from_millis(300)).await;
    let mut loads = 0;
    while let Ok(Some(act)) = tokio::time::timeout(Duration::from_millis(10), rx.recv()).await {
        let cmds = a.update(act);
        loads += cmds
            .iter()
            .filter(|c| matches!(c, Command::LoadKeys { .. }))
            .count();
    }
    assert_eq!(
        loads, 1,
        "only the last keystroke's debounce asks the server"
    );
}
