//! Connections: the accept loop [`super::serve`] runs (hyper's HTTP/1 connection, as
//! `axum::serve` used), with the limits that keep slow, idle or numerous clients from taking
//! the service's file descriptors. The README's "Connections" section is the user-facing
//! version of this.
//!
//! - **Timeouts.** A connection must send a whole request head within `header_read_timeout`
//!   of being accepted, or of the first byte after a keep-alive pause; a keep-alive connection
//!   with no request is closed after `idle_timeout`. A request being handled is not timed here.
//! - **Cap.** At most `max_connections` are open. At the cap a newcomer still gets in: the
//!   connection idle for longest (no request in progress: keep-alive idle, or still sending
//!   its head) is shed. When every open connection has a request in progress, the newcomer
//!   gets 503 with the API.md §4 body and a request id, and is closed.
//! - **Accept errors.** EMFILE, ENFILE, ENOBUFS and ENOMEM back off (10 ms doubling to 1 s)
//!   and shed one idle connection, so the next accept can succeed; no accept error ends the
//!   loop. Running out of descriptors also lowers the cap for now to [`FD_HEADROOM`] below the
//!   connections then open (so the database can still open its files), climbing back while
//!   accept succeeds.
//! - **Head guard.** The bytes of a request head are checked before hyper parses them, so a
//!   head over [`MAX_HEAD_BYTES`], with more than [`MAX_HEADERS`] fields or with a control
//!   character (NUL, …) is answered here with the §4 body and a request id; hyper's own answer
//!   would have neither. Heads hyper rejects for other syntax errors still get hyper's bare
//!   answer (README "Decisions beyond the contract" lists them).
//! - Shedding, refusals, timeouts and accept errors are logged at most once a second, with
//!   counts; a rejected head is logged with its request id.
//!
//! The open-files limit is raised by [`raise_open_files_limit`] (called by `keyconsole serve`)
//! and the default cap derived from it by [`default_max_connections`].

use std::collections::HashMap;
use std::convert::Infallible;
use std::future::Future;
use std::io;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::task::{Context, Poll, ready};
use std::time::Duration;

use axum::Router;
use axum::body::{Body, Bytes};
use axum::extract::ConnectInfo;
use axum::http::StatusCode;
use hyper::body::{Frame, SizeHint};
use hyper::server::conn::http1;
use hyper_util::rt::TokioIo;
use rustix::io::Errno;
use rustix::process::{Resource, Rlimit, getrlimit, setrlimit};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt, ReadBuf};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{Notify, Semaphore};
use tokio::task::JoinSet;
use tokio::time::{Instant, MissedTickBehavior};
use tower::ServiceExt;

use super::error::ApiError;
use crate::domain::decision::ErrorCode;
use crate::domain::key::new_request_id;

/// Most header fields a request may have; more get 431.
pub const MAX_HEADERS: usize = 100;
/// Largest request head (request line and header fields); larger gets 431, or 414 when the
/// request line alone is this long.
pub const MAX_HEAD_BYTES: usize = 32 * 1024;
/// hyper's own limits sit above ours, so the head guard answers first. They still apply to a
/// pipelined head, which arrives while the previous request is in progress and is not guarded.
const HYPER_MAX_HEADERS: usize = MAX_HEADERS + 28;
const HYPER_MAX_HEADER_BYTES: usize = 2 * MAX_HEAD_BYTES;
/// Shed connections still closing that may be open beyond the cap.
const SHED_SLACK: usize = 32;
/// Most connections shed for one newcomer (more than one when the cap was lowered).
const SHED_PER_ACCEPT: usize = 8;
/// How long accepting waits for shed connections to close when [`SHED_SLACK`] of them are
/// still closing, before refusing the newcomer.
const SLACK_WAIT: Duration = Duration::from_millis(100);
/// Answers being written to refused or rejected connections at once; past this they are
/// closed without one.
const ANSWER_SLOTS: usize = 32;
/// How long an answer on a closing connection may take, reading and discarding what the client
/// still sends (so the close does not reset the connection before the client reads it).
const LINGER: Duration = Duration::from_secs(1);
const LINGER_BYTES: usize = 4 << 20;
/// After accept ran out of descriptors, connections are capped this far below the number
/// open at that moment, so the database and answers have descriptors left; the cap then
/// climbs back by a quarter of this each second without such an error.
const FD_HEADROOM: usize = 128;
const BACKOFF_MIN: Duration = Duration::from_millis(10);
const BACKOFF_MAX: Duration = Duration::from_secs(1);
/// File descriptors kept back from the connection cap: the database, logs, the listener,
/// answers being written and shed connections still closing.
const FD_RESERVE_MIN: u64 = 128;
/// The derived cap never exceeds this (memory: each open connection holds buffers).
const DEFAULT_CAP_CEILING: u64 = 65_536;

