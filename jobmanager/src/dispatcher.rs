//! The Dispatcher: accepts JobGraphs, starts a JobMaster for each, and answers for
//! all jobs (lists, details, cancellation, printed output). It reaches JobMasters
//! only through their handles.

use std::collections::HashMap;
use std::sync::Arc;

use parking_lot::RwLock;
use rask_common::job::graph::JobGraph;
use rask_common::proto::{CheckpointAck, CheckpointDecline, TaskExecutionState, TaskOutput};

use crate::execution_graph::JobStatus;
use crate::ha::RecoveredJob;
use crate::job_master::{self, JobMasterHandle, JobMasterMessage, JobMasterServices};
use crate::job_settings::JobSettings;

#[derive(Debug, thiserror::Error)]
pub enum DispatcherError {
    #[error("Job {0} not found")]
    NotFound(String),
    #[error("Job {0} already exists")]
    Duplicate(String),
    #[error("{0}")]
    Invalid(String),
    #[error("{0} refused: it does not come from a task attempt this JobManager deployed")]
    ForeignAttempt(String),
    #[error("Job {0} has already reached the terminal state {1}")]
    AlreadyTerminal(String, JobStatus),
    #[error("the job could not be stored for high availability: {0}")]
    Store(#[from] crate::ha::HaError),
}

pub struct Dispatcher {
    services: JobMasterServices,
    jobs: RwLock<HashMap<String, JobMasterHandle>>,
    /// jobstore.expiration-time: how long terminal jobs stay.
    expiration: std::time::Duration,
    /// Set when the leadership term ends: no job starts any more.
    suspended: std::sync::atomic::AtomicBool,
}

impl Dispatcher {
    pub fn new(services: JobMasterServices, expiration: std::time::Duration) -> Self {
        Self { services, jobs: RwLock::new(HashMap::new()), expiration, suspended: Default::default() }
    }

    /// Forgets terminal jobs older than jobstore.expiration-time (and their output).
    fn expire(&self) {
        let horizon = crate::execution_graph::now_ms() - self.expiration.as_millis() as i64;
        self.jobs.write().retain(|_, job| {
            let eg = job.execution.read();
            !(eg.status.is_terminal() && eg.end_time >= 0 && eg.end_time < horizon)
        });
    }

    /// Accepts a JobGraph, records it in the HA store, and starts its JobMaster;
    /// returns the job id.
    pub async fn submit(&self, graph: JobGraph) -> Result<String, DispatcherError> {
        rask_common::job::validate_job_graph(&graph).map_err(|e| DispatcherError::Invalid(e.to_string()))?;
        rask_common::job::validate::check_paths(&graph, &self.services.allowed_paths)
            .map_err(|e| DispatcherError::Invalid(e.to_string()))?;
        self.expire();
        if self.jobs.read().contains_key(&graph.job_id) {
            return Err(DispatcherError::Duplicate(graph.job_id));
        }
        let settings = self.settings_of(&graph).await.map_err(|e| DispatcherError::Invalid(e.to_string()))?;
        self.services.store.put_job_graph(&graph).await?;
        let mut jobs = self.jobs.write();
        if jobs.contains_key(&graph.job_id) {
            return Err(DispatcherError::Duplicate(graph.job_id));
        }
        if self.suspended.load(std::sync::atomic::Ordering::SeqCst) {
            return Err(DispatcherError::Store(crate::ha::HaError::NotLeader));
        }
        let id = graph.job_id.clone();
        tracing::info!("Submitting job '{}' ({id}).", graph.name);
        jobs.insert(id.clone(), job_master::spawn(graph, self.services.clone(), settings, None));
        Ok(id)
    }

