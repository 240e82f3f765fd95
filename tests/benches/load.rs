//! The service under load, over real sockets: `cargo bench --bench load`.
//!
//! Seeds an org of `KEYCONSOLE_LOAD_KEYS` keys (default 1,000,000) straight through the SQLite
//! store (`KeyStore::import_keys`, not HTTP), starts the real `keyconsole serve` on a free loopback
//! port, and drives it with the load generator below: plain HTTP/1.1 keep-alive connections on
//! tokio (64 by default, `KEYCONSOLE_LOAD_CONNECTIONS`), each sending a request, reading the
//! whole answer and timing it, for `KEYCONSOLE_LOAD_SECONDS` (default 5) per scenario.
//!
//! **Ratios.** nginx's static 200 (when `nginx` is installed; it says so when not),
//! `/healthz`, `GET /v1/me` and `POST /v1/verify` for a cached key take turns in
//! `KEYCONSOLE_LOAD_ROUNDS` rounds (default 5, the order rotating), and each ratio is the
//! median of its rounds' ratios (their range is printed too): a slow spell of the machine
//! falls on both sides of a ratio alike.
//!
//! **Latency at half the maximum.** `/v1/verify` paced at half its measured rate, and
//! nginx's static 200 at the same pace first (the floor of this generator and machine).
//! The pace is kept by a thread that sleeps to each request's due time, so requests arrive
//! spread out, not in the bursts tokio's millisecond timer would send.
//!
//! Then: a list page and searches; unknown secrets (repeated: the negative cache; all
//! distinct: one database read each); a flood of distinct unknown secrets from one address
//! (the failed-auth limiter); a public key alone, disabled and cached vs unknown (the timing
//! difference of issue 11 item 14); and every key of the org verified once, after which the
//! server's RSS is read.
//!
//! **Pinning.** On a machine with two CPUs or more, the generator runs on the first half of
//! them and the servers it measures (`serve`, and nginx with as many workers as they have
//! CPUs) on the rest, so neither takes the other's cores: a server's latency is its own, as
//! on a machine of its own, not the time it waited for a core the generator held. Each
//! throughput row says how busy the generator's CPUs were: near 100% the generator, not the
//! server, set the rate. `KEYCONSOLE_LOAD_PIN=0` shares every CPU, as before.
//!
//! `KEYCONSOLE_LOAD_ONLY_HOT=1` stops after the ratios and the paced run;
//! `KEYCONSOLE_LOAD_ONLY_RSS=1` runs only the every-key part; `KEYCONSOLE_LOAD_SERVE=<path>`
//! measures another build of `keyconsole` (an A/B of two builds, one run each).

use std::collections::BTreeMap;
use std::io::Write as _;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use chrono::Utc;
use keyconsole::api::Org;
use keyconsole::domain::host_pattern::HostPattern;
use keyconsole::domain::key::{Env, PublicKeyId, Secret, SecretPrefix};
use keyconsole::domain::record::KeyRecord;
use keyconsole::domain::scope::ScopeSet;
use keyconsole::storage::sqlite::SqliteStore;
use keyconsole::storage::{IfMissing, KeyStore, Retention};
use rustix::thread::{CpuSet, sched_getaffinity, sched_setaffinity};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpSocket, TcpStream};

const WORDS: &[&str] = &[
    "billing",
    "search",
    "checkout",
    "mobile",
    "worker",
    "ingest",
    "reports",
    "partner",
    "webhook",
    "backup",
    "staging",
    "analytics",
    "export",
    "sync",
    "payments",
    "gateway",
];

fn env_num(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|v| v.replace('_', "").parse().ok())
        .unwrap_or(default)
}

fn random(buf: &mut [u8]) {
    keyconsole::server::os_random(buf);
}

// ---------------------------------------------------------------------------------------------
// Seeding

struct Seeded {
    dir: PathBuf,
    url: String,
    owner: String,
    /// Secrets of every seeded key, in order.
    secrets: Vec<Box<str>>,
    disabled_pk: String,
}

fn record(id: String, secret: &Secret, name: String, scopes: &[&str], enabled: bool) -> KeyRecord {
    let now = Utc::now();
    KeyRecord {
        id,
        org_id: "org_loadbench".to_owned(),
        name,
        env: Env::Live,
        app_id: None,
        scopes: ScopeSet::parse(scopes).unwrap_or_default(),
        allowed_domains: vec![HostPattern::Exact("app.example.com".to_owned())],
        enabled,
        secret_hash: secret.hash(),
        secret_hint: secret.hint(),
        created_at: now,
        updated_at: now,
        expires_at: None,
        last_used_at: None,
        rotated_from: None,
        rotated_to: None,
        version: 1,
        owner: None,
        description: None,
        leaked_at: None,
    }
}

async fn seed(n: usize) -> Result<Seeded, String> {
    let prefix = SecretPrefix::default();
    let dir = std::env::temp_dir().join(format!("keyconsole-load-{}", std::process::id()));
    std::fs::create_dir_all(&dir).map_err(|e| e.to_string())?;
    let url = format!("sqlite://{}", dir.join("load.db").display());
    let store = SqliteStore::open(&url, Retention::default(), IfMissing::Create)
        .await
        .map_err(|e| e.to_string())?;
    store
        .create_org(&Org {
            id: "org_loadbench".into(),
            name: "load benchmark".into(),
            created_at: Utc::now(),
        })
        .await
        .map_err(|e| e.to_string())?;
    let new_secret = || Secret::generate(&prefix, Env::Live, &mut random);
    let new_id = || {
        PublicKeyId::generate(Env::Live, &mut random)
            .as_str()
            .to_owned()
    };
    let owner = new_secret();
    let disabled = new_secret();
    let disabled_pk = new_id();
    store
        .import_keys(&[
            record(new_id(), &owner, "owner".into(), &["*"], true),
            record(
                disabled_pk.clone(),
                &disabled,
                "disabled".into(),
                &["*"],
                false,
            ),
        ])
        .await
        .map_err(|e| e.to_string())?;
    let mut secrets = Vec::with_capacity(n);
    let mut batch = Vec::with_capacity(10_000);
    let mut done = 0;
    while done < n {
        batch.clear();
        for i in done..(done + 10_000).min(n) {
            let s = new_secret();
            let name = format!(
                "{} {} {i}",
                WORDS[i % WORDS.len()],
                WORDS[(i / WORDS.len()) % WORDS.len()]
            );
            batch.push(record(new_id(), &s, name, &["keys:read"], true));
            secrets.push(s.expose().into());
        }
        store.import_keys(&batch).await.map_err(|e| e.to_string())?;
        done += batch.len();
    }
    store.close().await;
    Ok(Seeded {
        dir,
        url,
        owner: owner.expose().to_owned(),
        secrets,
        disabled_pk,
    })
}

