//! What flows between operators and subtasks: batches, and in-band watermarks and the
//! end of input.

use arrow::record_batch::RecordBatch;

#[derive(Debug, Clone)]
pub enum StreamElement {
    Batch(RecordBatch),
    /// Event time has reached this value (ms): no later row will be older.
    Watermark(i64),
    /// Checkpoint barrier: everything before it belongs to checkpoint n.
    Barrier(u64),
    /// The producer has no more data.
    EndOfInput,
}
