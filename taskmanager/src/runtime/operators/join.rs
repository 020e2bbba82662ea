//! Regular inner equi-join (SQL's `JOIN … ON a = b`) of two append-only inputs: each
//! side keeps every row it has seen, in its batches as they came, with an index from
//! key (Arrow row format) to rows. An arriving batch is probed against the other
//! side's index, its matches built with `take`/`interleave` a column at a time, and
//! then added to its own side. A row with a NULL key never matches, as in SQL.

use arrow::array::{Array, ArrayRef, UInt32Array};
use arrow::compute::{interleave, take};
use arrow::datatypes::SchemaRef;
use arrow::record_batch::RecordBatch;
use arrow_row::{RowConverter, SortField};
use hashbrown::HashMap;

use super::state_codec;
use super::{OperatorContext, StreamOperator};
use crate::runtime::memory::MemoryReservation;
use crate::runtime::{StreamElement, TaskError};

/// One input's rows and their index.
struct Side {
    schema: SchemaRef,
    keys: Vec<usize>,
    converter: RowConverter,
    batches: Vec<RecordBatch>,
    /// Key → (batch, row) of every row with that key.
    index: HashMap<Box<[u8]>, Vec<(u32, u32)>>,
    bytes: u64,
}

impl Side {
    fn new(schema: SchemaRef, keys: &[usize]) -> Result<Self, TaskError> {
        let converter = RowConverter::new(keys.iter().map(|&k| SortField::new(schema.field(k).data_type().clone())).collect())?;
        Ok(Self { schema, keys: keys.to_vec(), converter, batches: Vec::new(), index: HashMap::new(), bytes: 0 })
    }

    /// Each row's key bytes, `None` where a key column is NULL.
    fn keys_of(&self, batch: &RecordBatch) -> Result<Vec<Option<Box<[u8]>>>, TaskError> {
        let columns: Vec<ArrayRef> = self.keys.iter().map(|&k| batch.column(k).clone()).collect();
        let rows = self.converter.convert_columns(&columns)?;
        Ok((0..batch.num_rows())
            .map(|i| if columns.iter().any(|c| c.is_null(i)) { None } else { Some(rows.row(i).as_ref().into()) })
            .collect())
    }

    /// Keeps `batch` (rows with a NULL key are never matched, so not kept).
    fn add(&mut self, batch: RecordBatch, keys: Vec<Option<Box<[u8]>>>) {
        let b = self.batches.len() as u32;
        for (row, key) in keys.into_iter().enumerate() {
            if let Some(key) = key {
                self.bytes += key.len() as u64 + 8;
                self.index.entry(key).or_default().push((b, row as u32));
            }
        }
        self.bytes += batch.get_array_memory_size() as u64;
        self.batches.push(batch);
    }
}

pub struct Join {
    sides: [Side; 2],
    output: SchemaRef,
    memory: MemoryReservation,
}

impl Join {
    pub fn new(
        name: &str,
        (left, left_keys): (SchemaRef, &[usize]),
        (right, right_keys): (SchemaRef, &[usize]),
        output: SchemaRef,
        ctx: &OperatorContext,
    ) -> Result<Self, TaskError> {
        if left.fields().len() + right.fields().len() != output.fields().len() {
            return Err(TaskError::operator(name, "the join's output is not its two inputs' columns"));
        }
        Ok(Self {
            sides: [Side::new(left, left_keys)?, Side::new(right, right_keys)?],
            output,
            memory: MemoryReservation::new(ctx.slot_memory.clone(), name),
        })
    }

    /// Which side a batch is from: by its column names (the planner keeps them apart).
    fn side_of(&self, batch: &RecordBatch) -> usize {
        let left = self.sides[0].schema.fields().iter().map(|f| f.name());
        usize::from(!left.eq(batch.schema().fields().iter().map(|f| f.name())))
    }
}

impl StreamOperator for Join {
    fn process_batch(&mut self, batch: RecordBatch, out: &mut Vec<StreamElement>) -> Result<(), TaskError> {
        let side = self.side_of(&batch);
        let batch = RecordBatch::try_new(self.sides[side].schema.clone(), batch.columns().to_vec())?;
        let keys = self.sides[side].keys_of(&batch)?;
        let other = &self.sides[1 - side];
        // Matches: this batch's row, and the other side's (batch, row).
        let (mut mine, mut theirs) = (Vec::new(), Vec::new());
        for (row, key) in keys.iter().enumerate() {
            if let Some(list) = key.as_ref().and_then(|k| other.index.get(k)) {
                for &(b, r) in list {
                    mine.push(row as u32);
                    theirs.push((b as usize, r as usize));
                }
            }
        }
        if !mine.is_empty() {
            let indices = UInt32Array::from(mine);
            let this_columns: Vec<ArrayRef> = batch.columns().iter().map(|c| take(c.as_ref(), &indices, None)).collect::<Result<_, _>>()?;
            // Only the other side's batches that matched take part.
            let mut used: Vec<usize> = theirs.iter().map(|(b, _)| *b).collect();
            used.sort_unstable();
            used.dedup();
            let at: Vec<(usize, usize)> = theirs.iter().map(|(b, r)| (used.binary_search(b).expect("listed"), *r)).collect();
            let mut other_columns = Vec::with_capacity(other.schema.fields().len());
            for c in 0..other.schema.fields().len() {
                let arrays: Vec<&dyn Array> = used.iter().map(|&b| other.batches[b].column(c).as_ref()).collect();
                other_columns.push(interleave(&arrays, &at)?);
            }
            let columns = if side == 0 { [this_columns, other_columns].concat() } else { [other_columns, this_columns].concat() };
            out.push(StreamElement::Batch(RecordBatch::try_new(self.output.clone(), columns)?));
        }
        self.sides[side].add(batch, keys);
        self.memory.resize(self.sides[0].bytes + self.sides[1].bytes)?;
        Ok(())
    }

