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
