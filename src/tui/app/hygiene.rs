//! The Usage tab's key hygiene lists, "Stale (unused 30d+)" and "Rotation due", asked of the
//! server with the Review tab's cutoffs and kept by the Review's own rules (`domain::review`:
//! `stale_at`, `rotation_due_at`, `KeyStatus::can_authenticate`), which live only there, so
//! the two never disagree: a
//! key is stale when it can still authenticate, was created before the cutoff and has not
//! been used since (a key made a few minutes ago is not stale, used or not); a rotation is
//! due for a key that can still authenticate, was created before its cutoff and is not
//! already rotated.

use chrono::{DateTime, Utc};

use crate::api::{KeyObject, ListKeysQuery};
use crate::domain::review::{self, ReviewPolicy};

/// Rows asked for per list.
pub const LIMIT: u32 = 200;

/// The server query for the stale list at `now`.
pub fn stale_query(now: DateTime<Utc>) -> ListKeysQuery {
    let cutoff = ReviewPolicy::default().stale_cutoff(now);
    ListKeysQuery {
        limit: Some(LIMIT),
        last_used_before: Some(cutoff),
        created_before: Some(cutoff),
        ..ListKeysQuery::default()
    }
}

/// The server query for the rotation-due list at `now`.
pub fn rotation_due_query(now: DateTime<Utc>) -> ListKeysQuery {
    ListKeysQuery {
        limit: Some(LIMIT),
        created_before: Some(ReviewPolicy::default().rotation_cutoff(now)),
        ..ListKeysQuery::default()
    }
}

/// The stale list from the server's answer to [`stale_query`] at `now`, by the review's own
/// rule (`domain::review::stale_at`) on keys that can still authenticate.
pub fn stale(keys: Vec<KeyObject>, now: DateTime<Utc>) -> Vec<KeyObject> {
    let cutoff = ReviewPolicy::default().stale_cutoff(now);
    keys.into_iter()
        .filter(|k| {
            k.status.can_authenticate() && review::stale_at(k.created_at, k.last_used_at, cutoff)
        })
        .collect()
}

/// The rotation-due list from the server's answer to [`rotation_due_query`] at `now`
/// (`domain::review::rotation_due_at`).
pub fn rotation_due(keys: Vec<KeyObject>, now: DateTime<Utc>) -> Vec<KeyObject> {
    let cutoff = ReviewPolicy::default().rotation_cutoff(now);
    keys.into_iter()
        .filter(|k| {
            k.status.can_authenticate()
                && review::rotation_due_at(k.created_at, k.rotated_to.is_some(), cutoff)
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::Duration;

    #[test]
    fn the_queries_carry_the_review_cutoffs() {
        let now = Utc::now();
        let q = stale_query(now);
        assert_eq!(q.last_used_before, Some(now - Duration::days(30)));
        assert_eq!(
            q.created_before,
            Some(now - Duration::days(30)),
            "a key created minutes ago is not stale, even never used"
        );
        let q = rotation_due_query(now);
        assert_eq!(q.created_before, Some(now - Duration::days(90)));
        assert_eq!(q.last_used_before, None);
    }

    #[test]
    fn the_answer_is_kept_by_the_domains_rules() {
        let now = Utc::now();
        let key = |days: i64, status: &str, rotated: bool| -> KeyObject {
            serde_json::from_value(serde_json::json!({
                "id": format!("pk_live_{days:024}"), "name": "k", "org_id": "org_0000000000000001",
                "env": "live", "app_id": null, "scopes": [], "allowed_domains": [],
                "enabled": status != "disabled", "status": status, "secret_hint": "…ab12",
                "created_at": now - Duration::days(days), "updated_at": now,
                "expires_at": null, "last_used_at": null, "rotated_from": null,
                "rotated_to": rotated.then_some("pk_live_000000000000000000000099"),
                "version": 1, "owner": null, "description": null, "leaked_at": null
            }))
            .expect("key")
        };
        // A key made today that a server still answered with is not stale; nor a disabled one.
        let answer = vec![
            key(0, "active", false),
            key(40, "disabled", false),
            key(40, "active", false),
        ];
        let kept: Vec<String> = stale(answer, now).into_iter().map(|k| k.id).collect();
        assert_eq!(kept, vec![format!("pk_live_{:024}", 40)]);
        let answer = vec![
            key(100, "expiring", true),
            key(100, "active", false),
            key(10, "active", false),
        ];
        assert_eq!(
            rotation_due(answer, now).len(),
            1,
            "rotated already, or too young"
        );
    }
}
