//! Leaks and access review: the Review tab (findings grouped by kind, the selected one in a
//! panel with its scope diff and actions), the leak response modal, and what the key detail
//! adds (sightings, the use of each held scope).

use ratatui::Frame;
use ratatui::layout::Rect;
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Borders, Clear, Paragraph, Wrap};

use super::{Ctx, Part, ago, centered, pad, thousands, trunc};
use crate::api::{ActorKind, KeyObject, ReviewFinding};
use crate::domain::review::FindingKind;
use crate::tui::app::Loadable;
use crate::tui::app::review::{LeakChoice, ReviewRow, scope_diff, usable};
use crate::tui::app::{Action, App};

/// Sightings listed in the key detail.
const SHOWN_SIGHTINGS: usize = 2;

/// A kind in words.
pub fn kind_label(k: FindingKind) -> &'static str {
    match k {
        FindingKind::Leaked => "Leaked and still enabled",
        FindingKind::NoOwner => "No owner",
        FindingKind::Stale => "Stale",
        FindingKind::RotationDue => "Rotation due",
        FindingKind::OverPrivileged => "Over-privileged",
        FindingKind::Wildcard => "Wildcard scopes",
        FindingKind::NoExpiryTest => "Test key without expiry",
    }
}

/// The crumb row of the Review tab: how many findings of each kind, as parts that say how
/// much they matter (see [`super::fit`]). When the row is narrow the total, the leaked
/// count, a cut-off list and a stale view stay; the other counts go from the last kind
/// back (each kind's header in the list below still has its count).
pub(super) fn crumb(app: &App, cx: &Ctx<'_>) -> Vec<Part> {
    let t = cx.theme;
    let mut s = vec![Part::new(super::KEEP, Span::styled("Review", t.title()))];
    match &app.review.data {
        Loadable::Ready(r) => {
            let n = thousands(r.findings.len() as u64);
            s.push(
                Part::new(250, Span::raw(format!("   {n} findings"))).or(format!(" {n} findings")),
            );
            for (i, (k, n)) in app.review.counts().into_iter().enumerate() {
                let (keep, style) = if k == FindingKind::Leaked {
                    (240, t.error())
                } else {
                    (200 - u8::try_from(i).unwrap_or(100), t.dim())
                };
                s.push(Part::new(
                    keep,
                    Span::styled(format!("  {} {n}", k.as_str()), style),
                ));
            }
            if !r.truncated.is_empty() {
                s.push(Part::new(
                    230,
                    Span::styled(
                        format!("  (first 1,000 of {})", r.truncated.join(", ")),
                        t.warn(),
                    ),
                ));
            }
        }
        Loadable::Loading => s.push(Part::new(250, Span::styled("   loading…", t.dim()))),
        _ => {}
    }
    if app.review.loading && matches!(app.review.data, Loadable::Ready(_)) {
        s.push(Part::new(220, Span::styled("   reloading…", t.dim())));
    } else if app.review.stale {
        s.push(
            Part::new(
                220,
                Span::styled("   (keys changed; Ctrl-r reloads)", t.dim()),
            )
            .or("  (changed: Ctrl-r)".to_owned()),
        );
    }
    s
}

pub(super) fn render(app: &App, cx: &Ctx<'_>, frame: &mut Frame, area: Rect) {
    let t = cx.theme;
    let block = Block::default().borders(Borders::TOP);
    let msg = match &app.review.data {
        Loadable::Idle | Loadable::Loading => Some("Loading the access review…".to_owned()),
        Loadable::Failed(e) => Some(format!(
            "Could not load the review: {}. Ctrl-r retries.",
            e.message.trim_end_matches('.')
        )),
        Loadable::Ready(r) if r.findings.is_empty() => Some(
            "Nothing to act on: every usable key has an owner, is in use, holds only what it uses and is not leaked."
                .to_owned(),
        ),
        Loadable::Ready(_) => None,
    };
    if let Some(m) = msg {
        frame.render_widget(
            Paragraph::new(m)
                .style(t.dim())
                .wrap(Wrap { trim: true })
                .block(block),
            area,
        );
        return;
    }
    let panel = app.review_panel();
    let (list, bottom) = crate::tui::app::layout::review_split(area, panel);
    render_list(app, cx, frame, list, block);
    if panel > 0
        && let Some(f) = app.review.selected_finding()
    {
        render_panel(app, cx, frame, bottom, f);
    }
}

