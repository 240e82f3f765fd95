//! The console end to end, in a real terminal: tmux on a private socket runs `keyconsole
//! --url` against a real `keyconsole serve`, and the test drives it with keystrokes and reads
//! the screen with `capture-pane`. It checks what only a real terminal shows: the secret
//! reaches the clipboard through OSC 52 (tmux's paste buffer with `set-clipboard on`) and
//! works against the server, disable and delete take effect on the server, the terminal is
//! restored on quit and no secret is left in the scrollback, a dead URL gives the "Not
//! connected" screen, and a resize down to 20x5 and back does not kill the console.
//!
//! Skipped (with a message) when `tmux` is not installed.

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use keyconsole::client::{Client, ClientError};
use keyconsole::domain::key::Secret;

#[path = "support/mod.rs"]
mod support;

use support::serve::{BIN, Served, org_create};

/// How long to wait for any one thing to appear on screen.
const WAIT: Duration = Duration::from_secs(15);
/// The console's tab header (drawn on the alternate screen only).
const HEADER: &str = "1 Keys  2 Scopes  3 Domains";

fn tmux_available() -> bool {
    let ok = Command::new("tmux")
        .arg("-V")
        .stdin(Stdio::null())
        .output()
        .is_ok_and(|o| o.status.success());
    if !ok {
        println!("tmux is not installed: skipping the end-to-end console test");
    }
    ok
}

/// A tmux server of our own (`tmux -L <name>`), killed when dropped, on failure too.
struct Tmux {
    socket: String,
}

