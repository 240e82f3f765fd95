//! The Scopes tab: the catalog, the holders pane and the checklist editor of a key's scopes.

use super::Loadable;
use super::modal::checklist_rows;
use super::{Action, App, Command, EditOrigin, Tab};
use crate::api::KeyObject;
use crate::api::UpdateKeyRequest;
use std::collections::BTreeSet;

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
    /// The first holder shown: it moves only to keep the picked row in view, so a click
    /// lands on the row it was aimed at.
    pub holder_offset: usize,
}

impl ScopesTab {
    /// The key contexts the tab reports (most specific first).
    pub fn contexts(&self) -> Vec<crate::tui::keymap::Context> {
        use crate::tui::keymap::Context;
        if self.edit.is_some() {
            vec![
                Context::ScopesEditing,
                Context::Scopes,
                Context::Nav,
                Context::Global,
            ]
        } else {
            vec![Context::Scopes, Context::Nav, Context::Global]
        }
    }

    /// The catalog rows shown in `inner_h` rows of its box: (first row, how many). Lines
    /// below the list (saving, a refusal) take rows first; the cursor's row stays in view.
    pub fn catalog_window(&self, inner_h: usize) -> (usize, usize) {
        let extra = self.edit.as_ref().map_or(0, |e| {
            usize::from(e.saving) + usize::from(e.refused.is_some())
        });
        let list_h = inner_h.saturating_sub(extra).max(1);
        (self.cursor.saturating_sub(list_h - 1), list_h)
    }

    /// The first holder shown in `room` rows of the pane.
    pub fn holder_first(&self, room: usize) -> usize {
        let n = self.holder_keys().len();
        self.holder_offset.min(n.saturating_sub(room.max(1)))
    }

    /// Move the pane's window just enough to show the picked row in `room` rows.
    pub fn holder_into_view(&mut self, room: usize) {
        let room = room.max(1);
        match self.holder {
            None => {}
            Some(i) if i < self.holder_offset => self.holder_offset = i,
            Some(i) if i >= self.holder_offset + room => self.holder_offset = i + 1 - room,
            Some(_) => {}
        }
    }

    /// The holders loaded for the pane.
    pub fn holder_keys(&self) -> &[KeyObject] {
        self.holders
            .as_ref()
            .and_then(|(_, l)| l.ready())
            .map_or(&[], |(keys, _)| keys.as_slice())
    }
}

impl App {
    /// The Keys tab filtered to the keys holding `scope` (a `scope:` filter the server
    /// answers; wildcards count).
    pub(super) fn keys_holding(&mut self, scope: &str) -> Vec<Command> {
        self.tab = Tab::Keys;
        self.keys.filter = format!("scope:{scope}");
        self.keys.rebuild_view();
        self.keys.offset = 0;
        self.load_keys(false)
    }

    pub(super) fn update_scopes(&mut self, action: Action) -> Vec<Command> {
        let cmds = self.update_scopes_inner(action);
        let room = self.holders_height();
        self.scopes.holder_into_view(room);
        cmds
    }