fn render_list(app: &App, cx: &Ctx<'_>, frame: &mut Frame, area: Rect, block: Block<'_>) {
    let t = cx.theme;
    let r = &app.review;
    let findings = r.findings();
    let rows = r.rows();
    let h = crate::tui::app::layout::review_list_rows(area);
    let w = usize::from(area.width);
    let name_w = (w / 3).clamp(12, 34);
    let id_w = if w >= 110 { 32 } else { 14 };
    let detail_w = w.saturating_sub(name_w + id_w + 6);
    let lines: Vec<Line<'_>> = rows
        .iter()
        .skip(r.offset)
        .take(h)
        .map(|row| match *row {
            ReviewRow::Header(kind, n) => Line::from(vec![
                Span::styled(
                    format!("{} ({n})", kind_label(kind)),
                    if kind == FindingKind::Leaked {
                        t.error()
                    } else {
                        t.title()
                    },
                ),
                Span::styled(format!("  {}", kind.advice()), t.dim()),
            ]),
            ReviewRow::Finding(i) => {
                let f = &findings[i];
                let text = format!(
                    "  {} {} {}",
                    pad(&f.key.name, name_w),
                    pad(&f.key.id, id_w),
                    trunc(&f.detail, detail_w),
                );
                let style = if i == r.selected {
                    t.selected()
                } else if f.kind == FindingKind::Leaked.as_str() {
                    t.error()
                } else {
                    t.text()
                };
                Line::from(Span::styled(text, style))
            }
        })
        .collect();
    frame.render_widget(Paragraph::new(lines).block(block), area);
}

/// What can be done about a finding, as key hints.
fn actions(f: &ReviewFinding) -> Vec<(&'static str, &'static str)> {
    let mut v = vec![("Enter", "open key")];
    match FindingKind::parse(&f.kind) {
        Some(FindingKind::Leaked) => {
            v.push(("L", "rotate or disable"));
            v.push(("r", "rotate"));
            v.push(("Space", "disable"));
        }
        Some(FindingKind::NoOwner) => v.push(("o", "set owner")),
        Some(FindingKind::Stale) => v.push(("Space", "disable")),
        Some(FindingKind::RotationDue) => v.push(("r", "rotate")),
        Some(FindingKind::OverPrivileged) => v.push(("p", "narrow to the suggested scopes")),
        Some(FindingKind::Wildcard | FindingKind::NoExpiryTest) => {
            v.push(("Enter", "open in Keys, then e edits it"))
        }
        None => {}
    }
    v
}

fn render_panel(app: &App, cx: &Ctx<'_>, frame: &mut Frame, area: Rect, f: &ReviewFinding) {
    let t = cx.theme;
    let k = &f.key;
    let mut lines = vec![Line::from(vec![
        Span::styled(k.name.clone(), t.title()),
        Span::styled(format!("  {}  ", k.id), t.dim()),
        Span::raw(format!("owner: {}", k.owner.as_deref().unwrap_or("none"))),
    ])];
    lines.push(Line::from(f.detail.clone()));
    if let Some(suggested) = &f.suggested {
        let (removed, kept, added) = scope_diff(&k.scopes, suggested);
        let mut spans = vec![Span::styled("Scopes  ", t.dim())];
        for s in removed {
            spans.push(Span::styled(format!("-{s} "), t.error()));
        }
        for s in kept {
            spans.push(Span::raw(format!("={s} ")));
        }
        for s in added {
            spans.push(Span::styled(format!("+{s} "), t.ok()));
        }
        lines.push(Line::from(spans));
    } else {
        lines.push(Line::from(vec![
            Span::styled("Scopes  ", t.dim()),
            Span::raw(k.scopes.join(" ")),
        ]));
    }
    if let Some(at) = k.leaked_at {
        lines.push(Line::from(Span::styled(
            format!("Reported leaked {}", ago(at, app.now)),
            t.error(),
        )));
    }
    let mut hint = Vec::new();
    for (key, what) in actions(f) {
        hint.push(Span::styled(key, t.key()));
        hint.push(Span::raw(format!(" {what}   ")));
    }
    lines.push(Line::from(hint));
    frame.render_widget(
        Paragraph::new(lines)
            .wrap(Wrap { trim: false })
            .block(Block::default().borders(Borders::ALL).title(" Finding ")),
        area,
    );
}

/// Rows of the leak dialog, borders included.
const LEAK_HEIGHT: u16 = 12;

