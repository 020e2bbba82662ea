//! Failing: the job failed for good (no restart left, or none can help); its tasks
//! are cancelled.
//!
//! → Finished (FAILED).

use super::{Finished, JobMasterContext, State};
use crate::execution_graph::JobStatus;

pub struct Failing {
    pub cause: String,
}

impl Failing {
    pub async fn run(self, ctx: &mut JobMasterContext) -> State {
        tracing::warn!("Job {} ({}) failed: {}", ctx.graph.name, ctx.graph.job_id, self.cause);
        ctx.execution.write().record_failure(self.cause);
        ctx.transition(JobStatus::Failing);
        ctx.cancel_tasks().await;
        ctx.transition(JobStatus::Failed);
        State::Finished(Finished { status: JobStatus::Failed, record: true })
    }
}
