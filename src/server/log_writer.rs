//! The log writer of `serve`: log lines go into a bounded queue and one dedicated thread
//! writes them out, many lines per `write` call, so a request never waits for the log file
//! (or for another request holding the stderr lock).
//!
//! **Bounds.** At most [`QUEUE_LINES`] lines wait. When the queue is full, an `INFO` (or
//! `DEBUG`/`TRACE`) line is dropped and counted; a `WARN` or `ERROR` line is never dropped:
//! its request waits for room (the writer thread never waits on anything but its own
//! `write`). The writer reports dropped lines in one `WARN` line of its own once it can.
//!
//! **Faults.** A write that fails (a full disk, a closed pipe) loses the lines of that
//! write and nothing else: the thread keeps draining the queue, so logging never blocks the
//! server and never grows without bound; once a write succeeds again, one line says how many
//! lines could not be written. [`LogFlush`], held by `main`, writes what is queued before
//! the process exits (waiting at most [`FLUSH_WAIT`]).

use std::io::{self, Write};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc::{Receiver, SyncSender, TrySendError, sync_channel};
use std::time::{Duration, Instant};

use std::fmt;

use tracing::field::{Field, Visit};
use tracing::{Event, Level, Metadata, Subscriber};
use tracing_subscriber::fmt::format::Writer;
use tracing_subscriber::fmt::{FmtContext, FormatEvent, FormatFields, FormattedFields, MakeWriter};
use tracing_subscriber::registry::LookupSpan;

/// Lines that may wait for the writer thread.
pub const QUEUE_LINES: usize = 16_384;
/// Longest the final flush waits for the writer thread.
pub const FLUSH_WAIT: Duration = Duration::from_secs(2);
/// How long the writer lets lines gather between two batches while lines keep coming.
const GATHER: Duration = Duration::from_millis(2);
/// Bytes gathered into one `write` call at most.
const BATCH_BYTES: usize = 64 * 1024;

enum Msg {
    Line(Vec<u8>),
    Flush(SyncSender<()>),
}

struct Shared {
    tx: SyncSender<Msg>,
    /// Lines dropped because the queue was full, not yet reported.
    dropped: AtomicU64,
}

/// A [`MakeWriter`] for `tracing_subscriber::fmt` that hands each line to the writer thread.
/// Cheap to clone.
#[derive(Clone)]
pub struct LogQueue(Arc<Shared>);

/// Held until the process exits: dropping it writes what is queued (see [`FLUSH_WAIT`]).
pub struct LogFlush(Arc<Shared>);

impl std::fmt::Debug for LogQueue {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("LogQueue")
    }
}

impl std::fmt::Debug for LogFlush {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("LogFlush")
    }
}

impl LogQueue {
    /// Start the writer thread on `sink` with a queue of `lines` lines. If the thread cannot
    /// be started, `None` (the caller then writes directly).
    pub fn start<W: Write + Send + 'static>(sink: W, lines: usize) -> Option<(LogQueue, LogFlush)> {
        let (tx, rx) = sync_channel(lines.max(1));
        let shared = Arc::new(Shared {
            tx,
            dropped: AtomicU64::new(0),
        });
        let for_thread = Arc::clone(&shared);
        std::thread::Builder::new()
            .name("log-writer".into())
            .spawn(move || write_loop(sink, &rx, &for_thread.dropped))
            .ok()?;
        Some((LogQueue(Arc::clone(&shared)), LogFlush(shared)))
    }

    /// Lines dropped since the writer last reported them.
    pub fn dropped(&self) -> u64 {
        self.0.dropped.load(Ordering::Relaxed)
    }
}

impl LogFlush {
    /// Write what is queued now; false if the writer did not answer within `wait`.
    pub fn flush(&self, wait: Duration) -> bool {
        let deadline = Instant::now() + wait;
        let (ack_tx, ack_rx) = sync_channel(1);
        let mut msg = Msg::Flush(ack_tx);
        loop {
            match self.0.tx.try_send(msg) {
                Ok(()) => break,
                Err(TrySendError::Full(m)) if Instant::now() < deadline => {
                    msg = m;
                    std::thread::sleep(Duration::from_millis(1));
                }
                Err(_) => return false,
            }
        }
        ack_rx
            .recv_timeout(deadline.saturating_duration_since(Instant::now()))
            .is_ok()
    }
}

