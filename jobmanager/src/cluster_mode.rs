//! Deployment modes, as the JobManager lives them (Flink's session, job and
//! application cluster entrypoints). A session cluster runs until stopped. A per-job
//! cluster runs the one JobGraph it was started with and stops when the job ends. An
//! application cluster runs the program step itself: it plans the application's job
//! files and submits them in order (`execute` waits for the job's end,
//! `execute_async` does not). Cancelling or failing any job cancels the others.
//! When every job has ended, the cluster stops, and removes its directory unless a
//! job failed (`clean_up`).

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use rask_common::job::application::{load_application, ExecutionMode};
use rask_common::job::planner::PlanOptions;
use rask_common::job::planner::{plan_file, PlannedJob};
use rask_common::job::JobGraph;

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
    /// in `out_dir` when the job ends. With `attached`, it stops once a client has
    /// read every job's end.
    Application {
        file: PathBuf,
        plan: PlanOptions,
        out_dir: PathBuf,
        attached: bool,
    },
}

/// How a per-job or application cluster's work ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ClusterOutcome {
    /// Every job finished.
    Finished,
    /// A job was cancelled (by a user, or with the application it belonged to).
    Canceled,
    /// A job failed (or could not be planned).
    Failed,
}

impl ClusterOutcome {
    fn of(status: JobStatus) -> Self {
        match status {
            JobStatus::Finished => ClusterOutcome::Finished,
            JobStatus::Canceled => ClusterOutcome::Canceled,
            _ => ClusterOutcome::Failed,
        }
    }
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

/// Runs the mode's jobs on a started JobManager. Returns when the cluster should stop,
/// saying how its jobs ended. A session cluster never returns. `announce` is called
/// once clients may come: at once, or for a per-job cluster once its job is submitted.
pub async fn run(jm: &JobManager, mode: ClusterMode, announce: impl FnOnce()) -> Result<ClusterOutcome, ClusterModeError> {
    let wait = Duration::from_secs(60);
    match mode {
        ClusterMode::Session => {
            announce();
            std::future::pending().await
        }
        ClusterMode::PerJob { graph, attached } => {
            let term = jm.wait_for_term(wait).await.ok_or(ClusterModeError::NotLeader(wait))?;
            let id = term.dispatcher.submit(*graph).await?;
            announce();
            let job = term.dispatcher.job(&id)?;
            let status = ended(&job).await;
            tracing::info!("Job {id} ended {status}: the per-job cluster stops.");
            if attached {
                served(std::slice::from_ref(&job)).await;
            }
            // A stop-with-savepoint's client still asks for the savepoint's location.
            let mut delivered = job.savepoints_delivered.subscribe();
            let every_one = |d: &std::collections::HashSet<String>| job.savepoints.lock().keys().all(|t| d.contains(t));
            let _ = tokio::time::timeout(ATTACHED_RESULT_WAIT, delivered.wait_for(every_one)).await;
            Ok(ClusterOutcome::of(status))
        }
        ClusterMode::Application { file, plan, out_dir, attached } => {
            announce();
            let term = jm.wait_for_term(wait).await.ok_or(ClusterModeError::NotLeader(wait))?;
            // An attached client prints the rows itself: no .out files then.
            let out_dir = (!attached).then_some(out_dir.as_path());
            let app = Application { dispatcher: &term.dispatcher, name: String::new(), out_dir, ended: Default::default() };
            let mut jobs = Vec::new();
            let outcome = app.run(&file, &plan, &mut jobs).await;
            if attached {
                served(&jobs).await;
            }
            outcome
        }
    }
}

/// Waits (at most ATTACHED_RESULT_WAIT) until an attached client has read the end of
/// every job in `jobs`.
async fn served(jobs: &[JobMasterHandle]) {
    let deadline = tokio::time::Instant::now() + ATTACHED_RESULT_WAIT;
    for job in jobs {
        let mut served = job.result_served.subscribe();
        let _ = tokio::time::timeout_at(deadline, served.wait_for(|s| *s)).await;
    }
}

/// Resolves when one of `jobs` that had not ended yet ends. Never when no JobMaster
/// is left that could end (each ended, or was stopped where it was): the cluster's
/// shutdown ends the wait then.
async fn any_ends(jobs: &[JobMasterHandle]) {
    let waits: Vec<_> = jobs
        .iter()
        .filter(|j| !*j.terminal.borrow() && j.terminal.has_changed().is_ok())
        .map(|j| {
            let mut terminal = j.terminal.clone();
            Box::pin(async move {
                let _ = terminal.wait_for(|t| *t).await;
            })
        })
        .collect();
    if waits.is_empty() {
        return std::future::pending().await;
    }
    futures::future::select_all(waits).await;
}

/// Waits for a job's terminal state.
async fn ended(job: &JobMasterHandle) -> JobStatus {
    let mut terminal = job.terminal.clone();
    let _ = terminal.wait_for(|t| *t).await;
    job.status()
}

/// One application's run.
struct Application<'a> {
    dispatcher: &'a Arc<Dispatcher>,
    name: String,
    /// Where printed rows go; `None` when an attached client prints them.
    out_dir: Option<&'a std::path::Path>,
    /// Jobs whose end has been logged (and their rows written out).
    ended: parking_lot::Mutex<std::collections::HashSet<String>>,
}

