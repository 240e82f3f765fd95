//! Update logic of the rotation wizard and bulk rotation (state machines in `wizard.rs` and
//! `bulk.rs`).

use std::time::Duration;

use tui_input::{Input, InputRequest};

use super::bulk::{Bulk, BulkStep, Rotated};
use super::modal::{Confirm, Modal, Pending, Reveal};
use super::update::explain;
use super::wizard::{GraceChoice, QUIET_CHOICES, Step, Wizard};
use super::{Action, App, Command, CopyWhat, EditOrigin, TimerKind, UiError};
use crate::api::{KeyObject, KeyUsage, RotateResponse, UpdateKeyRequest};
use crate::tui::views::{ago, thousands, until};

/// How often the cut-over monitor refreshes.
pub const MONITOR_EVERY: Duration = Duration::from_secs(3);

impl App {
    fn wizard_mut(&mut self) -> Option<&mut Wizard> {
        self.modals.iter_mut().rev().find_map(|m| match m {
            Modal::Wizard(w) => Some(w.as_mut()),
            _ => None,
        })
    }

    fn bulk_mut(&mut self) -> Option<&mut Bulk> {
        self.modals.iter_mut().rev().find_map(|m| match m {
            Modal::Bulk(b) => Some(b.as_mut()),
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

    fn confirm(
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

    /// `R`: rotate the marked keys.
    pub fn open_bulk(&mut self) -> Vec<Command> {
        let keys: Vec<KeyObject> = self
            .keys
            .marked
            .iter()
            .filter_map(|id| self.keys.get(id).cloned())
            .filter(|k| k.rotated_to.is_none())
            .collect();
        if keys.is_empty() {
            self.toast(
                "Mark keys with m first (keys already rotated are skipped)",
                true,
            );
            return Vec::new();
        }
        let cmds = keys
            .iter()
            .take(100)
            .map(|k| Command::LoadRotationUsage(k.id.clone()))
            .collect();
        self.modals.push(Modal::Bulk(Box::new(Bulk::new(keys))));
        cmds
    }

    fn bulk_start(&mut self) -> Vec<Command> {
        let Some(b) = self.bulk_mut() else {
            return Vec::new();
        };
        let grace = match b.grace_seconds() {
            Ok(s) => s,
            Err(e) => {
                b.error = Some(e);
                return Vec::new();
            }
        };
        b.step = BulkStep::Running;
        b.keys
            .iter()
            .map(|k| Command::RotateKey {
                id: k.id.clone(),
                grace,
                bulk: true,
            })
            .collect()
    }

    /// Input while the bulk modal is on top.
    pub(super) fn update_bulk(&mut self, action: Action) -> Vec<Command> {
        let reveal = self.settings.reveal;
        let mono = self.mono;
        let danger = self.session.danger;
        let Some(Modal::Bulk(b)) = self.modals.last_mut() else {
            return Vec::new();
        };
        if action == Action::ForceQuit {
            self.quit = true;
            return Vec::new();
        }
        match b.step {
            BulkStep::Plan => {
                let i = GraceChoice::ALL
                    .iter()
                    .position(|g| *g == b.grace)
                    .unwrap_or(0);
                match action {
                    Action::Up => b.grace = GraceChoice::ALL[i.saturating_sub(1)],
                    Action::Down => {
                        b.grace = GraceChoice::ALL[(i + 1).min(GraceChoice::ALL.len() - 1)]
                    }
                    Action::Edit(req) if b.grace == GraceChoice::Custom => {
                        b.custom.handle(req);
                        b.error = b.grace_seconds().err();
                    }
                    Action::Paste(t) if b.grace == GraceChoice::Custom => {
                        for c in t.chars().filter(|c| !c.is_control()) {
                            b.custom.handle(InputRequest::InsertChar(c));
                        }
                        b.error = b.grace_seconds().err();
                    }
                    Action::Back | Action::Quit => {
                        self.modals.pop();
                    }
                    Action::Enter | Action::Save => {
                        // A custom grace that is empty or wrong stops here, not after
                        // the confirmation.
                        if let Err(e) = b.grace_seconds() {
                            b.error = Some(e);
                            return Vec::new();
                        }
                        let n = b.keys.len();
                        let apps = b.apps().join(", ");
                        let traffic = thousands(b.total_traffic());
                        let grace = b.grace_label();
                        let body = vec![
                            format!("{n} keys across {apps}; {traffic} requests in the last hour."),
                            format!("Grace period: {grace}."),
                            "Each gets a new key now; the new secrets are shown once, together."
                                .to_owned(),
                        ];
                        self.confirm(
                            format!("Rotate {n} keys?"),
                            body,
                            Pending::BulkRotate,
                            danger.then(|| format!("rotate {n} keys")),
                        );
                    }
                    _ => {}
                }
            }
            BulkStep::Running => {}
            BulkStep::Done => {
                if let Some(file) = &mut b.file {
                    match action {
                        Action::Edit(req) => {
                            file.handle(req);
                        }
                        Action::Paste(t) => {
                            for c in t.chars().filter(|c| !c.is_control()) {
                                file.handle(InputRequest::InsertChar(c));
                            }
                        }
                        Action::Back => b.file = None,
                        Action::Enter => {
                            let path = file.value().trim().to_owned();
                            b.file = None;
                            if path.is_empty() {
                                return Vec::new();
                            }
                            return vec![Command::WriteSecrets {
                                path,
                                entries: b.env_lines(),
                            }];
                        }
                        _ => {}
                    }
                    return Vec::new();
                }
                let n = b.results.len();
                match action {
                    Action::Up => {
                        b.cursor = b.cursor.saturating_sub(1);
                        b.shown_until = None;
                    }
                    Action::Down => {
                        b.cursor = (b.cursor + 1).min(n.saturating_sub(1));
                        b.shown_until = None;
                    }
                    Action::Reveal => {
                        if b.shown_until.is_some() {
                            b.shown_until = None;
                        } else {
                            self.seq += 1;
                            let id = self.seq;
                            b.shown_until = Some((id, mono + reveal));
                            return vec![Command::Timer(TimerKind::BulkHide(id), reveal)];
                        }
                    }
                    Action::CopySecret => {
                        if let Some(Ok((_, s))) = b.results.get(b.cursor).map(|r| &r.outcome) {
                            return vec![Command::Copy(CopyWhat::Secret(s.clone()))];
                        }
                    }
                    Action::WriteFile => {
                        let stamp = self.now.format("%Y%m%d-%H%M%S");
                        b.file = Some(Input::new(format!("rotated-keys-{stamp}.env")));
                    }
                    Action::Enter => {
                        self.modals.pop();
                        self.toast("New secrets closed. They cannot be shown again.", false);
                    }
                    Action::Back | Action::Quit => {
                        self.confirm(
                            "Close without storing the new secrets?".to_owned(),
                            vec![
                                "They are shown only once. Rotate again if you did not store them."
                                    .to_owned(),
                            ],
                            Pending::CloseBulk,
                            None,
                        );
                    }
                    _ => {}
                }
            }
        }
        Vec::new()
    }

    /// A bulk reveal timer fired.
    pub(super) fn bulk_hide(&mut self, id: u64) {
        if let Some(b) = self.bulk_mut()
            && b.shown_until.is_some_and(|(i, _)| i == id)
        {
            b.shown_until = None;
        }
    }

    /// The secrets file was written.
    pub(super) fn file_written(&mut self, r: &Result<String, String>) {
        match r {
            Ok(path) => {
                let note = format!(
                    "Written to {path} (mode 0600). Delete it once the secrets are stored."
                );
                if let Some(b) = self.bulk_mut() {
                    b.note = Some(note.clone());
                }
                self.toast(note, false);
            }
            Err(e) => self.toast(format!("Could not write the file: {e}"), true),
        }
    }
}
