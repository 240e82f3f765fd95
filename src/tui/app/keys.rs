//! The Keys tab's list: rows loaded page by page from the server, a local filter that narrows
//! the loaded rows at once (bounded work), and the index view that rendering slices; the
//! tab's update, and every change to a key (the diff, the confirmation on a danger profile or
//! for the console's own key, the PATCH with If-Match).

use super::Action;
use super::App;
use super::Command;
use super::CopyWhat;
use super::EditOrigin;
use super::LineKind;
use super::UiError;
use super::form::KeyForm;
use super::modal::Confirm;
use super::modal::Modal;
use super::modal::Pending;
use crate::api::KeyObject;
use crate::api::ListKeysQuery;
use crate::api::UpdateKeyRequest;
use std::collections::BTreeSet;
use tui_input::Input;

/// Rows of the loaded window the local filter scans per keystroke; beyond this the server's
/// `q=` answer (after the debounce) is authoritative. Keeps keystrokes O(1) in the org size.
pub const LOCAL_FILTER_LIMIT: usize = 5_000;
/// Page size asked of the server.
pub const PAGE: u32 = 200;

/// What the key list is ordered by: asked of the server (`GET /v1/keys?sort=`), so every
/// page and cursor follows it; the loaded rows are re-sorted at once while its answer is on
/// the way. Each field has a natural direction (newest, A-Z, most recently used, soonest
/// expiry); `S` reverses it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Sort {
    /// Newest first (the server's default).
    #[default]
    Created,
    /// By name, A-Z.
    Name,
    /// Most recently used first; never-used last.
    LastUsed,
    /// Soonest expiry first; no expiry last.
    Expires,
}

impl Sort {
    /// The next order in the cycle.
    pub fn next(self) -> Sort {
        match self {
            Sort::Created => Sort::Name,
            Sort::Name => Sort::LastUsed,
            Sort::LastUsed => Sort::Expires,
            Sort::Expires => Sort::Created,
        }
    }

    /// Label for the crumb row, in the natural direction or reversed.
    pub fn label(self, reversed: bool) -> &'static str {
        match (self, reversed) {
            (Sort::Created, false) => "newest",
            (Sort::Created, true) => "oldest",
            (Sort::Name, false) => "name A-Z",
            (Sort::Name, true) => "name Z-A",
            (Sort::LastUsed, false) => "last used, latest first",
            (Sort::LastUsed, true) => "last used, never first",
            (Sort::Expires, false) => "expires, soonest first",
            (Sort::Expires, true) => "expires, never first",
        }
    }

    /// Whether the natural direction is largest first.
    fn natural_descending(self) -> bool {
        matches!(self, Sort::Created | Sort::LastUsed)
    }

    /// Whether this order, reversed or not, is largest first.
    pub fn descending(self, reversed: bool) -> bool {
        self.natural_descending() != reversed
    }

    /// The server's `sort=` value (`api::KEY_SORTS`).
    pub fn param(self, reversed: bool) -> &'static str {
        match (self, self.descending(reversed)) {
            (Sort::Created, true) => "-created",
            (Sort::Created, false) => "created",
            (Sort::Name, true) => "-name",
            (Sort::Name, false) => "name",
            (Sort::LastUsed, true) => "-last_used",
            (Sort::LastUsed, false) => "last_used",
            (Sort::Expires, true) => "-expires",
            (Sort::Expires, false) => "expires",
        }
    }

    /// The Keys table column it orders, for the header's arrow (none for creation).
    pub fn column(self) -> Option<&'static str> {
        match self {
            Sort::Created => None,
            Sort::Name => Some("Name"),
            Sort::LastUsed => Some("Used"),
            Sort::Expires => Some("Expires"),
        }
    }
}

/// Which loaded rows are shown, in what order.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub enum View {
    /// Every loaded row in server order: O(1) to build, however many rows are loaded.
    #[default]
    All,
    /// These rows (indices into `rows`), after a local filter or sort.
    Some(Vec<usize>),
}

