//! RecordWriter: splits a producer's batches among its consumer subtasks (forward,
//! hash by key through key groups, rebalance, broadcast), coalesces small pieces into
//! full batches, and flushes them when full or after the buffer timeout.

use std::time::{Duration, Instant};

use arrow::array::UInt32Array;
use arrow::compute::{concat_batches, take_record_batch};
use arrow::record_batch::RecordBatch;
use arrow_row::{RowConverter, SortField};
use rask_common::job::graph::Partitioning;
use tokio::sync::mpsc;

use crate::runtime::{StreamElement, TaskError};

/// Rows per batch the writer aims for.
pub const TARGET_BATCH_ROWS: usize = 8192;

enum Partitioner {
    Forward,
    Hash { keys: Vec<usize>, converter: Option<RowConverter>, max_parallelism: u32 },
    Rebalance { next: usize },
    Broadcast,
}

pub struct RecordWriter {
    targets: Vec<mpsc::Sender<StreamElement>>,
    partitioner: Partitioner,
    pending: Vec<Vec<RecordBatch>>,
    pending_rows: Vec<usize>,
    oldest_pending: Option<Instant>,
    buffer_timeout: Duration,
    /// Time spent waiting for room in a full consumer queue since the last take.
    backpressured: Duration,
}

/// The key group of a key hash (Flink's assignment: key group, then operator index).
pub fn subtask_for_hash(hash: u64, max_parallelism: u32, parallelism: u32) -> u32 {
    let key_group = (hash % u64::from(max_parallelism)) as u32;
    key_group * parallelism / max_parallelism
}

/// The hash of each row's key columns: xxh3 of Arrow's row format (stable across
/// processes, so every producer sends a key to the same consumer).
pub fn key_hashes(converter: &mut RowConverter, batch: &RecordBatch, keys: &[usize]) -> Result<Vec<u64>, TaskError> {
    let columns: Vec<_> = keys.iter().map(|&k| batch.column(k).clone()).collect();
    let rows = converter.convert_columns(&columns)?;
    Ok(rows.iter().map(|r| xxhash_rust::xxh3::xxh3_64(r.as_ref())).collect())
}

impl RecordWriter {
    pub fn new(
        partitioning: &Partitioning,
        targets: Vec<mpsc::Sender<StreamElement>>,
        max_parallelism: u32,
        buffer_timeout: Duration,
    ) -> Self {
        let partitioner = match partitioning {
            Partitioning::Forward => Partitioner::Forward,
            Partitioning::Hash { keys } => Partitioner::Hash { keys: keys.clone(), converter: None, max_parallelism },
            Partitioning::Rebalance => Partitioner::Rebalance { next: 0 },
            Partitioning::Broadcast => Partitioner::Broadcast,
        };
        let n = targets.len();
        Self {
            targets,
            partitioner,
            pending: (0..n).map(|_| Vec::new()).collect(),
            pending_rows: vec![0; n],
            oldest_pending: None,
            buffer_timeout,
            backpressured: Duration::ZERO,
        }
    }

    /// When the oldest buffered piece must be flushed.
    pub fn flush_deadline(&self) -> Option<Instant> {
        self.oldest_pending.map(|t| t + self.buffer_timeout)
    }

