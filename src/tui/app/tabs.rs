//! State of the Scopes, Domains, Usage and Audit tabs.

use std::collections::BTreeSet;

use tui_input::Input;

use crate::api::{AuditEntry, AuthEvent, BucketSize, KeyObject, KeyUsage, OrgUsage};

use super::UiError;

/// Something loaded from the server.
#[derive(Debug, Clone, Default)]
pub enum Loadable<T> {
    /// Not asked for yet.
    #[default]
    Idle,
    /// In flight.
    Loading,
    /// Here.
    Ready(T),
    /// Failed.
    Failed(UiError),
}

impl<T> Loadable<T> {
    /// The value, when ready.
    pub fn ready(&self) -> Option<&T> {
        match self {
            Loadable::Ready(v) => Some(v),
            _ => None,
        }
    }

    /// From a task result.
    pub fn from_result(r: Result<T, UiError>) -> Loadable<T> {
        match r {
            Ok(v) => Loadable::Ready(v),
            Err(e) => Loadable::Failed(e),
        }
    }
}

/// Keys holding a scope (first page) and how many hold it in all.
pub type Holders = (Vec<KeyObject>, Option<u64>);

/// The checklist editor of one key's scopes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ScopeEdit {
    /// The key.
    pub key_id: String,
    /// Its name.
    pub key_name: String,
    /// Version for If-Match.
    pub version: i64,
    /// Scopes as they were.
    pub original: BTreeSet<String>,
    /// Scopes as edited.
    pub checked: BTreeSet<String>,
    /// A save is in flight.
    pub saving: bool,
    /// The server's refusal, in plain words.
    pub refused: Option<String>,
}

/// Scopes tab.
#[derive(Debug, Default)]
pub struct ScopesTab {
    /// Cursor in the row list (`*`, `resource:*` rows, then catalog scopes).
    pub cursor: usize,
    /// The editor, when editing the selected key's scopes.
    pub edit: Option<ScopeEdit>,
    /// "Which keys hold this scope?": the scope and its holders.
    pub holders: Option<(String, Loadable<Holders>)>,
    /// The row picked in the holders pane, when it has the focus (`→`); Enter opens it.
    pub holder: Option<usize>,
}

impl ScopesTab {
    /// The catalog rows shown in `inner_h` rows of its box: (first row, how many). Lines
    /// below the list (saving, a refusal) take rows first; the cursor's row stays in view.
    pub fn catalog_window(&self, inner_h: usize) -> (usize, usize) {
        let extra = self.edit.as_ref().map_or(0, |e| {
            usize::from(e.saving) + usize::from(e.refused.is_some())
        });
        let list_h = inner_h.saturating_sub(extra).max(1);
        (self.cursor.saturating_sub(list_h - 1), list_h)
    }

    /// The holders loaded for the pane.
    pub fn holder_keys(&self) -> &[KeyObject] {
        self.holders
            .as_ref()
            .and_then(|(_, l)| l.ready())
            .map_or(&[], |(keys, _)| keys.as_slice())
    }
}

/// Focus in the Domains tab.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum DomainsFocus {
    /// The selected key's domains.
    #[default]
    List,
    /// The "would this Origin pass?" input.
    Origin,
    /// The add-domain input.
    Add,
}

/// Domains tab.
#[derive(Debug, Default)]
pub struct DomainsTab {
    /// Cursor in the key's domains.
    pub cursor: usize,
    /// Where input goes.
    pub focus: DomainsFocus,
    /// New domain being typed.
    pub add: Input,
    /// Why the typed domain is invalid.
    pub add_error: Option<String>,
    /// Origin to check.
    pub origin: Input,
    /// A save is in flight.
    pub saving: bool,
    /// The server's refusal of the last save.
    pub refused: Option<String>,
}

/// Lists in the lower half of the Usage tab.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum UsagePanel {
    /// Busiest keys.
    #[default]
    TopKeys,
    /// Never used or unused for 30 days.
    Stale,
    /// Older than 90 days.
    RotationDue,
    /// Recent denied requests.
    Failures,
}

impl UsagePanel {
    /// Every panel in order.
    pub const ALL: [UsagePanel; 4] = [
        UsagePanel::TopKeys,
        UsagePanel::Stale,
        UsagePanel::RotationDue,
        UsagePanel::Failures,
    ];

    /// Title.
    pub fn title(self) -> &'static str {
        match self {
            UsagePanel::TopKeys => "Top keys",
            UsagePanel::Stale => "Stale (unused 30d+)",
            UsagePanel::RotationDue => "Rotation due (90d+)",
            UsagePanel::Failures => "Recent auth failures",
        }
    }
}

