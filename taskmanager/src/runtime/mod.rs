//! The task runtime: a task runs one subtask of a JobVertex — its chain of operators
//! over Arrow record batches — reading from input channels (in-process or over the
//! network) and writing partitioned results for the next vertex.

pub mod element;
pub mod error;
pub mod memory;
pub mod network;
pub mod operators;
pub mod printed;
pub mod sources;
pub mod task;
mod task_reports;
mod task_state;

pub use element::StreamElement;
pub use error::TaskError;
