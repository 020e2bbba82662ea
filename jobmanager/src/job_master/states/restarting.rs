//! Restarting: a failed attempt is torn down (tasks cancelled, slots freed) and the
//! restart strategy's delay passes.
//!
//! → WaitingForResources for the next attempt once the delay has passed (messages
//! meanwhile do not cut it short); → Cancelling on cancel, also one that came while
//! the tasks were being cancelled.

use std::time::Duration;

use super::{next_event, Cancelling, Event, JobMasterContext, State, WaitingForResources};
use crate::execution_graph::JobStatus;
use crate::job_master::JobMasterMessage;

pub struct Restarting {
    pub cause: String,
    pub delay: Duration,
}

impl Restarting {
    pub async fn run(mut self, ctx: &mut JobMasterContext) -> State {
        ctx.restarts += 1;
        tracing::warn!(
            "Job {} ({}) failed: {}; restart {} in {} ms.",
            ctx.graph.name,
            ctx.graph.job_id,
            self.cause,
            ctx.restarts,
            self.delay.as_millis()
        );
        ctx.execution.write().record_failure(self.cause.clone());
        ctx.transition(JobStatus::Restarting);
        ctx.cancel_tasks().await;
        ctx.free_slots().await;
        if ctx.cancel_requested {
            return State::Cancelling(Cancelling);
        }
        let deadline = tokio::time::Instant::now() + self.delay;
        loop {
            let event = tokio::select! {
                e = next_event(ctx) => e,
                _ = tokio::time::sleep_until(deadline) => Event::Timer,
            };
            if let Some(next) = self.on(ctx, event) {
                return next;
            }
        }
    }

    pub fn on(&mut self, ctx: &mut JobMasterContext, event: Event) -> Option<State> {
        match event {
            Event::Timer => {
                ctx.attempt += 1;
                ctx.execution.write().reset_executions();
                Some(State::WaitingForResources(WaitingForResources))
            }
            Event::Message(JobMasterMessage::Cancel) | Event::MessagesClosed => Some(State::Cancelling(Cancelling)),
            Event::Message(other) => {
                ctx.refuse_savepoint(&other, "the job is restarting");
                None
            }
            Event::Slots(_) | Event::Deployed(_) => None,
        }
    }
}
