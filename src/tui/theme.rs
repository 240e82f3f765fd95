//! One theme of styles. Colours are the terminal's own named ANSI colours by default (so the
//! console follows the terminal's palette; no RGB is hard-coded), and `[theme]` in the config
//! file may name others (`cyan`, `bright-red`, `#5f87af`). With `NO_COLOR` every style is
//! monochrome and meaning is carried by modifiers (bold, reversed, underlined) and by text
//! cues, never by colour alone. ASCII mode (`[ui] ascii`, or a locale that is not UTF-8)
//! draws with ASCII only: see `views::ascii`.

use ratatui::style::{Color, Modifier, Style};

/// The colours a theme can set (`[theme]` in the config file).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Palette {
    /// The active tab, keys in the hint row, focused fields.
    pub accent: Color,
    /// Good states and confirmations.
    pub ok: Color,
    /// Warnings.
    pub warn: Color,
    /// Errors and the `[PROD]` badge.
    pub error: Color,
    /// Secondary text.
    pub dim: Color,
    /// The selected row's background; `None`: reversed video.
    pub selection: Option<Color>,
}

impl Default for Palette {
    fn default() -> Self {
        Palette {
            accent: Color::Cyan,
            ok: Color::Green,
            warn: Color::Yellow,
            error: Color::Red,
            dim: Color::DarkGray,
            selection: None,
        }
    }
}

impl Palette {
    /// The default palette with what `[theme]` sets; the error names the key
    /// (`theme.accent`) and says what is accepted.
    pub fn from_settings(set: &crate::config::ThemeSettings) -> Result<Palette, (String, String)> {
        let color = |key: &str, v: &Option<String>| {
            v.as_deref()
                .map(|v| parse_color(v).map_err(|why| (format!("theme.{key}"), why)))
                .transpose()
        };
        let d = Palette::default();
        Ok(Palette {
            accent: color("accent", &set.accent)?.unwrap_or(d.accent),
            ok: color("ok", &set.ok)?.unwrap_or(d.ok),
            warn: color("warn", &set.warn)?.unwrap_or(d.warn),
            error: color("error", &set.error)?.unwrap_or(d.error),
            dim: color("dim", &set.dim)?.unwrap_or(d.dim),
            selection: color("selection", &set.selection)?.or(d.selection),
        })
    }
}

/// The named colours, as the config file spells them (`-`, `_` and spaces ignored, any case).
const NAMES: [(&str, Color); 19] = [
    ("default", Color::Reset),
    ("black", Color::Black),
    ("red", Color::Red),
    ("green", Color::Green),
    ("yellow", Color::Yellow),
    ("blue", Color::Blue),
    ("magenta", Color::Magenta),
    ("cyan", Color::Cyan),
    ("gray", Color::Gray),
    ("grey", Color::Gray),
    ("darkgray", Color::DarkGray),
    ("darkgrey", Color::DarkGray),
    ("brightred", Color::LightRed),
    ("brightgreen", Color::LightGreen),
    ("brightyellow", Color::LightYellow),
    ("brightblue", Color::LightBlue),
    ("brightmagenta", Color::LightMagenta),
    ("brightcyan", Color::LightCyan),
    ("white", Color::White),
];

/// A colour from the config file: a named ANSI colour (`red`, `bright-red`, `dark-gray`,
/// `default`; `light-` is `bright-`, `bright-black` is `dark-gray`) or `#rrggbb`.
pub fn parse_color(s: &str) -> Result<Color, String> {
    let t = s.trim();
    if let Some(hex) = t.strip_prefix('#') {
        if hex.len() == 6 && hex.chars().all(|c| c.is_ascii_hexdigit()) {
            let n = u32::from_str_radix(hex, 16).map_err(|e| e.to_string())?;
            let [_, r, g, b] = n.to_be_bytes();
            return Ok(Color::Rgb(r, g, b));
        }
        return Err(format!(
            "is `{t}`: a colour in hex has six digits, like #5f87af"
        ));
    }
    let key: String = t
        .chars()
        .filter(|c| !matches!(c, '-' | '_' | ' '))
        .collect::<String>()
        .to_ascii_lowercase();
    let key = match key.strip_prefix("light") {
        Some(rest) => format!("bright{rest}"),
        None if key == "brightblack" => "darkgray".to_owned(),
        None => key,
    };
    NAMES
        .iter()
        .find(|(n, _)| *n == key)
        .map(|(_, c)| *c)
        .ok_or_else(|| {
            format!(
                "is `{t}`: use a terminal colour (black, red, green, yellow, blue, magenta, cyan, \
                 gray, dark-gray, white, bright-red … bright-cyan, default) or #rrggbb"
            )
        })
}

/// Whether the locale says UTF-8: the first of `LC_ALL`, `LC_CTYPE`, `LANG` that is set
/// and not empty (as the C library picks it) names UTF-8. Nothing set is the C locale: no.
pub fn locale_is_utf8(var: impl Fn(&str) -> Option<String>) -> bool {
    ["LC_ALL", "LC_CTYPE", "LANG"]
        .iter()
        .find_map(|v| var(v).filter(|s| !s.trim().is_empty()))
        .is_some_and(|l| {
            let l = l.to_ascii_lowercase();
            l.contains("utf-8") || l.contains("utf8")
        })
}

/// The console's styles.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Theme {
    /// Colour allowed.
    pub color: bool,
    /// Draw with ASCII only (`views::ascii`).
    pub ascii: bool,
    /// The colours, when colour is allowed.
    pub palette: Palette,
}

