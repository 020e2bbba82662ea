//! Created: the JobMaster has its job. A job taken over from an earlier leader first
//! takes over its completed checkpoints from the HA store.
//!
//! → WaitingForResources; → Finished (FAILED, not recorded) when the HA store's
//! checkpoints cannot be read: a leader that can read them runs the job.

use super::{Finished, JobMasterContext, State, WaitingForResources};
use crate::execution_graph::JobStatus;
use crate::job_master::Recovery;

pub struct Created {
    pub recovery: Option<Recovery>,
}

impl Created {
    pub async fn run(self, ctx: &mut JobMasterContext) -> State {
        ctx.transition(JobStatus::Created);
        if let (Some(recovery), Some(c)) = (self.recovery, ctx.coordinator.as_mut()) {
            if let Err(cause) = c.recover(recovery.checkpoint_counter, recovery.checkpoints).await {
                let cause = format!("cannot recover job {} from the HA store: {cause}", ctx.graph.job_id);
                tracing::error!("{cause}");
                ctx.execution.write().record_failure(cause);
                ctx.transition(JobStatus::Failing);
                ctx.transition(JobStatus::Failed);
                return State::Finished(Finished { status: JobStatus::Failed, record: false });
            }
        }
        State::WaitingForResources(WaitingForResources)
    }
}