/// State of the key list.
#[derive(Debug, Default)]
pub struct KeysState {
    /// Rows loaded for the current server query, in server order.
    pub rows: Vec<KeyObject>,
    /// Keys matching the server query in all pages.
    pub total: Option<u64>,
    /// Cursor of the next page.
    pub next_cursor: Option<String>,
    /// The `q=` the loaded rows answer.
    pub query: String,
    /// The filter as typed (may be ahead of `query` until the debounce fires).
    pub filter: String,
    /// The rows shown, after the local filter and sort.
    pub view: View,
    /// Selected position in `view`.
    pub selected: usize,
    /// First visible position in `view`.
    pub offset: usize,
    /// Display order.
    pub sort: Sort,
    /// `sort` reversed from its natural direction (`S`).
    pub reversed: bool,
    /// The order the newest first-page request asked the server for.
    pub asked_sort: (Sort, bool),
    /// The order the loaded rows are in, as the server answered (`None`: the default).
    pub answered_sort: Option<(Sort, bool)>,
    /// A request is in flight.
    pub loading: bool,
    /// The last load failed.
    pub error: Option<UiError>,
    /// Generation of the newest request; older answers are dropped.
    pub generation: u64,
    /// Keys marked for bulk actions.
    pub marked: BTreeSet<String>,
    /// When the rows were loaded (the first page; appended pages are newer), for the crumb
    /// row's "updated 2m ago".
    pub loaded_at: Option<chrono::DateTime<chrono::Utc>>,
    /// The request in flight is an auto-refresh: its answer keeps the scroll position and a
    /// failure is shown in the crumb row, not as a toast.
    pub refreshing: bool,
    /// The last auto-refresh failed (the rows are as of `loaded_at`).
    pub refresh_failed: bool,
}

impl KeysState {
    /// Rebuild `view` from `rows`, `filter` and `sort`, keeping the selected key if it is
    /// still shown. Without a local filter or sort this is O(1); with one it scans at most
    /// [`LOCAL_FILTER_LIMIT`] rows (plus the sort).
    pub fn rebuild_view(&mut self) {
        let keep = self.selected_row();
        let keep_id = keep.and_then(|i| self.rows.get(i)).map(|k| k.id.clone());
        let filter = super::filter::KeyFilter::parse(&self.filter);
        // The server already filtered by `query`; narrow further only where the typed filter
        // is ahead of it.
        let local = self.filter.trim().to_lowercase() != self.query.to_lowercase();
        let sorted = self.answered_sort.unwrap_or_default() == (self.sort, self.reversed);
        if !local && sorted {
            self.view = View::All;
            self.selected = keep
                .filter(|&i| self.rows.get(i).map(|k| &k.id) == keep_id.as_ref())
                .or_else(|| {
                    keep_id.as_ref().and_then(|id| {
                        self.rows
                            .iter()
                            .take(LOCAL_FILTER_LIMIT)
                            .position(|k| &k.id == id)
                    })
                })
                .unwrap_or(0)
                .min(self.rows.len().saturating_sub(1));
            return;
        }
        let scan = if local {
            self.rows.len().min(LOCAL_FILTER_LIMIT)
        } else {
            self.rows.len()
        };
        let mut view: Vec<usize> = (0..scan)
            .filter(|&i| !local || filter.matches(&self.rows[i]))
            .collect();
        // Until the server's answer in this order arrives, the loaded rows in it (ascending,
        // then reversed when largest first), as the server orders them.
        let rows = &self.rows;
        if !sorted {
            match self.sort {
                Sort::Created => view.sort_by_key(|&i| rows[i].created_at),
                Sort::Name => view.sort_by(|&a, &b| {
                    rows[a]
                        .name
                        .to_lowercase()
                        .cmp(&rows[b].name.to_lowercase())
                }),
                // Never used counts as the oldest.
                Sort::LastUsed => view.sort_by_key(|&i| rows[i].last_used_at),
                // Never expiring counts as the latest.
                Sort::Expires => {
                    view.sort_by_key(|&i| (rows[i].expires_at.is_none(), rows[i].expires_at))
                }
            }
            if self.sort.descending(self.reversed) {
                view.reverse();
            }
        }
        self.selected = keep_id
            .and_then(|id| view.iter().position(|&i| self.rows[i].id == id))
            .unwrap_or(0)
            .min(view.len().saturating_sub(1));
        self.view = View::Some(view);
    }

