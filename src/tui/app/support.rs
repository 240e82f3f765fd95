//! Support: what to do about an auth failure, in plain words; `:request <req_…>` (the auth
//! event behind a customer's request id, with the key's current state) and `:hint <last4>
//! [id prefix]` (the keys a customer reads out by their last characters).

use chrono::{DateTime, Utc};

use crate::api::{AuthEvent, KeyObject};
use crate::domain::scope::{Scope, ScopeSet};

/// What a lookup found. (Boxed where it travels; the size difference does not matter.)
#[derive(Debug, Clone, PartialEq, Eq)]
#[allow(clippy::large_enum_variant)]
pub enum Lookup {
    /// Waiting for the server.
    Loading(String),
    /// The auth event of a request id and the key it names, as it is now.
    Request {
        /// The request id asked for.
        request_id: String,
        /// The event, if recorded in this org.
        event: Option<AuthEvent>,
        /// The key now (`None`: not named, or deleted).
        key: Option<KeyObject>,
    },
    /// Keys matching a secret's last characters (and an id prefix).
    Hint {
        /// What was asked.
        query: String,
        /// Matching keys.
        keys: Vec<KeyObject>,
        /// Cursor.
        cursor: usize,
    },
    /// The lookup failed.
    Failed(String),
}

/// The fix for an auth failure code, in plain words, using what is known about the key now.
pub fn fix_for(
    code: &str,
    key: Option<&KeyObject>,
    required: &[String],
    now: DateTime<Utc>,
) -> String {
    let name = key.map_or_else(
        || "the key".to_owned(),
        |k| format!("{} ({})", k.name, k.id),
    );
    match code {
        "missing_credentials" => {
            "Send the key: `Authorization: Bearer <secret>` or `x-api-key: <secret>`.".to_owned()
        }
        "malformed_credentials" => "Send exactly `Bearer <key>` (one space, no quotes) and check the key was not truncated or mistyped when copied.".to_owned(),
        "invalid_key" => match key {
            Some(k) if !k.enabled || k.expires_at.is_some_and(|t| t <= now) => format!(
                "{name} exists but is {}; the secret sent does not match a working key.",
                if k.enabled { "expired" } else { "disabled" }
            ),
            Some(_) => format!("The secret sent does not belong to {name}: the public key and secret come from different keys, or the secret was mistyped."),
            None => "The key is unknown, deleted, or from another environment or organization: check live vs test, or create a new key.".to_owned(),
        },
        "key_disabled" => format!("{name} is disabled. Enable it (Space in Keys) if it should work, or move the client to another key."),
        "key_expired" => match key {
            Some(k) => match (&k.rotated_to, k.expires_at) {
                (Some(new), Some(at)) => format!(
                    "Rotated to {new}; the old key's grace ended {}: switch the client to the new key.",
                    at.format("%Y-%m-%d %H:%M UTC")
                ),
                (None, Some(at)) => format!(
                    "{name} expired on {}: rotate it, or clear its expiry (e in Keys).",
                    at.format("%Y-%m-%d %H:%M UTC")
                ),
                _ => format!("{name} no longer expires; retry the request."),
            },
            None => "The key expired and has since been deleted: create a new key.".to_owned(),
        },
        "insufficient_scope" => {
            // The ones the key lacks now, when it is known; else all the request needed.
            let held = key.and_then(|k| ScopeSet::parse(&k.scopes).ok());
            let missing: Vec<&String> = required
                .iter()
                .filter(|r| {
                    held.as_ref().is_none_or(|h| {
                        Scope::parse(r).map_or(true, |s| !h.covers(&s))
                    })
                })
                .collect();
            let need = match (missing.is_empty(), required.is_empty()) {
                (_, true) => "the required scope".to_owned(),
                // The key holds them all by now (granted since the request).
                (true, false) => {
                    return format!(
                        "{name} holds {} now (granted since this request): retry it.",
                        required.join(", ")
                    );
                }
                (false, false) => missing
                    .iter()
                    .map(|s| s.as_str())
                    .collect::<Vec<_>>()
                    .join(", "),
            };
            format!("Grant {need} to {name} (Scopes tab), or use a key that holds it.")
        }
        "origin_not_allowed" => format!(
            "Add the calling site's domain to {name}'s allowed domains (Domains tab), or call from a backend with the secret."
        ),
        "app_mismatch" => match key.and_then(|k| k.app_id.clone()) {
            Some(app) => format!("{name} is bound to app {app}: send x-app-id {app}, or use an org-scoped key."),
            None => "The x-app-id names no app of this organization: check the app id.".to_owned(),
        },
        "rate_limited" => "Too many failed attempts from that address: wait for Retry-After, then fix the credential.".to_owned(),
        other => format!("Code {other}: see the error message."),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tui::app::wizard::tests_support::key;

    #[test]
    fn expired_after_rotation_names_the_new_key() {
        let mut k = key("Backend");
        let now = DateTime::from_timestamp(1_800_000_000, 0).unwrap_or_default();
        k.rotated_to = Some("pk_live_new".into());
        k.expires_at = Some(now - chrono::Duration::hours(1));
        let fix = fix_for("key_expired", Some(&k), &[], now);
        assert!(
            fix.contains("Rotated to pk_live_new") && fix.contains("switch"),
            "{fix}"
        );
        let fix = fix_for("insufficient_scope", Some(&k), &["keys:write".into()], now);
        assert!(fix.contains("keys:write") && fix.contains("Backend"));
        // Only what the key lacks is named; all of it granted since: retry.
        k.scopes = vec!["runs:read".into()];
        let fix = fix_for(
            "insufficient_scope",
            Some(&k),
            &["runs:read".into(), "webhooks:write".into()],
            now,
        );
        assert!(fix.starts_with("Grant webhooks:write to"), "{fix}");
        k.scopes = vec!["*".into()];
        let fix = fix_for(
            "insufficient_scope",
            Some(&k),
            &["runs:read".into(), "webhooks:write".into()],
            now,
        );
        assert!(fix.contains("granted since this request"), "{fix}");
        for code in [
            "missing_credentials",
            "malformed_credentials",
            "invalid_key",
            "key_disabled",
            "origin_not_allowed",
            "app_mismatch",
            "rate_limited",
        ] {
            assert!(!fix_for(code, None, &[], now).is_empty());
        }
    }
}
