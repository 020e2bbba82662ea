//! What a JobMaster carries from state to state — its job, ExecutionGraph, services,
//! slots, gateways, checkpoint coordinator and counters — and the actions several
//! states share (switching the job status, cancelling tasks, freeing slots, reaching
//! TaskExecutors for checkpoints).

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use parking_lot::RwLock;
use rask_common::checkpoint::CheckpointMetadata;
use rask_common::job::graph::JobGraph;
use rask_common::proto::{CancelJobTasksRequest, FreeSlotRequest, NotifyCheckpointCompleteRequest, TriggerCheckpointRequest};
use tokio::sync::mpsc;

use super::gateway::TaskExecutorGateway;
use super::slot_pool::SlotPool;
use super::{JobMasterMessage, JobMasterServices};
use crate::checkpoint_coordinator::{CheckpointCoordinator, SavepointOperation, SavepointOperations};
use crate::execution_graph::{now_ms, ExecutionGraph, ExecutionState, JobStatus};
use crate::job_settings::JobSettings;

pub(super) struct JobMasterContext {
    pub graph: Arc<JobGraph>,
    pub execution: Arc<RwLock<ExecutionGraph>>,
    pub services: JobMasterServices,
    pub settings: Arc<JobSettings>,
    pub messages: mpsc::UnboundedReceiver<JobMasterMessage>,
    pub slot_pool: SlotPool,
    gateways: HashMap<String, Arc<dyn TaskExecutorGateway>>,
    /// Deployment attempt: the first, then one more after each restart.
    pub attempt: u32,
    /// Restarts so far (what the restart strategy counts).
    pub restarts: u32,
    /// Taken by the Executing state while it runs, put back when it leaves.
    pub coordinator: Option<CheckpointCoordinator>,
    pub savepoints: SavepointOperations,
    /// Set when no restart can help (its completed checkpoints are unreadable).
    pub unrecoverable: bool,
    /// The savepoint the job started from, once checked: restored whenever no
    /// checkpoint has completed since.
    pub savepoint: Option<CheckpointMetadata>,
    /// A cancel arrived while tasks were being cancelled for a restart: the job is
    /// cancelled instead of restarted.
    pub cancel_requested: bool,
}

impl JobMasterContext {
    #[allow(clippy::too_many_arguments)]
    pub fn new(
        graph: Arc<JobGraph>,
        execution: Arc<RwLock<ExecutionGraph>>,
        services: JobMasterServices,
        settings: Arc<JobSettings>,
        messages: mpsc::UnboundedReceiver<JobMasterMessage>,
        attempt: u32,
        coordinator: Option<CheckpointCoordinator>,
        savepoints: SavepointOperations,
    ) -> Self {
        let slot_pool = SlotPool::new(services.resource_manager.clone(), &graph.job_id);
        Self {
            graph,
            execution,
            services,
            settings,
            messages,
            slot_pool,
            gateways: HashMap::new(),
            attempt,
            restarts: 0,
            coordinator,
            savepoints,
            unrecoverable: false,
            savepoint: None,
            cancel_requested: false,
        }
    }

    pub fn job_id(&self) -> &str {
        &self.graph.job_id
    }

    /// Moves the job to `next` (if the ExecutionGraph allows it) and logs it as Flink does.
    pub fn transition(&self, next: JobStatus) {
        let mut eg = self.execution.write();
        let from = eg.status;
        if eg.transition(next) {
            tracing::info!("Job {} ({}) switched from state {from} to {next}.", self.graph.name, self.graph.job_id);
        }
    }

    pub fn status(&self) -> JobStatus {
        self.execution.read().status
    }

    /// The gateway of the TaskExecutor at `address` (one per address and JobMaster).
    pub fn gateway(&mut self, address: &str) -> Result<Arc<dyn TaskExecutorGateway>, String> {
        if let Some(g) = self.gateways.get(address) {
            return Ok(g.clone());
        }
        let gateway = self.services.gateways.connect(address).map_err(|e| e.to_string())?;
        self.gateways.insert(address.to_string(), gateway.clone());
        Ok(gateway)
    }

