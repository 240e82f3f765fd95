//! A `GET /v1/keys` filter as terms, shared by both stores: each store picks the index a
//! term drives and renders the terms in its own SQL (`sqlite/lists.rs`, `postgres/lists.rs`).

use chrono::{DateTime, Utc};

use super::KeyFilter;
use crate::domain::key::Env;
use crate::domain::record::KeyStatus;

/// One filter term. A status is one or two terms (`expiring` is "enabled with an expiry"
/// and "expires after now"). Times are milliseconds since the epoch, as both stores keep
/// them.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Term {
    Owner(String),
    App(String),
    Disabled,
    Active,
    EnabledWithExpiry,
    ExpiresAfter(i64),
    ExpiresBy(i64),
    Env(Env),
    /// The JSON-quoted scope forms that grant it: `"resource:*"` and `"scope"` (`"*"` too).
    Scope {
        resource_all: String,
        exact: String,
    },
    Hint(String),
    LastUsedBefore(i64),
    CreatedBefore(i64),
    /// `q` as given: a substring of the name or id, ASCII letters without case.
    Q(String),
    /// The organization (SQLite: the residual of a walk along the trigram index, which holds
    /// every organization's keys).
    Org(String),
}

/// The filter as terms, in the order a driver is picked: owner and app first, then status
/// and env, then the terms no index answers.
pub(crate) fn terms(f: &KeyFilter, now: DateTime<Utc>) -> Vec<Term> {
    let ms = |t: DateTime<Utc>| t.timestamp_millis();
    let now = ms(now);
    let mut out = Vec::new();
    if let Some(o) = &f.owner {
        out.push(Term::Owner(o.clone()));
    }
    if let Some(a) = &f.app_id {
        out.push(Term::App(a.clone()));
    }
    match f.status {
        Some(KeyStatus::Disabled) => out.push(Term::Disabled),
        Some(KeyStatus::Expiring) => out.extend([Term::EnabledWithExpiry, Term::ExpiresAfter(now)]),
        Some(KeyStatus::Expired) => out.extend([Term::EnabledWithExpiry, Term::ExpiresBy(now)]),
        Some(KeyStatus::Active) | None => {}
    }
    if let Some(env) = f.env {
        out.push(Term::Env(env));
    }
    if f.status == Some(KeyStatus::Active) {
        out.push(Term::Active);
    }
    if let Some(scope) = &f.scope {
        let resource = scope.split(':').next().unwrap_or(scope);
        out.push(Term::Scope {
            resource_all: format!("\"{resource}:*\""),
            exact: format!("\"{scope}\""),
        });
    }
    if let Some(h) = &f.hint {
        out.push(Term::Hint(h.clone()));
    }
    if let Some(t) = f.last_used_before {
        out.push(Term::LastUsedBefore(ms(t)));
    }
    if let Some(t) = f.created_before {
        out.push(Term::CreatedBefore(ms(t)));
    }
    if let Some(q) = &f.q {
        out.push(Term::Q(q.clone()));
    }
    out
}
