//! Least privilege (API.md §10): from the scopes a key holds and the required scopes its
//! allowed requests exercised in a window, which held scopes were used (and how often),
//! which were not, and the smallest set of catalog scopes that still covers every request
//! seen. Pure: the counts come in as arguments.
//!
//! `suggested` has no wildcards, with one exception it cannot avoid: a request whose
//! required scope no single catalog scope grants (a `POST /v1/verify` that asked for
//! `runs:*`, or for a scope outside the catalog that the key's `*` covered) keeps the
//! narrowest held scope that covers it, so the suggestion never takes away something a
//! request needed. Requests the key's current scopes no longer cover (its scopes were
//! narrowed since) are left out: the suggestion only ever narrows.

use chrono::{DateTime, Utc};

use super::scope::{Catalog, Scope, ScopeSet};

/// How often one required scope was exercised in the window.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Exercised {
    /// The required scope (usually a catalog scope, `resource:action`).
    pub scope: Scope,
    /// Allowed requests that needed it.
    pub requests: u64,
    /// The latest of them.
    pub last_used_at: Option<DateTime<Utc>>,
}

/// One held scope and the requests it covered.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HeldUse {
    /// The held scope.
    pub scope: Scope,
    /// Allowed requests whose required scopes it covers (a request needing two scopes this
    /// one covers counts twice: counts are per required scope).
    pub requests: u64,
    /// The latest of them.
    pub last_used_at: Option<DateTime<Utc>>,
}

/// What [`least_privilege`] found.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct LeastPrivilege {
    /// Every held scope, in the key's order.
    pub held: Vec<HeldUse>,
    /// Held scopes no request needed.
    pub unused: Vec<Scope>,
    /// The smallest set of catalog scopes covering every request seen, sorted.
    pub suggested: Vec<Scope>,
}

impl LeastPrivilege {
    /// Whether any request in the window needed one of the held scopes.
    pub fn used(&self) -> bool {
        self.held.iter().any(|h| h.requests > 0)
    }

    /// Whether the key holds more than its requests needed: used, with some held scope unused
    /// or a wildcard where the suggestion names exact scopes.
    pub fn over_privileged(&self, held: &ScopeSet) -> bool {
        self.used() && !self.unused.is_empty()
            || self.used() && !ScopeSet::from_scopes(self.suggested.clone()).covers_all(held)
    }
}

/// See the module docs. `seen` may list a scope more than once (its counts add up).
pub fn least_privilege(held: &ScopeSet, seen: &[Exercised], catalog: &Catalog) -> LeastPrivilege {
    let seen: Vec<&Exercised> = seen
        .iter()
        .filter(|e| e.requests > 0 && held.covers(&e.scope))
        .collect();
    let uses: Vec<HeldUse> = held
        .iter()
        .map(|h| {
            let covered = seen.iter().filter(|e| h.covers(&e.scope));
            HeldUse {
                scope: h.clone(),
                requests: covered.clone().map(|e| e.requests).sum(),
                last_used_at: covered.filter_map(|e| e.last_used_at).max(),
            }
        })
        .collect();
    let unused = uses
        .iter()
        .filter(|u| u.requests == 0)
        .map(|u| u.scope.clone())
        .collect();

    let in_catalog = |s: &Scope| {
        matches!(s, Scope::Exact(..)) && {
            let name = s.to_string();
            catalog.entries().iter().any(|e| e.name == name)
        }
    };
    let mut suggested: Vec<Scope> = Vec::new();
    for e in &seen {
        let pick = if in_catalog(&e.scope) {
            Some(e.scope.clone())
        } else {
            narrowest_cover(held, &e.scope)
        };
        if let Some(p) = pick
            && !suggested.contains(&p)
        {
            suggested.push(p);
        }
    }
    // A wildcard kept for an uncoverable request makes exact scopes under it redundant.
    let wide: Vec<Scope> = suggested
        .iter()
        .filter(|s| !matches!(s, Scope::Exact(..)))
        .cloned()
        .collect();
    suggested.retain(|s| !wide.iter().any(|w| w != s && w.covers(s)));
    suggested.sort_by_key(ToString::to_string);
    LeastPrivilege {
        held: uses,
        unused,
        suggested,
    }
}

