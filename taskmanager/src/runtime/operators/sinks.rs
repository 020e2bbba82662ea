//! Sinks: print (rows as a table to the job's output, through the task's bounded
//! printed-rows buffer; at least once) and blackhole. The file sink has its own module.

use std::sync::Arc;

use arrow::record_batch::RecordBatch;

use crate::runtime::printed::PrintedRows;

use super::{OperatorContext, StreamOperator};
use crate::runtime::{StreamElement, TaskError};

pub struct Print {
    printed: Arc<PrintedRows>,
    /// The line before each table: the sink's task as Flink names it, with the
    /// subtask when the sink runs in several (e.g. `Sink: counts (2/2)`).
    title: String,
}

impl Print {
    pub fn new(name: &str, ctx: &OperatorContext) -> Self {
        let title = match ctx.parallelism {
            1 => name.to_string(),
            n => format!("{name} ({}/{n})", ctx.subtask + 1),
        };
        Self { printed: ctx.printed.clone(), title }
    }
}

impl StreamOperator for Print {
    fn process_batch(&mut self, batch: RecordBatch, _out: &mut Vec<StreamElement>) -> Result<(), TaskError> {
        let rows = batch.num_rows() as u64;
        if rows == 0 {
            return Ok(());
        }
        let table = arrow::util::pretty::pretty_format_batches(&[batch])?.to_string();
        let lines: Vec<String> = std::iter::once(self.title.clone()).chain(table.lines().map(str::to_string)).collect();
        for line in &lines {
            tracing::debug!(target: "rask::print", "{line}");
        }
        self.printed.push(lines, rows)
    }
}

/// Discards rows. With `rows_per_second` it is a slow consumer: it holds its task
/// until the rows it took are due, so back-pressure reaches the sources.
pub struct Blackhole {
    rows: u64,
    rows_per_second: Option<u64>,
    started: std::time::Instant,
}

impl Blackhole {
    pub fn new(rows_per_second: Option<u64>) -> Self {
        Self { rows: 0, rows_per_second, started: std::time::Instant::now() }
    }
}

impl StreamOperator for Blackhole {
    fn process_batch(&mut self, batch: RecordBatch, _out: &mut Vec<StreamElement>) -> Result<(), TaskError> {
        self.rows += batch.num_rows() as u64;
        Ok(())
    }

    fn pause(&self) -> Option<std::time::Duration> {
        let rate = self.rows_per_second? as f64;
        let due = std::time::Duration::from_secs_f64(self.rows as f64 / rate.max(1.0));
        due.checked_sub(self.started.elapsed())
    }
}
