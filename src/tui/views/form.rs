//! The key form (create and edit), drawn as a modal.

use ratatui::Frame;
use ratatui::layout::Rect;
use ratatui::text::{Line, Span};
use ratatui::widgets::{Paragraph, Wrap};

use super::{Ctx, focus_style, popup, trunc};
use crate::tui::app::App;
use crate::tui::app::form::{Field, FormMode, KeyForm};
use tui_input::Input;

pub(super) fn render(app: &App, cx: &Ctx<'_>, frame: &mut Frame, area: Rect, f: &KeyForm) {
    let t = cx.theme;
    let title = match &f.mode {
        FormMode::Create => " New key ".to_owned(),
        FormMode::Edit { id, .. } => format!(" Edit {} ", trunc(id, 30)),
    };
    let (rect, block) = popup(frame, area, 76, 19, &title);
    let inner = block.inner(rect);
    let mut lines: Vec<Line<'_>> = Vec::new();
    let mut cursor: Option<(u16, u16)> = None;
    let label_w = 17usize;
    let value_w = usize::from(inner.width).saturating_sub(label_w + 1).max(1);
    // The fields in focus order; the submit button is drawn below them.
    for field in Field::ORDER.into_iter().filter(|f| *f != Field::Submit) {
        if !f.has(field) {
            continue;
        }
        let focused = f.focus == field;
        let marker = if focused { "›" } else { " " };
        let text_input = match field {
            Field::Name => Some(&f.name),
            Field::Owner => Some(&f.owner),
            Field::Description => Some(&f.description),
            Field::Domains => Some(&f.domains),
            Field::Expiry => Some(&f.expiry),
            _ => None,
        };
        let value = match field {
            Field::Scopes => format!(
                "◂ {} ▸{}",
                f.scopes.label(),
                if focused { "  (Enter: pick)" } else { "" }
            ),
            Field::App => {
                let name = f.app.and_then(|i| app.apps.get(i)).map_or_else(
                    || "none (org-scoped)".to_owned(),
                    |a| format!("{} ({})", a.name, a.id),
                );
                format!("◂ {name} ▸")
            }
            Field::Env => format!("◂ {} ▸", f.env),
            _ => {
                let input = text_input.map(Input::value).unwrap_or("");
                let placeholder = match field {
                    Field::Domains => {
                        "e.g. *.example.com, app.example.org (empty: secret required)"
                    }
                    Field::Expiry => "empty = never; 30d, 12h, 2027-01-31",
                    Field::Owner => "a team, a person or an address (empty: nobody)",
                    Field::Description => "what the key is for",
                    _ => "",
                };
                if input.is_empty() && !focused {
                    placeholder.to_owned()
                } else {
                    input.to_owned()
                }
            }
        };
        if let (true, Some(input)) = (focused, text_input) {
            let scroll = input.visual_scroll(value_w);
            let x = inner.x
                + u16::try_from(label_w + 1 + input.visual_cursor().saturating_sub(scroll))
                    .unwrap_or(0);
            cursor = Some((
                x.min(inner.right().saturating_sub(1)),
                inner.y + u16::try_from(lines.len()).unwrap_or(0),
            ));
            let shown: String = input.value().chars().skip(scroll).take(value_w).collect();
            lines.push(Line::from(vec![
                Span::styled(
                    format!("{marker}{:<w$}", field.label(), w = label_w),
                    focus_style(cx, true),
                ),
                Span::styled(shown, t.focus()),
            ]));
        } else {
            lines.push(Line::from(vec![
                Span::styled(
                    format!("{marker}{:<w$}", field.label(), w = label_w),
                    focus_style(cx, focused),
                ),
                Span::styled(
                    trunc(&value, value_w),
                    if text_input.is_some() && text_input.is_some_and(|i| i.value().is_empty()) {
                        t.dim()
                    } else {
                        t.text()
                    },
                ),
            ]));
        }
        if let Some(e) = f.error(field) {
            lines.push(Line::from(Span::styled(
                format!(
                    "{:w$}✗ {}",
                    "",
                    trunc(e, value_w.saturating_sub(2)),
                    w = label_w + 1
                ),
                t.error(),
            )));
        }
    }
    lines.push(Line::default());
    let submit = match (&f.mode, f.submitting) {
        (_, true) => "  Saving…  ".to_owned(),
        (FormMode::Create, false) => "[ Create key ]".to_owned(),
        (FormMode::Edit { .. }, false) => "[ Save changes ]".to_owned(),
    };
    lines.push(Line::from(Span::styled(
        format!("{:w$}{submit}", "", w = label_w + 1),
        if f.focus == Field::Submit {
            t.selected()
        } else {
            t.title()
        },
    )));
    if let Some(e) = &f.server_error {
        lines.push(Line::default());
        lines.push(Line::from(Span::styled(e.clone(), t.error())));
    }
    frame.render_widget(
        Paragraph::new(lines)
            .wrap(Wrap { trim: false })
            .block(block),
        rect,
    );
    if let Some(c) = cursor {
        frame.set_cursor_position(c);
    }
}