// ---------------------------------------------------------------------------------------------
// The load generator

/// What each request of a run sends: the same bytes, or bytes made from a run-wide sequence
/// number (distinct keys).
#[derive(Clone)]
enum Req {
    Fixed(Arc<Vec<u8>>),
    Seq(Arc<dyn Fn(u64) -> Vec<u8> + Send + Sync>),
}

#[derive(Clone)]
struct Load {
    addr: SocketAddr,
    req: Req,
    conns: usize,
    warmup: Duration,
    measure: Duration,
    /// Total requests per second across connections (`None`: as fast as possible).
    rate: Option<f64>,
    /// Local addresses to connect from, one per connection in turn (`None`: the default).
    sources: Option<Arc<Vec<IpAddr>>>,
    /// Reconnect (from the next source) after this many requests.
    per_conn: Option<u64>,
    /// Stop after this many requests in all (then the run is timed to its end).
    total: Option<u64>,
}

#[derive(Default)]
struct Outcome {
    ok: u64,
    statuses: BTreeMap<u16, u64>,
    errors: u64,
    lat_us: Vec<u32>,
    secs: f64,
    /// The generator's CPU seconds and the wall seconds of the whole run (warm-up too).
    gen_cpu: f64,
    gen_wall: f64,
}

impl Outcome {
    /// How busy the generator's CPUs were over its runs (1.0: every one, all the time).
    fn generator_busy(&self) -> f64 {
        let cpus = PINNING.get().map_or_else(
            || std::thread::available_parallelism().map_or(1, |n| n.get()),
            |p| p.generator.count() as usize,
        );
        self.gen_cpu / (self.gen_wall * cpus as f64)
    }

    /// Several runs of one scenario as one (their requests over their summed time).
    fn merged(runs: Vec<Outcome>) -> Outcome {
        let mut all = Outcome::default();
        for o in runs {
            all.add(o);
        }
        all.lat_us.sort_unstable();
        all
    }

    /// Count another run's requests (and time) in this one; latencies are left unsorted.
    fn add(&mut self, o: Outcome) {
        self.ok += o.ok;
        self.errors += o.errors;
        self.secs += o.secs;
        self.gen_cpu += o.gen_cpu;
        self.gen_wall += o.gen_wall;
        self.lat_us.extend(o.lat_us);
        for (k, v) in o.statuses {
            *self.statuses.entry(k).or_default() += v;
        }
    }

    fn rate(&self) -> f64 {
        self.lat_us.len() as f64 / self.secs.max(1e-9)
    }
    fn pct(&self, p: f64) -> f64 {
        if self.lat_us.is_empty() {
            return f64::NAN;
        }
        let i = ((self.lat_us.len() as f64 - 1.0) * p).round() as usize;
        f64::from(self.lat_us[i]) / 1000.0
    }
}

const HOST: &str = "127.0.0.1";

fn get(path: &str, headers: &[(&str, &str)]) -> Vec<u8> {
    let mut r = format!("GET {path} HTTP/1.1\r\nHost: {HOST}\r\n");
    for (k, v) in headers {
        r.push_str(&format!("{k}: {v}\r\n"));
    }
    r.push_str("\r\n");
    r.into_bytes()
}

