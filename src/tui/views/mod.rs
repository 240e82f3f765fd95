//! Pure rendering of [`App`]: nothing here does I/O, awaits, or mutates state. The frame is
//! one header row (tabs and profile badge), one crumb row, the body, one toast row and one
//! hint row; modals draw on top. Only visible rows are built.

pub mod ascii;
mod audit;
mod bulk;
mod domains;
mod form;
mod keys;
mod messages;
mod modal;
mod palette;
mod review;
mod scopes;
mod session;
mod support;
mod tester;
mod usage;
mod wizard;

pub use keys::status_text as status_label;

use chrono::{DateTime, Utc};
use ratatui::Frame;
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::style::Style;
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Borders, Clear, Paragraph, Wrap};

use super::app::{Action, App, Conn, LineKind, Tab};
use super::keymap::Keymap;
use super::theme::Theme;

/// Smallest size the console lays out; below it a notice is drawn instead.
pub const MIN_SIZE: (u16, u16) = (40, 10);

/// Everything a view needs besides the state.
pub struct Ctx<'a> {
    /// Styles.
    pub theme: &'a Theme,
    /// Bindings (for hints and help).
    pub keymap: &'a Keymap,
}

/// Draw the whole console (in ASCII only when the theme says so: [`ascii`]).
pub fn render(app: &App, keymap: &Keymap, theme: &Theme, frame: &mut Frame) {
    draw(app, keymap, theme, frame);
    if theme.ascii {
        ascii::asciify(frame.buffer_mut());
    }
}

fn draw(app: &App, keymap: &Keymap, theme: &Theme, frame: &mut Frame) {
    let area = frame.area();
    let cx = Ctx { theme, keymap };
    if area.width < MIN_SIZE.0 || area.height < MIN_SIZE.1 {
        let msg = format!(
            "Terminal too small ({}x{}). keyconsole needs at least {}x{}; 80x24 or more is best.",
            area.width, area.height, MIN_SIZE.0, MIN_SIZE.1
        );
        frame.render_widget(Paragraph::new(msg).wrap(Wrap { trim: true }), area);
        return;
    }
    let super::app::layout::Screen {
        header,
        crumb,
        body,
        toast,
        hints,
    } = super::app::layout::screen(area);
    render_header(app, &cx, frame, header);
    match &app.conn {
        Conn::Ready => {
            render_crumb(app, &cx, frame, crumb);
            match app.tab {
                Tab::Keys => keys::render(app, &cx, frame, body),
                Tab::Scopes => scopes::render(app, &cx, frame, body),
                Tab::Domains => domains::render(app, &cx, frame, body),
                Tab::Usage => usage::render(app, &cx, frame, body),
                Tab::Audit => audit::render(app, &cx, frame, body),
                Tab::Review => review::render(app, &cx, frame, body),
            }
        }
        Conn::Connecting => {
            frame.render_widget(
                Paragraph::new(format!("Connecting to {} …", app.session.url)).style(theme.dim()),
                body,
            );
        }
        Conn::Failed(e) => render_failed(app, e, &cx, frame, body),
    }
    if app.line.is_some() {
        render_line(app, &cx, frame, crumb);
        palette::render(app, &cx, frame, crumb, body);
    }
    render_toast(app, &cx, frame, toast);
    render_hints(app, &cx, frame, hints);
    modal::render(app, &cx, frame, area);
    if let Some(e) = &app.expired {
        let [over, _] = Layout::vertical([Constraint::Min(1), Constraint::Length(1)]).areas(area);
        session::render(app, e, &cx, frame, over);
    }
}

/// The header's right side: the badges and who this console acts as.
fn header_right(app: &App) -> Vec<(String, HeaderPart)> {
    let mut right = Vec::new();
    if app.session.danger {
        right.push((" [PROD] ".to_owned(), HeaderPart::Danger));
        right.push((" ".to_owned(), HeaderPart::Plain));
    }
    if app.session.demo {
        right.push(("[DEMO] ".to_owned(), HeaderPart::Warn));
    }
    right.push((
        crate::tui::session::profile_label(app.me.as_ref(), &app.session.profile),
        HeaderPart::Title,
    ));
    right
}

