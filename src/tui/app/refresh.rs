//! The key list refreshes itself (issue: lists went stale, a new key read "Used never" while
//! the monitor said it was used). Every `Settings::refresh` (`[ui] refresh_seconds`, default
//! 30 s, 0 for never) the list on screen is loaded again in place: the selection and scroll
//! position stay, and a failure is shown in the crumb row rather than as a toast. It pauses
//! while the user is busy (a form, a dialog or any modal, a typed filter or command, a scope
//! edit, a domain being typed) and while more than one page is loaded (reloading would drop
//! the pages scrolled into); the crumb row's "updated 2m ago" says how old the rows are
//! either way, and Ctrl-r reloads at once.

use super::domains::DomainsFocus;
use super::keys::PAGE;
use super::{App, Command, Conn, Tab, TimerKind};

impl App {
    /// Start the timer, once, when the console is first connected.
    pub(super) fn start_refresh(&mut self) -> Vec<Command> {
        if self.refresh_timer != 0 || self.settings.refresh.is_zero() {
            return Vec::new();
        }
        self.next_refresh()
    }

    fn next_refresh(&mut self) -> Vec<Command> {
        self.refresh_timer += 1;
        vec![Command::Timer(
            TimerKind::AutoRefresh(self.refresh_timer),
            self.settings.refresh,
        )]
    }

    /// Why the list is not refreshed now, if it is not.
    pub fn refresh_paused(&self) -> Option<&'static str> {
        let busy = !self.modals.is_empty()
            || self.line.is_some()
            || self.expired.is_some()
            || (self.tab == Tab::Scopes && self.scopes.edit.is_some())
            || (self.tab == Tab::Domains && self.domains.focus != DomainsFocus::List)
            || self.keys.filter.trim() != self.keys.query;
        if busy {
            Some("paused while you work")
        } else if self.keys.rows.len() > PAGE as usize {
            Some("more than a page loaded")
        } else if !matches!(self.tab, Tab::Keys | Tab::Scopes | Tab::Domains) {
            Some("not on screen")
        } else {
            None
        }
    }

    /// The timer fired: reload the list unless paused, and start the next round.
    pub(super) fn auto_refresh(&mut self, id: u64) -> Vec<Command> {
        if id != self.refresh_timer {
            return Vec::new();
        }
        let mut cmds = self.next_refresh();
        if self.conn == Conn::Ready && !self.keys.loading && self.refresh_paused().is_none() {
            self.keys.refreshing = true;
            cmds.extend(self.load_keys(false));
        }
        cmds
    }
}
