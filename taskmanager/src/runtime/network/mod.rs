//! Data exchange between subtasks. A producer subtask writes one bounded queue per
//! consumer subtask (its result subpartitions) and registers them here; a consumer in
//! the same TaskManager takes its queue directly, one elsewhere reads it over gRPC
//! (`ReadPartition`) as Arrow IPC frames. Bounded queues carry back-pressure end to end.

pub mod codec;
pub mod input;
pub mod registry;
pub mod remote;
pub mod writer;

/// Elements a subpartition queue holds before the producer waits.
pub const QUEUE_CAPACITY: usize = 4;
