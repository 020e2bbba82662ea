//! Rows printed by a task's print sinks on their way to the JobMaster: a bounded
//! buffer whose bytes count against the slot's memory budget, that holds the task
//! back while it is full (back-pressure instead of unbounded growth), and that sends
//! in chunks well below the gRPC message limit, so that no row is ever dropped.

use std::collections::VecDeque;
use std::sync::Arc;

use parking_lot::Mutex;
use tokio::sync::Notify;

use super::memory::{MemoryReservation, SlotMemory};
use super::TaskError;

/// The task waits before its next input while more than this is buffered.
pub const BUFFER_BYTES: usize = 4 << 20;
/// Lines per `PublishOutput` message stay under this many bytes (a longer single
/// line travels alone).
pub const CHUNK_BYTES: usize = 1 << 20;
/// A single line is cut to this length (with a note saying so): the JobMaster's
/// gRPC endpoint takes messages up to 64 MiB.
pub const MAX_LINE_BYTES: usize = 16 << 20;

#[derive(Default)]
struct Inner {
    lines: VecDeque<String>,
    bytes: usize,
    closed: bool,
    /// Lines pushed so far, for the forwarder's summary.
    total: u64,
    /// Rows (of the tables pushed) not yet reported with a chunk.
    rows_unsent: u64,
}

/// What the forwarder sends next.
pub struct Chunk {
    pub lines: Vec<String>,
    /// Lines pushed so far.
    pub total: u64,
    /// Rows printed since the previous chunk (their lines may be in a later chunk).
    pub rows: u64,
}

pub struct PrintedRows {
    inner: Mutex<Inner>,
    /// Lines arrived, or the buffer closed.
    ready: Notify,
    /// The buffer drained below BUFFER_BYTES.
    space: Notify,
    reservation: Mutex<MemoryReservation>,
}

impl PrintedRows {
    pub fn new(slot: Arc<SlotMemory>) -> Arc<Self> {
        Arc::new(Self {
            inner: Mutex::default(),
            ready: Notify::new(),
            space: Notify::new(),
            reservation: Mutex::new(MemoryReservation::new(slot, "print")),
        })
    }

    /// Appends a batch's lines. Never drops one; fails only when the buffered bytes
    /// would exceed the slot's memory budget.
    /// Adds `lines` (a table of `rows` rows) to the buffer.
    pub fn push(&self, lines: Vec<String>, rows: u64) -> Result<(), TaskError> {
        let mut inner = self.inner.lock();
        let added: usize = lines.iter().map(|l| l.len().min(MAX_LINE_BYTES)).sum();
        self.reservation.lock().resize((inner.bytes + added) as u64)?;
        for mut line in lines {
            if line.len() > MAX_LINE_BYTES {
                let len = line.len();
                let mut cut = MAX_LINE_BYTES - 64;
                while !line.is_char_boundary(cut) {
                    cut -= 1;
                }
                line.truncate(cut);
                line.push_str(&format!(" … (line of {len} bytes cut)"));
            }
            inner.bytes += line.len();
            inner.lines.push_back(line);
            inner.total += 1;
        }
        inner.rows_unsent += rows;
        drop(inner);
        self.ready.notify_one();
        Ok(())
    }

    fn is_full(&self) -> bool {
        self.inner.lock().bytes > BUFFER_BYTES
    }

    /// Returns once the buffer is below its bound (at once when it is).
    pub async fn wait_for_space(&self) {
        loop {
            let notified = self.space.notified();
            if !self.is_full() {
                return;
            }
            notified.await;
        }
    }

    /// The next chunk (at least one line, at most CHUNK_BYTES unless a single line
    /// is longer) and the number of lines pushed so far; `None` once closed and empty.
    pub async fn next_chunk(&self) -> Option<Chunk> {
        loop {
            let notified = self.ready.notified();
            {
                let mut inner = self.inner.lock();
                if !inner.lines.is_empty() {
                    let mut chunk = Vec::new();
                    let mut bytes = 0;
                    while let Some(line) = inner.lines.front() {
                        if !chunk.is_empty() && bytes + line.len() > CHUNK_BYTES {
                            break;
                        }
                        bytes += line.len();
                        chunk.push(inner.lines.pop_front().expect("peeked"));
                    }
                    inner.bytes -= bytes;
                    let _ = self.reservation.lock().resize(inner.bytes as u64);
                    let total = inner.total;
                    let rows = std::mem::take(&mut inner.rows_unsent);
                    drop(inner);
                    self.space.notify_waiters();
                    return Some(Chunk { lines: chunk, total, rows });
                }
                if inner.closed {
                    return None;
                }
            }
            notified.await;
        }
    }

    /// No more lines will come: the forwarder ends once the buffer is empty.
    pub fn close(&self) {
        self.inner.lock().closed = true;
        self.ready.notify_one();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn chunks_stay_under_the_limit_and_nothing_is_dropped() {
        let rows = PrintedRows::new(SlotMemory::new(1 << 30));
        let line = "x".repeat(1000);
        rows.push(vec![line.clone(); 5000], 4996).unwrap();
        rows.push(vec!["y".repeat(3 << 20)], 1).unwrap();
        rows.close();
        let mut seen = 0;
        let mut chunks = 0;
        let mut counted = 0;
        while let Some(chunk) = rows.next_chunk().await {
            let bytes: usize = chunk.lines.iter().map(String::len).sum();
            assert!(bytes <= CHUNK_BYTES || chunk.lines.len() == 1, "{bytes} bytes in {} lines", chunk.lines.len());
            seen += chunk.lines.len();
            counted += chunk.rows;
            chunks += 1;
        }
        assert_eq!(seen, 5001);
        assert_eq!(counted, 4997);
        assert!(chunks >= 6);
    }

    #[tokio::test]
    async fn a_full_buffer_holds_the_task_until_it_drains() {
        let rows = PrintedRows::new(SlotMemory::new(1 << 30));
        rows.push(vec!["z".repeat(BUFFER_BYTES + 1)], 1).unwrap();
        let waiting = tokio::time::timeout(std::time::Duration::from_millis(50), rows.wait_for_space()).await;
        assert!(waiting.is_err(), "the task waits while the buffer is full");
        let drain = async {
            rows.next_chunk().await;
        };
        tokio::join!(drain, rows.wait_for_space());
    }

    #[test]
    fn buffered_rows_count_against_the_slot_budget() {
        let rows = PrintedRows::new(SlotMemory::new(10_000));
        let err = rows.push(vec!["a".repeat(20_000)], 1).unwrap_err().to_string();
        assert!(err.contains("print"), "{err}");
    }
}
