//! The console: a ratatui terminal UI over `client::Client`. It never touches storage or the
//! server directly; the embedded default talks HTTP on loopback like any remote profile.
//!
//! - `app/`: state, the `Action` vocabulary and `update` (pure; returns `Command`s).
//! - `keymap.rs`: the only place that reads key codes; also drives hints and help.
//! - `views/`: pure rendering of the state.
//! - `tasks.rs`: runs commands (HTTP calls, clipboard, timers) and reports back.
//! - `event_loop.rs`: the terminal session and the one `select!` loop.
//! - `clipboard.rs`: native / OSC 52 / tmux passthrough, compare-then-clear.
//! - `theme.rs`: styles; `NO_COLOR` gives monochrome cues.

pub mod app;
pub mod clipboard;
pub mod event_loop;
pub mod keymap;
pub mod session;
pub mod tasks;
pub mod theme;
pub mod views;
