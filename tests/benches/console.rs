//! The console at a large org (issue 8): `cargo bench --bench console`.
//!
//! Seeds an organization of N keys (default 1,000,000; `KEYCONSOLE_BENCH_KEYS` overrides)
//! through the store (`KeyStore::import_keys`, not HTTP), starts a real
//! `keyconsole serve` process on it, and drives the console's own `App` and `Executor` over
//! loopback, drawing to a 120x40 `TestBackend`. It prints, each as a median with a baseline
//! measured in the same run:
//!
//! - **first frame**: from a new console (`App::start`, `/v1/me`, catalog, apps, the first
//!   page of keys) to the first frame that shows keys; baseline: the same against an org
//!   holding only its owner key (a second org on the same server).
//! - **filter keystroke, local cost**: `App::update` for one typed character plus the frame,
//!   with the first page loaded and with 100,000 keys loaded; baseline: drawing an unchanged
//!   frame. The goal is < 16 ms.
//! - **typing to server-side results**: from the debounce firing (the `q=` request) to the
//!   frame showing the server's answer, for a common word, a rare string, a string with no
//!   match and 8 characters of a key id; baseline: a `GET /v1/me` round trip through the same
//!   executor. The debounce itself (250 ms by default) comes before that.
//! - **RSS with 100,000 keys loaded** (this process: the console, no server), after paging
//!   through 500 pages; the goal is ≤ 100 MB; baseline: the RSS before loading them.
//!
//! The seeding runs in a child process (this binary again, with `KEYCONSOLE_BENCH_SEED_DB`
//! and `_ORG` set): in this one, the import's page cache (256 MiB) and batches would stay
//! in the RSS the last figure reads as the console's.

use std::time::{Duration, Instant};

use keyconsole::api::OrgCreated;
use keyconsole::client::Client;
use keyconsole::domain::key::{Env, SecretHash};
use keyconsole::domain::record::KeyRecord;
use keyconsole::domain::scope::ScopeSet;
use keyconsole::storage::{self, IfMissing, Retention};
use keyconsole::tui::app::{Action, App, Command, Session, Settings, TimerKind};
use keyconsole::tui::clipboard::{Clipboard, ClipboardMode, Environment};
use keyconsole::tui::keymap::Keymap;
use keyconsole::tui::tasks::Executor;
use keyconsole::tui::theme::Theme;
use ratatui::Terminal;
use ratatui::backend::TestBackend;
use sha2::{Digest, Sha256};
use tokio::sync::mpsc::UnboundedReceiver;
use tui_input::InputRequest;

#[allow(dead_code)]
#[path = "../support/serve.rs"]
mod serve;
use serve::{Served, kc};

const SIZE: (u16, u16) = (120, 40);
/// Keys the RSS figure loads into the console.
const LOADED: usize = 100_000;
/// Words names are made of; `billing` is in one name of 8.
const WORDS: [&str; 8] = [
    "billing", "search", "checkout", "mobile", "partner", "export", "gateway", "webhook",
];
const TEAMS: [&str; 5] = ["eu", "us", "apac", "staging", "batch"];

