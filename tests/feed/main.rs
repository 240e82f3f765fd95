//! Many instances on one database (API.md §7): real `keyconsole serve` processes sharing a
//! SQLite file (and a PostgreSQL database when `KEYCONSOLE_TEST_POSTGRES_URL` is set), a
//! change made on one and timed until the other agrees, the acknowledgement, and what an
//! instance does when it cannot reach its database (`--offline-grace`).

#[allow(dead_code)]
#[path = "../api/common.rs"]
mod common;
#[path = "../support/mod.rs"]
mod support;
use support::serve as process;
mod propagation;
