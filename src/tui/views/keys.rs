//! Keys tab: the table (only the visible window of rows is built) and, on wide terminals,
//! the detail pane.

use ratatui::Frame;
use ratatui::layout::{Constraint, Rect};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Borders, Cell, Paragraph, Row, Table, Wrap};

use super::{Ctx, ago, short_span, trunc, until, width};
use crate::api::KeyObject;
use crate::domain::record::KeyStatus;
use crate::tui::app::App;

/// The Scopes cell in `w` columns: as many scopes as fit, then `+N` for the ones left out.
/// `+N` always shows when scopes are hidden: a first scope too long for the cell is cut
/// with `…` to make room for it.
pub fn scopes_cell(scopes: &[String], w: usize) -> String {
    let n = scopes.len();
    if n == 0 {
        return trunc("(none)", w);
    }
    for shown in (1..=n).rev() {
        let mut s = scopes[..shown].join(" ");
        if shown < n {
            s.push_str(&format!(" +{}", n - shown));
        }
        if width(&s) <= w {
            return s;
        }
    }
    if n == 1 {
        return trunc(&scopes[0], w);
    }
    let more = format!(" +{}", n - 1);
    if width(&more) + 2 > w {
        // Not even one letter and `…` of the first scope fit: say how many there are.
        return trunc(&format!("+{n}"), w);
    }
    format!("{}{more}", trunc(&scopes[0], w - width(&more)))
}

/// The other key of a rotation, as the list shows it: `→` and the new key on the old one
/// (for as long as it is listed), `←` and the old key on the new one while the rotation
/// can still be going on (the old key is loaded, or the new key is younger than the
/// longest grace, 30 days).
fn rotation_link<'k>(app: &App, k: &'k KeyObject) -> Option<(&'static str, &'k str)> {
    if let Some(to) = &k.rotated_to {
        return Some(("→", to));
    }
    let from = k.rotated_from.as_deref()?;
    let recent = (app.now - k.created_at).num_days() < 30;
    (recent || app.keys.get(from).is_some()).then_some(("←", from))
}

/// The status cell's texts, widest first: `rotating → pk_…1a2b`, `rotating → …1a2b`,
/// `rotating→…1a2b`, `rotating→`; just the status when no rotation links the key.
fn status_variants(app: &App, k: &KeyObject) -> Vec<String> {
    let word = status_text(k);
    let Some((arrow, other)) = rotation_link(app, k) else {
        return vec![word];
    };
    let tail: String = {
        let chars: Vec<char> = other.chars().collect();
        chars[chars.len().saturating_sub(4)..].iter().collect()
    };
    vec![
        format!("{word} {arrow} pk_…{tail}"),
        format!("{word} {arrow} …{tail}"),
        format!("{word}{arrow}…{tail}"),
        format!("{word}{arrow}"),
    ]
}

/// The widest of `variants` that fits in `w` columns (the last one cut with `…` if none does).
fn fitting(variants: &[String], w: usize) -> String {
    variants
        .iter()
        .find(|v| width(v) <= w)
        .cloned()
        .unwrap_or_else(|| trunc(variants.last().map_or("", String::as_str), w))
}

/// Widths of the Name, Scopes and Status columns in `avail` columns (what the fixed
/// columns leave): 10, 13 and 8 at least. A rotation's link in Status comes in forms from
/// `rotating→` to `rotating → pk_…1a2b` (`status` holds the widths the shown rows need for
/// each, shortest first). The spare width goes, in turn, to the shortest form (taken from
/// Scopes, down to 11, when nothing is spare), Name up to 16, the middle form, Name up to
/// 24, the long form, Name up to 32, Scopes up to 40 (more scopes before `+N`), and the
/// rest to Name. Only the status widths depend on the rows shown, so scrolling past keys
/// that were not rotated does not move the columns.
fn column_widths(avail: usize, status: [usize; 3]) -> (usize, usize, usize) {
    let (mut name, mut scopes, mut stat) = (10usize, 13usize, 8usize);
    let mut spare = avail.saturating_sub(name + scopes + stat);
    let grow = |col: &mut usize, want: usize, spare: &mut usize| {
        let add = want.saturating_sub(*col).min(*spare);
        *col += add;
        *spare -= add;
    };
    grow(&mut stat, status[0], &mut spare);
    let take = status[0]
        .saturating_sub(stat)
        .min(scopes.saturating_sub(11));
    scopes -= take;
    stat += take;
    grow(&mut name, 16, &mut spare);
    grow(&mut stat, status[1], &mut spare);
    grow(&mut name, 24, &mut spare);
    grow(&mut stat, status[2], &mut spare);
    grow(&mut name, 32, &mut spare);
    grow(&mut scopes, 40, &mut spare);
    (name + spare, scopes, stat)
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
    let (table_area, detail_area) = crate::tui::app::layout::keys_split(app.detail_pane(), area);
    render_table(app, cx, frame, table_area);
    if let Some(d) = detail_area {
        render_detail(app, cx, frame, d, app.selected_key());
    }
}

