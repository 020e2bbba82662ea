//! Operators: each takes batches (and watermarks, and the end of input) and emits
//! batches. A chain of them runs inside one task; a chained call is a plain call.

pub mod aggregate;
pub mod basic;
pub mod file_sink;
pub mod join;
pub mod keyed_state;
pub mod sinks;
pub mod state_codec;
pub mod state_machine;
pub mod top_n;
pub mod window;

use std::sync::Arc;

use arrow::record_batch::RecordBatch;
use rask_common::job::graph::{OperatorDescriptor, OperatorKind};

use super::memory::SlotMemory;
use super::{StreamElement, TaskError};
use crate::metrics::task::OperatorCounters;

/// What an operator knows of where it runs.
#[derive(Clone)]
pub struct OperatorContext {
    pub job_id: String,
    pub subtask: u32,
    pub parallelism: u32,
    pub slot_memory: Arc<SlotMemory>,
    /// Lines printed by print sinks, forwarded to the JobMaster for the client.
    pub printed: std::sync::Arc<crate::runtime::printed::PrintedRows>,
    /// The deployment attempt (restarts count up).
    pub attempt: u32,
    /// Checkpointing is on: sinks commit with checkpoints (exactly once).
    pub transactional: bool,
}

/// An operator's outstanding I/O, as [`StreamOperator::settle`] returns it.
pub type Settling = std::pin::Pin<Box<dyn std::future::Future<Output = Result<(), TaskError>> + Send>>;

/// Resolves once an operator held up by its own output can take input again.
pub type Backlog = std::pin::Pin<Box<dyn std::future::Future<Output = ()> + Send>>;

pub trait StreamOperator: Send {
    fn process_batch(&mut self, batch: RecordBatch, out: &mut Vec<StreamElement>) -> Result<(), TaskError>;

    /// Event time advanced; by default the watermark passes through.
    fn process_watermark(&mut self, watermark: i64, out: &mut Vec<StreamElement>) -> Result<(), TaskError> {
        out.push(StreamElement::Watermark(watermark));
        Ok(())
    }

    /// No more input: emit what is still held. The chain forwards the end afterwards.
    fn finish(&mut self, _out: &mut Vec<StreamElement>) -> Result<(), TaskError> {
        Ok(())
    }

    /// The next processing-time instant (ms since the epoch) this operator must act at.
    fn next_timer(&self) -> Option<i64> {
        None
    }

    fn on_processing_time(&mut self, _now_ms: i64, _out: &mut Vec<StreamElement>) -> Result<(), TaskError> {
        Ok(())
    }

    /// Barrier `id` reached the operator: what it wrote so far belongs to checkpoint
    /// `id` (the file sink closes its file here). Called before `snapshot_state`.
    fn prepare_checkpoint(&mut self, _id: u64) -> Result<(), TaskError> {
        Ok(())
    }

    /// Waits for the I/O this operator handed off the task's thread (the file sink's
    /// writes, closes and renames): its first error. `None` when nothing is
    /// outstanding. The task awaits it after `prepare_checkpoint` (before the state is
    /// written and acknowledged), after restoring state and at the end of input.
    fn settle(&mut self) -> Option<Settling> {
        None
    }

    /// Checkpoint `id` is complete: commit what it covers.
    fn notify_checkpoint_complete(&mut self, _id: u64) -> Result<(), TaskError> {
        Ok(())
    }

    /// The operator's state for a checkpoint (its own format), `None` if stateless.
    fn snapshot_state(&self) -> Result<Option<Vec<u8>>, TaskError> {
        Ok(None)
    }

    /// Restores what `snapshot_state` wrote.
    fn restore_state(&mut self, _state: &[u8]) -> Result<(), TaskError> {
        Ok(())
    }

    /// Restores state written at another parallelism: called once per earlier
    /// subtask's state; keeps only keys whose hash `keep` accepts.
    fn restore_state_rescaled(&mut self, _state: &[u8], _keep: &dyn Fn(u64) -> bool) -> Result<(), TaskError> {
        Err(TaskError::Deployment("this operator's state cannot be restored at another parallelism".into()))
    }

    /// How long the task should wait before feeding this operator more input (a
    /// deliberately slow sink); the wait holds back the inputs, not the thread.
    fn pause(&self) -> Option<std::time::Duration> {
        None
    }

