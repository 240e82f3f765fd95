//! The bulk rotation modal: blast radius, grace, progress, and the new secrets.

use ratatui::Frame;
use ratatui::layout::Rect;
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Borders, Clear, Paragraph, Wrap};

use super::wizard::body_area;
use super::{Button, button_click, button_line, button_row};
use super::{Ctx, masked, thousands, trunc};
use crate::tui::app::Action;
use crate::tui::app::bulk::{Bulk, BulkStep};
use crate::tui::app::wizard::GraceChoice;

/// The step's buttons, on the dialog's last row (none while the rotations run).
fn buttons(b: &Bulk) -> Vec<Button> {
    let btn = |key, label: &str, action| (key, label.to_owned(), action);
    match b.step {
        BulkStep::Plan => vec![
            btn("↑↓", " grace   ", None),
            btn("Enter", " rotate all   ", Some(Action::Enter)),
            btn("Esc", " cancel", Some(Action::Back)),
        ],
        BulkStep::Running => Vec::new(),
        BulkStep::Done => vec![
            btn("v", " show  ", Some(Action::Reveal)),
            btn("c", " copy  ", Some(Action::CopySecret)),
            btn("w", " write file  ", Some(Action::WriteFile)),
            btn("Enter", " I have stored them  ", Some(Action::Enter)),
            btn("Esc", " close", Some(Action::Back)),
        ],
    }
}

/// The dialog's inside: the step's text, and the row of its buttons.
fn inside(area: Rect) -> (Rect, Rect) {
    button_row(
        Block::default()
            .borders(Borders::ALL)
            .inner(body_area(area)),
    )
}

/// What a click at (`column`, `row`) does: the step's buttons act as their keys do.
pub(super) fn click(area: Rect, b: &Bulk, column: u16, row: u16) -> Option<Action> {
    button_click(inside(area).1, buttons(b), column, row)
}

pub(super) fn render(cx: &Ctx<'_>, frame: &mut Frame, area: Rect, b: &Bulk, on_top: bool) {
    let t = cx.theme;
    let rect = body_area(area);
    frame.render_widget(Clear, rect);
    let title = match b.step {
        BulkStep::Plan => format!(" Rotate {} marked keys ", b.keys.len()),
        BulkStep::Running => format!(" Rotating… {}/{} ", b.results.len(), b.keys.len()),
        BulkStep::Done => " New secrets: shown ONCE ".to_owned(),
    };
    let block = Block::default().borders(Borders::ALL).title(title);
    frame.render_widget(block, rect);
    let (inner, button_at) = inside(area);
    frame.render_widget(Paragraph::new(button_line(cx, buttons(b))), button_at);
    let mut lines: Vec<Line<'_>> = Vec::new();
    let h = usize::from(inner.height);
    match b.step {
        BulkStep::Plan | BulkStep::Running => {
            lines.push(Line::from(Span::styled("Blast radius", t.title())));
            lines.push(Line::from(format!(
                "{} keys · apps: {} · {} requests in the last hour",
                b.keys.len(),
                b.apps().join(", "),
                thousands(b.total_traffic())
            )));
            for k in b.keys.iter().take(h.saturating_sub(12)) {
                lines.push(Line::from(vec![
                    Span::raw(format!("  {:<28} ", trunc(&k.name, 28))),
                    Span::styled(format!("{:<34}", k.id), t.dim()),
                    Span::raw(format!(
                        "{} req/h",
                        thousands(b.traffic.get(&k.id).copied().unwrap_or(0))
                    )),
                ]));
            }
            if b.keys.len() > h.saturating_sub(12) {
                lines.push(Line::from(Span::styled(
                    format!("  … and {} more", b.keys.len() - h.saturating_sub(12)),
                    t.dim(),
                )));
            }
            lines.push(Line::default());
            lines.push(Line::from("One grace period for all of them:"));
            for g in GraceChoice::ALL {
                let mark = if g == b.grace { "(•)" } else { "( )" };
                let mut spans = vec![Span::raw(format!("  {mark} {}", g.label()))];
                if g == GraceChoice::Custom && b.grace == GraceChoice::Custom {
                    spans.push(Span::styled(format!("  {}▏", b.custom.value()), t.focus()));
                }
                lines.push(Line::from(spans));
            }
            if let Some(e) = &b.error {
                lines.push(Line::from(Span::styled(format!("✗ {e}"), t.error())));
            }
        }
        BulkStep::Done => {
            lines.push(Line::from(Span::styled(
                "Store these now: they cannot be shown again. v shows the selected one, c copies it.",
                t.warn(),
            )));
            for (i, r) in b.results.iter().enumerate() {
                let line = match &r.outcome {
                    Ok((k, s)) => {
                        let shown = on_top && i == b.cursor && b.shown_until.is_some();
                        Line::from(vec![
                            Span::raw(format!("{:<26} ", trunc(&r.old.name, 26))),
                            Span::styled(format!("{:<34}", k.id), t.dim()),
                            Span::raw(if shown {
                                s.expose().to_owned()
                            } else {
                                masked(s.expose())
                            }),
                        ])
                    }
                    Err(e) => Line::from(vec![
                        Span::raw(format!("{:<26} ", trunc(&r.old.name, 26))),
                        Span::styled(format!("failed: {e}"), t.error()),
                    ]),
                };
                lines.push(if i == b.cursor {
                    line.style(t.selected())
                } else {
                    line
                });
            }
            lines.push(Line::default());
            if let Some(f) = &b.file {
                lines.push(Line::from(vec![
                    Span::styled(
                        "Write NAME=secret lines to (new file, mode 0600): ",
                        t.dim(),
                    ),
                    Span::styled(f.value().to_owned(), t.focus()),
                    Span::raw("▏"),
                ]));
            }
            if let Some(n) = &b.note {
                lines.push(Line::from(Span::styled(n.clone(), t.ok())));
            }
        }
    }
    frame.render_widget(Paragraph::new(lines).wrap(Wrap { trim: false }), inner);
}
