//! The console without a terminal: pure `update` tests, `TestBackend` snapshots, secret-leak
//! checks and timers on tokio's paused clock.

mod fixtures;
mod leaks;
mod review;
mod rotation;
mod snapshots;
mod tester;
mod timers;
mod truncation;
mod update;
