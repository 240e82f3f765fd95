//! Audit tab: the append-only log, newest first, with the actor of every change.

use ratatui::Frame;
use ratatui::layout::{Constraint, Rect};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Borders, Cell, Paragraph, Row, Table};

use super::{Ctx, ago, trunc};
use crate::api::AuditEntry;
use crate::tui::app::App;

fn summary(e: &AuditEntry) -> String {
    match &e.changes {
        serde_json::Value::Object(m) => m
            .iter()
            .map(|(k, v)| match v {
                serde_json::Value::Object(ft) if ft.contains_key("from") => {
                    format!("{k}: {} → {}", compact(&ft["from"]), compact(&ft["to"]))
                }
                other => format!("{k}={}", compact(other)),
            })
            .collect::<Vec<_>>()
            .join("; "),
        other => compact(other),
    }
}

fn compact(v: &serde_json::Value) -> String {
    match v {
        serde_json::Value::String(s) => s.clone(),
        serde_json::Value::Array(a) => a.iter().map(compact).collect::<Vec<_>>().join(" "),
        serde_json::Value::Null => "∅".to_owned(),
        other => other.to_string(),
    }
}

/// The crumb: `Audit › key pk_… › key.rotated › actor: user ana@acme.test   12 loaded`.
pub(super) fn crumb(app: &App, cx: &Ctx<'_>) -> Line<'static> {
    let t = cx.theme;
    let a = &app.audit;
    let mut s = vec![Span::styled("Audit", t.title())];
    if let Some(k) = &a.key_filter {
        s.push(Span::raw(format!(" › key {k}")));
    }
    if let Some(i) = a.action_filter {
        s.push(Span::raw(format!(
            " › {}",
            crate::tui::app::tabs::AUDIT_ACTIONS[i]
        )));
    }
    if let Some(f) = &a.actor_filter {
        s.push(Span::raw(format!(" › actor: {}", f.label)));
    }
    s.push(Span::raw(format!("   {} loaded", a.rows.len())));
    if a.next_cursor.is_some() {
        s.push(Span::styled(" (more below)", t.dim()));
    }
    Line::from(s)
}

pub(super) fn render(app: &App, cx: &Ctx<'_>, frame: &mut Frame, area: Rect) {
    let t = cx.theme;
    let a = &app.audit;
    let block = Block::default().borders(Borders::TOP);
    if a.rows.is_empty() {
        let msg = match (&a.error, a.loading) {
            (Some(e), _) => format!(
                "Could not load the audit log: {}. Ctrl-r retries.",
                e.message.trim_end_matches('.')
            ),
            (None, true) => "Loading…".to_owned(),
            (None, false) => "No audit entries match.".to_owned(),
        };
        frame.render_widget(Paragraph::new(msg).style(t.dim()).block(block), area);
        return;
    }
    let h = usize::from(area.height.saturating_sub(2));
    let start = a.offset.min(a.rows.len());
    let end = (start + h).min(a.rows.len());
    let now = app.now;
    let rows: Vec<Row<'_>> = a.rows[start..end]
        .iter()
        .enumerate()
        .map(|(i, e)| {
            let actor = trunc(
                &crate::tui::session::actor_label(e, |k| {
                    app.keys.get(k).map(|key| key.name.clone())
                }),
                22,
            );
            let row = Row::new(vec![
                Cell::from(ago(e.at, now)),
                Cell::from(Span::styled(e.action.clone(), t.title())),
                Cell::from(
                    e.key_id
                        .as_deref()
                        .map_or_else(|| "-".to_owned(), |k| trunc(k, 16)),
                ),
                Cell::from(actor),
                Cell::from(summary(e)),
            ]);
            if start + i == a.selected {
                row.style(t.selected())
            } else {
                row
            }
        })
        .collect();
    let header = Row::new(["When", "Action", "Key", "Actor", "Changes"]).style(t.title());
    let widths = [
        Constraint::Length(9),
        Constraint::Length(12),
        Constraint::Length(16),
        Constraint::Length(22),
        Constraint::Min(10),
    ];
    frame.render_widget(
        Table::new(rows, widths)
            .header(header)
            .column_spacing(1)
            .block(block),
        area,
    );
}
