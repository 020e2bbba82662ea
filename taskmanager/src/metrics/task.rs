//! A task's metric group: Flink's task and operator I/O counters, updated once per
//! batch on the task's own loop (relaxed atomics, no lock), and the window of
//! samples their per-second rates are computed from.

use std::collections::VecDeque;
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering::Relaxed};
use std::sync::Arc;
use std::time::{Duration, Instant};

use arrow::record_batch::RecordBatch;
use parking_lot::Mutex;
use rask_common::metrics::NO_WATERMARK;
use rask_common::proto::{OperatorMetrics, TaskIoMetrics, TaskMetrics, TaskRates};

/// How far back the per-second rates look (Flink's MeterView averages over 60 s; a
/// shorter window lets the dashboard follow a change within seconds).
pub const RATE_WINDOW: Duration = Duration::from_secs(5);

/// Counters of one operator of a chain.
#[derive(Debug)]
pub struct OperatorCounters {
    pub name: String,
    pub uid: String,
    /// A sink: its records in are the task's `sink_records_in`.
    pub sink: bool,
    records_in: AtomicU64,
    records_out: AtomicU64,
    output_watermark: AtomicI64,
}

impl OperatorCounters {
    pub fn new(name: &str, uid: &str, sink: bool) -> Arc<Self> {
        Arc::new(Self {
            name: name.to_string(),
            uid: uid.to_string(),
            sink,
            records_in: AtomicU64::new(0),
            records_out: AtomicU64::new(0),
            output_watermark: AtomicI64::new(NO_WATERMARK),
        })
    }

    pub fn add_in(&self, rows: usize) {
        self.records_in.fetch_add(rows as u64, Relaxed);
    }

    pub fn add_out(&self, rows: usize) {
        self.records_out.fetch_add(rows as u64, Relaxed);
    }

    pub fn set_output_watermark(&self, w: i64) {
        self.output_watermark.store(w, Relaxed);
    }
}

/// Who a task is, for labels and the REST API.
#[derive(Debug, Clone, Default)]
pub struct TaskIdentity {
    pub job_id: String,
    pub job_name: String,
    pub vertex_id: String,
    pub task_name: String,
    pub subtask_index: u32,
    pub attempt: u32,
    pub execution_attempt_id: String,
}

/// One sample of every counter, for the rate window.
#[derive(Debug, Clone, Default)]
struct Reading {
    at: Option<Instant>,
    io: [u64; 7],
    /// Each operator's records in and out.
    operators: Vec<(u64, u64)>,
}

/// A task's metric group.
#[derive(Debug)]
pub struct TaskMetricGroup {
    pub identity: TaskIdentity,
    records_in: AtomicU64,
    records_out: AtomicU64,
    bytes_in: AtomicU64,
    bytes_out: AtomicU64,
    busy_ns: AtomicU64,
    backpressured_ns: AtomicU64,
    idle_ns: AtomicU64,
    input_watermark: AtomicI64,
    pub operators: Vec<Arc<OperatorCounters>>,
    window: Mutex<VecDeque<Reading>>,
}

impl TaskMetricGroup {
    pub fn new(identity: TaskIdentity, operators: Vec<Arc<OperatorCounters>>) -> Arc<Self> {
        Arc::new(Self {
            identity,
            records_in: AtomicU64::new(0),
            records_out: AtomicU64::new(0),
            bytes_in: AtomicU64::new(0),
            bytes_out: AtomicU64::new(0),
            busy_ns: AtomicU64::new(0),
            backpressured_ns: AtomicU64::new(0),
            idle_ns: AtomicU64::new(0),
            input_watermark: AtomicI64::new(NO_WATERMARK),
            operators,
            window: Mutex::new(VecDeque::new()),
        })
    }

    /// A batch read from the task's inputs.
    pub fn batch_in(&self, batch: &RecordBatch) {
        self.records_in.fetch_add(batch.num_rows() as u64, Relaxed);
        self.bytes_in.fetch_add(batch.get_array_memory_size() as u64, Relaxed);
    }

