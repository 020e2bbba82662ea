//! The JobMaster: runs one job. It takes slots from the ResourceManager, deploys every
//! subtask to its TaskExecutor, follows the tasks' states to the job's end (finished,
//! failed, canceled), and frees the slots. Its state is its own; the Dispatcher and
//! REST read snapshots of it.

use std::collections::VecDeque;
use std::sync::Arc;
use std::time::{Duration, Instant};

use parking_lot::{Mutex, RwLock};
use rask_common::job::graph::{JobGraph, Partitioning};
use rask_common::proto::task_executor_client::TaskExecutorClient;
use rask_common::proto::{
    CancelJobTasksRequest, FreeSlotRequest, InputLocation, RequestSlotRequest, TaskDeploymentDescriptor, TaskExecutionState,
};
use rask_common::proto::{CheckpointAck, CheckpointDecline, NotifyCheckpointCompleteRequest, TriggerCheckpointRequest};
use tokio::sync::{mpsc, watch};
use tonic::transport::Channel;

use crate::checkpoint_coordinator::{CheckpointCoordinator, SavepointOperation, SavepointOperations, SavepointRequest};
use crate::execution_graph::{now_ms, ExecutionGraph, ExecutionState, JobStatus};
use crate::ha::{CheckpointPointer, JobResult, JobStore};
use crate::job_settings::JobSettings;
use crate::resource_manager::{ResourceManager, SlotOffer};

/// How long deploying every task of a job may take.
const DEPLOY_TIMEOUT: Duration = Duration::from_secs(60);

/// Lines of printed output a job keeps for clients (older lines are dropped).
const OUTPUT_LINES_KEPT: usize = 100_000;
/// The printed bytes a JobManager keeps per job.
const OUTPUT_BYTES_KEPT: usize = 64 << 20;
/// The most bytes of printed rows one `/jobs/:id/output` answer carries.
const OUTPUT_PAGE_BYTES: usize = 4 << 20;

pub enum JobMasterMessage {
    TaskState(TaskExecutionState),
    CheckpointAck(CheckpointAck),
    CheckpointDecline(CheckpointDecline),
    /// Take a savepoint into `target_dir`; with `stop`, end the job after it.
    TriggerSavepoint {
        trigger_id: String,
        target_dir: String,
        stop: bool,
        drain: bool,
    },
    Cancel,
}

/// Printed rows of a job, numbered from 0, the oldest dropped past a bound of lines
/// and of bytes.
#[derive(Default)]
pub struct JobOutput {
    first: usize,
    lines: VecDeque<String>,
    bytes: usize,
    /// Rows the job's print sinks have printed (over every attempt).
    pub rows: u64,
}

impl JobOutput {
    /// Keeps `lines`, which print `rows` rows.
    pub fn append(&mut self, lines: Vec<String>, rows: u64) {
        self.rows += rows;
        for line in lines {
            self.bytes += line.len();
            self.lines.push_back(line);
        }
        while self.lines.len() > OUTPUT_LINES_KEPT || (self.bytes > OUTPUT_BYTES_KEPT && self.lines.len() > 1) {
            let dropped = self.lines.pop_front().expect("non-empty");
            self.bytes -= dropped.len();
            self.first += 1;
        }
    }

    /// The number after the last line kept.
    pub fn end(&self) -> usize {
        self.first + self.lines.len()
    }

    /// Lines from number `from` on (at most OUTPUT_PAGE_BYTES of them, at least one),
    /// the number after the last one returned, and how many lines from `from` on were
    /// already dropped.
    pub fn read(&self, from: usize) -> (Vec<String>, usize, usize) {
        let start = from.max(self.first) - self.first;
        let mut lines: Vec<String> = Vec::new();
        let mut bytes = 0;
        for line in self.lines.iter().skip(start) {
            if !lines.is_empty() && bytes + line.len() > OUTPUT_PAGE_BYTES {
                break;
            }
            bytes += line.len();
            lines.push(line.clone());
        }
        let next = self.first + start + lines.len();
        (lines, next, self.first.saturating_sub(from))
    }
}

/// What the rest of the JobManager holds of a running JobMaster.
#[derive(Clone)]
pub struct JobMasterHandle {
    pub graph: Arc<JobGraph>,
    /// What the job runs with (`/jobs/:id/config`, its default savepoint directory).
    pub settings: Arc<JobSettings>,
    pub execution: Arc<RwLock<ExecutionGraph>>,
    pub output: Arc<Mutex<JobOutput>>,
    pub terminal: watch::Receiver<bool>,
    /// Savepoint operations by trigger id.
    pub savepoints: SavepointOperations,
    messages: mpsc::UnboundedSender<JobMasterMessage>,
    task: tokio::task::AbortHandle,
    /// Turns true once a client has read the job's end and all its printed rows.
    pub result_served: Arc<watch::Sender<bool>>,
    /// Savepoint operations whose result a client has read.
    pub savepoints_delivered: Arc<Mutex<std::collections::HashSet<String>>>,
}