    /// While the operator's output is behind (a writer with too much queued), a future
    /// that resolves when it can take input again; the task waits on it, holding back
    /// its inputs (back-pressure), woken by the operator, not by a timer.
    fn backlog(&self) -> Option<Backlog> {
        None
    }
}

/// Builds the operator a descriptor describes: sinks through their connector's entry in
/// [`sinks::SINKS`] (not sources: see `runtime::sources`).
pub fn build(desc: &OperatorDescriptor, ctx: &OperatorContext) -> Result<Box<dyn StreamOperator>, TaskError> {
    let input = desc.input.to_schema();
    let output = desc.output.to_schema();
    let name = desc.name.clone();
    Ok(match &desc.kind {
        OperatorKind::Filter { predicate } => Box::new(basic::Filter::new(&name, predicate, &input)?),
        OperatorKind::Map { expressions } => Box::new(basic::Map::new(&name, expressions, &input, output)?),
        OperatorKind::FlatMapSplit { column, delimiter, normalize } => {
            Box::new(basic::FlatMapSplit::new(&name, column, delimiter.clone(), *normalize, &input, output)?)
        }
        OperatorKind::Aggregate { keys, aggregates, changelog } => {
            Box::new(aggregate::Aggregate::new(&name, keys, aggregates, *changelog, &input, output, ctx)?)
        }
        OperatorKind::Join { left_keys, right_keys, right_input } => {
            Box::new(join::Join::new(&name, (input.clone(), left_keys), (right_input.to_schema(), right_keys), output, ctx)?)
        }
        OperatorKind::WatermarkAssigner { strategy } => Box::new(basic::WatermarkAssigner::new(strategy.clone())),
        OperatorKind::Window(w) => Box::new(window::Window::new(&name, w, &input, output, ctx)?),
        OperatorKind::TopN { n, partition_keys, order_by } => Box::new(top_n::TopN::new(*n, partition_keys, order_by, &input, output)?),
        OperatorKind::StateMachine { keys, event_column, initial, transitions } => {
            Box::new(state_machine::StateMachine::new(&name, keys, *event_column, initial, transitions, (&input, output), ctx)?)
        }
        OperatorKind::Sink { connector, options } => sinks::build(connector, options, &name, ctx)?,
        OperatorKind::Source { .. } => return Err(TaskError::Deployment(format!("{name} is a source and must start its chain"))),
    })
}

/// A chain of operators: each element goes through them in order.
pub struct OperatorChain {
    operators: Vec<Box<dyn StreamOperator>>,
    uids: Vec<String>,
    /// Each operator's counters (empty: not counted).
    counters: Vec<Arc<OperatorCounters>>,
}

impl OperatorChain {
    pub fn new(operators: Vec<Box<dyn StreamOperator>>, uids: Vec<String>) -> Self {
        Self { operators, uids, counters: Vec::new() }
    }

    /// Counts each operator's records in and out, and its output watermark.
    pub fn count_with(&mut self, counters: Vec<Arc<OperatorCounters>>) {
        debug_assert_eq!(counters.len(), self.operators.len());
        self.counters = counters;
    }

    pub fn has_operator(&self, uid: &str) -> bool {
        self.uids.iter().any(|u| u == uid)
    }

    /// Restores the state of the operator with `uid`.
    pub fn restore(&mut self, uid: &str, state: &[u8]) -> Result<(), TaskError> {
        let i = self.uids.iter().position(|u| u == uid).ok_or_else(|| {
            TaskError::Deployment(format!("the checkpoint holds state of operator '{uid}', which this task does not run"))
        })?;
        self.operators[i].restore_state(state)
    }

    /// Barrier `id` reached the chain (before `snapshot`): every operator prepares,
    /// then the I/O that started settles.
    pub async fn prepare_checkpoint(&mut self, id: u64) -> Result<(), TaskError> {
        self.operators.iter_mut().try_for_each(|o| o.prepare_checkpoint(id))?;
        self.settle().await
    }

    /// Waits for every operator's outstanding I/O (see the trait method).
    pub async fn settle(&mut self) -> Result<(), TaskError> {
        let waits: Vec<Settling> = self.operators.iter_mut().filter_map(|o| o.settle()).collect();
        for wait in waits {
            wait.await?;
        }
        Ok(())
    }

    pub fn notify_checkpoint_complete(&mut self, id: u64) -> Result<(), TaskError> {
        self.operators.iter_mut().try_for_each(|o| o.notify_checkpoint_complete(id))
    }

