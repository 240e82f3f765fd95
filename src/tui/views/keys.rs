//! Keys tab: the table (only the visible window of rows is built) and, on wide terminals,
//! the detail pane.

use ratatui::Frame;
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Borders, Cell, Paragraph, Row, Table, Wrap};

use super::{Ctx, ago, short_span, trunc, until};
use crate::api::KeyObject;
use crate::domain::record::KeyStatus;
use crate::tui::app::{App, DETAIL_ROWS, DetailPane};

/// Compact scopes: `*`, `runs:read +2`.
pub fn scopes_summary(scopes: &[String]) -> String {
    match scopes {
        [] => "(none)".to_owned(),
        [one] => one.clone(),
        [first, rest @ ..] => format!("{first} +{}", rest.len()),
    }
}

/// Status with a text cue that reads without colour.
pub fn status_text(k: &KeyObject) -> String {
    let rotating = k.rotated_to.is_some() && k.status == KeyStatus::Expiring;
    if k.leaked_at.is_some() && crate::tui::app::review::usable(k) {
        return "LEAKED".to_owned();
    }
    match k.status {
        KeyStatus::Active => "active".to_owned(),
        KeyStatus::Disabled => "DISABLED".to_owned(),
        KeyStatus::Expiring if rotating => "rotating".to_owned(),
        KeyStatus::Expiring => "expiring".to_owned(),
        KeyStatus::Expired => "EXPIRED".to_owned(),
    }
}

pub(super) fn render(app: &App, cx: &Ctx<'_>, frame: &mut Frame, area: Rect) {
    let (table_area, detail_area) = match app.detail_pane() {
        DetailPane::Right => {
            let [a, b] =
                Layout::horizontal([Constraint::Min(60), Constraint::Length(56)]).areas(area);
            (a, Some(b))
        }
        DetailPane::Below => {
            let [a, b] =
                Layout::vertical([Constraint::Min(3), Constraint::Length(DETAIL_ROWS)]).areas(area);
            (a, Some(b))
        }
        DetailPane::None => (area, None),
    };
    render_table(app, cx, frame, table_area);
    if let Some(d) = detail_area {
        render_detail(app, cx, frame, d, app.selected_key());
    }
}

fn render_table(app: &App, cx: &Ctx<'_>, frame: &mut Frame, area: Rect) {
    let t = cx.theme;
    let k = &app.keys;
    let block = Block::default().borders(Borders::TOP);
    let inner_h = usize::from(area.height.saturating_sub(2)); // top border + header row
    if k.shown() == 0 {
        let msg = if k.loading {
            "Loading keys…".to_owned()
        } else if let Some(e) = &k.error {
            format!(
                "Could not load keys: {}. Ctrl-r to retry.",
                e.message.trim_end_matches('.')
            )
        } else if !k.filter.is_empty() {
            format!("No key matches “{}”. Esc clears the filter.", k.filter)
        } else {
            "No keys yet. Press n to create one.".to_owned()
        };
        frame.render_widget(Paragraph::new(msg).style(t.dim()).block(block), area);
        return;
    }
    // The visible window only: cost is independent of how many keys are loaded.
    let start = k.offset.min(k.shown());
    let end = (start + inner_h).min(k.shown());
    let now = app.now;
    // Full ids when there is room; they are what people search and paste.
    let id_w: u16 = if area.width >= 110 { 32 } else { 14 };
    let rows: Vec<Row<'_>> = k
        .rows_between(start, end)
        .into_iter()
        .enumerate()
        .map(|(i, idx)| {
            let key = &k.rows[idx];
            let status = status_text(key);
            let status_style = match key.status {
                _ if key.leaked_at.is_some() => t.error(),
                KeyStatus::Active => t.ok(),
                KeyStatus::Disabled | KeyStatus::Expired => t.error(),
                KeyStatus::Expiring => t.warn(),
            };
            let mark = if k.marked.contains(&key.id) {
                "▶"
            } else {
                " "
            };
            let row = Row::new(vec![
                Cell::from(format!("{mark}{}", key.name)),
                Cell::from(trunc(&key.id, usize::from(id_w))),
                Cell::from(key.env.as_str()),
                Cell::from(
                    key.app_id
                        .as_deref()
                        .map_or_else(|| "-".to_owned(), |a| trunc(a, 8)),
                ),
                Cell::from(scopes_summary(&key.scopes)),
                Cell::from(Span::styled(status, status_style)),
                Cell::from(key.last_used_at.map_or_else(
                    || "never".to_owned(),
                    |u| short_span((now - u).num_seconds()),
                )),
                Cell::from(
                    key.expires_at
                        .map_or_else(|| "-".to_owned(), |e| until(e, now)),
                ),
            ]);
            if start + i == k.selected {
                row.style(t.selected())
            } else {
                row
            }
        })
        .collect();
    let header = Row::new([
        "Name", "Key", "Env", "App", "Scopes", "Status", "Used", "Expires",
    ])
    .style(t.title());
    let widths = [
        Constraint::Min(10),
        Constraint::Length(id_w),
        Constraint::Length(4),
        Constraint::Length(8),
        Constraint::Length(13),
        Constraint::Length(8),
        Constraint::Length(5),
        Constraint::Length(7),
    ];
    frame.render_widget(
        Table::new(rows, widths)
            .header(header)
            .column_spacing(1)
            .block(block),
        area,
    );
}

