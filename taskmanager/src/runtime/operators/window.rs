//! Keyed tumbling and sliding windows with aggregates, in event time (fired when the
//! watermark passes a window's end; later rows for it are dropped, as in Flink) or in
//! processing time (fired by the wall clock; at the end of input every open one
//! fires). Event-time windows fire at the end of a bounded input because its sources
//! end with the watermark MAX.

use std::collections::BTreeMap;
use std::sync::Arc;

use arrow::array::{ArrayRef, AsArray, TimestampMillisecondArray, UInt32Array};
use arrow::compute::{cast, take_record_batch};
use arrow::datatypes::{DataType, Int64Type, Schema, SchemaRef};
use arrow::record_batch::RecordBatch;
use rask_common::job::graph::{AggregateCall, WindowOperator};

use super::keyed_state::KeyedAccumulators;
use super::state_codec;
use super::{now_ms, OperatorContext, StreamOperator};
use crate::runtime::memory::MemoryReservation;
use crate::runtime::{StreamElement, TaskError};

pub struct Window {
    name: String,
    spec: WindowOperator,
    input: SchemaRef,
    output: SchemaRef,
    calls: Vec<AggregateCall>,
    /// Open windows by start.
    windows: BTreeMap<i64, KeyedAccumulators>,
    watermark: i64,
    memory: MemoryReservation,
    dropped_late: u64,
}

impl Window {
    pub fn new(name: &str, spec: &WindowOperator, input: &Schema, output: SchemaRef, ctx: &OperatorContext) -> Result<Self, TaskError> {
        Ok(Self {
            name: name.to_string(),
            spec: spec.clone(),
            input: Arc::new(input.clone()),
            output,
            calls: spec.aggregates.clone(),
            windows: BTreeMap::new(),
            watermark: i64::MIN,
            memory: MemoryReservation::new(ctx.slot_memory.clone(), name),
            dropped_late: 0,
        })
    }

    fn fire_until(&mut self, limit: i64, out: &mut Vec<StreamElement>) -> Result<(), TaskError> {
        // A window [start, start + size) is complete once time reaches its last ms.
        while let Some((&start, _)) = self.windows.first_key_value() {
            if start + self.spec.size_ms - 1 > limit {
                break;
            }
            let state = self.windows.remove(&start).expect("present");
            self.emit(start, &state, out)?;
        }
        self.account()
    }

    fn emit(&self, start: i64, state: &KeyedAccumulators, out: &mut Vec<StreamElement>) -> Result<(), TaskError> {
        if state.is_empty() {
            return Ok(());
        }
        let slots: Vec<u32> = (0..state.len() as u32).collect();
        let n = slots.len();
        let mut columns: Vec<ArrayRef> = vec![
            Arc::new(TimestampMillisecondArray::from(vec![start; n])),
            Arc::new(TimestampMillisecondArray::from(vec![start + self.spec.size_ms; n])),
        ];
        columns.extend(state.emit(&slots)?);
        out.push(StreamElement::Batch(RecordBatch::try_new(self.output.clone(), columns)?));
        Ok(())
    }

    fn account(&mut self) -> Result<(), TaskError> {
        let bytes: u64 = self.windows.values().map(|w| w.memory_bytes()).sum();
        self.memory.resize(bytes)
    }
}

impl StreamOperator for Window {
    fn process_batch(&mut self, batch: RecordBatch, _out: &mut Vec<StreamElement>) -> Result<(), TaskError> {
        let rows = batch.num_rows();
        let times: Vec<i64> = match self.spec.time_column {
            Some(c) if self.spec.event_time => {
                let ts = cast(batch.column(c), &DataType::Int64)?;
                ts.as_primitive::<Int64Type>().values().to_vec()
            }
            _ => vec![now_ms(); rows],
        };
        let (size, slide) = (self.spec.size_ms, self.spec.slide_ms);
        // Rows per window start.
        let mut groups: BTreeMap<i64, Vec<u32>> = BTreeMap::new();
        for (row, &t) in times.iter().enumerate() {
            let last_start = t - t.rem_euclid(slide);
            let mut start = last_start;
            while start > t - size {
                if start + size - 1 > self.watermark {
                    groups.entry(start).or_default().push(row as u32);
                } else {
                    self.dropped_late += 1;
                }
                start -= slide;
            }
        }
        for (start, indices) in groups {
            let part = if indices.len() == rows { batch.clone() } else { take_record_batch(&batch, &UInt32Array::from(indices))? };
            let state = match self.windows.get_mut(&start) {
                Some(s) => s,
                None => {
                    let fresh = KeyedAccumulators::new(&self.name, &self.spec.keys, &self.calls, &self.input)?;
                    self.windows.entry(start).or_insert(fresh)
                }
            };
            state.update(&part)?;
        }
        self.account()
    }

