//! The Usage tab: charts, the stale/old/failure lists and what their rows open.

use super::Loadable;
use super::{Action, App, Command};
use crate::api::BucketSize;
use crate::api::{AuthEvent, KeyObject, KeyUsage, OrgUsage};

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

impl App {
    pub(super) fn load_usage(&mut self, force: bool) -> Vec<Command> {
        let bucket = self.usage.bucket();
        let mut c = vec![Command::LoadOrgUsage(bucket)];
        self.usage.org = Loadable::Loading;
        let selected = self.selected_key().map(|k| k.id.clone());
        let stale_key = self
            .usage
            .key
            .ready()
            .is_none_or(|u| Some(&u.key_id) != selected.as_ref());
        if let Some(id) = selected
            && (force || stale_key || matches!(self.usage.key, Loadable::Idle))
        {
            self.usage.key = Loadable::Loading;
            c.push(Command::LoadKeyUsage(id, bucket));
        }
        if force || matches!(self.usage.stale, Loadable::Idle) {
            self.usage.stale = Loadable::Loading;
            c.push(Command::LoadStale);
        }
        if force || matches!(self.usage.old, Loadable::Idle) {
            self.usage.old = Loadable::Loading;
            c.push(Command::LoadOld);
        }
        if force || matches!(self.usage.failures, Loadable::Idle) {
            self.usage.failures = Loadable::Loading;
            c.push(Command::LoadFailures);
        }
        c
    }

    pub(super) fn update_usage(&mut self, action: Action) -> Vec<Command> {
        let u = &mut self.usage;
        let action = match action {
            Action::SelectRow(pos) if pos != u.cursor && pos < u.panel_len() => {
                u.cursor = pos;
                return Vec::new();
            }
            Action::SelectRow(_) => Action::Enter,
            other => other,
        };
        match action {
            Action::CycleBucket => {
                u.bucket = Some(match u.bucket() {
                    BucketSize::Minute => BucketSize::Hour,
                    BucketSize::Hour => BucketSize::Day,
                    BucketSize::Day => BucketSize::Minute,
                });
                let b = u.bucket();
                u.org = Loadable::Loading;
                let mut c = vec![Command::LoadOrgUsage(b)];
                if let Some(k) = self.keys.selected_key() {
                    u.key = Loadable::Loading;
                    c.push(Command::LoadKeyUsage(k.id.clone(), b));
                }
                return c;
            }
            Action::Right | Action::NextField => {
                let i = UsagePanel::ALL
                    .iter()
                    .position(|p| *p == u.panel)
                    .unwrap_or(0);
                u.panel = UsagePanel::ALL[(i + 1) % UsagePanel::ALL.len()];
                u.cursor = 0;
            }
            Action::Left | Action::PrevField => {
                let i = UsagePanel::ALL
                    .iter()
                    .position(|p| *p == u.panel)
                    .unwrap_or(0);
                u.panel = UsagePanel::ALL[(i + UsagePanel::ALL.len() - 1) % UsagePanel::ALL.len()];
                u.cursor = 0;
            }
            Action::Up => u.cursor = u.cursor.saturating_sub(1),
            Action::Down => u.cursor = (u.cursor + 1).min(u.panel_len().saturating_sub(1)),
            Action::Top => u.cursor = 0,
            Action::Bottom => u.cursor = u.panel_len().saturating_sub(1),
            // Every row names a key or a request: Enter opens it.
            Action::Enter => {
                return match u.selected_row() {
                    Some(UsageRow::Key(id)) => self.open_key(&id),
                    Some(UsageRow::Request(id)) => self.run_command(&format!("request {id}")),
                    None => Vec::new(),
                };
            }
            _ => {}
        }
        Vec::new()
    }

    /// One of the Usage tab's lists or charts arrived.
    pub(super) fn usage_loaded(&mut self, a: Action) {
        match a {
            Action::OrgUsageLoaded(r) => self.usage.org = Loadable::from_result(r),
            Action::KeyUsageLoaded(r) => self.usage.key = Loadable::from_result(r),
            Action::StaleLoaded(r) => self.usage.stale = Loadable::from_result(r),
            Action::OldLoaded(r) => self.usage.old = Loadable::from_result(r),
            Action::FailuresLoaded(r) => self.usage.failures = Loadable::from_result(r),
            _ => {}
        }
    }
}
