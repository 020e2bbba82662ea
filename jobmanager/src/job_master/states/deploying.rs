//! Deploying: the offered slots are allocated at their TaskExecutors, the job turns
//! RUNNING, and every subtask is deployed (concurrently, bounded in time) with the
//! checkpoint or savepoint it restores from.
//!
//! → Executing once every TaskExecutor accepted its subtasks; → Restarting or Failing
//! when a slot is refused, a deployment fails, a task fails or is cancelled unasked,
//! or a TaskManager holding a slot is lost; → Cancelling on cancel.

use std::time::Duration;

use rask_common::proto::{RequestSlotRequest, TaskExecutionState};

use super::{after_failure, next_event, Cancelling, Event, Executing, JobMasterContext, State};
use crate::execution_graph::{now_ms, ExecutionState, JobStatus};
use crate::job_master::deployment::Deployment;
use crate::job_master::gateway::GatewayError;
use crate::job_master::slot_pool::{AllocatedSlot, SlotPoolEvent};
use crate::job_master::JobMasterMessage;
use crate::resource_manager::SlotOffer;

/// How long deploying every task of a job may take.
const DEPLOY_TIMEOUT: Duration = Duration::from_secs(60);

pub struct Deploying {
    pub offers: Vec<SlotOffer>,
}

/// The cause of a job failure when a task was canceled without the JobMaster asking
/// (its TaskManager lost this JobManager, or was told so by another leader).
pub(super) fn unexpected_cancel(update: &TaskExecutionState) -> String {
    format!(
        "subtask {} of vertex {} was canceled on TaskManager {} without the JobMaster asking",
        update.subtask_index, update.vertex_id, update.resource_id
    )
}

impl Deploying {
    pub async fn run(mut self, ctx: &mut JobMasterContext) -> State {
        if let Err(cause) = allocate(ctx, std::mem::take(&mut self.offers)).await {
            return after_failure(ctx, cause);
        }
        ctx.transition(JobStatus::Running);
        let deployments = match deploy(ctx).await {
            Ok(d) => d,
            Err(cause) => return after_failure(ctx, cause),
        };
        // Deploy concurrently (a consumer waits for its producers' results to appear),
        // bounded in time, while following task states, cancellation and losses.
        let deploy = async move {
            match tokio::time::timeout(DEPLOY_TIMEOUT, futures::future::join_all(deployments)).await {
                Ok(results) => results.into_iter().collect::<Result<(), String>>(),
                Err(_) => Err(format!("deployment did not finish within {} s", DEPLOY_TIMEOUT.as_secs())),
            }
        };
        tokio::pin!(deploy);
        loop {
            let event = tokio::select! {
                result = &mut deploy => Event::Deployed(result),
                e = next_event(ctx) => e,
            };
            if let Some(next) = self.on(ctx, event) {
                return next;
            }
        }
    }

    pub fn on(&mut self, ctx: &mut JobMasterContext, event: Event) -> Option<State> {
        match event {
            Event::Deployed(Ok(())) => Some(State::Executing(Box::<Executing>::default())),
            Event::Deployed(Err(cause)) => Some(after_failure(ctx, cause)),
            Event::Message(JobMasterMessage::Cancel) | Event::MessagesClosed => Some(State::Cancelling(Cancelling)),
            Event::Message(JobMasterMessage::TaskState(update)) => {
                let state = ExecutionState::from_proto(update.state).filter(|_| update.attempt == ctx.attempt)?;
                ctx.execution.write().apply_task_update(&update, state);
                match state {
                    ExecutionState::Failed => Some(after_failure(ctx, update.error)),
                    ExecutionState::Canceled => Some(after_failure(ctx, unexpected_cancel(&update))),
                    _ => None,
                }
            }
            Event::Message(other) => {
                ctx.refuse_savepoint(&other, "the job is still being deployed");
                None
            }
            Event::Slots(SlotPoolEvent::TaskManagerLost(rid)) => Some(after_failure(ctx, format!("TaskManager {rid} was lost"))),
            Event::Slots(_) | Event::Timer => None,
        }
    }
}

