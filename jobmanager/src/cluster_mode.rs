//! Deployment modes, as the JobManager lives them (Flink's session, job and
//! application cluster entrypoints). A session cluster runs until stopped. A per-job
//! cluster runs the one JobGraph it was started with and stops when the job ends. An
//! application cluster runs the program step itself: it plans the application's job
//! files and submits them in order (`execute` waits for the job's end,
//! `execute_async` does not). Cancelling or failing any job cancels the others.
//! When every job has ended, the cluster stops.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use rask_common::job::application::{load_application, ExecutionMode};
use rask_common::job::planner::PlanOptions;
use rask_common::job::{plan_job_file, JobGraph};

use crate::dispatcher::{Dispatcher, DispatcherError};
use crate::entrypoint::JobManager;
use crate::execution_graph::JobStatus;
use crate::job_master::JobMasterHandle;

/// How long a per-job cluster in attached mode waits for its client to read the end.
const ATTACHED_RESULT_WAIT: Duration = Duration::from_secs(30);

pub enum ClusterMode {
    Session,
    /// Runs `graph`; with `attached`, stops once a client has read the job's end.
    PerJob {
        graph: Box<JobGraph>,
        attached: bool,
    },
    /// Runs an application file; each job's printed rows go to `<name>-<id6>.out`
    /// in `out_dir` when the job ends.
    Application {
        file: PathBuf,
        plan: PlanOptions,
        out_dir: PathBuf,
    },
}

