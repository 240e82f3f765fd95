//! `serve` whose log output refuses every write (stderr on `/dev/full`, as a log file on a
//! full disk): it starts, keeps answering while every log line fails, and exits 0 on SIGTERM.
//! Logging never blocks or stops the service.

use std::process::{Command, Stdio};
use std::time::Duration;

use keyconsole::client::Client;

use crate::support::serve::{BIN, org_create};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn serve_keeps_answering_when_its_log_cannot_be_written() {
    let Ok(full) = std::fs::OpenOptions::new().write(true).open("/dev/full") else {
        eprintln!("no /dev/full here: skipped");
        return;
    };
    let dir = tempfile::tempdir().expect("tempdir");
    let url = format!("sqlite://{}", dir.path().join("k.db").display());
    let owner = org_create(&url);
    // The ready line cannot be read either: take a free port, then give it to serve.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("a free port")
        .port();
    let listen = format!("127.0.0.1:{port}");
    let mut child = Command::new(BIN)
        .args(["serve", "--listen", &listen, "--database", &url])
        .env_remove("KEYCONSOLE_DATABASE_URL")
        .env("RUST_LOG", "info")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(full)
        .spawn()
        .expect("spawn serve");
    let c = Client::new(&format!("http://{listen}"), Some(owner.secret.clone())).expect("client");
    let mut up = false;
    for _ in 0..300 {
        if c.me().await.is_ok() {
            up = true;
            break;
        }
        if child.try_wait().expect("wait").is_some() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(up, "serve did not come up with its log on a full device");
    // Every request logs a line that cannot be written.
    for _ in 0..500 {
        c.me().await.expect("answered while the log refuses writes");
    }
    let st = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .expect("kill -TERM");
    assert!(st.success());
    let mut code = None;
    for _ in 0..400 {
        if let Some(status) = child.try_wait().expect("wait") {
            code = status.code();
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    if code.is_none() {
        let _ = child.kill();
    }
    assert_eq!(code, Some(0), "serve exits 0 after SIGTERM");
}
