//! The console against a real server, for the test targets that drive it: the embedded
//! service on a real port, the console's `App` driven by keystroke actions and its real
//! `Executor` making the HTTP calls, with the answers fed back until a condition holds.

use std::time::Duration;

use keyconsole::client::Client;
use keyconsole::console::start_embedded;
use keyconsole::tui::app::{Action, App, Command, Session, Settings};
use keyconsole::tui::clipboard::{Clipboard, ClipboardMode, Environment};
use keyconsole::tui::keymap::Keymap;
use keyconsole::tui::tasks::Executor;
use keyconsole::tui::theme::Theme;
use ratatui::Terminal;
use ratatui::backend::TestBackend;
use tokio::sync::mpsc::UnboundedReceiver;

pub struct Console {
    pub app: App,
    exec: Executor,
    rx: UnboundedReceiver<Action>,
}

impl Console {
    /// A console on a fresh embedded service with demo data, its first page of keys loaded.
    pub async fn start(dir: &std::path::Path) -> (Console, keyconsole::console::Embedded) {
        let e = start_embedded(dir, false).await.expect("embedded");
        let (c, _) = Console::on(&e).await;
        (c, e)
    }

    /// A console on a running embedded service, and a client with the console's token.
    pub async fn on(e: &keyconsole::console::Embedded) -> (Console, Client) {
        let client = Client::new(&e.url, Some(e.token.clone())).expect("client");
        let (tx, rx) = tokio::sync::mpsc::unbounded_channel();
        let clip = Clipboard::new(
            ClipboardMode::Osc52,
            Environment::from_vars(|_| None, false),
            Box::new(std::io::sink()),
        );
        let session = Session {
            profile: "local".into(),
            url: e.url.clone(),
            danger: false,
            demo: true,
        };
        let mut c = Console {
            app: App::new(
                session,
                Settings::default(),
                chrono::Utc::now(),
                tokio::time::Instant::now(),
            ),
            exec: Executor::new(client.clone(), tx, clip),
            rx,
        };
        c.press(Action::Resize(120, 40));
        let start = c.app.start();
        c.run(start);
        c.until("the first page of keys", |a| {
            !a.keys.rows.is_empty() && !a.keys.loading
        })
        .await;
        (c, client)
    }

    pub fn run(&mut self, cmds: Vec<Command>) {
        for c in cmds {
            let _ = self.exec.run(c);
        }
    }

    /// Apply a user action and run what it asks for.
    pub fn press(&mut self, a: Action) {
        let cmds = self.app.update(a);
        self.run(cmds);
    }

    /// Feed results back until `done` holds (at most 20 s).
    pub async fn until(&mut self, what: &str, done: impl Fn(&App) -> bool) {
        let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
        while !done(&self.app) {
            let left = deadline.saturating_duration_since(tokio::time::Instant::now());
            let Ok(Some(a)) = tokio::time::timeout(left, self.rx.recv()).await else {
                panic!("timed out waiting for {what}; toast: {:?}", self.app.toast);
            };
            let cmds = self.app.update(a);
            self.run(cmds);
        }
    }

    pub fn screen(&self) -> String {
        let (w, h) = self.app.size;
        let mut term = Terminal::new(TestBackend::new(w, h)).expect("terminal");
        term.draw(|f| {
            keyconsole::tui::views::render(&self.app, &Keymap::default(), &Theme::mono(), f)
        })
        .expect("draw");
        let buf = term.backend().buffer().clone();
        let mut out = String::new();
        for y in 0..h {
            for x in 0..w {
                out.push_str(buf[(x, y)].symbol());
            }
            out.push('\n');
        }
        out
    }
}
