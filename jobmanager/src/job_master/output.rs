//! A job's printed rows as the JobManager keeps them for clients: numbered from 0,
//! the oldest dropped past a bound of lines and of bytes, read in bounded pages.

use std::collections::VecDeque;

/// Lines of printed output a job keeps for clients (older lines are dropped).
const OUTPUT_LINES_KEPT: usize = 100_000;
/// The printed bytes a JobManager keeps per job.
const OUTPUT_BYTES_KEPT: usize = 64 << 20;
/// The most bytes of printed rows one `/jobs/:id/output` answer carries.
const OUTPUT_PAGE_BYTES: usize = 4 << 20;

/// Printed rows of a job, numbered from 0, the oldest dropped past a bound of lines
/// and of bytes.
#[derive(Default)]
pub struct JobOutput {
    first: usize,
    lines: VecDeque<String>,
    bytes: usize,
    /// Rows the job's print sinks have printed (over every attempt).
    pub rows: u64,
}

impl JobOutput {
    /// Keeps `lines`, which print `rows` rows.
    pub fn append(&mut self, lines: Vec<String>, rows: u64) {
        self.rows += rows;
        for line in lines {
            self.bytes += line.len();
            self.lines.push_back(line);
        }
        while self.lines.len() > OUTPUT_LINES_KEPT || (self.bytes > OUTPUT_BYTES_KEPT && self.lines.len() > 1) {
            let dropped = self.lines.pop_front().expect("non-empty");
            self.bytes -= dropped.len();
            self.first += 1;
        }
    }

    /// The number after the last line kept.
    pub fn end(&self) -> usize {
        self.first + self.lines.len()
    }

    /// Lines from number `from` on (at most OUTPUT_PAGE_BYTES of them, at least one),
    /// the number after the last one returned, and how many lines from `from` on were
    /// already dropped.
    pub fn read(&self, from: usize) -> (Vec<String>, usize, usize) {
        let start = from.max(self.first) - self.first;
        let mut lines: Vec<String> = Vec::new();
        let mut bytes = 0;
        for line in self.lines.iter().skip(start) {
            if !lines.is_empty() && bytes + line.len() > OUTPUT_PAGE_BYTES {
                break;
            }
            bytes += line.len();
            lines.push(line.clone());
        }
        let next = self.first + start + lines.len();
        (lines, next, self.first.saturating_sub(from))
    }
}
