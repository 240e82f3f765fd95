//! Defect 10, "truncation hides facts": what a cut hides must show that it was cut (`…`),
//! the facts that matter must survive a narrow terminal (`+N` scopes, `q quit`, a
//! rotation's other key), and a status message too long for its row is kept whole in the
//! message log. Snapshots at 80x24, 120x36 and 200x50, the sizes it was seen at.

use chrono::{Duration, Utc};
use crossterm::event::{KeyCode, KeyEvent, KeyModifiers};
use keyconsole::api::{CreateKeyRequest, KeyObject, ListKeysQuery, RotateRequest};
use keyconsole::client::Client;
use keyconsole::domain::record::KeyStatus;
use keyconsole::tui::app::{Action, App, Tab};
use keyconsole::tui::keymap::Keymap;
use keyconsole::tui::theme::Theme;
use ratatui::Terminal;
use ratatui::backend::TestBackend;

use crate::fixtures::{self, app, load_rows, now, render};

const SIZES: [(u16, u16); 3] = [(80, 24), (120, 36), (200, 50)];

/// Row `i` of the Keys table (below the header, crumb, border and column titles).
fn row(text: &str, i: usize) -> String {
    text.lines().nth(4 + i).unwrap_or_default().to_owned()
}

fn last_line(text: &str) -> String {
    text.lines().last().unwrap_or_default().to_owned()
}

/// Render with another keymap (remapped keys).
fn render_with(a: &App, size: (u16, u16), keymap: &Keymap) -> String {
    let mut term = Terminal::new(TestBackend::new(size.0, size.1)).expect("terminal");
    term.draw(|f| keyconsole::tui::views::render(a, keymap, &Theme::mono(), f))
        .expect("draw");
    let buf = term.backend().buffer().clone();
    let mut out = String::new();
    for y in 0..buf.area.height {
        let line: String = (0..buf.area.width).map(|x| buf[(x, y)].symbol()).collect();
        out.push_str(line.trim_end());
        out.push('\n');
    }
    out
}

fn strs(v: &[&str]) -> Vec<String> {
    v.iter().map(|s| (*s).to_owned()).collect()
}

/// Keys whose names and scopes do not fit a narrow table.
fn long_keys(size: (u16, u16)) -> App {
    let mut a = app(0, size);
    let mut rows = fixtures::keys(8);
    rows[0].name = "Partner integration: Globex Corporation (read-only)".into();
    rows[0].scopes = strs(&["work-orders:write", "runs:read", "webhooks:write"]);
    rows[1].name = "東京リージョン決済バックエンド".into();
    rows[1].scopes = strs(&["templates:write", "templates:read"]);
    rows[2].scopes = strs(&["work-orders:read"]);
    let _ = load_rows(&mut a, rows);
    a
}

#[test]
fn scopes_keep_plus_n_names_say_they_are_cut_and_wide_terminals_show_more() {
    for size in SIZES {
        let a = long_keys(size);
        let text = render(&a, size);
        let (first, wide, one) = (row(&text, 0), row(&text, 1), row(&text, 2));
        // Three scopes, one shown at most: the cell ends with how many are hidden.
        assert!(first.contains(" +2") || first.contains(" +1"), "{text}");
        // A cut name ends with `…`, wide characters too (cut by columns, not characters).
        assert!(first.starts_with(" Partner inte"), "{text}");
        assert!(first.contains("…"), "{text}");
        // (The text form puts a space after each wide character's cell.)
        let packed = wide.replace(' ', "");
        if size.0 == 80 {
            assert!(packed.contains("東京リージョ…"), "{text}");
        } else {
            assert!(packed.contains("東京リージョン決済バックエンド"), "{text}");
        }
        assert!(
            !one.contains("work-orders:r "),
            "a lone scope cut says so: {text}"
        );
        if size.0 == 80 {
            // The first scope is cut to make room for `+2`.
            assert!(first.contains("… +2"), "{text}");
            assert!(one.contains("work-orders:…"), "{text}");
        }
        if size.0 >= 200 {
            // Spare width goes to the Scopes column: two scopes and `+1`, whole.
            assert!(first.contains("work-orders:write runs:read +1"), "{text}");
            assert!(wide.contains("templates:write templates:read"), "{text}");
            assert!(one.contains("work-orders:read "), "{text}");
        }
        insta::assert_snapshot!(format!("keys_long_{}x{}", size.0, size.1), text);
    }
}

