//! The rotation wizard as a pure state machine: Review → Grace → Rotate (one-time reveal) →
//! Cut over (live monitor) → Finish. `Esc` goes back one step where going back means
//! something; once the key is rotated the rotation cannot be undone, only finished. Its
//! update and the cut-over monitor's polling are the `App` methods below.

use chrono::{DateTime, Duration, Utc};
use tui_input::Input;

use crate::api::{KeyObject, KeyUsage, UsageBucket};
use std::time::Duration as StdDuration;

use tui_input::InputRequest;

use super::bulk::{BulkStep, Rotated};
use super::explain;
use super::modal::{Confirm, Modal, Pending, Reveal};
use super::{Action, App, Command, EditOrigin, TimerKind, UiError};
use crate::api::{RotateResponse, UpdateKeyRequest};
use crate::tui::views::{ago, thousands, until};

/// The steps, numbered as the crumb row shows them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Step {
    /// 1/5: what the key is and how busy it is.
    Review,
    /// 2/5: how long the old key keeps working.
    Grace,
    /// 3/5: rotating, then the new secret once.
    Rotate,
    /// 4/5: traffic moving from the old key to the new one.
    CutOver,
    /// 5/5: expire the old key now or keep the grace period.
    Finish,
}

impl Step {
    /// 1-based number.
    pub fn number(self) -> u8 {
        match self {
            Step::Review => 1,
            Step::Grace => 2,
            Step::Rotate => 3,
            Step::CutOver => 4,
            Step::Finish => 5,
        }
    }

    /// Title.
    pub fn title(self) -> &'static str {
        match self {
            Step::Review => "Review",
            Step::Grace => "Grace period",
            Step::Rotate => "Rotate",
            Step::CutOver => "Cut over",
            Step::Finish => "Finish",
        }
    }
}

/// Grace choices.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum GraceChoice {
    /// 0 s.
    Now,
    /// 1 h.
    Hour,
    /// 24 h.
    Day,
    /// 7 d.
    Week,
    /// Typed.
    Custom,
}

impl GraceChoice {
    /// All, in order.
    pub const ALL: [GraceChoice; 5] = [
        GraceChoice::Now,
        GraceChoice::Hour,
        GraceChoice::Day,
        GraceChoice::Week,
        GraceChoice::Custom,
    ];

    /// Label.
    pub fn label(self) -> &'static str {
        match self {
            GraceChoice::Now => "now (no grace: the old key stops at once)",
            GraceChoice::Hour => "1 hour",
            GraceChoice::Day => "24 hours",
            GraceChoice::Week => "7 days",
            GraceChoice::Custom => "custom…",
        }
    }
}

/// Parse a duration like `90s`, `15m`, `36h`, `2d` (at most 30 days).
pub fn parse_duration(s: &str) -> Result<u32, String> {
    let s = s.trim();
    let (num, unit) = s.split_at(s.find(|c: char| !c.is_ascii_digit()).unwrap_or(s.len()));
    let n: u64 = num
        .parse()
        .map_err(|_| "use e.g. 90s, 15m, 36h or 2d".to_owned())?;
    let secs = match unit.trim() {
        "s" | "" => n,
        "m" => n * 60,
        "h" => n * 3_600,
        "d" => n * 86_400,
        _ => return Err("use e.g. 90s, 15m, 36h or 2d".to_owned()),
    };
    if secs > u64::from(crate::api::MAX_GRACE_SECONDS) {
        return Err("at most 30 days".to_owned());
    }
    u32::try_from(secs).map_err(|_| "at most 30 days".to_owned())
}

/// Quiet periods the monitor can wait for.
pub const QUIET_CHOICES: [i64; 4] = [5, 15, 30, 60];