/// The connection layer's settings (from [`super::ServerConfig`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ConnLimits {
    /// Most connections open at once.
    pub max_connections: usize,
    /// Time allowed to send a whole request head.
    pub header_read_timeout: Duration,
    /// Time a keep-alive connection may wait for its next request.
    pub idle_timeout: Duration,
}

/// The process's open-files limits; `None` is unlimited.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct OpenFiles {
    /// The soft limit, the one in force.
    pub soft: Option<u64>,
    /// The hard limit the soft one may be raised to.
    pub hard: Option<u64>,
}

/// The open-files limits now.
pub fn open_files() -> OpenFiles {
    let l = getrlimit(Resource::Nofile);
    OpenFiles {
        soft: l.current,
        hard: l.maximum,
    }
}

/// Raise the soft open-files limit to the hard one; returns the limits before and after.
pub fn raise_open_files_limit() -> Result<(OpenFiles, OpenFiles), io::Error> {
    let before = open_files();
    if before.soft != before.hard {
        setrlimit(
            Resource::Nofile,
            Rlimit {
                current: before.hard,
                maximum: before.hard,
            },
        )?;
    }
    Ok((before, open_files()))
}

/// The cap used when none is configured: the open-files limit less a reserve of 10% (at least
/// 128) for everything else, at most 65,536.
pub fn default_max_connections(soft_limit: Option<u64>) -> usize {
    let cap = match soft_limit {
        None => DEFAULT_CAP_CEILING,
        Some(l) => {
            let reserve = (l / 10).max(FD_RESERVE_MIN);
            l.saturating_sub(reserve)
                .max(l / 2)
                .clamp(1, DEFAULT_CAP_CEILING)
        }
    };
    usize::try_from(cap).unwrap_or(usize::MAX)
}

/// Whether `max_connections` leaves the reserve [`default_max_connections`] keeps.
pub fn cap_fits(max_connections: usize, soft_limit: Option<u64>) -> bool {
    max_connections <= default_max_connections(soft_limit)
}

// ---------------------------------------------------------------------------------------------
// Per-connection state

/// Where a connection is, for its deadline and for shedding.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Phase {
    /// Accepted, nothing received yet (header timer from accept).
    Fresh,
    /// Keep-alive, waiting for the next request (idle timer).
    Idle,
    /// Receiving a request head (header timer).
    Head,
    /// A request is being handled or its response written.
    Busy,
    /// The response body is done; hyper is writing out the rest of it.
    Finishing,
}

impl Phase {
    /// No request in progress: may be shed or dropped at shutdown without losing an answer.
    fn idle(self) -> bool {
        matches!(self, Phase::Fresh | Phase::Idle | Phase::Head)
    }
}

#[derive(Debug)]
struct Slot {
    phase: Phase,
    since: Instant,
    /// Asked to close (shed, or the server is stopping).
    stop: bool,
}

/// What a connection's task, its IO and its service share.
#[derive(Debug)]
struct ConnShared {
    slot: Mutex<Slot>,
    /// Wakes the connection's task: its deadline moved earlier, or it was asked to stop.
    wake: Notify,
}

impl ConnShared {
    fn new() -> ConnShared {
        ConnShared {
            slot: Mutex::new(Slot {
                phase: Phase::Fresh,
                since: Instant::now(),
                stop: false,
            }),
            wake: Notify::new(),
        }
    }