#[test]
fn the_hint_row_always_shows_help_first_and_quit_last() {
    for size in SIZES {
        for tab in Tab::ALL {
            let mut a = app(5, size);
            let _ = a.update(Action::GoTab(tab));
            let hints = last_line(&render(&a, size));
            assert!(hints.starts_with("? help"), "{tab:?} {size:?}: {hints}");
            assert!(hints.ends_with("q quit"), "{tab:?} {size:?}: {hints}");
        }
    }
    // Whatever key quit is on.
    let mut o = std::collections::BTreeMap::new();
    o.insert("quit".to_owned(), "ctrl-q".to_owned());
    o.insert("help".to_owned(), "f1".to_owned());
    let km = Keymap::with_overrides(&o).expect("valid");
    let a = app(5, (80, 24));
    let hints = last_line(&render_with(&a, (80, 24), &km));
    assert!(hints.starts_with("F1 help"), "{hints}");
    assert!(hints.ends_with("C-q quit"), "{hints}");
}

/// The unknown-command message: longer than 80 columns.
fn long_message(a: &mut App) -> String {
    let _ = a.run_command("frobnicate");
    a.toast.as_ref().expect("a toast").text.clone()
}

#[test]
fn a_long_status_message_ends_with_an_ellipsis_and_the_log_holds_it_whole() {
    for size in SIZES {
        let mut a = app(5, size);
        let msg = long_message(&mut a);
        assert!(msg.chars().count() > 80, "{msg}");
        let text = render(&a, size);
        let status = text
            .lines()
            .nth(usize::from(size.1) - 2)
            .unwrap_or_default();
        if msg.chars().count() > usize::from(size.0) {
            assert!(status.ends_with('…'), "{status}");
        } else {
            assert_eq!(status, msg);
        }
        insta::assert_snapshot!(format!("status_long_{}x{}", size.0, size.1), text);
        // `:messages` shows it whole, wrapped, with its time.
        let _ = a.run_command("messages");
        let text = render(&a, size);
        assert!(text.contains("Messages, newest first"), "{text}");
        assert!(
            text.contains(&now().format("%H:%M:%S").to_string()),
            "{text}"
        );
        for word in msg.split(' ') {
            assert!(text.contains(word), "{word} missing: {text}");
        }
        insta::assert_snapshot!(format!("messages_{}x{}", size.0, size.1), text);
    }
}

#[test]
fn m_opens_the_log_which_scrolls_keeps_the_last_200_and_closes() {
    let size = (80, 24);
    let mut a = app(5, size);
    for i in 0..205 {
        a.toast(format!("message number {i}"), i % 10 == 0);
    }
    let km = Keymap::default();
    let m = KeyEvent::new(KeyCode::Char('M'), KeyModifiers::SHIFT);
    let open = km.action(&a.contexts(), &m).expect("M is bound everywhere");
    let _ = a.update(open);
    let text = render(&a, size);
    assert!(text.contains("message number 204"), "newest first: {text}");
    assert!(text.contains("of 200"), "{text}");
    assert!(!text.contains("message number 4 "), "dropped: {text}");
    // Scrolls by message, to the oldest kept.
    let down = KeyEvent::new(KeyCode::Char('j'), KeyModifiers::NONE);
    let act = km.action(&a.contexts(), &down).expect("j scrolls");
    let _ = a.update(act);
    let text = render(&a, size);
    assert!(!text.contains("message number 204"), "{text}");
    assert!(text.contains("message number 203"), "{text}");
    let end = KeyEvent::new(KeyCode::Char('G'), KeyModifiers::SHIFT);
    let act = km
        .action(&a.contexts(), &end)
        .expect("G goes to the oldest");
    let _ = a.update(act);
    let text = render(&a, size);
    assert!(text.contains("message number 5"), "the oldest kept: {text}");
    assert!(text.contains("200-200 of 200"), "{text}");
    // Esc closes; the help overlay lists the key.
    let esc = KeyEvent::new(KeyCode::Esc, KeyModifiers::NONE);
    let act = km.action(&a.contexts(), &esc).expect("Esc closes");
    let _ = a.update(act);
    assert!(a.modals.is_empty());
    let _ = a.update(Action::Help);
    for c in "message".chars() {
        let _ = a.update(Action::Edit(tui_input::InputRequest::InsertChar(c)));
    }
    let text = render(&a, size);
    assert!(
        text.contains("message log") && text.contains("[messages]"),
        "{text}"
    );
    // Also when the console could not connect: errors are what one wants to read again.
    let mut a = App::new(
        fixtures::session(false),
        keyconsole::tui::app::Settings::default(),
        now(),
        tokio::time::Instant::now(),
    );
    let _ = a.update(Action::Resize(size.0, size.1));
    a.toast("Loading scopes failed: connection refused", true);
    let act = km.action(&a.contexts(), &m).expect("M while not connected");
    let _ = a.update(act);
    assert!(render(&a, size).contains("Loading scopes failed"));
}

