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

use tracing::{Level, Metadata};
use tracing_subscriber::fmt::MakeWriter;

/// Lines that may wait for the writer thread.
pub const QUEUE_LINES: usize = 16_384;
/// Longest the final flush waits for the writer thread.
pub const FLUSH_WAIT: Duration = Duration::from_secs(2);
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
        for ack in acks.drain(..) {
            let _ = ack.try_send(());
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
}