#[derive(Clone, Copy)]
enum HeaderPart {
    Danger,
    Warn,
    Title,
    Plain,
}

/// The tab labels as the header draws them at `width`, from the left edge: full names when
/// they fit beside the right side, else numbers with only the current tab named (the badge
/// matters more). Drawing and mouse clicks both use this, so they agree.
fn tab_labels(app: &App, width: u16) -> (Vec<(Tab, String)>, bool) {
    let full: Vec<(Tab, String)> = Tab::ALL
        .iter()
        .map(|t| (*t, format!(" {} {} ", t.index() + 1, t.title())))
        .collect();
    let right: usize = header_right(app)
        .iter()
        .map(|(s, _)| s.chars().count())
        .sum();
    let left: usize = full.iter().map(|(_, l)| l.chars().count()).sum();
    if left + right < usize::from(width) {
        return (full, true);
    }
    let narrow = Tab::ALL
        .iter()
        .map(|t| {
            let label = format!(" {}", t.index() + 1);
            if *t == app.tab {
                (*t, format!("{label}:{}", t.title()))
            } else {
                (*t, label)
            }
        })
        .collect();
    (narrow, false)
}

fn render_header(app: &App, cx: &Ctx<'_>, frame: &mut Frame, area: Rect) {
    let t = cx.theme;
    let (labels, wide) = tab_labels(app, area.width);
    let mut spans: Vec<Span<'_>> = labels
        .into_iter()
        .map(|(tab, label)| {
            if tab == app.tab {
                Span::styled(label, t.tab_active())
            } else {
                Span::styled(label, t.dim())
            }
        })
        .collect();
    let right: Vec<Span<'_>> = header_right(app)
        .into_iter()
        .map(|(text, part)| match part {
            HeaderPart::Danger => Span::styled(text, t.danger_badge()),
            HeaderPart::Warn => Span::styled(text, t.warn()),
            HeaderPart::Title => Span::styled(text, t.title()),
            HeaderPart::Plain => Span::raw(text),
        })
        .collect();
    let right_width: usize = right.iter().map(|s| s.content.chars().count()).sum();
    let left_width: usize = spans.iter().map(|s| s.content.chars().count()).sum();
    let width = usize::from(area.width);
    if wide {
        spans.push(Span::raw(" ".repeat(width - left_width - right_width)));
    } else {
        spans.push(Span::raw(" "));
    }
    spans.extend(right);
    frame.render_widget(Paragraph::new(Line::from(spans)), area);
}

