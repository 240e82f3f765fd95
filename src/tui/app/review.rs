//! Leaks and access review in the console (issue 10): the Review tab (findings of
//! `GET /v1/review` grouped by kind, with actions), the leak response on a key (rotate with a
//! chosen grace, or disable), and what the key detail adds: sightings of a leaked key and the
//! use of each held scope in the last 30 days.
//!
//! Everything here is state and update; `tui::views::review` draws it.

use std::collections::BTreeSet;

use super::Loadable;
use super::explain;
use super::form::{Field, KeyForm};
use super::modal::{Modal, Pending};
use super::wizard::GraceChoice;
use super::{Action, App, Command, DetailPane, EditOrigin, Tab, TaskResult};
use crate::api::{KeyObject, LeakSighting, Review, ReviewFinding, ScopeUsage, UpdateKeyRequest};
use crate::domain::review::FindingKind;

/// Sightings asked for per leaked key (the newest first).
pub const SIGHTINGS: u32 = 20;

/// What the key detail shows beyond the key object, for one key at a time.
#[derive(Debug, Default)]
pub struct Insights {
    /// The key these answers are (being) loaded for.
    pub key_id: Option<String>,
    /// `GET /v1/keys/{id}/scope-usage` (30 days).
    pub scope_usage: Loadable<ScopeUsage>,
    /// `GET /v1/keys/{id}/leaks`, only for a key with `leaked_at`.
    pub sightings: Loadable<Vec<LeakSighting>>,
}

/// The Review tab and the key detail's insights.
#[derive(Debug, Default)]
pub struct ReviewState {
    /// The last review.
    pub data: Loadable<Review>,
    /// Selected finding (index into the review's findings, which the server groups by kind,
    /// leaked first).
    pub selected: usize,
    /// First visible row of the grouped list (headers count as rows).
    pub offset: usize,
    /// A key changed since the review was loaded: reload when it is next shown.
    pub stale: bool,
    /// A (re)load is in flight.
    pub loading: bool,
    /// The key detail's extra answers.
    pub insights: Insights,
}

impl ReviewState {
    /// The findings, when loaded.
    pub fn findings(&self) -> &[ReviewFinding] {
        self.data.ready().map_or(&[], |r| r.findings.as_slice())
    }

    /// The selected finding.
    pub fn selected_finding(&self) -> Option<&ReviewFinding> {
        self.findings().get(self.selected)
    }

    /// A key as the review last saw it.
    pub fn key(&self, id: &str) -> Option<&KeyObject> {
        self.findings()
            .iter()
            .find(|f| f.key.id == id)
            .map(|f| &f.key)
    }

    /// Kinds present, in review order, with their counts.
    pub fn counts(&self) -> Vec<(FindingKind, usize)> {
        let f = self.findings();
        FindingKind::ALL
            .into_iter()
            .map(|k| (k, f.iter().filter(|x| x.kind == k.as_str()).count()))
            .filter(|(_, n)| *n > 0)
            .collect()
    }

    /// The grouped list: a header per kind, then its findings (by index).
    pub fn rows(&self) -> Vec<ReviewRow> {
        let mut rows = Vec::new();
        let f = self.findings();
        for (kind, n) in self.counts() {
            rows.push(ReviewRow::Header(kind, n));
            rows.extend(
                f.iter()
                    .enumerate()
                    .filter(|(_, x)| x.kind == kind.as_str())
                    .map(|(i, _)| ReviewRow::Finding(i)),
            );
        }
        rows
    }

    /// Keep the selected finding inside a window of `height` rows.
    pub fn scroll_into_view(&mut self, height: usize) {
        let rows = self.rows();
        let pos = rows
            .iter()
            .position(|r| *r == ReviewRow::Finding(self.selected))
            .unwrap_or(0);
        // Show the group header above the first finding of a group.
        let top = if pos > 0 && matches!(rows[pos - 1], ReviewRow::Header(..)) {
            pos - 1
        } else {
            pos
        };
        let h = height.max(1);
        if top < self.offset {
            self.offset = top;
        } else if pos >= self.offset + h {
            self.offset = pos + 1 - h;
        }
        self.offset = self.offset.min(rows.len().saturating_sub(h));
    }
}