fn keys_wanted() -> usize {
    std::env::var("KEYCONSOLE_BENCH_KEYS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(1_000_000)
}

fn org_create(database: &str, name: &str) -> OrgCreated {
    let out = kc(&["org", "create", name, "--database", database, "--json"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).expect("org create --json")
}

const B62: &[u8] = b"0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";

fn base62(mut n: u64, len: usize) -> String {
    let mut s = vec![b'0'; len];
    for c in s.iter_mut().rev() {
        *c = B62[(n % 62) as usize];
        n /= 62;
    }
    String::from_utf8(s).unwrap_or_default()
}

/// Insert `n` keys into `org` through the store, oldest first; some ids to look up.
async fn seed(database: &str, org: &str, n: usize) -> Vec<String> {
    let store = storage::open(database, Retention::default(), IfMissing::Refuse)
        .await
        .expect("open");
    let now = chrono::Utc::now();
    let mut ids = Vec::with_capacity(16);
    let mut batch = Vec::with_capacity(10_000);
    for i in 0..n {
        // A mixed hash of i gives ids and hashes that look random and never collide.
        let digest: [u8; 32] = Sha256::digest(format!("bench-{org}-{i}").as_bytes()).into();
        let x = u64::from_le_bytes(digest[..8].try_into().unwrap_or_default());
        let id = format!("pk_live_{}{}", base62(x, 12), base62(i as u64, 12));
        let created = now - chrono::Duration::seconds((n - i) as i64);
        if i % (n / 16).max(1) == 0 {
            ids.push(id.clone());
        }
        batch.push(KeyRecord {
            org_id: org.to_owned(),
            name: format!(
                "{} {} {:07}",
                WORDS[i % WORDS.len()],
                TEAMS[(i / 8) % TEAMS.len()],
                i
            ),
            env: Env::Live,
            app_id: None,
            scopes: ScopeSet::parse(&["runs:read"]).expect("scopes"),
            allowed_domains: Vec::new(),
            enabled: i % 17 != 0,
            secret_hash: SecretHash(digest),
            secret_hint: id[id.len() - 4..].to_owned(),
            created_at: created,
            updated_at: created,
            expires_at: None,
            last_used_at: None,
            rotated_from: None,
            rotated_to: None,
            version: 1,
            owner: (i % 3 == 0).then(|| format!("team-{}", i % 40)),
            description: None,
            leaked_at: None,
            id,
        });
        if batch.len() == 10_000 || i + 1 == n {
            store.import_keys(&batch).await.expect("import keys");
            batch.clear();
        }
    }
    ids
}

struct Console {
    app: App,
    exec: Executor,
    rx: UnboundedReceiver<Action>,
    term: Terminal<TestBackend>,
    keymap: Keymap,
    theme: Theme,
}

impl Console {
    fn new(url: &str, token: &OrgCreated) -> Console {
        let client = Client::new(url, Some(token.secret.clone())).expect("client");
        let (tx, rx) = tokio::sync::mpsc::unbounded_channel();
        let clip = Clipboard::new(
            ClipboardMode::Off,
            Environment::from_vars(|_| None, false),
            Box::new(std::io::sink()),
        );
        let mut app = App::new(
            Session {
                profile: "bench".into(),
                url: url.into(),
                danger: false,
                demo: false,
            },
            Settings::default(),
            chrono::Utc::now(),
            tokio::time::Instant::now(),
        );
        let _ = app.update(Action::Resize(SIZE.0, SIZE.1));
        Console {
            app,
            exec: Executor::new(client, tx, clip),
            rx,
            term: Terminal::new(TestBackend::new(SIZE.0, SIZE.1)).expect("terminal"),
            keymap: Keymap::default(),
            theme: Theme::from_env(),
        }
    }

    fn run(&mut self, cmds: Vec<Command>) {
        for c in cmds {
            // Timers are fired by hand (the debounce is not what is measured).
            if !matches!(c, Command::Timer(..)) {
                let _ = self.exec.run(c);
            }
        }
    }

    fn update(&mut self, a: Action) {
        let cmds = self.app.update(a);
        self.run(cmds);
    }

    fn draw(&mut self) {
        let (app, keymap, theme) = (&self.app, &self.keymap, &self.theme);
        self.term
            .draw(|f| keyconsole::tui::views::render(app, keymap, theme, f))
            .expect("draw");
    }

    /// Apply answers (drawing after each, as the event loop does) until `done`.
    async fn until(&mut self, done: impl Fn(&App) -> bool) {
        while !done(&self.app) {
            let a = tokio::time::timeout(Duration::from_secs(30), self.rx.recv())
                .await
                .ok()
                .flatten()
                .expect("an answer");
            self.update(a);
            self.draw();
        }
    }
}

fn median(mut v: Vec<Duration>) -> Duration {
    v.sort();
    v[v.len() / 2]
}

fn ms(d: Duration) -> String {
    format!("{:.2} ms", d.as_secs_f64() * 1e3)
}

fn ratio(a: Duration, b: Duration) -> String {
    format!("{:.1}x", a.as_secs_f64() / b.as_secs_f64().max(1e-9))
}

fn rss_mb() -> f64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmRSS:"))
                .and_then(|l| l.split_whitespace().nth(1))
                .and_then(|kb| kb.parse::<f64>().ok())
        })
        .map_or(f64::NAN, |kb| kb / 1024.0)
}