    fn snapshot_state(&self) -> Result<Option<Vec<u8>>, TaskError> {
        let mut out = Vec::new();
        for side in &self.sides {
            let bytes = state_codec::encode(&[], &side.schema, &side.batches)?;
            out.extend_from_slice(&(bytes.len() as u64).to_le_bytes());
            out.extend_from_slice(&bytes);
        }
        Ok(Some(out))
    }

    fn restore_state(&mut self, state: &[u8]) -> Result<(), TaskError> {
        self.restore_state_rescaled(state, &|_| true)
    }

    fn restore_state_rescaled(&mut self, state: &[u8], keep: &dyn Fn(u64) -> bool) -> Result<(), TaskError> {
        let bad = || TaskError::Network("corrupt join state".into());
        let mut rest = state;
        for side in &mut self.sides {
            let len = u64::from_le_bytes(rest.get(..8).ok_or_else(bad)?.try_into().expect("8 bytes")) as usize;
            let blob = rest.get(8..8 + len).ok_or_else(bad)?;
            rest = &rest[8 + len..];
            let (_, batches) = state_codec::decode(blob)?;
            for b in batches {
                let b = RecordBatch::try_new(side.schema.clone(), b.columns().to_vec())?;
                let keys = side.keys_of(&b)?;
                // Keep the rows whose key this subtask owns now.
                let mine: Vec<u32> = keys
                    .iter()
                    .enumerate()
                    .filter(|(_, k)| k.as_ref().is_some_and(|k| keep(xxhash_rust::xxh3::xxh3_64(k))))
                    .map(|(i, _)| i as u32)
                    .collect();
                if mine.is_empty() {
                    continue;
                }
                let b = if mine.len() == b.num_rows() { b } else { arrow::compute::take_record_batch(&b, &UInt32Array::from(mine))? };
                let keys = side.keys_of(&b)?;
                side.add(b, keys);
            }
        }
        self.memory.resize(self.sides[0].bytes + self.sides[1].bytes)
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use super::*;
    use arrow::array::{Int64Array, StringArray};
    use arrow::datatypes::{DataType, Field, Schema};

    fn schemas() -> (SchemaRef, SchemaRef, SchemaRef) {
        let left = Arc::new(Schema::new(vec![Field::new("id", DataType::Int64, true), Field::new("name", DataType::Utf8, true)]));
        let right = Arc::new(Schema::new(vec![Field::new("seller", DataType::Int64, true), Field::new("item", DataType::Int64, true)]));
        let out = Arc::new(Schema::new(vec![
            Field::new("P.id", DataType::Int64, true),
            Field::new("P.name", DataType::Utf8, true),
            Field::new("A.seller", DataType::Int64, true),
            Field::new("A.item", DataType::Int64, true),
        ]));
        (left, right, out)
    }

    fn rows(out: &[StreamElement]) -> Vec<(i64, String, i64)> {
        let mut v = Vec::new();
        for e in out {
            if let StreamElement::Batch(b) = e {
                let id = b.column(0).as_any().downcast_ref::<Int64Array>().unwrap();
                let name = b.column(1).as_any().downcast_ref::<StringArray>().unwrap();
                let item = b.column(3).as_any().downcast_ref::<Int64Array>().unwrap();
                v.extend((0..b.num_rows()).map(|i| (id.value(i), name.value(i).to_string(), item.value(i))));
            }
        }
        v.sort();
        v
    }

    #[test]
    fn rows_of_either_side_meet_earlier_rows_of_the_other_and_survive_a_restore() {
        let (left, right, out) = schemas();
        let ctx = crate::runtime::operators::test_context();
        let mut join = Join::new("join", (left.clone(), &[0]), (right.clone(), &[0]), out.clone(), &ctx).unwrap();
        let people = RecordBatch::try_new(
            left.clone(),
            vec![Arc::new(Int64Array::from(vec![Some(1), Some(2), None])), Arc::new(StringArray::from(vec!["ann", "bob", "nul"]))],
        )
        .unwrap();
        let auctions = |sellers: Vec<Option<i64>>, items: Vec<i64>| {
            RecordBatch::try_new(right.clone(), vec![Arc::new(Int64Array::from(sellers)), Arc::new(Int64Array::from(items))]).unwrap()
        };
        let mut emitted = Vec::new();
        join.process_batch(auctions(vec![Some(2), None], vec![10, 11]), &mut emitted).unwrap();
        assert!(emitted.is_empty());
        join.process_batch(people, &mut emitted).unwrap();
        assert_eq!(rows(&emitted), [(2, "bob".to_string(), 10)]);
        let state = join.snapshot_state().unwrap().unwrap();
        let mut restored = Join::new("join", (left, &[0]), (right.clone(), &[0]), out, &ctx).unwrap();
        restored.restore_state(&state).unwrap();
        let mut emitted = Vec::new();
        restored.process_batch(auctions(vec![Some(1), Some(2), Some(3)], vec![20, 21, 22]), &mut emitted).unwrap();
        assert_eq!(rows(&emitted), [(1, "ann".to_string(), 20), (2, "bob".to_string(), 21)]);
    }
}