/// The wizard.
#[derive(Debug, Clone)]
pub struct Wizard {
    /// Current step.
    pub step: Step,
    /// The key being rotated (as it was when the wizard opened, then as the server returned it).
    pub old: KeyObject,
    /// The new key, once rotated.
    pub new: Option<KeyObject>,
    /// Last-hour usage of the old key (per minute).
    pub old_usage: Option<KeyUsage>,
    /// Recent usage of the new key.
    pub new_usage: Option<KeyUsage>,
    /// Grace choice.
    pub grace: GraceChoice,
    /// Custom grace input.
    pub custom: Input,
    /// Why the custom grace is invalid.
    pub grace_error: Option<String>,
    /// A request is in flight.
    pub busy: bool,
    /// The server's refusal, in plain words.
    pub error: Option<String>,
    /// When the new key was first seen in use.
    pub new_first_used: Option<DateTime<Utc>>,
    /// Quiet period choice (index into [`QUIET_CHOICES`]).
    pub quiet: usize,
    /// Finish: expire now (true) or keep the grace (false).
    pub expire_now: bool,
    /// Monitor timer generation (stale timers are ignored).
    pub monitor: u64,
}

impl Wizard {
    /// The key contexts the wizard reports: typing keys while a custom grace is typed.
    pub fn contexts(&self) -> Vec<crate::tui::keymap::Context> {
        use crate::tui::keymap::Context;
        if self.step == Step::Grace && self.grace == GraceChoice::Custom {
            vec![Context::WizardText]
        } else {
            vec![Context::Wizard]
        }
    }

    /// Open on a key at step 1.
    pub fn new(key: KeyObject) -> Wizard {
        Wizard {
            step: Step::Review,
            old: key,
            new: None,
            old_usage: None,
            new_usage: None,
            grace: GraceChoice::Day,
            custom: Input::default(),
            grace_error: None,
            busy: false,
            error: None,
            new_first_used: None,
            quiet: 0,
            expire_now: false,
            monitor: 0,
        }
    }

    /// Open straight on the monitor for a key already in its grace period.
    pub fn monitor(old: KeyObject, new: KeyObject) -> Wizard {
        let mut w = Wizard::new(old);
        w.new = Some(new);
        w.step = Step::CutOver;
        w
    }

    /// The grace in seconds (custom parsed), or why not.
    pub fn grace_seconds(&self) -> Result<u32, String> {
        match self.grace {
            GraceChoice::Now => Ok(0),
            GraceChoice::Hour => Ok(3_600),
            GraceChoice::Day => Ok(86_400),
            GraceChoice::Week => Ok(7 * 86_400),
            GraceChoice::Custom => parse_duration(self.custom.value()),
        }
    }

    /// Requests of the old key in its loaded last hour.
    pub fn last_hour_requests(&self) -> u64 {
        self.old_usage
            .as_ref()
            .map_or(0, |u| u.buckets.iter().map(UsageBucket::total).sum())
    }

    /// Whether the old key was used in the last 24 hours.
    pub fn used_recently(&self, now: DateTime<Utc>) -> bool {
        self.old
            .last_used_at
            .is_some_and(|t| now - t < Duration::hours(24))
            || self.last_hour_requests() > 0
    }

    /// Requests per minute over the last `minutes` of a usage series, averaged over the
    /// key's real age when it is younger than that (a 2-minute-old key's 216 requests are
    /// 108 per minute, not 3.6).
    pub fn rpm(
        usage: Option<&KeyUsage>,
        minutes: usize,
        created: DateTime<Utc>,
        now: DateTime<Utc>,
    ) -> f64 {
        let Some(u) = usage else { return 0.0 };
        let n = u
            .buckets
            .len()
            .min(minutes)
            .min(age_minutes(created, now))
            .max(1);
        let sum: u64 = u.buckets.iter().rev().take(n).map(UsageBucket::total).sum();
        sum as f64 / n as f64
    }

    /// The old key's requests per minute over the last `minutes`.
    pub fn old_rpm(&self, minutes: usize, now: DateTime<Utc>) -> f64 {
        Self::rpm(self.old_usage.as_ref(), minutes, self.old.created_at, now)
    }

