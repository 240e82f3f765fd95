//! Modals: state machines that get input before the tab under them.

use std::collections::BTreeSet;

use tokio::time::Instant;
use tui_input::Input;

use crate::domain::key::Secret;

use super::form::KeyForm;

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