impl JobMasterHandle {
    pub fn send(&self, message: JobMasterMessage) {
        let _ = self.messages.send(message);
    }

    pub fn status(&self) -> JobStatus {
        self.execution.read().status
    }

    /// Stops the JobMaster where it is, without cancelling tasks or freeing slots:
    /// its leader is gone, and the next leader recovers the job.
    pub fn suspend(&self) {
        self.task.abort();
        if !self.status().is_terminal() {
            tracing::info!("Job {} ({}) suspended: this JobManager no longer leads.", self.graph.name, self.graph.job_id);
        }
    }
}

/// What a JobMaster needs from its JobManager.
#[derive(Clone)]
pub struct JobMasterServices {
    pub resource_manager: Arc<ResourceManager>,
    pub leader_token: String,
    /// host:port of the JobMasterGateway (the JobManager's gRPC endpoint).
    pub gateway_address: String,
    pub slot_request_timeout: Duration,
    /// The cluster's configuration, under each job's own keys (see `JobSettings`).
    pub cluster_configuration: Arc<rask_common::config::Configuration>,
    /// Where jobs without state.checkpoints.dir stage their savepoints.
    pub savepoint_staging: Option<rask_common::checkpoint::CheckpointStorage>,
    /// What survives this leader (job graphs, checkpoint pointers, job results).
    pub store: Arc<dyn JobStore>,
    /// The leadership term (0 without HA).
    pub term: u64,
    /// Mutual TLS for the connections to TaskExecutors.
    pub internal_tls: Option<Arc<rask_common::security::InternalTls>>,
    /// rask.io.allowed-paths: checked at submission and on savepoint targets.
    pub allowed_paths: rask_common::security::AllowedPaths,
}

/// What an earlier leader left of a job this JobMaster takes over.
pub struct Recovery {
    pub checkpoint_counter: u64,
    pub checkpoints: Option<CheckpointPointer>,
}

/// Starts a JobMaster for `graph`; with `recovery`, it takes over from an earlier leader.
pub fn spawn(graph: JobGraph, services: JobMasterServices, settings: Arc<JobSettings>, recovery: Option<Recovery>) -> JobMasterHandle {
    let graph = Arc::new(graph);
    let execution = Arc::new(RwLock::new(ExecutionGraph::new(&graph)));
    let (tx, rx) = mpsc::unbounded_channel();
    let (terminal_tx, terminal) = watch::channel(false);
    let savepoints = SavepointOperations::default();
    let tasks: usize = graph.vertices.iter().map(|v| v.parallelism as usize).sum();
    let coordinator = settings
        .checkpointing
        .clone()
        .map(|s| CheckpointCoordinator::new(s, graph.job_id.clone(), tasks, savepoints.clone(), services.store.clone()));
    // Attempts of a recovered job are numbered apart from the earlier leader's, so that
    // late reports of its tasks are never taken for ours.
    let attempt = match &recovery {
        Some(_) => ((services.term % 4_000_000) * 1000) as u32,
        None => 0,
    };
    let master = JobMaster {
        graph: graph.clone(),
        execution: execution.clone(),
        services,
        settings: settings.clone(),
        messages: rx,
        slots: Vec::new(),
        clients: Default::default(),
        attempt,
        coordinator,
        lost: None,
        savepoints: savepoints.clone(),
        unrecoverable: false,
        savepoint: None,
    };
    let task = tokio::spawn(async move {
        master.run(recovery).await;
        let _ = terminal_tx.send(true);
    });
    JobMasterHandle {
        graph,
        settings,
        execution,
        output: Arc::default(),
        terminal,
        savepoints,
        messages: tx,
        task: task.abort_handle(),
        result_served: Arc::new(watch::Sender::new(false)),
        savepoints_delivered: Arc::default(),
    }
}

struct JobMaster {
    graph: Arc<JobGraph>,
    execution: Arc<RwLock<ExecutionGraph>>,
    services: JobMasterServices,
    settings: Arc<JobSettings>,
    messages: mpsc::UnboundedReceiver<JobMasterMessage>,
    /// Slot i hosts subtask i of every vertex (slot sharing).
    slots: Vec<(SlotOffer, String)>,
    clients: std::collections::HashMap<String, TaskExecutorClient<Channel>>,
    /// Deployment attempt: 0 first, one more after each restart.
    attempt: u32,
    coordinator: Option<CheckpointCoordinator>,
    /// Loss notifications, subscribed before slots are taken so that none is missed.
    lost: Option<tokio::sync::broadcast::Receiver<String>>,
    savepoints: SavepointOperations,
    /// Set when no restart can help (its completed checkpoints are unreadable).
    unrecoverable: bool,
    /// The savepoint the job started from, once checked: restored whenever no
    /// checkpoint has completed since.
    savepoint: Option<rask_common::checkpoint::CheckpointMetadata>,
}