    /// A batch written to the task's outputs.
    pub fn batch_out(&self, batch: &RecordBatch) {
        self.records_out.fetch_add(batch.num_rows() as u64, Relaxed);
        self.bytes_out.fetch_add(batch.get_array_memory_size() as u64, Relaxed);
    }

    pub fn input_watermark(&self, w: i64) {
        self.input_watermark.store(w, Relaxed);
    }

    /// Time the task spent working, waiting for its outputs, or waiting for input.
    pub fn add_time(&self, busy: Duration, backpressured: Duration, idle: Duration) {
        self.busy_ns.fetch_add(busy.as_nanos() as u64, Relaxed);
        self.backpressured_ns.fetch_add(backpressured.as_nanos() as u64, Relaxed);
        self.idle_ns.fetch_add(idle.as_nanos() as u64, Relaxed);
    }

    fn reading(&self) -> Reading {
        let io = [
            self.records_in.load(Relaxed),
            self.records_out.load(Relaxed),
            self.bytes_in.load(Relaxed),
            self.bytes_out.load(Relaxed),
            self.busy_ns.load(Relaxed),
            self.backpressured_ns.load(Relaxed),
            self.idle_ns.load(Relaxed),
        ];
        let operators = self.operators.iter().map(|o| (o.records_in.load(Relaxed), o.records_out.load(Relaxed))).collect();
        Reading { at: Some(Instant::now()), io, operators }
    }

    /// Records a sample for the rates (called about once a second).
    pub fn sample(&self) {
        let reading = self.reading();
        let mut window = self.window.lock();
        window.push_back(reading);
        while window.len() > 2 && window[1].at.zip(window.back().and_then(|b| b.at)).is_some_and(|(a, b)| b - a >= RATE_WINDOW) {
            window.pop_front();
        }
    }

    /// The task's totals.
    pub fn io(&self) -> TaskIoMetrics {
        let ms = |ns: &AtomicU64| ns.load(Relaxed) / 1_000_000;
        TaskIoMetrics {
            records_in: self.records_in.load(Relaxed),
            records_out: self.records_out.load(Relaxed),
            bytes_in: self.bytes_in.load(Relaxed),
            bytes_out: self.bytes_out.load(Relaxed),
            busy_ms: ms(&self.busy_ns),
            backpressured_ms: ms(&self.backpressured_ns),
            idle_ms: ms(&self.idle_ns),
            sink_records_in: self.operators.iter().filter(|o| o.sink).map(|o| o.records_in.load(Relaxed)).sum(),
        }
    }

