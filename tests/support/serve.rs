//! The real binary: `org create`, and `keyconsole serve` as a child process whose stderr is
//! collected, stopped with SIGTERM or `kill -9`. The one serve-spawning harness of the test
//! targets.

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Output, Stdio};
use std::sync::{Arc, Mutex, mpsc};
use std::thread::JoinHandle;
use std::time::Duration;

use keyconsole::api::OrgCreated;

pub const BIN: &str = env!("CARGO_BIN_EXE_keyconsole");

pub fn kc(args: &[&str]) -> Output {
    Command::new(BIN)
        .args(args)
        .env_remove("KEYCONSOLE_DATABASE_URL")
        .env("NO_COLOR", "1")
        .output()
        .expect("run keyconsole")
}

pub fn org_create(url: &str) -> OrgCreated {
    let out = kc(&["org", "create", "Acme", "--database", url, "--json"]);
    assert!(
        out.status.success(),
        "org create: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).expect("org create --json")
}

pub struct Served {
    child: Child,
    pub url: String,
    log: Arc<Mutex<String>>,
    reader: Option<JoinHandle<()>>,
}

impl Served {
    /// `keyconsole serve --listen 127.0.0.1:0 <args>`, once its ready line is printed.
    pub fn start(args: &[&str]) -> Served {
        let mut all = vec!["--listen", "127.0.0.1:0"];
        all.extend_from_slice(args);
        Served::start_with(&all, "info")
    }

    /// `keyconsole serve <args>` (they name `--listen`) with `RUST_LOG=<rust_log>`, once its
    /// ready line is printed (it is printed whatever the filter).
    pub fn start_with(args: &[&str], rust_log: &str) -> Served {
        let mut cmd = Command::new(BIN);
        cmd.arg("serve")
            .args(args)
            .env_remove("KEYCONSOLE_DATABASE_URL")
            .env("NO_COLOR", "1")
            .env("RUST_LOG", rust_log);
        Served::spawn(cmd)
    }

    /// `serve` as `cmd` runs it (the binary itself, or a wrapper that `exec`s it, such as
    /// `sh -c 'ulimit -n 256 && exec …'`), once its ready line is printed; its stderr is
    /// collected.
    pub fn spawn(mut cmd: Command) -> Served {
        let mut child = cmd
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawn serve");
        let stderr = child.stderr.take().expect("stderr");
        let log = Arc::new(Mutex::new(String::new()));
        let (tx, rx) = mpsc::channel();
        let sink = Arc::clone(&log);
        let reader = std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                // Into the log first: whoever waits on the ready line then finds it there.
                {
                    let mut l = sink.lock().expect("log");
                    l.push_str(&line);
                    l.push('\n');
                }
                if let Some(i) = line.find("listening on http://") {
                    let addr = line[i + "listening on ".len()..]
                        .split_whitespace()
                        .next()
                        .unwrap_or("")
                        .to_owned();
                    let _ = tx.send(addr);
                }
            }
        });
        let url = match rx.recv_timeout(Duration::from_secs(30)) {
            Ok(url) => url,
            Err(_) => {
                let _ = child.kill();
                let _ = reader.join();
                panic!("serve printed no ready line:\n{}", log.lock().expect("log"));
            }
        };
        Served {
            child,
            url,
            log,
            reader: Some(reader),
        }
    }

    /// `127.0.0.1:<port>`: the URL without its scheme, for raw sockets.
    pub fn addr(&self) -> &str {
        self.url.trim_start_matches("http://")
    }

    /// Everything written to stderr so far.
    pub fn log(&self) -> String {
        self.log.lock().expect("log").clone()
    }

    /// SIGTERM; the exit code, once the process has exited and its stderr is read.
    pub fn term(&mut self) -> i32 {
        let st = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status()
            .expect("kill -TERM");
        assert!(st.success());
        self.wait()
    }

    /// `kill -9`.
    pub fn kill9(&mut self) {
        self.child.kill().expect("kill -9");
        self.wait();
    }

    fn wait(&mut self) -> i32 {
        for _ in 0..600 {
            if let Some(status) = self.child.try_wait().expect("wait") {
                if let Some(r) = self.reader.take() {
                    let _ = r.join();
                }
                return status.code().unwrap_or(-1);
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        let _ = self.child.kill();
        panic!("serve did not exit:\n{}", self.log());
    }
}

impl Drop for Served {
    fn drop(&mut self) {
        if self.child.try_wait().ok().flatten().is_none() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}
