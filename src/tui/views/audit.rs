//! Audit tab: the append-only log, newest first, with the actor of every change; `Enter`
//! opens the selected entry in full (the table's Changes column is cut to the width left).

use ratatui::Frame;
use ratatui::layout::{Constraint, Rect};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Borders, Cell, Paragraph, Row, Table, Wrap};

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

/// Every field of a change on its own line, nothing cut: `name: Old → New`, and for lists
/// what was added and removed (`scopes: a b → a c  (+ c  − b)`).
pub(super) fn change_lines(changes: &serde_json::Value) -> Vec<String> {
    let serde_json::Value::Object(m) = changes else {
        return vec![compact(changes)];
    };
    if m.is_empty() {
        return vec!["(nothing recorded)".to_owned()];
    }
    m.iter()
        .map(|(k, v)| match v {
            serde_json::Value::Object(ft) if ft.contains_key("from") => {
                let (from, to) = (&ft["from"], &ft["to"]);
                let mut line = format!("{k}: {} → {}", compact(from), compact(to));
                if let (Some(f), Some(t)) = (from.as_array(), to.as_array()) {
                    let added: Vec<String> = t
                        .iter()
                        .filter(|x| !f.contains(x))
                        .map(|x| format!("+ {}", compact(x)))
                        .collect();
                    let removed: Vec<String> = f
                        .iter()
                        .filter(|x| !t.contains(x))
                        .map(|x| format!("− {}", compact(x)))
                        .collect();
                    let diff: Vec<String> = added.into_iter().chain(removed).collect();
                    if !diff.is_empty() {
                        line.push_str(&format!("  ({})", diff.join("  ")));
                    }
                }
                line
            }
            other => format!("{k} = {}", compact(other)),
        })
        .collect()
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
pub(super) fn crumb(app: &App, cx: &Ctx<'_>) -> Vec<super::Part> {
    use super::{KEEP, Part};
    let t = cx.theme;
    let a = &app.audit;
    let mut s = vec![Part::new(KEEP, Span::styled("Audit", t.title()))];
    if let Some(k) = &a.key_filter {
        s.push(Part::new(200, Span::raw(format!(" › key {k}"))));
    }
    if let Some(i) = a.action_filter {
        s.push(Part::new(
            200,
            Span::raw(format!(" › {}", crate::tui::app::audit::AUDIT_ACTIONS[i])),
        ));
    }
    if let Some(f) = &a.actor_filter {
        s.push(
            Part::new(200, Span::raw(format!(" › actor: {}", f.label)))
                .or(format!(" › actor: {}", super::trunc(&f.label, 20))),
        );
    }
    s.push(Part::new(
        150,
        Span::raw(format!("   {} loaded", a.rows.len())),
    ));
    if a.next_cursor.is_some() {
        s.push(Part::new(100, Span::styled(" (more below)", t.dim())));
    }
    s
}

/// The selected entry in full, in place of the table.
fn render_detail(app: &App, cx: &Ctx<'_>, frame: &mut Frame, area: Rect, e: &AuditEntry) {
    let t = cx.theme;
    let a = &app.audit;
    let key_name = |k: &str| app.keys.get(k).map(|key| key.name.clone());
    let row = |label: &str, value: String| {
        Line::from(vec![
            Span::styled(format!("{label:<8} "), t.dim()),
            Span::raw(value),
        ])
    };
    let mut lines = vec![
        row(
            "When",
            format!(
                "{}  ({})",
                e.at.format("%Y-%m-%d %H:%M:%S%.3f UTC"),
                ago(e.at, app.now)
            ),
        ),
        row("Action", e.action.clone()),
        row(
            "Key",
            e.key_id.as_deref().map_or_else(
                || "-".to_owned(),
                |k| match key_name(k) {
                    Some(n) => format!("{k} ({n})"),
                    None => k.to_owned(),
                },
            ),
        ),
        row(
            "Actor",
            format!(
                "{}  ({}:{})",
                crate::tui::session::actor_label(e, key_name),
                e.actor.kind.as_str(),
                e.actor.id
            ),
        ),
        row("Entry", e.id.clone()),
        Line::default(),
        Line::from(Span::styled("Changes", t.title())),
    ];
    lines.extend(
        change_lines(&e.changes)
            .into_iter()
            .map(|l| Line::from(format!("  {l}"))),
    );
    lines.push(Line::default());
    lines.push(match crate::tui::app::undo::not_reversible(&e.action) {
        None => Line::from(vec![
            Span::styled("u", t.key()),
            Span::raw(" undo: sets back each field that still has its new value (the diff first)"),
        ]),
        Some(why) => Line::from(Span::styled(format!("Cannot be undone: {why}"), t.dim())),
    });
    let title = format!(
        " Entry {} of {} (j/k previous/next, PgUp/PgDn scroll, Esc back) ",
        a.selected + 1,
        a.rows.len()
    );
    frame.render_widget(
        Paragraph::new(lines)
            .wrap(Wrap { trim: false })
            .scroll((a.detail_scroll, 0))
            .block(Block::default().borders(Borders::TOP).title(title)),
        area,
    );
}

pub(super) fn render(app: &App, cx: &Ctx<'_>, frame: &mut Frame, area: Rect) {
    let t = cx.theme;
    let a = &app.audit;
    if a.detail
        && let Some(e) = a.rows.get(a.selected)
    {
        render_detail(app, cx, frame, area, e);
        return;
    }
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
