//! Pure rules of the key service: formats, scopes, origin patterns, the authorization
//! decision, the leaked-secret matcher, least privilege and the access review rules. No async runtime, no I/O, no clock and no RNG:
//! time and random bytes come in as arguments. `tests/domain_purity.rs` fails the build's
//! tests if that ever changes.

pub mod decision;
pub mod host_pattern;
pub mod jwt;
pub mod jwt_lint;
pub mod key;
pub mod least_privilege;
pub mod lint;
pub mod record;
pub mod review;
pub mod scan;
pub mod scope;
pub mod session;
