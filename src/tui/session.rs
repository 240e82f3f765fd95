//! Sessions in the console (API.md §8): who a session profile acts as (the header's
//! `ana@acme · prod`), how an audit actor reads (`user ana@acme`, `key Billing worker`,
//! `system org create`), and the offline JWT lint the request tester shows for a pasted
//! token. Pure: state in, text out.

use chrono::{DateTime, Utc};

use crate::api::{ActorKind, AuditEntry, MeResponse};
use crate::domain::jwt::looks_like_jwt;
use crate::domain::jwt_lint::{JwtLintContext, lint_jwt};

/// The signed-in user a session profile acts as; `None` for a key.
pub fn who(me: Option<&MeResponse>) -> Option<&str> {
    me.and_then(|m| m.user.as_ref()).map(|u| u.display())
}

/// The header's profile label: `ana@acme · prod` for a session, the profile alone for a key.
pub fn profile_label(me: Option<&MeResponse>, profile: &str) -> String {
    match who(me) {
        Some(user) => format!("{user} · {profile}"),
        None => profile.to_owned(),
    }
}

/// An audit entry's actor by type and name: `user ana@acme`, `key Billing worker` (the key's
/// name when `key_name` knows it, else its id), `system org create`.
pub fn actor_label(entry: &AuditEntry, key_name: impl Fn(&str) -> Option<String>) -> String {
    let a = &entry.actor;
    match a.kind {
        ActorKind::Key => format!("key {}", key_name(&a.id).unwrap_or_else(|| a.id.clone())),
        ActorKind::User => format!("user {}", a.name.as_deref().unwrap_or(&a.id)),
        ActorKind::System => format!("system {}", a.id),
    }
}

/// The offline lint of `token` when it is a JWT: the signature note, header, claims (`exp`
/// as "expired 3 h ago") and findings, as lines. Nothing is sent anywhere.
pub fn jwt_lint_lines(token: &str, now: DateTime<Utc>) -> Option<Vec<String>> {
    looks_like_jwt(token).then(|| lint_jwt(token, &JwtLintContext::at(now)).lines())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::api::Actor;
    use serde_json::json;

    fn entry(actor: Actor) -> AuditEntry {
        AuditEntry {
            id: "aud_1".into(),
            at: Utc::now(),
            actor_key_id: actor.key_id().map(str::to_owned),
            actor,
            action: "key.created".into(),
            key_id: None,
            changes: json!({}),
        }
    }

    #[test]
    fn actors_read_by_type_and_name() {
        let names = |id: &str| (id == "pk_live_1").then(|| "Billing worker".to_owned());
        assert_eq!(
            actor_label(&entry(Actor::key("pk_live_1")), names),
            "key Billing worker"
        );
        assert_eq!(
            actor_label(&entry(Actor::key("pk_live_2")), names),
            "key pk_live_2"
        );
        assert_eq!(
            actor_label(&entry(Actor::system("org create")), names),
            "system org create"
        );
        let user = Actor {
            kind: ActorKind::User,
            id: "user_1".into(),
            name: Some("ana@acme".into()),
        };
        assert_eq!(actor_label(&entry(user), names), "user ana@acme");
    }

    #[test]
    fn only_a_jwt_is_linted_and_the_lint_says_the_signature_is_not_verified() {
        assert!(jwt_lint_lines("sk_live_abc", Utc::now()).is_none());
        let b64 = |v: serde_json::Value| {
            use base64::Engine as _;
            base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(v.to_string())
        };
        let now = Utc::now();
        let token = format!(
            "{}.{}.c2ln",
            b64(json!({"alg": "HS256", "kid": "k1"})),
            b64(json!({"sub": "u", "exp": (now - chrono::Duration::hours(3)).timestamp()}))
        );
        let lines = jwt_lint_lines(&token, now).expect("a JWT").join("\n");
        assert!(lines.contains("not verified"), "{lines}");
        assert!(lines.contains("HS256"), "{lines}");
        assert!(lines.contains("3 h ago"), "{lines}");
        assert!(!lines.contains(&token), "{lines}");
    }
}