    /// The row index (into `rows`) shown at view position `pos`.
    pub fn row_at(&self, pos: usize) -> Option<usize> {
        match &self.view {
            View::All => (pos < self.rows.len()).then_some(pos),
            View::Some(v) => v.get(pos).copied(),
        }
    }

    /// Row indices shown at view positions `start..end` (clamped).
    pub fn rows_between(&self, start: usize, end: usize) -> Vec<usize> {
        let end = end.min(self.shown());
        (start.min(end)..end)
            .filter_map(|p| self.row_at(p))
            .collect()
    }

    /// The view position of a row, if shown.
    pub fn position_of(&self, id: &str) -> Option<usize> {
        match &self.view {
            View::All => self.rows.iter().position(|k| k.id == id),
            View::Some(v) => v.iter().position(|&i| self.rows[i].id == id),
        }
    }

    fn selected_row(&self) -> Option<usize> {
        self.row_at(self.selected)
    }

    /// The selected key.
    pub fn selected_key(&self) -> Option<&KeyObject> {
        self.selected_row().and_then(|i| self.rows.get(i))
    }

    /// Number of rows shown.
    pub fn shown(&self) -> usize {
        match &self.view {
            View::All => self.rows.len(),
            View::Some(v) => v.len(),
        }
    }

    /// Move the selection by `delta`, keeping it visible in a window of `height` rows.
    pub fn move_by(&mut self, delta: isize, height: usize) {
        let n = self.shown();
        if n == 0 {
            self.selected = 0;
            self.offset = 0;
            return;
        }
        let cur = self.selected as isize + delta;
        self.selected = cur.clamp(0, n as isize - 1) as usize;
        self.scroll_into_view(height);
    }

    /// Select the first or last row.
    pub fn jump(&mut self, end: bool, height: usize) {
        self.selected = if end {
            self.shown().saturating_sub(1)
        } else {
            0
        };
        self.scroll_into_view(height);
    }

    /// Adjust `offset` so `selected` is inside a window of `height` rows.
    pub fn scroll_into_view(&mut self, height: usize) {
        let h = height.max(1);
        if self.selected < self.offset {
            self.offset = self.selected;
        } else if self.selected >= self.offset + h {
            self.offset = self.selected + 1 - h;
        }
        let max_offset = self.shown().saturating_sub(h);
        self.offset = self.offset.min(max_offset);
    }

    /// Whether the selection is near the end of the loaded rows and more exist.
    pub fn wants_more(&self, height: usize) -> bool {
        !self.loading
            && self.next_cursor.is_some()
            && self.filter.to_lowercase() == self.query.to_lowercase()
            && self.selected + height * 2 >= self.shown()
    }

    /// Replace a row after an update from the server.
    pub fn replace(&mut self, key: KeyObject) {
        if let Some(r) = self.rows.iter_mut().find(|r| r.id == key.id) {
            *r = key;
        }
    }

    /// Put a new key first.
    pub fn insert_front(&mut self, key: KeyObject) {
        self.rows.insert(0, key);
        self.total = self.total.map(|t| t + 1);
        self.rebuild_view();
    }

    /// Drop a deleted key.
    pub fn remove(&mut self, id: &str) {
        let before = self.rows.len();
        self.rows.retain(|r| r.id != id);
        if self.rows.len() < before {
            self.total = self.total.map(|t| t.saturating_sub(1));
        }
        self.marked.remove(id);
        self.rebuild_view();
    }

    /// Find a loaded key by id.
    pub fn get(&self, id: &str) -> Option<&KeyObject> {
        self.rows.iter().find(|r| r.id == id)
    }
}