/// The largest savepoint `_metadata` read.
const MAX_METADATA_BYTES: u64 = 64 << 20;

/// The cause of a job failure when a task was canceled without the JobMaster asking
/// (its TaskManager lost this JobManager, or was told so by another leader).
fn unexpected_cancel(update: &rask_common::proto::TaskExecutionState) -> String {
    format!(
        "subtask {} of vertex {} was canceled on TaskManager {} without the JobMaster asking",
        update.subtask_index, update.vertex_id, update.resource_id
    )
}

enum Outcome {
    Finished,
    Failed(String),
    Canceled,
}

impl JobMaster {
    fn job_id(&self) -> &str {
        &self.graph.job_id
    }

    fn transition(&self, next: JobStatus) {
        let mut eg = self.execution.write();
        let from = eg.status;
        if eg.transition(next) {
            tracing::info!("Job {} ({}) switched from state {from} to {next}.", self.graph.name, self.graph.job_id);
        }
    }

    fn client(&mut self, address: &str) -> Result<TaskExecutorClient<Channel>, String> {
        if let Some(c) = self.clients.get(address) {
            return Ok(c.clone());
        }
        let channel = rask_common::security::tls::endpoint(address, self.services.internal_tls.as_deref())
            .map_err(|e| e.to_string())?
            .connect_timeout(Duration::from_secs(5))
            .tcp_nodelay(true)
            .connect_lazy();
        let client = TaskExecutorClient::new(channel).max_encoding_message_size(256 << 20);
        self.clients.insert(address.to_string(), client.clone());
        Ok(client)
    }

    async fn run(mut self, recovery: Option<Recovery>) {
        self.transition(JobStatus::Created);
        if let (Some(recovery), Some(c)) = (recovery, self.coordinator.as_mut()) {
            if let Err(cause) = c.recover(recovery.checkpoint_counter, recovery.checkpoints).await {
                // Not recorded as ended: a leader that can read the checkpoints runs it.
                let cause = format!("cannot recover job {} from the HA store: {cause}", self.graph.job_id);
                tracing::error!("{cause}");
                self.execution.write().record_failure(cause);
                self.transition(JobStatus::Failing);
                self.transition(JobStatus::Failed);
                return;
            }
        }
        let mut restarts: u32 = 0;
        let outcome = loop {
            let outcome = match self.schedule().await {
                Err(outcome) => outcome,
                Ok(()) => self.follow().await,
            };
            let Outcome::Failed(cause) = &outcome else { break outcome };
            // Restart only a job that ran (not one that never got its slots).
            let ran = self.execution.read().status == JobStatus::Running;
            let Some(delay) = self.settings.restart_strategy.next_delay(restarts).filter(|_| ran && !self.unrecoverable) else {
                break outcome;
            };
            restarts += 1;
            tracing::warn!(
                "Job {} ({}) failed: {cause}; restart {restarts} in {} ms.",
                self.graph.name,
                self.graph.job_id,
                delay.as_millis()
            );
            self.execution.write().record_failure(cause.clone());
            self.transition(JobStatus::Restarting);
            self.cancel_tasks().await;
            self.free_slots().await;
            tokio::select! {
                _ = tokio::time::sleep(delay) => {}
                m = self.messages.recv() => match m {
                    None | Some(JobMasterMessage::Cancel) => break Outcome::Canceled,
                    Some(other) => self.refuse_savepoint(&other, "the job is restarting"),
                },
            }
            self.attempt += 1;
            self.execution.write().reset_executions();
        };
        match outcome {
            Outcome::Finished => self.transition(JobStatus::Finished),
            Outcome::Canceled => {
                self.transition(JobStatus::Cancelling);
                self.cancel_tasks().await;
                self.transition(JobStatus::Canceled);
            }
            Outcome::Failed(cause) => {
                tracing::warn!("Job {} ({}) failed: {cause}", self.graph.name, self.graph.job_id);
                self.execution.write().record_failure(cause);
                self.transition(JobStatus::Failing);
                self.cancel_tasks().await;
                self.transition(JobStatus::Failed);
            }
        }
        self.free_slots().await;
        let (status, end_time) = {
            let eg = self.execution.read();
            (eg.status, eg.end_time)
        };
        let result =
            JobResult { job_id: self.job_id().to_string(), name: self.graph.name.clone(), status: status.name().to_string(), end_time };
        // Until the end is recorded, a next leader would run the job again: retry while
        // this JobManager leads (a suspension aborts this task).
        let mut backoff = Duration::from_millis(100);
        loop {
            match self.services.store.job_terminated(&result).await {
                Ok(()) => break,
                Err(crate::ha::HaError::NotLeader) => {
                    tracing::error!(
                        "Job {} ({}) ended {status}, but this JobManager no longer leads: not recorded",
                        self.graph.name,
                        self.graph.job_id
                    );
                    break;
                }
                Err(e) => {
                    tracing::warn!("Job {} ({}) ended {status}; recording that failed ({e}); retrying", self.graph.name, self.graph.job_id);
                    tokio::time::sleep(backoff).await;
                    backoff = (backoff * 2).min(Duration::from_secs(5));
                }
            }
        }
    }