/// What a mouse click at (`column`, `row`) of a `width` x `height` terminal does, read
/// against the same layout the frame is drawn with (`app::layout`): a tab in the header
/// opens it; a row of the Keys, Audit or Scopes table or of the Usage list selects it, and a
/// click on the selected row opens it (as Enter does); on a confirmation, its buttons answer
/// it, and so do the rotation wizard's and bulk rotation's. Nothing while another modal, a typed line or the expired screen is up, or on a
/// terminal below the minimum size.
pub fn click(app: &App, (width, height): (u16, u16), column: u16, row: u16) -> Option<Action> {
    if width < MIN_SIZE.0 || height < MIN_SIZE.1 || app.line.is_some() || app.expired.is_some() {
        return None;
    }
    let area = Rect::new(0, 0, width, height);
    if let Some(top) = app.modals.last() {
        return match top {
            super::app::modal::Modal::Confirm(c) => modal::confirm_click(area, c, column, row),
            super::app::modal::Modal::Wizard(w) => wizard::click(area, w, column, row),
            super::app::modal::Modal::Bulk(b) => bulk::click(area, b, column, row),
            super::app::modal::Modal::Leak(_) => review::leak_click(area, column, row),
            super::app::modal::Modal::Lookup(l) => support::click(area, l, column, row),
            super::app::modal::Modal::Tester(_) => tester::click(area, column, row),
            _ => None,
        };
    }
    let s = super::app::layout::screen(area);
    if row == s.header.y {
        let mut x = 0u16;
        for (tab, label) in tab_labels(app, width).0 {
            let w = u16::try_from(label.chars().count()).unwrap_or(u16::MAX);
            if (x..x.saturating_add(w)).contains(&column) {
                return Some(Action::GoTab(tab));
            }
            x = x.saturating_add(w);
        }
        return None;
    }
    if app.conn != Conn::Ready {
        return None;
    }
    // The row of `area` clicked, counted from `first_y`, when the click is inside it.
    let hit = |area: Rect, first_y: u16| {
        (area.x..area.right()).contains(&column) && (first_y..area.bottom()).contains(&row)
    };
    let select = |pos: usize, n: usize| (pos < n).then_some(Action::SelectRow(pos));
    match app.tab {
        Tab::Keys => {
            // Below the table's top border and header row.
            let t = app.keys_table();
            let first = t.y.saturating_add(2);
            hit(t, first).then_some(())?;
            select(app.keys.offset + usize::from(row - first), app.keys.shown())
        }
        Tab::Audit if !app.audit.detail => {
            let first = s.body.y.saturating_add(2);
            hit(s.body, first).then_some(())?;
            select(
                app.audit.offset + usize::from(row - first),
                app.audit.rows.len(),
            )
        }
        Tab::Scopes => {
            let (list, side) =
                super::app::layout::scopes_split(s.body, app.scopes.holders.is_some());
            // A holder row: below the pane's top border and its count line.
            if let Some(side) = side {
                let first_y = side.y.saturating_add(2);
                let room = super::app::layout::holder_rows(side);
                let inside = Rect {
                    height: u16::try_from(room).unwrap_or(u16::MAX),
                    y: first_y,
                    ..side
                };
                if hit(inside, first_y) {
                    let pos = app.scopes.holder_first(room) + usize::from(row - first_y);
                    let n = app.scopes.holder_keys().len();
                    return (pos < n).then_some(Action::SelectHolder(pos));
                }
            }
            // Inside the catalog's box.
            let inner = Rect {
                y: list.y + 1,
                height: list.height.saturating_sub(2),
                ..list
            };
            hit(inner, inner.y).then_some(())?;
            let (start, shown) = app.scopes.catalog_window(usize::from(inner.height));
            let i = usize::from(row - inner.y);
            let n = app
                .catalog
                .as_ref()
                .map_or(0, |c| super::app::modal::checklist_rows(&c.scopes).len());
            (i < shown).then_some(())?;
            select(start + i, n)
        }
        Tab::Usage => {
            let (_, _, _, list) = super::app::layout::usage_split(s.body);
            let (first, header) = app
                .usage
                .list_window(usize::from(list.height.saturating_sub(1)));
            let y = list.y + 1 + u16::try_from(header).unwrap_or(0);
            hit(list, y).then_some(())?;
            select(first + usize::from(row - y), app.usage.panel_len())
        }
        _ => None,
    }
}

