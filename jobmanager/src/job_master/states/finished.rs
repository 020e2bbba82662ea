//! Finished: the job reached a globally terminal status. Its slots go back, and the
//! end is recorded in the HA store so that no next leader runs it again. The last
//! state: the JobMaster ends here.

use std::time::Duration;

use super::JobMasterContext;
use crate::execution_graph::JobStatus;
use crate::ha::{HaError, JobResult};

pub struct Finished {
    pub status: JobStatus,
    /// Whether the end is recorded (not for a job this leader could not take over).
    pub record: bool,
}

impl Finished {
    pub async fn run(self, ctx: &mut JobMasterContext) {
        ctx.transition(self.status);
        if !self.record {
            return;
        }
        ctx.free_slots().await;
        let (status, end_time) = {
            let eg = ctx.execution.read();
            (eg.status, eg.end_time)
        };
        let result =
            JobResult { job_id: ctx.job_id().to_string(), name: ctx.graph.name.clone(), status: status.name().to_string(), end_time };
        // Until the end is recorded, a next leader would run the job again: retry while
        // this JobManager leads (a suspension aborts this task).
        let mut backoff = Duration::from_millis(100);
        loop {
            match ctx.services.store.job_terminated(&result).await {
                Ok(()) => break,
                Err(HaError::NotLeader) => {
                    tracing::error!(
                        "Job {} ({}) ended {status}, but this JobManager no longer leads: not recorded",
                        ctx.graph.name,
                        ctx.graph.job_id
                    );
                    break;
                }
                Err(e) => {
                    tracing::warn!("Job {} ({}) ended {status}; recording that failed ({e}); retrying", ctx.graph.name, ctx.graph.job_id);
                    tokio::time::sleep(backoff).await;
                    backoff = (backoff * 2).min(Duration::from_secs(5));
                }
            }
        }
    }
}