/// Allocates each offered slot at its TaskExecutor; the SlotPool holds them after.
async fn allocate(ctx: &mut JobMasterContext, offers: Vec<SlotOffer>) -> Result<(), String> {
    for offer in offers {
        let allocation_id = rask_common::ids::random_hex_id();
        let gateway = ctx.gateway(&offer.rpc_address)?;
        let request = RequestSlotRequest {
            leader_token: ctx.services.leader_token.clone(),
            slot_index: offer.slot_index,
            allocation_id: allocation_id.clone(),
            job_id: ctx.job_id().to_string(),
        };
        // A TaskManager that has just registered may not have read our acceptance
        // (and token) yet: retry that refusal briefly.
        let mut attempt = 0;
        let report = loop {
            match gateway.request_slot(request.clone()).await {
                Ok(report) => break report,
                Err(GatewayError::NotReady(_)) if attempt < 20 => {
                    attempt += 1;
                    tokio::time::sleep(Duration::from_millis(10 * attempt)).await;
                }
                Err(e) => return Err(format!("TaskManager {} refused slot {}: {e}", offer.resource_id, offer.slot_index)),
            }
        };
        if let Some(report) = report {
            ctx.services.resource_manager.slot_report(&offer.resource_id, report.slots);
        }
        ctx.slot_pool.hold(AllocatedSlot { offer, allocation_id });
    }
    Ok(())
}

type Submission = std::pin::Pin<Box<dyn std::future::Future<Output = Result<(), String>> + Send>>;

/// Builds every subtask's descriptor, marks it DEPLOYING, and returns the submissions.
async fn deploy(ctx: &mut JobMasterContext) -> Result<Vec<Submission>, String> {
    let restore = match ctx.coordinator.as_mut() {
        Some(c) => match c.restore_point().await {
            Ok(point) => point,
            Err(cause) => {
                // No restart can help: fail the job for good, naming the cause.
                ctx.unrecoverable = true;
                return Err(cause);
            }
        },
        None => None,
    };
    let from_checkpoint = restore.is_some();
    let restore = restore.or_else(|| ctx.savepoint.clone());
    if let Some(m) = &restore {
        match (from_checkpoint, &ctx.graph.savepoint) {
            (false, Some(sp)) => tracing::info!("Restoring job {} from savepoint {}.", ctx.graph.job_id, sp.path),
            _ => tracing::info!("Restoring job {} from checkpoint {}.", ctx.graph.job_id, m.checkpoint_id),
        }
        let mut eg = ctx.execution.write();
        eg.checkpoints.restored += 1;
        eg.checkpoints.latest_restored = Some((m.checkpoint_id, now_ms()));
    }
    let graph = ctx.graph.clone();
    let graph_json = prost::bytes::Bytes::from(serde_json::to_vec(graph.as_ref()).map_err(|e| e.to_string())?);
    let slots = ctx.slot_pool.held().to_vec();
    // Slot i hosts subtask i of every vertex: the indexing below stays in bounds.
    let widest = graph.vertices.iter().map(|v| v.parallelism as usize).max().unwrap_or(0);
    if slots.len() < widest {
        return Err(format!("the job needs {widest} slots and holds {}", slots.len()));
    }
    let deployment = Deployment {
        graph: &graph,
        graph_json,
        settings: &ctx.settings,
        slots: &slots,
        leader_token: &ctx.services.leader_token,
        gateway_address: &ctx.services.gateway_address,
        attempt: ctx.attempt,
        restore: restore.as_ref(),
    };
    let mut planned = Vec::new();
    for vertex in &graph.vertices {
        for subtask in 0..vertex.parallelism {
            let execution_attempt_id = rask_common::ids::random_hex_id();
            planned.push((vertex, subtask, deployment.descriptor(vertex, subtask, execution_attempt_id.clone()), execution_attempt_id));
        }
    }
    let mut submissions: Vec<Submission> = Vec::new();
    for (vertex, subtask, tdd, execution_attempt_id) in planned {
        let slot = &slots[subtask as usize].offer;
        {
            let mut eg = ctx.execution.write();
            eg.set_task_state(&vertex.id, subtask, ExecutionState::Scheduled);
            eg.set_task_state(&vertex.id, subtask, ExecutionState::Deploying);
            if let Some(e) = eg.vertices.iter_mut().find(|v| v.id == vertex.id).and_then(|v| v.subtasks.get_mut(subtask as usize)) {
                e.resource_id = Some(slot.resource_id.clone());
                e.attempt_id = Some(execution_attempt_id);
                e.rpc_address = Some(slot.rpc_address.clone());
            }
        }
        let gateway = ctx.gateway(&slot.rpc_address)?;
        let what = format!("{} ({}/{})", vertex.name, subtask + 1, vertex.parallelism);
        let resource = slot.resource_id.clone();
        submissions.push(Box::pin(async move {
            gateway.submit_task(tdd).await.map_err(|e| format!("deploying {what} to {resource} failed: {e}"))
        }));
    }
    Ok(submissions)
}