    /// What a job runs with: the cluster's configuration under the job's own keys. Its
    /// checkpoint storage is prepared (a local directory made, an object store
    /// reached), asynchronously: one that cannot be fails the submission (or leaves a
    /// recovered job for later) instead of every checkpoint.
    async fn settings_of(&self, graph: &JobGraph) -> Result<Arc<JobSettings>, rask_common::config::ConfigError> {
        let settings =
            JobSettings::resolve(&self.services.cluster_configuration, &graph.configuration, self.services.savepoint_staging.as_ref())?;
        if let Some(checkpointing) = settings.checkpointing.as_ref().filter(|_| !settings.savepoint_staging) {
            checkpointing.storage.prepare().await.map_err(|e| rask_common::config::ConfigError::InvalidValue {
                key: rask_common::config::options::CHECKPOINTS_DIR.key.into(),
                value: checkpointing.storage.dir().to_string(),
                origin: settings.configuration.origin(&rask_common::config::options::CHECKPOINTS_DIR),
                reason: e.to_string(),
            })?;
        }
        Ok(Arc::new(settings))
    }

    /// Takes over a job an earlier leader ran: it restarts from its latest checkpoint,
    /// with the configuration it was submitted with. When that cannot be applied now
    /// (its checkpoint directory unreachable), the job is left in the HA store, untouched,
    /// for the next leader or a restart of this one, and the error is logged.
    pub async fn recover(&self, job: RecoveredJob) {
        let id = job.graph.job_id.clone();
        let settings = match self.settings_of(&job.graph).await {
            Ok(s) => s,
            Err(e) => {
                tracing::error!("job {id} ('{}') cannot be recovered now: {e}; it stays in the high-availability store", job.graph.name);
                return;
            }
        };
        let recovery = job_master::Recovery { checkpoint_counter: job.checkpoint_counter, checkpoints: job.checkpoints };
        let handle = job_master::spawn(job.graph, self.services.clone(), settings, Some(recovery));
        self.jobs.write().insert(id, handle);
    }

    /// Stops every JobMaster where it is, touching no task (leadership ended). With
    /// `graceful` (a clean stop), JobMasters of jobs that have ended first get a moment
    /// to record the end in the HA store, so that no next leader runs them again.
    pub async fn suspend(&self, graceful: bool) {
        let jobs: Vec<JobMasterHandle> = {
            let jobs = self.jobs.write();
            self.suspended.store(true, std::sync::atomic::Ordering::SeqCst);
            jobs.values().cloned().collect()
        };
        if graceful {
            let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(5);
            for job in jobs.iter().filter(|j| j.status().is_terminal()) {
                let mut done = job.terminal.clone();
                let _ = tokio::time::timeout_at(deadline, done.wait_for(|d| *d)).await;
            }
        }
        for job in &jobs {
            job.suspend();
        }
    }

    pub fn job(&self, id: &str) -> Result<JobMasterHandle, DispatcherError> {
        self.expire();
        self.jobs.read().get(id).cloned().ok_or_else(|| DispatcherError::NotFound(id.to_string()))
    }

    /// Every job, oldest first.
    pub fn jobs(&self) -> Vec<JobMasterHandle> {
        self.expire();
        let mut all: Vec<JobMasterHandle> = self.jobs.read().values().cloned().collect();
        all.sort_by_key(|h| h.execution.read().start_time);
        all
    }

    pub fn cancel(&self, id: &str) -> Result<(), DispatcherError> {
        let job = self.job(id)?;
        let status = job.status();
        if status.is_terminal() {
            return Err(DispatcherError::AlreadyTerminal(id.to_string(), status));
        }
        job.send(JobMasterMessage::Cancel);
        Ok(())
    }

    /// The job a task report belongs to, when it comes from the attempt the job's
    /// JobMaster deployed for that subtask; anything else is refused and logged.
    fn job_of_deployed_attempt(
        &self,
        job_id: &str,
        vertex_id: &str,
        subtask: u32,
        attempt_id: &str,
        what: &str,
    ) -> Result<JobMasterHandle, DispatcherError> {
        let job = self.job(job_id)?;
        if !job.execution.read().is_current_attempt(vertex_id, subtask, attempt_id) {
            tracing::warn!(
                "refused {what} for job {job_id}: it does not come from the deployed attempt of subtask {subtask} of vertex {vertex_id}"
            );
            return Err(DispatcherError::ForeignAttempt(what.to_string()));
        }
        Ok(job)
    }

