//! The console without a terminal: pure `update` tests, `TestBackend` snapshots, secret-leak
//! checks and timers on tokio's paused clock.

mod ascii;
mod audit;
mod drill;
mod fixtures;
mod leaks;
mod mouse;
mod palette;
mod refresh;
mod review;
mod rotation;
mod session;
mod snapshots;
mod tester;
mod timers;
mod truncation;
mod undo;
mod update;
