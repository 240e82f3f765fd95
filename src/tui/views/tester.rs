//! The request tester: the request fields, the diagnosis (offline lint before sending; the
//! server's decision trace with the failing step and the fix after a 401/403), and the
//! answer with status, time, headers and pretty JSON.

use ratatui::Frame;
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Borders, Clear, Paragraph, Wrap};

use super::{Ctx, focus_style, masked, trunc};
use crate::domain::lint::Severity;
use crate::tui::app::Loadable;
use crate::tui::app::support::fix_for;
use crate::tui::app::tester::{CredForm, TField, Tester, session_fix};
use crate::tui::app::{Action, App};

/// The buttons in the fields box's title: `Ctrl-s sends, Esc closes`.
fn title_buttons() -> Vec<super::Button> {
    vec![
        ("Ctrl-s", " sends, ".to_owned(), Some(Action::Send)),
        ("Esc", " closes".to_owned(), Some(Action::Back)),
    ]
}

/// What a click at (`column`, `row`) on the tester does: the title's buttons act as their
/// keys (after the border corner and " Request tester (").
pub(super) fn click(area: Rect, column: u16, row: u16) -> Option<Action> {
    let rect = body_area(area);
    let lead = u16::try_from(super::width(" Request tester (")).unwrap_or(0);
    let line = Rect {
        x: rect.x.saturating_add(1).saturating_add(lead),
        y: rect.y,
        width: rect.width.saturating_sub(2 + lead),
        height: rect.height.min(1),
    };
    super::button_click(line, title_buttons(), column, row)
}

fn body_area(area: Rect) -> Rect {
    Rect {
        x: area.x,
        y: area.y + 1,
        width: area.width,
        height: area.height.saturating_sub(2),
    }
}

/// The offline JWT check: the signature note, then what the service would refuse (so it shows
/// first at 80x24), then the header and the claims. Never the token itself.
fn jwt_lines(
    cx: &Ctx<'_>,
    report: &crate::domain::jwt_lint::JwtReport,
    request: Vec<crate::domain::lint::Finding>,
) -> Vec<Line<'static>> {
    let th = cx.theme;
    let mut d = vec![Line::from(Span::styled(
        crate::domain::jwt_lint::SIGNATURE_NOTE,
        th.warn(),
    ))];
    let findings: Vec<_> = request.into_iter().chain(report.findings.clone()).collect();
    if findings.is_empty() {
        d.push(Line::from(Span::styled(
            "✓ no problems found offline",
            th.ok(),
        )));
    }
    for f in &findings {
        let (mark, style) = match f.severity {
            Severity::Error => ("✗ ", th.error()),
            Severity::Warning => ("⚠ ", th.warn()),
        };
        d.push(Line::from(vec![
            Span::styled(mark, style),
            Span::styled(format!("{}: ", f.rule), style),
            Span::raw(f.message.clone()),
        ]));
        d.push(Line::from(Span::styled(format!("  → {}", f.fix), th.dim())));
    }
    let width = report
        .header
        .iter()
        .chain(&report.claims)
        .map(|c| c.name.chars().count())
        .max()
        .unwrap_or(0);
    for (title, rows) in [("header:", &report.header), ("claims:", &report.claims)] {
        if rows.is_empty() {
            continue;
        }
        d.push(Line::from(Span::styled(title, th.title())));
        for c in rows {
            let mut spans = vec![
                Span::styled(format!("  {:<width$}  ", c.name), th.dim()),
                Span::raw(c.value.clone()),
            ];
            if let Some(n) = &c.note {
                spans.push(Span::styled(format!("  ({n})"), th.dim()));
            }
            d.push(Line::from(spans));
        }
    }
    d
}