    fn snapshot_state(&self) -> Result<Option<Vec<u8>>, TaskError> {
        // One batch per open window: its start, then its keys and accumulators.
        let mut batches = Vec::new();
        let mut schema = None;
        for (start, state) in &self.windows {
            let snapshot = state.snapshot()?;
            let mut fields = vec![arrow::datatypes::Field::new("_window_start", DataType::Int64, false)];
            fields.extend(snapshot.schema().fields().iter().map(|f| f.as_ref().clone()));
            let mut columns: Vec<ArrayRef> = vec![Arc::new(arrow::array::Int64Array::from(vec![*start; snapshot.num_rows()]))];
            columns.extend(snapshot.columns().iter().cloned());
            let s = Arc::new(Schema::new(fields));
            batches.push(RecordBatch::try_new(s.clone(), columns)?);
            schema = Some(s);
        }
        let schema = match schema {
            Some(s) => s,
            None => {
                let empty = KeyedAccumulators::new(&self.name, &self.spec.keys, &self.calls, &self.input)?.snapshot()?;
                let mut fields = vec![arrow::datatypes::Field::new("_window_start", DataType::Int64, false)];
                fields.extend(empty.schema().fields().iter().map(|f| f.as_ref().clone()));
                Arc::new(Schema::new(fields))
            }
        };
        Ok(Some(state_codec::encode(&[self.watermark], &schema, &batches)?))
    }

    fn restore_state(&mut self, state: &[u8]) -> Result<(), TaskError> {
        self.restore_state_rescaled(state, &|_| true)
    }

    fn restore_state_rescaled(&mut self, state: &[u8], keep: &dyn Fn(u64) -> bool) -> Result<(), TaskError> {
        let (header, batches) = state_codec::decode(state)?;
        // Several earlier subtasks: event time is where the slowest of them was.
        let saved = header.first().copied().unwrap_or(i64::MIN);
        self.watermark = if self.windows.is_empty() && self.watermark == i64::MIN { saved } else { self.watermark.min(saved) };
        for b in batches {
            if b.num_rows() == 0 {
                continue;
            }
            let start = b.column(0).as_primitive::<Int64Type>().value(0);
            let rest = b.project(&(1..b.num_columns()).collect::<Vec<_>>())?;
            let state = match self.windows.get_mut(&start) {
                Some(s) => s,
                None => {
                    let fresh = KeyedAccumulators::new(&self.name, &self.spec.keys, &self.calls, &self.input)?;
                    self.windows.entry(start).or_insert(fresh)
                }
            };
            state.restore(&rest, keep)?;
        }
        self.account()
    }

    fn process_watermark(&mut self, watermark: i64, out: &mut Vec<StreamElement>) -> Result<(), TaskError> {
        if self.spec.event_time {
            self.watermark = self.watermark.max(watermark);
            self.fire_until(watermark, out)?;
        }
        out.push(StreamElement::Watermark(watermark));
        Ok(())
    }

    fn finish(&mut self, out: &mut Vec<StreamElement>) -> Result<(), TaskError> {
        // Event-time windows fire on watermarks only: a bounded source ends with the
        // watermark MAX (every window fires), a stop without --drain does not (open
        // windows stay in the savepoint). Processing-time windows fire at the end.
        if !self.spec.event_time {
            self.fire_until(i64::MAX - self.spec.size_ms, out)?;
        }
        if self.dropped_late > 0 {
            tracing::info!("{}: dropped {} late rows", self.name, self.dropped_late);
        }
        Ok(())
    }

    fn next_timer(&self) -> Option<i64> {
        if self.spec.event_time {
            return None;
        }
        self.windows.keys().next().map(|start| start + self.spec.size_ms)
    }

    fn on_processing_time(&mut self, now_ms: i64, out: &mut Vec<StreamElement>) -> Result<(), TaskError> {
        self.fire_until(now_ms - 1, out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use arrow::array::Int64Array;
    use arrow::datatypes::Field;
    use rask_common::job::graph::AggregateFunction;

    #[test]
    fn open_windows_survive_snapshot_and_restore() {
        let input =
            Schema::new(vec![Field::new("ts", rask_common::job::types::timestamp_type(), true), Field::new("k", DataType::Int64, true)]);
        let output = Arc::new(Schema::new(vec![
            Field::new("window_start", rask_common::job::types::timestamp_type(), false),
            Field::new("window_end", rask_common::job::types::timestamp_type(), false),
            Field::new("k", DataType::Int64, true),
            Field::new("n", DataType::Int64, true),
        ]));
        let spec = WindowOperator {
            size_ms: 10,
            slide_ms: 10,
            event_time: true,
            time_column: Some(0),
            keys: vec![1],
            aggregates: vec![AggregateCall { function: AggregateFunction::Count, argument: None, output_name: "n".into() }],
        };
        let ctx = crate::runtime::operators::test_context();
        let batch = RecordBatch::try_new(
            Arc::new(input.clone()),
            vec![Arc::new(TimestampMillisecondArray::from(vec![1, 2, 15])), Arc::new(Int64Array::from(vec![7, 7, 8]))],
        )
        .unwrap();
        let mut a = Window::new("w", &spec, &input, output.clone(), &ctx).unwrap();
        a.process_batch(batch, &mut Vec::new()).unwrap();
        let state = a.snapshot_state().unwrap().unwrap();
        let mut b = Window::new("w", &spec, &input, output, &ctx).unwrap();
        b.restore_state(&state).unwrap();
        let (mut out_a, mut out_b) = (Vec::new(), Vec::new());
        a.process_watermark(i64::MAX, &mut out_a).unwrap();
        b.process_watermark(i64::MAX, &mut out_b).unwrap();
        let rows = |out: &[StreamElement]| -> Vec<RecordBatch> {
            out.iter().filter_map(|e| if let StreamElement::Batch(b) = e { Some(b.clone()) } else { None }).collect()
        };
        assert_eq!(rows(&out_a), rows(&out_b));
        assert_eq!(rows(&out_b).len(), 2);
    }
}
