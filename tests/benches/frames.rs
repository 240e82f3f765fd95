//! Frame cost of the console with 100, 10,000 and 100,000 keys loaded: drawing one frame to a
//! 120x40 `TestBackend`, scrolling one row plus drawing, and typing the first filter
//! character plus drawing (and, for the record, clearing it again plus drawing). Run with
//! `cargo bench --bench frames`; the ratios 100k/100 are printed at the end.
//!
//! Each measured step is what the event loop does for one keystroke: `App::update` and
//! `Terminal::draw` on a terminal that is reused (so ratatui diffs against the last frame).
//! Resets between iterations (back to the top at the end of the list, deleting the typed
//! character) are done outside the timed part.

#[path = "../tui/fixtures.rs"]
#[allow(dead_code)]
mod fixtures;

use std::path::PathBuf;
use std::time::{Duration, Instant};

use criterion::{Criterion, criterion_group};
use keyconsole::tui::app::{Action, App};
use keyconsole::tui::keymap::Keymap;
use keyconsole::tui::theme::Theme;
use ratatui::Terminal;
use ratatui::backend::TestBackend;
use tui_input::InputRequest;

const SIZE: (u16, u16) = (120, 40);
/// 10k is there to show where the local filter's bound (5,000 rows) kicks in.
const SIZES: [(usize, &str); 3] = [(100, "100"), (10_000, "10k"), (100_000, "100k")];
const KINDS: [&str; 4] = ["draw", "scroll", "filter", "filter_clear"];

struct Console {
    app: App,
    term: Terminal<TestBackend>,
    keymap: Keymap,
    theme: Theme,
}

impl Console {
    fn new(keys: usize) -> Console {
        let app = fixtures::app(keys, SIZE);
        assert_eq!(app.keys.shown(), keys, "all keys are in the view");
        let mut c = Console {
            app,
            term: Terminal::new(TestBackend::new(SIZE.0, SIZE.1)).expect("terminal"),
            keymap: Keymap::default(),
            theme: Theme::from_env(),
        };
        c.draw();
        c
    }

    fn draw(&mut self) {
        let (app, keymap, theme) = (&self.app, &self.keymap, &self.theme);
        self.term
            .draw(|f| keyconsole::tui::views::render(app, keymap, theme, f))
            .expect("draw");
    }

    fn update(&mut self, a: Action) {
        std::hint::black_box(self.app.update(a));
    }
}

/// Time `step` only; `reset` runs before each step, untimed.
fn timed(
    iters: u64,
    c: &mut Console,
    mut reset: impl FnMut(&mut Console),
    mut step: impl FnMut(&mut Console),
) -> Duration {
    let mut total = Duration::ZERO;
    for _ in 0..iters {
        reset(c);
        let t = Instant::now();
        step(c);
        total += t.elapsed();
    }
    total
}

fn bench(cr: &mut Criterion) {
    for (n, label) in SIZES {
        let mut c = Console::new(n);

        cr.bench_function(&format!("frames/draw_{label}"), |b| b.iter(|| c.draw()));

        cr.bench_function(&format!("frames/scroll_{label}"), |b| {
            b.iter_custom(|iters| {
                timed(
                    iters,
                    &mut c,
                    |c| {
                        if c.app.keys.selected + 1 >= c.app.keys.shown() {
                            c.update(Action::Top);
                            c.draw();
                        }
                    },
                    |c| {
                        c.update(Action::Down);
                        c.draw();
                    },
                )
            })
        });
        c.update(Action::Top);

        // Typing `s` after `/`: every key matches ("Service 00042").
        c.update(Action::StartFilter);
        c.draw();
        cr.bench_function(&format!("frames/filter_{label}"), |b| {
            b.iter_custom(|iters| {
                timed(
                    iters,
                    &mut c,
                    |c| {
                        if !c.app.keys.filter.is_empty() {
                            c.update(Action::Edit(InputRequest::DeletePrevChar));
                            c.draw();
                        }
                    },
                    |c| {
                        c.update(Action::Edit(InputRequest::InsertChar('s')));
                        c.draw();
                    },
                )
            })
        });
        // The way back: deleting the character makes the filter equal the server's query
        // again, and the whole loaded list is shown.
        cr.bench_function(&format!("frames/filter_clear_{label}"), |b| {
            b.iter_custom(|iters| {
                timed(
                    iters,
                    &mut c,
                    |c| {
                        if c.app.keys.filter.is_empty() {
                            c.update(Action::Edit(InputRequest::InsertChar('s')));
                            c.draw();
                        }
                    },
                    |c| {
                        c.update(Action::Edit(InputRequest::DeletePrevChar));
                        c.draw();
                    },
                )
            })
        });
        // What the local filter left in the view at this size.
        c.update(Action::Edit(InputRequest::InsertChar('s')));
        println!(
            "{label} keys loaded: typing `s` shows {} of {} rows (local filter limit {})",
            c.app.keys.shown(),
            n,
            keyconsole::tui::app::keys::LOCAL_FILTER_LIMIT
        );
    }
}

criterion_group! {
    name = benches;
    config = Criterion::default().measurement_time(Duration::from_secs(3)).warm_up_time(Duration::from_secs(1));
    targets = bench
}

fn criterion_dir() -> PathBuf {
    if let Some(home) = std::env::var_os("CRITERION_HOME") {
        return PathBuf::from(home);
    }
    std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("target"))
        .join("criterion")
}

fn mean_ns(id: &str) -> Option<f64> {
    let path = criterion_dir()
        .join(id.replace('/', "_"))
        .join("new/estimates.json");
    let v: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(path).ok()?).ok()?;
    v["median"]["point_estimate"].as_f64()
}

fn fmt_ns(ns: f64) -> String {
    if ns >= 1e6 {
        format!("{:.2} ms", ns / 1e6)
    } else {
        format!("{:.1} µs", ns / 1e3)
    }
}

fn main() {
    benches();
    Criterion::default().configure_from_args().final_summary();
    println!(
        "\nper keystroke (update + draw of a 120x40 frame), by keys loaded (median):\n  {:<13} {:>10} {:>10} {:>10}   {:>9} {:>9}",
        "", "100", "10k", "100k", "100k/100", "100k/10k"
    );
    for kind in KINDS {
        let t: Vec<Option<f64>> = SIZES
            .iter()
            .map(|(_, label)| mean_ns(&format!("frames/{kind}_{label}")))
            .collect();
        let [Some(small), Some(mid), Some(large)] = t[..] else {
            continue;
        };
        println!(
            "  {kind:<13} {:>10} {:>10} {:>10}   {:>8.2}x {:>8.2}x",
            fmt_ns(small),
            fmt_ns(mid),
            fmt_ns(large),
            large / small,
            large / mid
        );
    }
}