    /// The addresses of the TaskExecutors holding the job's slots, once each.
    pub fn slot_addresses(&self) -> Vec<String> {
        let mut addresses: Vec<String> = self.slot_pool.held().iter().map(|s| s.offer.rpc_address.clone()).collect();
        addresses.sort();
        addresses.dedup();
        addresses
    }

    /// [`Self::slot_addresses`] of TaskManagers still registered.
    fn live_slot_addresses(&self) -> Vec<String> {
        let rm = &self.services.resource_manager;
        let mut addresses: Vec<String> =
            self.slot_pool.held().iter().filter(|s| rm.is_registered(&s.offer.resource_id)).map(|s| s.offer.rpc_address.clone()).collect();
        addresses.sort();
        addresses.dedup();
        addresses
    }

    /// Answers a savepoint request that cannot be served now.
    pub fn refuse_savepoint(&self, message: &JobMasterMessage, cause: &str) {
        if let JobMasterMessage::TriggerSavepoint { trigger_id, .. } = message {
            self.savepoints.lock().insert(trigger_id.clone(), SavepointOperation::Failed { cause: cause.to_string() });
        }
    }

    /// Asks every TaskExecutor of the job to cancel its tasks, then waits briefly for
    /// them to report a terminal state; tasks that never answer end CANCELED.
    pub async fn cancel_tasks(&mut self) {
        // Tasks never deployed, or on a TaskManager that is gone, are over already.
        {
            let rm = self.services.resource_manager.clone();
            let mut eg = self.execution.write();
            for v in eg.vertices.iter_mut() {
                for e in v.subtasks.iter_mut() {
                    let gone = e.resource_id.as_ref().is_none_or(|rid| !rm.is_registered(rid));
                    if !e.state.is_terminal() && (e.state <= ExecutionState::Scheduled || gone) {
                        e.state = ExecutionState::Canceled;
                        e.end_time = now_ms();
                    }
                }
            }
        }
        self.set_unfinished_tasks(ExecutionState::Canceling);
        // TaskManagers that are gone would only make each call wait for its timeout.
        for address in self.live_slot_addresses() {
            if let Ok(gateway) = self.gateway(&address) {
                let request = CancelJobTasksRequest { leader_token: self.services.leader_token.clone(), job_id: self.job_id().to_string() };
                let _ = tokio::time::timeout(Duration::from_secs(2), gateway.cancel_job_tasks(request)).await;
            }
        }
        let deadline = Instant::now() + Duration::from_secs(5);
        while !self.execution.read().all_tasks(|s| s.is_terminal()) && Instant::now() < deadline {
            tokio::select! {
                m = self.messages.recv() => match m {
                    Some(JobMasterMessage::TaskState(update)) => {
                        if let Some(state) = ExecutionState::from_proto(update.state).filter(|_| update.attempt == self.attempt) {
                            // While cancelling, a task that fails because its peers went
                            // away ends CANCELED, as the whole job does.
                            let state = if state == ExecutionState::Failed { ExecutionState::Canceled } else { state };
                            self.execution.write().apply_task_update(&update, state);
                        }
                    }
                    Some(message @ JobMasterMessage::TriggerSavepoint { .. }) => self.refuse_savepoint(&message, "the job is ending"),
                    Some(JobMasterMessage::Cancel) => self.cancel_requested = true,
                    Some(JobMasterMessage::CheckpointAck(_) | JobMasterMessage::CheckpointDecline(_)) => {}
                    None => break,
                },
                // A TaskManager lost meanwhile will not answer for its tasks.
                event = self.slot_pool.next_event() => {
                    if let super::slot_pool::SlotPoolEvent::TaskManagerLost(rid) = event {
                        self.cancel_tasks_on(&rid);
                    }
                }
                _ = tokio::time::sleep_until(deadline.into()) => break,
            }
        }
        // Tasks that never answered (their TaskManager is gone) end as CANCELED.
        self.set_unfinished_tasks(ExecutionState::Canceled);
    }