/// From a new console to the first frame showing keys.
async fn first_frame(url: &str, org: &OrgCreated, runs: usize) -> Duration {
    let mut times = Vec::new();
    for _ in 0..runs {
        let t = Instant::now();
        let mut c = Console::new(url, org);
        let start = c.app.start();
        c.run(start);
        c.until(|a| !a.keys.rows.is_empty() && !a.keys.loading)
            .await;
        times.push(t.elapsed());
    }
    median(times)
}

/// One typed filter character plus the frame (the character deleted again, untimed).
fn keystroke(c: &mut Console, runs: usize) -> Duration {
    c.update(Action::StartFilter);
    c.draw();
    let mut times = Vec::new();
    for _ in 0..runs {
        let t = Instant::now();
        c.update(Action::Edit(InputRequest::InsertChar('b')));
        c.draw();
        times.push(t.elapsed());
        c.update(Action::Edit(InputRequest::DeletePrevChar));
        c.draw();
    }
    c.update(Action::Back);
    c.draw();
    median(times)
}

fn unchanged_frame(c: &mut Console, runs: usize) -> Duration {
    median(
        (0..runs)
            .map(|_| {
                let t = Instant::now();
                c.draw();
                t.elapsed()
            })
            .collect(),
    )
}

/// From the debounce firing for `text` to the frame with the server's answer; and from `Esc`
/// (the filter cleared, the unfiltered first page asked for) to the frame with that page.
async fn search(c: &mut Console, text: &str, runs: usize) -> (Duration, usize, Duration) {
    let mut times = Vec::new();
    let mut clears = Vec::new();
    let mut shown = 0;
    for _ in 0..runs {
        c.update(Action::StartFilter);
        for ch in text.chars() {
            c.update(Action::Edit(InputRequest::InsertChar(ch)));
        }
        c.update(Action::Enter);
        let id = c.app.seq;
        let t = Instant::now();
        c.update(Action::TimerFired(TimerKind::FilterDebounce(id)));
        let want = text.to_owned();
        c.until(move |a| !a.keys.loading && a.keys.query == want)
            .await;
        times.push(t.elapsed());
        shown = c.app.keys.shown();
        // Back to the unfiltered list.
        let t = Instant::now();
        c.update(Action::Back);
        c.until(|a| !a.keys.loading && a.keys.query.is_empty())
            .await;
        clears.push(t.elapsed());
    }
    (median(times), shown, median(clears))
}