impl Drop for LogFlush {
    fn drop(&mut self) {
        self.flush(FLUSH_WAIT);
    }
}

fn write_loop<W: Write>(mut sink: W, rx: &Receiver<Msg>, dropped: &AtomicU64) {
    let mut batch: Vec<u8> = Vec::with_capacity(BATCH_BYTES);
    let mut acks: Vec<SyncSender<()>> = Vec::new();
    // Lines lost to failed writes, not yet reported.
    let mut unwritten: u64 = 0;
    while let Ok(first) = rx.recv() {
        let mut lines: u64 = 0;
        let mut take = |m: Msg, batch: &mut Vec<u8>| match m {
            Msg::Line(l) => {
                batch.extend_from_slice(&l);
                lines += 1;
            }
            Msg::Flush(ack) => acks.push(ack),
        };
        take(first, &mut batch);
        while batch.len() < BATCH_BYTES {
            match rx.try_recv() {
                Ok(m) => take(m, &mut batch),
                Err(_) => break,
            }
        }
        let lost = dropped.swap(0, Ordering::Relaxed);
        if lost > 0 {
            notice(
                &mut batch,
                &format!("{lost} log lines dropped: the log writer could not keep up"),
            );
        }
        if !batch.is_empty() {
            if unwritten > 0 {
                let mut head = Vec::new();
                notice(
                    &mut head,
                    &format!(
                        "{unwritten} log lines could not be written (the log output refused them)"
                    ),
                );
                if sink.write_all(&head).is_ok() {
                    unwritten = 0;
                }
            }
            if sink.write_all(&batch).and_then(|()| sink.flush()).is_err() {
                unwritten = unwritten.saturating_add(lines);
            }
            batch.clear();
            if batch.capacity() > 4 * BATCH_BYTES {
                batch.shrink_to(BATCH_BYTES);
            }
        }
        let flushed = !acks.is_empty();
        for ack in acks.drain(..) {
            let _ = ack.try_send(());
        }
        // Busy (lines came in while this batch was gathered): let the next ones gather for
        // a moment. A thread blocked in `recv` is woken by every line sent (a futex call on
        // the request's thread); a sleeping one is not, and the queue holds
        // `QUEUE_LINES` lines, far more than a millisecond brings.
        if lines > 1 && !flushed {
            std::thread::sleep(GATHER);
        }
    }
}

/// One line in the shape of the others: time, level, message.
fn notice(out: &mut Vec<u8>, message: &str) {
    let now = chrono::Utc::now().format("%Y-%m-%dT%H:%M:%S%.6fZ");
    let _ = writeln!(out, "{now}  WARN {message}");
}

/// One line on its way to the queue: `tracing_subscriber::fmt` writes a whole formatted
/// line, then drops the writer, which sends it.
pub struct QueuedLine<'a> {
    queue: &'a Shared,
    /// A warning or error: wait for room rather than drop it.
    keep: bool,
    buf: Vec<u8>,
}