impl Application<'_> {
    /// Runs the application; `running` collects its jobs as they are submitted.
    async fn run(
        mut self,
        file: &std::path::Path,
        plan: &PlanOptions,
        running: &mut Vec<JobMasterHandle>,
    ) -> Result<ClusterOutcome, ClusterModeError> {
        let dispatcher = self.dispatcher;
        let application = load_application(file)?;
        self.name = application.name.clone();
        let name = self.name.clone();
        tracing::info!("Application '{name}': {} jobs from {}.", application.jobs.len(), file.display());
        for job in &application.jobs {
            let options = PlanOptions { parallelism: job.parallelism.or(plan.parallelism), ..plan.clone() };
            // A SQL script may plan several jobs: each runs as the entry says.
            let planned = match plan_file(&job.file, &options) {
                Ok(jobs) => jobs,
                Err(e) => {
                    tracing::error!("Application '{name}': {e}; cancelling its jobs.");
                    cancel_all(dispatcher, running).await;
                    return Err(e.into());
                }
            };
            for PlannedJob { graph, warnings } in planned {
                for warning in warnings {
                    tracing::warn!("Application '{name}': {}: {warning}", job.file.display());
                }
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
                        if let Some((failed, status)) = self.first_unfinished_end(running) {
                            return Ok(self.abort(running, &failed, status).await);
                        }
                        if done {
                            break;
                        }
                        any_ends(running).await;
                    }
                }
            }
        }
        loop {
            let done = running.iter().all(|j| j.status().is_terminal());
            if let Some((failed, status)) = self.first_unfinished_end(running) {
                return Ok(self.abort(running, &failed, status).await);
            }
            if done {
                tracing::info!("Application '{name}': every job finished.");
                return Ok(ClusterOutcome::Finished);
            }
            any_ends(running).await;
        }
    }

    /// Cancels every job that still runs (one ended other than FINISHED) and logs
    /// their ends; the application has failed.
    async fn abort(&self, running: &[JobMasterHandle], failed: &str, status: JobStatus) -> ClusterOutcome {
        tracing::warn!("Application '{}': job {failed} did not finish; cancelling the others.", self.name);
        cancel_all(self.dispatcher, running).await;
        self.first_unfinished_end(running);
        ClusterOutcome::of(status)
    }

    /// A job of the application that ended other than FINISHED, and how; logs each
    /// job's end once and writes its printed rows out.
    fn first_unfinished_end(&self, jobs: &[JobMasterHandle]) -> Option<(String, JobStatus)> {
        let mut failed = None;
        for job in jobs {
            let status = job.status();
            if status.is_terminal() && self.ended.lock().insert(job.graph.job_id.clone()) {
                tracing::info!("Application '{}': job '{}' ({}) ended {status}.", self.name, job.graph.name, job.graph.job_id);
                self.write_output(job);
            }
            if status.is_terminal() && status != JobStatus::Finished && failed.is_none() {
                failed = Some((format!("'{}' ({}), {status}", job.graph.name, job.graph.job_id), status));
            }
        }
        failed
    }

    /// `<out_dir>/<job name>-<id6>.out`: the job's printed rows, if it printed any.
    fn write_output(&self, job: &JobMasterHandle) {
        let Some(dir) = self.out_dir else { return };
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

/// Removes what Rask put in a dedicated cluster's directory once its work is done
/// (`None`: stopped by a signal): the logs, the JobGraph, the ready file and the files
/// `rask run-application` shipped (listed in `shipped-files`). What jobs wrote there
/// (printed rows in `*.out`, a file sink's output under a relative path) stays, and so
/// does the directory then. A failed run keeps everything, for diagnosis.
pub fn clean_up(dir: &std::path::Path, outcome: Option<Option<ClusterOutcome>>) {
    if !matches!(outcome, Some(None | Some(ClusterOutcome::Finished | ClusterOutcome::Canceled))) {
        tracing::info!("the cluster's files stay in {} for diagnosis", dir.display());
        return;
    }
    let _ = std::fs::remove_dir_all(dir.join("log"));
    for path in ["rest-url", "job-graph.json"].iter().map(|f| dir.join(f)).chain(shipped_files(dir)) {
        let _ = std::fs::remove_file(path);
    }
    let _ = std::fs::remove_file(dir.join(SHIPPED_FILES));
    match prune_empty(dir) {
        Ok(true) => {}
        Ok(false) => tracing::info!("what the jobs wrote stays in {}", dir.display()),
        Err(e) => tracing::warn!("could not clean up {}: {e}", dir.display()),
    }
}

/// The manifest of shipped files in a cluster's directory.
const SHIPPED_FILES: &str = "shipped-files";

/// The regular files the manifest names, each a plain relative path inside `dir`.
fn shipped_files(dir: &std::path::Path) -> Vec<PathBuf> {
    let manifest = dir.join(SHIPPED_FILES);
    let text = match std::fs::metadata(&manifest) {
        Ok(m) if m.is_file() && m.len() <= 16 << 20 => std::fs::read_to_string(&manifest).unwrap_or_default(),
        _ => return Vec::new(),
    };
    text.lines()
        .map(std::path::Path::new)
        .filter(|p| !p.as_os_str().is_empty() && p.components().all(|c| matches!(c, std::path::Component::Normal(_))))
        .map(|p| dir.join(p))
        .filter(|p| std::fs::symlink_metadata(p).is_ok_and(|m| m.is_file()))
        .collect()
}

/// Removes the empty directories under `dir`, and `dir` if it ends up empty; returns
/// whether it did.
fn prune_empty(dir: &std::path::Path) -> std::io::Result<bool> {
    let mut empty = true;
    for entry in std::fs::read_dir(dir)? {
        let entry = entry?;
        if !(entry.file_type()?.is_dir() && prune_empty(&entry.path())?) {
            empty = false;
        }
    }
    if empty {
        std::fs::remove_dir(dir)?;
    }
    Ok(empty)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tree(root: &std::path::Path, files: &[&str]) {
        for f in files {
            let path = root.join(f);
            std::fs::create_dir_all(path.parent().unwrap()).unwrap();
            std::fs::write(path, "x").unwrap();
        }
    }

    #[test]
    fn clean_up_removes_what_rask_put_there_and_keeps_what_jobs_wrote() {
        let root = tempfile::tempdir().unwrap();
        let dir = root.path().join("rask-application-1");
        tree(&dir, &["log/jobmanager.log", "rest-url", "usrlib/app.yaml", "usrlib/data/words.txt", "wc-123456.out", "usrlib/out/part-0"]);
        // A job wrote beside a shipped file; the manifest's escapes are ignored.
        tree(&dir, &["usrlib/data/written-by-a-job", "../outside.txt"]);
        std::fs::write(dir.join(SHIPPED_FILES), "usrlib/app.yaml\nusrlib/data/words.txt\n../outside.txt\n/etc/passwd\n").unwrap();
        clean_up(&dir, Some(Some(ClusterOutcome::Finished)));
        assert!(dir.join("wc-123456.out").is_file() && dir.join("usrlib/out/part-0").is_file());
        assert!(dir.join("usrlib/data/written-by-a-job").is_file() && root.path().join("outside.txt").is_file());
        assert!(!dir.join("log").exists() && !dir.join("usrlib/data/words.txt").exists() && !dir.join("usrlib/app.yaml").exists());
        assert!(!dir.join("rest-url").exists() && !dir.join(SHIPPED_FILES).exists());
        // Nothing of the jobs': the directory goes.
        let dir = root.path().join("rask-per-job-1");
        tree(&dir, &["log/jobmanager.log", "job-graph.json", "rest-url"]);
        clean_up(&dir, Some(Some(ClusterOutcome::Canceled)));
        assert!(!dir.exists());
        // A failure keeps everything.
        tree(&dir, &["log/jobmanager.log", "job-graph.json"]);
        clean_up(&dir, Some(Some(ClusterOutcome::Failed)));
        assert!(dir.join("log/jobmanager.log").is_file());
    }
}