    /// The new key's requests per minute over the last `minutes`.
    pub fn new_rpm(&self, minutes: usize, now: DateTime<Utc>) -> f64 {
        self.new.as_ref().map_or(0.0, |n| {
            Self::rpm(self.new_usage.as_ref(), minutes, n.created_at, now)
        })
    }

    /// The quiet period in minutes.
    pub fn quiet_minutes(&self) -> i64 {
        QUIET_CHOICES[self.quiet % QUIET_CHOICES.len()]
    }

    /// Minutes since the old key last had traffic: the newest busy bucket of the loaded
    /// series, or its known `last_used_at` if that is more recent (None: no data yet).
    pub fn old_quiet_for(&self, now: DateTime<Utc>) -> Option<i64> {
        let u = self.old_usage.as_ref()?;
        let last_busy = u
            .buckets
            .iter()
            .rev()
            .find(|b| b.total() > 0)
            .map(|b| b.start + Duration::minutes(1));
        let last = match (last_busy, self.old.last_used_at) {
            (Some(a), Some(b)) => Some(a.max(b)),
            (a, b) => a.or(b),
        };
        Some(match last {
            Some(t) => (now - t).num_minutes().max(0),
            // Never used: quiet for as long as it has existed (within the loaded range).
            None => i64::try_from(u.buckets.len().min(age_minutes(self.old.created_at, now)))
                .unwrap_or(0),
        })
    }

    /// Whether the old key has been quiet for the chosen period.
    pub fn old_is_quiet(&self, now: DateTime<Utc>) -> bool {
        self.old_quiet_for(now)
            .is_some_and(|m| m >= self.quiet_minutes())
    }

    /// Fold new monitor data in, marking the new key's first use.
    pub fn observe(&mut self, old: Option<KeyUsage>, new: Option<KeyUsage>) {
        if let Some(o) = old {
            self.old_usage = Some(o);
        }
        if let Some(n) = new {
            if self.new_first_used.is_none() {
                self.new_first_used = n.buckets.iter().find(|b| b.total() > 0).map(|b| b.start);
            }
            self.new_usage = Some(n);
        }
    }

    /// Where `Esc` goes: `None` closes the wizard.
    pub fn back(&self) -> Option<Step> {
        match self.step {
            Step::Review => None,
            Step::Grace => Some(Step::Review),
            // After the rotation there is nothing to go back to: the new key exists.
            Step::Rotate | Step::CutOver => Some(self.step),
            Step::Finish => Some(Step::CutOver),
        }
    }

    /// Whether the old key is still live because of this wizard.
    pub fn old_still_live(&self, now: DateTime<Utc>) -> bool {
        self.new.is_some() && self.old.expires_at.is_some_and(|t| t > now)
    }

    /// Whether expiring the old key now needs the name typed (it had traffic in the quiet
    /// period).
    pub fn expire_needs_typing(&self, now: DateTime<Utc>) -> bool {
        !self.old_is_quiet(now)
    }
}

/// Whole minutes a key created at `created` has existed, rounded up (at least 1).
pub fn age_minutes(created: DateTime<Utc>, now: DateTime<Utc>) -> usize {
    usize::try_from(((now - created).num_seconds().max(1) + 59) / 60).unwrap_or(1)
}

/// How often the cut-over monitor refreshes.
pub const MONITOR_EVERY: StdDuration = StdDuration::from_secs(3);

impl App {
    pub(super) fn wizard_mut(&mut self) -> Option<&mut Wizard> {
        self.modals.iter_mut().rev().find_map(|m| match m {
            Modal::Wizard(w) => Some(w.as_mut()),
            _ => None,
        })
    }

