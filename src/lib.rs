//! keyconsole: an API-key service and the terminal console to run it.
//!
//! Architecture map (dependency direction: `domain` ← `api` ← `storage`, `server`, `client`
//! ← `tui`, `cli`):
//!
//! - [`domain`]: pure rules (formats, scopes, origin patterns, `authorize`). No I/O.
//! - [`api`]: wire types shared by server and client, error body, route paths.
//! - [`storage`]: `trait KeyStore` and its SQLite implementation; migrations in `assets/`.
//! - [`server`]: the axum router, auth extractor, usage batching, `serve(listener, state, shutdown)`.
//! - [`client`]: typed reqwest client; `ClientError` keeps status and error body.
//! - [`cli`]: clap types and the scriptable commands.
//! - [`config`]: the console's config file and profiles.
//! - [`console`]: launching the console (target choice, embedded service, demo data).
//! - [`tui`]: the console itself; talks to any key service through [`client`] only.

pub mod api;
pub mod cli;
pub mod client;
pub mod config;
pub mod console;
pub mod domain;
pub mod server;
pub mod storage;
pub mod tui;
