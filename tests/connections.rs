//! Connection exhaustion, for real: `keyconsole serve` as a child process under a low
//! open-files limit (set by `ulimit` in `sh`, which then `exec`s the server), 1,100 slow
//! clients on real sockets that connect, send part of a request head and trickle more bytes,
//! while a real client keeps making requests, each on a new connection. Every real request
//! must be answered 200. Latencies are printed, not asserted; the client timeout only
//! catches a server that never answers (what happened before the connection layer existed).
//!
//! `KEYCONSOLE_TEST_BIN` runs the same scenarios against another build of the binary.

use std::process::Command;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use keyconsole::api::OrgCreated;
use tokio::io::AsyncWriteExt;
use tokio::net::TcpStream;

#[path = "support/mod.rs"]
mod support;

use support::serve::Served as Server;

const SLOW_CLIENTS: usize = 1_100;
const REAL_REQUESTS: usize = 20;
/// A request not answered in this long is taken as never answered.
const HANG: Duration = Duration::from_secs(15);

/// One flood at a time: each opens more than a thousand sockets.
static SERIAL: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

fn bin() -> String {
    std::env::var("KEYCONSOLE_TEST_BIN")
        .unwrap_or_else(|_| env!("CARGO_BIN_EXE_keyconsole").to_owned())
}

/// The test process itself needs well over 1,100 descriptors.
fn enough_files_here() {
    let (_, now) = keyconsole::server::conn::raise_open_files_limit().expect("raise own limit");
    assert!(
        now.soft.is_none_or(|n| n >= 4_096),
        "this test needs an open-files hard limit of at least 4096 (ulimit -Hn), found {now:?}"
    );
}

fn org_create(db: &str) -> OrgCreated {
    let out = Command::new(bin())
        .args(["org", "create", "Acme", "--database", db, "--json"])
        .env_remove("KEYCONSOLE_DATABASE_URL")
        .output()
        .expect("org create");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).expect("org create --json")
}

/// `keyconsole serve` with the soft (and optionally hard) open-files limit lowered.
fn start(db: &str, soft: u64, hard: Option<u64>, extra: &[&str]) -> Server {
    let mut limits = format!("ulimit -S -n {soft}");
    if let Some(h) = hard {
        limits.push_str(&format!(" && ulimit -H -n {h}"));
    }
    let mut cmd = Command::new("sh");
    cmd.arg("-c")
        .arg(format!("{limits} && exec \"$0\" \"$@\""))
        .arg(bin())
        .args(["serve", "--listen", "127.0.0.1:0", "--database", db])
        .args(extra)
        .env_remove("KEYCONSOLE_DATABASE_URL")
        .env("NO_COLOR", "1")
        .env("RUST_LOG", "info");
    Server::spawn(cmd)
}

/// Connect, send part of a head, then one more header line a second until told to stop or
/// the server closes the connection; then reconnect if `reconnect`.
async fn slow_client(
    addr: String,
    stop: Arc<AtomicBool>,
    connected: Arc<AtomicUsize>,
    reconnect: bool,
) {
    while !stop.load(Ordering::Relaxed) {
        let Ok(Ok(mut s)) =
            tokio::time::timeout(Duration::from_secs(3), TcpStream::connect(&addr)).await
        else {
            tokio::time::sleep(Duration::from_millis(100)).await;
            continue;
        };
        connected.fetch_add(1, Ordering::Relaxed);
        let mut open = s
            .write_all(b"GET /v1/me HTTP/1.1\r\nhost: x\r\n")
            .await
            .is_ok();
        while open && !stop.load(Ordering::Relaxed) {
            tokio::time::sleep(Duration::from_secs(1)).await;
            open = s.write_all(b"x-trickle: 1\r\n").await.is_ok();
        }
        if !reconnect {
            while !stop.load(Ordering::Relaxed) {
                tokio::time::sleep(Duration::from_millis(200)).await;
            }
        }
    }
}

struct Flood {
    stop: Arc<AtomicBool>,
    tasks: Vec<tokio::task::JoinHandle<()>>,
}

