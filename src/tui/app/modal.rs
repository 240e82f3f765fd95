//! Modals: state machines that get input before the tab under them, and their update.

use super::Action;
use super::App;
use super::Command;
use super::CopyWhat;
use super::Tab;
use super::TimerKind;
use super::form::KeyForm;
use super::support::Lookup;
use crate::domain::key::Secret;
use crate::tui::keymap::Context;
use std::collections::BTreeSet;
use tokio::time::Instant;
use tui_input::Input;
use tui_input::InputRequest;

/// What a confirmation does when answered yes. The target is frozen when the key is pressed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Pending {
    /// Delete this key.
    Delete {
        /// Key id.
        id: String,
        /// Key name (what a danger profile must type).
        name: String,
    },
    /// Disable this key.
    Disable {
        /// Key id.
        id: String,
        /// Key name.
        name: String,
        /// Version at keypress.
        version: i64,
    },
    /// Apply this change (danger profiles ask first, showing the diff).
    Apply {
        /// Key id.
        id: String,
        /// Version at keypress (If-Match).
        version: i64,
        /// The change.
        req: Box<crate::api::UpdateKeyRequest>,
        /// Which editor asked.
        origin: super::EditOrigin,
    },
    /// Close the reveal without having confirmed the secret was stored.
    DiscardSecret,
    /// Quit while a copied secret may still be on the clipboard is fine (it is cleared);
    /// this asks only when a secret was never confirmed stored.
    QuitWithSecret,
    /// Rotate with no grace although the key has traffic.
    RotateNow,
    /// Expire the old key now although it still had traffic.
    ExpireOld,
    /// Leave the rotation wizard; the old key stays live until its grace ends.
    LeaveWizard,
    /// Rotate the marked keys.
    BulkRotate,
    /// Close the bulk reveal.
    CloseBulk,
    /// Narrow a key's scopes to the review's suggested set.
    Narrow {
        /// Key id.
        id: String,
        /// Key name (what a danger profile must type).
        name: String,
        /// Version at keypress.
        version: i64,
        /// The new scopes.
        scopes: Vec<String>,
    },
}

/// A yes/no question, optionally requiring the key name to be typed.
#[derive(Debug, Clone)]
pub struct Confirm {
    /// Title.
    pub title: String,
    /// Lines of explanation.
    pub body: Vec<String>,
    /// What yes does.
    pub pending: Pending,
    /// The text that must be typed (danger profiles).
    pub type_to_confirm: Option<String>,
    /// What was typed.
    pub typed: Input,
    /// Why the last Enter did nothing (the typed name did not match).
    pub mismatch: Option<String>,
}

impl Confirm {
    /// What must be typed, for the prompt and for the hint: the key's name, or the words
    /// a bulk rotation asks for (`rotate 3 keys`).
    pub fn typed_what(&self) -> (&'static str, &'static str) {
        if matches!(self.pending, Pending::BulkRotate) {
            ("the words", "the words")
        } else {
            ("the key name", "the name")
        }
    }

    /// Whether yes may be accepted now: the typed name matches, ignoring case and the
    /// spaces around it.
    pub fn ready(&self) -> bool {
        self.type_to_confirm.as_deref().is_none_or(|want| {
            self.typed.value().trim().to_lowercase() == want.trim().to_lowercase()
        })
    }
}

/// The one-time secret reveal.
#[derive(Debug, Clone)]
pub struct Reveal {
    /// Title (e.g. "Key created").
    pub title: String,
    /// Key id.
    pub key_id: String,
    /// Key name.
    pub key_name: String,
    /// The secret; zeroized when this is dropped.
    pub secret: Secret,
    /// Shown in clear until this instant.
    pub shown_until: Option<(u64, Instant)>,
    /// How it was copied, if it was.
    pub copied: Option<String>,
}

/// Picking scopes from the catalog (for the key form).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ScopePicker {
    /// Cursor.
    pub cursor: usize,
    /// Checked scopes.
    pub checked: BTreeSet<String>,
}

/// A modal.
#[derive(Debug, Clone)]
pub enum Modal {
    /// Help for what works here, filtered as you type.
    Help {
        /// The filter.
        filter: Input,
        /// Scroll.
        scroll: usize,
    },
    /// A confirmation.
    Confirm(Confirm),
    /// Create or edit a key.
    Form(Box<KeyForm>),
    /// Pick scopes for the form.
    ScopePicker(ScopePicker),
    /// Show a secret once.
    Reveal(Box<Reveal>),
    /// Key details (narrow terminals).
    Detail(String),
    /// The rotation wizard.
    Wizard(Box<super::wizard::Wizard>),
    /// Bulk rotation.
    Bulk(Box<super::bulk::Bulk>),
    /// A support lookup.
    Lookup(Box<super::support::Lookup>),
    /// The request tester.
    Tester(Box<super::tester::Tester>),
    /// Respond to a leak: rotate or disable.
    Leak(Box<super::review::LeakChoice>),
    /// The message log.
    Messages {
        /// Messages skipped from the newest.
        scroll: usize,
    },
}

