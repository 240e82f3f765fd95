//! Shared by the test targets (each includes it with `#[path = "../support/mod.rs"]`): fresh
//! PostgreSQL databases, `keyconsole serve` as a real child process, and the console driven
//! against a real server.
#![allow(dead_code)]

pub mod console;
pub mod pg;
pub mod serve;