/// Key 0 rotated with a day of grace: the new key first (newest), the old one rotating.
fn rotating_pair(size: (u16, u16)) -> (App, KeyObject, KeyObject) {
    let mut a = app(0, size);
    let mut rows = fixtures::keys(6);
    let mut old = rows[0].clone();
    old.id = "pk_live_0000000000000000000O9f8e".into();
    let mut new = old.clone();
    new.id = "pk_live_0000000000000000000N1a2b".into();
    new.rotated_from = Some(old.id.clone());
    new.created_at = now() - Duration::minutes(5);
    new.last_used_at = None;
    old.rotated_to = Some(new.id.clone());
    old.expires_at = Some(now() + Duration::days(1));
    old.status = KeyStatus::Expiring;
    old.version += 1;
    rows[0] = old.clone();
    rows.insert(0, new.clone());
    let _ = load_rows(&mut a, rows);
    (a, old, new)
}

/// The detail of the key at position `pos`: the pane on wide terminals, else Enter's modal.
fn detail_of(a: &mut App, pos: usize, size: (u16, u16)) -> String {
    a.keys.selected = pos;
    if !a.wide() {
        let _ = a.update(Action::Enter);
    }
    let text = render(a, size);
    if !a.wide() {
        let _ = a.update(Action::Back);
    }
    text
}

#[test]
fn both_keys_of_a_rotation_name_the_other_in_the_list_and_the_detail() {
    for size in SIZES {
        let (mut a, old, new) = rotating_pair(size);
        let text = render(&a, size);
        let (new_row, old_row) = (row(&text, 0), row(&text, 1));
        // At 80 columns the names keep their room: the arrow says there is another key
        // (Enter names it); wider, its id's end shows too.
        assert!(
            new_row.starts_with(" Service 000 "),
            "the name is whole: {text}"
        );
        if size.0 >= 120 {
            assert!(old_row.contains("rotating → pk_…1a2b"), "{text}");
            assert!(new_row.contains("active ← pk_…9f8e"), "{text}");
        } else {
            assert!(old_row.contains("rotating→"), "{text}");
            assert!(new_row.contains("active←"), "{text}");
        }
        insta::assert_snapshot!(format!("rotation_pair_{}x{}", size.0, size.1), text);
        let text = detail_of(&mut a, 1, size);
        assert!(text.contains(&format!("Rotated to   {}", new.id)), "{text}");
        assert!(
            text.contains("in progress: r reopens the monitor"),
            "{text}"
        );
        let text = detail_of(&mut a, 0, size);
        assert!(text.contains(&format!("Rotated from {}", old.id)), "{text}");
        assert!(
            text.contains("the old key still works, expires in 1d"),
            "{text}"
        );
        insta::assert_snapshot!(format!("rotation_new_detail_{}x{}", size.0, size.1), text);
    }
}

#[test]
fn after_a_rotation_with_no_grace_the_old_key_says_where_it_went() {
    let size = (80, 24);
    let (mut a, mut old, new) = rotating_pair(size);
    old.status = KeyStatus::Expired;
    old.expires_at = Some(now());
    a.keys.replace(old.clone());
    let text = render(&a, size);
    assert!(row(&text, 1).contains("EXPIRED→"), "{text}");
    let text = detail_of(&mut a, 1, size);
    assert!(text.contains(&format!("Rotated to   {}", new.id)), "{text}");
    // The old key still listed: the new one points at it, without "still works".
    let text = detail_of(&mut a, 0, size);
    assert!(text.contains(&format!("Rotated from {}", old.id)), "{text}");
    assert!(!text.contains("still works"), "{text}");
}

