//! Shared by the test targets (each includes it with `#[path = "../support/mod.rs"]`): fresh
//! PostgreSQL databases and `keyconsole serve` as a real child process.
#![allow(dead_code)]

pub mod pg;
pub mod serve;
