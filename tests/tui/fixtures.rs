//! Fixed sample state for console tests: a fixed clock, fixed ids, a catalog, keys in every
//! status, usage, events and audit entries.

use chrono::{DateTime, Duration, Utc};
use keyconsole::api::{
    App as ApiApp, AuditEntry, AuthEvent, BucketSize, KeyObject, KeyUsage, MeResponse, Org,
    OrgUsage, Page, ScopeInfo, ScopesResponse, TopKey, UsageBucket,
};
use keyconsole::domain::key::Env;
use keyconsole::domain::record::KeyStatus;
use keyconsole::domain::scope::Catalog;
use keyconsole::tui::app::{Action, App, Session, Settings};
use keyconsole::tui::keymap::Keymap;
use keyconsole::tui::theme::Theme;
use ratatui::Terminal;
use ratatui::backend::TestBackend;
use tokio::time::Instant;

pub const SECRET: &str = "sk_live_Kn2wPGeHIhYJuCm5HmDtruvAvr97JmBT4AbCRK";

pub fn now() -> DateTime<Utc> {
    DateTime::from_timestamp(1_795_000_000, 0).expect("time")
}

pub fn key(i: usize, name: &str, status: KeyStatus) -> KeyObject {
    let created = now() - Duration::days(i as i64 * 7);
    KeyObject {
        id: format!("pk_live_{:024}", i),
        name: name.to_owned(),
        org_id: "org_0000000000000001".to_owned(),
        env: if i % 5 == 4 { Env::Test } else { Env::Live },
        app_id: (i % 4 == 3).then(|| "app_0000000000000001".to_owned()),
        scopes: match i % 3 {
            0 => vec!["runs:read".to_owned(), "webhooks:write".to_owned()],
            1 => vec!["*".to_owned()],
            _ => vec!["templates:*".to_owned()],
        },
        allowed_domains: if i.is_multiple_of(3) {
            vec!["*.example.com".to_owned()]
        } else {
            vec![]
        },
        enabled: status != KeyStatus::Disabled,
        status,
        secret_hint: "…ab12".to_owned(),
        created_at: created,
        updated_at: created,
        expires_at: match status {
            KeyStatus::Expired => Some(now() - Duration::days(2)),
            KeyStatus::Expiring => Some(now() + Duration::hours(30)),
            _ => None,
        },
        last_used_at: i
            .is_multiple_of(2)
            .then(|| now() - Duration::minutes(i as i64 * 13)),
        rotated_from: None,
        rotated_to: None,
        version: 1,
        owner: None,
        description: None,
        leaked_at: None,
    }
}

pub fn keys(n: usize) -> Vec<KeyObject> {
    let statuses = [
        KeyStatus::Active,
        KeyStatus::Active,
        KeyStatus::Disabled,
        KeyStatus::Expiring,
        KeyStatus::Expired,
    ];
    (0..n)
        .map(|i| key(i, &format!("Service {i:03}"), statuses[i % statuses.len()]))
        .collect()
}

pub fn catalog() -> ScopesResponse {
    let cat = Catalog::default_catalog();
    ScopesResponse {
        scopes: cat
            .entries()
            .iter()
            .map(|e| ScopeInfo {
                name: e.name.clone(),
                description: e.description.clone(),
            })
            .collect(),
        presets: [
            ("full".to_owned(), vec!["*".to_owned()]),
            (
                "read-only".to_owned(),
                cat.preset("read-only").unwrap_or_default(),
            ),
        ]
        .into_iter()
        .collect(),
    }
}

pub fn me() -> MeResponse {
    MeResponse {
        org: Org {
            id: "org_0000000000000001".into(),
            name: "Acme".into(),
            created_at: now(),
        },
        key: Some(key(1, "Owner", KeyStatus::Active)),
        scopes: vec!["*".into()],
        auth_method: "secret".into(),
        user: None,
    }
}

pub fn session(danger: bool) -> Session {
    Session {
        profile: if danger {
            "prod".into()
        } else {
            "local".into()
        },
        url: "http://127.0.0.1:7878".into(),
        danger,
        demo: !danger,
    }
}

/// A connected console with `n` keys loaded.
pub fn app(n: usize, size: (u16, u16)) -> App {
    app_with(n, size, false)
}

pub fn app_with(n: usize, size: (u16, u16), danger: bool) -> App {
    let mut a = App::new(session(danger), Settings::default(), now(), Instant::now());
    a.update(Action::Resize(size.0, size.1));
    let _ = a.update(Action::MeLoaded(Ok(me())));
    let _ = a.update(Action::CatalogLoaded(Ok(catalog())));
    let _ = a.update(Action::AppsLoaded(Ok(vec![ApiApp {
        id: "app_0000000000000001".into(),
        name: "Checkout".into(),
        created_at: now(),
    }])));
    let _ = load_rows(&mut a, keys(n));
    a
}

/// The server's answer to the current first-page request: exactly `rows`.
pub fn load_rows(a: &mut App, rows: Vec<KeyObject>) -> Vec<keyconsole::tui::app::Command> {
    let generation = a.keys.generation;
    let total = rows.len() as u64;
    a.update(Action::KeysLoaded {
        generation,
        append: false,
        query: String::new(),
        result: Ok(Page {
            data: rows,
            next_cursor: None,
            total: Some(total),
            total_is_lower_bound: false,
        }),
    })
}

