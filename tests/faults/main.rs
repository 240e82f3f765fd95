//! Faults provoked for real against a real server: concurrent `If-Match` writers, a full
//! disk (a small tmpfs), the database file deleted or replaced under a running server,
//! `kill -9` and SIGTERM of a real `keyconsole serve` process, file modes, and how write
//! transactions end.

mod builders;
#[allow(dead_code)]
#[path = "../api/common.rs"]
mod common;
mod deleted_file;
mod disk_full;
mod if_match;
mod kill9;
mod log_full;
mod modes;
mod sigterm;
#[path = "../support/mod.rs"]
mod support;
mod tmpfs;
mod transactions;
