//! Keyed aggregate state: per key (Arrow row format bytes) a slot, and per aggregate a
//! column of accumulators indexed by slot. Updates are a loop over the batch with one
//! hash lookup per row and no allocation except for new keys.

use std::sync::Arc;

use arrow::array::{Array, ArrayRef, AsArray, Float64Array, Int64Array};
use arrow::compute::cast;
use arrow::datatypes::{DataType, Float64Type, Int64Type, Schema};
use arrow::record_batch::RecordBatch;
use arrow_row::{RowConverter, Rows, SortField};
use hashbrown::HashMap;
use rask_common::job::expr::{self, Expr};
use rask_common::job::graph::{AggregateCall, AggregateFunction};
use rask_common::job::planner::aggregate_type;

use crate::runtime::TaskError;

enum Acc {
    Count(Vec<i64>),
    SumInt(Vec<i64>),
    SumFloat(Vec<f64>),
    MinInt(Vec<i64>),
    MaxInt(Vec<i64>),
    MinFloat(Vec<f64>),
    MaxFloat(Vec<f64>),
    Avg(Vec<f64>, Vec<i64>),
}

struct AggState {
    acc: Acc,
    argument: Option<Expr>,
    /// Whether the argument is evaluated as f64 (else i64).
    float: bool,
    out_type: DataType,
}

/// Keys and their accumulators.
pub struct KeyedAccumulators {
    keys: Vec<usize>,
    converter: Option<RowConverter>,
    index: HashMap<Box<[u8]>, u32>,
    key_rows: Option<Rows>,
    aggs: Vec<AggState>,
    len: usize,
    key_bytes: u64,
}

impl KeyedAccumulators {
    pub fn new(op: &str, keys: &[usize], calls: &[AggregateCall], input: &Schema) -> Result<Self, TaskError> {
        let converter = if keys.is_empty() {
            None
        } else {
            Some(RowConverter::new(keys.iter().map(|&k| SortField::new(input.field(k).data_type().clone())).collect())?)
        };
        let key_rows = converter.as_ref().map(|c| c.empty_rows(0, 0));
        let mut aggs = Vec::new();
        for call in calls {
            let argument = match &call.argument {
                Some(a) => Some(expr::compile_str(a, input).map_err(|e| TaskError::operator(op, e.0))?),
                None => None,
            };
            let arg_type = argument.as_ref().map(|a| a.data_type());
            let float = matches!(arg_type, Some(DataType::Float64)) || call.function == AggregateFunction::Avg;
            let acc = match (call.function, float) {
                (AggregateFunction::Count, _) => Acc::Count(Vec::new()),
                (AggregateFunction::Sum, false) => Acc::SumInt(Vec::new()),
                (AggregateFunction::Sum, true) => Acc::SumFloat(Vec::new()),
                (AggregateFunction::Min, false) => Acc::MinInt(Vec::new()),
                (AggregateFunction::Max, false) => Acc::MaxInt(Vec::new()),
                (AggregateFunction::Min, true) => Acc::MinFloat(Vec::new()),
                (AggregateFunction::Max, true) => Acc::MaxFloat(Vec::new()),
                (AggregateFunction::Avg, _) => Acc::Avg(Vec::new(), Vec::new()),
            };
            aggs.push(AggState { acc, argument, float, out_type: aggregate_type(call, input) });
        }
        Ok(Self { keys: keys.to_vec(), converter, index: HashMap::new(), key_rows, aggs, len: 0, key_bytes: 0 })
    }

    pub fn len(&self) -> usize {
        self.len
    }

    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Approximate memory held, for the slot's budget.
    pub fn memory_bytes(&self) -> u64 {
        self.key_bytes * 2 + (self.len as u64) * (16 + 32 + 16 * self.aggs.len() as u64)
    }

    /// Folds a batch into the state; returns each row's key slot.
    pub fn update(&mut self, batch: &RecordBatch) -> Result<Vec<u32>, TaskError> {
        let slots = self.assign(batch)?;
        self.accumulate(batch, &slots)?;
        Ok(slots)
    }