    fn lock(&self) -> MutexGuard<'_, Slot> {
        self.slot.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Bytes arrived. `None` when they are not part of a request head (a request is in
    /// progress); `Some(true)` when they start a new head.
    fn bytes_arrived(&self) -> Option<bool> {
        let mut s = self.lock();
        match s.phase {
            // The header timer keeps running from accept.
            Phase::Fresh => {
                s.phase = Phase::Head;
                Some(true)
            }
            Phase::Idle => {
                s.phase = Phase::Head;
                s.since = Instant::now();
                drop(s);
                self.wake.notify_one();
                Some(true)
            }
            Phase::Head => Some(false),
            Phase::Busy | Phase::Finishing => None,
        }
    }

    fn request_started(&self) {
        self.lock().phase = Phase::Busy;
    }

    fn body_done(&self) {
        let mut s = self.lock();
        if s.phase == Phase::Busy {
            s.phase = Phase::Finishing;
        }
    }

    /// hyper flushed: everything it had to write is written.
    fn flushed(&self) {
        let mut s = self.lock();
        if s.phase == Phase::Finishing {
            s.phase = Phase::Idle;
            s.since = Instant::now();
            drop(s);
            self.wake.notify_one();
        }
    }

    /// The deadline, phase and stop request.
    fn status(&self, limits: &ConnLimits) -> (Option<Instant>, Phase, bool) {
        let s = self.lock();
        let deadline = match s.phase {
            Phase::Fresh | Phase::Head => Some(s.since + limits.header_read_timeout),
            Phase::Idle => Some(s.since + limits.idle_timeout),
            Phase::Busy | Phase::Finishing => None,
        };
        (deadline, s.phase, s.stop)
    }

    /// Ask to close; returns false if already asked.
    fn ask_stop(&self) -> bool {
        let mut s = self.lock();
        let first = !s.stop;
        s.stop = true;
        drop(s);
        self.wake.notify_one();
        first
    }
}

// ---------------------------------------------------------------------------------------------
// Server-wide state

#[derive(Debug, Default)]
struct Registry {
    conns: HashMap<u64, Arc<ConnShared>>,
    next_id: u64,
    /// Connections asked to close that are still open.
    stopping: usize,
}

/// Counts for the once-a-second log line.
#[derive(Debug, Default)]
struct Tally {
    shed: AtomicU64,
    refused: AtomicU64,
    unanswered: AtomicU64,
    header_timeouts: AtomicU64,
    idle_timeouts: AtomicU64,
    accept_errors: AtomicU64,
    last_accept_error: Mutex<Option<String>>,
}

fn take(c: &AtomicU64) -> u64 {
    c.swap(0, Ordering::Relaxed)
}

fn bump(c: &AtomicU64) {
    c.fetch_add(1, Ordering::Relaxed);
}

/// What every connection of one `serve` shares.
#[derive(Debug)]
struct Shared {
    registry: Mutex<Registry>,
    tally: Tally,
    answer_slots: Arc<Semaphore>,
    limits: ConnLimits,
    /// The cap learned from running out of descriptors (`usize::MAX`: none).
    fd_ceiling: AtomicUsize,
    /// A connection asked to close has closed.
    closed: Notify,
}

/// Removes its connection from the registry when the connection's task ends.
struct Registered {
    shared: Arc<Shared>,
    id: u64,
}

impl Drop for Registered {
    fn drop(&mut self) {
        let mut r = self.shared.registry();
        if let Some(c) = r.conns.remove(&self.id)
            && c.lock().stop
        {
            r.stopping = r.stopping.saturating_sub(1);
            drop(r);
            self.shared.closed.notify_one();
        }
    }
}

impl Shared {
    fn registry(&self) -> MutexGuard<'_, Registry> {
        self.registry.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn open(&self) -> usize {
        self.registry().conns.len()
    }

    /// The cap in force: the configured one, or lower after running out of descriptors.
    fn cap(&self) -> usize {
        self.limits
            .max_connections
            .min(self.fd_ceiling.load(Ordering::Relaxed))
    }

    /// Accept ran out of descriptors with `open` connections open.
    fn out_of_descriptors(&self, open: usize) {
        let ceiling = open.saturating_sub(FD_HEADROOM).max(1);
        self.fd_ceiling.fetch_min(ceiling, Ordering::Relaxed);
    }

    /// A second without running out: let the cap climb back.
    fn relax_ceiling(&self) {
        let now = self.fd_ceiling.load(Ordering::Relaxed);
        if now != usize::MAX {
            let next = now.saturating_add(FD_HEADROOM / 4);
            let next = if next >= self.limits.max_connections {
                usize::MAX
            } else {
                next
            };
            self.fd_ceiling.store(next, Ordering::Relaxed);
        }
    }

    fn register(self: &Arc<Self>, conn: Arc<ConnShared>) -> Registered {
        let mut r = self.registry();
        let id = r.next_id;
        r.next_id += 1;
        r.conns.insert(id, conn);
        Registered {
            shared: Arc::clone(self),
            id,
        }
    }

    /// Ask the connection idle for longest to close. False when none is idle.
    fn shed_oldest_idle(&self) -> bool {
        let mut r = self.registry();
        let victim = r
            .conns
            .values()
            .filter_map(|c| {
                let s = c.lock();
                (s.phase.idle() && !s.stop).then(|| (s.since, Arc::clone(c)))
            })
            .min_by_key(|(since, _)| *since);
        match victim {
            Some((_, c)) => {
                if c.ask_stop() {
                    r.stopping += 1;
                }
                true
            }
            None => false,
        }
    }

    fn stop_all(&self) {
        let mut r = self.registry();
        let mut newly = 0;
        for c in r.conns.values() {
            if c.ask_stop() {
                newly += 1;
            }
        }
        r.stopping += newly;
    }

    /// Write `err` as a whole HTTP/1.1 response on `stream` and close it, in a task bounded
    /// by [`LINGER`]; without a free answer slot the stream is closed at once.
    fn answer_and_close(&self, stream: TcpStream, err: &ApiError, request_id: &str) -> bool {
        let Ok(permit) = Arc::clone(&self.answer_slots).try_acquire_owned() else {
            bump(&self.tally.unanswered);
            return false;
        };
        let bytes = raw_response(err, request_id);
        tokio::spawn(async move {
            let _permit = permit;
            let _ = tokio::time::timeout(LINGER, linger_answer(stream, bytes)).await;
        });
        true
    }

