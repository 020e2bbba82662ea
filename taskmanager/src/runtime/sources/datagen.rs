//! The datagen source, as Flink's datagen connector: sequences and random values in
//! ranges, bounded (`number-of-rows`) or not, rate-limited (`rows-per-second`) or not.
//! Every value is a function of (seed, column, global row number), so a seeded job
//! produces the same rows at any parallelism.

use std::sync::Arc;
use std::time::{Duration, Instant};

use arrow::array::{ArrayRef, BooleanArray, Float64Array, Int32Array, Int64Array, StringBuilder, TimestampMillisecondArray};
use arrow::datatypes::{DataType, SchemaRef};
use arrow::record_batch::RecordBatch;
use rask_common::job::graph::{DatagenField, DatagenSource};

use super::WatermarkGenerator;
use crate::runtime::operators::now_ms;
use crate::runtime::{StreamElement, TaskError};

const BATCH_ROWS: u64 = 8192;

pub struct Datagen {
    spec: DatagenSource,
    schema: SchemaRef,
    subtask: u64,
    parallelism: u64,
    /// Rows this subtask has produced.
    produced: u64,
    /// Rows this subtask must produce (None = unbounded).
    limit: Option<u64>,
    started: Instant,
    rate: Option<f64>,
    watermarks: Option<WatermarkGenerator>,
    done: bool,
    /// After a restore at another parallelism: the earlier parallelism and how many
    /// rows each of its subtasks had emitted (row g was emitted if
    /// g / p < positions[g % p]).
    emitted: Option<(u64, Vec<u64>)>,
}