    /// `r` on a key, or `:rotate <id>`: the wizard, or the monitor of a rotation in progress.
    pub fn open_rotation(&mut self, id: Option<&str>) -> Vec<Command> {
        let key = match id {
            Some(id) => self.keys.get(id).cloned(),
            None => self.selected_key().cloned(),
        };
        let Some(key) = key else {
            self.toast(
                match id {
                    Some(id) => format!("{id} is not loaded; filter for it first (/)"),
                    None => "Select a key to rotate".to_owned(),
                },
                true,
            );
            return Vec::new();
        };
        self.open_rotation_of(key)
    }

    /// The wizard (or the monitor of a rotation in progress) on this key.
    pub(super) fn open_rotation_of(&mut self, key: KeyObject) -> Vec<Command> {
        if let Some(to) = key.rotated_to.clone() {
            if key.expires_at.is_some_and(|t| t > self.now) {
                let new = self.keys.get(&to).cloned().unwrap_or_else(|| KeyObject {
                    id: to.clone(),
                    rotated_from: Some(key.id.clone()),
                    rotated_to: None,
                    expires_at: None,
                    ..key.clone()
                });
                self.modals
                    .push(Modal::Wizard(Box::new(Wizard::monitor(key.clone(), new))));
                return self.monitor_tick();
            }
            self.toast(
                format!(
                    "{} was already rotated to {to}; rotate the new key instead",
                    key.name
                ),
                true,
            );
            return Vec::new();
        }
        let id = key.id.clone();
        self.modals.push(Modal::Wizard(Box::new(Wizard::new(key))));
        vec![Command::LoadRotationUsage(id)]
    }

    fn monitor_tick(&mut self) -> Vec<Command> {
        let Some(w) = self.wizard_mut() else {
            return Vec::new();
        };
        if w.step != Step::CutOver && w.step != Step::Finish {
            return Vec::new();
        }
        w.monitor += 1;
        let generation = w.monitor;
        let mut cmds = vec![Command::LoadRotationUsage(w.old.id.clone())];
        if let Some(n) = &w.new {
            cmds.push(Command::LoadRotationUsage(n.id.clone()));
        }
        cmds.push(Command::Timer(
            TimerKind::Monitor(generation),
            MONITOR_EVERY,
        ));
        cmds
    }

    /// A monitor timer fired.
    pub(super) fn monitor_fired(&mut self, generation: u64) -> Vec<Command> {
        match self.wizard_mut() {
            Some(w) if w.monitor == generation => self.monitor_tick(),
            _ => Vec::new(),
        }
    }

    /// Usage arrived for the wizard or the bulk plan.
    pub(super) fn rotation_usage(
        &mut self,
        key_id: &str,
        result: Result<KeyUsage, UiError>,
    ) -> Vec<Command> {
        let Ok(u) = result else { return Vec::new() };
        if let Some(w) = self.wizard_mut() {
            if w.old.id == key_id {
                w.observe(Some(u.clone()), None);
            } else if w.new.as_ref().is_some_and(|n| n.id == key_id) {
                w.observe(None, Some(u.clone()));
            }
        }
        if let Some(b) = self.bulk_mut() {
            b.traffic
                .insert(key_id.to_owned(), u.buckets.iter().map(|x| x.total()).sum());
        }
        Vec::new()
    }