    /// Waits for slots, reserves them at their TaskExecutors, deploys every subtask.
    async fn schedule(&mut self) -> Result<(), Outcome> {
        // A first start from a savepoint: checked before anything runs (a mismatch
        // fails the job for good); its task files are addressed absolutely.
        if let (Some(savepoint), None) = (&self.graph.savepoint, &self.savepoint) {
            self.savepoint =
                Some(self.savepoint_restore(&savepoint.path, savepoint.allow_non_restored_state).await.map_err(Outcome::Failed)?);
        }
        let needed = self.graph.slots_needed() as usize;
        let deadline = Instant::now() + self.services.slot_request_timeout;
        let mut lost = self.services.resource_manager.subscribe_lost();
        let offers = loop {
            match self.services.resource_manager.reserve(self.job_id(), needed) {
                Ok(offers) => break offers,
                Err(free) => {
                    if Instant::now() >= deadline {
                        return Err(Outcome::Failed(format!(
                            "Could not acquire the minimum required resources: the job needs {needed} slots, {free} are free (slot.request.timeout: {} ms)",
                            self.services.slot_request_timeout.as_millis()
                        )));
                    }
                    tokio::select! {
                        _ = tokio::time::sleep(Duration::from_millis(10)) => {}
                        m = self.messages.recv() => match m {
                            None | Some(JobMasterMessage::Cancel) => return Err(Outcome::Canceled),
                            Some(other) => self.refuse_savepoint(&other, "the job is waiting for slots"),
                        },
                    }
                }
            }
        };
        for offer in offers {
            let allocation_id = rask_common::ids::random_hex_id();
            let mut client = self.client(&offer.rpc_address).map_err(Outcome::Failed)?;
            let request = RequestSlotRequest {
                leader_token: self.services.leader_token.clone(),
                slot_index: offer.slot_index,
                allocation_id: allocation_id.clone(),
                job_id: self.job_id().to_string(),
            };
            // A TaskManager that has just registered may not have read our acceptance
            // (and token) yet: retry that refusal briefly.
            let mut attempt = 0;
            let response = loop {
                match client.request_slot(request.clone()).await {
                    Ok(r) => break r,
                    Err(e) if e.code() == tonic::Code::FailedPrecondition && attempt < 20 => {
                        attempt += 1;
                        tokio::time::sleep(Duration::from_millis(10 * attempt)).await;
                    }
                    Err(e) => {
                        return Err(Outcome::Failed(format!(
                            "TaskManager {} refused slot {}: {}",
                            offer.resource_id,
                            offer.slot_index,
                            e.message()
                        )))
                    }
                }
            };
            if let Some(report) = response.into_inner().slot_report {
                self.services.resource_manager.slot_report(&offer.resource_id, report.slots);
            }
            self.slots.push((offer, allocation_id));
        }
        self.transition(JobStatus::Running);
        let graph_json = prost::bytes::Bytes::from(serde_json::to_vec(self.graph.as_ref()).map_err(|e| Outcome::Failed(e.to_string()))?);
        let mut deployments = Vec::new();
        let graph = self.graph.clone();
        let restore = match self.coordinator.as_mut() {
            Some(c) => match c.restore_point().await {
                Ok(point) => point,
                Err(cause) => {
                    // No restart can help: fail the job for good, naming the cause.
                    self.unrecoverable = true;
                    return Err(Outcome::Failed(cause));
                }
            },
            None => None,
        };
        let from_checkpoint = restore.is_some();
        let restore = restore.or_else(|| self.savepoint.clone());
        if let Some(m) = &restore {
            match (from_checkpoint, &self.graph.savepoint) {
                (false, Some(sp)) => tracing::info!("Restoring job {} from savepoint {}.", self.graph.job_id, sp.path),
                _ => tracing::info!("Restoring job {} from checkpoint {}.", self.graph.job_id, m.checkpoint_id),
            }
            let mut eg = self.execution.write();
            eg.checkpoints.restored += 1;
            eg.checkpoints.latest_restored = Some((m.checkpoint_id, now_ms()));
        }
        for vertex in &graph.vertices {
            for subtask in 0..vertex.parallelism {
                let (slot, allocation_id) = self.slots[subtask as usize].clone();
                let mut inputs = Vec::new();
                for edge in self.graph.inputs_of(&vertex.id) {
                    let producer = self.graph.vertex(&edge.source).expect("planned graph");
                    let producers: Vec<u32> = match edge.partitioning {
                        Partitioning::Forward => vec![subtask],
                        _ => (0..producer.parallelism).collect(),
                    };
                    for p in producers {
                        inputs.push(InputLocation {
                            producer_vertex_id: producer.id.clone(),
                            producer_subtask: p,
                            taskmanager_address: self.slots[p as usize].0.rpc_address.clone(),
                        });
                    }
                }
                let execution_attempt_id = rask_common::ids::random_hex_id();
                let tdd = TaskDeploymentDescriptor {
                    execution_attempt_id: execution_attempt_id.clone(),
                    leader_token: self.services.leader_token.clone(),
                    job_id: self.job_id().to_string(),
                    vertex_id: vertex.id.clone(),
                    subtask_index: subtask,
                    attempt: self.attempt,
                    allocation_id,
                    job_graph_json: graph_json.clone(),
                    jobmaster_address: self.services.gateway_address.clone(),
                    inputs,
                    memory_budget_bytes: slot.memory_budget_bytes,
                    buffer_timeout_ms: self.settings.buffer_timeout.as_millis() as u64,
                    checkpoint_dir: self.settings.checkpointing.as_ref().map(|c| c.storage.dir().to_string()).unwrap_or_default(),
                    exactly_once: self.settings.checkpointing.as_ref().is_some_and(|c| c.interval.is_some()),
                    allow_non_restored_state: self.graph.savepoint.as_ref().is_some_and(|s| s.allow_non_restored_state),
                    restore_state_path: restore
                        .as_ref()
                        .filter(|m| m.tasks.iter().filter(|t| t.vertex_id == vertex.id).count() == vertex.parallelism as usize)
                        .and_then(|m| m.tasks.iter().find(|t| t.vertex_id == vertex.id && t.subtask == subtask))
                        .map(|t| t.path.clone())
                        .unwrap_or_default(),
                    rescale_state_paths: restore
                        .as_ref()
                        .map(|m| {
                            let mut saved: Vec<&rask_common::checkpoint::TaskStateHandle> =
                                m.tasks.iter().filter(|t| t.vertex_id == vertex.id).collect();
                            saved.sort_by_key(|t| t.subtask);
                            if saved.is_empty() || saved.len() == vertex.parallelism as usize {
                                Vec::new()
                            } else {
                                saved.iter().map(|t| t.path.clone()).collect()
                            }
                        })
                        .unwrap_or_default(),
                };
                {
                    let mut eg = self.execution.write();
                    eg.set_task_state(&vertex.id, subtask, ExecutionState::Scheduled);
                    eg.set_task_state(&vertex.id, subtask, ExecutionState::Deploying);
                    if let Some(e) = eg.vertices.iter_mut().find(|v| v.id == vertex.id).and_then(|v| v.subtasks.get_mut(subtask as usize)) {
                        e.resource_id = Some(slot.resource_id.clone());
                        e.attempt_id = Some(execution_attempt_id);
                        e.rpc_address = Some(slot.rpc_address.clone());
                    }
                }
                let mut client = self.client(&slot.rpc_address).map_err(Outcome::Failed)?;
                let what = format!("{} ({}/{})", vertex.name, subtask + 1, vertex.parallelism);
                let resource = slot.resource_id.clone();
                deployments.push(async move {
                    client.submit_task(tdd).await.map_err(|e| format!("deploying {what} to {resource} failed: {}", e.message()))
                });
            }
        }
        // Deploy concurrently (a consumer waits for its producers' results to appear),
        // bounded in time, while following task states, cancellation and losses.
        let deploy = tokio::time::timeout(DEPLOY_TIMEOUT, futures::future::join_all(deployments));
        tokio::pin!(deploy);
        loop {
            tokio::select! {
                results = &mut deploy => {
                    let results = results.map_err(|_| Outcome::Failed(format!("deployment did not finish within {} s", DEPLOY_TIMEOUT.as_secs())))?;
                    for result in results {
                        result.map_err(Outcome::Failed)?;
                    }
                    break;
                }
                m = self.messages.recv() => match m {
                    None | Some(JobMasterMessage::Cancel) => return Err(Outcome::Canceled),
                    Some(JobMasterMessage::TaskState(update)) => {
                        if let Some(state) = ExecutionState::from_proto(update.state).filter(|_| update.attempt == self.attempt) {
                            self.execution.write().set_task_state(&update.vertex_id, update.subtask_index, state);
                            if state == ExecutionState::Failed {
                                return Err(Outcome::Failed(update.error));
                            }
                            if state == ExecutionState::Canceled {
                                return Err(Outcome::Failed(unexpected_cancel(&update)));
                            }
                        }
                    }
                    Some(other) => self.refuse_savepoint(&other, "the job is still being deployed"),
                },
                rid = lost.recv() => {
                    if let Some(rid) = self.lost_slot(rid) {
                        return Err(Outcome::Failed(format!("TaskManager {rid} was lost")));
                    }
                }
            }
        }
        self.lost = Some(lost);
        Ok(())
    }