/// The detail of one key (pane or modal).
pub fn detail_lines(app: &App, cx: &Ctx<'_>, key: &KeyObject) -> Vec<Line<'static>> {
    let t = cx.theme;
    let now = app.now;
    let field = |label: &str, value: String| {
        Line::from(vec![
            Span::styled(format!("{label:<13}"), t.dim()),
            Span::raw(value),
        ])
    };
    let mut lines = vec![
        Line::from(Span::styled(key.name.clone(), t.title())),
        field("Key id", key.id.clone()),
        field("Status", status_text(key)),
    ];
    lines.extend(super::review::leak_lines(app, cx, key));
    lines.push(field(
        "Owner",
        key.owner
            .clone()
            .unwrap_or_else(|| "none (e names one)".to_owned()),
    ));
    if let Some(d) = &key.description {
        lines.push(field("Description", d.clone()));
    }
    lines.push(field("Scopes", super::review::scopes_value(app, key)));
    lines.extend([
        field("Environment", key.env.as_str().to_owned()),
        field(
            "App",
            key.app_id
                .clone()
                .unwrap_or_else(|| "org-scoped (any app)".to_owned()),
        ),
        field(
            "Secret ends",
            format!(
                "{}  (shown once at creation; only a hash is stored)",
                key.secret_hint
            ),
        ),
        field(
            "Domains",
            if key.allowed_domains.is_empty() {
                "none (secret required)".to_owned()
            } else {
                key.allowed_domains.join(" ")
            },
        ),
        field(
            "Created",
            format!(
                "{} ({})",
                key.created_at.format("%Y-%m-%d %H:%M"),
                ago(key.created_at, now)
            ),
        ),
        field(
            "Last used",
            key.last_used_at
                .map_or_else(|| "never".to_owned(), |u| ago(u, now)),
        ),
        field(
            "Expires",
            key.expires_at.map_or_else(
                || "never".to_owned(),
                |e| format!("{} ({})", e.format("%Y-%m-%d %H:%M"), until(e, now)),
            ),
        ),
        field("Version", key.version.to_string()),
    ]);
    if let Some(from) = &key.rotated_from {
        lines.push(field("Replaces", from.clone()));
    }
    if let Some(to) = &key.rotated_to {
        if key.status == KeyStatus::Expiring {
            lines.push(Line::from(Span::styled(
                format!("Rotation in progress → {to} (r reopens the monitor)"),
                t.warn(),
            )));
        } else {
            lines.push(field("Rotated to", to.clone()));
        }
    }
    if (now - key.created_at).num_days() >= 90 && key.rotated_to.is_none() {
        lines.push(Line::from(Span::styled(
            "Older than 90 days: rotation is due.",
            t.warn(),
        )));
    }
    lines
}

fn render_detail(app: &App, cx: &Ctx<'_>, frame: &mut Frame, area: Rect, key: Option<&KeyObject>) {
    let block = Block::default().borders(Borders::ALL).title(" Details ");
    let lines = match key {
        Some(k) => detail_lines(app, cx, k),
        None => vec![Line::from(Span::styled("No key selected.", cx.theme.dim()))],
    };
    frame.render_widget(
        Paragraph::new(lines)
            .wrap(Wrap { trim: false })
            .block(block),
        area,
    );
}