pub fn buckets(n: usize, scale: u64) -> Vec<UsageBucket> {
    (0..n)
        .map(|i| UsageBucket {
            start: BucketSize::Minute.floor(now()) - Duration::minutes((n - 1 - i) as i64),
            ok: scale * (10 + (i as u64 * 7) % 23),
            unauthorized: (i % 9 == 0) as u64 * 3,
            forbidden: (i % 13 == 0) as u64 * 2,
            rate_limited: (i % 29 == 0) as u64,
        })
        .collect()
}

pub fn org_usage() -> OrgUsage {
    OrgUsage {
        bucket: BucketSize::Minute,
        buckets: buckets(60, 10),
        top_keys: (0..5)
            .map(|i| TopKey {
                key_id: format!("pk_live_{:024}", i),
                name: format!("Service {i:03}"),
                ok: 1000 - i * 100,
                unauthorized: i,
                forbidden: i * 2,
                rate_limited: 0,
                total: 1000 - i * 97,
            })
            .collect(),
    }
}

pub fn key_usage() -> KeyUsage {
    KeyUsage {
        key_id: format!("pk_live_{:024}", 0),
        bucket: BucketSize::Minute,
        buckets: buckets(60, 1),
    }
}

pub fn events() -> Vec<AuthEvent> {
    (0..4)
        .map(|i| AuthEvent {
            request_id: format!("req_{:020}", i),
            at: now() - Duration::minutes(i * 3),
            key_id: Some(format!("pk_live_{:024}", i)),
            code: [
                "key_disabled",
                "insufficient_scope",
                "origin_not_allowed",
                "key_expired",
            ][i as usize]
                .into(),
            status: [401, 403, 403, 401][i as usize],
            method: "GET".into(),
            path: "/v1/keys".into(),
            ip: "203.0.113.7".into(),
            origin: None,
            app_id: None,
            user: None,
            required_scopes: if i == 1 {
                vec!["keys:write".to_owned()]
            } else {
                Vec::new()
            },
            count: 1,
        })
        .collect()
}

pub fn audit() -> Vec<AuditEntry> {
    (0..6)
        .map(|i| AuditEntry {
            id: format!("aud_{:020}", i),
            at: now() - Duration::hours(i),
            actor_key_id: Some(format!("pk_live_{:024}", 1)),
            action: [
                "key.created",
                "key.updated",
                "key.disabled",
                "key.rotated",
                "key.deleted",
                "app.created",
            ][i as usize]
                .into(),
            key_id: (i != 5).then(|| format!("pk_live_{:024}", i)),
            changes: if i == 1 {
                serde_json::json!({"name": {"from": "Old", "to": "New"}})
            } else {
                serde_json::json!({"name": "Service"})
            },
            actor: keyconsole::api::Actor::key(&format!("pk_live_{:024}", 1)),
        })
        .collect()
}

/// The Audit tab open on the fixture log (`audit()`), as the server answered it.
pub fn on_audit(a: &mut App) {
    let _ = a.update(Action::GoTab(keyconsole::tui::app::Tab::Audit));
    audit_answered(a, audit(), None);
}

/// The server's answer to the Audit tab's latest request: `rows`, and `next_cursor` when
/// there is more.
pub fn audit_answered(a: &mut App, rows: Vec<AuditEntry>, next_cursor: Option<&str>) {
    let generation = a.audit.generation;
    let _ = a.update(Action::AuditLoaded {
        generation,
        append: false,
        result: Ok(Page {
            data: rows,
            next_cursor: next_cursor.map(str::to_owned),
            total: None,
            total_is_lower_bound: false,
        }),
    });
}

/// The Scopes tab with "which keys hold `*`" answered with `holders`.
pub fn on_holders(a: &mut App, holders: Vec<KeyObject>) {
    let _ = a.update(Action::GoTab(keyconsole::tui::app::Tab::Scopes));
    let _ = a.update(Action::WhoHolds);
    let total = holders.len() as u64;
    let _ = a.update(Action::HoldersLoaded {
        scope: "*".into(),
        result: Ok((holders, Some(total))),
    });
}

/// Render to text (monochrome), one line per row.
pub fn render(app: &App, size: (u16, u16)) -> String {
    render_with(app, size, Theme::mono())
}

/// Render to text with this theme, one line per row.
pub fn render_with(app: &App, size: (u16, u16), theme: Theme) -> String {
    let backend = TestBackend::new(size.0, size.1);
    let mut term = Terminal::new(backend).expect("terminal");
    let keymap = Keymap::default();
    term.draw(|f| keyconsole::tui::views::render(app, &keymap, &theme, f))
        .expect("draw");
    let buf = term.backend().buffer().clone();
    let mut out = String::new();
    for y in 0..buf.area.height {
        let mut line = String::new();
        for x in 0..buf.area.width {
            line.push_str(buf[(x, y)].symbol());
        }
        out.push_str(line.trim_end());
        out.push('\n');
    }
    out
}

/// What the executor reports for a plain OSC 52 copy (outside tmux).
pub fn osc52_done(what: &str) -> keyconsole::tui::app::CopyDone {
    let m = keyconsole::tui::clipboard::Method::Osc52;
    keyconsole::tui::app::CopyDone {
        what: what.to_owned(),
        how: m.copied().to_owned(),
        clears: m.clear_phrase().to_owned(),
        warning: None,
    }
}

/// Where `needle` is drawn: (column, row).
pub fn at(screen: &str, needle: &str) -> (u16, u16) {
    let (y, line) = screen
        .lines()
        .enumerate()
        .find(|(_, l)| l.contains(needle))
        .unwrap_or_else(|| panic!("{needle:?} drawn\n{screen}"));
    let x = line[..line.find(needle).unwrap_or(0)].chars().count();
    (u16::try_from(x).expect("x"), u16::try_from(y).expect("y"))
}