/// One row of the grouped list.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ReviewRow {
    /// A kind and how many findings it has.
    Header(FindingKind, usize),
    /// A finding (index into the review's findings).
    Finding(usize),
}

/// The leak response on one key: rotate (the wizard, where the grace is chosen) or disable.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LeakChoice {
    /// The key.
    pub key: KeyObject,
    /// 0: rotate, 1: disable.
    pub choice: usize,
}

/// The scope diff of narrowing a key to the suggested set: (removed, kept, added).
pub fn scope_diff(
    held: &[String],
    suggested: &[String],
) -> (Vec<String>, Vec<String>, Vec<String>) {
    let held: BTreeSet<&String> = held.iter().collect();
    let want: BTreeSet<&String> = suggested.iter().collect();
    (
        held.difference(&want).map(|s| (*s).clone()).collect(),
        held.intersection(&want).map(|s| (*s).clone()).collect(),
        want.difference(&held).map(|s| (*s).clone()).collect(),
    )
}

/// Whether a key can still authenticate (enabled, not expired): what makes a leak urgent
/// (`KeyStatus::can_authenticate`).
pub fn usable(k: &KeyObject) -> bool {
    k.status.can_authenticate()
}

/// Whether this action changes keys on the server (the review may then be out of date).
pub fn changes_keys(action: &Action) -> bool {
    matches!(
        action,
        Action::KeyUpdated { result: Ok(_), .. }
            | Action::KeyRotated { result: Ok(_), .. }
            | Action::KeyDeleted { result: Ok(()), .. }
            | Action::KeyCreated(Ok(_))
    )
}

/// Rows of the Review tab's bottom panel (the selected finding), when the terminal is tall
/// enough for it.
pub const PANEL_ROWS: u16 = 8;

impl App {
    /// Height of the Review tab's bottom panel (0 on short terminals).
    pub fn review_panel(&self) -> u16 {
        if self.size.1 >= 20 { PANEL_ROWS } else { 0 }
    }

    /// Rows of the grouped list that fit, read from the frame's layout (what the view draws).
    pub fn review_rows(&self) -> usize {
        let (list, _) = super::layout::review_split(self.screen().body, self.review_panel());
        super::layout::review_list_rows(list).max(1)
    }

    /// Ask for the review.
    pub fn load_review(&mut self) -> Vec<Command> {
        self.review.stale = false;
        self.review.loading = true;
        if !matches!(self.review.data, Loadable::Ready(_)) {
            self.review.data = Loadable::Loading;
        }
        vec![Command::LoadReview]
    }

    /// Entering the tab: load once, and again after a key changed.
    pub(super) fn enter_review(&mut self) -> Vec<Command> {
        if matches!(self.review.data, Loadable::Idle | Loadable::Failed(_)) || self.review.stale {
            self.load_review()
        } else {
            Vec::new()
        }
    }

    /// Results of the review's and the detail's calls.
    pub(super) fn review_result(&mut self, action: Action) -> Vec<Command> {
        match action {
            Action::ReviewLoaded(r) => {
                self.review.loading = false;
                match r {
                    Ok(review) => {
                        let keep = self.review.selected_finding().map(|f| f.key.id.clone());
                        let n = review.findings.len();
                        self.review.selected = keep
                            .and_then(|id| review.findings.iter().position(|f| f.key.id == id))
                            .unwrap_or(self.review.selected)
                            .min(n.saturating_sub(1));
                        self.review.data = Loadable::Ready(review);
                        let h = self.review_rows();
                        self.review.scroll_into_view(h);
                    }
                    Err(e) => {
                        // Keep showing the last review; say that the reload failed.
                        if matches!(self.review.data, Loadable::Ready(_)) {
                            self.toast(
                                format!("Reloading the review failed: {}", explain(&e)),
                                true,
                            );
                        } else {
                            self.review.data = Loadable::Failed(e);
                        }
                    }
                }
            }
            Action::ScopeUsageLoaded { key_id, result }
                if self.review.insights.key_id.as_deref() == Some(key_id.as_str()) =>
            {
                self.review.insights.scope_usage = Loadable::from_result(result);
            }
            Action::SightingsLoaded { key_id, result }
                if self.review.insights.key_id.as_deref() == Some(key_id.as_str()) =>
            {
                self.review.insights.sightings = Loadable::from_result(result);
            }
            _ => {}
        }
        Vec::new()
    }

