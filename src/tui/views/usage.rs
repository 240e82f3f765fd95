//! Usage tab: org-wide and per-key charts per minute, hour or day with ok / 401 / 403 / 429
//! kept apart (different markers and a numeric legend, so it reads without colour), and
//! below them one list at a time: top keys, stale keys, rotation due, recent auth failures.

use ratatui::Frame;
use ratatui::layout::Rect;
use ratatui::symbols::Marker;
use ratatui::text::{Line, Span};
use ratatui::widgets::{Axis, Block, Borders, Chart, Dataset, GraphType, Paragraph, Tabs};

use super::{Ctx, ago, pad, thousands, trunc};
use crate::api::UsageBucket;
use crate::tui::app::App;
use crate::tui::app::{Loadable, usage::UsagePanel};

const SERIES: [(&str, Marker); 4] = [
    ("ok", Marker::Braille),
    ("401", Marker::Dot),
    ("403", Marker::Bar),
    ("429", Marker::Block),
];

/// The series' markers in ASCII mode, each its own character: `* ok`, `x 401`, `o 403`,
/// `# 429`.
const ASCII_MARKS: [char; 4] = ['*', 'x', 'o', '#'];

/// The legend's mark of series `i`, the character its points are drawn with.
fn mark(ascii: bool, i: usize) -> String {
    if ascii {
        ASCII_MARKS[i].to_string()
    } else {
        ["⠿", "•", "▄", "█"][i].to_owned()
    }
}

fn value(b: &UsageBucket, i: usize) -> u64 {
    match i {
        0 => b.ok,
        1 => b.unauthorized,
        2 => b.forbidden,
        _ => b.rate_limited,
    }
}

fn chart(
    cx: &Ctx<'_>,
    frame: &mut Frame,
    area: Rect,
    title: String,
    buckets: &[UsageBucket],
    unit: &str,
) {
    let t = cx.theme;
    let sums: Vec<u64> = (0..4)
        .map(|i| buckets.iter().map(|b| value(b, i)).sum())
        .collect();
    let max = buckets
        .iter()
        .flat_map(|b| (0..4).map(move |i| value(b, i)))
        .max()
        .unwrap_or(0)
        .max(1);
    let points: Vec<Vec<(f64, f64)>> = (0..4)
        .map(|i| {
            buckets
                .iter()
                .enumerate()
                .filter(|(_, b)| i == 0 || value(b, i) > 0)
                .map(|(x, b)| (x as f64, value(b, i) as f64))
                .collect()
        })
        .collect();
    let datasets: Vec<Dataset<'_>> = SERIES
        .iter()
        .enumerate()
        .map(|(i, (name, marker))| {
            Dataset::default()
                .name(*name)
                .marker(if t.ascii {
                    Marker::Custom(ASCII_MARKS[i])
                } else {
                    *marker
                })
                .graph_type(if i == 0 {
                    GraphType::Line
                } else {
                    GraphType::Scatter
                })
                .style(t.series(i))
                .data(&points[i])
        })
        .collect();
    let first = format!("-{}{unit}", buckets.len().saturating_sub(1));
    // The legend with totals reads without colour: markers ⠿ ok, • 401, ▄ 403, █ 429.
    let m = |i| mark(t.ascii, i);
    let legend = Line::from(vec![
        Span::styled(format!(" {}ok {} ", m(0), thousands(sums[0])), t.series(0)),
        Span::styled(format!("{}401 {} ", m(1), thousands(sums[1])), t.series(1)),
        Span::styled(format!("{}403 {} ", m(2), thousands(sums[2])), t.series(2)),
        Span::styled(format!("{}429 {} ", m(3), thousands(sums[3])), t.series(3)),
    ]);
    let widget = Chart::new(datasets)
        .block(
            Block::default()
                .borders(Borders::ALL)
                .title(title)
                .title_bottom(legend),
        )
        .x_axis(
            Axis::default()
                .bounds([0.0, buckets.len().saturating_sub(1).max(1) as f64])
                .labels(vec![
                    Span::styled(first, t.dim()),
                    Span::styled("now", t.dim()),
                ]),
        )
        .y_axis(
            Axis::default()
                .bounds([0.0, max as f64])
                .labels(vec![Span::raw("0"), Span::raw(thousands(max))]),
        )
        .legend_position(None);
    frame.render_widget(widget, area);
}

fn loading_box<T>(cx: &Ctx<'_>, frame: &mut Frame, area: Rect, title: String, l: &Loadable<T>) {
    let text = match l {
        Loadable::Failed(e) => format!("Failed: {} (Ctrl-r retries)", e.message),
        Loadable::Idle => "Select a key in the Keys tab.".to_owned(),
        _ => "Loading…".to_owned(),
    };
    frame.render_widget(
        Paragraph::new(text)
            .style(if matches!(l, Loadable::Failed(_)) {
                cx.theme.error()
            } else {
                cx.theme.dim()
            })
            .block(Block::default().borders(Borders::ALL).title(title)),
        area,
    );
}