fn render_crumb(app: &App, cx: &Ctx<'_>, frame: &mut Frame, area: Rect) {
    let t = cx.theme;
    let width = usize::from(area.width);
    let wizard = app.modals.iter().rev().find_map(|m| match m {
        super::app::modal::Modal::Wizard(w) => Some(w),
        _ => None,
    });
    if let Some(w) = wizard {
        frame.render_widget(
            Paragraph::new(cut_line(
                vec![Span::styled(wizard::crumb(w), t.title())],
                width,
            )),
            area,
        );
        return;
    }
    // Each part says how much it matters (`KEEP` is never dropped) and may have a short
    // form: when the row is too narrow, parts are shortened, then the least important ones
    // dropped (a `…` says so).
    let parts: Vec<Part> = match app.tab {
        Tab::Keys => {
            let k = &app.keys;
            let total = k.total.map_or_else(|| "?".to_owned(), thousands);
            let mut s = vec![Part::new(KEEP, Span::styled("Keys", t.title()))];
            if !k.filter.trim().is_empty() {
                let f = crate::tui::app::filter::KeyFilter::parse(&k.filter);
                let described = f.describe();
                if !described.is_empty() {
                    s.push(
                        Part::new(200, Span::raw(format!(" › filter {described}")))
                            .or(format!(" › {}", trunc(&described, 24))),
                    );
                }
                if let Some(p) = f.problems.first() {
                    s.push(
                        Part::new(220, Span::styled(format!(" ✗ {p}"), t.error()))
                            .or(format!(" ✗ {}", trunc(p, 24))),
                    );
                }
            }
            s.push(Part::new(
                250,
                Span::raw(format!("   {} of {}", thousands(k.shown() as u64), total)),
            ));
            if k.rows.len() as u64 != k.total.unwrap_or(0) {
                s.push(Part::new(
                    100,
                    Span::styled(
                        format!(" (loaded {})", thousands(k.rows.len() as u64)),
                        t.dim(),
                    ),
                ));
            }
            s.push(Part::new(
                50,
                Span::styled(format!("   sort: {}", k.sort.label(k.reversed)), t.dim()),
            ));
            if !k.marked.is_empty() {
                s.push(Part::new(
                    150,
                    Span::styled(format!("   marked: {}", k.marked.len()), t.warn()),
                ));
            }
            if k.loading {
                s.push(Part::new(120, Span::styled("   loading…", t.dim())));
            } else if let Some(age) = keys_age(app) {
                s.push(Part::new(60, Span::styled(format!("   {age}"), t.dim())));
            }
            s
        }
        Tab::Scopes | Tab::Domains | Tab::Usage => {
            let mut s = vec![Part::new(KEEP, Span::styled(app.tab.title(), t.title()))];
            match app.selected_key() {
                Some(k) => {
                    s.push(
                        Part::new(240, Span::raw(format!(" › {}", k.name)))
                            .or(format!(" › {}", trunc(&k.name, 24))),
                    );
                    s.push(Part::new(
                        100,
                        Span::styled(format!(" ({})", k.id), t.dim()),
                    ));
                }
                None => s.push(Part::new(
                    240,
                    Span::styled(" › no key selected (pick one in 1 Keys)", t.dim()),
                )),
            }
            if app.tab == Tab::Usage {
                s.push(Part::new(
                    150,
                    Span::styled(format!("   per {}", app.usage.bucket().as_str()), t.dim()),
                ));
            }
            s
        }
        Tab::Audit => audit::crumb(app, cx),
        Tab::Review => review::crumb(app, cx),
    };
    frame.render_widget(Paragraph::new(fit(parts, width, cx.theme)), area);
}

/// How much a crumb part matters when it is never dropped.
pub(super) const KEEP: u8 = u8::MAX;

/// A part of a crumb row.
pub(super) struct Part {
    /// Higher stays longer; [`KEEP`] always stays.
    keep: u8,
    /// The text.
    span: Span<'static>,
    /// A shorter text (same style), used before anything is dropped.
    short: Option<String>,
}

impl Part {
    /// A part that matters `keep` much.
    pub(super) fn new(keep: u8, span: Span<'static>) -> Part {
        Part {
            keep,
            span,
            short: None,
        }
    }

    /// With a shorter form.
    pub(super) fn or(mut self, short: String) -> Part {
        self.short = Some(short);
        self
    }
}

fn parts_width(parts: &[Part]) -> usize {
    parts.iter().map(|p| p.span.width()).sum()
}

/// The rightmost of the least important parts that `pick` accepts.
fn least(parts: &[Part], pick: impl Fn(&Part) -> bool) -> Option<usize> {
    parts
        .iter()
        .enumerate()
        .filter(|(_, p)| pick(p))
        .min_by_key(|(i, p)| (p.keep, usize::MAX - i))
        .map(|(i, _)| i)
}

/// One row from parts: while it is wider than `width`, the least important part with a
/// short form takes it; then the least important parts are dropped and a dim ` …` ends
/// the row to say so; what still does not fit is cut with `…`.
pub(super) fn fit(mut parts: Vec<Part>, width: usize, theme: &Theme) -> Line<'static> {
    while parts_width(&parts) > width {
        let Some(i) = least(&parts, |p| p.short.is_some()) else {
            break;
        };
        if let Some(short) = parts[i].short.take() {
            parts[i].span = Span::styled(short, parts[i].span.style);
        }
    }
    let mut dropped = false;
    while parts_width(&parts) + if dropped { 2 } else { 0 } > width {
        let Some(i) = least(&parts, |p| p.keep < KEEP) else {
            break;
        };
        parts.remove(i);
        dropped = true;
    }
    let mut spans: Vec<Span<'static>> = parts.into_iter().map(|p| p.span).collect();
    if dropped {
        spans.push(Span::styled(" …", theme.dim()));
    }
    cut_line(spans, width)
}

