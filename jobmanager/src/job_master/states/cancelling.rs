//! Cancelling: the user cancelled the job (or its Dispatcher went away); its tasks
//! are cancelled.
//!
//! → Finished (CANCELED).

use super::{Finished, JobMasterContext, State};
use crate::execution_graph::JobStatus;

pub struct Cancelling;

impl Cancelling {
    pub async fn run(self, ctx: &mut JobMasterContext) -> State {
        ctx.transition(JobStatus::Cancelling);
        ctx.cancel_tasks().await;
        ctx.transition(JobStatus::Canceled);
        State::Finished(Finished { status: JobStatus::Canceled, record: true })
    }
}
