//! The rotation wizard (five steps).

use ratatui::Frame;
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Borders, Clear, Paragraph, Sparkline, Wrap};

use super::{Button, Ctx, ago, button_click, button_line, button_row, thousands, until};
use crate::api::{KeyUsage, UsageBucket};
use crate::tui::app::wizard::{GraceChoice, Step, Wizard};
use crate::tui::app::{Action, App};

pub(super) fn body_area(area: Rect) -> Rect {
    // Below the header and crumb rows, above the toast and hint rows.
    Rect {
        x: area.x,
        y: area.y + 2,
        width: area.width,
        height: area.height.saturating_sub(4),
    }
}

fn series(u: Option<&KeyUsage>) -> Vec<u64> {
    u.map(|u| u.buckets.iter().map(UsageBucket::total).collect())
        .unwrap_or_default()
}

/// A per-minute sparkline that always ends at "now" on the right edge: the newest minutes
/// that fit, drawn right-aligned inside the block (a sparkline alone draws the oldest from
/// the left and cuts off the newest).
fn spark(
    frame: &mut Frame,
    area: Rect,
    block: Block<'_>,
    data: &[u64],
    style: ratatui::style::Style,
) {
    let inner = block.inner(area);
    frame.render_widget(block, area);
    let w = u16::try_from(data.len())
        .unwrap_or(u16::MAX)
        .min(inner.width);
    let shown = &data[data.len() - usize::from(w)..];
    let rect = Rect {
        x: inner.right().saturating_sub(w),
        width: w,
        ..inner
    };
    frame.render_widget(Sparkline::default().data(shown).style(style), rect);
}

/// The crumb text while the wizard is open.
pub fn crumb(w: &Wizard) -> String {
    format!(
        "Rotate {} ({}/5) › {}",
        w.old.name,
        w.step.number(),
        w.step.title()
    )
}

/// The step's buttons, on the wizard's last row.
fn buttons(w: &Wizard) -> Vec<Button> {
    let b = |key, label: &str, action| (key, label.to_owned(), action);
    match w.step {
        Step::Review => vec![
            b("Enter", " choose the grace period   ", Some(Action::Enter)),
            b("Esc", " cancel", Some(Action::Back)),
        ],
        Step::Grace => vec![
            b("↑↓", " choose   ", None),
            b("Enter", " rotate   ", Some(Action::Enter)),
            b("Esc", " back", Some(Action::Back)),
        ],
        Step::Rotate => Vec::new(),
        Step::CutOver => vec![
            b("Enter", " finish   ", Some(Action::Enter)),
            b("Space", " quiet period   ", Some(Action::Toggle)),
            b(
                "q",
                " leave (grace kept; r on the key reopens)",
                Some(Action::Quit),
            ),
        ],
        Step::Finish => vec![
            b("↑↓", " choose   ", None),
            b("Enter", " confirm   ", Some(Action::Enter)),
            b("Esc", " back to the monitor", Some(Action::Back)),
        ],
    }
}

/// The wizard's inside: the step's text, and the row of its buttons.
fn inside(area: Rect) -> (Rect, Rect) {
    button_row(
        Block::default()
            .borders(Borders::ALL)
            .inner(body_area(area)),
    )
}

/// What a click at (`column`, `row`) does: the step's buttons act as their keys do.
pub(super) fn click(area: Rect, w: &Wizard, column: u16, row: u16) -> Option<Action> {
    button_click(inside(area).1, buttons(w), column, row)
}