impl Flood {
    async fn start(addr: &str, reconnect: bool) -> Flood {
        let stop = Arc::new(AtomicBool::new(false));
        let connected = Arc::new(AtomicUsize::new(0));
        let tasks = (0..SLOW_CLIENTS)
            .map(|_| {
                tokio::spawn(slow_client(
                    addr.to_owned(),
                    Arc::clone(&stop),
                    Arc::clone(&connected),
                    reconnect,
                ))
            })
            .collect();
        let waited = tokio::time::timeout(Duration::from_secs(60), async {
            while connected.load(Ordering::Relaxed) < SLOW_CLIENTS {
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
        })
        .await;
        assert!(waited.is_ok(), "the slow clients connected");
        // Let the server take them in.
        tokio::time::sleep(Duration::from_secs(1)).await;
        Flood { stop, tasks }
    }

    async fn stop(self) {
        self.stop.store(true, Ordering::Relaxed);
        for t in self.tasks {
            t.abort();
            let _ = t.await;
        }
    }
}

/// `REAL_REQUESTS` authenticated requests, each on a new connection. Returns each latency;
/// panics (with the log) on the first request not answered 200.
async fn real_client(server: &Server, secret: &str) -> Vec<Duration> {
    let http = reqwest::Client::builder()
        .pool_max_idle_per_host(0)
        .timeout(HANG)
        .build()
        .expect("client");
    let mut took = Vec::new();
    for i in 0..REAL_REQUESTS {
        let started = Instant::now();
        let res = http
            .get(format!("http://{}/v1/me", server.addr()))
            .bearer_auth(secret)
            .send()
            .await;
        match res {
            Ok(r) if r.status() == 200 => took.push(started.elapsed()),
            other => panic!(
                "real request {i} under the flood was not served: {other:?}\nlog (tail):\n{}",
                tail(&server.log(), 30)
            ),
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    took
}

fn tail(log: &str, n: usize) -> String {
    let lines: Vec<&str> = log.lines().collect();
    lines[lines.len().saturating_sub(n)..].join("\n")
}

fn report(name: &str, took: &mut [Duration], log: &str) {
    for line in log.lines().filter(|l| {
        [
            "connection limit",
            "accept failed",
            "open-files",
            "request head in time",
        ]
        .iter()
        .any(|m| l.contains(m))
    }) {
        eprintln!("{name}: {line}");
    }
    took.sort();
    let ms = |d: Duration| d.as_secs_f64() * 1000.0;
    eprintln!(
        "{name}: {} real requests under {SLOW_CLIENTS} slow clients: median {:.1} ms, max {:.1} ms",
        took.len(),
        ms(took[took.len() / 2]),
        ms(took[took.len() - 1])
    );
}

/// `field=N` values of the log lines containing `message`.
fn counts(log: &str, message: &str, field: &str) -> Vec<u64> {
    log.lines()
        .filter(|l| l.contains(message))
        .filter_map(|l| {
            let at = l.find(&format!(" {field}="))? + field.len() + 2;
            l[at..]
                .split(|c: char| !c.is_ascii_digit())
                .next()?
                .parse()
                .ok()
        })
        .collect()
}

struct Run {
    server: Server,
    took: Vec<Duration>,
    seconds: u64,
}

/// A flood of slow clients while real requests are timed. With `wait_for`, the real
/// requests start only once the server's log holds that line (up to 60 s), so a run does not
/// depend on how fast this machine accepts the flood.
async fn flood_run(
    soft: u64,
    hard: Option<u64>,
    extra: &[&str],
    reconnect: bool,
    wait_for: Option<&str>,
) -> Run {
    enough_files_here();
    let dir = tempfile::tempdir().expect("tempdir");
    let db = format!("sqlite://{}", dir.path().join("k.db").display());
    let owner = org_create(&db);
    let mut server = start(&db, soft, hard, extra);
    let started = Instant::now();
    let flood = Flood::start(server.addr(), reconnect).await;
    if let Some(line) = wait_for {
        let deadline = Instant::now() + Duration::from_secs(60);
        while !server.log().contains(line) {
            assert!(
                Instant::now() < deadline,
                "the log never said `{line}`:\n{}",
                tail(&server.log(), 30)
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
    let took = real_client(&server, owner.secret.expose()).await;
    flood.stop().await;
    let seconds = started.elapsed().as_secs() + 1;
    assert_eq!(
        server.term(),
        0,
        "clean exit; log:\n{}",
        tail(&server.log(), 30)
    );
    Run {
        server,
        took,
        seconds,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn slow_clients_at_the_file_limit_are_shed_and_real_requests_served() {
    let _one = SERIAL.lock().await;
    // Soft and hard limit 1024: raising gains nothing, the cap (896) and shedding must do it.
    // Slow heads are not timed out during the run (a slow machine accepting the flood
    // slowly must still reach the cap), and the real requests wait until it is reached.
    let mut run = flood_run(
        1024,
        Some(1024),
        &["--header-read-timeout", "60s"],
        true,
        Some("connection limit reached"),
    )
    .await;
    let log = run.server.log();
    report("cap and shedding", &mut run.took, &log);
    assert!(
        log.contains("max_connections=896"),
        "the cap is derived from the limit:\n{}",
        tail(&log, 30)
    );
    let shed = counts(&log, "connection limit reached", "shed_idle");
    assert!(
        shed.iter().sum::<u64>() > 0,
        "slow clients were shed:\n{}",
        tail(&log, 30)
    );
    assert!(
        shed.len() as u64 <= run.seconds + 1,
        "logged at most once a second: {} lines in {} s",
        shed.len(),
        run.seconds
    );
    assert!(!log.contains("Too many open files"), "{}", tail(&log, 30));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn serve_raises_a_low_soft_file_limit_and_times_slow_heads_out() {
    let _one = SERIAL.lock().await;
    // Soft 1024 under the (higher) inherited hard limit: serve raises it at start.
    let mut run = flood_run(1024, None, &[], true, None).await;
    let log = run.server.log();
    report("raised limit", &mut run.took, &log);
    assert!(
        log.contains("raised the open-files limit from=1024"),
        "{}",
        tail(&log, 30)
    );
    let timed_out = counts(&log, "did not send a whole request head in time", "count");
    assert!(
        timed_out.iter().sum::<u64>() > 0,
        "slow heads were closed by the header-read timeout:\n{}",
        tail(&log, 30)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn accept_errors_at_the_file_limit_back_off_without_spinning() {
    let _one = SERIAL.lock().await;
    // A cap above the file limit: accept itself fails with EMFILE.
    let mut run = flood_run(
        1024,
        Some(1024),
        &["--max-connections", "5000"],
        false,
        None,
    )
    .await;
    let log = run.server.log();
    report("EMFILE", &mut run.took, &log);
    assert!(
        log.contains("leaves too few file descriptors"),
        "the start warns about the cap:\n{}",
        tail(&log, 30)
    );
    let errors = counts(&log, "accept failed in the last second", "count");
    assert!(
        !errors.is_empty(),
        "accept hit the file limit:\n{}",
        tail(&log, 30)
    );
    // With a back-off of at least 10 ms there are at most 100 a second; a loop retrying at
    // once would fail hundreds of thousands of times.
    assert!(
        errors.iter().all(|&n| n <= 200),
        "accept backed off: {errors:?}"
    );
    assert!(errors.len() as u64 <= run.seconds + 1, "{errors:?}");
}