impl Theme {
    /// From the environment: `NO_COLOR` set (to anything) turns colour off; ASCII when the
    /// locale is not UTF-8.
    pub fn from_env() -> Theme {
        Theme::new(Palette::default(), None)
    }

    /// With these colours; `ascii` as configured (`None`: from the locale).
    pub fn new(palette: Palette, ascii: Option<bool>) -> Theme {
        let var = |v: &str| std::env::var(v).ok();
        Theme {
            color: std::env::var_os("NO_COLOR").is_none_or(|v| v.is_empty()),
            ascii: ascii.unwrap_or_else(|| !locale_is_utf8(var)),
            palette,
        }
    }

    /// Monochrome, for snapshots and `NO_COLOR`.
    pub fn mono() -> Theme {
        Theme {
            color: false,
            ascii: false,
            palette: Palette::default(),
        }
    }

    /// Monochrome and ASCII only.
    pub fn mono_ascii() -> Theme {
        Theme {
            ascii: true,
            ..Theme::mono()
        }
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
            Style::default().fg(self.palette.dim)
        } else {
            Style::default().add_modifier(Modifier::DIM)
        }
    }

    /// Titles and headings.
    pub fn title(&self) -> Style {
        Style::default().add_modifier(Modifier::BOLD)
    }

    /// The selected row: the theme's selection colour behind it, else reversed (which shows
    /// without colour).
    pub fn selected(&self) -> Style {
        match self.palette.selection {
            Some(bg) if self.color => Style::default().bg(bg),
            _ => Style::default().add_modifier(Modifier::REVERSED),
        }
    }

    /// The active tab.
    pub fn tab_active(&self) -> Style {
        self.fg(self.palette.accent)
            .add_modifier(Modifier::BOLD | Modifier::UNDERLINED)
    }

    /// The `[PROD]` badge: reversed, so it shows without colour.
    pub fn danger_badge(&self) -> Style {
        self.fg(self.palette.error)
            .add_modifier(Modifier::REVERSED | Modifier::BOLD)
    }

    /// A good state.
    pub fn ok(&self) -> Style {
        self.fg(self.palette.ok)
    }

    /// A warning state.
    pub fn warn(&self) -> Style {
        self.fg(self.palette.warn)
    }

    /// An error.
    pub fn error(&self) -> Style {
        self.fg(self.palette.error).add_modifier(Modifier::BOLD)
    }

    /// Keys in the hint row.
    pub fn key(&self) -> Style {
        self.fg(self.palette.accent).add_modifier(Modifier::BOLD)
    }

    /// Focused input or field.
    pub fn focus(&self) -> Style {
        self.fg(self.palette.accent).add_modifier(Modifier::BOLD)
    }

    /// Series colours of usage charts: ok, 401, 403, 429.
    pub fn series(&self, i: usize) -> Style {
        match i {
            0 => self.fg(self.palette.ok),
            1 => self.fg(self.palette.warn),
            2 => self.fg(Color::Magenta),
            _ => self.fg(self.palette.error),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::ThemeSettings;

    #[test]
    fn colours_parse_by_name_and_hex_and_errors_say_what_works() {
        assert_eq!(parse_color("Bright-Red"), Ok(Color::LightRed));
        assert_eq!(parse_color("light_cyan"), Ok(Color::LightCyan));
        assert_eq!(parse_color("dark gray"), Ok(Color::DarkGray));
        assert_eq!(parse_color("bright-black"), Ok(Color::DarkGray));
        assert_eq!(parse_color("#5f87AF"), Ok(Color::Rgb(0x5f, 0x87, 0xaf)));
        assert_eq!(parse_color("default"), Ok(Color::Reset));
        let e = parse_color("chartreuse").expect_err("not a terminal colour");
        assert!(e.contains("chartreuse") && e.contains("#rrggbb"), "{e}");
        assert!(parse_color("#12345").is_err());
        let set = |f: fn(&mut ThemeSettings) -> &mut Option<String>, v: &str| {
            let mut s = ThemeSettings::default();
            *f(&mut s) = Some(v.to_owned());
            Palette::from_settings(&s)
        };
        let p = set(|s| &mut s.accent, "magenta").expect("ok");
        assert_eq!(p.accent, Color::Magenta);
        assert_eq!(p.ok, Color::Green, "the rest stays the terminal's");
        let (key, _) = set(|s| &mut s.warn, "nope").expect_err("bad value");
        assert_eq!(key, "theme.warn");
    }

    #[test]
    fn the_default_is_named_ansi_colours_only() {
        let p = Palette::default();
        for c in [p.accent, p.ok, p.warn, p.error, p.dim] {
            assert!(!matches!(c, Color::Rgb(..) | Color::Indexed(_)), "{c:?}");
        }
    }

    #[test]
    fn the_locale_decides_ascii_lc_all_first() {
        let env = |pairs: &'static [(&'static str, &'static str)]| {
            move |v: &str| {
                pairs
                    .iter()
                    .find(|(k, _)| *k == v)
                    .map(|(_, x)| (*x).to_owned())
            }
        };
        assert!(locale_is_utf8(env(&[("LANG", "en_US.UTF-8")])));
        assert!(locale_is_utf8(env(&[("LC_CTYPE", "de_DE.utf8")])));
        assert!(!locale_is_utf8(env(&[])), "nothing set: the C locale");
        assert!(!locale_is_utf8(env(&[("LANG", "C")])));
        assert!(!locale_is_utf8(env(&[
            ("LC_ALL", "POSIX"),
            ("LANG", "en_US.UTF-8")
        ])));
        assert!(locale_is_utf8(env(&[("LC_ALL", ""), ("LANG", "C.UTF-8")])));
    }
}
