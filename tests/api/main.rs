//! The key service, end to end: a real server on 127.0.0.1:0 with a temporary SQLite
//! database (or a fresh PostgreSQL one with `KEYCONSOLE_TEST_API_BACKEND=postgres`, see
//! `common`), driven by `client::Client` (and raw requests where headers must be exact).

mod auth;
mod common;
mod cors;
mod floods;
mod guards;
mod handlers;
mod http;
mod keys;
mod leaks;
mod lists;
mod openapi;
mod review;
mod store;
#[path = "../support/mod.rs"]
mod support;
mod usage;