    /// Routes a task's state change to its JobMaster.
    pub fn update_task_state(&self, update: TaskExecutionState) -> Result<(), DispatcherError> {
        if crate::execution_graph::ExecutionState::from_proto(update.state).is_none() {
            return Err(DispatcherError::Invalid(format!("unknown task execution state {}", update.state)));
        }
        let job = self.job_of_deployed_attempt(
            &update.job_id,
            &update.vertex_id,
            update.subtask_index,
            &update.execution_attempt_id,
            "a task state update",
        )?;
        job.send(JobMasterMessage::TaskState(update));
        Ok(())
    }

    /// Starts a savepoint of a running job (with `stop`, the job ends after it);
    /// returns the trigger id to poll.
    pub fn trigger_savepoint(&self, id: &str, target_dir: String, stop: bool, drain: bool) -> Result<String, DispatcherError> {
        let job = self.job(id)?;
        let status = job.status();
        if status.is_terminal() {
            return Err(DispatcherError::AlreadyTerminal(id.to_string(), status));
        }
        let trigger_id = rask_common::ids::random_hex_id();
        job.savepoints.lock().insert(trigger_id.clone(), crate::checkpoint_coordinator::SavepointOperation::InProgress);
        job.send(JobMasterMessage::TriggerSavepoint { trigger_id: trigger_id.clone(), target_dir, stop, drain });
        Ok(trigger_id)
    }

    /// Routes a checkpoint acknowledgement to its JobMaster.
    pub fn acknowledge_checkpoint(&self, ack: CheckpointAck) -> Result<(), DispatcherError> {
        let job = self.job_of_deployed_attempt(
            &ack.job_id,
            &ack.vertex_id,
            ack.subtask_index,
            &ack.execution_attempt_id,
            "a checkpoint acknowledgement",
        )?;
        job.send(JobMasterMessage::CheckpointAck(ack));
        Ok(())
    }

    /// Routes a declined checkpoint to its JobMaster.
    pub fn decline_checkpoint(&self, decline: CheckpointDecline) -> Result<(), DispatcherError> {
        let job = self.job_of_deployed_attempt(
            &decline.job_id,
            &decline.vertex_id,
            decline.subtask_index,
            &decline.execution_attempt_id,
            "a checkpoint decline",
        )?;
        job.send(JobMasterMessage::CheckpointDecline(decline));
        Ok(())
    }

    /// Keeps a print sink's rows for the client's attached mode.
    pub fn append_output(&self, output: TaskOutput) -> Result<(), DispatcherError> {
        let job = self.job_of_deployed_attempt(
            &output.job_id,
            &output.vertex_id,
            output.subtask_index,
            &output.execution_attempt_id,
            "printed rows",
        )?;
        job.output.lock().append(output.lines, output.rows);
        job.output_appended.send_modify(|n| *n += 1);
        Ok(())
    }