/// Rows of the scope checklist: `*`, each `resource:*`, then each catalog scope.
pub fn checklist_rows(catalog: &[crate::api::ScopeInfo]) -> Vec<(String, String)> {
    let mut rows = vec![("*".to_owned(), "everything (full access)".to_owned())];
    let mut resources: Vec<&str> = Vec::new();
    for s in catalog {
        if let Some((r, _)) = s.name.split_once(':')
            && !resources.contains(&r)
        {
            resources.push(r);
        }
    }
    for r in resources {
        rows.push((format!("{r}:*"), format!("every action on {r}")));
    }
    for s in catalog {
        rows.push((s.name.clone(), s.description.clone()));
    }
    rows
}

impl Modal {
    /// The key contexts this modal reports, most specific first (`keymap` reads them).
    pub fn contexts(&self) -> Vec<Context> {
        match self {
            Modal::Help { .. } => vec![Context::Help],
            Modal::Confirm(c) if c.type_to_confirm.is_some() => vec![Context::ConfirmTyped],
            Modal::Confirm(_) => vec![Context::Confirm],
            Modal::Form(f) => f.contexts(),
            Modal::ScopePicker(_) => vec![Context::Picker],
            Modal::Reveal(_) => vec![Context::Reveal],
            Modal::Detail(_) => vec![Context::Detail],
            Modal::Wizard(w) => w.contexts(),
            Modal::Lookup(_) => vec![Context::Lookup],
            Modal::Leak(_) => vec![Context::LeakChoice],
            Modal::Messages { .. } => vec![Context::Messages],
            Modal::Tester(t) => t.contexts(),
            Modal::Bulk(b) => b.contexts(),
        }
    }
}

