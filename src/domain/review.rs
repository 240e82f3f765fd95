//! Access review rules (API.md §10): which keys need a person's attention, and why. Pure:
//! each rule looks at one key (and, for `over_privileged`, its least-privilege result) at a
//! given `now`. The server asks storage for candidates and lets these rules decide.
//!
//! The review covers keys that can still authenticate: enabled and not expired. A disabled
//! key or an expired one (a rotated key past its grace period) can do nothing, so it needs
//! no owner, rotation or narrowing.
//!
//! Owner keys (enabled, org-scoped, holding `*`: `decision::is_owner_key`) are never
//! `wildcard` or `over_privileged`: an organization needs one to administer itself.
//!
//! `stale` and `rotation_due` take their day counts as arguments; with 30 and 90 they are
//! the console's key hygiene rules (stale: no use for the period, or never used and older
//! than it; rotation due: a secret older than the period on a key not already rotated).

use chrono::{DateTime, Duration, Utc};

use super::decision::is_owner_key;
use super::key::Env;
use super::least_privilege::LeastPrivilege;
use super::record::KeyRecord;
use super::scope::Scope;

/// Default `stale_days`.
pub const DEFAULT_STALE_DAYS: u32 = 30;
/// Default `rotation_days`.
pub const DEFAULT_ROTATION_DAYS: u32 = 90;
/// The window `over_privileged` looks at, in days.
pub const OVER_PRIVILEGED_DAYS: u32 = 30;

/// A kind of finding, in the order a review lists them (most urgent first).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum FindingKind {
    /// Reported leaked and still enabled.
    Leaked,
    /// No owner named.
    NoOwner,
    /// No use for `stale_days`, or never used and older than that.
    Stale,
    /// Secret older than `rotation_days`.
    RotationDue,
    /// Holds scopes no request needed in 30 days.
    OverPrivileged,
    /// Holds `*` or `resource:*`.
    Wildcard,
    /// A test key that never expires.
    NoExpiryTest,
}

impl FindingKind {
    /// Every kind, in review order.
    pub const ALL: [FindingKind; 7] = [
        FindingKind::Leaked,
        FindingKind::NoOwner,
        FindingKind::Stale,
        FindingKind::RotationDue,
        FindingKind::OverPrivileged,
        FindingKind::Wildcard,
        FindingKind::NoExpiryTest,
    ];

    /// The wire form.
    pub fn as_str(self) -> &'static str {
        match self {
            FindingKind::Leaked => "leaked",
            FindingKind::NoOwner => "no_owner",
            FindingKind::Stale => "stale",
            FindingKind::RotationDue => "rotation_due",
            FindingKind::OverPrivileged => "over_privileged",
            FindingKind::Wildcard => "wildcard",
            FindingKind::NoExpiryTest => "no_expiry_test",
        }
    }

    /// Parse the wire form.
    pub fn parse(s: &str) -> Option<FindingKind> {
        FindingKind::ALL.into_iter().find(|k| k.as_str() == s)
    }

    /// What to do about it, in a few words (the review's table and markdown).
    pub fn advice(self) -> &'static str {
        match self {
            FindingKind::Leaked => "rotate it now, or disable it",
            FindingKind::NoOwner => "name an owner",
            FindingKind::Stale => "disable or delete it if nobody needs it",
            FindingKind::RotationDue => "rotate it",
            FindingKind::OverPrivileged => "narrow its scopes to the suggested set",
            FindingKind::Wildcard => "grant exact scopes instead",
            FindingKind::NoExpiryTest => "give it an expiry",
        }
    }
}

/// The review's thresholds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ReviewPolicy {
    /// Days without use that make a key stale.
    pub stale_days: u32,
    /// Secret age, in days, that makes a rotation due.
    pub rotation_days: u32,
}

impl Default for ReviewPolicy {
    fn default() -> Self {
        ReviewPolicy {
            stale_days: DEFAULT_STALE_DAYS,
            rotation_days: DEFAULT_ROTATION_DAYS,
        }
    }
}

impl ReviewPolicy {
    /// Keys last used (or, never used, created) before this are stale.
    pub fn stale_cutoff(&self, now: DateTime<Utc>) -> DateTime<Utc> {
        now - Duration::days(i64::from(self.stale_days))
    }