    /// The key whose detail is on screen: the Keys tab's pane, or the detail modal.
    fn detail_key(&self) -> Option<&KeyObject> {
        if let Some(Modal::Detail(id)) = self.modals.last() {
            return self.keys.get(id);
        }
        if self.modals.is_empty() && self.tab == Tab::Keys && self.detail_pane() != DetailPane::None
        {
            return self.selected_key();
        }
        None
    }

    /// After every action: reload what a key change made stale, and load the insights of
    /// the key whose detail is shown (once per key).
    pub(super) fn review_follow(&mut self, changed: bool) -> Vec<Command> {
        let mut cmds = Vec::new();
        if changed {
            self.review.insights.key_id = None;
            if !matches!(self.review.data, Loadable::Idle) {
                self.review.stale = true;
            }
        }
        if self.review.stale && self.tab == Tab::Review && self.modals.is_empty() {
            cmds.extend(self.load_review());
        }
        let Some(key) = self.detail_key() else {
            return cmds;
        };
        if self.review.insights.key_id.as_deref() == Some(key.id.as_str()) {
            return cmds;
        }
        let (id, leaked) = (key.id.clone(), key.leaked_at.is_some());
        self.review.insights = Insights {
            key_id: Some(id.clone()),
            scope_usage: Loadable::Loading,
            sightings: if leaked {
                Loadable::Loading
            } else {
                Loadable::Idle
            },
        };
        cmds.push(Command::LoadScopeUsage(id.clone()));
        if leaked {
            cmds.push(Command::LoadSightings(id));
        }
        cmds
    }

    /// Input on the Review tab.
    pub(super) fn update_review(&mut self, action: Action) -> Vec<Command> {
        let h = self.review_rows();
        let n = self.review.findings().len();
        if let Some(to) = super::list_move(&action, self.review.selected, n, h) {
            self.review.selected = to;
            self.review.scroll_into_view(h);
            return Vec::new();
        }
        match self.review.selected_finding().cloned() {
            Some(f) => self.review_act(action, f),
            None => Vec::new(),
        }
    }

    fn review_act(&mut self, action: Action, f: ReviewFinding) -> Vec<Command> {
        let key = f.key.clone();
        match action {
            Action::Enter => self.open_key(&key.id),
            Action::SetOwner => {
                self.open_owner_form(&key);
                Vec::new()
            }
            Action::NarrowScopes => {
                self.narrow(&f);
                Vec::new()
            }
            Action::ToggleEnabled => {
                self.ask_disable(&key);
                Vec::new()
            }
            Action::RotateKey => self.rotate_key_object(key),
            Action::RespondLeak => {
                self.open_leak_choice(key);
                Vec::new()
            }
            _ => Vec::new(),
        }
    }

    /// Show a key in the Keys tab: select it when loaded, else filter for its id.
    pub fn open_key(&mut self, id: &str) -> Vec<Command> {
        self.tab = Tab::Keys;
        let h = self.table_height();
        let mut cmds = Vec::new();
        match self.keys.position_of(id) {
            Some(pos) => {
                self.keys.selected = pos;
                self.keys.scroll_into_view(h);
            }
            None => {
                self.keys.filter = id.to_owned();
                self.keys.rebuild_view();
                cmds = self.load_keys(false);
            }
        }
        if !self.wide() {
            self.modals.push(Modal::Detail(id.to_owned()));
        }
        cmds
    }

    /// The edit form with focus on the owner.
    fn open_owner_form(&mut self, key: &KeyObject) {
        let mut f = KeyForm::edit(key);
        f.focus = Field::Owner;
        self.modals.push(Modal::Form(Box::new(f)));
    }

