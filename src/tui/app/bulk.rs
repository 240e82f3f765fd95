//! Bulk rotation: marked keys rotated with one grace period after a blast-radius summary;
//! the new secrets are shown in one reveal with a copy per key and can be written once to a
//! file created with mode 0600: per key a `#` comment naming the key, its new id and the old
//! one, then `NAME_SUFFIX=secret`, where SUFFIX is the new key id's last six characters, so
//! two keys of one name never collide. Nothing else persists a secret.

use std::collections::BTreeMap;

use tokio::time::Instant;
use tui_input::Input;

use crate::api::KeyObject;
use crate::domain::key::Secret;

use super::wizard::GraceChoice;

use tui_input::InputRequest;

use super::modal::{Modal, Pending};
use super::{Action, App, Command, CopyWhat, TimerKind};
use crate::tui::views::thousands;

/// Where the bulk rotation is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BulkStep {
    /// Summary and grace choice.
    Plan,
    /// Rotations in flight.
    Running,
    /// Secrets shown.
    Done,
}

/// One rotated key.
#[derive(Debug, Clone)]
pub struct Rotated {
    /// The old key.
    pub old: KeyObject,
    /// The new key and its secret, or why it failed.
    pub outcome: Result<(KeyObject, Secret), String>,
}

/// One key's lines in the secrets file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SecretLine {
    /// `Billing worker: new key pk_live_…, rotated from pk_live_…` (no secret).
    pub comment: String,
    /// The variable name, `BILLING_WORKER_1a2B3c`.
    pub name: String,
    /// The new key's secret.
    pub secret: Secret,
}

/// How many of the new key id's last characters end the variable name.
pub const ID_SUFFIX: usize = 6;

/// The bulk rotation modal.
#[derive(Debug, Clone)]
pub struct Bulk {
    /// Step.
    pub step: BulkStep,
    /// Keys to rotate, frozen when `R` was pressed.
    pub keys: Vec<KeyObject>,
    /// Last-hour requests per key id (as loaded).
    pub traffic: BTreeMap<String, u64>,
    /// Grace choice.
    pub grace: GraceChoice,
    /// Custom grace input.
    pub custom: Input,
    /// Error in the plan (e.g. a bad custom grace).
    pub error: Option<String>,
    /// Results, in key order.
    pub results: Vec<Rotated>,
    /// Selected row (Done).
    pub cursor: usize,
    /// The selected secret is visible until then.
    pub shown_until: Option<(u64, Instant)>,
    /// File path being typed (`w`).
    pub file: Option<Input>,
    /// What was saved or copied, for the footer.
    pub note: Option<String>,
}

impl Bulk {
    /// The key contexts bulk rotation reports: typing (a file name, a custom grace), the
    /// plan, or the new secrets.
    pub fn contexts(&self) -> Vec<crate::tui::keymap::Context> {
        use crate::tui::keymap::Context;
        let typing = self.file.is_some()
            || (self.step == BulkStep::Plan && self.grace == GraceChoice::Custom);
        if typing {
            vec![Context::BulkText]
        } else if self.step == BulkStep::Done {
            vec![Context::Bulk]
        } else {
            vec![Context::BulkPlan]
        }
    }

    /// A plan for these keys.
    pub fn new(keys: Vec<KeyObject>) -> Bulk {
        Bulk {
            step: BulkStep::Plan,
            keys,
            traffic: BTreeMap::new(),
            grace: GraceChoice::Day,
            custom: Input::default(),
            error: None,
            results: Vec::new(),
            cursor: 0,
            shown_until: None,
            file: None,
            note: None,
        }
    }

    /// Distinct apps of the marked keys (`org-scoped` for none).
    pub fn apps(&self) -> Vec<String> {
        let mut apps: Vec<String> = self
            .keys
            .iter()
            .map(|k| k.app_id.clone().unwrap_or_else(|| "org-scoped".to_owned()))
            .collect();
        apps.sort();
        apps.dedup();
        apps
    }

    /// Requests in the last hour across the marked keys.
    pub fn total_traffic(&self) -> u64 {
        self.traffic.values().sum()
    }

    /// Whether every rotation has answered.
    pub fn finished(&self) -> bool {
        self.results.len() == self.keys.len()
    }