    /// Keys created before this are due for rotation.
    pub fn rotation_cutoff(&self, now: DateTime<Utc>) -> DateTime<Utc> {
        now - Duration::days(i64::from(self.rotation_days))
    }
}

/// Whether the review looks at this key at all: it can still authenticate.
pub fn in_review(k: &KeyRecord, now: DateTime<Utc>) -> bool {
    k.status(now).can_authenticate()
}

/// Reported leaked and still usable.
pub fn is_leaked(k: &KeyRecord) -> bool {
    k.leaked_at.is_some()
}

/// Nobody named as owner.
pub fn has_no_owner(k: &KeyRecord) -> bool {
    k.owner.is_none()
}

/// No use since `cutoff`, and older than it.
pub fn is_stale(k: &KeyRecord, cutoff: DateTime<Utc>) -> bool {
    stale_at(k.created_at, k.last_used_at, cutoff)
}

/// The stale rule on a key's dates, for whichever side holds them (the store's record, the
/// console's key object): created before `cutoff` (a key made minutes ago never is) and not
/// used since.
pub fn stale_at(
    created_at: DateTime<Utc>,
    last_used_at: Option<DateTime<Utc>>,
    cutoff: DateTime<Utc>,
) -> bool {
    created_at < cutoff && last_used_at.is_none_or(|t| t < cutoff)
}

/// A secret created before `cutoff`, on a key not already rotated.
pub fn is_rotation_due(k: &KeyRecord, cutoff: DateTime<Utc>) -> bool {
    rotation_due_at(k.created_at, k.rotated_to.is_some(), cutoff)
}

/// The rotation-due rule on a key's creation and whether it was rotated already.
pub fn rotation_due_at(created_at: DateTime<Utc>, rotated: bool, cutoff: DateTime<Utc>) -> bool {
    !rotated && created_at < cutoff
}

/// Holds `*` or a `resource:*`.
pub fn has_wildcard(k: &KeyRecord) -> bool {
    k.scopes.iter().any(|s| !matches!(s, Scope::Exact(..)))
}

/// A test key without an expiry.
pub fn is_test_without_expiry(k: &KeyRecord) -> bool {
    k.env == Env::Test && k.expires_at.is_none()
}

/// One finding: its kind and what is wrong, in words.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Finding {
    /// The kind.
    pub kind: FindingKind,
    /// Plain words, with the facts (dates, scopes).
    pub detail: String,
}

fn day(t: DateTime<Utc>) -> String {
    t.format("%Y-%m-%d").to_string()
}

fn list(scopes: &[Scope]) -> String {
    if scopes.is_empty() {
        "none".to_owned()
    } else {
        scopes
            .iter()
            .map(ToString::to_string)
            .collect::<Vec<_>>()
            .join(" ")
    }
}

