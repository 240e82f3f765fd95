//! Modals, drawn over everything: help, confirmations, the scope picker, the one-time
//! secret reveal and key details (the key form is `form.rs`, bulk rotation `bulk.rs`).

use ratatui::Frame;
use ratatui::layout::Rect;
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Borders, Clear, Paragraph, Wrap};
use tui_input::Input;

use super::keys::detail_lines;
use super::{Button, Ctx, button_click, button_line, button_row, centered, masked, popup};
use crate::tui::app::modal::{Confirm, Modal, Reveal, ScopePicker, checklist_rows};
use crate::tui::app::{Action, App};

pub(super) fn render(app: &App, cx: &Ctx<'_>, frame: &mut Frame, area: Rect) {
    let top = app.modals.len().saturating_sub(1);
    for (depth, m) in app.modals.iter().enumerate() {
        match m {
            Modal::Help { filter, scroll } => help(app, cx, frame, area, filter, *scroll),
            Modal::Confirm(c) => confirm(cx, frame, area, c, app.session.danger),
            Modal::Form(f) => super::form::render(app, cx, frame, area, f),
            Modal::ScopePicker(p) => picker(app, cx, frame, area, p),
            // A secret shows only while its modal is on top.
            Modal::Reveal(r) => reveal(app, cx, frame, area, r, depth == top),
            Modal::Wizard(w) => super::wizard::render_wizard(app, cx, frame, area, w),
            Modal::Bulk(b) => super::bulk::render(cx, frame, area, b, depth == top),
            Modal::Lookup(l) => super::support::render(app, cx, frame, area, l),
            Modal::Tester(t) => super::tester::render(app, cx, frame, area, t),
            Modal::Leak(c) => super::review::render_leak_choice(app, cx, frame, area, c),
            Modal::Messages { scroll } => super::messages::render(app, cx, frame, area, *scroll),
            Modal::Detail(id) => {
                let rect = centered(area, 76, 20);
                frame.render_widget(Clear, rect);
                let lines = app
                    .keys
                    .get(id)
                    .map(|k| detail_lines(app, cx, k))
                    .unwrap_or_else(|| vec![Line::from("This key is no longer loaded.")]);
                frame.render_widget(
                    Paragraph::new(lines).wrap(Wrap { trim: false }).block(
                        Block::default()
                            .borders(Borders::ALL)
                            .title(" Key details (Esc closes) "),
                    ),
                    rect,
                );
            }
        }
    }
}

fn help(app: &App, cx: &Ctx<'_>, frame: &mut Frame, area: Rect, filter: &Input, scroll: usize) {
    let t = cx.theme;
    // Help describes the screen under the overlay.
    let under = app.contexts_at(app.modals.len().saturating_sub(1));
    let needle = filter.value().to_lowercase();
    let entries: Vec<_> = cx
        .keymap
        .help(&under)
        .into_iter()
        .filter(|(sec, key, desc, name)| {
            needle.is_empty()
                || desc.to_lowercase().contains(&needle)
                || key.to_lowercase().contains(&needle)
                || name.contains(&needle)
                || sec.to_lowercase().contains(&needle)
        })
        .collect();
    let (rect, block) = popup(
        frame,
        area,
        70,
        area.height.saturating_sub(2),
        " Help: what works here ",
    );
    let mut lines = vec![
        Line::from(vec![
            Span::styled("Filter: ", t.dim()),
            Span::styled(filter.value().to_owned(), t.focus()),
            Span::raw("▏"),
        ]),
        Line::default(),
    ];
    let mut section = "";
    for (sec, key, desc, name) in entries.iter().skip(scroll) {
        if *sec != section {
            section = sec;
            lines.push(Line::from(Span::styled((*sec).to_owned(), t.title())));
        }
        lines.push(Line::from(vec![
            Span::styled(format!("  {key:<8}"), t.key()),
            Span::raw(format!("{desc:<28}")),
            Span::styled(format!("[{name}]"), t.dim()),
        ]));
    }
    if entries.is_empty() {
        lines.push(Line::from(Span::styled("Nothing matches.", t.dim())));
    }
    lines.push(Line::default());
    lines.push(Line::from(Span::styled(
        "Remap keys in config.toml: [keys] <name> = \"ctrl-x\". Esc closes.",
        t.dim(),
    )));
    frame.render_widget(Paragraph::new(lines).block(block), rect);
}

/// The confirmation's popup in `area`, sized to its text (70 wide at most).
fn confirm_rect(area: Rect, c: &Confirm) -> Rect {
    // Rows as wrapped in the popup (70 wide, less the borders), so the buttons stay on screen.
    let inner = usize::from(area.width.min(70).saturating_sub(2)).max(1);
    let rows = |s: &str| s.chars().count().div_ceil(inner).max(1);
    let body: usize =
        c.body.iter().map(|l| rows(l)).sum::<usize>() + c.mismatch.as_deref().map_or(0, rows);
    let h = u16::try_from(body).unwrap_or(4) + if c.type_to_confirm.is_some() { 8 } else { 5 };
    centered(area, 70, h)
}

/// The buttons on the popup's last row.
fn confirm_buttons(c: &Confirm) -> Vec<Button> {
    if c.type_to_confirm.is_some() {
        let confirm = if c.ready() {
            " confirm   ".to_owned()
        } else {
            format!(" (type {} first)   ", c.typed_what().1)
        };
        vec![
            ("Enter", confirm, Some(Action::Enter)),
            ("Esc", " cancel".to_owned(), Some(Action::No)),
        ]
    } else {
        vec![
            ("y", " yes   ".to_owned(), Some(Action::Yes)),
            ("n", " / ".to_owned(), Some(Action::No)),
            ("Esc", " no".to_owned(), Some(Action::No)),
        ]
    }
}