    /// Narrow a key to its suggested scopes: the diff first, in a confirmation.
    fn narrow(&mut self, f: &ReviewFinding) {
        let Some(suggested) = f.suggested.clone() else {
            self.toast(
                "Only an over-privileged finding has a suggested scope set",
                true,
            );
            return;
        };
        let k = &f.key;
        if suggested.is_empty() {
            self.toast(
                format!(
                    "No request of {} needed a scope in 30 days; disable it instead",
                    k.name
                ),
                true,
            );
            return;
        }
        let (removed, kept, added) = scope_diff(&k.scopes, &suggested);
        let mut body = vec![
            format!("Now:   {}", k.scopes.join(" ")),
            format!("After: {}", suggested.join(" ")),
        ];
        for s in &removed {
            body.push(format!("  - {s}  (no request needed it in 30 days)"));
        }
        for s in &kept {
            body.push(format!("  = {s}"));
        }
        for s in &added {
            body.push(format!("  + {s}  (covers requests a wildcard allowed)"));
        }
        body.push("A request that needs a removed scope gets 403 insufficient_scope.".to_owned());
        let pending = Pending::Narrow {
            id: k.id.clone(),
            name: k.name.clone(),
            version: k.version,
            scopes: suggested,
        };
        self.confirm_destructive(
            pending,
            format!("Narrow the scopes of {}?", k.name),
            body,
            &k.name,
            false,
        );
    }
    /// `L` on a key: rotate it (the wizard, grace chosen there) or disable it.
    pub(super) fn open_leak_choice(&mut self, key: KeyObject) {
        self.modals
            .push(Modal::Leak(Box::new(LeakChoice { key, choice: 0 })));
    }

    /// `L` on the Keys tab.
    pub(super) fn respond_leak_selected(&mut self) {
        match self.selected_key().cloned() {
            Some(k) => self.open_leak_choice(k),
            None => self.toast("Select a key first", true),
        }
    }

    /// Input while the leak response is on top.
    pub(super) fn update_leak_choice(&mut self, action: Action) -> Vec<Command> {
        let Some(Modal::Leak(c)) = self.modals.last_mut() else {
            return Vec::new();
        };
        match action {
            Action::Up | Action::Down | Action::Toggle | Action::Left | Action::Right => {
                c.choice = 1 - c.choice.min(1);
            }
            Action::Back | Action::Quit | Action::No => {
                self.modals.pop();
            }
            Action::ForceQuit => self.quit = true,
            Action::Enter | Action::Yes => {
                let (key, choice) = (c.key.clone(), c.choice);
                self.modals.pop();
                if choice == 0 {
                    return self.rotate_key_object(key);
                }
                self.ask_disable(&key);
            }
            _ => {}
        }
        Vec::new()
    }

    /// The rotation wizard on a key; a leaked key starts with no grace selected, since the
    /// leaked secret keeps working for as long as the grace lasts.
    pub(super) fn rotate_key_object(&mut self, key: KeyObject) -> Vec<Command> {
        let leaked = key.leaked_at.is_some() && key.rotated_to.is_none();
        let cmds = self.open_rotation_of(key);
        if leaked && let Some(Modal::Wizard(w)) = self.modals.last_mut() {
            w.grace = GraceChoice::Now;
        }
        cmds
    }

    /// A confirmed review action.
    pub(super) fn review_confirmed(&mut self, pending: Pending) -> Vec<Command> {
        match pending {
            Pending::Narrow {
                id,
                version,
                scopes,
                ..
            } => vec![Command::UpdateKey {
                id,
                req: UpdateKeyRequest {
                    scopes: Some(scopes),
                    ..UpdateKeyRequest::default()
                },
                version: Some(version),
                origin: EditOrigin::Review,
            }],
            _ => Vec::new(),
        }
    }

    /// A review action's PATCH answered.
    pub(super) fn review_key_updated(&mut self, result: TaskResult<KeyObject>) {
        match result {
            Ok(k) => self.toast(
                format!("Scopes of {} narrowed to {}", k.name, k.scopes.join(" ")),
                false,
            ),
            Err(e) => self.toast(format!("Not changed: {}", explain(&e)), true),
        }
    }
}
