//! Keyed running aggregate (COUNT, SUM, MIN, MAX, AVG per key): after each batch it
//! emits the updated rows of the keys the batch touched, as Flink's non-windowed
//! GROUP BY emits updates. As a changelog (SQL), a key's first row is `+I` and each
//! later change a `-U` of the row emitted before and a `+U` of the new one.

use std::sync::Arc;

use arrow::array::{ArrayRef, Int32Array};
use arrow::datatypes::{Schema, SchemaRef};
use arrow::record_batch::RecordBatch;
use rask_common::job::graph::AggregateCall;

use super::keyed_state::{distinct_in_order, KeyedAccumulators};
use super::state_codec;
use super::{OperatorContext, StreamOperator};
use crate::runtime::memory::MemoryReservation;
use crate::runtime::{StreamElement, TaskError};

pub struct Aggregate {
    state: KeyedAccumulators,
    output: SchemaRef,
    memory: MemoryReservation,
    seen: Vec<u32>,
    epoch: u32,
    changelog: bool,
}

impl Aggregate {
    pub fn new(
        name: &str,
        keys: &[usize],
        calls: &[AggregateCall],
        changelog: bool,
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
            changelog,
        })
    }
}

impl StreamOperator for Aggregate {
    fn process_batch(&mut self, batch: RecordBatch, out: &mut Vec<StreamElement>) -> Result<(), TaskError> {
        if !self.changelog {
            let slots = self.state.update(&batch)?;
            self.memory.resize(self.state.memory_bytes())?;
            self.epoch = self.epoch.wrapping_add(1).max(1);
            let touched = distinct_in_order(&slots, &mut self.seen, self.epoch);
            let columns = self.state.emit(&touched)?;
            out.push(StreamElement::Batch(RecordBatch::try_new(self.output.clone(), columns)?));
            return Ok(());
        }
        // Slots below `known` held a key before this batch: their old rows are retracted.
        let known = self.state.len() as u32;
        let slots = self.state.assign(&batch)?;
        self.epoch = self.epoch.wrapping_add(1).max(1);
        let touched = distinct_in_order(&slots, &mut self.seen, self.epoch);
        let updated: Vec<u32> = touched.iter().copied().filter(|&s| s < known).collect();
        let before = self.state.emit(&updated)?;
        self.state.accumulate(&batch, &slots)?;
        self.memory.resize(self.state.memory_bytes())?;
        let after = self.state.emit(&touched)?;
        let kinds: Int32Array = std::iter::repeat_n(1, updated.len())
            .chain(touched.iter().map(|&s| if s < known { 2 } else { 0 }))
            .collect::<Vec<i32>>()
            .into();
        let mut columns: Vec<ArrayRef> = vec![Arc::new(kinds)];
        for (b, a) in before.iter().zip(&after) {
            columns.push(arrow::compute::concat(&[b.as_ref(), a.as_ref()])?);
        }
        out.push(StreamElement::Batch(RecordBatch::try_new(self.output.clone(), columns)?));
        Ok(())
    }

    fn snapshot_state(&self) -> Result<Option<Vec<u8>>, TaskError> {
        let batch = self.state.snapshot()?;
        Ok(Some(state_codec::encode(&[], &batch.schema(), &[batch])?))
    }

    fn restore_state(&mut self, state: &[u8]) -> Result<(), TaskError> {
        self.restore_state_rescaled(state, &|_| true)
    }

    fn restore_state_rescaled(&mut self, state: &[u8], keep: &dyn Fn(u64) -> bool) -> Result<(), TaskError> {
        let (_, batches) = state_codec::decode(state)?;
        for b in &batches {
            self.state.restore(b, keep)?;
        }
        self.memory.resize(self.state.memory_bytes())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use arrow::array::{Float64Array, Int64Array};
    use arrow::datatypes::{DataType, Field};
    use rask_common::job::graph::AggregateFunction;
    use std::sync::Arc;

    #[test]
    fn snapshot_and_restore_keep_every_key() {
        let input = Schema::new(vec![Field::new("k", DataType::Int64, true), Field::new("v", DataType::Float64, true)]);
        let output = Arc::new(Schema::new(vec![
            Field::new("k", DataType::Int64, true),
            Field::new("n", DataType::Int64, true),
            Field::new("avg", DataType::Float64, true),
        ]));
        let calls = vec![
            AggregateCall { function: AggregateFunction::Count, argument: None, output_name: "n".into() },
            AggregateCall { function: AggregateFunction::Avg, argument: Some("v".into()), output_name: "avg".into() },
        ];
        let ctx = crate::runtime::operators::test_context();
        let batch = RecordBatch::try_new(
            Arc::new(input.clone()),
            vec![Arc::new(Int64Array::from(vec![1, 2, 1])), Arc::new(Float64Array::from(vec![1.0, 5.0, 3.0]))],
        )
        .unwrap();
        let mut a = Aggregate::new("agg", &[0], &calls, false, &input, output.clone(), &ctx).unwrap();
        a.process_batch(batch.clone(), &mut Vec::new()).unwrap();
        let state = a.snapshot_state().unwrap().unwrap();
        let mut b = Aggregate::new("agg", &[0], &calls, false, &input, output, &ctx).unwrap();
        b.restore_state(&state).unwrap();
        let (mut out_a, mut out_b) = (Vec::new(), Vec::new());
        a.process_batch(batch.clone(), &mut out_a).unwrap();
        b.process_batch(batch, &mut out_b).unwrap();
        let (StreamElement::Batch(x), StreamElement::Batch(y)) = (&out_a[0], &out_b[0]) else { panic!() };
        assert_eq!(x, y);
        assert_eq!(x.column(1).as_any().downcast_ref::<Int64Array>().unwrap().values(), &[4, 2]);
    }
}
