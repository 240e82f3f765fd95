//! Real `keyconsole serve` processes over PostgreSQL: two instances racing on one database,
//! `/readyz` when the database goes away or turns read-only, the same request script
//! answered byte for byte alike on SQLite and PostgreSQL, and `db copy` both ways.
//!
//! Every test needs `KEYCONSOLE_TEST_POSTGRES_URL`; without it each says so and skips, and
//! with it an unreachable server fails the test.

mod copy;
mod http;
mod parity;
mod races;
mod readyz;
#[path = "../support/mod.rs"]
mod support;
