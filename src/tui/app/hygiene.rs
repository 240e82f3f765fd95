//! The Usage tab's key hygiene lists, "Stale (unused 30d+)" and "Rotation due", asked of the
//! server with the Review tab's own rules (`domain::review`), so the two never disagree: a
//! key is stale when it can still authenticate, was created before the cutoff and has not
//! been used since (a key made a few minutes ago is not stale, used or not); a rotation is
//! due for a key that can still authenticate, was created before its cutoff and is not
//! already rotated.

use chrono::{DateTime, Utc};

use crate::api::{KeyObject, ListKeysQuery};
use crate::domain::record::KeyStatus;
use crate::domain::review::ReviewPolicy;

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

/// Whether the review looks at the key at all: it can still authenticate
/// (`domain::review::in_review`).
pub fn in_review(k: &KeyObject) -> bool {
    matches!(k.status, KeyStatus::Active | KeyStatus::Expiring)
}

/// The stale list from the server's answer.
pub fn stale(keys: Vec<KeyObject>) -> Vec<KeyObject> {
    keys.into_iter().filter(in_review).collect()
}

/// The rotation-due list from the server's answer.
pub fn rotation_due(keys: Vec<KeyObject>) -> Vec<KeyObject> {
    keys.into_iter()
        .filter(|k| in_review(k) && k.rotated_to.is_none())
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
}
