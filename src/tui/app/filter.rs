//! The Keys filter (`/`): free text plus prefixes the server's filters answer, so finding keys
//! by scope, status, owner, app or environment takes one line:
//! `/scope:webhooks:write status:disabled billing`.
//!
//! - `scope:<scope>` keys whose scopes grant it (wildcards count; `GET /v1/keys?scope=`). A
//!   word that is itself a scope (`webhooks:write`, `runs:*`, `*`) means the same.
//! - `status:active|disabled|expiring|expired`, `env:live|test`, `owner:<owner>` (one word,
//!   case-insensitive), `app:<app id>`.
//! - Everything else is free text on the name or id (`q=`).
//!
//! A prefix with a value the server would refuse (`status:gone`) is not sent: the crumb row
//! says why, and the rest of the filter still applies.

use crate::api::{KeyObject, ListKeysQuery};
use crate::domain::scope::{Scope, ScopeSet};

/// The prefixes, for the crumb row's hint and the help.
pub const PREFIXES: [&str; 5] = ["scope:", "status:", "owner:", "app:", "env:"];

const STATUSES: [&str; 4] = ["active", "disabled", "expiring", "expired"];
const ENVS: [&str; 2] = ["live", "test"];

/// A parsed filter line.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct KeyFilter {
    /// Free text (name or id).
    pub text: String,
    /// `scope:`.
    pub scope: Option<String>,
    /// `status:`.
    pub status: Option<String>,
    /// `owner:`.
    pub owner: Option<String>,
    /// `app:`.
    pub app: Option<String>,
    /// `env:`.
    pub env: Option<String>,
    /// Why a prefix was left out (`status: use active, disabled, expiring or expired`).
    pub problems: Vec<String>,
}

impl KeyFilter {
    /// Parse a filter line.
    pub fn parse(line: &str) -> KeyFilter {
        let mut f = KeyFilter::default();
        let mut text: Vec<&str> = Vec::new();
        for word in line.split_whitespace() {
            let Some((prefix, value)) = word.split_once(':') else {
                // `*` on its own is the scope that grants everything.
                if word == "*" {
                    f.set_scope(word);
                } else {
                    text.push(word);
                }
                continue;
            };
            let value = value.trim();
            match prefix.to_ascii_lowercase().as_str() {
                "scope" => f.set_scope(value),
                "status" => {
                    let v = value.to_ascii_lowercase();
                    if STATUSES.contains(&v.as_str()) {
                        f.status = Some(v);
                    } else {
                        f.problems
                            .push(format!("status: use {}", STATUSES.join(", ")));
                    }
                }
                "env" => {
                    let v = value.to_ascii_lowercase();
                    if ENVS.contains(&v.as_str()) {
                        f.env = Some(v);
                    } else {
                        f.problems.push("env: use live or test".to_owned());
                    }
                }
                "owner" if !value.is_empty() => f.owner = Some(value.to_owned()),
                "app" if !value.is_empty() => f.app = Some(value.to_owned()),
                "owner" | "app" => f.problems.push(format!("{prefix}: give a value")),
                // A scope on its own (`webhooks:write`, `runs:*`).
                _ if Scope::parse(word).is_ok() => f.set_scope(word),
                _ => text.push(word),
            }
        }
        f.text = text.join(" ");
        f
    }

    fn set_scope(&mut self, value: &str) {
        if Scope::parse(value).is_ok() {
            self.scope = Some(value.to_owned());
        } else {
            self.problems.push(format!(
                "scope: `{value}` is not a scope (resource:action, resource:* or *)"
            ));
        }
    }

    /// Whether anything but free text is set.
    pub fn has_prefixes(&self) -> bool {
        self.scope.is_some()
            || self.status.is_some()
            || self.owner.is_some()
            || self.app.is_some()
            || self.env.is_some()
    }