    /// Marks the unfinished tasks on TaskManager `rid` CANCELED.
    fn cancel_tasks_on(&self, rid: &str) {
        let mut eg = self.execution.write();
        for v in eg.vertices.iter_mut() {
            for e in v.subtasks.iter_mut() {
                if !e.state.is_terminal() && e.resource_id.as_deref() == Some(rid) {
                    e.state = ExecutionState::Canceled;
                    e.end_time = now_ms();
                }
            }
        }
    }

    /// Moves every task not in a terminal state to `state`.
    fn set_unfinished_tasks(&self, state: ExecutionState) {
        let mut eg = self.execution.write();
        let left: Vec<(String, u32)> = eg
            .vertices
            .iter()
            .flat_map(|v| v.subtasks.iter().enumerate().filter(|(_, e)| !e.state.is_terminal()).map(move |(i, _)| (v.id.clone(), i as u32)))
            .collect();
        for (v, i) in left {
            eg.set_task_state(&v, i, state);
        }
    }

    /// Frees the job's slots at their TaskExecutors and returns them to the
    /// ResourceManager.
    pub async fn free_slots(&mut self) {
        for slot in self.slot_pool.take_held() {
            if !self.services.resource_manager.is_registered(&slot.offer.resource_id) {
                continue;
            }
            if let Ok(gateway) = self.gateway(&slot.offer.rpc_address) {
                let request = FreeSlotRequest { leader_token: self.services.leader_token.clone(), allocation_id: slot.allocation_id };
                if let Ok(Ok(Some(report))) = tokio::time::timeout(Duration::from_secs(2), gateway.free_slot(request)).await {
                    self.services.resource_manager.slot_report(&slot.offer.resource_id, report.slots);
                }
            }
        }
        self.slot_pool.release();
        // The next attempt may run elsewhere: no connection is kept for nothing.
        self.gateways.clear();
    }

    /// Tells every TaskExecutor of the job that checkpoint `id` is complete (sinks
    /// commit). Fire and forget: a task that misses it commits on restore.
    pub fn notify_checkpoint_complete(&mut self, id: u64) {
        for address in self.slot_addresses() {
            let Ok(gateway) = self.gateway(&address) else { continue };
            let request = NotifyCheckpointCompleteRequest {
                leader_token: self.services.leader_token.clone(),
                job_id: self.job_id().to_string(),
                checkpoint_id: id,
            };
            tokio::spawn(async move {
                let _ = tokio::time::timeout(Duration::from_secs(5), gateway.notify_checkpoint_complete(request)).await;
            });
        }
    }

    /// Sends checkpoint `id`'s trigger to every TaskExecutor that runs a source task.
    pub async fn trigger_checkpoint(&mut self, id: u64, timestamp: i64, stop: bool, drain: bool) -> Result<(), String> {
        let held = self.slot_pool.held();
        let sources = self.graph.vertices.iter().filter(|v| self.graph.inputs_of(&v.id).is_empty());
        let mut addresses = Vec::new();
        for v in sources {
            for i in 0..v.parallelism as usize {
                let slot = held.get(i).ok_or_else(|| format!("no slot for subtask {i} of {}", v.name))?;
                addresses.push(slot.offer.rpc_address.clone());
            }
        }
        addresses.sort();
        addresses.dedup();
        for address in addresses {
            let gateway = self.gateway(&address)?;
            let request = TriggerCheckpointRequest {
                leader_token: self.services.leader_token.clone(),
                job_id: self.job_id().to_string(),
                checkpoint_id: id,
                timestamp,
                stop,
                drain,
            };
            match tokio::time::timeout(Duration::from_secs(2), gateway.trigger_checkpoint(request)).await {
                Ok(Ok(())) => {}
                Ok(Err(e)) => return Err(format!("trigger refused by {address}: {e}")),
                Err(_) => return Err(format!("trigger to {address} timed out")),
            }
        }
        Ok(())
    }
}