/// The narrowest held scope that covers `scope`: itself, else its `resource:*`, else `*`.
fn narrowest_cover(held: &ScopeSet, scope: &Scope) -> Option<Scope> {
    let mut covering: Vec<&Scope> = held.iter().filter(|h| h.covers(scope)).collect();
    covering.sort_by_key(|h| match h {
        Scope::Exact(..) => 0,
        Scope::Resource(_) => 1,
        Scope::All => 2,
    });
    covering.first().map(|s| (*s).clone())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn s(x: &str) -> Scope {
        Scope::parse(x).expect("scope")
    }

    fn set(xs: &[&str]) -> ScopeSet {
        ScopeSet::parse(xs).expect("scopes")
    }

    fn at(secs: i64) -> Option<DateTime<Utc>> {
        DateTime::from_timestamp(1_800_000_000 + secs, 0)
    }

    fn seen(x: &str, n: u64, t: i64) -> Exercised {
        Exercised {
            scope: s(x),
            requests: n,
            last_used_at: at(t),
        }
    }

    fn names(v: &[Scope]) -> Vec<String> {
        v.iter().map(ToString::to_string).collect()
    }

    fn catalog() -> Catalog {
        Catalog::default_catalog()
    }

    #[test]
    fn an_empty_window_uses_nothing_and_suggests_nothing() {
        let held = set(&["runs:read", "keys:*", "*"]);
        let lp = least_privilege(&held, &[], &catalog());
        assert!(!lp.used());
        assert_eq!(names(&lp.unused), ["runs:read", "keys:*", "*"]);
        assert!(lp.suggested.is_empty());
        assert!(
            lp.held
                .iter()
                .all(|h| h.requests == 0 && h.last_used_at.is_none())
        );
        assert!(
            !lp.over_privileged(&held),
            "unused is stale, not over-privileged"
        );
    }

    #[test]
    fn exact_scopes_count_their_own_requests() {
        let held = set(&["runs:read", "runs:write", "credits:read"]);
        let lp = least_privilege(
            &held,
            &[seen("runs:read", 5, 10), seen("runs:read", 2, 30)],
            &catalog(),
        );
        assert_eq!(lp.held[0].requests, 7);
        assert_eq!(lp.held[0].last_used_at, at(30));
        assert_eq!(names(&lp.unused), ["runs:write", "credits:read"]);
        assert_eq!(names(&lp.suggested), ["runs:read"]);
        assert!(lp.over_privileged(&held));
    }

    #[test]
    fn wildcards_count_every_request_they_cover_and_are_replaced_by_exact_scopes() {
        let held = set(&["*"]);
        let lp = least_privilege(
            &held,
            &[
                seen("keys:read", 3, 1),
                seen("usage:read", 1, 5),
                seen("runs:write", 2, 3),
            ],
            &catalog(),
        );
        assert_eq!(lp.held[0].requests, 6);
        assert_eq!(lp.held[0].last_used_at, at(5));
        assert!(lp.unused.is_empty());
        assert_eq!(
            names(&lp.suggested),
            ["keys:read", "runs:write", "usage:read"]
        );
        assert!(lp.over_privileged(&held), "* where three scopes do");
    }

    #[test]
    fn resource_wildcards_cover_only_their_resource() {
        let held = set(&["runs:*", "webhooks:*"]);
        let lp = least_privilege(
            &held,
            &[seen("runs:read", 4, 1), seen("runs:write", 1, 2)],
            &catalog(),
        );
        assert_eq!(lp.held[0].requests, 5);
        assert_eq!(lp.held[1].requests, 0);
        assert_eq!(names(&lp.unused), ["webhooks:*"]);
        assert_eq!(names(&lp.suggested), ["runs:read", "runs:write"]);
    }

    #[test]
    fn a_required_wildcard_or_unknown_scope_keeps_the_narrowest_holder() {
        // A verify call asked for runs:* (only a wildcard grants it), another for a scope the
        // catalog does not have, which only * covers.
        let held = set(&["*", "runs:*", "credits:read"]);
        let lp = least_privilege(
            &held,
            &[
                seen("runs:*", 1, 1),
                seen("runs:read", 9, 2),
                seen("billing:read", 1, 3),
                seen("credits:read", 2, 4),
            ],
            &catalog(),
        );
        assert_eq!(names(&lp.suggested), ["*"], "* covers everything else");
        let held = set(&["runs:*", "credits:read"]);
        let lp = least_privilege(
            &held,
            &[
                seen("runs:*", 1, 1),
                seen("runs:read", 9, 2),
                seen("credits:read", 1, 1),
            ],
            &catalog(),
        );
        assert_eq!(names(&lp.suggested), ["credits:read", "runs:*"]);
        assert!(lp.unused.is_empty());
        assert!(!lp.over_privileged(&held));
    }

    #[test]
    fn requests_no_longer_covered_are_not_suggested() {
        // The key was narrowed after these requests: suggesting runs:write would widen it.
        let held = set(&["runs:read"]);
        let lp = least_privilege(
            &held,
            &[seen("runs:read", 1, 1), seen("runs:write", 5, 2)],
            &catalog(),
        );
        assert_eq!(names(&lp.suggested), ["runs:read"]);
        assert!(!lp.over_privileged(&held));
    }

    #[test]
    fn the_suggestion_covers_every_request_seen_and_only_narrows() {
        let held = set(&["*"]);
        let all: Vec<Exercised> = catalog()
            .entries()
            .iter()
            .enumerate()
            .map(|(i, e)| seen(&e.name, u64::try_from(i).unwrap_or(0) % 3, 0))
            .collect();
        let lp = least_privilege(&held, &all, &catalog());
        let suggested = ScopeSet::from_scopes(lp.suggested.clone());
        for e in all.iter().filter(|e| e.requests > 0) {
            assert!(suggested.covers(&e.scope), "{}", e.scope);
        }
        for e in all.iter().filter(|e| e.requests == 0) {
            assert!(!suggested.covers(&e.scope), "{} was not needed", e.scope);
        }
        assert!(held.covers_all(&suggested));
    }
}