/// What a change does to a key, one line per field: `scopes: + a  − b`, `name: A → B`.
pub fn change_lines(key: &crate::api::KeyObject, req: &UpdateKeyRequest) -> Vec<String> {
    let set_diff = |label: &str, from: &[String], to: &[String]| {
        let added: Vec<String> = to
            .iter()
            .filter(|x| !from.contains(x))
            .map(|x| format!("+ {x}"))
            .collect();
        let removed: Vec<String> = from
            .iter()
            .filter(|x| !to.contains(x))
            .map(|x| format!("− {x}"))
            .collect();
        let all: Vec<String> = added.into_iter().chain(removed).collect();
        format!(
            "{label}: {}",
            if all.is_empty() {
                "unchanged".to_owned()
            } else {
                all.join("  ")
            }
        )
    };
    let opt = |v: &Option<String>| v.clone().unwrap_or_else(|| "none".to_owned());
    let time = |t: &Option<chrono::DateTime<chrono::Utc>>| {
        t.map_or_else(
            || "never".to_owned(),
            |t| t.format("%Y-%m-%d %H:%M UTC").to_string(),
        )
    };
    let mut out = Vec::new();
    if let Some(n) = &req.name {
        out.push(format!("name: {} → {n}", key.name));
    }
    if let Some(s) = &req.scopes {
        out.push(set_diff("scopes", &key.scopes, s));
    }
    if let Some(d) = &req.allowed_domains {
        out.push(set_diff("allowed domains", &key.allowed_domains, d));
    }
    if let Some(e) = req.enabled {
        out.push(format!("enabled: {} → {e}", key.enabled));
    }
    if let Some(e) = &req.expires_at {
        out.push(format!("expires: {} → {}", time(&key.expires_at), time(e)));
    }
    if let Some(o) = &req.owner {
        out.push(format!("owner: {} → {}", opt(&key.owner), opt(o)));
    }
    if let Some(d) = &req.description {
        out.push(format!(
            "description: {} → {}",
            opt(&key.description),
            opt(d)
        ));
    }
    out
}

/// The warning on disabling or deleting the key the console is signed in with.
fn own_key_warning() -> [String; 2] {
    [
        "This is the key this console uses: you will lose access at once,".to_owned(),
        "and nothing here can undo it. Type its name to go on.".to_owned(),
    ]
}

impl App {
    /// Ask for the first page (or the next one) of keys for the current filter.
    pub fn load_keys(&mut self, append: bool) -> Vec<Command> {
        if !append {
            self.keys.generation += 1;
        }
        self.keys.loading = true;
        if !append {
            self.keys.asked_sort = (self.keys.sort, self.keys.reversed);
        }
        let filter = self.keys.filter.trim().to_owned();
        vec![Command::LoadKeys {
            generation: self.keys.generation,
            append,
            query: super::filter::KeyFilter::parse(&filter).apply(ListKeysQuery {
                limit: Some(PAGE),
                cursor: if append {
                    self.keys.next_cursor.clone()
                } else {
                    None
                },
                sort: Some(self.keys.sort.param(self.keys.reversed).to_owned()),
                ..ListKeysQuery::default()
            }),
            filter,
        }]
    }