    /// Each row's key slot, new keys getting new slots (numbered from [`Self::len`]
    /// before the call) with empty accumulators.
    pub fn assign(&mut self, batch: &RecordBatch) -> Result<Vec<u32>, TaskError> {
        let rows = batch.num_rows();
        let slots: Vec<u32> = match &mut self.converter {
            None => {
                if self.len == 0 {
                    self.grow();
                }
                vec![0; rows]
            }
            Some(converter) => {
                let columns: Vec<ArrayRef> = self.keys.iter().map(|&k| batch.column(k).clone()).collect();
                let converted = converter.convert_columns(&columns)?;
                let key_rows = self.key_rows.as_mut().expect("keyed");
                let mut slots = Vec::with_capacity(rows);
                let mut new_keys = 0usize;
                for row in converted.iter() {
                    let bytes = row.as_ref();
                    let slot = match self.index.get(bytes) {
                        Some(s) => *s,
                        None => {
                            let s = (self.len + new_keys) as u32;
                            self.index.insert(bytes.into(), s);
                            key_rows.push(row);
                            self.key_bytes += bytes.len() as u64;
                            new_keys += 1;
                            s
                        }
                    };
                    slots.push(slot);
                }
                for _ in 0..new_keys {
                    self.grow();
                }
                slots
            }
        };
        Ok(slots)
    }

    /// Folds the rows of `batch` into the accumulators of their `slots` (from
    /// [`Self::assign`] on the same batch).
    pub fn accumulate(&mut self, batch: &RecordBatch, slots: &[u32]) -> Result<(), TaskError> {
        for agg in self.aggs.iter_mut() {
            let values: Option<ArrayRef> = match &agg.argument {
                None => None,
                Some(e) => {
                    let v = e.evaluate(batch)?;
                    Some(cast(&v, if agg.float { &DataType::Float64 } else { &DataType::Int64 })?)
                }
            };
            update_acc(&mut agg.acc, slots, values.as_ref());
        }
        Ok(())
    }

    fn grow(&mut self) {
        self.len += 1;
        for agg in self.aggs.iter_mut() {
            match &mut agg.acc {
                Acc::Count(v) | Acc::SumInt(v) => v.push(0),
                Acc::SumFloat(v) => v.push(0.0),
                Acc::MinInt(v) => v.push(i64::MAX),
                Acc::MaxInt(v) => v.push(i64::MIN),
                Acc::MinFloat(v) => v.push(f64::INFINITY),
                Acc::MaxFloat(v) => v.push(f64::NEG_INFINITY),
                Acc::Avg(s, c) => {
                    s.push(0.0);
                    c.push(0);
                }
            }
        }
    }

    /// The key columns and aggregate columns of `slots`, in that order.
    pub fn emit(&self, slots: &[u32]) -> Result<Vec<ArrayRef>, TaskError> {
        let mut columns = Vec::new();
        if let (Some(converter), Some(rows)) = (&self.converter, &self.key_rows) {
            columns.extend(converter.convert_rows(slots.iter().map(|&s| rows.row(s as usize)))?);
        }
        for agg in &self.aggs {
            let idx = slots.iter().map(|&s| s as usize);
            let array: ArrayRef = match &agg.acc {
                Acc::Count(v) | Acc::SumInt(v) | Acc::MinInt(v) | Acc::MaxInt(v) => {
                    Arc::new(Int64Array::from_iter_values(idx.map(|i| v[i])))
                }
                Acc::SumFloat(v) | Acc::MinFloat(v) | Acc::MaxFloat(v) => Arc::new(Float64Array::from_iter_values(idx.map(|i| v[i]))),
                Acc::Avg(s, c) => Arc::new(Float64Array::from_iter_values(idx.map(|i| if c[i] == 0 { 0.0 } else { s[i] / c[i] as f64 }))),
            };
            columns.push(if array.data_type() == &agg.out_type { array } else { cast(&array, &agg.out_type)? });
        }
        Ok(columns)
    }
}

