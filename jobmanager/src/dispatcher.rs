//! The Dispatcher: accepts JobGraphs, starts a JobMaster for each, and answers for
//! all jobs (lists, details, cancellation, printed output). It reaches JobMasters
//! only through their handles.

use std::collections::HashMap;

use parking_lot::RwLock;
use rask_common::job::graph::{JobGraph, JOB_GRAPH_VERSION};
use rask_common::proto::TaskExecutionState;

use crate::execution_graph::JobStatus;
use crate::ha::RecoveredJob;
use crate::job_master::{self, JobMasterHandle, JobMasterMessage, JobMasterServices};

#[derive(Debug, thiserror::Error)]
pub enum DispatcherError {
    #[error("Job {0} not found")]
    NotFound(String),
    #[error("Job {0} already exists")]
    Duplicate(String),
    #[error("invalid JobGraph: {0}")]
    Invalid(String),
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
        if graph.version != JOB_GRAPH_VERSION {
            return Err(DispatcherError::Invalid(format!("version {} (this JobManager reads version {JOB_GRAPH_VERSION})", graph.version)));
        }
        if graph.vertices.is_empty() {
            return Err(DispatcherError::Invalid("no vertices".into()));
        }
        validate(&graph).map_err(DispatcherError::Invalid)?;
        self.expire();
        if self.jobs.read().contains_key(&graph.job_id) {
            return Err(DispatcherError::Duplicate(graph.job_id));
        }
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
        jobs.insert(id.clone(), job_master::spawn(graph, self.services.clone(), None));
        Ok(id)
    }

    /// Takes over a job an earlier leader ran: it restarts from its latest checkpoint.
    pub fn recover(&self, job: RecoveredJob) {
        let id = job.graph.job_id.clone();
        let recovery = job_master::Recovery { checkpoint_counter: job.checkpoint_counter, checkpoints: job.checkpoints };
        let handle = job_master::spawn(job.graph, self.services.clone(), Some(recovery));
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

    /// Routes a task's state change to its JobMaster.
    pub fn update_task_state(&self, update: TaskExecutionState) -> Result<(), DispatcherError> {
        self.job(&update.job_id)?.send(JobMasterMessage::TaskState(update));
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

    /// Routes a checkpoint acknowledgement or decline to its JobMaster.
    pub fn checkpoint_message(&self, job_id: &str, message: JobMasterMessage) -> Result<(), DispatcherError> {
        self.job(job_id)?.send(message);
        Ok(())
    }

    pub fn append_output(&self, job_id: &str, lines: Vec<String>) -> Result<(), DispatcherError> {
        self.job(job_id)?.output.lock().append(lines);
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

/// Checks what the program step guarantees, for JobGraphs that arrive over REST.
fn validate(graph: &JobGraph) -> Result<(), String> {
    use rask_common::job::graph::Partitioning;
    if graph.job_id.len() != 32 || !graph.job_id.chars().all(|c| c.is_ascii_digit() || ('a'..='f').contains(&c)) {
        return Err(format!("job id '{}' is not 32 lowercase hex characters", graph.job_id));
    }
    let mut ids = std::collections::HashSet::new();
    for v in &graph.vertices {
        if !ids.insert(v.id.as_str()) {
            return Err(format!("vertex id {} appears twice", v.id));
        }
        if v.parallelism == 0 || v.parallelism > graph.max_parallelism || v.operators.is_empty() {
            return Err(format!("vertex {} has no operators or a parallelism outside 1..={}", v.id, graph.max_parallelism));
        }
    }
    for e in &graph.edges {
        let (Some(from), Some(to)) = (graph.vertex(&e.source), graph.vertex(&e.target)) else {
            return Err(format!("edge {} -> {} names a missing vertex", e.source, e.target));
        };
        match &e.partitioning {
            Partitioning::Forward if from.parallelism != to.parallelism => {
                return Err(format!(
                    "forward edge {} -> {} joins parallelism {} and {}",
                    e.source, e.target, from.parallelism, to.parallelism
                ))
            }
            Partitioning::Hash { keys } if keys.iter().any(|&k| k >= e.schema.0.len()) => {
                return Err(format!("hash edge {} -> {} names a key column outside its {} columns", e.source, e.target, e.schema.0.len()))
            }
            _ => {}
        }
    }
    // No cycles: repeatedly remove vertices without incoming edges.
    let mut incoming: std::collections::HashMap<&str, usize> = graph.vertices.iter().map(|v| (v.id.as_str(), 0)).collect();
    for e in &graph.edges {
        *incoming.get_mut(e.target.as_str()).expect("checked") += 1;
    }
    let mut ready: Vec<&str> = incoming.iter().filter(|(_, n)| **n == 0).map(|(v, _)| *v).collect();
    let mut seen = 0;
    while let Some(v) = ready.pop() {
        seen += 1;
        for e in graph.edges.iter().filter(|e| e.source == v) {
            let n = incoming.get_mut(e.target.as_str()).expect("checked");
            *n -= 1;
            if *n == 0 {
                ready.push(e.target.as_str());
            }
        }
    }
    if seen != graph.vertices.len() {
        return Err("the edges form a cycle".into());
    }
    Ok(())
}