/// SplitMix64: a counter-based generator, stable across versions and platforms.
#[inline]
fn mix(mut z: u64) -> u64 {
    z = z.wrapping_add(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

impl Datagen {
    pub fn new(spec: DatagenSource, schema: SchemaRef, subtask: u32, parallelism: u32) -> Self {
        let (subtask, parallelism) = (u64::from(subtask), u64::from(parallelism.max(1)));
        // Global rows subtask, subtask + p, subtask + 2p, ...
        let limit = spec.number_of_rows.map(|n| if n > subtask { (n - subtask).div_ceil(parallelism) } else { 0 });
        let rate = spec.rows_per_second.map(|r| r as f64 / parallelism as f64);
        let watermarks = spec.watermark.clone().map(WatermarkGenerator::new);
        Self {
            spec,
            schema,
            subtask,
            parallelism,
            produced: 0,
            limit,
            started: Instant::now(),
            rate,
            watermarks,
            done: false,
            emitted: None,
        }
    }

    /// Continues after `rows` rows (restore). Rate limiting counts from now.
    pub fn seek(&mut self, rows: u64) {
        self.produced = rows;
        let due = self.rate.map(|r| Duration::from_secs_f64(rows as f64 / r)).unwrap_or_default();
        self.started = Instant::now().checked_sub(due).unwrap_or_else(Instant::now);
    }

    /// The position for a checkpoint: candidates consumed, then (if restored at another
    /// parallelism) that parallelism and its subtasks' positions.
    pub fn position(&self) -> Vec<u64> {
        let mut out = vec![self.produced];
        if let Some((p, positions)) = &self.emitted {
            out.push(*p);
            out.extend(positions);
        }
        out
    }

    /// Restores what `position` wrote, at the same parallelism.
    pub fn restore(&mut self, state: &[u64]) {
        self.seek(state.first().copied().unwrap_or(0));
        if state.len() > 2 {
            self.emitted = Some((state[1], state[2..].to_vec()));
        }
    }

    /// Restores at a new parallelism from every earlier subtask's position: this
    /// subtask emits the rows that are its own now and that none emitted.
    pub fn restore_rescaled(&mut self, old_parallelism: u64, states: &[Vec<u64>]) -> Result<(), TaskError> {
        if states.iter().any(|s| s.len() > 1) {
            return Err(TaskError::Deployment("a datagen source restored at another parallelism cannot be rescaled again yet".into()));
        }
        let positions: Vec<u64> = states.iter().map(|s| s.first().copied().unwrap_or(0)).collect();
        if positions.len() as u64 != old_parallelism {
            return Err(TaskError::Deployment("the savepoint lacks positions of some datagen subtasks".into()));
        }
        self.emitted = Some((old_parallelism, positions));
        Ok(())
    }

    pub async fn next(&mut self) -> Result<Vec<StreamElement>, TaskError> {
        if self.done {
            return Ok(vec![]);
        }
        let remaining = self.limit.map(|l| l.saturating_sub(self.produced)).unwrap_or(u64::MAX);
        if remaining == 0 {
            self.done = true;
            let mut out = Vec::new();
            if self.watermarks.is_some() {
                out.push(StreamElement::Watermark(i64::MAX));
            }
            out.push(StreamElement::EndOfInput);
            return Ok(out);
        }
        let mut rows = remaining.min(BATCH_ROWS);
        if let Some(rate) = self.rate {
            // Keep to the rate: small batches (about 10 per second) and wait for them.
            rows = rows.min(((rate / 10.0).ceil() as u64).max(1));
            let due = Duration::from_secs_f64(self.produced as f64 / rate);
            let elapsed = self.started.elapsed();
            if due > elapsed {
                tokio::time::sleep(due - elapsed).await;
            }
        } else {
            // Let other tasks on this thread run between batches.
            tokio::task::yield_now().await;
        }
        let batch = self.generate(rows)?;
        self.produced += rows;
        let mut out = Vec::with_capacity(2);
        let watermark = match &mut self.watermarks {
            Some(w) => w.after(&batch)?,
            None => None,
        };
        out.push(StreamElement::Batch(batch));
        if let Some(w) = watermark {
            out.push(StreamElement::Watermark(w));
        }
        Ok(out)
    }

    /// The global row numbers of the next `rows` candidates, without rows an earlier
    /// run at another parallelism already emitted.
    fn globals(&self, rows: u64) -> Vec<u64> {
        let first = self.produced;
        let all = (0..rows).map(|i| (first + i) * self.parallelism + self.subtask);
        match &self.emitted {
            None => all.collect(),
            Some((old_p, positions)) => all.filter(|g| g / old_p >= positions[(g % old_p) as usize]).collect(),
        }
    }

    fn generate(&self, rows: u64) -> Result<RecordBatch, TaskError> {
        let globals = self.globals(rows);
        let rows = globals.len() as u64;
        let global = |i: u64| globals[i as usize];
        let seed = self.spec.seed;
        let mut columns: Vec<ArrayRef> = Vec::with_capacity(self.spec.fields.len());
        for (f, (field, generator)) in self.schema.fields().iter().zip(&self.spec.fields).enumerate() {
            let stream = mix(seed ^ mix(f as u64 + 1));
            let rnd = |g: u64| mix(stream ^ g.wrapping_mul(0xD6E8_FEB8_6659_FD93));
            let ty = field.data_type();
            let array: ArrayRef = match generator {
                DatagenField::Sequence { start, step } => {
                    let values = (0..rows).map(|i| start.wrapping_add((global(i) as i64).wrapping_mul(*step)));
                    int_array(ty, values)
                }
                DatagenField::RandomInt { min, max } => {
                    let span = (*max as i128 - *min as i128 + 1) as u128;
                    let values = (0..rows).map(|i| (*min as i128 + (u128::from(rnd(global(i))) % span) as i128) as i64);
                    int_array(ty, values)
                }
                DatagenField::RandomDouble { min, max } => {
                    let scale = max - min;
                    Arc::new(Float64Array::from_iter_values(
                        (0..rows).map(|i| min + (rnd(global(i)) >> 11) as f64 / (1u64 << 53) as f64 * scale),
                    ))
                }
                DatagenField::RandomBoolean => Arc::new(BooleanArray::from_iter((0..rows).map(|i| Some(rnd(global(i)) & 1 == 1)))),
                DatagenField::RandomString { length } => {
                    let mut b = StringBuilder::with_capacity(rows as usize, rows as usize * *length as usize);
                    let mut s = String::with_capacity(*length as usize);
                    for i in 0..rows {
                        s.clear();
                        let mut x = rnd(global(i));
                        for k in 0..*length {
                            if k % 10 == 0 && k > 0 {
                                x = mix(x);
                            }
                            s.push((b'a' + (x % 26) as u8) as char);
                            x /= 26;
                        }
                        b.append_value(&s);
                    }
                    Arc::new(b.finish())
                }
                DatagenField::Choice { values } => {
                    let mut b = StringBuilder::with_capacity(rows as usize, rows as usize * 8);
                    for i in 0..rows {
                        b.append_value(&values[(rnd(global(i)) % values.len() as u64) as usize]);
                    }
                    Arc::new(b.finish())
                }
                DatagenField::Now => Arc::new(TimestampMillisecondArray::from(vec![now_ms(); rows as usize])),
            };
            columns.push(array);
        }
        Ok(RecordBatch::try_new(self.schema.clone(), columns)?)
    }
}

fn int_array(ty: &DataType, values: impl Iterator<Item = i64>) -> ArrayRef {
    match ty {
        DataType::Int32 => Arc::new(Int32Array::from_iter_values(values.map(|v| v as i32))),
        DataType::Timestamp(_, _) => Arc::new(TimestampMillisecondArray::from_iter_values(values)),
        _ => Arc::new(Int64Array::from_iter_values(values)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use arrow::datatypes::{Field, Schema};

    fn gen(p: u32) -> Vec<i64> {
        let spec = DatagenSource {
            number_of_rows: Some(10),
            rows_per_second: None,
            seed: 7,
            fields: vec![DatagenField::Sequence { start: 0, step: 1 }, DatagenField::RandomInt { min: 0, max: 1000 }],
            watermark: None,
        };
        let schema = Arc::new(Schema::new(vec![Field::new("id", DataType::Int64, true), Field::new("v", DataType::Int64, true)]));
        let mut rows: Vec<(i64, i64)> = Vec::new();
        for s in 0..p {
            let d = Datagen::new(spec.clone(), schema.clone(), s, p);
            let b = d.generate(d.limit.unwrap()).unwrap();
            let ids = b.column(0).as_any().downcast_ref::<Int64Array>().unwrap();
            let vs = b.column(1).as_any().downcast_ref::<Int64Array>().unwrap();
            rows.extend(ids.values().iter().copied().zip(vs.values().iter().copied()));
        }
        rows.sort();
        assert_eq!(rows.len(), 10);
        rows.into_iter().map(|(_, v)| v).collect()
    }

    #[test]
    fn same_rows_at_any_parallelism() {
        let one = gen(1);
        assert_eq!(one, gen(3));
        assert!(one.iter().all(|v| (0..=1000).contains(v)));
    }
}