fn update_acc(acc: &mut Acc, slots: &[u32], values: Option<&ArrayRef>) {
    let ints = values.and_then(|v| v.as_primitive_opt::<Int64Type>());
    let floats = values.and_then(|v| v.as_primitive_opt::<Float64Type>());
    macro_rules! fold {
        ($vec:expr, $arr:expr, $f:expr) => {{
            let arr = $arr.expect("argument");
            let vals = arr.values();
            if arr.null_count() == 0 {
                for (i, &slot) in slots.iter().enumerate() {
                    let s = slot as usize;
                    $vec[s] = $f($vec[s], vals[i]);
                }
            } else {
                for (i, &slot) in slots.iter().enumerate() {
                    if arr.is_valid(i) {
                        let s = slot as usize;
                        $vec[s] = $f($vec[s], vals[i]);
                    }
                }
            }
        }};
    }
    match acc {
        Acc::Count(v) => match values {
            None => {
                for &s in slots {
                    v[s as usize] += 1;
                }
            }
            Some(a) => {
                for (i, &s) in slots.iter().enumerate() {
                    if a.is_valid(i) {
                        v[s as usize] += 1;
                    }
                }
            }
        },
        Acc::SumInt(v) => fold!(v, ints, |a: i64, b: i64| a.wrapping_add(b)),
        Acc::SumFloat(v) => fold!(v, floats, |a: f64, b: f64| a + b),
        Acc::MinInt(v) => fold!(v, ints, |a: i64, b: i64| a.min(b)),
        Acc::MaxInt(v) => fold!(v, ints, |a: i64, b: i64| a.max(b)),
        Acc::MinFloat(v) => fold!(v, floats, |a: f64, b: f64| a.min(b)),
        Acc::MaxFloat(v) => fold!(v, floats, |a: f64, b: f64| a.max(b)),
        Acc::Avg(s, c) => {
            let arr = floats.expect("argument");
            for (i, &slot) in slots.iter().enumerate() {
                if arr.is_valid(i) {
                    s[slot as usize] += arr.value(i);
                    c[slot as usize] += 1;
                }
            }
        }
    }
}

impl KeyedAccumulators {
    /// Every key and its raw accumulators as one batch (for checkpoints).
    pub fn snapshot(&self) -> Result<RecordBatch, TaskError> {
        let slots: Vec<u32> = (0..self.len as u32).collect();
        let mut fields = Vec::new();
        let mut columns: Vec<ArrayRef> = Vec::new();
        if let (Some(converter), Some(rows)) = (&self.converter, &self.key_rows) {
            let keys = converter.convert_rows(slots.iter().map(|&s| rows.row(s as usize)))?;
            for (i, k) in keys.into_iter().enumerate() {
                fields.push(arrow::datatypes::Field::new(format!("k{i}"), k.data_type().clone(), true));
                columns.push(k);
            }
        }
        for (i, agg) in self.aggs.iter().enumerate() {
            let (ints, floats): (Option<&Vec<i64>>, Option<&Vec<f64>>) = match &agg.acc {
                Acc::Count(v) | Acc::SumInt(v) | Acc::MinInt(v) | Acc::MaxInt(v) => (Some(v), None),
                Acc::SumFloat(v) | Acc::MinFloat(v) | Acc::MaxFloat(v) => (None, Some(v)),
                Acc::Avg(s, c) => (Some(c), Some(s)),
            };
            if let Some(v) = floats {
                fields.push(arrow::datatypes::Field::new(format!("a{i}f"), DataType::Float64, false));
                columns.push(Arc::new(Float64Array::from(v.clone())));
            }
            if let Some(v) = ints {
                fields.push(arrow::datatypes::Field::new(format!("a{i}i"), DataType::Int64, false));
                columns.push(Arc::new(Int64Array::from(v.clone())));
            }
        }
        let schema = Arc::new(Schema::new(fields));
        Ok(RecordBatch::try_new_with_options(schema, columns, &arrow::array::RecordBatchOptions::new().with_row_count(Some(self.len)))?)
    }