    /// `query` with this filter's fields set.
    pub fn apply(&self, query: ListKeysQuery) -> ListKeysQuery {
        let text = self.text.trim();
        ListKeysQuery {
            q: (!text.is_empty()).then(|| text.to_owned()),
            scope: self.scope.clone(),
            status: self.status.clone(),
            owner: self.owner.clone(),
            app_id: self.app.clone(),
            env: self.env.clone(),
            ..query
        }
    }

    /// Whether a loaded key matches, as the server would answer (the local narrowing while
    /// the server's answer is on its way).
    pub fn matches(&self, k: &KeyObject) -> bool {
        let needle = self.text.to_lowercase();
        (needle.is_empty()
            || k.name.to_lowercase().contains(&needle)
            || k.id.to_lowercase().contains(&needle))
            && self
                .status
                .as_deref()
                .is_none_or(|s| k.status.as_str() == s)
            && self.env.as_deref().is_none_or(|e| k.env.as_str() == e)
            && self
                .app
                .as_deref()
                .is_none_or(|a| k.app_id.as_deref() == Some(a))
            && self.owner.as_deref().is_none_or(|o| {
                k.owner
                    .as_deref()
                    .is_some_and(|ko| ko.trim().eq_ignore_ascii_case(o))
            })
            && self.scope.as_deref().is_none_or(|s| {
                match (ScopeSet::parse(&k.scopes), Scope::parse(s)) {
                    (Ok(set), Ok(want)) => set.covers(&want),
                    _ => false,
                }
            })
    }

    /// For the crumb row: `scope webhooks:write · status disabled · “billing”`.
    pub fn describe(&self) -> String {
        let mut parts = Vec::new();
        for (name, v) in [
            ("scope", &self.scope),
            ("status", &self.status),
            ("owner", &self.owner),
            ("app", &self.app),
            ("env", &self.env),
        ] {
            if let Some(v) = v {
                parts.push(format!("{name} {v}"));
            }
        }
        if !self.text.is_empty() {
            parts.push(format!("“{}”", self.text));
        }
        parts.join(" · ")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prefixes_and_bare_scopes_become_server_filters() {
        let f = KeyFilter::parse("scope:webhooks:write status:Disabled billing worker");
        assert_eq!(f.scope.as_deref(), Some("webhooks:write"));
        assert_eq!(f.status.as_deref(), Some("disabled"));
        assert_eq!(f.text, "billing worker");
        let q = f.apply(ListKeysQuery::default());
        assert_eq!(q.scope.as_deref(), Some("webhooks:write"));
        assert_eq!(q.status.as_deref(), Some("disabled"));
        assert_eq!(q.q.as_deref(), Some("billing worker"));

        let f = KeyFilter::parse("webhooks:write");
        assert_eq!(f.scope.as_deref(), Some("webhooks:write"), "a bare scope");
        assert_eq!(f.text, "");
        assert_eq!(KeyFilter::parse("runs:*").scope.as_deref(), Some("runs:*"));
        assert_eq!(KeyFilter::parse("*").scope.as_deref(), Some("*"));

        let f = KeyFilter::parse("owner:ana env:test app:app_1");
        assert_eq!(
            (f.owner.as_deref(), f.env.as_deref(), f.app.as_deref()),
            (Some("ana"), Some("test"), Some("app_1"))
        );
        assert_eq!(f.describe(), "owner ana · app app_1 · env test");

        // Free text stays free text.
        let f = KeyFilter::parse("Service 01");
        assert_eq!(f.text, "Service 01");
        assert!(!f.has_prefixes());
    }

    #[test]
    fn a_value_the_server_would_refuse_is_not_sent_and_says_why() {
        let f = KeyFilter::parse("status:gone env:prod scope:Bad billing");
        assert_eq!(
            (f.status.clone(), f.env.clone(), f.scope.clone()),
            (None, None, None)
        );
        assert_eq!(f.text, "billing");
        assert_eq!(f.problems.len(), 3, "{:?}", f.problems);
        assert!(f.problems[0].contains("active, disabled, expiring, expired"));
    }
}
