//! WaitingForResources: the job's slot needs are declared to the ResourceManager
//! (after a savepoint to start from has been checked); the SlotPool answers.
//!
//! → Deploying when the slots are offered; → Failing when the savepoint does not fit
//! or slot.request.timeout passes (the job is not RUNNING here, so no restart: as in
//! Flink's default scheduler, a job that cannot get its slots back fails); →
//! Cancelling on cancel.

use super::{after_failure, next_event, Cancelling, Deploying, Event, JobMasterContext, State};
use crate::job_master::slot_pool::SlotPoolEvent;
use crate::job_master::JobMasterMessage;

pub struct WaitingForResources;

impl WaitingForResources {
    pub async fn run(mut self, ctx: &mut JobMasterContext) -> State {
        // A first start from a savepoint: checked before anything runs (a mismatch
        // fails the job for good); its task files are addressed absolutely.
        if let (Some(savepoint), None) = (&ctx.graph.savepoint, &ctx.savepoint) {
            match crate::job_master::savepoint::savepoint_restore(&ctx.graph, &savepoint.path, savepoint.allow_non_restored_state).await {
                Ok(metadata) => ctx.savepoint = Some(metadata),
                Err(cause) => return after_failure(ctx, cause),
            }
        }
        ctx.slot_pool.declare(ctx.graph.slots_needed() as usize, ctx.services.slot_request_timeout);
        loop {
            let event = next_event(ctx).await;
            if let Some(next) = self.on(ctx, event) {
                return next;
            }
        }
    }

    pub fn on(&mut self, ctx: &mut JobMasterContext, event: Event) -> Option<State> {
        match event {
            Event::Slots(SlotPoolEvent::SlotsOffered(offers)) => Some(State::Deploying(Deploying { offers })),
            Event::Slots(SlotPoolEvent::RequestTimedOut { needed, free }) => Some(after_failure(
                ctx,
                format!(
                    "Could not acquire the minimum required resources: the job needs {needed} slots, {free} are free (slot.request.timeout: {} ms)",
                    ctx.services.slot_request_timeout.as_millis()
                ),
            )),
            Event::Message(JobMasterMessage::Cancel) | Event::MessagesClosed => Some(State::Cancelling(Cancelling)),
            Event::Message(other) => {
                ctx.refuse_savepoint(&other, "the job is waiting for slots");
                None
            }
            Event::Slots(SlotPoolEvent::TaskManagerLost(_)) | Event::Deployed(_) | Event::Timer => None,
        }
    }
}
