//! Bulk rotation: marked keys rotated with one grace period after a blast-radius summary;
//! the new secrets are shown in one reveal with a copy per key and can be written once to a
//! file created with mode 0600 (`NAME=secret` lines). Nothing else persists a secret.

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

    /// `NAME=secret` lines for the file: names upper-cased, non-alphanumerics as `_`,
    /// duplicates numbered.
    pub fn env_lines(&self) -> Vec<(String, Secret)> {
        let mut used: BTreeMap<String, usize> = BTreeMap::new();
        let mut out = Vec::new();
        for r in &self.results {
            if let Ok((_, secret)) = &r.outcome {
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
                let n = used.entry(name.clone()).or_insert(0);
                *n += 1;
                if *n > 1 {
                    name = format!("{name}_{n}");
                }
                out.push((name, secret.clone()));
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
        for name in [
            "Production Backend [demo]",
            "Production-Backend",
            "1st key",
            "∅",
        ] {
            k.name = name.to_owned();
            b.results.push(Rotated {
                old: k.clone(),
                outcome: Ok((k.clone(), Secret::new("sk_live_x".into()))),
            });
        }
        let names: Vec<String> = b.env_lines().into_iter().map(|(n, _)| n).collect();
        assert_eq!(
            names,
            [
                "PRODUCTION_BACKEND_DEMO",
                "PRODUCTION_BACKEND",
                "KEY_1ST_KEY",
                "KEY_"
            ]
        );
    }
}
