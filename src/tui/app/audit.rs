//! The Audit tab: its state, its update, and the pages it asks for.

use super::{Action, App, Command, UiError};
use crate::api::AuditEntry;

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

impl App {
    pub(super) fn load_audit(&mut self, append: bool) -> Vec<Command> {
        if !append {
            self.audit.generation += 1;
        }
        self.audit.loading = true;
        vec![Command::LoadAudit {
            generation: self.audit.generation,
            cursor: if append {
                self.audit.next_cursor.clone()
            } else {
                None
            },
            key_id: self.audit.key_filter.clone(),
            action: self
                .audit
                .action_filter
                .map(|i| AUDIT_ACTIONS[i].to_owned()),
            actor: self.audit.actor_filter.as_ref().map(|f| f.param.clone()),
        }]
    }

    pub(super) fn update_audit(&mut self, action: Action) -> Vec<Command> {
        let h = self.audit_height();
        let a = &mut self.audit;
        let n = a.rows.len();
        // A click: the row is selected; a click on the selected row opens it, as Enter does.
        let action = match action {
            Action::SelectRow(pos) if pos != a.selected && pos < n => {
                a.selected = pos;
                a.detail_scroll = 0;
                return Vec::new();
            }
            Action::SelectRow(_) => Action::Enter,
            other => other,
        };
        match action {
            // The selected entry in full: Enter opens and closes it, Esc closes it, PgUp/PgDn
            // scroll it, j/k go to the next or previous entry.
            Action::Enter if n > 0 => {
                a.detail = !a.detail;
                a.detail_scroll = 0;
                return Vec::new();
            }
            Action::Back if a.detail => {
                a.detail = false;
                return Vec::new();
            }
            Action::PageDown | Action::PageUp if a.detail => {
                a.detail_scroll = if action == Action::PageDown {
                    a.detail_scroll.saturating_add(10)
                } else {
                    a.detail_scroll.saturating_sub(10)
                };
                return Vec::new();
            }
            nav if super::list_move(&nav, a.selected, n, h).is_some() => {
                a.selected = super::list_move(&nav, a.selected, n, h).unwrap_or(a.selected);
                a.detail_scroll = 0;
            }
            Action::Undo => return self.ask_undo(),
            Action::FilterAuditKey => {
                a.key_filter = match (&a.key_filter, self.keys.selected_key()) {
                    (Some(_), _) | (None, None) => None,
                    (None, Some(k)) => Some(k.id.clone()),
                };
                return self.load_audit(false);
            }
            Action::CycleAuditAction => {
                a.action_filter = match a.action_filter {
                    None => Some(0),
                    Some(i) if i + 1 < AUDIT_ACTIONS.len() => Some(i + 1),
                    Some(_) => None,
                };
                return self.load_audit(false);
            }
            Action::FilterAuditActor => {
                a.actor_filter = match (&a.actor_filter, a.rows.get(a.selected)) {
                    (Some(_), _) => None,
                    (None, Some(e)) => Some(ActorFilter::of(e, |k| {
                        self.keys.get(k).map(|key| key.name.clone())
                    })),
                    (None, None) => return Vec::new(),
                };
                return self.load_audit(false);
            }
            _ => {}
        }
        if a.selected < a.offset {
            a.offset = a.selected;
        } else if a.selected >= a.offset + h {
            a.offset = a.selected + 1 - h;
        }
        if !a.loading && a.next_cursor.is_some() && a.selected + h >= n {
            return self.load_audit(true);
        }
        Vec::new()
    }

    /// A page of audit entries arrived. A newer request's answer wins; a fresh first page
    /// (a refresh, an undo, a new filter) keeps the selected entry selected when it is
    /// still there, and starts at the top when it is not.
    pub(super) fn audit_loaded(
        &mut self,
        generation: u64,
        append: bool,
        result: Result<crate::api::Page<AuditEntry>, UiError>,
    ) {
        if generation != self.audit.generation {
            return;
        }
        self.audit.loading = false;
        self.audit.loaded = true;
        match result {
            Ok(page) => {
                if append {
                    self.audit.rows.extend(page.data);
                } else {
                    let was = self
                        .audit
                        .rows
                        .get(self.audit.selected)
                        .map(|e| e.id.clone());
                    self.audit.rows = page.data;
                    match was.and_then(|id| self.audit.rows.iter().position(|e| e.id == id)) {
                        Some(i) => {
                            self.audit.selected = i;
                            let h = self.audit_height().max(1);
                            if i < self.audit.offset || i >= self.audit.offset + h {
                                self.audit.offset = i.saturating_sub(h / 2);
                            }
                        }
                        None => {
                            self.audit.selected = 0;
                            self.audit.offset = 0;
                        }
                    }
                }
                self.audit.next_cursor = page.next_cursor;
                self.audit.error = None;
            }
            Err(e) => self.audit.error = Some(e),
        }
    }
}