    fn update_scopes_inner(&mut self, action: Action) -> Vec<Command> {
        let rows = self
            .catalog
            .as_ref()
            .map(|c| checklist_rows(&c.scopes))
            .unwrap_or_default();
        // A click on a holder picks it; a click on the picked one opens its key.
        if let Action::SelectHolder(i) = action {
            if i >= self.scopes.holder_keys().len() {
                return Vec::new();
            }
            if self.scopes.holder != Some(i) {
                self.scopes.holder = Some(i);
                return Vec::new();
            }
            return match self.scopes.holder_keys().get(i).map(|k| k.id.clone()) {
                Some(id) => self.open_key(&id),
                None => Vec::new(),
            };
        }
        // The holders pane has the focus: move in it, Enter opens the key, ← or Esc leave.
        if let Some(i) = self.scopes.holder
            && !matches!(action, Action::SelectRow(_))
        {
            let n = self.scopes.holder_keys().len();
            let page = self.holders_height();
            match &action {
                Action::Enter => {
                    return match self.scopes.holder_keys().get(i).map(|k| k.id.clone()) {
                        Some(id) => self.open_key(&id),
                        None => Vec::new(),
                    };
                }
                Action::Left | Action::Back => {
                    self.scopes.holder = None;
                    return Vec::new();
                }
                nav => {
                    if let Some(to) = super::list_move(nav, i, n, page) {
                        self.scopes.holder = Some(to);
                        return Vec::new();
                    }
                }
            }
        }
        // A click selects a catalog row; a click on the selected row does what Enter does.
        if matches!(action, Action::SelectRow(_)) {
            self.scopes.holder = None;
        }
        let action = match action {
            Action::SelectRow(pos) if pos != self.scopes.cursor && pos < rows.len() => {
                self.scopes.cursor = pos;
                return Vec::new();
            }
            Action::SelectRow(_) => Action::Enter,
            other => other,
        };
        match action {
            Action::Right if self.scopes.edit.is_none() => {
                if self.scopes.holder_keys().is_empty() {
                    self.toast(
                        "Press w first: the keys that hold the scope show on the right",
                        false,
                    );
                } else {
                    self.scopes.holder = Some(0);
                }
            }
            Action::Up => self.scopes.cursor = self.scopes.cursor.saturating_sub(1),
            Action::Down => {
                self.scopes.cursor = (self.scopes.cursor + 1).min(rows.len().saturating_sub(1));
            }
            Action::Top => self.scopes.cursor = 0,
            Action::Bottom => self.scopes.cursor = rows.len().saturating_sub(1),
            // Enter on the catalog: the keys that hold the scope, in the Keys tab (a
            // `scope:` filter the server answers), where each can be opened.
            Action::Enter if self.scopes.edit.is_none() => {
                if let Some((name, _)) = rows.get(self.scopes.cursor) {
                    let name = name.clone();
                    return self.keys_holding(&name);
                }
            }
            Action::EditScopes if self.scopes.edit.is_none() => {
                if let Some(k) = self.selected_key() {
                    let set: BTreeSet<String> = k.scopes.iter().cloned().collect();
                    self.scopes.edit = Some(ScopeEdit {
                        key_id: k.id.clone(),
                        key_name: k.name.clone(),
                        version: k.version,
                        original: set.clone(),
                        checked: set,
                        saving: false,
                        refused: None,
                    });
                } else {
                    self.toast("Select a key in the Keys tab first", true);
                }
            }
            Action::Toggle | Action::Enter => {
                if let (Some(ed), Some((name, _))) =
                    (&mut self.scopes.edit, rows.get(self.scopes.cursor))
                    && !ed.saving
                {
                    if !ed.checked.remove(name) {
                        ed.checked.insert(name.clone());
                    }
                    ed.refused = None;
                }
            }
            Action::Save => {
                if let Some(ed) = &mut self.scopes.edit {
                    if ed.checked == ed.original {
                        self.scopes.edit = None;
                        self.toast("Nothing changed", false);
                        return Vec::new();
                    }
                    ed.saving = true;
                    let (id, version) = (ed.key_id.clone(), ed.version);
                    let req = UpdateKeyRequest {
                        scopes: Some(ed.checked.iter().cloned().collect()),
                        ..UpdateKeyRequest::default()
                    };
                    let key = self.keys.get(&id).cloned();
                    return match key {
                        Some(k) => self.change_key(&k, version, req, EditOrigin::Scopes),
                        // A danger profile shows every change before it is sent; without the
                        // key there is no diff to show, so nothing is sent.
                        None if self.session.danger => {
                            if let Some(ed) = &mut self.scopes.edit {
                                ed.saving = false;
                                ed.refused = Some(
                                    "This key is no longer loaded; press Esc and reload."
                                        .to_owned(),
                                );
                            }
                            Vec::new()
                        }
                        None => vec![Command::UpdateKey {
                            id,
                            req,
                            version: Some(version),
                            origin: EditOrigin::Scopes,
                        }],
                    };
                }
            }
            Action::Back => {
                if self.scopes.edit.is_some() {
                    self.scopes.edit = None;
                } else {
                    self.scopes.holders = None;
                }
            }
            Action::WhoHolds => {
                if let Some((name, _)) = rows.get(self.scopes.cursor) {
                    self.scopes.holder = None;
                    self.scopes.holder_offset = 0;
                    self.scopes.holders = Some((name.clone(), Loadable::Loading));
                    return vec![Command::LoadHolders(name.clone())];
                }
            }
            _ => {}
        }
        Vec::new()
    }

    /// The keys holding a scope arrived; an answer for a scope no longer open is dropped.
    pub(super) fn holders_loaded(
        &mut self,
        scope: String,
        result: Result<Holders, super::UiError>,
    ) {
        if self
            .scopes
            .holders
            .as_ref()
            .is_some_and(|(s, _)| *s == scope)
        {
            self.scopes.holders = Some((scope, Loadable::from_result(result)));
            let n = self.scopes.holder_keys().len();
            self.scopes.holder = self.scopes.holder.filter(|_| n > 0).map(|i| i.min(n - 1));
            let room = self.holders_height();
            self.scopes.holder_into_view(room);
        }
    }
}