    fn report(&self) {
        let t = &self.tally;
        let (shed, refused, unanswered) = (take(&t.shed), take(&t.refused), take(&t.unanswered));
        let open = self.open();
        let cap = self.cap();
        if shed + refused + unanswered > 0 {
            tracing::warn!(
                shed_idle = shed,
                refused_503 = refused,
                closed_unanswered = unanswered,
                open,
                max_connections = cap,
                "connection limit reached in the last second"
            );
        }
        let errors = take(&t.accept_errors);
        if errors > 0 {
            let last = t
                .last_accept_error
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .take()
                .unwrap_or_default();
            tracing::warn!(
                count = errors,
                error = %last,
                open,
                max_connections_now = self.cap(),
                "accept failed in the last second; backing off and shedding idle connections"
            );
        } else {
            self.relax_ceiling();
        }
        let header = take(&t.header_timeouts);
        if header > 0 {
            tracing::info!(
                count = header,
                timeout_seconds = self.limits.header_read_timeout.as_secs_f64(),
                "closed connections that did not send a whole request head in time"
            );
        }
        let idle = take(&t.idle_timeouts);
        if idle > 0 {
            tracing::debug!(count = idle, "closed idle keep-alive connections");
        }
    }
}

async fn linger_answer(mut stream: TcpStream, bytes: Vec<u8>) -> io::Result<()> {
    stream.write_all(&bytes).await?;
    stream.shutdown().await?;
    let mut scratch = [0u8; 8192];
    let mut drained = 0;
    while drained < LINGER_BYTES {
        let n = stream.read(&mut scratch).await?;
        if n == 0 {
            break;
        }
        drained += n;
    }
    Ok(())
}

/// `err` as a complete HTTP/1.1 response that closes the connection.
fn raw_response(err: &ApiError, request_id: &str) -> Vec<u8> {
    let body = serde_json::to_vec(&err.body(request_id)).unwrap_or_default();
    let status = StatusCode::from_u16(err.code.status()).unwrap_or(StatusCode::BAD_REQUEST);
    let mut head = format!(
        "HTTP/1.1 {} {}\r\ncontent-type: application/json; charset=utf-8\r\n\
         content-length: {}\r\n{}: {request_id}\r\nconnection: close\r\ndate: {}\r\n",
        status.as_u16(),
        status.canonical_reason().unwrap_or(""),
        body.len(),
        crate::api::REQUEST_ID_HEADER,
        chrono::Utc::now().format("%a, %d %b %Y %H:%M:%S GMT"),
    );
    if let Some(secs) = err.retry_after {
        head.push_str(&format!("retry-after: {secs}\r\n"));
    }
    head.push_str("\r\n");
    let mut out = head.into_bytes();
    out.extend_from_slice(&body);
    out
}

fn request_id() -> String {
    new_request_id(&mut |b: &mut [u8]| super::os_random(b))
}

// ---------------------------------------------------------------------------------------------
// The head guard

/// Why a request head is refused before hyper parses it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HeadProblem {
    /// A control character (NUL, …) other than tab, CR and LF.
    ControlCharacter,
    /// More than [`MAX_HEADERS`] header fields.
    TooManyHeaders,
    /// Request line and fields over [`MAX_HEAD_BYTES`].
    TooLarge,
    /// The request line alone over [`MAX_HEAD_BYTES`].
    RequestLineTooLong,
}

impl HeadProblem {
    /// The answer.
    pub fn error(self) -> ApiError {
        match self {
            HeadProblem::ControlCharacter => ApiError::invalid(
                "The request head contains a control character (such as NUL); header values \
                 may hold only visible characters, spaces and tabs.",
            ),
            HeadProblem::TooManyHeaders => ApiError::new(
                ErrorCode::HeadersTooLarge,
                format!("The request has more than {MAX_HEADERS} header fields."),
            ),
            HeadProblem::TooLarge => ApiError::new(
                ErrorCode::HeadersTooLarge,
                format!(
                    "The request's header section is larger than {} KiB.",
                    MAX_HEAD_BYTES / 1024
                ),
            ),
            HeadProblem::RequestLineTooLong => ApiError::new(
                ErrorCode::UriTooLong,
                format!(
                    "The request line is longer than {} KiB.",
                    MAX_HEAD_BYTES / 1024
                ),
            ),
        }
    }
}

/// Incremental check of one request head's bytes.
#[derive(Debug, Default, Clone)]
pub struct HeadScan {
    bytes: usize,
    /// Complete lines, the request line included.
    lines: usize,
    line_len: usize,
    done: bool,
}