    /// Restores state of `uid` written at another parallelism (see the trait method).
    pub fn restore_rescaled(&mut self, uid: &str, state: &[u8], keep: &dyn Fn(u64) -> bool) -> Result<(), TaskError> {
        let i = self.uids.iter().position(|u| u == uid).ok_or_else(|| TaskError::Deployment(format!("no operator '{uid}' here")))?;
        self.operators[i].restore_state_rescaled(state, keep)
    }

    /// Every stateful operator's state, by operator uid.
    pub fn snapshot(&self) -> Result<Vec<(String, Vec<u8>)>, TaskError> {
        let mut out = Vec::new();
        for (op, uid) in self.operators.iter().zip(&self.uids) {
            if let Some(state) = op.snapshot_state()? {
                out.push((uid.clone(), state));
            }
        }
        Ok(out)
    }

    /// Pushes one element through every operator; what leaves the last one is appended
    /// to `out`.
    pub fn push(&mut self, element: StreamElement, out: &mut Vec<StreamElement>) -> Result<(), TaskError> {
        push_through(&mut self.operators, &self.counters, element, out)
    }

    pub fn pause(&self) -> Option<std::time::Duration> {
        self.operators.iter().filter_map(|o| o.pause()).max()
    }

    /// Resolves once no operator of the chain is behind; `None` when none is now.
    pub fn backlog(&self) -> Option<Backlog> {
        let waits: Vec<Backlog> = self.operators.iter().filter_map(|o| o.backlog()).collect();
        if waits.is_empty() {
            return None;
        }
        Some(Box::pin(async move {
            futures::future::join_all(waits).await;
        }))
    }

    pub fn next_timer(&self) -> Option<i64> {
        self.operators.iter().filter_map(|o| o.next_timer()).min()
    }

    /// Fires processing-time timers due at `now_ms`, then pushes what they emit on.
    pub fn on_processing_time(&mut self, now_ms: i64, out: &mut Vec<StreamElement>) -> Result<(), TaskError> {
        let n = self.operators.len();
        for i in 0..n {
            if self.operators[i].next_timer().is_some_and(|t| t <= now_ms) {
                let mut emitted = Vec::new();
                self.operators[i].on_processing_time(now_ms, &mut emitted)?;
                if let Some(c) = self.counters.get(i) {
                    count_out(c, &emitted);
                }
                let downstream = self.counters.get(i + 1..).unwrap_or_default();
                for e in emitted {
                    push_through(&mut self.operators[i + 1..], downstream, e, out)?;
                }
            }
        }
        Ok(())
    }
}

fn push_through(
    operators: &mut [Box<dyn StreamOperator>],
    counters: &[Arc<OperatorCounters>],
    element: StreamElement,
    out: &mut Vec<StreamElement>,
) -> Result<(), TaskError> {
    let mut current = vec![element];
    for (i, op) in operators.iter_mut().enumerate() {
        let mut next = Vec::with_capacity(current.len());
        for e in current {
            match e {
                StreamElement::Batch(b) => {
                    if let Some(c) = counters.get(i) {
                        c.add_in(b.num_rows());
                    }
                    op.process_batch(b, &mut next)?
                }
                StreamElement::Watermark(w) => op.process_watermark(w, &mut next)?,
                StreamElement::Barrier(id) => next.push(StreamElement::Barrier(id)),
                StreamElement::EndOfInput => {
                    op.finish(&mut next)?;
                    next.push(StreamElement::EndOfInput);
                }
            }
        }
        if let Some(c) = counters.get(i) {
            count_out(c, &next);
        }
        current = next;
    }
    out.extend(current);
    Ok(())
}

/// An operator's output: its records and its latest watermark.
fn count_out(counters: &OperatorCounters, emitted: &[StreamElement]) {
    for e in emitted {
        match e {
            StreamElement::Batch(b) => counters.add_out(b.num_rows()),
            StreamElement::Watermark(w) => counters.set_output_watermark(*w),
            _ => {}
        }
    }
}

/// A context for operator unit tests: one subtask, a 1 GiB slot.
#[cfg(test)]
pub fn test_context() -> OperatorContext {
    let slot_memory = SlotMemory::new(1 << 30);
    OperatorContext {
        job_id: "test".into(),
        subtask: 0,
        parallelism: 1,
        printed: crate::runtime::printed::PrintedRows::new(slot_memory.clone()),
        slot_memory,
        attempt: 0,
        transactional: false,
    }
}

pub use rask_common::clock::now_ms;
