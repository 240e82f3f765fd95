//! Domains tab: the selected key's allowed domains (add, remove), a "would this Origin
//! pass?" checker that explains the match, and which loaded keys work with the public key
//! alone.

use ratatui::Frame;
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Borders, Paragraph, Wrap};

use super::{Ctx, pad, trunc};
use crate::domain::host_pattern::{HostPattern, check_origin};
use crate::tui::app::App;
use crate::tui::app::domains::DomainsFocus;

pub(super) fn render(app: &App, cx: &Ctx<'_>, frame: &mut Frame, area: Rect) {
    let t = cx.theme;
    let Some(key) = app.selected_key() else {
        frame.render_widget(
            Paragraph::new("Select a key in the Keys tab (1) first.").style(t.dim()),
            area,
        );
        return;
    };
    let d = &app.domains;
    let [top, bottom] =
        Layout::vertical([Constraint::Percentage(55), Constraint::Percentage(45)]).areas(area);
    let [list_area, check_area] =
        Layout::horizontal([Constraint::Percentage(50), Constraint::Percentage(50)]).areas(top);

    // The key's domains.
    let mut lines: Vec<Line<'_>> = Vec::new();
    if key.allowed_domains.is_empty() {
        lines.push(Line::from(Span::styled(
            "No allowed domains: the secret is required.",
            t.dim(),
        )));
    }
    for (i, dom) in key.allowed_domains.iter().enumerate() {
        let line = Line::from(format!("  {dom}"));
        lines.push(if i == d.cursor && d.focus == DomainsFocus::List {
            line.style(t.selected())
        } else {
            line
        });
    }
    if d.focus == DomainsFocus::Add {
        lines.push(Line::default());
        lines.push(Line::from(vec![
            Span::styled("add> ", t.focus()),
            Span::styled(d.add.value().to_owned(), t.focus()),
            Span::raw("▏"),
        ]));
        match &d.add_error {
            Some(e) if !d.add.value().is_empty() => {
                lines.push(Line::from(Span::styled(e.clone(), t.error())))
            }
            _ => lines.push(Line::from(Span::styled(
                "example.com or *.example.com; Enter adds",
                t.dim(),
            ))),
        }
    }
    if d.saving {
        lines.push(Line::from(Span::styled("Saving…", t.dim())));
    }
    if let Some(r) = &d.refused {
        lines.push(Line::from(Span::styled(r.clone(), t.error())));
    }
    let title = format!(
        " Allowed domains of {} (a add, x remove) ",
        trunc(&key.name, 16)
    );
    frame.render_widget(
        Paragraph::new(lines)
            .wrap(Wrap { trim: false })
            .block(Block::default().borders(Borders::ALL).title(title)),
        list_area,
    );

    // The Origin checker.
    let patterns: Vec<HostPattern> = key
        .allowed_domains
        .iter()
        .filter_map(|p| HostPattern::parse(p).ok())
        .collect();
    let origin = d.origin.value();
    let mut lines = vec![Line::from(vec![
        Span::styled(
            "Origin> ",
            if d.focus == DomainsFocus::Origin {
                t.focus()
            } else {
                t.dim()
            },
        ),
        Span::raw(origin.to_owned()),
        Span::raw(if d.focus == DomainsFocus::Origin {
            "▏"
        } else {
            ""
        }),
    ])];
    if origin.trim().is_empty() {
        lines.push(Line::from(Span::styled(
            "o, then type e.g. https://shop.example.com",
            t.dim(),
        )));
    } else {
        let verdict = check_origin(&patterns, Some(origin));
        let (head, style) = if verdict.allowed() {
            (
                "PASS: a request with this Origin and only the public key is allowed.",
                t.ok(),
            )
        } else {
            (
                "FAIL: a public-key-only request from here gets 403 origin_not_allowed.",
                t.error(),
            )
        };
        lines.push(Line::from(Span::styled(head, style)));
        lines.push(Line::from(verdict.explain()));
        lines.push(Line::from(Span::styled(
            "With the secret the origin is not checked.",
            t.dim(),
        )));
    }
    frame.render_widget(
        Paragraph::new(lines).wrap(Wrap { trim: false }).block(
            Block::default()
                .borders(Borders::ALL)
                .title(" Would this Origin pass? "),
        ),
        check_area,
    );

    // Keys usable with the public key alone.
    let usable: Vec<_> = app
        .keys
        .rows
        .iter()
        .filter(|k| !k.allowed_domains.is_empty() && k.enabled)
        .collect();
    let mut lines: Vec<Line<'_>> = vec![Line::from(Span::styled(
        format!(
            "{} of the {} loaded keys work with the public key alone (from an allowed Origin):",
            usable.len(),
            app.keys.rows.len()
        ),
        t.dim(),
    ))];
    for k in usable
        .iter()
        .take(usize::from(bottom.height.saturating_sub(3)))
    {
        lines.push(Line::from(vec![
            Span::raw(format!("{} ", pad(&k.name, 20))),
            Span::styled(format!("{} ", pad(&k.id, 16)), t.dim()),
            Span::raw(k.allowed_domains.join(" ")),
        ]));
    }
    frame.render_widget(
        Paragraph::new(lines).block(
            Block::default()
                .borders(Borders::ALL)
                .title(" Public-key-only keys "),
        ),
        bottom,
    );
}