    /// The resource id of a lost TaskManager that holds one of our slots, if the
    /// notification (or a lag in notifications) says so.
    fn lost_slot(&self, notification: Result<String, tokio::sync::broadcast::error::RecvError>) -> Option<String> {
        match notification {
            Ok(rid) => self.slots.iter().any(|(s, _)| s.resource_id == rid).then_some(rid),
            // Missed notifications: check every TaskManager we use.
            Err(_) => self.slots.iter().map(|(s, _)| s.resource_id.clone()).find(|rid| !self.services.resource_manager.is_registered(rid)),
        }
    }

    /// Follows task states until the job ends, taking checkpoints meanwhile.
    async fn follow(&mut self) -> Outcome {
        let mut lost = self.lost.take().unwrap_or_else(|| self.services.resource_manager.subscribe_lost());
        let mut coordinator = self.coordinator.take();
        let far = Instant::now() + Duration::from_secs(86_400 * 365);
        let outcome = loop {
            let deadline = coordinator.as_ref().map(|c| c.next_deadline()).unwrap_or(far);
            tokio::select! {
                message = self.messages.recv() => match message {
                    None | Some(JobMasterMessage::Cancel) => break Outcome::Canceled,
                    Some(JobMasterMessage::TaskState(update)) => {
                        let Some(state) = ExecutionState::from_proto(update.state) else { continue };
                        if update.attempt != self.attempt {
                            continue;
                        }
                        let mut eg = self.execution.write();
                        eg.set_task_state(&update.vertex_id, update.subtask_index, state);
                        if state == ExecutionState::Failed {
                            break Outcome::Failed(update.error);
                        }
                        // Nobody asked for it: a job is never left RUNNING over
                        // canceled tasks; it restarts or fails.
                        if state == ExecutionState::Canceled {
                            break Outcome::Failed(unexpected_cancel(&update));
                        }
                        if eg.all_tasks(|s| s == ExecutionState::Finished) {
                            break Outcome::Finished;
                        }
                    }
                    Some(JobMasterMessage::CheckpointAck(ack)) => {
                        if let Some(c) = coordinator.as_mut() {
                            let before = c.latest_completed().map(|m| m.checkpoint_id);
                            let mut stats = self.execution.read().checkpoints.clone();
                            c.acknowledge(ack, &mut stats).await;
                            self.execution.write().checkpoints = stats;
                            if let Some(done) = c.latest_completed().map(|m| m.checkpoint_id).filter(|id| Some(*id) != before) {
                                self.notify_checkpoint_complete(done);
                            }
                        }
                    }
                    Some(JobMasterMessage::TriggerSavepoint { trigger_id, target_dir, stop, drain }) => {
                        let Some(c) = coordinator.as_mut() else {
                            let cause = "savepoints need a checkpoint directory, where the tasks write their state first: set state.checkpoints.dir for the job (rask run -D state.checkpoints.dir=DIR) or in the cluster's configuration (a restart applies it)".to_string();
                            self.savepoints.lock().insert(trigger_id, SavepointOperation::Failed { cause });
                            continue;
                        };
                        if !self.execution.read().all_tasks(|s| s == ExecutionState::Running) {
                            let cause = "not every task of the job is running".to_string();
                            self.savepoints.lock().insert(trigger_id, SavepointOperation::Failed { cause });
                            continue;
                        }
                        let mut stats = self.execution.read().checkpoints.clone();
                        c.abort("a savepoint was requested", &mut stats).await;
                        let (id, timestamp) = c.start_savepoint(SavepointRequest { trigger_id, target_dir }, &mut stats);
                        self.execution.write().checkpoints = stats.clone();
                        let triggered = match c.reserve_id(id).await {
                            Ok(()) => self.trigger_checkpoint(id, timestamp, stop, drain).await,
                            Err(e) => Err(e),
                        };
                        if let Err(reason) = triggered {
                            c.abort(&reason, &mut stats).await;
                        }
                        self.execution.write().checkpoints = stats;
                    }
                    Some(JobMasterMessage::CheckpointDecline(decline)) => {
                        if let Some(c) = coordinator.as_mut().filter(|c| c.pending_id() == Some(decline.checkpoint_id)) {
                            let mut stats = self.execution.read().checkpoints.clone();
                            let reason = format!("declined by subtask {} of {}: {}", decline.subtask_index, decline.vertex_id, decline.reason);
                            c.abort(&reason, &mut stats).await;
                            self.execution.write().checkpoints = stats;
                        }
                    }
                },
                rid = lost.recv() => {
                    if let Some(rid) = self.lost_slot(rid) {
                        break Outcome::Failed(format!("TaskManager {rid} was lost (connection closed or heartbeat timed out)"));
                    }
                }
                _ = tokio::time::sleep_until(deadline.into()), if coordinator.is_some() => {
                    let c = coordinator.as_mut().expect("guarded");
                    let mut stats = self.execution.read().checkpoints.clone();
                    if c.has_pending() {
                        let timeout = self.settings.checkpointing.as_ref().map(|s| s.timeout).unwrap_or_default();
                        c.abort(&format!("not complete within execution.checkpointing.timeout ({} ms)", timeout.as_millis()), &mut stats).await;
                    } else if self.execution.read().all_tasks(|s| s == ExecutionState::Running) {
                        let (id, timestamp) = c.start(&mut stats);
                        self.execution.write().checkpoints = stats.clone();
                        let triggered = match c.reserve_id(id).await {
                            Ok(()) => self.trigger_checkpoint(id, timestamp, false, false).await,
                            Err(e) => Err(e),
                        };
                        if let Err(reason) = triggered {
                            c.abort(&reason, &mut stats).await;
                        }
                    } else {
                        // Not every task runs (some finished, or are starting): skip.
                        c.skip();
                    }
                    self.execution.write().checkpoints = stats;
                }
            }
        };
        if let Some(c) = coordinator.as_mut() {
            let mut stats = self.execution.read().checkpoints.clone();
            c.abort("the job is ending", &mut stats).await;
            self.execution.write().checkpoints = stats;
        }
        self.coordinator = coordinator;
        outcome
    }

