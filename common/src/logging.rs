//! Logging set-up for the daemons and the CLI: `tracing` to stderr, level from
//! `RUST_LOG` when set, otherwise from the `log.level` configuration key. The
//! process also keeps the tail of its log and of its stdout in memory ([`LogTail`]),
//! which the REST API serves as Flink serves a process's `.log` and `.out` files.

use std::collections::VecDeque;
use std::io::IsTerminal;
use std::sync::OnceLock;

use parking_lot::Mutex;
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::util::SubscriberInitExt;
use tracing_subscriber::EnvFilter;

/// How much of its log and of its stdout a process keeps for the REST API.
pub const TAIL_BYTES: usize = 1 << 20;

/// The last [`TAIL_BYTES`] written to a stream, and how many were ever written.
#[derive(Default)]
pub struct LogTail {
    inner: Mutex<(VecDeque<u8>, u64)>,
}

impl LogTail {
    pub fn append(&self, bytes: &[u8]) {
        let mut inner = self.inner.lock();
        let (buffer, total) = &mut *inner;
        *total += bytes.len() as u64;
        let bytes = &bytes[bytes.len().saturating_sub(TAIL_BYTES)..];
        let overflow = (buffer.len() + bytes.len()).saturating_sub(TAIL_BYTES);
        buffer.drain(..overflow);
        buffer.extend(bytes);
    }

    /// The last `max` bytes (starting at a line when the tail was cut) and the total.
    pub fn tail(&self, max: usize) -> (Vec<u8>, u64) {
        let inner = self.inner.lock();
        let (buffer, total) = &*inner;
        let skip = buffer.len().saturating_sub(max);
        let mut bytes: Vec<u8> = buffer.range(skip..).copied().collect();
        if skip > 0 || (*total as usize) > buffer.len() {
            if let Some(newline) = bytes.iter().position(|b| *b == b'\n') {
                bytes.drain(..=newline);
            }
        }
        (bytes, *total)
    }
}

/// This process's log (what it wrote to stderr through `tracing`).
pub fn log_tail() -> &'static LogTail {
    static LOG: OnceLock<LogTail> = OnceLock::new();
    LOG.get_or_init(LogTail::default)
}

/// This process's stdout as Flink's `.out` file: what its print sinks printed.
pub fn stdout_tail() -> &'static LogTail {
    static OUT: OnceLock<LogTail> = OnceLock::new();
    OUT.get_or_init(LogTail::default)
}

struct TailWriter;

impl std::io::Write for TailWriter {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        log_tail().append(buf);
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// Installs the global subscriber. `default_level` is used when `RUST_LOG` is unset.
/// Calling it twice (tests running daemons in-process) is harmless.
pub fn init(default_level: &str) {
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new(default_level));
    let stderr =
        tracing_subscriber::fmt::layer().with_writer(std::io::stderr).with_ansi(std::io::stderr().is_terminal()).with_target(false);
    let tail = tracing_subscriber::fmt::layer().with_writer(|| TailWriter).with_ansi(false).with_target(false);
    let _ = tracing_subscriber::registry().with(filter).with(stderr).with(tail).try_init();
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keeps_the_last_bytes_from_a_line_start() {
        let tail = LogTail::default();
        for i in 0..200_000 {
            tail.append(format!("line {i}\n").as_bytes());
        }
        let (bytes, total) = tail.tail(100);
        let text = String::from_utf8(bytes).unwrap();
        assert!(text.starts_with("line "), "{text}");
        assert!(text.ends_with("line 199999\n"));
        assert!(total > TAIL_BYTES as u64);
        assert!(tail.tail(usize::MAX).0.len() <= TAIL_BYTES);
    }
}
