//! Top-N per partition (by default per window: partitioned by `window_end`): buffers
//! each partition's rows, and when the watermark passes the window's end (or the
//! input ends) emits the first N by the order, with a `rank` column (1 = first).

use std::collections::BTreeMap;
use std::sync::Arc;

use arrow::array::{ArrayRef, AsArray, Int64Array, UInt32Array};
use arrow::compute::{cast, concat_batches, lexsort_to_indices, take_record_batch, SortColumn, SortOptions};
use arrow::datatypes::{DataType, Int64Type, Schema, SchemaRef};
use arrow::record_batch::RecordBatch;
use arrow_row::{RowConverter, SortField};

use super::{state_codec, StreamOperator};
use crate::runtime::{StreamElement, TaskError};

pub struct TopN {
    n: usize,
    partition_keys: Vec<usize>,
    /// The partition column that carries the firing time (a TIMESTAMP, e.g. window_end).
    time_key: Option<usize>,
    order_by: Vec<(usize, bool)>,
    converter: Option<RowConverter>,
    /// (fire time, partition key bytes) -> buffered rows.
    buffered: BTreeMap<(i64, Box<[u8]>), Vec<RecordBatch>>,
    output: SchemaRef,
}

impl TopN {
    pub fn new(n: u32, partition_keys: &[usize], order_by: &[(usize, bool)], input: &Schema, output: SchemaRef) -> Result<Self, TaskError> {
        let time_key = partition_keys.iter().copied().find(|&k| matches!(input.field(k).data_type(), DataType::Timestamp(_, _)));
        let converter = if partition_keys.is_empty() {
            None
        } else {
            Some(RowConverter::new(partition_keys.iter().map(|&k| SortField::new(input.field(k).data_type().clone())).collect())?)
        };
        Ok(Self {
            n: n as usize,
            partition_keys: partition_keys.to_vec(),
            time_key,
            order_by: order_by.to_vec(),
            converter,
            buffered: BTreeMap::new(),
            output,
        })
    }

    fn fire_until(&mut self, limit: i64, out: &mut Vec<StreamElement>) -> Result<(), TaskError> {
        while let Some(((time, _), _)) = self.buffered.first_key_value() {
            if *time != i64::MAX && *time - 1 > limit {
                break;
            }
            if *time == i64::MAX && limit != i64::MAX {
                break;
            }
            let (_, batches) = self.buffered.pop_first().expect("present");
            self.emit(batches, out)?;
        }
        Ok(())
    }

    /// The first `n` rows of `batches` by the order.
    fn top(&self, batches: &[RecordBatch]) -> Result<RecordBatch, TaskError> {
        let all = concat_batches(&batches[0].schema(), batches)?;
        let sort: Vec<SortColumn> = self
            .order_by
            .iter()
            .map(|&(c, descending)| SortColumn {
                values: all.column(c).clone(),
                options: Some(SortOptions { descending, nulls_first: false }),
            })
            .collect();
        let top = lexsort_to_indices(&sort, Some(self.n.min(all.num_rows())))?;
        Ok(take_record_batch(&all, &top)?)
    }

    fn emit(&self, batches: Vec<RecordBatch>, out: &mut Vec<StreamElement>) -> Result<(), TaskError> {
        let top = self.top(&batches)?;
        let mut columns: Vec<ArrayRef> = vec![Arc::new(Int64Array::from_iter_values(1..=top.num_rows() as i64))];
        columns.extend(top.columns().iter().cloned());
        out.push(StreamElement::Batch(RecordBatch::try_new(self.output.clone(), columns)?));
        Ok(())
    }
}

impl StreamOperator for TopN {
    fn process_batch(&mut self, batch: RecordBatch, _out: &mut Vec<StreamElement>) -> Result<(), TaskError> {
        let rows = batch.num_rows();
        let times: Option<Vec<i64>> = match self.time_key {
            Some(k) => Some(cast(batch.column(k), &DataType::Int64)?.as_primitive::<Int64Type>().values().to_vec()),
            None => None,
        };
        let keys: Vec<Box<[u8]>> = match &mut self.converter {
            Some(c) => {
                let cols: Vec<ArrayRef> = self.partition_keys.iter().map(|&k| batch.column(k).clone()).collect();
                c.convert_columns(&cols)?.iter().map(|r| Box::<[u8]>::from(r.as_ref())).collect()
            }
            None => vec![Box::from(&[][..]); rows],
        };
        let mut groups: BTreeMap<(i64, Box<[u8]>), Vec<u32>> = BTreeMap::new();
        for (row, key) in keys.into_iter().enumerate() {
            let t = times.as_ref().map(|t| t[row]).unwrap_or(i64::MAX);
            groups.entry((t, key)).or_default().push(row as u32);
        }
        for (group, idx) in groups {
            let part = if idx.len() == rows { batch.clone() } else { take_record_batch(&batch, &UInt32Array::from(idx))? };
            let held: usize = {
                let buffered = self.buffered.entry(group.clone()).or_default();
                buffered.push(part);
                buffered.iter().map(RecordBatch::num_rows).sum()
            };
            // Only the first n rows can ever be emitted: cut a partition's buffer down
            // to them once it holds many more.
            if held > (4 * self.n).max(8192) {
                let batches = self.buffered.remove(&group).unwrap_or_default();
                let top = self.top(&batches)?;
                self.buffered.insert(group, vec![top]);
            }
        }
        Ok(())
    }

    fn process_watermark(&mut self, watermark: i64, out: &mut Vec<StreamElement>) -> Result<(), TaskError> {
        self.fire_until(watermark, out)?;
        out.push(StreamElement::Watermark(watermark));
        Ok(())
    }

    fn finish(&mut self, out: &mut Vec<StreamElement>) -> Result<(), TaskError> {
        self.fire_until(i64::MAX, out)
    }

    fn snapshot_state(&self) -> Result<Option<Vec<u8>>, TaskError> {
        let batches: Vec<RecordBatch> = self.buffered.values().flatten().cloned().collect();
        let schema = match batches.first() {
            Some(b) => b.schema(),
            None => Arc::new(Schema::new(self.output.fields()[1..].to_vec())),
        };
        Ok(Some(state_codec::encode(&[], &schema, &batches)?))
    }

    fn restore_state(&mut self, state: &[u8]) -> Result<(), TaskError> {
        let (_, batches) = state_codec::decode(state)?;
        for b in batches {
            self.process_batch(b, &mut Vec::new())?;
        }
        Ok(())
    }
}
