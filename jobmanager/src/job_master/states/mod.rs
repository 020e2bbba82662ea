//! The JobMaster's states (Flink's scheduler states), one file each. A state is a
//! type; its `on` is the transition function: it takes an [`Event`] and returns
//! `Some(next state)` or `None` (stay); its `run` does the state's work and feeds it
//! the events it waits for. Every transition of the JobMaster is a `State::…` value
//! returned in this folder.

mod cancelling;
mod created;
mod deploying;
mod executing;
mod failing;
mod finished;
mod restarting;
mod waiting_for_resources;

pub(super) use cancelling::Cancelling;
pub(super) use created::Created;
pub(super) use deploying::Deploying;
pub(super) use executing::Executing;
pub(super) use failing::Failing;
pub(super) use finished::Finished;
pub(super) use restarting::Restarting;
pub(super) use waiting_for_resources::WaitingForResources;

use super::context::JobMasterContext;
use super::slot_pool::SlotPoolEvent;
use super::JobMasterMessage;
use crate::execution_graph::JobStatus;

pub(super) enum State {
    Created(Created),
    WaitingForResources(WaitingForResources),
    Deploying(Deploying),
    Executing(Box<Executing>),
    Restarting(Restarting),
    Failing(Failing),
    Cancelling(Cancelling),
    Finished(Finished),
}

/// What a state reacts to.
pub(super) enum Event {
    /// From the Dispatcher: task states, checkpoint acknowledgements, savepoint
    /// requests, cancellation.
    Message(JobMasterMessage),
    /// The Dispatcher dropped the JobMaster's channel: nobody will ask anything more.
    MessagesClosed,
    /// From the SlotPool.
    Slots(SlotPoolEvent),
    /// Every subtask of the attempt was accepted by its TaskExecutor (or one refused).
    Deployed(Result<(), String>),
    /// A deadline the state set passed (restart delay, checkpoint interval).
    Timer,
}

impl State {
    /// Runs the state until it hands over; `Finished` ends the JobMaster instead.
    pub async fn run(self, ctx: &mut JobMasterContext) -> State {
        match self {
            State::Created(s) => s.run(ctx).await,
            State::WaitingForResources(s) => s.run(ctx).await,
            State::Deploying(s) => s.run(ctx).await,
            State::Executing(s) => s.run(ctx).await,
            State::Restarting(s) => s.run(ctx).await,
            State::Failing(s) => s.run(ctx).await,
            State::Cancelling(s) => s.run(ctx).await,
            State::Finished(s) => State::Finished(s),
        }
    }

    /// The state's name, for logs and tests.
    pub fn name(&self) -> &'static str {
        match self {
            State::Created(_) => "Created",
            State::WaitingForResources(_) => "WaitingForResources",
            State::Deploying(_) => "Deploying",
            State::Executing(_) => "Executing",
            State::Restarting(_) => "Restarting",
            State::Failing(_) => "Failing",
            State::Cancelling(_) => "Cancelling",
            State::Finished(_) => "Finished",
        }
    }
}

/// The next state after a failure: Restarting when the job has run and the restart
/// strategy allows another attempt, else Failing.
pub(super) fn after_failure(ctx: &JobMasterContext, cause: String) -> State {
    // Restart only a job that ran (not one that never got its slots).
    let ran = ctx.status() == JobStatus::Running;
    match ctx.settings.restart_strategy.next_delay(ctx.restarts).filter(|_| ran && !ctx.unrecoverable) {
        Some(delay) => State::Restarting(Restarting { cause, delay }),
        None => State::Failing(Failing { cause }),
    }
}

/// Waits for the next message from the Dispatcher or event of the SlotPool.
pub(super) async fn next_event(ctx: &mut JobMasterContext) -> Event {
    tokio::select! {
        m = ctx.messages.recv() => match m {
            Some(m) => Event::Message(m),
            None => Event::MessagesClosed,
        },
        e = ctx.slot_pool.next_event() => Event::Slots(e),
    }
}