fn render_table(app: &App, cx: &Ctx<'_>, frame: &mut Frame, area: Rect) {
    let t = cx.theme;
    let k = &app.keys;
    let block = Block::default().borders(Borders::TOP);
    let inner_h = crate::tui::app::layout::table_rows(area);
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
    let visible = k.rows_between(start, end);
    // Full ids when there is room; they are what people search and paste.
    let id_w: u16 = if area.width >= 110 { 32 } else { 14 };
    // Env, App, Used, Expires, and a column of spacing between each of the eight.
    // Expires is one wider while it carries the sort arrow ("Expires▼").
    let expires_w: u16 = if k.sort.column() == Some("Expires") {
        8
    } else {
        7
    };
    let fixed = usize::from(id_w) + 4 + 8 + 5 + usize::from(expires_w) + 7;
    let statuses: Vec<Vec<String>> = visible
        .iter()
        .map(|&idx| status_variants(app, &k.rows[idx]))
        .collect();
    // What the shown rows need for each form of the status (see `status_variants`).
    let need = |form: usize| {
        statuses
            .iter()
            .map(|v| v.get(form).map_or(width(&v[0]), |s| width(s)))
            .max()
            .unwrap_or(0)
    };
    let (name_w, scopes_w, status_w) = column_widths(
        usize::from(area.width).saturating_sub(fixed),
        [need(3), need(2), need(0)],
    );
    let rows: Vec<Row<'_>> = visible
        .into_iter()
        .zip(statuses)
        .enumerate()
        .map(|(i, (idx, status))| {
            let key = &k.rows[idx];
            let status = fitting(&status, status_w);
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
                Cell::from(trunc(&format!("{mark}{}", key.name), name_w)),
                Cell::from(trunc(&key.id, usize::from(id_w))),
                Cell::from(key.env.as_str()),
                Cell::from(
                    key.app_id
                        .as_deref()
                        .map_or_else(|| "-".to_owned(), |a| trunc(a, 8)),
                ),
                Cell::from(scopes_cell(&key.scopes, scopes_w)),
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
    // The column the list is ordered by carries the direction: ▲ smallest first.
    let sorted = k.sort.column();
    let arrow = if k.sort.descending(k.reversed) {
        "▼"
    } else {
        "▲"
    };
    let header = Row::new(
        [
            "Name", "Key", "Env", "App", "Scopes", "Status", "Used", "Expires",
        ]
        .map(|c| {
            if Some(c) == sorted {
                format!("{c}{arrow}")
            } else {
                c.to_owned()
            }
        }),
    )
    .style(t.title());
    let len = |w: usize| Constraint::Length(u16::try_from(w).unwrap_or(u16::MAX));
    let widths = [
        Constraint::Min(u16::try_from(name_w).unwrap_or(10)),
        Constraint::Length(id_w),
        Constraint::Length(4),
        Constraint::Length(8),
        len(scopes_w),
        len(status_w),
        Constraint::Length(5),
        Constraint::Length(expires_w),
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
    // Right under the status: a pane below the table (14 rows) has no room at the end.
    // Each id on a line of its own, so a narrow pane wraps only the note after it.
    if let Some(to) = &key.rotated_to {
        lines.push(field("Rotated to", to.clone()));
        if key.status == KeyStatus::Expiring {
            lines.push(Line::from(Span::styled(
                format!("{:<13}in progress: r reopens the monitor", ""),
                t.warn(),
            )));
        }
    }
    if let Some(from) = &key.rotated_from {
        lines.push(field("Rotated from", from.clone()));
        // While the old key still works, say until when.
        if let Some(e) = app
            .keys
            .get(from)
            .filter(|old| old.status == KeyStatus::Expiring)
            .and_then(|old| old.expires_at)
        {
            lines.push(Line::from(Span::styled(
                format!(
                    "{:<13}the old key still works, expires {}",
                    "",
                    until(e, now)
                ),
                t.warn(),
            )));
        }
    }
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
        field("Last request", last_used(key, now)),
        field(
            "Expires",
            key.expires_at.map_or_else(
                || "never".to_owned(),
                |e| format!("{} ({})", e.format("%Y-%m-%d %H:%M"), until(e, now)),
            ),
        ),
        field("Version", key.version.to_string()),
    ]);
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

/// The detail's "Last request": when a request last presented the key, allowed or refused
/// (API.md §5: every authenticated request moves `last_used_at`). When that was after the
/// key was disabled, or after it expired, the request was refused, and it says so: a
/// disabled key reads "just now (refused: disabled 2m ago)", never as if it were in use.
pub(crate) fn last_used(key: &KeyObject, now: chrono::DateTime<chrono::Utc>) -> String {
    let Some(at) = key.last_used_at else {
        return "never".to_owned();
    };
    let refused = if !key.enabled && at > key.updated_at {
        Some(format!("refused: disabled {}", ago(key.updated_at, now)))
    } else {
        key.expires_at
            .filter(|e| at > *e)
            .map(|e| format!("refused: expired {}", ago(e, now)))
    };
    match refused {
        Some(why) => format!("{} ({why})", ago(at, now)),
        None => ago(at, now),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tui::app::wizard::tests_support::key;
    use chrono::{Duration, Utc};

    #[test]
    fn a_request_after_a_disable_or_expiry_reads_as_refused() {
        let now = Utc::now();
        let mut k = key("Billing");
        k.updated_at = now - Duration::minutes(10);
        k.last_used_at = Some(now - Duration::minutes(1));
        assert_eq!(last_used(&k, now), "1m ago");
        k.enabled = false;
        assert_eq!(last_used(&k, now), "1m ago (refused: disabled 10m ago)");
        // Used before it was disabled: nothing to say.
        k.last_used_at = Some(now - Duration::minutes(20));
        assert_eq!(last_used(&k, now), "20m ago");
        k.enabled = true;
        k.expires_at = Some(now - Duration::minutes(30));
        k.last_used_at = Some(now - Duration::minutes(2));
        assert_eq!(last_used(&k, now), "2m ago (refused: expired 30m ago)");
        k.last_used_at = None;
        assert_eq!(last_used(&k, now), "never");
    }
}
