//! Sources: where a source subtask's data comes from. Each yields batches, watermarks
//! (when the source has an event-time column) and finally the end of input if bounded.

pub mod datagen;
pub mod file;
pub mod socket;

use arrow::array::AsArray;
use arrow::compute::cast;
use arrow::datatypes::{DataType, Int64Type};
use arrow::record_batch::RecordBatch;
use rask_common::job::graph::{OperatorDescriptor, OperatorKind, WatermarkStrategy};

use super::{StreamElement, TaskError};

pub enum Source {
    Datagen(datagen::Datagen),
    File(file::FileSource),
    Socket(socket::SocketSource),
}

impl Source {
    /// The source `desc` names, or `None` for an operator that is not one. A file
    /// source reads only files inside `allowed` (rask.io.allowed-paths), each checked
    /// as it is opened (a directory's entries may be symlinks).
    pub fn build(
        desc: &OperatorDescriptor,
        subtask: u32,
        parallelism: u32,
        allowed: &rask_common::security::AllowedPaths,
    ) -> Result<Option<Self>, TaskError> {
        let schema = desc.output.to_schema();
        Ok(Some(match &desc.kind {
            OperatorKind::DatagenSource(spec) => Source::Datagen(datagen::Datagen::new(spec.clone(), schema, subtask, parallelism)),
            OperatorKind::FileSource { path, format, header, watermark } => Source::File(
                file::FileSource::new(path, *format, *header, watermark.clone(), schema, subtask, parallelism)
                    .with_allowed_paths(allowed.clone()),
            ),
            OperatorKind::SocketSource { host, port, .. } => {
                Source::Socket(socket::SocketSource::new(host.clone(), *port, schema, subtask))
            }
            _ => return Ok(None),
        }))
    }

    /// The source's position for a checkpoint: rows or batches already emitted.
    pub fn snapshot(&self) -> Vec<u8> {
        let values: Vec<u64> = match self {
            Source::Datagen(d) => d.position(),
            Source::File(f) => vec![f.position()],
            Source::Socket(_) => vec![0],
        };
        values.iter().flat_map(|v| v.to_le_bytes()).collect()
    }

    fn decode(state: &[u8]) -> Result<Vec<u64>, TaskError> {
        if state.is_empty() || !state.len().is_multiple_of(8) {
            return Err(TaskError::Deployment("corrupt source position".into()));
        }
        Ok(state.chunks(8).map(|c| u64::from_le_bytes(c.try_into().expect("8 bytes"))).collect())
    }

    /// Restores at a new parallelism from every earlier subtask's position, in
    /// subtask order.
    pub fn restore_rescaled(&mut self, states: &[Vec<u8>]) -> Result<(), TaskError> {
        let decoded = states.iter().map(|s| Self::decode(s)).collect::<Result<Vec<_>, _>>()?;
        match self {
            Source::Datagen(d) => d.restore_rescaled(decoded.len() as u64, &decoded),
            Source::File(_) => Err(TaskError::Deployment("the file source cannot be restored at another parallelism yet".into())),
            Source::Socket(_) => Ok(()),
        }
    }

    /// Continues from a position `snapshot` wrote.
    pub fn restore(&mut self, state: &[u8]) -> Result<(), TaskError> {
        let values = Self::decode(state)?;
        match self {
            Source::Datagen(d) => d.restore(&values),
            Source::File(f) => f.seek(values[0]),
            Source::Socket(_) => {}
        }
        Ok(())
    }

    /// The next elements; `EndOfInput` comes last for bounded sources.
    pub async fn next(&mut self) -> Result<Vec<StreamElement>, TaskError> {
        match self {
            Source::Datagen(d) => d.next().await,
            Source::File(f) => f.next().await,
            Source::Socket(s) => s.next().await,
        }
    }
}

/// Tracks the maximum event time seen and turns it into bounded-out-of-orderness
/// watermarks: max timestamp - delay - 1, as Flink's strategy does.
pub struct WatermarkGenerator {
    strategy: WatermarkStrategy,
    max_ts: i64,
    emitted: i64,
}

impl WatermarkGenerator {
    pub fn new(strategy: WatermarkStrategy) -> Self {
        Self { strategy, max_ts: i64::MIN, emitted: i64::MIN }
    }

    /// Observes a batch; returns a watermark to emit after it, if event time advanced.
    pub fn after(&mut self, batch: &RecordBatch) -> Result<Option<i64>, TaskError> {
        let ts = cast(batch.column(self.strategy.column), &DataType::Int64)?;
        if let Some(max) = arrow::compute::max(ts.as_primitive::<Int64Type>()) {
            self.max_ts = self.max_ts.max(max);
        }
        if self.max_ts == i64::MIN {
            return Ok(None);
        }
        let w = self.max_ts - self.strategy.max_out_of_orderness_ms - 1;
        if w > self.emitted {
            self.emitted = w;
            Ok(Some(w))
        } else {
            Ok(None)
        }
    }
}
