//! The JobMaster: runs one job, as a state machine of Flink's scheduler states, one
//! file each in `states/`:
//!
//! ```text
//! Created ──> WaitingForResources ──> Deploying ──> Executing ──> Finished (FINISHED)
//!   │              │    ^                 │             │
//!   │              │    └── Restarting <──┴─────────────┤  (a failure of a job that ran,
//!   │              │                                    │   while restarts are left)
//!   │              └──────────────────────┴─> Failing ──┴─> Finished (FAILED)
//!   └─> Finished (FAILED, not recorded)   any ─> Cancelling ─> Finished (CANCELED)
//! ```
//!
//! Each state is a type whose `on` takes an [`states::Event`] and returns the next
//! state (or stays); its `run` waits for the events. The JobMaster's slots come from
//! its [`slot_pool::SlotPool`], its tasks run behind [`gateway::TaskExecutorGateway`]s.
//! Its state is its own; the Dispatcher and REST read snapshots through the handle.

pub mod gateway;
pub mod output;
pub mod slot_pool;

mod context;
mod deployment;
#[cfg(test)]
pub(crate) mod fake;
mod savepoint;
mod states;
#[cfg(test)]
mod tests;

use std::sync::Arc;
use std::time::Duration;

use parking_lot::{Mutex, RwLock};
use rask_common::job::graph::JobGraph;
use rask_common::proto::{CheckpointAck, CheckpointDecline, TaskExecutionState};
use tokio::sync::{mpsc, watch};

use crate::checkpoint_coordinator::{CheckpointCoordinator, SavepointOperations};
use crate::execution_graph::{ExecutionGraph, JobStatus};
use crate::ha::{CheckpointPointer, JobStore};
use crate::job_settings::JobSettings;
use crate::resource_manager::ResourceManager;

pub use output::JobOutput;

/// What the Dispatcher tells a JobMaster.
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

/// What the rest of the JobManager holds of a running JobMaster.
#[derive(Clone)]
pub struct JobMasterHandle {
    pub graph: Arc<JobGraph>,
    /// What the job runs with (`/jobs/:id/config`, its default savepoint directory).
    pub settings: Arc<JobSettings>,
    pub execution: Arc<RwLock<ExecutionGraph>>,
    pub output: Arc<Mutex<JobOutput>>,
    /// Bumped after every append to `output`: what a long-polling reader waits on.
    pub output_appended: Arc<watch::Sender<u64>>,
    pub terminal: watch::Receiver<bool>,
    /// Savepoint operations by trigger id.
    pub savepoints: SavepointOperations,
    messages: mpsc::UnboundedSender<JobMasterMessage>,
    task: tokio::task::AbortHandle,
    /// Turns true once a client has read the job's end and all its printed rows.
    pub result_served: Arc<watch::Sender<bool>>,
    /// Savepoint operations whose result a client has read.
    pub savepoints_delivered: Arc<watch::Sender<std::collections::HashSet<String>>>,
    /// The scheduler states the JobMaster went through, the latest
    /// [`SCHEDULER_STATES_KEPT`] of them.
    pub scheduler_states: Arc<Mutex<std::collections::VecDeque<&'static str>>>,
}

/// How many scheduler states a JobMaster remembers.
pub const SCHEDULER_STATES_KEPT: usize = 64;

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
    /// How the JobMaster reaches TaskExecutors.
    pub gateways: Arc<dyn gateway::TaskExecutorGateways>,
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
    let scheduler_states: Arc<Mutex<std::collections::VecDeque<&'static str>>> = Arc::default();
    let ctx = context::JobMasterContext::new(
        graph.clone(),
        execution.clone(),
        services,
        settings.clone(),
        rx,
        attempt,
        coordinator,
        savepoints.clone(),
    );
    let history = scheduler_states.clone();
    let (failed_execution, rm, job_id) = (execution.clone(), ctx.services.resource_manager.clone(), graph.job_id.clone());
    let task = tokio::spawn(async move {
        // A bug that panics fails this job, not silently: its end is visible and its
        // slots go back (the end is not recorded for HA; a next leader runs it again).
        let ran = futures::FutureExt::catch_unwind(std::panic::AssertUnwindSafe(run(ctx, recovery, history))).await;
        if let Err(panic) = ran {
            let what = panic.downcast_ref::<&str>().map(|s| s.to_string()).or_else(|| panic.downcast_ref::<String>().cloned());
            let cause = format!("the JobMaster failed: {}", what.unwrap_or_else(|| "a panic".into()));
            tracing::error!("Job {job_id}: {cause}");
            let mut eg = failed_execution.write();
            eg.record_failure(cause);
            eg.transition(JobStatus::Failing);
            eg.transition(JobStatus::Failed);
            drop(eg);
            rm.release(&job_id);
        }
        let _ = terminal_tx.send(true);
    });
    JobMasterHandle {
        graph,
        settings,
        execution,
        output: Arc::default(),
        output_appended: Arc::new(watch::Sender::new(0)),
        terminal,
        savepoints,
        messages: tx,
        task: task.abort_handle(),
        result_served: Arc::new(watch::Sender::new(false)),
        savepoints_delivered: Arc::new(watch::Sender::new(Default::default())),
        scheduler_states,
    }
}

/// Runs the job's states from Created to Finished, remembering each in `history`.
async fn run(
    mut ctx: context::JobMasterContext,
    recovery: Option<Recovery>,
    history: Arc<Mutex<std::collections::VecDeque<&'static str>>>,
) {
    let mut state = states::State::Created(states::Created { recovery });
    loop {
        {
            let mut history = history.lock();
            if history.len() == SCHEDULER_STATES_KEPT {
                history.pop_front();
            }
            history.push_back(state.name());
        }
        tracing::debug!("JobMaster of job {}: {}", ctx.graph.job_id, state.name());
        state = match state {
            states::State::Finished(finished) => return finished.run(&mut ctx).await,
            other => other.run(&mut ctx).await,
        };
    }
}
