//! Keyed running aggregate (COUNT, SUM, MIN, MAX, AVG per key): after each batch it
//! emits the updated rows of the keys the batch touched, as Flink's non-windowed
//! GROUP BY emits updates.

use arrow::datatypes::{Schema, SchemaRef};
use arrow::record_batch::RecordBatch;
use rask_common::job::graph::AggregateCall;

use super::keyed_state::{distinct_in_order, KeyedAccumulators};
use super::{OperatorContext, StreamOperator};
use crate::runtime::memory::MemoryReservation;
use crate::runtime::{StreamElement, TaskError};

pub struct Aggregate {
    state: KeyedAccumulators,
    output: SchemaRef,
    memory: MemoryReservation,
    seen: Vec<u32>,
    epoch: u32,
}

impl Aggregate {
    pub fn new(
        name: &str,
        keys: &[usize],
        calls: &[AggregateCall],
        input: &Schema,
        output: SchemaRef,
        ctx: &OperatorContext,
    ) -> Result<Self, TaskError> {
        Ok(Self {
            state: KeyedAccumulators::new(name, keys, calls, input)?,
            output,
            memory: MemoryReservation::new(ctx.slot_memory.clone(), name),
            seen: Vec::new(),
            epoch: 0,
        })
    }
}

impl StreamOperator for Aggregate {
    fn process_batch(&mut self, batch: RecordBatch, out: &mut Vec<StreamElement>) -> Result<(), TaskError> {
        let slots = self.state.update(&batch)?;
        self.memory.resize(self.state.memory_bytes())?;
        self.epoch = self.epoch.wrapping_add(1).max(1);
        let touched = distinct_in_order(&slots, &mut self.seen, self.epoch);
        let columns = self.state.emit(&touched)?;
        out.push(StreamElement::Batch(RecordBatch::try_new(self.output.clone(), columns)?));
        Ok(())
    }
}
