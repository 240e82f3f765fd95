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
            let missing = missing_scopes(key, required);
            let need = match (missing.is_empty(), required.is_empty()) {
                (_, true) => "the required scope".to_owned(),
                // The key holds them all by now (granted since the request).
                (true, false) => {
                    return format!(
                        "{name} holds {} now (granted since this request): retry it.",
                        required.join(", ")
                    );
                }
                (false, false) => missing.join(", "),
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

/// What the key still lacks of `required` (all of it when the key is unknown).
fn missing_scopes<'a>(key: Option<&KeyObject>, required: &'a [String]) -> Vec<&'a str> {
    let held = key.and_then(|k| ScopeSet::parse(&k.scopes).ok());
    required
        .iter()
        .filter(|r| {
            held.as_ref()
                .is_none_or(|h| Scope::parse(r).map_or(true, |s| !h.covers(&s)))
        })
        .map(String::as_str)
        .collect()
}

/// A reply for the customer behind a refused request, in their terms: what happened to
/// their request and what they can do. It names the request, the key by its public id
/// (safe to show) and the last characters of its secret as they would read them out, and
/// never a secret, an internal note or a console key.
pub fn customer_reply(event: &AuthEvent, key: Option<&KeyObject>) -> String {
    let when = event.at.format("%Y-%m-%d %H:%M UTC");
    let which = key.map_or_else(
        || "the key it sent".to_owned(),
        |k| {
            format!(
                "the key {} (secret ending {})",
                k.id,
                k.secret_hint.trim_start_matches('…')
            )
        },
    );
    let what = match event.code.as_str() {
        "missing_credentials" => "It carried no API key. Send your secret key as \
             `Authorization: Bearer <secret key>` or `x-api-key: <secret key>`."
            .to_owned(),
        "malformed_credentials" => "Its Authorization header was not in the expected form. \
             Send exactly `Authorization: Bearer <secret key>` (one space, no quotes), and \
             check that the key was copied whole."
            .to_owned(),
        "invalid_key" => "The key it sent is not a valid key of your account. Check that \
             you use the intended key (live or test) and that it was copied whole; if it \
             was replaced, use the new key."
            .to_owned(),
        "key_disabled" => format!(
            "{} is disabled, so requests with it are refused. Use another active key, or \
             ask us to enable it again.",
            capitalise(&which)
        ),
        "key_expired" => match key.map(|k| (&k.rotated_to, k.expires_at)) {
            Some((Some(new), Some(at))) => format!(
                "{} was replaced by the key {new}, and the old key stopped working on {}. \
                 Please switch to the new key.",
                capitalise(&which),
                at.format("%Y-%m-%d %H:%M UTC")
            ),
            Some((None, Some(at))) => format!(
                "{} expired on {}. Please use a current key; we can issue one.",
                capitalise(&which),
                at.format("%Y-%m-%d %H:%M UTC")
            ),
            _ => "The key it sent has expired. Please use a current key; we can issue one."
                .to_owned(),
        },
        "insufficient_scope" => {
            let missing = missing_scopes(key, &event.required_scopes);
            match (missing.is_empty(), event.required_scopes.is_empty()) {
                (_, true) => format!(
                    "{} is not allowed to make this request. We can grant the permission, or \
                     you can use a key that has it.",
                    capitalise(&which)
                ),
                (true, false) => format!(
                    "{} now has the permission this request needed ({}): please retry it.",
                    capitalise(&which),
                    event.required_scopes.join(", ")
                ),
                (false, false) => format!(
                    "{} does not have the permission this request needs: {}. We can grant \
                     it, or you can use a key that has it.",
                    capitalise(&which),
                    missing.join(", ")
                ),
            }
        }
        "origin_not_allowed" => format!(
            "It came from {}, which is not one of the websites allowed for {which}. We can \
             add your site's domain, or you can call from your server with the secret key.",
            event.origin.as_deref().unwrap_or("a website")
        ),
        "app_mismatch" => match key.and_then(|k| k.app_id.as_deref()) {
            Some(app) => format!(
                "{} belongs to the app {app}: send the header `x-app-id: {app}` with it, or \
                 use a key that is not bound to an app.",
                capitalise(&which)
            ),
            None => {
                "Its x-app-id header names no app of your account: check the app id.".to_owned()
            }
        },
        "rate_limited" => format!(
            "Too many failed attempts came from your address ({}). Wait a minute, then \
             retry with a valid key.",
            event.ip
        ),
        "token_expired" => "Your session had expired: please sign in again and retry.".to_owned(),
        "invalid_token" => "Your session token was not accepted: please sign in again and \
             retry."
            .to_owned(),
        other => format!("It was refused with the code {other}."),
    };
    format!(
        "About your request {} on {when} ({} {}): it was refused ({} {}). {what}",
        event.request_id, event.method, event.path, event.status, event.code
    )
}

fn capitalise(s: &str) -> String {
    let mut c = s.chars();
    c.next()
        .map(|f| f.to_uppercase().collect::<String>() + c.as_str())
        .unwrap_or_default()
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

    fn event(code: &str, required: &[&str]) -> AuthEvent {
        AuthEvent {
            request_id: "req_00000000000000000042".into(),
            at: DateTime::from_timestamp(1_800_000_000, 0).unwrap_or_default(),
            key_id: Some("pk_live_old".into()),
            code: code.into(),
            status: 403,
            method: "POST".into(),
            path: "/v1/webhooks".into(),
            ip: "203.0.113.7".into(),
            origin: Some("https://shop.example.com".into()),
            app_id: None,
            user: None,
            required_scopes: required.iter().map(|s| (*s).to_owned()).collect(),
            count: 1,
        }
    }

    #[test]
    fn a_customer_reply_says_what_happened_and_what_to_do_in_their_terms() {
        let mut k = key("Billing");
        k.scopes = vec!["runs:read".into()];
        let r = customer_reply(
            &event("insufficient_scope", &["runs:read", "webhooks:write"]),
            Some(&k),
        );
        assert!(r.contains("req_00000000000000000042"), "{r}");
        assert!(r.contains("POST /v1/webhooks"), "{r}");
        assert!(r.contains("pk_live_old (secret ending abcd)"), "{r}");
        assert!(r.contains("needs: webhooks:write."), "{r}");
        assert!(!r.contains("runs:read,"), "only what is missing: {r}");
        // Every code gets words for the customer, never the console's own keys or a
        // secret.
        for code in [
            "missing_credentials",
            "malformed_credentials",
            "invalid_key",
            "key_disabled",
            "key_expired",
            "insufficient_scope",
            "origin_not_allowed",
            "app_mismatch",
            "rate_limited",
            "token_expired",
            "invalid_token",
            "something_new",
        ] {
            let r = customer_reply(&event(code, &[]), Some(&k));
            assert!(r.starts_with("About your request req_"), "{r}");
            for not in [
                "Space in Keys",
                "Scopes tab",
                "Domains tab",
                "sk_live",
                "(e in",
            ] {
                assert!(!r.contains(not), "{code}: {not} in {r}");
            }
        }
        let r = customer_reply(&event("origin_not_allowed", &[]), None);
        assert!(r.contains("https://shop.example.com"), "{r}");
        assert!(r.contains("the key it sent"), "{r}");
    }
}