    /// The grace chosen, in seconds, or why the custom value is not one.
    pub fn grace_seconds(&self) -> Result<u32, String> {
        match self.grace {
            GraceChoice::Now => Ok(0),
            GraceChoice::Hour => Ok(3_600),
            GraceChoice::Day => Ok(86_400),
            GraceChoice::Week => Ok(604_800),
            GraceChoice::Custom if self.custom.value().trim().is_empty() => {
                Err("type a grace period, e.g. 90s, 15m, 36h or 2d".to_owned())
            }
            GraceChoice::Custom => super::wizard::parse_duration(self.custom.value()),
        }
    }

    /// The grace as the confirmation says it: the label, or the custom value typed.
    pub fn grace_label(&self) -> String {
        match self.grace {
            GraceChoice::Custom => self.custom.value().trim().to_owned(),
            g => g.label().to_owned(),
        }
    }

    /// The file's lines, one [`SecretLine`] per rotated key: the name upper-cased with
    /// non-alphanumerics as `_`, then `_` and the new key id's last [`ID_SUFFIX`]
    /// characters (numbered too in the unlikely case two still collide).
    pub fn env_lines(&self) -> Vec<SecretLine> {
        let mut used: BTreeMap<String, usize> = BTreeMap::new();
        let mut out = Vec::new();
        for r in &self.results {
            if let Ok((new, secret)) = &r.outcome {
                let mut name: String = r
                    .old
                    .name
                    .chars()
                    .map(|c| {
                        if c.is_ascii_alphanumeric() {
                            c.to_ascii_uppercase()
                        } else {
                            '_'
                        }
                    })
                    .collect();
                name = name.trim_matches('_').to_owned();
                while name.contains("__") {
                    name = name.replace("__", "_");
                }
                if name.is_empty() || name.starts_with(|c: char| c.is_ascii_digit()) {
                    name = format!("KEY_{name}");
                }
                let suffix: String = {
                    let tail: Vec<char> =
                        new.id.chars().filter(char::is_ascii_alphanumeric).collect();
                    tail[tail.len().saturating_sub(ID_SUFFIX)..]
                        .iter()
                        .collect()
                };
                name = format!("{}_{suffix}", name.trim_end_matches('_'));
                let n = used.entry(name.clone()).or_insert(0);
                *n += 1;
                if *n > 1 {
                    name = format!("{name}_{n}");
                }
                let label: String = r.old.name.chars().filter(|c| !c.is_control()).collect();
                out.push(SecretLine {
                    comment: format!("{label}: new key {}, rotated from {}", new.id, r.old.id),
                    name,
                    secret: secret.clone(),
                });
            }
        }
        out
    }
}

impl App {
    pub(super) fn bulk_mut(&mut self) -> Option<&mut Bulk> {
        self.modals.iter_mut().rev().find_map(|m| match m {
            Modal::Bulk(b) => Some(b.as_mut()),
            _ => None,
        })
    }

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

    pub(super) fn bulk_start(&mut self) -> Vec<Command> {
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn env_names_are_shell_safe_and_unique() {
        let mut k = crate::tui::app::wizard::tests_support::key("Production Backend [demo]");
        let mut b = Bulk::new(vec![k.clone()]);
        for (i, name) in [
            "Production Backend [demo]",
            "Production-Backend",
            "Production Backend",
            "1st key",
            "∅",
        ]
        .into_iter()
        .enumerate()
        {
            k.name = name.to_owned();
            k.id = format!("pk_live_old{i}");
            let mut new = k.clone();
            new.id = format!("pk_live_00000000000000000aB3c{i}");
            b.results.push(Rotated {
                old: k.clone(),
                outcome: Ok((new, Secret::new("sk_live_x".into()))),
            });
        }
        let lines = b.env_lines();
        let names: Vec<&str> = lines.iter().map(|l| l.name.as_str()).collect();
        assert_eq!(
            names,
            [
                "PRODUCTION_BACKEND_DEMO_0aB3c0",
                "PRODUCTION_BACKEND_0aB3c1",
                "PRODUCTION_BACKEND_0aB3c2",
                "KEY_1ST_KEY_0aB3c3",
                "KEY_0aB3c4"
            ],
            "two keys of one name do not collide: the new key id ends each"
        );
        assert_eq!(
            lines[1].comment,
            "Production-Backend: new key pk_live_00000000000000000aB3c1, rotated from pk_live_old1"
        );
    }
}