    pub(super) fn update_keys(&mut self, action: Action) -> Vec<Command> {
        let h = self.table_height();
        match action {
            Action::Up => self.keys.move_by(-1, h),
            Action::Down => self.keys.move_by(1, h),
            Action::PageUp => self.keys.move_by(-(h as isize), h),
            Action::PageDown => self.keys.move_by(h as isize, h),
            Action::Top => self.keys.jump(false, h),
            Action::Bottom => self.keys.jump(true, h),
            Action::SelectRow(pos) if pos != self.keys.selected => {
                self.keys.selected = pos.min(self.keys.shown().saturating_sub(1));
                self.keys.scroll_into_view(h);
            }
            Action::Enter | Action::SelectRow(_) => {
                if let Some(k) = self.selected_key()
                    && !self.wide()
                {
                    let id = k.id.clone();
                    self.modals.push(Modal::Detail(id));
                }
            }
            Action::Back if !self.keys.filter.is_empty() => {
                self.keys.filter.clear();
                self.keys.rebuild_view();
                if !self.keys.query.is_empty() {
                    return self.load_keys(false);
                }
            }
            // A new `/` starts a new filter (k9s): the old one is replaced, not appended to.
            Action::StartFilter => {
                self.line = Some((LineKind::Filter, Input::default()));
            }
            // Asked of the server, so every page and cursor follows it; the loaded rows are
            // re-sorted at once meanwhile.
            Action::CycleSort | Action::ReverseSort => {
                if action == Action::CycleSort {
                    self.keys.sort = self.keys.sort.next();
                    self.keys.reversed = false;
                } else {
                    self.keys.reversed = !self.keys.reversed;
                }
                self.keys.rebuild_view();
                self.keys.scroll_into_view(h);
                return self.load_keys(false);
            }
            Action::NewKey => {
                let mut f = KeyForm::create(self.my_env());
                f.errors.clear();
                self.modals.push(Modal::Form(Box::new(f)));
            }
            Action::EditKey => {
                if let Some(k) = self.selected_key() {
                    let f = KeyForm::edit(k);
                    self.modals.push(Modal::Form(Box::new(f)));
                }
            }
            Action::ToggleEnabled => {
                if let Some(k) = self.selected_key().cloned() {
                    if k.enabled {
                        self.ask_disable(&k);
                    } else {
                        let req = UpdateKeyRequest {
                            enabled: Some(true),
                            ..UpdateKeyRequest::default()
                        };
                        return self.change_key(&k, k.version, req, EditOrigin::Toggle);
                    }
                }
            }
            Action::DeleteKey => {
                if let Some(k) = self.selected_key().cloned() {
                    let own = self.is_own_key(&k.id);
                    let used = k.last_used_at.map_or_else(
                        || "It has never been used.".to_owned(),
                        |t| format!("Last used {}.", crate::tui::views::ago(t, self.now)),
                    );
                    let mut body = vec![
                        format!("{} stops working at once. This cannot be undone.", k.id),
                        used,
                    ];
                    if own {
                        body.extend(own_key_warning());
                    }
                    self.confirm_destructive(
                        Pending::Delete {
                            id: k.id.clone(),
                            name: k.name.clone(),
                        },
                        format!("Delete {}?", k.name),
                        body,
                        &k.name,
                        own,
                    );
                }
            }
            Action::CopyId => {
                if let Some(k) = self.selected_key() {
                    return vec![Command::Copy(CopyWhat::KeyId(k.id.clone()))];
                }
            }
            Action::RotateKey => return self.open_rotation(None),
            Action::TestKey => {
                let pk = self.selected_key().map(|k| k.id.clone());
                let base = self.session.url.clone();
                self.modals
                    .push(Modal::Tester(Box::new(super::tester::Tester::new(
                        &base,
                        pk.as_deref(),
                    ))));
            }
            Action::Mark => {
                if let Some(id) = self.selected_key().map(|k| k.id.clone()) {
                    if !self.keys.marked.remove(&id) {
                        self.keys.marked.insert(id);
                    }
                    self.keys.move_by(1, h);
                }
            }
            Action::BulkRotate => return self.open_bulk(),
            Action::Undo => return self.ask_undo(),
            Action::RespondLeak => self.respond_leak_selected(),
            _ => {}
        }
        if self.keys.wants_more(h) {
            return self.load_keys(true);
        }
        Vec::new()
    }

    pub(super) fn confirmed(&mut self, pending: Pending) -> Vec<Command> {
        match pending {
            Pending::Apply {
                id,
                version,
                req,
                origin,
            } => vec![Command::UpdateKey {
                id,
                req: *req,
                version: Some(version),
                origin,
            }],
            Pending::Delete { id, .. } => vec![Command::DeleteKey(id)],
            Pending::Disable { id, version, .. } => vec![Command::UpdateKey {
                id,
                req: UpdateKeyRequest {
                    enabled: Some(false),
                    ..UpdateKeyRequest::default()
                },
                version: Some(version),
                origin: EditOrigin::Toggle,
            }],
            Pending::DiscardSecret => {
                if matches!(self.modals.last(), Some(Modal::Reveal(_))) {
                    self.modals.pop();
                }
                self.toast(
                    "Secret discarded. Rotate the key if it was not stored.",
                    false,
                );
                self.after_wizard_reveal()
            }
            Pending::QuitWithSecret => {
                self.modals.clear();
                self.quit = true;
                Vec::new()
            }
            p @ Pending::Narrow { .. } => self.review_confirmed(p),
            other => self.rotation_confirmed(&other),
        }
    }

