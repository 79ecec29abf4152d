//! Where log lines go: standard error, in batches.
//!
//! The access log writes a line per request, tens of thousands a second. A
//! request's task formats its line and appends it to a shared buffer under a
//! mutex held for the copy; it wakes nobody. The buffer is written to
//! standard error in one call when it is full, by whichever task filled it,
//! or by a flusher thread every [`FLUSH_INTERVAL`], so an access line
//! appears at most that late. Every other line (startup, warnings, errors)
//! is written at once, with the access lines before it, so the order of
//! lines is the order of their events. Memory stays at about one buffer.

use std::io::{self, Write};
use std::sync::mpsc;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::thread::JoinHandle;
use std::time::Duration;

use tracing::Metadata;
use tracing_subscriber::fmt::MakeWriter;

/// Bytes of lines kept before they are written out.
const BUFFER_BYTES: usize = 64 << 10;

/// How long an access line may wait in the buffer.
const FLUSH_INTERVAL: Duration = Duration::from_millis(50);

/// The target of the lines that may wait: the access log's.
const BATCHED_TARGET: &str = "access";

/// The lines not yet written out, and where they go.
struct Lines {
    buffered: Vec<u8>,
    out: Box<dyn Write + Send>,
}

impl Lines {
    fn write_out(&mut self) {
        if self.buffered.is_empty() {
            return;
        }
        // Nothing can be told of a standard error that fails to take lines.
        let _ = self.out.write_all(&self.buffered);
        self.buffered.clear();
    }
}

struct Pending(Mutex<Lines>);

impl Pending {
    fn new(out: Box<dyn Write + Send>) -> Pending {
        Pending(Mutex::new(Lines {
            buffered: Vec::with_capacity(BUFFER_BYTES),
            out,
        }))
    }

    fn lock(&self) -> MutexGuard<'_, Lines> {
        // A panic while appending leaves at worst a cut line: keep logging.
        self.0.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn flush(&self) {
        self.lock().write_out();
    }
}

/// What the subscriber writes its lines to.
pub(crate) struct LogSink(Arc<Pending>);

/// One event's line on its way into the buffer.
pub(crate) struct LineWriter<'a> {
    pending: &'a Pending,
    at_once: bool,
}

impl Write for LineWriter<'_> {
    fn write(&mut self, line: &[u8]) -> io::Result<usize> {
        let mut lines = self.pending.lock();
        lines.buffered.extend_from_slice(line);
        if lines.buffered.len() >= BUFFER_BYTES {
            lines.write_out();
        }
        Ok(line.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

impl Drop for LineWriter<'_> {
    fn drop(&mut self) {
        if self.at_once {
            self.pending.flush();
        }
    }
}

impl<'a> MakeWriter<'a> for LogSink {
    type Writer = LineWriter<'a>;

    fn make_writer(&'a self) -> LineWriter<'a> {
        LineWriter {
            pending: &self.0,
            at_once: true,
        }
    }

    fn make_writer_for(&'a self, meta: &Metadata<'_>) -> LineWriter<'a> {
        LineWriter {
            pending: &self.0,
            at_once: meta.target() != BATCHED_TARGET,
        }
    }
}

/// Keeps the flusher running; dropped at the end of the command, it writes
/// out what is still buffered.
pub(crate) struct LogFlusher {
    stop: Option<mpsc::Sender<()>>,
    thread: Option<JoinHandle<()>>,
    pending: Arc<Pending>,
}

impl Drop for LogFlusher {
    fn drop(&mut self) {
        // Dropping the sender wakes the thread, which ends; what is still
        // buffered is written out below.
        self.stop.take();
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
        self.pending.flush();
    }
}

/// A sink to standard error for the subscriber, and the flusher that must
/// live as long as it.
pub(crate) fn sink() -> (LogSink, LogFlusher) {
    sink_to(Box::new(io::stderr()))
}

fn sink_to(out: Box<dyn Write + Send>) -> (LogSink, LogFlusher) {
    let pending = Arc::new(Pending::new(out));
    let (stop, stopped) = mpsc::channel::<()>();
    let flushed = Arc::clone(&pending);
    let thread = std::thread::Builder::new()
        .name("log-flusher".into())
        .spawn(move || {
            while let Err(mpsc::RecvTimeoutError::Timeout) = stopped.recv_timeout(FLUSH_INTERVAL) {
                flushed.flush();
            }
        })
        .ok();
    let flusher = LogFlusher {
        stop: Some(stop),
        thread,
        pending: Arc::clone(&pending),
    };
    (LogSink(pending), flusher)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// What a sink wrote out.
    #[derive(Clone, Default)]
    struct Written(Arc<Mutex<Vec<u8>>>);

    impl Write for Written {
        fn write(&mut self, bytes: &[u8]) -> io::Result<usize> {
            self.0.lock().unwrap().extend_from_slice(bytes);
            Ok(bytes.len())
        }

        fn flush(&mut self) -> io::Result<()> {
            Ok(())
        }
    }

    impl Written {
        fn bytes(&self) -> Vec<u8> {
            self.0.lock().unwrap().clone()
        }
    }

    /// A sink without a flusher, so only writes move lines out of it.
    fn unflushed() -> (LogSink, Written) {
        let written = Written::default();
        (LogSink(Arc::new(Pending::new(Box::new(written.clone())))), written)
    }

    fn write_line(sink: &LogSink, at_once: bool, line: &[u8]) {
        let mut writer = sink.make_writer();
        writer.at_once = at_once;
        writer.write_all(line).unwrap();
    }

    #[test]
    fn batched_lines_wait_until_a_line_that_cannot_wait() {
        let (sink, written) = unflushed();
        write_line(&sink, false, b"access one\n");
        write_line(&sink, false, b"access two\n");
        assert!(written.bytes().is_empty());
        write_line(&sink, true, b"warning\n");
        assert_eq!(written.bytes(), b"access one\naccess two\nwarning\n");
    }

    #[test]
    fn a_full_buffer_is_written_out_by_the_line_that_fills_it() {
        let (sink, written) = unflushed();
        let line = [b'x'; 1000];
        for _ in 0..BUFFER_BYTES / line.len() {
            write_line(&sink, false, &line);
        }
        assert!(written.bytes().is_empty());
        write_line(&sink, false, &line);
        assert_eq!(written.bytes().len(), (BUFFER_BYTES / line.len() + 1) * line.len());
    }

    #[test]
    fn the_flusher_writes_out_waiting_lines_when_dropped() {
        let written = Written::default();
        let (sink, flusher) = sink_to(Box::new(written.clone()));
        write_line(&sink, false, b"access\n");
        drop(flusher);
        assert_eq!(written.bytes(), b"access\n");
    }
}