/// The row of the confirmation's buttons, in `area`.
fn confirm_button_row(area: Rect, c: &Confirm) -> Rect {
    let inner = Block::default()
        .borders(Borders::ALL)
        .inner(confirm_rect(area, c));
    button_row(inner).1
}

/// What a click at (`column`, `row`) on a confirmation does: its buttons answer it.
pub(super) fn confirm_click(area: Rect, c: &Confirm, column: u16, row: u16) -> Option<Action> {
    button_click(confirm_button_row(area, c), confirm_buttons(c), column, row)
}

fn confirm(cx: &Ctx<'_>, frame: &mut Frame, area: Rect, c: &Confirm, danger: bool) {
    let t = cx.theme;
    let rect = confirm_rect(area, c);
    frame.render_widget(Clear, rect);
    let title = format!(" {} ", c.title);
    let block = Block::default().borders(Borders::ALL).title(title.as_str());
    let inner = block.inner(rect);
    frame.render_widget(block, rect);
    let mut lines: Vec<Line<'_>> = c.body.iter().map(|l| Line::from(l.clone())).collect();
    lines.push(Line::default());
    if let Some(want) = &c.type_to_confirm {
        let mut ask = Vec::new();
        if danger {
            ask.push(Span::styled(" PROD ", t.danger_badge()));
            ask.push(Span::raw(" "));
        }
        ask.push(Span::raw(format!("Type {} to confirm: ", c.typed_what().0)));
        ask.push(Span::styled(want.clone(), t.title()));
        lines.push(Line::from(ask));
        lines.push(Line::from(vec![
            Span::raw("> "),
            Span::styled(
                c.typed.value().to_owned(),
                if c.ready() { t.ok() } else { t.focus() },
            ),
            Span::raw("▏"),
        ]));
        if let Some(why) = &c.mismatch {
            lines.push(Line::from(Span::styled(why.clone(), t.error())));
        }
    }
    // The text above, the buttons on the last row (where a click finds them).
    let (text, row) = button_row(inner);
    frame.render_widget(Paragraph::new(lines).wrap(Wrap { trim: false }), text);
    frame.render_widget(Paragraph::new(button_line(cx, confirm_buttons(c))), row);
}

fn picker(app: &App, cx: &Ctx<'_>, frame: &mut Frame, area: Rect, p: &ScopePicker) {
    let t = cx.theme;
    let rows = app
        .catalog
        .as_ref()
        .map(|c| checklist_rows(&c.scopes))
        .unwrap_or_default();
    let (rect, block) = popup(
        frame,
        area,
        74,
        area.height.saturating_sub(2),
        " Pick scopes (Space toggles, Enter done) ",
    );
    let inner_h = usize::from(rect.height.saturating_sub(2)).max(1);
    let start = p.cursor.saturating_sub(inner_h.saturating_sub(1));
    let lines: Vec<Line<'_>> = rows
        .iter()
        .enumerate()
        .skip(start)
        .take(inner_h)
        .map(|(i, (name, desc))| {
            let mark = if p.checked.contains(name) {
                "[x]"
            } else {
                "[ ]"
            };
            let line = Line::from(vec![
                Span::raw(format!("{mark} {name:<22} ")),
                Span::styled(desc.clone(), t.dim()),
            ]);
            if i == p.cursor {
                line.style(t.selected())
            } else {
                line
            }
        })
        .collect();
    frame.render_widget(Paragraph::new(lines).block(block), rect);
}

fn reveal(app: &App, cx: &Ctx<'_>, frame: &mut Frame, area: Rect, r: &Reveal, on_top: bool) {
    let t = cx.theme;
    let title = format!(" {}: {} ", r.title, r.key_name);
    let (rect, block) = popup(frame, area, 78, 13, &title);
    let shown = r.shown_until.is_some() && on_top;
    let secret_text = if shown {
        r.secret.expose().to_owned()
    } else {
        masked(r.secret.expose())
    };
    let mut lines = vec![
        Line::from(Span::styled(
            "This secret is shown ONCE. Store it now: it cannot be shown again.",
            t.warn(),
        )),
        Line::default(),
        Line::from(vec![
            Span::styled("Key id   ", t.dim()),
            Span::raw(r.key_id.clone()),
        ]),
        Line::from(vec![
            Span::styled("Secret   ", t.dim()),
            Span::styled(secret_text, if shown { t.title() } else { t.text() }),
        ]),
    ];
    if let Some((_, until)) = r.shown_until {
        let left = until.saturating_duration_since(app.mono).as_secs();
        lines.push(Line::from(Span::styled(
            format!("         visible for {left}s more"),
            t.dim(),
        )));
    } else {
        lines.push(Line::from(Span::styled("         masked", t.dim())));
    }
    lines.push(Line::default());
    if let Some(how) = &r.copied {
        lines.push(Line::from(Span::styled(format!("Secret {how}."), t.ok())));
    }
    lines.push(Line::from(vec![
        Span::styled("v", t.key()),
        Span::raw(if shown { " hide   " } else { " reveal   " }),
        Span::styled("c", t.key()),
        Span::raw(" copy   "),
        Span::styled("Enter", t.key()),
        Span::raw(" I have stored it   "),
        Span::styled("Esc", t.key()),
        Span::raw(" close"),
    ]));
    frame.render_widget(
        Paragraph::new(lines)
            .wrap(Wrap { trim: false })
            .block(block),
        rect,
    );
}
