//! Support lookups: a request id's auth event with the key's current state and the fix; keys
//! found by their secret's last characters.

use ratatui::Frame;
use ratatui::layout::Rect;
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Borders, Clear, Paragraph, Wrap};

use super::keys::status_text;
use super::{Button, Ctx, ago, centered, trunc};
use crate::tui::app::support::{Lookup, fix_for};
use crate::tui::app::{Action, App};

pub(super) fn render(app: &App, cx: &Ctx<'_>, frame: &mut Frame, area: Rect, l: &Lookup) {
    let t = cx.theme;
    let rect = centered(area, 96, HEIGHT);
    frame.render_widget(Clear, rect);
    let now = app.now;
    let field = |label: &str, value: String| {
        Line::from(vec![
            Span::styled(format!("{label:<12}"), t.dim()),
            Span::raw(value),
        ])
    };
    let (title, lines): (String, Vec<Line<'_>>) = match l {
        Lookup::Loading(what) => (
            format!(" Looking up {what} "),
            vec![Line::from(Span::styled("Loading…", t.dim()))],
        ),
        Lookup::Failed(e) => (
            " Lookup failed ".to_owned(),
            vec![Line::from(Span::styled(e.clone(), t.error()))],
        ),
        Lookup::Request {
            request_id,
            event: None,
            ..
        } => (
            format!(" {request_id} "),
            vec![
                Line::from("No denied request with this id in this organization."),
                Line::from(Span::styled(
                    "Allowed requests are counted, not logged one by one; a request whose key could not be identified is only in the server log.",
                    t.dim(),
                )),
            ],
        ),
        Lookup::Request {
            request_id,
            event: Some(e),
            key,
        } => {
            let mut v = vec![
                field(
                    "When",
                    format!(
                        "{} ({})",
                        e.at.format("%Y-%m-%d %H:%M:%S UTC"),
                        ago(e.at, now)
                    ),
                ),
                field("Answer", format!("{} {}", e.status, e.code)),
                field("Request", format!("{} {}", e.method, e.path)),
                field("Key", e.key_id.clone().unwrap_or_else(|| "-".to_owned())),
                field("Origin", e.origin.clone().unwrap_or_else(|| "-".to_owned())),
                field("App", e.app_id.clone().unwrap_or_else(|| "-".to_owned())),
                field("Client", e.ip.clone()),
            ];
            match key {
                Some(k) => v.push(field(
                    "Key now",
                    format!(
                        "{} · {} · scopes {} · last request {}",
                        k.name,
                        status_text(k),
                        k.scopes.join(" "),
                        super::keys::last_used(k, now)
                    ),
                )),
                None if e.key_id.is_some() => v.push(field("Key now", "deleted".to_owned())),
                None => {}
            }
            v.push(Line::default());
            v.push(Line::from(vec![
                Span::styled("Fix  ", t.title()),
                Span::raw(fix_for(&e.code, key.as_ref(), &e.required_scopes, now)),
            ]));
            (format!(" {request_id} "), v)
        }
        Lookup::Hint {
            query,
            keys,
            cursor,
        } => {
            let mut v = vec![Line::from(Span::styled(
                format!("{} key(s) whose secret ends {query}", keys.len()),
                t.title(),
            ))];
            if keys.is_empty() {
                v.push(Line::from(
                    "None. Check the characters (case matters) and the environment.",
                ));
            }
            for (i, k) in keys
                .iter()
                .enumerate()
                .take(usize::from(rect.height.saturating_sub(4)))
            {
                let line = Line::from(format!(
                    "{:<28} {:<34} {:<9} {}",
                    trunc(&k.name, 28),
                    k.id,
                    status_text(k),
                    k.secret_hint
                ));
                v.push(if i == *cursor {
                    line.style(t.selected())
                } else {
                    line
                });
            }
            (" Keys by secret hint ".to_owned(), v)
        }
    };
    let block = Block::default().borders(Borders::ALL).title(title);
    let (text, row) = super::button_row(block.inner(rect));
    frame.render_widget(block, rect);
    frame.render_widget(Paragraph::new(lines).wrap(Wrap { trim: false }), text);
    frame.render_widget(Paragraph::new(super::button_line(cx, buttons(l))), row);
}

/// The lookup's buttons, on its last row: what its keys do for what it shows.
fn buttons(l: &Lookup) -> Vec<Button> {
    let b = |key, label: &str, action| (key, label.to_owned(), action);
    match l {
        Lookup::Request {
            event: Some(_),
            key,
            ..
        } => {
            let mut v = Vec::new();
            // Enter opens a key that still exists; otherwise it only closes.
            if key.is_some() {
                v.push(b("Enter", " open key   ", Some(Action::Enter)));
            }
            v.push(b(
                "c",
                " copy a reply for the customer   ",
                Some(Action::CopyReply),
            ));
            v.push(b("Esc", " close", Some(Action::Back)));
            v
        }
        Lookup::Hint { keys, .. } if !keys.is_empty() => vec![
            b("↑↓", " choose   ", None),
            b("Enter", " show the key in Keys   ", Some(Action::Enter)),
            b("Esc", " close", Some(Action::Back)),
        ],
        _ => vec![b("Esc", " close", Some(Action::Back))],
    }
}

/// What a click at (`column`, `row`) on a lookup does: its buttons act as their keys.
pub(super) fn click(area: Rect, l: &Lookup, column: u16, row: u16) -> Option<Action> {
    let inner = Block::default()
        .borders(Borders::ALL)
        .inner(centered(area, 96, HEIGHT));
    super::button_click(super::button_row(inner).1, buttons(l), column, row)
}

/// Rows of the lookup, borders included.
const HEIGHT: u16 = 18;