    /// A rotation answered.
    pub(super) fn key_rotated(
        &mut self,
        id: &str,
        bulk: bool,
        result: Result<RotateResponse, UiError>,
    ) -> Vec<Command> {
        if let Ok(r) = &result {
            self.keys.replace(r.previous.clone());
            self.keys.insert_front(r.key.clone());
        }
        if bulk {
            if let Some(b) = self.bulk_mut() {
                let old = b.keys.iter().find(|k| k.id == id).cloned();
                if let Some(old) = old {
                    b.results.push(Rotated {
                        old,
                        outcome: result.map(|r| (r.key, r.secret)).map_err(|e| explain(&e)),
                    });
                }
                if b.finished() {
                    b.step = BulkStep::Done;
                    self.keys.marked.clear();
                }
            }
            return Vec::new();
        }
        let now = self.now;
        let Some(w) = self.wizard_mut() else {
            // The wizard was closed meanwhile: the secret must still be shown once.
            if let Ok(r) = result {
                self.modals.push(Modal::Reveal(Box::new(Reveal {
                    title: "Rotated".to_owned(),
                    key_id: r.key.id.clone(),
                    key_name: r.key.name.clone(),
                    secret: r.secret,
                    shown_until: None,
                    copied: None,
                })));
            }
            return Vec::new();
        };
        w.busy = false;
        match result {
            Ok(r) => {
                w.old = r.previous.clone();
                w.new = Some(r.key.clone());
                w.error = None;
                let name = r.key.name.clone();
                let expires = r
                    .previous
                    .expires_at
                    .map_or_else(|| "now".to_owned(), |t| until(t, now));
                self.modals.push(Modal::Reveal(Box::new(Reveal {
                    title: format!("New key (old key expires {expires})"),
                    key_id: r.key.id.clone(),
                    key_name: name,
                    secret: r.secret,
                    shown_until: None,
                    copied: None,
                })));
            }
            Err(e) => {
                w.step = Step::Grace;
                w.error = Some(explain(&e));
            }
        }
        Vec::new()
    }

    /// The wizard's reveal closed: on to the monitor.
    pub(super) fn after_wizard_reveal(&mut self) -> Vec<Command> {
        match self.wizard_mut() {
            Some(w) if w.step == Step::Rotate => {
                w.step = Step::CutOver;
                self.monitor_tick()
            }
            _ => Vec::new(),
        }
    }

    fn rotate_now(&mut self) -> Vec<Command> {
        let Some(w) = self.wizard_mut() else {
            return Vec::new();
        };
        match w.grace_seconds() {
            Ok(grace) => {
                w.step = Step::Rotate;
                w.busy = true;
                vec![Command::RotateKey {
                    id: w.old.id.clone(),
                    grace,
                    bulk: false,
                }]
            }
            Err(e) => {
                w.grace_error = Some(e);
                Vec::new()
            }
        }
    }

    fn expire_old(&mut self) -> Vec<Command> {
        let now = self.now;
        let Some(w) = self.wizard_mut() else {
            return Vec::new();
        };
        w.busy = true;
        vec![Command::UpdateKey {
            id: w.old.id.clone(),
            req: UpdateKeyRequest {
                expires_at: Some(Some(now)),
                ..UpdateKeyRequest::default()
            },
            version: Some(w.old.version),
            origin: EditOrigin::Wizard,
        }]
    }

    /// The finish step's PATCH answered.
    pub(super) fn wizard_finished(&mut self, result: Result<KeyObject, UiError>) {
        match result {
            Ok(k) => {
                self.modals.retain(|m| !matches!(m, Modal::Wizard(_)));
                self.toast(format!("Rotation finished: {} expired", k.id), false);
            }
            Err(e) => {
                if let Some(w) = self.wizard_mut() {
                    w.busy = false;
                    w.error = Some(explain(&e));
                }
            }
        }
    }

    /// Answers to the wizard's and bulk modal's confirmations.
    pub(super) fn rotation_confirmed(&mut self, pending: &Pending) -> Vec<Command> {
        match pending {
            Pending::RotateNow => self.rotate_now(),
            Pending::ExpireOld => self.expire_old(),
            Pending::LeaveWizard => {
                let note = self.wizard_mut().and_then(|w| {
                    w.old.expires_at.map(|t| {
                        format!(
                            "{} stays live until {}",
                            w.old.id,
                            t.format("%Y-%m-%d %H:%M UTC")
                        )
                    })
                });
                self.modals.retain(|m| !matches!(m, Modal::Wizard(_)));
                if let Some(n) = note {
                    self.toast(
                        format!("Grace period kept: {n}. r on it reopens the monitor."),
                        false,
                    );
                }
                Vec::new()
            }
            Pending::BulkRotate => self.bulk_start(),
            Pending::CloseBulk => {
                self.modals.retain(|m| !matches!(m, Modal::Bulk(_)));
                Vec::new()
            }
            _ => Vec::new(),
        }
    }