impl HeadScan {
    /// Feed the next bytes; stops looking at the end of the head (the rest is body). A line
    /// is taken whole when it holds nothing to refuse and fits the size cap (nearly every
    /// line): one search for its end and one pass over it, not a branch per byte. Otherwise
    /// its bytes go one by one, so a refusal names the same problem as a byte-wise scan.
    pub fn feed(&mut self, chunk: &[u8]) -> Result<(), HeadProblem> {
        let mut rest = chunk;
        while !self.done && !rest.is_empty() {
            let end = memchr::memchr(b'\n', rest).unwrap_or(rest.len());
            let (line, tail) = rest.split_at(end);
            // Both passes are branch-free folds the compiler turns into vector code.
            let plain = self.bytes + line.len() <= MAX_HEAD_BYTES
                && !line.iter().fold(false, |refused, &b| {
                    refused | ((b < 0x20 && b != b'\t' && b != b'\r') | (b == 0x7f))
                });
            if plain {
                self.bytes += line.len();
                let cr = line
                    .iter()
                    .fold(0usize, |n, &b| n + usize::from(b == b'\r'));
                self.line_len += line.len() - cr;
            } else {
                for &b in line {
                    self.step(b)?;
                }
            }
            match tail.split_first() {
                Some((&newline, after)) => {
                    self.step(newline)?;
                    rest = after;
                }
                None => rest = tail,
            }
        }
        Ok(())
    }

    /// One byte of the head.
    fn step(&mut self, b: u8) -> Result<(), HeadProblem> {
        if self.done {
            return Ok(());
        }
        self.bytes += 1;
        match b {
            b'\n' if self.line_len == 0 => {
                // An empty line ends the head; before the request line it is skipped
                // (RFC 9112 §2.2).
                self.done = self.lines > 0;
            }
            b'\n' => {
                self.lines += 1;
                self.line_len = 0;
                if self.lines > MAX_HEADERS + 1 {
                    return Err(HeadProblem::TooManyHeaders);
                }
            }
            // Part of a line ending; a stray CR is hyper's to refuse.
            b'\r' => {}
            b'\t' => self.line_len += 1,
            0..=0x1f | 0x7f => return Err(HeadProblem::ControlCharacter),
            _ => self.line_len += 1,
        }
        if self.bytes > MAX_HEAD_BYTES {
            return Err(if self.lines == 0 {
                HeadProblem::RequestLineTooLong
            } else {
                HeadProblem::TooLarge
            });
        }
        Ok(())
    }
}

// ---------------------------------------------------------------------------------------------
// The connection's IO

/// The TCP stream as hyper sees it: reports phases to [`ConnShared`] and guards request heads.
struct GuardedIo {
    /// `None` once handed to a rejection answer: hyper then reads end-of-stream.
    stream: Option<TcpStream>,
    conn: Arc<ConnShared>,
    server: Arc<Shared>,
    scan: HeadScan,
}

impl GuardedIo {
    fn reject(&mut self, problem: HeadProblem) {
        let err = problem.error();
        let id = request_id();
        let peer = self.stream.as_ref().and_then(|s| s.peer_addr().ok());
        tracing::info!(
            request_id = %id,
            status = err.code.status(),
            code = err.code.as_str(),
            ip = %peer.map_or_else(|| "unknown".to_owned(), |p| p.ip().to_string()),
            "request head rejected before routing"
        );
        if let Some(stream) = self.stream.take() {
            self.server.answer_and_close(stream, &err, &id);
        }
    }
}

impl AsyncRead for GuardedIo {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        let Some(stream) = this.stream.as_mut() else {
            return Poll::Ready(Ok(()));
        };
        let before = buf.filled().len();
        ready!(Pin::new(stream).poll_read(cx, buf))?;
        if buf.filled().len() == before {
            return Poll::Ready(Ok(()));
        }
        if let Some(new_head) = this.conn.bytes_arrived() {
            if new_head {
                this.scan = HeadScan::default();
            }
            if let Err(problem) = this.scan.feed(&buf.filled()[before..]) {
                // hyper never sees these bytes: it reads end-of-stream and closes quietly.
                buf.set_filled(before);
                this.reject(problem);
            }
        }
        Poll::Ready(Ok(()))
    }
}

fn gone() -> io::Error {
    io::Error::new(
        io::ErrorKind::BrokenPipe,
        "connection handed to a rejection",
    )
}

impl AsyncWrite for GuardedIo {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        match self.get_mut().stream.as_mut() {
            Some(s) => Pin::new(s).poll_write(cx, buf),
            None => Poll::Ready(Err(gone())),
        }
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        match self.get_mut().stream.as_mut() {
            Some(s) => Pin::new(s).poll_write_vectored(cx, bufs),
            None => Poll::Ready(Err(gone())),
        }
    }

    fn is_write_vectored(&self) -> bool {
        self.stream.as_ref().is_some_and(|s| s.is_write_vectored())
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        if let Some(s) = this.stream.as_mut() {
            ready!(Pin::new(s).poll_flush(cx))?;
        }
        this.conn.flushed();
        Poll::Ready(Ok(()))
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.get_mut().stream.as_mut() {
            Some(s) => Pin::new(s).poll_shutdown(cx),
            None => Poll::Ready(Ok(())),
        }
    }
}