impl Tmux {
    fn new(tag: &str) -> Tmux {
        let nanos = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| d.subsec_nanos())
            .unwrap_or(0);
        Tmux {
            socket: format!("keyconsole-e2e-{tag}-{}-{nanos}", std::process::id()),
        }
    }

    fn run(&self, args: &[&str]) -> Output {
        Command::new("tmux")
            .arg("-L")
            .arg(&self.socket)
            .arg("-f")
            .arg("/dev/null")
            .args(args)
            // Never talk to the tmux server this test may itself be running in.
            .env_remove("TMUX")
            .stdin(Stdio::null())
            .output()
            .expect("run tmux")
    }

    fn ok(&self, args: &[&str]) -> String {
        let out = self.run(args);
        assert!(
            out.status.success(),
            "tmux {args:?} failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    /// Start `keyconsole <args>` in a detached 120x40 session named `kc`, with `env`, once
    /// `set-clipboard` and `remain-on-exit` are on.
    fn start_console(&self, env: &[(&str, String)], args: &[&str]) {
        // A placeholder pane starts the server so that options are set before the console runs.
        self.ok(&[
            "new-session",
            "-d",
            "-s",
            "kc",
            "-x",
            "120",
            "-y",
            "40",
            "cat",
        ]);
        self.ok(&["set-option", "-g", "set-clipboard", "on"]);
        self.ok(&["set-option", "-g", "remain-on-exit", "on"]);
        let mut cmd: Vec<String> = vec!["respawn-pane".into(), "-k".into()];
        for (k, v) in env {
            cmd.push("-e".into());
            cmd.push(format!("{k}={v}"));
        }
        cmd.extend(["-t".into(), "kc".into(), BIN.into()]);
        cmd.extend(args.iter().map(|a| (*a).to_owned()));
        let refs: Vec<&str> = cmd.iter().map(String::as_str).collect();
        self.ok(&refs);
    }

    fn keys(&self, keys: &[&str]) {
        let mut args = vec!["send-keys", "-t", "kc"];
        args.extend_from_slice(keys);
        self.ok(&args);
    }

    fn type_text(&self, text: &str) {
        self.ok(&["send-keys", "-t", "kc", "-l", text]);
    }

    fn screen(&self) -> String {
        self.ok(&["capture-pane", "-p", "-t", "kc"])
    }

    /// Whether the pane's process is gone, and how it ended (`Ok(code)` or `Err(signal)`) once
    /// tmux knows: the pty can close before tmux has reaped the process.
    fn pane_state(&self) -> (bool, Option<Result<i32, i32>>) {
        let s = self.ok(&[
            "display-message",
            "-p",
            "-t",
            "kc",
            "#{pane_dead}:#{pane_dead_status}:#{pane_dead_signal}",
        ]);
        let mut parts = s.trim().split(':');
        let dead = parts.next() == Some("1");
        let status = parts.next().and_then(|c| c.parse().ok());
        let signal = parts.next().and_then(|c| c.parse().ok());
        (dead, status.map(Ok).or(signal.map(Err)))
    }

    /// Poll the screen until `pred` holds; fail with the screen.
    fn wait_for(&self, what: &str, pred: impl Fn(&str) -> bool) -> String {
        let start = Instant::now();
        loop {
            let screen = self.screen();
            if pred(&screen) {
                return screen;
            }
            if start.elapsed() > WAIT {
                panic!("waited {WAIT:?} for {what}; the pane shows:\n{screen}");
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    fn wait_text(&self, text: &str) -> String {
        self.wait_for(&format!("{text:?}"), |s| s.contains(text))
    }

    /// Wait for the pane's process to exit; its exit status.
    ///
    /// tmux before 3.5 can miss the SIGCHLD of a pane's process (libutempter briefly installs
    /// its own handler), leaving a dead pane whose process is an unreaped zombie with no exit
    /// status. When the pane is dead without a status, send SIGCHLD to our tmux server (by its
    /// pid) so it reaps the process and records the status.
    fn wait_exit(&self) -> i32 {
        let start = Instant::now();
        let mut dead_since: Option<Instant> = None;
        loop {
            match self.pane_state() {
                (true, Some(Ok(code))) => return code,
                (true, Some(Err(signal))) => panic!(
                    "the console was killed by signal {signal}; the pane shows:\n{}",
                    self.screen()
                ),
                (true, None) => {
                    let since = *dead_since.get_or_insert_with(Instant::now);
                    if since.elapsed() > Duration::from_millis(300) {
                        let pid = self.ok(&["display-message", "-p", "#{pid}"]);
                        let _ = Command::new("kill")
                            .args(["-CHLD", pid.trim()])
                            .stdin(Stdio::null())
                            .status();
                        dead_since = Some(Instant::now());
                    }
                }
                (false, _) => {}
            }
            if start.elapsed() > WAIT {
                panic!(
                    "the console did not exit within {WAIT:?}; the pane shows:\n{}",
                    self.screen()
                );
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

impl Drop for Tmux {
    fn drop(&mut self) {
        let socket = self.run(&["display-message", "-p", "#{socket_path}"]);
        let _ = self.run(&["kill-server"]);
        // tmux leaves the socket file behind.
        let socket = String::from_utf8_lossy(&socket.stdout).trim().to_owned();
        if socket.contains(&self.socket) {
            let _ = std::fs::remove_file(socket);
        }
    }
}

/// The environment the console runs with: its own config (OSC 52 clipboard) and data dir.
fn console_env(dir: &Path, token: &str) -> Vec<(&'static str, String)> {
    let config: PathBuf = dir.join("config.toml");
    std::fs::write(&config, "[clipboard]\nmode = \"osc52\"\n").expect("write config");
    vec![
        ("KEYCONSOLE_TOKEN", token.to_owned()),
        ("KEYCONSOLE_CONFIG", config.display().to_string()),
        (
            "KEYCONSOLE_DATA_DIR",
            dir.join("data").display().to_string(),
        ),
        ("NO_COLOR", "1".to_owned()),
    ]
}

/// The server's error code for this secret, or `None` when it authenticates.
fn me_error(rt: &tokio::runtime::Runtime, url: &str, secret: &str) -> Option<String> {
    let client = Client::new(url, Some(Secret::new(secret.to_owned()))).expect("client");
    match rt.block_on(client.me()) {
        Ok(_) => None,
        Err(ClientError::Api { body, .. }) => Some(body.error.code.clone()),
        Err(other) => panic!("the server did not answer: {other}"),
    }
}

/// A secret (`sk_live_` and its random part) in tmux's paste buffer.
fn secret_in(buffer: &str) -> Option<String> {
    let i = buffer.find("sk_live_")?;
    let s: String = buffer[i..]
        .chars()
        .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
        .collect();
    (s.len() > "sk_live_".len()).then_some(s)
}

#[test]
fn console_creates_copies_disables_and_deletes_a_key_in_a_real_terminal() {
    if !tmux_available() {
        return;
    }
    let started = Instant::now();
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    let dir = tempfile::tempdir().expect("tempdir");
    let database = format!("sqlite://{}", dir.path().join("k.db").display());
    let owner = org_create(&database);
    let mut server = Served::start(&["--database", &database]);
    let tmux = Tmux::new("keys");
    tmux.start_console(
        &console_env(dir.path(), owner.secret.expose()),
        &["--url", &server.url],
    );
    tmux.wait_for("the connected Keys tab with the owner key", |s| {
        s.contains(HEADER) && s.contains(&owner.key.name)
    });

    // Create a key through the form.
    let name = "e2e deploy key";
    tmux.keys(&["n"]);
    tmux.wait_text("New key");
    tmux.type_text(name);
    tmux.wait_text(name);
    tmux.keys(&["C-s"]);
    tmux.wait_text("shown ONCE");

    // Reveal, copy: the secret reaches tmux's paste buffer through OSC 52.
    tmux.keys(&["v"]);
    tmux.wait_text("visible for");
    tmux.keys(&["c"]);
    // Inside tmux with set-clipboard on, the console says where the copy is, not more.
    tmux.wait_text("copied into a tmux paste buffer");
    let buffer = tmux.ok(&["show-buffer"]);
    let secret = secret_in(&buffer).expect("tmux's paste buffer holds an sk_live_ secret");
    // `sk_live_`, 32 random characters, a 6-character checksum.
    assert_eq!(secret.len(), "sk_live_".len() + 32 + 6, "{secret}");
    let random = &secret["sk_live_".len().."sk_live_".len() + 32];
    assert_ne!(secret, owner.secret.expose(), "the copy is the new key's");
    assert_eq!(
        me_error(&rt, &server.url, &secret),
        None,
        "the copied secret authenticates"
    );
    tmux.wait_text("tmux buffer deleted in");

    // While connected: down to 20x5 and back, and the console lives on.
    tmux.ok(&["resize-window", "-t", "kc", "-x", "20", "-y", "5"]);
    tmux.wait_text("Terminal too small");
    assert!(!tmux.pane_state().0, "the console died at 20x5");
    tmux.ok(&["resize-window", "-t", "kc", "-x", "120", "-y", "40"]);
    tmux.wait_for("the console redrawn at 120x40", |s| {
        s.contains(HEADER) && s.contains("shown ONCE")
    });
    assert!(!tmux.pane_state().0, "the console died resizing back");

    // Close the reveal; disable the new key (first in the list: `g` selects it).
    tmux.keys(&["Enter"]);
    tmux.wait_for("the reveal to close", |s| !s.contains("shown ONCE"));
    tmux.keys(&["g", "Space"]);
    tmux.wait_text(&format!("Disable {name}?"));
    tmux.keys(&["y"]);
    tmux.wait_text("DISABLED");
    assert_eq!(
        me_error(&rt, &server.url, &secret).as_deref(),
        Some("key_disabled")
    );

    // Delete it.
    tmux.keys(&["d"]);
    tmux.wait_text(&format!("Delete {name}?"));
    tmux.keys(&["y"]);
    tmux.wait_text("Deleted");
    assert_eq!(
        me_error(&rt, &server.url, &secret).as_deref(),
        Some("invalid_key")
    );

    // Quit: the terminal is restored and nothing of the secret is left behind.
    tmux.keys(&["q"]);
    assert_eq!(tmux.wait_exit(), 0, "the console exits 0 on q");
    // An empty OSC 52 does not clear tmux's buffers: the console deleted the one it filled.
    let names = tmux.ok(&["list-buffers", "-F", "#{buffer_name}"]);
    for name in names.lines().filter(|l| !l.is_empty()) {
        let content = tmux.ok(&["show-buffer", "-b", name]);
        assert!(
            !content.contains(random),
            "tmux buffer {name} still holds the secret after quit"
        );
    }
    let alternate = tmux.ok(&["display-message", "-p", "-t", "kc", "#{alternate_on}"]);
    assert_eq!(alternate.trim(), "0", "the alternate screen was left");
    let all = tmux.ok(&["capture-pane", "-p", "-J", "-S", "-", "-t", "kc"]);
    assert!(!all.contains(&secret), "the secret is in the scrollback");
    assert!(
        !all.contains(random),
        "the secret's random part is in the scrollback"
    );
    assert!(
        !all.contains(HEADER),
        "the console's screen was left behind:\n{all}"
    );

    assert_eq!(server.term(), 0, "serve exits 0 on SIGTERM");
    let log = server.log();
    assert!(!log.contains(random), "a secret reached the server log");
    println!("end-to-end console test took {:?}", started.elapsed());
}

#[test]
fn console_against_a_dead_url_says_not_connected_and_quits() {
    if !tmux_available() {
        return;
    }
    let dir = tempfile::tempdir().expect("tempdir");
    let tmux = Tmux::new("dead");
    tmux.start_console(
        &console_env(dir.path(), "sk_live_notarealsecret"),
        &["--url", "http://127.0.0.1:1"],
    );
    let screen = tmux.wait_text("Not connected");
    assert!(screen.contains("Ctrl-r"), "{screen}");
    assert!(screen.contains("Cannot reach"), "{screen}");
    tmux.keys(&["q"]);
    assert_eq!(tmux.wait_exit(), 0, "the console exits 0 on q");
    let all = tmux.ok(&["capture-pane", "-p", "-J", "-S", "-", "-t", "kc"]);
    assert!(!all.contains("Not connected"), "{all}");
}