    pub(super) fn confirm(
        &mut self,
        title: String,
        body: Vec<String>,
        pending: Pending,
        type_name: Option<String>,
    ) {
        self.modals.push(Modal::Confirm(Confirm {
            title,
            body,
            pending,
            type_to_confirm: type_name,
            typed: Input::default(),
            mismatch: None,
        }));
    }

    /// Input while the wizard is on top.
    pub(super) fn update_wizard(&mut self, action: Action) -> Vec<Command> {
        let now = self.now;
        let danger = self.session.danger;
        let Some(Modal::Wizard(w)) = self.modals.last_mut() else {
            return Vec::new();
        };
        if action == Action::ForceQuit {
            self.quit = true;
            return Vec::new();
        }
        match w.step {
            Step::Review => match action {
                Action::Enter | Action::Right | Action::NextField => w.step = Step::Grace,
                Action::Back | Action::Quit => {
                    self.modals.pop();
                }
                _ => {}
            },
            Step::Grace => {
                let i = GraceChoice::ALL
                    .iter()
                    .position(|g| *g == w.grace)
                    .unwrap_or(0);
                match action {
                    Action::Up => w.grace = GraceChoice::ALL[i.saturating_sub(1)],
                    Action::Down => {
                        w.grace = GraceChoice::ALL[(i + 1).min(GraceChoice::ALL.len() - 1)]
                    }
                    Action::Edit(req) if w.grace == GraceChoice::Custom => {
                        w.custom.handle(req);
                        w.grace_error = w.grace_seconds().err();
                    }
                    Action::Paste(t) if w.grace == GraceChoice::Custom => {
                        for c in t.chars().filter(|c| !c.is_control()) {
                            w.custom.handle(InputRequest::InsertChar(c));
                        }
                        w.grace_error = w.grace_seconds().err();
                    }
                    Action::Back => w.step = Step::Review,
                    Action::Quit => {
                        self.modals.pop();
                    }
                    Action::Enter | Action::Save => {
                        if let Err(e) = w.grace_seconds() {
                            w.grace_error = Some(e);
                            return Vec::new();
                        }
                        if w.grace == GraceChoice::Now && w.used_recently(now) {
                            let traffic = w.last_hour_requests();
                            let last = w
                                .old
                                .last_used_at
                                .map_or_else(|| "recently".to_owned(), |t| ago(t, now));
                            let (id, name) = (w.old.id.clone(), w.old.name.clone());
                            self.confirm(
                                format!("Rotate {name} with no grace period?"),
                                vec![
                                    format!(
                                        "{id} served {} requests in the last hour and was last used {last}.",
                                        thousands(traffic)
                                    ),
                                    "With no grace every client still using it gets 401 key_expired at once.".to_owned(),
                                ],
                                Pending::RotateNow,
                                danger.then_some(name),
                            );
                            return Vec::new();
                        }
                        return self.rotate_now();
                    }
                    _ => {}
                }
            }
            Step::Rotate => match action {
                Action::Back | Action::Quit => {
                    self.toast(
                        "The rotation is in flight; its new secret will be shown once.",
                        false,
                    );
                }
                _ => {}
            },
            Step::CutOver => match action {
                Action::Enter | Action::Right | Action::NextField => {
                    w.step = Step::Finish;
                    w.expire_now = false;
                }
                Action::Toggle | Action::Left => w.quiet = (w.quiet + 1) % QUIET_CHOICES.len(),
                Action::Back => {
                    self.toast(
                        "The new key exists; Enter goes on to finish, q leaves (grace kept).",
                        false,
                    );
                }
                Action::Quit => return self.leave_wizard(),
                Action::Refresh => return self.monitor_tick(),
                _ => {}
            },
            Step::Finish => match action {
                Action::Up | Action::Down | Action::Toggle | Action::Left | Action::Right => {
                    w.expire_now = !w.expire_now
                }
                Action::Back => w.step = Step::CutOver,
                Action::Quit => return self.leave_wizard(),
                Action::Enter | Action::Save => {
                    if !w.expire_now {
                        return self.rotation_confirmed(&Pending::LeaveWizard);
                    }
                    if w.expire_needs_typing(now) {
                        let quiet = w.quiet_minutes();
                        let (id, name) = (w.old.id.clone(), w.old.name.clone());
                        let rpm = w.old_rpm(5, now);
                        self.confirm(
                            format!("Expire {id} now?"),
                            vec![
                                format!("It still had traffic in the last {quiet} minutes (about {rpm:.1} requests per minute)."),
                                "Clients still using it get 401 key_expired at once.".to_owned(),
                            ],
                            Pending::ExpireOld,
                            Some(name),
                        );
                        return Vec::new();
                    }
                    return self.expire_old();
                }
                _ => {}
            },
        }
        Vec::new()
    }

