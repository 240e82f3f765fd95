//! The command palette's matches (`app::palette`), under the `:` line: each with its
//! arguments or what it does, and an action's key.

use ratatui::Frame;
use ratatui::layout::Rect;
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Borders, Clear, Paragraph};

use super::{Ctx, trunc};
use crate::tui::app::palette::SHOWN;
use crate::tui::app::{App, LineKind};

/// Draw the matches below `line` (the crumb row), over the body.
pub fn render(app: &App, cx: &Ctx<'_>, frame: &mut Frame, line: Rect, area: Rect) {
    let Some((LineKind::Command, _)) = &app.line else {
        return;
    };
    // Worked out in update when the line changed, not here every frame.
    let found = &app.palette.found;
    if found.is_empty() {
        return;
    }
    let t = cx.theme;
    let rows = found.len().min(SHOWN);
    let height = u16::try_from(rows + 2).unwrap_or(u16::MAX);
    let width = area.width.min(72);
    if area.height < height + 1 || width < 20 {
        return;
    }
    let rect = Rect {
        x: line.x,
        y: line.y + 1,
        width,
        height,
    };
    let key_of = |name: &str| {
        cx.keymap
            .bindings()
            .iter()
            .find(|b| b.name == name)
            .map(|b| b.key.label())
    };
    let inner = usize::from(width.saturating_sub(2));
    let lines: Vec<Line<'_>> = found
        .iter()
        .take(SHOWN)
        .enumerate()
        .map(|(i, c)| {
            let key = c
                .binding
                .and_then(key_of)
                .map(|k| format!("  ({k})"))
                .unwrap_or_default();
            let name = trunc(&c.text, inner / 2);
            let rest = trunc(
                &format!("  {}{key}", c.hint),
                inner.saturating_sub(name.chars().count()),
            );
            let style = if i == 0 { t.selected() } else { t.text() };
            Line::from(vec![
                Span::styled(name, style.patch(t.key())),
                Span::styled(rest, t.dim()),
            ])
        })
        .collect();
    let more = found.len().saturating_sub(SHOWN);
    let title = if more > 0 {
        format!(" Tab completes · {more} more ")
    } else {
        " Tab completes ".to_owned()
    };
    frame.render_widget(Clear, rect);
    frame.render_widget(
        Paragraph::new(lines).block(Block::default().borders(Borders::ALL).title(title)),
        rect,
    );
}
