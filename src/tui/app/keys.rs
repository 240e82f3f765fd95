//! The Keys tab's list: rows loaded page by page from the server, a local filter that narrows
//! the loaded rows at once (bounded work), and the index view that rendering slices.

use std::collections::BTreeSet;

use crate::api::KeyObject;

use super::UiError;

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
