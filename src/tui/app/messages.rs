//! The message log: every status-row message (toast) kept whole with its time, newest
//! last, at most [`KEEP`] of them. `:messages` or `M` opens it in a modal that scrolls
//! by message. Toasts never hold a secret, so neither does the log; it lives only in
//! memory.

use std::collections::VecDeque;

use chrono::{DateTime, Utc};

use super::modal::Modal;
use super::{Action, App, Command};

/// Messages kept; older ones are dropped.
pub const KEEP: usize = 200;

/// One status message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Message {
    /// When it was shown.
    pub at: DateTime<Utc>,
    /// The whole text (never a secret).
    pub text: String,
    /// An error rather than information.
    pub error: bool,
}

/// The last [`KEEP`] messages, oldest first.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct MessageLog {
    entries: VecDeque<Message>,
}

impl MessageLog {
    /// Keep a message, dropping the oldest beyond [`KEEP`].
    pub fn push(&mut self, at: DateTime<Utc>, text: &str, error: bool) {
        if self.entries.len() == KEEP {
            self.entries.pop_front();
        }
        self.entries.push_back(Message {
            at,
            text: text.to_owned(),
            error,
        });
    }

    /// How many are kept.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// Whether none is kept.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// Oldest first.
    pub fn iter(&self) -> impl DoubleEndedIterator<Item = &Message> + ExactSizeIterator {
        self.entries.iter()
    }
}

impl App {
    /// Open the message log, newest message at the top.
    pub(super) fn open_messages(&mut self) -> Vec<Command> {
        self.modals.push(Modal::Messages { scroll: 0 });
        Vec::new()
    }

    /// Keys in the message log: scroll by message, close.
    pub(super) fn update_messages(&mut self, action: Action) -> Vec<Command> {
        let last = self.messages.len().saturating_sub(1);
        let Some(Modal::Messages { scroll }) = self.modals.last_mut() else {
            return Vec::new();
        };
        if let Some(to) = super::list_move(&action, *scroll, last + 1, 10) {
            *scroll = to;
            return Vec::new();
        }
        match action {
            Action::Back | Action::Enter | Action::Quit | Action::Messages => {
                self.modals.pop();
            }
            Action::ForceQuit => self.quit = true,
            _ => {}
        }
        Vec::new()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keeps_the_last_two_hundred_whole() {
        let mut log = MessageLog::default();
        let at = DateTime::from_timestamp(1_795_000_000, 0).expect("time");
        for i in 0..250 {
            log.push(at, &format!("message {i}"), i % 2 == 0);
        }
        assert_eq!(log.len(), KEEP);
        assert_eq!(
            log.iter().next().map(|m| m.text.as_str()),
            Some("message 50")
        );
        assert_eq!(
            log.iter().next_back().map(|m| m.text.as_str()),
            Some("message 249")
        );
        let long = "x".repeat(1_000);
        log.push(at, &long, false);
        assert_eq!(log.iter().next_back().map(|m| m.text.len()), Some(1_000));
    }
}