#[derive(Debug, thiserror::Error)]
pub enum ClusterModeError {
    #[error("this JobManager did not become the leader within {0:?}")]
    NotLeader(Duration),
    #[error(transparent)]
    Submit(#[from] DispatcherError),
    #[error(transparent)]
    JobFile(#[from] rask_common::job::JobFileError),
}

/// Runs the mode's jobs on a started JobManager. Returns when the cluster should stop:
/// `Ok(true)` when every job finished, `Ok(false)` when one was cancelled or failed.
/// A session cluster never returns.
pub async fn run(jm: &JobManager, mode: ClusterMode) -> Result<bool, ClusterModeError> {
    let wait = Duration::from_secs(60);
    match mode {
        ClusterMode::Session => std::future::pending().await,
        ClusterMode::PerJob { graph, attached } => {
            let term = jm.wait_for_term(wait).await.ok_or(ClusterModeError::NotLeader(wait))?;
            let id = term.dispatcher.submit(*graph).await?;
            let job = term.dispatcher.job(&id)?;
            let status = ended(&job).await;
            tracing::info!("Job {id} ended {status}: the per-job cluster stops.");
            if attached {
                let mut served = job.result_served.subscribe();
                let _ = tokio::time::timeout(ATTACHED_RESULT_WAIT, served.wait_for(|s| *s)).await;
            }
            // A stop-with-savepoint's client still asks for the savepoint's location.
            let undelivered = || job.savepoints.lock().keys().any(|t| !job.savepoints_delivered.lock().contains(t));
            let deadline = std::time::Instant::now() + ATTACHED_RESULT_WAIT;
            while undelivered() && std::time::Instant::now() < deadline {
                tokio::time::sleep(Duration::from_millis(2)).await;
            }
            Ok(status == JobStatus::Finished)
        }
        ClusterMode::Application { file, plan, out_dir } => {
            let term = jm.wait_for_term(wait).await.ok_or(ClusterModeError::NotLeader(wait))?;
            run_application(&term.dispatcher, &file, &plan, &out_dir).await
        }
    }
}

/// Waits for a job's terminal state.
async fn ended(job: &JobMasterHandle) -> JobStatus {
    let mut terminal = job.terminal.clone();
    let _ = terminal.wait_for(|t| *t).await;
    job.status()
}

async fn run_application(
    dispatcher: &Arc<Dispatcher>,
    file: &std::path::Path,
    plan: &PlanOptions,
    out_dir: &std::path::Path,
) -> Result<bool, ClusterModeError> {
    let app = Application { dispatcher, name: String::new(), out_dir, ended: Default::default() };
    app.run(file, plan).await
}

/// One application's run.
struct Application<'a> {
    dispatcher: &'a Arc<Dispatcher>,
    name: String,
    out_dir: &'a std::path::Path,
    /// Jobs whose end has been logged (and their rows written out).
    ended: parking_lot::Mutex<std::collections::HashSet<String>>,
}

impl Application<'_> {
    async fn run(mut self, file: &std::path::Path, plan: &PlanOptions) -> Result<bool, ClusterModeError> {
        let dispatcher = self.dispatcher;
        let application = load_application(file)?;
        self.name = application.name.clone();
        let name = self.name.clone();
        tracing::info!("Application '{name}': {} jobs from {}.", application.jobs.len(), file.display());
        let mut running: Vec<JobMasterHandle> = Vec::new();
        for job in &application.jobs {
            let options = PlanOptions { parallelism: job.parallelism.or(plan.parallelism), ..plan.clone() };
            let graph = match plan_job_file(&job.file, &options) {
                Ok(g) => g,
                Err(e) => {
                    tracing::error!("Application '{name}': {e}; cancelling its jobs.");
                    cancel_all(dispatcher, &running).await;
                    return Err(e.into());
                }
            };
            let job_name = graph.name.clone();
            let id = dispatcher.submit(graph).await?;
            tracing::info!("Application '{name}': submitted job '{job_name}' ({id}) with {}.", job.mode.name());
            let handle = dispatcher.job(&id)?;
            running.push(handle.clone());
            if job.mode == ExecutionMode::Execute {
                // Blocking: wait for this job, while watching the asynchronous ones.
                loop {
                    // Read before the ends are logged, so that this job's end is logged
                    // before the next job starts.
                    let done = handle.status().is_terminal();
                    if let Some(failed) = self.first_unfinished_end(&running) {
                        return Ok(self.abort(&running, &failed).await);
                    }
                    if done {
                        break;
                    }
                    tokio::time::sleep(Duration::from_millis(5)).await;
                }
            }
        }
        loop {
            let done = running.iter().all(|j| j.status().is_terminal());
            if let Some(failed) = self.first_unfinished_end(&running) {
                return Ok(self.abort(&running, &failed).await);
            }
            if done {
                tracing::info!("Application '{name}': every job finished.");
                return Ok(true);
            }
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    }

    /// Cancels every job that still runs (one ended other than FINISHED) and logs
    /// their ends; the application has failed.
    async fn abort(&self, running: &[JobMasterHandle], failed: &str) -> bool {
        tracing::warn!("Application '{}': job {failed} did not finish; cancelling the others.", self.name);
        cancel_all(self.dispatcher, running).await;
        self.first_unfinished_end(running);
        false
    }

    /// A job of the application that ended other than FINISHED; logs each job's end
    /// once and writes its printed rows out.
    fn first_unfinished_end(&self, jobs: &[JobMasterHandle]) -> Option<String> {
        let mut failed = None;
        for job in jobs {
            let status = job.status();
            if status.is_terminal() && self.ended.lock().insert(job.graph.job_id.clone()) {
                tracing::info!("Application '{}': job '{}' ({}) ended {status}.", self.name, job.graph.name, job.graph.job_id);
                self.write_output(job);
            }
            if status.is_terminal() && status != JobStatus::Finished && failed.is_none() {
                failed = Some(format!("'{}' ({}), {status}", job.graph.name, job.graph.job_id));
            }
        }
        failed
    }

    /// `<out_dir>/<job name>-<id6>.out`: the job's printed rows, if it printed any.
    fn write_output(&self, job: &JobMasterHandle) {
        let dir = self.out_dir;
        let (lines, _, _) = job.output.lock().read(0);
        if lines.is_empty() {
            return;
        }
        let path = dir.join(format!("{}-{}.out", job.graph.name, &job.graph.job_id[..6]));
        let mut text = lines.join("\n");
        text.push('\n');
        match std::fs::create_dir_all(dir).and_then(|_| std::fs::write(&path, text)) {
            Ok(()) => {
                tracing::info!("Application '{}': job '{}' printed {} rows to {}", self.name, job.graph.name, lines.len(), path.display())
            }
            Err(e) => tracing::warn!("cannot write {}: {e}", path.display()),
        }
    }
}

/// Cancels every job of the application that still runs and waits for their ends.
async fn cancel_all(dispatcher: &Arc<Dispatcher>, jobs: &[JobMasterHandle]) {
    for job in jobs.iter().filter(|j| !j.status().is_terminal()) {
        let _ = dispatcher.cancel(&job.graph.job_id);
    }
    for job in jobs {
        let _ = tokio::time::timeout(Duration::from_secs(10), ended(job)).await;
    }
}