    /// Jobs per status, for `/overview`.
    pub fn counts(&self) -> HashMap<JobStatus, usize> {
        let mut m = HashMap::new();
        for job in self.jobs.read().values() {
            *m.entry(job.status()).or_default() += 1;
        }
        m
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;
    use std::time::Duration;

    use super::*;
    use crate::ha::conformance::job_graph;
    use crate::ha::memory::InMemoryHaServices;
    use crate::ha::{LeaderElection, Leadership};
    use crate::job_master::fake::{register, FakeTaskExecutors};
    use crate::resource_manager::ResourceManager;

    /// A Dispatcher of `leadership`'s term over its own ResourceManager.
    fn dispatcher(leadership: &Leadership, executors: &Arc<FakeTaskExecutors>) -> (Dispatcher, Arc<ResourceManager>) {
        let rm = Arc::new(ResourceManager::new("test".into(), leadership.token.clone(), Duration::from_secs(1), Duration::from_secs(5)));
        let services = JobMasterServices {
            resource_manager: rm.clone(),
            gateways: Arc::new(executors.clone()),
            leader_token: leadership.token.clone(),
            gateway_address: "jobmanager:6123".into(),
            slot_request_timeout: Duration::from_secs(300),
            cluster_configuration: Arc::new(rask_common::config::Configuration::new()),
            savepoint_staging: None,
            store: leadership.store.clone(),
            term: leadership.term,
            allowed_paths: Default::default(),
        };
        (Dispatcher::new(services, Duration::from_secs(3600)), rm)
    }

    async fn wait_terminal(handle: &JobMasterHandle) {
        let mut done = handle.terminal.clone();
        tokio::time::timeout(Duration::from_secs(30), done.wait_for(|d| *d)).await.expect("ends").expect("open");
    }

    #[tokio::test]
    async fn a_new_leader_recovers_the_running_jobs_and_not_the_ended_ones() {
        let ha = InMemoryHaServices::default();
        let executors = Arc::new(FakeTaskExecutors::default());
        let (first, second) = (ha.candidate(), ha.candidate());
        let a = first.campaign().await.unwrap();
        let (dispatcher_a, _) = dispatcher(&a, &executors);
        let (running, ended) = ("0000000000000000000000000000000a", "0000000000000000000000000000000b");
        dispatcher_a.submit(job_graph(running)).await.unwrap();
        dispatcher_a.submit(job_graph(ended)).await.unwrap();
        assert!(matches!(dispatcher_a.submit(job_graph(running)).await, Err(DispatcherError::Duplicate(_))));
        dispatcher_a.cancel(ended).unwrap();
        wait_terminal(&dispatcher_a.job(ended).unwrap()).await;
        // The first leader goes away without a word (its JobMasters stop where they are).
        dispatcher_a.suspend(false).await;
        ha.expire_leader();
        let b = second.campaign().await.unwrap();
        let (dispatcher_b, rm_b) = dispatcher(&b, &executors);
        let recovered = b.store.recover_jobs().await.unwrap();
        assert_eq!(recovered.iter().map(|j| j.graph.job_id.as_str()).collect::<Vec<_>>(), [running]);
        for job in recovered {
            dispatcher_b.recover(job).await;
        }
        assert!(matches!(dispatcher_b.job(ended), Err(DispatcherError::NotFound(_))));
        register(&rm_b, "tm1", 1);
        let tdd = executors.wait_submitted(1, 1).await.remove(0);
        assert_eq!(tdd.job_id, running);
        assert_eq!(tdd.attempt, (b.term * 1000) as u32, "attempts of a recovered job are numbered by the new term");
        assert_eq!(tdd.leader_token, b.token, "deployed under the new leader's token");
        // A report of an attempt this leader did not deploy is refused.
        let forged = TaskExecutionState {
            job_id: running.into(),
            vertex_id: tdd.vertex_id.clone(),
            state: rask_common::proto::ExecutionState::Failed.into(),
            execution_attempt_id: "f".repeat(32),
            ..Default::default()
        };
        assert!(matches!(dispatcher_b.update_task_state(forged), Err(DispatcherError::ForeignAttempt(_))));
        let unknown_state = TaskExecutionState { state: 42, ..Default::default() };
        assert!(matches!(dispatcher_b.update_task_state(unknown_state), Err(DispatcherError::Invalid(_))));
        // The recovered job cannot be submitted again while it runs, nor the ended one ever.
        assert!(dispatcher_b.submit(job_graph(running)).await.is_err());
        assert!(matches!(dispatcher_b.submit(job_graph(ended)).await, Err(DispatcherError::Store(crate::ha::HaError::JobEnded(_)))));
    }
}