    pub async fn write(&mut self, batch: RecordBatch) -> Result<(), TaskError> {
        if batch.num_rows() == 0 {
            return Ok(());
        }
        let n = self.targets.len();
        match &mut self.partitioner {
            Partitioner::Forward => self.buffer(0, batch).await,
            Partitioner::Rebalance { next } => {
                let t = *next % n;
                *next = next.wrapping_add(1);
                self.buffer(t, batch).await
            }
            Partitioner::Broadcast => {
                for t in 0..n {
                    self.buffer(t, batch.clone()).await?;
                }
                Ok(())
            }
            Partitioner::Hash { keys, converter, max_parallelism } => {
                if n == 1 {
                    return self.buffer(0, batch).await;
                }
                let schema = batch.schema();
                let conv = match converter {
                    Some(c) => c,
                    None => converter
                        .insert(RowConverter::new(keys.iter().map(|&k| SortField::new(schema.field(k).data_type().clone())).collect())?),
                };
                let hashes = key_hashes(conv, &batch, keys)?;
                let mut indices: Vec<Vec<u32>> = vec![Vec::new(); n];
                let max_p = *max_parallelism;
                for (row, h) in hashes.iter().enumerate() {
                    indices[subtask_for_hash(*h, max_p, n as u32) as usize].push(row as u32);
                }
                for (t, idx) in indices.into_iter().enumerate() {
                    if idx.is_empty() {
                        continue;
                    }
                    let piece =
                        if idx.len() == batch.num_rows() { batch.clone() } else { take_record_batch(&batch, &UInt32Array::from(idx))? };
                    self.buffer(t, piece).await?;
                }
                Ok(())
            }
        }
    }

    async fn buffer(&mut self, target: usize, batch: RecordBatch) -> Result<(), TaskError> {
        let rows = batch.num_rows();
        if self.pending_rows[target] == 0 && rows >= TARGET_BATCH_ROWS / 2 {
            return self.send(target, StreamElement::Batch(batch)).await;
        }
        self.pending[target].push(batch);
        self.pending_rows[target] += rows;
        self.oldest_pending.get_or_insert_with(Instant::now);
        if self.pending_rows[target] >= TARGET_BATCH_ROWS {
            self.flush_target(target).await?;
        }
        Ok(())
    }

    async fn flush_target(&mut self, target: usize) -> Result<(), TaskError> {
        let pieces = std::mem::take(&mut self.pending[target]);
        self.pending_rows[target] = 0;
        if pieces.is_empty() {
            return Ok(());
        }
        let batch = if pieces.len() == 1 { pieces.into_iter().next().expect("one") } else { concat_batches(&pieces[0].schema(), &pieces)? };
        if self.pending_rows.iter().all(|r| *r == 0) {
            self.oldest_pending = None;
        }
        self.send(target, StreamElement::Batch(batch)).await
    }

    /// Sends everything buffered.
    pub async fn flush(&mut self) -> Result<(), TaskError> {
        for t in 0..self.targets.len() {
            self.flush_target(t).await?;
        }
        self.oldest_pending = None;
        Ok(())
    }

    /// Flushes, then sends a watermark or the end of input to every consumer.
    pub async fn broadcast(&mut self, element: StreamElement) -> Result<(), TaskError> {
        self.flush().await?;
        for t in 0..self.targets.len() {
            self.send(t, element.clone()).await?;
        }
        Ok(())
    }

    async fn send(&mut self, target: usize, element: StreamElement) -> Result<(), TaskError> {
        let gone = || TaskError::PeerGone(format!("consumer subtask {target} went away"));
        // Only a full queue is waited for, and only that wait is back-pressure.
        let element = match self.targets[target].try_send(element) {
            Ok(()) => return Ok(()),
            Err(mpsc::error::TrySendError::Closed(_)) => return Err(gone()),
            Err(mpsc::error::TrySendError::Full(element)) => element,
        };
        let waiting = Instant::now();
        let sent = self.targets[target].send(element).await.map_err(|_| gone());
        self.backpressured += waiting.elapsed();
        sent
    }

    /// The time spent waiting for room downstream since the previous call.
    pub fn take_backpressured(&mut self) -> Duration {
        std::mem::take(&mut self.backpressured)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn key_groups_spread_over_subtasks_in_ranges() {
        assert_eq!(subtask_for_hash(0, 128, 2), 0);
        assert_eq!(subtask_for_hash(63, 128, 2), 0);
        assert_eq!(subtask_for_hash(64, 128, 2), 1);
        assert_eq!(subtask_for_hash(127 + 128, 128, 2), 1);
    }
}
