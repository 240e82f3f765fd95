//! The expired session's screen (`app::session`): over everything, saying what happened,
//! how to sign in again, and that nothing open was lost.

use ratatui::Frame;
use ratatui::layout::Rect;
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Borders, Clear, Paragraph, Wrap};

use super::{Ctx, centered};
use crate::tui::app::App;
use crate::tui::app::session::Expired;
use crate::tui::keymap::Context;

/// Draw the screen in `area` (the whole terminal but the hint row).
pub fn render(app: &App, e: &Expired, cx: &Ctx<'_>, frame: &mut Frame, area: Rect) {
    let t = cx.theme;
    let key = |want: &str| {
        cx.keymap
            .hints(&[Context::Disconnected])
            .into_iter()
            .find(|(_, d)| *d == want)
            .map_or_else(|| want.to_owned(), |(k, _)| k)
    };
    let who = crate::tui::session::who(app.me.as_ref())
        .map(|u| format!(" as {u}"))
        .unwrap_or_default();
    let lines = vec![
        Line::from(Span::styled("Session expired", t.error())),
        Line::default(),
        Line::from(format!(
            "The server refused this console's session{who} ({}), and running the \
             profile's token_command again did not help:",
            e.code
        )),
        Line::from(Span::styled(format!("  {}", e.reason), t.warn())),
        Line::default(),
        Line::from(format!(
            "Sign in again the way you usually do (your SSO tool's login command), then \
             press {}: keyconsole runs token_command again and carries on.",
            key("retry")
        )),
        Line::from(
            "Nothing was lost: what you had open, a form and its input too, is still there.",
        ),
        Line::default(),
        Line::from(vec![
            Span::styled(key("retry"), t.key()),
            Span::raw(" retry   "),
            Span::styled(key("quit"), t.key()),
            Span::raw(" quit"),
        ]),
    ];
    let rect = centered(area, 76, 16);
    frame.render_widget(Clear, rect);
    frame.render_widget(
        Paragraph::new(lines)
            .wrap(Wrap { trim: false })
            .block(Block::default().borders(Borders::ALL).title(" Session ")),
        rect,
    );
}