// ---------------------------------------------------------------------------------------------
// The service side

/// Held by a response body: while it lives, the connection has a request in progress.
struct InProgress(Arc<ConnShared>);

impl InProgress {
    fn start(conn: &Arc<ConnShared>) -> InProgress {
        conn.request_started();
        InProgress(Arc::clone(conn))
    }
}

impl Drop for InProgress {
    fn drop(&mut self) {
        self.0.body_done();
    }
}

/// The router's response body, marking the connection's request done when dropped.
struct TrackedBody {
    inner: Body,
    _in_progress: InProgress,
}

impl hyper::body::Body for TrackedBody {
    type Data = Bytes;
    type Error = axum::Error;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, axum::Error>>> {
        Pin::new(&mut self.get_mut().inner).poll_frame(cx)
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}

async fn run_connection(
    stream: TcpStream,
    peer: SocketAddr,
    app: Router,
    server: Arc<Shared>,
    conn: Arc<ConnShared>,
    _registered: Registered,
) {
    let limits = server.limits;
    // Answers are written whole; waiting for more to coalesce only adds latency.
    let _ = stream.set_nodelay(true);
    let io = TokioIo::new(GuardedIo {
        stream: Some(stream),
        conn: Arc::clone(&conn),
        server: Arc::clone(&server),
        scan: HeadScan::default(),
    });
    let for_service = Arc::clone(&conn);
    let service = hyper::service::service_fn(move |req: hyper::Request<hyper::body::Incoming>| {
        let in_progress = InProgress::start(&for_service);
        let app = app.clone();
        async move {
            let mut req = req.map(Body::new);
            req.extensions_mut().insert(ConnectInfo(peer));
            let resp = match app.oneshot(req).await {
                Ok(r) => r,
                Err(never) => match never {},
            };
            Ok::<_, Infallible>(resp.map(|inner| TrackedBody {
                inner,
                _in_progress: in_progress,
            }))
        }
    });
    let mut builder = http1::Builder::new();
    builder
        .max_headers(HYPER_MAX_HEADERS)
        .max_header_size(HYPER_MAX_HEADER_BYTES)
        // Our own timers below: hyper's would also close idle connections at the header timeout.
        .header_read_timeout(None);
    let http = builder.serve_connection(io, service);
    tokio::pin!(http);
    let mut graceful = false;
    // One timer for the connection's life, never re-armed per request: it moves only when a
    // deadline comes earlier than it is set for (the first head), or when it fires, and
    // then to the current deadline. A deadline that moved later (the next request's head
    // timer, the idle timer) waits for the timer to fire and re-check: closing is decided
    // on the phase's deadline then, never on the timer's.
    let timer = tokio::time::sleep_until(Instant::now() + limits.idle_timeout);
    tokio::pin!(timer);
    loop {
        let (deadline, phase, stop) = conn.status(&limits);
        if stop && phase.idle() {
            // Nothing in progress: close now (dropping the connection closes the socket).
            return;
        }
        if stop && !graceful {
            // Finish the request in progress, then close.
            http.as_mut().graceful_shutdown();
            graceful = true;
        }
        if let Some(d) = deadline
            && d < timer.deadline()
        {
            timer.as_mut().reset(d);
        }
        tokio::select! {
            done = http.as_mut() => {
                if let Err(e) = done {
                    tracing::debug!(error = %e, %peer, "connection ended with an error");
                }
                return;
            }
            () = timer.as_mut() => {
                let (deadline, phase, _) = conn.status(&limits);
                let now = Instant::now();
                if deadline.is_some_and(|d| d <= now) {
                    match phase {
                        Phase::Idle => bump(&server.tally.idle_timeouts),
                        _ => bump(&server.tally.header_timeouts),
                    }
                    return;
                }
                // Busy: no deadline; look again later (a new phase sets one and wakes us).
                let next = deadline.unwrap_or(now + limits.idle_timeout);
                timer.as_mut().reset(next);
            }
            () = conn.wake.notified() => {}
        }
    }
}

// ---------------------------------------------------------------------------------------------
// The accept loop

fn exhausted(e: &io::Error) -> bool {
    let errno = Errno::from_io_error(e);
    [Errno::MFILE, Errno::NFILE, Errno::NOBUFS, Errno::NOMEM]
        .into_iter()
        .any(|x| errno == Some(x))
}

fn client_gave_up(e: &io::Error) -> bool {
    matches!(
        e.kind(),
        io::ErrorKind::ConnectionRefused
            | io::ErrorKind::ConnectionAborted
            | io::ErrorKind::ConnectionReset
            | io::ErrorKind::Interrupted
    )
}

fn at_capacity() -> ApiError {
    let mut err = ApiError::new(
        ErrorCode::Unavailable,
        "The service is at its connection limit. Retry shortly.",
    );
    err.retry_after = Some(1);
    err
}

/// Accept on `listener` and serve `app` on each connection until `shutdown` resolves; then
/// stop accepting, close idle connections, let requests in progress finish, and return when
/// every connection is closed. The caller bounds that wait.
pub async fn run(
    listener: TcpListener,
    app: Router,
    limits: ConnLimits,
    shutdown: impl Future<Output = ()>,
) -> io::Result<()> {
    let server = Arc::new(Shared {
        registry: Mutex::new(Registry::default()),
        tally: Tally::default(),
        answer_slots: Arc::new(Semaphore::new(ANSWER_SLOTS)),
        limits,
        fd_ceiling: AtomicUsize::new(usize::MAX),
        closed: Notify::new(),
    });
    let mut tasks = JoinSet::new();
    let mut report = tokio::time::interval(Duration::from_secs(1));
    report.set_missed_tick_behavior(MissedTickBehavior::Skip);
    let mut backoff = BACKOFF_MIN;
    tokio::pin!(shutdown);
    loop {
        tokio::select! {
            biased;
            () = &mut shutdown => break,
            Some(_) = tasks.join_next(), if !tasks.is_empty() => {}
            _ = report.tick() => server.report(),
            accepted = listener.accept() => match accepted {
                Ok((stream, peer)) => {
                    backoff = BACKOFF_MIN;
                    admit(&server, &mut tasks, &app, stream, peer).await;
                }
                Err(e) if client_gave_up(&e) => {}
                Err(e) => {
                    bump(&server.tally.accept_errors);
                    *server.tally.last_accept_error.lock().unwrap_or_else(|p| p.into_inner()) =
                        Some(e.to_string());
                    if exhausted(&e) {
                        server.out_of_descriptors(server.open());
                        if server.shed_oldest_idle() {
                            bump(&server.tally.shed);
                        }
                    }
                    tokio::select! {
                        () = &mut shutdown => break,
                        () = tokio::time::sleep(backoff) => {}
                    }
                    backoff = (backoff * 2).min(BACKOFF_MAX);
                }
            },
        }
    }
    drop(listener);
    server.stop_all();
    while tasks.join_next().await.is_some() {}
    server.report();
    Ok(())
}

/// Take a new connection in: within the cap, or shedding idle connections to make room, or
/// refused with 503 when none is idle. While [`SHED_SLACK`] shed connections are still
/// closing, accepting waits for them (the listen backlog holds newcomers meanwhile).
async fn admit(
    server: &Arc<Shared>,
    tasks: &mut JoinSet<()>,
    app: &Router,
    stream: TcpStream,
    peer: SocketAddr,
) {
    let give_up = Instant::now() + SLACK_WAIT;
    loop {
        let cap = server.cap();
        let (open, stopping) = {
            let r = server.registry();
            (r.conns.len(), r.stopping)
        };
        // Sheds needed to take the newcomer within the cap: one at the cap, more when the
        // cap was lowered below the connections open.
        let need = (open.saturating_sub(stopping) + 1).saturating_sub(cap);
        if need == 0 {
            break;
        }
        if stopping < SHED_SLACK {
            let mut shed = 0;
            while shed < need.min(SHED_PER_ACCEPT)
                && stopping + shed < SHED_SLACK
                && server.shed_oldest_idle()
            {
                bump(&server.tally.shed);
                shed += 1;
            }
            if shed > 0 {
                break;
            }
            // Every connection has a request in progress.
            if server.answer_and_close(stream, &at_capacity(), &request_id()) {
                bump(&server.tally.refused);
            }
            return;
        }
        if tokio::time::timeout_at(give_up, server.closed.notified())
            .await
            .is_err()
        {
            if server.answer_and_close(stream, &at_capacity(), &request_id()) {
                bump(&server.tally.refused);
            }
            return;
        }
    }
    let conn = Arc::new(ConnShared::new());
    let registered = server.register(Arc::clone(&conn));
    tasks.spawn(run_connection(
        stream,
        peer,
        app.clone(),
        Arc::clone(server),
        conn,
        registered,
    ));
}

#[cfg(test)]
mod tests {
    use super::*;

