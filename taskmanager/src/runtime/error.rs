//! Why a task failed.

use arrow::error::ArrowError;

#[derive(Debug, thiserror::Error)]
pub enum TaskError {
    #[error("operator '{operator}': {message}")]
    Operator { operator: String, message: String },
    #[error("operator '{operator}' exceeded its slot's memory budget of {budget_mb} MiB (taskmanager.memory.process.size / taskmanager.numberOfTaskSlots): its keyed state needs about {needed_mb} MiB")]
    MemoryBudgetExceeded { operator: String, budget_mb: u64, needed_mb: u64 },
    #[error("Arrow: {0}")]
    Arrow(#[from] ArrowError),
    #[error("I/O: {0}")]
    Io(#[from] std::io::Error),
    #[error("data exchange: {0}")]
    Network(String),
    /// A peer task went away: usually the echo of a failure elsewhere in the job.
    #[error("data exchange: {0}")]
    PeerGone(String),
    #[error("invalid deployment: {0}")]
    Deployment(String),
    #[error("internal error (please report): {0}")]
    Internal(String),
    #[error("task was cancelled")]
    Cancelled,
}

impl TaskError {
    pub fn operator(operator: &str, message: impl Into<String>) -> Self {
        TaskError::Operator { operator: operator.to_string(), message: message.into() }
    }
}
