//! A session that expired mid-session (API.md §8): the client already ran `token_command`
//! again once and retried (`client::renew`); when that did not help, this screen says so and
//! how to sign in again. Everything open stays as it was (a form keeps its input) behind the
//! screen, which takes only retry and quit until the session works again.

use super::{Action, App, Command};

/// Why the session could not be renewed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Expired {
    /// The server's code for the refusal (`token_expired`, `invalid_token`).
    pub code: String,
    /// Why renewing failed: `token_command`'s error (never the token), or the server's
    /// refusal of the renewed token.
    pub reason: String,
}

impl Action {
    /// Whether this is the user's input (a key, a paste, a click), as opposed to a clock, a
    /// resize or a task's result. Written out in full, so a new action must be placed.
    pub fn is_user_input(&self) -> bool {
        match self {
            Action::Quit
            | Action::ForceQuit
            | Action::NextTab
            | Action::PrevTab
            | Action::GoTab(_)
            | Action::Up
            | Action::Down
            | Action::PageUp
            | Action::PageDown
            | Action::Top
            | Action::Bottom
            | Action::Enter
            | Action::Back
            | Action::Refresh
            | Action::StartFilter
            | Action::StartCommand
            | Action::Help
            | Action::NewKey
            | Action::EditKey
            | Action::ToggleEnabled
            | Action::DeleteKey
            | Action::CopyId
            | Action::CycleSort
            | Action::CopyReply
            | Action::ReverseSort
            | Action::SelectRow(_)
            | Action::SelectHolder(_)
            | Action::NextField
            | Action::PrevField
            | Action::Left
            | Action::Right
            | Action::Toggle
            | Action::Save
            | Action::Reveal
            | Action::CopySecret
            | Action::Yes
            | Action::No
            | Action::Edit(_)
            | Action::Paste(_)
            | Action::EditScopes
            | Action::WhoHolds
            | Action::AddDomain
            | Action::RemoveDomain
            | Action::CheckOrigin
            | Action::CycleBucket
            | Action::FilterAuditKey
            | Action::CycleAuditAction
            | Action::FilterAuditActor
            | Action::Undo
            | Action::Messages
            | Action::RotateKey
            | Action::Mark
            | Action::BulkRotate
            | Action::WriteFile
            | Action::TestKey
            | Action::Send
            | Action::CopyCurl
            | Action::RecallOlder
            | Action::RecallNewer
            | Action::SetOwner
            | Action::NarrowScopes
            | Action::RespondLeak => true,
            Action::Resize(..)
            | Action::FocusLost
            | Action::Tick(..)
            | Action::TimerFired(_)
            | Action::SessionExpired(_)
            | Action::MeLoaded(_)
            | Action::KeysLoaded { .. }
            | Action::CatalogLoaded(_)
            | Action::AppsLoaded(_)
            | Action::KeyCreated(_)
            | Action::KeyUpdated { .. }
            | Action::ChangeApplied { .. }
            | Action::KeyDeleted { .. }
            | Action::OrgUsageLoaded(_)
            | Action::KeyUsageLoaded(_)
            | Action::StaleLoaded(_)
            | Action::OldLoaded(_)
            | Action::FailuresLoaded(_)
            | Action::HoldersLoaded { .. }
            | Action::AuditLoaded { .. }
            | Action::KeyRotated { .. }
            | Action::RotationUsage { .. }
            | Action::TesterAnswered(_)
            | Action::Diagnosed(_)
            | Action::LookedUp(_)
            | Action::FileWritten(_)
            | Action::Copied { .. }
            | Action::ClipboardCleared(_)
            | Action::ReviewLoaded(_)
            | Action::ScopeUsageLoaded { .. }
            | Action::SightingsLoaded { .. }
            | Action::UndoReady(_) => false,
        }
    }
}

impl App {
    /// The user's input while the expired screen is up: retry (the next request runs
    /// `token_command` again) or quit; anything else waits, so nothing behind it changes.
    pub(super) fn update_expired(&mut self, action: Action) -> Vec<Command> {
        match action {
            Action::Refresh => {
                self.expired = None;
                vec![Command::LoadMe]
            }
            Action::Quit | Action::ForceQuit => {
                self.quit = true;
                Vec::new()
            }
            _ => Vec::new(),
        }
    }
}