fn post_json(path: &str, auth: &str, body: &str) -> Vec<u8> {
    format!(
        "POST {path} HTTP/1.1\r\nHost: {HOST}\r\nAuthorization: Bearer {auth}\r\n\
         Content-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    )
    .into_bytes()
}

async fn connect(addr: SocketAddr, source: Option<IpAddr>) -> std::io::Result<TcpStream> {
    let s = match source {
        Some(src) => {
            let sock = TcpSocket::new_v4()?;
            sock.bind(SocketAddr::new(src, 0))?;
            sock.connect(addr).await?
        }
        None => TcpStream::connect(addr).await?,
    };
    s.set_nodelay(true)?;
    Ok(s)
}

/// Send one request and read its whole answer; the status.
async fn exchange(s: &mut TcpStream, req: &[u8], buf: &mut Vec<u8>) -> std::io::Result<u16> {
    s.write_all(req).await?;
    buf.clear();
    let bad = |m: &str| std::io::Error::new(std::io::ErrorKind::InvalidData, m.to_owned());
    let mut chunk = [0u8; 16 * 1024];
    loop {
        let n = s.read(&mut chunk).await?;
        if n == 0 {
            return Err(bad("closed"));
        }
        buf.extend_from_slice(&chunk[..n]);
        let Some(end) = memchr::memmem::find(buf, b"\r\n\r\n") else {
            continue;
        };
        let head = &buf[..end];
        let status = std::str::from_utf8(head.get(9..12).ok_or_else(|| bad("short"))?)
            .ok()
            .and_then(|t| t.parse().ok())
            .ok_or_else(|| bad("status"))?;
        let text = String::from_utf8_lossy(head).to_ascii_lowercase();
        let len: usize = text
            .split("\r\n")
            .find_map(|l| l.strip_prefix("content-length:"))
            .and_then(|v| v.trim().parse().ok())
            .ok_or_else(|| bad("no content-length"))?;
        while buf.len() < end + 4 + len {
            let n = s.read(&mut chunk).await?;
            if n == 0 {
                return Err(bad("closed in body"));
            }
            buf.extend_from_slice(&chunk[..n]);
        }
        return Ok(status);
    }
}

/// Paced runs: when each request falls due, across all connections, told to the
/// connection that sends it. A thread of its own sleeps to each due time (the kernel's
/// high-resolution timer, tens of microseconds late at most), so requests arrive evenly
/// spread as a real client population sends them: tokio's timer wheel has millisecond
/// granularity and would send every connection due within one millisecond in one burst.
fn pace(
    rate: f64,
    start: Instant,
    end: Instant,
    conns: Vec<tokio::sync::mpsc::UnboundedSender<Instant>>,
) {
    let every = Duration::from_secs_f64(1.0 / rate);
    let mut k: u32 = 0;
    loop {
        let due = start + every * k;
        if due >= end {
            break;
        }
        let now = Instant::now();
        if due > now {
            std::thread::sleep(due - now);
        }
        let Some(to) = conns.get(k as usize % conns.len()) else {
            break;
        };
        // A connection that stopped (its run ended) no longer listens.
        let _ = to.send(due);
        k += 1;
    }
}

async fn one_connection(
    load: Load,
    mut due_times: Option<tokio::sync::mpsc::UnboundedReceiver<Instant>>,
    index: usize,
    seq: Arc<AtomicU64>,
    start: Instant,
    end: Instant,
) -> Outcome {
    let mut out = Outcome::default();
    let measure_from = start + load.warmup;
    let mut buf = Vec::with_capacity(16 * 1024);
    let mut source_turn = index;
    let mut stream: Option<TcpStream> = None;
    let mut on_this = 0u64;
    // When the last answer had been read (the connection free for the next request).
    let mut free_at = start;
    loop {
        if Instant::now() >= end {
            break;
        }
        let due = match due_times.as_mut() {
            Some(rx) => match rx.recv().await {
                Some(due) => Some(due),
                None => break,
            },
            None => None,
        };
        let n = seq.fetch_add(1, Ordering::Relaxed);
        if load.total.is_some_and(|t| n >= t) {
            break;
        }
        if stream.is_none() || load.per_conn.is_some_and(|p| on_this >= p) {
            let src = load.sources.as_ref().map(|s| s[source_turn % s.len()]);
            source_turn += load.conns;
            stream = connect(load.addr, src).await.ok();
            on_this = 0;
            if stream.is_none() {
                out.errors += 1;
                tokio::time::sleep(Duration::from_millis(10)).await;
                continue;
            }
        }
        let owned;
        let bytes: &[u8] = match &load.req {
            Req::Fixed(b) => b,
            Req::Seq(f) => {
                owned = f(n);
                &owned
            }
        };
        // Paced runs: a request the connection was still busy for when it fell due is timed
        // from when it was due (no coordinated omission: the wait for the previous answer
        // counts). One sent late only because this generator woke late (it shares the two
        // cores with the server) is timed from when it was sent: that lateness is the
        // generator's, not the server's.
        let sent = match due {
            Some(due) if free_at > due => due,
            _ => Instant::now(),
        };
        let Some(s) = stream.as_mut() else { continue };
        let answer = exchange(s, bytes, &mut buf).await;
        free_at = Instant::now();
        match answer {
            Ok(status) => {
                on_this += 1;
                if sent >= measure_from || load.total.is_some() {
                    let us = sent.elapsed().as_micros().min(u128::from(u32::MAX)) as u32;
                    out.lat_us.push(us);
                    *out.statuses.entry(status).or_default() += 1;
                    if status < 400 {
                        out.ok += 1;
                    }
                }
            }
            Err(_) => {
                out.errors += 1;
                stream = None;
            }
        }
    }
    out
}

async fn run(load: &Load) -> Outcome {
    let seq = Arc::new(AtomicU64::new(0));
    let cpu_before = own_cpu_seconds();
    let start = Instant::now();
    let end = match load.total {
        Some(_) => start + Duration::from_secs(3600),
        None => start + load.warmup + load.measure,
    };
    let mut receivers: Vec<Option<tokio::sync::mpsc::UnboundedReceiver<Instant>>> =
        (0..load.conns).map(|_| None).collect();
    let pacer = load.rate.map(|rate| {
        let mut senders = Vec::with_capacity(load.conns);
        for r in &mut receivers {
            let (tx, rx) = tokio::sync::mpsc::unbounded_channel();
            senders.push(tx);
            *r = Some(rx);
        }
        std::thread::spawn(move || pace(rate, start, end, senders))
    });
    let tasks: Vec<_> = receivers
        .into_iter()
        .enumerate()
        .map(|(i, due_times)| {
            tokio::spawn(one_connection(
                load.clone(),
                due_times,
                i,
                Arc::clone(&seq),
                start,
                end,
            ))
        })
        .collect();
    let mut all = Outcome::default();
    for t in tasks {
        if let Ok(o) = t.await {
            // A connection's outcome has no time of its own: the run's is set below.
            all.add(o);
        }
    }
    if let Some(p) = pacer {
        let _ = tokio::task::spawn_blocking(move || p.join()).await;
    }
    all.secs = match load.total {
        Some(_) => start.elapsed().as_secs_f64(),
        None => load.measure.as_secs_f64(),
    };
    all.gen_wall = start.elapsed().as_secs_f64();
    all.gen_cpu = own_cpu_seconds() - cpu_before;
    all.lat_us.sort_unstable();
    all
}

// ---------------------------------------------------------------------------------------------
// The processes

struct Proc(Child);

impl Drop for Proc {
    /// SIGTERM first and a few seconds to go: nginx's master stops its workers only then
    /// (SIGKILL would leave them running), and `serve` writes its usage batch.
    fn drop(&mut self) {
        let pid = i32::try_from(self.0.id())
            .ok()
            .and_then(rustix::process::Pid::from_raw);
        if let Some(pid) = pid {
            let _ = rustix::process::kill_process(pid, rustix::process::Signal::TERM);
            for _ in 0..50 {
                if matches!(self.0.try_wait(), Ok(Some(_))) {
                    return;
                }
                std::thread::sleep(std::time::Duration::from_millis(100));
            }
        }
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// What the server warned about during the run (the log is removed with the run's folder).
fn print_warnings(log: &Path) {
    let text = std::fs::read_to_string(log).unwrap_or_default();
    let warnings: Vec<&str> = text
        .lines()
        .filter(|l| l.contains(" WARN ") || l.contains(" ERROR "))
        .collect();
    println!(
        "load: the server logged {} warnings or errors",
        warnings.len()
    );
    for w in warnings.iter().take(5) {
        println!("  {w}");
    }
}

/// Every key of the org verified once (distinct secrets; the cache is bounded), in five
/// parts with the server's RSS (anonymous and file-backed) printed after each: a bounded
/// cache levels off. The whole run's outcome, and the RSS before and after.
async fn every_key(
    seeded: &Seeded,
    n: usize,
    pid: u32,
    base: &impl Fn(Vec<u8>) -> Load,
) -> (Outcome, f64, f64) {
    let rss_before = rss_mb(pid).unwrap_or(f64::NAN);
    let secrets: Arc<Vec<Box<str>>> = Arc::new(seeded.secrets.clone());
    let mut all = Outcome::default();
    let part = n.div_ceil(5).max(1);
    let mut from = 0;
    while from < n {
        let count = part.min(n - from);
        let o = seeded.owner.clone();
        let secrets = Arc::clone(&secrets);
        let offset = from;
        let each = Req::Seq(Arc::new(move |i| {
            let s = secrets.get(offset + i as usize).map_or("", |s| s);
            post_json("/v1/verify", &o, &format!("{{\"credential\":\"{s}\"}}"))
        }));
        let out = run(&Load {
            req: each,
            total: Some(count as u64),
            ..base(Vec::new())
        })
        .await;
        from += count;
        println!(
            "load: {from} of {n} keys verified once: server RSS {:.0} MB (anonymous {:.0} MB, files {:.0} MB)",
            rss_mb(pid).unwrap_or(f64::NAN),
            status_mb(pid, "RssAnon:").unwrap_or(f64::NAN),
            status_mb(pid, "RssFile:").unwrap_or(f64::NAN),
        );
        all.add(out);
    }
    all.lat_us.sort_unstable();
    (all, rss_before, rss_mb(pid).unwrap_or(f64::NAN))
}

fn rss_mb(pid: u32) -> Option<f64> {
    status_mb(pid, "VmRSS:")
}

/// A `kB` line of `/proc/<pid>/status`, in MB.
fn status_mb(pid: u32, field: &str) -> Option<f64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let kb: f64 = status
        .lines()
        .find_map(|l| l.strip_prefix(field))?
        .trim()
        .trim_end_matches("kB")
        .trim()
        .parse()
        .ok()?;
    Some(kb / 1024.0)
}

fn wait_for_line(path: &Path, marker: &str, timeout: Duration) -> Option<String> {
    let until = Instant::now() + timeout;
    while Instant::now() < until {
        if let Ok(text) = std::fs::read_to_string(path)
            && let Some(line) = text.lines().find(|l| l.contains(marker))
        {
            return Some(line.to_owned());
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    None
}

/// Which CPUs the generator and the measured servers run on.
struct Pinning {
    generator: CpuSet,
    servers: CpuSet,
}

static PINNING: std::sync::OnceLock<Pinning> = std::sync::OnceLock::new();

/// Splits this process's CPUs in two halves (the generator takes the first, at least one),
/// and pins the calling thread to the generator's. `None` with fewer than two CPUs or
/// `KEYCONSOLE_LOAD_PIN=0`.
fn pinning() -> std::io::Result<Option<Pinning>> {
    if std::env::var("KEYCONSOLE_LOAD_PIN").is_ok_and(|v| v == "0") {
        return Ok(None);
    }
    let all = sched_getaffinity(None)?;
    let cpus: Vec<usize> = (0..CpuSet::MAX_CPU).filter(|&i| all.is_set(i)).collect();
    if cpus.len() < 2 {
        return Ok(None);
    }
    let (mut generator, mut servers) = (CpuSet::new(), CpuSet::new());
    let half = cpus.len() / 2;
    for (n, &cpu) in cpus.iter().enumerate() {
        if n < half {
            generator.set(cpu);
        } else {
            servers.set(cpu);
        }
    }
    sched_setaffinity(None, &generator)?;
    Ok(Some(Pinning { generator, servers }))
}

fn cpu_list(set: &CpuSet) -> String {
    let cpus: Vec<String> = (0..CpuSet::MAX_CPU)
        .filter(|&i| set.is_set(i))
        .map(|i| i.to_string())
        .collect();
    cpus.join(",")
}

/// Spawns `cmd` on the servers' CPUs when pinned: the spawning thread moves to them for the
/// fork (a child inherits its parent thread's CPUs) and back.
fn spawn_pinned(cmd: &mut Command) -> std::io::Result<Child> {
    let Some(p) = PINNING.get() else {
        return cmd.spawn();
    };
    let mine = sched_getaffinity(None)?;
    sched_setaffinity(None, &p.servers)?;
    let child = cmd.spawn();
    sched_setaffinity(None, &mine)?;
    child
}

/// CPU seconds this process (the generator) has used, user and system.
fn own_cpu_seconds() -> f64 {
    let Ok(stat) = std::fs::read_to_string("/proc/self/stat") else {
        return f64::NAN;
    };
    // Fields after the command name (which may hold spaces) close with ')'.
    let rest = stat.rsplit(')').next().unwrap_or_default();
    let f: Vec<&str> = rest.split_whitespace().collect();
    let ticks = |i: usize| f.get(i).and_then(|v| v.parse::<f64>().ok());
    // utime and stime are fields 14 and 15 (11 and 12 after the name), in the 1/100 s
    // clock ticks /proc always reports.
    match (ticks(11), ticks(12)) {
        (Some(u), Some(s)) => (u + s) / 100.0,
        _ => f64::NAN,
    }
}

fn start_server(seeded: &Seeded) -> Result<(Proc, SocketAddr), String> {
    let log = seeded.dir.join("serve.log");
    let file = std::fs::File::create(&log).map_err(|e| e.to_string())?;
    // `KEYCONSOLE_LOAD_SERVE`: another build of `keyconsole` to measure (an A/B of two builds).
    let bin = std::env::var_os("KEYCONSOLE_LOAD_SERVE").map_or_else(
        || PathBuf::from(env!("CARGO_BIN_EXE_keyconsole")),
        PathBuf::from,
    );
    let mut cmd = Command::new(bin);
    cmd.args([
        "serve",
        "--listen",
        "127.0.0.1:0",
        "--database",
        &seeded.url,
    ])
    .stdin(Stdio::null())
    .stdout(Stdio::null())
    .stderr(file);
    let child =
        spawn_pinned(&mut cmd).map_err(|e| format!("cannot start keyconsole serve: {e}"))?;
    let proc = Proc(child);
    let line = wait_for_line(&log, "listening on http://", Duration::from_secs(60))
        .ok_or("serve did not start (see its log)")?;
    let addr = line
        .rsplit("http://")
        .next()
        .and_then(|a| a.trim().parse().ok())
        .ok_or("no address in the ready line")?;
    Ok((proc, addr))
}

fn free_port() -> Option<u16> {
    std::net::TcpListener::bind("127.0.0.1:0")
        .ok()?
        .local_addr()
        .ok()
        .map(|a| a.port())
}

/// nginx answering a static 200 on a free port, logging each request like its default
/// configuration does (`access_log` on, unbuffered) or not at all.
fn start_nginx(dir: &Path, access_log: bool) -> Option<(Proc, SocketAddr)> {
    let nginx = ["/usr/sbin/nginx", "/usr/local/sbin/nginx", "/usr/bin/nginx"]
        .into_iter()
        .find(|p| Path::new(p).exists())?;
    let port = free_port()?;
    let root = dir.join(if access_log { "nginx-log" } else { "nginx" });
    std::fs::create_dir_all(&root).ok()?;
    let log = if access_log {
        format!("access_log {}/access.log;", root.display())
    } else {
        "access_log off;".to_owned()
    };
    let conf = format!(
        "worker_processes {workers};\npid {r}/nginx.pid;\nerror_log {r}/error.log;\ndaemon off;\n\
         events {{ worker_connections 4096; }}\n\
         http {{\n  {log}\n  client_body_temp_path {r}/body;\n  proxy_temp_path {r}/proxy;\n\
           fastcgi_temp_path {r}/fcgi;\n  uwsgi_temp_path {r}/uwsgi;\n  scgi_temp_path {r}/scgi;\n\
           keepalive_requests 1000000;\n\
           server {{\n    listen 127.0.0.1:{port};\n    location / {{\n      default_type application/json;\n      return 200 '{{\"status\":\"ok\"}}';\n    }}\n  }}\n}}\n",
        r = root.display(),
        workers = PINNING.get().map_or(2, |p| p.servers.count())
    );
    let path = root.join("nginx.conf");
    std::fs::File::create(&path)
        .and_then(|mut f| f.write_all(conf.as_bytes()))
        .ok()?;
    let mut cmd = Command::new(nginx);
    cmd.args([
        "-c",
        &path.display().to_string(),
        "-p",
        &root.display().to_string(),
    ])
    .stdin(Stdio::null())
    .stdout(Stdio::null())
    .stderr(Stdio::null());
    let child = spawn_pinned(&mut cmd).ok()?;
    let proc = Proc(child);
    let addr = SocketAddr::new(IpAddr::V4(Ipv4Addr::LOCALHOST), port);
    let until = Instant::now() + Duration::from_secs(10);
    while Instant::now() < until {
        if std::net::TcpStream::connect(addr).is_ok() {
            return Some((proc, addr));
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    None
}

// ---------------------------------------------------------------------------------------------
// Reporting

struct Row {
    name: String,
    out: Outcome,
    base: Option<f64>,
    base_name: &'static str,
    /// Paired rounds: each round's ratio to its base (the figure is their median).
    ratios: Option<Vec<f64>>,
}

impl Row {
    /// The ratio to the base: the median of the paired rounds', else of the whole runs.
    fn ratio(&self) -> Option<f64> {
        match &self.ratios {
            Some(r) if !r.is_empty() => {
                let mut r = r.clone();
                r.sort_by(f64::total_cmp);
                Some(r[r.len() / 2])
            }
            _ => self.base.map(|b| self.out.rate() / b),
        }
    }

    /// `0.81 (0.74–0.86 over 5 rounds)`, or just the ratio.
    fn ratio_text(&self) -> String {
        let Some(m) = self.ratio() else {
            return "-".to_owned();
        };
        match &self.ratios {
            Some(r) if r.len() > 1 => {
                let lo = r.iter().copied().fold(f64::INFINITY, f64::min);
                let hi = r.iter().copied().fold(f64::NEG_INFINITY, f64::max);
                format!("{m:.2} ({lo:.2}-{hi:.2} over {} rounds)", r.len())
            }
            _ => format!("{m:.2}"),
        }
    }
}

fn print_row(r: &Row) {
    let ratio = r
        .ratio()
        .map_or("-".to_owned(), |m| format!("{m:.2}x {}", r.base_name));
    let statuses: Vec<String> = r
        .out
        .statuses
        .iter()
        .map(|(k, v)| format!("{k}:{v}"))
        .collect();
    println!(
        "{:<52} {:>9.0} req/s  {:<22} p50 {:>7.3} ms  p99 {:>7.3} ms  gen {:>3.0}%  [{}{}]",
        r.name,
        r.out.rate(),
        ratio,
        r.out.pct(0.5),
        r.out.pct(0.99),
        r.out.generator_busy() * 100.0,
        statuses.join(" "),
        if r.out.errors > 0 {
            format!(" errors:{}", r.out.errors)
        } else {
            String::new()
        }
    );
}

// ---------------------------------------------------------------------------------------------

fn main() {
    // `cargo bench` passes `--bench`; `cargo test --benches` runs this with no such flag.
    if !std::env::args().any(|a| a == "--bench") {
        println!("load: run with `cargo bench --bench load`");
        return;
    }
    // Before the runtime: its threads inherit the generator's CPUs.
    match pinning() {
        Ok(Some(p)) => {
            println!(
                "load: generator on CPU {}, the servers measured on CPU {} (KEYCONSOLE_LOAD_PIN=0 shares them)",
                cpu_list(&p.generator),
                cpu_list(&p.servers)
            );
            let _ = PINNING.set(p);
        }
        Ok(None) => println!("load: generator and servers share every CPU (not pinned)"),
        Err(e) => println!("load: cannot pin to CPUs ({e}); generator and servers share them"),
    }
    let rt = match tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("load: cannot start a runtime: {e}");
            std::process::exit(1);
        }
    };
    if let Err(e) = rt.block_on(bench()) {
        eprintln!("load: {e}");
        std::process::exit(1);
    }
}

async fn bench() -> Result<(), String> {
    let n = env_num("KEYCONSOLE_LOAD_KEYS", 1_000_000) as usize;
    let secs = env_num("KEYCONSOLE_LOAD_SECONDS", 5);
    let conns = env_num("KEYCONSOLE_LOAD_CONNECTIONS", 64) as usize;
    println!("load: seeding an org of {n} keys through the store ...");
    let t = Instant::now();
    let seeded = seed(n).await?;
    println!(
        "load: seeded {n} keys in {:.1} s ({:.0} keys/s)",
        t.elapsed().as_secs_f64(),
        n as f64 / t.elapsed().as_secs_f64()
    );
    let result = drive(&seeded, n, secs, conns).await;
    let _ = std::fs::remove_dir_all(&seeded.dir);
    result
}

async fn drive(seeded: &Seeded, n: usize, secs: u64, conns: usize) -> Result<(), String> {
    let (server, addr) = start_server(seeded)?;
    let pid = server.0.id();
    println!(
        "load: keyconsole serve on {addr} (pid {pid}), RSS at start {:.0} MB; {conns} connections, \
         {secs} s per scenario (the throughput ones in paired rounds)",
        rss_mb(pid).unwrap_or(f64::NAN)
    );
    let base = |req: Vec<u8>| Load {
        addr,
        req: Req::Fixed(Arc::new(req)),
        conns,
        warmup: Duration::from_secs(1),
        measure: Duration::from_secs(secs),
        rate: None,
        sources: None,
        per_conn: None,
        total: None,
    };
    let owner = seeded.owner.as_str();
    let auth = format!("Bearer {owner}");
    let mut rows: Vec<Row> = Vec::new();
    if std::env::var_os("KEYCONSOLE_LOAD_ONLY_RSS").is_some() {
        // Only the memory bound: every key verified once, RSS along the way.
        let (out, before, after) = every_key(seeded, n, pid, &base).await;
        tokio::time::sleep(Duration::from_secs(3)).await;
        println!(
            "load: {n} keys verified once each at {:.0}/s; RSS {before:.0} MB before, {after:.0} MB after, \
             {:.0} MB 3 s later",
            out.rate(),
            rss_mb(pid).unwrap_or(f64::NAN)
        );
        drop(server);
        print_warnings(&seeded.dir.join("serve.log"));
        return Ok(());
    }

    // The throughput scenarios side by side: nginx (both logs), /healthz, /v1/me and
    // /v1/verify take turns in short rounds (the order rotating each round), so a slow
    // spell of this shared machine falls on all of them alike. Each ratio is the median of
    // the rounds' ratios, each round's own pair measured back to back.
    let healthz = get("/healthz", &[]);
    let nginx_log = start_nginx(&seeded.dir, true);
    let nginx_off = start_nginx(&seeded.dir, false);
    if nginx_log.is_none() {
        println!(
            "load: nginx is NOT installed: no nginx baseline in this run (apt-get install nginx-light)"
        );
    }
    let cached = seeded.secrets.first().map_or(owner, |s| s);
    let verify_body = format!("{{\"credential\":\"{cached}\"}}");
    // (name, address, request, index of the scenario it is a ratio to)
    let mut scenarios: Vec<(String, SocketAddr, Vec<u8>, Option<usize>)> = Vec::new();
    let mut nginx_i = None;
    if let Some((_, a)) = &nginx_log {
        nginx_i = Some(scenarios.len());
        scenarios.push((
            "nginx static 200 (access log on, its default)".into(),
            *a,
            healthz.clone(),
            None,
        ));
    }
    if let Some((_, a)) = &nginx_off {
        scenarios.push((
            "nginx static 200 (access_log off)".into(),
            *a,
            healthz.clone(),
            nginx_i,
        ));
    }
    let hz_i = scenarios.len();
    scenarios.push(("GET /healthz".into(), addr, healthz.clone(), nginx_i));
    scenarios.push((
        "GET /v1/me (cached key)".into(),
        addr,
        get("/v1/me", &[("Authorization", &auth)]),
        Some(hz_i),
    ));
    scenarios.push((
        "POST /v1/verify (cached key)".into(),
        addr,
        post_json("/v1/verify", owner, &verify_body),
        Some(hz_i),
    ));
    let rounds = (env_num("KEYCONSOLE_LOAD_ROUNDS", 5) as usize).max(1);
    let slice = Duration::from_secs_f64(secs as f64 / rounds as f64);
    let mut outs: Vec<Vec<Outcome>> = scenarios.iter().map(|_| Vec::new()).collect();
    for round in 0..rounds {
        for turn in 0..scenarios.len() {
            let i = (turn + round) % scenarios.len();
            let (_, a, req, _) = &scenarios[i];
            let out = run(&Load {
                addr: *a,
                warmup: if round == 0 {
                    Duration::from_secs(1)
                } else {
                    Duration::from_millis(300)
                },
                measure: slice,
                ..base(req.clone())
            })
            .await;
            outs[i].push(out);
        }
    }
    drop(nginx_log);
    drop(nginx_off);
    let rates: Vec<Vec<f64>> = outs
        .iter()
        .map(|o| o.iter().map(Outcome::rate).collect())
        .collect();
    for (i, ((name, _, _, of), o)) in scenarios.iter().zip(outs).enumerate() {
        let ratios = of.map(|b| {
            rates[i]
                .iter()
                .zip(&rates[b])
                .map(|(x, y)| x / y.max(1e-9))
                .collect()
        });
        rows.push(Row {
            name: name.clone(),
            out: Outcome::merged(o),
            base: of.map(|b| rates[b].iter().sum::<f64>() / rounds as f64),
            base_name: match *of {
                Some(b) if Some(b) == nginx_i => "nginx(log)",
                Some(_) => "healthz",
                None => "",
            },
            ratios,
        });
    }
    for r in &rows {
        print_row(r);
    }
    let rate_of = |name: &str| {
        rows.iter()
            .find(|r| r.name == name)
            .map_or(f64::NAN, |r| r.out.rate())
    };
    let hz = rate_of("GET /healthz");
    let verify_max = rate_of("POST /v1/verify (cached key)");
    // The same pace against nginx's static 200 first: the latency floor of this generator,
    // kernel and machine at that rate, the baseline the server's p99 is read against.
    if let Some((nginx, a)) = start_nginx(&seeded.dir, true) {
        let floor = run(&Load {
            addr: a,
            rate: Some(verify_max / 2.0),
            ..base(healthz.clone())
        })
        .await;
        drop(nginx);
        rows.push(Row {
            name: format!(
                "nginx static 200 paced at the same rate ({:.0}/s)",
                verify_max / 2.0
            ),
            out: floor,
            base: None,
            base_name: "",
            ratios: None,
        });
    }
    println!(
        "load: /v1/verify paced at {:.0}/s, half its maximum",
        verify_max / 2.0
    );
    let half = run(&Load {
        rate: Some(verify_max / 2.0),
        ..base(post_json("/v1/verify", owner, &verify_body))
    })
    .await;
    rows.push(Row {
        name: format!(
            "POST /v1/verify paced at half max ({:.0}/s)",
            verify_max / 2.0
        ),
        out: half,
        base: Some(hz),
        base_name: "healthz",
        ratios: None,
    });

    if std::env::var_os("KEYCONSOLE_LOAD_ONLY_HOT").is_some() {
        // Only the hot path: the paired rounds and the paced run.
        println!();
        for r in &rows {
            print_row(r);
        }
        for r in rows.iter().filter(|r| r.ratios.is_some()) {
            println!("  {:<44} = {}", r.name, r.ratio_text());
        }
        drop(server);
        print_warnings(&seeded.dir.join("serve.log"));
        return Ok(());
    }

    // Lists and searches: fewer connections (latency, not saturation).
    let few = |path: &str| Load {
        conns: 8.min(conns),
        ..base(get(path, &[("Authorization", &auth)]))
    };
    for (name, path) in [
        (
            "GET /v1/keys?limit=50 (first page)",
            "/v1/keys?limit=50".to_owned(),
        ),
        (
            "GET /v1/keys?status=disabled&limit=50",
            "/v1/keys?status=disabled&limit=50".to_owned(),
        ),
        (
            "GET /v1/keys?q=billing&limit=50 (common word)",
            "/v1/keys?q=billing&limit=50".to_owned(),
        ),
        (
            "GET /v1/keys?q=zqxj&limit=50 (no match)",
            "/v1/keys?q=zqxj&limit=50".to_owned(),
        ),
    ] {
        let out = run(&few(&path)).await;
        rows.push(Row {
            name: format!("{name}, 8 conns"),
            out,
            base: Some(hz),
            base_name: "healthz",
            ratios: None,
        });
    }

    // Unknown secrets through /v1/verify: repeated (the negative cache), then all distinct.
    let prefix = SecretPrefix::default();
    let unknown: Arc<Vec<String>> = Arc::new(
        (0..5_000)
            .map(|_| {
                Secret::generate(&prefix, Env::Live, &mut random)
                    .expose()
                    .to_owned()
            })
            .collect(),
    );
    let owner_s = owner.to_owned();
    let pool = Arc::clone(&unknown);
    let o = owner_s.clone();
    let repeated = Req::Seq(Arc::new(move |i| {
        let s = &pool[i as usize % pool.len()];
        post_json("/v1/verify", &o, &format!("{{\"credential\":\"{s}\"}}"))
    }));
    // One pass first, so the measured run repeats what the server has seen.
    let _ = run(&Load {
        req: repeated.clone(),
        total: Some(5_000),
        ..base(Vec::new())
    })
    .await;
    let out = run(&Load {
        req: repeated,
        ..base(Vec::new())
    })
    .await;
    rows.push(Row {
        name: "POST /v1/verify, 5,000 unknown secrets repeated".into(),
        out,
        base: Some(hz),
        base_name: "healthz",
        ratios: None,
    });
    let o = owner_s.clone();
    let distinct = Req::Seq(Arc::new(move |_| {
        let s = Secret::generate(&SecretPrefix::default(), Env::Live, &mut random);
        post_json(
            "/v1/verify",
            &o,
            &format!("{{\"credential\":\"{}\"}}", s.expose()),
        )
    }));
    let out = run(&Load {
        req: distinct.clone(),
        ..base(Vec::new())
    })
    .await;
    rows.push(Row {
        name: "POST /v1/verify, distinct unknown secrets".into(),
        out,
        base: Some(hz),
        base_name: "healthz",
        ratios: None,
    });
    // The same flood as credentials of the requests themselves, from one address: the
    // failed-auth limiter answers 429 from memory after 100 in a minute.
    let flood = Req::Seq(Arc::new(move |_| {
        let s = Secret::generate(&SecretPrefix::default(), Env::Live, &mut random);
        get("/v1/me", &[("x-api-key", s.expose())])
    }));
    let flood_src = Arc::new(vec![IpAddr::V4(Ipv4Addr::new(127, 0, 9, 1))]);
    let out = run(&Load {
        req: flood,
        sources: Some(flood_src),
        ..base(Vec::new())
    })
    .await;
    rows.push(Row {
        name: "GET /v1/me, distinct unknown secrets, one address".into(),
        out,
        base: Some(hz),
        base_name: "healthz",
        ratios: None,
    });

    // Issue 11 item 14: a public key alone, disabled (cached) vs unknown, one request at a
    // time, each address sending fewer than the failed-auth limit (as a spread-out prober).
    // Each of the three runs has its own 4,000 source addresses (127.1–3.x.y): refusals of
    // one run must not rate-limit the next one's addresses.
    let sources = |run: u8| -> Arc<Vec<IpAddr>> {
        Arc::new(
            (0..4_000u32)
                .map(|i| {
                    IpAddr::V4(Ipv4Addr::new(
                        127,
                        run,
                        (i / 250) as u8,
                        (i % 250 + 1) as u8,
                    ))
                })
                .collect(),
        )
    };
    let probe = |req: Req, total: u64, run: u8| Load {
        conns: 1,
        req,
        sources: Some(sources(run)),
        per_conn: Some(50),
        total: Some(total),
        ..base(Vec::new())
    };
    let origin = ("Origin", "https://app.example.com");
    let dis = Req::Fixed(Arc::new(get(
        "/v1/me",
        &[("x-api-key", &seeded.disabled_pk), origin],
    )));
    let unknown_pk = PublicKeyId::generate(Env::Live, &mut random)
        .as_str()
        .to_owned();
    let unk = Req::Fixed(Arc::new(get(
        "/v1/me",
        &[("x-api-key", &unknown_pk), origin],
    )));
    let fresh = Req::Seq(Arc::new(move |_| {
        let pk = PublicKeyId::generate(Env::Live, &mut random);
        get(
            "/v1/me",
            &[
                ("x-api-key", pk.as_str()),
                ("Origin", "https://app.example.com"),
            ],
        )
    }));
    let d = run(&probe(dis, 3_000, 1)).await;
    let dp50 = d.pct(0.5);
    rows.push(Row {
        name: "public key alone: disabled key (cached), 1 conn".into(),
        out: d,
        base: None,
        base_name: "",
        ratios: None,
    });
    let u = run(&probe(unk, 3_000, 2)).await;
    let up50 = u.pct(0.5);
    rows.push(Row {
        name: "public key alone: unknown, repeated, 1 conn".into(),
        out: u,
        base: None,
        base_name: "",
        ratios: None,
    });
    let f = run(&probe(fresh, 3_000, 3)).await;
    let fp50 = f.pct(0.5);
    rows.push(Row {
        name: "public key alone: unknown, distinct, 1 conn".into(),
        out: f,
        base: None,
        base_name: "",
        ratios: None,
    });

    let (out, rss_before, rss_after) = every_key(seeded, n, pid, &base).await;
    let valid = out.statuses.get(&200).copied().unwrap_or(0);
    rows.push(Row {
        name: format!("POST /v1/verify, all {n} keys once each"),
        out,
        base: Some(hz),
        base_name: "healthz",
        ratios: None,
    });

    println!();
    for r in &rows {
        print_row(r);
    }
    println!();
    println!(
        "summary (ratios of requests/s, same run; the first four are medians of paired rounds):"
    );
    let paired = |name: &str| {
        rows.iter()
            .find(|r| r.name == name)
            .map_or("not measured".to_owned(), Row::ratio_text)
    };
    if nginx_i.is_some() {
        println!(
            "  /healthz / nginx static 200 (access log on)  = {}",
            paired("GET /healthz")
        );
        println!(
            "  nginx access_log off / access log on         = {}",
            paired("nginx static 200 (access_log off)")
        );
    } else {
        println!("  /healthz / nginx: nginx NOT installed, not measured");
    }
    println!(
        "  GET /v1/me (cached) / /healthz               = {}",
        paired("GET /v1/me (cached key)")
    );
    println!(
        "  POST /v1/verify (cached) / /healthz          = {}",
        paired("POST /v1/verify (cached key)")
    );
    for (label, key) in [
        (
            "verify, unknown repeated / /healthz",
            "5,000 unknown secrets repeated",
        ),
        (
            "verify, unknown distinct / /healthz",
            "distinct unknown secrets",
        ),
    ] {
        if let Some(r) = rows.iter().find(|r| r.name.contains(key)) {
            println!("  {label:<44} = {:.2}", r.out.rate() / hz);
        }
    }
    if let Some(r) = rows.iter().find(|r| r.name.contains("half max")) {
        println!(
            "  p99 of /v1/verify at half its max rate       = {:.3} ms (p50 {:.3} ms)",
            r.out.pct(0.99),
            r.out.pct(0.5)
        );
    }
    if let Some(r) = rows
        .iter()
        .find(|r| r.name.contains("paced at the same rate"))
    {
        println!(
            "  p99 of nginx's static 200 at that rate       = {:.3} ms (p50 {:.3} ms)",
            r.out.pct(0.99),
            r.out.pct(0.5)
        );
    }
    println!(
        "  public key alone, p50: disabled {dp50:.3} ms, unknown repeated {up50:.3} ms ({:.2}x), \
         unknown distinct {fp50:.3} ms ({:.2}x)",
        up50 / dp50,
        fp50 / dp50
    );
    println!(
        "  server RSS: {rss_before:.0} MB before verifying every key, {rss_after:.0} MB after \
         {n} distinct keys verified ({valid} valid answers)"
    );
    drop(server);
    print_warnings(&seeded.dir.join("serve.log"));
    Ok(())
}