/// A `GET /v1/me` through the executor, timed to its own answer: answers already on the
/// channel (the scope usage of a key the keystrokes selected) are applied first, and any
/// other answer arriving meanwhile is applied as the event loop would, not taken for it.
/// The `MeLoaded` itself is dropped: applied, it would reload the keys.
async fn me_round_trip(c: &mut Console, runs: usize) -> Duration {
    while let Ok(a) = c.rx.try_recv() {
        c.update(a);
        c.draw();
    }
    let mut times = Vec::new();
    for _ in 0..runs {
        let t = Instant::now();
        c.run(vec![Command::LoadMe]);
        loop {
            let a = tokio::time::timeout(Duration::from_secs(30), c.rx.recv())
                .await
                .ok()
                .flatten()
                .expect("an answer");
            if let Action::MeLoaded(r) = a {
                r.expect("GET /v1/me");
                break;
            }
            c.update(a);
            c.draw();
        }
        times.push(t.elapsed());
    }
    median(times)
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let n = keys_wanted();
    if let (Ok(database), Ok(org)) = (
        std::env::var("KEYCONSOLE_BENCH_SEED_DB"),
        std::env::var("KEYCONSOLE_BENCH_SEED_ORG"),
    ) {
        // The child: seed, print the ids to look up, one a line.
        for id in seed(&database, &org, n).await {
            println!("{id}");
        }
        return;
    }
    let rss_start = rss_mb();
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("bench.db");
    let database = format!("sqlite://{}", path.display());
    let big = org_create(&database, "Bench big");
    let empty = org_create(&database, "Bench empty");
    let t = Instant::now();
    let out = std::process::Command::new(std::env::current_exe().expect("this binary"))
        .env("KEYCONSOLE_BENCH_SEED_DB", &database)
        .env("KEYCONSOLE_BENCH_SEED_ORG", &big.org.id)
        .env("KEYCONSOLE_BENCH_KEYS", n.to_string())
        .output()
        .expect("seeding process");
    assert!(
        out.status.success(),
        "seeding: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let ids: Vec<String> = String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(str::to_owned)
        .collect();
    assert!(!ids.is_empty(), "the seeding process printed no ids");
    println!(
        "seeded {n} keys in {:.1} s through KeyStore::import_keys (in a child process)",
        t.elapsed().as_secs_f64()
    );
    let served = Served::start(&["--database", &database]);
    let url = served.url.clone();

    let runs = 15;
    // Warm the server (its caches and connections) before either measurement.
    let _ = first_frame(&url, &empty, 3).await;
    let _ = first_frame(&url, &big, 3).await;
    let base_first = first_frame(&url, &empty, runs).await;
    let big_first = first_frame(&url, &big, runs).await;

    let mut c = Console::new(&url, &big);
    let start = c.app.start();
    c.run(start);
    c.until(|a| !a.keys.rows.is_empty() && !a.keys.loading)
        .await;
    let empty_draw = unchanged_frame(&mut c, 200);
    let key_first_page = keystroke(&mut c, 200);

    let me = me_round_trip(&mut c, 30).await;
    let id8 = ids[ids.len() / 2]["pk_live_".len() + 3.."pk_live_".len() + 11].to_owned();
    let mut searches = Vec::new();
    let mut clears = Vec::new();
    for (what, q) in [
        ("common word", "billing".to_owned()),
        ("rare string", "0424242".to_owned()),
        // Six letters: ids are random base62 and `q=` ignores case, so four letters
        // (`zqxj`) match a few ids in a million.
        ("no match", "zqxjkv".to_owned()),
        ("8 characters of an id", id8),
    ] {
        let (d, shown, clear) = search(&mut c, &q, 9).await;
        searches.push((what, q, d, shown));
        clears.push(clear);
    }
    let clear = median(clears);

    let rss_before = rss_mb();
    let pages_t = Instant::now();
    while c.app.keys.rows.len() < LOADED.min(n) && c.app.keys.next_cursor.is_some() {
        let cmds = c.app.load_keys(true);
        c.run(cmds);
        let want = c.app.keys.rows.len();
        c.until(move |a| !a.keys.loading && a.keys.rows.len() > want)
            .await;
    }
    let loaded = c.app.keys.rows.len();
    let paging = pages_t.elapsed();
    let rss_loaded = rss_mb();
    let key_loaded = keystroke(&mut c, 200);
    let draw_loaded = unchanged_frame(&mut c, 200);
    drop(served);

    println!("\nconsole at {n} keys (SQLite, real `serve` on loopback, 120x40 frames; medians)");
    println!("| measured | time | baseline | ratio |");
    println!("|---|---|---|---|");
    println!(
        "| first frame with keys, from a new console | {} | {} (an org of 1 key) | {} |",
        ms(big_first),
        ms(base_first),
        ratio(big_first, base_first)
    );
    println!(
        "| filter keystroke, local (first page, 200 rows) | {} | {} (unchanged frame) | {} |",
        ms(key_first_page),
        ms(empty_draw),
        ratio(key_first_page, empty_draw)
    );
    println!(
        "| filter keystroke, local ({loaded} rows loaded) | {} | {} (unchanged frame) | {} |",
        ms(key_loaded),
        ms(draw_loaded),
        ratio(key_loaded, draw_loaded)
    );
    for (what, q, d, shown) in &searches {
        println!(
            "| typing to server results: {what} (`{q}`, {shown} shown) | {} | {} (`GET /v1/me`) | {} |",
            ms(*d),
            ms(me),
            ratio(*d, me)
        );
    }
    println!(
        "| `Esc` to the server's unfiltered first page (200 shown) | {} | {} (`GET /v1/me`) | {} |",
        ms(clear),
        ms(me),
        ratio(clear, me)
    );
    println!(
        "| console RSS with {loaded} keys loaded | {rss_loaded:.0} MB | {rss_before:.0} MB (first page) | {:.1}x |",
        rss_loaded / rss_before
    );
    println!(
        "\npaging {loaded} keys took {:.1} s; the debounce ({} ms) precedes every server search; \
         this process's RSS was {rss_start:.0} MB at its start",
        paging.as_secs_f64(),
        Settings::default().debounce.as_millis()
    );
}