pub(super) fn render_wizard(app: &App, cx: &Ctx<'_>, frame: &mut Frame, area: Rect, w: &Wizard) {
    let t = cx.theme;
    let rect = body_area(area);
    frame.render_widget(Clear, rect);
    let title = format!(" {} ", crumb(w));
    let block = Block::default().borders(Borders::ALL).title(title);
    frame.render_widget(block, rect);
    let (inner, button_at) = inside(area);
    frame.render_widget(Paragraph::new(button_line(cx, buttons(w))), button_at);
    let now = app.now;
    let k = &w.old;
    let mut lines: Vec<Line<'_>> = Vec::new();
    let field = |label: &str, value: String| {
        Line::from(vec![
            Span::styled(format!("{label:<14}"), t.dim()),
            Span::raw(value),
        ])
    };
    match w.step {
        Step::Review => {
            lines.push(field("Key", format!("{} ({})", k.name, k.id)));
            lines.push(field("Scopes", k.scopes.join(" ")));
            lines.push(field(
                "Domains",
                if k.allowed_domains.is_empty() {
                    "none".to_owned()
                } else {
                    k.allowed_domains.join(" ")
                },
            ));
            lines.push(field(
                "App",
                k.app_id.clone().unwrap_or_else(|| "org-scoped".to_owned()),
            ));
            lines.push(field(
                "Age",
                format!(
                    "created {} ({})",
                    k.created_at.format("%Y-%m-%d"),
                    ago(k.created_at, now)
                ),
            ));
            lines.push(field(
                "Last used",
                k.last_used_at
                    .map_or_else(|| "never".to_owned(), |u| ago(u, now)),
            ));
            let rpm = w.old_rpm(60, now);
            lines.push(field(
                "Last hour",
                match &w.old_usage {
                    Some(_) => format!(
                        "{} requests, {rpm:.1} per minute",
                        thousands(w.last_hour_requests())
                    ),
                    None => "loading…".to_owned(),
                },
            ));
            lines.push(Line::default());
            lines.push(Line::from(
                "The new key gets the same name, scopes, domains, app and environment.",
            ));
            let [text, chart] =
                Layout::vertical([Constraint::Min(1), Constraint::Length(4)]).areas(inner);
            frame.render_widget(Paragraph::new(lines).wrap(Wrap { trim: false }), text);
            let data = series(w.old_usage.as_ref());
            spark(
                frame,
                chart,
                Block::default()
                    .borders(Borders::TOP)
                    .title(" requests per minute, last hour → now "),
                &data,
                t.series(0),
            );
            return;
        }
        Step::Grace => {
            lines.push(Line::from(
                "How long should the old key keep working after the new one exists?",
            ));
            lines.push(Line::default());
            for g in GraceChoice::ALL {
                let mark = if g == w.grace { "(•)" } else { "( )" };
                let mut spans = vec![Span::raw(format!("  {mark} {}", g.label()))];
                if g == GraceChoice::Custom && w.grace == GraceChoice::Custom {
                    spans.push(Span::styled(format!("  {}▏", w.custom.value()), t.focus()));
                    spans.push(Span::styled("  e.g. 90s, 15m, 36h, 2d", t.dim()));
                }
                let line = Line::from(spans);
                lines.push(if g == w.grace {
                    line.style(t.title())
                } else {
                    line
                });
            }
            if let Some(e) = &w.grace_error {
                lines.push(Line::from(Span::styled(format!("  ✗ {e}"), t.error())));
            }
            lines.push(Line::default());
            if w.grace == GraceChoice::Now && w.used_recently(now) {
                lines.push(Line::from(Span::styled(
                    format!(
                        "This key was used {} ({} requests in the last hour): clients still on it fail at once.",
                        k.last_used_at.map_or_else(|| "recently".to_owned(), |u| ago(u, now)),
                        thousands(w.last_hour_requests())
                    ),
                    t.warn(),
                )));
            }
            if let Some(e) = &w.error {
                lines.push(Line::from(Span::styled(e.clone(), t.error())));
            }
        }
        Step::Rotate => {
            lines.push(Line::from(if w.busy {
                "Rotating…"
            } else {
                "Rotated. The new secret is shown once."
            }));
        }
        Step::CutOver | Step::Finish => {
            let new = w.new.as_ref();
            let old_rpm = w.old_rpm(5, now);
            let new_rpm = w.new_rpm(5, now);
            let [top, charts, bottom] = Layout::vertical([
                Constraint::Length(4),
                Constraint::Length(7),
                Constraint::Min(1),
            ])
            .areas(inner);
            let head = vec![
                Line::from(vec![
                    Span::styled("Old ", t.dim()),
                    Span::raw(format!("{} ", k.id)),
                    Span::styled(
                        k.expires_at.map_or_else(
                            || "no expiry".to_owned(),
                            |e| format!("expires {}", until(e, now)),
                        ),
                        t.warn(),
                    ),
                ]),
                Line::from(vec![
                    Span::styled("New ", t.dim()),
                    Span::raw(new.map_or_else(|| "-".to_owned(), |n| n.id.clone())),
                    Span::styled(
                        match w.new_first_used {
                            Some(at) => format!("  first used {}", at.format("%H:%M UTC")),
                            None => "  not used yet: deploy the new secret".to_owned(),
                        },
                        if w.new_first_used.is_some() {
                            t.ok()
                        } else {
                            t.warn()
                        },
                    ),
                ]),
                Line::from(vec![
                    Span::raw(format!(
                        "Requests/min (last 5 min): old {old_rpm:.1}  →  new {new_rpm:.1}   "
                    )),
                    Span::styled("refreshes every 3 s", t.dim()),
                ]),
                match w.old_quiet_for(now) {
                    Some(m) if w.old_is_quiet(now) => Line::from(Span::styled(
                        format!(
                            "Old key quiet for {m} min (quiet period {} min): safe to expire it.",
                            w.quiet_minutes()
                        ),
                        t.ok(),
                    )),
                    Some(m) => Line::from(Span::styled(
                        format!(
                            "Old key quiet for {m} min; waiting for {} min of quiet (Space changes).",
                            w.quiet_minutes()
                        ),
                        t.warn(),
                    )),
                    None => Line::from(Span::styled("Loading traffic…", t.dim())),
                },
            ];
            frame.render_widget(Paragraph::new(head), top);
            let [l, r] =
                Layout::horizontal([Constraint::Percentage(50), Constraint::Percentage(50)])
                    .areas(charts);
            let old_data = series(w.old_usage.as_ref());
            let new_data = series(w.new_usage.as_ref());
            spark(
                frame,
                l,
                Block::default()
                    .borders(Borders::ALL)
                    .title(" old key, per minute → now "),
                &old_data,
                t.series(3),
            );
            spark(
                frame,
                r,
                Block::default()
                    .borders(Borders::ALL)
                    .title(" new key, per minute → now "),
                &new_data,
                t.series(0),
            );
            let mut foot: Vec<Line<'_>> = Vec::new();
            if w.step == Step::Finish {
                foot.push(Line::from("Finish the rotation:"));
                let opt = |on: bool, text: String| {
                    let line = Line::from(format!("  {} {text}", if on { "(•)" } else { "( )" }));
                    if on { line.style(t.title()) } else { line }
                };
                foot.push(opt(
                    !w.expire_now,
                    format!(
                        "Keep the grace period (old key expires {})",
                        k.expires_at.map_or_else(
                            || "-".to_owned(),
                            |e| format!("{} UTC", e.format("%Y-%m-%d %H:%M"))
                        )
                    ),
                ));
                foot.push(opt(w.expire_now, "Expire the old key now".to_owned()));
                if w.expire_now && w.expire_needs_typing(now) {
                    foot.push(Line::from(Span::styled(
                        "It still had traffic in the quiet period: you will type its name to confirm.",
                        t.warn(),
                    )));
                }
            }
            if w.busy {
                foot.push(Line::from(Span::styled("Saving…", t.dim())));
            }
            if let Some(e) = &w.error {
                foot.push(Line::from(Span::styled(e.clone(), t.error())));
            }
            frame.render_widget(Paragraph::new(foot).wrap(Wrap { trim: false }), bottom);
            return;
        }
    }
    frame.render_widget(Paragraph::new(lines).wrap(Wrap { trim: false }), inner);
}
