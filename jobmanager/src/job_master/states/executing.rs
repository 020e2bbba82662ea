//! Executing: every subtask is deployed; the JobMaster follows their states and
//! takes checkpoints and savepoints.
//!
//! → Finished (FINISHED) when every task finished (also after a stop-with-savepoint);
//! → Restarting or Failing when a task fails or is cancelled unasked, or a TaskManager
//! holding a slot is lost; → Cancelling on cancel.

use std::time::{Duration, Instant};

use super::deploying::unexpected_cancel;
use super::{after_failure, next_event, Cancelling, Event, Finished, JobMasterContext, State};
use crate::checkpoint_coordinator::{CheckpointCoordinator, SavepointOperation, SavepointRequest};
use crate::execution_graph::{ExecutionState, JobStatus};
use crate::job_master::slot_pool::SlotPoolEvent;
use crate::job_master::JobMasterMessage;

#[derive(Default)]
pub struct Executing {
    /// The job's coordinator while this state runs (the context's otherwise).
    coordinator: Option<CheckpointCoordinator>,
}

impl Executing {
    pub async fn run(mut self, ctx: &mut JobMasterContext) -> State {
        self.coordinator = ctx.coordinator.take();
        let far = Instant::now() + Duration::from_secs(86_400 * 365);
        // Every task may have finished before the last deployment was acknowledged.
        let finished_already = ctx.execution.read().all_tasks(|s| s == ExecutionState::Finished);
        let next = loop {
            if finished_already {
                break State::Finished(Finished { status: JobStatus::Finished, record: true });
            }
            let deadline = self.coordinator.as_ref().map(|c| c.next_deadline()).unwrap_or(far);
            let event = tokio::select! {
                e = next_event(ctx) => e,
                _ = tokio::time::sleep_until(deadline.into()), if self.coordinator.is_some() => Event::Timer,
            };
            if let Some(next) = self.on(ctx, event).await {
                break next;
            }
        };
        if let Some(c) = self.coordinator.as_mut() {
            let mut stats = ctx.execution.read().checkpoints.clone();
            c.abort("the job is ending", &mut stats).await;
            ctx.execution.write().checkpoints = stats;
        }
        ctx.coordinator = self.coordinator.take();
        next
    }

    pub async fn on(&mut self, ctx: &mut JobMasterContext, event: Event) -> Option<State> {
        match event {
            Event::Message(JobMasterMessage::Cancel) | Event::MessagesClosed => Some(State::Cancelling(Cancelling)),
            Event::Message(JobMasterMessage::TaskState(update)) => {
                let state = ExecutionState::from_proto(update.state).filter(|_| update.attempt == ctx.attempt)?;
                let all_finished = {
                    let mut eg = ctx.execution.write();
                    eg.apply_task_update(&update, state);
                    eg.all_tasks(|s| s == ExecutionState::Finished)
                };
                match state {
                    ExecutionState::Failed => Some(after_failure(ctx, update.error)),
                    // Nobody asked for it: a job is never left RUNNING over canceled
                    // tasks; it restarts or fails.
                    ExecutionState::Canceled => Some(after_failure(ctx, unexpected_cancel(&update))),
                    _ if all_finished => Some(State::Finished(Finished { status: JobStatus::Finished, record: true })),
                    _ => None,
                }
            }
            Event::Message(JobMasterMessage::CheckpointAck(ack)) => {
                let c = self.coordinator.as_mut()?;
                let before = c.latest_completed().map(|m| m.checkpoint_id);
                let mut stats = ctx.execution.read().checkpoints.clone();
                c.acknowledge(ack, &mut stats).await;
                ctx.execution.write().checkpoints = stats;
                if let Some(done) = c.latest_completed().map(|m| m.checkpoint_id).filter(|id| Some(*id) != before) {
                    ctx.notify_checkpoint_complete(done);
                }
                None
            }
            Event::Message(JobMasterMessage::CheckpointDecline(decline)) => {
                let c = self.coordinator.as_mut().filter(|c| c.pending_id() == Some(decline.checkpoint_id))?;
                let mut stats = ctx.execution.read().checkpoints.clone();
                let reason = format!("declined by subtask {} of {}: {}", decline.subtask_index, decline.vertex_id, decline.reason);
                c.abort(&reason, &mut stats).await;
                ctx.execution.write().checkpoints = stats;
                None
            }
            Event::Message(JobMasterMessage::TriggerSavepoint { trigger_id, target_dir, stop, drain }) => {
                self.savepoint(ctx, SavepointRequest { trigger_id, target_dir }, stop, drain).await;
                None
            }
            Event::Slots(SlotPoolEvent::TaskManagerLost(rid)) => {
                Some(after_failure(ctx, format!("TaskManager {rid} was lost (connection closed or heartbeat timed out)")))
            }
            Event::Timer => {
                self.checkpoint(ctx).await;
                None
            }
            Event::Slots(_) | Event::Deployed(_) => None,
        }
    }

    /// Starts a savepoint (ending any checkpoint in progress); with `stop`, the tasks
    /// end after it.
    async fn savepoint(&mut self, ctx: &mut JobMasterContext, request: SavepointRequest, stop: bool, drain: bool) {
        let Some(c) = self.coordinator.as_mut() else {
            let cause = "savepoints need a checkpoint directory, where the tasks write their state first: set state.checkpoints.dir for the job (rask run -D state.checkpoints.dir=DIR) or in the cluster's configuration (a restart applies it)".to_string();
            ctx.savepoints.lock().insert(request.trigger_id, SavepointOperation::Failed { cause });
            return;
        };
        if !ctx.execution.read().all_tasks(|s| s == ExecutionState::Running) {
            let cause = "not every task of the job is running".to_string();
            ctx.savepoints.lock().insert(request.trigger_id, SavepointOperation::Failed { cause });
            return;
        }
        let mut stats = ctx.execution.read().checkpoints.clone();
        c.abort("a savepoint was requested", &mut stats).await;
        let (id, timestamp) = c.start_savepoint(request, &mut stats);
        ctx.execution.write().checkpoints = stats.clone();
        let triggered = match c.reserve_id(id).await {
            Ok(()) => ctx.trigger_checkpoint(id, timestamp, stop, drain).await,
            Err(e) => Err(e),
        };
        if let Err(reason) = triggered {
            c.abort(&reason, &mut stats).await;
        }
        ctx.execution.write().checkpoints = stats;
    }

    /// The checkpoint interval passed: ends a checkpoint that overran its timeout, or
    /// starts the next one when every task runs.
    async fn checkpoint(&mut self, ctx: &mut JobMasterContext) {
        let Some(c) = self.coordinator.as_mut() else { return };
        let mut stats = ctx.execution.read().checkpoints.clone();
        if c.has_pending() {
            let timeout = ctx.settings.checkpointing.as_ref().map(|s| s.timeout).unwrap_or_default();
            c.abort(&format!("not complete within execution.checkpointing.timeout ({} ms)", timeout.as_millis()), &mut stats).await;
        } else if ctx.execution.read().all_tasks(|s| s == ExecutionState::Running) {
            let (id, timestamp) = c.start(&mut stats);
            ctx.execution.write().checkpoints = stats.clone();
            let triggered = match c.reserve_id(id).await {
                Ok(()) => ctx.trigger_checkpoint(id, timestamp, false, false).await,
                Err(e) => Err(e),
            };
            if let Err(reason) = triggered {
                c.abort(&reason, &mut stats).await;
            }
        } else {
            // Not every task runs (some finished, or are starting): skip.
            c.skip();
        }
        ctx.execution.write().checkpoints = stats;
    }
}