    fn scan(chunks: &[&[u8]]) -> Result<(), HeadProblem> {
        let mut s = HeadScan::default();
        for c in chunks {
            s.feed(c)?;
        }
        Ok(())
    }

    #[test]
    fn a_normal_head_passes_and_the_body_is_not_scanned() {
        let head = b"GET /v1/me HTTP/1.1\r\nhost: a\r\nx-api-key: k\r\n\r\n\0\0\0";
        assert_eq!(scan(&[head]), Ok(()));
        // Split anywhere, including inside the final CRLF CRLF.
        for i in 0..head.len() {
            assert_eq!(scan(&[&head[..i], &head[i..]]), Ok(()), "split at {i}");
        }
    }

    #[test]
    fn control_characters_in_the_head_are_refused() {
        assert_eq!(
            scan(&[b"GET / HTTP/1.1\r\nx-a: a\0b\r\n\r\n"]),
            Err(HeadProblem::ControlCharacter)
        );
        assert_eq!(
            scan(&[b"GET / HTTP/1.1\r\nx-a: a\x7f\r\n"]),
            Err(HeadProblem::ControlCharacter)
        );
        assert_eq!(scan(&[b"GET / HTTP/1.1\r\nx-a: a\tb\r\n\r\n"]), Ok(()));
    }