    fn leave_wizard(&mut self) -> Vec<Command> {
        let now = self.now;
        let Some(w) = self.wizard_mut() else {
            return Vec::new();
        };
        if !w.old_still_live(now) {
            self.modals.retain(|m| !matches!(m, Modal::Wizard(_)));
            return Vec::new();
        }
        let (id, exp) = (w.old.id.clone(), w.old.expires_at);
        self.confirm(
            "Leave the rotation?".to_owned(),
            vec![
                format!(
                    "The old key {id} is still live until {}.",
                    exp.map_or_else(
                        || "its grace ends".to_owned(),
                        |t| format!("{} ({})", t.format("%Y-%m-%d %H:%M UTC"), until(t, now))
                    )
                ),
                "The grace period is kept; r on the key reopens the monitor.".to_owned(),
            ],
            Pending::LeaveWizard,
            None,
        );
        Vec::new()
    }

    // ----- bulk -----
}

/// Test helpers shared by the app's unit tests.
#[cfg(test)]
pub(crate) mod tests_support {
    use crate::api::KeyObject;
    use crate::domain::key::Env;
    use crate::domain::record::KeyStatus;

    /// A key with this name.
    pub fn key(name: &str) -> KeyObject {
        let t = chrono::DateTime::from_timestamp(1_800_000_000, 0).unwrap_or_default();
        KeyObject {
            id: "pk_live_old".into(),
            name: name.into(),
            org_id: "org".into(),
            env: Env::Live,
            app_id: None,
            scopes: vec![],
            allowed_domains: vec![],
            enabled: true,
            status: KeyStatus::Active,
            secret_hint: "…abcd".into(),
            created_at: t,
            updated_at: t,
            expires_at: None,
            last_used_at: None,
            rotated_from: None,
            rotated_to: None,
            version: 1,
            owner: None,
            description: None,
            leaked_at: None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::api::BucketSize;
    use crate::domain::key::Env;
    use crate::domain::record::KeyStatus;

    fn now() -> DateTime<Utc> {
        DateTime::from_timestamp(1_800_000_000, 0).expect("time")
    }

    fn key() -> KeyObject {
        KeyObject {
            id: "pk_live_old".into(),
            name: "Backend".into(),
            org_id: "org".into(),
            env: Env::Live,
            app_id: None,
            scopes: vec![],
            allowed_domains: vec![],
            enabled: true,
            status: KeyStatus::Active,
            secret_hint: "…abcd".into(),
            created_at: now() - Duration::days(100),
            updated_at: now(),
            expires_at: None,
            last_used_at: None,
            rotated_from: None,
            rotated_to: None,
            version: 1,
            owner: None,
            description: None,
            leaked_at: None,
        }
    }

    fn usage(per_minute: &[u64]) -> KeyUsage {
        let n = per_minute.len();
        KeyUsage {
            key_id: "k".into(),
            bucket: BucketSize::Minute,
            buckets: per_minute
                .iter()
                .enumerate()
                .map(|(i, &ok)| UsageBucket {
                    start: BucketSize::Minute.floor(now()) - Duration::minutes((n - 1 - i) as i64),
                    ok,
                    ..UsageBucket::default()
                })
                .collect(),
        }
    }

    #[test]
    fn durations() {
        assert_eq!(parse_duration("90s"), Ok(90));
        assert_eq!(parse_duration("15m"), Ok(900));
        assert_eq!(parse_duration("36h"), Ok(129_600));
        assert_eq!(parse_duration("2d"), Ok(172_800));
        assert_eq!(parse_duration("3600"), Ok(3600));
        assert!(parse_duration("31d").is_err());
        assert!(parse_duration("soon").is_err());
        assert!(parse_duration("").is_err());
    }

    #[test]
    fn back_never_undoes_a_rotation() {
        let mut w = Wizard::new(key());
        assert_eq!(w.back(), None);
        w.step = Step::Grace;
        assert_eq!(w.back(), Some(Step::Review));
        w.step = Step::CutOver;
        assert_eq!(w.back(), Some(Step::CutOver));
        w.step = Step::Finish;
        assert_eq!(w.back(), Some(Step::CutOver));
    }

    #[test]
    fn grace_choices() {
        let mut w = Wizard::new(key());
        w.grace = GraceChoice::Now;
        assert_eq!(w.grace_seconds(), Ok(0));
        w.grace = GraceChoice::Week;
        assert_eq!(w.grace_seconds(), Ok(604_800));
        w.grace = GraceChoice::Custom;
        assert!(w.grace_seconds().is_err());
        w.custom = Input::new("45m".into());
        assert_eq!(w.grace_seconds(), Ok(2_700));
    }

    #[test]
    fn traffic_recent_use_and_quiet_periods() {
        let mut w = Wizard::new(key());
        assert!(!w.used_recently(now()));
        w.observe(
            Some(usage(&[3, 3, 0, 0, 0, 0, 0, 0])),
            Some(usage(&[0, 0, 0, 0, 0, 2, 4, 4])),
        );
        assert!(w.used_recently(now()));
        assert_eq!(w.last_hour_requests(), 6);
        assert_eq!(w.old_quiet_for(now()), Some(5));
        assert!(
            w.old_is_quiet(now()),
            "5 minutes quiet meets the 5-minute period"
        );
        w.quiet = 1;
        assert!(!w.old_is_quiet(now()));
        assert!(w.expire_needs_typing(now()));
        assert!(w.new_first_used.is_some());
        let old = w.old.created_at - Duration::days(1);
        assert!((Wizard::rpm(w.new_usage.as_ref(), 3, old, now()) - 10.0 / 3.0).abs() < 1e-9);
        // A key two minutes old: its last two minutes, not three.
        let young = now() - Duration::minutes(2);
        assert!((Wizard::rpm(w.new_usage.as_ref(), 3, young, now()) - 4.0).abs() < 1e-9);
    }

    /// Issue 12, defect 1: a 5-minute-old key that was never used is quiet for 5 minutes,
    /// not for the 60 minutes of the loaded range.
    #[test]
    fn a_young_unused_key_is_quiet_only_for_its_age() {
        let mut k = key();
        k.created_at = now() - Duration::minutes(5);
        k.last_used_at = None;
        let mut w = Wizard::new(k);
        w.observe(Some(usage(&[0; 60])), None);
        assert_eq!(w.old_quiet_for(now()), Some(5));
    }
}