    /// Answers a savepoint request that cannot be served now.
    fn refuse_savepoint(&self, message: &JobMasterMessage, cause: &str) {
        if let JobMasterMessage::TriggerSavepoint { trigger_id, .. } = message {
            self.savepoints.lock().insert(trigger_id.clone(), SavepointOperation::Failed { cause: cause.to_string() });
        }
    }

    /// Reads and checks a savepoint for this job's first start: every task file's
    /// vertex must exist with the same parallelism; state of vertices the job lacks is
    /// refused (naming its operators) unless `allow_non_restored`.
    async fn savepoint_restore(&self, path: &str, allow_non_restored: bool) -> Result<rask_common::checkpoint::CheckpointMetadata, String> {
        let dir = path.strip_prefix("file:").map(|p| p.trim_start_matches("//")).unwrap_or(path);
        let dir = if dir.starts_with('/') { dir.to_string() } else { format!("/{dir}") };
        let file = std::path::Path::new(&dir).join("_metadata");
        // Bounded and off the runtime's threads: a huge file or a FIFO named _metadata
        // fails this job, nothing else.
        let len = tokio::fs::metadata(&file).await.map_err(|e| format!("savepoint {path}: cannot read its _metadata ({e})"))?;
        if !len.is_file() || len.len() > MAX_METADATA_BYTES {
            return Err(format!("savepoint {path}: _metadata is not a Rask savepoint's (not a file, or over {MAX_METADATA_BYTES} bytes)"));
        }
        let bytes = tokio::fs::read(&file).await.map_err(|e| format!("savepoint {path}: cannot read its _metadata ({e})"))?;
        let mut metadata: rask_common::checkpoint::CheckpointMetadata =
            serde_json::from_slice(&bytes).map_err(|e| format!("savepoint {path}: corrupt _metadata ({e})"))?;
        // A savepoint's task files are plain names inside its directory.
        if let Some(t) = metadata.tasks.iter().find(|t| !rask_common::checkpoint::is_plain_file_name(&t.path)) {
            return Err(format!("savepoint {path}: _metadata names the file '{}' outside its directory; refused", t.path));
        }
        let mut unknown: Vec<String> = Vec::new();
        metadata.tasks.retain(|t| match self.graph.vertex(&t.vertex_id) {
            Some(_) => true,
            None => {
                unknown.extend(t.operators.iter().cloned());
                false
            }
        });
        unknown.sort();
        unknown.dedup();
        if !unknown.is_empty() && !allow_non_restored {
            return Err(format!(
                "savepoint {path} holds state of operators this job does not run: {} (run with --allowNonRestoredState to skip it)",
                unknown.join(", ")
            ));
        }
        for v in &self.graph.vertices {
            let saved = metadata.tasks.iter().filter(|t| t.vertex_id == v.id).count();
            if saved > 0 && saved != v.parallelism as usize {
                tracing::info!(
                    "Restoring '{}' from {saved} subtasks at parallelism {}: keyed state moves by key group.",
                    v.name,
                    v.parallelism
                );
            }
        }
        for t in metadata.tasks.iter_mut() {
            t.path = format!("{}/{}", dir.trim_end_matches('/'), t.path);
        }
        tracing::info!("Job {}: savepoint {path} checked; it matches the job's operators.", self.graph.job_id);
        Ok(metadata)
    }