impl App {
    pub(super) fn update_modal(&mut self, action: Action) -> Vec<Command> {
        let Some(top) = self.modals.last_mut() else {
            return Vec::new();
        };
        match top {
            Modal::Help { filter, scroll } => match action {
                Action::Back | Action::Help | Action::Quit => {
                    self.modals.pop();
                }
                Action::Edit(req) => {
                    filter.handle(req);
                    *scroll = 0;
                }
                Action::Paste(t) => {
                    for c in t.chars().filter(|c| !c.is_control()) {
                        filter.handle(InputRequest::InsertChar(c));
                    }
                }
                Action::Up => *scroll = scroll.saturating_sub(1),
                Action::Down => *scroll += 1,
                Action::PageDown => *scroll += 10,
                Action::PageUp => *scroll = scroll.saturating_sub(10),
                Action::ForceQuit => self.quit = true,
                _ => {}
            },
            Modal::Detail(_) => match action {
                Action::Back | Action::Enter | Action::Quit => {
                    self.modals.pop();
                }
                Action::ForceQuit => self.quit = true,
                _ => {}
            },
            Modal::Confirm(c) => match action {
                Action::Back | Action::No => {
                    let pending = c.pending.clone();
                    self.modals.pop();
                    if let Pending::Apply { origin, .. } = pending {
                        self.change_cancelled(origin);
                    }
                }
                Action::Edit(req) if c.type_to_confirm.is_some() => {
                    c.typed.handle(req);
                    c.mismatch = None;
                }
                Action::Paste(t) if c.type_to_confirm.is_some() => {
                    for ch in t.chars().filter(|ch| !ch.is_control()) {
                        c.typed.handle(InputRequest::InsertChar(ch));
                    }
                    c.mismatch = None;
                }
                Action::Yes | Action::Enter if c.ready() => {
                    let pending = c.pending.clone();
                    self.modals.pop();
                    return self.confirmed(pending);
                }
                Action::Yes | Action::Enter => {
                    if let Some(want) = &c.type_to_confirm {
                        c.mismatch = Some(if c.typed.value().trim().is_empty() {
                            format!("Nothing done: type {want} first (case does not matter).")
                        } else {
                            format!(
                                "Nothing done: \"{}\" is not {want} (case does not matter).",
                                c.typed.value().trim()
                            )
                        });
                    }
                }
                Action::ForceQuit => self.quit = true,
                _ => {}
            },
            Modal::Reveal(r) => match action {
                Action::Reveal => {
                    if r.shown_until.is_some() {
                        r.shown_until = None;
                    } else {
                        self.seq += 1;
                        let id = self.seq;
                        r.shown_until = Some((id, self.mono + self.settings.reveal));
                        return vec![Command::Timer(
                            TimerKind::RevealHide(id),
                            self.settings.reveal,
                        )];
                    }
                }
                Action::CopySecret => {
                    return vec![Command::Copy(CopyWhat::Secret(r.secret.clone()))];
                }
                Action::Enter => {
                    self.modals.pop();
                    self.toast("Secret closed. It cannot be shown again.", false);
                    return self.after_wizard_reveal();
                }
                Action::Help => return self.open_help(),
                Action::Back | Action::Quit | Action::ForceQuit => {
                    self.modals.push(Modal::Confirm(Confirm {
                        title: "Close without storing the secret?".to_owned(),
                        body: vec![
                            "The secret is shown only once and cannot be shown again.".to_owned(),
                            "If you have not stored it, rotate the key to get a new one."
                                .to_owned(),
                        ],
                        pending: if action == Action::Back {
                            Pending::DiscardSecret
                        } else {
                            Pending::QuitWithSecret
                        },
                        type_to_confirm: None,
                        typed: Input::default(),
                        mismatch: None,
                    }));
                }
                _ => {}
            },
            Modal::ScopePicker(p) => {
                let rows = self
                    .catalog
                    .as_ref()
                    .map(|c| checklist_rows(&c.scopes))
                    .unwrap_or_default();
                match action {
                    Action::Up => p.cursor = p.cursor.saturating_sub(1),
                    Action::Down => p.cursor = (p.cursor + 1).min(rows.len().saturating_sub(1)),
                    Action::Toggle => {
                        if let Some((name, _)) = rows.get(p.cursor)
                            && !p.checked.remove(name)
                        {
                            p.checked.insert(name.clone());
                        }
                    }
                    Action::Enter | Action::Save => {
                        let checked = p.checked.clone();
                        self.modals.pop();
                        if let Some(Modal::Form(f)) = self.modals.last_mut() {
                            f.set_custom_scopes(checked);
                            f.validate(&self.catalog_rules, self.now);
                        }
                    }
                    Action::Back => {
                        self.modals.pop();
                    }
                    Action::ForceQuit => self.quit = true,
                    _ => {}
                }
            }
            Modal::Form(_) => return self.update_form(action),
            Modal::Wizard(_) => return self.update_wizard(action),
            Modal::Tester(_) => return self.update_tester(action),
            Modal::Lookup(l) => match (l.as_mut(), action) {
                (Lookup::Hint { keys, cursor, .. }, Action::Up) => {
                    *cursor = cursor.saturating_sub(1);
                    let _ = keys;
                }
                (Lookup::Hint { keys, cursor, .. }, Action::Down) => {
                    *cursor = (*cursor + 1).min(keys.len().saturating_sub(1));
                }
                (Lookup::Hint { keys, cursor, .. }, Action::Enter) => {
                    let id = keys.get(*cursor).map(|k| k.id.clone());
                    self.modals.pop();
                    if let Some(id) = id {
                        self.tab = Tab::Keys;
                        self.keys.filter = id;
                        self.keys.rebuild_view();
                        return self.load_keys(false);
                    }
                }
                (
                    Lookup::Request {
                        event: Some(e),
                        key,
                        ..
                    },
                    Action::CopyReply,
                ) => {
                    let reply = super::support::customer_reply(e, key.as_ref());
                    return vec![Command::Copy(CopyWhat::Reply(reply))];
                }
                (Lookup::Request { key: Some(k), .. }, Action::Enter) => {
                    // Open the key: select it in the Keys tab (details show for it).
                    let id = k.id.clone();
                    self.modals.pop();
                    self.tab = Tab::Keys;
                    self.keys.filter = id.clone();
                    self.keys.rebuild_view();
                    if !self.wide() {
                        self.modals.push(Modal::Detail(id));
                    }
                    return self.load_keys(false);
                }
                (_, Action::ForceQuit) => self.quit = true,
                (_, Action::Back | Action::Enter | Action::Quit) => {
                    self.modals.pop();
                }
                _ => {}
            },
            Modal::Bulk(_) => return self.update_bulk(action),
            Modal::Leak(_) => return self.update_leak_choice(action),
            Modal::Messages { .. } => return self.update_messages(action),
        }
        Vec::new()
    }
}
