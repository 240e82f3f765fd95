//! The bulk rotation modal: blast radius, grace, progress, and the new secrets.

use ratatui::Frame;
use ratatui::layout::Rect;
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Borders, Clear, Paragraph, Wrap};

use super::wizard::body_area;
use super::{Ctx, masked, thousands, trunc};
use crate::tui::app::bulk::{Bulk, BulkStep};
use crate::tui::app::wizard::GraceChoice;

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
    let inner = block.inner(rect);
    frame.render_widget(block, rect);
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
            lines.push(Line::from(Span::styled(
                "↑↓ grace   Enter: rotate all   Esc: cancel",
                t.dim(),
            )));
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
            lines.push(Line::from(Span::styled(
                "v show  c copy  w write file  Enter: I have stored them  Esc: close",
                t.dim(),
            )));
        }
    }
    frame.render_widget(Paragraph::new(lines).wrap(Wrap { trim: false }), inner);
}