/// Whether `kind` applies to `k`, and why. `lp` is the key's least-privilege result over
/// the last [`OVER_PRIVILEGED_DAYS`] (only `over_privileged` reads it; `None` skips that
/// rule).
pub fn check(
    kind: FindingKind,
    k: &KeyRecord,
    lp: Option<&LeastPrivilege>,
    policy: &ReviewPolicy,
    now: DateTime<Utc>,
) -> Option<Finding> {
    if !in_review(k, now) {
        return None;
    }
    // Owner keys (org-scoped, `*`) are how an organization is administered (and the last one
    // cannot be narrowed): they are reviewed for owner, use and age, not for breadth.
    if matches!(kind, FindingKind::Wildcard | FindingKind::OverPrivileged) && is_owner_key(k, now) {
        return None;
    }
    let detail = match kind {
        FindingKind::Leaked => {
            let at = k.leaked_at?;
            format!("Reported leaked on {} and still enabled.", day(at))
        }
        FindingKind::NoOwner => has_no_owner(k).then(|| "No owner is named.".to_owned())?,
        FindingKind::Stale => {
            let cutoff = policy.stale_cutoff(now);
            if !is_stale(k, cutoff) {
                return None;
            }
            match k.last_used_at {
                Some(t) => format!(
                    "Last used on {}, more than {} days ago.",
                    day(t),
                    policy.stale_days
                ),
                None => format!(
                    "Never used, created on {} (more than {} days ago).",
                    day(k.created_at),
                    policy.stale_days
                ),
            }
        }
        FindingKind::RotationDue => {
            if !is_rotation_due(k, policy.rotation_cutoff(now)) {
                return None;
            }
            format!(
                "Its secret dates from {}, more than {} days ago.",
                day(k.created_at),
                policy.rotation_days
            )
        }
        FindingKind::OverPrivileged => {
            let lp = lp?;
            if !lp.over_privileged(&k.scopes) {
                return None;
            }
            format!(
                "Requests in the last {OVER_PRIVILEGED_DAYS} days needed {}; unused: {}.",
                list(&lp.suggested),
                list(&lp.unused)
            )
        }
        FindingKind::Wildcard => {
            let wide: Vec<Scope> = k
                .scopes
                .iter()
                .filter(|s| !matches!(s, Scope::Exact(..)))
                .cloned()
                .collect();
            if wide.is_empty() {
                return None;
            }
            format!("Holds {}.", list(&wide))
        }
        FindingKind::NoExpiryTest => {
            is_test_without_expiry(k).then(|| "A test key that never expires.".to_owned())?
        }
    };
    Some(Finding { kind, detail })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::key::SecretHash;
    use crate::domain::least_privilege::{Exercised, least_privilege};
    use crate::domain::scope::{Catalog, ScopeSet};

    fn now() -> DateTime<Utc> {
        DateTime::from_timestamp(1_800_000_000, 0).expect("time")
    }

    fn days_ago(d: i64) -> DateTime<Utc> {
        now() - Duration::days(d)
    }

    fn key(scopes: &[&str]) -> KeyRecord {
        KeyRecord {
            id: "pk_live_000000000000000000000001".to_owned(),
            org_id: "org_0000000000000001".to_owned(),
            name: "k".to_owned(),
            env: Env::Live,
            app_id: None,
            scopes: ScopeSet::parse(scopes).expect("scopes"),
            allowed_domains: vec![],
            enabled: true,
            secret_hash: SecretHash([0; 32]),
            secret_hint: "abcd".to_owned(),
            created_at: days_ago(1),
            updated_at: days_ago(1),
            expires_at: None,
            last_used_at: Some(days_ago(0)),
            rotated_from: None,
            rotated_to: None,
            version: 1,
            owner: Some("team@example.com".to_owned()),
            description: None,
            leaked_at: None,
        }
    }

    fn kinds(k: &KeyRecord, lp: Option<&LeastPrivilege>) -> Vec<FindingKind> {
        FindingKind::ALL
            .into_iter()
            .filter(|kind| check(*kind, k, lp, &ReviewPolicy::default(), now()).is_some())
            .collect()
    }

    #[test]
    fn a_healthy_key_has_no_findings() {
        assert!(kinds(&key(&["runs:read"]), None).is_empty());
    }

    #[test]
    fn every_kind_is_found() {
        let mut k = key(&["runs:*"]);
        k.env = Env::Test;
        k.owner = None;
        k.created_at = days_ago(100);
        k.last_used_at = Some(days_ago(40));
        k.leaked_at = Some(days_ago(2));
        assert_eq!(
            kinds(&k, None),
            [
                FindingKind::Leaked,
                FindingKind::NoOwner,
                FindingKind::Stale,
                FindingKind::RotationDue,
                FindingKind::Wildcard,
                FindingKind::NoExpiryTest
            ]
        );
    }

    #[test]
    fn stale_needs_age_as_well_as_no_use() {
        let cutoff = ReviewPolicy::default().stale_cutoff(now());
        let mut k = key(&["runs:read"]);
        k.last_used_at = None;
        k.created_at = days_ago(29);
        assert!(!is_stale(&k, cutoff), "new, never used");
        k.created_at = days_ago(31);
        assert!(is_stale(&k, cutoff), "old, never used");
        k.last_used_at = Some(days_ago(29));
        assert!(!is_stale(&k, cutoff), "old, used recently");
        k.last_used_at = Some(days_ago(31));
        assert!(is_stale(&k, cutoff), "old, used long ago");
        let p = ReviewPolicy {
            stale_days: 60,
            rotation_days: 90,
        };
        assert!(!is_stale(&k, p.stale_cutoff(now())), "within 60 days");
    }

    #[test]
    fn rotation_due_unless_already_rotated() {
        let cutoff = ReviewPolicy::default().rotation_cutoff(now());
        let mut k = key(&["runs:read"]);
        k.created_at = days_ago(91);
        assert!(is_rotation_due(&k, cutoff));
        k.rotated_to = Some("pk_live_000000000000000000000002".to_owned());
        assert!(!is_rotation_due(&k, cutoff));
        k.rotated_to = None;
        k.created_at = days_ago(89);
        assert!(!is_rotation_due(&k, cutoff));
    }

    #[test]
    fn only_keys_that_can_authenticate_are_reviewed() {
        let mut k = key(&["*"]);
        k.owner = None;
        k.leaked_at = Some(days_ago(1));
        k.enabled = false;
        assert!(kinds(&k, None).is_empty(), "disabled: leaked is handled");
        k.enabled = true;
        k.expires_at = Some(days_ago(1));
        assert!(kinds(&k, None).is_empty(), "expired");
        k.expires_at = Some(now() + Duration::days(1));
        assert!(
            kinds(&k, None).contains(&FindingKind::Leaked),
            "expiring still works"
        );
    }

    #[test]
    fn wildcards_are_star_and_resource_star() {
        assert!(has_wildcard(&key(&["*"])));
        assert!(has_wildcard(&key(&["runs:read", "keys:*"])));
        assert!(!has_wildcard(&key(&["runs:read", "keys:read"])));
        let f = check(
            FindingKind::Wildcard,
            &key(&["runs:read", "keys:*"]),
            None,
            &ReviewPolicy::default(),
            now(),
        )
        .expect("finding");
        assert_eq!(f.detail, "Holds keys:*.");
    }

    #[test]
    fn over_privileged_needs_use_and_an_unused_or_wider_scope() {
        let catalog = Catalog::default_catalog();
        let ex = |s: &str, n: u64| Exercised {
            scope: Scope::parse(s).expect("scope"),
            requests: n,
            last_used_at: Some(days_ago(1)),
        };
        let k = key(&["runs:read", "runs:write"]);
        let lp = least_privilege(&k.scopes, &[ex("runs:read", 3)], &catalog);
        let f = check(
            FindingKind::OverPrivileged,
            &k,
            Some(&lp),
            &ReviewPolicy::default(),
            now(),
        )
        .expect("over-privileged");
        assert_eq!(
            f.detail,
            "Requests in the last 30 days needed runs:read; unused: runs:write."
        );
        let lp = least_privilege(
            &k.scopes,
            &[ex("runs:read", 3), ex("runs:write", 1)],
            &catalog,
        );
        assert!(!kinds(&k, Some(&lp)).contains(&FindingKind::OverPrivileged));
        let idle = least_privilege(&k.scopes, &[], &catalog);
        assert!(
            !kinds(&k, Some(&idle)).contains(&FindingKind::OverPrivileged),
            "an unused key is stale, not over-privileged"
        );
        let mut star = key(&["*"]);
        let lp = least_privilege(&star.scopes, &[ex("runs:read", 3)], &catalog);
        assert!(
            !kinds(&star, Some(&lp)).contains(&FindingKind::OverPrivileged),
            "an owner key is not narrowed"
        );
        assert!(!kinds(&star, Some(&lp)).contains(&FindingKind::Wildcard));
        star.app_id = Some("app_0000000000000001".to_owned());
        assert!(kinds(&star, Some(&lp)).contains(&FindingKind::OverPrivileged));
        assert!(kinds(&star, Some(&lp)).contains(&FindingKind::Wildcard));
    }

    #[test]
    fn a_test_key_without_expiry() {
        let mut k = key(&["runs:read"]);
        k.env = Env::Test;
        assert!(is_test_without_expiry(&k));
        k.expires_at = Some(now() + Duration::days(3));
        assert!(!is_test_without_expiry(&k));
    }

    #[test]
    fn kinds_round_trip() {
        for k in FindingKind::ALL {
            assert_eq!(FindingKind::parse(k.as_str()), Some(k));
        }
        assert_eq!(FindingKind::parse("nope"), None);
    }
}