/// A rotation through the real key service (the embedded one, on loopback): the API sets
/// `rotated_to` on the old key and `rotated_from` on the new one, and the console shows
/// both in the list and the detail.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_real_rotation_shows_on_both_keys() {
    let dir = tempfile::tempdir().expect("tempdir");
    let e = keyconsole::console::start_embedded(dir.path(), false)
        .await
        .expect("embedded service");
    let c = Client::new(&e.url, Some(e.token.clone())).expect("client");
    let made = c
        .create_key(&CreateKeyRequest {
            name: "Truncation check".into(),
            scopes: Some(strs(&["work-orders:write", "runs:read", "webhooks:write"])),
            ..Default::default()
        })
        .await
        .expect("create");
    let rotated = c
        .rotate_key(
            &made.key.id,
            &RotateRequest {
                grace_period_seconds: Some(3600),
            },
        )
        .await
        .expect("rotate");
    let (old_id, new_id) = (made.key.id.clone(), rotated.key.id.clone());
    let page = c
        .list_keys(&ListKeysQuery {
            limit: Some(500),
            ..Default::default()
        })
        .await
        .expect("list");
    let listed = |id: &str| page.data.iter().find(|k| k.id == id).cloned();
    let (old, new) = (listed(&old_id).expect("old"), listed(&new_id).expect("new"));
    assert_eq!(old.rotated_to.as_deref(), Some(new_id.as_str()));
    assert_eq!(new.rotated_from.as_deref(), Some(old_id.as_str()));
    let tail = |id: &str| id[id.len() - 4..].to_owned();
    for size in SIZES {
        let mut a = app(0, size);
        let _ = a.update(Action::Tick(Utc::now(), tokio::time::Instant::now()));
        let _ = load_rows(&mut a, page.data.clone());
        let text = render(&a, size);
        let has_line = |all: &[&str]| text.lines().any(|l| all.iter().all(|n| l.contains(n)));
        if size.0 >= 120 {
            let old_tail = format!("← pk_…{}", tail(&old_id));
            let new_tail = format!("→ pk_…{}", tail(&new_id));
            assert!(has_line(&["rotating", &new_tail]), "{text}");
            assert!(has_line(&["active", &old_tail]), "{text}");
        } else {
            assert!(has_line(&["rotating→"]) && has_line(&["active←"]), "{text}");
        }
        let pos = |id: &str| a.keys.position_of(id).expect("shown");
        let (old_pos, new_pos) = (pos(&old_id), pos(&new_id));
        let text = detail_of(&mut a, old_pos, size);
        assert!(text.contains(&format!("Rotated to   {new_id}")), "{text}");
        assert!(text.contains("in progress"), "{text}");
        let text = detail_of(&mut a, new_pos, size);
        assert!(text.contains(&format!("Rotated from {old_id}")), "{text}");
    }
}

/// Where `needle` starts, in terminal columns (the text form gives each column one
/// character: a wide character is followed by the blank of its second column).
fn column_of(line: &str, needle: &str) -> Option<usize> {
    line.find(needle).map(|i| line[..i].chars().count())
}

/// Columns padded by characters shift after a wide name; padded by columns they line up.
#[test]
fn lists_line_up_after_a_name_of_wide_characters() {
    let size = (120, 36);
    let mut a = app(0, size);
    let mut rows = fixtures::keys(6);
    rows[0].name = "東京決済".into();
    let _ = load_rows(&mut a, rows);
    let _ = a.update(Action::GoTab(Tab::Domains));
    let text = render(&a, size);
    let cols: Vec<Option<usize>> = text
        .lines()
        .filter(|l| l.contains("*.example.com") && l.contains("pk_live_"))
        .map(|l| column_of(l, "pk_live_"))
        .collect();
    assert_eq!(cols.len(), 2, "{text}");
    assert_eq!(cols[0], cols[1], "{text}");

    let mut usage = fixtures::org_usage();
    usage.top_keys[0].name = "東京決済".into();
    let _ = a.update(Action::GoTab(Tab::Usage));
    let _ = a.update(Action::OrgUsageLoaded(Ok(usage)));
    let text = render(&a, size);
    let ends: Vec<usize> = text
        .lines()
        .filter(|l| l.starts_with("東 京 決 済") || l.starts_with("Service 001"))
        .map(|l| l.trim_end().chars().count())
        .collect();
    assert_eq!(ends.len(), 2, "{text}");
    assert_eq!(ends[0], ends[1], "the counts line up: {text}");
}
