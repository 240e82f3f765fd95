//! The terminal session and the one loop: terminal events, task results and a once-a-second
//! tick meet in a single `tokio::select!`; each becomes an [`Action`], `App::update` returns
//! commands, the [`Executor`] runs them, and the frame is redrawn.
//!
//! The terminal is restored on every exit path: normal quit, errors, and panics (ratatui's
//! hook restores, then the previously installed color-eyre hook reports). Before leaving the
//! alternate screen the screen is cleared and a copied secret is cleared from the clipboard.

use std::io::Write;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use chrono::Utc;
use crossterm::event::{
    self, DisableBracketedPaste, DisableFocusChange, DisableMouseCapture, EnableBracketedPaste,
    EnableFocusChange, EnableMouseCapture, Event, MouseEventKind,
};
use crossterm::execute;
use ratatui::DefaultTerminal;
use tokio::sync::mpsc;
use tokio::time::Instant;

use super::app::{Action, App, Command, Session, Settings};
use super::clipboard::{Clipboard, ClipboardMode, Environment};
use super::keymap::Keymap;
use super::tasks::Executor;
use super::theme::Theme;
use super::views;
use crate::client::Client;

/// A connection to open the console on.
pub struct Target {
    /// Client with its token.
    pub client: Client,
    /// What the header shows.
    pub session: Session,
}

/// Resolves `:profile NAME` to a new target.
pub type Resolver = Box<dyn FnMut(&str) -> Result<Target, String> + Send>;

/// Console options.
pub struct Options {
    /// Timers.
    pub settings: Settings,
    /// Bindings.
    pub keymap: Keymap,
    /// Mouse capture (off by default).
    pub mouse: bool,
    /// Clipboard mode.
    pub clipboard: ClipboardMode,
    /// Styles.
    pub theme: Theme,
    /// The profiles `:profile` completes.
    pub profiles: Vec<String>,
}

fn input_thread(tx: mpsc::UnboundedSender<Event>, stop: Arc<AtomicBool>) {
    std::thread::spawn(move || {
        while !stop.load(Ordering::Relaxed) {
            match event::poll(Duration::from_millis(100)) {
                Ok(true) => match event::read() {
                    Ok(ev) => {
                        if tx.send(ev).is_err() {
                            break;
                        }
                    }
                    Err(_) => break,
                },
                Ok(false) => {}
                Err(_) => break,
            }
        }
    });
}

fn to_action(app: &App, keymap: &Keymap, mouse: bool, ev: Event) -> Option<Action> {
    match ev {
        Event::Key(k) => keymap.action(&app.contexts(), &k),
        Event::Paste(s) => Some(Action::Paste(s)),
        Event::Resize(w, h) => Some(Action::Resize(w, h)),
        Event::FocusLost => Some(Action::FocusLost),
        Event::Mouse(m) if mouse => match m.kind {
            MouseEventKind::ScrollDown => Some(Action::Down),
            MouseEventKind::ScrollUp => Some(Action::Up),
            MouseEventKind::Down(crossterm::event::MouseButton::Left) => {
                crate::tui::views::click(app, app.size, m.column, m.row)
            }
            _ => None,
        },
        _ => None,
    }
}

/// Run the console until the user quits.
pub async fn run(target: Target, opts: Options, mut resolver: Resolver) -> std::io::Result<()> {
    let mut terminal = ratatui::try_init()?;
    let mut out = std::io::stdout();
    execute!(out, EnableBracketedPaste, EnableFocusChange)?;
    if opts.mouse {
        execute!(out, EnableMouseCapture)?;
    }
    let clipboard = Clipboard::new(
        opts.clipboard,
        Environment::detect(),
        Box::new(std::io::stdout()),
    );
    let (act_tx, mut act_rx) = mpsc::unbounded_channel::<Action>();
    let mut exec = Executor::new(target.client, act_tx, clipboard);
    let result = event_loop(
        &mut terminal,
        &mut exec,
        target.session,
        &opts,
        &mut resolver,
        &mut act_rx,
    )
    .await;

    // Leave nothing behind: the clipboard, the alternate screen's content, the modes.
    if exec.clipboard.has_pending() {
        let _ = exec.clear_clipboard();
    }
    let _ = terminal.clear();
    let mut out = std::io::stdout();
    if opts.mouse {
        let _ = execute!(out, DisableMouseCapture);
    }
    let _ = execute!(out, DisableBracketedPaste, DisableFocusChange);
    let _ = out.flush();
    ratatui::restore();
    result
}

async fn event_loop(
    terminal: &mut DefaultTerminal,
    exec: &mut Executor,
    session: Session,
    opts: &Options,
    resolver: &mut Resolver,
    act_rx: &mut mpsc::UnboundedReceiver<Action>,
) -> std::io::Result<()> {
    let (ev_tx, mut ev_rx) = mpsc::unbounded_channel::<Event>();
    let stop = Arc::new(AtomicBool::new(false));
    input_thread(ev_tx, Arc::clone(&stop));
    let mut app = App::new(session, opts.settings, Utc::now(), Instant::now());
    app.profiles.clone_from(&opts.profiles);
    let size = terminal.size()?;
    app.size = (size.width, size.height);
    let mut pending: Vec<Command> = app.start();
    let mut tick = tokio::time::interval(Duration::from_secs(1));
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let result = loop {
        while !pending.is_empty() {
            let batch: Vec<Command> = std::mem::take(&mut pending);
            for cmd in batch {
                if let Some(Command::SwitchProfile(name)) = exec.run(cmd) {
                    match resolver(&name) {
                        Ok(t) => {
                            exec.set_client(t.client);
                            let size = app.size;
                            app = App::new(t.session, opts.settings, Utc::now(), Instant::now());
                            app.size = size;
                            app.profiles.clone_from(&opts.profiles);
                            app.toast(format!("Switched to profile {name}"), false);
                            pending.extend(app.start());
                        }
                        Err(e) => app.toast(format!("Cannot switch to {name}: {e}"), true),
                    }
                }
            }
        }
        if app.quit {
            break Ok(());
        }
        if let Err(e) = terminal.draw(|f| views::render(&app, &opts.keymap, &opts.theme, f)) {
            break Err(e);
        }
        tokio::select! {
            ev = ev_rx.recv() => match ev {
                Some(ev) => {
                    if let Some(a) = to_action(&app, &opts.keymap, opts.mouse, ev) {
                        pending = app.update(a);
                    }
                    pending.extend(app.update(Action::Tick(Utc::now(), Instant::now())));
                }
                None => break Err(std::io::Error::other("the terminal input closed")),
            },
            Some(a) = act_rx.recv() => {
                pending = app.update(a);
            }
            _ = tick.tick() => {
                pending = app.update(Action::Tick(Utc::now(), Instant::now()));
            }
        }
    };
    stop.store(true, Ordering::Relaxed);
    result
}