pub(super) fn render(app: &App, cx: &Ctx<'_>, frame: &mut Frame, area: Rect) {
    let t = cx.theme;
    let u = &app.usage;
    let (org_area, key_area, tabs_area, list_area) = crate::tui::app::layout::usage_split(area);
    let per = u.bucket().as_str();
    let unit = &per[..1];
    let org_title = format!(" Org per {per} (b) ");
    match &u.org {
        Loadable::Ready(o) => chart(cx, frame, org_area, org_title, &o.buckets, unit),
        other => loading_box(cx, frame, org_area, org_title, other),
    }
    let key_title = app.selected_key().map_or_else(
        || " Selected key ".to_owned(),
        |k| format!(" {} per {per} ", trunc(&k.name, 18)),
    );
    match &u.key {
        Loadable::Ready(k) => chart(cx, frame, key_area, key_title, &k.buckets, unit),
        other => loading_box(cx, frame, key_area, key_title, other),
    }

    let titles: Vec<String> = UsagePanel::ALL
        .iter()
        .map(|p| p.title().to_owned())
        .collect();
    let selected = UsagePanel::ALL
        .iter()
        .position(|p| *p == u.panel)
        .unwrap_or(0);
    frame.render_widget(
        Tabs::new(titles)
            .select(selected)
            .highlight_style(t.tab_active())
            .style(t.dim())
            .divider("│"),
        tabs_area,
    );
    let h = usize::from(list_area.height.saturating_sub(1)).max(1);
    // The selected row (Enter opens it) stays in view, below a header line.
    let (first, _) = u.list_window(h);
    let mark = |i: usize, line: Line<'static>| {
        if i == u.cursor {
            line.style(t.selected())
        } else {
            line
        }
    };
    let now = app.now;
    let mut lines: Vec<Line<'_>> = Vec::new();
    match u.panel {
        UsagePanel::TopKeys => match &u.org {
            Loadable::Ready(o) => {
                lines.push(Line::from(Span::styled(
                    format!(
                        "{:<24} {:>9} {:>7} {:>7} {:>7}",
                        "key", "ok", "401", "403", "429"
                    ),
                    t.title(),
                )));
                if o.top_keys.is_empty() {
                    lines.push(Line::from(Span::styled(
                        "No traffic in this range.",
                        t.dim(),
                    )));
                }
                for (i, k) in o.top_keys.iter().enumerate().skip(first).take(h) {
                    lines.push(mark(
                        i,
                        Line::from(format!(
                            "{} {:>9} {:>7} {:>7} {:>7}",
                            pad(
                                if k.name.is_empty() {
                                    &k.key_id
                                } else {
                                    &k.name
                                },
                                24
                            ),
                            thousands(k.ok),
                            thousands(k.unauthorized),
                            thousands(k.forbidden),
                            thousands(k.rate_limited)
                        )),
                    ));
                }
            }
            _ => lines.push(Line::from(Span::styled("Loading…", t.dim()))),
        },
        UsagePanel::Stale | UsagePanel::RotationDue => {
            let (l, empty) = if u.panel == UsagePanel::Stale {
                (
                    &u.stale,
                    "No stale keys: every key was used in the last 30 days.",
                )
            } else {
                (&u.old, "No key is older than 90 days.")
            };
            match l {
                Loadable::Ready(keys) => {
                    if keys.is_empty() {
                        lines.push(Line::from(Span::styled(empty, t.ok())));
                    }
                    for (i, k) in keys.iter().enumerate().skip(first).take(h) {
                        lines.push(mark(
                            i,
                            Line::from(vec![
                                Span::raw(format!("{} ", pad(&k.name, 24))),
                                Span::styled(format!("{} ", pad(&k.id, 16)), t.dim()),
                                Span::raw(format!(
                                    "created {:<9} used {}",
                                    ago(k.created_at, now),
                                    k.last_used_at
                                        .map_or_else(|| "never".to_owned(), |x| ago(x, now))
                                )),
                            ]),
                        ));
                    }
                }
                Loadable::Failed(e) => {
                    lines.push(Line::from(Span::styled(e.message.clone(), t.error())))
                }
                _ => lines.push(Line::from(Span::styled("Loading…", t.dim()))),
            }
        }
        UsagePanel::Failures => match &u.failures {
            Loadable::Ready(evs) => {
                if evs.is_empty() {
                    lines.push(Line::from(Span::styled(
                        "No denied requests recorded.",
                        t.ok(),
                    )));
                }
                for (i, e) in evs.iter().enumerate().skip(first).take(h) {
                    lines.push(mark(
                        i,
                        Line::from(vec![
                            Span::styled(format!("{:<8} ", ago(e.at, now)), t.dim()),
                            Span::styled(format!("{:<20} ", e.code), t.error()),
                            Span::raw(format!("{} {} ", e.method, trunc(&e.path, 18))),
                            Span::styled(
                                // The request id first: it is what a customer quotes
                                // and Enter looks up.
                                format!(
                                    "{} {}",
                                    e.request_id,
                                    e.key_id.as_deref().map_or("-", |k| k)
                                ),
                                t.dim(),
                            ),
                        ]),
                    ));
                }
            }
            Loadable::Failed(e) => {
                lines.push(Line::from(Span::styled(e.message.clone(), t.error())))
            }
            _ => lines.push(Line::from(Span::styled("Loading…", t.dim()))),
        },
    }
    frame.render_widget(
        Paragraph::new(lines).block(Block::default().borders(Borders::TOP)),
        list_area,
    );
}
