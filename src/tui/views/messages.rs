//! The message log modal: every status message with its time, newest first, wrapped so
//! nothing is cut; it scrolls by message.

use ratatui::Frame;
use ratatui::layout::Rect;
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Borders, Clear, Paragraph};

use super::{Ctx, centered, take_width, thousands, width};
use crate::tui::app::App;
use crate::tui::app::messages::KEEP;

/// Columns of the time in front of each message (`12:34:56  `).
const TIME_W: usize = 10;

/// `text` in lines of at most `w` columns, broken at spaces where it can be and inside a
/// word only when the word alone is wider than `w`.
pub fn wrap(text: &str, w: usize) -> Vec<String> {
    let w = w.max(1);
    let mut lines = Vec::new();
    let mut line = String::new();
    for word in text.split(' ') {
        let mut word = word.to_owned();
        loop {
            let sep = usize::from(!line.is_empty());
            if width(&line) + sep + width(&word) <= w {
                if sep == 1 {
                    line.push(' ');
                }
                line.push_str(&word);
                break;
            }
            if !line.is_empty() {
                lines.push(std::mem::take(&mut line));
                continue;
            }
            // A word wider than a whole line: split it.
            let head = take_width(&word, w);
            let head = if head.is_empty() {
                word.chars().take(1).collect()
            } else {
                head
            };
            word = word[head.len()..].to_owned();
            lines.push(head);
            if word.is_empty() {
                break;
            }
        }
    }
    if !line.is_empty() || lines.is_empty() {
        lines.push(line);
    }
    lines
}

pub(super) fn render(app: &App, cx: &Ctx<'_>, frame: &mut Frame, area: Rect, scroll: usize) {
    let t = cx.theme;
    let rect = centered(
        area,
        area.width.saturating_sub(4).min(110),
        area.height.saturating_sub(2),
    );
    frame.render_widget(Clear, rect);
    let block = Block::default()
        .borders(Borders::ALL)
        .title(" Messages, newest first (Esc closes) ");
    let inner = block.inner(rect);
    let text_w = usize::from(inner.width).saturating_sub(TIME_W).max(1);
    // The last row says where the view is.
    let room = usize::from(inner.height).saturating_sub(1);
    let log = &app.messages;
    let mut lines: Vec<Line<'_>> = Vec::new();
    let mut shown = 0usize;
    if log.is_empty() {
        lines.push(Line::from(Span::styled(
            "No messages yet. Every status-row message is kept here with its time.",
            t.dim(),
        )));
    }
    for m in log.iter().rev().skip(scroll) {
        let wrapped = wrap(&m.text, text_w);
        if lines.len() + wrapped.len() > room && shown > 0 {
            break;
        }
        let style = if m.error { t.error() } else { t.text() };
        for (i, part) in wrapped.into_iter().enumerate() {
            let time = if i == 0 {
                format!("{:<TIME_W$}", m.at.format("%H:%M:%S"))
            } else {
                " ".repeat(TIME_W)
            };
            lines.push(Line::from(vec![
                Span::styled(time, t.dim()),
                Span::styled(part, style),
            ]));
        }
        shown += 1;
    }
    lines.truncate(room.max(1));
    while lines.len() < room {
        lines.push(Line::default());
    }
    if !log.is_empty() {
        let skipped = scroll.min(log.len() - 1);
        lines.push(Line::from(Span::styled(
            format!(
                "{}-{} of {} (the last {KEEP} are kept; j/k scroll)",
                skipped + 1,
                skipped + shown,
                thousands(log.len() as u64),
            ),
            t.dim(),
        )));
    }
    frame.render_widget(Paragraph::new(lines).block(block), rect);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wraps_at_spaces_and_splits_only_words_too_wide() {
        assert_eq!(wrap("a bb ccc", 4), vec!["a bb", "ccc"]);
        assert_eq!(wrap("abcdefghij", 4), vec!["abcd", "efgh", "ij"]);
        assert_eq!(wrap("", 4), vec![""]);
        assert_eq!(wrap("東京決済", 4), vec!["東京", "決済"]);
        let text = "Unknown command `x`: try :keys :usage :review :rotate ID :q";
        assert_eq!(wrap(text, 20).join(" "), text);
        assert!(wrap(text, 20).iter().all(|l| width(l) <= 20));
    }
}