impl Write for QueuedLine<'_> {
    fn write(&mut self, b: &[u8]) -> io::Result<usize> {
        if self.buf.is_empty() {
            self.buf.reserve_exact(b.len());
        }
        self.buf.extend_from_slice(b);
        Ok(b.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

impl Drop for QueuedLine<'_> {
    fn drop(&mut self) {
        if self.buf.is_empty() {
            return;
        }
        let line = Msg::Line(std::mem::take(&mut self.buf));
        if self.keep {
            let _ = self.queue.tx.send(line);
        } else if let Err(TrySendError::Full(_)) = self.queue.tx.try_send(line) {
            self.queue.dropped.fetch_add(1, Ordering::Relaxed);
        }
    }
}

impl<'a> MakeWriter<'a> for LogQueue {
    type Writer = QueuedLine<'a>;

    fn make_writer(&'a self) -> QueuedLine<'a> {
        QueuedLine {
            queue: &self.0,
            keep: true,
            buf: Vec::new(),
        }
    }

    fn make_writer_for(&'a self, meta: &Metadata<'_>) -> QueuedLine<'a> {
        QueuedLine {
            queue: &self.0,
            keep: *meta.level() <= Level::WARN,
            buf: Vec::new(),
        }
    }
}

// ---------------------------------------------------------------------------------------------
// The line format

/// `serve`'s log lines, in the shape of `tracing_subscriber::fmt`'s default (`Full`, no
/// target): `2026-12-03T13:44:05.086885Z  INFO message a=1 b="text"`, each span of the
/// scope as `name{fields}: ` before the fields. Written straight into the line: the date
/// and time to the second once a second per thread, numbers without `fmt`, and no styling
/// unless stderr is a terminal. The generic format was a quarter of the work of a
/// `/healthz` request in a profile, most of it in painting and padding field names.
#[derive(Debug, Clone, Copy)]
pub struct LineFormat {
    /// Colour the level (stderr is a terminal and `NO_COLOR` is unset).
    pub ansi: bool,
}

impl<S, N> FormatEvent<S, N> for LineFormat
where
    S: Subscriber + for<'a> LookupSpan<'a>,
    N: for<'a> FormatFields<'a> + 'static,
{
    fn format_event(
        &self,
        ctx: &FmtContext<'_, S, N>,
        mut writer: Writer<'_>,
        event: &Event<'_>,
    ) -> fmt::Result {
        let mut time = [0u8; 27];
        writer.write_str(now_text(&mut time))?;
        let level = *event.metadata().level();
        let name = match level {
            Level::TRACE => "TRACE",
            Level::DEBUG => "DEBUG",
            Level::INFO => " INFO",
            Level::WARN => " WARN",
            Level::ERROR => "ERROR",
        };
        if self.ansi {
            let colour = match level {
                Level::TRACE => "35",
                Level::DEBUG => "34",
                Level::INFO => "32",
                Level::WARN => "33",
                Level::ERROR => "31",
            };
            write!(writer, " \x1b[{colour}m{name}\x1b[0m ")?;
        } else {
            writer.write_char(' ')?;
            writer.write_str(name)?;
            writer.write_char(' ')?;
        }
        if let Some(scope) = ctx.event_scope() {
            for span in scope.from_root() {
                writer.write_str(span.name())?;
                let ext = span.extensions();
                if let Some(fields) = ext.get::<FormattedFields<N>>()
                    && !fields.is_empty()
                {
                    write!(writer, "{{{fields}}}")?;
                }
                writer.write_str(": ")?;
            }
        }
        let mut visit = LineFields {
            writer: &mut writer,
            first: true,
            result: Ok(()),
        };
        event.record(&mut visit);
        visit.result?;
        writer.write_char('\n')
    }
}

/// Now as `YYYY-MM-DDTHH:MM:SS.ffffffZ` (UTC, microseconds), into `buf`.
fn now_text(buf: &mut [u8; 27]) -> &str {
    use std::cell::Cell;
    thread_local! {
        /// The second last written by this thread, and its text up to the seconds.
        static SECOND: Cell<(i64, [u8; 19])> = const { Cell::new((i64::MIN, [0; 19])) };
    }
    let now = chrono::Utc::now();
    let secs = now.timestamp();
    let head = SECOND.with(|cell| {
        let (at, text) = cell.get();
        if at == secs {
            return text;
        }
        let mut text = [0u8; 19];
        let formatted = now.format("%Y-%m-%dT%H:%M:%S").to_string();
        let n = formatted.len().min(19);
        text[..n].copy_from_slice(&formatted.as_bytes()[..n]);
        cell.set((secs, text));
        text
    });
    buf[..19].copy_from_slice(&head);
    buf[19] = b'.';
    let mut micros = now.timestamp_subsec_micros().min(999_999);
    for b in buf[20..26].iter_mut().rev() {
        *b = b'0' + (micros % 10) as u8;
        micros /= 10;
    }
    buf[26] = b'Z';
    std::str::from_utf8(buf).unwrap_or("")
}

/// The fields of an event: the message as it is, the others as `name=value` (strings
/// quoted, as `fmt`'s default does), separated by spaces.
struct LineFields<'a, 'w> {
    writer: &'a mut Writer<'w>,
    first: bool,
    result: fmt::Result,
}

impl LineFields<'_, '_> {
    /// The separator and `name=`, or false for a field that is not written.
    fn name(&mut self, field: &Field) -> bool {
        if self.result.is_err() {
            return false;
        }
        let name = field.name();
        if name.starts_with("log.") {
            return false;
        }
        if !std::mem::take(&mut self.first) {
            self.result = self.writer.write_char(' ');
        }
        if name != "message" {
            let name = name.strip_prefix("r#").unwrap_or(name);
            self.result = self
                .result
                .and_then(|()| self.writer.write_str(name))
                .and_then(|()| self.writer.write_char('='));
        }
        self.result.is_ok()
    }
}

impl Visit for LineFields<'_, '_> {
    fn record_str(&mut self, field: &Field, value: &str) {
        if self.name(field) {
            self.result = if field.name() == "message" {
                self.writer.write_str(value)
            } else {
                write!(self.writer, "{value:?}")
            };
        }
    }

    fn record_u64(&mut self, field: &Field, value: u64) {
        if self.name(field) {
            self.result = self.writer.write_str(itoa::Buffer::new().format(value));
        }
    }

    fn record_i64(&mut self, field: &Field, value: i64) {
        if self.name(field) {
            self.result = self.writer.write_str(itoa::Buffer::new().format(value));
        }
    }

    fn record_bool(&mut self, field: &Field, value: bool) {
        if self.name(field) {
            self.result = self.writer.write_str(if value { "true" } else { "false" });
        }
    }

    fn record_error(&mut self, field: &Field, value: &(dyn std::error::Error + 'static)) {
        if self.name(field) {
            self.result = write!(self.writer, "{value}");
            let mut source = value.source();
            while let Some(s) = source {
                if self.result.is_err() {
                    break;
                }
                self.result = write!(self.writer, ": {s}");
                source = s.source();
            }
        }
    }

    fn record_debug(&mut self, field: &Field, value: &dyn fmt::Debug) {
        if self.name(field) {
            self.result = write!(self.writer, "{value:?}");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Mutex;
    use std::sync::mpsc::channel;

    /// A sink that records what it was given, or refuses while `full` is set.
    #[derive(Clone, Default)]
    struct Sink {
        got: Arc<Mutex<Vec<u8>>>,
        full: Arc<std::sync::atomic::AtomicBool>,
    }

    impl Write for Sink {
        fn write(&mut self, b: &[u8]) -> io::Result<usize> {
            if self.full.load(Ordering::SeqCst) {
                return Err(io::Error::from_raw_os_error(28)); // ENOSPC
            }
            self.got.lock().expect("lock").extend_from_slice(b);
            Ok(b.len())
        }
        fn flush(&mut self) -> io::Result<()> {
            Ok(())
        }
    }

    fn line(q: &LogQueue, keep: bool, text: &str) {
        let mut w = QueuedLine {
            queue: &q.0,
            keep,
            buf: Vec::new(),
        };
        let _ = w.write_all(text.as_bytes());
    }

    fn text(s: &Sink) -> String {
        String::from_utf8_lossy(&s.got.lock().expect("lock")).into_owned()
    }

    #[test]
    fn lines_are_written_in_order_and_flushed() {
        let sink = Sink::default();
        let (q, flush) = LogQueue::start(sink.clone(), 64).expect("thread");
        for i in 0..50 {
            line(&q, false, &format!("line {i}\n"));
        }
        assert!(flush.flush(FLUSH_WAIT));
        let want: String = (0..50).map(|i| format!("line {i}\n")).collect();
        assert_eq!(text(&sink), want);
    }

    #[test]
    fn a_full_disk_neither_blocks_nor_grows_and_is_reported_once_space_is_back() {
        let sink = Sink::default();
        sink.full.store(true, Ordering::SeqCst);
        let (q, flush) = LogQueue::start(sink.clone(), 8).expect("thread");
        // Far more lines than the queue holds, warnings too: all return (no hang).
        let (done_tx, done_rx) = channel();
        let q2 = q.clone();
        std::thread::spawn(move || {
            for i in 0..10_000 {
                line(&q2, i % 10 == 0, &format!("lost {i}\n"));
            }
            let _ = done_tx.send(());
        });
        assert!(done_rx.recv_timeout(Duration::from_secs(30)).is_ok());
        assert!(flush.flush(FLUSH_WAIT));
        assert!(text(&sink).is_empty());
        sink.full.store(false, Ordering::SeqCst);
        line(&q, false, "after\n");
        assert!(flush.flush(FLUSH_WAIT));
        let out = text(&sink);
        assert!(out.contains("log lines could not be written"), "{out}");
        assert!(out.ends_with("after\n"), "{out}");
        assert!(!out.contains("lost "), "{out}");
    }

    #[test]
    fn info_lines_are_dropped_and_counted_when_full_warnings_are_kept() {
        /// A sink that waits for a go-ahead before its first write.
        struct Gate(Receiver<()>, Sink);
        impl Write for Gate {
            fn write(&mut self, b: &[u8]) -> io::Result<usize> {
                let _ = self.0.recv_timeout(Duration::from_secs(10));
                self.1.write(b)
            }
            fn flush(&mut self) -> io::Result<()> {
                Ok(())
            }
        }
        let sink = Sink::default();
        let (go_tx, go_rx) = channel();
        let (q, flush) = LogQueue::start(Gate(go_rx, sink.clone()), 4).expect("thread");
        // The writer takes the first line and waits in its write; 4 more fill the queue.
        line(&q, false, "first\n");
        std::thread::sleep(Duration::from_millis(50));
        for i in 0..20 {
            line(&q, false, &format!("info {i}\n"));
        }
        assert!(q.dropped() >= 16, "{}", q.dropped());
        // A warning waits for room instead.
        let q2 = q.clone();
        let warn = std::thread::spawn(move || line(&q2, true, "warning kept\n"));
        for _ in 0..100 {
            let _ = go_tx.send(());
        }
        warn.join().expect("warning thread");
        assert!(flush.flush(FLUSH_WAIT));
        let out = text(&sink);
        assert!(out.contains("warning kept"), "{out}");
        assert!(out.contains("log lines dropped"), "{out}");
    }

    /// Lines written by `tracing_subscriber::fmt` with `format`, time cut off.
    fn formatted<F>(format: F) -> Vec<String>
    where
        F: FormatEvent<
                tracing_subscriber::Registry,
                tracing_subscriber::fmt::format::DefaultFields,
            > + Send
            + Sync
            + 'static,
    {
        let sink = Sink::default();
        let got = Arc::clone(&sink.got);
        let subscriber = tracing_subscriber::fmt()
            .with_ansi(false)
            .with_max_level(Level::TRACE)
            .event_format(format)
            .with_writer(move || sink.clone())
            .finish();
        tracing::subscriber::with_default(subscriber, || {
            let id = "req_abc";
            tracing::info!(request_id = %id, client = %"127.0.0.1", status = 200u16, ms = 0u64, "request");
            tracing::warn!(error = "disk \"full\"", n = -3i64, ok = true, list = ?[1, 2], "usage flush failed; keeping the batch");
            let span = tracing::info_span!("flush", org = "org_1", n = 2);
            let _in = span.enter();
            tracing::error!(r#type = "x", "in a span: {}", 42);
            tracing::debug!("no fields");
        });
        let text = String::from_utf8(got.lock().expect("lock").clone()).expect("utf-8");
        text.lines()
            .map(|l| {
                let (time, rest) = l.split_at(27);
                assert!(time.ends_with('Z') && time.as_bytes()[19] == b'.', "{l}");
                rest.to_owned()
            })
            .collect()
    }

    #[test]
    fn lines_read_as_the_default_format_does() {
        let ours = formatted(LineFormat { ansi: false });
        let default = formatted(tracing_subscriber::fmt::format().with_target(false));
        assert_eq!(ours.len(), 4, "{ours:?}");
        assert_eq!(ours, default);
        assert_eq!(
            ours.first().map(String::as_str),
            Some("  INFO request request_id=req_abc client=127.0.0.1 status=200 ms=0")
        );
    }

    #[test]
    fn the_time_is_utc_to_the_microsecond() {
        let before = chrono::Utc::now();
        let mut buf = [0u8; 27];
        let text = now_text(&mut buf).to_owned();
        let after = chrono::Utc::now();
        let t = chrono::DateTime::parse_from_rfc3339(&text).expect("RFC 3339");
        let floor = |d: chrono::DateTime<chrono::Utc>| d.timestamp_micros();
        assert!(floor(before) <= t.timestamp_micros() && t.timestamp_micros() <= floor(after));
        // The cached second is right on the next call too.
        let again = now_text(&mut buf).to_owned();
        assert!(again >= text, "{again} {text}");
    }
}