/// A row of spans cut to `width` columns: where it overflows, the text is cut and ends
/// with `…`.
pub fn cut_line(spans: Vec<Span<'static>>, width: usize) -> Line<'static> {
    if spans.iter().map(Span::width).sum::<usize>() <= width {
        return Line::from(spans);
    }
    let room = width.saturating_sub(1);
    let mut out = Vec::with_capacity(spans.len());
    let mut used = 0usize;
    for s in spans {
        let w = s.width();
        if used + w <= room {
            used += w;
            out.push(s);
            continue;
        }
        let mut kept = take_width(&s.content, room - used).trim_end().to_owned();
        if width > 0 {
            kept.push('…');
        }
        out.push(Span::styled(kept, s.style));
        break;
    }
    Line::from(out)
}

fn render_line(app: &App, cx: &Ctx<'_>, frame: &mut Frame, area: Rect) {
    let Some((kind, input)) = &app.line else {
        return;
    };
    let prefix = match kind {
        LineKind::Filter => "/",
        LineKind::Command => ":",
    };
    let width = usize::from(area.width.saturating_sub(1)).max(1);
    let scroll = input.visual_scroll(width);
    let shown: String = input.value().chars().skip(scroll).collect();
    frame.render_widget(Clear, area);
    frame.render_widget(
        Paragraph::new(Line::from(vec![
            Span::styled(prefix, cx.theme.key()),
            Span::raw(shown),
        ])),
        area,
    );
    let x = area.x + 1 + u16::try_from(input.visual_cursor().saturating_sub(scroll)).unwrap_or(0);
    frame.set_cursor_position((x.min(area.right().saturating_sub(1)), area.y));
}

fn render_toast(app: &App, cx: &Ctx<'_>, frame: &mut Frame, area: Rect) {
    let t = cx.theme;
    let mut spans = Vec::new();
    if let Some((_, until)) = app.clipboard_until {
        let left = until.saturating_duration_since(app.mono).as_secs();
        spans.push(Span::styled(
            format!("⧗ {} in {left}s ", app.clipboard_clears),
            t.warn(),
        ));
    }
    if let Some(toast) = &app.toast {
        spans.push(Span::styled(
            toast.text.clone(),
            if toast.error { t.error() } else { t.ok() },
        ));
    }
    // Too long for the row: cut with `…`; the message log (`:messages`) holds it whole.
    frame.render_widget(
        Paragraph::new(cut_line(spans, usize::from(area.width))),
        area,
    );
}

fn render_hints(app: &App, cx: &Ctx<'_>, frame: &mut Frame, area: Rect) {
    let mut hints = cx.keymap.hints(&app.contexts());
    // Help goes first and quit last, whatever keys they are on, so both always show; the
    // hints between them that do not fit are left out.
    let mut take = |desc: &str| {
        hints
            .iter()
            .position(|(_, d)| *d == desc)
            .map(|i| hints.remove(i))
    };
    let help = take("help");
    let quit = take("quit");
    // `key desc` and a two-column gap; the last hint needs no gap.
    let cost = |(key, desc): &(String, &str)| width(key) + width(desc) + 3;
    let mut room = usize::from(area.width)
        .saturating_sub(help.as_ref().map_or(0, cost))
        .saturating_sub(quit.as_ref().map_or(0, |q| cost(q) - 2));
    let mut shown: Vec<(String, &str)> = help.into_iter().collect();
    for h in hints {
        let c = cost(&h);
        if c <= room {
            room -= c;
            shown.push(h);
        }
    }
    shown.extend(quit);
    let last = shown.len().saturating_sub(1);
    let mut spans = Vec::new();
    for (i, (key, desc)) in shown.into_iter().enumerate() {
        spans.push(Span::styled(key, cx.theme.key()));
        spans.push(Span::raw(if i == last {
            format!(" {desc}")
        } else {
            format!(" {desc}  ")
        }));
    }
    frame.render_widget(
        Paragraph::new(cut_line(spans, usize::from(area.width))),
        area,
    );
}

fn render_failed(app: &App, e: &super::app::UiError, cx: &Ctx<'_>, frame: &mut Frame, area: Rect) {
    let t = cx.theme;
    let (what, todo): (String, Vec<String>) = if e.unreachable {
        (
            format!("Cannot reach the key service at {}.", app.session.url),
            vec![
                "Check that the server is running and the URL is right (--url or the profile's url).".to_owned(),
                "Over SSH, check any tunnel or port forward.".to_owned(),
            ],
        )
    } else if e.status == Some(401) {
        (
            "The server refused the console's token.".to_owned(),
            vec![
                format!("Code: {}.", e.code.as_deref().unwrap_or("unauthorized")),
                "Set KEYCONSOLE_TOKEN (with --url) or fix the profile's token_env / token_command."
                    .to_owned(),
                "The token must be a secret of a key that is enabled and not expired.".to_owned(),
            ],
        )
    } else if e.status == Some(403) {
        (
            "The console's key may not do this.".to_owned(),
            vec![
                e.message.clone(),
                "Use a key with keys:read (and keys:write to manage keys).".to_owned(),
            ],
        )
    } else {
        (
            "The key service answered with an error.".to_owned(),
            vec![e.message.clone()],
        )
    };
    let mut lines = vec![Line::from(Span::styled(what, t.error())), Line::default()];
    lines.extend(todo.into_iter().map(Line::from));
    if let Some(r) = &e.request_id {
        lines.push(Line::from(Span::styled(
            format!("Request id: {r}"),
            t.dim(),
        )));
    }
    lines.push(Line::default());
    lines.push(Line::from(vec![
        Span::styled("Ctrl-r", t.key()),
        Span::raw(" retry   "),
        Span::styled("q", t.key()),
        Span::raw(" quit"),
    ]));
    frame.render_widget(
        Paragraph::new(lines).wrap(Wrap { trim: true }).block(
            Block::default()
                .borders(Borders::ALL)
                .title(" Not connected "),
        ),
        area,
    );
}

/// `1234567` → `1,234,567`.
pub fn thousands(n: u64) -> String {
    let s = n.to_string();
    let mut out = String::with_capacity(s.len() + s.len() / 3);
    for (i, c) in s.chars().enumerate() {
        if i > 0 && (s.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

/// A short relative time: `now`, `3m`, `2h`, `5d`, `3mo`, `2y`.
pub fn short_span(secs: i64) -> String {
    let s = secs.abs();
    match s {
        0..60 => "now".to_owned(),
        60..3_600 => format!("{}m", s / 60),
        3_600..86_400 => format!("{}h", s / 3_600),
        86_400..2_592_000 => format!("{}d", s / 86_400),
        2_592_000..31_536_000 => format!("{}mo", s / 2_592_000),
        _ => format!("{}y", s / 31_536_000),
    }
}

pub(super) fn popup<'a>(
    frame: &mut Frame,
    area: Rect,
    w: u16,
    h: u16,
    title: &'a str,
) -> (Rect, Block<'a>) {
    let rect = centered(area, w, h);
    frame.render_widget(Clear, rect);
    (rect, Block::default().borders(Borders::ALL).title(title))
}

/// A button on a dialog's last row: its key, its label (trailing spaces are the gap to the
/// next), and what a click does (`None`: a hint only, such as `↑↓ choose`).
pub(super) type Button = (&'static str, String, Option<Action>);

/// The last row of `inner` (where a dialog's buttons go) and the rows above it.
pub(super) fn button_row(inner: Rect) -> (Rect, Rect) {
    let row = Rect {
        y: inner.bottom().saturating_sub(1),
        height: inner.height.min(1),
        ..inner
    };
    let above = Rect {
        height: inner.height.saturating_sub(1),
        ..inner
    };
    (above, row)
}

/// Each clickable button's columns on `row`: first, past-the-end, its action.
pub(super) fn button_spans(row: Rect, buttons: Vec<Button>) -> Vec<(u16, u16, Action)> {
    let mut x = row.x;
    let mut out = Vec::new();
    for (key, label, action) in buttons {
        let w = u16::try_from(width(key) + width(label.trim_end())).unwrap_or(u16::MAX);
        let pad = u16::try_from(width(&label) - width(label.trim_end())).unwrap_or(0);
        if let Some(a) = action {
            out.push((x, x.saturating_add(w), a));
        }
        x = x.saturating_add(w).saturating_add(pad);
    }
    out
}

/// The buttons as one line: keys in the key style, labels plain.
pub(super) fn button_line<'a>(cx: &Ctx<'_>, buttons: Vec<Button>) -> Line<'a> {
    let t = cx.theme;
    Line::from(
        buttons
            .into_iter()
            .flat_map(|(key, label, _)| [Span::styled(key, t.key()), Span::raw(label)])
            .collect::<Vec<_>>(),
    )
}

/// What a click at (`column`, `row`) does to the buttons drawn on `line`.
pub(super) fn button_click(
    line: Rect,
    buttons: Vec<Button>,
    column: u16,
    row: u16,
) -> Option<Action> {
    if row != line.y || line.height == 0 {
        return None;
    }
    button_spans(line, buttons)
        .into_iter()
        .find(|(x0, x1, _)| (*x0..*x1).contains(&column))
        .map(|(_, _, a)| a)
}

/// `3m ago`. A time more than a minute ahead of this machine's clock (the server's clock is
/// ahead) reads `in 3m`, never as if it were past.
pub fn ago(t: DateTime<Utc>, now: DateTime<Utc>) -> String {
    let secs = (now - t).num_seconds();
    let s = short_span(secs);
    if s == "now" {
        "just now".to_owned()
    } else if secs < 0 {
        format!("in {s}")
    } else {
        format!("{s} ago")
    }
}

/// `in 3d` / `3d ago`. A time ahead is rounded to the nearest unit, not down: a 2-hour grace
/// that began a few seconds ago ends "in 2h", not "in 1h".
pub fn until(t: DateTime<Utc>, now: DateTime<Utc>) -> String {
    let secs = (t - now).num_seconds();
    if secs > 0 {
        format!("in {}", nearest_span(secs))
    } else {
        ago(t, now)
    }
}

/// [`short_span`] rounded to the nearest unit: `1h 59m` is `2h`, `1h 20m` is `1h`; under
/// half a minute is `<1m`.
pub fn nearest_span(secs: i64) -> String {
    let s = secs.abs();
    let near = |unit: i64| (s + unit / 2) / unit;
    if s < 30 {
        return "<1m".to_owned();
    }
    let (m, h, d, mo) = (near(60), near(3_600), near(86_400), near(2_592_000));
    if m < 60 {
        format!("{m}m")
    } else if h < 24 {
        format!("{h}h")
    } else if d < 30 {
        format!("{d}d")
    } else if mo < 12 {
        format!("{mo}mo")
    } else {
        format!("{}y", near(31_536_000))
    }
}

/// A secret masked for display: `sk_live_••••••••3f9a`.
pub fn masked(secret: &str) -> String {
    let prefix: String = secret.splitn(3, '_').take(2).collect::<Vec<_>>().join("_");
    let hint: String = crate::domain::key::secret_hint(secret);
    if prefix.len() + 8 >= secret.len() {
        return "••••••••".to_owned();
    }
    format!("{prefix}_••••••••{hint}")
}

/// How old the key rows are: `updated just now`, `updated 2m ago · refresh failed`.
fn keys_age(app: &App) -> Option<String> {
    let at = app.keys.loaded_at?;
    let mut s = format!("updated {}", ago(at, app.now));
    if app.keys.refresh_failed {
        s.push_str(" · refresh failed");
    }
    Some(s)
}

/// A centered rectangle of at most `w`x`h` inside `area`.
pub fn centered(area: Rect, w: u16, h: u16) -> Rect {
    let w = w.min(area.width);
    let h = h.min(area.height);
    Rect {
        x: area.x + (area.width - w) / 2,
        y: area.y + (area.height - h) / 2,
        width: w,
        height: h,
    }
}

/// Columns `s` takes on a terminal (a CJK character or an emoji takes two).
pub fn width(s: &str) -> usize {
    Span::raw(s).width()
}

/// The longest start of `s` that fits in `w` columns.
pub(super) fn take_width(s: &str, w: usize) -> String {
    let mut used = 0usize;
    let mut out = String::new();
    let mut buf = [0u8; 4];
    for c in s.chars() {
        let cw = width(c.encode_utf8(&mut buf));
        if used + cw > w {
            break;
        }
        used += cw;
        out.push(c);
    }
    out
}

/// `s` in at most `w` terminal columns: whole when it fits, else cut and ending with `…`,
/// so a cut never looks like the whole text. Columns, not characters: a table cell cut by
/// the terminal instead would lose the `…`.
pub fn trunc(s: &str, w: usize) -> String {
    if width(s) <= w {
        s.to_owned()
    } else if w == 0 {
        String::new()
    } else {
        let mut out = take_width(s, w - 1);
        out.push('…');
        out
    }
}

/// [`trunc`], then padded with spaces to exactly `w` columns (`format!("{:<w$}")` counts
/// characters, which misaligns wide ones).
pub fn pad(s: &str, w: usize) -> String {
    let mut out = trunc(s, w);
    let n = width(&out);
    out.extend(std::iter::repeat_n(' ', w.saturating_sub(n)));
    out
}

/// A style that marks focus.
pub fn focus_style(cx: &Ctx<'_>, focused: bool) -> Style {
    if focused {
        cx.theme.focus()
    } else {
        cx.theme.text()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_time_ahead_rounds_to_the_nearest_unit() {
        let now = Utc::now();
        let at = |secs: i64| until(now + chrono::Duration::seconds(secs), now);
        assert_eq!(at(7_200 - 5), "in 2h", "a 2 h grace begun 5 s ago");
        assert_eq!(at(3_600 + 20 * 60), "in 1h");
        assert_eq!(at(3_570), "in 1h");
        assert_eq!(at(86_000), "in 1d");
        assert_eq!(at(30 * 86_400 - 60), "in 1mo");
        assert_eq!(at(90), "in 2m");
        assert_eq!(at(20), "in <1m");
        assert_eq!(until(now - chrono::Duration::seconds(7_199), now), "1h ago");
    }

    #[test]
    fn a_time_ahead_of_the_clock_is_not_called_past() {
        let now = Utc::now();
        let ahead = |secs: i64| ago(now + chrono::Duration::seconds(secs), now);
        assert_eq!(ahead(3_600), "in 1h");
        assert_eq!(
            ahead(30),
            "just now",
            "within a minute: skew too small to say"
        );
        assert_eq!(ago(now - chrono::Duration::seconds(3_600), now), "1h ago");
    }

    #[test]
    fn helpers() {
        assert_eq!(thousands(1_234_567), "1,234,567");
        assert_eq!(thousands(12), "12");
        assert_eq!(short_span(59), "now");
        assert_eq!(short_span(3_600 * 5), "5h");
        assert_eq!(
            masked("sk_live_0123456789ABCDEFGHIJabcdefghijKL3f9aZZ"),
            "sk_live_••••••••9aZZ"
        );
        assert_eq!(masked("short"), "••••••••");
        assert_eq!(trunc("abcdef", 4), "abc…");
        assert_eq!(trunc("abcd", 4), "abcd");
        assert_eq!(trunc("abcd", 0), "");
    }

    #[test]
    fn cuts_count_terminal_columns_and_always_say_so() {
        // Seven wide characters take 14 columns: cut to 6 columns, not 6 characters.
        let name = "東京決済サーバ";
        assert_eq!(width(name), 14);
        assert_eq!(trunc(name, 6), "東京…");
        assert_eq!(width(&trunc(name, 6)), 5);
        assert_eq!(trunc(name, 14), name);
        assert_eq!(pad("東京", 6), "東京  ");
        assert_eq!(pad("abcdefgh", 6), "abcde…");
        // A row of spans cut where it overflows, with `…`.
        let row = cut_line(vec![Span::raw("Saved "), Span::raw("Checkout service")], 12);
        assert_eq!(row.to_string(), "Saved Check…");
        assert_eq!(row.width(), 12);
        let whole = cut_line(vec![Span::raw("ab"), Span::raw("cd")], 4);
        assert_eq!(whole.to_string(), "abcd");
    }
}
