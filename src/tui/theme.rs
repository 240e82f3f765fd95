//! One theme of styles. With `NO_COLOR` every style is monochrome and meaning is carried by
//! modifiers (bold, reversed, underlined) and by text cues, never by colour alone.

use ratatui::style::{Color, Modifier, Style};

/// The console's styles.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Theme {
    /// Colour allowed.
    pub color: bool,
}

impl Theme {
    /// From the environment: `NO_COLOR` set (to anything) turns colour off.
    pub fn from_env() -> Theme {
        Theme {
            color: std::env::var_os("NO_COLOR").is_none_or(|v| v.is_empty()),
        }
    }

    /// Monochrome, for snapshots and `NO_COLOR`.
    pub fn mono() -> Theme {
        Theme { color: false }
    }

    fn fg(&self, c: Color) -> Style {
        if self.color {
            Style::default().fg(c)
        } else {
            Style::default()
        }
    }

    /// Plain text.
    pub fn text(&self) -> Style {
        Style::default()
    }

    /// Secondary text.
    pub fn dim(&self) -> Style {
        if self.color {
            Style::default().fg(Color::DarkGray)
        } else {
            Style::default().add_modifier(Modifier::DIM)
        }
    }

    /// Titles and headings.
    pub fn title(&self) -> Style {
        Style::default().add_modifier(Modifier::BOLD)
    }

    /// The selected row.
    pub fn selected(&self) -> Style {
        Style::default().add_modifier(Modifier::REVERSED)
    }

    /// The active tab.
    pub fn tab_active(&self) -> Style {
        self.fg(Color::Cyan)
            .add_modifier(Modifier::BOLD | Modifier::UNDERLINED)
    }

    /// The `[PROD]` badge: reversed, so it shows without colour.
    pub fn danger_badge(&self) -> Style {
        self.fg(Color::Red)
            .add_modifier(Modifier::REVERSED | Modifier::BOLD)
    }

    /// A good state.
    pub fn ok(&self) -> Style {
        self.fg(Color::Green)
    }

    /// A warning state.
    pub fn warn(&self) -> Style {
        self.fg(Color::Yellow)
    }

    /// An error.
    pub fn error(&self) -> Style {
        self.fg(Color::Red).add_modifier(Modifier::BOLD)
    }

    /// Keys in the hint row.
    pub fn key(&self) -> Style {
        self.fg(Color::Cyan).add_modifier(Modifier::BOLD)
    }

    /// Focused input or field.
    pub fn focus(&self) -> Style {
        self.fg(Color::Cyan).add_modifier(Modifier::BOLD)
    }

    /// Series colours of usage charts: ok, 401, 403, 429.
    pub fn series(&self, i: usize) -> Style {
        match i {
            0 => self.fg(Color::Green),
            1 => self.fg(Color::Yellow),
            2 => self.fg(Color::Magenta),
            _ => self.fg(Color::Red),
        }
    }
}