/// The leak response modal.
pub(super) fn render_leak_choice(
    app: &App,
    cx: &Ctx<'_>,
    frame: &mut Frame,
    area: Rect,
    c: &LeakChoice,
) {
    let t = cx.theme;
    let k = &c.key;
    let rect = centered(area, 76, LEAK_HEIGHT);
    frame.render_widget(Clear, rect);
    let title = if k.leaked_at.is_some() {
        format!(" Leaked: {} ", trunc(&k.name, 50))
    } else {
        format!(" Rotate or disable {} ", trunc(&k.name, 44))
    };
    let mut lines = vec![match k.leaked_at {
        Some(at) => Line::from(Span::styled(
            format!(
                "{} was reported leaked {}. Anyone holding the secret can use it.",
                k.id,
                ago(at, app.now)
            ),
            t.error(),
        )),
        None => Line::from(format!("{} has not been reported leaked.", k.id)),
    }];
    lines.push(Line::default());
    let options = [
        (
            "Rotate",
            "a new secret now; choose how long the old one keeps working",
        ),
        ("Disable", "every client using it stops at once"),
    ];
    for (i, (name, what)) in options.iter().enumerate() {
        let on = i == c.choice;
        lines.push(Line::from(vec![
            Span::styled(
                format!("{} {name:<8}", if on { "›" } else { " " }),
                if on { t.selected() } else { t.title() },
            ),
            Span::raw(format!(" {what}")),
        ]));
    }
    if !usable(k) {
        lines.push(Line::default());
        lines.push(Line::from(Span::styled(
            "This key can no longer authenticate (disabled or expired).",
            t.dim(),
        )));
    }
    let block = Block::default().borders(Borders::ALL).title(title);
    let (text, row) = super::button_row(block.inner(rect));
    frame.render_widget(block, rect);
    frame.render_widget(Paragraph::new(lines).wrap(Wrap { trim: false }), text);
    frame.render_widget(Paragraph::new(super::button_line(cx, leak_buttons())), row);
}

/// The leak dialog's buttons, on its last row.
fn leak_buttons() -> Vec<super::Button> {
    vec![
        ("↑↓", " choose   ".to_owned(), None),
        ("Enter", " go on   ".to_owned(), Some(Action::Enter)),
        ("Esc", " cancel".to_owned(), Some(Action::Back)),
    ]
}

/// What a click at (`column`, `row`) on the leak dialog does: its buttons act as their keys.
pub(super) fn leak_click(area: Rect, column: u16, row: u16) -> Option<Action> {
    let inner = Block::default()
        .borders(Borders::ALL)
        .inner(centered(area, 76, LEAK_HEIGHT));
    super::button_click(super::button_row(inner).1, leak_buttons(), column, row)
}

/// The detail's lines about a leak: when it was first reported, and where it was seen.
pub fn leak_lines(app: &App, cx: &Ctx<'_>, key: &KeyObject) -> Vec<Line<'static>> {
    let t = cx.theme;
    let Some(at) = key.leaked_at else {
        return Vec::new();
    };
    let mut lines = vec![Line::from(vec![
        Span::styled(format!("{:<13}", "Leaked"), t.dim()),
        Span::styled(
            format!(
                "first reported {} ({}); L: rotate or disable",
                at.format("%Y-%m-%d %H:%M"),
                ago(at, app.now)
            ),
            t.error(),
        ),
    ])];
    let ins = &app.review.insights;
    if ins.key_id.as_deref() != Some(key.id.as_str()) {
        return lines;
    }
    match &ins.sightings {
        Loadable::Ready(seen) => {
            // Newest first. A system reporter (GitHub secret scanning) is named; a
            // reporting key is in the audit log.
            for s in seen.iter().take(SHOWN_SIGHTINGS) {
                let by = match s.reported_by.kind {
                    ActorKind::Key => String::new(),
                    _ => format!(
                        " (by {})",
                        s.reported_by.name.as_ref().unwrap_or(&s.reported_by.id)
                    ),
                };
                lines.push(Line::from(vec![
                    Span::styled(format!("{:<13}", "  seen"), t.dim()),
                    Span::raw(format!(
                        "{}  {}{by}",
                        ago(s.at, app.now),
                        trunc(&s.source, 90)
                    )),
                ]));
            }
            if seen.len() > SHOWN_SIGHTINGS {
                lines.push(Line::from(Span::styled(
                    format!("{:<13}and {} more places", "", seen.len() - SHOWN_SIGHTINGS),
                    t.dim(),
                )));
            }
        }
        Loadable::Failed(e) => lines.push(Line::from(Span::styled(
            format!("{:<13}where it was seen: {}", "", e.message),
            t.dim(),
        ))),
        _ => lines.push(Line::from(Span::styled(
            format!("{:<13}loading where it was seen…", ""),
            t.dim(),
        ))),
    }
    lines
}

/// The detail's scopes: each held scope with its requests in 30 days, or "unused 30d".
pub fn scopes_value(app: &App, key: &KeyObject) -> String {
    let ins = &app.review.insights;
    let usage = match (&ins.scope_usage, ins.key_id.as_deref()) {
        (Loadable::Ready(u), Some(id)) if id == key.id => u,
        (Loadable::Loading, Some(id)) if id == key.id => {
            return format!("{}  (usage loading…)", key.scopes.join(" "));
        }
        _ => return key.scopes.join(" "),
    };
    key.scopes
        .iter()
        .map(|s| {
            let n = usage
                .scopes
                .iter()
                .find(|u| &u.scope == s)
                .map_or(0, |u| u.requests);
            if n == 0 {
                format!("{s} (unused {}d)", usage.days)
            } else {
                format!("{s} ({} req)", thousands(n))
            }
        })
        .collect::<Vec<_>>()
        .join(" · ")
}
