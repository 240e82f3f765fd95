//! The frame's geometry, as pure functions of the terminal size and the state: `views`
//! draws into these rectangles, `update` pages by their heights, and a mouse click is read
//! against them (`views::click`), so all three agree on what is where.
//!
//! The frame is one header row, one crumb row, the body, one toast row and one hint row.

use ratatui::layout::{Constraint, Layout, Rect};

use super::{App, DETAIL_ROWS, DetailPane};

/// The frame's rows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Screen {
    /// Tabs and the profile badge.
    pub header: Rect,
    /// Crumb, filter or command line.
    pub crumb: Rect,
    /// The tab's content.
    pub body: Rect,
    /// Status messages.
    pub toast: Rect,
    /// Key hints.
    pub hints: Rect,
}

/// The frame's rows in `area`.
pub fn screen(area: Rect) -> Screen {
    let [header, crumb, body, toast, hints] = Layout::vertical([
        Constraint::Length(1),
        Constraint::Length(1),
        Constraint::Min(1),
        Constraint::Length(1),
        Constraint::Length(1),
    ])
    .areas(area);
    Screen {
        header,
        crumb,
        body,
        toast,
        hints,
    }
}

/// The Keys tab's table and, when there is room, its detail pane.
pub fn keys_split(pane: DetailPane, body: Rect) -> (Rect, Option<Rect>) {
    match pane {
        DetailPane::Right => {
            let [a, b] =
                Layout::horizontal([Constraint::Min(60), Constraint::Length(56)]).areas(body);
            (a, Some(b))
        }
        DetailPane::Below => {
            let [a, b] =
                Layout::vertical([Constraint::Min(3), Constraint::Length(DETAIL_ROWS)]).areas(body);
            (a, Some(b))
        }
        DetailPane::None => (body, None),
    }
}

/// The Scopes tab's catalog and, while "which keys hold it" is shown, that pane.
pub fn scopes_split(body: Rect, holders: bool) -> (Rect, Option<Rect>) {
    if holders {
        let [a, b] = Layout::horizontal([Constraint::Percentage(58), Constraint::Percentage(42)])
            .areas(body);
        (a, Some(b))
    } else {
        (body, None)
    }
}

/// The Usage tab: the two charts, the list's panel tabs and the list.
pub fn usage_split(body: Rect) -> (Rect, Rect, Rect, Rect) {
    let [charts, lists] =
        Layout::vertical([Constraint::Percentage(55), Constraint::Percentage(45)]).areas(body);
    let [org, key] =
        Layout::horizontal([Constraint::Percentage(50), Constraint::Percentage(50)]).areas(charts);
    let [tabs, list] = Layout::vertical([Constraint::Length(1), Constraint::Min(1)]).areas(lists);
    (org, key, tabs, list)
}

/// The Review tab: the grouped list and the selected finding's panel (`panel` rows, 0 on a
/// short terminal).
pub fn review_split(body: Rect, panel: u16) -> (Rect, Rect) {
    let [list, bottom] =
        Layout::vertical([Constraint::Min(2), Constraint::Length(panel)]).areas(body);
    (list, bottom)
}

/// Rows the Review list shows in `list`, below its top border.
pub fn review_list_rows(list: Rect) -> usize {
    usize::from(list.height.saturating_sub(1))
}

/// Holder rows the "which keys hold it" pane shows in `pane`: inside its border, below the
/// count line.
pub fn holder_rows(pane: Rect) -> usize {
    usize::from(pane.height.saturating_sub(3)).max(1)
}

/// Rows a table shows in `area` below its top border and header row.
pub fn table_rows(area: Rect) -> usize {
    usize::from(area.height.saturating_sub(2))
}

impl App {
    /// The frame's rows at the terminal's size.
    pub fn screen(&self) -> Screen {
        screen(Rect::new(0, 0, self.size.0, self.size.1))
    }

    /// The Keys table's rectangle.
    pub fn keys_table(&self) -> Rect {
        keys_split(self.detail_pane(), self.screen().body).0
    }

    /// Rows of the Keys table that fit on screen (at least one).
    pub fn table_height(&self) -> usize {
        table_rows(self.keys_table()).max(1)
    }

    /// Rows of the holders pane that fit (it pages by its own height).
    pub fn holders_height(&self) -> usize {
        scopes_split(self.screen().body, true)
            .1
            .map_or(1, holder_rows)
    }

    /// Rows of the Audit table that fit (it has no detail pane, so it pages by its own
    /// height, not the Keys table's).
    pub fn audit_height(&self) -> usize {
        table_rows(self.screen().body).max(1)
    }
}