    /// Adds the keys of a snapshot batch (of this operator's layout). With `keep`, only
    /// keys whose hash it accepts (key-group ranges when rescaling).
    pub fn restore(&mut self, batch: &RecordBatch, keep: &dyn Fn(u64) -> bool) -> Result<(), TaskError> {
        let nkeys = self.keys.len();
        let rows = batch.num_rows();
        let mut restored: Vec<(usize, u32)> = Vec::with_capacity(rows);
        match &mut self.converter {
            None => {
                if rows > 0 {
                    if self.len == 0 {
                        self.grow();
                    }
                    restored.push((0, 0));
                }
            }
            Some(converter) => {
                let converted = converter.convert_columns(&batch.columns()[..nkeys])?;
                let key_rows = self.key_rows.as_mut().expect("keyed");
                let mut grow = 0;
                for (i, row) in converted.iter().enumerate() {
                    let bytes = row.as_ref();
                    if !keep(xxhash_rust::xxh3::xxh3_64(bytes)) {
                        continue;
                    }
                    let slot = match self.index.get(bytes) {
                        Some(s) => *s,
                        None => {
                            let s = (self.len + grow) as u32;
                            self.index.insert(bytes.into(), s);
                            key_rows.push(row);
                            self.key_bytes += bytes.len() as u64;
                            grow += 1;
                            s
                        }
                    };
                    restored.push((i, slot));
                }
                for _ in 0..grow {
                    self.grow();
                }
            }
        }
        let mut col = nkeys;
        for agg in self.aggs.iter_mut() {
            let float = matches!(agg.acc, Acc::SumFloat(_) | Acc::MinFloat(_) | Acc::MaxFloat(_) | Acc::Avg(..));
            let fcol = if float {
                col += 1;
                Some(batch.column(col - 1).as_primitive::<Float64Type>().clone())
            } else {
                None
            };
            let icol = if !matches!(agg.acc, Acc::SumFloat(_) | Acc::MinFloat(_) | Acc::MaxFloat(_)) {
                col += 1;
                Some(batch.column(col - 1).as_primitive::<Int64Type>().clone())
            } else {
                None
            };
            for &(i, slot) in &restored {
                let s = slot as usize;
                match &mut agg.acc {
                    Acc::Count(v) | Acc::SumInt(v) => v[s] += icol.as_ref().expect("ints").value(i),
                    Acc::MinInt(v) => v[s] = v[s].min(icol.as_ref().expect("ints").value(i)),
                    Acc::MaxInt(v) => v[s] = v[s].max(icol.as_ref().expect("ints").value(i)),
                    Acc::SumFloat(v) => v[s] += fcol.as_ref().expect("floats").value(i),
                    Acc::MinFloat(v) => v[s] = v[s].min(fcol.as_ref().expect("floats").value(i)),
                    Acc::MaxFloat(v) => v[s] = v[s].max(fcol.as_ref().expect("floats").value(i)),
                    Acc::Avg(sum, count) => {
                        sum[s] += fcol.as_ref().expect("floats").value(i);
                        count[s] += icol.as_ref().expect("ints").value(i);
                    }
                }
            }
        }
        Ok(())
    }
}

/// First-touch order of the distinct slots in `slots`.
pub fn distinct_in_order(slots: &[u32], seen: &mut Vec<u32>, epoch: u32) -> Vec<u32> {
    let mut out = Vec::new();
    for &s in slots {
        let s_us = s as usize;
        if seen.len() <= s_us {
            seen.resize(s_us + 1, 0);
        }
        if seen[s_us] != epoch {
            seen[s_us] = epoch;
            out.push(s);
        }
    }
    out
}