/// Usage tab.
#[derive(Debug, Default)]
pub struct UsageTab {
    /// Bucket size of both charts.
    pub bucket: Option<BucketSize>,
    /// Org totals.
    pub org: Loadable<OrgUsage>,
    /// The selected key's usage.
    pub key: Loadable<KeyUsage>,
    /// Stale keys.
    pub stale: Loadable<Vec<KeyObject>>,
    /// Keys due for rotation.
    pub old: Loadable<Vec<KeyObject>>,
    /// Recent failures.
    pub failures: Loadable<Vec<AuthEvent>>,
    /// Which list shows.
    pub panel: UsagePanel,
    /// Scroll in the list.
    pub cursor: usize,
}

impl UsageTab {
    /// The bucket size (minute by default).
    pub fn bucket(&self) -> BucketSize {
        self.bucket.unwrap_or(BucketSize::Minute)
    }

    /// The list's first row in `rows` rows of its box (below the panel tabs and the
    /// border), and the row its rows start on counted from the box's first row (after the
    /// Top keys header line): the selected row stays in view.
    pub fn list_window(&self, rows: usize) -> (usize, usize) {
        let header = usize::from(self.panel == UsagePanel::TopKeys && self.org.ready().is_some());
        (self.cursor.saturating_sub(rows.saturating_sub(2)), header)
    }

    /// Rows in the list shown.
    pub fn panel_len(&self) -> usize {
        match self.panel {
            UsagePanel::TopKeys => self.org.ready().map_or(0, |o| o.top_keys.len()),
            UsagePanel::Stale => self.stale.ready().map_or(0, Vec::len),
            UsagePanel::RotationDue => self.old.ready().map_or(0, Vec::len),
            UsagePanel::Failures => self.failures.ready().map_or(0, Vec::len),
        }
    }

    /// What the selected row names: a key to open, or a denied request to look up (its key
    /// may be unknown).
    pub fn selected_row(&self) -> Option<UsageRow> {
        let i = self.cursor;
        match self.panel {
            UsagePanel::TopKeys => self
                .org
                .ready()
                .and_then(|o| o.top_keys.get(i))
                .map(|k| UsageRow::Key(k.key_id.clone())),
            UsagePanel::Stale => self
                .stale
                .ready()
                .and_then(|l| l.get(i))
                .map(|k| UsageRow::Key(k.id.clone())),
            UsagePanel::RotationDue => self
                .old
                .ready()
                .and_then(|l| l.get(i))
                .map(|k| UsageRow::Key(k.id.clone())),
            UsagePanel::Failures => self
                .failures
                .ready()
                .and_then(|l| l.get(i))
                .map(|e| UsageRow::Request(e.request_id.clone())),
        }
    }
}

/// What a Usage list row opens.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum UsageRow {
    /// A key, in the Keys tab.
    Key(String),
    /// A denied request, in the `:request` lookup (the event, the key's state, the fix).
    Request(String),
}

/// Actions the audit filter cycles through: every audit action of the API.
pub use crate::api::AUDIT_ACTIONS;

/// The Audit tab's actor filter.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ActorFilter {
    /// As `GET /v1/audit?actor=` takes it: `key:<pk>`, `user:<sub>`, `system:<what>`.
    pub param: String,
    /// As the crumb names it: `user ana@acme.test`, `key Billing worker`.
    pub label: String,
}

impl ActorFilter {
    /// The filter for `entry`'s actor; `key_name` names a key actor when it is known.
    pub fn of(entry: &AuditEntry, key_name: impl Fn(&str) -> Option<String>) -> ActorFilter {
        ActorFilter {
            param: format!("{}:{}", entry.actor.kind.as_str(), entry.actor.id),
            label: crate::tui::session::actor_label(entry, key_name),
        }
    }
}

/// Audit tab.
#[derive(Debug, Default)]
pub struct AuditTab {
    /// Loaded entries, newest first.
    pub rows: Vec<AuditEntry>,
    /// Next page.
    pub next_cursor: Option<String>,
    /// Selected row.
    pub selected: usize,
    /// First visible row.
    pub offset: usize,
    /// Only this key.
    pub key_filter: Option<String>,
    /// Only this action (index into [`AUDIT_ACTIONS`]).
    pub action_filter: Option<usize>,
    /// Only entries by this actor (a row's, frozen when the filter was set).
    pub actor_filter: Option<ActorFilter>,
    /// The selected entry is open in full (`Enter`): every field of its change, uncut.
    pub detail: bool,
    /// Scroll of the open entry.
    pub detail_scroll: u16,
    /// In flight.
    pub loading: bool,
    /// Last failure.
    pub error: Option<UiError>,
    /// Generation of the newest request.
    pub generation: u64,
    /// Loaded at least once.
    pub loaded: bool,
}