    /// Everything the task measured: totals, rates over the window, operators.
    pub fn snapshot(&self) -> TaskMetrics {
        let now = self.reading();
        let first = self.window.lock().front().cloned().unwrap_or_default();
        let seconds = first.at.zip(now.at).map(|(a, b)| (b - a).as_secs_f64()).filter(|s| *s >= 0.5);
        let rate = |i: usize, scale: f64| seconds.map_or(0.0, |s| (now.io[i].saturating_sub(first.io[i])) as f64 / s / scale);
        let rates = TaskRates {
            records_in: rate(0, 1.0),
            records_out: rate(1, 1.0),
            bytes_in: rate(2, 1.0),
            bytes_out: rate(3, 1.0),
            // ns per second → ms per second, at most 1000.
            busy_ms: rate(4, 1e6).min(1000.0),
            backpressured_ms: rate(5, 1e6).min(1000.0),
            idle_ms: rate(6, 1e6).min(1000.0),
        };
        let operators = self
            .operators
            .iter()
            .zip(&now.operators)
            .enumerate()
            .map(|(i, (o, &(rin, rout)))| {
                let (fin, fout) = first.operators.get(i).copied().unwrap_or((rin, rout));
                let per_second = |now: u64, then: u64| seconds.map_or(0.0, |s| now.saturating_sub(then) as f64 / s);
                OperatorMetrics {
                    name: o.name.clone(),
                    uid: o.uid.clone(),
                    records_in: rin,
                    records_out: rout,
                    current_output_watermark: o.output_watermark.load(Relaxed),
                    records_in_per_second: per_second(rin, fin),
                    records_out_per_second: per_second(rout, fout),
                }
            })
            .collect();
        let id = &self.identity;
        TaskMetrics {
            job_id: id.job_id.clone(),
            job_name: id.job_name.clone(),
            vertex_id: id.vertex_id.clone(),
            task_name: id.task_name.clone(),
            subtask_index: id.subtask_index,
            attempt: id.attempt,
            execution_attempt_id: id.execution_attempt_id.clone(),
            io: Some(self.io()),
            rates: Some(rates),
            current_input_watermark: self.input_watermark.load(Relaxed),
            operators,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use arrow::array::Int64Array;
    use arrow::datatypes::{DataType, Field, Schema};

    fn batch(rows: i64) -> RecordBatch {
        let schema = Arc::new(Schema::new(vec![Field::new("v", DataType::Int64, false)]));
        RecordBatch::try_new(schema, vec![Arc::new(Int64Array::from_iter_values(0..rows))]).unwrap()
    }

    #[test]
    fn counts_batches_and_computes_rates_over_the_window() {
        let op = OperatorCounters::new("Map", "map-1", false);
        let group = TaskMetricGroup::new(TaskIdentity::default(), vec![op.clone()]);
        group.sample();
        group.batch_in(&batch(100));
        group.batch_out(&batch(40));
        op.add_in(100);
        op.add_out(40);
        group.input_watermark(77);
        group.add_time(Duration::from_millis(30), Duration::from_millis(10), Duration::from_millis(60));
        let first = group.snapshot();
        let io = first.io.unwrap();
        assert_eq!((io.records_in, io.records_out, io.busy_ms, io.backpressured_ms, io.idle_ms), (100, 40, 30, 10, 60));
        assert!(io.bytes_in >= 800, "{}", io.bytes_in);
        assert_eq!(first.current_input_watermark, 77);
        assert_eq!((first.operators[0].records_in, first.operators[0].records_out), (100, 40));
        // Rates need half a second of window.
        assert_eq!(first.rates.unwrap().records_in, 0.0);
        std::thread::sleep(Duration::from_millis(600));
        group.batch_in(&batch(200));
        let rates = group.snapshot().rates.unwrap();
        assert!(rates.records_in > 300.0 && rates.records_in < 600.0, "{}", rates.records_in);
        assert!(rates.busy_ms > 0.0 && rates.busy_ms <= 1000.0);
    }
}

/// Where a task's loop is: working, waiting for its outputs, or waiting for input.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Phase {
    Busy,
    BackPressured,
    Idle,
}

/// Splits a task's time into busy, back-pressured and idle (Flink's
/// `busyTimeMsPerSecond` and its siblings): the loop says which phase it enters, the
/// clock adds the time spent in the previous one. One clock read per transition, a
/// handful per batch; a disabled clock reads none.
#[derive(Debug)]
pub struct TaskClock {
    enabled: bool,
    phase: Phase,
    since: Instant,
    spent: [Duration; 3],
}

impl TaskClock {
    pub fn new(enabled: bool) -> Self {
        Self { enabled, phase: Phase::Busy, since: Instant::now(), spent: [Duration::ZERO; 3] }
    }

    fn enter(&mut self, phase: Phase) {
        if !self.enabled || self.phase == phase {
            return;
        }
        let now = Instant::now();
        self.spent[self.phase as usize] += now - self.since;
        self.phase = phase;
        self.since = now;
    }

    pub fn start_working(&mut self) {
        self.enter(Phase::Busy)
    }

    pub fn start_waiting_for_output(&mut self) {
        self.enter(Phase::BackPressured)
    }

    pub fn start_waiting_for_input(&mut self) {
        self.enter(Phase::Idle)
    }

    /// Adds the time so far to the task's counters; `backpressured` is the part of
    /// the busy time the writers spent waiting for room downstream.
    pub fn account(&mut self, group: &TaskMetricGroup, backpressured: Duration) {
        if !self.enabled {
            return;
        }
        let now = Instant::now();
        self.spent[self.phase as usize] += now - self.since;
        self.since = now;
        let [busy, waiting, idle] = std::mem::take(&mut self.spent);
        let backpressured = backpressured.min(busy);
        group.add_time(busy - backpressured, waiting + backpressured, idle);
    }
}