    #[test]
    fn header_count_and_size_limits() {
        let mut head = b"GET / HTTP/1.1\r\n".to_vec();
        for i in 0..MAX_HEADERS {
            head.extend_from_slice(format!("x-{i}: v\r\n").as_bytes());
        }
        let mut ok = head.clone();
        ok.extend_from_slice(b"\r\n");
        assert_eq!(scan(&[&ok]), Ok(()));
        head.extend_from_slice(b"x-last: v\r\n\r\n");
        assert_eq!(scan(&[&head]), Err(HeadProblem::TooManyHeaders));

        let big = format!(
            "GET / HTTP/1.1\r\nx-a: {}\r\n\r\n",
            "a".repeat(MAX_HEAD_BYTES)
        );
        assert_eq!(scan(&[big.as_bytes()]), Err(HeadProblem::TooLarge));
        let long = format!("GET /{} HTTP/1.1\r\n\r\n", "a".repeat(MAX_HEAD_BYTES));
        assert_eq!(
            scan(&[long.as_bytes()]),
            Err(HeadProblem::RequestLineTooLong)
        );
        // Leading empty lines are skipped, not taken for the end of the head.
        assert_eq!(
            scan(&[b"\r\n\r\nGET / HTTP/1.1\r\nx: \0\r\n"]),
            Err(HeadProblem::ControlCharacter)
        );
    }

    #[test]
    fn default_cap_keeps_a_reserve() {
        assert_eq!(default_max_connections(Some(1024)), 896);
        assert_eq!(default_max_connections(Some(20_000)), 18_000);
        assert_eq!(default_max_connections(Some(100)), 50);
        assert_eq!(default_max_connections(Some(10_000_000)), 65_536);
        assert_eq!(default_max_connections(None), 65_536);
        assert!(cap_fits(896, Some(1024)));
        assert!(!cap_fits(1000, Some(1024)));
    }

    #[test]
    fn raw_answers_carry_the_error_body_and_request_id() {
        let text = String::from_utf8(raw_response(&at_capacity(), "req_x")).expect("utf-8");
        let (head, body) = text.split_once("\r\n\r\n").expect("head and body");
        let head = format!("{head}\r\n");
        assert!(
            head.starts_with("HTTP/1.1 503 Service Unavailable\r\n"),
            "{head}"
        );
        assert!(head.contains("\r\nx-request-id: req_x\r\n"), "{head}");
        assert!(head.contains("\r\nretry-after: 1\r\n"), "{head}");
        assert!(head.contains(&format!("\r\ncontent-length: {}\r\n", body.len())));
        let v: serde_json::Value = serde_json::from_str(body).expect("json");
        assert_eq!(v["error"]["code"], "unavailable");
        assert_eq!(v["error"]["request_id"], "req_x");
    }

    #[test]
    fn whole_lines_scan_as_byte_by_byte_does() {
        let mut seed: u64 = 0x9E37_79B9_7F4A_7C15;
        let mut next = move || {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            seed
        };
        const PIECES: &[&[u8]] = &[
            b"GET / HTTP/1.1",
            b"\r\n",
            b"\n",
            b"\r",
            b"host: a",
            b"x: v",
            b"\t",
            b"\0",
            b"\x7f",
            b"\x1f",
            b" ",
            b"\xc3\xa9",
            b"body",
        ];
        for round in 0..3_000 {
            let mut head = Vec::new();
            let big = next() % 10 == 0;
            while head.len() < if big { MAX_HEAD_BYTES + 64 } else { 400 } {
                let piece = PIECES[(next() % PIECES.len() as u64) as usize];
                if big && next() % 4 == 0 {
                    head.extend(std::iter::repeat_n(b'a', 4096));
                }
                head.extend_from_slice(piece);
                if next() % 3 == 0 {
                    head.extend_from_slice(b"\r\n");
                }
            }
            let mut reference = HeadScan::default();
            let want = head.iter().try_for_each(|&b| reference.step(b));
            let mut fast = HeadScan::default();
            let mut got = Ok(());
            let mut at = 0;
            while at < head.len() && got.is_ok() {
                let n = 1 + (next() % 700) as usize;
                let end = (at + n).min(head.len());
                got = fast.feed(&head[at..end]);
                at = end;
            }
            assert_eq!(got, want, "round {round}");
            if want.is_ok() {
                assert_eq!(
                    (fast.bytes, fast.lines, fast.done),
                    (reference.bytes, reference.lines, reference.done),
                    "round {round}"
                );
            }
        }
    }
}