    /// Tells every TaskExecutor of the job that checkpoint `id` is complete (sinks
    /// commit). Fire and forget: a task that misses it commits on restore.
    fn notify_checkpoint_complete(&mut self, id: u64) {
        let mut addresses: Vec<String> = self.slots.iter().map(|(s, _)| s.rpc_address.clone()).collect();
        addresses.sort();
        addresses.dedup();
        for address in addresses {
            let Ok(mut client) = self.client(&address) else { continue };
            let request = NotifyCheckpointCompleteRequest {
                leader_token: self.services.leader_token.clone(),
                job_id: self.job_id().to_string(),
                checkpoint_id: id,
            };
            tokio::spawn(async move {
                let _ = tokio::time::timeout(Duration::from_secs(5), client.notify_checkpoint_complete(request)).await;
            });
        }
    }

    /// Sends checkpoint `id`'s trigger to every TaskExecutor that runs a source task.
    async fn trigger_checkpoint(&mut self, id: u64, timestamp: i64, stop: bool, drain: bool) -> Result<(), String> {
        let mut addresses: Vec<String> = self
            .graph
            .vertices
            .iter()
            .filter(|v| self.graph.inputs_of(&v.id).is_empty())
            .flat_map(|v| (0..v.parallelism as usize).map(|i| self.slots[i].0.rpc_address.clone()))
            .collect();
        addresses.sort();
        addresses.dedup();
        for address in addresses {
            let mut client = self.client(&address)?;
            let request = TriggerCheckpointRequest {
                leader_token: self.services.leader_token.clone(),
                job_id: self.job_id().to_string(),
                checkpoint_id: id,
                timestamp,
                stop,
                drain,
            };
            match tokio::time::timeout(Duration::from_secs(2), client.trigger_checkpoint(request)).await {
                Ok(Ok(_)) => {}
                Ok(Err(e)) => return Err(format!("trigger refused by {address}: {}", e.message())),
                Err(_) => return Err(format!("trigger to {address} timed out")),
            }
        }
        Ok(())
    }

