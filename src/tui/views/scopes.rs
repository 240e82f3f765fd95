//! Scopes tab: the catalog with descriptions and, for the selected key, a checklist (what it
//! holds, directly or through a wildcard) that can be edited; beside it, the reverse view
//! "which keys hold this scope?" for access reviews.

use ratatui::Frame;
use ratatui::layout::Rect;
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Borders, Paragraph, Wrap};

use super::{Ctx, thousands, trunc};
use crate::domain::scope::{Scope, ScopeSet};
use crate::tui::app::App;
use crate::tui::app::Loadable;
use crate::tui::app::modal::checklist_rows;

pub(super) fn render(app: &App, cx: &Ctx<'_>, frame: &mut Frame, area: Rect) {
    let t = cx.theme;
    let Some(catalog) = &app.catalog else {
        frame.render_widget(
            Paragraph::new("Loading the scope catalog…").style(t.dim()),
            area,
        );
        return;
    };
    let rows = checklist_rows(&catalog.scopes);
    let (list_area, side) =
        crate::tui::app::layout::scopes_split(area, app.scopes.holders.is_some());
    let editing = app.scopes.edit.as_ref();
    let key = app.selected_key();
    let held: Option<ScopeSet> = match (editing, key) {
        (Some(e), _) => ScopeSet::parse(&e.checked.iter().collect::<Vec<_>>()).ok(),
        (None, Some(k)) => ScopeSet::parse(&k.scopes).ok(),
        _ => None,
    };
    let title = match (editing, key) {
        (Some(e), _) => format!(
            " Editing scopes of {} — Space toggles, s saves, Esc cancels ",
            e.key_name
        ),
        (None, Some(k)) => format!(
            " Catalog — ✓ held by {} (e edits, w: who holds) ",
            trunc(&k.name, 20)
        ),
        _ => " Catalog (w: which keys hold a scope) ".to_owned(),
    };
    let block = Block::default().borders(Borders::ALL).title(title);
    let inner_h = usize::from(list_area.height.saturating_sub(2)).max(1);
    let mut extra: Vec<Line<'_>> = Vec::new();
    if let Some(e) = editing {
        if e.saving {
            extra.push(Line::from(Span::styled("Saving…", t.dim())));
        }
        if let Some(r) = &e.refused {
            extra.push(Line::from(Span::styled(r.clone(), t.error())));
        }
    }
    let (start, list_h) = app.scopes.catalog_window(inner_h);
    let mut lines: Vec<Line<'_>> = rows
        .iter()
        .enumerate()
        .skip(start)
        .take(list_h)
        .map(|(i, (name, desc))| {
            let (mark, style) = match (&held, editing) {
                (Some(set), Some(e)) => {
                    if e.checked.contains(name) {
                        ("[x]", t.ok())
                    } else if Scope::parse(name).is_ok_and(|s| set.covers(&s)) {
                        ("[·]", t.dim())
                    } else {
                        ("[ ]", t.text())
                    }
                }
                (Some(set), None) => {
                    if Scope::parse(name).is_ok_and(|s| set.covers(&s)) {
                        (" ✓ ", t.ok())
                    } else {
                        ("   ", t.text())
                    }
                }
                _ => ("   ", t.text()),
            };
            let line = Line::from(vec![
                Span::styled(format!("{mark} "), style),
                Span::styled(format!("{name:<22}"), style),
                Span::styled(desc.clone(), t.dim()),
            ]);
            if i == app.scopes.cursor {
                line.style(t.selected())
            } else {
                line
            }
        })
        .collect();
    lines.extend(extra);
    frame.render_widget(Paragraph::new(lines).block(block), list_area);

    if let (Some(side), Some((scope, holders))) = (side, &app.scopes.holders) {
        let picking = app.scopes.holder;
        let title = if picking.is_some() {
            format!(" Keys holding {scope} (Enter opens, ← back) ")
        } else {
            format!(" Keys holding {scope} (→ picks) ")
        };
        let block = Block::default().borders(Borders::ALL).title(title);
        let width = usize::from(side.width.saturating_sub(2));
        // Rows below the count line; the picked one stays in view.
        let room = crate::tui::app::layout::holder_rows(side);
        let first = app.scopes.holder_first(room);
        let lines: Vec<Line<'_>> = match holders {
            Loadable::Ready((keys, total)) => {
                let mut l = vec![Line::from(Span::styled(
                    format!(
                        "{} key(s){}",
                        thousands(total.unwrap_or(keys.len() as u64)),
                        if total.is_some_and(|n| n as usize > keys.len()) {
                            " (first 200 shown)"
                        } else {
                            ""
                        }
                    ),
                    t.title(),
                ))];
                if keys.is_empty() {
                    l.push(Line::from(Span::styled("No key holds it.", t.dim())));
                }
                for (i, k) in keys.iter().enumerate().skip(first).take(room) {
                    let row = super::cut_line(
                        vec![
                            Span::raw(trunc(&k.name, 18)),
                            Span::raw(" "),
                            Span::styled(trunc(&k.id, 16), t.dim()),
                            Span::raw(" "),
                            Span::styled(k.scopes.join(" "), t.dim()),
                        ],
                        width,
                    );
                    l.push(if picking == Some(i) {
                        row.style(t.selected())
                    } else {
                        row
                    });
                }
                l
            }
            Loadable::Failed(e) => vec![Line::from(Span::styled(e.message.clone(), t.error()))],
            _ => vec![Line::from(Span::styled("Loading…", t.dim()))],
        };
        frame.render_widget(
            Paragraph::new(lines).wrap(Wrap { trim: true }).block(block),
            side,
        );
    }
}
