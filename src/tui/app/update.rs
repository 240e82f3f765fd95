//! `App::update`, the dispatcher: one action in, new state and commands out. It holds no
//! feature's logic. Task results, clocks and sizes go to `results.rs` whatever has focus
//! (each tab's own results to its module); user input goes, in order, to the expired-session
//! screen (`session.rs`), the top modal (`modal.rs`), the crumb-row line (`palette.rs`), the
//! connection screen, the global keys, then the current tab's module (`keys.rs`,
//! `scopes.rs`, `domains.rs`, `usage.rs`, `audit.rs`, `review.rs`), each mirrored by a view
//! of the same name in `tui/views/`.

use super::modal::Modal;
use super::{Action, App, Command, Conn, LineKind, Tab};
use tui_input::Input;

impl App {
    /// Apply one action.
    pub fn update(&mut self, action: Action) -> Vec<Command> {
        let changed = super::review::changes_keys(&action);
        let sources = matches!(
            action,
            Action::KeysLoaded { .. } | Action::CatalogLoaded(_) | Action::FailuresLoaded(_)
        );
        let mut cmds = self.dispatch(action);
        cmds.extend(self.review_follow(changed));
        self.palette_follow(sources);
        cmds
    }

    fn dispatch(&mut self, action: Action) -> Vec<Command> {
        if action.is_user_input() {
            self.on_input(action)
        } else {
            self.on_result(action)
        }
    }

    /// A key, a click or a paste: to whatever has focus.
    fn on_input(&mut self, action: Action) -> Vec<Command> {
        if self.expired.is_some() {
            return self.update_expired(action);
        }
        if !self.modals.is_empty() {
            return self.update_modal(action);
        }
        if self.line.is_some() {
            return self.update_line(action);
        }
        if let Conn::Failed(_) | Conn::Connecting = self.conn {
            return match action {
                Action::Refresh => {
                    self.conn = Conn::Connecting;
                    vec![Command::LoadMe]
                }
                Action::Quit | Action::ForceQuit => {
                    self.quit = true;
                    Vec::new()
                }
                Action::StartCommand => {
                    self.line = Some((LineKind::Command, Input::default()));
                    Vec::new()
                }
                Action::Help => self.open_help(),
                Action::Messages => self.open_messages(),
                _ => Vec::new(),
            };
        }
        match action {
            Action::Quit | Action::ForceQuit => {
                self.quit = true;
                Vec::new()
            }
            Action::NextTab => self.go_tab(Tab::ALL[(self.tab.index() + 1) % Tab::ALL.len()]),
            Action::PrevTab => {
                self.go_tab(Tab::ALL[(self.tab.index() + Tab::ALL.len() - 1) % Tab::ALL.len()])
            }
            Action::GoTab(t) => self.go_tab(t),
            Action::Help => self.open_help(),
            Action::Messages => self.open_messages(),
            Action::StartCommand => {
                self.line = Some((LineKind::Command, Input::default()));
                Vec::new()
            }
            Action::Refresh => self.refresh(),
            other => match self.tab {
                Tab::Keys => self.update_keys(other),
                Tab::Scopes => self.update_scopes(other),
                Tab::Domains => self.update_domains(other),
                Tab::Usage => self.update_usage(other),
                Tab::Audit => self.update_audit(other),
                Tab::Review => self.update_review(other),
            },
        }
    }

    pub(super) fn open_help(&mut self) -> Vec<Command> {
        self.modals.push(Modal::Help {
            filter: Input::default(),
            scroll: 0,
        });
        Vec::new()
    }

    pub(super) fn go_tab(&mut self, tab: Tab) -> Vec<Command> {
        self.tab = tab;
        match tab {
            Tab::Usage => self.load_usage(false),
            Tab::Audit if !self.audit.loaded && !self.audit.loading => self.load_audit(false),
            Tab::Review => self.enter_review(),
            Tab::Domains => {
                self.domains.cursor = 0;
                self.domains.refused = None;
                Vec::new()
            }
            _ => Vec::new(),
        }
    }

    pub(super) fn refresh(&mut self) -> Vec<Command> {
        match self.tab {
            Tab::Keys | Tab::Domains => {
                let mut c = self.load_keys(false);
                c.push(Command::LoadApps);
                c
            }
            Tab::Scopes => {
                let mut c = vec![Command::LoadCatalog];
                c.extend(self.load_keys(false));
                if let Some((scope, _)) = &self.scopes.holders {
                    c.push(Command::LoadHolders(scope.clone()));
                }
                c
            }
            Tab::Usage => self.load_usage(true),
            Tab::Audit => self.load_audit(false),
            Tab::Review => self.load_review(),
        }
    }

    // ----- modals -----

    // ----- crumb-row input -----

    // ----- tabs -----
}