    /// Asks every TaskExecutor of the job to cancel its tasks, then waits briefly for
    /// them to report a terminal state.
    async fn cancel_tasks(&mut self) {
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
        {
            let mut eg = self.execution.write();
            let updates: Vec<(String, u32)> = eg
                .vertices
                .iter()
                .flat_map(|v| {
                    v.subtasks.iter().enumerate().filter(|(_, e)| !e.state.is_terminal()).map(move |(i, _)| (v.id.clone(), i as u32))
                })
                .collect();
            for (v, i) in updates {
                eg.set_task_state(&v, i, ExecutionState::Canceling);
            }
        }
        let mut addresses: Vec<String> = self.slots.iter().map(|(s, _)| s.rpc_address.clone()).collect();
        addresses.sort();
        addresses.dedup();
        for address in addresses {
            if let Ok(mut client) = self.client(&address) {
                let _ = tokio::time::timeout(
                    Duration::from_secs(2),
                    client.cancel_job_tasks(CancelJobTasksRequest {
                        leader_token: self.services.leader_token.clone(),
                        job_id: self.job_id().to_string(),
                    }),
                )
                .await;
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
                            self.execution.write().set_task_state(&update.vertex_id, update.subtask_index, state);
                        }
                    }
                    Some(JobMasterMessage::TriggerSavepoint { trigger_id, .. }) => {
                        self.savepoints.lock().insert(trigger_id, SavepointOperation::Failed { cause: "the job is ending".into() });
                    }
                    Some(JobMasterMessage::Cancel | JobMasterMessage::CheckpointAck(_) | JobMasterMessage::CheckpointDecline(_)) => {}
                    None => break,
                },
                _ = tokio::time::sleep_until(deadline.into()) => break,
            }
        }
        // Tasks that never answered (their TaskManager is gone) end as CANCELED.
        let mut eg = self.execution.write();
        let left: Vec<(String, u32)> = eg
            .vertices
            .iter()
            .flat_map(|v| v.subtasks.iter().enumerate().filter(|(_, e)| !e.state.is_terminal()).map(move |(i, _)| (v.id.clone(), i as u32)))
            .collect();
        for (v, i) in left {
            eg.set_task_state(&v, i, ExecutionState::Canceled);
        }
    }

    async fn free_slots(&mut self) {
        let slots = std::mem::take(&mut self.slots);
        for (slot, allocation_id) in slots {
            if let Ok(mut client) = self.client(&slot.rpc_address) {
                let answer = tokio::time::timeout(
                    Duration::from_secs(2),
                    client.free_slot(FreeSlotRequest { leader_token: self.services.leader_token.clone(), allocation_id }),
                )
                .await;
                if let Ok(Ok(response)) = answer {
                    if let Some(report) = response.into_inner().slot_report {
                        self.services.resource_manager.slot_report(&slot.resource_id, report.slots);
                    }
                }
            }
        }
        self.services.resource_manager.release(self.job_id());
    }
}