    /// Send a change to a key; on a danger profile first show what changes and ask for the
    /// key's name (every change, not only disable and delete).
    pub(super) fn change_key(
        &mut self,
        key: &crate::api::KeyObject,
        version: i64,
        req: UpdateKeyRequest,
        origin: EditOrigin,
    ) -> Vec<Command> {
        if !self.session.danger {
            return vec![Command::UpdateKey {
                id: key.id.clone(),
                req,
                version: Some(version),
                origin,
            }];
        }
        let mut body = vec![format!(
            "{} ({}) on profile {}:",
            key.name, key.id, self.session.profile
        )];
        body.extend(
            change_lines(key, &req)
                .into_iter()
                .map(|l| format!("  {l}")),
        );
        self.modals.push(Modal::Confirm(Confirm {
            title: format!("Change {}?", key.name),
            body,
            pending: Pending::Apply {
                id: key.id.clone(),
                version,
                req: Box::new(req),
                origin,
            },
            type_to_confirm: Some(key.name.clone()),
            typed: Input::default(),
            mismatch: None,
        }));
        Vec::new()
    }

    /// A cancelled change: let its editor take input again.
    pub(super) fn change_cancelled(&mut self, origin: EditOrigin) {
        match origin {
            EditOrigin::Form => {
                if let Some(Modal::Form(f)) = self.modals.last_mut() {
                    f.submitting = false;
                }
            }
            EditOrigin::Scopes => {
                if let Some(ed) = &mut self.scopes.edit {
                    ed.saving = false;
                }
            }
            EditOrigin::Domains => self.domains.saving = false,
            EditOrigin::Toggle | EditOrigin::Wizard | EditOrigin::Review | EditOrigin::Undo => {}
        }
        self.toast("Cancelled: nothing was changed", false);
    }

    /// Disable a key, asking first (the name typed on a danger profile, and for the key
    /// this console uses): from the Keys list, the Review tab and the leak response alike.
    pub(super) fn ask_disable(&mut self, k: &crate::api::KeyObject) {
        if !k.enabled {
            self.toast(format!("{} is already disabled", k.name), false);
            return;
        }
        let own = self.is_own_key(&k.id);
        let mut body = vec![
            format!("{} stops working at once for every client using it.", k.id),
            k.last_used_at.map_or_else(
                || "It has never been used.".to_owned(),
                |t| format!("Last used {}.", crate::tui::views::ago(t, self.now)),
            ),
        ];
        if own {
            body.extend(own_key_warning());
        } else {
            body.push("You can enable it again with Space in the Keys tab.".to_owned());
        }
        let pending = Pending::Disable {
            id: k.id.clone(),
            name: k.name.clone(),
            version: k.version,
        };
        self.confirm_destructive(pending, format!("Disable {}?", k.name), body, &k.name, own);
    }

    /// Whether this is the key the console itself is signed in with.
    pub fn is_own_key(&self, id: &str) -> bool {
        self.me
            .as_ref()
            .and_then(|m| m.key.as_ref())
            .is_some_and(|k| k.id == id)
    }

    /// A confirmation; the name must be typed on a danger profile and whenever `always_type`
    /// (the console's own key).
    pub(super) fn confirm_destructive(
        &mut self,
        pending: Pending,
        title: String,
        body: Vec<String>,
        name: &str,
        always_type: bool,
    ) {
        self.modals.push(Modal::Confirm(Confirm {
            title,
            body,
            pending,
            type_to_confirm: (self.session.danger || always_type).then(|| name.to_owned()),
            typed: Input::default(),
            mismatch: None,
        }));
    }
}