pub(super) fn render(app: &App, cx: &Ctx<'_>, frame: &mut Frame, area: Rect, t: &Tester) {
    let th = cx.theme;
    let rect = body_area(area);
    frame.render_widget(Clear, rect);
    let fields_h = 12u16.min(rect.height.saturating_sub(4));
    let [fields_area, lower] =
        Layout::vertical([Constraint::Length(fields_h), Constraint::Min(3)]).areas(rect);
    let [diag_area, resp_area] =
        Layout::horizontal([Constraint::Percentage(50), Constraint::Percentage(50)]).areas(lower);

    // Fields; the title holds the two buttons.
    let title = Line::from(
        [Span::raw(" Request tester (")]
            .into_iter()
            .chain(super::button_line(cx, title_buttons()).spans)
            .chain([Span::raw(") ")])
            .collect::<Vec<_>>(),
    );
    let block = Block::default().borders(Borders::ALL).title(title);
    let inner = block.inner(fields_area);
    frame.render_widget(block, fields_area);
    let label_w = 16usize;
    let value_w = usize::from(inner.width).saturating_sub(label_w + 1).max(1);
    let mut lines: Vec<Line<'_>> = Vec::new();
    let mut cursor = None;
    for f in TField::ORDER {
        if !t.has(f) {
            continue;
        }
        let focused = t.focus == f;
        let marker = if focused { "›" } else { " " };
        let (value, input) = match f {
            TField::Method => (t.method.value().to_owned(), Some(&t.method)),
            TField::Url => (t.url.value().to_owned(), Some(&t.url)),
            TField::Form => (format!("◂ {} ▸", t.form.label()), None),
            TField::PublicKey => (t.pk.value().to_owned(), Some(&t.pk)),
            TField::Credential => {
                let s = t.secret.expose();
                let jwt =
                    t.form == CredForm::BearerJwt || crate::domain::jwt::looks_like_jwt(s.trim());
                let shown = match (s.is_empty(), jwt) {
                    (true, true) => "(paste the JWT; it stays masked)".to_owned(),
                    (true, false) => "(paste the secret; it stays masked)".to_owned(),
                    // A token has no prefix or hint worth showing: every character is masked
                    // (`masked` would keep text before its underscores).
                    (false, true) => format!("••••••••  ({} characters)", s.chars().count()),
                    (false, false) => {
                        format!("{}  ({} characters)", masked(s), s.chars().count())
                    }
                };
                (shown, None)
            }
            TField::Origin => (t.origin.value().to_owned(), Some(&t.origin)),
            TField::AppId => (t.app_id.value().to_owned(), Some(&t.app_id)),
            // Credential headers' values stay masked, even while typing.
            TField::Headers => {
                let shown = t.headers_masked();
                let plain = shown == t.headers.value();
                (shown, plain.then_some(&t.headers))
            }
            TField::Body => (t.body.value().to_owned(), Some(&t.body)),
            TField::Send => (
                if t.sending {
                    "Sending…".to_owned()
                } else {
                    "[ Send ]".to_owned()
                },
                None,
            ),
            TField::RequestId => (t.request_id.value().to_owned(), Some(&t.request_id)),
        };
        if f == TField::Send {
            lines.push(Line::from(Span::styled(
                format!("{marker}{:w$}{value}", "", w = label_w),
                if focused { th.selected() } else { th.title() },
            )));
            continue;
        }
        let shown = match (focused, input) {
            (true, Some(i)) => {
                let scroll = i.visual_scroll(value_w);
                let x = inner.x
                    + u16::try_from(label_w + 1 + i.visual_cursor().saturating_sub(scroll))
                        .unwrap_or(0);
                cursor = Some((
                    x.min(inner.right().saturating_sub(1)),
                    inner.y + u16::try_from(lines.len()).unwrap_or(0),
                ));
                i.value().chars().skip(scroll).take(value_w).collect()
            }
            _ => trunc(&value, value_w),
        };
        lines.push(Line::from(vec![
            Span::styled(
                format!("{marker}{:<w$}", t.label(f), w = label_w),
                focus_style(cx, focused),
            ),
            Span::styled(shown, if focused { th.focus() } else { th.text() }),
        ]));
    }
    frame.render_widget(Paragraph::new(lines), inner);
    if let Some(c) = cursor
        && app
            .modals
            .last()
            .is_some_and(|m| matches!(m, crate::tui::app::modal::Modal::Tester(_)))
    {
        frame.set_cursor_position(c);
    }

    // Diagnosis: it always agrees with the server's answer to the request as shown.
    let mut d: Vec<Line<'_>> = Vec::new();
    let server_env = app.me.as_ref().and_then(|m| m.key.as_ref()).map(|k| k.env);
    let findings = t.lint(server_env, app.now);
    // The fix for a refusal: a session token's codes and steps differ from a key's.
    let session = t.sent_jwt().is_some();
    let fix = |code: &str, v: Option<&crate::api::VerifyResponse>, required: &[String]| {
        session
            .then(|| session_fix(code, v))
            .flatten()
            .unwrap_or_else(|| fix_for(code, v.and_then(|v| v.key.as_ref()), required, app.now))
    };
    let lint = |d: &mut Vec<Line<'_>>, allowed: bool| {
        for f in &findings {
            // A finding the server did not refuse for is a warning (⚠), as in `doctor`.
            let (mark, style) = if f.severity == Severity::Error && !allowed {
                ("✗ ", th.error())
            } else {
                ("⚠ ", th.warn())
            };
            d.push(Line::from(vec![
                Span::styled(mark, style),
                Span::raw(f.message.clone()),
            ]));
            d.push(Line::from(Span::styled(format!("  → {}", f.fix), th.dim())));
        }
    };
    if t.edited {
        d.push(Line::from(Span::styled(
            "Edited since the last answer: Ctrl-s sends it again.",
            th.warn(),
        )));
    }
    match (&t.response, &t.diagnosis) {
        (Some(Ok(r)), diag) if !t.edited && matches!(r.status, 401 | 403) && r.code.is_some() => {
            let code = r.code.clone().unwrap_or_default();
            d.push(Line::from(Span::styled(
                format!("{} {code}", r.status),
                th.error(),
            )));
            match diag {
                // The trace explains the answer only when it reaches the same verdict.
                Loadable::Ready(v) if v.code.as_deref() == Some(code.as_str()) => {
                    for step in &v.trace {
                        let (mark, style) = if step.ok {
                            ("✓", th.ok())
                        } else {
                            ("✗", th.error())
                        };
                        let line = Line::from(vec![
                            Span::styled(format!("{mark} {:<9}", step.step), style),
                            Span::raw(step.detail.clone()),
                        ]);
                        d.push(if step.ok {
                            line
                        } else {
                            line.style(th.selected())
                        });
                    }
                    d.push(Line::default());
                    d.push(Line::from(vec![
                        Span::styled("Fix: ", th.title()),
                        Span::raw(fix(&code, Some(v), &r.required_scopes)),
                    ]));
                }
                Loadable::Loading => d.push(Line::from(Span::styled(
                    "Asking the server why (POST /v1/verify)…",
                    th.dim(),
                ))),
                other => {
                    match other {
                        Loadable::Ready(v) => d.push(Line::from(Span::styled(
                            format!(
                                "The credential alone {} (POST /v1/verify): the refusal comes from the request around it.",
                                v.code.as_deref().map_or_else(
                                    || "verifies".to_owned(),
                                    |c| format!("gets {c}")
                                )
                            ),
                            th.warn(),
                        ))),
                        Loadable::Failed(e) => d.push(Line::from(Span::styled(
                            format!(
                                "No trace: {} (the console's key needs keys:verify)",
                                e.message
                            ),
                            th.dim(),
                        ))),
                        _ => {}
                    }
                    lint(&mut d, false);
                    d.push(Line::from(vec![
                        Span::styled("Fix: ", th.title()),
                        Span::raw(fix(&code, None, &r.required_scopes)),
                    ]));
                }
            }
        }
        (Some(Ok(r)), _) if !t.edited && r.status < 400 => {
            d.push(Line::from(Span::styled(
                format!("✓ The server allowed this request (HTTP {}).", r.status),
                th.ok(),
            )));
            lint(&mut d, true);
        }
        _ if let Some(report) = t.jwt_report(app.now) => {
            d.push(Line::from(Span::styled(
                "Offline JWT check (decoded here, sent nowhere):",
                th.title(),
            )));
            d.extend(jwt_lines(cx, &report, t.jwt_request_findings()));
        }
        _ => {
            if findings.is_empty() {
                d.push(Line::from(Span::styled(
                    "Offline check: the credential looks well formed.",
                    th.ok(),
                )));
            } else {
                d.push(Line::from(Span::styled(
                    "Offline check before sending:",
                    th.title(),
                )));
                lint(&mut d, false);
            }
        }
    }
    if let Some(note) = &t.note {
        d.push(Line::default());
        d.push(Line::from(Span::styled(note.clone(), th.ok())));
    }
    frame.render_widget(
        Paragraph::new(d)
            .wrap(Wrap { trim: false })
            .block(Block::default().borders(Borders::ALL).title(" Diagnosis ")),
        diag_area,
    );

    // Response.
    let mut r: Vec<Line<'_>> = Vec::new();
    match &t.response {
        None => r.push(Line::from(Span::styled("Not sent yet.", th.dim()))),
        Some(Err(e)) => r.push(Line::from(Span::styled(
            format!("Could not send: {e}"),
            th.error(),
        ))),
        Some(Ok(resp)) => {
            let style = if resp.status < 400 {
                th.ok()
            } else {
                th.error()
            };
            r.push(Line::from(vec![
                Span::styled(format!("HTTP {}", resp.status), style),
                Span::styled(format!("  {} ms", resp.elapsed_ms), th.dim()),
            ]));
            for (k, v) in &resp.headers {
                if matches!(
                    k.as_str(),
                    "x-request-id" | "www-authenticate" | "content-type" | "retry-after" | "etag"
                ) {
                    r.push(Line::from(vec![
                        Span::styled(format!("{k}: "), th.dim()),
                        Span::raw(v.clone()),
                    ]));
                }
            }
            r.push(Line::default());
            for l in resp.body.lines() {
                r.push(Line::from(l.to_owned()));
            }
        }
    }
    if !t.history.is_empty() {
        r.push(Line::default());
        r.push(Line::from(Span::styled(
            format!("History ({}; Ctrl-p recalls)", t.history.len()),
            th.dim(),
        )));
        for h in t.history.iter().rev().take(5) {
            r.push(Line::from(Span::styled(
                format!(
                    "  {} {} {} → {}",
                    h.at.format("%H:%M:%S"),
                    h.method,
                    trunc(&h.url, 40),
                    h.status
                ),
                th.dim(),
            )));
        }
    }
    frame.render_widget(
        Paragraph::new(r)
            .scroll((t.scroll, 0))
            .wrap(Wrap { trim: false })
            .block(
                Block::default()
                    .borders(Borders::ALL)
                    .title(" Answer (PgUp/PgDn) "),
            ),
        resp_area,
    );
}
